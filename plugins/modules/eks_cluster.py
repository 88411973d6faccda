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
  - GiftCrypto platform team (@giftcrypto)
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
  wait_timeout:
    description: How long to wait, in seconds.
    type: int
    default: 1800
notes:
  - EKS runs one update of a cluster at a time; with O(wait=true) each update is waited for (the
    cluster C(ACTIVE) again) before the next.
  - A cluster with node groups cannot be deleted; delete them first.
extends_documentation_fragment: [giftcrypto.platform.aws_resource, giftcrypto.platform.aws_resource.state,
  giftcrypto.platform.aws_resource.wait, amazon.aws.common.modules, amazon.aws.region.modules,
  amazon.aws.tags, amazon.aws.boto3]
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
planned:
  description:
    - What the run did or would do to the cluster; one C(update) may be several EKS updates, one at
      a time.
  returned: always
  type: str
  sample: update
changes:
  description: The settings that differ, as named in RV(cluster) (C(tags) for its tags).
  returned: always
  type: list
  elements: str
  sample: [logging_types, endpoint_public_access, public_access_cidrs]
unverified:
  description: Always empty for a cluster.
  returned: always
  type: list
  elements: str
  sample: []
oidc_issuer:
  description:
    - URL of the cluster's OIDC issuer (what IRSA's IAM OIDC provider is made of); for
      O(state=absent), the issuer of the cluster deleted (or to delete, in check mode), so that its
      provider can go too. Empty when there is none (or in check mode before the cluster exists).
  returned: always
  type: str
  sample: https://oidc.eks.us-east-1.amazonaws.com/id/ABCDEF0123456789
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
      description: Tags of the cluster.
      type: dict
"""

import ipaddress
import re
from functools import partial
from typing import ClassVar

from ansible_collections.giftcrypto.platform.plugins.module_utils.aws_resource import (
    SHARED_OPTIONS,
    AWSResource,
    ResourceProblem,
    run,
    tag_eks,
)
from ansible_collections.giftcrypto.platform.plugins.module_utils.tag_plan import settable

NAME_PATTERN = re.compile(r"^[0-9A-Za-z][A-Za-z0-9_-]{0,99}$")
VERSION_PATTERN = re.compile(r"^1\.[0-9]{1,3}$")
KEY_PATTERN = re.compile(r"arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:key/[A-Za-z0-9-]+")
LOG_TYPES = ["api", "audit", "authenticator", "controllerManager", "scheduler"]
EVERYWHERE = {"0.0.0.0/0", "::/0"}
ACCESS = ("endpoint_private_access", "endpoint_public_access", "public_access_cidrs")


def _minor(version):
    return int(str(version).split(".")[1])


def _cidr_problems(cidrs):
    if not cidrs:
        return ["required with endpoint_public_access=true"]
    problems = []
    for cidr in cidrs:
        try:
            network = ipaddress.ip_network(cidr, strict=True)
        except ValueError:
            problems.append(f"{cidr!r} is not a network (a.b.c.d/n)")
            continue
        if network.prefixlen == 0 or str(network) in EVERYWHERE:
            problems.append(f"{cidr} opens the API endpoint to the world")
    return problems


class Cluster(AWSResource):
    service = "eks"
    resource = "cluster"
    noun = "EKS cluster"
    named_by = "name"
    shared = ("state", "tags", "purge_tags", "wait", "wait_timeout")
    not_found = ("ResourceNotFoundException",)
    options: ClassVar[dict] = {
        "name": {"type": "str", "required": True},
        "version": {"type": "str"},
        "role_arn": {"type": "str"},
        "subnets": {"type": "list", "elements": "str"},
        "security_groups": {"type": "list", "elements": "str", "default": []},
        "endpoint_private_access": {"type": "bool", "default": True},
        "endpoint_public_access": {"type": "bool", "default": False},
        "public_access_cidrs": {"type": "list", "elements": "str", "default": []},
        "secrets_kms_key_arn": {"type": "str", "no_log": False},
        "logging_types": {
            "type": "list",
            "elements": "str",
            "choices": LOG_TYPES,
            "default": ["api", "audit", "authenticator"],
        },
        "wait_timeout": {**SHARED_OPTIONS["wait_timeout"], "default": 1800},
    }

    def validate(self):
        params = self.params
        problems = {}
        name, version, key = params["name"], params["version"], params["secrets_kms_key_arn"]
        if not NAME_PATTERN.fullmatch(name or ""):
            problems["name"] = (
                f"a letter or digit then up to 99 letters, digits, hyphens or underscores, got {name}"
            )
        if version is not None and not VERSION_PATTERN.fullmatch(version):
            problems["version"] = f"a Kubernetes version such as 1.30, got {version}"
        if params["endpoint_public_access"] and _cidr_problems(params["public_access_cidrs"]):
            problems["public_access_cidrs"] = "; ".join(_cidr_problems(params["public_access_cidrs"]))
        if not params["endpoint_private_access"] and not params["endpoint_public_access"]:
            problems["endpoint_private_access"] = (
                "false with endpoint_public_access=false: the API would be unreachable"
            )
        if key is not None and not KEY_PATTERN.fullmatch(key):
            problems["secrets_kms_key_arn"] = (
                f"the ARN of a KMS key (arn:aws:kms:<region>:<account>:key/<id>), got {key}"
            )
        return problems

    def describe(self):
        return self.client.describe_cluster(aws_retry=True, name=self.params["name"])["cluster"]

    def view(self, described):
        vpc = described.get("resourcesVpcConfig") or {}
        public = bool(vpc.get("endpointPublicAccess", False))
        key = ""
        for config in described.get("encryptionConfig") or []:
            if "secrets" in (config.get("resources") or []):
                key = (config.get("provider") or {}).get("keyArn", "")
        logs = set()
        for entry in (described.get("logging") or {}).get("clusterLogging") or []:
            if entry.get("enabled"):
                logs.update(entry.get("types") or [])
        return {
            "name": described.get("name", ""),
            "arn": described.get("arn", ""),
            "version": described.get("version", ""),
            "status": described.get("status", ""),
            "endpoint": described.get("endpoint", ""),
            "oidc_issuer": ((described.get("identity") or {}).get("oidc") or {}).get("issuer", ""),
            "role_arn": described.get("roleArn", ""),
            "subnets": sorted(vpc.get("subnetIds") or []),
            "security_groups": sorted(vpc.get("securityGroupIds") or []),
            "cluster_security_group": vpc.get("clusterSecurityGroupId", ""),
            "endpoint_private_access": bool(vpc.get("endpointPrivateAccess", False)),
            "endpoint_public_access": public,
            "public_access_cidrs": sorted(vpc.get("publicAccessCidrs") or []) if public else [],
            "secrets_kms_key_arn": key,
            "logging_types": sorted(logs, key=LOG_TYPES.index),
            "tags": dict(described.get("tags") or {}),
        }

    def _new(self):
        params = self.params
        missing = [option for option in ("role_arn", "subnets") if not params[option]]
        if missing:
            raise ResourceProblem(f"{' and '.join(missing)} required to create it")
        return {
            "name": params["name"],
            "arn": "",
            "version": params["version"] or "",
            "status": "planned",
            "endpoint": "",
            "oidc_issuer": "",
            "role_arn": params["role_arn"],
            "subnets": sorted(params["subnets"]),
            "security_groups": sorted(params["security_groups"] or []),
            "cluster_security_group": "",
            "secrets_kms_key_arn": "",
        }

    def _version(self, current):
        """The version the cluster ends with (EKS upgrades one minor version at a time, never down)."""
        wanted, have = self.params["version"], current["version"]
        if not (wanted and have) or wanted == have:
            return have
        if _minor(wanted) < _minor(have):
            self.module._module.warn(
                f"version={wanted}: the cluster {current['name']} runs {have}, kept (EKS cannot downgrade)"
            )
            return have
        if _minor(wanted) > _minor(have) + 1:
            raise ResourceProblem(
                f"version={wanted}: the cluster runs {have}; EKS upgrades one minor version at a time "
                f"(set {have.split('.')[0]}.{_minor(have) + 1} first)"
            )
        return wanted

    def _refuse(self, current):
        params = self.params
        problems = []
        if params["role_arn"] and current["role_arn"] and params["role_arn"] != current["role_arn"]:
            problems.append(
                f"role_arn={params['role_arn']}: the cluster runs with {current['role_arn']}, "
                "which EKS cannot change"
            )
        key, have = params["secrets_kms_key_arn"], current["secrets_kms_key_arn"]
        if key and have and key != have:
            problems.append(
                f"secrets_kms_key_arn={key}: the secrets are encrypted with {have}, which EKS cannot change"
            )
        if problems:
            raise ResourceProblem("; ".join(problems))
        if params["subnets"] and current["subnets"] and sorted(params["subnets"]) != current["subnets"]:
            self.module._module.warn(
                f"subnets: the cluster {current['name']} keeps its subnets {current['subnets']} "
                "(not changed by this module)"
            )

    def plan(self, current):
        params = self.params
        if current is None:
            planned = self._new()
        else:
            self._refuse(current)
            planned = {**current, "version": self._version(current)}
        public = params["endpoint_public_access"]
        planned.update(
            endpoint_private_access=params["endpoint_private_access"],
            endpoint_public_access=public,
            public_access_cidrs=sorted(params["public_access_cidrs"]) if public else [],
            logging_types=[t for t in LOG_TYPES if t in params["logging_types"]],
        )
        if params["secrets_kms_key_arn"]:
            planned["secrets_kms_key_arn"] = params["secrets_kms_key_arn"]
        return planned

    @staticmethod
    def _access(planned):
        request = {
            "endpointPrivateAccess": planned["endpoint_private_access"],
            "endpointPublicAccess": planned["endpoint_public_access"],
        }
        if planned["endpoint_public_access"]:
            request["publicAccessCidrs"] = planned["public_access_cidrs"]
        return request

    @staticmethod
    def _logging(planned):
        entries = []
        enabled = planned["logging_types"]
        disabled = [t for t in LOG_TYPES if t not in enabled]
        if enabled:
            entries.append({"types": enabled, "enabled": True})
        if disabled:
            entries.append({"types": disabled, "enabled": False})
        return {"clusterLogging": entries}

    @staticmethod
    def _encryption(planned):
        return [{"resources": ["secrets"], "provider": {"keyArn": planned["secrets_kms_key_arn"]}}]

    def create(self, planned):
        vpc = {"subnetIds": self.params["subnets"], "securityGroupIds": self.params["security_groups"] or []}
        request = {
            "name": planned["name"],
            "roleArn": planned["role_arn"],
            "resourcesVpcConfig": {**vpc, **self._access(planned)},
            "logging": self._logging(planned),
        }
        if planned["version"]:
            request["version"] = planned["version"]
        if planned["secrets_kms_key_arn"]:
            request["encryptionConfig"] = self._encryption(planned)
        if settable(planned["tags"]):
            request["tags"] = settable(planned["tags"])
        self.client.create_cluster(aws_retry=True, **request)

    def update(self, current, planned, changes):
        # EKS runs one update of a cluster at a time: each waits for the one before.
        name, client = self.params["name"], self.client
        updates = []
        if "secrets_kms_key_arn" in changes:
            encryption = self._encryption(planned)
            updates.append(
                partial(client.associate_encryption_config, clusterName=name, encryptionConfig=encryption)
            )
        if set(ACCESS) & set(changes):
            updates.append(
                partial(client.update_cluster_config, name=name, resourcesVpcConfig=self._access(planned))
            )
        if "logging_types" in changes:
            updates.append(partial(client.update_cluster_config, name=name, logging=self._logging(planned)))
        if "version" in changes:
            updates.append(partial(client.update_cluster_version, name=name, version=planned["version"]))
        for number, call in enumerate(updates):
            if number and self.params["wait"]:
                self.wait("present")
            call(aws_retry=True)

    def tag(self, current, to_set, to_unset):
        tag_eks(self.client, current["arn"], to_set, to_unset)

    def delete(self, current):
        groups = (
            self.client.list_nodegroups(aws_retry=True, clusterName=current["name"]).get("nodegroups") or []
        )
        if groups:
            raise ResourceProblem(
                f"it still has node groups ({', '.join(sorted(groups))}): delete them first"
            )
        self.client.delete_cluster(aws_retry=True, name=current["name"])

    def wait(self, goal):
        if goal == "absent":
            self.poll(lambda view: not view, "deleted", delay=10)
            return

        def active(view):
            if view.get("status") == "FAILED":
                raise ResourceProblem("its status is FAILED")
            return view.get("status") == "ACTIVE"

        self.poll(active, "ACTIVE", delay=10)

    def outputs(self, view):
        return {"oidc_issuer": (view or self.before).get("oidc_issuer", "")}


def main():
    run(Cluster)


if __name__ == "__main__":
    main()
