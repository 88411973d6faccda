"""giftcrypto.platform.budgets_budget against moto (UpdateBudget and DescribeSubscribersForNotification,
which moto lacks, from aws_stand_ins): create, no-op, update, check mode, delete, refusals."""

from __future__ import annotations

import boto3
from ansible_collections.giftcrypto.platform.plugins.modules import budgets_budget
from moto import mock_aws

from tests.unit import aws_stand_ins, moto_modules
from tests.unit.moto_modules import ACCOUNT_ID

aws_environment, botocore_loader, run_module = moto_modules.module_fixtures(budgets_budget)

TOPIC = f"arn:aws:sns:us-east-1:{ACCOUNT_ID}:giftcrypto-test-warning"
PRESENT = {
    "name": "giftcrypto-test-monthly",
    "limit_amount": 1500,
    "cost_filters": {"TagKeyValue": ["user:Environment$test"]},
    "notifications": [
        {"threshold": 80, "sns_topic_arns": [TOPIC]},
        {"threshold": 100, "sns_topic_arns": [TOPIC]},
        {"threshold": 100, "notification_type": "FORECASTED", "sns_topic_arns": [TOPIC]},
    ],
}


def _budgets() -> dict:
    client = boto3.client("budgets", region_name="us-east-1")
    return {b["BudgetName"]: b for b in client.describe_budgets(AccountId=ACCOUNT_ID).get("Budgets", [])}


def _notifications(name: str) -> list[dict]:
    client = boto3.client("budgets", region_name="us-east-1")
    return client.describe_notifications_for_budget(AccountId=ACCOUNT_ID, BudgetName=name)["Notifications"]


@mock_aws
def test_lifecycle_check_create_noop_update_delete(run_module):
    _state, handlers = aws_stand_ins.budgets_updates_and_subscribers()
    with moto_modules.fake_operations(handlers):
        # Check mode on nothing: a creation is planned, nothing is created.
        result = run_module(PRESENT, check_mode=True)
        assert result["changed"] is True, result
        assert result["planned"] == "create"
        assert result["diff"]["before"] == {}
        after = result["diff"]["after"]
        assert after["limit_amount"] == "1500"
        assert after["time_unit"] == "MONTHLY"
        assert [(n["notification_type"], n["threshold"]) for n in after["notifications"]] == [
            ("ACTUAL", "100"),
            ("ACTUAL", "80"),
            ("FORECASTED", "100"),
        ]
        assert _budgets() == {}

        # Create.
        result = run_module(PRESENT)
        assert result["changed"] is True, result
        assert result["budget_name"] == "giftcrypto-test-monthly"
        created = _budgets()["giftcrypto-test-monthly"]
        assert created["BudgetType"] == "COST"
        assert float(created["BudgetLimit"]["Amount"]) == 1500
        assert created["CostFilters"] == {"TagKeyValue": ["user:Environment$test"]}
        assert len(_notifications("giftcrypto-test-monthly")) == 3
        assert result["budget"]["notifications"][0]["subscribers"] == [{"type": "SNS", "address": TOPIC}]

        # The account given instead of asked of STS: the same budget.
        assert run_module({**PRESENT, "account_id": ACCOUNT_ID})["changed"] is False

        # No-op, in check mode and for real.
        assert run_module(PRESENT, check_mode=True)["changed"] is False
        result = run_module(PRESENT)
        assert result["changed"] is False, result
        assert result["diff"]["before"] == result["diff"]["after"]

        # A new limit and one notification less, in check mode then applied.
        update = {**PRESENT, "limit_amount": 2000.0, "notifications": PRESENT["notifications"][:2]}
        result = run_module(update, check_mode=True)
        assert result["changed"] is True
        assert result["changes"] == ["limit_amount", "notifications"]
        assert float(_budgets()["giftcrypto-test-monthly"]["BudgetLimit"]["Amount"]) == 1500
        result = run_module(update)
        assert result["changed"] is True, result
        assert float(_budgets()["giftcrypto-test-monthly"]["BudgetLimit"]["Amount"]) == 2000
        assert _budgets()["giftcrypto-test-monthly"]["CostFilters"] == {
            "TagKeyValue": ["user:Environment$test"]
        }
        assert len(_notifications("giftcrypto-test-monthly")) == 2
        assert run_module(update)["changed"] is False

        # Another subscriber on a notification: deleted and created again with it.
        mail = {
            **update,
            "notifications": [{**update["notifications"][0], "email_addresses": ["team@example.com"]}],
        }
        result = run_module(mail)
        assert result["changes"] == ["notifications"]
        (notification,) = result["budget"]["notifications"]
        assert notification["subscribers"] == [
            {"type": "EMAIL", "address": "team@example.com"},
            {"type": "SNS", "address": TOPIC},
        ]
        assert run_module(mail)["changed"] is False

        # Absent: planned in check mode, then deleted, then nothing to do.
        absent = {"name": PRESENT["name"], "state": "absent"}
        assert run_module(absent, check_mode=True)["changed"] is True
        assert "giftcrypto-test-monthly" in _budgets()
        result = run_module(absent)
        assert result["changed"] is True
        assert _budgets() == {}
        assert run_module(absent)["changed"] is False


@mock_aws
def test_bad_input_is_refused_by_option_before_any_call(run_module):
    result = run_module({**PRESENT, "limit_amount": 0})
    assert result["failed"] is True
    assert "limit_amount: 0" in result["msg"]
    result = run_module({**PRESENT, "name": "a:b"})
    assert "name:" in result["msg"]
    result = run_module({**PRESENT, "notifications": [{"threshold": 80}]})
    assert "notifications[0]: 0 subscribers" in result["msg"]
    result = run_module({**PRESENT, "notifications": [{"threshold": 80, "sns_topic_arns": ["warning"]}]})
    assert "notifications[0].sns_topic_arns" in result["msg"]
    result = run_module({**PRESENT, "notifications": [PRESENT["notifications"][0]] * 2})
    assert "same type" in result["msg"]
    result = run_module(
        {**PRESENT, "notifications": [{"threshold": 80 + i, "sns_topic_arns": [TOPIC]} for i in range(6)]}
    )
    assert "at most 5" in result["msg"]
    result = run_module({**PRESENT, "cost_filters": {"TagKeyValue": "user:Environment$test"}})
    assert "cost_filters.TagKeyValue" in result["msg"]
    result = run_module({**PRESENT, "account_id": "12345"})
    assert "account_id: '12345'" in result["msg"]
    result = run_module({"name": "x"})
    assert result["failed"] is True
    assert "limit_amount" in result["msg"]
    assert _budgets() == {}


def test_numbers_have_one_spelling():
    assert budgets_budget.number("1500.0") == "1500"
    assert budgets_budget.number(80) == "80"
    assert budgets_budget.number(12.5) == "12.5"
    assert budgets_budget.number("1E+3") == "1000"
