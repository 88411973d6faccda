"""Fixtures shared by the unit tests: the throwaway PostgreSQL cluster of tests/unit/pg_cluster.py.

Session-scoped, so the cluster starts only when a test asks for one of them.
"""

from tests.unit.pg_cluster import empty_db, migrated_db, pg_cluster

__all__ = ["empty_db", "migrated_db", "pg_cluster"]
