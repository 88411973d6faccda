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
  - GiftCrypto platform team (@giftcrypto)
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
extends_documentation_fragment: [giftcrypto.platform.aws_resource, giftcrypto.platform.aws_resource.state,
  amazon.aws.common.modules, amazon.aws.region.modules, amazon.aws.tags, amazon.aws.boto3]
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
planned:
  description:
    - What the run did or would do to the flow log; an C(update) of anything but its tags replaces
      it.
  returned: always
  type: str
  sample: update
changes:
  description: The settings that differ (C(tags) for its tags).
  returned: always
  type: list
  elements: str
  sample: [traffic_type]
unverified:
  description: Nothing, for a flow log (AWS describes all of it, tags included).
  returned: always
  type: list
  elements: str
  sample: []
flow_log:
  description:
    - The flow log as AWS describes it (snake_case) after the run; in check mode, as planned (a
      flow log to create or a replacement has no C(flow_log_id) yet); empty when absent.
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
  description: ID of the flow log (empty when absent, or in check mode before it exists).
  returned: always
  type: str
replaced:
  description: Whether a flow log with other settings was (in check mode, would be) replaced by this one.
  returned: always
  type: bool
"""

from typing import ClassVar

from ansible.module_utils.common.dict_transformations import camel_dict_to_snake_dict
from ansible_collections.amazon.aws.plugins.module_utils.tagging import ansible_dict_to_boto3_tag_list
from ansible_collections.giftcrypto.platform.plugins.module_utils.aws_resource import (
    AWSResource,
    ResourceProblem,
    run,
    tags_from_list,
)
from ansible_collections.giftcrypto.platform.plugins.module_utils.tag_plan import settable

# The view's settings as CreateFlowLogs names them.
API_NAMES = {
    "traffic_type": "TrafficType",
    "log_destination_type": "LogDestinationType",
    "max_aggregation_interval": "MaxAggregationInterval",
    "log_destination": "LogDestination",
    "log_group_name": "LogGroupName",
    "deliver_logs_permission_arn": "DeliverLogsPermissionArn",
}
# Settings AWS cannot change in place: a difference replaces the flow log.
REPLACED = ("traffic_type", "max_aggregation_interval", "deliver_logs_permission_arn")


def _destination_of(log):
    kind = log.get("LogDestinationType", "cloud-watch-logs")
    return (kind, log.get("LogDestination") if kind == "s3" else log.get("LogGroupName"))


class FlowLog(AWSResource):
    service = "ec2"
    resource = "flow_log"
    noun = "VPC flow log"
    shared = ("state", "tags", "purge_tags")
    options: ClassVar[dict] = {
        "resource_id": {"type": "str", "required": True},
        "resource_type": {"type": "str", "default": "VPC", "choices": ["VPC", "Subnet", "NetworkInterface"]},
        "traffic_type": {"type": "str", "default": "ALL", "choices": ["ACCEPT", "REJECT", "ALL"]},
        "log_destination_type": {
            "type": "str",
            "default": "cloud-watch-logs",
            "choices": ["cloud-watch-logs", "s3"],
        },
        "log_group_name": {"type": "str"},
        "log_destination": {"type": "str"},
        "deliver_logs_permission_arn": {"type": "str"},
        "max_aggregation_interval": {"type": "int", "default": 600, "choices": [60, 600]},
    }
    module_kwargs: ClassVar[dict] = {
        "required_if": [
            ("log_destination_type", "cloud-watch-logs", ["log_group_name"]),
            ("log_destination_type", "s3", ["log_destination"]),
        ]
    }

    def __init__(self, module=None):
        super().__init__(module)
        self.found = []
        self.replaced = False

    def validate(self):
        params = self.params
        if (
            params["state"] == "present"
            and params["log_destination_type"] == "cloud-watch-logs"
            and not params["deliver_logs_permission_arn"]
        ):
            return {"deliver_logs_permission_arn": "required to deliver flow logs to CloudWatch Logs"}
        return {}

    def _destination(self):
        if self.params["log_destination_type"] == "s3":
            return {"log_destination": self.params["log_destination"]}
        return {"log_group_name": self.params["log_group_name"]}

    def _destination_name(self):
        return next(iter(self._destination().values()))

    def describe(self):
        filters = [{"Name": "resource-id", "Values": [self.params["resource_id"]]}]
        logs = self.client.describe_flow_logs(aws_retry=True, Filters=filters)["FlowLogs"]
        wanted = (self.params["log_destination_type"], self._destination_name())
        self.found = [log for log in logs if _destination_of(log) == wanted]
        return self.found[0] if self.found else None

    def view(self, described):
        view = camel_dict_to_snake_dict(described, ignore_list=["Tags"])
        view["tags"] = tags_from_list(described.get("Tags"))
        return view

    def plan(self, current):
        keys = ["resource_id", "traffic_type", "log_destination_type", "max_aggregation_interval"]
        if self.params["log_destination_type"] == "s3":
            keys.append("log_destination")
        else:
            keys += ["log_group_name", "deliver_logs_permission_arn"]
        wanted = {key: self.params[key] for key in keys}
        self.replaced = bool(current and self.differences(current, wanted))
        if current and not self.replaced:
            return {**current, **wanted}
        # A new flow log (to create, or replacing one): it keeps the tags of the one it replaces.
        return {**wanted, "tags": (current or {}).get("tags", {})}

    def differences(self, current, planned):
        # What AWS does not return is not compared.
        return [key for key in REPLACED if key in planned and current.get(key) not in (None, planned[key])]

    def create(self, planned):
        request = {
            "ResourceIds": [self.params["resource_id"]],
            "ResourceType": self.params["resource_type"],
            **{api: planned[key] for key, api in API_NAMES.items() if key in planned},
        }
        if settable(planned["tags"]):
            tags = ansible_dict_to_boto3_tag_list(settable(planned["tags"]))
            request["TagSpecifications"] = [{"ResourceType": "vpc-flow-log", "Tags": tags}]
        answer = self.client.create_flow_logs(aws_retry=True, **request)
        if answer.get("Unsuccessful"):
            errors = "; ".join(item["Error"]["Message"] for item in answer["Unsuccessful"])
            raise ResourceProblem(f"AWS refused to create the flow log: {errors}")

    def update(self, current, planned, changes):
        # Only settings AWS cannot change in place differ (tags go through tag()): replace it.
        self.client.delete_flow_logs(aws_retry=True, FlowLogIds=[current["flow_log_id"]])
        self.create(planned)

    def delete(self, current):
        self.client.delete_flow_logs(aws_retry=True, FlowLogIds=[log["FlowLogId"] for log in self.found])

    def tag(self, current, to_set, to_unset):
        if self.replaced:
            return  # the replacement was created with the planned tags
        resources = [current["flow_log_id"]]
        if to_unset:
            self.client.delete_tags(aws_retry=True, Resources=resources, Tags=[{"Key": k} for k in to_unset])
        if to_set:
            self.client.create_tags(
                aws_retry=True, Resources=resources, Tags=ansible_dict_to_boto3_tag_list(to_set)
            )

    def outputs(self, view):
        return {"flow_log_id": view.get("flow_log_id", ""), "replaced": self.replaced}

    def name(self, view):
        return f"of {self.params['resource_id']} to {self._destination_name()}"


def main():
    run(FlowLog)


if __name__ == "__main__":
    main()
