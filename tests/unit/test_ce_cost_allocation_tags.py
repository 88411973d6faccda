"""giftcrypto.platform.ce_cost_allocation_tags (Cost Explorer's cost allocation tag operations, which
moto lacks, from aws_stand_ins): activation, no-op, check mode, keys AWS does not know yet."""

from __future__ import annotations

from ansible_collections.giftcrypto.platform.plugins.modules import ce_cost_allocation_tags
from moto import mock_aws

from tests.unit import aws_stand_ins, moto_modules

aws_environment, botocore_loader, run_module = moto_modules.module_fixtures(ce_cost_allocation_tags)

KEYS = ["Project", "Environment", "CostCenter"]


@mock_aws
def test_activate_check_mode_noop_and_pending_keys(run_module):
    state, handlers = aws_stand_ins.ce_cost_allocation_tags("Project", "Environment")
    with moto_modules.fake_operations(handlers) as calls:
        result = run_module({"tag_keys": KEYS}, check_mode=True)
        assert result["changed"] is True, result
        assert result["planned"] == "update"
        assert result["changes"] == ["Environment", "Project"]
        assert result["pending"] == ["CostCenter"]
        assert result["unverified"] == ["tag_keys.CostCenter"]
        assert "deprecations" not in result, result["deprecations"]
        assert "CostCenter" in str(result.get("warnings")), result
        assert state == {"Project": "Inactive", "Environment": "Inactive"}
        assert [c[0] for c in calls] == ["ListCostAllocationTags"]

        result = run_module({"tag_keys": KEYS})
        assert result["changed"] is True
        assert state == {"Project": "Active", "Environment": "Active"}
        assert result["cost_allocation_tags"]["statuses"] == {"Environment": "Active", "Project": "Active"}

        assert run_module({"tag_keys": KEYS}, check_mode=True)["changed"] is False
        assert run_module({"tag_keys": KEYS})["changed"] is False

        # Billing has seen CostCenter now: the next run activates it.
        state["CostCenter"] = "Inactive"
        result = run_module({"tag_keys": KEYS})
        assert result["changes"] == ["CostCenter"]
        assert result["pending"] == []

        # Deactivation.
        result = run_module({"tag_keys": ["Project"], "status": "Inactive"})
        assert result["changed"] is True
        assert state["Project"] == "Inactive"


@mock_aws
def test_errors_of_the_update_fail_the_run(run_module):
    _state, handlers = aws_stand_ins.ce_cost_allocation_tags("Project")

    def refuse(params):
        return {"Errors": [{"TagKey": "Project", "Code": "AccessDenied", "Message": "no"}]}

    with moto_modules.fake_operations({**handlers, "UpdateCostAllocationTagsStatus": refuse}):
        result = run_module({"tag_keys": ["Project"]})
    assert result["failed"] is True
    assert "Project: AccessDenied" in result["msg"]


@mock_aws
def test_bad_keys_are_refused_before_any_call(run_module):
    _state, handlers = aws_stand_ins.ce_cost_allocation_tags()
    with moto_modules.fake_operations(handlers) as calls:
        assert "tag_keys" in run_module({"tag_keys": []})["msg"]
        assert "aws:" in run_module({"tag_keys": ["aws:createdBy"]})["msg"]
    assert calls == []
