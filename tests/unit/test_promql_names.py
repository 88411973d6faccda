"""tests/monitoring/promql_names.py: the metric names read out of PromQL and Grafana queries."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "monitoring"))
from promql_names import (
    PromQLSyntaxError,
    grafana_variable_expressions,
    metric_names,
    substitute_grafana_variables,
    vector_selectors,
)

CASES = [
    ("up", {"up"}),
    ("up == 0", {"up"}),
    ('pg_up{instance=~"a|b", job!="x"} == 0', {"pg_up"}),
    # functions, ranges, offsets, subqueries, @ modifiers
    ("rate(node_cpu_seconds_total[5m])", {"node_cpu_seconds_total"}),
    ("max_over_time(rate(a_total[1m])[1h:5m] offset 1w)", {"a_total"}),
    ("avg_over_time(x[1h] offset -1d) and y @ end()", {"x", "y"}),
    ("increase(redis_evicted_keys_total[1h30m]) > 0", {"redis_evicted_keys_total"}),
    ("time() - node_boot_time_seconds", {"node_boot_time_seconds"}),
    # aggregations, before and after the grouping clause
    ("sum by (instance, le) (rate(b_bucket[5m]))", {"b_bucket"}),
    ("sum(rate(b_bucket[5m])) by (le)", {"b_bucket"}),
    ("max without (instance, job) (m)", {"m"}),
    ("topk(10, sum by (cmd) (rate(c_total[5m])))", {"c_total"}),
    ('count_values("version", build_info)', {"build_info"}),
    ("quantile(0.9, q)", {"q"}),
    # vector matching: label lists are not metrics
    ("a / on (instance) group_left (mode, device) b", {"a", "b"}),
    ("a * ignoring (code) group_right b", {"a", "b"}),
    ("a > bool 1 unless b or c", {"a", "b", "c"}),
    ("a AND b", {"a", "b"}),
    # recording-rule names (colons), numbers, inf/nan, strings with PromQL-looking text
    ("api:request_errors:ratio_rate5m / 0.001 > Inf", {"api:request_errors:ratio_rate5m"}),
    ("0x1F + 1e3 + .5 + NaN", set()),
    ('label_replace(up, "dst", "$1 rate(x[5m])", "src", "(.*)")', {"up"}),
    ("histogram_quantile(0.95, sum by (le) (rate(h_bucket[5m])))", {"h_bucket"}),
    # selectors by __name__
    ('{__name__="by_name", job="j"}', {"by_name"}),
    ('{__name__=~"re.*"}', set()),
    # a comment
    ("a # b\n+ c", {"a", "c"}),
]


@pytest.mark.parametrize(("expr", "names"), CASES, ids=[c[0] for c in CASES])
def test_metric_names(expr, names):
    assert metric_names(expr) == names


def test_vector_selectors_keep_their_matchers():
    selectors = vector_selectors('sum(rate(http_requests_total{job="api",code=~"5.."}[5m])) / sum(up)')
    assert selectors == [("http_requests_total", 'job = "api" , code =~ "5.."'), ("up", "")]


def test_unknown_character_is_an_error():
    with pytest.raises(PromQLSyntaxError):
        metric_names("rate(x[$__rate_interval])".replace("[", "(").replace("]", ")"))


def test_grafana_variables_substituted():
    expr = 'rate(x{instance=~"$instance", db="${db:regex}", h="[[host]]"}[$__rate_interval]) * $__range_s'
    assert substitute_grafana_variables(expr) == (
        'rate(x{instance=~"placeholder", db="placeholder", h="placeholder"}[5m]) * 3600'
    )
    assert metric_names(substitute_grafana_variables(expr)) == {"x"}


@pytest.mark.parametrize(
    ("query", "expressions"),
    [
        ("label_values(pg_up, instance)", ["pg_up"]),
        (
            'label_values(pg_stat_database_numbackends{instance=~"$instance"}, datname)',
            ['pg_stat_database_numbackends{instance=~"$instance"}'],
        ),
        ("label_values(instance)", []),
        ("query_result(topk(5, up))", ["topk(5, up)"]),
        ("label_names()", []),
    ],
)
def test_grafana_variable_expressions(query, expressions):
    assert grafana_variable_expressions(query) == expressions
