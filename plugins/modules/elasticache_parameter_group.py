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
  - GiftCrypto platform team (@giftcrypto)
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
notes:
  - C(ModifyCacheParameterGroup) takes at most 20 parameters a call; longer lists are sent in batches.
  - RV(changes) names each parameter that differs as C(parameters.<name>).
extends_documentation_fragment: [giftcrypto.platform.aws_resource, giftcrypto.platform.aws_resource.state,
  amazon.aws.common.modules, amazon.aws.region.modules, amazon.aws.tags, amazon.aws.boto3]
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
planned:
  description: What the run did or would do to the parameter group (the collection's result contract).
  returned: always
  type: str
  sample: update
changes:
  description: Each parameter that differs as C(parameters.<name>), and C(tags) for the tags.
  returned: always
  type: list
  elements: str
  sample: [parameters.maxmemory-policy]
unverified:
  description: Always empty, every parameter the options list is read, and the tags.
  returned: always
  type: list
  elements: str
  sample: []
parameter_group:
  description: The group after the run (planned in check mode), with the listed parameters; empty when absent.
  returned: always
  type: dict
  sample:
    name: giftcrypto-production-redis7
    family: redis7
    description: GiftCrypto Redis 7
    arn: arn:aws:elasticache:us-east-1:123456789012:parametergroup:giftcrypto-production-redis7
    parameters: {maxmemory-policy: volatile-lru}
    tags: {}
parameters:
  description: The listed parameters' values after the run (planned, in check mode), as text.
  returned: always
  type: dict
  sample: {maxmemory-policy: volatile-lru}
"""

import re
from typing import ClassVar

try:
    from botocore.parsers import ResponseParserError
except ImportError:  # AnsibleAWSModule fails first, naming the missing botocore
    ResponseParserError = ValueError

from ansible_collections.amazon.aws.plugins.module_utils.tagging import ansible_dict_to_boto3_tag_list
from ansible_collections.giftcrypto.platform.plugins.module_utils.aws_resource import (
    AWSResource,
    ResourceProblem,
    run,
    tag_by_resource_name,
)
from ansible_collections.giftcrypto.platform.plugins.module_utils.tag_plan import resource_tags, settable

NAME_PATTERN = re.compile(r"^[A-Za-z](?!.*--)[A-Za-z0-9-]{0,254}(?<!-)$")
FAMILY_PATTERN = re.compile(r"^(redis|memcached|valkey)[0-9][0-9.x]*$")
PARAMETER_NAME = re.compile(r"^[a-z][a-z0-9-]{0,254}$")
BATCH = 20


def as_text(value):
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, str):
        return value
    return None


class ParameterGroup(AWSResource):
    service = "elasticache"
    resource = "parameter_group"
    noun = "cache parameter group"
    named_by = "name"
    shared = ("state", "tags", "purge_tags")
    not_found = ("CacheParameterGroupNotFound", "CacheParameterGroupNotFoundFault")
    options: ClassVar[dict] = {
        "name": {"type": "str", "required": True},
        "family": {"type": "str"},
        "description": {"type": "str"},
        "parameters": {"type": "dict", "default": {}},
    }

    def validate(self):
        problems = {}
        name, family = self.params["name"], self.params["family"]
        if not NAME_PATTERN.fullmatch(name or ""):
            problems["name"] = (
                f"a letter then up to 254 letters, digits or hyphens, no -- nor trailing -, got {name}"
            )
        if family is not None and not FAMILY_PATTERN.fullmatch(family):
            problems["family"] = f"a family such as redis7, got {family}"
        bad_names = []
        for key, value in (self.params["parameters"] or {}).items():
            if not PARAMETER_NAME.fullmatch(str(key)):
                bad_names.append(f"{key!r} is not a parameter name")
            elif as_text(value) is None:
                problems[f"parameters.{key}"] = "a value must be text, a number or a boolean"
        if bad_names:
            problems["parameters"] = "; ".join(bad_names)
        return problems

    def _wanted(self):
        return {str(key): as_text(value) for key, value in sorted((self.params["parameters"] or {}).items())}

    def describe(self):
        name = self.params["name"]
        try:
            found = self.client.describe_cache_parameter_groups(aws_retry=True, CacheParameterGroupName=name)
        except ResponseParserError as error:
            # An endpoint without this API (moto 5.2 answers an HTML page): said, and cut short.
            raise ResourceProblem(
                f"the endpoint's answer is not an ElastiCache API response: {str(error)[:300]}"
            ) from None
        groups = found.get("CacheParameterGroups") or []
        if not groups:
            return None
        values = {}
        for parameter in self.paginate("describe_cache_parameters", CacheParameterGroupName=name)[
            "Parameters"
        ]:
            values[parameter["ParameterName"]] = parameter.get("ParameterValue")
        return {**groups[0], "Values": values, "Tags": resource_tags(self.client, groups[0].get("ARN"))}

    def view(self, described):
        return {
            "name": described.get("CacheParameterGroupName", ""),
            "family": described.get("CacheParameterGroupFamily", ""),
            "description": described.get("Description", ""),
            "arn": described.get("ARN", ""),
            "parameters": {key: described["Values"].get(key) for key in self._wanted()},
            "tags": described["Tags"],
        }

    def plan(self, current):
        name, family = self.params["name"], self.params["family"]
        if current is None and not family:
            raise ResourceProblem("family is required to create it")
        if current and family and current["family"] != family:
            raise ResourceProblem(
                f"family={family}: {name} exists with the family {current['family']}, which cannot change"
            )
        current = current or {}
        return {
            "name": name,
            "family": current.get("family") or family,
            "description": current.get("description") or self.params["description"] or name,
            "arn": current.get("arn", ""),
            "parameters": self._wanted(),
        }

    def differences(self, current, planned):
        have = current.get("parameters") or {}
        return [f"parameters.{key}" for key, value in planned["parameters"].items() if have.get(key) != value]

    def _modify(self, names, values):
        for start in range(0, len(names), BATCH):
            self.client.modify_cache_parameter_group(
                aws_retry=True,
                CacheParameterGroupName=self.params["name"],
                ParameterNameValues=[
                    {"ParameterName": key, "ParameterValue": values[key]}
                    for key in names[start : start + BATCH]
                ],
            )

    def create(self, planned):
        request = {
            "CacheParameterGroupName": planned["name"],
            "CacheParameterGroupFamily": planned["family"],
            "Description": planned["description"],
        }
        if settable(planned["tags"]):
            request["Tags"] = ansible_dict_to_boto3_tag_list(settable(planned["tags"]))
        self.client.create_cache_parameter_group(aws_retry=True, **request)
        self._modify(list(planned["parameters"]), planned["parameters"])

    def update(self, current, planned, changes):
        self._modify([change.removeprefix("parameters.") for change in changes], planned["parameters"])

    def tag(self, current, to_set, to_unset):
        tag_by_resource_name(self.client, current["arn"], to_set, to_unset)

    def delete(self, current):
        self.client.delete_cache_parameter_group(aws_retry=True, CacheParameterGroupName=self.params["name"])

    def outputs(self, view):
        return {"parameters": view.get("parameters", {})}


def main():
    run(ParameterGroup)


if __name__ == "__main__":
    main()
