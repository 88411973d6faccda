#!/usr/bin/python
# Copyright: GiftCrypto platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: cloudwatch_dashboard
short_description: Manage a CloudWatch dashboard from its JSON body
version_added: 0.1.0
description:
  - Creates, updates or deletes an Amazon CloudWatch dashboard (C(PutDashboard),
    C(GetDashboard), C(DeleteDashboards)).
  - The body is compared as data with the dashboard's current body (key order and whitespace do
    not count), so a re-run with the same widgets changes nothing.
  - Fills a gap, neither amazon.aws nor community.aws ships a module for CloudWatch dashboards
    (only metric alarms, log groups and their metric filters).
author:
  - GiftCrypto platform team (@giftcrypto)
options:
  name:
    description:
      - Name of the dashboard, up to 255 letters, digits, hyphens or underscores.
    type: str
    required: true
    aliases: [dashboard_name]
  body:
    description:
      - The dashboard body, a JSON object with a C(widgets) list (see the CloudWatch
        "Dashboard Body Structure and Syntax"), as a JSON string or as a dictionary.
      - A string that is not JSON, or JSON that is not an object with a C(widgets) list, is refused
        before any API call.
      - Required when O(state=present).
    type: raw
    aliases: [dashboard_body]
notes:
  - The diff shows the body as data (key order and whitespace do not count).
  - Dashboards are global to the account (their ARN has no region), but the API is regional.
  - CloudWatch dashboards take no tags.
extends_documentation_fragment: [giftcrypto.platform.aws_resource, giftcrypto.platform.aws_resource.state,
  amazon.aws.common.modules, amazon.aws.region.modules, amazon.aws.boto3]
"""

EXAMPLES = r"""
- name: A dashboard of the RDS instance's CPU
  giftcrypto.platform.cloudwatch_dashboard:
    name: giftcrypto-production-overview
    body:
      widgets:
        - type: metric
          x: 0
          y: 0
          width: 12
          height: 6
          properties:
            title: RDS CPU
            region: us-east-1
            metrics:
              - [AWS/RDS, CPUUtilization, DBInstanceIdentifier, giftcrypto-production]

- name: The same, the body rendered from a template
  giftcrypto.platform.cloudwatch_dashboard:
    name: giftcrypto-production-overview
    body: "{{ lookup('ansible.builtin.template', 'dashboard.json.j2') }}"

- name: Delete the dashboard
  giftcrypto.platform.cloudwatch_dashboard:
    name: giftcrypto-production-overview
    state: absent
"""

RETURN = r"""
planned:
  description: What the run did (in check mode, would do) to the dashboard; C(update) stores a new body.
  returned: always
  type: str
  sample: update
changes:
  description: The settings that differ (only C(body) can).
  returned: always
  type: list
  elements: str
  sample: [body]
unverified:
  description: Always empty, a run reads all of a dashboard.
  returned: always
  type: list
  elements: str
  sample: []
dashboard:
  description: The dashboard after the run (planned, in check mode); empty when absent.
  returned: always
  type: dict
  sample:
    name: giftcrypto-production-overview
    arn: arn:aws:cloudwatch::123456789012:dashboard/giftcrypto-production-overview
    body: {widgets: []}
name:
  description: Name of the dashboard.
  returned: always
  type: str
  sample: giftcrypto-production-overview
arn:
  description: ARN of the dashboard; empty when absent, or in check mode before it exists.
  returned: always
  type: str
  sample: arn:aws:cloudwatch::123456789012:dashboard/giftcrypto-production-overview
body:
  description: The dashboard body after the run (planned, in check mode); empty when absent.
  returned: always
  type: dict
  sample:
    widgets:
      - {type: text, x: 0, y: 0, width: 24, height: 1, properties: {markdown: "# GiftCrypto"}}
validation_messages:
  description:
    - What CloudWatch said about the body when it stored it (for example a metric widget
      without metrics); empty when nothing was stored or nothing was said.
  returned: always
  type: list
  elements: dict
  sample: [{"data_path": "/widgets/0/properties", "message": "Should have at least 1 metric"}]
"""

import json
import re
from typing import ClassVar

from ansible.module_utils.common.dict_transformations import camel_dict_to_snake_dict
from ansible_collections.giftcrypto.platform.plugins.module_utils.aws_resource import AWSResource, run

NAME_PATTERN = re.compile(r"^[A-Za-z0-9_-]{1,255}$")


def parse_body(value):
    """The body as data (from a JSON string or a dictionary), or a message saying why it is refused."""
    try:
        # A dictionary goes through JSON too: what is compared is what CloudWatch would store.
        text = value if isinstance(value, (str, bytes)) else json.dumps(value)
        body = json.loads(text)
    except (TypeError, ValueError) as e:
        return None, f"not valid JSON: {e}"
    if not isinstance(body, dict):
        return None, f"must be a JSON object with a widgets list, not {type(body).__name__}"
    if not isinstance(body.get("widgets"), list):
        return None, "must be a JSON object with a widgets list"
    return body, None


class Dashboard(AWSResource):
    service = "cloudwatch"
    resource = "dashboard"
    noun = "CloudWatch dashboard"
    named_by = "name"
    # GetDashboard and DeleteDashboards answer ResourceNotFound (the DashboardNotFoundError fault).
    not_found = ("ResourceNotFound", "ResourceNotFoundException", "DashboardNotFoundError")
    options: ClassVar[dict] = {
        "name": {"type": "str", "required": True, "aliases": ["dashboard_name"]},
        "body": {"type": "raw", "aliases": ["dashboard_body"]},
    }
    module_kwargs: ClassVar[dict] = {"required_if": [["state", "present", ["body"]]]}

    def __init__(self, module=None):
        super().__init__(module)
        self.body = None  # the body as data, from validate()
        self.messages = []  # what PutDashboard said about the body

    def validate(self):
        problems = {}
        name = self.params["name"]
        if not NAME_PATTERN.fullmatch(name):
            problems["name"] = f"up to 255 letters, digits, hyphens or underscores, got {name!r}"
        if self.params["state"] == "present":
            self.body, problem = parse_body(self.params["body"])
            if problem:
                problems["body"] = problem
        return problems

    def describe(self):
        return self.client.get_dashboard(aws_retry=True, DashboardName=self.params["name"])

    def view(self, described):
        return {
            "name": self.params["name"],
            "arn": described.get("DashboardArn", ""),
            "body": json.loads(described.get("DashboardBody") or "{}"),
        }

    def plan(self, current):
        return {"name": self.params["name"], "arn": (current or {}).get("arn", ""), "body": self.body}

    def create(self, planned):
        answer = self.client.put_dashboard(
            aws_retry=True, DashboardName=self.params["name"], DashboardBody=json.dumps(planned["body"])
        )
        self.messages = [camel_dict_to_snake_dict(m) for m in answer.get("DashboardValidationMessages") or []]

    def update(self, current, planned, changes):
        self.create(planned)

    def delete(self, current):
        self.client.delete_dashboards(aws_retry=True, DashboardNames=[self.params["name"]])

    def outputs(self, view):
        return {
            "name": self.params["name"],
            "arn": view.get("arn", ""),
            "body": view.get("body", {}),
            "validation_messages": self.messages,
        }


def main():
    run(Dashboard)


if __name__ == "__main__":
    main()
