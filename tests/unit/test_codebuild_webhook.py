"""giftcrypto.platform.codebuild_webhook: check mode, create, no-op, update, delete, refusals.

moto 5.2 has no CodeBuild webhooks: the project and its webhook are answered by the in-memory
stand-in of ``aws_stand_ins.codebuild_webhooks`` through ``moto_modules.fake_operations`` (request
shapes still validated against botocore's model), following the CodeBuild API reference
(BatchGetProjects' ``webhook``, CreateWebhook, UpdateWebhook, DeleteWebhook).
"""

from __future__ import annotations

import botocore.session
import pytest
from ansible_collections.giftcrypto.platform.plugins.modules import codebuild_webhook
from moto import mock_aws

from tests.unit import aws_stand_ins, moto_modules

aws_environment, botocore_loader, run_module = moto_modules.module_fixtures(codebuild_webhook)

PROJECT = "giftcrypto-staging-ci-runner"
RUNNER = [[{"type": "EVENT", "pattern": "WORKFLOW_JOB_QUEUED", "excludeMatchedPattern": False}]]


@pytest.fixture
def codebuild():
    projects, handlers = aws_stand_ins.codebuild_webhooks(PROJECT)
    with mock_aws(), moto_modules.fake_operations(handlers) as calls:
        yield {"projects": projects, "calls": calls}


def _writes(calls):
    return [name for name, _ in calls if name != "BatchGetProjects"]


def test_lifecycle_check_create_noop_update_delete(run_module, codebuild):
    result = run_module({"project_name": PROJECT}, check_mode=True)
    assert result["planned"] == "create" and result["changed"] is True, result
    assert result["changes"] == ["build_type", "filter_groups", "url"]
    assert result["unverified"] == []
    assert _writes(codebuild["calls"]) == []

    result = run_module({"project_name": PROJECT})
    assert result["planned"] == "create" and result["changed"] is True, result
    assert codebuild["projects"][PROJECT]["webhook"]["filterGroups"] == RUNNER
    assert result["webhook"]["filter_groups"] == [
        [{"type": "EVENT", "pattern": "WORKFLOW_JOB_QUEUED", "exclude_matched_pattern": False}]
    ]
    assert result["webhook"]["url"].startswith("https://api.github.com/")

    codebuild["calls"].clear()
    for check in (True, False):
        result = run_module({"project_name": PROJECT}, check_mode=check)
        assert result["changed"] is False and result["planned"] == "none", result
    assert _writes(codebuild["calls"]) == []

    only_main = [
        [
            {"type": "EVENT", "pattern": "WORKFLOW_JOB_QUEUED"},
            {"type": "REPOSITORY_NAME", "pattern": "giftcrypto.platform"},
        ]
    ]
    result = run_module({"project_name": PROJECT, "filter_groups": only_main})
    assert result["planned"] == "update" and result["changes"] == ["filter_groups"], result
    assert _writes(codebuild["calls"]) == ["UpdateWebhook"]
    assert result["diff"]["before"]["filter_groups"][0][0]["pattern"] == "WORKFLOW_JOB_QUEUED"
    assert len(result["diff"]["after"]["filter_groups"][0]) == 2

    result = run_module({"project_name": PROJECT, "filter_groups": only_main, "build_type": "BUILD_BATCH"})
    assert result["changes"] == ["build_type"], result
    assert codebuild["projects"][PROJECT]["webhook"]["buildType"] == "BUILD_BATCH"

    absent = {"project_name": PROJECT, "state": "absent"}
    assert run_module(absent, check_mode=True)["planned"] == "delete"
    assert "webhook" in codebuild["projects"][PROJECT]
    result = run_module(absent)
    assert result["planned"] == "delete" and result["webhook"] == {}, result
    assert "webhook" not in codebuild["projects"][PROJECT]
    assert run_module(absent)["changed"] is False


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ({"filter_groups": []}, "filter_groups: a non-empty list"),
        ({"filter_groups": [[{"type": "EVENTS", "pattern": "PUSH"}]]}, "is not one of"),
        ({"filter_groups": [[{"type": "EVENT"}]]}, "needs a pattern"),
        ({"filter_groups": [[{"type": "EVENT", "pattern": "PUSH", "other": 1}]]}, "is not a filter"),
        ({"project_name": "-runner"}, "project_name: a letter or digit"),
    ],
)
def test_bad_options_are_refused_before_any_call(run_module, codebuild, args, message):
    result = run_module({"project_name": PROJECT, **args})
    assert result["failed"] is True and message in result["msg"], result
    assert result["msg"].startswith("Refused before any change: ")
    assert codebuild["calls"] == []


def test_a_missing_project_is_named(run_module, codebuild):
    planned = run_module({"project_name": "nope"}, check_mode=True)
    assert planned["planned"] == "create", planned
    assert planned["unverified"] == [
        "project_name: the project nope does not exist (yet): community.aws.codebuild_project creates it"
    ]
    result = run_module({"project_name": "nope"})
    assert result["failed"] is True, result
    assert result["msg"] == (
        "Create the webhook of the CodeBuild project nope: no such project: "
        "create it first (community.aws.codebuild_project)"
    )
    assert _writes(codebuild["calls"]) == []
    # Without a project there is no webhook either: nothing to delete.
    assert run_module({"project_name": "nope", "state": "absent"})["planned"] == "none"


def test_filter_and_build_types_are_the_apis():
    model = botocore.session.get_session().get_service_model("codebuild")
    assert set(codebuild_webhook.FILTER_TYPES) == set(model.shape_for("WebhookFilterType").enum)
    assert set(codebuild_webhook.BUILD_TYPES) == set(model.shape_for("WebhookBuildType").enum)
