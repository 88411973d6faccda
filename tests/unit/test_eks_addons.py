"""The cluster's controllers (roles/aws_eks/tasks/addons.yml, issue 20) and the AWS Load Balancer
Controller's vendored files.

- The vendored files are the release's own (their SHA-256 as VENDORED.md records them), the chart
  values rendered for staging and production use only keys the chart's values.yaml of that release
  knows, and pin the controller's image to the release.
- The Cluster Autoscaler's manifests validate with kubernetes-validate (strict) against the schemas
  of the inventory's cluster version and of the version the pin moves to (1.35); the autoscaler's
  minor is the cluster's, it discovers this cluster's groups only, runs off the group it scales, and
  its service account names its IRSA role.
- Metrics Server (the resource metrics API the API's HorizontalPodAutoscaler reads CPU from) is its
  release's manifest (SHA-256 as its VENDORED.md records it), of a release that supports the
  cluster's version, and validates with kubernetes-validate (strict) at the inventory's version and
  the pin's.
- The API's TargetGroupBindings (app_deploy) validate against the vendored CRD's schema.
"""

from __future__ import annotations

import hashlib
import json
import pathlib
import re
import subprocess
import sys

import jsonschema
import kubernetes_validate
import pytest
import yaml

from tests.unit.test_app_k8s_manifests import RENDERS as APP_RENDERS
from tests.unit.test_app_k8s_manifests import TARGET_EKS_VERSION, Render, _ansible_env
from tests.unit.test_app_k8s_manifests import _playbook as app_playbook

ROOT = pathlib.Path(__file__).resolve().parents[2]
VENDORED = ROOT / "roles" / "aws_eks" / "files" / "aws-load-balancer-controller"
METRICS_SERVER = ROOT / "roles" / "aws_eks" / "files" / "metrics-server"
PLAYBOOK = ROOT / "tests" / "unit" / "fixtures" / "render_eks_addons.yml"


def _render(inventory: str, out: pathlib.Path) -> dict:
    result = subprocess.run(
        [
            str(pathlib.Path(sys.executable).parent / "ansible-playbook"),
            "-i",
            str(ROOT / "inventories" / inventory),
            str(PLAYBOOK),
            "-e",
            json.dumps(
                {
                    "aws_eks_addons_manifest_dir": str(out / "cluster"),
                    "aws_eks_addons_test_facts": str(out / "facts.json"),
                }
            ),
        ],
        cwd=ROOT,
        env=_ansible_env(),
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, (
        f"rendering the {inventory} controllers failed:\n{result.stdout}{result.stderr}"
    )
    return json.loads((out / "facts.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="module", params=["staging", "production"])
def addons(request, tmp_path_factory):
    out = tmp_path_factory.mktemp(f"addons-{request.param}")
    facts = _render(request.param, out)
    return facts, out / "cluster"


def test_the_vendored_files_are_the_releases_own():
    table = (VENDORED / "VENDORED.md").read_text(encoding="utf-8")
    rows = re.findall(r"^\| `([^`]+)` \| `[^`]+` \| `([0-9a-f]{64})` \|", table, re.MULTILINE)
    assert {name for name, _ in rows} == {"iam_policy.json", "crds.yaml", "LICENSE", "values.yaml"}
    for name, digest in rows:
        assert hashlib.sha256((VENDORED / name).read_bytes()).hexdigest() == digest, (
            f"{name} differs from upstream"
        )
    assert "Apache License" in (VENDORED / "LICENSE").read_text(encoding="utf-8")


def test_the_rendered_set(addons):
    _, directory = addons
    assert sorted(p.name for p in directory.iterdir()) == [
        "00-aws-load-balancer-controller-crds.yml",
        "05-metrics-server.yml",
        "10-cluster-autoscaler.yml",
        "aws-load-balancer-controller-values.yml",
    ]
    assert (directory / "00-aws-load-balancer-controller-crds.yml").read_bytes() == (
        VENDORED / "crds.yaml"
    ).read_bytes()
    assert (directory / "05-metrics-server.yml").read_bytes() == (
        METRICS_SERVER / "high-availability-1.21+.yaml"
    ).read_bytes()


def test_metrics_server_is_its_releases_manifest():
    table = (METRICS_SERVER / "VENDORED.md").read_text(encoding="utf-8")
    rows = re.findall(r"^\| `([^`]+)` \| `[^`]+` \| `([0-9a-f]{64})` \|", table, re.MULTILINE)
    assert {name for name, _ in rows} == {"high-availability-1.21+.yaml", "LICENSE"}
    for name, digest in rows:
        assert hashlib.sha256((METRICS_SERVER / name).read_bytes()).hexdigest() == digest, (
            f"{name} differs from upstream"
        )
    assert "Apache License" in (METRICS_SERVER / "LICENSE").read_text(encoding="utf-8")
    (release,) = re.findall(r"tag `(v[0-9.]+)`", table)
    documents = [
        d for d in yaml.safe_load_all((METRICS_SERVER / "high-availability-1.21+.yaml").read_text()) if d
    ]
    (deployment,) = [d for d in documents if d["kind"] == "Deployment"]
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    assert container["image"] == f"registry.k8s.io/metrics-server/metrics-server:{release}"
    # Two replicas on two nodes, kept through a node drain: the HPA never loses its CPU metric.
    assert deployment["spec"]["replicas"] == 2
    assert [d["kind"] for d in documents].count("PodDisruptionBudget") == 1
    (service,) = [d for d in documents if d["kind"] == "APIService"]
    assert service["metadata"]["name"] == "v1beta1.metrics.k8s.io"
    # "0.9.x | metrics.k8s.io/v1beta1 | 1.34+" (the compatibility matrix of the release's README).
    assert release.startswith("v0.9."), "check the release's compatibility matrix for the pinned version"


@pytest.mark.parametrize("target", ["inventory", "target"])
def test_metrics_server_validates_against_the_cluster_version(addons, target):
    facts, directory = addons
    version = facts["kubernetes_version"] if target == "inventory" else TARGET_EKS_VERSION
    assert tuple(map(int, version.split("."))) >= (1, 34), "Metrics Server v0.9 supports 1.34 and later"
    errors = []
    for document in yaml.safe_load_all((directory / "05-metrics-server.yml").read_text(encoding="utf-8")):
        if document:
            try:
                kubernetes_validate.validate(document, version, strict=True)
            except (kubernetes_validate.ValidationError, kubernetes_validate.SchemaNotFoundError) as error:
                errors.append(f"{document['kind']}/{document['metadata']['name']}: {error}")
    assert not errors, "\n".join(errors)


def _known(values: dict, chart: dict, path: str = "") -> list[str]:
    """Keys of `values` the chart's values.yaml does not have (maps of free keys excepted)."""
    unknown = []
    for key, value in values.items():
        where = f"{path}{key}"
        if key not in chart:
            unknown.append(where)
        elif isinstance(value, dict) and isinstance(chart[key], dict) and chart[key]:
            unknown.extend(_known(value, chart[key], where + "."))
    return unknown


def test_the_load_balancer_controller_values_are_the_charts_and_pin_the_release(addons):
    facts, directory = addons
    values = yaml.safe_load(
        (directory / "aws-load-balancer-controller-values.yml").read_text(encoding="utf-8")
    )
    chart = yaml.safe_load((VENDORED / "values.yaml").read_text(encoding="utf-8"))
    assert not _known(values, chart), "keys the chart does not know"
    assert values["image"]["tag"] == facts["lbc_image_tag"] == "v3.5.0"
    assert facts["lbc_chart_version"] == "3.5.0"
    assert values["clusterName"] == facts["cluster_name"]
    assert values["region"] == facts["region"]
    assert values["vpcId"].startswith("vpc-")
    assert values["serviceAccount"]["name"] == "aws-load-balancer-controller"
    assert (
        values["serviceAccount"]["annotations"]["eks.amazonaws.com/role-arn"]
        == facts["role_arns"]["aws-load-balancer-controller"]
    )
    assert values["createIngressClassResource"] is False, "the edge layer owns the load balancer"
    assert values["replicaCount"] >= 2


@pytest.mark.parametrize("target", ["inventory", "target"])
def test_the_cluster_autoscaler_validates_against_the_cluster_version(addons, target):
    facts, directory = addons
    version = facts["kubernetes_version"] if target == "inventory" else TARGET_EKS_VERSION
    errors = []
    for document in yaml.safe_load_all((directory / "10-cluster-autoscaler.yml").read_text(encoding="utf-8")):
        if document:
            try:
                kubernetes_validate.validate(document, version, strict=True)
            except (kubernetes_validate.ValidationError, kubernetes_validate.SchemaNotFoundError) as error:
                errors.append(f"{document['kind']}/{document['metadata']['name']}: {error}")
    assert not errors, "\n".join(errors)


def test_the_cluster_autoscaler_scales_this_clusters_groups_from_its_own_minor(addons):
    facts, directory = addons
    documents = {
        (d["kind"], d["metadata"]["name"]): d
        for d in yaml.safe_load_all((directory / "10-cluster-autoscaler.yml").read_text(encoding="utf-8"))
        if d
    }
    account = documents[("ServiceAccount", "cluster-autoscaler")]
    assert (
        account["metadata"]["annotations"]["eks.amazonaws.com/role-arn"]
        == facts["role_arns"]["cluster-autoscaler"]
    )
    pod = documents[("Deployment", "cluster-autoscaler")]["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["image"] == facts["cluster_autoscaler_image"]
    assert re.fullmatch(
        rf"registry\.k8s\.io/autoscaling/cluster-autoscaler:v{re.escape(facts['kubernetes_version'])}\.\d+",
        container["image"],
    )
    assert (
        f"--node-group-auto-discovery=asg:tag=k8s.io/cluster-autoscaler/enabled,k8s.io/cluster-autoscaler/{facts['cluster_name']}"
        in container["command"]
    )
    inventory = {}
    for path in sorted(
        (ROOT / "inventories" / facts["cluster_name"].split("-")[-1] / "group_vars" / "all").glob("*.yml")
    ):
        inventory.update(yaml.safe_load(path.read_text(encoding="utf-8")) or {})
    groups = {g["name"]: g for g in inventory["aws_eks_node_groups"]}
    assert groups["scaling"]["min_size"] == 0 and groups["scaling"]["keep_desired_size"], "scales from 0"
    assert pod["nodeSelector"] == groups["general"]["labels"], (
        "runs on the general group, never the one it scales"
    )
    binding = documents[("ClusterRoleBinding", "giftcrypto-cluster-autoscaler")]
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": "cluster-autoscaler", "namespace": "kube-system"}
    ]


# ----- the API's TargetGroupBindings against the vendored CRD


def _crd_schema(kind: str, version: str) -> dict:
    for crd in yaml.safe_load_all((VENDORED / "crds.yaml").read_text(encoding="utf-8")):
        if crd and crd["spec"]["names"]["kind"] == kind:
            (served,) = [v for v in crd["spec"]["versions"] if v["name"] == version]
            return served["schema"]["openAPIV3Schema"]
    raise AssertionError(f"no CRD of {kind}")


def _unknown_fields(document, schema: dict, path: str = "") -> list[str]:
    """Fields the structural schema does not declare (what the API server would prune or refuse)."""
    found = []
    if isinstance(document, dict) and "properties" in schema:
        for key, value in document.items():
            if key not in schema["properties"]:
                found.append(f"{path}{key}")
            else:
                found.extend(_unknown_fields(value, schema["properties"][key], f"{path}{key}."))
    elif isinstance(document, list) and "items" in schema:
        for index, item in enumerate(document):
            found.extend(_unknown_fields(item, schema["items"], f"{path}{index}."))
    return found


@pytest.fixture(scope="module")
def bindings(tmp_path_factory) -> list[dict]:
    inventory, variables = APP_RENDERS["production-release-alb"]
    out = tmp_path_factory.mktemp("bindings")
    render = Render("production-release-alb", out, app_playbook(inventory, out, variables), variables)
    found = render.of_kind("TargetGroupBinding")
    assert len(found) == 2
    return found


def test_the_apis_target_group_bindings_validate_against_the_vendored_crd(bindings):
    schema = _crd_schema("TargetGroupBinding", "v1beta1")
    for binding in bindings:
        assert binding["apiVersion"] == "elbv2.k8s.aws/v1beta1"
        body = {k: v for k, v in binding.items() if k not in ("apiVersion", "kind", "metadata")}
        jsonschema.validate(
            body,
            {k: v for k, v in schema.items() if k != "properties"}
            | {
                "properties": {
                    k: v
                    for k, v in schema["properties"].items()
                    if k not in ("apiVersion", "kind", "metadata")
                }
            },
        )
        assert not _unknown_fields(body, schema), _unknown_fields(body, schema)


def test_the_crd_check_refuses_what_the_controller_would_not_take():
    schema = _crd_schema("TargetGroupBinding", "v1beta1")
    bad = {"spec": {"serviceRef": {"name": "x", "port": 80}, "targetGroupARN": "arn", "targetType": "pod"}}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, {"type": "object", "properties": {"spec": schema["properties"]["spec"]}})
    assert _unknown_fields({"spec": {"serviceRef": {"name": "x", "port": 80}, "colour": "blue"}}, schema) == [
        "spec.colour"
    ]
