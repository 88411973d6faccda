"""EC2: the resource types of DescribeTags (its answers and its resource-type filter)."""

from __future__ import annotations

from . import Fix, extend_backend

DESCRIBE_TAGS = "https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_DescribeTags.html"
CREATE_LAUNCH_TEMPLATE = (
    "https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_CreateLaunchTemplate.html"
)
TAG_DESCRIPTION = "https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_TagDescription.html"

# moto's name of a resource type -> the value AWS gives (and takes in the resource-type filter)
# where they differ. DescribeTags lists the values: customer-gateway | dedicated-host |
# dhcp-options | elastic-ip | fleet | fpga-image | host-reservation | image | instance |
# internet-gateway | key-pair | launch-template | natgateway | network-acl | network-interface |
# placement-group | reserved-instances | route-table | security-group | snapshot |
# spot-instances-request | subnet | volume | vpc | vpc-endpoint | vpc-endpoint-service |
# vpc-flow-log | vpc-peering-connection | vpn-connection | vpn-gateway.
AWS_RESOURCE_TYPES = {
    "nat-gateway": "natgateway",
    "vpc-elastic-ip": "elastic-ip",
    "flow-logs": "vpc-flow-log",
    "dedicated_host": "dedicated-host",
    "reserved-instance": "reserved-instances",
    "spot-instance-request": "spot-instances-request",
}
MOTO_RESOURCE_TYPES = {aws: moto for moto, aws in AWS_RESOURCE_TYPES.items()}


class TagResourceTypesAsAWS:
    """EC2 backend whose DescribeTags speaks AWS's resource types.

    moto answered a NAT gateway's tags as resource type ``nat-gateway`` and matched the filter
    ``resource-type=natgateway`` to nothing, so amazon.aws.ec2_vpc_nat_gateway (which reads a
    gateway's tags that way) found none and tagged the gateway again on every run.
    """

    def describe_tags(self, filters=None):
        if filters and "resource-type" in filters:
            filters = {
                **filters,
                "resource-type": [
                    MOTO_RESOURCE_TYPES.get(value, value) for value in filters["resource-type"]
                ],
            }
        tags = super().describe_tags(filters)
        for tag in tags:
            tag["resource_type"] = AWS_RESOURCE_TYPES.get(tag["resource_type"], tag["resource_type"])
        return tags


class LaunchTemplateTagsAsAWS:
    """EC2 backend that keeps a CreateLaunchTemplate's own tags out of the template's data.

    CreateLaunchTemplate's TagSpecifications tag the launch template ("To tag the launch template,
    the resource type must be launch-template"); moto also copied them into version 1's
    LaunchTemplateData, so amazon.aws.ec2_launch_template saw that version differ from what it
    asked for and made a second version on the next run.
    """

    def create_launch_template(self, name, description, template_data, tag_spec):
        own = [
            {"ResourceType": kind, "Tags": [{"Key": key, "Value": value} for key, value in tags.items()]}
            for kind, tags in (tag_spec or {}).items()
        ]
        specs = [spec for spec in template_data.get("TagSpecifications") or [] if spec not in own]
        if specs:
            template_data["TagSpecifications"] = specs
        else:
            template_data.pop("TagSpecifications", None)
        return super().create_launch_template(name, description, template_data, tag_spec)


def _apply() -> None:
    extend_backend("moto.ec2.models", "ec2_backends", TagResourceTypesAsAWS)


def _apply_launch_template() -> None:
    extend_backend("moto.ec2.models", "ec2_backends", LaunchTemplateTagsAsAWS)


FIXES = [
    Fix(
        service="ec2",
        name="describe-tags-resource-types",
        summary=(
            "DescribeTags gives and filters AWS's resource types (natgateway, elastic-ip, vpc-flow-log, ...) "
            "(moto: nat-gateway, vpc-elastic-ip, flow-logs; amazon.aws.ec2_vpc_nat_gateway found no tag on "
            "its "
            "gateway and reported a change on every run)"
        ),
        reference=f"{DESCRIBE_TAGS}; {TAG_DESCRIPTION}",
        upstream="not in moto 5.2.6 (ec2/utils.py EC2_RESOURCE_TO_PREFIX names, used by ec2/models/tags.py)",
        apply=_apply,
    ),
    Fix(
        service="ec2",
        name="launch-template-own-tags",
        summary=(
            "CreateLaunchTemplate's TagSpecifications tag the template and stay out of its "
            "LaunchTemplateData "
            "(moto: copied into version 1's data, so amazon.aws.ec2_launch_template made a version 2 on the "
            "next run)"
        ),
        reference=CREATE_LAUNCH_TEMPLATE,
        upstream="not in moto 5.2.6 (ec2/responses/launch_templates.py adds them to the data)",
        apply=_apply_launch_template,
    ),
]
