#!/usr/bin/python
# Copyright: GiftCrypto platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: iam_openid_connect_provider
short_description: Manage an IAM OpenID Connect identity provider
version_added: 0.1.0
description:
  - Creates, updates or deletes an IAM OIDC identity provider, the trust anchor of web-identity
    roles, for example the issuer of an EKS cluster (IAM roles for service accounts) or GitHub
    Actions (C(token.actions.githubusercontent.com)) for a CI deploy role.
  - The provider is identified by its O(url); its audiences (O(client_ids)), server certificate
    thumbprints (O(thumbprints)) and tags are updated in place.
  - Fills a gap, neither amazon.aws nor community.aws ships a module for IAM OIDC providers (the
    C(CreateOpenIDConnectProvider) API), and IAM refuses a role whose trust policy names a
    federated principal that does not exist.
author:
  - GiftCrypto platform team (@giftcrypto)
options:
  url:
    description:
      - URL of the issuer, with or without V(https://) (for example
        V(https://oidc.eks.us-east-1.amazonaws.com/id/EXAMPLED539D4633E53DE1B71EXAMPLE)).
    type: str
    required: true
  client_ids:
    description:
      - Audiences the provider accepts (V(sts.amazonaws.com) for EKS and GitHub Actions).
      - Required to create the provider; unset on an existing one leaves them alone.
    type: list
    elements: str
  thumbprints:
    description:
      - SHA-1 thumbprints (40 hex digits) of the issuer's certificate chain.
      - Unset leaves them alone; AWS no longer needs them for the well-known issuers it secures
        with its own trusted CAs (EKS, GitHub Actions).
    type: list
    elements: str
extends_documentation_fragment: [giftcrypto.platform.aws_resource, giftcrypto.platform.aws_resource.state,
  amazon.aws.common.modules, amazon.aws.region.modules, amazon.aws.tags, amazon.aws.boto3]
"""

EXAMPLES = r"""
- name: Trust GitHub Actions' tokens (for the CI deploy role)
  giftcrypto.platform.iam_openid_connect_provider:
    url: https://token.actions.githubusercontent.com
    client_ids: [sts.amazonaws.com]
    tags:
      Project: GiftCrypto

- name: Trust the EKS cluster's service account tokens (IRSA)
  giftcrypto.platform.iam_openid_connect_provider:
    url: "{{ eks_cluster_oidc_issuer }}"
    client_ids: [sts.amazonaws.com]

- name: Remove a provider
  giftcrypto.platform.iam_openid_connect_provider:
    url: https://token.actions.githubusercontent.com
    state: absent
"""

RETURN = r"""
planned:
  description: What the run did or would do to the provider (create, update, delete or none).
  returned: always
  type: str
  sample: update
changes:
  description: Of C(client_ids), C(thumbprints) and C(tags), what differs.
  returned: always
  type: list
  elements: str
  sample: [thumbprints]
unverified:
  description: Always empty, since the provider and its tags are read whole on each run.
  returned: always
  type: list
  elements: str
  sample: []
arn:
  description: ARN of the provider (empty when absent, or in check mode before it exists).
  returned: always
  type: str
  sample: arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com
provider:
  description: The provider as compared by the module (planned, in check mode); empty when absent.
  returned: always
  type: dict
  sample:
    arn: arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com
    url: token.actions.githubusercontent.com
    client_ids: [sts.amazonaws.com]
    thumbprints: []
    tags: {Project: GiftCrypto}
"""

import re
from typing import ClassVar

from ansible_collections.amazon.aws.plugins.module_utils.tagging import ansible_dict_to_boto3_tag_list
from ansible_collections.giftcrypto.platform.plugins.module_utils.aws_resource import (
    AWSResource,
    ResourceProblem,
    run,
    tags_from_list,
)
from ansible_collections.giftcrypto.platform.plugins.module_utils.tag_plan import settable

THUMBPRINT = re.compile(r"^[0-9a-fA-F]{40}$")
URL = re.compile(r"[A-Za-z0-9.-]+(:[0-9]{1,5})?(/[!-~]*)?")


def _bare(url):
    """The URL as IAM keeps it: without scheme nor trailing slash."""
    return re.sub(r"^https://", "", url.strip()).rstrip("/")


class Provider(AWSResource):
    service = "iam"
    resource = "provider"
    noun = "OIDC provider"
    shared = ("state", "tags", "purge_tags")
    options: ClassVar[dict] = {
        "url": {"type": "str", "required": True},
        "client_ids": {"type": "list", "elements": "str"},
        "thumbprints": {"type": "list", "elements": "str"},
    }

    def validate(self):
        problems = {}
        url = _bare(self.params["url"])
        if not url:
            problems["url"] = "must not be empty"
        elif not URL.fullmatch(url):
            problems["url"] = (
                "must be an https URL with a host name and no spaces or control characters "
                f"(e.g. https://oidc.eks.us-east-1.amazonaws.com/id/EXAMPLE), got {self.params['url']!r}"
            )
        bad = [t for t in self.params["thumbprints"] or [] if not THUMBPRINT.fullmatch(t)]
        if bad:
            problems["thumbprints"] = f"must be 40 hexadecimal digits (SHA-1): {', '.join(bad)}"
        return problems

    def describe(self):
        url = _bare(self.params["url"])
        for provider in self.client.list_open_id_connect_providers(aws_retry=True)[
            "OpenIDConnectProviderList"
        ]:
            if provider["Arn"].split(":oidc-provider/", 1)[-1] == url:
                arn = provider["Arn"]
                return {
                    "Arn": arn,
                    **self.client.get_open_id_connect_provider(aws_retry=True, OpenIDConnectProviderArn=arn),
                }
        return None

    def view(self, described):
        return {
            "arn": described["Arn"],
            "url": _bare(described.get("Url", "")),
            "client_ids": sorted(described.get("ClientIDList") or []),
            "thumbprints": sorted(t.lower() for t in described.get("ThumbprintList") or []),
            "tags": tags_from_list(described.get("Tags")),
        }

    def plan(self, current):
        client_ids, thumbprints = self.params["client_ids"], self.params["thumbprints"]
        if current is None and not client_ids:
            raise ResourceProblem("client_ids is required to create an OIDC provider")
        planned = dict(current or {"arn": "", "url": _bare(self.params["url"]), "thumbprints": []})
        if client_ids is not None:
            planned["client_ids"] = sorted(set(client_ids))
        if thumbprints is not None:
            planned["thumbprints"] = sorted({t.lower() for t in thumbprints})
        return planned

    def create(self, planned):
        request = {"Url": f"https://{planned['url']}", "ClientIDList": planned["client_ids"]}
        if planned["thumbprints"]:
            request["ThumbprintList"] = planned["thumbprints"]
        if settable(planned["tags"]):
            request["Tags"] = ansible_dict_to_boto3_tag_list(settable(planned["tags"]))
        self.client.create_open_id_connect_provider(aws_retry=True, **request)

    def update(self, current, planned, changes):
        arn = current["arn"]
        for client_id in sorted(set(planned["client_ids"]) - set(current["client_ids"])):
            self.client.add_client_id_to_open_id_connect_provider(
                aws_retry=True, OpenIDConnectProviderArn=arn, ClientID=client_id
            )
        for client_id in sorted(set(current["client_ids"]) - set(planned["client_ids"])):
            self.client.remove_client_id_from_open_id_connect_provider(
                aws_retry=True, OpenIDConnectProviderArn=arn, ClientID=client_id
            )
        if "thumbprints" in changes:
            self.client.update_open_id_connect_provider_thumbprint(
                aws_retry=True, OpenIDConnectProviderArn=arn, ThumbprintList=planned["thumbprints"]
            )

    def tag(self, current, to_set, to_unset):
        arn = current["arn"]
        if to_unset:
            self.client.untag_open_id_connect_provider(
                aws_retry=True, OpenIDConnectProviderArn=arn, TagKeys=to_unset
            )
        if to_set:
            self.client.tag_open_id_connect_provider(
                aws_retry=True, OpenIDConnectProviderArn=arn, Tags=ansible_dict_to_boto3_tag_list(to_set)
            )

    def delete(self, current):
        self.client.delete_open_id_connect_provider(aws_retry=True, OpenIDConnectProviderArn=current["arn"])

    def outputs(self, view):
        return {"arn": view.get("arn", "")}

    def name(self, view):
        return _bare(self.params["url"])


def main():
    run(Provider)


if __name__ == "__main__":
    main()
