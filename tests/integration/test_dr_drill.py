"""Backups and disaster recovery of the local platform (issue 8).

The live cluster's pgBackRest setup (continuous archiving, a full backup, the schedule, an
encrypted repository whose passphrase lives in Secrets Manager only), the refusals of
playbooks/restore.yml, and the disaster-recovery drill itself (tools/dr_drill.py, `nox -s
dr-drill`) at a small scale: transfers running, a disaster (a dropped ledger table, corrupted
balances) in the drill's own database on the live cluster, a point-in-time restore into a fresh
cluster, and the restored ledger, balances and audit chain equal to the state at T.
"""

from __future__ import annotations

import json
import pathlib
import subprocess
import sys

import psycopg
import pytest

from tests.integration.conftest import LOCAL_INVENTORY, ROOT, run_playbook

pytestmark = pytest.mark.integration

SOCKET = "/var/run/postgresql"
DRILL_OUTPUT = ROOT / "tests" / "output" / "dr_drill_integration.json"
# The drill's restored cluster: a port and name of its own (not the defaults an operator uses).
DRILL_PORT = 57433
DRILL_CLUSTER = "giftcrypto_drill_it"


def _backup_facts(local_vars) -> tuple[str, str, str]:
    cluster = local_vars.get("postgres_server_cluster", "giftcrypto")
    config = local_vars.get("postgres_server_backup_config_file", f"/etc/pgbackrest/{cluster}.conf")
    stanza = local_vars.get("postgres_server_backup_stanza", cluster)
    return cluster, config, stanza


def _pgbackrest(local_vars, *args: str) -> subprocess.CompletedProcess:
    _, config, stanza = _backup_facts(local_vars)
    return subprocess.run(
        ["runuser", "-u", "postgres", "--", "pgbackrest", f"--config={config}", f"--stanza={stanza}", *args],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def _superuser(local_vars, sql: str):
    with psycopg.connect(
        host=SOCKET,
        port=int(local_vars.get("postgres_server_port", 5432)),
        user="postgres",
        dbname="postgres",
    ) as conn:
        return conn.execute(sql).fetchall()


@pytest.mark.soc2("A1.2")
def test_wal_is_archived_continuously(local_vars):
    settings = dict(
        _superuser(
            local_vars,
            "SELECT name, setting FROM pg_settings WHERE name IN "
            "('archive_mode', 'archive_command', 'archive_timeout', 'track_commit_timestamp')",
        )
    )
    _, config, stanza = _backup_facts(local_vars)
    assert settings["archive_mode"] == "on"
    assert settings["archive_command"] == f"pgbackrest --config={config} --stanza={stanza} archive-push %p"
    assert 1 <= int(settings["archive_timeout"]) <= 60
    assert settings["track_commit_timestamp"] == "on"
    # pgbackrest check: switches the WAL and waits until the segment is in the repository.
    check = _pgbackrest(local_vars, "check")
    assert check.returncode == 0, check.stderr + check.stdout
    ((archived, failed_since),) = _superuser(
        local_vars,
        "SELECT last_archived_wal IS NOT NULL, "
        "coalesce(last_failed_time > last_archived_time, false) FROM pg_stat_archiver",
    )
    assert archived and not failed_since


@pytest.mark.soc2("A1.2")
def test_a_full_backup_exists_and_backups_are_scheduled(local_vars):
    info = _pgbackrest(local_vars, "--output=json", "info")
    assert info.returncode == 0, info.stderr
    (stanza,) = json.loads(info.stdout)
    assert stanza["status"]["code"] == 0, stanza["status"]
    assert "full" in [backup["type"] for backup in stanza["backup"]]
    assert stanza["archive"] and stanza["archive"][0]["max"]
    cluster, config, _ = _backup_facts(local_vars)
    schedule = pathlib.Path(f"/etc/cron.d/giftcrypto-pgbackrest-{cluster}").read_text()
    jobs = [
        line.split() for line in schedule.splitlines() if "pgbackrest" in line and not line.startswith("#")
    ]
    assert {job[-2] for job in jobs} == {"--type=full", "--type=diff"}
    assert all(job[5] == "postgres" and f"--config={config}" in job for job in jobs)
    cron = subprocess.run(
        ["start-stop-daemon", "--status", "--pidfile", "/var/run/crond.pid", "--exec", "/usr/sbin/cron"],
        check=False,
    )
    assert cron.returncode == 0, "the cron daemon that runs the scheduled backups is not running"


@pytest.mark.soc2("A1.2", "CC6.1")
def test_repository_is_encrypted_and_its_passphrase_kept_in_secrets_manager(local_vars, secret):
    stored = secret("postgres/backup")
    passphrase = stored["cipher_pass"]
    assert stored["cipher_type"] == "aes-256-cbc" and len(passphrase) >= 32
    _, config, _ = _backup_facts(local_vars)
    config_file = pathlib.Path(config)
    stat = config_file.stat()
    assert stat.st_mode & 0o777 == 0o640 and stat.st_uid == 0
    assert config_file.group() == "postgres"
    repository = pathlib.Path(stored["repo_path"])
    files = [p for p in repository.rglob("*") if p.is_file() and not p.is_symlink()]
    assert any(p.name == "backup.info" for p in files) and len(files) > 3
    for path in files:
        data = path.read_bytes()
        # OpenSSL's salted format: nothing of the backup (INI sections, page data) is readable.
        assert data[:8] == b"Salted__", path
        assert passphrase.encode() not in data and b"[backup:current]" not in data, path


@pytest.mark.soc2("A1.3")
@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["-e", "restore_target_time=2099-01-01T00:00:00Z"], "is in the future"),
        (["-e", "restore_target_time=2000-01-01T00:00:00Z"], "before the end of the oldest backup"),
        (["-e", "restore_target_time=yesterday"], "ISO 8601 time with its zone"),
        (["-e", "restore_port=5432"], "not the live ports"),
        (["-e", "restore_cluster=giftcrypto"], "other than the live cluster"),
    ],
)
def test_restore_refuses_bad_input_and_changes_nothing(extra, message):
    def clusters() -> set[str]:
        listing = subprocess.run(["pg_lsclusters", "--no-header"], capture_output=True, text=True, check=True)
        return {line.split()[1] for line in listing.stdout.splitlines() if line.strip()}

    before = clusters()
    result = run_playbook(*extra, playbook="playbooks/restore.yml")
    assert result.returncode != 0
    assert message in " ".join(result.stdout.split()), result.stdout[-3000:]
    assert "changed=0" in result.stdout
    # No restored cluster was made (the default one is <live cluster>_restore).
    assert not {name for name in clusters() - before if name.endswith("_restore")}


@pytest.fixture(scope="module")
def drill() -> tuple[int, dict, str]:
    """One small-scale drill (about 1.5 minutes): 2,000 wallets, 35 s of transfers, the disaster,
    the restore into giftcrypto_drill_it on port 57433, the verification, the repair."""
    DRILL_OUTPUT.unlink(missing_ok=True)
    run = subprocess.run(
        [
            sys.executable,
            str(ROOT / "tools" / "dr_drill.py"),
            "--scale=0.002",
            "--duration=35",
            f"--inventory={LOCAL_INVENTORY}",
            f"--port={DRILL_PORT}",
            f"--cluster={DRILL_CLUSTER}",
            f"--out={DRILL_OUTPUT}",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=1800,
        check=False,
    )
    report = json.loads(DRILL_OUTPUT.read_text()) if DRILL_OUTPUT.exists() else {}
    return run.returncode, report, run.stdout[-4000:] + run.stderr[-4000:]


@pytest.mark.slow
@pytest.mark.soc2("A1.3")
def test_drill_restores_ledger_balances_and_audit_chain_as_they_were_at_t(drill):
    returncode, report, output = drill
    assert returncode == 0, output
    assert report["equal"] == dict.fromkeys(
        (
            "transactions",
            "ledger_entries",
            "ledger_accounts",
            "ledger_idempotency_keys",
            "audit_log",
            "audit_chain_heads",
        ),
        True,
    ), output
    assert report["balances_equal"], output
    transfers = report["transfers"]
    assert transfers["committed_before_disaster"] > 100
    assert transfers["restored"] == transfers["in_snapshot_at_T"] == transfers["committed_before_disaster"]
    # The disaster really happened on the live cluster: the writers' transfers failed after it.
    assert transfers["refused_after_disaster"] > 0 and "ledger_entries" in transfers["first_refusal"]
    assert report["restored_newest_commit"] == report["T"]
    assert report["audit_rows_verified"] > transfers["restored"]


@pytest.mark.slow
@pytest.mark.soc2("A1.3")
def test_drill_meets_rpo_and_rto(drill):
    _, report, output = drill
    assert report["transfers"]["lost"] == 0, output
    assert report["rpo_s"] is not None and report["rpo_s"] <= 60
    # Had the host been lost at the disaster: bounded by archive_timeout.
    assert report["rpo_host_loss_s"] <= 60
    assert report["rto_serving_s"] is not None and report["rto_serving_s"] <= 600
    assert report["rto_verified_s"] <= 600
    assert report["checks"] and all(report["checks"].values()), report["checks"]


@pytest.mark.slow
def test_drill_leaves_the_live_platform_as_it_was(drill, local_vars):
    databases = {row[0] for row in _superuser(local_vars, "SELECT datname FROM pg_database")}
    assert "giftcrypto_bench_drill" not in databases
    assert local_vars.get("postgres_server_database", "giftcrypto") in databases
    clusters = subprocess.run(["pg_lsclusters", "--no-header"], capture_output=True, text=True, check=True)
    assert DRILL_CLUSTER not in clusters.stdout
    assert not pathlib.Path(f"/var/lib/postgresql/15/{DRILL_CLUSTER}").exists()
    # Archiving of the live cluster still works after the drill (its repository was only read).
    check = _pgbackrest(local_vars, "check")
    assert check.returncode == 0, check.stderr
