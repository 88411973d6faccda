"""What aws_network built, read back from the scenario's AWS endpoint with boto3."""

import ipaddress
import json

import pytest

NAME = "giftcrypto-local"
VPC_CIDR = "10.77.0.0/16"
ZONES = {"us-east-1a", "us-east-1b", "us-east-1c"}
REQUIRED_TAGS = {"Project", "Environment", "ManagedBy", "CostCenter"}
WORLD = {"0.0.0.0/0", "::/0"}


@pytest.fixture(scope="module")
def ec2(aws):
    return aws("ec2")


@pytest.fixture(scope="module")
def vpc(ec2):
    vpcs = ec2.describe_vpcs(Filters=[{"Name": "tag:Name", "Values": [NAME]}])["Vpcs"]
    assert len(vpcs) == 1, vpcs
    return vpcs[0]


@pytest.fixture(scope="module")
def groups(ec2, vpc):
    found = ec2.describe_security_groups(Filters=[{"Name": "vpc-id", "Values": [vpc["VpcId"]]}])
    return {g["GroupName"]: g for g in found["SecurityGroups"]}


def test_vpc_cidr_and_tags(vpc, tags):
    assert vpc["CidrBlock"] == VPC_CIDR
    assert set(tags(vpc)) >= REQUIRED_TAGS


def test_nine_subnets_across_three_zones(ec2, vpc, tags):
    subnets = ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc["VpcId"]]}])["Subnets"]
    assert len(subnets) == 9
    by_tier = {}
    for subnet in subnets:
        by_tier.setdefault(tags(subnet)["Tier"], []).append(subnet)
        assert set(tags(subnet)) >= REQUIRED_TAGS
        assert subnet["MapPublicIpOnLaunch"] is False
    assert set(by_tier) == {"public", "private", "database"}
    for tier in by_tier.values():
        assert {s["AvailabilityZone"] for s in tier} == ZONES
    cidrs = [ipaddress.ip_network(s["CidrBlock"]) for s in subnets]
    assert all(c.subnet_of(ipaddress.ip_network(VPC_CIDR)) for c in cidrs)
    assert not any(a.overlaps(b) for i, a in enumerate(cidrs) for b in cidrs[i + 1 :])


def _rules(group, direction):
    """(protocol, from, to, source) for every rule of a group; source is a CIDR or a group name."""
    rules = set()
    for perm in group[direction]:
        key = (perm["IpProtocol"], perm.get("FromPort"), perm.get("ToPort"))
        for r in perm.get("IpRanges", []):
            rules.add((*key, r["CidrIp"]))
        for r in perm.get("Ipv6Ranges", []):
            rules.add((*key, r["CidrIpv6"]))
        for r in perm.get("UserIdGroupPairs", []):
            rules.add((*key, r["GroupId"]))
    return rules


def test_security_group_rules_are_exactly_these(groups):
    ids = {name.removeprefix(f"{NAME}-"): g["GroupId"] for name, g in groups.items()}
    assert _rules(groups[f"{NAME}-alb"], "IpPermissions") == {
        ("tcp", 443, 443, "0.0.0.0/0"),
        ("tcp", 80, 80, "0.0.0.0/0"),
    }
    assert _rules(groups[f"{NAME}-app"], "IpPermissions") == {("tcp", 8080, 8080, ids["alb"])}
    assert _rules(groups[f"{NAME}-db"], "IpPermissions") == {
        ("tcp", 5432, 5432, ids["app"]),
        ("tcp", 5432, 5432, ids["rotation"]),
    }
    assert _rules(groups[f"{NAME}-cache"], "IpPermissions") == {
        ("tcp", 6379, 6379, ids["app"]),
        ("tcp", 6379, 6379, ids["rotation"]),
    }
    assert _rules(groups[f"{NAME}-db"], "IpPermissionsEgress") == set()
    assert _rules(groups[f"{NAME}-cache"], "IpPermissionsEgress") == set()
    # The secret rotation function (ADR 0019): nothing in; PostgreSQL, Redis and HTTPS out.
    assert _rules(groups[f"{NAME}-rotation"], "IpPermissions") == set()
    assert _rules(groups[f"{NAME}-rotation"], "IpPermissionsEgress") == {
        ("tcp", 5432, 5432, ids["db"]),
        ("tcp", 6379, 6379, ids["cache"]),
        ("tcp", 443, 443, "0.0.0.0/0"),
    }
    assert _rules(groups[f"{NAME}-alb"], "IpPermissionsEgress") == {("tcp", 8080, 8080, ids["app"])}


def test_nothing_opens_ssh_or_a_database_port_to_the_world(groups):
    for group in groups.values():
        for _proto, low, high, source in _rules(group, "IpPermissions"):
            if source in WORLD:
                assert (low, high) in {(443, 443), (80, 80)}, (group["GroupName"], low, high)


def test_default_security_group_is_empty(groups):
    default = groups["default"]
    assert default["IpPermissions"] == []
    assert default["IpPermissionsEgress"] == []


def test_flow_logs_active_to_cloudwatch(ec2, vpc):
    logs = ec2.describe_flow_logs(Filters=[{"Name": "resource-id", "Values": [vpc["VpcId"]]}])["FlowLogs"]
    assert len(logs) == 1
    assert logs[0]["FlowLogStatus"] == "ACTIVE"
    assert logs[0]["TrafficType"] == "ALL"
    assert logs[0]["LogGroupName"] == "/giftcrypto/local/vpc-flow-logs"


def test_flow_log_group_has_retention(aws):
    logs = aws("logs")
    group = logs.describe_log_groups(logGroupNamePrefix="/giftcrypto/local/vpc-flow-logs")["logGroups"][0]
    assert group["retentionInDays"] == 365


def test_database_nacl_admits_only_the_app_tier(ec2, vpc):
    nacls = ec2.describe_network_acls(
        Filters=[
            {"Name": "vpc-id", "Values": [vpc["VpcId"]]},
            {"Name": "tag:Name", "Values": [f"{NAME}-database"]},
        ]
    )["NetworkAcls"]
    assert len(nacls) == 1
    ingress = [
        e
        for e in nacls[0]["Entries"]
        if not e["Egress"] and e["RuleAction"] == "allow" and e["RuleNumber"] < 32767
    ]
    subnets = ec2.describe_subnets(
        Filters=[{"Name": "vpc-id", "Values": [vpc["VpcId"]]}, {"Name": "tag:Tier", "Values": ["private"]}]
    )["Subnets"]
    private = {s["CidrBlock"] for s in subnets}
    assert {e["CidrBlock"] for e in ingress} == private
    assert {(e["PortRange"]["From"], e["PortRange"]["To"]) for e in ingress} == {(5432, 5432), (6379, 6379)}
    assert len(nacls[0]["Associations"]) == 3


def test_database_tier_has_no_internet_route(ec2, vpc):
    tables = ec2.describe_route_tables(
        Filters=[
            {"Name": "vpc-id", "Values": [vpc["VpcId"]]},
            {"Name": "tag:Name", "Values": [f"{NAME}-database"]},
        ]
    )["RouteTables"]
    assert len(tables) == 1
    assert not [r for r in tables[0]["Routes"] if r.get("DestinationCidrBlock") == "0.0.0.0/0"]


def test_private_tier_leaves_through_nat_public_through_igw(ec2, vpc, tags):
    tables = ec2.describe_route_tables(Filters=[{"Name": "vpc-id", "Values": [vpc["VpcId"]]}])["RouteTables"]
    by_name = {tags(t).get("Name"): t for t in tables}
    public_default = [
        r for r in by_name[f"{NAME}-public"]["Routes"] if r.get("DestinationCidrBlock") == "0.0.0.0/0"
    ]
    assert public_default[0]["GatewayId"].startswith("igw-")
    private_default = [
        r for r in by_name[f"{NAME}-private-0"]["Routes"] if r.get("DestinationCidrBlock") == "0.0.0.0/0"
    ]
    assert private_default[0]["NatGatewayId"].startswith("nat-")


def test_s3_gateway_endpoint(ec2, vpc):
    endpoints = ec2.describe_vpc_endpoints(Filters=[{"Name": "vpc-id", "Values": [vpc["VpcId"]]}])[
        "VpcEndpoints"
    ]
    assert [e["ServiceName"] for e in endpoints] == ["com.amazonaws.us-east-1.s3"]
    assert endpoints[0]["VpcEndpointType"] == "Gateway"
    assert len(endpoints[0]["RouteTableIds"]) == 2


def test_s3_endpoint_admits_only_our_account_and_what_we_use(ec2, vpc, account_id):
    (endpoint,) = ec2.describe_vpc_endpoints(Filters=[{"Name": "vpc-id", "Values": [vpc["VpcId"]]}])[
        "VpcEndpoints"
    ]
    statements = {s["Sid"]: s for s in json.loads(endpoint["PolicyDocument"])["Statement"]}
    ours = statements["OurPrincipalsOnOurBuckets"]
    assert ours["Condition"] == {
        "StringEquals": {"aws:PrincipalAccount": account_id, "aws:ResourceAccount": account_id}
    }
    assert ours["Resource"] == ["arn:aws:s3:::giftcrypto-local-*", "arn:aws:s3:::giftcrypto-local-*/*"]
    assert "*" not in ours["Action"] and "s3:*" not in ours["Action"]
    assert statements["OurPrincipalsListTheirBuckets"]["Condition"] == {
        "StringEquals": {"aws:PrincipalAccount": account_id}
    }
    aws_owned = statements["ReadTheAwsOwnedBucketsTheNodesNeed"]
    assert aws_owned["Action"] == "s3:GetObject"
    assert "arn:aws:s3:::prod-us-east-1-starport-layer-bucket/*" in aws_owned["Resource"]


def test_flow_logs_role_trusts_only_this_accounts_flow_logs(aws, account_id):
    role = aws("iam").get_role(RoleName="giftcrypto-local-vpc-flow-logs")["Role"]
    (statement,) = role["AssumeRolePolicyDocument"]["Statement"]
    assert statement["Principal"] == {"Service": "vpc-flow-logs.amazonaws.com"}
    assert statement["Condition"] == {
        "StringEquals": {"aws:SourceAccount": account_id},
        "ArnLike": {"aws:SourceArn": f"arn:aws:ec2:us-east-1:{account_id}:vpc-flow-log/*"},
    }


def test_a_route_nobody_declared_is_purged_and_the_endpoint_routes_stay(
    ec2, vpc, tags, converge, recap, deprecations
):
    # The S3 endpoint's routes are not declared (ec2_vpc_route_table cannot): a run that finds no
    # drift does not purge (so the module does not warn about them), one that finds a CIDR route
    # made by CreateRoute that nothing declares removes it and keeps the endpoint's.
    tables = ec2.describe_route_tables(Filters=[{"Name": "vpc-id", "Values": [vpc["VpcId"]]}])["RouteTables"]
    database = next(t for t in tables if tags(t).get("Name") == f"{NAME}-database")
    (igw,) = ec2.describe_internet_gateways(
        Filters=[{"Name": "attachment.vpc-id", "Values": [vpc["VpcId"]]}]
    )["InternetGateways"]
    ec2.create_route(
        RouteTableId=database["RouteTableId"],
        DestinationCidrBlock="10.99.0.0/16",
        GatewayId=igw["InternetGatewayId"],
    )
    purged = converge()
    assert recap(purged.stdout) == (1, 0), purged.stdout[-3000:]
    routes = ec2.describe_route_tables(RouteTableIds=[database["RouteTableId"]])["RouteTables"][0]["Routes"]
    assert not [r for r in routes if r.get("DestinationCidrBlock") == "10.99.0.0/16"]
    assert [
        r for r in routes if r.get("GatewayId", "").startswith("vpce-") and r.get("DestinationPrefixListId")
    ]
    again = converge()
    assert recap(again.stdout) == (0, 0), again.stdout[-3000:]
    assert "Skipping purging" not in again.stdout + again.stderr
    assert deprecations(again.stdout + again.stderr) == []
