# Copyright: GiftCrypto platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Shared PostgreSQL connection helper of the giftcrypto.platform database modules (psycopg 3).

The connection options mirror community.postgresql's (login_host, login_port, login_user,
login_password, login_db, ssl_mode, ca_cert, connect_timeout) so that a task can pass the same
facts to both. Every statement a module runs goes through `QueryLog.execute`, which keeps the SQL
text (never the parameters, which may hold secrets) for the module's `queries` return value.
"""

from __future__ import annotations

import traceback

try:
    import psycopg

    HAS_PSYCOPG = True
    PSYCOPG_IMPORT_ERROR = None
except ImportError:  # pragma: no cover - reported by ensure_psycopg
    psycopg = None
    HAS_PSYCOPG = False
    PSYCOPG_IMPORT_ERROR = traceback.format_exc()

SSL_MODES = ["disable", "allow", "prefer", "require", "verify-ca", "verify-full"]

# Documented once, in plugins/doc_fragments/postgres.py (giftcrypto.platform.postgres); keep both in step.
CONNECTION_ARGUMENT_SPEC = {
    "login_host": {"type": "str", "default": "127.0.0.1", "aliases": ["host"]},
    "login_port": {"type": "int", "default": 5432, "aliases": ["port"]},
    "login_user": {"type": "str", "default": "postgres"},
    "login_password": {"type": "str", "default": "", "no_log": True},
    "login_db": {"type": "str", "default": "postgres", "aliases": ["db"]},
    "ssl_mode": {"type": "str", "default": "prefer", "choices": SSL_MODES},
    "ca_cert": {"type": "path", "aliases": ["ssl_rootcert"]},
    "connect_timeout": {"type": "int", "default": 10},
}


def connection_argument_spec() -> dict:
    """A fresh copy of the connection options, to merge into a module's argument_spec."""
    return {name: dict(spec) for name, spec in CONNECTION_ARGUMENT_SPEC.items()}


def ensure_psycopg(module) -> None:
    if not HAS_PSYCOPG:
        from ansible.module_utils.basic import missing_required_lib

        module.fail_json(msg=missing_required_lib("psycopg (3)"), exception=PSYCOPG_IMPORT_ERROR)


def connection_kwargs(params: dict) -> dict:
    """psycopg.connect() keyword arguments from module parameters (a unix socket path works too)."""
    kwargs = {
        "host": params["login_host"],
        "port": params["login_port"],
        "user": params["login_user"],
        "dbname": params["login_db"],
        "sslmode": params["ssl_mode"],
        "connect_timeout": params["connect_timeout"],
        "application_name": "giftcrypto.platform",
    }
    if params.get("login_password"):
        kwargs["password"] = params["login_password"]
    if params.get("ca_cert"):
        kwargs["sslrootcert"] = params["ca_cert"]
    return kwargs


def connect(module, autocommit: bool = True):
    """Opens a psycopg connection from the module's parameters or fails the module clearly."""
    ensure_psycopg(module)
    params = module.params
    try:
        return psycopg.connect(autocommit=autocommit, **connection_kwargs(params))
    except psycopg.Error as exc:
        module.fail_json(
            msg=(
                f"Unable to connect to database {params['login_db']} on "
                f"{params['login_host']}:{params['login_port']} as {params['login_user']} "
                f"(ssl_mode={params['ssl_mode']}): {str(exc).strip()}"
            )
        )
    return None  # pragma: no cover - fail_json exits


class QueryLog:
    """Runs statements on a connection and remembers their SQL text for the `queries` return."""

    def __init__(self, conn, max_text: int = 2000):
        self.conn = conn
        self.queries: list[str] = []
        self.max_text = max_text

    def _remember(self, sql: str) -> None:
        text = sql.strip()
        if len(text) > self.max_text:
            text = text[: self.max_text] + f"... ({len(sql)} characters)"
        self.queries.append(text)

    def execute(self, sql: str, params=None, remember: str | None = None):
        """Executes `sql`; `remember` replaces the logged text (e.g. a file name for a script)."""
        self._remember(remember if remember is not None else sql)
        cur = self.conn.cursor()
        cur.execute(sql, params)
        return cur

    def fetchall(self, sql: str, params=None) -> list[tuple]:
        return self.execute(sql, params).fetchall()

    def fetchone(self, sql: str, params=None):
        return self.execute(sql, params).fetchone()
