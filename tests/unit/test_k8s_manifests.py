"""EKS manifests of the monitoring role (roles/monitoring/tasks/eks_manifests.yml, issue 6).

The manifests are rendered by really running the role's task file (ansible-playbook on
tests/unit/fixtures/render_eks_manifests.yml, applying off) with the staging and production
inventories, then:
- every document is validated by kubernetes-validate, strict (unknown fields refused), against the
  schemas of the cluster version the inventory names (monitoring_eks_kubernetes_version);
- the security posture is asserted: no privileged container, no privilege escalation, read-only
  root filesystems, every capability dropped, requests and limits everywhere, images pinned (never
  `:latest`), root and host paths only where a node agent needs them, read-only RBAC;
- the shipped configuration is the repository's: rules and dashboards unchanged, Alertmanager's
  configuration accepted by amtool, Prometheus's by promtool, Fluent Bit shipping to the
  environment's log groups;
- prometheus-adapter (docs/adr/0013) registers the custom metrics API and only it, reads the
  Service of the Prometheus rendered here, names exactly the metric app_deploy's HPA asks for, and
  keeps what it takes from the release's manifests vendored in files/prometheus-adapter/.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import jinja2
import kubernetes_validate
import pytest
import yaml

from tests.unit.k8s_helpers import unreachable_kubeconfig

ROOT = Path(__file__).resolve().parents[2]
PLAYBOOK = ROOT / "tests" / "unit" / "fixtures" / "render_eks_manifests.yml"
ROLE = ROOT / "roles" / "monitoring"
RULES_DIR = ROLE / "files" / "rules"
DASHBOARDS_DIR = ROLE / "files" / "dashboards"
ADAPTER_VENDORED = ROLE / "files" / "prometheus-adapter"
APP_DEPLOY_DEFAULTS = ROOT / "roles" / "app_deploy" / "defaults" / "main" / "eks.yml"

# The data layer's endpoints, as aws_rds and aws_elasticache will publish them: with them the
# postgres and redis exporters are rendered too.
DATA_ENDPOINTS = {
    "monitoring_eks_postgres_address": "giftcrypto-production.cluster-abc.us-east-1.rds.amazonaws.com:5432",
    "monitoring_eks_redis_address": "master.giftcrypto-production.abc.use1.cache.amazonaws.com:6379",
}
RENDERS = {
    "staging": ("staging", {}),
    "production": ("production", {}),
    "production-with-data-endpoints": ("production", DATA_ENDPOINTS),
}

WORKLOADS = {"Deployment", "StatefulSet", "DaemonSet"}
CLUSTER_SCOPED = {"Namespace", "ClusterRole", "ClusterRoleBinding", "APIService"}
# Namespaced objects outside the monitoring namespace, and why.
ELSEWHERE_ALLOWED = {
    ("RoleBinding", "giftcrypto-monitoring-prometheus-adapter-auth-reader", "kube-system"): (
        "an aggregated API server reads the extension-apiserver-authentication ConfigMap of kube-system"
    ),
}
# Containers that run as root, and why. Neither is privileged nor keeps a capability.
ROOT_ALLOWED = {
    "fluent-bit": "reads the container logs under /var/log/pods, files of root mode 0640",
    "cloudwatch-agent": "reads cgroup statistics and the containerd socket for Container Insights",
}
# No container is privileged: node-exporter and Fluent Bit only need read-only host paths.
PRIVILEGED_ALLOWED: set[str] = set()
# Host paths (path -> may be written) a workload may mount.
HOST_PATHS_ALLOWED = {
    "node-exporter": {"/": False},
    "fluent-bit": {"/var/log": False, "/var/fluent-bit/state": True},
    "cloudwatch-agent": {
        "/": False,
        "/run/containerd/containerd.sock": False,
        "/sys": False,
        "/dev/disk/": False,
    },
}
HOST_NAMESPACES_ALLOWED = {"node-exporter"}
WRITE_VERBS = {"create", "update", "patch", "delete", "deletecollection", "*"}


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


def _playbook(inventory: str, out: Path, extra: dict | None = None, **variables: object) -> str:
    extra_vars = {
        "monitoring_eks_manifest_dir": str(out / "manifests"),
        "monitoring_eks_test_facts": str(out / "facts.json"),
        **(extra or {}),
        **variables,
    }
    result = subprocess.run(
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
    assert result.returncode == 0, (
        f"rendering the {inventory} manifests failed:\n{result.stdout}{result.stderr}"
    )
    return result.stdout


class Render:
    """The manifests rendered for one environment, with the variables they were rendered from."""

    def __init__(self, out: Path, output: str):
        self.out = out
        self.output = output
        self.dir = out / "manifests"
        self.facts = json.loads((out / "facts.json").read_text(encoding="utf-8"))
        self.documents: list[tuple[str, dict]] = []
        for path in sorted(self.dir.glob("*.yml")):
            for document in yaml.safe_load_all(path.read_text(encoding="utf-8")):
                if document is not None:
                    self.documents.append((path.name, document))

    def find(self, kind: str, name: str) -> dict:
        matches = [d for _, d in self.documents if d["kind"] == kind and d["metadata"]["name"] == name]
        assert len(matches) == 1, f"expected one {kind} {name}, found {len(matches)}"
        return matches[0]

    def workloads(self) -> list[dict]:
        return [d for _, d in self.documents if d["kind"] in WORKLOADS]


@pytest.fixture(scope="module", params=sorted(RENDERS))
def render(request, tmp_path_factory) -> Render:
    inventory, extra = RENDERS[request.param]
    out = tmp_path_factory.mktemp(f"eks-{request.param}")
    return Render(out, _playbook(inventory, out, extra))


def _name(document: dict) -> str:
    return f"{document['kind']}/{document['metadata']['name']}"


def _containers(workload: dict) -> list[dict]:
    spec = workload["spec"]["template"]["spec"]
    return [*spec.get("initContainers", []), *spec["containers"]]


# ----- rendering


def test_every_component_is_rendered(render):
    expected = {
        "00-namespace.yml",
        "10-prometheus.yml",
        "15-prometheus-adapter.yml",
        "20-alertmanager.yml",
        "30-grafana.yml",
        "40-node-exporter.yml",
        "50-kube-state-metrics.yml",
        "60-fluent-bit.yml",
        "70-cloudwatch-agent.yml",
    }
    if render.facts["manifests"][-1].startswith("8"):
        expected |= {"80-postgres-exporter.yml", "81-redis-exporter.yml"}
    assert {p.name for p in render.dir.glob("*.yml")} == expected
    assert set(render.facts["manifests"]) == expected
    assert "not applied" in render.output, "the run must say that the manifests were not applied"


def test_data_exporters_only_with_data_endpoints(render):
    kinds = {_name(d) for _, d in render.documents}
    with_data = render.facts["manifests"][-1].startswith("8")
    assert ("Deployment/postgres-exporter" in kinds) == with_data
    assert ("Deployment/redis-exporter" in kinds) == with_data
    jobs = {job["job_name"] for job in _prometheus_config(render)["scrape_configs"]}
    assert ({"postgres", "redis"} <= jobs) == with_data


def test_rendering_is_idempotent_and_removes_stale_manifests(tmp_path):
    _playbook("staging", tmp_path)
    again = _playbook("staging", tmp_path)
    assert re.search(r"localhost\s+:.*changed=0", again), f"a second render must change nothing:\n{again}"
    stale = tmp_path / "manifests" / "90-removed-component.yml"
    stale.write_text("---\n", encoding="utf-8")
    _playbook("staging", tmp_path)
    assert not stale.exists(), "a manifest of a component no longer rendered must be removed"


def test_unreachable_cluster_fails_a_staging_deploy_after_rendering(tmp_path):
    """Applying on, but the cluster does not answer: rendered, not applied, and on staging the run
    fails (issue 19: no silent success; rendering without applying is for plans and local)."""
    kubeconfig = unreachable_kubeconfig(tmp_path)
    extra_vars = {
        "monitoring_eks_manifest_dir": str(tmp_path / "manifests"),
        "monitoring_eks_test_facts": str(tmp_path / "facts.json"),
        "monitoring_eks_apply": True,
        "monitoring_eks_kubeconfig": str(kubeconfig),
        "monitoring_eks_kube_context": "nowhere",
    }
    result = subprocess.run(
        [
            str(Path(sys.executable).parent / "ansible-playbook"),
            "-i",
            str(ROOT / "inventories" / "staging"),
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
    output = " ".join(result.stdout.split())
    assert result.returncode != 0, output
    assert f"no Kubernetes cluster reachable: manifests rendered to {tmp_path / 'manifests'}" in output
    assert "monitoring_eks_require_cluster is true here" in output
    assert (tmp_path / "manifests" / "10-prometheus.yml").is_file()


def test_unreachable_cluster_is_reported_not_failed_when_not_required(tmp_path):
    """Applying on, the cluster does not answer, the cluster not required: rendered, the run goes on."""
    kubeconfig = unreachable_kubeconfig(tmp_path)
    output = _playbook(
        "staging",
        tmp_path,
        monitoring_eks_apply=True,
        monitoring_eks_require_cluster=False,
        monitoring_eks_kubeconfig=str(kubeconfig),
        monitoring_eks_kube_context="nowhere",
    )
    expected = f"no Kubernetes cluster reachable: manifests rendered to {tmp_path / 'manifests'}"
    assert expected in " ".join(output.split()), f"the run must say that nothing was applied:\n{output}"
    assert (tmp_path / "manifests" / "10-prometheus.yml").is_file()


# ----- schemas


def test_documents_validate_against_the_cluster_version(render):
    version = render.facts["kubernetes_version"]
    assert re.fullmatch(r"1\.\d+", version), (
        f"monitoring_eks_kubernetes_version {version!r} is not major.minor"
    )
    supported = {kubernetes_validate.utils.major_minor(v) for v in kubernetes_validate.utils.all_versions()}
    assert version in supported, (
        f"kubernetes-validate has no schemas for {version} (it has {sorted(supported)})"
    )
    errors = []
    for file, document in render.documents:
        try:
            kubernetes_validate.validate(document, version, strict=True)
        except (kubernetes_validate.ValidationError, kubernetes_validate.SchemaNotFoundError) as error:
            errors.append(f"{file} {_name(document)}: {error}")
    assert not errors, f"invalid for Kubernetes {version}:\n" + "\n".join(errors)


def test_strict_validation_refuses_unknown_fields():
    """The validator really is strict: a misspelt field is an error, not silently ignored."""
    document = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "x", "namespace": "monitoring"},
        "datas": {"a": "b"},
    }
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(document, "1.36", strict=True)


def test_namespaced_objects_are_in_the_monitoring_namespace(render):
    namespace = render.facts["namespace"]
    for file, document in render.documents:
        if document["kind"] in CLUSTER_SCOPED:
            assert "namespace" not in document["metadata"], f"{file} {_name(document)} is cluster-scoped"
        elif (document["kind"], document["metadata"]["name"], document["metadata"].get("namespace")) in (
            ELSEWHERE_ALLOWED
        ):
            continue
        else:
            assert document["metadata"].get("namespace") == namespace, (
                f"{file} {_name(document)} must be in namespace {namespace}"
            )


# ----- security posture


def test_images_are_pinned(render):
    for workload in render.workloads():
        for container in _containers(workload):
            image = container["image"]
            match = re.fullmatch(
                r"(?P<repo>[^@\s]+?)(?::(?P<tag>[\w][\w.-]*))?(?:@sha256:[0-9a-f]{64})?", image
            )
            assert match and (match.group("tag") or "@sha256:" in image), (
                f"{_name(workload)} {container['name']}: image {image} must name a tag or a digest"
            )
            assert match.group("tag") != "latest", (
                f"{_name(workload)} {container['name']}: {image} uses :latest"
            )


def test_every_container_has_requests_and_limits(render):
    for workload in render.workloads():
        for container in _containers(workload):
            resources = container.get("resources", {})
            for kind in ("requests", "limits"):
                for resource in ("cpu", "memory"):
                    assert resources.get(kind, {}).get(resource), (
                        f"{_name(workload)} {container['name']}: resources.{kind}.{resource} missing"
                    )


def test_container_security_contexts(render):
    for workload in render.workloads():
        app = workload["metadata"]["name"]
        pod = workload["spec"]["template"]["spec"]
        for container in _containers(workload):
            where = f"{_name(workload)} {container['name']}"
            context = {**pod.get("securityContext", {}), **container.get("securityContext", {})}
            if app not in PRIVILEGED_ALLOWED:
                assert context.get("privileged") is not True, f"{where}: privileged"
            assert context.get("allowPrivilegeEscalation") is False, (
                f"{where}: allowPrivilegeEscalation must be false"
            )
            assert context.get("readOnlyRootFilesystem") is True, (
                f"{where}: readOnlyRootFilesystem must be true"
            )
            capabilities = context.get("capabilities", {})
            assert capabilities.get("drop") == ["ALL"], f"{where}: capabilities must drop ALL"
            assert not capabilities.get("add"), f"{where}: no capability may be added"
            assert context.get("seccompProfile", {}).get("type") == "RuntimeDefault", f"{where}: seccomp"
            if app in ROOT_ALLOWED:
                assert context.get("runAsNonRoot") is False and context.get("runAsUser") == 0, where
            else:
                assert context.get("runAsNonRoot") is True, f"{where}: runAsNonRoot must be true"
                assert context.get("runAsUser", 0) > 0, f"{where}: runAsUser must not be 0"


def test_host_access_only_where_needed(render):
    for workload in render.workloads():
        app = workload["metadata"]["name"]
        pod = workload["spec"]["template"]["spec"]
        for key in ("hostNetwork", "hostPID", "hostIPC"):
            if pod.get(key):
                assert app in HOST_NAMESPACES_ALLOWED and key != "hostIPC", f"{_name(workload)}: {key}"
        host_volumes = {v["name"]: v["hostPath"]["path"] for v in pod.get("volumes", []) if "hostPath" in v}
        allowed = HOST_PATHS_ALLOWED.get(app, {})
        for path in host_volumes.values():
            assert path in allowed, f"{_name(workload)}: host path {path} is not allowed for {app}"
        for container in _containers(workload):
            for mount in container.get("volumeMounts", []):
                if mount["name"] in host_volumes and not allowed[host_volumes[mount["name"]]]:
                    assert mount.get("readOnly") is True, (
                        f"{_name(workload)} {container['name']}: host path {host_volumes[mount['name']]} "
                        "must be mounted read-only"
                    )


def test_cluster_roles_are_read_only(render):
    for _, document in render.documents:
        if document["kind"] != "ClusterRole":
            continue
        for rule in document["rules"]:
            assert not set(rule["verbs"]) & WRITE_VERBS, f"{_name(document)}: write verbs {rule['verbs']}"
            assert "*" not in rule.get("resources", []) and "*" not in rule.get("apiGroups", []), _name(
                document
            )
            assert "secrets" not in rule.get("resources", []), f"{_name(document)} must not read Secrets"
            assert "nodes/proxy" not in rule.get("resources", []), (
                f"{_name(document)}: nodes/proxy reaches the whole kubelet API (exec included)"
            )


def test_service_account_tokens_only_where_the_api_is_used(render):
    uses_api = {"prometheus", "kube-state-metrics", "fluent-bit", "cloudwatch-agent", "prometheus-adapter"}
    for workload in render.workloads():
        app = workload["metadata"]["name"]
        mounted = workload["spec"]["template"]["spec"].get("automountServiceAccountToken", True)
        assert mounted == (app in uses_api), (
            f"{_name(workload)}: automountServiceAccountToken must be {app in uses_api}"
        )


# ----- configuration shipped


def _prometheus_config(render: Render) -> dict:
    return yaml.safe_load(render.find("ConfigMap", "prometheus-config")["data"]["prometheus.yml"])


def test_prometheus_rules_are_the_repository_rules(render):
    data = render.find("ConfigMap", "prometheus-rules")["data"]
    files = {p.name: p.read_text(encoding="utf-8") for p in sorted(RULES_DIR.glob("*.yml"))}
    assert data == files, (
        "the prometheus-rules ConfigMap must hold roles/monitoring/files/rules/*.yml unchanged"
    )


def test_prometheus_configuration(render, tmp_path):
    config = _prometheus_config(render)
    assert config["rule_files"] == ["/etc/prometheus/rules/*.yml"]
    assert config["global"]["external_labels"]["environment"] == render.facts["environment"]
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    assert {"prometheus", "alertmanager", "kubelet", "cadvisor", "node", "kube-state-metrics"} <= set(jobs)
    assert "giftcrypto-api" in jobs, "the SLO rules select job=giftcrypto-api"
    # Debian's promtool is built without Kubernetes discovery: check everything else.
    for job in config["scrape_configs"]:
        if job.pop("kubernetes_sd_configs", None) is not None:
            job["static_configs"] = [{"targets": []}]
    for alertmanagers in config["alerting"]["alertmanagers"]:
        alertmanagers.pop("kubernetes_sd_configs")
        alertmanagers["static_configs"] = [{"targets": ["alertmanager:9093"]}]
    config["rule_files"] = []
    path = tmp_path / "prometheus.yml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    promtool = shutil.which("promtool")
    assert promtool, "promtool is not installed: apt-get install -y --no-install-recommends prometheus"
    result = subprocess.run(
        [promtool, "check", "config", "--syntax-only", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, f"promtool check config:\n{result.stdout}{result.stderr}"


def test_alertmanager_configuration(render, tmp_path):
    text = render.find("ConfigMap", "alertmanager-config")["data"]["alertmanager.yml"]
    path = tmp_path / "alertmanager.yml"
    path.write_text(text, encoding="utf-8")
    amtool = shutil.which("amtool")
    assert amtool, (
        "amtool is not installed: apt-get install -y --no-install-recommends prometheus-alertmanager"
    )
    result = subprocess.run(
        [amtool, "check-config", str(path)], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, f"amtool check-config:\n{result.stdout}{result.stderr}"
    # Every secret file the configuration reads is in the directory the Secret is mounted at.
    secrets_dir = render.facts["alertmanager_secrets_dir"].rstrip("/")
    files = re.findall(r"_file:\s*\"?([^\"\s]+)", text)
    for file in files:
        assert str(Path(file).parent) == secrets_dir, (
            f"{file} is not in {secrets_dir}, where the Secret is mounted"
        )
    statefulset = render.find("StatefulSet", "alertmanager")
    mounts = {m["mountPath"] for m in _containers(statefulset)[0]["volumeMounts"]}
    assert secrets_dir in mounts


def test_alertmanager_cluster_peers(render):
    statefulset = render.find("StatefulSet", "alertmanager")
    replicas = statefulset["spec"]["replicas"]
    args = _containers(statefulset)[0]["args"]
    peers = [a for a in args if a.startswith("--cluster.peer=")]
    assert len(peers) == (replicas if replicas > 1 else 0)
    if render.facts["environment"] == "production":
        assert replicas >= 3, "production runs a three-member Alertmanager cluster"
        assert render.find("StatefulSet", "prometheus")["spec"]["replicas"] >= 2


def test_grafana_provisions_the_repository_dashboards(render):
    data = render.find("ConfigMap", "grafana-dashboards")["data"]
    files = {p.name: json.loads(p.read_text(encoding="utf-8")) for p in sorted(DASHBOARDS_DIR.glob("*.json"))}
    assert {name: json.loads(text) for name, text in data.items()} == files
    datasources = yaml.safe_load(render.find("ConfigMap", "grafana-datasources")["data"]["datasources.yml"])
    (datasource,) = datasources["datasources"]
    assert datasource["type"] == "prometheus" and datasource["isDefault"] is True
    assert datasource["url"] == f"http://prometheus.{render.facts['namespace']}.svc:9090"


def test_fluent_bit_ships_to_the_environment_log_groups(render):
    config = render.find("ConfigMap", "fluent-bit-config")["data"]["fluent-bit.conf"]
    outputs = re.findall(r"\[OUTPUT\](.*?)(?=\n\[|\Z)", config, re.DOTALL)
    groups = {}
    for output in outputs:
        settings = dict(line.split(None, 1) for line in output.strip().splitlines() if line.strip())
        assert settings["Name"] == "cloudwatch_logs"
        groups[settings["Match"]] = settings["log_group_name"]
    assert groups == {
        "kube.*": render.facts["log_group_application"],
        "audit.*": render.facts["log_group_audit"],
    }
    assert "Merge_Log           On" in config, "JSON log lines must be merged into the record"
    assert re.search(r"Rule\s+\$log_type \^audit\$ audit\.\$TAG false", config), (
        "audit events to the audit group"
    )


# ----- prometheus-adapter: the custom metrics API of the API's HorizontalPodAutoscalers


def _adapter_upstream(name: str) -> dict:
    return yaml.safe_load((ADAPTER_VENDORED / name).read_text(encoding="utf-8"))


def _adapter_container(render: Render) -> dict:
    (container,) = _containers(render.find("Deployment", "prometheus-adapter"))
    return container


def _adapter_args(render: Render) -> dict[str, str]:
    return dict(arg.removeprefix("--").split("=", 1) for arg in _adapter_container(render)["args"])


def _adapter_rules(render: Render) -> list[dict]:
    config = yaml.safe_load(render.find("ConfigMap", "prometheus-adapter-config")["data"]["config.yaml"])
    assert set(config) == {"rules"}, (
        "the adapter serves custom metrics only: no resourceRules (Metrics Server's), no externalRules"
    )
    return config["rules"]


def test_prometheus_adapter_vendored_files_are_the_releases_own(render):
    table = (ADAPTER_VENDORED / "VENDORED.md").read_text(encoding="utf-8")
    rows = re.findall(r"^\| `([^`]+)` \| `[^`]+` \| `([0-9a-f]{64})` \|", table, re.MULTILINE)
    assert {name for name, _ in rows} == {p.name for p in ADAPTER_VENDORED.iterdir()} - {"VENDORED.md"}
    for name, digest in rows:
        assert hashlib.sha256((ADAPTER_VENDORED / name).read_bytes()).hexdigest() == digest, (
            f"{name} differs from upstream"
        )
    assert "Apache License" in (ADAPTER_VENDORED / "LICENSE").read_text(encoding="utf-8")
    (release,) = set(re.findall(r"tag `(v[0-9.]+)`", table))
    (upstream,) = _adapter_upstream("deployment.yaml")["spec"]["template"]["spec"]["containers"]
    assert upstream["image"] == f"registry.k8s.io/prometheus-adapter/prometheus-adapter:{release}"
    assert (
        _adapter_container(render)["image"] == upstream["image"] == render.facts["prometheus_adapter_image"]
    )


def test_only_the_custom_metrics_api_is_registered(render):
    services = [d for _, d in render.documents if d["kind"] == "APIService"]
    assert [(s["spec"]["group"], s["spec"]["version"]) for s in services] == [
        ("custom.metrics.k8s.io", "v1beta2")
    ], "metrics.k8s.io is Metrics Server's (aws_eks add-ons): the adapter registers custom metrics only"
    (service,) = services
    assert service["metadata"]["name"] == "v1beta2.custom.metrics.k8s.io"
    target = service["spec"]["service"]
    assert target["namespace"] == render.facts["namespace"]
    adapter = render.find("Service", target["name"])
    (port,) = [p for p in adapter["spec"]["ports"] if p["port"] == target["port"]]
    container_ports = {p["name"]: p["containerPort"] for p in _adapter_container(render)["ports"]}
    assert port["targetPort"] in container_ports
    assert f"--secure-port={container_ports[port['targetPort']]}" in _adapter_container(render)["args"]
    deployment = render.find("Deployment", "prometheus-adapter")
    assert adapter["spec"]["selector"].items() <= deployment["spec"]["template"]["metadata"]["labels"].items()


def test_prometheus_adapter_reads_the_prometheus_service_rendered_here(render):
    url = _adapter_args(render)["prometheus-url"]
    match = re.fullmatch(r"http://(?P<service>[^.]+)\.(?P<namespace>[^.]+)\.svc:(?P<port>\d+)/?", url)
    assert match, f"--prometheus-url {url} is not a Service of this cluster"
    assert match["namespace"] == render.facts["namespace"]
    service = render.find("Service", match["service"])
    assert service["spec"].get("clusterIP") != "None", "a load-balanced Service, not the headless one"
    (port,) = [p for p in service["spec"]["ports"] if p["port"] == int(match["port"])]
    statefulset = render.find("StatefulSet", "prometheus")
    assert (
        service["spec"]["selector"].items() <= statefulset["spec"]["template"]["metadata"]["labels"].items()
    )
    (prometheus,) = _containers(statefulset)
    assert port["targetPort"] in {p["name"] for p in prometheus["ports"]}


def test_prometheus_adapter_serves_the_metric_the_hpa_asks_for(render):
    (rule,) = _adapter_rules(render)
    metric = render.facts["api_requests_metric"]
    # The adapter's naming: the series name matching `matches`, renamed to `as`.
    assert re.fullmatch(rule["name"]["matches"], "http_requests_total")
    assert rule["name"]["as"] == metric
    # app_deploy's HPA asks for app_deploy_eks_hpa_requests_metric: its default follows the
    # monitoring role's variable, and falls back to the same name when the variable is not set.
    defaults = yaml.safe_load(APP_DEPLOY_DEFAULTS.read_text(encoding="utf-8"))
    expression = jinja2.Environment(undefined=jinja2.StrictUndefined, autoescape=True).from_string(
        defaults["app_deploy_eks_hpa_requests_metric"]
    )
    assert expression.render(monitoring_eks_api_requests_metric=metric) == metric
    assert expression.render() == metric == "http_requests_per_second"
    # The series it reads is the API's, as this Prometheus scrapes it: job giftcrypto-api, with the
    # namespace and pod labels the rule maps to Kubernetes objects.
    assert (
        rule["seriesQuery"].startswith("http_requests_total{")
        and 'job="giftcrypto-api"' in rule["seriesQuery"]
    )
    assert rule["resources"] == {
        "overrides": {"namespace": {"resource": "namespace"}, "pod": {"resource": "pod"}}
    }
    jobs = {job["job_name"]: job for job in _prometheus_config(render)["scrape_configs"]}
    labels = {
        r.get("target_label"): r.get("source_labels") for r in jobs["giftcrypto-api"]["relabel_configs"]
    }
    assert labels["namespace"] == ["__meta_kubernetes_namespace"]
    assert labels["pod"] == ["__meta_kubernetes_pod_name"]
    assert jobs["giftcrypto-api"]["kubernetes_sd_configs"][0]["namespaces"]["names"] == [
        render.facts["api_namespace"]
    ]
    # Per pod (grouped by the resource label), a rate of the counter over the configured window.
    assert re.fullmatch(
        r"sum by \(<<\.GroupBy>>\) \(rate\(<<\.Series>>\{<<\.LabelMatchers>>\}\[\d+[sm]\]\)\)",
        rule["metricsQuery"],
    ), rule["metricsQuery"]


def test_prometheus_adapter_keeps_what_the_release_manifests_set(render):
    rendered = {(d["kind"], d["metadata"]["name"]): d for _, d in render.documents}
    (role,) = [d for (kind, name), d in rendered.items() if kind == "ClusterRole" and "adapter" in name]
    assert role["rules"] == _adapter_upstream("cluster-role.yaml")["rules"]
    bindings = [d for (kind, name), d in rendered.items() if kind.endswith("Binding") and "adapter" in name]
    assert sorted(b["roleRef"]["name"] for b in bindings) == sorted(
        [
            role["metadata"]["name"],
            _adapter_upstream("cluster-role-binding-delegator.yaml")["roleRef"]["name"],
            _adapter_upstream("role-binding-auth-reader.yaml")["roleRef"]["name"],
        ]
    )
    for binding in bindings:
        assert binding["subjects"] == [
            {"kind": "ServiceAccount", "name": "prometheus-adapter", "namespace": render.facts["namespace"]}
        ]
    (upstream,) = _adapter_upstream("deployment.yaml")["spec"]["template"]["spec"]["containers"]
    container = _adapter_container(render)
    upstream_args = dict(a.removeprefix("--").split("=", 1) for a in upstream["args"])
    args = _adapter_args(render)
    for kept in ("cert-dir", "config", "metrics-relist-interval", "secure-port"):
        assert args[kept] == upstream_args[kept], kept
    assert set(args["tls-cipher-suites"].split(",")) <= set(upstream_args["tls-cipher-suites"].split(","))
    assert container["ports"] == upstream["ports"]
    for probe in ("readinessProbe", "livenessProbe"):
        assert container[probe]["httpGet"] == upstream[probe]["httpGet"], probe
    mounts = {m["mountPath"] for m in container["volumeMounts"]}
    assert mounts == {m["mountPath"] for m in upstream["volumeMounts"]}
    assert args["config"].startswith(
        next(m["mountPath"] for m in container["volumeMounts"] if m["name"] == "config")
    )
    deployment = render.find("Deployment", "prometheus-adapter")
    if deployment["spec"]["replicas"] > 1:
        assert render.find("PodDisruptionBudget", "prometheus-adapter")["spec"]["minAvailable"] == 1
    if render.facts["environment"] == "production":
        assert deployment["spec"]["replicas"] >= 2, "production keeps the HPA's metric through a node drain"
