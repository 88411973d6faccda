#!/usr/bin/python
# Copyright: GiftCrypto platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: elasticache_replication_group
short_description: Manage an ElastiCache Redis replication group with encryption, AUTH and snapshots
version_added: 0.1.0
description:
  - Creates, updates or deletes an Amazon ElastiCache Redis replication group with cluster mode
    disabled (one primary and its replicas) through C(CreateReplicationGroup),
    C(ModifyReplicationGroup), C(IncreaseReplicaCount), C(DecreaseReplicaCount) and
    C(DeleteReplicationGroup), and manages its tags.
  - Fills a gap, neither amazon.aws nor community.aws has a replication group module;
    C(community.aws.elasticache) manages single cache clusters only, cannot turn on encryption at
    rest, encryption in transit, an AUTH token, Multi-AZ or automatic failover, and fails on its
    second run against some implementations of the API (C(KeyError 'CacheNodes')).
  - Reads the group with C(DescribeReplicationGroups) and its primary member with
    C(DescribeCacheClusters) (engine version, parameter group, security groups, maintenance
    window, subnet group). When the API does not describe the member (some stand-ins of the API),
    those settings are sent on creation only, null in the view, and listed in RV(unverified)
    instead of being compared.
  - The AUTH token is sent when the group is created (or when an existing group has no AUTH yet,
    with the C(SET) strategy); it is never read back, compared, returned nor shown in a diff.
    Rotating it is a runbook action.
author:
  - GiftCrypto platform team (@giftcrypto)
options:
  replication_group_id:
    description:
      - Identifier of the group, 1 to 40 lower-case letters, digits or hyphens, starting with a
        letter, no two hyphens in a row and no hyphen at the end. Its members are
        C(<id>-001) .. C(<id>-00N).
    type: str
    required: true
    aliases: [name]
  description:
    description: Description of the group. Defaults to the identifier.
    type: str
  engine:
    description: The engine; only C(redis) is managed.
    type: str
    choices: [redis]
    default: redis
  engine_version:
    description:
      - Engine version such as C(7.1). A newer version the group already runs (automatic minor
        upgrades) is kept, never downgraded.
    type: str
  cache_node_type:
    description: Node type of every member, for example C(cache.r7g.large). Required to create.
    type: str
  node_count:
    description:
      - Number of nodes, the primary and its replicas (1 to 6). Automatic failover and Multi-AZ
        need at least 2. Sent as C(NumNodeGroups=1) and C(ReplicasPerNodeGroup=node_count-1).
    type: int
    default: 2
  automatic_failover:
    description: Promote a replica when the primary fails.
    type: bool
    default: true
  multi_az:
    description: Keep the replicas in other Availability Zones than the primary (needs O(automatic_failover)).
    type: bool
    default: true
  cache_subnet_group_name:
    description: Cache subnet group of the nodes; it cannot change after creation.
    type: str
  security_group_ids:
    description: VPC security groups of the nodes.
    type: list
    elements: str
  cache_parameter_group_name:
    description: Cache parameter group; omitted, the engine's default group is used.
    type: str
  port:
    description: Port the nodes listen on; it cannot change after creation.
    type: int
    default: 6379
  at_rest_encryption:
    description: Encrypt the data on disk and the snapshots; it cannot change after creation.
    type: bool
    default: true
  kms_key_id:
    description: ARN of the customer-managed KMS key of the encryption at rest; it cannot change later.
    type: str
  transit_encryption:
    description: TLS between clients and nodes and between nodes; required with O(auth_token).
    type: bool
    default: true
  auth_token:
    description:
      - The Redis AUTH token (16 to 128 printable characters, no C(@), C(") or C(/)).
      - Needs O(transit_encryption).
      - Never returned nor compared (see the description).
    type: str
  snapshot_retention_limit:
    description: Days automatic snapshots are kept (0 turns them off, at most 35).
    type: int
    default: 7
  snapshot_window:
    description: Daily snapshot window, UTC, C(hh:mm-hh:mm).
    type: str
  preferred_maintenance_window:
    description: Weekly maintenance window, UTC, C(ddd:hh:mm-ddd:hh:mm).
    type: str
  auto_minor_version_upgrade:
    description: Let ElastiCache apply minor engine upgrades in the maintenance window.
    type: bool
    default: true
  apply_immediately:
    description: Apply modifications now instead of in the next maintenance window.
    type: bool
    default: false
  final_snapshot_identifier:
    description: With O(state=absent), the name of a snapshot taken before the group is deleted.
    type: str
  wait:
    description:
      - After creating the group, wait until it is C(available); after deleting it, until it is gone
        (so that its subnet and parameter groups can be deleted next). Updates never wait, and
        nothing waits when nothing changed.
    type: bool
    default: true
  wait_timeout:
    description: Seconds to wait for a creation or a deletion.
    type: int
    default: 1800
notes:
  - The diff never shows the AUTH token (only RV(replication_group.auth_token_enabled)).
  - Encryption at rest, its key, encryption in transit, the port, the subnet group and cluster mode
    cannot be changed in place; a difference is refused with a message instead of a silent no-op.
  - A group whose status is C(deleting) counts as absent; O(state=present) refuses to recreate it
    until the deletion has finished.
extends_documentation_fragment: [giftcrypto.platform.aws_resource, giftcrypto.platform.aws_resource.state,
  amazon.aws.common.modules, amazon.aws.region.modules, amazon.aws.tags, amazon.aws.boto3]
"""

EXAMPLES = r"""
- name: Redis 7, three nodes across zones, encrypted, AUTH, a week of snapshots
  giftcrypto.platform.elasticache_replication_group:
    replication_group_id: giftcrypto-production
    description: GiftCrypto sessions and rate limits
    engine_version: "7.1"
    cache_node_type: cache.r7g.large
    node_count: 3
    automatic_failover: true
    multi_az: true
    cache_subnet_group_name: giftcrypto-production-cache
    security_group_ids: [sg-0123456789abcdef0]
    cache_parameter_group_name: giftcrypto-production-redis7
    kms_key_id: arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab
    auth_token: "{{ redis_auth_token }}"
    snapshot_retention_limit: 7
    snapshot_window: "02:00-03:00"
    preferred_maintenance_window: "sun:05:00-sun:06:00"
    tags:
      Project: GiftCrypto
  no_log: true

- name: Delete it after a final snapshot
  giftcrypto.platform.elasticache_replication_group:
    replication_group_id: giftcrypto-staging
    final_snapshot_identifier: giftcrypto-staging-final
    state: absent
"""

RETURN = r"""
planned:
  description:
    - What the run did or would do to the replication group; C(create) waits for it when O(wait)
      says so.
  returned: always
  type: str
  sample: update
changes:
  description:
    - The settings that differ, by option name (C(auth_token) when a token is set on a group without
      AUTH, C(tags) for the tags); every setting of the view for a creation.
  returned: always
  type: list
  elements: str
  sample: [cache_node_type, snapshot_retention_limit]
unverified:
  description: Options the API did not describe, so sent on creation but not compared.
  returned: always
  type: list
  elements: str
  sample: [engine_version, cache_parameter_group_name]
replication_group:
  description: The group after the run (planned, in check mode); empty when absent. Never the AUTH token.
  returned: always
  type: dict
  contains:
    name:
      description: Identifier of the group.
      type: str
      sample: giftcrypto-production
    arn:
      description: ARN; empty in check mode before the group exists.
      type: str
    status:
      description: Status (C(available), C(creating), C(modifying)...); C(planned) in a plan before creation.
      type: str
    description:
      description: Description.
      type: str
    engine:
      description: Engine.
      type: str
    engine_version:
      description: Engine version of the primary; null when the API did not describe it.
      type: str
    cache_node_type:
      description: Node type.
      type: str
    node_count:
      description: Number of nodes.
      type: int
    member_clusters:
      description: Identifiers of the member clusters.
      type: list
      elements: str
    primary_endpoint:
      description: Address and port of the primary.
      type: dict
    reader_endpoint:
      description: Address and port of the reader endpoint.
      type: dict
    port:
      description: Port of the primary endpoint.
      type: int
    automatic_failover:
      description: Whether automatic failover is on.
      type: bool
    multi_az:
      description: Whether Multi-AZ is on.
      type: bool
    at_rest_encryption:
      description: Whether encryption at rest is on.
      type: bool
    transit_encryption:
      description: Whether encryption in transit is on.
      type: bool
    kms_key_id:
      description: KMS key of the encryption at rest.
      type: str
    auth_token_enabled:
      description: Whether an AUTH token is set.
      type: bool
    snapshot_retention_limit:
      description: Days of automatic snapshots.
      type: int
    snapshot_window:
      description: Snapshot window.
      type: str
    auto_minor_version_upgrade:
      description: Whether minor upgrades are automatic; null when the API did not say.
      type: bool
    cluster_enabled:
      description: Whether cluster mode is on (this module refuses such a group).
      type: bool
    cache_parameter_group_name:
      description: Parameter group of the primary; null when the API did not describe it.
      type: str
    security_group_ids:
      description: Security groups of the primary; null when the API did not describe it.
      type: list
      elements: str
    preferred_maintenance_window:
      description: Maintenance window of the primary; null when the API did not describe it.
      type: str
    cache_subnet_group_name:
      description: Subnet group of the primary; null when the API did not describe it.
      type: str
    tags:
      description: Tags of the group, as ListTagsForResource gives them.
      type: dict
"""

import re
from typing import ClassVar

from ansible_collections.amazon.aws.plugins.module_utils.tagging import ansible_dict_to_boto3_tag_list
from ansible_collections.giftcrypto.platform.plugins.module_utils.aws_resource import (
    SHARED_OPTIONS,
    AWSResource,
    ResourceProblem,
    run,
    tag_by_resource_name,
)
from ansible_collections.giftcrypto.platform.plugins.module_utils.tag_plan import resource_tags, settable

ID_PATTERN = re.compile(r"^[a-z](?!.*--)[a-z0-9-]{0,39}(?<!-)$")
SNAPSHOT_PATTERN = re.compile(r"^[A-Za-z][A-Za-z0-9-]{0,254}$")
TOKEN_PATTERN = re.compile(r"^[\x21-\x7e]{16,128}$")
WINDOW = re.compile(r"^([01][0-9]|2[0-3]):[0-5][0-9]-([01][0-9]|2[0-3]):[0-5][0-9]$")
WEEKLY_WINDOW = re.compile(
    r"^(mon|tue|wed|thu|fri|sat|sun):([01][0-9]|2[0-3]):[0-5][0-9]-(mon|tue|wed|thu|fri|sat|sun):([01][0-9]|2[0-3]):[0-5][0-9]$"
)
VERSION = re.compile(r"^[0-9]+(\.[0-9]+){0,2}$")
CLUSTER_NOT_FOUND = ("CacheClusterNotFound", "CacheClusterNotFoundFault")
# The settings ModifyReplicationGroup changes, by option name (the view's keys) and API name.
MODIFIABLE = {
    "description": "ReplicationGroupDescription",
    "cache_node_type": "CacheNodeType",
    "automatic_failover": "AutomaticFailoverEnabled",
    "multi_az": "MultiAZEnabled",
    "snapshot_retention_limit": "SnapshotRetentionLimit",
    "snapshot_window": "SnapshotWindow",
    "auto_minor_version_upgrade": "AutoMinorVersionUpgrade",
    "engine_version": "EngineVersion",
    "cache_parameter_group_name": "CacheParameterGroupName",
    "security_group_ids": "SecurityGroupIds",
    "preferred_maintenance_window": "PreferredMaintenanceWindow",
}
# Settings read from the primary member (DescribeCacheClusters), None when it is not described.
MEMBER_SETTINGS = (
    "engine_version",
    "cache_parameter_group_name",
    "security_group_ids",
    "preferred_maintenance_window",
    "cache_subnet_group_name",
)


def _endpoint(value):
    return {"address": value.get("Address", ""), "port": value.get("Port", 0)} if value else {}


def _version_tuple(version):
    return tuple(int(part) for part in (version or "0").split(".") if part.isdigit())


def _same_or_newer(current, wanted):
    """Whether the running version satisfies the wanted one (7.1 is met by 7.1.0 and by 7.2)."""
    have, want = _version_tuple(current), _version_tuple(wanted)
    return have[: len(want)] == want or have > want


class ReplicationGroup(AWSResource):
    service = "elasticache"
    resource = "replication_group"
    noun = "replication group"
    named_by = "replication_group_id"
    shared = ("state", "tags", "purge_tags", "wait", "wait_timeout")
    not_found = ("ReplicationGroupNotFoundFault", "ReplicationGroupNotFound")
    options: ClassVar[dict] = {
        "replication_group_id": {"type": "str", "required": True, "aliases": ["name"]},
        "description": {"type": "str"},
        "engine": {"type": "str", "default": "redis", "choices": ["redis"]},
        "engine_version": {"type": "str"},
        "cache_node_type": {"type": "str"},
        "node_count": {"type": "int", "default": 2},
        "automatic_failover": {"type": "bool", "default": True},
        "multi_az": {"type": "bool", "default": True},
        "cache_subnet_group_name": {"type": "str"},
        "security_group_ids": {"type": "list", "elements": "str"},
        "cache_parameter_group_name": {"type": "str"},
        "port": {"type": "int", "default": 6379},
        "at_rest_encryption": {"type": "bool", "default": True},
        "kms_key_id": {"type": "str"},
        "transit_encryption": {"type": "bool", "default": True},
        "auth_token": {"type": "str", "no_log": True},
        "snapshot_retention_limit": {"type": "int", "default": 7},
        "snapshot_window": {"type": "str"},
        "preferred_maintenance_window": {"type": "str"},
        "auto_minor_version_upgrade": {"type": "bool", "default": True},
        "apply_immediately": {"type": "bool", "default": False},
        "final_snapshot_identifier": {"type": "str"},
        "wait_timeout": {**SHARED_OPTIONS["wait_timeout"], "default": 1800},
    }
    deleting = False  # whether the last read found the group being deleted (it then counts as absent)
    created = False

    def validate(self):
        params = self.params
        problems = {}

        def problem(option, text):
            problems[option] = f"{problems[option]}; {text}" if option in problems else text

        group_id = params["replication_group_id"]
        if not ID_PATTERN.fullmatch(group_id or ""):
            problem(
                "replication_group_id",
                "1 to 40 lower-case letters, digits or hyphens, starting with a letter, no two hyphens in a "
                f"row, no hyphen at the end, got {group_id}",
            )
        if params["wait_timeout"] < 1:
            problem("wait_timeout", f"at least 1 second, got {params['wait_timeout']}")
        if params["state"] == "absent":
            final = params["final_snapshot_identifier"]
            if final is not None and not SNAPSHOT_PATTERN.fullmatch(final):
                problem(
                    "final_snapshot_identifier",
                    f"a letter then up to 254 letters, digits or hyphens, got {final}",
                )
            return problems
        count = params["node_count"]
        if not 1 <= count <= 6:
            problem("node_count", f"1 to 6 nodes (a primary and up to 5 replicas), got {count}")
        if (params["automatic_failover"] or params["multi_az"]) and count < 2:
            problem("node_count", f"automatic_failover and multi_az need at least 2 nodes, got {count}")
        if params["multi_az"] and not params["automatic_failover"]:
            problem("multi_az", "true needs automatic_failover=true")
        token = params["auth_token"]
        if token is not None:
            if not TOKEN_PATTERN.fullmatch(token) or any(c in token for c in '@"/'):
                problem("auth_token", '16 to 128 printable characters without @, " or /')
            if not params["transit_encryption"]:
                problem("auth_token", "needs transit_encryption=true")
        if params["kms_key_id"] is not None and not params["at_rest_encryption"]:
            problem("kms_key_id", "needs at_rest_encryption=true")
        retention = params["snapshot_retention_limit"]
        if not 0 <= retention <= 35:
            problem("snapshot_retention_limit", f"0 to 35 days, got {retention}")
        checks = (
            ("snapshot_window", WINDOW, "hh:mm-hh:mm (UTC)"),
            ("preferred_maintenance_window", WEEKLY_WINDOW, "ddd:hh:mm-ddd:hh:mm (UTC, lower case)"),
            ("engine_version", VERSION, "a version such as 7.1"),
        )
        for option, pattern, rule in checks:
            value = params[option]
            if value is not None and not pattern.fullmatch(value):
                problem(option, f"{rule}, got {value}")
        if not 1 <= params["port"] <= 65535:
            problem("port", f"1 to 65535, got {params['port']}")
        return problems

    def describe(self):
        self.deleting = False
        found = self.client.describe_replication_groups(
            aws_retry=True, ReplicationGroupId=self.params["replication_group_id"]
        )
        group = (found.get("ReplicationGroups") or [None])[0]
        if group is None or group.get("Status") == "deleting":
            self.deleting = group is not None
            return None
        return {
            "Group": group,
            "Member": self._primary_member(group),
            "Tags": resource_tags(self.client, group.get("ARN")),
        }

    def _primary_member(self, group):
        """DescribeCacheClusters of the primary member, or None when the API does not describe it."""
        members = group.get("MemberClusters") or []
        primary = None
        for node_group in group.get("NodeGroups") or []:
            for member in node_group.get("NodeGroupMembers") or []:
                if member.get("CurrentRole") == "primary":
                    primary = member.get("CacheClusterId")
        cluster_id = primary or (members[0] if members else None)
        if not cluster_id:
            return None
        clusters = self.or_none(
            CLUSTER_NOT_FOUND, self.client.describe_cache_clusters, CacheClusterId=cluster_id
        )
        return ((clusters or {}).get("CacheClusters") or [None])[0]

    def view(self, described):
        group, member = described["Group"], described["Member"]
        node_group = (group.get("NodeGroups") or [{}])[0]
        view = {
            "name": group.get("ReplicationGroupId", ""),
            "arn": group.get("ARN", ""),
            "status": group.get("Status", ""),
            "description": group.get("Description", ""),
            "engine": group.get("Engine", "redis"),
            "cache_node_type": group.get("CacheNodeType", ""),
            "node_count": len(group.get("MemberClusters") or []),
            "member_clusters": list(group.get("MemberClusters") or []),
            "primary_endpoint": _endpoint(node_group.get("PrimaryEndpoint")),
            "reader_endpoint": _endpoint(node_group.get("ReaderEndpoint")),
            "port": (node_group.get("PrimaryEndpoint") or {}).get("Port"),
            "automatic_failover": group.get("AutomaticFailover") in ("enabled", "enabling"),
            "multi_az": group.get("MultiAZ") == "enabled",
            "at_rest_encryption": bool(group.get("AtRestEncryptionEnabled")),
            "transit_encryption": bool(group.get("TransitEncryptionEnabled")),
            "kms_key_id": group.get("KmsKeyId") or "",
            "auth_token_enabled": bool(group.get("AuthTokenEnabled")),
            "snapshot_retention_limit": int(group.get("SnapshotRetentionLimit") or 0),
            "snapshot_window": group.get("SnapshotWindow", ""),
            "auto_minor_version_upgrade": group.get("AutoMinorVersionUpgrade"),
            "cluster_enabled": bool(group.get("ClusterEnabled")),
            **dict.fromkeys(MEMBER_SETTINGS),
            "tags": described["Tags"],
        }
        if member:
            view.update(
                engine_version=member.get("EngineVersion", ""),
                cache_parameter_group_name=(member.get("CacheParameterGroup") or {}).get(
                    "CacheParameterGroupName", ""
                ),
                security_group_ids=sorted(
                    g.get("SecurityGroupId") for g in member.get("SecurityGroups") or []
                ),
                preferred_maintenance_window=member.get("PreferredMaintenanceWindow", ""),
                cache_subnet_group_name=member.get("CacheSubnetGroupName", ""),
            )
        return view

    def _wanted(self):
        """The options as the view names them (None: not set, left as it is)."""
        params = self.params
        wanted = {key: params[key] for key in MODIFIABLE if key != "security_group_ids"}
        wanted["security_group_ids"] = (
            sorted(params["security_group_ids"]) if params["security_group_ids"] is not None else None
        )
        return wanted

    def _new(self):
        params = self.params
        if self.deleting:
            raise ResourceProblem("it is being deleted; run again once it is gone")
        if not params["cache_node_type"]:
            raise ResourceProblem("cache_node_type is required to create it")
        return {
            "name": params["replication_group_id"],
            "arn": "",
            "status": "planned",
            **self._wanted(),
            "description": params["description"] or params["replication_group_id"],
            "engine": params["engine"],
            "engine_version": params["engine_version"] or "",
            "node_count": params["node_count"],
            "member_clusters": [],
            "primary_endpoint": {},
            "reader_endpoint": {},
            "port": params["port"],
            "at_rest_encryption": params["at_rest_encryption"],
            "transit_encryption": params["transit_encryption"],
            "kms_key_id": params["kms_key_id"] or "",
            "auth_token_enabled": params["auth_token"] is not None,
            "snapshot_window": params["snapshot_window"] or "",
            "cluster_enabled": False,
            "cache_subnet_group_name": params["cache_subnet_group_name"],
        }

    def _refuse_immutable(self, current):
        params = self.params
        problems = []
        if current["cluster_enabled"]:
            problems.append(
                "cluster mode is enabled on the group; this module manages cluster mode disabled only"
            )
        for option in ("at_rest_encryption", "transit_encryption"):
            if current[option] != params[option]:
                problems.append(f"{option}={params[option]} but the group has {current[option]}")
        if params["kms_key_id"] and current["kms_key_id"] and current["kms_key_id"] != params["kms_key_id"]:
            problems.append(
                f"kms_key_id={params['kms_key_id']} but the group is encrypted with {current['kms_key_id']}"
            )
        if current["port"] and current["port"] != params["port"]:
            problems.append(f"port={params['port']} but the group listens on {current['port']}")
        subnet_group, wanted = current["cache_subnet_group_name"], params["cache_subnet_group_name"]
        if wanted and subnet_group and subnet_group != wanted:
            problems.append(f"cache_subnet_group_name={wanted} but the group uses {subnet_group}")
        if problems:
            raise ResourceProblem(
                "it cannot be changed in place: "
                + "; ".join(problems)
                + ". Create a new group (another identifier) and migrate to it."
            )

    def plan(self, current):
        if current is None:
            return self._new()
        self._refuse_immutable(current)
        planned = dict(current)
        for option, value in self._wanted().items():
            if value is None:
                continue
            if current[option] is None:
                self.unverified.append(option)  # not described: sent on creation only, not compared
            elif option != "engine_version" or not _same_or_newer(current[option], value):
                planned[option] = value
        for option in ("cache_subnet_group_name",):
            if self.params[option] is not None and current[option] is None:
                self.unverified.append(option)
        self.unverified.sort()
        planned["node_count"] = self.params["node_count"]
        if self.params["auth_token"] is not None:
            planned["auth_token_enabled"] = True
        return planned

    def differences(self, current, planned):
        changes = [key for key in (*MODIFIABLE, "node_count") if planned.get(key) != current.get(key)]
        if planned["auth_token_enabled"] and not current.get("auth_token_enabled"):
            changes.append("auth_token")
        return sorted(changes)

    def create(self, planned):
        params = self.params
        request = {
            "ReplicationGroupId": params["replication_group_id"],
            "ReplicationGroupDescription": planned["description"],
            "Engine": params["engine"],
            "CacheNodeType": params["cache_node_type"],
            "NumNodeGroups": 1,
            "ReplicasPerNodeGroup": params["node_count"] - 1,
            "AutomaticFailoverEnabled": params["automatic_failover"],
            "MultiAZEnabled": params["multi_az"],
            "Port": params["port"],
            "AtRestEncryptionEnabled": params["at_rest_encryption"],
            "TransitEncryptionEnabled": params["transit_encryption"],
            "SnapshotRetentionLimit": params["snapshot_retention_limit"],
            "AutoMinorVersionUpgrade": params["auto_minor_version_upgrade"],
        }
        optional = {
            "EngineVersion": params["engine_version"],
            "CacheSubnetGroupName": params["cache_subnet_group_name"],
            "SecurityGroupIds": params["security_group_ids"],
            "CacheParameterGroupName": params["cache_parameter_group_name"],
            "KmsKeyId": params["kms_key_id"],
            "AuthToken": params["auth_token"],
            "SnapshotWindow": params["snapshot_window"],
            "PreferredMaintenanceWindow": params["preferred_maintenance_window"],
        }
        request.update({key: value for key, value in optional.items() if value is not None})
        if settable(planned["tags"]):
            request["Tags"] = ansible_dict_to_boto3_tag_list(settable(planned["tags"]))
        self.client.create_replication_group(aws_retry=True, **request)
        self.created = True

    def update(self, current, planned, changes):
        group_id = self.params["replication_group_id"]
        if "node_count" in changes:
            replicas = {
                "ReplicationGroupId": group_id,
                "NewReplicaCount": planned["node_count"] - 1,
                "ApplyImmediately": True,
            }
            if planned["node_count"] > current["node_count"]:
                self.client.increase_replica_count(aws_retry=True, **replicas)
            else:
                self.client.decrease_replica_count(aws_retry=True, **replicas)
        request = {MODIFIABLE[option]: planned[option] for option in changes if option in MODIFIABLE}
        if "auth_token" in changes:
            request.update(AuthToken=self.params["auth_token"], AuthTokenUpdateStrategy="SET")
        if request:
            self.client.modify_replication_group(
                aws_retry=True,
                ReplicationGroupId=group_id,
                ApplyImmediately=self.params["apply_immediately"],
                **request,
            )

    def tag(self, current, to_set, to_unset):
        tag_by_resource_name(self.client, current["arn"], to_set, to_unset)

    def delete(self, current):
        request = {"ReplicationGroupId": self.params["replication_group_id"], "RetainPrimaryCluster": False}
        if self.params["final_snapshot_identifier"]:
            request["FinalSnapshotIdentifier"] = self.params["final_snapshot_identifier"]
        self.client.delete_replication_group(aws_retry=True, **request)

    def wait(self, goal):
        # After a creation until it is available, after a deletion until it is gone; updates never wait.
        if goal == "absent":
            self.poll(lambda view: not view and not self.deleting, "deleted", delay=15)
        elif self.created:
            self.poll(lambda view: view.get("status") == "available", "available", delay=15)


def main():
    run(ReplicationGroup)


if __name__ == "__main__":
    main()
