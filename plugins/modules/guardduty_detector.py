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
  - GiftCrypto platform team
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
  state:
    description: Whether the detector exists.
    type: str
    choices: [present, absent]
    default: present
notes:
  - Supports check mode, which reports what would be created or changed without calling a write API.
  - Supports diff (the detector's settings and tags before and after).
  - Tags are read from C(GetDetector) and changed with C(TagResource) and C(UntagResource).
  - Lives in the collection's C(aws) action group so that C(module_defaults) for
    C(group/amazon.aws.aws) give it region, endpoint and credentials.
extends_documentation_fragment:
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

try:  # noqa: SIM105 -- the usual optional-import guard of Ansible modules
    import botocore
except ImportError:
    pass  # handled by AnsibleAWSModule

from ansible_collections.amazon.aws.plugins.module_utils.iam import get_aws_account_info
from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry
from ansible_collections.giftcrypto.platform.plugins.module_utils.tag_plan import plan_tags, settable


def _normalize(detector_id, described):
    """The comparable view of a GetDetector answer (features by name, sub-features by feature/name)."""
    if not described:
        return {}
    features = {}
    additional = {}
    for feature in described.get("Features") or []:
        features[feature["Name"]] = feature.get("Status")
        for sub in feature.get("AdditionalConfiguration") or []:
            additional[f"{feature['Name']}/{sub['Name']}"] = sub.get("Status")
    return {
        "detector_id": detector_id,
        "status": described.get("Status"),
        "finding_publishing_frequency": described.get("FindingPublishingFrequency"),
        "features": features,
        "additional_configuration": additional,
        "service_role": described.get("ServiceRole", ""),
        "tags": dict(described.get("Tags") or {}),
    }


def _wanted_features(module):
    features = {}
    additional = {}
    for feature in module.params["features"] or []:
        features[feature["name"]] = feature["status"]
        for sub in feature.get("additional_configuration") or []:
            additional[f"{feature['name']}/{sub['name']}"] = sub["status"]
    return features, additional


def _features_request(module):
    request = []
    for feature in module.params["features"] or []:
        item = {"Name": feature["name"], "Status": feature["status"]}
        if feature.get("additional_configuration"):
            item["AdditionalConfiguration"] = [
                {"Name": sub["name"], "Status": sub["status"]} for sub in feature["additional_configuration"]
            ]
        request.append(item)
    return request


def _settings_to_change(current, module):
    """Names of the settings (not tags) that differ; an empty list means nothing to update."""
    params = module.params
    changes = []
    if current["status"] != ("ENABLED" if params["enable"] else "DISABLED"):
        changes.append("status")
    frequency = params["finding_publishing_frequency"]
    if frequency and current["finding_publishing_frequency"] != frequency:
        changes.append("finding_publishing_frequency")
    features, additional = _wanted_features(module)
    if any(current["features"].get(name) != status for name, status in features.items()):
        changes.append("features")
    if any(current["additional_configuration"].get(name) != status for name, status in additional.items()):
        changes.append("additional_configuration")
    return changes


def _planned(module, current, tags):
    """What the detector looks like once the wanted settings are applied to ``current``."""
    params = module.params
    features, additional = _wanted_features(module)
    base = current or {
        "detector_id": "",
        "finding_publishing_frequency": "SIX_HOURS",
        "features": {},
        "additional_configuration": {},
        "service_role": "",
    }
    return {
        **base,
        "status": "ENABLED" if params["enable"] else "DISABLED",
        "finding_publishing_frequency": params["finding_publishing_frequency"]
        or base["finding_publishing_frequency"],
        "features": {**base["features"], **features},
        "additional_configuration": {**base["additional_configuration"], **additional},
        "tags": tags,
    }


@AWSRetry.jittered_backoff(retries=10)
def _list_detector_ids(client):
    return client.get_paginator("list_detectors").paginate().build_full_result()["DetectorIds"]


def _find(client):
    ids = _list_detector_ids(client)
    if not ids:
        return None, {}
    return ids[0], client.get_detector(aws_retry=True, DetectorId=ids[0])


def _detector_arn(module, detector_id):
    account_id, partition = get_aws_account_info(module)
    return f"arn:{partition}:guardduty:{module.region}:{account_id}:detector/{detector_id}"


def main():
    feature_spec = dict(
        name=dict(type="str", required=True),
        status=dict(type="str", default="ENABLED", choices=["ENABLED", "DISABLED"]),
    )
    argument_spec = dict(
        enable=dict(type="bool", default=True),
        finding_publishing_frequency=dict(type="str", choices=["FIFTEEN_MINUTES", "ONE_HOUR", "SIX_HOURS"]),
        features=dict(
            type="list",
            elements="dict",
            options=dict(
                **feature_spec,
                additional_configuration=dict(type="list", elements="dict", options=dict(feature_spec)),
            ),
        ),
        tags=dict(type="dict", aliases=["resource_tags"]),
        purge_tags=dict(type="bool", default=True),
        state=dict(type="str", default="present", choices=["present", "absent"]),
    )
    module = AnsibleAWSModule(argument_spec=argument_spec, supports_check_mode=True)
    params = module.params
    client = module.client("guardduty", retry_decorator=AWSRetry.jittered_backoff(retries=10))

    try:
        detector_id, described = _find(client)
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
        module.fail_json_aws(e, msg="Could not describe the GuardDuty detector")
    before = _normalize(detector_id, described)

    if params["state"] == "absent":
        if detector_id and not module.check_mode:
            try:
                client.delete_detector(aws_retry=True, DetectorId=detector_id)
            except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
                module.fail_json_aws(e, msg=f"Could not delete the GuardDuty detector {detector_id}")
        module.exit_json(
            changed=bool(detector_id), detector_id="", detector={}, diff={"before": before, "after": {}}
        )

    tags, to_set, to_unset = plan_tags(before.get("tags"), params["tags"], params["purge_tags"])

    if not detector_id:
        planned = _planned(module, None, tags)
        if module.check_mode:
            module.exit_json(changed=True, detector_id="", detector={}, diff={"before": {}, "after": planned})
        request = {"Enable": params["enable"]}
        if params["finding_publishing_frequency"]:
            request["FindingPublishingFrequency"] = params["finding_publishing_frequency"]
        if params["features"]:
            request["Features"] = _features_request(module)
        if settable(tags):
            request["Tags"] = settable(tags)
        try:
            detector_id = client.create_detector(aws_retry=True, **request)["DetectorId"]
            after = _normalize(detector_id, client.get_detector(aws_retry=True, DetectorId=detector_id))
        except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
            module.fail_json_aws(e, msg="Could not create the GuardDuty detector")
        module.exit_json(
            changed=True, detector_id=detector_id, detector=after, diff={"before": {}, "after": after}
        )

    changes = _settings_to_change(before, module)
    changed = bool(changes or to_set or to_unset)
    if module.check_mode or not changed:
        after = _planned(module, before, tags) if changed else before
        module.exit_json(
            changed=changed, detector_id=detector_id, detector=after, diff={"before": before, "after": after}
        )

    try:
        if changes:
            request = {"DetectorId": detector_id, "Enable": params["enable"]}
            if params["finding_publishing_frequency"]:
                request["FindingPublishingFrequency"] = params["finding_publishing_frequency"]
            if params["features"]:
                request["Features"] = _features_request(module)
            client.update_detector(aws_retry=True, **request)
        if to_set or to_unset:
            arn = _detector_arn(module, detector_id)
            if to_unset:
                client.untag_resource(aws_retry=True, ResourceArn=arn, TagKeys=to_unset)
            if to_set:
                client.tag_resource(aws_retry=True, ResourceArn=arn, Tags=to_set)
        after = _normalize(detector_id, client.get_detector(aws_retry=True, DetectorId=detector_id))
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
        module.fail_json_aws(e, msg=f"Could not update the GuardDuty detector {detector_id}")
    module.exit_json(
        changed=True, detector_id=detector_id, detector=after, diff={"before": before, "after": after}
    )


if __name__ == "__main__":
    main()
