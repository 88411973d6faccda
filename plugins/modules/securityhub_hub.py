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
  - GiftCrypto platform team (@giftcrypto)
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
  - Tags are read with C(ListTagsForResource) only when O(tags) is set; unset, they are neither
    read nor changed (and the view has no C(tags)).
  - A subscription in state C(DELETING) or C(FAILED) counts as absent and is requested again.
extends_documentation_fragment: [giftcrypto.platform.aws_resource, amazon.aws.common.modules,
  amazon.aws.region.modules, amazon.aws.tags, amazon.aws.boto3]
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
planned:
  description: What the run did or would do; C(create) enables Security Hub, C(delete) disables it.
  returned: always
  type: str
  sample: update
changes:
  description: What differs, of C(standards) and C(tags).
  returned: always
  type: list
  elements: str
  sample: [standards]
unverified:
  description: Empty, what is managed is read.
  returned: always
  type: list
  elements: str
  sample: []
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

from typing import ClassVar

from ansible.module_utils.common.dict_transformations import camel_dict_to_snake_dict
from ansible_collections.giftcrypto.platform.plugins.module_utils.aws_resource import (
    SHARED_OPTIONS,
    AWSResource,
    run,
    tag_by_arn_dict,
)
from ansible_collections.giftcrypto.platform.plugins.module_utils.tag_plan import plan_tags, settable

# Subscriptions in these states are gone or going: the standard is requested again.
INACTIVE = ("DELETING", "FAILED")
PARTITIONS = {"cn-": "aws-cn", "us-gov-": "aws-us-gov"}


class Hub(AWSResource):
    service = "securityhub"
    resource = "hub"
    noun = "Security Hub"
    not_found = ("InvalidAccessException", "ResourceNotFoundException")
    # The tags are the module's own options, not the base's: they are read only when managed.
    options: ClassVar[dict] = {
        "standards": {"type": "list", "elements": "str"},
        "purge_standards": {"type": "bool", "default": False},
        "enable_default_standards": {"type": "bool", "default": False},
        "tags": SHARED_OPTIONS["tags"],
        "purge_tags": SHARED_OPTIONS["purge_tags"],
    }

    def __init__(self, module=None):
        super().__init__(module)
        self.subscriptions = []

    def describe(self):
        hub = self.client.describe_hub(aws_retry=True)
        if self.params["tags"] is not None:
            tags = self.client.list_tags_for_resource(aws_retry=True, ResourceArn=hub["HubArn"])
            hub["Tags"] = tags["Tags"]
        if self.params["standards"] is not None:
            found = self.paginate("get_enabled_standards")["StandardsSubscriptions"]
            self.subscriptions = [s for s in found if s.get("StandardsStatus") not in INACTIVE]
        return hub

    def view(self, described):
        view = {"hub_arn": described["HubArn"]}
        if self.params["tags"] is not None:
            view["tags"] = dict(described.get("Tags") or {})
        if self.params["standards"] is not None:
            view["standards"] = sorted(s["StandardsArn"] for s in self.subscriptions)
        return view

    def _standard_arn(self, standard, hub_arn):
        if standard.startswith("arn:"):
            return standard
        region = self.module.region
        by_region = next((p for prefix, p in PARTITIONS.items() if region.startswith(prefix)), "aws")
        partition = hub_arn.split(":")[1] if hub_arn else by_region
        return f"arn:{partition}:securityhub:{region}::standards/{standard.removeprefix('standards/')}"

    def plan(self, current):
        current = current or {"hub_arn": ""}
        planned = {"hub_arn": current["hub_arn"]}
        if self.params["tags"] is not None:
            planned["tags"], _to_set, _to_unset = plan_tags(
                current.get("tags"), self.params["tags"], self.params["purge_tags"]
            )
        if self.params["standards"] is not None:
            wanted = {self._standard_arn(s, current["hub_arn"]) for s in self.params["standards"]}
            if not self.params["purge_standards"]:
                wanted |= set(current.get("standards") or [])
            planned["standards"] = sorted(wanted)
        return planned

    def differences(self, current, planned):
        return sorted(key for key, value in planned.items() if current.get(key) != value)

    def _subscribe(self, planned):
        have = {s["StandardsArn"]: s["StandardsSubscriptionArn"] for s in self.subscriptions}
        to_disable = [arn for standard, arn in have.items() if standard not in planned["standards"]]
        to_enable = [standard for standard in planned["standards"] if standard not in have]
        if to_disable:
            self.client.batch_disable_standards(aws_retry=True, StandardsSubscriptionArns=to_disable)
        if to_enable:
            self.client.batch_enable_standards(
                aws_retry=True, StandardsSubscriptionRequests=[{"StandardsArn": arn} for arn in to_enable]
            )

    def create(self, planned):
        request = {"EnableDefaultStandards": self.params["enable_default_standards"]}
        if settable(planned.get("tags")):
            request["Tags"] = settable(planned["tags"])
        self.client.enable_security_hub(aws_retry=True, **request)
        if planned.get("standards"):
            self._subscribe(planned)

    def update(self, current, planned, changes):
        if "tags" in changes:
            _after, to_set, to_unset = plan_tags(
                current["tags"], self.params["tags"], self.params["purge_tags"]
            )
            tag_by_arn_dict(self.client, current["hub_arn"], to_set, to_unset)
        if "standards" in changes:
            self._subscribe(planned)

    def delete(self, current):
        self.client.disable_security_hub(aws_retry=True)

    def outputs(self, view):
        subscriptions = self.subscriptions if view else []
        return {
            "hub_arn": view.get("hub_arn", ""),
            "standards_subscriptions": [camel_dict_to_snake_dict(s) for s in subscriptions],
        }


def main():
    run(Hub)


if __name__ == "__main__":
    main()
