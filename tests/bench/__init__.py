"""The database benchmark of issue 5: `nox -s bench` (see docs/benchmarks.md)."""
