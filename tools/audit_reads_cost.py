"""The cost of auditing personal-data reads (issue 23): pgbench of a profile read, object audit on vs off.

    .venv/bin/python tools/audit_reads_cost.py [--users 20000] [--clients 8] [--seconds 20] [--rounds 3]

Against the deployed local platform (`nox -s deploy-local`; run it under the platform lock). It makes
a scratch database of its own (giftcrypto_auditcost, dropped at the end), migrated as migrator with
the role's migrations (0010 included), loads --users users with their profiles as PostgreSQL's
superuser (a restore: row-level security and triggers are not in the way), then runs pgbench as
app_ro through pgBouncer (TLS, transaction pooling) with the application's read of a profile: one
transaction of set_config('app.user_id') and a SELECT of the user's profile, one round trip.

Object audit logging is switched per round in that database only: "on" is migration 0010's grant
(rds_pgaudit may SELECT user_profiles, so every read leaves an AUDIT: OBJECT record in the server
log), "off" revokes it; the rounds alternate (off, on, off, on, ...) so that drift of the shared
machine falls on both. It prints one JSON line per round (tps without connection time, mean latency,
AUDIT records and server-log bytes written per transaction) and the medians.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import re
import statistics
import subprocess
import sys
import tempfile

import boto3
import psycopg
import yaml

ROOT = pathlib.Path(__file__).resolve().parents[1]
MIGRATIONS = ROOT / "roles" / "db_schema" / "files" / "migrations"
DATABASE = "giftcrypto_auditcost"
LOGIN_ROLES = ("migrator", "app_rw", "app_ro", "auditor")
PGBENCH = ("/usr/lib/postgresql/15/bin/pgbench", "pgbench")
# The application's read of a profile (app_ro, row-level security on app.user_id), one round trip.
SCRIPT = "\n".join(
    [
        r"\set u random(1, :nusers)",
        r"BEGIN \; SELECT set_config('app.user_id', md5('auditcost:user:' || :u)::uuid::text, true) \;",
        "SELECT display_name, first_name_ciphertext, last_name_ciphertext, date_of_birth_ciphertext,",
        "avatar_url",
        r"FROM user_profiles WHERE user_id = md5('auditcost:user:' || :u)::uuid \; COMMIT;",
        "",
    ]
)


def group_vars() -> dict:
    merged: dict = {}
    for path in sorted((ROOT / "inventories" / "local" / "group_vars" / "all").glob("*.yml")):
        merged.update(yaml.safe_load(path.read_text()) or {})
    return merged


def secrets(gv: dict) -> dict[str, dict]:
    session = boto3.session.Session(
        aws_access_key_id=gv["aws_access_key_id"],
        aws_secret_access_key=gv["aws_secret_access_key"],
        region_name=gv["aws_region"],
    )
    sm = session.client("secretsmanager", endpoint_url=gv["aws_endpoint_url"])
    prefix = f"{gv['platform_name']}/{gv['platform_environment']}/postgres"
    return {r: json.loads(sm.get_secret_value(SecretId=f"{prefix}/{r}")["SecretString"]) for r in LOGIN_ROLES}


def superuser(gv: dict, dbname: str) -> psycopg.Connection:
    return psycopg.connect(
        host=gv.get("postgres_server_socket_dir", "/var/run/postgresql"),
        port=int(gv.get("postgres_server_port", 5432)),
        user="postgres",
        dbname=dbname,
        autocommit=True,
    )


def prepare(gv: dict, logins: dict, users: int) -> None:
    with superuser(gv, "postgres") as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{DATABASE}"')
    with superuser(gv, DATABASE) as conn:
        conn.execute(f'GRANT CONNECT ON DATABASE "{DATABASE}" TO migrator, app_rw, app_ro, auditor')
        conn.execute("REVOKE ALL ON SCHEMA public FROM PUBLIC")
        conn.execute("GRANT USAGE, CREATE ON SCHEMA public TO migrator")
        conn.execute("GRANT USAGE ON SCHEMA public TO app_rw, app_ro, auditor")
    migrator = logins["migrator"]
    with psycopg.connect(
        host=migrator["host"],
        port=int(migrator["port"]),
        user=migrator["username"],
        password=migrator["password"],
        dbname=DATABASE,
        sslmode=migrator["sslmode"],
        sslrootcert=migrator["sslrootcert"],
    ) as conn:
        for path in sorted(MIGRATIONS.glob("*.up.sql")):
            with conn.transaction():
                conn.execute(path.read_text())
    with superuser(gv, DATABASE) as conn:
        conn.execute(
            "INSERT INTO users (id, email_ciphertext, email_bidx, password_hash) "
            "SELECT md5('auditcost:user:' || i)::uuid, decode('01' || md5(i::text) || md5(i::text), 'hex'), "
            "sha256(convert_to('auditcost:' || i, 'UTF8')), repeat('x', 40) FROM generate_series(1, %s) AS i",
            (users,),
        )
        conn.execute(
            "INSERT INTO user_profiles (user_id, first_name_ciphertext, last_name_ciphertext, "
            "date_of_birth_ciphertext, display_name) "
            "SELECT md5('auditcost:user:' || i)::uuid, c, c, c, 'user ' || i "
            "FROM generate_series(1, %s) AS i, "
            "LATERAL (SELECT decode('01' || md5(i::text) || md5(i::text), 'hex')) AS x (c)",
            (users,),
        )
        conn.execute("VACUUM ANALYZE users, user_profiles")


def set_audit(gv: dict, on: bool) -> None:
    with superuser(gv, DATABASE) as conn:
        conn.execute(
            f"{'GRANT' if on else 'REVOKE'} SELECT ON user_profiles {'TO' if on else 'FROM'} rds_pgaudit"
        )


def server_log(gv: dict) -> pathlib.Path:
    cluster = gv.get("postgres_server_cluster", "giftcrypto")
    version = gv.get("postgres_server_version", "15")
    return pathlib.Path(f"/var/log/postgresql/{cluster}/postgresql-{version}-{cluster}.json")


def run_round(gv: dict, logins: dict, users: int, clients: int, seconds: int, on: bool) -> dict:
    set_audit(gv, on)
    log = server_log(gv)
    app_ro = logins["app_ro"]
    env = {
        "PGHOST": gv.get("postgres_server_pgbouncer_listen_address", "127.0.0.1"),
        "PGPORT": str(gv.get("postgres_server_pgbouncer_port", 6432)),
        "PGUSER": app_ro["username"],
        "PGPASSWORD": app_ro["password"],
        "PGDATABASE": DATABASE,
        "PGSSLMODE": app_ro["sslmode"],
        "PGSSLROOTCERT": app_ro["sslrootcert"],
        "PGAPPNAME": "giftcrypto-auditcost",
        "PATH": "/usr/bin:/bin",
    }
    binary = next(p for p in PGBENCH if pathlib.Path(p).exists() or "/" not in p)
    with tempfile.TemporaryDirectory(prefix="giftcrypto-auditcost-") as workdir:
        script = pathlib.Path(workdir) / "profile.pgbench"
        script.write_text(SCRIPT)
        before = log.stat().st_size
        proc = subprocess.run(  # noqa: S603
            [
                binary,
                "-n",
                "-M",
                "simple",
                "-c",
                str(clients),
                "-j",
                "2",
                "-T",
                str(seconds),
                "-D",
                f"nusers={users}",
                "-f",
                str(script),
            ],
            env=env,
            capture_output=True,
            text=True,
            check=False,
            timeout=seconds + 120,
        )
        after = log.stat().st_size
    if proc.returncode != 0:
        raise SystemExit(f"pgbench failed ({proc.returncode}): {proc.stdout[-2000:]} {proc.stderr[-2000:]}")
    tps = float(re.search(r"tps = ([0-9.]+) \(without initial connection time\)", proc.stdout)[1])
    latency = float(re.search(r"latency average = ([0-9.]+) ms", proc.stdout)[1])
    transactions = int(re.search(r"number of transactions actually processed: (\d+)", proc.stdout)[1])
    with log.open("rb") as handle:
        handle.seek(before)
        written = handle.read(after - before).decode(errors="replace")
    records = sum(1 for line in written.splitlines() if '"AUDIT: OBJECT,' in line and DATABASE in line)
    return {
        "audit": "on" if on else "off",
        "tps": round(tps, 1),
        "latency_ms": latency,
        "transactions": transactions,
        "audit_records_per_tx": round(records / transactions, 3),
        "log_bytes_per_tx": round((after - before) / transactions, 1),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=20000)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--seconds", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    gv = group_vars()
    logins = secrets(gv)
    prepare(gv, logins, args.users)
    try:
        results = []
        for _ in range(args.rounds):
            for on in (False, True):
                results.append(run_round(gv, logins, args.users, args.clients, args.seconds, on))
                print(json.dumps(results[-1]), flush=True)
        summary = {}
        for mode in ("off", "on"):
            runs = [r for r in results if r["audit"] == mode]
            summary[mode] = {
                "tps_median": statistics.median(r["tps"] for r in runs),
                "latency_ms_median": statistics.median(r["latency_ms"] for r in runs),
                "audit_records_per_tx": statistics.median(r["audit_records_per_tx"] for r in runs),
                "log_bytes_per_tx": statistics.median(r["log_bytes_per_tx"] for r in runs),
            }
        change = summary["on"]["tps_median"] / summary["off"]["tps_median"] - 1
        summary["tps_change_percent"] = round(100 * change, 1)
        print(json.dumps(summary), flush=True)
    finally:
        with superuser(gv, "postgres") as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')
    return 0


if __name__ == "__main__":
    sys.exit(main())
