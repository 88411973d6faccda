"""Shared facts of the database benchmark (issue 5): connections, scale, deterministic ids.

Connections are the platform's own: the admin login from ``<platform>/<env>/postgres/master`` and
the login roles (migrator, app_rw, app_ro) from ``.../postgres/<role>`` in the inventory's Secrets
Manager; the application side goes through pgBouncer (TLS, transaction pooling) like the
application does. Bulk loading is a restore, done as PostgreSQL's superuser over the unix socket
(peer authentication maps root to it, as for backups), where row-level security and triggers are
not in the way; every invariant the triggers would enforce is checked afterwards.

Every id is a function of an integer (``md5('bench:user:' || i)::uuid``), so Python, SQL and the
pgbench script compute the same user or wallet from the same number without a lookup table.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import pathlib
import re
import sys
import uuid

import psycopg
import yaml

ROOT = pathlib.Path(__file__).resolve().parents[2]
if str(ROOT / ".collections") not in sys.path:
    sys.path.insert(0, str(ROOT / ".collections"))

SOCKET_DIR = "/var/run/postgresql"
ROLES = ("master", "migrator", "app_rw", "app_ro")
# Our databases only: never the platform's own (giftcrypto) nor anyone else's.
OWN_DATABASE = re.compile(r"^giftcrypto_(bench|baseline)(_[a-z0-9_]+)?$")


def load_group_vars(inventory: pathlib.Path) -> dict:
    merged: dict = {}
    for path in sorted((inventory / "group_vars" / "all").glob("*.yml")):
        merged.update(yaml.safe_load(path.read_text()) or {})
    return merged


@dataclasses.dataclass
class Env:
    """The inventory's facts and the PostgreSQL logins (secrets) the benchmark uses."""

    group_vars: dict
    logins: dict[str, dict]
    pgbouncer_port: int = 6432
    pgbouncer_host: str = "127.0.0.1"

    @classmethod
    def from_inventory(cls, inventory: pathlib.Path) -> Env:
        import boto3

        group_vars = load_group_vars(inventory)
        session = boto3.session.Session(
            aws_access_key_id=group_vars.get("aws_access_key_id") or None,
            aws_secret_access_key=group_vars.get("aws_secret_access_key") or None,
            region_name=group_vars["aws_region"],
        )
        sm = session.client("secretsmanager", endpoint_url=group_vars.get("aws_endpoint_url") or None)
        prefix = f"{group_vars['platform_name']}/{group_vars['platform_environment']}/postgres"
        logins = {
            role: json.loads(sm.get_secret_value(SecretId=f"{prefix}/{role}")["SecretString"])
            for role in ROLES
        }
        return cls.from_facts(group_vars, logins)

    @classmethod
    def from_facts(cls, group_vars: dict, logins: dict[str, dict]) -> Env:
        return cls(
            group_vars=group_vars,
            logins=logins,
            pgbouncer_port=int(group_vars.get("postgres_server_pgbouncer_port", 6432)),
            pgbouncer_host=group_vars.get("postgres_server_pgbouncer_listen_address", "127.0.0.1"),
        )

    def aws_session(self):
        import boto3

        return boto3.session.Session(
            aws_access_key_id=self.group_vars.get("aws_access_key_id") or None,
            aws_secret_access_key=self.group_vars.get("aws_secret_access_key") or None,
            region_name=self.group_vars["aws_region"],
        )

    def kms(self):
        return self.aws_session().client("kms", endpoint_url=self.group_vars.get("aws_endpoint_url") or None)

    def kwargs(self, role: str, dbname: str, pgbouncer: bool = False) -> dict:
        login = self.logins[role]
        kwargs = {
            "host": self.pgbouncer_host if pgbouncer else login["host"],
            "port": self.pgbouncer_port if pgbouncer else int(login["port"]),
            "user": login["username"],
            "password": login["password"],
            "dbname": dbname,
            "sslmode": login.get("sslmode") or "verify-full",
            "application_name": "giftcrypto-bench",
        }
        if login.get("sslrootcert"):
            kwargs["sslrootcert"] = login["sslrootcert"]
        return kwargs

    def connect(self, role: str, dbname: str, pgbouncer: bool = False, autocommit: bool = True, **extra):
        # No server-side prepared statements: pgBouncer pools transactions (1.18 cannot track them).
        return psycopg.connect(
            autocommit=autocommit, prepare_threshold=None, **self.kwargs(role, dbname, pgbouncer), **extra
        )

    def superuser(self, dbname: str, autocommit: bool = True, **extra):
        """PostgreSQL's superuser over the unix socket (bulk load, CHECKPOINT, EXPLAIN with auto_explain)."""
        port = int(self.group_vars.get("postgres_server_port", 5432))
        return psycopg.connect(
            host=self.group_vars.get("postgres_server_socket_dir", SOCKET_DIR),
            port=port,
            user="postgres",
            dbname=dbname,
            autocommit=autocommit,
            application_name="giftcrypto-bench",
            **extra,
        )


def check_own_database(name: str) -> str:
    if not OWN_DATABASE.match(name):
        raise ValueError(f"{name!r} is not a benchmark database (giftcrypto_bench* / giftcrypto_baseline*)")
    return name


@dataclasses.dataclass(frozen=True)
class Scale:
    """Row counts at a scale factor: 1.0 is the issue's full scale."""

    factor: float

    @property
    def users(self) -> int:
        return max(200, round(1_000_000 * self.factor))

    @property
    def friendships(self) -> int:
        return 5 * self.users

    @property
    def wallets(self) -> int:
        return self.users

    @property
    def transactions(self) -> int:
        return 10 * self.users

    @property
    def hubs(self) -> int:
        """High-degree users: user numbers 1..hubs."""
        return min(20, max(1, self.users // 1000))

    def hub_degree(self, hub: int) -> int:
        """Friends of hub number ``hub`` (1-based): 10,000 / hub at full scale, a third of the users
        at most (so small scales keep a hub far above the average degree of 10)."""
        return max(10, min(self.users // 3, 10_000 // hub))

    @property
    def hub_edges(self) -> int:
        return sum(self.hub_degree(h) for h in range(1, self.hubs + 1))

    @property
    def hot_wallets(self) -> int:
        """Contended wallets of the transfer load: 10% of transfers go to one of them."""
        return max(10, min(100, self.wallets // 100))


def md5_uuid(text: str) -> uuid.UUID:
    return uuid.UUID(hashlib.md5(text.encode()).hexdigest())  # noqa: S324 - an id, not a digest of secrets


def user_id(i: int) -> uuid.UUID:
    return md5_uuid(f"bench:user:{i}")


def profile_id(i: int) -> uuid.UUID:
    return md5_uuid(f"bench:profile:{i}")


def wallet_id(i: int) -> uuid.UUID:
    return md5_uuid(f"bench:wallet:{i}")


def email_of(i: int) -> str:
    return f"user{i}@bench.example"


def percentile(sorted_values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of an ascending list."""
    if not sorted_values:
        raise ValueError("no values")
    rank = max(1, math.ceil(q / 100 * len(sorted_values)))
    return sorted_values[rank - 1]


def summary_ms(seconds: list[float]) -> dict:
    values = sorted(s * 1000 for s in seconds)
    return {
        "n": len(values),
        "p50_ms": round(percentile(values, 50), 3),
        "p95_ms": round(percentile(values, 95), 3),
        "p99_ms": round(percentile(values, 99), 3),
        "max_ms": round(values[-1], 3),
    }
