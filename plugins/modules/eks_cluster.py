#!/usr/bin/python
# Copyright: GiftCrypto platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: eks_cluster
short_description: Manage an EKS cluster with its endpoint access, secrets encryption and control-plane logs
version_added: 0.1.0
description:
  - Creates, updates or deletes an Amazon EKS cluster (C(CreateCluster), C(UpdateClusterConfig),
    C(AssociateEncryptionConfig), C(UpdateClusterVersion), C(TagResource), C(UntagResource),
    C(DeleteCluster)), compared with C(DescribeCluster).
  - Fills a gap, C(community.aws.eks_cluster) only takes the name, version, role, subnets and
    security groups; it cannot make the API endpoint private or restrict the public one to CIDRs,
    cannot encrypt Kubernetes secrets with a KMS key, cannot turn the control-plane logs on, and
    never updates an existing cluster. This module sets all of them on creation and brings an
    existing cluster to them (endpoint access and logs through C(UpdateClusterConfig), encryption
    through C(AssociateEncryptionConfig), one minor version up through C(UpdateClusterVersion)).
author:
  - GiftCrypto platform team
options:
  name:
    description:
      - Name of the cluster, a letter or digit then up to 99 letters, digits, hyphens or underscores.
    type: str
    required: true
  version:
    description:
      - Kubernetes version (C(1.<minor>)). A newer version the cluster already runs is kept (EKS
        cannot downgrade), with a warning; an older one is upgraded one minor version per run.
      - Defaults to the version EKS chooses, on creation only.
    type: str
  role_arn:
    description:
      - ARN of the IAM role the control plane assumes. Required to create; cannot be changed.
    type: str
  subnets:
    description:
      - Subnet IDs of the cluster's network interfaces (at least two zones). Required to create.
        A different list on an existing cluster is reported with a warning, never changed.
    type: list
    elements: str
  security_groups:
    description:
      - Extra security groups of the control plane's network interfaces, used on creation.
    type: list
    elements: str
    default: []
  endpoint_private_access:
    description: Whether the API endpoint is reachable from inside the VPC.
    type: bool
    default: true
  endpoint_public_access:
    description: Whether the API endpoint is reachable from the internet (only from O(public_access_cidrs)).
    type: bool
    default: false
  public_access_cidrs:
    description:
      - The CIDRs that may reach the public endpoint. Required, and without C(0.0.0.0/0), when
        O(endpoint_public_access=true); ignored otherwise.
    type: list
    elements: str
    default: []
  secrets_kms_key_arn:
    description:
      - ARN of the KMS key that encrypts the cluster's Kubernetes secrets (envelope encryption).
        Added to an existing cluster without one; a cluster encrypted with another key is refused
        (EKS cannot change or remove it).
    type: str
  logging_types:
    description: The control-plane log types sent to CloudWatch Logs; the others are turned off.
    type: list
    elements: str
    choices: [api, audit, authenticator, controllerManager, scheduler]
    default: [api, audit, authenticator]
  wait:
    description: Wait until the cluster is C(ACTIVE) after a create or an update, or gone after a delete.
    type: bool
    default: true
  wait_timeout:
    description: Seconds to wait.
    type: int
    default: 1800
  state:
    description: Whether the cluster exists.
    type: str
    choices: [present, absent]
    default: present
notes:
  - Supports check mode, which reports what would be created or updated without calling a write API.
  - Supports diff (the cluster's settings before and after).
  - EKS runs one update of a cluster at a time; with O(wait=true) each update is waited for before the next.
  - A cluster with node groups cannot be deleted; delete them first (M(giftcrypto.platform.eks_nodegroup)).
  - Calls are retried with a jittered exponential backoff when EKS throttles them.
  - Lives in the collection's C(aws) action group so that C(module_defaults) for
    C(group/amazon.aws.aws) give it region, endpoint and credentials.
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.tags
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: A private cluster, secrets encrypted, audit logs on
  giftcrypto.platform.eks_cluster:
    name: giftcrypto-production
    version: "1.30"
    role_arn: arn:aws:iam::123456789012:role/giftcrypto-production-eks-cluster
    subnets: [subnet-0a, subnet-0b, subnet-0c]
    secrets_kms_key_arn: arn:aws:kms:us-east-1:123456789012:key/0b1e...
    logging_types: [api, audit, authenticator]
    tags:
      Project: GiftCrypto

- name: Staging, with a public endpoint for the office only
  giftcrypto.platform.eks_cluster:
    name: giftcrypto-staging
    role_arn: arn:aws:iam::123456789012:role/giftcrypto-staging-eks-cluster
    subnets: [subnet-0a, subnet-0b]
    endpoint_public_access: true
    public_access_cidrs: [203.0.113.0/24]
    secrets_kms_key_arn: arn:aws:kms:us-east-1:123456789012:key/0b1e...
"""

RETURN = r"""
cluster:
  description: The cluster after the run (planned, in check mode); empty when absent.
  returned: always
  type: dict
  contains:
    name:
      description: Name.
      type: str
      sample: giftcrypto-production
    arn:
      description: ARN; empty in check mode before the cluster exists.
      type: str
      sample: arn:aws:eks:us-east-1:123456789012:cluster/giftcrypto-production
    version:
      description: Kubernetes version.
      type: str
      sample: "1.30"
    status:
      description: Status (C(ACTIVE), C(CREATING), C(UPDATING)...); C(planned) in check mode before creation.
      type: str
      sample: ACTIVE
    endpoint:
      description: URL of the API endpoint.
      type: str
      sample: https://ABCD.gr7.us-east-1.eks.amazonaws.com
    oidc_issuer:
      description: URL of the cluster's OIDC issuer (what IRSA's IAM OIDC provider is made of).
      type: str
      sample: https://oidc.eks.us-east-1.amazonaws.com/id/ABCDEF0123456789
    role_arn:
      description: ARN of the control plane's role.
      type: str
    subnets:
      description: Subnet IDs.
      type: list
      elements: str
    security_groups:
      description: Extra security group IDs.
      type: list
      elements: str
    cluster_security_group:
      description: The security group EKS made for the cluster.
      type: str
    endpoint_private_access:
      description: Whether the endpoint is reachable from the VPC.
      type: bool
    endpoint_public_access:
      description: Whether the endpoint is reachable from the internet.
      type: bool
    public_access_cidrs:
      description: CIDRs allowed to reach the public endpoint (empty when it is off).
      type: list
      elements: str
    secrets_kms_key_arn:
      description: KMS key of the secrets' encryption; empty when not encrypted.
      type: str
    logging_types:
      description: Control-plane log types turned on.
      type: list
      elements: str
    tags:
      description: Tags.
      type: dict
updates:
  description: What this run changed (would change, in check mode).
  returned: always
  type: list
  elements: str
  sample: [logging, endpoint_access]
"""

import ipaddress
import re

try:  # noqa: SIM105 -- the usual optional-import guard of Ansible modules
    import botocore
except ImportError:
    pass  # handled by AnsibleAWSModule

from ansible_collections.amazon.aws.plugins.module_utils.botocore import is_boto3_error_code
from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry
from ansible_collections.giftcrypto.platform.plugins.module_utils.tag_plan import plan_tags, settable

NAME_PATTERN = re.compile(r"^[0-9A-Za-z][A-Za-z0-9_-]{0,99}$")
VERSION_PATTERN = re.compile(r"^1\.[0-9]{1,3}$")
LOG_TYPES = ["api", "audit", "authenticator", "controllerManager", "scheduler"]
NOT_FOUND = ["ResourceNotFoundException"]
EVERYWHERE = {"0.0.0.0/0", "::/0"}


def _minor(version):
    return int(str(version).split(".")[1])


def check_input(params):
    """Problems with the options, each naming the option; an empty list means the input is fine."""
    problems = []
    name = params["name"]
    if not NAME_PATTERN.fullmatch(name or ""):
        problems.append(
            f"name={name}: a letter or digit then up to 99 letters, digits, hyphens or underscores"
        )
    version = params["version"]
    if version is not None and not VERSION_PATTERN.fullmatch(version):
        problems.append(f"version={version}: a Kubernetes version such as 1.30")
    if params["endpoint_public_access"]:
        cidrs = params["public_access_cidrs"] or []
        if not cidrs:
            problems.append("public_access_cidrs: required with endpoint_public_access=true")
        for cidr in cidrs:
            try:
                network = ipaddress.ip_network(cidr, strict=True)
            except ValueError:
                problems.append(f"public_access_cidrs: {cidr!r} is not a network (a.b.c.d/n)")
                continue
            if network.prefixlen == 0 or str(network) in EVERYWHERE:
                problems.append(f"public_access_cidrs: {cidr} opens the API endpoint to the world")
    if not params["endpoint_private_access"] and not params["endpoint_public_access"]:
        problems.append(
            "endpoint_private_access=false and endpoint_public_access=false: the API would be unreachable"
        )
    key = params["secrets_kms_key_arn"]
    if key is not None and not re.fullmatch(
        r"arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:key/[A-Za-z0-9-]+", key
    ):
        problems.append(
            f"secrets_kms_key_arn={key}: the ARN of a KMS key (arn:aws:kms:<region>:<account>:key/<id>)"
        )
    return problems


def _describe(client, name):
    try:
        return client.describe_cluster(aws_retry=True, name=name)["cluster"]
    except is_boto3_error_code(NOT_FOUND):
        return None


def _key_of(cluster):
    for config in cluster.get("encryptionConfig") or []:
        if "secrets" in (config.get("resources") or []):
            return (config.get("provider") or {}).get("keyArn", "")
    return ""


def _logs_of(cluster):
    enabled = set()
    for entry in (cluster.get("logging") or {}).get("clusterLogging") or []:
        if entry.get("enabled"):
            enabled.update(entry.get("types") or [])
    return sorted(enabled, key=LOG_TYPES.index)


def _view(cluster):
    if not cluster:
        return {}
    vpc = cluster.get("resourcesVpcConfig") or {}
    public = bool(vpc.get("endpointPublicAccess", False))
    return {
        "name": cluster.get("name", ""),
        "arn": cluster.get("arn", ""),
        "version": cluster.get("version", ""),
        "status": cluster.get("status", ""),
        "endpoint": cluster.get("endpoint", ""),
        "oidc_issuer": ((cluster.get("identity") or {}).get("oidc") or {}).get("issuer", ""),
        "role_arn": cluster.get("roleArn", ""),
        "subnets": sorted(vpc.get("subnetIds") or []),
        "security_groups": sorted(vpc.get("securityGroupIds") or []),
        "cluster_security_group": vpc.get("clusterSecurityGroupId", ""),
        "endpoint_private_access": bool(vpc.get("endpointPrivateAccess", False)),
        "endpoint_public_access": public,
        "public_access_cidrs": sorted(vpc.get("publicAccessCidrs") or []) if public else [],
        "secrets_kms_key_arn": _key_of(cluster),
        "logging_types": _logs_of(cluster),
        "tags": dict(cluster.get("tags") or {}),
    }


def _access_request(params):
    request = {
        "endpointPrivateAccess": params["endpoint_private_access"],
        "endpointPublicAccess": params["endpoint_public_access"],
    }
    if params["endpoint_public_access"]:
        request["publicAccessCidrs"] = sorted(params["public_access_cidrs"])
    return request


def _logging_request(params):
    wanted = [t for t in LOG_TYPES if t in params["logging_types"]]
    other = [t for t in LOG_TYPES if t not in params["logging_types"]]
    entries = []
    if wanted:
        entries.append({"types": wanted, "enabled": True})
    if other:
        entries.append({"types": other, "enabled": False})
    return {"clusterLogging": entries}


def _plan(module, view):
    """(updates, problems): the updates an existing cluster needs, and what cannot be changed."""
    params = module.params
    updates = []
    problems = []
    if params["role_arn"] and view["role_arn"] and params["role_arn"] != view["role_arn"]:
        problems.append(
            f"role_arn={params['role_arn']}: the cluster runs with {view['role_arn']}, "
            "which EKS cannot change"
        )
    have_key = view["secrets_kms_key_arn"]
    if params["secrets_kms_key_arn"]:
        if not have_key:
            updates.append("encryption")
        elif have_key != params["secrets_kms_key_arn"]:
            problems.append(
                f"secrets_kms_key_arn={params['secrets_kms_key_arn']}: "
                f"the secrets are encrypted with {have_key}, "
                "which EKS cannot change"
            )
    wanted_access = _access_request(params)
    have_access = {
        "endpointPrivateAccess": view["endpoint_private_access"],
        "endpointPublicAccess": view["endpoint_public_access"],
    }
    if view["endpoint_public_access"]:
        have_access["publicAccessCidrs"] = view["public_access_cidrs"]
    if wanted_access != have_access:
        updates.append("endpoint_access")
    if view["logging_types"] != [t for t in LOG_TYPES if t in params["logging_types"]]:
        updates.append("logging")
    version = params["version"]
    if version and view["version"] and version != view["version"]:
        if _minor(version) < _minor(view["version"]):
            module.warn(
                f"version={version}: the cluster {view['name']} runs {view['version']}, "
                "kept (EKS cannot downgrade)"
            )
        elif _minor(version) > _minor(view["version"]) + 1:
            problems.append(
                f"version={version}: the cluster runs {view['version']}; "
                "EKS upgrades one minor version at a time "
                f"(set {view['version'].split('.')[0]}.{_minor(view['version']) + 1} first)"
            )
        else:
            updates.append("version")
    if params["subnets"] and view["subnets"] and sorted(params["subnets"]) != view["subnets"]:
        module.warn(
            f"subnets: the cluster {view['name']} keeps its subnets {view['subnets']} "
            "(not changed by this module)"
        )
    return updates, problems


def _wait_active(module, client, name):
    if not module.params["wait"]:
        return
    delay = 10
    waiter = client.get_waiter("cluster_active")
    waiter.wait(
        name=name,
        WaiterConfig={"Delay": delay, "MaxAttempts": max(1, module.params["wait_timeout"] // delay)},
    )


def _planned(module, cluster, updates, tags_after):
    params = module.params
    view = (
        _view(cluster)
        if cluster
        else {
            "name": params["name"],
            "arn": "",
            "version": params["version"] or "",
            "status": "planned",
            "endpoint": "",
            "oidc_issuer": "",
            "role_arn": params["role_arn"] or "",
            "subnets": sorted(params["subnets"] or []),
            "security_groups": sorted(params["security_groups"] or []),
            "cluster_security_group": "",
            "secrets_kms_key_arn": "",
            "tags": {},
        }
    )
    view["endpoint_private_access"] = params["endpoint_private_access"]
    view["endpoint_public_access"] = params["endpoint_public_access"]
    view["public_access_cidrs"] = (
        sorted(params["public_access_cidrs"]) if params["endpoint_public_access"] else []
    )
    view["logging_types"] = [t for t in LOG_TYPES if t in params["logging_types"]]
    if params["secrets_kms_key_arn"] and not view["secrets_kms_key_arn"]:
        view["secrets_kms_key_arn"] = params["secrets_kms_key_arn"]
    if "version" in updates or (not cluster and params["version"]):
        view["version"] = params["version"]
    view["tags"] = tags_after
    return view


def _create(module, client, tags):
    params = module.params
    vpc = {"subnetIds": params["subnets"], "securityGroupIds": params["security_groups"] or []}
    vpc.update(_access_request(params))
    request = {
        "name": params["name"],
        "roleArn": params["role_arn"],
        "resourcesVpcConfig": vpc,
        "logging": _logging_request(params),
    }
    if params["version"]:
        request["version"] = params["version"]
    if params["secrets_kms_key_arn"]:
        request["encryptionConfig"] = [
            {"resources": ["secrets"], "provider": {"keyArn": params["secrets_kms_key_arn"]}}
        ]
    if settable(tags):
        request["tags"] = settable(tags)
    client.create_cluster(aws_retry=True, **request)
    _wait_active(module, client, params["name"])


def _update(module, client, view, updates, tags_to_set, tags_to_unset):
    params = module.params
    name = params["name"]
    if "encryption" in updates:
        client.associate_encryption_config(
            aws_retry=True,
            clusterName=name,
            encryptionConfig=[
                {"resources": ["secrets"], "provider": {"keyArn": params["secrets_kms_key_arn"]}}
            ],
        )
        _wait_active(module, client, name)
    if "endpoint_access" in updates:
        client.update_cluster_config(aws_retry=True, name=name, resourcesVpcConfig=_access_request(params))
        _wait_active(module, client, name)
    if "logging" in updates:
        client.update_cluster_config(aws_retry=True, name=name, logging=_logging_request(params))
        _wait_active(module, client, name)
    if "version" in updates:
        client.update_cluster_version(aws_retry=True, name=name, version=params["version"])
        _wait_active(module, client, name)
    if tags_to_unset:
        client.untag_resource(aws_retry=True, resourceArn=view["arn"], tagKeys=tags_to_unset)
    if tags_to_set:
        client.tag_resource(aws_retry=True, resourceArn=view["arn"], tags=tags_to_set)


def _delete(module, client, name):
    groups = client.list_nodegroups(aws_retry=True, clusterName=name).get("nodegroups") or []
    if groups:
        module.fail_json(
            msg=f"The cluster {name} still has node groups ({', '.join(sorted(groups))}): delete them first"
        )
    client.delete_cluster(aws_retry=True, name=name)
    if module.params["wait"]:
        delay = 10
        client.get_waiter("cluster_deleted").wait(
            name=name,
            WaiterConfig={"Delay": delay, "MaxAttempts": max(1, module.params["wait_timeout"] // delay)},
        )


def main():
    argument_spec = dict(
        name=dict(type="str", required=True),
        version=dict(type="str"),
        role_arn=dict(type="str"),
        subnets=dict(type="list", elements="str"),
        security_groups=dict(type="list", elements="str", default=[]),
        endpoint_private_access=dict(type="bool", default=True),
        endpoint_public_access=dict(type="bool", default=False),
        public_access_cidrs=dict(type="list", elements="str", default=[]),
        secrets_kms_key_arn=dict(type="str", no_log=False),
        logging_types=dict(
            type="list", elements="str", choices=LOG_TYPES, default=["api", "audit", "authenticator"]
        ),
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
        module.fail_json(msg="Refused the EKS cluster: " + "; ".join(problems))
    name = params["name"]
    client = module.client("eks", retry_decorator=AWSRetry.jittered_backoff(retries=10))

    try:
        cluster = _describe(client, name)
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
        module.fail_json_aws(e, msg=f"Could not read the EKS cluster {name}")
    before = _view(cluster)

    if params["state"] == "absent":
        if cluster and not module.check_mode:
            try:
                _delete(module, client, name)
            except is_boto3_error_code(NOT_FOUND):
                pass  # deleted meanwhile: the wanted state
            except (
                botocore.exceptions.ClientError,
                botocore.exceptions.BotoCoreError,
                botocore.exceptions.WaiterError,
            ) as e:  # pylint: disable=duplicate-except
                module.fail_json_aws(e, msg=f"Could not delete the EKS cluster {name}")
        module.exit_json(
            changed=cluster is not None,
            cluster={},
            updates=["delete"] if cluster else [],
            diff={"before": before, "after": {}},
        )

    if cluster is None:
        missing = [option for option in ("role_arn", "subnets") if not params[option]]
        if missing:
            module.fail_json(msg=f"{' and '.join(missing)} required to create the EKS cluster {name}")
        updates, problems = ["create"], []
    else:
        updates, problems = _plan(module, before)
    if problems:
        module.fail_json(msg=f"Refused the change of the EKS cluster {name}: " + "; ".join(problems))
    tags_after, tags_to_set, tags_to_unset = plan_tags(
        before.get("tags"), params["tags"], params["purge_tags"]
    )
    if cluster is not None and (tags_to_set or tags_to_unset):
        updates.append("tags")
    changed = bool(updates)
    planned = _planned(module, cluster, updates, tags_after)

    if module.check_mode or not changed:
        module.exit_json(
            changed=changed,
            cluster=planned if changed else before,
            updates=updates,
            diff={"before": before, "after": planned},
        )

    try:
        if cluster is None:
            _create(module, client, tags_after)
        else:
            _update(module, client, before, updates, tags_to_set, tags_to_unset)
        after = _view(_describe(client, name))
    except (
        botocore.exceptions.ClientError,
        botocore.exceptions.BotoCoreError,
        botocore.exceptions.WaiterError,
    ) as e:
        module.fail_json_aws(e, msg=f"Could not write the EKS cluster {name}")
    module.exit_json(changed=True, cluster=after, updates=updates, diff={"before": before, "after": after})


if __name__ == "__main__":
    main()
