"""EKS manifests of the app_deploy role (roles/app_deploy/tasks/eks.yml, issue 7).

The manifests are rendered by really running the role's task file (ansible-playbook on
tests/unit/fixtures/render_app_manifests.yml, applying off, app_deploy_local false) with the
staging and production inventories, for releases and a rollback, then:
- every document is validated by kubernetes-validate, strict (unknown fields refused), against the
  schemas of the cluster version the inventory names, except the AWS Load Balancer Controller's
  TargetGroupBindings: a custom resource has no schema there, so their shape is asserted instead;
- blue-green: two Deployments of distinct colours, the idle one on the new release, the serving
  one on its own, the API Service selecting the colour that serves after the action, one Service
  per colour;
- the security posture: non-root, read-only root filesystem, every capability dropped, seccomp,
  requests and limits, images pinned (never `:latest`);
- the monitoring stack scrapes the pods (namespace, label and port name of its giftcrypto-api job)
  and the service account is the one the IRSA role trusts;
- the canary weights: tasks/eks_weights.yml really run against a moto ALB (HTTPS listener) set the
  forward weights of the two target groups and leave the rest of the load balancer as it was.
"""

from __future__ import annotations

import json
import os
import pathlib
import re
import subprocess
import sys
from pathlib import Path

import boto3
import kubernetes_validate
import pytest
import yaml

from tests.unit.k8s_helpers import moto_server, unreachable_kubeconfig

ROOT = Path(__file__).resolve().parents[2]
PLAYBOOK = ROOT / "tests" / "unit" / "fixtures" / "render_app_manifests.yml"
MONITORING_DEFAULTS = ROOT / "roles" / "monitoring" / "defaults" / "main" / "eks.yml"
BASELINE_DEFAULTS = ROOT / "roles" / "aws_security_baseline" / "defaults" / "main.yml"

RELEASE = "1.4.0-a1b2c3d4e5"
ACCOUNT = "123456789012"
ELB_ARN = f"arn:aws:elasticloadbalancing:us-east-1:{ACCOUNT}"
TARGET_GROUPS = {
    colour: f"{ELB_ARN}:targetgroup/giftcrypto-api-{colour}/0123456789abcdef" for colour in ("blue", "green")
}
LISTENER = f"{ELB_ARN}:listener/app/giftcrypto-production/50dc6c495c0c9188/f2f7dc8efc522ab2"
ALB = {
    "app_deploy_eks_target_group_arns": TARGET_GROUPS,
    "app_deploy_eks_alb_listener_arn": LISTENER,
    "app_deploy_eks_alb_security_group_id": "sg-0123456789abcdef0",
}
# name -> (inventory, extra variables)
# Errors to Sentry and traces to New Relic's OTLP endpoint (defaults/main/observability.yml).
OBSERVABILITY = {
    "app_deploy_sentry_secret": "giftcrypto/production/sentry/dsn",  # pragma: allowlist secret
    "app_deploy_otlp_endpoint": "https://otlp.nr-data.net",
    "app_deploy_otlp_headers_secret": "giftcrypto/production/otlp/headers",  # pragma: allowlist secret
    "app_deploy_traces_sample_ratio": 0.2,
}
# The users' and administrators' pools with the API's app client of each (<pool id>:<client id>).
AUTH_POOLS = "eu-west-1_UsErS1234:1users2client3id4 eu-west-1_AdMiN5678:5admins6client7id8"
RENDERS = {
    # First release: nothing known about the serving colour.
    "staging-first-release": ("staging", {"app_deploy_release": RELEASE}),
    # Blue serves 1.3.2: the release goes to green, blue keeps 1.3.2.
    "production-release": (
        "production",
        {"app_deploy_release": RELEASE, "app_deploy_eks_colour_releases": {"blue": "1.3.2-0f0f0f0f0f"}},
    ),
    # Green serves; the ALB's weighted target groups and the IRSA role of a known account.
    "production-release-alb": (
        "production",
        {
            "app_deploy_release": RELEASE,
            "app_deploy_strategy": "canary",
            "app_deploy_eks_active_colour": "green",
            "app_deploy_eks_colour_releases": {"blue": "1.3.1-0e0e0e0e0e", "green": "1.3.2-0f0f0f0f0f"},
            "app_deploy_eks_aws_account_id": ACCOUNT,
            **ALB,
            **OBSERVABILITY,
        },
    ),
    # Green serves 1.4.0, blue 1.3.2 is warm: a rollback serves blue again.
    "staging-rollback": (
        "staging",
        {
            "app_deploy_action": "rollback",
            "app_deploy_eks_active_colour": "green",
            "app_deploy_eks_colour_releases": {"blue": "1.3.2-0f0f0f0f0f", "green": RELEASE},
        },
    ),
}

COLOURS = ("blue", "green")
# Custom resources: kubernetes-validate has no schema for them (asserted by shape instead).
CUSTOM_RESOURCES = {("elbv2.k8s.aws/v1beta1", "TargetGroupBinding")}
CLUSTER_SCOPED = {"Namespace"}
ARN_TARGET_GROUP = re.compile(
    r"arn:aws[a-z-]*:elasticloadbalancing:[a-z0-9-]+:\d{12}:targetgroup/[\w-]+/[0-9a-f]+"
)


def _ansible_env() -> dict[str, str]:
    """What nox's sessions set: the shared environment's tools, ansible.cfg, the collection."""
    bin_dir = str(Path(sys.executable).parent)
    return {
        **os.environ,
        "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
        "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"),
        "ANSIBLE_FORCE_COLOR": "0",
        "ANSIBLE_NOCOLOR": "1",
        "PYTHONPATH": str(ROOT / ".collections"),
    }


def _run(inventory: str, out: Path, variables: dict) -> subprocess.CompletedProcess:
    extra_vars = {
        "app_deploy_eks_manifest_dir": str(out / "manifests"),
        "app_deploy_eks_test_facts": str(out / "facts.json"),
        # What giftcrypto.platform.aws_cognito sets before app_deploy in playbooks/app.yml.
        "aws_cognito_auth_pools": AUTH_POOLS,
        **variables,
    }
    return subprocess.run(
        [
            str(Path(sys.executable).parent / "ansible-playbook"),
            "-i",
            str(ROOT / "inventories" / inventory),
            str(PLAYBOOK),
            "-e",
            json.dumps(extra_vars),
        ],
        cwd=ROOT,
        env=_ansible_env(),
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def _playbook(inventory: str, out: Path, variables: dict) -> str:
    result = _run(inventory, out, variables)
    assert result.returncode == 0, (
        f"rendering the {inventory} manifests failed:\n{result.stdout}{result.stderr}"
    )
    return result.stdout


class Render:
    """The manifests rendered for one case, with the variables they were rendered from."""

    def __init__(self, name: str, out: Path, output: str, variables: dict):
        self.name = name
        self.output = output
        self.variables = variables
        self.dir = out / "manifests"
        self.facts = json.loads((out / "facts.json").read_text(encoding="utf-8"))
        self.documents: list[tuple[str, dict]] = []
        for path in sorted(self.dir.glob("*.yml")):
            for document in yaml.safe_load_all(path.read_text(encoding="utf-8")):
                if document is not None:
                    self.documents.append((path.name, document))

    def of_kind(self, kind: str) -> list[dict]:
        return [d for _, d in self.documents if d["kind"] == kind]

    def find(self, kind: str, name: str) -> dict:
        matches = [d for d in self.of_kind(kind) if d["metadata"]["name"] == name]
        assert len(matches) == 1, f"expected one {kind} {name}, found {len(matches)}"
        return matches[0]

    def deployment(self, colour: str) -> dict:
        return self.find("Deployment", f"{self.facts['app_label']}-{colour}")

    def api(self, kind: str) -> list[dict]:
        """The API's objects of a kind (label app.kubernetes.io/name), not the pooler's."""
        return [
            d
            for d in self.of_kind(kind)
            if d["metadata"].get("labels", {}).get("app.kubernetes.io/name") == self.facts["app_label"]
        ]

    def pooler(self, kind: str) -> dict:
        return self.find(kind, self.facts["pooler_name"])


@pytest.fixture(scope="module", params=sorted(RENDERS))
def render(request, tmp_path_factory) -> Render:
    inventory, variables = RENDERS[request.param]
    out = tmp_path_factory.mktemp(f"app-{request.param}")
    return Render(request.param, out, _playbook(inventory, out, variables), variables)


def _name(document: dict) -> str:
    return f"{document['kind']}/{document['metadata']['name']}"


def _is_custom(document: dict) -> bool:
    return (document["apiVersion"], document["kind"]) in CUSTOM_RESOURCES


def _container(deployment: dict, name: str | None = None) -> dict:
    """The container of a one-container Deployment, or the one named `name`."""
    containers = deployment["spec"]["template"]["spec"]["containers"]
    if name is not None:
        (container,) = [c for c in containers if c["name"] == name]
        return container
    (container,) = containers
    return container


def _tag(image: str) -> str:
    match = re.fullmatch(r"[^@\s:]+(?::\d+)?/[^@\s:]+:(?P<tag>[\w][\w.-]{0,127})", image)
    assert match, f"{image} must be <repository>:<tag> (pinned, no digest-only reference)"
    return match.group("tag")


def _yaml_file(path: Path) -> dict:
    return yaml.safe_load(path.read_text(encoding="utf-8")) or {}


# ----- rendering


def test_every_manifest_is_rendered(render):
    expected = {
        "10-service-account.yml",
        "15-pooler.yml",
        "20-colour-services.yml",
        "30-pod-disruption-budgets.yml",
        "50-deployment-blue.yml",
        "51-deployment-green.yml",
        "90-service.yml",
    }
    if render.facts["network_policies_enabled"]:
        expected.add("05-network-policies.yml")
    if render.facts["hpa_enabled"]:
        expected.add("45-autoscalers.yml")
    monitoring_namespace = _yaml_file(MONITORING_DEFAULTS)["monitoring_eks_namespace"]
    if render.facts["namespace"] != monitoring_namespace:
        expected.add("00-namespace.yml")
    if all(render.facts["target_group_arns"].values()):
        expected.add("40-target-group-bindings.yml")
    if render.facts["audit_anchor_enabled"]:
        expected.add("60-audit-anchor.yml")
    assert {p.name for p in render.dir.glob("*.yml")} == expected
    assert set(render.facts["manifests"]) == expected
    assert "not applied" in render.output, "the run must say that the manifests were not applied"


def test_rendering_is_idempotent_and_removes_stale_manifests(tmp_path):
    variables = RENDERS["staging-first-release"][1]
    _playbook("staging", tmp_path, variables)
    again = _playbook("staging", tmp_path, variables)
    assert re.search(r"localhost\s+:.*changed=0", again), f"a second render must change nothing:\n{again}"
    stale = tmp_path / "manifests" / "60-removed.yml"
    stale.write_text("---\n", encoding="utf-8")
    _playbook("staging", tmp_path, variables)
    assert not stale.exists(), "a manifest no longer rendered must be removed"


def test_unreachable_cluster_fails_a_staging_deploy_after_rendering(tmp_path):
    """Applying on, but the cluster does not answer: rendered from the variables, and on staging the
    run fails (issue 19: no silent success; rendering without applying is for plans and local)."""
    kubeconfig = unreachable_kubeconfig(tmp_path)
    variables = {
        "app_deploy_release": RELEASE,
        "app_deploy_eks_apply": True,
        "app_deploy_eks_kubeconfig": str(kubeconfig),
        "app_deploy_eks_kube_context": "nowhere",
    }
    result = _run("staging", tmp_path, variables)
    output = " ".join(result.stdout.split())
    assert result.returncode != 0, output
    assert (
        f"no Kubernetes cluster reachable: manifests rendered to {tmp_path / 'manifests'}, not applied"
        in output
    )
    assert "the release was not applied to EKS on staging: the cluster did not answer" in output
    assert "app_deploy_eks_require_cluster is true here" in output
    assert (tmp_path / "manifests" / "51-deployment-green.yml").is_file()


def test_unreachable_cluster_is_only_reported_when_the_cluster_is_not_required(tmp_path):
    kubeconfig = unreachable_kubeconfig(tmp_path)
    output = _playbook(
        "staging",
        tmp_path,
        {
            "app_deploy_release": RELEASE,
            "app_deploy_eks_apply": True,
            "app_deploy_eks_require_cluster": False,
            "app_deploy_eks_kubeconfig": str(kubeconfig),
            "app_deploy_eks_kube_context": "nowhere",
        },
    )
    expected = f"no Kubernetes cluster reachable: manifests rendered to {tmp_path / 'manifests'}, not applied"
    assert expected in " ".join(output.split()), f"the run must say that nothing was applied:\n{output}"
    assert (tmp_path / "manifests" / "51-deployment-green.yml").is_file()


@pytest.mark.parametrize(
    ("variables", "reason"),
    [
        ({"app_deploy_release": ""}, "a release needs an image tag"),
        ({"app_deploy_release": "latest"}, 'never "latest"'),
        (
            {"app_deploy_release": RELEASE, "app_deploy_eks_alb_listener_arn": LISTENER},
            "both target group ARNs",
        ),
        (
            {"app_deploy_action": "rollback", "app_deploy_eks_colour_releases": {"blue": RELEASE}},
            "nothing to roll back to",
        ),
        (
            {
                "app_deploy_release": RELEASE,
                "app_deploy_otlp_endpoint": "http://otlp.nr-data.net",
                "app_deploy_otlp_headers_secret": "x/otlp/headers",  # pragma: allowlist secret
            },
            "app_deploy_otlp_endpoint=http://otlp.nr-data.net must be https (or a collector on loopback)",
        ),
    ],
    ids=[
        "no-tag",
        "latest",
        "listener-without-target-groups",
        "rollback-without-previous",
        "otlp-credentials-over-http",
    ],
)
def test_invalid_inputs_are_refused(tmp_path, variables, reason):
    result = _run("staging", tmp_path, variables)
    output = " ".join((result.stdout + result.stderr).split())
    assert result.returncode != 0, f"{variables} must be refused:\n{output}"
    assert reason in output, f"the refusal must say {reason!r}:\n{output}"
    assert not list((tmp_path / "manifests").glob("*.yml")), "nothing is rendered from refused inputs"


# ----- schemas


# The EKS version the cluster pin moves to (issue 17): every manifest must also be valid there.
TARGET_EKS_VERSION = "1.35"


@pytest.mark.parametrize("target", ["inventory", "target"])
def test_documents_validate_against_the_cluster_version(render, target):
    version = render.facts["kubernetes_version"] if target == "inventory" else TARGET_EKS_VERSION
    assert re.fullmatch(r"1\.\d+", version), (
        f"app_deploy_eks_kubernetes_version {version!r} is not major.minor"
    )
    supported = {kubernetes_validate.utils.major_minor(v) for v in kubernetes_validate.utils.all_versions()}
    assert version in supported, (
        f"kubernetes-validate has no schemas for {version} (it has {sorted(supported)})"
    )
    errors = []
    for file, document in render.documents:
        if _is_custom(document):
            continue  # no schema: test_target_group_bindings asserts their shape
        try:
            kubernetes_validate.validate(document, version, strict=True)
        except (kubernetes_validate.ValidationError, kubernetes_validate.SchemaNotFoundError) as error:
            errors.append(f"{file} {_name(document)}: {error}")
    assert not errors, f"invalid for Kubernetes {version}:\n" + "\n".join(errors)


def test_custom_resources_really_have_no_schema():
    """The exclusion is needed: kubernetes-validate knows no TargetGroupBinding."""
    document = {
        "apiVersion": "elbv2.k8s.aws/v1beta1",
        "kind": "TargetGroupBinding",
        "metadata": {"name": "x", "namespace": "giftcrypto"},
        "spec": {"serviceRef": {"name": "x", "port": 80}, "targetGroupARN": TARGET_GROUPS["blue"]},
    }
    with pytest.raises(kubernetes_validate.SchemaNotFoundError):
        kubernetes_validate.validate(document, "1.29", strict=True)


def test_target_group_bindings(render):
    bindings = [d for _, d in render.documents if _is_custom(d)]
    if not all(render.facts["target_group_arns"].values()):
        assert not bindings
        return
    assert {_name(d) for _, d in render.documents if d["kind"] == "TargetGroupBinding"} == {
        _name(d) for d in bindings
    }, "every TargetGroupBinding is elbv2.k8s.aws/v1beta1"
    by_colour = {}
    for binding in bindings:
        assert set(binding) == {"apiVersion", "kind", "metadata", "spec"}, _name(binding)
        assert set(binding["metadata"]) == {"name", "namespace", "labels"}, _name(binding)
        colour = binding["metadata"]["labels"]["giftcrypto.io/colour"]
        by_colour[colour] = binding
        spec = binding["spec"]
        assert set(spec) <= {"serviceRef", "targetGroupARN", "targetType", "networking"}, _name(binding)
        assert spec["targetType"] == "ip", "pods are registered by IP (no NodePort)"
        assert spec["targetGroupARN"] == render.facts["target_group_arns"][colour]
        assert ARN_TARGET_GROUP.fullmatch(spec["targetGroupARN"])
        assert set(spec["serviceRef"]) == {"name", "port"}
        service = render.find("Service", spec["serviceRef"]["name"])
        assert service["spec"]["selector"]["giftcrypto.io/colour"] == colour, (
            "each colour's group gets its own pods"
        )
        assert spec["serviceRef"]["port"] in {p["name"] for p in service["spec"]["ports"]}
        if "networking" in spec:
            (rule,) = spec["networking"]["ingress"]
            assert set(rule) == {"from", "ports"}
            (source,) = rule["from"]
            assert re.fullmatch(r"sg-[0-9a-f]+", source["securityGroup"]["groupID"])
            container_ports = {p["containerPort"] for p in _container(render.deployment(colour))["ports"]}
            assert [p["port"] for p in rule["ports"]] == sorted(container_ports)
            assert all(p["protocol"] == "TCP" for p in rule["ports"])
    assert set(by_colour) == set(COLOURS)
    assert len({b["spec"]["targetGroupARN"] for b in by_colour.values()}) == 2


def test_namespaced_objects_are_in_the_api_namespace(render):
    namespace = render.facts["namespace"]
    for file, document in render.documents:
        if document["kind"] in CLUSTER_SCOPED:
            assert "namespace" not in document["metadata"], f"{file} {_name(document)} is cluster-scoped"
        else:
            assert document["metadata"].get("namespace") == namespace, f"{file} {_name(document)}"
    for document in render.of_kind("Namespace"):
        assert document["metadata"]["name"] == namespace
        assert document["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"


# ----- blue-green


def test_service_selects_the_colour_that_serves_after_the_action(render):
    facts = render.facts
    service = render.find("Service", facts["app_label"])
    assert service["spec"]["selector"] == {
        "app.kubernetes.io/name": facts["app_label"],
        "giftcrypto.io/colour": facts["active"],
    }
    action = render.variables.get("app_deploy_action", "release")
    if action == "release":
        assert facts["active"] == facts["idle"], "a release serves the colour it was deployed to"
        assert facts["idle"] != facts["live"], "a release goes to the idle colour, not the serving one"
        expected_live = render.variables.get("app_deploy_eks_active_colour", "blue")
        assert facts["live"] == expected_live
    else:
        assert facts["active"] != facts["live"], "a rollback serves the other (warm) colour"


def test_both_deployments_with_distinct_colours(render):
    deployments = render.api("Deployment")
    assert sorted(d["metadata"]["name"] for d in deployments) == [
        f"{render.facts['app_label']}-{c}" for c in COLOURS
    ]
    colours = set()
    for colour in COLOURS:
        deployment = render.deployment(colour)
        selector = deployment["spec"]["selector"]["matchLabels"]
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        assert selector == {
            "app.kubernetes.io/name": render.facts["app_label"],
            "giftcrypto.io/colour": colour,
        }
        assert all(labels[k] == v for k, v in selector.items()), (
            f"{_name(deployment)}: selector matches its pods"
        )
        env = {e["name"]: e["value"] for e in _container(deployment)["env"]}
        assert env["GIFTCRYPTO_COLOUR"] == colour
        colours.add(labels["giftcrypto.io/colour"])
    assert colours == set(COLOURS)


def test_idle_colour_runs_the_release_and_the_serving_one_keeps_its_own(render):
    facts = render.facts
    known = render.variables.get("app_deploy_eks_colour_releases", {})
    action = render.variables.get("app_deploy_action", "release")
    for colour in COLOURS:
        deployment = render.deployment(colour)
        container = _container(deployment)
        tag = _tag(container["image"])
        assert container["image"] == f"{facts['image_repository']}:{tag}"
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        env = {e["name"]: e["value"] for e in container["env"]}
        assert labels["app.kubernetes.io/version"] == tag == env["GIFTCRYPTO_RELEASE"]
        if action == "release" and colour == facts["idle"]:
            assert tag == RELEASE, f"the idle colour {colour} must run the new release"
            assert deployment["spec"]["replicas"] == facts["replicas"]
        elif colour in known:
            assert tag == known[colour], f"{colour} must keep its release {known[colour]}"
            assert deployment["spec"]["replicas"] == facts["replicas"], f"{colour} stays warm"
        else:
            assert colour in facts["unknown"]
            assert deployment["spec"]["replicas"] == 0, f"{colour} has no known release: no replica"


def test_colour_services_reach_each_colour(render):
    port_name = render.facts["port_name"]
    for colour in COLOURS:
        service = render.find("Service", f"{render.facts['app_label']}-{colour}")
        assert service["spec"]["selector"]["giftcrypto.io/colour"] == colour
        assert [p["targetPort"] for p in service["spec"]["ports"]] == [port_name]
    service = render.find("Service", render.facts["app_label"])
    assert [p["targetPort"] for p in service["spec"]["ports"]] == [port_name]


def test_pod_disruption_budgets(render):
    budgets = {
        d["spec"]["selector"]["matchLabels"]["giftcrypto.io/colour"]: d
        for d in render.api("PodDisruptionBudget")
    }
    assert set(budgets) == set(COLOURS)
    expected = render.facts["pod_disruption_budget"]
    for colour, budget in budgets.items():
        assert {
            k: budget["spec"][k] for k in ("minAvailable", "maxUnavailable") if k in budget["spec"]
        } == expected
        assert (
            budget["spec"]["selector"]["matchLabels"]
            == render.deployment(colour)["spec"]["selector"]["matchLabels"]
        )
    replicas = render.facts["replicas"]
    if render.facts["environment"] == "production":
        assert "minAvailable" in expected, "production keeps a minimum of pods through drains"
        assert 1 <= expected["minAvailable"] < replicas, (
            "minAvailable below replicas, or no drain could proceed"
        )
        assert replicas >= 3
    else:
        assert (
            replicas
            < _yaml_file(ROOT / "inventories/production/group_vars/all/app_eks.yml")[
                "app_deploy_eks_replicas"
            ]
        )


# ----- pods


def test_images_are_pinned(render):
    for deployment in render.of_kind("Deployment"):
        pod = deployment["spec"]["template"]["spec"]
        for container in [*pod.get("initContainers", []), *pod["containers"]]:
            image = container["image"]
            assert _tag(image) != "latest", f"{_name(deployment)} {container['name']}: {image} uses :latest"
    for deployment in render.api("Deployment"):
        image = _container(deployment)["image"]
        assert ".dkr.ecr." in image, f"{_name(deployment)}: {image} is not the environment's ECR repository"


def test_security_context_and_resources_of_every_container(render):
    for deployment in render.of_kind("Deployment"):
        pod = deployment["spec"]["template"]["spec"]
        assert pod.get("automountServiceAccountToken") is False, "the API does not call the Kubernetes API"
        for key in ("hostNetwork", "hostPID", "hostIPC"):
            assert not pod.get(key), f"{_name(deployment)}: {key}"
        assert not any("hostPath" in v for v in pod.get("volumes", [])), f"{_name(deployment)}: host path"
        for container in [*pod.get("initContainers", []), *pod["containers"]]:
            where = f"{_name(deployment)} {container['name']}"
            context = {**pod.get("securityContext", {}), **container.get("securityContext", {})}
            assert context.get("privileged") is not True, f"{where}: privileged"
            assert context.get("allowPrivilegeEscalation") is False, f"{where}: allowPrivilegeEscalation"
            assert context.get("readOnlyRootFilesystem") is True, f"{where}: readOnlyRootFilesystem"
            assert context.get("runAsNonRoot") is True and context.get("runAsUser", 0) > 0, (
                f"{where}: non-root"
            )
            assert context.get("capabilities", {}).get("drop") == ["ALL"], f"{where}: drop ALL"
            assert not context.get("capabilities", {}).get("add"), f"{where}: capability added"
            assert context.get("seccompProfile", {}).get("type") == "RuntimeDefault", f"{where}: seccomp"
            resources = container.get("resources", {})
            for kind in ("requests", "limits"):
                for resource in ("cpu", "memory"):
                    assert resources.get(kind, {}).get(resource), f"{where}: resources.{kind}.{resource}"


def test_probes(render):
    port_name = render.facts["port_name"]
    for deployment in render.api("Deployment"):
        container = _container(deployment)
        assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": port_name}
        assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": port_name}
        assert container["command"][-2:] == ["--port", str(container["ports"][0]["containerPort"])]


def test_pods_spread_across_zones(render):
    for colour in COLOURS:
        deployment = render.deployment(colour)
        constraints = deployment["spec"]["template"]["spec"]["topologySpreadConstraints"]
        zone = [c for c in constraints if c["topologyKey"] == "topology.kubernetes.io/zone"]
        assert len(zone) == 1, f"{_name(deployment)}: one spread across zones"
        assert zone[0]["labelSelector"]["matchLabels"] == deployment["spec"]["selector"]["matchLabels"]
        assert zone[0]["maxSkew"] == 1
    if render.facts["environment"] == "production":
        assert zone[0]["whenUnsatisfiable"] == "DoNotSchedule"


def test_environment_of_the_service(render):
    for colour in COLOURS:
        env = {e["name"]: e["value"] for e in _container(render.deployment(colour))["env"]}
        assert env["GIFTCRYPTO_ENVIRONMENT"] == render.facts["environment"]
        assert env["GIFTCRYPTO_PLATFORM"] == "giftcrypto"
        assert env["AWS_REGION"] == "us-east-1"
        assert not {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_ENDPOINT_URL"} & set(env), (
            "on EKS the service's AWS credentials come from its IRSA role"
        )


# ----- the pooler (pgBouncer in the cluster, docs/adr/0010)


def _pgbouncer_ini(render) -> dict[str, dict[str, str]]:
    """The pooler's pgbouncer.ini as {section: {key: value}}, its %include lines under '%include'."""
    sections: dict[str, dict[str, str]] = {}
    current = ""
    for raw in render.pooler("ConfigMap")["data"]["pgbouncer.ini"].splitlines():
        line = raw.strip()
        if not line or line.startswith(";"):
            continue
        if line.startswith("[") and line.endswith("]"):
            current = line[1:-1]
        elif line.startswith("%include "):
            sections.setdefault("%include", {})[line.split(None, 1)[1]] = ""
        else:
            key, _, value = line.partition("=")
            sections.setdefault(current, {})[key.strip()] = value.strip()
    return sections


def _mounts(pod_spec: dict, container: dict) -> dict[str, tuple[str, str]]:
    """mount path -> (volume kind, object name) of a container."""
    volumes = {v["name"]: v for v in pod_spec.get("volumes", [])}
    found = {}
    for mount in container.get("volumeMounts", []):
        volume = volumes[mount["name"]]
        if "secret" in volume:
            found[mount["mountPath"]] = ("Secret", volume["secret"]["secretName"])
        elif "configMap" in volume:
            found[mount["mountPath"]] = ("ConfigMap", volume["configMap"]["name"])
        else:
            found[mount["mountPath"]] = ("emptyDir", mount["name"])
    return found


def test_the_pooler_pools_transactions_with_tls_on_both_sides(render):
    ini = _pgbouncer_ini(render)["pgbouncer"]
    assert ini["pool_mode"] == "transaction"
    assert ini["client_tls_sslmode"] == "require"
    assert ini["server_tls_sslmode"] == "verify-full", "RDS's name and chain verified"
    assert ini["auth_type"] == "scram-sha-256"
    assert ini["unix_socket_dir"] == "", "TCP over TLS only"
    assert ini["admin_users"] == "" and ini["stats_users"] == ""
    assert int(ini["listen_port"]) == render.facts["pooler_port"]
    deployment = render.pooler("Deployment")
    pod = deployment["spec"]["template"]["spec"]
    mounts = _mounts(pod, _container(deployment, "pgbouncer"))
    directory = {path: source for path, source in mounts.items()}
    # Every file the configuration names lies in a mounted volume of the right object.
    files = {
        ini["auth_file"]: ("emptyDir", "auth"),
        ini["client_tls_cert_file"]: ("Secret", render.facts["pooler_secret"]),
        ini["client_tls_key_file"]: ("Secret", render.facts["pooler_secret"]),
        ini["server_tls_ca_file"]: ("ConfigMap", render.facts["rds_ca_configmap"]),
        **dict.fromkeys(_pgbouncer_ini(render)["%include"], ("Secret", render.facts["pooler_secret"])),
    }
    for path, source in files.items():
        assert directory.get(str(pathlib.PurePosixPath(path).parent)) == source, f"{path} comes from {source}"
    command = _container(deployment, "pgbouncer")["command"]
    assert directory[str(pathlib.PurePosixPath(command[-1]).parent)] == (
        "ConfigMap",
        render.facts["pooler_name"],
    )
    assert deployment["spec"]["replicas"] == render.facts["pooler_replicas"] >= 2
    assert pod["automountServiceAccountToken"] is False


def test_the_poolers_login_list_follows_the_rotations_in_memory(render):
    """An init container writes the login list before pgBouncer starts, a sidecar keeps it current
    (docs/adr/0019): both run the collection's pooler_userlist program on the pooler's logins, as
    pgBouncer's user in a shared process namespace (SIGHUP), into a memory-backed volume that
    pgBouncer reads only; the pooler's service account carries its IRSA role, no Kubernetes token."""
    ini = _pgbouncer_ini(render)["pgbouncer"]
    deployment = render.pooler("Deployment")
    pod = deployment["spec"]["template"]["spec"]
    assert pod["shareProcessNamespace"] is True
    (init,) = pod["initContainers"]
    sidecar = _container(deployment, "userlist-sync")
    pooler = _container(deployment, "pgbouncer")
    secrets = [f"{render.facts['pooler_secret_prefix']}/{login}" for login in ("app_rw", "app_ro")]
    for container in (init, sidecar):
        assert container["command"] == [
            "python3",
            "-m",
            "ansible_collections.giftcrypto.platform.plugins.module_utils.pooler_userlist",
        ]
        args = container["args"]
        assert [a.removeprefix("--secret-id=") for a in args if a.startswith("--secret-id=")] == secrets
        assert args[args.index("--userlist") + 1] == ini["auth_file"]
        assert args[args.index("--sslrootcert") + 1] == ini["server_tls_ca_file"]
        assert args[args.index("--process-name") + 1] == "pgbouncer"
        assert pooler["command"][0].endswith("/pgbouncer")
        assert container["securityContext"]["runAsUser"] == pooler["securityContext"]["runAsUser"], (
            "the same user may signal pgBouncer"
        )
        mounts = {m["mountPath"]: m for m in container["volumeMounts"]}
        assert not mounts[str(pathlib.PurePosixPath(ini["auth_file"]).parent)].get("readOnly")
    assert "--once" in init["args"] and "--once" not in sidecar["args"]
    pooler_mounts = {m["mountPath"]: m for m in pooler["volumeMounts"]}
    assert pooler_mounts[str(pathlib.PurePosixPath(ini["auth_file"]).parent)]["readOnly"] is True
    (auth,) = [v for v in pod["volumes"] if v["name"] == "auth"]
    assert auth["emptyDir"]["medium"] == "Memory", "the passwords never reach a node's disk"
    account = render.pooler("ServiceAccount")
    assert account["automountServiceAccountToken"] is False
    assert account["metadata"]["annotations"]["eks.amazonaws.com/role-arn"].endswith(
        f":role/giftcrypto-{render.facts['environment']}-pooler"
    )


def test_the_pooler_has_a_disruption_budget_and_a_service(render):
    deployment = render.pooler("Deployment")
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    budget = render.pooler("PodDisruptionBudget")
    assert all(labels[k] == v for k, v in budget["spec"]["selector"]["matchLabels"].items())
    assert set(budget["spec"]) & {"minAvailable", "maxUnavailable"}
    service = render.pooler("Service")
    assert all(labels[k] == v for k, v in service["spec"]["selector"].items())
    (port,) = service["spec"]["ports"]
    assert port["port"] == render.facts["pooler_port"]
    assert port["targetPort"] in {p["name"] for p in _container(deployment, "pgbouncer")["ports"]}
    assert render.facts["pooler_host"].startswith(
        f"{service['metadata']['name']}.{render.facts['namespace']}.svc"
    )


def test_the_api_reaches_the_pooler_over_verified_tls(render):
    for colour in COLOURS:
        deployment = render.deployment(colour)
        container = _container(deployment)
        env = {e["name"]: e["value"] for e in container["env"]}
        assert env["GIFTCRYPTO_PGBOUNCER_HOST"] == render.facts["pooler_host"]
        assert int(env["GIFTCRYPTO_PGBOUNCER_PORT"]) == render.facts["pooler_port"]
        ca = env["GIFTCRYPTO_PGBOUNCER_SSLROOTCERT"]
        mounts = _mounts(deployment["spec"]["template"]["spec"], container)
        assert mounts[str(pathlib.PurePosixPath(ca).parent)] == (
            "ConfigMap",
            render.facts["pooler_ca_configmap"],
        )
        assert env["GIFTCRYPTO_DB_SECRET"] == render.facts["database_secret"]
        assert env["GIFTCRYPTO_REDIS_SECRET"] == render.facts["cache_secret"]


def test_errors_and_traces_are_on_only_where_a_destination_is_named(render):
    named = render.variables.get("app_deploy_otlp_endpoint")
    for colour in COLOURS:
        env = {e["name"]: e["value"] for e in _container(render.deployment(colour))["env"]}
        settings = {k: v for k, v in env.items() if "SENTRY" in k or "OTLP" in k or "TRACES" in k}
        if named:
            assert settings == {
                "GIFTCRYPTO_SENTRY_SECRET": OBSERVABILITY["app_deploy_sentry_secret"],
                "GIFTCRYPTO_OTLP_ENDPOINT": OBSERVABILITY["app_deploy_otlp_endpoint"],
                "GIFTCRYPTO_OTLP_HEADERS_SECRET": OBSERVABILITY["app_deploy_otlp_headers_secret"],
                "GIFTCRYPTO_TRACES_SAMPLE_RATIO": "0.2",
            }
        else:
            assert settings == {}, "no destination, no setting: both stay off"


def test_the_read_replica_is_a_pooler_entry_only_where_a_replica_is_named(render):
    for colour in COLOURS:
        env = {e["name"]: e["value"] for e in _container(render.deployment(colour))["env"]}
        if render.facts["database_replica"]:
            assert env["GIFTCRYPTO_DB_READ_DBNAME"] == render.facts["pooler_replica_database"]
            assert env["GIFTCRYPTO_DB_READ_SECRET"] == f"{render.facts['pooler_secret_prefix']}/app_ro"
        else:
            assert "GIFTCRYPTO_DB_READ_SECRET" not in env and "GIFTCRYPTO_DB_READ_DBNAME" not in env
    if render.facts["environment"] == "production":
        assert render.facts["database_replica"] == "giftcrypto-production-replica-1"


# ----- autoscaling


def test_each_colour_with_a_release_scales_between_the_warm_minimum_and_the_maximum(render):
    autoscalers = {
        d["metadata"]["labels"]["giftcrypto.io/colour"]: d for d in render.of_kind("HorizontalPodAutoscaler")
    }
    assert set(autoscalers) == set(COLOURS) - set(render.facts["unknown"])
    for colour, autoscaler in autoscalers.items():
        spec = autoscaler["spec"]
        target = spec["scaleTargetRef"]
        assert (target["apiVersion"], target["kind"]) == ("apps/v1", "Deployment")
        assert render.find("Deployment", target["name"]) is render.deployment(colour)
        assert (
            spec["minReplicas"]
            == render.facts["replicas"]
            <= spec["maxReplicas"]
            == render.facts["hpa_max_replicas"]
        )
        kinds = {
            (m["type"], m["resource"]["name"] if m["type"] == "Resource" else m["pods"]["metric"]["name"])
            for m in spec["metrics"]
        }
        assert ("Resource", "cpu") in kinds
        assert any(kind == "Pods" for kind, _ in kinds), "the request rate per pod (custom metrics API)"
        assert spec["behavior"]["scaleDown"]["stabilizationWindowSeconds"] >= 60


# ----- network policies


def _selects(selector: dict, labels: dict) -> bool:
    return all(labels.get(k) == v for k, v in selector.get("matchLabels", {}).items())


def test_the_namespace_denies_everything_by_default(render):
    policies = render.of_kind("NetworkPolicy")
    deny = [
        p
        for p in policies
        if p["spec"]["podSelector"] == {} and not p["spec"].get("ingress") and not p["spec"].get("egress")
    ]
    assert deny and set(deny[0]["spec"]["policyTypes"]) == {"Ingress", "Egress"}
    for policy in policies:
        for rule in policy["spec"].get("ingress", []) + policy["spec"].get("egress", []):
            assert rule.get("ports"), f"{_name(policy)}: a rule without ports opens every port"
            peers = rule.get("from", rule.get("to"))
            assert peers, f"{_name(policy)}: a rule without peers opens to everyone"


def _allowed(render, direction: str, pod_labels: dict) -> list[tuple[dict, dict]]:
    """(peer, port) pairs the policies allow a pod with these labels, in `direction` (ingress or egress)."""
    allowed = []
    for policy in render.of_kind("NetworkPolicy"):
        if not _selects(policy["spec"]["podSelector"], pod_labels):
            continue
        for rule in policy["spec"].get(direction, []):
            for peer in rule.get("from" if direction == "ingress" else "to", []):
                allowed.extend((peer, port) for port in rule["ports"])
    return allowed


def test_each_workload_gets_only_what_it_needs(render):
    facts = render.facts
    api = render.deployment(render.facts["active"])["spec"]["template"]["metadata"]["labels"]
    pooler = render.pooler("Deployment")["spec"]["template"]["metadata"]["labels"]
    vpc = {"ipBlock": {"cidr": facts["vpc_cidr"]}}
    dns = {"protocol": "UDP", "port": 53}
    for labels in (api, pooler):
        assert any(port == dns for _, port in _allowed(render, "egress", labels)), "DNS"
    api_in = _allowed(render, "ingress", api)
    assert (vpc, {"protocol": "TCP", "port": facts["container_port"]}) in api_in, "from the load balancer"
    monitoring = {
        "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": facts["monitoring_namespace"]}}
    }
    assert (monitoring, {"protocol": "TCP", "port": facts["container_port"]}) in api_in, "from Prometheus"
    assert {port["port"] for _, port in api_in} == {facts["container_port"]}
    api_out = _allowed(render, "egress", api)
    assert any(
        _selects(peer.get("podSelector", {}), pooler) and port["port"] == facts["pooler_port"]
        for peer, port in api_out
    ), "to the pooler"
    assert (vpc, {"protocol": "TCP", "port": facts["cache_port"]}) in api_out, "to Redis"
    assert any("ipBlock" in peer and port == {"protocol": "TCP", "port": 443} for peer, port in api_out), (
        "AWS APIs"
    )
    assert facts["database_port"] not in {port["port"] for _, port in api_out}, (
        "the API never reaches RDS itself"
    )
    pooler_in = _allowed(render, "ingress", pooler)
    assert pooler_in and all(_selects(peer["podSelector"], api) for peer, _ in pooler_in), (
        "the pooler from the API only"
    )
    pooler_out = [
        (peer, port)
        for peer, port in _allowed(render, "egress", pooler)
        if port != dns and port["port"] != 53
    ]
    assert pooler_out[0] == (vpc, {"protocol": "TCP", "port": facts["database_port"]}), "the pooler to RDS"
    assert pooler_out[1:] and all(
        "ipBlock" in peer and port == {"protocol": "TCP", "port": 443} for peer, port in pooler_out[1:]
    ), "its login-list sidecar to the AWS APIs, nothing else"


# ----- integration with the monitoring and security roles


def test_monitoring_scrapes_the_pods(render):
    """The monitoring role's giftcrypto-api job (kubernetes_sd, role pod) keeps these pods."""
    monitoring = _yaml_file(MONITORING_DEFAULTS)
    inventory = (
        ROOT / "inventories" / render.facts["environment"] / "group_vars" / "all" / "monitoring_eks.yml"
    )
    monitoring.update(_yaml_file(inventory))
    assert render.facts["namespace"] == monitoring["monitoring_eks_api_namespace"]
    for colour in COLOURS:
        pod = render.deployment(colour)["spec"]["template"]
        assert (
            pod["metadata"]["labels"]["app.kubernetes.io/name"] == monitoring["monitoring_eks_api_app_label"]
        )
        assert "app.kubernetes.io/version" in pod["metadata"]["labels"], (
            "the job labels series with the version"
        )
        port_names = [p["name"] for c in pod["spec"]["containers"] for p in c.get("ports", [])]
        assert monitoring["monitoring_eks_api_metrics_port"] in port_names


def test_the_poolers_service_account_is_the_one_its_irsa_role_trusts(render):
    baseline = _yaml_file(BASELINE_DEFAULTS)
    account = render.pooler("ServiceAccount")
    assert account["metadata"]["name"] == baseline["aws_security_baseline_pooler_service_account"]
    assert account["metadata"]["namespace"] == baseline["aws_security_baseline_app_namespace"]
    account_id = render.variables.get("app_deploy_eks_aws_account_id", "000000000000")
    assert account["metadata"]["annotations"]["eks.amazonaws.com/role-arn"] == (
        f"arn:aws:iam::{account_id}:role/giftcrypto-{render.facts['environment']}-pooler"
    )
    logins = {f"{render.facts['pooler_secret_prefix']}/{login}" for login in ("app_rw", "app_ro")}
    prefix = f"giftcrypto/{render.facts['environment']}"
    readable = {
        name.replace("{{ platform_name }}/{{ platform_environment }}", prefix)
        for name in baseline["aws_security_baseline_pooler_secret_names"]
    }
    assert logins == readable, "the role reads exactly the logins the sidecar reads"


def test_service_account_is_the_one_the_irsa_role_trusts(render):
    baseline = _yaml_file(BASELINE_DEFAULTS)
    account = render.find("ServiceAccount", render.facts["service_account"])
    assert account["metadata"]["name"] == baseline["aws_security_baseline_app_service_account"]
    assert account["metadata"]["namespace"] == baseline["aws_security_baseline_app_namespace"]
    assert account["automountServiceAccountToken"] is False
    role_arn = account["metadata"]["annotations"]["eks.amazonaws.com/role-arn"]
    assert role_arn == render.facts["service_account_role_arn"]
    account_id = render.variables.get("app_deploy_eks_aws_account_id", "000000000000")
    assert role_arn == f"arn:aws:iam::{account_id}:role/giftcrypto-{render.facts['environment']}-app"
    for colour in COLOURS:
        assert (
            render.deployment(colour)["spec"]["template"]["spec"]["serviceAccountName"]
            == account["metadata"]["name"]
        )
        assert _container(render.deployment(colour))["image"].startswith(
            f"{account_id}.dkr.ecr.us-east-1.amazonaws.com/"
        )


# ----- ALB weights (tasks/eks_weights.yml against moto)


@pytest.fixture
def moto_alb(tmp_path):
    """An internal ALB with an HTTPS listener forwarding to blue, a second listener, two target groups."""
    with moto_server() as options:
        yield from _moto_alb(tmp_path, options)


def _moto_alb(tmp_path, options):
    endpoint = options["endpoint_url"]
    ec2, elb, acm = (boto3.client(service, **options) for service in ("ec2", "elbv2", "acm"))
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnets = [
        ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.0.{i}.0/24", AvailabilityZone=f"us-east-1{zone}")[
            "Subnet"
        ]["SubnetId"]
        for i, zone in enumerate("ab")
    ]
    group = ec2.create_security_group(GroupName="alb", Description="alb", VpcId=vpc)["GroupId"]
    balancer = elb.create_load_balancer(
        Name="giftcrypto-staging", Subnets=subnets, SecurityGroups=[group], Scheme="internal"
    )["LoadBalancers"][0]
    groups = {
        colour: elb.create_target_group(
            Name=f"giftcrypto-api-{colour}", Protocol="HTTP", Port=8080, VpcId=vpc, TargetType="ip"
        )["TargetGroups"][0]["TargetGroupArn"]
        for colour in COLOURS
    }
    certificate = acm.request_certificate(DomainName="api.staging.giftcrypto.example")["CertificateArn"]
    listener = elb.create_listener(
        LoadBalancerArn=balancer["LoadBalancerArn"],
        Protocol="HTTPS",
        Port=443,
        SslPolicy="ELBSecurityPolicy-TLS13-1-2-2021-06",
        Certificates=[{"CertificateArn": certificate}],
        DefaultActions=[{"Type": "forward", "TargetGroupArn": groups["blue"]}],
    )["Listeners"][0]
    other = elb.create_listener(
        LoadBalancerArn=balancer["LoadBalancerArn"],
        Protocol="HTTP",
        Port=80,
        DefaultActions=[
            {
                "Type": "redirect",
                "RedirectConfig": {"Protocol": "HTTPS", "Port": "443", "StatusCode": "HTTP_301"},
            }
        ],
    )["Listeners"][0]
    playbook = tmp_path / "weights.yml"
    playbook.write_text(
        yaml.safe_dump(
            [
                {
                    "name": "Step the ALB weights with app_deploy's task file",
                    "hosts": "localhost",
                    "gather_facts": False,
                    "module_defaults": {
                        "group/amazon.aws.aws": {
                            "region": "us-east-1",
                            "endpoint_url": endpoint,
                            "access_key": "testing",
                            "secret_key": "testing",
                        }
                    },
                    "tasks": [
                        {
                            "name": "Set the weights",
                            "ansible.builtin.include_role": {
                                "name": "giftcrypto.platform.app_deploy",
                                "tasks_from": "eks_weights.yml",
                            },
                        }
                    ],
                }
            ]
        ),
        encoding="utf-8",
    )
    yield {
        "elb": elb,
        "balancer": balancer,
        "groups": groups,
        "listener": listener,
        "other": other,
        "playbook": playbook,
    }


def test_alb_weights_step_between_the_target_groups(moto_alb):
    elb = moto_alb["elb"]
    balancer_before = elb.describe_load_balancers()["LoadBalancers"][0]
    for weights in ({"green": 10, "blue": 90}, {"green": 100, "blue": 0}):
        result = subprocess.run(
            [
                str(Path(sys.executable).parent / "ansible-playbook"),
                "-i",
                str(ROOT / "inventories" / "staging"),
                str(moto_alb["playbook"]),
                "-e",
                json.dumps(
                    {
                        "app_deploy_eks_alb_listener_arn": moto_alb["listener"]["ListenerArn"],
                        "app_deploy_eks_target_group_arns": moto_alb["groups"],
                        "app_deploy_eks__weights": weights,
                    }
                ),
            ],
            cwd=ROOT,
            env=_ansible_env(),
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        assert result.returncode == 0, f"setting {weights} failed:\n{result.stdout}{result.stderr}"
        listeners = {
            listener["Port"]: listener
            for listener in elb.describe_listeners(LoadBalancerArn=moto_alb["balancer"]["LoadBalancerArn"])[
                "Listeners"
            ]
        }
        (action,) = listeners[443]["DefaultActions"]
        assert action["Type"] == "forward"
        assert {
            group["TargetGroupArn"]: group["Weight"] for group in action["ForwardConfig"]["TargetGroups"]
        } == {moto_alb["groups"][colour]: weight for colour, weight in weights.items()}
        kept = moto_alb["listener"]
        assert (
            listeners[443]["SslPolicy"] == kept["SslPolicy"]
            and listeners[443]["Certificates"] == kept["Certificates"]
        )
        assert listeners[80]["DefaultActions"] == moto_alb["other"]["DefaultActions"], (
            "other listeners untouched"
        )
    balancer_after = elb.describe_load_balancers()["LoadBalancers"][0]
    for key in ("SecurityGroups", "AvailabilityZones", "Scheme", "LoadBalancerArn"):
        assert balancer_after[key] == balancer_before[key], f"the load balancer's {key} must not change"


# ----- the anchoring of the audit heads (docs/adr/0016-anchored-audit-heads.md)


def test_the_audit_anchor_job_runs_hourly_as_the_anchoring_role(render):
    """The CronJob runs the collection's playbook every hour, one run at a time, under the service
    account the anchoring role's trust policy names (IRSA), in the namespace it names; the pod
    assumes no role (it is the role); it reaches RDS and the AWS APIs only, as a non-root,
    read-only container with requests and limits."""
    baseline = _yaml_file(BASELINE_DEFAULTS)
    facts = render.facts
    job = render.find("CronJob", "audit-anchor")
    assert job["spec"]["schedule"] == "17 * * * *" and job["spec"]["timeZone"] == "Etc/UTC"
    assert job["spec"]["concurrencyPolicy"] == "Forbid"
    pod = job["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    assert pod["restartPolicy"] == "Never"
    # The service account of the anchoring role's trust (aws_security_baseline's
    # audit_anchor_trust_policy.json.j2: system:serviceaccount:<app namespace>:<this account>).
    account = render.find("ServiceAccount", pod["serviceAccountName"])
    assert account["metadata"]["name"] == baseline["aws_security_baseline_audit_anchor_service_account"]
    assert account["metadata"]["namespace"] == baseline["aws_security_baseline_app_namespace"]
    assert job["metadata"]["namespace"] == account["metadata"]["namespace"]
    account_id = render.variables.get("app_deploy_eks_aws_account_id", "000000000000")
    role_arn = f"arn:aws:iam::{account_id}:role/giftcrypto-{facts['environment']}-audit-anchor"
    assert account["metadata"]["annotations"]["eks.amazonaws.com/role-arn"] == role_arn
    assert account["automountServiceAccountToken"] is False and pod["automountServiceAccountToken"] is False
    # The collection's playbook (it exists) with the job's inventory.
    (container,) = pod["containers"]
    assert container["command"][-1] == "giftcrypto.platform.audit_anchor"
    assert (ROOT / "playbooks" / "audit_anchor.yml").is_file()
    inventory_map = render.find("ConfigMap", "audit-anchor-inventory")
    inventory = yaml.safe_load(inventory_map["data"]["inventory.yml"])["all"]
    assert "controller" in inventory["hosts"]  # playbooks/audit_anchor.yml's hosts
    assert inventory["vars"]["platform_environment"] == facts["environment"]
    assert inventory["vars"]["db_schema_audit_anchor_role_arn"] == "", "the pod is the role: it assumes none"
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert volumes["inventory"]["configMap"]["name"] == "audit-anchor-inventory"
    assert container["command"][2] == mounts["inventory"] + "/inventory.yml"
    # Pinned image of the environment's ECR, never latest.
    assert _tag(container["image"]) != "latest" and ".dkr.ecr." in container["image"]
    context = {**pod["securityContext"], **container["securityContext"]}
    assert context["runAsNonRoot"] is True and context["runAsUser"] > 0
    assert context["readOnlyRootFilesystem"] is True and context["allowPrivilegeEscalation"] is False
    assert context["capabilities"] == {"drop": ["ALL"]}
    assert context["seccompProfile"] == {"type": "RuntimeDefault"}
    for kind in ("requests", "limits"):
        assert set(container["resources"][kind]) == {"cpu", "memory"}
    labels = job["spec"]["jobTemplate"]["spec"]["template"]["metadata"]["labels"]
    assert labels["app.kubernetes.io/name"] != facts["app_label"], "none of the API's policies applies"
    if facts["network_policies_enabled"]:
        out = _allowed(render, "egress", labels)
        ports = {port["port"] for _, port in out}
        assert ports == {facts["database_port"], 443, 53}, out
        assert _allowed(render, "ingress", labels) == [], "nothing comes in"
