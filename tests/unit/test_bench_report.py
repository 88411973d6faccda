"""tests/bench/report.py: the p95 verdict counts the high-degree parameters, and the before/after
tables of docs/benchmarks.md pair the runs of two results.json."""

from __future__ import annotations

from tests.bench import report


def _query(name, p95, high=None):
    ours = {"p50_ms": p95 / 2, "p95_ms": p95, "p99_ms": p95 * 2, "max_ms": p95 * 3}
    if high is not None:
        ours["high_degree"] = {"n": 5, "p95_ms": high, "max_ms": high * 2}
    return {
        "name": name,
        "title": name.replace("_", " "),
        "ours": ours,
        "baseline": dict(ours),
        "ratio_p95": 1,
    }


def _run(clients, audit, tps):
    return {"clients": clients, "audit": audit, "tps": tps, "p50_ms": 1.0, "p95_ms": 2.0, "p99_ms": 3.0}


def test_the_p95_target_holds_for_the_high_degree_parameters_too():
    assert report._p95_verdict(_query("a", 4.0, high=4.9)["ours"]) == "met"
    assert report._p95_verdict(_query("a", 4.0)["ours"]) == "met"
    assert (
        report._p95_verdict(_query("a", 4.0, high=6.5)["ours"]) == "**missed for the high-degree parameters**"
    )
    assert report._p95_verdict(_query("a", 5.1, high=1.0)["ours"]) == "**missed**"


def test_comparison_pairs_queries_and_runs_by_name_and_setting():
    before = {
        "queries": [_query("friend_list", 0.7, high=6.45)],
        "transfers": {
            "runs": [_run(32, False, 1000.0), _run(32, True, 700.0)],
            "audit_overhead_pct": {"32": 30.0},
        },
    }
    after = {
        "queries": [_query("friend_list", 0.5, high=1.2)],
        "transfers": {
            "runs": [_run(32, False, 1500.0), _run(32, True, 1450.0)],
            "audit_overhead_pct": {"32": 3.3},
        },
    }
    text = report.comparison(before, after)
    assert (
        "| friend list | 0.35 / 0.70 / 1.40 | 6.45 / 12.90 | 0.25 / 0.50 / 1.00 | 1.20 / 2.40 | 0.50 | met |"
        in text
    )
    assert "| 32 | on | 700.0 | **1450.0** | 1.00 / 2.00 | 1.00 / 2.00 |" in text
    assert "before 32 clients 30.0%; after 32 clients 3.3% (target at most 10%)" in text
