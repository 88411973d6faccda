#!/usr/bin/python
# Copyright: GiftCrypto platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: ec2_vpc_flow_log
short_description: Manage VPC flow logs
version_added: 0.1.0
description:
  - Creates, updates the tags of, or deletes the flow log of a VPC, subnet or network interface.
  - Fills a gap, neither amazon.aws nor community.aws ships a module for VPC flow logs (the EC2
    C(CreateFlowLogs) API).
  - A flow log is identified by its resource, its traffic type and its destination. Settings other
    than tags cannot be changed in place by AWS; when they differ the module replaces the flow log
    (delete, then create) and says so in RV(replaced).
author:
  - GiftCrypto platform team
options:
  resource_id:
    description: ID of the VPC, subnet or network interface whose traffic is logged.
    type: str
    required: true
  resource_type:
    description: Type of O(resource_id).
    type: str
    choices: [VPC, Subnet, NetworkInterface]
    default: VPC
  traffic_type:
    description: Which traffic to record.
    type: str
    choices: [ACCEPT, REJECT, ALL]
    default: ALL
  log_destination_type:
    description: Where the records go.
    type: str
    choices: [cloud-watch-logs, s3]
    default: cloud-watch-logs
  log_group_name:
    description:
      - CloudWatch Logs group that receives the records.
      - Required when O(log_destination_type=cloud-watch-logs).
    type: str
  log_destination:
    description: ARN of the S3 bucket (or folder) when O(log_destination_type=s3).
    type: str
  deliver_logs_permission_arn:
    description:
      - IAM role that the flow logs service assumes to write to CloudWatch Logs.
      - Required when O(log_destination_type=cloud-watch-logs).
    type: str
  max_aggregation_interval:
    description: Seconds over which packets are aggregated into one record (60 or 600).
    type: int
    choices: [60, 600]
    default: 600
  state:
    description: Whether the flow log exists.
    type: str
    choices: [present, absent]
    default: present
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.tags
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: Log every packet of the VPC to CloudWatch Logs
  giftcrypto.platform.ec2_vpc_flow_log:
    resource_id: "{{ vpc_id }}"
    traffic_type: ALL
    log_group_name: /giftcrypto/production/vpc-flow-logs
    deliver_logs_permission_arn: "{{ flow_logs_role_arn }}"
    tags:
      Project: GiftCrypto

- name: Remove it
  giftcrypto.platform.ec2_vpc_flow_log:
    resource_id: "{{ vpc_id }}"
    log_group_name: /giftcrypto/production/vpc-flow-logs
    state: absent
"""

RETURN = r"""
flow_log:
  description: The flow log as AWS describes it (snake_case); empty when absent or only planned.
  returned: always
  type: dict
  sample:
    flow_log_id: fl-0123456789abcdef0
    resource_id: vpc-0123456789abcdef0
    traffic_type: ALL
    log_destination_type: cloud-watch-logs
    log_group_name: /giftcrypto/production/vpc-flow-logs
    flow_log_status: ACTIVE
    tags: {Project: GiftCrypto}
flow_log_id:
  description: ID of the flow log (empty in check mode before it exists).
  returned: always
  type: str
replaced:
  description: Whether a flow log with other settings was deleted to create this one.
  returned: always
  type: bool
"""

try:  # noqa: SIM105 -- the usual optional-import guard of Ansible modules
    import botocore
except ImportError:
    pass  # handled by AnsibleAWSModule

from ansible.module_utils.common.dict_transformations import camel_dict_to_snake_dict
from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry
from ansible_collections.amazon.aws.plugins.module_utils.tagging import (
    ansible_dict_to_boto3_tag_list,
    boto3_tag_list_to_ansible_dict,
    compare_aws_tags,
)


def _describe(client, module):
    filters = [{"Name": "resource-id", "Values": [module.params["resource_id"]]}]
    logs = client.describe_flow_logs(aws_retry=True, Filters=filters)["FlowLogs"]
    wanted = _destination(module)
    return [log for log in logs if _destination_of(log) == wanted]


def _destination(module):
    params = module.params
    if params["log_destination_type"] == "s3":
        return ("s3", params["log_destination"])
    return ("cloud-watch-logs", params["log_group_name"])


def _destination_of(log):
    kind = log.get("LogDestinationType", "cloud-watch-logs")
    if kind == "s3":
        return ("s3", log.get("LogDestination"))
    return (kind, log.get("LogGroupName"))


def _differences(log, module):
    """Settings of an existing flow log that differ from the wanted ones (tags excluded)."""
    params = module.params
    wanted = {
        "TrafficType": params["traffic_type"],
        "MaxAggregationInterval": params["max_aggregation_interval"],
    }
    if params["log_destination_type"] == "cloud-watch-logs":
        wanted["DeliverLogsPermissionArn"] = params["deliver_logs_permission_arn"]
    return sorted(key for key, value in wanted.items() if log.get(key) not in (None, value))


def _wanted_tags(module, have):
    """The tags the flow log ends up with: O(tags) merged as O(purge_tags) says, or kept when unset."""
    params = module.params
    if params["tags"] is None:
        return dict(have)
    to_set, to_unset = compare_aws_tags(have, params["tags"], params["purge_tags"])
    tags = {key: value for key, value in have.items() if key not in to_unset}
    tags.update(to_set)
    return tags


def _planned(module, tags):
    """What check mode would create: the wanted settings (no ID, AWS has not assigned one)."""
    params = module.params
    planned = {
        "resource_id": params["resource_id"],
        "traffic_type": params["traffic_type"],
        "log_destination_type": params["log_destination_type"],
        "max_aggregation_interval": params["max_aggregation_interval"],
        "tags": tags,
    }
    if params["log_destination_type"] == "s3":
        planned["log_destination"] = params["log_destination"]
    else:
        planned["log_group_name"] = params["log_group_name"]
        planned["deliver_logs_permission_arn"] = params["deliver_logs_permission_arn"]
    return planned


def _create(client, module, tags):
    params = module.params
    request = {
        "ResourceIds": [params["resource_id"]],
        "ResourceType": params["resource_type"],
        "TrafficType": params["traffic_type"],
        "LogDestinationType": params["log_destination_type"],
        "MaxAggregationInterval": params["max_aggregation_interval"],
    }
    if params["log_destination_type"] == "s3":
        request["LogDestination"] = params["log_destination"]
    else:
        request["LogGroupName"] = params["log_group_name"]
        request["DeliverLogsPermissionArn"] = params["deliver_logs_permission_arn"]
    # Keys under the reserved aws: prefix belong to AWS and cannot be set by a request.
    tags = {key: value for key, value in tags.items() if not key.startswith("aws:")}
    if tags:
        request["TagSpecifications"] = [
            {"ResourceType": "vpc-flow-log", "Tags": ansible_dict_to_boto3_tag_list(tags)}
        ]
    response = client.create_flow_logs(aws_retry=True, **request)
    if response.get("Unsuccessful"):
        errors = "; ".join(item["Error"]["Message"] for item in response["Unsuccessful"])
        module.fail_json(msg=f"AWS refused to create the flow log: {errors}")
    return response["FlowLogIds"][0]


def _result(log):
    if not log:
        return {}
    described = camel_dict_to_snake_dict(log, ignore_list=["Tags"])
    described["tags"] = boto3_tag_list_to_ansible_dict(log.get("Tags", []))
    described.pop("tags_list", None)
    return described


def main():
    argument_spec = dict(
        resource_id=dict(type="str", required=True),
        resource_type=dict(type="str", default="VPC", choices=["VPC", "Subnet", "NetworkInterface"]),
        traffic_type=dict(type="str", default="ALL", choices=["ACCEPT", "REJECT", "ALL"]),
        log_destination_type=dict(type="str", default="cloud-watch-logs", choices=["cloud-watch-logs", "s3"]),
        log_group_name=dict(type="str"),
        log_destination=dict(type="str"),
        deliver_logs_permission_arn=dict(type="str"),
        max_aggregation_interval=dict(type="int", default=600, choices=[60, 600]),
        tags=dict(type="dict", aliases=["resource_tags"]),
        purge_tags=dict(type="bool", default=True),
        state=dict(type="str", default="present", choices=["present", "absent"]),
    )
    module = AnsibleAWSModule(
        argument_spec=argument_spec,
        supports_check_mode=True,
        required_if=[
            ("log_destination_type", "cloud-watch-logs", ["log_group_name"]),
            ("log_destination_type", "s3", ["log_destination"]),
        ],
    )
    params = module.params
    if (
        params["state"] == "present"
        and params["log_destination_type"] == "cloud-watch-logs"
        and not params["deliver_logs_permission_arn"]
    ):
        module.fail_json(
            msg="deliver_logs_permission_arn is required to deliver flow logs to CloudWatch Logs"
        )
    client = module.client("ec2", retry_decorator=AWSRetry.jittered_backoff(retries=10))

    try:
        existing = _describe(client, module)
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
        module.fail_json_aws(e, msg="Could not describe the flow logs")

    changed = False
    replaced = False
    current = existing[0] if existing else None
    before = _result(current)
    # A replacement keeps the tags of the flow log it replaces, as an update in place would.
    tags = _wanted_tags(module, boto3_tag_list_to_ansible_dict(current.get("Tags", [])) if current else {})

    try:
        if params["state"] == "absent":
            if existing:
                changed = True
                if not module.check_mode:
                    client.delete_flow_logs(aws_retry=True, FlowLogIds=[log["FlowLogId"] for log in existing])
            module.exit_json(
                changed=changed,
                flow_log={},
                flow_log_id="",
                replaced=False,
                diff={"before": before, "after": {}},
            )

        if current and _differences(current, module):
            replaced = True
            changed = True
            if not module.check_mode:
                client.delete_flow_logs(aws_retry=True, FlowLogIds=[current["FlowLogId"]])
            current = None

        if current is None:
            changed = True
            if module.check_mode:
                module.exit_json(
                    changed=True,
                    flow_log={},
                    flow_log_id="",
                    replaced=replaced,
                    diff={"before": before, "after": _planned(module, tags)},
                )
            flow_log_id = _create(client, module, tags)
        else:
            flow_log_id = current["FlowLogId"]
            if params["tags"] is not None:
                have = boto3_tag_list_to_ansible_dict(current.get("Tags", []))
                to_set, to_unset = compare_aws_tags(have, params["tags"], params["purge_tags"])
                if to_set or to_unset:
                    changed = True
                    if not module.check_mode:
                        if to_unset:
                            client.delete_tags(
                                aws_retry=True, Resources=[flow_log_id], Tags=[{"Key": k} for k in to_unset]
                            )
                        if to_set:
                            client.create_tags(
                                aws_retry=True,
                                Resources=[flow_log_id],
                                Tags=ansible_dict_to_boto3_tag_list(to_set),
                            )

        logs = client.describe_flow_logs(aws_retry=True, FlowLogIds=[flow_log_id])["FlowLogs"]
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
        module.fail_json_aws(e, msg="Could not apply the flow log")

    after = _result(logs[0] if logs else None)
    if module.check_mode and changed:
        after = {**after, "tags": tags}
    module.exit_json(
        changed=changed,
        flow_log=after,
        flow_log_id=flow_log_id,
        replaced=replaced,
        diff={"before": before, "after": after},
    )


if __name__ == "__main__":
    main()
