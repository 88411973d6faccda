"""Filters that plan and check the platform's address space.

``tier_subnets`` carves a VPC CIDR into one subnet per availability zone for each of the three
tiers (public, private application, database). ``network_problems`` returns every rule an
inventory's network breaks, as messages that name the variable, so preflight can refuse it before
any AWS call.
"""

from __future__ import annotations

import ipaddress
import math

from ansible.errors import AnsibleFilterError

TIERS = ("public", "private", "database")
MIN_VPC_PREFIX = 16
MAX_VPC_PREFIX = 20
MAX_SUBNET_PREFIX = 28  # AWS's smallest subnet


def _network(value, what: str) -> ipaddress.IPv4Network:
    if not isinstance(value, str):
        raise AnsibleFilterError(
            f"{what} must be a CIDR string such as 10.0.0.0/16, got {type(value).__name__}"
        )
    try:
        return ipaddress.IPv4Network(value, strict=True)
    except ValueError as exc:
        raise AnsibleFilterError(f"{what}={value!r} is not a valid IPv4 network CIDR: {exc}") from None


def _split(network: ipaddress.IPv4Network, parts: int) -> list[ipaddress.IPv4Network]:
    """The network cut into the smallest power of two of equal pieces that is >= parts."""
    bits = math.ceil(math.log2(parts)) if parts > 1 else 0
    new_prefix = network.prefixlen + bits
    if new_prefix > MAX_SUBNET_PREFIX:
        raise AnsibleFilterError(
            f"{network} is too small for {parts} subnets: they would be /{new_prefix}, "
            f"AWS subnets are at most /{MAX_SUBNET_PREFIX}"
        )
    return list(network.subnets(new_prefix=new_prefix))


def tier_subnets(vpc_cidr, availability_zones) -> dict[str, list[str]]:
    """Subnet CIDRs for each tier, one per availability zone, in the order of the zones.

    The private (application) tier gets the most room, since EKS pods take their addresses from
    it: the VPC is cut into the next power of two above the zone count, the private tier takes one
    piece per zone, and the last piece is cut again into public and database subnets.
    """
    network = _network(vpc_cidr, "aws_network_vpc_cidr")
    if not isinstance(availability_zones, list | tuple) or not availability_zones:
        raise AnsibleFilterError("aws_network_availability_zones must be a non-empty list of zone names")
    zones = len(availability_zones)
    pieces = _split(network, zones + 1)
    private = pieces[:zones]
    small = _split(pieces[-1], 2 * zones)
    return {
        "public": [str(n) for n in small[:zones]],
        "private": [str(n) for n in private],
        "database": [str(n) for n in small[zones : 2 * zones]],
    }


def network_problems(network: dict) -> list[str]:
    """Every rule broken by a network definition, each message naming the variable.

    ``network`` holds ``vpc_cidr``, ``availability_zones``, ``environment`` and optionally
    ``subnet_cidrs`` ({public: [...], private: [...], database: [...]}, explicit tiers).
    """
    if not isinstance(network, dict):
        raise AnsibleFilterError("network_problems expects a dict")
    problems: list[str] = []
    try:
        vpc = _network(network.get("vpc_cidr"), "aws_network_vpc_cidr")
    except AnsibleFilterError as exc:
        return [str(exc)]
    if not MIN_VPC_PREFIX <= vpc.prefixlen <= MAX_VPC_PREFIX:
        problems.append(
            f"aws_network_vpc_cidr={vpc}: the VPC prefix must be between /{MIN_VPC_PREFIX} and "
            f"/{MAX_VPC_PREFIX} (AWS allows /16 at most; below /20 the tiers run out of addresses)"
        )
    if not vpc.is_private:
        problems.append(f"aws_network_vpc_cidr={vpc}: the VPC must use a private (RFC 1918) range")

    zones = network.get("availability_zones")
    if not isinstance(zones, list) or not all(isinstance(z, str) and z for z in zones):
        problems.append("aws_network_availability_zones must be a list of zone names")
        zones = []
    if len(set(zones)) != len(zones):
        problems.append(f"aws_network_availability_zones={zones}: zones must be distinct")
    if len(set(zones)) < 3:
        problems.append(
            f"aws_network_availability_zones={zones}: at least 3 distinct availability zones are "
            f"required (Multi-AZ database, one NAT per zone in production), got {len(set(zones))}"
        )

    explicit = network.get("subnet_cidrs")
    if explicit is None:
        if problems:
            return problems
        try:
            tiers = tier_subnets(str(vpc), zones)
        except AnsibleFilterError as exc:
            return [*problems, str(exc)]
    else:
        tiers = explicit
        if not isinstance(explicit, dict) or set(explicit) != set(TIERS):
            return [*problems, f"aws_network_subnet_cidrs must have exactly the keys {list(TIERS)}"]

    seen: list[tuple[str, ipaddress.IPv4Network]] = []
    for tier in TIERS:
        cidrs = tiers[tier]
        if not isinstance(cidrs, list) or len(cidrs) != len(zones):
            problems.append(
                f"aws_network_subnet_cidrs.{tier}: one subnet per availability zone is required "
                f"({len(zones)}), got {cidrs!r}"
            )
            continue
        for index, cidr in enumerate(cidrs):
            name = f"aws_network_subnet_cidrs.{tier}[{index}]"
            try:
                subnet = _network(cidr, name)
            except AnsibleFilterError as exc:
                problems.append(str(exc))
                continue
            if not subnet.subnet_of(vpc):
                problems.append(f"{name}={subnet} is outside aws_network_vpc_cidr={vpc}")
            if subnet.prefixlen > MAX_SUBNET_PREFIX:
                problems.append(f"{name}={subnet} is smaller than AWS's smallest subnet /{MAX_SUBNET_PREFIX}")
            for other_name, other in seen:
                if subnet.overlaps(other):
                    problems.append(f"{name}={subnet} overlaps {other_name}={other}: tiers must not overlap")
            seen.append((name, subnet))
    return problems


class FilterModule:
    """giftcrypto.platform network filters."""

    def filters(self):
        return {
            "tier_subnets": tier_subnets,
            "network_problems": network_problems,
        }
