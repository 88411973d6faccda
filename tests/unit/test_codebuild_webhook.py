"""giftcrypto.platform.codebuild_webhook: check mode, create, no-op, update, delete, refusals.

moto 5.2 has no CodeBuild webhooks: the project and its webhook are answered by a small in-memory
backend through ``moto_modules.fake_operations`` (request shapes still validated against
botocore's model), following the CodeBuild API reference (BatchGetProjects' ``webhook``,
CreateWebhook, UpdateWebhook, DeleteWebhook).
"""

from __future__ import annotations

import pytest
from ansible_collections.giftcrypto.platform.plugins.modules import codebuild_webhook
from moto import mock_aws

from tests.unit import moto_modules

aws_environment, botocore_loader, run_module = moto_modules.module_fixtures(codebuild_webhook)

PROJECT = "giftcrypto-staging-ci-runner"
RUNNER = [[{"type": "EVENT", "pattern": "WORKFLOW_JOB_QUEUED", "excludeMatchedPattern": False}]]


@pytest.fixture
def codebuild():
    projects = {PROJECT: {"name": PROJECT}}

    def batch_get(params):
        return {
            "projects": [projects[n] for n in params["names"] if n in projects],
            "projectsNotFound": [n for n in params["names"] if n not in projects],
        }

    def create(params):
        projects[params["projectName"]]["webhook"] = {
            "url": "https://api.github.com/repos/giftcrypto/giftcrypto.platform/hooks/1",
            "filterGroups": params["filterGroups"],
            "buildType": params.get("buildType", "BUILD"),
        }
        return {"webhook": projects[params["projectName"]]["webhook"]}

    def update(params):
        webhook = projects[params["projectName"]]["webhook"]
        webhook.update(filterGroups=params["filterGroups"], buildType=params.get("buildType", "BUILD"))
        return {"webhook": webhook}

    def delete(params):
        projects[params["projectName"]].pop("webhook")
        return {}

    handlers = {
        "BatchGetProjects": batch_get,
        "CreateWebhook": create,
        "UpdateWebhook": update,
        "DeleteWebhook": delete,
    }
    with mock_aws(), moto_modules.fake_operations(handlers) as calls:
        yield {"projects": projects, "calls": calls}


def _writes(calls):
    return [name for name, _ in calls if name != "BatchGetProjects"]


def test_lifecycle_check_create_noop_update_delete(run_module, codebuild):
    result = run_module({"project_name": PROJECT}, check_mode=True)
    assert result["changed"] is True and result["changes"] == ["create the webhook"], result
    assert _writes(codebuild["calls"]) == []

    result = run_module({"project_name": PROJECT})
    assert result["changed"] is True, result
    assert codebuild["projects"][PROJECT]["webhook"]["filterGroups"] == RUNNER
    assert result["webhook"]["filter_groups"] == [
        [{"type": "EVENT", "pattern": "WORKFLOW_JOB_QUEUED", "exclude_matched_pattern": False}]
    ]

    codebuild["calls"].clear()
    for check in (True, False):
        assert run_module({"project_name": PROJECT}, check_mode=check)["changed"] is False
    assert _writes(codebuild["calls"]) == []

    only_main = [
        [
            {"type": "EVENT", "pattern": "WORKFLOW_JOB_QUEUED"},
            {"type": "REPOSITORY_NAME", "pattern": "giftcrypto.platform"},
        ]
    ]
    result = run_module({"project_name": PROJECT, "filter_groups": only_main})
    assert result["changes"] == ["update the webhook's filter groups and build type"]
    assert _writes(codebuild["calls"]) == ["UpdateWebhook"]
    assert result["diff"]["before"]["filter_groups"][0][0]["pattern"] == "WORKFLOW_JOB_QUEUED"
    assert len(result["diff"]["after"]["filter_groups"][0]) == 2

    absent = {"project_name": PROJECT, "state": "absent"}
    assert run_module(absent, check_mode=True)["changed"] is True
    assert "webhook" in codebuild["projects"][PROJECT]
    assert run_module(absent)["changed"] is True
    assert "webhook" not in codebuild["projects"][PROJECT]
    assert run_module(absent)["changed"] is False


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ({"filter_groups": []}, "non-empty list"),
        ({"filter_groups": [[{"type": "EVENTS", "pattern": "PUSH"}]]}, "is not one of"),
        ({"filter_groups": [[{"type": "EVENT"}]]}, "needs a pattern"),
        ({"filter_groups": [[{"type": "EVENT", "pattern": "PUSH", "other": 1}]]}, "is not a filter"),
    ],
)
def test_bad_filter_groups_are_refused_before_any_call(run_module, codebuild, args, message):
    result = run_module({"project_name": PROJECT, **args})
    assert result["failed"] is True and message in result["msg"], result
    assert codebuild["calls"] == []


def test_a_missing_project_is_named(run_module, codebuild):
    result = run_module({"project_name": "nope"})
    assert result["failed"] is True and "project_name=nope: no such CodeBuild project" in result["msg"]
