"""Bad inventories are refused by the preflight play, with a message naming the variable and the
rule, before any change: nothing is created and no later play starts."""

from __future__ import annotations

import shutil

import pytest
import yaml

from tests.integration.conftest import LOCAL_INVENTORY, run_playbook

pytestmark = pytest.mark.integration


def _inventory(tmp_path, file: str, **changes):
    inventory = tmp_path / "inventory"
    shutil.copytree(LOCAL_INVENTORY, inventory)
    path = inventory / "group_vars" / "all" / file
    data = yaml.safe_load(path.read_text())
    for key, value in changes.items():
        if value is None:
            data.pop(key, None)
        else:
            data[key] = value
    path.write_text(yaml.safe_dump(data))
    return inventory


def _snapshot(aws):
    ec2 = aws("ec2")
    return {
        "vpcs": sorted(v["VpcId"] for v in ec2.describe_vpcs()["Vpcs"]),
        "subnets": sorted(s["SubnetId"] for s in ec2.describe_subnets()["Subnets"]),
        "groups": sorted(g["GroupId"] for g in ec2.describe_security_groups()["SecurityGroups"]),
        "addresses": sorted(a["AllocationId"] for a in ec2.describe_addresses()["Addresses"]),
    }


TAGS_WITHOUT_COST_CENTER = {"Project": "GiftCrypto", "Environment": "local", "ManagedBy": "ansible"}
OVERLAPPING = {
    "public": ["10.42.0.0/24", "10.42.1.0/24", "10.42.2.0/24"],
    "private": ["10.42.2.0/23", "10.42.4.0/24", "10.42.5.0/24"],
    "database": ["10.42.6.0/24", "10.42.7.0/24", "10.42.8.0/24"],
}

CASES = {
    "overlapping_tiers": (
        "network.yml",
        {"aws_network_subnet_cidrs": OVERLAPPING},
        "aws_network_subnet_cidrs.private[0]=10.42.2.0/23 overlaps aws_network_subnet_cidrs.public[2]",
    ),
    "two_zones": (
        "network.yml",
        {"aws_network_availability_zones": ["us-east-1a", "us-east-1b"]},
        "aws_network_availability_zones=['us-east-1a', 'us-east-1b']: at least 3 distinct availability zones",
    ),
    "slash_8_vpc": (
        "network.yml",
        {"aws_network_vpc_cidr": "10.0.0.0/8"},
        "aws_network_vpc_cidr=10.0.0.0/8: the VPC prefix must be between /16 and /20",
    ),
    "missing_tag": (
        "platform.yml",
        {"platform_tags": TAGS_WITHOUT_COST_CENTER},
        "platform_tags is missing CostCenter",
    ),
    "unknown_environment": (
        "platform.yml",
        {"platform_environment": "qa"},
        "platform_environment=qa: must be one of local, staging, production",
    ),
    "endpoint_not_loopback": (
        "platform.yml",
        {"aws_endpoint_url": "https://ec2.us-east-1.amazonaws.com"},
        "aws_endpoint_url=https://ec2.us-east-1.amazonaws.com: the local environment must point at",
    ),
    "wrong_type": (
        "network.yml",
        {"aws_network_nat_gateway_per_az": "sometimes"},
        "aws_network_nat_gateway_per_az",
    ),
    "missing_vpc_cidr": (
        "network.yml",
        {"aws_network_vpc_cidr": None},
        "missing required arguments: aws_network_vpc_cidr",
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_inventory_is_refused_before_any_change(case, tmp_path, aws):
    file, changes, message = CASES[case]
    before = _snapshot(aws)
    result = run_playbook(inventory=_inventory(tmp_path, file, **changes), timeout=300)
    output = " ".join((result.stdout + result.stderr).split())
    assert result.returncode != 0
    assert message in output, output[-3000:]
    assert "PLAY [Preflight]" in result.stdout
    assert "PLAY [Network]" not in result.stdout
    assert "PLAY [Local AWS endpoint]" not in result.stdout
    assert "changed=0" in result.stdout
    assert _snapshot(aws) == before
