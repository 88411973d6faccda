"""AWS AppConfig feature flag documents (plugins/module_utils/appconfig_flags.py) and preflight's filter
appconfig_flag_problems: AWS's AWS.AppConfig.FeatureFlags schema, the values against the constraints
the document declares, our rollout rule; and the local endpoint's copy of the schema kept equal."""

from __future__ import annotations

import copy
import json
import pathlib

import pytest
from ansible_collections.giftcrypto.platform.plugins.filter.appconfig import appconfig_flag_problems
from ansible_collections.giftcrypto.platform.plugins.module_utils import appconfig_flags

ROOT = pathlib.Path(__file__).resolve().parents[2]
PERCENTAGE = {"constraints": {"type": "number", "required": True, "minimum": 0, "maximum": 100}}
GOOD = {
    "version": "1",
    "flags": {
        "stats_replica_reads": {
            "name": "Stats from the read replica",
            "description": "a description",
            "_deprecation": {"status": "planned"},
            "attributes": {
                "percentage": PERCENTAGE,
                "colour": {"constraints": {"type": "string", "enum": ["red"]}},
            },
        }
    },
    "values": {"stats_replica_reads": {"enabled": True, "percentage": 40, "colour": "red"}},
}


def _with(path: tuple, value) -> dict:
    document = copy.deepcopy(GOOD)
    target = document
    for key in path[:-1]:
        target = target[key]
    if value is None:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return document


def test_a_good_document_has_no_problem():
    assert appconfig_flag_problems(GOOD, ["stats_replica_reads"]) == []
    assert appconfig_flags.problems(json.dumps(GOOD), ["stats_replica_reads"]) == []


@pytest.mark.parametrize(
    ("path", "value", "expected"),
    [
        (("version",), "2", "['version']: '2' is not one of ['1']"),
        (("version",), None, "'version' is a required property"),
        (("flags", "Bad-Key"), {"name": "x"}, "'Bad-Key' does not match any of the regexes"),
        (("flags", "stats_replica_reads", "name"), "x" * 65, "['flags']['stats_replica_reads']['name']"),
        (("values", "stats_replica_reads", "enabled"), None, "'enabled' is a required property"),
        (("values", "stats_replica_reads", "percentage"), 101, "101 is above the maximum 100"),
        (("values", "stats_replica_reads", "percentage"), -1, "-1 is below the minimum 0"),
        (("values", "stats_replica_reads", "percentage"), "40", "'40' is not a number"),
        (
            ("values", "stats_replica_reads", "percentage"),
            None,
            "the required attribute 'percentage' has no value",
        ),
        (("values", "stats_replica_reads", "colour"), "blue", "'blue' is not one of ['red']"),
        (
            ("values", "stats_replica_reads", "shape"),
            "round",
            "flag 'stats_replica_reads' defines no attribute",
        ),
        (("values", "undefined_flag"), {"enabled": True}, "no flag 'undefined_flag' is defined"),
        (("extra",), 1, "Additional properties are not allowed ('extra' was unexpected)"),
    ],
)
def test_what_appconfig_refuses_is_refused_naming_where(path, value, expected):
    found = appconfig_flag_problems(_with(path, value))
    assert any(expected in problem for problem in found), found


@pytest.mark.parametrize(
    ("path", "value", "expected"),
    [
        (
            ("flags", "stats_replica_reads", "attributes", "percentage", "constraints", "maximum"),
            1000,
            "'percentage'",
        ),
        (
            ("flags", "stats_replica_reads", "attributes", "percentage"),
            None,
            "'percentage' must be constrained",
        ),
        (("values", "stats_replica_reads"), None, "the service's flag 'stats_replica_reads' has no value"),
        (("flags", "stats_replica_reads"), None, "the service's flag 'stats_replica_reads' is not defined"),
    ],
)
def test_a_gated_flag_needs_its_percentage_attribute(path, value, expected):
    document = _with(path, value)
    if path == ("flags", "stats_replica_reads"):
        document["values"] = {}
    found = appconfig_flag_problems(document, ["stats_replica_reads"])
    assert any(expected in problem for problem in found), found


def test_not_json_is_refused():
    assert appconfig_flags.problems("{not json")[0].startswith("(the document): not JSON")


def test_comparable_and_evaluated_leave_out_what_appconfig_adds():
    stored = _with(("values", "stats_replica_reads", "_updatedAt"), "2026-12-06T00:00:00Z")
    stored["flags"]["stats_replica_reads"]["_createdAt"] = "2026-12-06T00:00:00Z"
    assert appconfig_flags.comparable(stored) == GOOD
    assert appconfig_flags.evaluated(stored) == {
        "stats_replica_reads": {"enabled": True, "percentage": 40, "colour": "red"}
    }


def test_the_endpoints_copy_of_the_schema_is_the_same():
    copied = (
        ROOT
        / "roles"
        / "local_aws_endpoint"
        / "files"
        / "moto_fidelity"
        / "appconfig_feature_flags.schema.json"
    )
    assert json.loads(copied.read_text()) == appconfig_flags.SCHEMA
