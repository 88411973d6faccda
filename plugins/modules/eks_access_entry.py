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
  - GiftCrypto platform team
options:
  cluster_name:
    description: Name of the EKS cluster.
    type: str
    required: true
  principal_arn:
    description: ARN of the IAM role or user the entry lets into the cluster.
    type: str
    required: true
  kubernetes_groups:
    description:
      - Kubernetes groups the principal is a member of (RBAC bindings of the cluster refer to them).
      - Unset leaves them as they are.
    type: list
    elements: str
  username:
    description: Kubernetes user name of the principal; unset lets EKS choose it (the ARN of the session).
    type: str
  type:
    description: Type of the entry; set at creation only (EKS cannot change it).
    type: str
    choices: [STANDARD, EC2_LINUX, EC2_WINDOWS, FARGATE_LINUX]
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
  state:
    description: Whether the entry exists.
    type: str
    choices: [present, absent]
    default: present
notes:
  - Supports check mode, which reports what would be created or changed without calling a write API.
  - Supports diff (the entry's groups, user name, policies and tags before and after).
  - Tags are read from C(DescribeAccessEntry) and changed with C(TagResource) and C(UntagResource).
  - Lives in the collection's C(aws) action group so that C(module_defaults) for
    C(group/amazon.aws.aws) give it region, endpoint and credentials.
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.tags
  - amazon.aws.boto3
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
access_entry:
  description: The entry as compared by the module; empty when absent.
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
changes:
  description: What was (or, in check mode, would be) done, one line each.
  returned: always
  type: list
  elements: str
  sample:
    - create the access entry
    - associate arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy (cluster)
"""

try:  # noqa: SIM105 -- the usual optional-import guard of Ansible modules
    import botocore
except ImportError:
    pass  # handled by AnsibleAWSModule

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry
from ansible_collections.amazon.aws.plugins.module_utils.tagging import compare_aws_tags


def _policies(associated):
    """Comparable associations: sorted list of {policy_arn, scope, namespaces}."""
    views = [
        {
            "policy_arn": item["policyArn"],
            "scope": (item.get("accessScope") or {}).get("type", "cluster"),
            "namespaces": sorted((item.get("accessScope") or {}).get("namespaces") or []),
        }
        for item in associated
    ]
    return sorted(views, key=lambda v: v["policy_arn"])


def _scope(policy):
    """cluster, or namespace followed by the namespaces (what the changes say)."""
    return " ".join([policy["scope"], ",".join(policy["namespaces"])]).strip()


def _wanted_policies(module):
    wanted = module.params["access_policies"]
    if wanted is None:
        return None
    return sorted(
        (
            {
                "policy_arn": p["policy_arn"],
                "scope": p["scope"],
                "namespaces": sorted(p["namespaces"] or []) if p["scope"] == "namespace" else [],
            }
            for p in wanted
        ),
        key=lambda v: v["policy_arn"],
    )


def describe(client, module, cluster, principal):
    try:
        entry = client.describe_access_entry(aws_retry=True, clusterName=cluster, principalArn=principal)[
            "accessEntry"
        ]
    except botocore.exceptions.ClientError as e:
        if e.response["Error"]["Code"] == "ResourceNotFoundException":
            return {}
        module.fail_json_aws(e, msg=f"Could not describe the access entry of {principal} on {cluster}")
    except botocore.exceptions.BotoCoreError as e:
        module.fail_json_aws(e, msg=f"Could not describe the access entry of {principal} on {cluster}")
    try:
        paginator = client.get_paginator("list_associated_access_policies")
        associated = []
        for page in paginator.paginate(clusterName=cluster, principalArn=principal):
            associated.extend(page.get("associatedAccessPolicies") or [])
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
        module.fail_json_aws(e, msg=f"Could not list the access policies of {principal} on {cluster}")
    return {
        "principal_arn": entry["principalArn"],
        "access_entry_arn": entry.get("accessEntryArn", ""),
        "kubernetes_groups": sorted(entry.get("kubernetesGroups") or []),
        "username": entry.get("username", ""),
        "type": entry.get("type", "STANDARD"),
        "access_policies": _policies(associated),
        "tags": dict(entry.get("tags") or {}),
    }


def plan(module, current):
    """(changes, wanted view) for state=present."""
    params = module.params
    changes = []
    wanted = (
        dict(current)
        if current
        else {
            "principal_arn": params["principal_arn"],
            "access_entry_arn": "",
            "kubernetes_groups": [],
            "username": params["username"] or "",
            "type": params["type"],
            "access_policies": [],
            "tags": {},
        }
    )
    if not current:
        changes.append("create the access entry")
    groups = sorted(params["kubernetes_groups"]) if params["kubernetes_groups"] is not None else None
    if groups is not None and groups != wanted["kubernetes_groups"]:
        wanted["kubernetes_groups"] = groups
        if current:
            changes.append(f"set the Kubernetes groups to {groups}")
    if params["username"] and params["username"] != wanted["username"]:
        wanted["username"] = params["username"]
        if current:
            changes.append(f"set the user name to {params['username']}")
    if current and current["type"] != params["type"]:
        module.fail_json(
            msg=f"type={params['type']}: the access entry of {params['principal_arn']} is of type "
            f"{current['type']}, which EKS cannot change; delete it first (state=absent)"
        )
    policies = _wanted_policies(module)
    if policies is not None:
        have = {p["policy_arn"]: p for p in wanted["access_policies"]}
        for policy in policies:
            if have.get(policy["policy_arn"]) != policy:
                changes.append(f"associate {policy['policy_arn']} ({_scope(policy)})")
        kept = policies + (
            []
            if module.params["purge_access_policies"]
            else [
                p
                for p in wanted["access_policies"]
                if p["policy_arn"] not in {w["policy_arn"] for w in policies}
            ]
        )
        for arn in sorted(set(have) - {p["policy_arn"] for p in kept}):
            changes.append(f"disassociate {arn}")
        wanted["access_policies"] = sorted(kept, key=lambda v: v["policy_arn"])
    if params["tags"] is not None:
        to_set, to_remove = compare_aws_tags(wanted["tags"], params["tags"], params["purge_tags"])
        if to_set or to_remove:
            if current:
                changes.append(
                    f"tag {sorted(to_set)}" + (f", untag {sorted(to_remove)}" if to_remove else "")
                )
            tags = {k: v for k, v in wanted["tags"].items() if k not in to_remove}
            tags.update(to_set)
            wanted["tags"] = tags
    return changes, wanted


def apply(client, module, current, wanted):
    params = module.params
    cluster, principal = params["cluster_name"], params["principal_arn"]
    try:
        if not current:
            create = {"clusterName": cluster, "principalArn": principal, "type": params["type"]}
            if wanted["kubernetes_groups"]:
                create["kubernetesGroups"] = wanted["kubernetes_groups"]
            if params["username"]:
                create["username"] = params["username"]
            if wanted["tags"]:
                create["tags"] = wanted["tags"]
            client.create_access_entry(aws_retry=True, **create)
        else:
            update = {}
            if wanted["kubernetes_groups"] != current["kubernetes_groups"]:
                update["kubernetesGroups"] = wanted["kubernetes_groups"]
            if wanted["username"] != current["username"]:
                update["username"] = wanted["username"]
            if update:
                client.update_access_entry(
                    aws_retry=True, clusterName=cluster, principalArn=principal, **update
                )
            to_set, to_remove = compare_aws_tags(current["tags"], wanted["tags"], True)
            arn = current["access_entry_arn"]
            if to_remove:
                client.untag_resource(aws_retry=True, resourceArn=arn, tagKeys=to_remove)
            if to_set:
                client.tag_resource(aws_retry=True, resourceArn=arn, tags=to_set)
        have = {p["policy_arn"]: p for p in (current or {}).get("access_policies", [])}
        want = {p["policy_arn"]: p for p in wanted["access_policies"]}
        for arn in sorted(set(have) - set(want)):
            client.disassociate_access_policy(
                aws_retry=True, clusterName=cluster, principalArn=principal, policyArn=arn
            )
        for arn, policy in sorted(want.items()):
            if have.get(arn) != policy:
                scope = {"type": policy["scope"]}
                if policy["scope"] == "namespace":
                    scope["namespaces"] = policy["namespaces"]
                client.associate_access_policy(
                    aws_retry=True,
                    clusterName=cluster,
                    principalArn=principal,
                    policyArn=arn,
                    accessScope=scope,
                )
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
        module.fail_json_aws(e, msg=f"Could not apply the access entry of {principal} on {cluster}")


def main():
    argument_spec = dict(
        cluster_name=dict(type="str", required=True),
        principal_arn=dict(type="str", required=True),
        kubernetes_groups=dict(type="list", elements="str"),
        username=dict(type="str"),
        type=dict(
            type="str", choices=["STANDARD", "EC2_LINUX", "EC2_WINDOWS", "FARGATE_LINUX"], default="STANDARD"
        ),
        access_policies=dict(
            type="list",
            elements="dict",
            options=dict(
                policy_arn=dict(type="str", required=True),
                scope=dict(type="str", choices=["cluster", "namespace"], default="cluster"),
                namespaces=dict(type="list", elements="str", default=[]),
            ),
        ),
        purge_access_policies=dict(type="bool", default=True),
        tags=dict(type="dict", aliases=["resource_tags"]),
        purge_tags=dict(type="bool", default=True),
        state=dict(type="str", choices=["present", "absent"], default="present"),
    )
    module = AnsibleAWSModule(argument_spec=argument_spec, supports_check_mode=True)
    for policy in module.params["access_policies"] or []:
        if policy["scope"] == "namespace" and not policy["namespaces"]:
            module.fail_json(
                msg=f"access_policies: {policy['policy_arn']} has a namespace scope without namespaces"
            )
        if policy["scope"] == "cluster" and policy["namespaces"]:
            module.fail_json(
                msg=(
                    f"access_policies: {policy['policy_arn']} has a cluster scope and namespaces "
                    f"{policy['namespaces']}"
                )
            )
    if not module.params["principal_arn"].startswith("arn:"):
        module.fail_json(
            msg=f"principal_arn={module.params['principal_arn']!r}: expected the ARN of an IAM role or user"
        )
    client = module.client("eks", retry_decorator=AWSRetry.jittered_backoff(retries=10, delay=2))
    cluster, principal = module.params["cluster_name"], module.params["principal_arn"]
    current = describe(client, module, cluster, principal)

    if module.params["state"] == "absent":
        changes = ["delete the access entry"] if current else []
        if changes and not module.check_mode:
            try:
                client.delete_access_entry(aws_retry=True, clusterName=cluster, principalArn=principal)
            except botocore.exceptions.ClientError as e:
                if e.response["Error"]["Code"] != "ResourceNotFoundException":
                    module.fail_json_aws(
                        e, msg=f"Could not delete the access entry of {principal} on {cluster}"
                    )
        module.exit_json(
            changed=bool(changes), changes=changes, access_entry={}, diff={"before": current, "after": {}}
        )

    changes, wanted = plan(module, current)
    if changes and not module.check_mode:
        apply(client, module, current, wanted)
        wanted = describe(client, module, cluster, principal)
    module.exit_json(
        changed=bool(changes), changes=changes, access_entry=wanted, diff={"before": current, "after": wanted}
    )


if __name__ == "__main__":
    main()
