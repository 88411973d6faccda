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
  - GiftCrypto platform team (@giftcrypto)
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
  - Needs C(eks:DescribeClusterVersions), C(eks:DescribeCluster), C(rds:DescribeDBMajorEngineVersions),
    C(rds:DescribeOrderableDBInstanceOptions), C(elasticache:DescribeCacheEngineVersions) and
    C(ec2:DescribeInstanceTypeOfferings) (the deploy role's C(PreflightAsksAws) statement).
extends_documentation_fragment: [giftcrypto.platform.aws_resource.info, amazon.aws.common.modules,
  amazon.aws.region.modules, amazon.aws.boto3]
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
from typing import ClassVar

from ansible_collections.giftcrypto.platform.plugins.module_utils.aws_offerings import ec2_type, parse_date
from ansible_collections.giftcrypto.platform.plugins.module_utils.aws_resource import (
    AWSInfo,
    none_on,
    paginate,
    run,
)

# What each option may hold (AWS's own naming rules, kept narrow: the values go into API filters).
PATTERNS = {
    "eks_cluster_name": re.compile(r"^[0-9A-Za-z][A-Za-z0-9_-]{0,99}$"),
    "rds_engine": re.compile(r"^[a-z][a-z0-9-]{1,30}$"),
    "rds_engine_version": re.compile(r"^[0-9]{1,3}(\.[0-9]{1,3}){0,2}$"),
    "instance_types": re.compile(r"^((db|cache)\.)?[a-z][a-z0-9-]{0,15}\.[a-z0-9]{1,15}$"),
    "zones": re.compile(r"^[a-z]{2}(-[a-z]+)+-[0-9]{1,2}[a-z]$"),
}
ANSWERS = (
    "eks_versions",
    "eks_cluster_version",
    "rds_majors",
    "rds_orderable",
    "cache_versions",
    "cache_majors",
    "instance_type_offerings",
)


def _rows(client, operation, key, **params):
    return paginate(client, operation, **params).get(key, [])


def _day(value):
    day = parse_date(value)
    return day.isoformat() if day else None


def eks_versions(client):
    rows = _rows(client, "describe_cluster_versions", "clusterVersions")
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
    """The version the cluster runs, or None when there is no such cluster (not an error)."""
    cluster = none_on(("ResourceNotFoundException",), client.describe_cluster, aws_retry=True, name=name)
    return cluster["cluster"].get("version") if cluster else None


def rds_majors(client, engine, version):
    major = version.split(".")[0]
    rows = _rows(
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
    rows = _rows(
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
    rows = _rows(client, "describe_cache_engine_versions", "CacheEngineVersions", Engine=engine)
    versions = []
    for row in rows:
        full = str(row.get("EngineVersion", ""))
        for version in (full, ".".join(full.split(".")[:2])):
            if version and version not in versions:
                versions.append(version)
    return versions


def instance_type_offerings(client, instance_types, zones):
    wanted = sorted({ec2_type(t) for t in instance_types})
    rows = _rows(
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


class Offerings(AWSInfo):
    options: ClassVar[dict] = {
        "eks_versions": {"type": "bool", "default": False},
        "eks_cluster_name": {"type": "str"},
        "rds_engine": {"type": "str", "default": "postgres"},
        "rds_engine_version": {"type": "str"},
        "cache_engine": {"type": "str", "choices": ["redis", "valkey"]},
        "instance_types": {"type": "list", "elements": "str", "default": []},
        "zones": {"type": "list", "elements": "str", "default": []},
    }

    def validate(self):
        """Every option value that breaks its pattern, by option; instance_types and zones together."""
        params = self.params
        problems = {}
        for option, pattern in PATTERNS.items():
            values = params[option] if isinstance(params[option], list) else [params[option]]
            bad = [repr(value) for value in values if value is not None and not pattern.match(str(value))]
            if bad:
                problems[option] = f"must match {pattern.pattern}, got {', '.join(bad)}"
        if params["instance_types"] and not params["zones"]:
            problems["zones"] = "required with instance_types: the types are asked about in those zones"
        elif params["zones"] and not params["instance_types"]:
            problems["instance_types"] = "required with zones: the types asked about in those zones"
        return problems

    def _questions(self):
        """What the options ask: (answer key, the question in words, function, service, its arguments)."""
        params = self.params
        name, engine, version = params["eks_cluster_name"], params["rds_engine"], params["rds_engine_version"]
        if params["eks_versions"]:
            yield "eks_versions", "the EKS versions (DescribeClusterVersions)", eks_versions, "eks", ()
        if name:
            question = f"the version of the cluster {name} (DescribeCluster)"
            yield "eks_cluster_version", question, eks_cluster_version, "eks", (name,)
        if version:
            question = (
                f"the support dates of {engine} {version.split('.')[0]} (DescribeDBMajorEngineVersions)"
            )
            yield "rds_majors", question, rds_majors, "rds", (engine, version)
            question = f"the classes orderable on {engine} {version} (DescribeOrderableDBInstanceOptions)"
            yield "rds_orderable", question, rds_orderable, "rds", (engine, version)
        if params["cache_engine"]:
            question = f"the ElastiCache {params['cache_engine']} versions (DescribeCacheEngineVersions)"
            yield "cache_versions", question, cache_versions, "elasticache", (params["cache_engine"],)
        if params["instance_types"]:
            question = "the instance type offerings per zone (DescribeInstanceTypeOfferings)"
            arguments = (params["instance_types"], params["zones"])
            yield "instance_type_offerings", question, instance_type_offerings, "ec2", arguments

    def answer(self):
        offered = {"source": f"AWS ({self.module.region})", **dict.fromkeys(ANSWERS)}
        for key, question, function, service, arguments in self._questions():
            offered[key] = self.ask(question, function, self.client(service), *arguments)
        return {"offered": offered}


def main():
    run(Offerings)


if __name__ == "__main__":
    main()
