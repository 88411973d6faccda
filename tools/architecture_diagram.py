"""Architecture diagram of each environment, drawn from its inventory: docs/architecture-<env>.png.

    python tools/architecture_diagram.py                 every environment (what `nox -s docs` runs)
    python tools/architecture_diagram.py staging         one of them
    python tools/architecture_diagram.py --dot           also writes the Graphviz source beside the PNG

What is drawn is what `playbooks/site.yml` deploys on that environment: the playbooks it imports,
the roles they run and the `when` of each (a role that applies only to `local` is not drawn on
staging), with the values of the environment: the role defaults overridden by
`inventories/<env>/group_vars` (VPC CIDR, zones, the subnets the `tier_subnets` filter cuts from
it, NAT gateways, ports, retention days, replicas, instance classes...). Something a role expects
but no role of site.yml creates (the load balancer; the EKS cluster until aws_eks is in site.yml) is
drawn dashed and says so.
A role this script does not know yet is drawn as a box named after it, never left out.

The PNG is rendered by the `diagrams` package (dependency group `docs`) with Debian's graphviz
(`dot`); node identifiers are numbered in drawing order instead of random, so the same inventory
and the same graphviz give the same bytes (no diff on a second run).
"""

from __future__ import annotations

import argparse
import ast
import importlib.util
import itertools
import pathlib
import re
import shutil
import sys
import tempfile
import textwrap
from collections.abc import Iterable
from typing import Any

import jinja2
import jinja2.meta
import yaml
from diagrams import Cluster, Diagram, Edge, Node
from diagrams.aws.compute import ECR, EKS
from diagrams.aws.database import RDSPostgresqlInstance
from diagrams.aws.integration import SNS
from diagrams.aws.management import Cloudtrail, Cloudwatch, CloudwatchAlarm, CloudwatchLogs, Config
from diagrams.aws.network import ALB, Endpoint, InternetGateway, NATGateway, PrivateSubnet, PublicSubnet
from diagrams.aws.security import KMS, Guardduty, IAMRole, SecretsManager, SecurityHub
from diagrams.aws.storage import SimpleStorageServiceS3Bucket
from diagrams.generic.blank import Blank
from diagrams.k8s.compute import DS, STS, Deploy
from diagrams.k8s.network import SVC
from diagrams.onprem.certificates import LetsEncrypt
from diagrams.onprem.client import Users
from diagrams.onprem.compute import Server
from diagrams.onprem.database import PostgreSQL
from diagrams.onprem.inmemory import Redis
from diagrams.onprem.monitoring import Grafana, Prometheus
from diagrams.onprem.network import HAProxy, Internet
from diagrams.programming.language import Python

ROOT = pathlib.Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
ENVIRONMENTS = ("local", "staging", "production")
KNOWN_ROLES = {
    "preflight",
    "local_aws_endpoint",
    "aws_network",
    "aws_security_baseline",
    "aws_observability",
    "aws_rds",
    "aws_eks",
    "local_pki",
    "postgres_server",
    "redis_server",
    "db_schema",
    "monitoring",
    "app_deploy",
}
ROLE_PREFIX = "giftcrypto.platform."


# --- The environment's variables -----------------------------------------------------------------


def _yaml_files(directory: pathlib.Path) -> list[pathlib.Path]:
    if directory.is_file():
        return [directory]
    if not directory.is_dir():
        return []
    return sorted(p for p in directory.rglob("*") if p.suffix in (".yml", ".yaml") and p.is_file())


def _load(path: pathlib.Path) -> dict[str, Any]:
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    if not isinstance(data, dict):
        raise SystemExit(f"{path}: expected a mapping of variables")
    return data


def _tier_subnets():
    """The collection's own filter (plugins/filter/network.py), the one aws_network uses."""
    spec = importlib.util.spec_from_file_location(
        "giftcrypto_network_filter", ROOT / "plugins/filter/network.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.tier_subnets


class Variables:
    """Role defaults and role vars under the inventory's group_vars, Jinja resolved on access."""

    def __init__(self, environment: str) -> None:
        self.environment = environment
        raw: dict[str, Any] = {}
        for role in sorted(p.parent for p in (ROOT / "roles").glob("*/defaults")):
            for path in _yaml_files(role / "defaults" / "main.yml") + _yaml_files(role / "defaults" / "main"):
                raw.update(_load(path))
        inventory = ROOT / "inventories" / environment
        if not inventory.is_dir():
            raise SystemExit(f"no inventory {inventory}")
        for path in _yaml_files(inventory / "group_vars" / "all") + _yaml_files(
            inventory / "group_vars" / "all.yml"
        ):
            raw.update(_load(path))
        # Role vars (vars/main.yml) win over the inventory in Ansible too.
        for role in sorted(p.parent for p in (ROOT / "roles").glob("*/vars")):
            for path in _yaml_files(role / "vars" / "main.yml") + _yaml_files(role / "vars" / "main"):
                raw.update(_load(path))
        raw.setdefault("ansible_check_mode", False)
        raw.setdefault("playbook_dir", str(ROOT / "playbooks"))
        # Ansible's magic variable of the inventory's directory (platform_render_dir is built on it).
        raw.setdefault("inventory_dir", str(inventory))
        self.raw = raw
        self.jinja = jinja2.Environment(undefined=jinja2.StrictUndefined, autoescape=False)  # noqa: S701 - text, not HTML
        self.jinja.filters.update(
            {
                "bool": lambda v: (
                    v if isinstance(v, bool) else str(v).strip().lower() in ("1", "true", "yes", "on")
                ),
                "regex_replace": lambda v, pattern, repl="": re.sub(pattern, repl, str(v)),
                "regex_escape": re.escape,
                "combine": lambda a, *others: {k: v for d in (a, *others) for k, v in d.items()},
                "ansible.builtin.realpath": lambda v: str(pathlib.Path(v).resolve()),
                "giftcrypto.platform.tier_subnets": _tier_subnets(),
            }
        )

    def __contains__(self, name: str) -> bool:
        return name in self.raw

    def __getitem__(self, name: str) -> Any:
        if name not in self.raw:
            raise SystemExit(f"inventories/{self.environment}: variable {name} is not defined anywhere")
        return self._resolve(self.raw[name], name)

    def get(self, name: str, default: Any = None) -> Any:
        return self[name] if name in self.raw else default

    def _context(self, source: str, depth: int) -> dict[str, Any]:
        """The variables a template or an expression names, resolved (and only those)."""
        names = jinja2.meta.find_undeclared_variables(self.jinja.parse(source))
        return {k: self._resolve(self.raw[k], k, depth) for k in sorted(names) if k in self.raw}

    def _resolve(self, value: Any, name: str, depth: int = 0) -> Any:
        if depth > 10:
            raise SystemExit(f"inventories/{self.environment}: {name} does not resolve (a loop?)")
        if isinstance(value, dict):
            return {k: self._resolve(v, name, depth) for k, v in value.items()}
        if isinstance(value, list):
            return [self._resolve(v, name, depth) for v in value]
        if not isinstance(value, str) or ("{{" not in value and "{%" not in value):
            return value
        try:
            text = self.jinja.from_string(value).render(self._context(value, depth + 1)).strip()
        except jinja2.TemplateError as exc:
            raise SystemExit(
                f"inventories/{self.environment}: cannot resolve {name}={value!r}: {exc}"
            ) from None
        try:
            # A template of a list or a mapping renders its Python repr (Ansible makes it native).
            return ast.literal_eval(text) if text[:1] in "[{" else text
        except (ValueError, SyntaxError):
            return text

    def when(self, conditions: Any) -> bool:
        """A task's or role's `when` (a string or a list, all must hold) on a real (not check) run."""
        if conditions is None:
            return True
        lenient = jinja2.Environment(undefined=jinja2.ChainableUndefined, autoescape=False)  # noqa: S701
        lenient.filters.update(self.jinja.filters)
        for condition in conditions if isinstance(conditions, list) else [conditions]:
            if isinstance(condition, bool):
                holds = condition
            else:
                expression = str(condition)
                context = self._context("{{ " + expression + " }}", 1)
                holds = bool(lenient.compile_expression(expression)(**context))
            if not holds:
                return False
        return True


# --- What site.yml deploys ----------------------------------------------------------------------


def _role_name(entry: Any) -> str:
    name = entry if isinstance(entry, str) else entry.get("role") or entry.get("name")
    return str(name).removeprefix(ROLE_PREFIX)


def _task_roles(tasks: Iterable[dict], variables: Variables) -> list[str]:
    roles: list[str] = []
    for task in tasks or []:
        if not isinstance(task, dict) or not variables.when(task.get("when")):
            continue
        for key in (
            "ansible.builtin.include_role",
            "include_role",
            "ansible.builtin.import_role",
            "import_role",
        ):
            if key in task:
                roles.append(_role_name(task[key]))
        for key in ("block", "rescue", "always"):
            roles += _task_roles(task.get(key), variables)
    return roles


def deployed_roles(variables: Variables) -> list[str]:
    """The roles site.yml runs on this environment, in order (each once)."""
    roles: list[str] = []

    def playbook(path: pathlib.Path) -> None:
        for play in yaml.safe_load(path.read_text(encoding="utf-8")) or []:
            imported = play.get("ansible.builtin.import_playbook") or play.get("import_playbook")
            if imported:
                playbook(path.parent / imported)
                continue
            if not variables.when(play.get("when")):
                continue
            for section in ("pre_tasks", "roles", "tasks", "post_tasks"):
                if section == "roles":
                    for entry in play.get("roles") or []:
                        if variables.when(entry.get("when") if isinstance(entry, dict) else None):
                            roles.append(_role_name(entry))
                else:
                    roles.extend(_task_roles(play.get(section), variables))

    playbook(ROOT / "playbooks" / "site.yml")
    return list(dict.fromkeys(roles))


# --- Drawing ------------------------------------------------------------------------------------


def _stable_ids() -> None:
    """Node identifiers numbered in drawing order (diagrams draws uuid4s: a new layout each run)."""
    counter = itertools.count(1)
    Node._rand_id = staticmethod(lambda: f"n{next(counter):04d}")


def _wrapped_labels() -> None:
    """Labels wrapped at LABEL_WIDTH characters: they are drawn under fixed-size icons and would
    overlap their neighbours."""
    if getattr(Node.__init__, "wraps_labels", False):
        return
    original = Node.__init__

    def init(self, label: str = "", *args, **kwargs) -> None:
        lines = [part for line in label.split("\n") for part in textwrap.wrap(line, LABEL_WIDTH) or [""]]
        original(self, "\n".join(lines), *args, **kwargs)

    init.wraps_labels = True
    Node.__init__ = init


LABEL_WIDTH = 34


DASHED = {"style": "dashed", "fontcolor": "#555555"}


def _row(*nodes: Node) -> None:
    """Lays nodes out side by side (invisible edges: the layout's ranks, nothing they mean)."""
    for left, right in itertools.pairwise(nodes):
        left >> Edge(style="invis") >> right


def _lines(*parts: str) -> str:
    return "\n".join(p for p in parts if p)


def draw(environment: str, dot: bool = False) -> pathlib.Path:
    _stable_ids()
    _wrapped_labels()
    v = Variables(environment)
    roles = deployed_roles(v)
    local = environment == "local"
    name = f"{v['platform_name']}-{environment}"
    region = v["aws_region"]
    n: dict[str, Node] = {}
    # Rendered in a scratch directory and moved into docs/ only once complete: diagrams renders on
    # leaving its context even after an error, which would leave a partial picture behind.
    scratch = pathlib.Path(tempfile.mkdtemp(prefix="architecture-"))
    output = scratch / f"architecture-{environment}"
    title = (
        f"giftcrypto.platform - {environment}: what playbooks/site.yml deploys "
        f"(inventories/{environment}, region {region})"
    )
    graph_attr = {
        "fontsize": "22",
        "pad": "0.4",
        "nodesep": "1.1",
        "ranksep": "1.0",
        "splines": "spline",
        "newrank": "true",
    }
    with Diagram(
        title,
        filename=str(output),
        show=False,
        outformat=["png", "dot"] if dot else "png",
        direction="TB",
        graph_attr=graph_attr,
        node_attr={"fontsize": "11"},
    ):
        n["users"] = Users("clients\n(HTTPS)")
        endpoint = v.get("aws_endpoint_url") or ""
        aws_title = (
            f"AWS APIs: local endpoint (moto) {endpoint}, {region}"
            if local
            else f"AWS account of {environment}, {region} (DR region {v['aws_dr_region']})"
        )
        with Cluster(aws_title, graph_attr={"bgcolor": "#F3F7FB"}):
            if "aws_network" in roles:
                _network(v, n, name, roles)
            if "aws_security_baseline" in roles:
                _baseline(v, n, name)
            if "aws_observability" in roles:
                _observability(v, n)
            if local and "aws_eks" in roles:
                _eks_control_plane(v, n)
        if local:
            _local_servers(v, n, roles)
        else:
            _eks(v, n, roles, name)
        unknown = [r for r in roles if r not in KNOWN_ROLES]
        if unknown:
            with Cluster(
                "other layers of site.yml (not drawn in detail by tools/architecture_diagram.py yet)"
            ):
                for role in unknown:
                    n[f"role:{role}"] = Blank(f"role {ROLE_PREFIX}{role}")
        _receivers(v, n, local)
        _edges(v, n, roles, local)
    try:
        for suffix in (".png", ".dot") if dot else (".png",):
            shutil.move(output.with_suffix(suffix), DOCS / f"architecture-{environment}{suffix}")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return DOCS / f"architecture-{environment}.png"


def _network(v, n, name, roles):
    cidr = v["aws_network_vpc_cidr"]
    zones = v["aws_network_availability_zones"]
    plan = v["aws_network__subnet_plan"]
    per_az = bool(v["aws_network_nat_gateway_per_az"])
    ports = (v["aws_network_app_port"], v["aws_network_database_port"], v["aws_network_cache_port"])
    with Cluster(f"VPC {v['aws_network_name']} {cidr}", graph_attr={"bgcolor": "#E8F1E4"}):
        n["igw"] = InternetGateway("internet gateway")
        n["s3_endpoint"] = Endpoint(
            f"S3 gateway endpoint\ncom.amazonaws.{v['aws_network_region']}.s3\n(private and database routes)"
        )
        n["sg"] = Blank(
            _lines(
                "security groups",
                f"{name}-alb: 443, 80 from the internet",
                f"{name}-app: {ports[0]} from alb",
                f"{name}-db: {ports[1]} from app",
                f"{name}-cache: {ports[2]} from app",
                "default group: no rule",
            )
        )
        n["nat"] = []
        for index, zone in enumerate(zones):
            # One row per zone: public, private (application), database subnets.
            with Cluster(f"availability zone {zone}"):
                public = n[f"public:{zone}"] = PublicSubnet(f"public {plan['public'][index]}")
                private = n[f"private:{zone}"] = PrivateSubnet(f"private (app) {plan['private'][index]}")
                database = n[f"database:{zone}"] = PrivateSubnet(
                    f"database {plan['database'][index]}\nNACL: {ports[1]}, {ports[2]} from app only"
                )
                _row(public, private, database)
                if per_az or index == 0:
                    shared = "" if per_az else f"\n(shared by the {len(zones)} zones)"
                    nat = NATGateway(f"NAT gateway{shared}")
                    n["nat"].append(nat)
        retention = v["aws_network_flow_logs_retention_days"]
        n["flow_logs"] = CloudwatchLogs(
            f"VPC flow logs ({v['aws_network_flow_logs_traffic_type']})\n"
            f"{v['aws_network__flow_logs_group']}\n{retention} days"
        )
        _row(n["sg"], n["flow_logs"])
        if "aws_rds" in roles:
            replicas = int(v["aws_rds_replica_count"])
            n["rds"] = RDSPostgresqlInstance(
                _lines(
                    f"RDS PostgreSQL {v['aws_rds_engine_version']} {v['aws_rds_identifier']}",
                    f"{v['aws_rds_instance_class']}, {v['aws_rds_allocated_storage_gib']} GiB "
                    f"{v['aws_rds_storage_type']}"
                    f" (up to {v['aws_rds_max_allocated_storage_gib']} GiB)",
                    "Multi-AZ standby" if v["aws_rds_multi_az"] else "single zone",
                    f"port {v['aws_rds_port']}, TLS forced, pgaudit, KMS rds key",
                    f"backups {v['aws_rds_backup_retention_days']} days"
                    + (
                        f", {replicas} read replica(s) {v['aws_rds_replica_instance_class']}"
                        if replicas
                        else ""
                    ),
                )
            )


def _baseline(v, n, name):
    prefix = v["aws_security_baseline__alias_prefix"]
    purposes = [k["purpose"] for k in v["aws_security_baseline__kms_keys"]]
    # Names only (their ARNs need the account), as aws_security_baseline__roles picks them.
    roles = [r["name"] for r in v.raw["aws_security_baseline__service_roles"]]
    issuer = v["aws_security_baseline_eks_oidc_issuer"]
    roles += ["app (IRSA)"] if issuer else []
    roles += ["ci-deploy (GitHub OIDC)"] if v["aws_security_baseline_ci_subjects"] else []
    standards = (
        v["aws_security_baseline_securityhub_standards"]
        if v["aws_security_baseline_securityhub_standards_enabled"]
        else []
    )
    with Cluster("security baseline", graph_attr={"bgcolor": "#FBEFEF"}):
        n["kms"] = KMS(f"{len(purposes)} KMS keys, yearly rotation\n{prefix}{{{','.join(purposes)}}}")
        n["secrets"] = SecretsManager(
            _lines(
                "Secrets Manager (generated)",
                v["aws_security_baseline_redis_auth_secret_name"],
                "rds!db-... (RDS-managed master password, rotated)",
            )
        )
        n["iam"] = IAMRole(
            f"IAM roles {name}-\n"
            + "\n".join(roles)
            + ("" if issuer else "\n(app role once the EKS OIDC issuer is set)")
        )
        n["trail"] = Cloudtrail(
            f"CloudTrail {v['aws_security_baseline_cloudtrail_name']}\nmulti-region, file validation\n"
            f"{v['aws_security_baseline_cloudtrail_log_group_name']}, "
            f"{v['aws_security_baseline_cloudtrail_log_retention_days']} days"
        )
        n["audit_bucket"] = SimpleStorageServiceS3Bucket(
            f"S3 {name}-audit-logs-<account>\nversioned, SSE-KMS, TLS only"
        )
        n["guardduty"] = Guardduty(
            f"GuardDuty ({v['aws_security_baseline_guardduty_finding_publishing_frequency']})\n"
            f"severity >= {v['aws_security_baseline_guardduty_alert_min_severity']} to critical"
        )
        n["sns"] = SNS(
            "SNS topics (logs key)\n"
            + "\n".join(f"{name}-{t}" for t in v["aws_security_baseline__sns_topics"])
        )
        n["config"] = Config(
            f"AWS Config recorder\n{len(v['aws_security_baseline_config_rules'])} managed rules"
        )
        n["securityhub"] = SecurityHub(
            "Security Hub\n" + ("\n".join(standards) if standards else "no standards (not served locally)")
        )
        _row(n["kms"], n["secrets"])
        _row(n["iam"], n["config"], n["securityhub"])


def _observability(v, n):
    severities = v["aws_observability_alarm_severities"]
    kinds = sorted(
        k for k in severities if not (k.startswith("alb") and not v["aws_observability_alb_arn_suffix"])
    )
    with Cluster("observability (AWS)", graph_attr={"bgcolor": "#FDF6E3"}):
        n["log_groups"] = CloudwatchLogs(
            f"log groups\n{v['aws_observability_log_group_application']} "
            f"{v['aws_observability_log_retention_days_application']} days\n"
            f"{v['aws_observability_log_group_audit']} "
            f"{v['aws_observability_log_retention_days_audit']} days\n(KMS logs key)"
        )
        n["alarms"] = CloudwatchAlarm(
            "metric alarms\n"
            + "\n".join(f"{k} -> {severities[k]}" for k in kinds)
            + ("" if v["aws_observability_alb_arn_suffix"] else "\n(ALB alarms once its ARN suffix is known)")
        )
        n["dashboard"] = Cloudwatch(f"dashboard\n{v['aws_observability_dashboard_name']}")
        _row(n["log_groups"], n["dashboard"])


def _local_servers(v, n, roles):
    host = v["postgres_server_listen_address"]
    with Cluster(
        f"real servers on this machine, loopback {host}, TLS only", graph_attr={"bgcolor": "#EEF2FF"}
    ):
        if "local_pki" in roles:
            n["ca"] = LetsEncrypt(f"local CA\n{v['local_pki_dir']}/ca.crt")
        if "app_deploy" in roles:
            colours = v["app_deploy_colour_ports"]
            addr = v["app_deploy_listen_address"]
            n["haproxy"] = HAProxy(
                f"HAProxy\nhttps://{addr}:{v['app_deploy_https_port']}\n"
                f"http :{v['app_deploy_http_port']} -> https\n"
                f"{v['app_deploy_strategy'].replace('_', '-')} weights"
            )
            for colour in sorted(colours):
                n[f"api:{colour}"] = Python(
                    f"API {colour}\n{addr}:{colours[colour]}\n(gunicorn under supervisor)"
                )
        if "postgres_server" in roles:
            n["pgbouncer"] = Server(
                f"pgBouncer {v['postgres_server_pgbouncer_listen_address']}:"
                f"{v['postgres_server_pgbouncer_port']}\n"
                f"{v['postgres_server_pgbouncer_pool_mode']} pooling, "
                f"pool {v['postgres_server_pgbouncer_default_pool_size']},"
                f" max {v['postgres_server_pgbouncer_max_client_conn']} clients"
            )
            schema = ""
            if "db_schema" in roles:
                migrations = len(
                    list((ROOT / "roles" / "db_schema" / "files" / "migrations").glob("*.up.sql"))
                )
                schema = f"\ndatabase {v['db_schema_database']}: {migrations} migrations (pg_migrate)"
            n["postgres"] = PostgreSQL(
                f"PostgreSQL {v['postgres_server_version']} + pgaudit\n"
                f"cluster {v['postgres_server_cluster']},"
                f" {host}:{v['postgres_server_port']}{schema}"
            )
        if "redis_server" in roles:
            n["redis"] = Redis(
                f"Redis 7 {v['redis_server_listen_address']}:{v['redis_server_port']} (tls-port)\n"
                f"ACL users, AOF, maxmemory {v['redis_server_maxmemory']} "
                f"{v['redis_server_maxmemory_policy']}"
            )
        if "monitoring" in roles:
            addr = v["monitoring_listen_address"]
            n["prometheus"] = Prometheus(
                f"Prometheus {addr}:{v['monitoring_prometheus_port']}\n"
                f"scrape {v['monitoring_scrape_interval']},"
                f" retention {v['monitoring_prometheus_retention_time']}"
            )
            n["alertmanager"] = Prometheus(f"Alertmanager {addr}:{v['monitoring_alertmanager_port']}")
            n["exporters"] = Server(
                _lines(
                    "exporters",
                    f"node :{v['monitoring_node_exporter_port']}",
                    f"postgres :{v['monitoring_postgres_exporter_port']}",
                    f"pgbouncer :{v['monitoring_pgbouncer_exporter_port']}",
                    f"redis :{v['monitoring_redis_exporter_port']}",
                    f"mtail :{v['monitoring_mtail_port']}",
                )
            )


def _eks_label(v) -> str:
    """The cluster aws_eks makes: endpoint, encryption, logs, node groups."""
    public = v["aws_eks_endpoint_public_access"]
    groups = [
        f"{g['name']}: {g['instance_type']} {g['min_size']}/{g['desired_size']}/{g['max_size']}"
        for g in v["aws_eks_node_groups"]
    ]
    return _lines(
        f"EKS {v['aws_eks_cluster_name']} {v['aws_eks_kubernetes_version']}, private subnets",
        "endpoint private"
        + (f" + public for {', '.join(v['aws_eks_public_access_cidrs'])}" if public else " only"),
        "secrets encrypted with the eks key",
        f"logs {', '.join(v['aws_eks_cluster_log_types'])}",
        "node groups (min/desired/max):",
        *groups,
    )


def _ecr_label(v) -> str:
    repositories = ", ".join(
        f"{v['aws_eks_ecr_repository_prefix']}/{r}" for r in v["aws_eks_ecr_repositories"]
    )
    return f"ECR {repositories}\nimmutable tags, scan on push, KMS,\nlifecycle policy"


def _eks_control_plane(v, n):
    """Locally the cluster, its node groups and the repositories are API objects of the endpoint."""
    with Cluster("compute (API objects only: no Kubernetes runs locally)"):
        n["eks"] = EKS(_eks_label(v))
        n["ecr"] = ECR(_ecr_label(v))


def _eks(v, n, roles, name):
    if "app_deploy" not in roles and "monitoring" not in roles and "aws_eks" not in roles:
        return
    made = "aws_eks" in roles
    cluster = (
        v["aws_eks_cluster_name"]
        if made
        else v.get("app_deploy_eks_cluster_name") or v["monitoring_eks_cluster_name"]
    )
    version = v["aws_eks_kubernetes_version"] if made else v["monitoring_eks_kubernetes_version"]
    n["alb"] = ALB(
        f"application load balancer\n(not created by site.yml yet;\nsecurity group {name}-alb)", **DASHED
    )
    with Cluster(
        f"EKS cluster {cluster}, Kubernetes {version}"
        + ("" if made else "\n(the cluster is not created by site.yml yet: manifests are applied to it)"),
        graph_attr={"bgcolor": "#F5F5F5"} if made else {"style": "dashed", "bgcolor": "#F5F5F5"},
    ):
        if made:
            n["eks"] = EKS(_eks_label(v))
            n["ecr"] = ECR(_ecr_label(v))
        else:
            n["eks"] = EKS(f"EKS {cluster}\nsecrets encrypted with the eks key", **DASHED)
        if "app_deploy" in roles:
            with Cluster(f"namespace {v['app_deploy_eks_namespace']}"):
                replicas = v["app_deploy_eks_replicas"]
                res = v["app_deploy_eks_resources"]
                n["svc"] = SVC(
                    f"Service {v['app_deploy_eks_app_label']}\n:{v['app_deploy_eks_service_port']} -> "
                    f"{v['app_deploy_eks_container_port']}\nselector: active colour"
                )
                budget = ", ".join(
                    f"{k} {val}" for k, val in sorted(v["app_deploy_eks_pod_disruption_budget"].items())
                )
                for colour in ("blue", "green"):
                    n[f"api:{colour}"] = Deploy(
                        f"Deployment {v['app_deploy_eks_app_label']}-{colour}\n{replicas} replicas,"
                        f" zone spread {v['app_deploy_eks_zone_spread']}\n"
                        f"requests {res['requests']['cpu']}/{res['requests']['memory']}, PDB {budget}"
                    )
        if "monitoring" in roles:
            with Cluster(f"namespace {v['monitoring_eks_namespace']}"):
                n["prometheus"] = Prometheus(
                    f"Prometheus x{v['monitoring_eks_prometheus_replicas']}\n"
                    f"retention {v['monitoring_eks_prometheus_retention']},"
                    f" {v['monitoring_eks_prometheus_storage_size']} {v['monitoring_eks_storage_class']}"
                )
                n["alertmanager"] = STS(f"Alertmanager x{v['monitoring_eks_alertmanager_replicas']}")
                n["grafana"] = Grafana(f"Grafana x{v['monitoring_eks_grafana_replicas']}")
                n["collectors"] = DS(
                    "DaemonSets: node-exporter,\nfluent-bit, cloudwatch-agent;\n"
                    "kube-state-metrics,\npostgres and redis exporters"
                )


def _receivers(v, n, local):
    if "monitoring_alertmanager_receivers" not in v:
        return
    receivers = v["monitoring_alertmanager_receivers"]
    subscriptions = v.get("aws_observability_sns_subscriptions") or {}
    people = sorted({s["endpoint"] for subs in subscriptions.values() for s in subs})
    lines = []
    for receiver, settings in sorted(receivers.items()):
        detail = settings.get("channel") or settings.get("to") or settings.get("url") or ""
        lines.append(f"{receiver} {detail}".strip())
    label = "Alertmanager receivers\n" + "\n".join(lines)
    if people:
        label += "\nSNS e-mail: " + ", ".join(people)
    elif local:
        label += "\n(no SNS subscription locally)"
    n["receivers"] = Internet(label)


def _edges(v, n, roles, local):
    def link(a: str, b: str, label: str = "", **attrs: str) -> None:
        if a in n and b in n:
            n[a] >> Edge(label=label, **attrs) >> n[b]

    zones = v.get("aws_network_availability_zones") or []
    if local:
        link("users", "haproxy", f":{v.get('app_deploy_https_port')}")
        for colour in sorted(v.get("app_deploy_colour_ports") or {}):
            link("haproxy", f"api:{colour}")
            link(f"api:{colour}", "pgbouncer", f":{v.get('postgres_server_pgbouncer_port')}")
            link(f"api:{colour}", "redis", "TLS")
            link("prometheus", f"api:{colour}", "/metrics", style="dotted")
        link("pgbouncer", "postgres", "TLS")
        link("postgres", "secrets", "credentials", style="dashed")
        link("redis", "secrets", "ACL passwords", style="dashed")
        link("ca", "postgres", "certificate", style="dotted")
        link("ca", "haproxy", "certificate", style="dotted")
    else:
        link("users", "igw", "HTTPS")
        link("igw", "alb", "443", style="dashed")
        link("alb", "svc", style="dashed")
        for colour in ("blue", "green"):
            link("svc", f"api:{colour}")
            link(f"api:{colour}", "rds", f":{v.get('aws_network_database_port')} TLS")
            link("prometheus", f"api:{colour}", "/metrics", style="dotted")
        link("api:blue", "kms", "pii key (IRSA)", style="dashed")
        link("api:blue", "secrets", "app secrets (IRSA)", style="dashed")
        link("collectors", "log_groups", "fluent-bit")
        link("grafana", "prometheus")
        link("rds", "kms", "rds key", style="dotted")
        link("ecr", "eks", "images", style="dotted")
    link("prometheus", "exporters", "scrape", style="dotted")
    link("prometheus", "alertmanager", "alerts")
    link("alertmanager", "receivers")
    if zones:
        for zone in zones:
            link("igw", f"public:{zone}")
            link(f"private:{zone}", "s3_endpoint", style="dotted")
            link(f"database:{zone}", "rds", style="dotted")
        for nat in n.get("nat") or []:
            nat >> Edge(style="dotted") >> n["igw"]
    link("flow_logs", "kms", "logs key", style="dotted")
    link("eks", "kms", "eks key", style="dotted")
    link("trail", "audit_bucket")
    link("guardduty", "sns", "findings")
    link("alarms", "sns")
    link("sns", "receivers", "subscriptions")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "environments", nargs="*", metavar="ENV", help=f"among {', '.join(ENVIRONMENTS)} (default: all)"
    )
    parser.add_argument("--dot", action="store_true", help="also write the Graphviz source")
    args = parser.parse_args(argv)
    unknown = sorted(set(args.environments) - set(ENVIRONMENTS))
    if unknown:
        parser.error(f"unknown environment(s) {', '.join(unknown)}: choose among {', '.join(ENVIRONMENTS)}")
    if shutil.which("dot") is None:
        print(
            "graphviz's dot is missing: `apt-get install graphviz` (nox -s docs installs it)", file=sys.stderr
        )
        return 1
    for environment in args.environments or ENVIRONMENTS:
        path = draw(environment, args.dot)
        print(f"{path.relative_to(ROOT)}: {', '.join(deployed_roles(Variables(environment)))}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
