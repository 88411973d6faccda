#!/usr/bin/python
# Copyright: GiftCrypto platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: guardduty_detector
short_description: Manage the GuardDuty detector of an account and region
version_added: 0.1.0
description:
  - Creates, updates or deletes the Amazon GuardDuty detector of the current account in the
    current region (GuardDuty allows one per account and region, so the detector needs no name).
  - Manages whether it is enabled, how often findings are published, the protection plans
    (O(features)) and the tags.
  - Fills a gap, neither amazon.aws nor community.aws ships a module for GuardDuty (the
    C(CreateDetector), C(UpdateDetector) and C(DeleteDetector) APIs).
author:
  - GiftCrypto platform team (@giftcrypto)
options:
  enable:
    description: Whether the detector monitors (C(ENABLED)) or is suspended (C(DISABLED)).
    type: bool
    default: true
  finding_publishing_frequency:
    description:
      - How often updated findings are exported to EventBridge (and S3 when configured).
      - Unset keeps the current value (AWS uses C(SIX_HOURS) when a detector is created without one).
    type: str
    choices: [FIFTEEN_MINUTES, ONE_HOUR, SIX_HOURS]
  features:
    description:
      - Protection plans to set, by name (for example C(S3_DATA_EVENTS), C(EKS_AUDIT_LOGS),
        C(EBS_MALWARE_PROTECTION), C(RDS_LOGIN_EVENTS), C(RUNTIME_MONITORING)).
      - Only the listed features are compared and changed; the others are left as they are.
    type: list
    elements: dict
    suboptions:
      name:
        description: Name of the feature.
        type: str
        required: true
      status:
        description: Whether the feature is on.
        type: str
        choices: [ENABLED, DISABLED]
        default: ENABLED
      additional_configuration:
        description:
          - Sub-features of the feature (for example C(EKS_ADDON_MANAGEMENT) of C(RUNTIME_MONITORING)).
        type: list
        elements: dict
        suboptions:
          name:
            description: Name of the sub-feature.
            type: str
            required: true
          status:
            description: Whether the sub-feature is on.
            type: str
            choices: [ENABLED, DISABLED]
            default: ENABLED
notes:
  - Tags are read from C(GetDetector) and changed with C(TagResource) and C(UntagResource).
extends_documentation_fragment:
  - giftcrypto.platform.aws_resource
  - giftcrypto.platform.aws_resource.state
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.tags
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: Turn GuardDuty on, findings every 15 minutes, S3 and EKS protection
  giftcrypto.platform.guardduty_detector:
    finding_publishing_frequency: FIFTEEN_MINUTES
    features:
      - name: S3_DATA_EVENTS
      - name: EKS_AUDIT_LOGS
      - name: EBS_MALWARE_PROTECTION
        status: DISABLED
    tags:
      Project: GiftCrypto

- name: Delete the detector (its findings go with it)
  giftcrypto.platform.guardduty_detector:
    state: absent
"""

RETURN = r"""
planned:
  description: What the run did or would do to the detector (the collection's result contract).
  returned: always
  type: str
  sample: update
changes:
  description: The detector's settings that differ (C(tags) for its tags).
  returned: always
  type: list
  elements: str
  sample: [finding_publishing_frequency]
unverified:
  description: What the run could not verify (nothing, for a detector).
  returned: always
  type: list
  elements: str
  sample: []
detector_id:
  description: ID of the detector (empty when absent, or in check mode before it exists).
  returned: always
  type: str
  sample: 12abc34d567e8fa901bc2d34e56789f0
detector:
  description: The detector's settings as compared by the module; empty when absent.
  returned: always
  type: dict
  sample:
    detector_id: 12abc34d567e8fa901bc2d34e56789f0
    status: ENABLED
    finding_publishing_frequency: FIFTEEN_MINUTES
    features: {S3_DATA_EVENTS: ENABLED, EKS_AUDIT_LOGS: ENABLED}
    additional_configuration: {}
    service_role: >-
      arn:aws:iam::123456789012:role/aws-service-role/guardduty.amazonaws.com/AWSServiceRoleForAmazonGuardDuty
    tags: {Project: GiftCrypto}
"""

from typing import ClassVar

from ansible_collections.amazon.aws.plugins.module_utils.iam import get_aws_account_info
from ansible_collections.giftcrypto.platform.plugins.module_utils.aws_resource import (
    AWSResource,
    run,
    tag_by_arn_dict,
)
from ansible_collections.giftcrypto.platform.plugins.module_utils.tag_plan import settable

STATUS = ["ENABLED", "DISABLED"]
FEATURE = {
    "name": {"type": "str", "required": True},
    "status": {"type": "str", "default": "ENABLED", "choices": STATUS},
}


class Detector(AWSResource):
    service = "guardduty"
    resource = "detector"
    noun = "GuardDuty detector"
    shared = ("state", "tags", "purge_tags")
    options: ClassVar[dict] = {
        "enable": {"type": "bool", "default": True},
        "finding_publishing_frequency": {
            "type": "str",
            "choices": ["FIFTEEN_MINUTES", "ONE_HOUR", "SIX_HOURS"],
        },
        "features": {
            "type": "list",
            "elements": "dict",
            "options": {
                **FEATURE,
                "additional_configuration": {"type": "list", "elements": "dict", "options": FEATURE},
            },
        },
    }

    def describe(self):
        ids = self.paginate("list_detectors")["DetectorIds"]
        if not ids:
            return None
        return {"DetectorId": ids[0], **self.client.get_detector(aws_retry=True, DetectorId=ids[0])}

    def view(self, described):
        features = {}
        additional = {}
        for feature in described.get("Features") or []:
            features[feature["Name"]] = feature.get("Status")
            for sub in feature.get("AdditionalConfiguration") or []:
                additional[f"{feature['Name']}/{sub['Name']}"] = sub.get("Status")
        return {
            "detector_id": described["DetectorId"],
            "status": described.get("Status"),
            "finding_publishing_frequency": described.get("FindingPublishingFrequency"),
            "features": features,
            "additional_configuration": additional,
            "service_role": described.get("ServiceRole", ""),
            "tags": dict(described.get("Tags") or {}),
        }

    def _wanted(self):
        features = {}
        additional = {}
        for feature in self.params["features"] or []:
            features[feature["name"]] = feature["status"]
            for sub in feature.get("additional_configuration") or []:
                additional[f"{feature['name']}/{sub['name']}"] = sub["status"]
        return features, additional

    def plan(self, current):
        base = current or {
            "detector_id": "",
            "finding_publishing_frequency": "SIX_HOURS",
            "features": {},
            "additional_configuration": {},
            "service_role": "",
        }
        features, additional = self._wanted()
        return {
            **base,
            "status": "ENABLED" if self.params["enable"] else "DISABLED",
            "finding_publishing_frequency": self.params["finding_publishing_frequency"]
            or base["finding_publishing_frequency"],
            "features": {**base["features"], **features},
            "additional_configuration": {**base["additional_configuration"], **additional},
        }

    def _settings(self):
        request = {"Enable": self.params["enable"]}
        if self.params["finding_publishing_frequency"]:
            request["FindingPublishingFrequency"] = self.params["finding_publishing_frequency"]
        features = []
        for feature in self.params["features"] or []:
            item = {"Name": feature["name"], "Status": feature["status"]}
            if feature.get("additional_configuration"):
                item["AdditionalConfiguration"] = [
                    {"Name": sub["name"], "Status": sub["status"]}
                    for sub in feature["additional_configuration"]
                ]
            features.append(item)
        if features:
            request["Features"] = features
        return request

    def create(self, planned):
        request = self._settings()
        if settable(planned["tags"]):
            request["Tags"] = settable(planned["tags"])
        self.client.create_detector(aws_retry=True, **request)

    def update(self, current, planned, changes):
        self.client.update_detector(aws_retry=True, DetectorId=current["detector_id"], **self._settings())

    def delete(self, current):
        self.client.delete_detector(aws_retry=True, DetectorId=current["detector_id"])

    def tag(self, current, to_set, to_unset):
        account_id, partition = get_aws_account_info(self.module)
        arn = f"arn:{partition}:guardduty:{self.module.region}:{account_id}:detector/{current['detector_id']}"
        tag_by_arn_dict(self.client, arn, to_set, to_unset)

    def outputs(self, view):
        return {"detector_id": view.get("detector_id", "")}

    def name(self, view):
        return (view or {}).get("detector_id", "")


def main():
    run(Detector)


if __name__ == "__main__":
    main()
