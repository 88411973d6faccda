"""tier_subnets and network_problems: the address plan of aws_network and its preflight rules."""

import ipaddress
import itertools

import pytest
from ansible.errors import AnsibleFilterError
from ansible_collections.giftcrypto.platform.plugins.filter.network import network_problems, tier_subnets

ZONES = ["us-east-1a", "us-east-1b", "us-east-1c"]


def _all(plan):
    return [ipaddress.ip_network(c) for tier in ("public", "private", "database") for c in plan[tier]]


@pytest.mark.parametrize(
    "cidr", ["10.0.0.0/16", "10.1.0.0/17", "172.16.0.0/18", "192.168.0.0/19", "10.9.16.0/20"]
)
@pytest.mark.parametrize("zones", [3, 4, 5, 6])
def test_tiers_fit_the_vpc_without_overlap(cidr, zones):
    vpc = ipaddress.ip_network(cidr)
    plan = tier_subnets(cidr, [f"az{i}" for i in range(zones)])
    subnets = _all(plan)
    assert len(subnets) == 3 * zones
    assert all(s.subnet_of(vpc) for s in subnets)
    assert not any(a.overlaps(b) for a, b in itertools.combinations(subnets, 2))
    assert all(s.prefixlen <= 28 for s in subnets)


def test_layout_of_a_slash_16_over_three_zones():
    plan = tier_subnets("10.42.0.0/16", ZONES)
    assert plan["private"] == ["10.42.0.0/18", "10.42.64.0/18", "10.42.128.0/18"]
    assert plan["public"] == ["10.42.192.0/21", "10.42.200.0/21", "10.42.208.0/21"]
    assert plan["database"] == ["10.42.216.0/21", "10.42.224.0/21", "10.42.232.0/21"]


def test_odd_prefix_and_odd_zone_count():
    plan = tier_subnets("10.8.0.0/19", ["a", "b", "c", "d", "e"])
    assert [ipaddress.ip_network(c).prefixlen for c in plan["private"]] == [22] * 5
    assert len(plan["public"]) == len(plan["database"]) == 5


def test_the_private_tier_is_the_largest():
    plan = tier_subnets("10.0.0.0/20", ZONES)
    private = ipaddress.ip_network(plan["private"][0]).num_addresses
    assert private > ipaddress.ip_network(plan["public"][0]).num_addresses


@pytest.mark.parametrize("bad", ["10.0.0.0/33", "10.0.0.1/16", "not-a-cidr", 42, None, ""])
def test_bad_cidr_is_refused_with_the_variable_name(bad):
    with pytest.raises(AnsibleFilterError, match="aws_network_vpc_cidr"):
        tier_subnets(bad, ZONES)


def test_too_small_for_the_zones():
    with pytest.raises(AnsibleFilterError, match="too small"):
        tier_subnets("10.0.0.0/26", ZONES)


def _net(**over):
    base = {"vpc_cidr": "10.42.0.0/16", "availability_zones": list(ZONES), "environment": "local"}
    base.update(over)
    return base


def test_a_good_network_has_no_problem():
    assert network_problems(_net()) == []


@pytest.mark.parametrize(
    ("over", "needle"),
    [
        ({"vpc_cidr": "10.0.0.0/8"}, "between /16 and /20"),
        ({"vpc_cidr": "10.0.0.0/24"}, "between /16 and /20"),
        ({"vpc_cidr": "8.8.0.0/16"}, "private (RFC 1918)"),
        ({"vpc_cidr": "10.0.0.300/16"}, "not a valid IPv4 network"),
        ({"availability_zones": ["us-east-1a", "us-east-1b"]}, "at least 3 distinct"),
        ({"availability_zones": ["us-east-1a", "us-east-1a", "us-east-1b"]}, "must be distinct"),
        ({"availability_zones": "us-east-1a"}, "must be a list"),
    ],
)
def test_rules_name_the_variable(over, needle):
    problems = network_problems(_net(**over))
    assert any(needle in p for p in problems), problems
    assert all(p.startswith("aws_network_") for p in problems)


def test_overlapping_explicit_tiers_are_refused():
    tiers = {
        "public": ["10.42.0.0/24", "10.42.1.0/24", "10.42.2.0/24"],
        "private": ["10.42.2.0/23", "10.42.4.0/24", "10.42.5.0/24"],
        "database": ["10.42.6.0/24", "10.42.7.0/24", "10.42.8.0/24"],
    }
    problems = network_problems(_net(subnet_cidrs=tiers))
    assert problems == [
        "aws_network_subnet_cidrs.private[0]=10.42.2.0/23 overlaps "
        "aws_network_subnet_cidrs.public[2]=10.42.2.0/24: tiers must not overlap"
    ]


def test_explicit_tier_outside_the_vpc_and_wrong_count():
    tiers = {
        "public": ["10.43.0.0/24", "10.42.1.0/24", "10.42.2.0/24"],
        "private": ["10.42.4.0/24", "10.42.5.0/24"],
        "database": ["10.42.6.0/24", "10.42.7.0/24", "10.42.8.0/24"],
    }
    problems = network_problems(_net(subnet_cidrs=tiers))
    assert any("outside aws_network_vpc_cidr" in p for p in problems)
    assert any("aws_network_subnet_cidrs.private: one subnet per availability zone" in p for p in problems)


def test_explicit_tiers_need_all_three_keys():
    assert network_problems(_net(subnet_cidrs={"public": []})) == [
        "aws_network_subnet_cidrs must have exactly the keys ['public', 'private', 'database']"
    ]
