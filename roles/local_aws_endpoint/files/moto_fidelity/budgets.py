"""AWS Budgets: a budget's update, and the subscribers of its notifications."""

from __future__ import annotations

import json

from . import Fix, extend_backend, route_responses

UPDATE_BUDGET = (
    "https://docs.aws.amazon.com/aws-cost-management/latest/APIReference/API_budgets_UpdateBudget.html"
)
DESCRIBE_SUBSCRIBERS = (
    "https://docs.aws.amazon.com/aws-cost-management/latest/APIReference/"
    "API_budgets_DescribeSubscribersForNotification.html"
)


def _same(stored: dict, asked: dict) -> bool:
    """Whether two Notification structures are the same notification (AWS identifies one by its
    type, operator, threshold and threshold type; PERCENTAGE when the type is left out)."""

    def key(notification: dict) -> tuple:
        return (
            notification.get("NotificationType"),
            notification.get("ComparisonOperator"),
            float(notification.get("Threshold", 0)),
            notification.get("ThresholdType") or "PERCENTAGE",
        )

    return key(stored) == key(asked)


class BudgetUpdatesAndSubscribersAsAWS:
    """Budgets backend with UpdateBudget and DescribeSubscribersForNotification (moto: neither).

    - UpdateBudget replaces the budget with NewBudget (its name must be an existing budget's; the
      limit is required as at creation); the notifications stay.
    - DescribeSubscribersForNotification gives the subscribers a notification was created with
      (CreateBudget's NotificationsWithSubscribers or CreateNotification's Subscribers);
      NotFoundException for a budget or notification that does not exist.
    """

    def update_budget(self, account_id, new_budget):
        from moto.budgets.exceptions import BudgetMissingLimit, NotFoundException
        from moto.core.utils import unix_time

        name = new_budget.get("BudgetName")
        budget = self.budgets[account_id].get(name)
        if budget is None:
            raise NotFoundException(f"Unable to update budget: {name} - the budget doesn't exist.")
        if "BudgetLimit" not in new_budget and "PlannedBudgetLimits" not in new_budget:
            raise BudgetMissingLimit()
        kept = {"TimePeriod": budget.budget.get("TimePeriod")}
        budget.budget = {**kept, **new_budget, "LastUpdatedTime": unix_time()}

    def describe_subscribers_for_notification(self, account_id, budget_name, notification):
        from moto.budgets.exceptions import NotFoundException

        budget = self.budgets[account_id].get(budget_name)
        if budget is None:
            raise NotFoundException(f"Unable to get subscribers: {budget_name} - the budget doesn't exist.")
        for stored in budget.notifications:
            if _same(stored.details, notification):
                return list(stored.subscribers)
        raise NotFoundException("Unable to get subscribers - the notification doesn't exist.")


class BudgetUpdatesAndSubscribersResponses:
    """Budgets responses of UpdateBudget and DescribeSubscribersForNotification."""

    def update_budget(self):
        self.backend.update_budget(self._get_param("AccountId"), self._get_param("NewBudget"))
        return "{}"

    def describe_subscribers_for_notification(self):
        subscribers = self.backend.describe_subscribers_for_notification(
            self._get_param("AccountId"), self._get_param("BudgetName"), self._get_param("Notification")
        )
        return json.dumps({"Subscribers": subscribers})


def _apply() -> None:
    from moto.budgets.responses import BudgetsResponse

    extend_backend("moto.budgets.models", "budgets_backends", BudgetUpdatesAndSubscribersAsAWS)
    response = type("FaithfulBudgetsResponse", (BudgetUpdatesAndSubscribersResponses, BudgetsResponse), {})
    route_responses("moto.budgets.urls", BudgetsResponse, response)


FIXES = [
    Fix(
        service="budgets",
        name="update-budget-and-subscribers",
        summary=(
            "UpdateBudget replaces a budget (its notifications stay); DescribeSubscribersForNotification "
            "gives a notification's subscribers, NotFoundException for an unknown budget or notification "
            "(moto: neither operation, so giftcrypto.platform.budgets_budget could not read nor change "
            "a budget)"
        ),
        reference=f"{UPDATE_BUDGET}; {DESCRIBE_SUBSCRIBERS}",
        upstream=(
            "not in moto 5.2.6 (budgets/responses.py has no update_budget nor "
            "describe_subscribers_for_notification)"
        ),
        apply=_apply,
    ),
]
