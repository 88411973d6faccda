#!/usr/bin/python
# Copyright: GiftCrypto platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: ce_cost_allocation_tags
short_description: Activate (or deactivate) user-defined cost allocation tags
version_added: 0.1.0
description:
  - Sets the status of the listed user-defined tag keys in the account's cost allocation tags, so
    that Cost Explorer, budgets and the cost and usage reports can group and filter costs by them.
  - Fills a gap, neither amazon.aws nor community.aws ships a module for Cost Explorer's cost
    allocation tags (the C(ListCostAllocationTags) and C(UpdateCostAllocationTagsStatus) APIs).
  - Cost Explorer is a global service (its endpoint is in C(us-east-1) for the C(aws) partition),
    so give O(region=us-east-1).
  - AWS lists a user-defined key only after its billing data has seen it on a resource (up to 24 hours
    after the key's first use). A key it does not list yet cannot be activated; it is returned in
    RV(pending) with a warning, and a later run activates it.
author:
  - GiftCrypto platform team (@giftcrypto)
options:
  tag_keys:
    description: The tag keys (case-sensitive), at most 100.
    type: list
    elements: str
    required: true
  status:
    description: The status the keys get.
    type: str
    choices: [Active, Inactive]
    default: Active
extends_documentation_fragment:
  - giftcrypto.platform.aws_resource
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: Costs can be split by the platform's tags
  giftcrypto.platform.ce_cost_allocation_tags:
    region: us-east-1
    tag_keys: [Project, Environment, CostCenter, ManagedBy]
"""

RETURN = r"""
planned:
  description: What the run did or would do (C(update) or C(none); the collection's result contract).
  returned: always
  type: str
  sample: update
changes:
  description: The tag keys whose status changes.
  returned: always
  type: list
  elements: str
  sample: [CostCenter]
unverified:
  description: The keys AWS does not list yet (see RV(pending)), as C(tag_keys.<key>).
  returned: always
  type: list
  elements: str
  sample: []
cost_allocation_tags:
  description: The status of each listed key AWS knows.
  returned: always
  type: dict
  sample: {statuses: {Project: Active, CostCenter: Active}}
pending:
  description: The listed keys AWS does not list yet (not seen in billing data), left for a later run.
  returned: always
  type: list
  elements: str
  sample: [ManagedBy]
"""

from typing import ClassVar

from ansible_collections.giftcrypto.platform.plugins.module_utils.aws_resource import (
    AWSResource,
    ResourceProblem,
    run,
)

MAX_KEYS = 100  # ListCostAllocationTags' TagKeys
BATCH = 20  # UpdateCostAllocationTagsStatus' CostAllocationTagsStatus


class CostAllocationTags(AWSResource):
    service = "ce"
    resource = "cost_allocation_tags"
    noun = "cost allocation tags"
    options: ClassVar[dict] = {
        "tag_keys": {"type": "list", "elements": "str", "required": True, "no_log": False},
        "status": {"type": "str", "default": "Active", "choices": ["Active", "Inactive"]},
    }
    shared = ()

    def validate(self):
        keys = self.params["tag_keys"]
        if not keys or len(keys) > MAX_KEYS:
            return {"tag_keys": f"{len(keys or [])} keys: give 1 to {MAX_KEYS}"}
        if any(not key or key.startswith("aws:") for key in keys):
            return {"tag_keys": f"{keys}: user-defined keys only (not empty, not starting with 'aws:')"}
        return {}

    def describe(self):
        found = self.paginate(
            "list_cost_allocation_tags", TagKeys=sorted(set(self.params["tag_keys"])), Type="UserDefined"
        ).get("CostAllocationTags", [])
        return {tag["TagKey"]: tag["Status"] for tag in found}

    def view(self, described):
        return {"statuses": dict(sorted(described.items()))}

    def _pending(self, current):
        known = (current or {}).get("statuses", {})
        return sorted(set(self.params["tag_keys"]) - set(known))

    def plan(self, current):
        known = (current or {}).get("statuses", {})
        pending = self._pending(current)
        if pending:
            self.unverified = [f"tag_keys.{key}" for key in pending]
            # AnsibleModule's own warn: AnsibleAWSModule.warn (amazon.aws 11) passes the warnings to
            # exit_json again, which ansible-core 2.21 reports as deprecated.
            self.module._module.warn(
                f"AWS does not list the cost allocation tag keys {pending} yet (its billing data has not "
                "seen them on a resource, which takes up to 24 hours after their first use): a later run "
                "activates them"
            )
        return {"statuses": {**known, **{key: self.params["status"] for key in known}}}

    def differences(self, current, planned):
        return sorted(k for k, v in planned["statuses"].items() if current["statuses"].get(k) != v)

    def update(self, current, planned, changes):
        for start in range(0, len(changes), BATCH):
            entries = [
                {"TagKey": key, "Status": self.params["status"]} for key in changes[start : start + BATCH]
            ]
            errors = (
                self.client.update_cost_allocation_tags_status(
                    aws_retry=True, CostAllocationTagsStatus=entries
                ).get("Errors")
                or []
            )
            if errors:
                listed = "; ".join(
                    f"{e.get('TagKey')}: {e.get('Code')} {e.get('Message', '')}" for e in errors
                )
                raise ResourceProblem(f"AWS refused the status of {listed}")

    def outputs(self, view):
        return {"pending": self._pending(view)}


def main():
    run(CostAllocationTags)


if __name__ == "__main__":
    main()
