#!/usr/bin/python
# Copyright: GiftCrypto platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: aws_offerings_info
short_description: What AWS offers today (versions, RDS classes, instance types per zone), read-only
version_added: 0.1.0
description:
  - Asks AWS, read-only, what it would accept for the platform's pinned values, so that preflight
    refuses a value AWS would refuse before any change.
  - EKS versions and their support status and dates (C(DescribeClusterVersions)), and the version
    an existing cluster runs (C(DescribeCluster)).
  - The RDS major version's end of standard support and of RDS Extended Support
    (C(DescribeDBMajorEngineVersions)), and every DB instance class orderable on an engine version,
    with its storage types, whether it is Multi-AZ capable and its zones
    (C(DescribeOrderableDBInstanceOptions)).
  - The ElastiCache engine versions offered (C(DescribeCacheEngineVersions)).
  - Where instance types are offered, zone by zone (C(DescribeInstanceTypeOfferings)); database
    classes and cache node types are asked as the EC2 type they run on (C(db.r6g.large) as
    C(r6g.large)).
  - Fills a gap, amazon.aws and community.aws ship no module for these five APIs (the zones and the
    RDS engine versions come from the stock M(amazon.aws.aws_az_info) and
    M(amazon.aws.rds_engine_versions_info)).
  - The answer has the shape of P(giftcrypto.platform.catalogue_offered#filter)'s, the dated
    catalogue used where AWS cannot be asked, so P(giftcrypto.platform.offering_problems#filter)
    checks both alike.
author:
  - GiftCrypto platform team
options:
  eks_versions:
    description: Whether to ask the EKS versions and their support dates.
    type: bool
    default: false
  eks_cluster_name:
    description: A cluster whose running version to ask; its absence is not an error (null version).
    type: str
  rds_engine:
    description: The RDS engine of O(rds_engine_version).
    type: str
    default: postgres
  rds_engine_version:
    description:
      - An RDS engine version (C(17.10)); when set, its major's support dates and the classes
        orderable on it are asked.
    type: str
  cache_engine:
    description: An ElastiCache engine whose offered versions to ask.
    type: str
    choices: [redis, valkey]
  instance_types:
    description:
      - Instance types, database classes or cache node types whose offerings to ask in O(zones).
    type: list
    elements: str
    default: []
  zones:
    description: The availability zones the O(instance_types) are asked about.
    type: list
    elements: str
    default: []
notes:
  - Read-only; supports check mode (it asks the same) and never reports a change.
  - Needs C(eks:DescribeClusterVersions), C(eks:DescribeCluster), C(rds:DescribeDBMajorEngineVersions),
    C(rds:DescribeOrderableDBInstanceOptions), C(elasticache:DescribeCacheEngineVersions) and
    C(ec2:DescribeInstanceTypeOfferings) (the deploy role's C(PreflightAsksAws) statement).
  - Lives in the collection's C(aws) action group so that C(module_defaults) for
    C(group/amazon.aws.aws) give it region, endpoint and credentials.
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: Ask what AWS offers for the platform's pins
  giftcrypto.platform.aws_offerings_info:
    eks_versions: true
    eks_cluster_name: giftcrypto-staging
    rds_engine_version: "17.10"
    cache_engine: redis
    instance_types: [t3.medium, db.r6g.large, cache.r7g.large]
    zones: [us-east-1a, us-east-1b, us-east-1c]
  register: offered
"""

RETURN = r"""
offered:
  description: What AWS offers; a key that was not asked is null.
  returned: always
  type: dict
  contains:
    source:
      description: Where the answers come from.
      type: str
      sample: AWS (us-east-1)
    eks_versions:
      description: The EKS versions AWS offers, with their status and support end dates (YYYY-MM-DD).
      type: list
      elements: dict
      sample:
        - version: "1.36"
          status: STANDARD_SUPPORT
          end_of_standard_support: "2027-08-02"
          end_of_extended_support: "2028-08-02"
    eks_cluster_version:
      description: The version the cluster O(eks_cluster_name) runs; null when it does not exist.
      type: str
      sample: "1.32"
    rds_majors:
      description: The RDS major version's end of standard support and of RDS Extended Support.
      type: dict
      sample: {"17": {end_of_standard_support: "2030-02-28", end_of_extended_support: "2033-02-28"}}
    rds_orderable:
      description: By DB class orderable on O(rds_engine_version), its storage types, Multi-AZ and zones.
      type: dict
      sample:
        db.r6g.large: {storage_types: [gp2, gp3, io1], multi_az: true, zones: [us-east-1a, us-east-1b]}
    cache_versions:
      description: The engine versions ElastiCache offers (as returned, and as major.minor).
      type: list
      elements: str
      sample: ["7.1.0", "7.1"]
    cache_majors:
      description: Always null (ElastiCache has no lifecycle API; the catalogue carries the dates).
      type: dict
    instance_type_offerings:
      description: By EC2 instance type asked, the zones of O(zones) that offer it.
      type: dict
      sample: {t3.medium: [us-east-1a, us-east-1b, us-east-1c]}
"""

import re

try:  # noqa: SIM105 -- the usual optional-import guard of Ansible modules
    import botocore
except ImportError:
    pass  # handled by AnsibleAWSModule

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry
from ansible_collections.giftcrypto.platform.plugins.module_utils.aws_offerings import ec2_type, parse_date

# What each option may hold (AWS's own naming rules, kept narrow: the values go into API filters).
PATTERNS = {
    "eks_cluster_name": re.compile(r"^[0-9A-Za-z][A-Za-z0-9_-]{0,99}$"),
    "rds_engine": re.compile(r"^[a-z][a-z0-9-]{1,30}$"),
    "rds_engine_version": re.compile(r"^[0-9]{1,3}(\.[0-9]{1,3}){0,2}$"),
    "instance_types": re.compile(r"^((db|cache)\.)?[a-z][a-z0-9-]{0,15}\.[a-z0-9]{1,15}$"),
    "zones": re.compile(r"^[a-z]{2}(-[a-z]+)+-[0-9]{1,2}[a-z]$"),
}


def problems(params):
    """Every option value that breaks its pattern, named by option."""
    found = []
    for option, pattern in PATTERNS.items():
        values = params[option] if isinstance(params[option], list) else [params[option]]
        for value in values:
            if value is not None and not pattern.match(str(value)):
                found.append(f"{option}={value!r} does not match {pattern.pattern}")
    if bool(params["instance_types"]) != bool(params["zones"]):
        found.append("instance_types and zones go together: the types are asked about in those zones")
    return found


@AWSRetry.jittered_backoff(retries=10)
def _paginate(client, operation, key, **params):
    return client.get_paginator(operation).paginate(**params).build_full_result().get(key, [])


def _day(value):
    day = parse_date(value)
    return day.isoformat() if day else None


def eks_versions(client):
    rows = _paginate(client, "describe_cluster_versions", "clusterVersions")
    return [
        {
            "version": row["clusterVersion"],
            "status": row.get("versionStatus") or str(row.get("status", "")).upper().replace("-", "_"),
            "end_of_standard_support": _day(row.get("endOfStandardSupportDate")),
            "end_of_extended_support": _day(row.get("endOfExtendedSupportDate")),
        }
        for row in rows
        if row.get("clusterVersion")
    ]


def eks_cluster_version(client, name):
    try:
        return client.describe_cluster(aws_retry=True, name=name)["cluster"].get("version")
    except botocore.exceptions.ClientError as e:
        if e.response.get("Error", {}).get("Code") == "ResourceNotFoundException":
            return None
        raise


def rds_majors(client, engine, version):
    major = version.split(".")[0]
    rows = _paginate(
        client,
        "describe_db_major_engine_versions",
        "DBMajorEngineVersions",
        Engine=engine,
        MajorEngineVersion=major,
    )
    ends = {}
    for row in rows:
        for cycle in row.get("SupportedEngineLifecycles") or []:
            name = cycle.get("LifecycleSupportName")
            if name == "open-source-rds-standard-support":
                ends["end_of_standard_support"] = _day(cycle.get("LifecycleSupportEndDate"))
            elif name == "open-source-rds-extended-support":
                ends["end_of_extended_support"] = _day(cycle.get("LifecycleSupportEndDate"))
    return {major: ends} if ends else {}


def rds_orderable(client, engine, version):
    rows = _paginate(
        client,
        "describe_orderable_db_instance_options",
        "OrderableDBInstanceOptions",
        Engine=engine,
        EngineVersion=version,
    )
    classes = {}
    for row in rows:
        entry = classes.setdefault(
            row["DBInstanceClass"], {"storage_types": [], "multi_az": False, "zones": []}
        )
        if row.get("StorageType") and row["StorageType"] not in entry["storage_types"]:
            entry["storage_types"].append(row["StorageType"])
        entry["multi_az"] = entry["multi_az"] or bool(row.get("MultiAZCapable"))
        for zone in row.get("AvailabilityZones") or []:
            if zone.get("Name") and zone["Name"] not in entry["zones"]:
                entry["zones"].append(zone["Name"])
    for entry in classes.values():
        entry["storage_types"].sort()
        entry["zones"].sort()
    return classes


def cache_versions(client, engine):
    rows = _paginate(client, "describe_cache_engine_versions", "CacheEngineVersions", Engine=engine)
    versions = []
    for row in rows:
        full = str(row.get("EngineVersion", ""))
        for version in (full, ".".join(full.split(".")[:2])):
            if version and version not in versions:
                versions.append(version)
    return versions


def instance_type_offerings(client, instance_types, zones):
    wanted = sorted({ec2_type(t) for t in instance_types})
    rows = _paginate(
        client,
        "describe_instance_type_offerings",
        "InstanceTypeOfferings",
        LocationType="availability-zone",
        Filters=[{"Name": "instance-type", "Values": wanted}, {"Name": "location", "Values": list(zones)}],
    )
    offered = {t: [] for t in wanted}
    for row in rows:
        if row.get("InstanceType") in offered and row.get("Location") not in offered[row["InstanceType"]]:
            offered[row["InstanceType"]].append(row["Location"])
    for where in offered.values():
        where.sort()
    return offered


def main():
    argument_spec = dict(
        eks_versions=dict(type="bool", default=False),
        eks_cluster_name=dict(type="str"),
        rds_engine=dict(type="str", default="postgres"),
        rds_engine_version=dict(type="str"),
        cache_engine=dict(type="str", choices=["redis", "valkey"]),
        instance_types=dict(type="list", elements="str", default=[]),
        zones=dict(type="list", elements="str", default=[]),
    )
    module = AnsibleAWSModule(argument_spec=argument_spec, supports_check_mode=True)
    params = module.params
    refused = problems(params)
    if refused:
        module.fail_json(msg="; ".join(refused))
    retry = AWSRetry.jittered_backoff(retries=10)
    offered = {
        "source": f"AWS ({module.region})",
        "eks_versions": None,
        "eks_cluster_version": None,
        "rds_majors": None,
        "rds_orderable": None,
        "cache_versions": None,
        "cache_majors": None,
        "instance_type_offerings": None,
    }
    asking = "nothing"
    try:
        if params["eks_versions"] or params["eks_cluster_name"]:
            eks = module.client("eks", retry_decorator=retry)
            if params["eks_versions"]:
                asking = "the EKS versions (DescribeClusterVersions)"
                offered["eks_versions"] = eks_versions(eks)
            if params["eks_cluster_name"]:
                asking = f"the version of the cluster {params['eks_cluster_name']} (DescribeCluster)"
                offered["eks_cluster_version"] = eks_cluster_version(eks, params["eks_cluster_name"])
        if params["rds_engine_version"]:
            rds = module.client("rds", retry_decorator=retry)
            engine, version = params["rds_engine"], params["rds_engine_version"]
            asking = f"the support dates of {engine} {version.split('.')[0]} (DescribeDBMajorEngineVersions)"
            offered["rds_majors"] = rds_majors(rds, engine, version)
            asking = f"the classes orderable on {engine} {version} (DescribeOrderableDBInstanceOptions)"
            offered["rds_orderable"] = rds_orderable(rds, engine, version)
        if params["cache_engine"]:
            asking = f"the ElastiCache {params['cache_engine']} versions (DescribeCacheEngineVersions)"
            elasticache = module.client("elasticache", retry_decorator=retry)
            offered["cache_versions"] = cache_versions(elasticache, params["cache_engine"])
        if params["instance_types"]:
            asking = "the instance type offerings per zone (DescribeInstanceTypeOfferings)"
            ec2 = module.client("ec2", retry_decorator=retry)
            offered["instance_type_offerings"] = instance_type_offerings(
                ec2, params["instance_types"], params["zones"]
            )
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
        module.fail_json_aws(e, msg=f"Could not ask AWS {asking}")
    module.exit_json(changed=False, offered=offered)


if __name__ == "__main__":
    main()
