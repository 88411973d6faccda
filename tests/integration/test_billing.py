"""Billing alerts of the deployed local platform (issue 24, item 5): the environment's monthly cost
budget alerts the warning topic at 80 % and 100 % of the actual cost (and 100 % of the forecast), and
the platform's tag keys are active cost allocation tags. Reads only: a few calls to the endpoint."""

from __future__ import annotations

import json

import pytest

pytestmark = pytest.mark.integration

# AWS Budgets and Cost Explorer are global APIs, served from us-east-1 (aws_observability_billing_region).
BILLING_REGION = "us-east-1"


@pytest.fixture(scope="module")
def prefix(local_vars) -> str:
    return f"{local_vars['platform_name']}-{local_vars['platform_environment']}"


@pytest.fixture(scope="module")
def account(aws) -> str:
    return aws("sts").get_caller_identity()["Account"]


def test_the_monthly_budget_alerts_the_warning_topic_at_80_and_100_percent(aws, local_vars, prefix, account):
    budgets = aws("budgets", BILLING_REGION)
    budget = budgets.describe_budget(AccountId=account, BudgetName=f"{prefix}-monthly")["Budget"]
    assert budget["BudgetType"] == "COST"
    assert budget["TimeUnit"] == "MONTHLY"
    assert float(budget["BudgetLimit"]["Amount"]) == float(
        local_vars["aws_observability_budget"]["limit_usd"]
    )
    assert budget["CostFilters"] == {
        "TagKeyValue": [f"user:Environment${local_vars['platform_tags']['Environment']}"]
    }
    notifications = budgets.describe_notifications_for_budget(
        AccountId=account, BudgetName=f"{prefix}-monthly"
    )
    actual = sorted(
        n["Threshold"]
        for n in notifications["Notifications"]
        if n["NotificationType"] == "ACTUAL" and n["ThresholdType"] == "PERCENTAGE"
    )
    assert actual == [80.0, 100.0]
    warning = f"arn:aws:sns:{local_vars['aws_region']}:{account}:{prefix}-warning"
    for notification in notifications["Notifications"]:
        assert notification["ComparisonOperator"] == "GREATER_THAN"
        subscribers = budgets.describe_subscribers_for_notification(
            AccountId=account, BudgetName=f"{prefix}-monthly", Notification=notification
        )["Subscribers"]
        assert subscribers == [{"SubscriptionType": "SNS", "Address": warning}]


def test_the_warning_topic_lets_budgets_of_this_account_publish(aws, local_vars, prefix, account):
    warning = f"arn:aws:sns:{local_vars['aws_region']}:{account}:{prefix}-warning"
    policy = json.loads(aws("sns").get_topic_attributes(TopicArn=warning)["Attributes"]["Policy"])
    (budgets,) = [
        s for s in policy["Statement"] if s.get("Principal") == {"Service": "budgets.amazonaws.com"}
    ]
    assert budgets["Condition"]["StringEquals"] == {"aws:SourceAccount": account}
    assert budgets["Condition"]["ArnLike"] == {"aws:SourceArn": f"arn:aws:budgets::{account}:*"}


def test_the_platforms_tag_keys_are_active_cost_allocation_tags(aws, local_vars):
    keys = sorted(local_vars["platform_tags"])
    found = aws("ce", BILLING_REGION).list_cost_allocation_tags(TagKeys=keys, Type="UserDefined")
    assert {t["TagKey"]: t["Status"] for t in found["CostAllocationTags"]} == dict.fromkeys(keys, "Active")
