"""Metric names named by PromQL expressions: Grafana dashboards and Prometheus rule files.

The Debian promtool (2.42) has no `promql` subcommand that prints a parse tree, so this module
tokenizes PromQL itself (the lexer's rules, not a regular expression over the whole text) and
takes as metric names the identifiers that can only be vector selectors: not a function or
aggregation (followed by `(`, or an aggregation followed by `by`/`without`), not a keyword
(`and`, `or`, `unless`, `by`, `without`, `on`, `ignoring`, `group_left`, `group_right`,
`offset`, `bool`, `atan2`, `inf`, `nan`), not a label name in a grouping list (`by (...)`,
`on (...)`, `group_left (...)`...) nor in a label matcher (`{...}`). A matcher
`{__name__="x"}` names `x`. Whether an expression parses is promtool's business
(`promtool check rules`, see tests/unit/test_dashboards.py); this module only reads names.

Grafana's variables (`$__rate_interval`, `${instance}`, `[[var]]`...) are not PromQL:
`substitute_grafana_variables` replaces them by valid placeholders first, and
`grafana_variable_expressions` reads the PromQL out of a variable's query
(`label_values(metric{...}, label)`, `query_result(expr)`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from pathlib import Path

import yaml

KEYWORDS = frozenset(
    {
        "and",
        "or",
        "unless",
        "by",
        "without",
        "on",
        "ignoring",
        "group_left",
        "group_right",
        "offset",
        "bool",
        "atan2",
        "inf",
        "nan",
    }
)
AGGREGATIONS = frozenset(
    {
        "sum",
        "avg",
        "count",
        "min",
        "max",
        "group",
        "stddev",
        "stdvar",
        "topk",
        "bottomk",
        "quantile",
        "count_values",
        "limitk",
        "limit_ratio",
    }
)
# Keywords followed by a parenthesised list of label names (not expressions).
LABEL_LIST_KEYWORDS = frozenset({"by", "without", "on", "ignoring", "group_left", "group_right"})

_TOKEN = re.compile(
    r"""
    (?P<space>\s+)
  | (?P<comment>\#[^\n]*)
  | (?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`)
  | (?P<duration>(?:\d+(?:ms|[smhdwy]))+(?!\w))
  | (?P<number>0[xX][0-9a-fA-F]+|(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)
  | (?P<identifier>[A-Za-z_:][A-Za-z0-9_:]*)
  | (?P<operator>==|!=|=~|!~|>=|<=|[-+*/%^<>=(){}\[\],@:])
    """,
    re.VERBOSE,
)


class PromQLSyntaxError(ValueError):
    """The text holds a character PromQL's lexer does not accept (e.g. a Grafana variable)."""


def tokens(expr: str) -> list[tuple[str, str]]:
    """(kind, text) of every token of expr, spaces and comments left out."""
    result, position = [], 0
    while position < len(expr):
        if expr[position] == "[":
            # A range or subquery ([5m], [1h:1m]): durations only, taken whole so that ":1m"
            # is not read as an identifier (metric names may start with a colon).
            end = expr.find("]", position)
            if end < 0:
                raise PromQLSyntaxError(f"unclosed [ at offset {position} of {expr!r}")
            result.append(("range", expr[position : end + 1]))
            position = end + 1
            continue
        match = _TOKEN.match(expr, position)
        if match is None:
            raise PromQLSyntaxError(f"unexpected {expr[position]!r} at offset {position} of {expr!r}")
        kind = match.lastgroup or ""
        if kind not in ("space", "comment"):
            result.append((kind, match.group()))
        position = match.end()
    return result


def _unquote(text: str) -> str:
    if text.startswith("`"):
        return text[1:-1]
    return bytes(text[1:-1], "utf-8").decode("unicode_escape")


def vector_selectors(expr: str) -> list[tuple[str, str]]:
    """(metric name, text of its label matchers or "") of every vector selector of expr.

    Selectors without a literal name (`{__name__=~"x.*"}`) are left out.
    """
    toks = tokens(expr)
    selectors: list[tuple[str, str]] = []
    i = 0
    while i < len(toks):
        kind, text = toks[i]
        following = toks[i + 1][1] if i + 1 < len(toks) else None
        if text == "{":
            # A selector without a name before it: {__name__="x", ...}.
            j = i + 1
            while j < len(toks) and toks[j][1] != "}":
                j += 1
            inner = toks[i + 1 : j]
            for k in range(len(inner) - 2):
                if inner[k][1] == "__name__" and inner[k + 1][1] == "=" and inner[k + 2][0] == "string":
                    selectors.append((_unquote(inner[k + 2][1]), " ".join(t for _, t in inner)))
            i = j + 1
            continue
        if kind == "identifier":
            lowered = text.lower()
            if lowered in LABEL_LIST_KEYWORDS and following == "(":
                j = i + 2
                while j < len(toks) and toks[j][1] != ")":
                    j += 1
                i = j + 1
                continue
            is_keyword = lowered in KEYWORDS
            is_call = following == "(" or (
                text in AGGREGATIONS and following is not None and following.lower() in ("by", "without")
            )
            if not is_keyword and not is_call:
                matchers = ""
                if following == "{":
                    j = i + 2
                    while j < len(toks) and toks[j][1] != "}":
                        j += 1
                    matchers = " ".join(t for _, t in toks[i + 2 : j])
                    selectors.append((text, matchers))
                    i = j + 1
                    continue
                selectors.append((text, matchers))
        i += 1
    return selectors


def metric_names(expr: str) -> set[str]:
    """The metric names (recording-rule names included) that expr selects."""
    return {name for name, _ in vector_selectors(expr)}


# ----- Grafana

_GRAFANA_DURATIONS = {
    "__rate_interval": "5m",
    "__interval": "1m",
    "__range": "1h",
    "__rate_interval_ms": "300000",
    "__interval_ms": "60000",
    "__range_ms": "3600000",
    "__range_s": "3600",
}
_GRAFANA_VARIABLE = re.compile(r"\$\{(\w+)(?::[^}]*)?\}|\[\[(\w+)(?::[^\]]*)?\]\]|\$([A-Za-z_]\w*)")


def substitute_grafana_variables(expr: str) -> str:
    """expr with Grafana's variables replaced: time ones by durations, the others by `placeholder`.

    Dashboard variables only ever stand in label matcher values (`instance=~"$instance"`), where
    any word is valid PromQL.
    """

    def replace(match: re.Match[str]) -> str:
        name = next(group for group in match.groups() if group)
        return _GRAFANA_DURATIONS.get(name, "placeholder")

    return _GRAFANA_VARIABLE.sub(replace, expr)


_LABEL_VALUES = re.compile(r"^\s*label_values\((?P<args>.*)\)\s*$", re.DOTALL)
_QUERY_RESULT = re.compile(r"^\s*query_result\((?P<expr>.*)\)\s*$", re.DOTALL)


def grafana_variable_expressions(query: str) -> list[str]:
    """The PromQL in a Grafana Prometheus variable query (empty for label_values(label))."""
    match = _QUERY_RESULT.match(query)
    if match:
        return [match.group("expr")]
    match = _LABEL_VALUES.match(query)
    if match:
        args = match.group("args")
        # label_values(selector, label): the label is the text after the last comma outside {}.
        depth, split = 0, None
        for position, char in enumerate(args):
            if char in "{(":
                depth += 1
            elif char in "})":
                depth -= 1
            elif char == "," and depth == 0:
                split = position
        return [args[:split]] if split is not None else []
    # label_names(), metrics(regex): no metric to check.
    return []


def dashboard_panels(dashboard: dict) -> Iterator[dict]:
    """Every panel of a dashboard, the panels of collapsed rows included (rows themselves too)."""
    for panel in dashboard.get("panels", []):
        yield panel
        yield from panel.get("panels", [])


def variable_query(variable: dict) -> str:
    """The query text of a Grafana query variable (string or the query editor's object)."""
    query = variable.get("query", "")
    if isinstance(query, dict):
        query = query.get("query", "")
    return query or variable.get("definition", "")


def dashboard_expressions(dashboard: dict) -> list[tuple[str, str]]:
    """(where, PromQL with Grafana variables substituted) of every query of a dashboard."""
    found = []
    for variable in dashboard.get("templating", {}).get("list", []):
        if variable.get("type") == "query":
            for expr in grafana_variable_expressions(variable_query(variable)):
                found.append((f"variable {variable['name']}", substitute_grafana_variables(expr)))
    for panel in dashboard_panels(dashboard):
        for target in panel.get("targets", []):
            if target.get("expr"):
                where = f"panel {panel.get('id')} {panel.get('title')!r} target {target.get('refId')}"
                found.append((where, substitute_grafana_variables(target["expr"])))
    return found


# ----- Prometheus rule files


def rule_expressions(paths: Iterable[Path]) -> list[tuple[str, str]]:
    """(where, expr) of every rule of the rule files."""
    found = []
    for path in paths:
        for group in yaml.safe_load(path.read_text(encoding="utf-8"))["groups"]:
            for rule in group["rules"]:
                name = rule.get("record") or rule.get("alert")
                found.append((f"{path.name} {group['name']} {name}", rule["expr"]))
    return found


def recorded_names(paths: Iterable[Path]) -> set[str]:
    """The metric names that recording rules of the rule files define."""
    names = set()
    for path in paths:
        for group in yaml.safe_load(path.read_text(encoding="utf-8"))["groups"]:
            names.update(rule["record"] for rule in group["rules"] if "record" in rule)
    return names
