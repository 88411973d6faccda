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
  - GiftCrypto platform team
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
  state:
    description: Whether the dashboard exists.
    type: str
    choices: [present, absent]
    default: present
notes:
  - Supports check mode, which reports what would be created, changed or deleted without calling
    C(PutDashboard) or C(DeleteDashboards).
  - Supports diff (the body before and after, as indented JSON with sorted keys).
  - Dashboards are global to the account (their ARN has no region), but the API is regional.
  - CloudWatch dashboards take no tags.
  - Calls are retried with a jittered exponential backoff when CloudWatch throttles them.
  - Lives in the collection's C(aws) action group so that C(module_defaults) for
    C(group/amazon.aws.aws) give it region, endpoint and credentials.
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
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

try:  # noqa: SIM105 -- the usual optional-import guard of Ansible modules
    import botocore
except ImportError:
    pass  # handled by AnsibleAWSModule

from ansible.module_utils.common.dict_transformations import camel_dict_to_snake_dict
from ansible_collections.amazon.aws.plugins.module_utils.botocore import is_boto3_error_code
from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry

NAME_PATTERN = re.compile(r"^[A-Za-z0-9_-]{1,255}$")
# GetDashboard and DeleteDashboards answer ResourceNotFound (the DashboardNotFoundError fault).
NOT_FOUND = ["ResourceNotFound", "ResourceNotFoundException", "DashboardNotFoundError"]


def parse_body(value):
    """The body as data (from a JSON string or a dictionary), or a message saying why it is refused."""
    try:
        # A dictionary goes through JSON too: what is compared is what CloudWatch would store.
        text = value if isinstance(value, (str, bytes)) else json.dumps(value)
        body = json.loads(text)
    except (TypeError, ValueError) as e:
        return None, f"body is not valid JSON: {e}"
    if not isinstance(body, dict):
        return None, f"body must be a JSON object with a widgets list, not {type(body).__name__}"
    if not isinstance(body.get("widgets"), list):
        return None, "body must be a JSON object with a widgets list"
    return body, None


def _pretty(body):
    return json.dumps(body, indent=2, sort_keys=True) + "\n" if body else ""


def _find(client, name):
    """(arn, body) of the dashboard, or ("", None) when it does not exist."""
    try:
        found = client.get_dashboard(aws_retry=True, DashboardName=name)
    except is_boto3_error_code(NOT_FOUND):
        return "", None
    return found.get("DashboardArn", ""), json.loads(found.get("DashboardBody") or "{}")


def main():
    argument_spec = dict(
        name=dict(type="str", required=True, aliases=["dashboard_name"]),
        body=dict(type="raw", aliases=["dashboard_body"]),
        state=dict(type="str", default="present", choices=["present", "absent"]),
    )
    module = AnsibleAWSModule(
        argument_spec=argument_spec,
        required_if=[["state", "present", ["body"]]],
        supports_check_mode=True,
    )
    name = module.params["name"]
    state = module.params["state"]
    if not NAME_PATTERN.fullmatch(name):
        module.fail_json(msg=f"name={name}: up to 255 letters, digits, hyphens or underscores")
    wanted = None
    if state == "present":
        wanted, problem = parse_body(module.params["body"])
        if problem:
            module.fail_json(msg=f"Refused the body of the dashboard {name}: {problem}")

    client = module.client("cloudwatch", retry_decorator=AWSRetry.jittered_backoff(retries=10))
    try:
        arn, have = _find(client, name)
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
        module.fail_json_aws(e, msg=f"Could not read the dashboard {name}")

    if state == "absent":
        changed = have is not None
        if changed and not module.check_mode:
            try:
                client.delete_dashboards(aws_retry=True, DashboardNames=[name])
            except is_boto3_error_code(NOT_FOUND):
                pass  # deleted meanwhile: the wanted state
            except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:  # pylint: disable=duplicate-except
                module.fail_json_aws(e, msg=f"Could not delete the dashboard {name}")
        module.exit_json(
            changed=changed,
            name=name,
            arn="",
            body={},
            validation_messages=[],
            diff={"before": _pretty(have), "after": ""},
        )

    changed = have != wanted
    messages = []
    if changed and not module.check_mode:
        try:
            text = json.dumps(wanted)
            answer = client.put_dashboard(aws_retry=True, DashboardName=name, DashboardBody=text)
            messages = [camel_dict_to_snake_dict(m) for m in answer.get("DashboardValidationMessages") or []]
            arn, stored = _find(client, name)
        except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
            module.fail_json_aws(e, msg=f"Could not store the dashboard {name}")
        wanted = stored if stored is not None else wanted
    after = wanted if changed else have
    module.exit_json(
        changed=changed,
        name=name,
        arn=arn,
        body=after,
        validation_messages=messages,
        diff={"before": _pretty(have), "after": _pretty(after)},
    )


if __name__ == "__main__":
    main()
