#!/usr/bin/python
# Copyright: GiftCrypto platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: rds_parameter_group
short_description: Manage an RDS DB parameter group, its parameters and tags
version_added: 0.1.0
description:
  - Creates, updates or deletes an Amazon RDS DB parameter group (C(CreateDBParameterGroup),
    C(ModifyDBParameterGroup), C(ResetDBParameterGroup), C(DeleteDBParameterGroup)) and sets the
    listed parameters, compared one by one with C(DescribeDBParameters).
  - Fills a gap, C(amazon.aws.rds_instance_param_group) reads fields of C(DescribeDBParameters)
    that not every implementation of the API returns (C(DataType), C(AllowedValues)) and fails on
    such answers (C(list index out of range), then C(KeyError 'DataType')); it also cannot purge the
    parameters that are no longer listed, nor show which parameters a run would change. This module
    needs only C(ParameterName) and C(ParameterValue), uses C(ApplyType), C(IsModifiable) and
    C(Source) when the API gives them, and reports the parameters before and after.
author:
  - GiftCrypto platform team
options:
  name:
    description:
      - Name of the parameter group, a letter then up to 254 letters, digits or hyphens, no two
        hyphens in a row and no hyphen at the end (stored in lower case by RDS, so give it in lower case).
    type: str
    required: true
  family:
    description:
      - The engine family of the group (for example C(postgres14)). Required to create the group;
        a group that exists with another family is refused (a family cannot be changed).
    type: str
  description:
    description:
      - Description of the group, used when it is created (RDS cannot change it later; a different
        description of an existing group only gives a warning). Defaults to the name.
    type: str
  parameters:
    description:
      - Parameters to set, by name. Values are compared as text; C(true) and C(false) become
        C(1) and C(0), numbers their decimal text.
      - Parameters not listed are left alone, unless O(purge_parameters=true).
      - When the API lists the family's parameters (real RDS does), a name it does not know, or a
        parameter it says cannot be modified, is refused before any change.
    type: dict
    default: {}
  purge_parameters:
    description:
      - Reset to the engine default every parameter set by a user (C(Source=user)) that is not in
        O(parameters).
    type: bool
    default: false
  apply_method:
    description:
      - When the changes take effect. C(auto) applies dynamic parameters C(immediate) and static ones
        C(pending-reboot) (after the next reboot), by the C(ApplyType) the API gives, and
        C(immediate) when it gives none.
    type: str
    choices: [auto, immediate, pending-reboot]
    default: auto
  state:
    description: Whether the group exists.
    type: str
    choices: [present, absent]
    default: present
notes:
  - Supports check mode, which reports the parameters that would be set or reset and the tags
    that would change, without calling a write API.
  - Supports diff (the listed and purged parameters, and the tags, before and after).
  - C(ModifyDBParameterGroup) takes at most 20 parameters a call; longer lists are sent in batches.
  - A group used by a DB instance cannot be deleted; RDS refuses it and the module fails with its message.
  - Calls are retried with a jittered exponential backoff when RDS throttles them.
  - Lives in the collection's C(aws) action group so that C(module_defaults) for
    C(group/amazon.aws.aws) give it region, endpoint and credentials.
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.tags
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: PostgreSQL 14 with TLS required and statement auditing
  giftcrypto.platform.rds_parameter_group:
    name: giftcrypto-production-postgres14
    family: postgres14
    description: GiftCrypto PostgreSQL 14
    parameters:
      rds.force_ssl: 1
      shared_preload_libraries: pgaudit,pg_stat_statements
      pgaudit.log: ddl,role
      log_min_duration_statement: 1000
    purge_parameters: true
    tags:
      Project: GiftCrypto

- name: Delete the group (no instance may use it)
  giftcrypto.platform.rds_parameter_group:
    name: giftcrypto-production-postgres14
    state: absent
"""

RETURN = r"""
parameter_group:
  description: The group after the run (planned, in check mode); empty when absent.
  returned: always
  type: dict
  contains:
    name:
      description: Name of the group.
      type: str
      sample: giftcrypto-production-postgres14
    family:
      description: Engine family.
      type: str
      sample: postgres14
    description:
      description: Description.
      type: str
      sample: GiftCrypto PostgreSQL 14
    arn:
      description: ARN; empty in check mode before the group exists.
      type: str
      sample: arn:aws:rds:us-east-1:123456789012:pg:giftcrypto-production-postgres14
    tags:
      description: Tags.
      type: dict
      sample: {Project: GiftCrypto}
parameters:
  description: The listed parameters' values after the run (planned, in check mode), as text.
  returned: always
  type: dict
  sample: {rds.force_ssl: "1", log_min_duration_statement: "1000"}
modified:
  description: Names of the parameters set by this run (that would be, in check mode).
  returned: always
  type: list
  elements: str
  sample: [log_min_duration_statement]
reset:
  description: Names of the parameters reset to their default by this run (that would be, in check mode).
  returned: always
  type: list
  elements: str
  sample: [work_mem]
"""

import re

try:  # noqa: SIM105 -- the usual optional-import guard of Ansible modules
    import botocore
except ImportError:
    pass  # handled by AnsibleAWSModule

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
FAMILY_PATTERN = re.compile(r"^[a-z][a-z0-9.-]{1,62}$")
PARAMETER_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.:-]{0,254}$")
NOT_FOUND = ["DBParameterGroupNotFound", "DBParameterGroupNotFoundFault"]
BATCH = 20  # ModifyDBParameterGroup and ResetDBParameterGroup take at most 20 parameters a call


def as_text(value):
    """The text RDS stores for a parameter value (booleans as 1/0), or None when it cannot be one."""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, string_types):
        return value
    return None


def check_input(params):
    """Problems with the options, each naming the option; an empty list means the input is fine."""
    problems = []
    name = params["name"]
    if not NAME_PATTERN.fullmatch(name or ""):
        problems.append(
            f"name={name}: a letter then up to 254 letters, digits or hyphens, "
            "no two hyphens in a row, no hyphen at the end"
        )
    family = params["family"]
    if family is not None and not FAMILY_PATTERN.fullmatch(family):
        problems.append(f"family={family}: an engine family such as postgres14 (lower case, digits, . and -)")
    for key, value in (params["parameters"] or {}).items():
        if not PARAMETER_NAME.fullmatch(str(key)):
            problems.append(f"parameters: {key!r} is not a parameter name")
        elif as_text(value) is None:
            problems.append(f"parameters.{key}: a value must be text, a number or a boolean")
        elif len(as_text(value)) > 4096:
            problems.append(f"parameters.{key}: a value is at most 4096 characters")
    return problems


def _describe_group(client, name):
    try:
        groups = client.describe_db_parameter_groups(aws_retry=True, DBParameterGroupName=name)
    except is_boto3_error_code(NOT_FOUND):
        return None
    found = groups.get("DBParameterGroups") or []
    return found[0] if found else None


def _describe_parameters(client, name):
    """Every parameter the API lists for the group, by name (paged by hand: the Marker may be absent)."""
    parameters = {}
    request = {"DBParameterGroupName": name}
    while True:
        page = client.describe_db_parameters(aws_retry=True, **request)
        for parameter in page.get("Parameters") or []:
            parameters[parameter["ParameterName"]] = parameter
        marker = page.get("Marker")
        if not marker:
            return parameters
        request["Marker"] = marker


def _is_catalogue(described):
    """Whether the API listed the family's parameters (real RDS), not only the ones set (some stand-ins)."""
    return any(p.get("Source") in ("engine-default", "system") for p in described.values())


def _apply_method(module, parameter):
    method = module.params["apply_method"]
    if method != "auto":
        return method
    return "pending-reboot" if (parameter or {}).get("ApplyType") == "static" else "immediate"


def _plan(module, described, wanted):
    """(to_modify, to_reset): the wanted values that differ, the user-set names no longer listed."""
    to_modify = {}
    for key, value in wanted.items():
        current = described.get(key, {}).get("ParameterValue")
        if current != value:
            to_modify[key] = value
    to_reset = []
    if module.params["purge_parameters"]:
        to_reset = sorted(
            key
            for key, parameter in described.items()
            if key not in wanted
            and parameter.get("Source", "user") == "user"
            and parameter.get("ParameterValue") is not None
        )
    return to_modify, to_reset


def _refuse_unknown(module, described, wanted):
    if not _is_catalogue(described):
        return
    unknown = sorted(key for key in wanted if key not in described)
    fixed = sorted(key for key in wanted if key in described and described[key].get("IsModifiable") is False)
    problems = []
    if unknown:
        problems.append(f"not parameters of family {module.params['family'] or ''}: {', '.join(unknown)}")
    if fixed:
        problems.append(f"cannot be modified: {', '.join(fixed)}")
    if problems:
        module.fail_json(msg=f"parameters of {module.params['name']}: " + "; ".join(problems))


def _view(group, tags):
    if not group:
        return {}
    return {
        "name": group.get("DBParameterGroupName", ""),
        "family": group.get("DBParameterGroupFamily", ""),
        "description": group.get("Description", ""),
        "arn": group.get("DBParameterGroupArn", ""),
        "tags": tags,
    }


def _values(described, names):
    return {key: described[key].get("ParameterValue") for key in sorted(names) if key in described}


def _in_batches(items):
    items = list(items)
    for start in range(0, len(items), BATCH):
        yield items[start : start + BATCH]


def _write(module, client, name, described, to_modify, to_reset):
    for batch in _in_batches(sorted(to_modify)):
        client.modify_db_parameter_group(
            aws_retry=True,
            DBParameterGroupName=name,
            Parameters=[
                {
                    "ParameterName": key,
                    "ParameterValue": to_modify[key],
                    "ApplyMethod": _apply_method(module, described.get(key)),
                }
                for key in batch
            ],
        )
    for batch in _in_batches(to_reset):
        client.reset_db_parameter_group(
            aws_retry=True,
            DBParameterGroupName=name,
            ResetAllParameters=False,
            Parameters=[
                {"ParameterName": key, "ApplyMethod": _apply_method(module, described.get(key))}
                for key in batch
            ],
        )


def main():
    argument_spec = dict(
        name=dict(type="str", required=True),
        family=dict(type="str"),
        description=dict(type="str"),
        parameters=dict(type="dict", default={}),
        purge_parameters=dict(type="bool", default=False),
        apply_method=dict(type="str", default="auto", choices=["auto", "immediate", "pending-reboot"]),
        tags=dict(type="dict", aliases=["resource_tags"]),
        purge_tags=dict(type="bool", default=True),
        state=dict(type="str", default="present", choices=["present", "absent"]),
    )
    module = AnsibleAWSModule(argument_spec=argument_spec, supports_check_mode=True)
    params = module.params
    problems = check_input(params)
    if problems:
        module.fail_json(msg="Refused the parameter group: " + "; ".join(problems))
    name = params["name"]
    wanted = {str(key): as_text(value) for key, value in (params["parameters"] or {}).items()}
    client = module.client("rds", retry_decorator=AWSRetry.jittered_backoff(retries=10))

    try:
        group = _describe_group(client, name)
        described = _describe_parameters(client, name) if group else {}
        tags_before = resource_tags(client, group.get("DBParameterGroupArn")) if group else {}
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
        module.fail_json_aws(e, msg=f"Could not read the parameter group {name}")
    before_view = _view(group, tags_before)

    if params["state"] == "absent":
        if group and not module.check_mode:
            try:
                client.delete_db_parameter_group(aws_retry=True, DBParameterGroupName=name)
            except is_boto3_error_code(NOT_FOUND):
                pass  # deleted meanwhile: the wanted state
            except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:  # pylint: disable=duplicate-except
                module.fail_json_aws(e, msg=f"Could not delete the parameter group {name}")
        module.exit_json(
            changed=group is not None,
            parameter_group={},
            parameters={},
            modified=[],
            reset=[],
            diff={
                "before": {"parameter_group": before_view, "parameters": _values(described, described)},
                "after": {},
            },
        )

    if group is None and not params["family"]:
        module.fail_json(msg=f"family is required to create the parameter group {name}")
    if group and params["family"] and group.get("DBParameterGroupFamily") != params["family"]:
        module.fail_json(
            msg=(
                f"family={params['family']}: the parameter group {name} exists with the family "
                f"{group.get('DBParameterGroupFamily')}, which cannot be changed (use another name)"
            )
        )
    if group and params["description"] and group.get("Description") != params["description"]:
        module.warn(
            f"The description of {name} cannot be changed by RDS: it stays {group.get('Description')!r}"
        )
    _refuse_unknown(module, described, wanted)

    tags_after, tags_to_set, tags_to_unset = plan_tags(tags_before, params["tags"], params["purge_tags"])
    to_modify, to_reset = _plan(module, described, wanted)
    changed = group is None or bool(to_modify or to_reset or tags_to_set or tags_to_unset)
    watched = sorted(set(wanted) | set(to_reset))
    planned_values = {key: wanted[key] for key in wanted}
    before = {"parameter_group": before_view, "parameters": _values(described, watched)}

    if module.check_mode or not changed:
        planned_group = {
            "name": name,
            "family": (group or {}).get("DBParameterGroupFamily") or params["family"],
            "description": (group or {}).get("Description") or params["description"] or name,
            "arn": (group or {}).get("DBParameterGroupArn", ""),
            "tags": tags_after,
        }
        module.exit_json(
            changed=changed,
            parameter_group=planned_group,
            parameters=planned_values,
            modified=sorted(to_modify),
            reset=to_reset,
            diff={
                "before": before,
                "after": {"parameter_group": planned_group, "parameters": planned_values},
            },
        )

    try:
        if group is None:
            request = {
                "DBParameterGroupName": name,
                "DBParameterGroupFamily": params["family"],
                "Description": params["description"] or name,
            }
            if settable(tags_after):
                request["Tags"] = ansible_dict_to_boto3_tag_list(settable(tags_after))
            group = client.create_db_parameter_group(aws_retry=True, **request)["DBParameterGroup"]
            described = _describe_parameters(client, name)
            to_modify, to_reset = _plan(module, described, wanted)
            _refuse_unknown(module, described, wanted)
        else:
            arn = group.get("DBParameterGroupArn")
            if tags_to_unset:
                client.remove_tags_from_resource(aws_retry=True, ResourceName=arn, TagKeys=tags_to_unset)
            if tags_to_set:
                client.add_tags_to_resource(
                    aws_retry=True, ResourceName=arn, Tags=ansible_dict_to_boto3_tag_list(tags_to_set)
                )
        _write(module, client, name, described, to_modify, to_reset)
        group = _describe_group(client, name) or group
        described = _describe_parameters(client, name)
        tags_final = resource_tags(client, group.get("DBParameterGroupArn"))
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
        module.fail_json_aws(e, msg=f"Could not write the parameter group {name}")
    after_view = _view(group, tags_final)
    after_values = _values(described, watched)
    module.exit_json(
        changed=True,
        parameter_group=after_view,
        parameters={key: after_values.get(key) for key in wanted},
        modified=sorted(to_modify),
        reset=to_reset,
        diff={"before": before, "after": {"parameter_group": after_view, "parameters": after_values}},
    )


if __name__ == "__main__":
    main()
