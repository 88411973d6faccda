#!/usr/bin/python
# Copyright: GiftCrypto platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: eks_nodegroup
short_description: Manage an EKS managed node group, its scaling, labels and tags
version_added: 0.1.0
description:
  - Creates, updates or deletes an Amazon EKS managed node group (C(CreateNodegroup),
    C(UpdateNodegroupConfig), C(TagResource), C(UntagResource), C(DeleteNodegroup)), compared with
    C(DescribeNodegroup).
  - Fills a gap, C(community.aws.eks_nodegroup) reads C(updateConfig) of C(DescribeNodegroup) as if
    every answer had it and fails on a second run when it is absent (C(KeyError 'updateConfig'),
    as with the local AWS endpoint); it also cannot tell which settings of an existing group EKS
    cannot change. This module reads every field as optional, updates what EKS can update in place
    (scaling, labels, the update configuration, tags) and refuses, naming the option, a change of
    what it cannot (instance types, AMI and capacity type, disk size, subnets, node role).
author:
  - GiftCrypto platform team
options:
  cluster_name:
    description: Name of the EKS cluster.
    type: str
    required: true
  name:
    description:
      - Name of the node group, a letter or digit then up to 62 letters, digits, hyphens or underscores.
    type: str
    required: true
  node_role_arn:
    description: ARN of the IAM role of the nodes. Required to create; cannot be changed.
    type: str
  subnets:
    description: Subnet IDs of the nodes. Required to create; cannot be changed.
    type: list
    elements: str
  instance_types:
    description: EC2 instance types of the nodes; cannot be changed.
    type: list
    elements: str
    default: [t3.medium]
  ami_type:
    description: AMI type of the nodes; cannot be changed.
    type: str
    default: AL2023_x86_64_STANDARD
  capacity_type:
    description: On-demand or spot capacity; cannot be changed.
    type: str
    choices: [ON_DEMAND, SPOT]
    default: ON_DEMAND
  disk_size:
    description: Root volume size in GiB; cannot be changed.
    type: int
    default: 20
  min_size:
    description: Fewest nodes (0 or more).
    type: int
    required: true
  desired_size:
    description:
      - Nodes wanted now, from O(min_size) to O(max_size).
      - With O(keep_desired_size=true), an existing group keeps its own desired size (what an
        autoscaler set) as long as it lies between O(min_size) and O(max_size).
    type: int
    required: true
  max_size:
    description: Most nodes (1 or more, at least O(min_size)).
    type: int
    required: true
  keep_desired_size:
    description: Leave an existing group's desired size to its autoscaler (see O(desired_size)).
    type: bool
    default: false
  max_unavailable:
    description: Nodes that may be unavailable at once during an update of the group.
    type: int
    default: 1
  labels:
    description: Kubernetes labels of the nodes; labels not listed are removed.
    type: dict
    default: {}
  wait:
    description: Wait until the group is C(ACTIVE) after a create or an update, or gone after a delete.
    type: bool
    default: true
  wait_timeout:
    description: Seconds to wait.
    type: int
    default: 1800
  state:
    description: Whether the node group exists.
    type: str
    choices: [present, absent]
    default: present
notes:
  - Supports check mode, which reports what would be created or updated without calling a write API.
  - Supports diff (the group's settings before and after).
  - Calls are retried with a jittered exponential backoff when EKS throttles them.
  - Lives in the collection's C(aws) action group so that C(module_defaults) for
    C(group/amazon.aws.aws) give it region, endpoint and credentials.
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.tags
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: The general node group
  giftcrypto.platform.eks_nodegroup:
    cluster_name: giftcrypto-production
    name: general
    node_role_arn: arn:aws:iam::123456789012:role/giftcrypto-production-eks-node
    subnets: [subnet-0a, subnet-0b, subnet-0c]
    instance_types: [t3.medium]
    min_size: 3
    desired_size: 3
    max_size: 6
    labels:
      workload: general
    tags:
      Project: GiftCrypto
"""

RETURN = r"""
nodegroup:
  description: The node group after the run (planned, in check mode); empty when absent.
  returned: always
  type: dict
  contains:
    name:
      description: Name.
      type: str
      sample: general
    arn:
      description: ARN; empty in check mode before the group exists.
      type: str
    status:
      description: Status; C(planned) in check mode before creation.
      type: str
      sample: ACTIVE
    node_role_arn:
      description: Role of the nodes.
      type: str
    subnets:
      description: Subnet IDs.
      type: list
      elements: str
    instance_types:
      description: Instance types.
      type: list
      elements: str
    ami_type:
      description: AMI type.
      type: str
    capacity_type:
      description: Capacity type.
      type: str
    disk_size:
      description: Root volume size in GiB.
      type: int
    min_size:
      description: Fewest nodes.
      type: int
    desired_size:
      description: Nodes wanted.
      type: int
    max_size:
      description: Most nodes.
      type: int
    max_unavailable:
      description: Nodes unavailable at once during an update.
      type: int
    labels:
      description: Kubernetes labels.
      type: dict
    tags:
      description: Tags.
      type: dict
updates:
  description: What this run changed (would change, in check mode).
  returned: always
  type: list
  elements: str
  sample: [scaling]
"""

import re

try:  # noqa: SIM105 -- the usual optional-import guard of Ansible modules
    import botocore
except ImportError:
    pass  # handled by AnsibleAWSModule

from ansible_collections.amazon.aws.plugins.module_utils.botocore import is_boto3_error_code
from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry
from ansible_collections.giftcrypto.platform.plugins.module_utils.tag_plan import plan_tags, settable

NAME_PATTERN = re.compile(r"^[0-9A-Za-z][A-Za-z0-9_-]{0,62}$")
INSTANCE_TYPE = re.compile(r"^[a-z][a-z0-9-]*\.[a-z0-9]+$")
NOT_FOUND = ["ResourceNotFoundException"]
#: Settings EKS cannot change on an existing group: option -> view key.
FIXED = ("node_role_arn", "subnets", "instance_types", "ami_type", "capacity_type", "disk_size")


def check_input(params):
    """Problems with the options, each naming the option; an empty list means the input is fine."""
    problems = []
    for option in ("cluster_name", "name"):
        value = params[option]
        if not NAME_PATTERN.fullmatch(value or ""):
            problems.append(
                f"{option}={value}: a letter or digit then up to 62 letters, digits, hyphens or underscores"
            )
    low, want, high = params["min_size"], params["desired_size"], params["max_size"]
    if low < 0:
        problems.append(f"min_size={low}: 0 or more")
    if high < 1:
        problems.append(f"max_size={high}: 1 or more")
    if not low <= want <= high:
        problems.append(
            f"min_size={low}, desired_size={want}, max_size={high}: "
            "min_size <= desired_size <= max_size is required"
        )
    types = params["instance_types"] or []
    if not types:
        problems.append("instance_types: at least one instance type")
    for kind in types:
        if not INSTANCE_TYPE.fullmatch(kind):
            problems.append(f"instance_types: {kind!r} is not an instance type (for example t3.medium)")
    if not 1 <= params["disk_size"] <= 16384:
        problems.append(f"disk_size={params['disk_size']}: 1 to 16384 GiB")
    if params["max_unavailable"] < 1:
        problems.append(f"max_unavailable={params['max_unavailable']}: 1 or more")
    return problems


def _describe(client, cluster_name, name):
    try:
        return client.describe_nodegroup(aws_retry=True, clusterName=cluster_name, nodegroupName=name)[
            "nodegroup"
        ]
    except is_boto3_error_code(NOT_FOUND):
        return None


def _view(group):
    if not group:
        return {}
    scaling = group.get("scalingConfig") or {}
    return {
        "name": group.get("nodegroupName", ""),
        "arn": group.get("nodegroupArn", ""),
        "status": group.get("status", ""),
        "node_role_arn": group.get("nodeRole", ""),
        "subnets": sorted(group.get("subnets") or []),
        "instance_types": sorted(group.get("instanceTypes") or []),
        "ami_type": group.get("amiType", ""),
        "capacity_type": group.get("capacityType", ""),
        "disk_size": group.get("diskSize"),
        "min_size": scaling.get("minSize"),
        "desired_size": scaling.get("desiredSize"),
        "max_size": scaling.get("maxSize"),
        "max_unavailable": (group.get("updateConfig") or {}).get("maxUnavailable"),
        "labels": dict(group.get("labels") or {}),
        "tags": dict(group.get("tags") or {}),
    }


def _wanted(module, view):
    """The settings the group should have (the desired size kept when the autoscaler owns it)."""
    params = module.params
    desired = params["desired_size"]
    if view and params["keep_desired_size"] and view.get("desired_size") is not None:
        desired = min(max(view["desired_size"], params["min_size"]), params["max_size"])
    return {
        "node_role_arn": params["node_role_arn"] or view.get("node_role_arn", ""),
        "subnets": sorted(params["subnets"] or view.get("subnets") or []),
        "instance_types": sorted(params["instance_types"]),
        "ami_type": params["ami_type"],
        "capacity_type": params["capacity_type"],
        "disk_size": params["disk_size"],
        "min_size": params["min_size"],
        "desired_size": desired,
        "max_size": params["max_size"],
        "max_unavailable": params["max_unavailable"],
        "labels": {str(k): str(v) for k, v in (params["labels"] or {}).items()},
    }


def _plan(view, wanted):
    """(updates, problems) for an existing group."""
    problems = [
        f"{option}={wanted[option]}: the node group has {view[option]}, which EKS cannot change "
        "(create a group of another name)"
        for option in FIXED
        if view.get(option) not in (None, "", []) and view[option] != wanted[option]
    ]
    updates = []
    if any(view.get(key) != wanted[key] for key in ("min_size", "desired_size", "max_size")):
        updates.append("scaling")
    # An answer without updateConfig (some implementations of the API omit it) is left alone.
    if view.get("max_unavailable") is not None and view["max_unavailable"] != wanted["max_unavailable"]:
        updates.append("update_config")
    if view.get("labels") != wanted["labels"]:
        updates.append("labels")
    return updates, problems


def _wait(module, client, waiter_name):
    if not module.params["wait"]:
        return
    delay = 10
    client.get_waiter(waiter_name).wait(
        clusterName=module.params["cluster_name"],
        nodegroupName=module.params["name"],
        WaiterConfig={"Delay": delay, "MaxAttempts": max(1, module.params["wait_timeout"] // delay)},
    )


def _scaling(wanted):
    return {
        "minSize": wanted["min_size"],
        "desiredSize": wanted["desired_size"],
        "maxSize": wanted["max_size"],
    }


def _create(module, client, wanted, tags):
    params = module.params
    request = {
        "clusterName": params["cluster_name"],
        "nodegroupName": params["name"],
        "nodeRole": wanted["node_role_arn"],
        "subnets": wanted["subnets"],
        "instanceTypes": params["instance_types"],
        "amiType": wanted["ami_type"],
        "capacityType": wanted["capacity_type"],
        "diskSize": wanted["disk_size"],
        "scalingConfig": _scaling(wanted),
        "updateConfig": {"maxUnavailable": wanted["max_unavailable"]},
        "labels": wanted["labels"],
    }
    if settable(tags):
        request["tags"] = settable(tags)
    client.create_nodegroup(aws_retry=True, **request)
    _wait(module, client, "nodegroup_active")


def _update(module, client, view, wanted, updates, tags_to_set, tags_to_unset):
    request = {}
    if "scaling" in updates:
        request["scalingConfig"] = _scaling(wanted)
    if "update_config" in updates:
        request["updateConfig"] = {"maxUnavailable": wanted["max_unavailable"]}
    if "labels" in updates:
        labels = {}
        if wanted["labels"]:
            labels["addOrUpdateLabels"] = wanted["labels"]
        removed = sorted(set(view["labels"]) - set(wanted["labels"]))
        if removed:
            labels["removeLabels"] = removed
        request["labels"] = labels
    if request:
        client.update_nodegroup_config(
            aws_retry=True,
            clusterName=module.params["cluster_name"],
            nodegroupName=module.params["name"],
            **request,
        )
        _wait(module, client, "nodegroup_active")
    if tags_to_unset:
        client.untag_resource(aws_retry=True, resourceArn=view["arn"], tagKeys=tags_to_unset)
    if tags_to_set:
        client.tag_resource(aws_retry=True, resourceArn=view["arn"], tags=tags_to_set)


def main():
    argument_spec = dict(
        cluster_name=dict(type="str", required=True),
        name=dict(type="str", required=True),
        node_role_arn=dict(type="str"),
        subnets=dict(type="list", elements="str"),
        instance_types=dict(type="list", elements="str", default=["t3.medium"]),
        ami_type=dict(type="str", default="AL2023_x86_64_STANDARD"),
        capacity_type=dict(type="str", default="ON_DEMAND", choices=["ON_DEMAND", "SPOT"]),
        disk_size=dict(type="int", default=20),
        min_size=dict(type="int", required=True),
        desired_size=dict(type="int", required=True),
        max_size=dict(type="int", required=True),
        keep_desired_size=dict(type="bool", default=False),
        max_unavailable=dict(type="int", default=1),
        labels=dict(type="dict", default={}),
        wait=dict(type="bool", default=True),
        wait_timeout=dict(type="int", default=1800),
        tags=dict(type="dict", aliases=["resource_tags"]),
        purge_tags=dict(type="bool", default=True),
        state=dict(type="str", default="present", choices=["present", "absent"]),
    )
    module = AnsibleAWSModule(argument_spec=argument_spec, supports_check_mode=True)
    params = module.params
    problems = check_input(params)
    if problems:
        module.fail_json(msg="Refused the EKS node group: " + "; ".join(problems))
    cluster_name, name = params["cluster_name"], params["name"]
    label = f"{cluster_name}/{name}"
    client = module.client("eks", retry_decorator=AWSRetry.jittered_backoff(retries=10))

    try:
        group = _describe(client, cluster_name, name)
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
        module.fail_json_aws(e, msg=f"Could not read the EKS node group {label}")
    before = _view(group)

    if params["state"] == "absent":
        if group and not module.check_mode:
            try:
                client.delete_nodegroup(aws_retry=True, clusterName=cluster_name, nodegroupName=name)
                _wait(module, client, "nodegroup_deleted")
            except is_boto3_error_code(NOT_FOUND):
                pass  # deleted meanwhile (or the cluster is gone): the wanted state
            except (
                botocore.exceptions.ClientError,
                botocore.exceptions.BotoCoreError,
                botocore.exceptions.WaiterError,
            ) as e:  # pylint: disable=duplicate-except
                module.fail_json_aws(e, msg=f"Could not delete the EKS node group {label}")
        module.exit_json(
            changed=group is not None,
            nodegroup={},
            updates=["delete"] if group else [],
            diff={"before": before, "after": {}},
        )

    wanted = _wanted(module, before)
    if group is None:
        missing = [option for option in ("node_role_arn", "subnets") if not params[option]]
        if missing:
            module.fail_json(msg=f"{' and '.join(missing)} required to create the EKS node group {label}")
        updates = ["create"]
    else:
        updates, problems = _plan(before, wanted)
        if problems:
            module.fail_json(msg=f"Refused the change of the EKS node group {label}: " + "; ".join(problems))
    tags_after, tags_to_set, tags_to_unset = plan_tags(
        before.get("tags"), params["tags"], params["purge_tags"]
    )
    if group is not None and (tags_to_set or tags_to_unset):
        updates.append("tags")
    changed = bool(updates)
    planned = {
        "name": name,
        "arn": before.get("arn", ""),
        "status": before.get("status") or "planned",
        **wanted,
        "tags": tags_after,
    }

    if module.check_mode or not changed:
        module.exit_json(
            changed=changed,
            nodegroup=planned if changed else before,
            updates=updates,
            diff={"before": before, "after": planned},
        )

    try:
        if group is None:
            _create(module, client, wanted, tags_after)
        else:
            _update(module, client, before, wanted, updates, tags_to_set, tags_to_unset)
        after = _view(_describe(client, cluster_name, name))
    except (
        botocore.exceptions.ClientError,
        botocore.exceptions.BotoCoreError,
        botocore.exceptions.WaiterError,
    ) as e:
        module.fail_json_aws(e, msg=f"Could not write the EKS node group {label}")
    module.exit_json(changed=True, nodegroup=after, updates=updates, diff={"before": before, "after": after})


if __name__ == "__main__":
    main()
