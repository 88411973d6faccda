"""Rotate generated logins of the local environment by Secrets Manager's four steps (ADR 0019).

The local endpoint runs no Lambda, so this runner does what Secrets Manager's rotation service does
on AWS: for each secret, a new ClientRequestToken, then createSecret, setSecret, testSecret and
finishSecret of the shipped rotation code (plugins/module_utils/secret_rotation.py, the same code as
the rotation Lambda's handler), against the live local servers and through the endpoint's Secrets
Manager.

    nox -s rotate-local -- postgres/app_rw redis/app        # the API's logins
    nox -s rotate-local -- --all                            # every rotatable generated login

Names are relative to <platform_name>/<platform_environment>/ (read from the inventory). Clients keep
serving: pgBouncer looks passwords up in the server (auth_query), the API re-reads a refused login's
secret (service/src/giftcrypto_api/secret_refresh.py). The monitoring exporters read their
credentials from files the deploy writes: after rotating postgres/monitor or redis/monitor, run
`nox -s deploy-local` (the runbook says so). Prints one JSON line per secret (names and version ids,
never a value); exit 1 when a rotation failed.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / ".collections"))
sys.path.insert(0, str(ROOT))

from ansible_collections.giftcrypto.platform.plugins.module_utils import secret_rotation

from tools.seed_local import aws_session, load_group_vars

# Every generated login the rotation code handles locally (ADR 0019; the keys that are not passwords,
# secret_rotation.NOT_ROTATED, are left out).
ROTATABLE = (
    "postgres/app_rw",
    "postgres/app_ro",
    "postgres/migrator",
    "postgres/auditor",
    "postgres/monitor",
    "postgres/master",
    "redis/app",
    "redis/monitor",
    "redis/admin",
)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("secrets", nargs="*", help="e.g. postgres/app_rw redis/app")
    parser.add_argument("--all", action="store_true", help=f"every rotatable login ({', '.join(ROTATABLE)})")
    parser.add_argument("--inventory", type=pathlib.Path, default=ROOT / "inventories" / "local")
    args = parser.parse_args(argv)
    if bool(args.secrets) == args.all:
        parser.error("name the secrets to rotate, or --all (not both)")
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    group_vars = load_group_vars(args.inventory)
    if group_vars.get("platform_environment") != "local":
        print(f"refusing to rotate in {group_vars.get('platform_environment')!r}: local only")
        return 2
    prefix = f"{group_vars['platform_name']}/{group_vars['platform_environment']}"
    client = aws_session(group_vars).client(
        "secretsmanager", endpoint_url=group_vars.get("aws_endpoint_url") or None
    )
    # The pooler in front of the local PostgreSQL, as postgres_server recorded it in the monitor's
    # login: testSecret logs in through it too (it then holds the new SCRAM keys at once).
    pgbouncer = None
    try:
        monitor = json.loads(client.get_secret_value(SecretId=f"{prefix}/postgres/monitor")["SecretString"])
        if monitor.get("pgbouncer_host"):
            pgbouncer = (monitor["pgbouncer_host"], int(monitor["pgbouncer_port"]))
    except client.exceptions.ResourceNotFoundException:
        pass
    failed = 0
    for short in ROTATABLE if args.all else args.secrets:
        name = f"{prefix}/{short}"
        started = time.monotonic()
        try:
            token = secret_rotation.rotate(client, name, pgbouncer=pgbouncer)
        except Exception as error:
            failed += 1
            print(json.dumps({"secret": name, "rotated": False, "error": f"{type(error).__name__}: {error}"}))
            continue
        print(
            json.dumps(
                {
                    "secret": name,
                    "rotated": True,
                    "version": token,
                    "seconds": round(time.monotonic() - started, 3),
                }
            )
        )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
