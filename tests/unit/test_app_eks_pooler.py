"""What the EKS pooler is given at apply time (roles/app_deploy/tasks/eks_pooler.yml, issue 20).

The task file really runs against a moto server holding db_schema's login secrets and an RDS
primary with its read replica (production's inventory names the replica):
- the Secret's [databases] (the primary from app_rw's secret, the replica's endpoint asked of RDS)
  and no password, the certificate generated into Secrets Manager for the pooler's Service names,
  reused by the next run (nothing changed) and renewed inside the renewal window;
- the pod's init container, run as rendered (the collection's pooler_userlist program), writes the
  login list from the logins' secrets (ADR 0019 item 5);
- then the real pgBouncer runs the rendered pgbouncer.ini with those files: a client that verifies
  the certificate (verify-full, the Service's name) and logs in with app_rw's password gets past TLS
  and authentication (only the unreachable RDS stops it), a wrong password is refused.
"""

from __future__ import annotations

import json
import os
import pathlib
import pwd
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time

import boto3
import psycopg
import pytest
from cryptography import x509

from tests.unit.k8s_helpers import moto_server
from tests.unit.test_app_k8s_manifests import RENDERS, Render, _ansible_env, _playbook

ROOT = pathlib.Path(__file__).resolve().parents[2]
PLAYBOOK = ROOT / "tests" / "unit" / "fixtures" / "pooler_config.yml"
PGBOUNCER = shutil.which("pgbouncer") or "/usr/sbin/pgbouncer"
PASSWORDS = {
    "app_rw": "rw-Pa55word-for-the-test",
    "app_ro": "ro-Pa55word-for-the-test",
}  # pragma: allowlist secret
PRIMARY = "giftcrypto-production.c0ffee.us-east-1.rds.amazonaws.com"


@pytest.fixture(scope="module")
def endpoint():
    with moto_server() as options:
        yield from _endpoint(options)


def _endpoint(options):
    url = options["endpoint_url"]
    sm, rds = boto3.client("secretsmanager", **options), boto3.client("rds", **options)
    for login, password in PASSWORDS.items():
        value = {
            "username": login,
            "password": password,
            "host": PRIMARY,
            "port": 5432,
            "dbname": "giftcrypto",
            "sslmode": "verify-full",
            "sslrootcert": "/etc/ssl/certs/rds-global-bundle.pem",
        }
        sm.create_secret(Name=f"giftcrypto/production/postgres/{login}", SecretString=json.dumps(value))
    rds.create_db_instance(
        DBInstanceIdentifier="giftcrypto-production",
        Engine="postgres",
        DBInstanceClass="db.r6g.xlarge",
        MasterUsername="giftcrypto_admin",
        MasterUserPassword="not-a-real-one-0",  # pragma: allowlist secret
        AllocatedStorage=200,
    )
    replica = rds.create_db_instance_read_replica(
        DBInstanceIdentifier="giftcrypto-production-replica-1",
        SourceDBInstanceIdentifier="giftcrypto-production",
    )["DBInstance"]
    yield {"url": url, "sm": sm, "replica": replica["Endpoint"]["Address"]}


def _compose(endpoint, out: pathlib.Path, **extra) -> tuple[dict, str]:
    bundle = out / "rds-ca-bundle.pem"
    if not bundle.exists():
        bundle.write_text(
            "-----BEGIN CERTIFICATE-----\nstand-in\n-----END CERTIFICATE-----\n", encoding="utf-8"
        )
    result = subprocess.run(
        [
            str(pathlib.Path(sys.executable).parent / "ansible-playbook"),
            "-i",
            str(ROOT / "inventories" / "production"),
            str(PLAYBOOK),
            "-e",
            json.dumps(
                {
                    "aws_endpoint_url": endpoint["url"],
                    "pooler_test_output": str(out / "pooler.json"),
                    "app_deploy_eks_rds_ca_bundle": str(bundle),
                    **extra,
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
        f"composing the pooler's configuration failed:\n{result.stdout}{result.stderr}"
    )
    for password in PASSWORDS.values():
        assert password not in result.stdout + result.stderr, "a password reached the run's output"
    return json.loads((out / "pooler.json").read_text(encoding="utf-8")), result.stdout


@pytest.fixture(scope="module")
def composed(endpoint, tmp_path_factory):
    out = tmp_path_factory.mktemp("pooler")
    first, _ = _compose(endpoint, out)
    again, output = _compose(endpoint, out)
    return {"out": out, "first": first, "again": again, "again_output": output}


def _names(pem: str) -> list[str]:
    certificate = x509.load_pem_x509_certificate(pem.encode())
    return certificate.extensions.get_extension_for_class(
        x509.SubjectAlternativeName
    ).value.get_values_for_type(x509.DNSName)


def test_no_password_is_composed_at_apply_time(composed):
    """The login list is the pod's (its init container and sidecar, ADR 0019 item 5): the Secret,
    the ConfigMaps and the checksum that rolls the pods hold no password, so a rotation rolls none."""
    config = composed["first"]["config"]
    assert "userlist.txt" not in config["secret"]
    text = json.dumps(config)
    assert not [login for login, password in PASSWORDS.items() if password in text]


def test_the_init_container_writes_the_logins_of_db_schema(pgbouncer):
    lines = pgbouncer["userlist"].read_text(encoding="utf-8").splitlines()
    assert lines == [f'"{login}" "{password}"' for login, password in PASSWORDS.items()]
    assert pgbouncer["userlist"].stat().st_mode & 0o777 == 0o640
    for password in PASSWORDS.values():
        assert password not in pgbouncer["init_log"], "a password reached the init container's log"


def test_the_databases_are_the_primary_of_the_login_and_the_replica_asked_of_rds(composed, endpoint):
    databases = composed["first"]["config"]["secret"]["databases.ini"].splitlines()
    assert databases[0] == "[databases]"
    assert f"giftcrypto = host={PRIMARY} port=5432 dbname=giftcrypto" in databases
    assert any(
        re.fullmatch(
            rf"giftcrypto_replica = host={re.escape(endpoint['replica'])} port=\d+ dbname=giftcrypto", line
        )
        for line in databases
    ), databases


def test_the_certificate_names_the_poolers_service_and_lives_in_secrets_manager(composed, endpoint):
    config = composed["first"]["config"]
    host = composed["first"]["host"]
    assert host == "pgbouncer.giftcrypto.svc"
    assert sorted(_names(config["secret"]["tls.crt"])) == sorted([host, f"{host}.cluster.local"])
    assert config["ca"]["ca.crt"] == config["secret"]["tls.crt"], "the clients trust exactly this certificate"
    name = "giftcrypto/production/pgbouncer/tls"
    stored = json.loads(endpoint["sm"].get_secret_value(SecretId=name)["SecretString"])
    assert stored["certificate"] == config["secret"]["tls.crt"]
    assert stored["private_key"] == config["secret"]["tls.key"]
    assert config["rds_ca"]["rds-ca-bundle.pem"].startswith("-----BEGIN CERTIFICATE-----")


def test_a_second_apply_reuses_everything(composed):
    assert composed["again"] == composed["first"]
    assert re.search(r"localhost\s+:.*changed=0", composed["again_output"]), composed["again_output"][-2000:]


def test_a_certificate_inside_the_renewal_window_is_replaced(endpoint, composed, tmp_path):
    shutil.copy(composed["out"] / "rds-ca-bundle.pem", tmp_path / "rds-ca-bundle.pem")
    renewed, _ = _compose(endpoint, tmp_path, app_deploy_eks_pooler_tls_renew_days=1000)
    assert renewed["config"]["secret"]["tls.crt"] != composed["first"]["config"]["secret"]["tls.crt"]
    assert renewed["checksum"] != composed["first"]["checksum"], "the pooler's pods roll"


# ----- the real pgBouncer with the rendered configuration and the composed Secret


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def pgbouncer(composed, endpoint, tmp_path_factory):
    assert os.path.exists(PGBOUNCER), (
        "pgBouncer not found: `nox -s unit` installs the Debian package pgbouncer"
    )
    inventory, variables = RENDERS["production-release"]
    out = tmp_path_factory.mktemp("pooler-render")
    render = Render("production-release", out, _playbook(inventory, out, variables), variables)
    ini = render.find("ConfigMap", "pgbouncer")["data"]["pgbouncer.ini"]
    # Its own directory under /tmp (pytest's are private to root; the server may run as postgres).
    root = pathlib.Path(tempfile.mkdtemp(prefix="giftcrypto-pgbouncer-"))
    config = composed["first"]["config"]
    for directory, files in (("secret", config["secret"]), ("rds", config["rds_ca"])):
        (root / directory).mkdir()
        for name, content in files.items():
            (root / directory / name).write_text(content, encoding="utf-8")
    # The pod's init container, as rendered (its paths under this directory), writes the login list
    # from the logins' secrets (the moto server here, the pod's IRSA role on EKS).
    (root / "auth").mkdir()
    (init,) = render.find("Deployment", "pgbouncer")["spec"]["template"]["spec"]["initContainers"]
    argv = [a.replace("/etc/pgbouncer/", f"{root}/") for a in init["args"]]
    started = subprocess.run(
        [sys.executable, *init["command"][1:], *argv],
        env={
            **{k: v for k, v in os.environ.items() if not k.startswith("AWS_")},
            **{e["name"]: e["value"] for e in init["env"] if e["name"] != "PYTHONPATH"},
            "PYTHONPATH": str(ROOT / ".collections"),
            "AWS_ENDPOINT_URL": endpoint["url"],
            "AWS_REGION": "us-east-1",
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",  # pragma: allowlist secret
        },
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert started.returncode == 0, f"the init container failed:\n{started.stderr}"
    port = _free_port()
    ini = ini.replace("/etc/pgbouncer/", f"{root}/").replace("listen_port = 6432", f"listen_port = {port}")
    ini = ini.replace("listen_addr = 0.0.0.0", "listen_addr = 127.0.0.1")
    (root / "pgbouncer.ini").write_text(ini, encoding="utf-8")
    # pgBouncer refuses to run as root: as root, it runs as the postgres user (as pg_cluster's server).
    command = [PGBOUNCER, str(root / "pgbouncer.ini")]
    if os.geteuid() == 0:
        user = pwd.getpwnam("postgres")
        for path in [root, *root.rglob("*")]:
            os.chown(path, user.pw_uid, user.pw_gid)
        command = ["runuser", "-u", "postgres", "--", *command]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"pgBouncer refused the rendered configuration:\n{process.stdout.read()}")
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                break
        time.sleep(0.2)
    ca = root / "client-ca.crt"
    ca.write_text(config["ca"]["ca.crt"], encoding="utf-8")
    yield {
        "port": port,
        "ca": ca,
        "host": composed["first"]["host"],
        "userlist": root / "auth" / "userlist.txt",
        "init_log": started.stdout + started.stderr,
    }
    process.terminate()
    process.wait(timeout=10)
    shutil.rmtree(root, ignore_errors=True)


def _connect(pgbouncer, password: str, **overrides):
    options = {
        "host": pgbouncer["host"],
        "hostaddr": "127.0.0.1",
        "port": pgbouncer["port"],
        "user": "app_rw",
        "password": password,
        "dbname": "giftcrypto",
        "sslmode": "verify-full",
        "sslrootcert": str(pgbouncer["ca"]),
        "connect_timeout": 5,
        **overrides,
    }
    return psycopg.connect(**options)


def test_a_client_that_verifies_the_pooler_gets_past_tls_and_login(pgbouncer):
    with pytest.raises(psycopg.OperationalError) as caught:
        _connect(pgbouncer, PASSWORDS["app_rw"])
    message = str(caught.value)
    assert "authentication failed" not in message and "certificate" not in message, message
    assert re.search(r"server|connect", message), f"only the unreachable RDS stops it: {message}"


def test_a_wrong_password_is_refused(pgbouncer):
    with pytest.raises(psycopg.OperationalError, match="authentication failed"):
        _connect(pgbouncer, "not-the-password")


def test_a_client_checking_another_name_refuses_the_pooler(pgbouncer):
    with pytest.raises(psycopg.OperationalError, match=r"certificate|does not match"):
        _connect(pgbouncer, PASSWORDS["app_rw"], host="postgres.giftcrypto.svc")


def test_a_client_without_tls_is_refused(pgbouncer):
    with pytest.raises(psycopg.OperationalError):
        _connect(pgbouncer, PASSWORDS["app_rw"], sslmode="disable")
