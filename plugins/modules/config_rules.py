#!/usr/bin/python
# Copyright: GiftCrypto platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: config_rules
short_description: Manage a set of AWS Config managed rules in one task
version_added: 0.1.0
description:
  - Creates, updates or deletes AWS Config rules backed by AWS managed rules (source owner
    C(AWS), for example C(CLOUD_TRAIL_ENABLED) or C(S3_BUCKET_SSL_REQUESTS_ONLY)), with their input
    parameters, scope, periodic frequency and tags.
  - Takes the whole set at once, one describe for all the rules instead of one module run per
    rule, which matters when a baseline holds a dozen rules.
  - Fills a gap, C(community.aws.config_rule) fails on a second run against the same settings
    (C(list index out of range), then C(KeyError 'EvaluationModes'), measured).
  - Custom (Lambda) rules and service-linked rules are out of scope; service-linked rules (those
    with C(CreatedBy), for example Security Hub's) are never changed nor purged.
author:
  - GiftCrypto platform team
options:
  rules:
    description: The rules.
    type: list
    elements: dict
    required: true
    suboptions:
      name:
        description: Name of the rule.
        type: str
        required: true
      source_identifier:
        description: Identifier of the AWS managed rule (for example V(IAM_PASSWORD_POLICY)).
        type: str
        required: true
      description:
        description: Description of the rule.
        type: str
        default: ""
      input_parameters:
        description:
          - Parameters of the managed rule. Values are sent as strings (V(true) becomes C("true"),
            V(14) becomes C("14")), as AWS Config expects.
        type: dict
        default: {}
      resource_types:
        description:
          - Resource types the rule evaluates (its scope, for example V(AWS::S3::Bucket)); empty for all.
        type: list
        elements: str
        default: []
      maximum_execution_frequency:
        description: How often a periodic rule runs; unset leaves the current (or AWS's default) frequency.
        type: str
        choices: [One_Hour, Three_Hours, Six_Hours, Twelve_Hours, TwentyFour_Hours]
  purge_rules:
    description:
      - Delete the account's rules that are not listed in O(rules) (service-linked rules excepted).
      - Only with O(state=present).
    type: bool
    default: false
  state:
    description: Whether the listed rules exist (V(present)) or are deleted (V(absent)).
    type: str
    choices: [present, absent]
    default: present
notes:
  - Supports check mode, which reports the rules that would be created, updated or deleted without
    calling a write API.
  - Supports diff (the rules by name before and after).
  - Rule tags are read with C(ListTagsForResource) only when O(tags) is set.
  - Lives in the collection's C(aws) action group so that C(module_defaults) for
    C(group/amazon.aws.aws) give it region, endpoint and credentials.
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.tags
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: A baseline of managed rules
  giftcrypto.platform.config_rules:
    rules:
      - name: cloudtrail-log-file-validation-enabled
        source_identifier: CLOUD_TRAIL_LOG_FILE_VALIDATION_ENABLED
      - name: iam-password-policy
        source_identifier: IAM_PASSWORD_POLICY
        input_parameters:
          MinimumPasswordLength: 14
          RequireSymbols: true
        maximum_execution_frequency: TwentyFour_Hours
      - name: s3-bucket-ssl-requests-only
        source_identifier: S3_BUCKET_SSL_REQUESTS_ONLY
        resource_types: [AWS::S3::Bucket]
    tags:
      Project: GiftCrypto

- name: Delete two rules
  giftcrypto.platform.config_rules:
    rules:
      - {name: iam-password-policy, source_identifier: IAM_PASSWORD_POLICY}
      - {name: s3-bucket-ssl-requests-only, source_identifier: S3_BUCKET_SSL_REQUESTS_ONLY}
    state: absent
"""

RETURN = r"""
rules:
  description:
    - The listed rules after the run, as compared by the module (planned, in check mode).
    - Empty when O(state=absent).
  returned: always
  type: list
  elements: dict
  sample:
    - name: iam-password-policy
      arn: arn:aws:config:us-east-1:123456789012:config-rule/config-rule-abcdef
      source_identifier: IAM_PASSWORD_POLICY
      description: ""
      input_parameters: {MinimumPasswordLength: "14", RequireSymbols: "true"}
      resource_types: []
      maximum_execution_frequency: TwentyFour_Hours
      tags: {Project: GiftCrypto}
created:
  description: Names of the rules created (or that would be, in check mode).
  returned: always
  type: list
  elements: str
updated:
  description: Names of the rules whose settings or tags were changed.
  returned: always
  type: list
  elements: str
deleted:
  description: Names of the rules deleted.
  returned: always
  type: list
  elements: str
"""

import json

try:  # noqa: SIM105 -- the usual optional-import guard of Ansible modules
    import botocore
except ImportError:
    pass  # handled by AnsibleAWSModule

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry
from ansible_collections.amazon.aws.plugins.module_utils.tagging import (
    ansible_dict_to_boto3_tag_list,
    boto3_tag_list_to_ansible_dict,
)
from ansible_collections.giftcrypto.platform.plugins.module_utils.tag_plan import plan_tags, settable

FREQUENCIES = ["One_Hour", "Three_Hours", "Six_Hours", "Twelve_Hours", "TwentyFour_Hours"]


def _as_string(value):
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, dict)):
        return json.dumps(value, sort_keys=True)
    return str(value)


@AWSRetry.jittered_backoff(retries=10)
def _all_rules(client):
    return client.get_paginator("describe_config_rules").paginate().build_full_result()["ConfigRules"]


def _view(rule, tags):
    source = rule.get("Source") or {}
    try:
        parameters = json.loads(rule.get("InputParameters") or "{}")
    except ValueError:
        parameters = {"_unparsed": rule.get("InputParameters")}
    view = {
        "name": rule["ConfigRuleName"],
        "arn": rule.get("ConfigRuleArn", ""),
        "source_identifier": source.get("SourceIdentifier", ""),
        "description": rule.get("Description") or "",
        "input_parameters": {key: _as_string(value) for key, value in parameters.items()},
        "resource_types": sorted((rule.get("Scope") or {}).get("ComplianceResourceTypes") or []),
        "maximum_execution_frequency": rule.get("MaximumExecutionFrequency") or "",
    }
    if tags is not None:
        view["tags"] = tags
    return view


def _wanted(spec, current, tags):
    """The view the rule ends with (``current`` gives what the spec leaves unset: ARN, frequency)."""
    view = {
        "name": spec["name"],
        "arn": (current or {}).get("arn", ""),
        "source_identifier": spec["source_identifier"],
        "description": spec["description"] or "",
        "input_parameters": {
            key: _as_string(value) for key, value in (spec["input_parameters"] or {}).items()
        },
        "resource_types": sorted(spec["resource_types"] or []),
        "maximum_execution_frequency": spec["maximum_execution_frequency"]
        or (current or {}).get("maximum_execution_frequency", ""),
    }
    if tags is not None:
        view["tags"] = tags
    return view


def _request(wanted):
    rule = {
        "ConfigRuleName": wanted["name"],
        "Source": {"Owner": "AWS", "SourceIdentifier": wanted["source_identifier"]},
    }
    if wanted["description"]:
        rule["Description"] = wanted["description"]
    if wanted["input_parameters"]:
        rule["InputParameters"] = json.dumps(wanted["input_parameters"], sort_keys=True)
    if wanted["resource_types"]:
        rule["Scope"] = {"ComplianceResourceTypes": wanted["resource_types"]}
    if wanted["maximum_execution_frequency"]:
        rule["MaximumExecutionFrequency"] = wanted["maximum_execution_frequency"]
    return rule


def _settings(view):
    return {key: value for key, value in view.items() if key not in ("tags", "arn")}


def main():
    argument_spec = dict(
        rules=dict(
            type="list",
            elements="dict",
            required=True,
            options=dict(
                name=dict(type="str", required=True),
                source_identifier=dict(type="str", required=True),
                description=dict(type="str", default=""),
                input_parameters=dict(type="dict", default={}),
                resource_types=dict(type="list", elements="str", default=[]),
                maximum_execution_frequency=dict(type="str", choices=FREQUENCIES),
            ),
        ),
        purge_rules=dict(type="bool", default=False),
        tags=dict(type="dict", aliases=["resource_tags"]),
        purge_tags=dict(type="bool", default=True),
        state=dict(type="str", default="present", choices=["present", "absent"]),
    )
    module = AnsibleAWSModule(argument_spec=argument_spec, supports_check_mode=True)
    params = module.params
    names = [spec["name"] for spec in params["rules"]]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        module.fail_json(msg=f"rules: each name must appear once, repeated: {', '.join(duplicates)}")
    client = module.client("config", retry_decorator=AWSRetry.jittered_backoff(retries=10))
    manage_tags = params["tags"] is not None

    try:
        existing = {rule["ConfigRuleName"]: rule for rule in _all_rules(client)}
        have_tags = {}
        if manage_tags:
            for name in names:
                if name in existing:
                    listed = client.list_tags_for_resource(
                        aws_retry=True, ResourceArn=existing[name]["ConfigRuleArn"]
                    )["Tags"]
                    have_tags[name] = boto3_tag_list_to_ansible_dict(listed)
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
        module.fail_json_aws(e, msg="Could not describe the Config rules")

    ours = [name for name in names if name in existing]
    before = {name: _view(existing[name], have_tags.get(name) if manage_tags else None) for name in ours}

    if params["state"] == "absent":
        deleted = [name for name in ours if not existing[name].get("CreatedBy")]
        try:
            for name in deleted if not module.check_mode else []:
                client.delete_config_rule(aws_retry=True, ConfigRuleName=name)
        except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
            module.fail_json_aws(e, msg="Could not delete the Config rules")
        module.exit_json(
            changed=bool(deleted),
            rules=[],
            created=[],
            updated=[],
            deleted=deleted,
            diff={"before": before, "after": {}},
        )

    created, updated, after = [], [], {}
    plans = []
    for spec in params["rules"]:
        name = spec["name"]
        current = before.get(name)
        tags, to_set, to_unset = plan_tags(have_tags.get(name, {}), params["tags"], params["purge_tags"])
        wanted = _wanted(spec, current, tags if manage_tags else None)
        if current is None:
            created.append(name)
        elif existing[name].get("CreatedBy"):
            wanted = current  # service-linked: never ours to change
        elif _settings(wanted) != _settings(current) or to_set or to_unset:
            updated.append(name)
        after[name] = wanted
        plans.append((name, current, wanted, tags, to_set, to_unset))

    purged = []
    if params["purge_rules"]:
        purged = sorted(
            name for name, rule in existing.items() if name not in after and not rule.get("CreatedBy")
        )
        for name in purged:
            before[name] = _view(existing[name], None)

    changed = bool(created or updated or purged)
    if module.check_mode or not changed:
        module.exit_json(
            changed=changed,
            rules=list(after.values()),
            created=created,
            updated=updated,
            deleted=purged,
            diff={"before": before, "after": after},
        )

    try:
        for name, current, wanted, tags, to_set, to_unset in plans:
            if name in created:
                request = {"ConfigRule": _request(wanted)}
                if settable(tags):
                    request["Tags"] = ansible_dict_to_boto3_tag_list(settable(tags))
                client.put_config_rule(aws_retry=True, **request)
            elif name in updated:
                if _settings(wanted) != _settings(current):
                    request = {"ConfigRule": _request(wanted)}
                    # The rule's tags go along, so that no endpoint takes an update for a retag.
                    if manage_tags and settable(tags):
                        request["Tags"] = ansible_dict_to_boto3_tag_list(settable(tags))
                    client.put_config_rule(aws_retry=True, **request)
                arn = existing[name]["ConfigRuleArn"]
                if to_unset:
                    client.untag_resource(aws_retry=True, ResourceArn=arn, TagKeys=to_unset)
                if to_set:
                    client.tag_resource(
                        aws_retry=True, ResourceArn=arn, Tags=ansible_dict_to_boto3_tag_list(to_set)
                    )
        for name in purged:
            client.delete_config_rule(aws_retry=True, ConfigRuleName=name)
        existing = {rule["ConfigRuleName"]: rule for rule in _all_rules(client)}
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
        module.fail_json_aws(e, msg="Could not apply the Config rules")

    after = {
        name: {**_view(existing[name], None), **({"tags": view["tags"]} if manage_tags else {})}
        for name, view in after.items()
    }
    module.exit_json(
        changed=True,
        rules=list(after.values()),
        created=created,
        updated=updated,
        deleted=purged,
        diff={"before": before, "after": after},
    )


if __name__ == "__main__":
    main()
