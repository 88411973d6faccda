#!/usr/bin/python
# Copyright: GiftCrypto platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: eks_addon
short_description: Manage an Amazon EKS add-on of a cluster, its version and its configuration values
version_added: 0.2.0
description:
  - Creates, updates or deletes an Amazon EKS add-on (for example C(vpc-cni), C(coredns),
    C(kube-proxy)) of a cluster, with its version, its configuration values, the IAM role of its
    service account and its tags.
  - The version is either one EKS lists for the cluster's Kubernetes version, or C(default), the
    version C(DescribeAddonVersions) marks as the default for the cluster's Kubernetes version, asked of
    EKS on every run (so the add-on follows the cluster when it moves up a minor). EKS cannot downgrade
    an add-on, so with C(default) an add-on already on a newer version keeps it.
  - Fills a gap, neither amazon.aws (10.1) nor community.aws (10.0) ships a module for EKS add-ons
    (the C(CreateAddon), C(DescribeAddon), C(UpdateAddon), C(DeleteAddon) and
    C(DescribeAddonVersions) APIs).
author:
  - GiftCrypto platform team (@giftcrypto)
options:
  cluster_name:
    description:
      - Name of the EKS cluster, a letter or digit then up to 99 letters, digits, hyphens or underscores.
    type: str
    required: true
  name:
    description:
      - Name of the add-on, as C(DescribeAddonVersions) lists it (for example C(vpc-cni)).
    type: str
    required: true
    aliases: [addon_name]
  addon_version:
    description:
      - The add-on's version (for example C(v1.22.4-eksbuild.1)), or C(default) for the version EKS
        marks as the default for the cluster's Kubernetes version.
    type: str
    default: default
  configuration_values:
    description:
      - 'Configuration values of the add-on (its schema is the one C(DescribeAddonConfiguration) gives), for
        example C({"enableNetworkPolicy": "true"}) for C(vpc-cni).'
      - Compared as JSON. Unset leaves the add-on's configuration as it is; C({}) removes it.
    type: dict
  service_account_role_arn:
    description:
      - ARN of the IAM role the add-on's service account assumes (IRSA).
      - Unset leaves it as it is; an empty string removes it (the add-on then uses the node role).
    type: str
  resolve_conflicts:
    description:
      - What EKS does with fields of the add-on's Kubernetes objects that differ from what the add-on
        sets (for example a self-managed C(vpc-cni) made with the cluster), on creation and update.
      - C(OVERWRITE) takes them over, C(PRESERVE) keeps them, C(NONE) fails on them.
    type: str
    choices: [OVERWRITE, PRESERVE, NONE]
    default: OVERWRITE
notes:
  - Tags are read from C(DescribeAddon) and changed with C(TagResource) and C(UntagResource).
  - The add-on's health issues (C(DescribeAddon)'s C(health)) are returned, not acted on.
extends_documentation_fragment: [giftcrypto.platform.aws_resource, giftcrypto.platform.aws_resource.state,
  giftcrypto.platform.aws_resource.wait, amazon.aws.common.modules, amazon.aws.region.modules,
  amazon.aws.tags, amazon.aws.boto3]
"""

EXAMPLES = r"""
- name: The VPC CNI as a managed add-on, enforcing Kubernetes network policies
  giftcrypto.platform.eks_addon:
    cluster_name: giftcrypto-staging
    name: vpc-cni
    addon_version: default
    configuration_values:
      enableNetworkPolicy: "true"
    tags:
      Project: GiftCrypto

- name: A pinned version of CoreDNS
  giftcrypto.platform.eks_addon:
    cluster_name: giftcrypto-staging
    name: coredns
    addon_version: v1.12.1-eksbuild.2

- name: Remove an add-on (its Kubernetes objects go with it)
  giftcrypto.platform.eks_addon:
    cluster_name: giftcrypto-staging
    name: coredns
    state: absent
"""

RETURN = r"""
planned:
  description:
    - The one word for this run's effect on the add-on, C(create), C(update), C(delete) or C(none) (in
      check mode, the effect a real run would have).
  returned: always
  type: str
  sample: update
changes:
  description:
    - C(addon_version), C(configuration_values), C(service_account_role_arn) or C(tags) when they move;
      for an add-on still to be made, every key of RV(addon).
  returned: always
  type: list
  elements: str
  sample: [configuration_values]
unverified:
  description:
    - In check mode before the cluster exists (giftcrypto.platform.eks_cluster may create it earlier in
      the same play), a line naming O(cluster_name) (the version is then not resolved); otherwise empty.
  returned: always
  type: list
  elements: str
  sample: []
addon:
  description:
    - The add-on once the run is over (planned, in check mode); C({}) when there is none.
  returned: always
  type: dict
  sample:
    name: vpc-cni
    addon_arn: arn:aws:eks:eu-west-1:123456789012:addon/giftcrypto-staging/vpc-cni/1a2b3c4d
    addon_version: v1.22.4-eksbuild.1
    configuration_values: {enableNetworkPolicy: "true"}
    service_account_role_arn: ""
    status: ACTIVE
    health_issues: []
    tags: {Project: GiftCrypto}
"""

import json
import re
from typing import ClassVar

from ansible_collections.giftcrypto.platform.plugins.module_utils.aws_resource import (
    AWSResource,
    ResourceProblem,
    run,
    tag_eks,
)
from ansible_collections.giftcrypto.platform.plugins.module_utils.tag_plan import settable

CLUSTER_NAME = re.compile(r"[0-9A-Za-z][A-Za-z0-9_-]{0,99}")
ADDON_NAME = re.compile(r"[a-z0-9][a-z0-9_.-]{0,99}")
# v<major>.<minor>.<patch>-eksbuild.<n> (EKS's own add-ons), or another publisher's version.
VERSION = re.compile(r"v?[0-9]+(\.[0-9]+){1,2}([-+][A-Za-z0-9.+-]+)?")
ROLE = re.compile(r"arn:aws[a-z-]*:iam::[0-9]{12}:role/[A-Za-z0-9_+=,.@/-]{1,512}")
DEFAULT = "default"
#: What a status of the add-on means for a wait: done, or failed.
SETTLED = ("ACTIVE", "DEGRADED")
FAILED = ("CREATE_FAILED", "UPDATE_FAILED", "DELETE_FAILED")


def version_key(version: str) -> tuple:
    """Orders add-on versions as EKS does: by the numbers of the release, then of the build."""
    return tuple(int(number) for number in re.findall(r"[0-9]+", version))


def _configuration(text):
    """An add-on's configuration values (JSON or YAML text; EKS keeps what it was given) as a dict."""
    if not text or not text.strip():
        return {}
    try:
        return json.loads(text)
    except ValueError:
        import yaml  # EKS takes YAML too; ansible-core depends on PyYAML

        return yaml.safe_load(text) or {}


class Addon(AWSResource):
    service = "eks"
    resource = "addon"
    noun = "EKS add-on"
    shared = ("state", "tags", "purge_tags", "wait", "wait_timeout")
    # DescribeAddon answers it for a missing add-on (or cluster); DeleteAddon for one deleted meanwhile.
    not_found = ("ResourceNotFoundException",)
    options: ClassVar[dict] = {
        "cluster_name": {"type": "str", "required": True},
        "name": {"type": "str", "required": True, "aliases": ["addon_name"]},
        "addon_version": {"type": "str", "default": DEFAULT},
        "configuration_values": {"type": "dict"},
        "service_account_role_arn": {"type": "str"},
        "resolve_conflicts": {
            "type": "str",
            "choices": ["OVERWRITE", "PRESERVE", "NONE"],
            "default": "OVERWRITE",
        },
    }

    def name(self, view):
        return f"{self.params['name']} of {self.params['cluster_name']}"

    def validate(self):
        params = self.params
        problems = {}
        if not CLUSTER_NAME.fullmatch(params["cluster_name"]):
            problems["cluster_name"] = (
                "a letter or digit then up to 99 letters, digits, hyphens or underscores, "
                f"got {params['cluster_name']!r}"
            )
        if not ADDON_NAME.fullmatch(params["name"]):
            problems["name"] = (
                f"an add-on name as DescribeAddonVersions lists it (e.g. vpc-cni), got {params['name']!r}"
            )
        version = params["addon_version"]
        if version != DEFAULT and not VERSION.fullmatch(version):
            problems["addon_version"] = (
                f"{DEFAULT!r} or a version such as v1.22.4-eksbuild.1, got {version!r}"
            )
        role = params["service_account_role_arn"]
        if role and not ROLE.fullmatch(role):
            problems["service_account_role_arn"] = (
                f"the ARN of an IAM role (arn:aws:iam::<account>:role/<name>) or empty, got {role!r}"
            )
        return problems

    def describe(self):
        return self.client.describe_addon(
            aws_retry=True, clusterName=self.params["cluster_name"], addonName=self.params["name"]
        )["addon"]

    def view(self, described):
        return {
            "name": described["addonName"],
            "addon_arn": described.get("addonArn", ""),
            "addon_version": described.get("addonVersion", ""),
            "configuration_values": _configuration(described.get("configurationValues")),
            "service_account_role_arn": described.get("serviceAccountRoleArn", ""),
            "status": described.get("status", ""),
            "health_issues": list((described.get("health") or {}).get("issues") or []),
            "tags": dict(described.get("tags") or {}),
        }

    def _default_version(self, kubernetes_version):
        """The version DescribeAddonVersions marks as default for the cluster's Kubernetes version."""
        answer = self.paginate(
            "describe_addon_versions", addonName=self.params["name"], kubernetesVersion=kubernetes_version
        )
        for addon in answer.get("addons") or []:
            for version in addon.get("addonVersions") or []:
                for compatibility in version.get("compatibilities") or []:
                    if compatibility.get("clusterVersion") == kubernetes_version and compatibility.get(
                        "defaultVersion"
                    ):
                        return version["addonVersion"]
        raise ResourceProblem(
            f"EKS lists no default version of {self.params['name']} for Kubernetes {kubernetes_version} "
            "(DescribeAddonVersions): name a version in addon_version"
        )

    def _wanted_version(self, current):
        """The version to run: the one asked, or EKS's default (never below the current one)."""
        asked = self.params["addon_version"]
        have = current.get("addon_version", "") if current else ""
        if asked == DEFAULT:
            cluster = self.or_none(
                ("ResourceNotFoundException",),
                self.client.describe_cluster,
                name=self.params["cluster_name"],
            )
            if cluster is None:
                self.unverified.append(
                    f"cluster_name: the cluster {self.params['cluster_name']} does not exist (yet): "
                    "giftcrypto.platform.eks_cluster creates it; the add-on's version is EKS's default then"
                )
                return have or DEFAULT
            wanted = self._default_version(cluster["cluster"]["version"])
            return have if have and version_key(have) > version_key(wanted) else wanted
        if have and version_key(asked) < version_key(have):
            raise ResourceProblem(
                f"addon_version={asked}: the add-on runs {have}, and EKS cannot downgrade an add-on; "
                "delete it first (state=absent) or ask for that version or a newer one"
            )
        return asked

    def plan(self, current):
        params = self.params
        base = current or {
            "name": params["name"],
            "addon_arn": "",
            "addon_version": "",
            "configuration_values": {},
            "service_account_role_arn": "",
            "status": "planned",
            "health_issues": [],
        }
        planned = {**base, "addon_version": self._wanted_version(current)}
        if params["configuration_values"] is not None:
            planned["configuration_values"] = params["configuration_values"]
        if params["service_account_role_arn"] is not None:
            planned["service_account_role_arn"] = params["service_account_role_arn"]
        return planned

    def differences(self, current, planned):
        keys = ("addon_version", "configuration_values", "service_account_role_arn")
        return sorted(key for key in keys if current.get(key) != planned[key])

    def create(self, planned):
        if planned["addon_version"] == DEFAULT:
            raise ResourceProblem("no such cluster: create it first (giftcrypto.platform.eks_cluster)")
        request = {
            "clusterName": self.params["cluster_name"],
            "addonName": self.params["name"],
            "addonVersion": planned["addon_version"],
            "resolveConflicts": self.params["resolve_conflicts"],
        }
        if planned["configuration_values"]:
            request["configurationValues"] = json.dumps(planned["configuration_values"], sort_keys=True)
        if planned["service_account_role_arn"]:
            request["serviceAccountRoleArn"] = planned["service_account_role_arn"]
        if settable(planned["tags"]):
            request["tags"] = settable(planned["tags"])
        self.client.create_addon(aws_retry=True, **request)

    def update(self, current, planned, changes):
        request = {"resolveConflicts": self.params["resolve_conflicts"]}
        if "addon_version" in changes:
            request["addonVersion"] = planned["addon_version"]
        if "configuration_values" in changes:
            request["configurationValues"] = json.dumps(planned["configuration_values"], sort_keys=True)
        if "service_account_role_arn" in changes:
            request["serviceAccountRoleArn"] = planned["service_account_role_arn"]
        self.client.update_addon(
            aws_retry=True, clusterName=self.params["cluster_name"], addonName=self.params["name"], **request
        )

    def tag(self, current, to_set, to_unset):
        tag_eks(self.client, current["addon_arn"], to_set, to_unset)

    def delete(self, current):
        self.client.delete_addon(
            aws_retry=True, clusterName=self.params["cluster_name"], addonName=self.params["name"]
        )

    def wait(self, goal):
        if goal == "absent":
            self.poll(lambda view: not view, "deleted", delay=10)
            return

        def settled(view):
            if view.get("status") in FAILED:
                issues = "; ".join(issue.get("message", "") for issue in view.get("health_issues", []))
                raise ResourceProblem(f"its status is {view['status']}" + (f": {issues}" if issues else ""))
            return view.get("status") in SETTLED

        self.poll(settled, "ACTIVE", delay=10)


def main():
    run(Addon)


if __name__ == "__main__":
    main()
