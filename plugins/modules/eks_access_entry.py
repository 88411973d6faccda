#!/usr/bin/python
# Copyright: GiftCrypto platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: eks_access_entry
short_description: Manage an EKS access entry and the access policies associated with it
version_added: 0.2.0
description:
  - Creates, updates or deletes the access entry of an IAM principal on an EKS cluster (the
    cluster's authentication mode must include C(API)), and associates the EKS access policies it
    is given, each with its scope (the whole cluster, or namespaces).
  - Fills a gap, neither amazon.aws nor community.aws ships a module for EKS access entries (the
    C(CreateAccessEntry), C(UpdateAccessEntry), C(DeleteAccessEntry), C(AssociateAccessPolicy) and
    C(DisassociateAccessPolicy) APIs).
author:
  - GiftCrypto platform team (@giftcrypto)
options:
  cluster_name:
    description:
      - Name of the EKS cluster, a letter or digit then up to 99 letters, digits, hyphens or underscores.
    type: str
    required: true
  principal_arn:
    description:
      - ARN of the IAM role or user the entry lets into the cluster (a role, for every type but
        C(STANDARD)).
    type: str
    required: true
  kubernetes_groups:
    description:
      - Kubernetes groups the principal is a member of (RBAC bindings of the cluster refer to them).
      - Unset leaves them as they are.
    type: list
    elements: str
  username:
    description:
      - Kubernetes user name of the principal; unset lets EKS choose it (the ARN of the session).
      - It cannot start with C(system:), C(eks:), C(aws:), C(amazon:) or C(iam:).
    type: str
  type:
    description:
      - Type of the entry; set at creation only (EKS cannot change it).
      - C(EC2_LINUX) and C(EC2_WINDOWS) entries take neither O(kubernetes_groups) nor O(access_policies).
    type: str
    choices: [STANDARD, EC2, EC2_LINUX, EC2_WINDOWS, FARGATE_LINUX, HYBRID_LINUX, HYPERPOD_LINUX]
    default: STANDARD
  access_policies:
    description:
      - EKS access policies associated with the entry, each with its scope.
      - Unset leaves the associations as they are.
    type: list
    elements: dict
    suboptions:
      policy_arn:
        description:
          - ARN of the access policy, for example
            C(arn:aws:eks::aws:cluster-access-policy/AmazonEKSEditPolicy).
        type: str
        required: true
      scope:
        description: C(cluster) or C(namespace).
        type: str
        choices: [cluster, namespace]
        default: cluster
      namespaces:
        description: Namespaces of a C(namespace) scope.
        type: list
        elements: str
        default: []
  purge_access_policies:
    description: Disassociate the access policies that O(access_policies) does not list.
    type: bool
    default: true
notes:
  - Tags are read from C(DescribeAccessEntry) and changed with C(TagResource) and C(UntagResource);
    the associations are read with C(ListAssociatedAccessPolicies).
extends_documentation_fragment: [giftcrypto.platform.aws_resource, giftcrypto.platform.aws_resource.state,
  amazon.aws.common.modules, amazon.aws.region.modules, amazon.aws.tags, amazon.aws.boto3]
"""

EXAMPLES = r"""
- name: Let the CI deploy role administer the cluster (its deploy applies cluster-wide RBAC)
  giftcrypto.platform.eks_access_entry:
    cluster_name: giftcrypto-staging
    principal_arn: arn:aws:iam::123456789012:role/giftcrypto-staging-ci-deploy
    access_policies:
      - policy_arn: arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy
        scope: cluster
    tags:
      Project: GiftCrypto

- name: Edit rights in two namespaces only
  giftcrypto.platform.eks_access_entry:
    cluster_name: giftcrypto-staging
    principal_arn: arn:aws:iam::123456789012:role/giftcrypto-staging-release
    access_policies:
      - policy_arn: arn:aws:eks::aws:cluster-access-policy/AmazonEKSEditPolicy
        scope: namespace
        namespaces: [giftcrypto, monitoring]

- name: Remove the entry
  giftcrypto.platform.eks_access_entry:
    cluster_name: giftcrypto-staging
    principal_arn: arn:aws:iam::123456789012:role/giftcrypto-staging-release
    state: absent
"""

RETURN = r"""
planned:
  description:
    - The one word for this run's effect on the entry and its associations, C(create), C(update),
      C(delete) or C(none) (in check mode, the effect a real run would have).
  returned: always
  type: str
  sample: update
changes:
  description:
    - C(kubernetes_groups), C(username) or C(tags) when they move, and
      C(access_policies.<policy name>) for each policy associated, rescoped or disassociated; for an
      entry still to be made, every key of RV(access_entry).
  returned: always
  type: list
  elements: str
  sample: [access_policies.AmazonEKSEditPolicy, kubernetes_groups]
unverified:
  description:
    - In check mode before the cluster exists (giftcrypto.platform.eks_cluster may create it earlier in
      the same play), a line naming O(cluster_name); otherwise empty.
  returned: always
  type: list
  elements: str
  sample: []
access_entry:
  description:
    - The entry with its associated policies and its tags once the run is over (planned, in check
      mode); C({}) when there is no entry.
  returned: always
  type: dict
  sample:
    principal_arn: arn:aws:iam::123456789012:role/giftcrypto-staging-ci-deploy
    access_entry_arn: >-
      arn:aws:eks:eu-west-1:123456789012:access-entry/giftcrypto-staging/role/123456789012/giftcrypto-staging-ci-deploy/1a2b
    kubernetes_groups: []
    username: arn:aws:sts::123456789012:assumed-role/giftcrypto-staging-ci-deploy/{{SessionName}}
    type: STANDARD
    access_policies:
      - policy_arn: arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy
        scope: cluster
        namespaces: []
    tags: {Project: GiftCrypto}
"""

import re
from typing import ClassVar

from ansible_collections.giftcrypto.platform.plugins.module_utils.aws_resource import (
    AWSResource,
    ResourceProblem,
    run,
    tag_eks,
)
from ansible_collections.giftcrypto.platform.plugins.module_utils.tag_plan import settable

TYPES = ["STANDARD", "EC2", "EC2_LINUX", "EC2_WINDOWS", "FARGATE_LINUX", "HYBRID_LINUX", "HYPERPOD_LINUX"]
#: Entry types EKS grants the node permissions to itself: no groups, no access policies (CreateAccessEntry).
NODE_ONLY = ("EC2_LINUX", "EC2_WINDOWS")
CLUSTER_NAME = re.compile(r"[0-9A-Za-z][A-Za-z0-9_-]{0,99}")
PRINCIPAL = re.compile(r"arn:aws[a-z-]*:iam::[0-9]{12}:(role|user)/[A-Za-z0-9_+=,.@/-]{1,512}")
POLICY = re.compile(r"arn:aws[a-z-]*:eks::aws:cluster-access-policy/[A-Za-z0-9]{1,128}")
RESERVED_USERNAME = ("system:", "eks:", "aws:", "amazon:", "iam:")


def _policy_views(associated):
    """Comparable associations, by policy ARN: sorted list of {policy_arn, scope, namespaces}."""
    views = [
        {
            "policy_arn": item["policyArn"],
            "scope": (item.get("accessScope") or {}).get("type", "cluster"),
            "namespaces": sorted((item.get("accessScope") or {}).get("namespaces") or []),
        }
        for item in associated
    ]
    return sorted(views, key=lambda view: view["policy_arn"])


def _policy_problem(policy):
    arn, scope, namespaces = policy["policy_arn"], policy["scope"], policy["namespaces"]
    if not POLICY.fullmatch(arn):
        return (
            f"{arn!r} is not the ARN of an EKS access policy (arn:aws:eks::aws:cluster-access-policy/<name>)"
        )
    if scope == "namespace" and not namespaces:
        return f"{arn} has a namespace scope without namespaces"
    if scope == "cluster" and namespaces:
        return f"{arn} has a cluster scope and namespaces {namespaces}"
    return None


class AccessEntry(AWSResource):
    service = "eks"
    resource = "access_entry"
    noun = "EKS access entry"
    shared = ("state", "tags", "purge_tags")
    # DescribeAccessEntry answers it for a missing entry (or cluster); DeleteAccessEntry for one
    # deleted meanwhile.
    not_found = ("ResourceNotFoundException",)
    options: ClassVar[dict] = {
        "cluster_name": {"type": "str", "required": True},
        "principal_arn": {"type": "str", "required": True},
        "kubernetes_groups": {"type": "list", "elements": "str"},
        "username": {"type": "str"},
        "type": {"type": "str", "choices": TYPES, "default": "STANDARD"},
        "access_policies": {
            "type": "list",
            "elements": "dict",
            "options": {
                "policy_arn": {"type": "str", "required": True},
                "scope": {"type": "str", "choices": ["cluster", "namespace"], "default": "cluster"},
                "namespaces": {"type": "list", "elements": "str", "default": []},
            },
        },
        "purge_access_policies": {"type": "bool", "default": True},
    }

    def __init__(self, module=None):
        super().__init__(module)
        self.cluster_found = True

    def name(self, view):
        return f"of {self.params['principal_arn']} on {self.params['cluster_name']}"

    def validate(self):
        params = self.params
        problems = {}
        cluster, principal, kind = params["cluster_name"], params["principal_arn"], params["type"]
        if not CLUSTER_NAME.fullmatch(cluster):
            problems["cluster_name"] = (
                f"a letter or digit then up to 99 letters, digits, hyphens or underscores, got {cluster!r}"
            )
        if not PRINCIPAL.fullmatch(principal):
            problems["principal_arn"] = (
                f"the ARN of an IAM role or user (arn:aws:iam::<account>:role/<name>), got {principal!r}"
            )
        elif kind != "STANDARD" and ":user/" in principal:
            problems["principal_arn"] = (
                f"an entry of type {kind} is for nodes, whose principal is a role: got a user"
            )
        username = params["username"]
        if username is not None and (not username.strip() or username.startswith(RESERVED_USERNAME)):
            problems["username"] = (
                f"not empty nor starting with {', '.join(RESERVED_USERNAME)}, got {username!r}"
            )
        found = [problem for problem in map(_policy_problem, params["access_policies"] or []) if problem]
        if found:
            problems["access_policies"] = "; ".join(found)
        if kind in NODE_ONLY and (params["kubernetes_groups"] or params["access_policies"]):
            problems["type"] = f"an {kind} entry takes neither kubernetes_groups nor access_policies"
        return problems

    def describe(self):
        key = {"clusterName": self.params["cluster_name"], "principalArn": self.params["principal_arn"]}
        entry = self.client.describe_access_entry(aws_retry=True, **key)["accessEntry"]
        listed = self.paginate("list_associated_access_policies", **key)
        return {**entry, "associatedAccessPolicies": listed.get("associatedAccessPolicies") or []}

    def view(self, described):
        return {
            "principal_arn": described["principalArn"],
            "access_entry_arn": described.get("accessEntryArn", ""),
            "kubernetes_groups": sorted(set(described.get("kubernetesGroups") or [])),
            "username": described.get("username", ""),
            "type": described.get("type", "STANDARD"),
            "access_policies": _policy_views(described["associatedAccessPolicies"]),
            "tags": dict(described.get("tags") or {}),
        }

    def _wanted_policies(self, have):
        wanted = self.params["access_policies"]
        if wanted is None:
            return have
        kept = {} if self.params["purge_access_policies"] else {p["policy_arn"]: p for p in have}
        for policy in wanted:
            namespaces = sorted(set(policy["namespaces"] or [])) if policy["scope"] == "namespace" else []
            kept[policy["policy_arn"]] = {
                "policy_arn": policy["policy_arn"],
                "scope": policy["scope"],
                "namespaces": namespaces,
            }
        return [kept[arn] for arn in sorted(kept)]

    def plan(self, current):
        params = self.params
        if current is None:
            cluster = self.or_none(
                ("ResourceNotFoundException",), self.client.describe_cluster, name=params["cluster_name"]
            )
            self.cluster_found = cluster is not None
            if not self.cluster_found:
                self.unverified.append(
                    f"cluster_name: the cluster {params['cluster_name']} does not exist (yet): "
                    "giftcrypto.platform.eks_cluster creates it"
                )
            current = {
                "principal_arn": params["principal_arn"],
                "access_entry_arn": "",
                "kubernetes_groups": [],
                "username": "",
                "type": params["type"],
                "access_policies": [],
            }
        elif current["type"] != params["type"]:
            raise ResourceProblem(
                f"type={params['type']}: the entry is of type {current['type']}, which EKS cannot change; "
                "delete it first (state=absent)"
            )
        planned = {**current, "access_policies": self._wanted_policies(current["access_policies"])}
        if params["kubernetes_groups"] is not None:
            planned["kubernetes_groups"] = sorted(set(params["kubernetes_groups"]))
        if params["username"]:
            planned["username"] = params["username"]
        return planned

    def differences(self, current, planned):
        changes = [key for key in ("kubernetes_groups", "username") if current.get(key) != planned[key]]
        have = {p["policy_arn"]: p for p in current.get("access_policies", [])}
        want = {p["policy_arn"]: p for p in planned["access_policies"]}
        moved = [arn for arn in set(have) | set(want) if have.get(arn) != want.get(arn)]
        return sorted(changes + [f"access_policies.{arn.rsplit('/', 1)[-1]}" for arn in moved])

    def _associate(self, have, want):
        """Disassociates the policies of have that want lacks, associates those of want that differ."""
        key = {"clusterName": self.params["cluster_name"], "principalArn": self.params["principal_arn"]}
        have = {p["policy_arn"]: p for p in have}
        want = {p["policy_arn"]: p for p in want}
        for arn in sorted(set(have) - set(want)):
            self.client.disassociate_access_policy(aws_retry=True, policyArn=arn, **key)
        for arn, policy in sorted(want.items()):
            if have.get(arn) != policy:
                scope = {"type": policy["scope"]}
                if policy["scope"] == "namespace":
                    scope["namespaces"] = policy["namespaces"]
                self.client.associate_access_policy(aws_retry=True, policyArn=arn, accessScope=scope, **key)

    def create(self, planned):
        if not self.cluster_found:
            raise ResourceProblem("no such cluster: create it first (giftcrypto.platform.eks_cluster)")
        request = {
            "clusterName": self.params["cluster_name"],
            "principalArn": planned["principal_arn"],
            "type": planned["type"],
        }
        if planned["kubernetes_groups"]:
            request["kubernetesGroups"] = planned["kubernetes_groups"]
        if planned["username"]:
            request["username"] = planned["username"]
        if settable(planned["tags"]):
            request["tags"] = settable(planned["tags"])
        self.client.create_access_entry(aws_retry=True, **request)
        self._associate([], planned["access_policies"])

    def update(self, current, planned, changes):
        request = {}
        if "kubernetes_groups" in changes:
            request["kubernetesGroups"] = planned["kubernetes_groups"]
        if "username" in changes:
            request["username"] = planned["username"]
        if request:
            self.client.update_access_entry(
                aws_retry=True,
                clusterName=self.params["cluster_name"],
                principalArn=current["principal_arn"],
                **request,
            )
        self._associate(current["access_policies"], planned["access_policies"])

    def tag(self, current, to_set, to_unset):
        tag_eks(self.client, current["access_entry_arn"], to_set, to_unset)

    def delete(self, current):
        self.client.delete_access_entry(
            aws_retry=True, clusterName=self.params["cluster_name"], principalArn=current["principal_arn"]
        )


def main():
    run(AccessEntry)


if __name__ == "__main__":
    main()
