#!/usr/bin/python
# Copyright: GiftCrypto platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: elasticache_parameter_group
short_description: Manage an ElastiCache cache parameter group and its parameters
version_added: 0.1.0
description:
  - Creates, updates or deletes an Amazon ElastiCache cache parameter group
    (C(CreateCacheParameterGroup), C(ModifyCacheParameterGroup), C(DeleteCacheParameterGroup)) and
    sets the listed parameters, compared one by one with C(DescribeCacheParameters).
  - Fills a gap, C(community.aws.elasticache_parameter_group) accepts no family newer than
    C(redis6.x) (so no Redis 7 group), has no check mode and no tags.
author:
  - GiftCrypto platform team
options:
  name:
    description: Name of the group, a letter then up to 254 letters, digits or hyphens.
    type: str
    required: true
  family:
    description: Family of the group (for example C(redis7)). Required to create it; it cannot change.
    type: str
  description:
    description: Description, used when the group is created. Defaults to the name.
    type: str
  parameters:
    description:
      - Parameters to set, by name; values compared as text (C(true)/C(false) become C(yes)/C(no),
        as Redis writes them). Parameters not listed are left alone.
    type: dict
    default: {}
  state:
    description: Whether the group exists.
    type: str
    choices: [present, absent]
    default: present
notes:
  - Supports check mode, which reports the parameters that would be set without calling a write API.
  - Supports diff (the listed parameters before and after).
  - C(ModifyCacheParameterGroup) takes at most 20 parameters a call; longer lists are sent in batches.
  - Calls are retried with a jittered exponential backoff when ElastiCache throttles them.
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.tags
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: Redis 7 that evicts the least recently used keys that have an expiry
  giftcrypto.platform.elasticache_parameter_group:
    name: giftcrypto-production-redis7
    family: redis7
    description: GiftCrypto Redis 7
    parameters:
      maxmemory-policy: volatile-lru
      notify-keyspace-events: ""
"""

RETURN = r"""
parameter_group:
  description: The group after the run (planned, in check mode); empty when absent.
  returned: always
  type: dict
  sample:
    name: giftcrypto-production-redis7
    family: redis7
    description: GiftCrypto Redis 7
    arn: ""
    tags: {}
parameters:
  description: The listed parameters' values after the run (planned, in check mode), as text.
  returned: always
  type: dict
  sample: {maxmemory-policy: volatile-lru}
modified:
  description: Names of the parameters set by this run (that would be, in check mode).
  returned: always
  type: list
  elements: str
"""

import re

try:
    import botocore
    import botocore.parsers

    # What a call can raise: the API's errors, botocore's own, and an answer that is not the API's
    # (an endpoint that answers an HTML page, as the local endpoint does for an operation it lacks).
    API_ERRORS = (
        botocore.exceptions.ClientError,
        botocore.exceptions.BotoCoreError,
        botocore.parsers.ResponseParserError,
    )
except ImportError:
    API_ERRORS = ()  # AnsibleAWSModule fails first, naming the missing botocore

from ansible.module_utils.six import string_types
from ansible_collections.amazon.aws.plugins.module_utils.botocore import is_boto3_error_code
from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry
from ansible_collections.amazon.aws.plugins.module_utils.tagging import (
    ansible_dict_to_boto3_tag_list,
)
from ansible_collections.giftcrypto.platform.plugins.module_utils.tag_plan import (
    plan_tags,
    resource_tags,
    settable,
)

NAME_PATTERN = re.compile(r"^[A-Za-z](?!.*--)[A-Za-z0-9-]{0,254}(?<!-)$")
FAMILY_PATTERN = re.compile(r"^(redis|memcached|valkey)[0-9][0-9.x]*$")
PARAMETER_NAME = re.compile(r"^[a-z][a-z0-9-]{0,254}$")
NOT_FOUND = ["CacheParameterGroupNotFound", "CacheParameterGroupNotFoundFault"]
BATCH = 20


def as_text(value):
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, string_types):
        return value
    return None


def check_input(params):
    problems = []
    if not NAME_PATTERN.fullmatch(params["name"] or ""):
        problems.append(
            f"name={params['name']}: a letter then up to 254 letters, digits or hyphens, no -- nor trailing -"
        )
    family = params["family"]
    if family is not None and not FAMILY_PATTERN.fullmatch(family):
        problems.append(f"family={family}: a family such as redis7")
    for key, value in (params["parameters"] or {}).items():
        if not PARAMETER_NAME.fullmatch(str(key)):
            problems.append(f"parameters: {key!r} is not a parameter name")
        elif as_text(value) is None:
            problems.append(f"parameters.{key}: a value must be text, a number or a boolean")
    return problems


def _fail(module, error, msg):
    """fail_json_aws, except for an answer that is not the API's: that one is named, and cut short."""
    if isinstance(error, botocore.parsers.ResponseParserError):
        module.fail_json(
            msg=f"{msg}: the endpoint's answer is not an ElastiCache API response. An endpoint without "
            "cache parameter groups (moto 5.2) answers an HTML page; the staging plan against the local "
            "endpoint sets aws_elasticache_parameter_group_enabled: false. botocore: " + str(error)[:300]
        )
    module.fail_json_aws(error, msg=msg)


def _describe(client, name):
    try:
        found = client.describe_cache_parameter_groups(aws_retry=True, CacheParameterGroupName=name)
    except is_boto3_error_code(NOT_FOUND):
        return None
    groups = found.get("CacheParameterGroups") or []
    return groups[0] if groups else None


def _values(client, name):
    values = {}
    request = {"CacheParameterGroupName": name}
    while True:
        page = client.describe_cache_parameters(aws_retry=True, **request)
        for parameter in page.get("Parameters") or []:
            values[parameter["ParameterName"]] = parameter.get("ParameterValue")
        if not page.get("Marker"):
            return values
        request["Marker"] = page["Marker"]


def _view(group, tags):
    if not group:
        return {}
    return {
        "name": group.get("CacheParameterGroupName", ""),
        "family": group.get("CacheParameterGroupFamily", ""),
        "description": group.get("Description", ""),
        "arn": group.get("ARN", ""),
        "tags": tags,
    }


def main():
    argument_spec = dict(
        name=dict(type="str", required=True),
        family=dict(type="str"),
        description=dict(type="str"),
        parameters=dict(type="dict", default={}),
        tags=dict(type="dict", aliases=["resource_tags"]),
        purge_tags=dict(type="bool", default=True),
        state=dict(type="str", default="present", choices=["present", "absent"]),
    )
    module = AnsibleAWSModule(argument_spec=argument_spec, supports_check_mode=True)
    params = module.params
    problems = check_input(params)
    if problems:
        module.fail_json(msg="Refused the cache parameter group: " + "; ".join(problems))
    name = params["name"]
    wanted = {str(key): as_text(value) for key, value in (params["parameters"] or {}).items()}
    client = module.client("elasticache", retry_decorator=AWSRetry.jittered_backoff(retries=10))
    try:
        group = _describe(client, name)
        values = _values(client, name) if group else {}
        tags_before = resource_tags(client, group.get("ARN")) if group else {}
    except API_ERRORS as e:
        _fail(module, e, f"Could not read the cache parameter group {name}")
    before = {
        "parameter_group": _view(group, tags_before),
        "parameters": {k: values.get(k) for k in sorted(wanted)},
    }

    if params["state"] == "absent":
        if group and not module.check_mode:
            try:
                client.delete_cache_parameter_group(aws_retry=True, CacheParameterGroupName=name)
            except is_boto3_error_code(NOT_FOUND):
                pass
            except API_ERRORS as e:  # pylint: disable=duplicate-except
                _fail(module, e, f"Could not delete the cache parameter group {name}")
        module.exit_json(
            changed=group is not None,
            parameter_group={},
            parameters={},
            modified=[],
            diff={"before": before, "after": {}},
        )

    if group is None and not params["family"]:
        module.fail_json(msg=f"family is required to create the cache parameter group {name}")
    if group and params["family"] and group.get("CacheParameterGroupFamily") != params["family"]:
        module.fail_json(
            msg=(
                f"family={params['family']}: {name} exists with the family "
                f"{group.get('CacheParameterGroupFamily')}, which cannot change"
            )
        )
    to_modify = {key: value for key, value in wanted.items() if values.get(key) != value}
    tags_after, tags_to_set, tags_to_unset = plan_tags(tags_before, params["tags"], params["purge_tags"])
    changed = group is None or bool(to_modify or tags_to_set or tags_to_unset)
    planned_group = {
        "name": name,
        "family": (group or {}).get("CacheParameterGroupFamily") or params["family"],
        "description": (group or {}).get("Description") or params["description"] or name,
        "arn": (group or {}).get("ARN", ""),
        "tags": tags_after,
    }
    if module.check_mode or not changed:
        module.exit_json(
            changed=changed,
            parameter_group=planned_group,
            parameters=dict(sorted(wanted.items())),
            modified=sorted(to_modify),
            diff={
                "before": before,
                "after": {"parameter_group": planned_group, "parameters": dict(sorted(wanted.items()))},
            },
        )
    try:
        if group is None:
            request = {
                "CacheParameterGroupName": name,
                "CacheParameterGroupFamily": params["family"],
                "Description": params["description"] or name,
            }
            if settable(tags_after):
                request["Tags"] = ansible_dict_to_boto3_tag_list(settable(tags_after))
            group = client.create_cache_parameter_group(aws_retry=True, **request)["CacheParameterGroup"]
        else:
            if tags_to_unset:
                client.remove_tags_from_resource(
                    aws_retry=True, ResourceName=group["ARN"], TagKeys=tags_to_unset
                )
            if tags_to_set:
                client.add_tags_to_resource(
                    aws_retry=True,
                    ResourceName=group["ARN"],
                    Tags=ansible_dict_to_boto3_tag_list(tags_to_set),
                )
        names = sorted(to_modify)
        for start in range(0, len(names), BATCH):
            client.modify_cache_parameter_group(
                aws_retry=True,
                CacheParameterGroupName=name,
                ParameterNameValues=[
                    {"ParameterName": key, "ParameterValue": to_modify[key]}
                    for key in names[start : start + BATCH]
                ],
            )
        group = _describe(client, name) or group
        values = _values(client, name)
        tags_final = resource_tags(client, group.get("ARN"))
    except API_ERRORS as e:
        _fail(module, e, f"Could not write the cache parameter group {name}")
    after = {
        "parameter_group": _view(group, tags_final),
        "parameters": {k: values.get(k) for k in sorted(wanted)},
    }
    module.exit_json(
        changed=True,
        parameter_group=after["parameter_group"],
        parameters=after["parameters"],
        modified=sorted(to_modify),
        diff={"before": before, "after": after},
    )


if __name__ == "__main__":
    main()
