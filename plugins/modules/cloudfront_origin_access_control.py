#!/usr/bin/python
# Copyright: GiftCrypto platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: cloudfront_origin_access_control
short_description: Manage a CloudFront origin access control (OAC) by name
version_added: 0.1.0
description:
  - Creates, updates or deletes a CloudFront origin access control, the signed (SigV4) access of a
    distribution to its S3 origin that replaces origin access identities (FSBP CloudFront.13).
  - Found by its name (unique in an account), compared on description, origin type, signing
    behavior and protocol, and updated in place with its ETag.
  - Fills a gap, community.aws ships only C(cloudfront_origin_access_identity), the legacy OAI;
    neither amazon.aws nor community.aws manages origin access controls.
author:
  - GiftCrypto platform team
options:
  name:
    description: Name of the origin access control (1 to 64 characters).
    type: str
    required: true
  description:
    description: Its description.
    type: str
    default: ""
  origin_type:
    description: Kind of origin it signs for.
    type: str
    choices: [s3, mediastore, mediapackagev2, lambda]
    default: s3
  signing_behavior:
    description: C(always) signs every origin request (the only choice that keeps the bucket private).
    type: str
    choices: [always, never, no-override]
    default: always
  state:
    description: Whether the origin access control exists.
    type: str
    choices: [present, absent]
    default: present
notes:
  - Supports check mode, which reports what would be created, changed or deleted without calling a write API.
  - Supports diff.
  - The signing protocol is always C(sigv4), the only one CloudFront offers.
  - An origin access control still used by a distribution cannot be deleted (CloudFront refuses).
  - Lives in the collection's C(aws) action group so that C(module_defaults) for
    C(group/amazon.aws.aws) give it region, endpoint and credentials.
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: Signed access of the assets distribution to its bucket
  giftcrypto.platform.cloudfront_origin_access_control:
    name: giftcrypto-production-assets
    description: CloudFront to the assets bucket, SigV4 always
"""

RETURN = r"""
id:
  description: ID of the origin access control (empty when absent, or in check mode before it exists).
  returned: always
  type: str
  sample: E2QWRUHAPOMQZL
origin_access_control:
  description: Its configuration as compared by the module; empty when absent.
  returned: always
  type: dict
  sample: {id: E2QWRUHAPOMQZL, name: assets, description: "", origin_type: s3,
           signing_behavior: always, signing_protocol: sigv4}
"""

try:  # noqa: SIM105 -- the usual optional-import guard of Ansible modules
    import botocore
except ImportError:
    pass  # handled by AnsibleAWSModule

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry


def _normalize(oac_id, config):
    if not config:
        return {}
    return {
        "id": oac_id,
        "name": config["Name"],
        "description": config.get("Description", "") or "",
        "origin_type": config["OriginAccessControlOriginType"],
        "signing_behavior": config["SigningBehavior"],
        "signing_protocol": config["SigningProtocol"],
    }


def _find(client, name):
    marker = None
    while True:
        kwargs = {"Marker": marker} if marker else {}
        page = client.list_origin_access_controls(aws_retry=True, **kwargs)["OriginAccessControlList"]
        for item in page.get("Items") or []:
            if item["Name"] == name:
                return item["Id"]
        marker = page.get("NextMarker")
        if not page.get("IsTruncated") or not marker:
            return ""


def _config(params):
    return {
        "Name": params["name"],
        "Description": params["description"],
        "SigningProtocol": "sigv4",
        "SigningBehavior": params["signing_behavior"],
        "OriginAccessControlOriginType": params["origin_type"],
    }


def main():
    argument_spec = dict(
        name=dict(type="str", required=True),
        description=dict(type="str", default=""),
        origin_type=dict(type="str", default="s3", choices=["s3", "mediastore", "mediapackagev2", "lambda"]),
        signing_behavior=dict(type="str", default="always", choices=["always", "never", "no-override"]),
        state=dict(type="str", default="present", choices=["present", "absent"]),
    )
    module = AnsibleAWSModule(argument_spec=argument_spec, supports_check_mode=True)
    params = module.params
    if not 1 <= len(params["name"]) <= 64 or any(c.isspace() or not c.isprintable() for c in params["name"]):
        module.fail_json(msg=f"name={params['name']!r}: 1 to 64 printable characters without spaces")
    if len(params["description"]) > 256:
        module.fail_json(msg="description: at most 256 characters")
    client = module.client("cloudfront", retry_decorator=AWSRetry.jittered_backoff(retries=10))

    try:
        oac_id = _find(client, params["name"])
        etag, before = "", {}
        if oac_id:
            answer = client.get_origin_access_control(aws_retry=True, Id=oac_id)
            etag = answer.get("ETag", "")
            before = _normalize(oac_id, answer["OriginAccessControl"]["OriginAccessControlConfig"])
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
        module.fail_json_aws(e, msg=f"Could not read the origin access control {params['name']}")

    if params["state"] == "absent":
        if oac_id and not module.check_mode:
            try:
                client.delete_origin_access_control(aws_retry=True, Id=oac_id, IfMatch=etag)
            except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
                module.fail_json_aws(e, msg=f"Could not delete the origin access control {params['name']}")
        module.exit_json(
            changed=bool(oac_id), id="", origin_access_control={}, diff={"before": before, "after": {}}
        )

    wanted = _normalize(oac_id, _config(params))
    if before == wanted:
        module.exit_json(
            changed=False, id=oac_id, origin_access_control=before, diff={"before": before, "after": before}
        )
    if module.check_mode:
        module.exit_json(
            changed=True, id=oac_id, origin_access_control={}, diff={"before": before, "after": wanted}
        )
    try:
        if oac_id:
            answer = client.update_origin_access_control(
                aws_retry=True, Id=oac_id, IfMatch=etag, OriginAccessControlConfig=_config(params)
            )
        else:
            answer = client.create_origin_access_control(
                aws_retry=True, OriginAccessControlConfig=_config(params)
            )
        oac = answer["OriginAccessControl"]
        after = _normalize(oac["Id"], oac["OriginAccessControlConfig"])
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
        module.fail_json_aws(e, msg=f"Could not write the origin access control {params['name']}")
    module.exit_json(
        changed=True, id=after["id"], origin_access_control=after, diff={"before": before, "after": after}
    )


if __name__ == "__main__":
    main()
