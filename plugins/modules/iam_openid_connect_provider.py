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
  - GiftCrypto platform team
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
  state:
    description: Whether the provider exists.
    type: str
    choices: [present, absent]
    default: present
notes:
  - Supports check mode, which reports what would be created, changed or deleted without calling
    a write API.
  - Supports diff (the URL, audiences, thumbprints and tags before and after).
  - Lives in the collection's C(aws) action group so that C(module_defaults) for
    C(group/amazon.aws.aws) give it region, endpoint and credentials.
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.tags
  - amazon.aws.boto3
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
arn:
  description: ARN of the provider (empty when absent, or in check mode before it exists).
  returned: always
  type: str
  sample: arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com
provider:
  description: The provider as compared by the module; empty when absent.
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

try:  # noqa: SIM105 -- the usual optional-import guard of Ansible modules
    import botocore
except ImportError:
    pass  # handled by AnsibleAWSModule

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry
from ansible_collections.amazon.aws.plugins.module_utils.tagging import (
    ansible_dict_to_boto3_tag_list,
    boto3_tag_list_to_ansible_dict,
)
from ansible_collections.giftcrypto.platform.plugins.module_utils.tag_plan import plan_tags, settable

THUMBPRINT = re.compile(r"^[0-9a-fA-F]{40}$")


def _bare(url):
    """The URL as IAM keeps it: without scheme nor trailing slash."""
    return re.sub(r"^https://", "", url.strip()).rstrip("/")


def _find(client, url):
    providers = client.list_open_id_connect_providers(aws_retry=True)["OpenIDConnectProviderList"]
    for provider in providers:
        if provider["Arn"].split(":oidc-provider/", 1)[-1] == url:
            described = client.get_open_id_connect_provider(
                aws_retry=True, OpenIDConnectProviderArn=provider["Arn"]
            )
            return provider["Arn"], described
    return "", None


def _view(arn, described):
    if described is None:
        return {}
    return {
        "arn": arn,
        "url": _bare(described.get("Url", "")),
        "client_ids": sorted(described.get("ClientIDList") or []),
        "thumbprints": sorted(t.lower() for t in described.get("ThumbprintList") or []),
        "tags": boto3_tag_list_to_ansible_dict(described.get("Tags") or []),
    }


def main():
    argument_spec = dict(
        url=dict(type="str", required=True),
        client_ids=dict(type="list", elements="str"),
        thumbprints=dict(type="list", elements="str"),
        tags=dict(type="dict", aliases=["resource_tags"]),
        purge_tags=dict(type="bool", default=True),
        state=dict(type="str", default="present", choices=["present", "absent"]),
    )
    module = AnsibleAWSModule(argument_spec=argument_spec, supports_check_mode=True)
    params = module.params
    url = _bare(params["url"])
    if not url:
        module.fail_json(msg="url must not be empty")
    if not re.fullmatch(r"[A-Za-z0-9.-]+(:[0-9]{1,5})?(/[!-~]*)?", url):
        module.fail_json(
            msg=f"url={params['url']!r}: must be an https URL with a host name and no spaces or control "
            "characters (e.g. https://oidc.eks.us-east-1.amazonaws.com/id/EXAMPLE)"
        )
    bad = [t for t in params["thumbprints"] or [] if not THUMBPRINT.fullmatch(t)]
    if bad:
        module.fail_json(msg=f"thumbprints must be 40 hexadecimal digits (SHA-1): {', '.join(bad)}")
    client = module.client("iam", retry_decorator=AWSRetry.jittered_backoff(retries=10))

    try:
        arn, described = _find(client, url)
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
        module.fail_json_aws(e, msg=f"Could not describe the OIDC provider {url}")
    before = _view(arn, described)

    if params["state"] == "absent":
        if arn and not module.check_mode:
            try:
                client.delete_open_id_connect_provider(aws_retry=True, OpenIDConnectProviderArn=arn)
            except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
                module.fail_json_aws(e, msg=f"Could not delete the OIDC provider {url}")
        module.exit_json(changed=bool(arn), arn="", provider={}, diff={"before": before, "after": {}})

    tags, to_set, to_unset = plan_tags(before.get("tags"), params["tags"], params["purge_tags"])
    if not arn:
        if not params["client_ids"]:
            module.fail_json(msg="client_ids is required to create an OIDC provider")
        planned = {
            "arn": "",
            "url": url,
            "client_ids": sorted(set(params["client_ids"])),
            "thumbprints": sorted({t.lower() for t in params["thumbprints"] or []}),
            "tags": tags,
        }
        if module.check_mode:
            module.exit_json(changed=True, arn="", provider={}, diff={"before": {}, "after": planned})
        request = {"Url": f"https://{url}", "ClientIDList": planned["client_ids"]}
        if planned["thumbprints"]:
            request["ThumbprintList"] = planned["thumbprints"]
        if settable(tags):
            request["Tags"] = ansible_dict_to_boto3_tag_list(settable(tags))
        try:
            arn = client.create_open_id_connect_provider(aws_retry=True, **request)[
                "OpenIDConnectProviderArn"
            ]
            after = _view(
                arn, client.get_open_id_connect_provider(aws_retry=True, OpenIDConnectProviderArn=arn)
            )
        except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
            module.fail_json_aws(e, msg=f"Could not create the OIDC provider {url}")
        module.exit_json(changed=True, arn=arn, provider=after, diff={"before": {}, "after": after})

    add_ids, remove_ids = [], []
    if params["client_ids"] is not None:
        add_ids = sorted(set(params["client_ids"]) - set(before["client_ids"]))
        remove_ids = sorted(set(before["client_ids"]) - set(params["client_ids"]))
    thumbprints = before["thumbprints"]
    if params["thumbprints"] is not None:
        thumbprints = sorted({t.lower() for t in params["thumbprints"]})
    changed = bool(add_ids or remove_ids or thumbprints != before["thumbprints"] or to_set or to_unset)
    if module.check_mode or not changed:
        after = before
        if changed:
            client_ids = sorted((set(before["client_ids"]) | set(add_ids)) - set(remove_ids))
            after = {**before, "client_ids": client_ids, "thumbprints": thumbprints, "tags": tags}
        module.exit_json(changed=changed, arn=arn, provider=after, diff={"before": before, "after": after})

    try:
        for client_id in add_ids:
            client.add_client_id_to_open_id_connect_provider(
                aws_retry=True, OpenIDConnectProviderArn=arn, ClientID=client_id
            )
        for client_id in remove_ids:
            client.remove_client_id_from_open_id_connect_provider(
                aws_retry=True, OpenIDConnectProviderArn=arn, ClientID=client_id
            )
        if thumbprints != before["thumbprints"]:
            client.update_open_id_connect_provider_thumbprint(
                aws_retry=True, OpenIDConnectProviderArn=arn, ThumbprintList=thumbprints
            )
        if to_unset:
            client.untag_open_id_connect_provider(
                aws_retry=True, OpenIDConnectProviderArn=arn, TagKeys=to_unset
            )
        if to_set:
            client.tag_open_id_connect_provider(
                aws_retry=True, OpenIDConnectProviderArn=arn, Tags=ansible_dict_to_boto3_tag_list(to_set)
            )
        after = _view(arn, client.get_open_id_connect_provider(aws_retry=True, OpenIDConnectProviderArn=arn))
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
        module.fail_json_aws(e, msg=f"Could not update the OIDC provider {url}")
    module.exit_json(changed=True, arn=arn, provider=after, diff={"before": before, "after": after})


if __name__ == "__main__":
    main()
