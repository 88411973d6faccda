"""ER diagram of the platform's database, drawn by eralchemy from a live, migrated schema.

    python tools/er_diagram.py                 a throwaway PostgreSQL 15 with every migration applied
    python tools/er_diagram.py --url URL       an existing database instead (a SQLAlchemy URL), e.g.
        postgresql+psycopg://giftcrypto_admin@127.0.0.1:5432/giftcrypto?sslmode=verify-full&sslrootcert=/etc/giftcrypto/pki/ca.crt
        (password from PGPASSWORD or ~/.pgpass; the secret giftcrypto/local/postgres/master holds them all)

The drawing is eralchemy's (https://pypi.org/project/eralchemy/: SQLAlchemy's reflection of the
database, rendered by graphviz): docs/er-diagram.png, and docs/er-diagram.er, the same tables and
relations in eralchemy's text format, so that a review sees a schema change as a text diff.
Partitions (``<table>_yYYYYmMM``, made by month from the day the migrations run) and pg_migrate's
bookkeeping table ``schema_migrations`` are left out, so that a throwaway schema and a deployed one
give the same picture.

Why a script is left: eralchemy reads a database URL, and the database it should read is the schema
roles/db_schema/files/migrations builds, which no tool starts. This file starts that database, the unit tests'
throwaway cluster (tests/unit/pg_cluster.py: Debian's postgresql-15, initdb on a free port of
127.0.0.1, every NNNN_*.up.sql applied as the migrator role, stopped and deleted at the end), hands
its URL to eralchemy's command line, and sorts eralchemy's text (canonical(): eralchemy's own order
changes from run to run) before eralchemy draws the PNG from it.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile

ROOT = pathlib.Path(__file__).resolve().parents[1]
OUTPUTS = (ROOT / "docs" / "er-diagram.png", ROOT / "docs" / "er-diagram.er")
# Regular expressions eralchemy matches whole table names against (its --exclude-tables).
EXCLUDE_TABLES = ("schema_migrations", ".*_y[0-9]{4}m[0-9]{2}")
TITLE = "giftcrypto database schema (roles/db_schema/files/migrations)"


def _pg_cluster():
    """tests/unit/pg_cluster.py, the unit tests' throwaway PostgreSQL 15 (loaded by path)."""
    spec = importlib.util.spec_from_file_location(
        "giftcrypto_pg_cluster", ROOT / "tests" / "unit" / "pg_cluster.py"
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def _eralchemy(*args: str, env: dict[str, str] | None = None) -> None:
    """eralchemy's command line, from the environment of this Python."""
    program = pathlib.Path(sys.executable).parent / "eralchemy"
    command = str(program) if program.exists() else shutil.which("eralchemy")
    if command is None:
        raise SystemExit("eralchemy not found: `nox -s docs` installs it (the docs dependency group)")
    subprocess.run([command, *args], check=True, env=env)  # noqa: S603 (our fixed arguments)


def canonical(er_text: str) -> str:
    """eralchemy's ER text with its tables and its relations sorted.

    eralchemy lists them in the order SQLAlchemy's reflection gives, and a table's foreign keys are a
    set there: two runs on the same schema order them differently. Sorted, a rerun is byte for byte
    the same, and so is the PNG drawn from it.
    """
    head: list[str] = []
    tables: dict[str, list[str]] = {}
    relations: list[str] = []
    current: list[str] | None = None
    for line in er_text.splitlines():
        if not line.strip():
            continue
        if line.startswith("["):
            current = tables.setdefault(line, [])
        elif line.startswith((" ", "\t")) and current is not None:
            current.append(line)
        elif "--" in line:
            relations.append(line)
            current = None
        else:
            head.append(line)
            current = None
    blocks = [head, *([name, *columns] for name, columns in sorted(tables.items())), sorted(relations)]
    return "\n".join(line for block in blocks for line in block) + "\n"


def draw(url: str, env: dict[str, str] | None = None) -> None:
    """The schema at url, read by eralchemy: its ER text sorted (canonical), then drawn from that text."""
    er, png = OUTPUTS[1], OUTPUTS[0]
    with tempfile.TemporaryDirectory(prefix="giftcrypto-er-") as scratch:
        read = pathlib.Path(scratch) / "schema.er"
        _eralchemy("-i", url, "-o", str(read), "--exclude-tables", *EXCLUDE_TABLES, env=env)
        if not read.is_file():
            raise SystemExit(f"eralchemy wrote nothing from the database (its message is above): {read}")
        er.write_text(canonical(read.read_text(encoding="utf-8")), encoding="utf-8")
    # eralchemy exits 0 when it cannot draw (it prints why): a PNG missing afterwards is the failure.
    png.unlink(missing_ok=True)
    _eralchemy("-i", str(er), "-o", str(png), "--title", TITLE)
    if not png.is_file():
        raise SystemExit(
            f"eralchemy did not draw {png.relative_to(ROOT)} from {er.relative_to(ROOT)} (see above)"
        )
    print(f"{png.relative_to(ROOT)}, {er.relative_to(ROOT)} written by eralchemy")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", help="read this database (SQLAlchemy URL) instead of a throwaway one")
    args = parser.parse_args(argv)
    if shutil.which("dot") is None:
        raise SystemExit("graphviz's dot is missing: `apt-get install graphviz` (nox -s docs installs it)")
    if args.url:
        draw(args.url)
        return 0
    pg_cluster = _pg_cluster()
    with pg_cluster.running_cluster() as cluster:
        user = pg_cluster.SUPERUSER
        # The password goes by libpq's PGPASSWORD, not in the URL (a command line anyone can list).
        env = {**os.environ, "PGPASSWORD": cluster.passwords[user]}
        draw(f"postgresql+psycopg://{user}@{cluster.host}:{cluster.port}/{pg_cluster.TEMPLATE}", env)
    return 0


if __name__ == "__main__":
    sys.exit(main())
