#!/usr/bin/python
# Copyright: GiftCrypto platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: securityhub_hub
short_description: Enable AWS Security Hub and subscribe to its security standards
version_added: 0.1.0
description:
  - Enables (subscribes the account to) AWS Security Hub in the current region, or disables it,
    and keeps the account subscribed to the listed security standards, for example AWS
    Foundational Security Best Practices.
  - Fills a gap, neither amazon.aws nor community.aws ships a module for Security Hub (the
    C(EnableSecurityHub), C(BatchEnableStandards) and C(BatchDisableStandards) APIs).
author:
  - GiftCrypto platform team
options:
  standards:
    description:
      - Standards the account must be subscribed to, each a standard ARN or the part after
        C(standards/) of a regional standard ARN (for example
        V(aws-foundational-security-best-practices/v/1.0.0) or V(cis-aws-foundations-benchmark/v/3.0.0)).
      - Unset means the subscriptions are not managed at all (neither read nor changed).
    type: list
    elements: str
  purge_standards:
    description: Unsubscribe from the standards not listed in O(standards).
    type: bool
    default: false
  enable_default_standards:
    description:
      - Whether Security Hub subscribes to its default standards when it is enabled by this module.
        Only used when the hub is enabled; list the wanted ones in O(standards) instead.
    type: bool
    default: false
  state:
    description: Whether Security Hub is enabled (V(present)) or disabled (V(absent)).
    type: str
    choices: [present, absent]
    default: present
notes:
  - Supports check mode, which reports what would be enabled, subscribed or unsubscribed without
    calling a write API.
  - Supports diff (the hub ARN, the subscribed standards and the tags before and after).
  - Tags are read with C(ListTagsForResource) only when O(tags) is set; unset, they are neither
    read nor changed.
  - A subscription in state C(DELETING) or C(FAILED) counts as absent and is requested again.
  - Lives in the collection's C(aws) action group so that C(module_defaults) for
    C(group/amazon.aws.aws) give it region, endpoint and credentials.
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.tags
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: Enable Security Hub with the Foundational Security Best Practices standard only
  giftcrypto.platform.securityhub_hub:
    standards:
      - aws-foundational-security-best-practices/v/1.0.0
    purge_standards: true
    tags:
      Project: GiftCrypto

- name: Enable the hub, leave its standards alone
  giftcrypto.platform.securityhub_hub:

- name: Disable Security Hub
  giftcrypto.platform.securityhub_hub:
    state: absent
"""

RETURN = r"""
hub_arn:
  description: ARN of the hub (empty when disabled, or in check mode before it is enabled).
  returned: always
  type: str
  sample: arn:aws:securityhub:us-east-1:123456789012:hub/default
hub:
  description: The hub as compared by the module; empty when disabled.
  returned: always
  type: dict
  sample:
    hub_arn: arn:aws:securityhub:us-east-1:123456789012:hub/default
    standards:
      - arn:aws:securityhub:us-east-1::standards/aws-foundational-security-best-practices/v/1.0.0
    tags: {Project: GiftCrypto}
  contains:
    hub_arn:
      description: ARN of the hub.
      type: str
    standards:
      description: ARNs of the subscribed standards; only when O(standards) is set.
      type: list
      elements: str
    tags:
      description: Tags of the hub; only when O(tags) is set.
      type: dict
standards_subscriptions:
  description: The standards subscriptions after the run (empty when O(standards) is unset).
  returned: always
  type: list
  elements: dict
  sample:
    - standards_arn: arn:aws:securityhub:us-east-1::standards/aws-foundational-security-best-practices/v/1.0.0
      standards_subscription_arn: >-
        arn:aws:securityhub:us-east-1:123456789012:subscription/aws-foundational-security-best-practices/v/1.0.0
      standards_status: READY
"""

try:  # noqa: SIM105 -- the usual optional-import guard of Ansible modules
    import botocore
except ImportError:
    pass  # handled by AnsibleAWSModule

from ansible.module_utils.common.dict_transformations import camel_dict_to_snake_dict
from ansible_collections.amazon.aws.plugins.module_utils.botocore import is_boto3_error_code
from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry
from ansible_collections.giftcrypto.platform.plugins.module_utils.tag_plan import plan_tags, settable

# Subscriptions in these states are gone or going: the standard is requested again.
INACTIVE = ("DELETING", "FAILED")


def _partition(region, hub_arn):
    if hub_arn:
        return hub_arn.split(":")[1]
    if region.startswith("cn-"):
        return "aws-cn"
    if region.startswith("us-gov-"):
        return "aws-us-gov"
    return "aws"


def _standard_arn(standard, region, partition):
    if standard.startswith("arn:"):
        return standard
    return f"arn:{partition}:securityhub:{region}::standards/{standard.removeprefix('standards/')}"


def _describe(client, with_tags):
    """The hub (or None when Security Hub is not enabled) and, when asked, its tags."""
    try:
        hub = client.describe_hub(aws_retry=True)
    except is_boto3_error_code(["InvalidAccessException", "ResourceNotFoundException"]):
        return None, {}
    if not with_tags:
        return hub, {}
    tags = client.list_tags_for_resource(aws_retry=True, ResourceArn=hub["HubArn"])["Tags"]
    return hub, dict(tags or {})


@AWSRetry.jittered_backoff(retries=10)
def _subscriptions(client):
    pages = client.get_paginator("get_enabled_standards").paginate().build_full_result()
    return [s for s in pages["StandardsSubscriptions"] if s.get("StandardsStatus") not in INACTIVE]


def _view(hub_arn, standards, tags):
    view = {"hub_arn": hub_arn}
    if tags is not None:
        view["tags"] = tags
    if standards is not None:
        view["standards"] = sorted(standards)
    return view


def main():
    argument_spec = dict(
        standards=dict(type="list", elements="str"),
        purge_standards=dict(type="bool", default=False),
        enable_default_standards=dict(type="bool", default=False),
        tags=dict(type="dict", aliases=["resource_tags"]),
        purge_tags=dict(type="bool", default=True),
        state=dict(type="str", default="present", choices=["present", "absent"]),
    )
    module = AnsibleAWSModule(argument_spec=argument_spec, supports_check_mode=True)
    params = module.params
    client = module.client("securityhub", retry_decorator=AWSRetry.jittered_backoff(retries=10))
    manage_standards = params["standards"] is not None
    manage_tags = params["tags"] is not None

    try:
        hub, have_tags = _describe(client, manage_tags)
        subscriptions = _subscriptions(client) if hub and manage_standards else []
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
        module.fail_json_aws(e, msg="Could not describe Security Hub")
    hub_arn = hub["HubArn"] if hub else ""
    have_standards = {s["StandardsArn"]: s for s in subscriptions}
    have_tags = have_tags if manage_tags else None
    before = _view(hub_arn, list(have_standards) if manage_standards else None, have_tags) if hub else {}

    if params["state"] == "absent":
        if hub and not module.check_mode:
            try:
                client.disable_security_hub(aws_retry=True)
            except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
                module.fail_json_aws(e, msg="Could not disable Security Hub")
        module.exit_json(
            changed=bool(hub),
            hub_arn="",
            hub={},
            standards_subscriptions=[],
            diff={"before": before, "after": {}},
        )

    partition = _partition(module.region, hub_arn)
    wanted = [_standard_arn(s, module.region, partition) for s in params["standards"] or []]
    to_enable = [arn for arn in dict.fromkeys(wanted) if arn not in have_standards]
    to_disable = [
        sub["StandardsSubscriptionArn"]
        for arn, sub in have_standards.items()
        if params["purge_standards"] and manage_standards and arn not in wanted
    ]
    tags, to_set, to_unset = plan_tags(have_tags, params["tags"], params["purge_tags"])
    tags = tags if manage_tags else None
    changed = not hub or bool(to_enable or to_disable or to_set or to_unset)

    planned_standards = None
    if manage_standards:
        kept = [
            arn for arn, sub in have_standards.items() if sub["StandardsSubscriptionArn"] not in to_disable
        ]
        planned_standards = kept + to_enable
    if module.check_mode or not changed:
        after = _view(hub_arn, planned_standards, tags) if changed else before
        module.exit_json(
            changed=changed,
            hub_arn=hub_arn,
            hub=after,
            standards_subscriptions=[camel_dict_to_snake_dict(s) for s in subscriptions],
            diff={"before": before, "after": after},
        )

    try:
        if not hub:
            request = {"EnableDefaultStandards": params["enable_default_standards"]}
            if settable(tags):
                request["Tags"] = settable(tags)
            client.enable_security_hub(aws_retry=True, **request)
            hub, have_tags = _describe(client, manage_tags)
            hub_arn = hub["HubArn"]
            if manage_tags:
                tags, to_set, to_unset = plan_tags(have_tags, params["tags"], params["purge_tags"])
        if to_unset:
            client.untag_resource(aws_retry=True, ResourceArn=hub_arn, TagKeys=to_unset)
        if to_set:
            client.tag_resource(aws_retry=True, ResourceArn=hub_arn, Tags=to_set)
        if to_disable:
            client.batch_disable_standards(aws_retry=True, StandardsSubscriptionArns=to_disable)
        if to_enable:
            client.batch_enable_standards(
                aws_retry=True, StandardsSubscriptionRequests=[{"StandardsArn": arn} for arn in to_enable]
            )
        subscriptions = _subscriptions(client) if manage_standards else []
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
        module.fail_json_aws(e, msg="Could not apply the Security Hub settings")

    after = _view(hub_arn, [s["StandardsArn"] for s in subscriptions] if manage_standards else None, tags)
    module.exit_json(
        changed=True,
        hub_arn=hub_arn,
        hub=after,
        standards_subscriptions=[camel_dict_to_snake_dict(s) for s in subscriptions],
        diff={"before": before, "after": after},
    )


if __name__ == "__main__":
    main()
