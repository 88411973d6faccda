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
    those settings are sent on creation only and listed in RV(unverified) instead of being compared.
  - The AUTH token is sent when the group is created (or when an existing group has no AUTH yet,
    with the C(SET) strategy); it is never read back, compared, returned nor shown in a diff.
    Rotating it is a runbook action.
author:
  - GiftCrypto platform team
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
  state:
    description: Whether the group exists.
    type: str
    choices: [present, absent]
    default: present
notes:
  - Supports check mode, which reports the settings that would change (RV(modified)) without
    calling a write API.
  - Supports diff (the group's settings and tags before and after, never the AUTH token).
  - Encryption at rest, its key, encryption in transit, the port, the subnet group and cluster mode
    cannot be changed in place; a difference is refused with a message instead of a silent no-op.
  - A group whose status is C(deleting) counts as absent; O(state=present) refuses to recreate it
    until the deletion has finished.
  - Calls are retried with a jittered exponential backoff when ElastiCache throttles them.
  - Lives in the collection's C(aws) action group so that C(module_defaults) for
    C(group/amazon.aws.aws) give it region, endpoint and credentials.
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.tags
  - amazon.aws.boto3
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
replication_group:
  description: The group after the run (planned, in check mode); empty when absent. Never the AUTH token.
  returned: always
  type: dict
  contains:
    name:
      description: Identifier of the group (named C(name), like the modules' other returns, so that a
        plan counts a group that does not exist yet as one to create, by its empty RV(replication_group.arn)).
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
      description: Engine version of the primary; empty when the API did not describe it.
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
      description: Whether minor upgrades are automatic.
      type: bool
    tags:
      description: Tags.
      type: dict
modified:
  description: Settings this run changed (would change, in check mode), by option name.
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
"""

import re

try:  # noqa: SIM105 -- the usual optional-import guard of Ansible modules
    import botocore
except ImportError:
    pass  # handled by AnsibleAWSModule

from ansible_collections.amazon.aws.plugins.module_utils.botocore import is_boto3_error_code
from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry
from ansible_collections.amazon.aws.plugins.module_utils.tagging import (
    ansible_dict_to_boto3_tag_list,
)
from ansible_collections.giftcrypto.platform.plugins.module_utils.tag_plan import (
    plan_tags,
    resource_tags,
    settable,
)

ID_PATTERN = re.compile(r"^[a-z](?!.*--)[a-z0-9-]{0,39}(?<!-)$")
SNAPSHOT_PATTERN = re.compile(r"^[A-Za-z][A-Za-z0-9-]{0,254}$")
TOKEN_PATTERN = re.compile(r"^[\x21-\x7e]{16,128}$")
WINDOW = re.compile(r"^([01][0-9]|2[0-3]):[0-5][0-9]-([01][0-9]|2[0-3]):[0-5][0-9]$")
WEEKLY_WINDOW = re.compile(
    r"^(mon|tue|wed|thu|fri|sat|sun):([01][0-9]|2[0-3]):[0-5][0-9]-(mon|tue|wed|thu|fri|sat|sun):([01][0-9]|2[0-3]):[0-5][0-9]$"
)
VERSION = re.compile(r"^[0-9]+(\.[0-9]+){0,2}$")
NOT_FOUND = ["ReplicationGroupNotFoundFault", "ReplicationGroupNotFound"]
CLUSTER_NOT_FOUND = ["CacheClusterNotFound", "CacheClusterNotFoundFault"]
# Settings that come from the primary member (DescribeCacheClusters), not from the group.
MEMBER_SETTINGS = (
    "engine_version",
    "cache_parameter_group_name",
    "security_group_ids",
    "preferred_maintenance_window",
    "cache_subnet_group_name",
)


def check_input(params):
    """Problems with the options, each naming the option; an empty list means the input is fine."""
    problems = []
    group_id = params["replication_group_id"]
    if not ID_PATTERN.fullmatch(group_id or ""):
        problems.append(
            f"replication_group_id={group_id}: 1 to 40 lower-case letters, digits or hyphens, "
            "starting with a letter, no two hyphens in a row, no hyphen at the end"
        )
    if params["state"] == "absent":
        final = params["final_snapshot_identifier"]
        if final is not None and not SNAPSHOT_PATTERN.fullmatch(final):
            problems.append(
                f"final_snapshot_identifier={final}: a letter then up to 254 letters, digits or hyphens"
            )
        return problems
    count = params["node_count"]
    if not 1 <= count <= 6:
        problems.append(f"node_count={count}: 1 to 6 nodes (a primary and up to 5 replicas)")
    if (params["automatic_failover"] or params["multi_az"]) and count < 2:
        problems.append(f"node_count={count}: automatic_failover and multi_az need at least 2 nodes")
    if params["multi_az"] and not params["automatic_failover"]:
        problems.append("multi_az=true needs automatic_failover=true")
    token = params["auth_token"]
    if token is not None:
        if not TOKEN_PATTERN.fullmatch(token) or any(c in token for c in '@"/'):
            problems.append('auth_token: 16 to 128 printable characters without @, " or /')
        if not params["transit_encryption"]:
            problems.append("auth_token needs transit_encryption=true")
    if params["kms_key_id"] is not None and not params["at_rest_encryption"]:
        problems.append("kms_key_id needs at_rest_encryption=true")
    retention = params["snapshot_retention_limit"]
    if not 0 <= retention <= 35:
        problems.append(f"snapshot_retention_limit={retention}: 0 to 35 days")
    window = params["snapshot_window"]
    if window is not None and not WINDOW.fullmatch(window):
        problems.append(f"snapshot_window={window}: hh:mm-hh:mm (UTC)")
    weekly = params["preferred_maintenance_window"]
    if weekly is not None and not WEEKLY_WINDOW.fullmatch(weekly):
        problems.append(f"preferred_maintenance_window={weekly}: ddd:hh:mm-ddd:hh:mm (UTC, lower case)")
    version = params["engine_version"]
    if version is not None and not VERSION.fullmatch(version):
        problems.append(f"engine_version={version}: a version such as 7.1")
    if not 1 <= params["port"] <= 65535:
        problems.append(f"port={params['port']}: 1 to 65535")
    if params["wait_timeout"] < 1:
        problems.append(f"wait_timeout={params['wait_timeout']}: at least 1 second")
    return problems


def _describe(client, group_id):
    try:
        found = client.describe_replication_groups(aws_retry=True, ReplicationGroupId=group_id)
    except is_boto3_error_code(NOT_FOUND):
        return None
    groups = found.get("ReplicationGroups") or []
    return groups[0] if groups else None


def _primary_member(client, group):
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
    try:
        clusters = client.describe_cache_clusters(aws_retry=True, CacheClusterId=cluster_id)
    except is_boto3_error_code(CLUSTER_NOT_FOUND):
        return None
    found = clusters.get("CacheClusters") or []
    return found[0] if found else None


def _endpoint(value):
    value = value or {}
    return {"address": value.get("Address", ""), "port": value.get("Port", 0)} if value else {}


def _current(group, member):
    """The settings of an existing group, by option name (member settings None when not described)."""
    node_group = (group.get("NodeGroups") or [{}])[0]
    current = {
        "description": group.get("Description", ""),
        "engine": group.get("Engine", "redis"),
        "cache_node_type": group.get("CacheNodeType", ""),
        "node_count": len(group.get("MemberClusters") or []),
        "automatic_failover": group.get("AutomaticFailover") in ("enabled", "enabling"),
        "multi_az": group.get("MultiAZ") == "enabled",
        "at_rest_encryption": bool(group.get("AtRestEncryptionEnabled")),
        "kms_key_id": group.get("KmsKeyId") or "",
        "transit_encryption": bool(group.get("TransitEncryptionEnabled")),
        "auth_token_enabled": bool(group.get("AuthTokenEnabled")),
        "snapshot_retention_limit": int(group.get("SnapshotRetentionLimit") or 0),
        "snapshot_window": group.get("SnapshotWindow", ""),
        "auto_minor_version_upgrade": group.get("AutoMinorVersionUpgrade"),
        "port": (node_group.get("PrimaryEndpoint") or {}).get("Port"),
        "cluster_enabled": bool(group.get("ClusterEnabled")),
    }
    for key in MEMBER_SETTINGS:
        current[key] = None
    if member:
        current.update(
            {
                "engine_version": member.get("EngineVersion", ""),
                "cache_parameter_group_name": (member.get("CacheParameterGroup") or {}).get(
                    "CacheParameterGroupName", ""
                ),
                "security_group_ids": sorted(
                    g.get("SecurityGroupId") for g in member.get("SecurityGroups") or []
                ),
                "preferred_maintenance_window": member.get("PreferredMaintenanceWindow", ""),
                "cache_subnet_group_name": member.get("CacheSubnetGroupName", ""),
            }
        )
    return current


def _version_tuple(version):
    return tuple(int(part) for part in (version or "0").split(".") if part.isdigit())


def _same_or_newer(current, wanted):
    """Whether the running version satisfies the wanted one (7.1 is met by 7.1.0 and by 7.2)."""
    have, want = _version_tuple(current), _version_tuple(wanted)
    return have[: len(want)] == want or have > want


def _view(group, tags, current):
    if not group:
        return {}
    node_group = (group.get("NodeGroups") or [{}])[0]
    return {
        "name": group.get("ReplicationGroupId", ""),
        "arn": group.get("ARN", ""),
        "status": group.get("Status", ""),
        "description": current["description"],
        "engine": current["engine"],
        "engine_version": current["engine_version"] or "",
        "cache_node_type": current["cache_node_type"],
        "node_count": current["node_count"],
        "member_clusters": list(group.get("MemberClusters") or []),
        "primary_endpoint": _endpoint(node_group.get("PrimaryEndpoint")),
        "reader_endpoint": _endpoint(node_group.get("ReaderEndpoint")),
        "automatic_failover": current["automatic_failover"],
        "multi_az": current["multi_az"],
        "at_rest_encryption": current["at_rest_encryption"],
        "transit_encryption": current["transit_encryption"],
        "kms_key_id": current["kms_key_id"],
        "auth_token_enabled": current["auth_token_enabled"],
        "snapshot_retention_limit": current["snapshot_retention_limit"],
        "snapshot_window": current["snapshot_window"],
        "auto_minor_version_upgrade": bool(current["auto_minor_version_upgrade"]),
        "tags": tags,
    }


def _refuse_immutable(module, current):
    params = module.params
    problems = []
    if current["cluster_enabled"]:
        problems.append(
            "cluster mode is enabled on the group; this module manages cluster mode disabled only"
        )
    if current["at_rest_encryption"] != params["at_rest_encryption"]:
        problems.append(
            f"at_rest_encryption={params['at_rest_encryption']} "
            f"but the group has {current['at_rest_encryption']}"
        )
    if params["kms_key_id"] and current["kms_key_id"] and current["kms_key_id"] != params["kms_key_id"]:
        problems.append(
            f"kms_key_id={params['kms_key_id']} but the group is encrypted with {current['kms_key_id']}"
        )
    if current["transit_encryption"] != params["transit_encryption"]:
        problems.append(
            f"transit_encryption={params['transit_encryption']} "
            f"but the group has {current['transit_encryption']}"
        )
    if current["port"] and current["port"] != params["port"]:
        problems.append(f"port={params['port']} but the group listens on {current['port']}")
    subnet_group = current["cache_subnet_group_name"]
    if (
        params["cache_subnet_group_name"]
        and subnet_group
        and subnet_group != params["cache_subnet_group_name"]
    ):
        problems.append(
            f"cache_subnet_group_name={params['cache_subnet_group_name']} but the group uses {subnet_group}"
        )
    if problems:
        module.fail_json(
            msg=(
                f"The replication group {params['replication_group_id']} cannot be changed in place: "
                + "; ".join(problems)
                + ". Create a new group (another identifier) and migrate to it."
            )
        )


def _plan(module, current):
    """(modify_request, modified_option_names, node_count_change, unverified_option_names)."""
    params = module.params
    request = {}
    modified = []
    unverified = []

    def want(option, api_name, value, have):
        if value is not None and have != value:
            request[api_name] = value
            modified.append(option)

    want("description", "ReplicationGroupDescription", params["description"], current["description"])
    want("cache_node_type", "CacheNodeType", params["cache_node_type"], current["cache_node_type"])
    want(
        "automatic_failover",
        "AutomaticFailoverEnabled",
        params["automatic_failover"],
        current["automatic_failover"],
    )
    want("multi_az", "MultiAZEnabled", params["multi_az"], current["multi_az"])
    want(
        "snapshot_retention_limit",
        "SnapshotRetentionLimit",
        params["snapshot_retention_limit"],
        current["snapshot_retention_limit"],
    )
    want("snapshot_window", "SnapshotWindow", params["snapshot_window"], current["snapshot_window"])
    if current["auto_minor_version_upgrade"] is None:
        unverified.append("auto_minor_version_upgrade")
    else:
        want(
            "auto_minor_version_upgrade",
            "AutoMinorVersionUpgrade",
            params["auto_minor_version_upgrade"],
            current["auto_minor_version_upgrade"],
        )
    member_wanted = {
        "engine_version": params["engine_version"],
        "cache_parameter_group_name": params["cache_parameter_group_name"],
        "security_group_ids": sorted(params["security_group_ids"])
        if params["security_group_ids"] is not None
        else None,
        "preferred_maintenance_window": params["preferred_maintenance_window"],
        "cache_subnet_group_name": params["cache_subnet_group_name"],
    }
    for option, value in member_wanted.items():
        if value is None:
            continue
        if current[option] is None:
            unverified.append(option)
        elif option == "engine_version":
            if not _same_or_newer(current[option], value):
                request["EngineVersion"] = value
                modified.append(option)
        elif option == "cache_parameter_group_name":
            want(option, "CacheParameterGroupName", value, current[option])
        elif option == "security_group_ids":
            want(option, "SecurityGroupIds", value, current[option])
        elif option == "preferred_maintenance_window":
            want(option, "PreferredMaintenanceWindow", value, current[option])
    if params["auth_token"] is not None and not current["auth_token_enabled"]:
        request["AuthToken"] = params["auth_token"]
        request["AuthTokenUpdateStrategy"] = "SET"
        modified.append("auth_token")
    node_change = params["node_count"] - current["node_count"]
    if node_change:
        modified.append("node_count")
    return request, sorted(modified), node_change, sorted(unverified)


def _planned(current, params, to_change):
    """The settings the group ends with when the plan is applied (for check mode and no-op results)."""
    after = dict(current)
    for option in to_change:
        if option == "auth_token":
            after["auth_token_enabled"] = True
        elif option == "security_group_ids":
            after[option] = sorted(params[option])
        else:
            after[option] = params[option]
    return after


def _create(module, client, tags):
    params = module.params
    request = {
        "ReplicationGroupId": params["replication_group_id"],
        "ReplicationGroupDescription": params["description"] or params["replication_group_id"],
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
    if settable(tags):
        request["Tags"] = ansible_dict_to_boto3_tag_list(settable(tags))
    client.create_replication_group(aws_retry=True, **request)
    if params["wait"]:
        _wait(client, "replication_group_available", params)


def _wait(client, waiter, params):
    delay = 15
    client.get_waiter(waiter).wait(
        ReplicationGroupId=params["replication_group_id"],
        WaiterConfig={"Delay": delay, "MaxAttempts": max(1, params["wait_timeout"] // delay)},
    )


def _update(module, client, group, request, node_change, tags_to_set, tags_to_unset):
    params = module.params
    group_id = params["replication_group_id"]
    if node_change:
        replicas = {
            "ReplicationGroupId": group_id,
            "NewReplicaCount": params["node_count"] - 1,
            "ApplyImmediately": True,
        }
        if node_change > 0:
            client.increase_replica_count(aws_retry=True, **replicas)
        else:
            client.decrease_replica_count(aws_retry=True, **replicas)
    if request:
        client.modify_replication_group(
            aws_retry=True,
            ReplicationGroupId=group_id,
            ApplyImmediately=params["apply_immediately"],
            **request,
        )
    arn = group.get("ARN")
    if tags_to_unset:
        client.remove_tags_from_resource(aws_retry=True, ResourceName=arn, TagKeys=tags_to_unset)
    if tags_to_set:
        client.add_tags_to_resource(
            aws_retry=True, ResourceName=arn, Tags=ansible_dict_to_boto3_tag_list(tags_to_set)
        )


def _read(client, group_id):
    group = _describe(client, group_id)
    if group is None or group.get("Status") == "deleting":
        return group, None, {}
    return group, _primary_member(client, group), resource_tags(client, group.get("ARN"))


def _absent(module, client, group, before):
    params = module.params
    gone = group is None or group.get("Status") == "deleting"
    if not gone and not module.check_mode:
        request = {"ReplicationGroupId": params["replication_group_id"], "RetainPrimaryCluster": False}
        if params["final_snapshot_identifier"]:
            request["FinalSnapshotIdentifier"] = params["final_snapshot_identifier"]
        try:
            client.delete_replication_group(aws_retry=True, **request)
            if params["wait"]:
                _wait(client, "replication_group_deleted", params)
        except botocore.exceptions.WaiterError as e:
            module.fail_json(
                msg=(
                    f"The replication group {params['replication_group_id']} was not deleted "
                    f"in {params['wait_timeout']} s: {e}"
                )
            )
        except is_boto3_error_code(NOT_FOUND):
            pass  # deleted meanwhile: the wanted state
        except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:  # pylint: disable=duplicate-except
            module.fail_json_aws(
                e, msg=f"Could not delete the replication group {params['replication_group_id']}"
            )
    module.exit_json(
        changed=not gone,
        replication_group={},
        modified=[],
        unverified=[],
        diff={"before": {} if gone else before, "after": {}},
    )


def main():
    argument_spec = dict(
        replication_group_id=dict(type="str", required=True, aliases=["name"]),
        description=dict(type="str"),
        engine=dict(type="str", default="redis", choices=["redis"]),
        engine_version=dict(type="str"),
        cache_node_type=dict(type="str"),
        node_count=dict(type="int", default=2),
        automatic_failover=dict(type="bool", default=True),
        multi_az=dict(type="bool", default=True),
        cache_subnet_group_name=dict(type="str"),
        security_group_ids=dict(type="list", elements="str"),
        cache_parameter_group_name=dict(type="str"),
        port=dict(type="int", default=6379),
        at_rest_encryption=dict(type="bool", default=True),
        kms_key_id=dict(type="str"),
        transit_encryption=dict(type="bool", default=True),
        auth_token=dict(type="str", no_log=True),
        snapshot_retention_limit=dict(type="int", default=7),
        snapshot_window=dict(type="str"),
        preferred_maintenance_window=dict(type="str"),
        auto_minor_version_upgrade=dict(type="bool", default=True),
        apply_immediately=dict(type="bool", default=False),
        final_snapshot_identifier=dict(type="str"),
        wait=dict(type="bool", default=True),
        wait_timeout=dict(type="int", default=1800),
        tags=dict(type="dict", aliases=["resource_tags"]),
        purge_tags=dict(type="bool", default=True),
        state=dict(type="str", default="present", choices=["present", "absent"]),
    )
    module = AnsibleAWSModule(argument_spec=argument_spec, supports_check_mode=True)
    params = module.params
    problems = check_input(params)
    if problems:
        module.fail_json(msg="Refused the replication group: " + "; ".join(problems))
    group_id = params["replication_group_id"]
    client = module.client("elasticache", retry_decorator=AWSRetry.jittered_backoff(retries=10))

    try:
        group, member, tags_before = _read(client, group_id)
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
        module.fail_json_aws(e, msg=f"Could not read the replication group {group_id}")
    current = _current(group, member) if group else None
    before = _view(group, tags_before, current) if group and group.get("Status") != "deleting" else {}

    if params["state"] == "absent":
        _absent(module, client, group, before)

    if group is not None and group.get("Status") == "deleting":
        module.fail_json(msg=f"The replication group {group_id} is being deleted; run again once it is gone")

    if group is None:
        missing = [name for name in ("cache_node_type",) if not params[name]]
        if missing:
            module.fail_json(
                msg=f"{', '.join(missing)} is required to create the replication group {group_id}"
            )
        tags_after, _, _ = plan_tags({}, params["tags"], params["purge_tags"])
        if module.check_mode:
            planned = {
                key: params.get(key)
                for key in (
                    "description",
                    "engine",
                    "cache_node_type",
                    "node_count",
                    "automatic_failover",
                    "multi_az",
                    "at_rest_encryption",
                    "transit_encryption",
                    "snapshot_retention_limit",
                    "snapshot_window",
                    "auto_minor_version_upgrade",
                )
            }
            planned.update(
                description=params["description"] or group_id,
                engine_version=params["engine_version"] or "",
                kms_key_id=params["kms_key_id"] or "",
                auth_token_enabled=params["auth_token"] is not None,
                snapshot_window=params["snapshot_window"] or "",
            )
            after = {
                "name": group_id,
                "arn": "",
                "status": "planned",
                "member_clusters": [],
                "primary_endpoint": {},
                "reader_endpoint": {},
                **planned,
                "tags": tags_after,
            }
            module.exit_json(
                changed=True,
                replication_group=after,
                modified=["created"],
                unverified=[],
                diff={"before": {}, "after": after},
            )
        try:
            _create(module, client, tags_after)
            group, member, tags_final = _read(client, group_id)
        except botocore.exceptions.WaiterError as e:
            module.fail_json(
                msg=(
                    f"The replication group {group_id} did not become available "
                    f"in {params['wait_timeout']} s: {e}"
                )
            )
        except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
            module.fail_json_aws(e, msg=f"Could not create the replication group {group_id}")
        after = _view(group, tags_final, _current(group, member))
        module.exit_json(
            changed=True,
            replication_group=after,
            modified=["created"],
            unverified=[],
            diff={"before": {}, "after": after},
        )

    _refuse_immutable(module, current)
    request, modified, node_change, unverified = _plan(module, current)
    tags_after, tags_to_set, tags_to_unset = plan_tags(tags_before, params["tags"], params["purge_tags"])
    if tags_to_set or tags_to_unset:
        modified.append("tags")
    changed = bool(modified)

    if module.check_mode or not changed:
        after = _view(group, tags_after, _planned(current, params, [m for m in modified if m != "tags"]))
        module.exit_json(
            changed=changed,
            replication_group=after,
            modified=modified,
            unverified=unverified,
            diff={"before": before, "after": after},
        )

    try:
        _update(module, client, group, request, node_change, tags_to_set, tags_to_unset)
        group, member, tags_final = _read(client, group_id)
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
        module.fail_json_aws(e, msg=f"Could not modify the replication group {group_id}")
    after = _view(group, tags_final, _current(group, member))
    module.exit_json(
        changed=True,
        replication_group=after,
        modified=modified,
        unverified=unverified,
        diff={"before": before, "after": after},
    )


if __name__ == "__main__":
    main()
