"""ER diagram of the platform's database, read from a live schema: docs/er-diagram.png and .md.

    python tools/er_diagram.py                 a throwaway PostgreSQL 15 with every migration applied
    python tools/er_diagram.py --dsn DSN       an existing database instead, e.g. the local deploy's:
        --dsn "host=127.0.0.1 port=5432 dbname=giftcrypto user=giftcrypto_admin sslmode=verify-full
               sslrootcert=/etc/giftcrypto/pki/ca.crt" (password from PGPASSWORD or ~/.pgpass; the
               secret giftcrypto/local/postgres/master holds them all)
    python tools/er_diagram.py --check         fails if the files in docs/ differ from what it would write

By default the schema is the one roles/db_schema/files/migrations builds: a throwaway cluster of Debian's
postgresql-15 (tests/unit/pg_cluster.py: initdb on a free port of 127.0.0.1, stopped and deleted at
the end) where every NNNN_*.up.sql file runs in order as the migrator role, as the unit tests and
the db_schema role's pg_migrate apply them. Then the catalog is read (pg_class, pg_attribute,
pg_constraint): every table of every non-system schema, its columns with their types, NOT NULL,
primary key and foreign keys. A partitioned table is drawn once (its partitions, made by month
from the day the migrations run, are left out), and so is pg_migrate's bookkeeping table
(public.schema_migrations), so that the throwaway schema and a deployed one give the same picture.

Written: docs/er-diagram.png (Graphviz, rendered by Debian's `dot`) and docs/er-diagram.md
(a Mermaid erDiagram, which GitHub renders). Everything is sorted, so a second run is byte for
byte the same.
"""

from __future__ import annotations

import argparse
import dataclasses
import html
import importlib.util
import pathlib
import re
import shutil
import subprocess
import sys

import psycopg

ROOT = pathlib.Path(__file__).resolve().parents[1]
PNG = ROOT / "docs" / "er-diagram.png"
MARKDOWN = ROOT / "docs" / "er-diagram.md"
# pg_migrate's record of the applied migrations (its migrations_table default): not the domain.
BOOKKEEPING = {("public", "schema_migrations")}

TABLES = """
SELECT n.nspname, c.relname, c.relkind = 'p' AS partitioned,
       coalesce(obj_description(c.oid, 'pg_class'), '') AS comment
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition
  AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_%'
ORDER BY n.nspname, c.relname
"""
COLUMNS = """
SELECT n.nspname, c.relname, a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull, a.attnum
FROM pg_attribute a
JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition AND a.attnum > 0 AND NOT a.attisdropped
  AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_%'
ORDER BY n.nspname, c.relname, a.attnum
"""
# Primary keys, unique constraints and foreign keys, their columns in key order.
CONSTRAINTS = """
SELECT n.nspname, c.relname, k.conname, k.contype,
       array(SELECT a.attname FROM unnest(k.conkey) WITH ORDINALITY u(attnum, i)
             JOIN pg_attribute a ON a.attrelid = k.conrelid AND a.attnum = u.attnum ORDER BY u.i),
       fn.nspname, fc.relname,
       array(SELECT a.attname FROM unnest(k.confkey) WITH ORDINALITY u(attnum, i)
             JOIN pg_attribute a ON a.attrelid = k.confrelid AND a.attnum = u.attnum ORDER BY u.i)
FROM pg_constraint k
JOIN pg_class c ON c.oid = k.conrelid JOIN pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_class fc ON fc.oid = k.confrelid LEFT JOIN pg_namespace fn ON fn.oid = fc.relnamespace
WHERE k.contype IN ('p', 'u', 'f') AND NOT c.relispartition AND k.conparentid = 0
  AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_%'
ORDER BY n.nspname, c.relname, k.contype, k.conname
"""


@dataclasses.dataclass
class Column:
    name: str
    type: str
    not_null: bool
    primary: bool = False
    foreign: bool = False
    unique: bool = False


@dataclasses.dataclass
class Table:
    schema: str
    name: str
    partitioned: bool
    columns: list[Column] = dataclasses.field(default_factory=list)

    @property
    def key(self) -> tuple[str, str]:
        return (self.schema, self.name)

    @property
    def title(self) -> str:
        return self.name if self.schema == "public" else f"{self.schema}.{self.name}"


@dataclasses.dataclass
class ForeignKey:
    table: tuple[str, str]
    name: str
    columns: list[str]
    target: tuple[str, str]
    target_columns: list[str]


def read_schema(conn: psycopg.Connection) -> tuple[dict[tuple[str, str], Table], list[ForeignKey]]:
    tables = {
        (schema, name): Table(schema, name, partitioned)
        for schema, name, partitioned, _comment in conn.execute(TABLES)
        if (schema, name) not in BOOKKEEPING
    }
    for schema, name, column, type_, not_null, _num in conn.execute(COLUMNS):
        if (schema, name) in tables:
            tables[(schema, name)].columns.append(Column(column, type_, not_null))
    foreign_keys: list[ForeignKey] = []
    for schema, name, constraint, kind, columns, fschema, fname, fcolumns in conn.execute(CONSTRAINTS):
        table = tables.get((schema, name))
        if table is None:
            continue
        by_name = {c.name: c for c in table.columns}
        for column in columns:
            if kind == "p":
                by_name[column].primary = True
            elif kind == "f":
                by_name[column].foreign = True
            elif kind == "u" and len(columns) == 1:
                by_name[column].unique = True
        if kind == "f" and (fschema, fname) in tables:
            foreign_keys.append(
                ForeignKey((schema, name), constraint, list(columns), (fschema, fname), list(fcolumns))
            )
    if not tables:
        raise SystemExit("the database holds no table: is it the platform's database, migrated?")
    return tables, sorted(foreign_keys, key=lambda f: (f.table, f.name))


# --- Renderings ---------------------------------------------------------------------------------


def dot_source(tables: dict[tuple[str, str], Table], foreign_keys: list[ForeignKey], origin: str) -> str:
    """Graphviz: one HTML-like table per table (PK, FK, NOT NULL marked), an edge per foreign key."""

    def node(key: tuple[str, str]) -> str:
        return '"' + ".".join(key) + '"'

    lines = [
        "digraph er {",
        '  graph [rankdir=LR, fontname="DejaVu Sans", fontsize=18, labelloc=t, nodesep=0.5, ranksep=1.2,'
        f' label="giftcrypto database schema ({html.escape(origin)})", pad=0.3];',
        '  node [shape=plain, fontname="DejaVu Sans", fontsize=11];',
        '  edge [fontname="DejaVu Sans", fontsize=9, color="#555555", arrowhead=crow, arrowtail=tee,'
        " dir=both];",
    ]
    for key in sorted(tables):
        table = tables[key]
        header = html.escape(table.title) + (" <I>(partitioned)</I>" if table.partitioned else "")
        rows = [
            '<TABLE BORDER="0" CELLBORDER="1" CELLSPACING="0" CELLPADDING="4">',
            f'<TR><TD COLSPAN="3" BGCOLOR="#1F4E79"><FONT COLOR="white"><B>{header}</B></FONT></TD></TR>',
        ]
        for column in table.columns:
            marks = ", ".join(
                m for m, on in (("PK", column.primary), ("FK", column.foreign), ("UQ", column.unique)) if on
            )
            name = html.escape(column.name)
            name = f"<B>{name}</B>" if column.primary else name
            type_ = html.escape(column.type) + ("" if column.not_null else " <I>null</I>")
            port = html.escape(column.name, quote=True)
            rows.append(
                f'<TR><TD ALIGN="LEFT" PORT="{port}">{name}</TD><TD ALIGN="LEFT">{type_}</TD>'
                f'<TD ALIGN="LEFT">{marks}</TD></TR>'
            )
        rows.append("</TABLE>")
        lines.append(f"  {node(key)} [label=<{''.join(rows)}>];")
    for fk in foreign_keys:
        # Drawn from the referenced table to the referencing one (one to many).
        label = html.escape(", ".join(fk.columns), quote=True)
        lines.append(
            f'  {node(fk.target)}:"{fk.target_columns[0]}" -> {node(fk.table)}:"{fk.columns[0]}"'
            f' [label="{label}"];'
        )
    lines.append("}")
    return "\n".join(lines) + "\n"


def _mermaid_type(type_: str) -> str:
    """Mermaid attribute types are single words: timestamp with time zone -> timestamp_with_time_zone."""
    return re.sub(r"[^A-Za-z0-9_\[\]]+", "_", type_).strip("_")


def _mermaid_name(table: Table) -> str:
    return table.name if table.schema == "public" else f"{table.schema}__{table.name}"


def mermaid(tables: dict[tuple[str, str], Table], foreign_keys: list[ForeignKey], origin: str) -> str:
    lines = [
        "# Database schema (ER diagram)",
        "",
        "<!-- Generated by tools/er_diagram.py (nox -s docs): do not edit. -->",
        "",
        f"Read from a live PostgreSQL catalog ({origin}): every table with its columns, primary keys (PK),",
        "foreign keys (FK) and single-column unique constraints (UK); partitioned tables appear once,",
        "without their monthly partitions. The same picture as a PNG: [er-diagram.png](er-diagram.png).",
        "",
        "```mermaid",
        "erDiagram",
    ]
    for fk in foreign_keys:
        child, parent = tables[fk.table], tables[fk.target]
        columns = {c.name: c for c in child.columns}
        required = all(columns[c].not_null for c in fk.columns)
        one_to_one = len(fk.columns) == 1 and columns[fk.columns[0]].unique
        left = "||" if required else "|o"
        right = "o|" if one_to_one else "o{"
        lines.append(
            f'  {_mermaid_name(parent)} {left}--{right} {_mermaid_name(child)} : "{", ".join(fk.columns)}"'
        )
    for key in sorted(tables):
        table = tables[key]
        lines.append(f"  {_mermaid_name(table)} {{")
        for column in table.columns:
            keys = ", ".join(
                k for k, on in (("PK", column.primary), ("FK", column.foreign), ("UK", column.unique)) if on
            )
            note = column.type + ("" if column.not_null else ", null")
            lines.append(
                f'    {_mermaid_type(column.type)} {column.name}{" " + keys if keys else ""} "{note}"'
            )
        lines.append("  }")
    lines += ["```", ""]
    return "\n".join(lines)


# --- Where the schema comes from ----------------------------------------------------------------


def _pg_cluster():
    """tests/unit/pg_cluster.py, the unit tests' throwaway PostgreSQL 15 (loaded by path)."""
    spec = importlib.util.spec_from_file_location(
        "giftcrypto_pg_cluster", ROOT / "tests" / "unit" / "pg_cluster.py"
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def from_migrations() -> tuple[dict, list, str]:
    pg_cluster = _pg_cluster()
    migrations = sorted((ROOT / "roles" / "db_schema" / "files" / "migrations").glob("*.up.sql"))
    with pg_cluster.running_cluster() as cluster, cluster.connect(pg_cluster.TEMPLATE) as conn:
        tables, foreign_keys = read_schema(conn)
    origin = f"db_schema migrations {migrations[0].name[:4]} to {migrations[-1].name[:4]} on PostgreSQL 15"
    return tables, foreign_keys, origin


def from_dsn(dsn: str) -> tuple[dict, list, str]:
    with psycopg.connect(dsn, connect_timeout=10) as conn:
        tables, foreign_keys = read_schema(conn)
        version = conn.info.server_version // 10000
        dbname = conn.info.dbname
        applied = conn.execute(
            "SELECT coalesce(max(version)::text, '') FROM public.schema_migrations"
            if conn.execute(
                "SELECT to_regclass('public.schema_migrations') IS NOT NULL"
                " AND has_table_privilege('public.schema_migrations', 'SELECT')"
            ).fetchone()[0]
            else "SELECT ''"
        ).fetchone()[0]
    origin = f"database {dbname} on PostgreSQL {version}" + (
        f", migrations up to {applied}" if applied else ""
    )
    return tables, foreign_keys, origin


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--dsn", help="read this database (libpq connection string) instead of a throwaway one"
    )
    parser.add_argument(
        "--check", action="store_true", help="change nothing; fail if docs/ is not up to date"
    )
    args = parser.parse_args(argv)
    dot = shutil.which("dot")
    if dot is None:
        print(
            "graphviz's dot is missing: `apt-get install graphviz` (nox -s docs installs it)", file=sys.stderr
        )
        return 1
    tables, foreign_keys, origin = from_dsn(args.dsn) if args.dsn else from_migrations()
    source = dot_source(tables, foreign_keys, origin)
    # A fixed program (graphviz's dot found on PATH) reading the source on its standard input.
    png = subprocess.run([dot, "-Tpng"], input=source.encode(), capture_output=True, check=True).stdout  # noqa: S603
    markdown = mermaid(tables, foreign_keys, origin)
    if args.check:
        stale = [
            str(path.relative_to(ROOT))
            for path, content in ((PNG, png), (MARKDOWN, markdown.encode()))
            if not path.exists() or path.read_bytes() != content
        ]
        if stale:
            print(
                f"stale: {', '.join(stale)}; run `python tools/er_diagram.py` (or `nox -s docs`)",
                file=sys.stderr,
            )
            return 1
        return 0
    PNG.write_bytes(png)
    MARKDOWN.write_text(markdown, encoding="utf-8")
    print(
        f"{PNG.relative_to(ROOT)}, {MARKDOWN.relative_to(ROOT)}: {len(tables)} tables, "
        f"{len(foreign_keys)} foreign keys ({origin})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
