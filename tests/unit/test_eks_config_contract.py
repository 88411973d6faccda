"""The configuration contract of the API on EKS (issue 20), on the staging and production renders.

- Every setting the service reads (found in service/src/giftcrypto_api/config.py by reading its
  code, so a new setting fails here until it is placed) has a source on EKS: a value in the
  rendered manifest, a Secrets Manager secret key written by a named layer and readable through the
  pods' IRSA role, IRSA itself, or, for the few that must stay unset, the reason. The rendered
  environment is parsed by the service's own Settings.from_env, and each secret's keys, as their
  writer's task file writes them, by the service's own readers.
- Every Secret, ServiceAccount, ConfigMap, Service and Deployment a rendered manifest references
  exists in the rendered set, or is made by a named layer (its task file is checked for it).
"""

from __future__ import annotations

import ast
import pathlib
import sys

import pytest
import yaml

from tests.unit.test_app_k8s_manifests import AUTH_POOLS, COLOURS, RENDERS, Render, _container, _playbook

ROOT = pathlib.Path(__file__).resolve().parents[2]
CONFIG = ROOT / "service" / "src" / "giftcrypto_api" / "config.py"
# The modules whose settings config.py's Settings holds or the server reads beside it: the
# authentication (AuthSettings.from_env) and the feature flags (FlagSettings.from_environ).
SETTINGS_MODULES = (CONFIG, CONFIG.parent / "auth.py", CONFIG.parent / "flags.py")
sys.path.insert(0, str(ROOT / "service" / "src"))

from giftcrypto_api.config import Settings
from giftcrypto_api.credentials import database_credentials, redis_credentials

# setting -> (source, why). Sources: "manifest" (a value in the pods' environment), "replica" (a
# manifest value where a read replica is named, absent otherwise), "unset" (must not be set on EKS).
CONTRACT = {
    "GIFTCRYPTO_ENVIRONMENT": ("manifest", "secret names, cache prefix, logs"),
    "GIFTCRYPTO_PLATFORM": ("manifest", "secret names, cache prefix, logs"),
    "GIFTCRYPTO_COLOUR": ("manifest", "the Deployment's colour"),
    "GIFTCRYPTO_RELEASE": ("manifest", "the image tag"),
    "GIFTCRYPTO_GIT_SHA": ("unset", "the deploy knows the image tag (GIFTCRYPTO_RELEASE), not the commit"),
    "GIFTCRYPTO_FAULT": ("unset", "fault injection of the local release tests, never on EKS"),
    "GIFTCRYPTO_DB_SECRET": ("manifest", "db_schema's app_rw login, read through IRSA"),
    "GIFTCRYPTO_REDIS_SECRET": ("manifest", "aws_elasticache's connection secret, read through IRSA"),
    "GIFTCRYPTO_DB_READ_SECRET": ("replica", "db_schema's app_ro login, where a read replica is named"),
    "GIFTCRYPTO_DB_READ_DBNAME": ("replica", "the pooler's replica entry, where a read replica is named"),
    "GIFTCRYPTO_PGBOUNCER_HOST": ("manifest", "the pooler's Service"),
    "GIFTCRYPTO_PGBOUNCER_PORT": ("manifest", "the pooler's Service port"),
    "GIFTCRYPTO_PGBOUNCER_SSLROOTCERT": ("manifest", "the pooler's certificate, ConfigMap mounted"),
    "GIFTCRYPTO_THREADS": ("manifest", "worker threads and pool size, bounded by preflight"),
    "GIFTCRYPTO_GRACEFUL_TIMEOUT": ("manifest", "below terminationGracePeriodSeconds"),
    "GIFTCRYPTO_KEEPALIVE": ("manifest", "above the ALB's idle timeout"),
    "GIFTCRYPTO_READYZ_TIMEOUT": ("manifest", "below the readiness probe's timeout"),
    "GIFTCRYPTO_LOG_LEVEL": ("manifest", "app_deploy_eks_log_level"),
    "AWS_REGION": ("manifest", "Secrets Manager's region"),
    "AWS_DEFAULT_REGION": ("manifest", "boto3's fallback region"),
    "AWS_ENDPOINT_URL": ("unset", "real AWS: boto3's own endpoints"),
    "GIFTCRYPTO_SENTRY_SECRET": ("destination", "app_deploy_sentry_secret: Sentry's DSN, off when empty"),
    "GIFTCRYPTO_OTLP_ENDPOINT": ("destination", "app_deploy_otlp_endpoint: no traces when empty"),
    "GIFTCRYPTO_OTLP_HEADERS_SECRET": ("destination", "app_deploy_otlp_headers_secret: the receiver's key"),
    "GIFTCRYPTO_TRACES_SAMPLE_RATIO": ("destination", "app_deploy_traces_sample_ratio, with an endpoint"),
    "AWS_CA_BUNDLE": ("unset", "real AWS: the system's CAs verify Cognito's key set (auth.py)"),
    "GIFTCRYPTO_AUTH": ("unset", "authentication required, the default (off is refused in production)"),
    "GIFTCRYPTO_AUTH_POOLS": (
        "manifest",
        "aws_cognito's pools and the API's app clients (aws_cognito_auth_pools)",
    ),
    "GIFTCRYPTO_APPCONFIG_APPLICATION": ("destination", "app_deploy_appconfig_application: defaults without"),
    "GIFTCRYPTO_APPCONFIG_ENVIRONMENT": ("destination", "the environment of the flags' application"),
    "GIFTCRYPTO_APPCONFIG_PROFILE": ("destination", "the feature flag profile"),
    "GIFTCRYPTO_APPCONFIG_POLL_SECONDS": ("destination", "the service's cache time of the flags"),
}
# "destination" settings: set on EKS exactly when the variable naming the destination is set.
DESTINATIONS = {
    "GIFTCRYPTO_SENTRY_SECRET": "app_deploy_sentry_secret",  # pragma: allowlist secret
    "GIFTCRYPTO_OTLP_ENDPOINT": "app_deploy_otlp_endpoint",
    "GIFTCRYPTO_OTLP_HEADERS_SECRET": "app_deploy_otlp_headers_secret",  # pragma: allowlist secret
    "GIFTCRYPTO_TRACES_SAMPLE_RATIO": "app_deploy_otlp_endpoint",
    "GIFTCRYPTO_APPCONFIG_APPLICATION": "app_deploy_appconfig_application",
    "GIFTCRYPTO_APPCONFIG_ENVIRONMENT": "app_deploy_appconfig_application",
    "GIFTCRYPTO_APPCONFIG_PROFILE": "app_deploy_appconfig_application",
    "GIFTCRYPTO_APPCONFIG_POLL_SECONDS": "app_deploy_appconfig_application",
}

# Secrets the settings name -> (the layer that writes it, its task file, the service's reader).
SECRET_WRITERS = {
    "GIFTCRYPTO_DB_SECRET": ("db_schema", "roles/db_schema/tasks/login_roles.yml", "database"),
    "GIFTCRYPTO_DB_READ_SECRET": ("db_schema", "roles/db_schema/tasks/login_roles.yml", "database"),
    "GIFTCRYPTO_REDIS_SECRET": (
        "aws_elasticache",
        "roles/aws_elasticache/tasks/connection_secret.yml",
        "cache",
    ),
}

# Objects the manifests reference that are made at apply time by a named layer, never rendered:
# (kind, the app_deploy variable naming it) -> (layer, task file that makes it).
MADE_AT_APPLY = {
    ("Secret", "pooler_secret"): (
        "app_deploy",
        "roles/app_deploy/tasks/eks_apply.yml",
        "app_deploy_eks__pooler_secret",
    ),
    ("ConfigMap", "pooler_ca_configmap"): (
        "app_deploy",
        "roles/app_deploy/tasks/eks_apply.yml",
        "app_deploy_eks__pooler_ca_configmap",
    ),
    ("ConfigMap", "rds_ca_configmap"): (
        "app_deploy",
        "roles/app_deploy/tasks/eks_apply.yml",
        "app_deploy_eks__rds_ca_configmap",
    ),
}


def settings_read_by_the_service() -> set[str]:
    """Every environment variable config.py, auth.py and flags.py read: text("X"), number("X"),
    env.get("X"), "X" in env, env["X"]."""
    names: set[str] = set()
    nodes = (
        node
        for module in SETTINGS_MODULES
        for node in ast.walk(ast.parse(module.read_text(encoding="utf-8")))
    )
    for node in nodes:
        if isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant):
            func = node.func
            called = (
                func.id
                if isinstance(func, ast.Name)
                else func.attr
                if isinstance(func, ast.Attribute)
                else ""
            )
            if called in {"text", "number", "get"} and isinstance(node.args[0].value, str):
                names.add(node.args[0].value)
        elif isinstance(node, ast.Compare) and isinstance(node.left, ast.Constant):
            if any(isinstance(op, ast.In) for op in node.ops) and isinstance(node.left.value, str):
                names.add(node.left.value)
        elif (
            isinstance(node, ast.Subscript)
            and isinstance(node.slice, ast.Constant)
            and isinstance(node.value, ast.Name)
            and node.value.id == "env"
        ):
            names.add(node.slice.value)
    return {name for name in names if name.isupper()}


@pytest.fixture(scope="module", params=sorted(RENDERS))
def render(request, tmp_path_factory) -> Render:
    inventory, variables = RENDERS[request.param]
    out = tmp_path_factory.mktemp(f"contract-{request.param}")
    return Render(request.param, out, _playbook(inventory, out, variables), variables)


def _env(render: Render, colour: str) -> dict[str, str]:
    return {e["name"]: e["value"] for e in _container(render.deployment(colour))["env"]}


def _group_vars(environment: str) -> dict:
    merged: dict = {}
    for path in sorted((ROOT / "inventories" / environment / "group_vars" / "all").glob("*.yml")):
        merged.update(yaml.safe_load(path.read_text(encoding="utf-8")) or {})
    return merged


def _app_secret_names(environment: str) -> set[str]:
    """The secrets the application's IRSA role may read (aws_security_baseline_app_secret_names)."""
    defaults = yaml.safe_load(
        (ROOT / "roles/aws_security_baseline/defaults/main.yml").read_text(encoding="utf-8")
    )
    platform = _group_vars(environment)["platform_name"]
    names = _group_vars(environment).get(
        "aws_security_baseline_app_secret_names", defaults["aws_security_baseline_app_secret_names"]
    )
    return {
        n.replace("{{ platform_name }}", platform).replace("{{ platform_environment }}", environment)
        for n in names
    }


def _json_secret_keys(task_file: str) -> set[str]:
    """The keys of the json_secret the task file writes with community.aws.secretsmanager_secret."""
    tasks = yaml.safe_load((ROOT / task_file).read_text(encoding="utf-8"))
    written = [
        t["community.aws.secretsmanager_secret"] for t in tasks if "community.aws.secretsmanager_secret" in t
    ]
    assert len(written) == 1, f"{task_file} writes one secret"
    return set(written[0]["json_secret"])


SAMPLE_VALUES = {"port": 5432, "tls": True, "sslmode": "verify-full"}


def test_every_setting_of_the_service_is_placed_in_the_contract():
    read = settings_read_by_the_service()
    assert read, "config.py reads no setting? the parser must have missed them"
    assert read == set(CONTRACT), (
        f"settings without a source on EKS: {sorted(read - set(CONTRACT))}; "
        f"no longer read: {sorted(set(CONTRACT) - read)}"
    )


def test_every_setting_is_set_on_eks_from_its_source(render):
    for colour in COLOURS:
        env = _env(render, colour)
        named = {**_group_vars(render.facts["environment"]), **render.variables}
        for name, (source, why) in CONTRACT.items():
            if source == "destination":
                if named.get(DESTINATIONS[name]):
                    assert str(env.get(name, "")).strip(), (
                        f"{render.name} {colour}: {name} ({why}) is not set"
                    )
                else:
                    assert name not in env, f"{render.name} {colour}: {name} without a destination ({why})"
            elif source == "manifest" or (source == "replica" and render.facts["database_replica"]):
                assert str(env.get(name, "")).strip(), f"{render.name} {colour}: {name} ({why}) is not set"
            else:
                assert name not in env, f"{render.name} {colour}: {name} must not be set on EKS ({why})"
        assert set(env) <= set(CONTRACT), (
            f"variables the service does not read: {sorted(set(env) - set(CONTRACT))}"
        )


def test_the_service_accepts_the_rendered_environment(render):
    """The service's own parser on the pods' environment: no error, and the values the platform meant."""
    facts = render.facts
    for colour in COLOURS:
        deployment = render.deployment(colour)
        settings = Settings.from_env(_env(render, colour))
        assert (settings.environment, settings.colour) == (facts["environment"], colour)
        assert settings.db_credentials_id == facts["database_secret"]
        assert settings.redis_credentials_id == facts["cache_secret"]
        assert (settings.pgbouncer_host, settings.pgbouncer_port) == (
            facts["pooler_host"],
            facts["pooler_port"],
        )
        assert settings.aws_endpoint_url is None
        # Tokens required, from the pools aws_cognito made (the render's aws_cognito_auth_pools).
        assert settings.auth.required
        assert " ".join(f"{pool}:{client}" for pool, client in settings.auth.pools.items()) == AUTH_POOLS
        pod = deployment["spec"]["template"]["spec"]
        container = _container(deployment)
        assert settings.graceful_timeout < pod["terminationGracePeriodSeconds"]
        assert settings.readyz_timeout < container["readinessProbe"]["timeoutSeconds"]
        alb_idle = yaml.safe_load((ROOT / "roles/aws_edge/defaults/main.yml").read_text())[
            "aws_edge_alb_idle_timeout"
        ]
        alb_idle = _group_vars(facts["environment"]).get("aws_edge_alb_idle_timeout", alb_idle)
        assert settings.keepalive > alb_idle, "the ALB must close idle connections before the pod does"
        assert settings.threads == int(_env(render, colour)["GIFTCRYPTO_THREADS"])
        if facts["database_replica"]:
            assert settings.db_read_dbname == facts["pooler_replica_database"]


def test_every_secret_the_service_reads_is_readable_through_irsa_and_written_by_a_named_layer(render):
    facts = render.facts
    allowed = _app_secret_names(facts["environment"])
    env = _env(render, facts["active"])
    for setting, (layer, task_file, reader) in SECRET_WRITERS.items():
        if setting not in env:
            continue
        name = env[setting]
        assert name in allowed, (
            f"{setting}={name}: the application's IRSA role may not read it ({sorted(allowed)})"
        )
        keys = _json_secret_keys(task_file)
        sample = {key: SAMPLE_VALUES.get(key, f"sample-{key}") for key in keys}
        settings = Settings.from_env(env)
        if reader == "database":
            credentials = database_credentials(sample, name, settings)
            assert credentials.host == facts["pooler_host"], "through the pooler"
        else:
            sample["username"] = ""  # the AUTH token alone, as aws_elasticache writes it
            credentials = redis_credentials(sample, name)
            assert credentials.port == SAMPLE_VALUES["port"]
        expected = sample["password"]
        assert credentials.password == expected, f"{layer}'s {task_file} writes what the service reads"


def test_the_aws_credentials_come_from_irsa(render):
    account = render.find("ServiceAccount", render.facts["service_account"])
    assert account["metadata"]["annotations"]["eks.amazonaws.com/role-arn"].endswith(
        f":role/giftcrypto-{render.facts['environment']}-app"
    )
    for colour in COLOURS:
        pod = render.deployment(colour)["spec"]["template"]["spec"]
        assert pod["serviceAccountName"] == account["metadata"]["name"]
        env = _env(render, colour)
        assert not {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"} & set(
            env
        )


def _references(document: dict) -> list[tuple[str, str]]:
    """(kind, name) of every object a document names: service accounts, volumes, env sources,
    scale targets, TargetGroupBinding services."""
    refs: list[tuple[str, str]] = []
    spec = document.get("spec", {})
    pod = spec.get("template", {}).get("spec") if document["kind"] == "Deployment" else None
    if pod is not None:
        refs.append(("ServiceAccount", pod.get("serviceAccountName", "default")))
        for volume in pod.get("volumes", []):
            if "secret" in volume:
                refs.append(("Secret", volume["secret"]["secretName"]))
            if "configMap" in volume:
                refs.append(("ConfigMap", volume["configMap"]["name"]))
            for source in volume.get("projected", {}).get("sources", []):
                for kind, key in (("Secret", "secret"), ("ConfigMap", "configMap")):
                    if key in source:
                        refs.append((kind, source[key]["name"]))
        for container in pod.get("initContainers", []) + pod.get("containers", []):
            for source in container.get("envFrom", []):
                for kind, key in (("Secret", "secretRef"), ("ConfigMap", "configMapRef")):
                    if key in source:
                        refs.append((kind, source[key]["name"]))
            for variable in container.get("env", []):
                for kind, key in (("Secret", "secretKeyRef"), ("ConfigMap", "configMapKeyRef")):
                    if key in variable.get("valueFrom", {}):
                        refs.append((kind, variable["valueFrom"][key]["name"]))
    if document["kind"] == "HorizontalPodAutoscaler":
        refs.append((spec["scaleTargetRef"]["kind"], spec["scaleTargetRef"]["name"]))
    if document["kind"] == "TargetGroupBinding":
        refs.append(("Service", spec["serviceRef"]["name"]))
    return refs


def test_every_referenced_object_is_rendered_or_made_by_a_named_layer(render):
    rendered = {(d["kind"], d["metadata"]["name"]) for _, d in render.documents}
    made = {}
    for (kind, fact), (layer, task_file, variable) in MADE_AT_APPLY.items():
        text = (ROOT / task_file).read_text(encoding="utf-8")
        assert variable in text and f"kind: {kind}" in text, (
            f"{task_file} makes the {kind} {{{{ {variable} }}}}"
        )
        made[(kind, render.facts[fact])] = layer
    missing = []
    for _, document in render.documents:
        for reference in _references(document):
            if reference not in rendered and reference not in made:
                missing.append(
                    f"{document['kind']}/{document['metadata']['name']} -> {reference[0]}/{reference[1]}"
                )
    assert not missing, "referenced but neither rendered nor made by a named layer:\n" + "\n".join(missing)
    referenced = {ref for _, d in render.documents for ref in _references(d)}
    assert set(made) <= referenced, "an object made at apply time that nothing uses"


def test_every_service_selects_pods_of_a_rendered_deployment(render):
    templates = [d["spec"]["template"]["metadata"]["labels"] for d in render.of_kind("Deployment")]
    for service in render.of_kind("Service"):
        selector = service["spec"]["selector"]
        assert any(all(labels.get(k) == v for k, v in selector.items()) for labels in templates), (
            f"Service/{service['metadata']['name']} selects no rendered pod"
        )
    for budget in render.of_kind("PodDisruptionBudget"):
        selector = budget["spec"]["selector"]["matchLabels"]
        assert any(all(labels.get(k) == v for k, v in selector.items()) for labels in templates), (
            f"PodDisruptionBudget/{budget['metadata']['name']} protects no rendered pod"
        )
