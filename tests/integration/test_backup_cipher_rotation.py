"""The pgBackRest repository passphrase rotated on the deployed local platform (issue 23 item 3).

The shipped procedure (playbooks/rotate_backup_cipher.yml, `nox -s rotate-backup-cipher`; ADR 0019,
"Keys are not passwords") runs while the API serves /api/v1/stats under a bounded load (PostgreSQL
through pgBouncer) and app_rw queries through pgBouncer: not one request or query may fail. Then the
new passphrase is live in Secrets Manager and the old one retired with its repository, the live
configuration holds a full backup in the new repository, which the old passphrase cannot read, the
old backups still read (and restore, with playbooks/restore.yml) through their restore-only
configuration, archiving goes on, the secret's resource policy and tags are unchanged, and a deploy
afterwards changes nothing of postgres_server.
An interrupted rotation (a `next` already stored) resumes with that `next`.

The platform is left rotated (tests/integration/test_dr_drill.py runs after this file and restores
from the new repository).
"""

from __future__ import annotations

import json
import os
import pathlib
import re
import secrets
import string
import subprocess
import threading
import time

import psycopg
import pytest

from tests.integration.conftest import ROOT, load_tool, run_playbook
from tests.integration.loadgen import LoadGenerator

pytestmark = pytest.mark.integration

PLAYBOOK = "playbooks/rotate_backup_cipher.yml"
URL = "https://127.0.0.1:8443/api/v1/stats"
CA = "/etc/giftcrypto/pki/ca.crt"
TIMINGS = ROOT / "tests" / "output" / "timings.json"
# The copy restored from a retired repository: a name and port of its own (not the DR drill's).
RESTORED_CLUSTER = "giftcrypto_cipher_it"
RESTORED_PORT = 57436
TASK = re.compile(r"^TASK \[(?:(\S+) : )?")
local_cognito = load_tool("local_cognito")


def _facts(local_vars) -> tuple[str, str, str]:
    cluster = local_vars.get("postgres_server_cluster", "giftcrypto")
    name = f"{local_vars['platform_name']}/{local_vars['platform_environment']}/postgres/backup"
    config = local_vars.get("postgres_server_backup_config_file", f"/etc/pgbackrest/{cluster}.conf")
    return name, config, local_vars.get("postgres_server_backup_stanza", cluster)


def _pgbackrest(config: str, stanza: str, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    """pgbackrest as postgres; `env` adds PGBACKREST_* options (read by pgBackRest over its config
    file's), so that no passphrase is ever on a command line."""
    return subprocess.run(
        ["runuser", "-u", "postgres", "--", "pgbackrest", f"--config={config}", f"--stanza={stanza}", *args],
        capture_output=True,
        text=True,
        # A wrong passphrase decrypts to bytes that pgBackRest's error message quotes.
        errors="replace",
        timeout=300,
        check=False,
        env={**os.environ, **(env or {})},
    )


def _info(config: str, stanza: str, env: dict | None = None) -> dict:
    result = _pgbackrest(config, stanza, "--output=json", "info", env=env)
    assert result.returncode == 0, result.stderr
    (found,) = json.loads(result.stdout)
    return found


def _record(name: str, seconds: float) -> None:
    TIMINGS.parent.mkdir(parents=True, exist_ok=True)
    data = json.loads(TIMINGS.read_text()) if TIMINGS.exists() else {}
    data[name] = round(seconds, 1)
    TIMINGS.write_text(json.dumps(data, indent=2, sort_keys=True))


def _described(sm, name: str) -> tuple[dict | None, list, bool]:
    policy = sm.get_resource_policy(SecretId=name).get("ResourcePolicy")
    described = sm.describe_secret(SecretId=name)
    tags = sorted((t["Key"], t["Value"]) for t in described.get("Tags", []))
    return (json.loads(policy) if policy else None), tags, bool(described.get("RotationEnabled"))


class PoolerQueries:
    """app_rw queries through pgBouncer, a new connection each, every 0.2 s, in a thread."""

    def __init__(self, login: dict, host: str, port: int) -> None:
        self.login, self.host, self.port = login, host, port
        self.ok = 0
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def query(self) -> None:
        with psycopg.connect(
            host=self.host,
            port=self.port,
            user=self.login["username"],
            password=self.login["password"],
            dbname=self.login["dbname"],
            sslmode="verify-full",
            sslrootcert=self.login.get("sslrootcert") or CA,
            connect_timeout=5,
        ) as conn:
            conn.execute("SELECT count(*) FROM pg_stat_activity").fetchone()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.query()
                self.ok += 1
            except psycopg.Error as error:  # the message names no password
                self.errors.append(str(error).splitlines()[-1])
            self._stop.wait(0.2)

    def __enter__(self) -> PoolerQueries:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=30)


@pytest.fixture(scope="module")
def rotation(aws, local_vars, secret):
    """One rotation under load: the secret, the resource policy and tags before and after, the run."""
    fixture_started = time.monotonic()
    name, config, stanza = _facts(local_vars)
    sm = aws("secretsmanager")
    before = secret("postgres/backup")
    described_before = _described(sm, name)
    info_before = _info(config, stanza)
    monitor = secret("postgres/monitor")
    pooler = PoolerQueries(
        secret("postgres/app_rw"), monitor["pgbouncer_host"], int(monitor["pgbouncer_port"])
    )
    pooler.query()  # it serves before
    with (
        local_cognito.signed_in("users", prefix="backup-cipher") as user,
        LoadGenerator(URL, CA, rate=20, threads=2, headers=user.authorization) as load,
        pooler,
    ):
        time.sleep(2)
        started = time.monotonic()
        result = run_playbook(playbook=PLAYBOOK)
        seconds = time.monotonic() - started
        time.sleep(2)
    pooler.query()  # and after
    _record("backup_cipher_rotation_s", seconds)
    _record("backup_cipher_rotation_under_load_s", time.monotonic() - fixture_started)
    return {
        "name": name,
        "config": config,
        "stanza": stanza,
        "before": before,
        "after": secret("postgres/backup"),
        "described_before": described_before,
        "described_after": _described(sm, name),
        "info_before": info_before,
        "result": result,
        "seconds": seconds,
        "load": load,
        "pooler": pooler,
    }


def test_the_rotation_runs_and_retires_the_old_passphrase_with_its_repository(rotation):
    result, before, after = rotation["result"], rotation["before"], rotation["after"]
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
    assert rotation["seconds"] < 300
    assert after["cipher_pass"] != before["cipher_pass"]
    assert len(after["cipher_pass"]) == 64 and after["cipher_pass"].isalnum()
    assert after["repo_path"] != before["repo_path"]
    assert re.fullmatch(r".+-[0-9]{8}T[0-9]{6}Z", after["repo_path"])
    assert pathlib.Path(after["repo_path"]).parent == pathlib.Path(before["repo_path"]).parent
    assert "next" not in after
    assert {k: after[k] for k in ("cipher_type", "stanza", "config_file")} == {
        k: before[k] for k in ("cipher_type", "stanza", "config_file")
    }
    retired = after["retired"][-1]
    assert after["retired"][:-1] == before.get("retired", [])
    assert retired["cipher_pass"] == before["cipher_pass"] and retired["repo_path"] == before["repo_path"]
    assert re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z", retired["retired_at"])
    # Nothing deleted: the old repository is still there.
    assert (pathlib.Path(before["repo_path"]) / "backup").is_dir()
    # No passphrase in the run's output.
    output = result.stdout + result.stderr
    assert before["cipher_pass"] not in output and after["cipher_pass"] not in output


def test_the_live_configuration_holds_a_full_backup_in_the_new_repository(rotation):
    after = rotation["after"]
    text = pathlib.Path(rotation["config"]).read_text()
    assert re.findall(r"(?m)^repo\d+-path=(.+)$", text) == [after["repo_path"]]
    info = _info(rotation["config"], rotation["stanza"])
    assert info["status"]["code"] == 0, info["status"]
    assert [repo["key"] for repo in info["repo"]] == [1]
    assert "full" in [backup["type"] for backup in info["backup"]]
    files = [p for p in pathlib.Path(after["repo_path"]).rglob("*") if p.is_file() and not p.is_symlink()]
    assert files and all(p.read_bytes()[:8] == b"Salted__" for p in files)


def test_the_old_passphrase_cannot_read_the_new_repository(rotation):
    old = rotation["before"]["cipher_pass"]
    result = _pgbackrest(
        rotation["config"],
        rotation["stanza"],
        "--output=json",
        "info",
        env={"PGBACKREST_REPO1_CIPHER_PASS": old},
    )
    status = (
        json.loads(result.stdout, strict=False)[0]["status"]
        if result.returncode == 0 and result.stdout
        else None
    )
    assert result.returncode != 0 or status["code"] != 0, status
    assert "FormatError" in result.stdout + result.stderr  # it decrypts to garbage
    # And the new passphrase reads it (the override itself works).
    assert (
        _info(
            rotation["config"],
            rotation["stanza"],
            env={"PGBACKREST_REPO1_CIPHER_PASS": rotation["after"]["cipher_pass"]},
        )["status"]["code"]
        == 0
    )


def test_the_retired_repository_reads_through_its_restore_only_configuration(rotation):
    retired = rotation["after"]["retired"][-1]
    path = pathlib.Path(retired["config_file"])
    stat = path.stat()
    assert stat.st_mode & 0o777 == 0o640 and stat.st_uid == 0 and path.group() == "postgres"
    assert re.findall(r"(?m)^repo\d+-path=(.+)$", path.read_text()) == [retired["repo_path"]]
    info = _info(retired["config_file"], rotation["stanza"])
    assert info["status"]["code"] == 0, info["status"]
    labels_before = {backup["label"] for backup in rotation["info_before"]["backup"]}
    assert labels_before and labels_before <= {backup["label"] for backup in info["backup"]}


def test_the_retired_repository_restores_into_a_fresh_cluster(rotation):
    """playbooks/restore.yml with the retired repository's restore-only configuration (the DR
    runbook's "Restoring a backup taken before a passphrase rotation"): its newest backup and WAL
    restore into a cluster of their own, whose audit chains verify."""
    retired = rotation["after"]["retired"][-1]
    names = ["-e", f"restore_cluster={RESTORED_CLUSTER}", "-e", f"restore_port={RESTORED_PORT}"]
    try:
        result = run_playbook(
            "-e",
            f"postgres_server_backup_config_file={retired['config_file']}",
            "-e",
            "restore_switch_wal=false",
            *names,
            playbook="playbooks/restore.yml",
        )
        assert result.returncode == 0, result.stdout[-6000:]
        report = " ".join(result.stdout.split())
        assert f"{RESTORED_CLUSTER} on 127.0.0.1:{RESTORED_PORT}" in report
        assert re.search(r"audit rows verified: [1-9]", report), report[-2000:]
    finally:
        dropped = run_playbook("-e", "restore_state=absent", *names, playbook="playbooks/restore.yml")
        assert dropped.returncode == 0, dropped.stdout[-3000:]


def test_archiving_goes_on_into_the_new_repository(rotation):
    check = _pgbackrest(rotation["config"], rotation["stanza"], "check")
    assert check.returncode == 0, check.stderr + check.stdout
    info = _info(rotation["config"], rotation["stanza"])
    assert info["archive"] and info["archive"][0]["max"]


def test_the_api_and_the_database_kept_serving(rotation):
    load, pooler = rotation["load"], rotation["pooler"]
    assert len(load.samples) > 20 and not load.failures(), load.failures()[:5]
    assert pooler.ok > 10 and not pooler.errors, pooler.errors[:5]


def test_the_secrets_resource_policy_tags_and_schedule_are_kept(rotation):
    policy, tags, rotation_enabled = rotation["described_after"]
    assert (policy, tags) == rotation["described_before"][:2]
    assert policy is not None, "the secret lost its resource policy"
    assert rotation_enabled is False


def test_a_check_mode_run_plans_and_changes_nothing(rotation, secret):
    result = run_playbook("--check", playbook=PLAYBOOK)
    assert result.returncode == 0, result.stdout[-4000:]
    assert "Check mode, nothing changed: would rotate" in " ".join(result.stdout.split())
    assert re.search(r"changed=0\s", result.stdout)
    assert secret("postgres/backup") == rotation["after"]


def test_an_interrupted_rotation_resumes_with_the_stored_next(rotation, aws, secret):
    """`next` stored by hand (as step 1 of a rotation that stopped there leaves it): the procedure
    finishes that rotation, with that passphrase and that repository."""
    sm = aws("secretsmanager")
    current = secret("postgres/backup")
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    base = re.sub(r"-[0-9]{8}T[0-9]{6}Z$", "", current["repo_path"])
    wanted = {
        "cipher_pass": "".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(64)),
        "repo_path": f"{base}-{stamp}",
    }
    sm.put_secret_value(SecretId=rotation["name"], SecretString=json.dumps({**current, "next": wanted}))
    result = run_playbook(playbook=PLAYBOOK)
    assert result.returncode == 0, result.stdout[-6000:]
    assert "resuming the rotation under way" in " ".join(result.stdout.split())
    after = secret("postgres/backup")
    assert (after["cipher_pass"], after["repo_path"]) == (wanted["cipher_pass"], wanted["repo_path"])
    assert "next" not in after
    assert (after["retired"][-1]["cipher_pass"], after["retired"][-1]["repo_path"]) == (
        current["cipher_pass"],
        current["repo_path"],
    )
    info = _info(rotation["config"], rotation["stanza"])
    assert info["status"]["code"] == 0 and "full" in [b["type"] for b in info["backup"]]
    for old in after["retired"]:
        assert _info(old["config_file"], rotation["stanza"])["status"]["code"] == 0, old["repo_path"]


def test_a_deploy_after_the_rotations_changes_nothing_of_postgres_server(rotation):
    """site.yml, as `nox -s deploy-local` runs it: postgres_server reads the live repository from the
    secret and finds its configurations, the retired ones included, as the rotation left them."""
    result = run_playbook()
    assert result.returncode == 0, result.stdout[-8000:]
    role, changed = None, []
    for line in result.stdout.splitlines():
        if match := TASK.match(line):
            role, task = match[1], line
        elif line.startswith("changed:") and role == "giftcrypto.platform.postgres_server":
            changed.append(task)
    assert changed == []
