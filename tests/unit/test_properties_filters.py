"""Property-based tests (hypothesis) of the network filters: bad input is refused with a message
naming the variable, good input gives a plan that fits the VPC without overlap (issue 8); and of the
secrets' resource policy filter (issue 23)."""

from __future__ import annotations

import ipaddress
import itertools
import json
import math

import pytest
from ansible.errors import AnsibleFilterError
from ansible_collections.giftcrypto.platform.plugins.filter.network import network_problems, tier_subnets
from ansible_collections.giftcrypto.platform.plugins.filter.secrets import secret_read_policy
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from tests.unit.strategies import NASTY_TEXT, WRONG_TYPES

ZONES = ["us-east-1a", "us-east-1b", "us-east-1c"]
FAST = settings(max_examples=50, deadline=None, database=None)


def _is_ipv4_network(value: str) -> bool:
    try:
        ipaddress.IPv4Network(value, strict=True)
    except ValueError:
        return False
    return True


octet = st.integers(0, 255).map(str)
bad_octet = st.one_of(
    st.integers(256, 10**6).map(str), st.sampled_from(["-1", "0x10", "", " ", "1e3", "\u0661\u0660"])
)
prefix = st.integers(0, 32).map(str)
bad_prefix = st.one_of(st.integers(33, 10**4).map(str), st.sampled_from(["-1", "", "x", "16 ", "٣", "/16"]))

malformed_cidrs = st.one_of(
    # an octet out of range or not a decimal number
    st.tuples(bad_octet, octet, octet, octet, prefix).map(lambda p: f"{p[0]}.{p[1]}.{p[2]}.{p[3]}/{p[4]}"),
    # a prefix out of range or not a number
    st.tuples(octet, octet, octet, octet, bad_prefix).map(lambda p: f"{p[0]}.{p[1]}.{p[2]}.{p[3]}/{p[4]}"),
    # host bits set (strict networks only)
    st.builds(
        lambda net, offset: f"{net.network_address + 1 + offset % (net.num_addresses - 1)}/{net.prefixlen}",
        st.integers(0, 2**32 - 1).flatmap(
            lambda addr: st.integers(0, 30).map(lambda p: ipaddress.IPv4Network((addr, p), strict=False))
        ),
        st.integers(0, 2**32),
    ),
    # arbitrary text, injection attempts, unicode, huge and empty strings, IPv6
    NASTY_TEXT,
    st.sampled_from(["", " ", "10.0.0.0", "10.0.0.0/", "/16", "fd00::/8", "10.0.0.0/16; rm -rf /"]),
).filter(lambda value: not _is_ipv4_network(value))


@FAST
@given(cidr=malformed_cidrs)
def test_tier_subnets_refuses_malformed_cidrs_naming_the_variable(cidr):
    with pytest.raises(AnsibleFilterError) as refused:
        tier_subnets(cidr, ZONES)
    message = str(refused.value)
    assert message.startswith("aws_network_vpc_cidr=")
    assert "is not a valid IPv4 network CIDR" in message
    assert repr(cidr) in message


@FAST
@given(cidr=WRONG_TYPES)
def test_tier_subnets_refuses_non_strings_naming_the_type(cidr):
    with pytest.raises(AnsibleFilterError) as refused:
        tier_subnets(cidr, ZONES)
    message = str(refused.value)
    assert "aws_network_vpc_cidr must be a CIDR string" in message
    assert type(cidr).__name__ in message


@FAST
@given(
    zones=st.one_of(
        st.just([]),
        st.just(()),
        st.none(),
        st.integers(),
        NASTY_TEXT,
        st.dictionaries(st.text(max_size=5), st.text(max_size=5)),
        st.sets(st.text(max_size=5), min_size=1, max_size=4),
    )
)
def test_tier_subnets_refuses_zones_that_are_not_a_non_empty_list(zones):
    with pytest.raises(AnsibleFilterError, match="aws_network_availability_zones must be a non-empty list"):
        tier_subnets("10.0.0.0/16", zones)


vpcs = st.builds(
    lambda addr, length: ipaddress.IPv4Network((addr, length), strict=False),
    st.integers(0, 2**32 - 1),
    st.integers(0, 32),
)


@settings(max_examples=50, deadline=None, database=None)
@given(vpc=vpcs, zones=st.integers(1, 64))
def test_tier_subnets_fit_the_vpc_without_overlap_or_say_it_is_too_small(vpc, zones):
    names = [f"az{i}" for i in range(zones)]
    private_bits = math.ceil(math.log2(zones + 1))
    small_bits = math.ceil(math.log2(2 * zones)) if zones > 1 else 1
    fits = vpc.prefixlen + private_bits + small_bits <= 28
    if not fits:
        with pytest.raises(AnsibleFilterError, match=r"too small for \d+ subnets.*at most /28"):
            tier_subnets(str(vpc), names)
        return
    plan = tier_subnets(str(vpc), names)
    assert set(plan) == {"public", "private", "database"}
    subnets = [ipaddress.IPv4Network(c) for tier in ("public", "private", "database") for c in plan[tier]]
    assert all(len(plan[tier]) == zones for tier in plan)
    assert all(s.subnet_of(vpc) for s in subnets)
    assert all(s.prefixlen <= 28 for s in subnets)
    assert not any(a.overlaps(b) for a, b in itertools.combinations(subnets, 2))
    private = ipaddress.IPv4Network(plan["private"][0]).num_addresses
    assert private >= ipaddress.IPv4Network(plan["public"][0]).num_addresses
    assert private >= ipaddress.IPv4Network(plan["database"][0]).num_addresses


private_vpcs = st.builds(
    lambda base, addr, length: ipaddress.IPv4Network(
        (int(base.network_address) + addr, length), strict=False
    ),
    st.sampled_from([ipaddress.IPv4Network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16")]),
    st.integers(0, 2**16 - 1),
    st.integers(16, 20),
).filter(
    lambda net: (
        net.is_private
        and any(
            net.subnet_of(ipaddress.IPv4Network(n)) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16")
        )
    )
)
zone_names = st.lists(
    st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), min_size=1, max_size=20),
    min_size=3,
    max_size=6,
    unique=True,
)


@FAST
@given(vpc=private_vpcs, zones=zone_names)
def test_network_problems_accepts_what_tier_subnets_plans(vpc, zones):
    assert network_problems({"vpc_cidr": str(vpc), "availability_zones": zones}) == []
    plan = tier_subnets(str(vpc), zones)
    assert network_problems({"vpc_cidr": str(vpc), "availability_zones": zones, "subnet_cidrs": plan}) == []


@FAST
@given(vpc=private_vpcs, zones=zone_names, data=st.data())
def test_network_problems_names_every_overlap(vpc, zones, data):
    plan = tier_subnets(str(vpc), zones)
    source_tier = data.draw(st.sampled_from(["public", "private", "database"]))
    target_tier = data.draw(st.sampled_from(["public", "private", "database"]))
    src = data.draw(st.integers(0, len(zones) - 1))
    dst = data.draw(st.integers(0, len(zones) - 1))
    assume((source_tier, src) != (target_tier, dst))
    copied = {tier: list(cidrs) for tier, cidrs in plan.items()}
    copied[target_tier][dst] = copied[source_tier][src]
    problems = network_problems({"vpc_cidr": str(vpc), "availability_zones": zones, "subnet_cidrs": copied})
    assert any("overlaps" in p and "tiers must not overlap" in p for p in problems), problems
    assert any(
        f"aws_network_subnet_cidrs.{target_tier}[{dst}]" in p
        or f"aws_network_subnet_cidrs.{source_tier}[{src}]" in p
        for p in problems
    )


@FAST
@given(vpc=private_vpcs, zones=zone_names, data=st.data())
def test_network_problems_names_a_malformed_or_foreign_subnet(vpc, zones, data):
    plan = tier_subnets(str(vpc), zones)
    tier = data.draw(st.sampled_from(["public", "private", "database"]))
    index = data.draw(st.integers(0, len(zones) - 1))
    bad = data.draw(st.one_of(malformed_cidrs, WRONG_TYPES, st.just("8.8.8.0/24")))
    copied = {t: list(cidrs) for t, cidrs in plan.items()}
    copied[tier][index] = bad
    problems = network_problems({"vpc_cidr": str(vpc), "availability_zones": zones, "subnet_cidrs": copied})
    name = f"aws_network_subnet_cidrs.{tier}[{index}]"
    assert any(p.startswith(name) for p in problems), problems


@FAST
@given(
    network=st.dictionaries(
        st.sampled_from(["vpc_cidr", "availability_zones", "subnet_cidrs", "environment", "other"]),
        st.one_of(WRONG_TYPES, NASTY_TEXT, malformed_cidrs, st.lists(NASTY_TEXT, max_size=4)),
    )
)
def test_network_problems_never_crashes_on_junk_and_names_a_variable(network):
    problems = network_problems(network)
    assert isinstance(problems, list) and all(isinstance(p, str) for p in problems)
    assert problems, "junk must break at least one rule"
    assert all("aws_network_" in p for p in problems)


@FAST
@given(network=st.one_of(WRONG_TYPES, NASTY_TEXT, st.lists(st.integers(), max_size=3)))
def test_network_problems_refuses_a_non_dict(network):
    assume(not isinstance(network, dict))
    with pytest.raises(AnsibleFilterError, match="network_problems expects a dict"):
        network_problems(network)


# --- secret_read_policy (issue 23, ADR 0017) ------------------------------------------------------

role_names = st.from_regex(r"[A-Za-z0-9+=,.@_-]{1,64}", fullmatch=True)
accounts = st.from_regex(r"[0-9]{12}", fullmatch=True)
readers = st.one_of(
    st.tuples(accounts, role_names).map(lambda r: f"arn:aws:iam::{r[0]}:role/{r[1]}"),
    st.tuples(accounts, role_names, role_names).map(
        lambda r: f"arn:aws:sts::{r[0]}:assumed-role/{r[1]}/{r[2]}"
    ),
    st.tuples(accounts, role_names).map(lambda r: f"arn:aws:iam::{r[0]}:user/{r[1]}"),
)


@FAST
@given(st.lists(readers, min_size=1, max_size=6), st.randoms())
def test_secret_read_policy_names_every_reader_and_ignores_their_order(named, rnd):
    """Whatever the readers and their order, the policy denies only the read, to all but them, and a
    shuffled list gives the very same document (a second run is changed=0)."""
    policy = secret_read_policy("p/e/s", {"*": named})
    shuffled = list(named)
    rnd.shuffle(shuffled)
    assert secret_read_policy("p/e/s", {"*": shuffled + named[:1]}) == policy
    (statement,) = json.loads(policy)["Statement"]
    assert (statement["Effect"], statement["Principal"], statement["Action"]) == (
        "Deny",
        "*",
        "secretsmanager:GetSecretValue",
    )
    patterns = statement["Condition"]["ArnNotLike"]["aws:PrincipalArn"]
    for reader in named:
        if ":assumed-role/" in reader:
            account, role = reader.split(":")[4], reader.split("/")[1]
            assert f"arn:aws:iam::{account}:role/{role}" in patterns
            assert f"arn:aws:iam::{account}:role/*/{role}" in patterns
        else:
            assert reader in patterns


@FAST
@given(st.one_of(NASTY_TEXT, WRONG_TYPES))
def test_secret_read_policy_refuses_a_reader_that_is_no_principal_arn(reader):
    assume(not (isinstance(reader, str) and reader.startswith("arn:")))
    with pytest.raises(AnsibleFilterError, match="secret_read_policy"):
        secret_read_policy("p/e/s", {"*": [reader]})
