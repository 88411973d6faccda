#!/usr/bin/python
# Copyright: GiftCrypto platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: budgets_budget
short_description: Manage an AWS Budgets cost budget and its notifications
version_added: 0.1.0
description:
  - Creates, updates or deletes a budget of AWS Budgets in the current account, with its limit,
    period and the notifications (threshold, actual or forecasted spend) and their subscribers
    (SNS topics, e-mail addresses).
  - Fills a gap, neither amazon.aws nor community.aws ships a module for AWS Budgets (the
    C(CreateBudget), C(UpdateBudget), C(CreateNotification) and C(DeleteNotification) APIs).
  - AWS Budgets is a global service (one endpoint, C(budgets.amazonaws.com), signed in
    C(us-east-1)); O(region) only selects the partition's endpoint.
author:
  - GiftCrypto platform team (@giftcrypto)
options:
  name:
    description: Name of the budget, unique in the account (C(:) and C(\) are not allowed).
    type: str
    required: true
  account_id:
    description:
      - The account of the budget (12 digits); unset, the caller's account (one more call, to STS).
    type: str
  budget_type:
    description: What the budget tracks; only cost budgets are managed.
    type: str
    choices: [COST]
    default: COST
  limit_amount:
    description:
      - The budget's limit per O(time_unit), in O(limit_unit). Must be greater than zero.
      - Required with O(state=present).
    type: float
  limit_unit:
    description: Currency of O(limit_amount).
    type: str
    default: USD
  time_unit:
    description: The period the limit covers; it resets at the start of each.
    type: str
    choices: [DAILY, MONTHLY, QUARTERLY, ANNUALLY]
    default: MONTHLY
  cost_filters:
    description:
      - "Which costs count against the budget, as AWS Budgets' C(CostFilters) (a filter name and its
        values), for example C({TagKeyValue: [user:Environment$production]}) for the costs of the
        resources tagged C(Environment=production) (the tag key must be an active cost allocation tag)."
      - Empty counts every cost of the account.
    type: dict
    default: {}
  notifications:
    description:
      - The budget's notifications, all of them (a notification not listed is deleted).
      - A notification is identified by O(notifications[].notification_type),
        O(notifications[].comparison_operator), O(notifications[].threshold) and
        O(notifications[].threshold_type); one whose subscribers differ is deleted and created again.
    type: list
    elements: dict
    default: []
    suboptions:
      notification_type:
        description: Whether the actual or the forecasted spend is compared.
        type: str
        choices: [ACTUAL, FORECASTED]
        default: ACTUAL
      comparison_operator:
        description: How the spend is compared with the threshold.
        type: str
        choices: [GREATER_THAN, LESS_THAN, EQUAL_TO]
        default: GREATER_THAN
      threshold:
        description: The threshold (a percentage of the limit, or an amount).
        type: float
        required: true
      threshold_type:
        description: Whether O(notifications[].threshold) is a percentage of the limit or an absolute amount.
        type: str
        choices: [PERCENTAGE, ABSOLUTE_VALUE]
        default: PERCENTAGE
      sns_topic_arns:
        description:
          - SNS topics notified (same account; the topic's policy must let C(budgets.amazonaws.com)
            publish, and the key of an encrypted topic must let it use the key).
        type: list
        elements: str
        default: []
      email_addresses:
        description: E-mail addresses notified.
        type: list
        elements: str
        default: []
notes:
  - AWS allows at most 5 notifications per budget and 11 subscribers per notification (at most one
    of them an SNS topic); the module refuses more before any call.
  - The budget's tags are not managed.
extends_documentation_fragment:
  - giftcrypto.platform.aws_resource
  - giftcrypto.platform.aws_resource.state
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: A monthly budget of 1500 USD, warned at 80 % and 100 % of the actual spend
  giftcrypto.platform.budgets_budget:
    name: giftcrypto-production-monthly
    limit_amount: 1500
    cost_filters:
      TagKeyValue: ["user:Environment$production"]
    notifications:
      - threshold: 80
        sns_topic_arns: [arn:aws:sns:us-east-1:123456789012:giftcrypto-production-warning]
      - threshold: 100
        sns_topic_arns: [arn:aws:sns:us-east-1:123456789012:giftcrypto-production-warning]
      - threshold: 100
        notification_type: FORECASTED
        sns_topic_arns: [arn:aws:sns:us-east-1:123456789012:giftcrypto-production-warning]

- name: Delete the budget
  giftcrypto.platform.budgets_budget:
    name: giftcrypto-production-monthly
    state: absent
"""

RETURN = r"""
planned:
  description: What the run did or would do to the budget (the collection's result contract).
  returned: always
  type: str
  sample: update
changes:
  description: The budget's settings that differ.
  returned: always
  type: list
  elements: str
  sample: [limit_amount]
unverified:
  description: What the run could not verify (nothing, for a budget).
  returned: always
  type: list
  elements: str
  sample: []
budget:
  description: The budget as compared by the module; empty when absent.
  returned: always
  type: dict
  sample:
    name: giftcrypto-production-monthly
    budget_type: COST
    limit_amount: "1500"
    limit_unit: USD
    time_unit: MONTHLY
    cost_filters: {TagKeyValue: ["user:Environment$production"]}
    notifications:
      - notification_type: ACTUAL
        comparison_operator: GREATER_THAN
        threshold: "80"
        threshold_type: PERCENTAGE
        subscribers:
          - {type: SNS, address: "arn:aws:sns:us-east-1:123456789012:giftcrypto-production-warning"}
budget_name:
  description: Name of the budget (empty when absent).
  returned: always
  type: str
  sample: giftcrypto-production-monthly
"""

from decimal import Decimal, InvalidOperation
from typing import ClassVar

from ansible_collections.amazon.aws.plugins.module_utils.iam import get_aws_account_info
from ansible_collections.giftcrypto.platform.plugins.module_utils.aws_resource import AWSResource, run

MAX_NOTIFICATIONS = 5
MAX_SUBSCRIBERS = 11
NOTIFICATION = {
    "notification_type": {"type": "str", "default": "ACTUAL", "choices": ["ACTUAL", "FORECASTED"]},
    "comparison_operator": {
        "type": "str",
        "default": "GREATER_THAN",
        "choices": ["GREATER_THAN", "LESS_THAN", "EQUAL_TO"],
    },
    "threshold": {"type": "float", "required": True},
    "threshold_type": {"type": "str", "default": "PERCENTAGE", "choices": ["PERCENTAGE", "ABSOLUTE_VALUE"]},
    "sns_topic_arns": {"type": "list", "elements": "str", "default": []},
    "email_addresses": {"type": "list", "elements": "str", "default": []},
}
KEY = ("notification_type", "comparison_operator", "threshold", "threshold_type")


def number(value) -> str:
    """A decimal number as one spelling (AWS answers "1500.0" for 1500)."""
    try:
        text = format(Decimal(str(value)).normalize(), "f")
    except InvalidOperation:
        return str(value)
    return text


def _key(notification: dict) -> tuple:
    return tuple(notification[k] for k in KEY)


class Budget(AWSResource):
    service = "budgets"
    resource = "budget"
    noun = "budget"
    named_by = "name"
    not_found: ClassVar[tuple[str, ...]] = ("NotFoundException",)
    options: ClassVar[dict] = {
        "name": {"type": "str", "required": True},
        "account_id": {"type": "str"},
        "budget_type": {"type": "str", "default": "COST", "choices": ["COST"]},
        "limit_amount": {"type": "float"},
        "limit_unit": {"type": "str", "default": "USD"},
        "time_unit": {
            "type": "str",
            "default": "MONTHLY",
            "choices": ["DAILY", "MONTHLY", "QUARTERLY", "ANNUALLY"],
        },
        "cost_filters": {"type": "dict", "default": {}},
        "notifications": {"type": "list", "elements": "dict", "default": [], "options": NOTIFICATION},
    }
    module_kwargs: ClassVar[dict] = {"required_if": [("state", "present", ["limit_amount"])]}

    _account_id = ""
    #: DescribeBudget's answer, whose settings the module does not manage are kept by an update
    _described = None

    @property
    def account_id(self) -> str:
        if not self._account_id:
            self._account_id = self.params["account_id"] or get_aws_account_info(self.module)[0]
        return self._account_id

    def validate(self):
        problems = {}
        account = self.params["account_id"]
        if account is not None and not (len(account) == 12 and account.isdigit()):
            problems["account_id"] = f"{account!r}: an AWS account ID is 12 digits"
        name = self.params["name"]
        if not name or ":" in name or "\\" in name:
            problems["name"] = f"{name!r}: a budget's name is not empty and holds neither ':' nor '\\'"
        amount = self.params.get("limit_amount")
        if self.params["state"] == "present" and amount is not None and amount <= 0:
            problems["limit_amount"] = f"{amount}: the limit must be greater than zero"
        for name, values in (self.params["cost_filters"] or {}).items():
            if not isinstance(values, list) or not values or not all(isinstance(v, str) for v in values):
                problems[f"cost_filters.{name}"] = f"{values!r}: a filter's values are a list of strings"
        notifications = self.params["notifications"] or []
        if len(notifications) > MAX_NOTIFICATIONS:
            problems["notifications"] = (
                f"{len(notifications)} notifications: AWS allows at most {MAX_NOTIFICATIONS} per budget"
            )
        keys = [_key(self._wanted_notification(n)) for n in notifications]
        if len(set(keys)) != len(keys):
            problems["notifications"] = (
                "two notifications have the same type, operator, threshold and threshold type"
            )
        for index, notification in enumerate(notifications):
            where = f"notifications[{index}]"
            topics = notification["sns_topic_arns"] or []
            subscribers = len(topics) + len(notification["email_addresses"] or [])
            if notification["threshold"] <= 0:
                problems[f"{where}.threshold"] = (
                    f"{notification['threshold']}: a threshold is greater than zero"
                )
            if not subscribers or subscribers > MAX_SUBSCRIBERS:
                problems[where] = f"{subscribers} subscribers: a notification has 1 to {MAX_SUBSCRIBERS}"
            if len(topics) > 1:
                problems[f"{where}.sns_topic_arns"] = "AWS allows one SNS topic per notification"
            for arn in topics:
                if not arn.startswith("arn:") or ":sns:" not in arn:
                    problems[f"{where}.sns_topic_arns"] = f"{arn!r} is not an SNS topic ARN"
        return problems

    def describe(self):
        budget = self.client.describe_budget(
            aws_retry=True, AccountId=self.account_id, BudgetName=self.params["name"]
        )["Budget"]
        notifications = []
        for notification in self._notifications():
            subscribers = self.paginate(
                "describe_subscribers_for_notification",
                AccountId=self.account_id,
                BudgetName=self.params["name"],
                Notification=notification,
            ).get("Subscribers", [])
            notifications.append({"Notification": notification, "Subscribers": subscribers})
        self._described = budget
        return {"Budget": budget, "Notifications": notifications}

    def _notifications(self) -> list[dict]:
        return self.paginate(
            "describe_notifications_for_budget", AccountId=self.account_id, BudgetName=self.params["name"]
        ).get("Notifications", [])

    @staticmethod
    def _notification_view(notification: dict, subscribers: list[dict]) -> dict:
        return {
            "notification_type": notification["NotificationType"],
            "comparison_operator": notification["ComparisonOperator"],
            "threshold": number(notification["Threshold"]),
            "threshold_type": notification.get("ThresholdType", "PERCENTAGE"),
            "subscribers": sorted(
                ({"type": s["SubscriptionType"], "address": s["Address"]} for s in subscribers),
                key=lambda s: (s["type"], s["address"]),
            ),
        }

    def view(self, described):
        budget = described["Budget"]
        limit = budget.get("BudgetLimit") or {}
        return {
            "name": budget["BudgetName"],
            "budget_type": budget["BudgetType"],
            "limit_amount": number(limit.get("Amount", "")),
            "limit_unit": limit.get("Unit", ""),
            "time_unit": budget["TimeUnit"],
            "cost_filters": {k: sorted(v) for k, v in (budget.get("CostFilters") or {}).items()},
            "notifications": sorted(
                (
                    self._notification_view(n["Notification"], n["Subscribers"])
                    for n in described["Notifications"]
                ),
                key=_key,
            ),
        }

    @staticmethod
    def _wanted_notification(notification: dict) -> dict:
        subscribers = [{"type": "SNS", "address": arn} for arn in notification["sns_topic_arns"] or []]
        subscribers += [
            {"type": "EMAIL", "address": address} for address in notification["email_addresses"] or []
        ]
        return {
            "notification_type": notification["notification_type"],
            "comparison_operator": notification["comparison_operator"],
            "threshold": number(notification["threshold"]),
            "threshold_type": notification["threshold_type"],
            "subscribers": sorted(subscribers, key=lambda s: (s["type"], s["address"])),
        }

    def plan(self, current):
        return {
            "name": self.params["name"],
            "budget_type": self.params["budget_type"],
            "limit_amount": number(self.params["limit_amount"]),
            "limit_unit": self.params["limit_unit"],
            "time_unit": self.params["time_unit"],
            "cost_filters": {k: sorted(v) for k, v in (self.params["cost_filters"] or {}).items()},
            "notifications": sorted(
                (self._wanted_notification(n) for n in self.params["notifications"] or []), key=_key
            ),
        }

    @staticmethod
    def _notification_request(view: dict) -> dict:
        return {
            "NotificationType": view["notification_type"],
            "ComparisonOperator": view["comparison_operator"],
            "Threshold": float(view["threshold"]),
            "ThresholdType": view["threshold_type"],
        }

    @staticmethod
    def _subscribers_request(view: dict) -> list[dict]:
        return [{"SubscriptionType": s["type"], "Address": s["address"]} for s in view["subscribers"]]

    def _budget_request(self, planned: dict) -> dict:
        request = {
            "BudgetName": planned["name"],
            "BudgetType": planned["budget_type"],
            "TimeUnit": planned["time_unit"],
            "BudgetLimit": {"Amount": planned["limit_amount"], "Unit": planned["limit_unit"]},
        }
        if planned["cost_filters"]:
            request["CostFilters"] = planned["cost_filters"]
        return request

    def create(self, planned):
        self.client.create_budget(
            aws_retry=True,
            AccountId=self.account_id,
            Budget=self._budget_request(planned),
            NotificationsWithSubscribers=[
                {"Notification": self._notification_request(n), "Subscribers": self._subscribers_request(n)}
                for n in planned["notifications"]
            ],
        )

    def update(self, current, planned, changes):
        if set(changes) - {"notifications"}:
            budget = self._budget_request(planned)
            # What the module does not manage is kept as it is (UpdateBudget replaces the whole budget).
            for kept in ("CostTypes", "TimePeriod", "AutoAdjustData"):
                if (self._described or {}).get(kept) and not (
                    kept == "TimePeriod" and "time_unit" in changes
                ):
                    budget[kept] = (self._described or {})[kept]
            self.client.update_budget(aws_retry=True, AccountId=self.account_id, NewBudget=budget)
        if "notifications" not in changes:
            return
        wanted = {_key(n): n for n in planned["notifications"]}
        found = {_key(n): n for n in current["notifications"]}
        for key, notification in found.items():
            if wanted.get(key) != notification:
                self.client.delete_notification(
                    aws_retry=True,
                    AccountId=self.account_id,
                    BudgetName=planned["name"],
                    Notification=self._notification_request(notification),
                )
        for key, notification in wanted.items():
            if found.get(key) != notification:
                self.client.create_notification(
                    aws_retry=True,
                    AccountId=self.account_id,
                    BudgetName=planned["name"],
                    Notification=self._notification_request(notification),
                    Subscribers=self._subscribers_request(notification),
                )

    def delete(self, current):
        self.client.delete_budget(aws_retry=True, AccountId=self.account_id, BudgetName=current["name"])

    def outputs(self, view):
        return {"budget_name": view.get("name", "")}


def main():
    run(Budget)


if __name__ == "__main__":
    main()
