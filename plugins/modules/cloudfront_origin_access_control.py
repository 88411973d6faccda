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
  - GiftCrypto platform team (@giftcrypto)
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
notes:
  - The signing protocol is always C(sigv4), the only one CloudFront offers.
  - An origin access control still used by a distribution cannot be deleted (CloudFront refuses).
extends_documentation_fragment: [giftcrypto.platform.aws_resource, giftcrypto.platform.aws_resource.state,
  amazon.aws.common.modules, amazon.aws.region.modules, amazon.aws.boto3]
"""

EXAMPLES = r"""
- name: Signed access of the assets distribution to its bucket
  giftcrypto.platform.cloudfront_origin_access_control:
    name: giftcrypto-production-assets
    description: CloudFront to the assets bucket, SigV4 always
"""

RETURN = r"""
planned:
  description: What the run did or would do to the origin access control (updated in place, with its ETag).
  returned: always
  type: str
  sample: update
changes:
  description: Its settings that differ.
  returned: always
  type: list
  elements: str
  sample: [description]
unverified:
  description: Always empty, nothing of it goes unread.
  returned: always
  type: list
  elements: str
  sample: []
id:
  description: ID of the origin access control (empty when absent, or in check mode before it exists).
  returned: always
  type: str
  sample: E2QWRUHAPOMQZL
origin_access_control:
  description: Its configuration as compared by the module (planned, in check mode); empty when absent.
  returned: always
  type: dict
  sample: {id: E2QWRUHAPOMQZL, name: assets, description: "", origin_type: s3,
           signing_behavior: always, signing_protocol: sigv4}
"""

from typing import ClassVar

from ansible_collections.giftcrypto.platform.plugins.module_utils.aws_resource import AWSResource, run


class OriginAccessControl(AWSResource):
    service = "cloudfront"
    resource = "origin_access_control"
    noun = "origin access control"
    named_by = "name"
    etag = ""  # of the last answer of GetOriginAccessControl: updates and deletes are conditional on it
    options: ClassVar[dict] = {
        "name": {"type": "str", "required": True},
        "description": {"type": "str", "default": ""},
        "origin_type": {
            "type": "str",
            "default": "s3",
            "choices": ["s3", "mediastore", "mediapackagev2", "lambda"],
        },
        "signing_behavior": {
            "type": "str",
            "default": "always",
            "choices": ["always", "never", "no-override"],
        },
    }

    def validate(self):
        problems = {}
        name = self.params["name"]
        if not 1 <= len(name) <= 64 or any(c.isspace() or not c.isprintable() for c in name):
            problems["name"] = f"1 to 64 printable characters without spaces, got {name!r}"
        if len(self.params["description"]) > 256:
            problems["description"] = "at most 256 characters"
        return problems

    def describe(self):
        found = self.paginate("list_origin_access_controls")["OriginAccessControlList"]
        for item in found.get("Items") or []:
            if item["Name"] == self.params["name"]:
                answer = self.client.get_origin_access_control(aws_retry=True, Id=item["Id"])
                self.etag = answer.get("ETag", "")
                return answer["OriginAccessControl"]
        return None

    def view(self, described):
        config = described["OriginAccessControlConfig"]
        return {
            "id": described["Id"],
            "name": config["Name"],
            "description": config.get("Description") or "",
            "origin_type": config["OriginAccessControlOriginType"],
            "signing_behavior": config["SigningBehavior"],
            "signing_protocol": config["SigningProtocol"],
        }

    def plan(self, current):
        return {
            "id": (current or {}).get("id", ""),
            "name": self.params["name"],
            "description": self.params["description"],
            "origin_type": self.params["origin_type"],
            "signing_behavior": self.params["signing_behavior"],
            "signing_protocol": "sigv4",
        }

    @staticmethod
    def _config(planned):
        return {
            "Name": planned["name"],
            "Description": planned["description"],
            "SigningProtocol": planned["signing_protocol"],
            "SigningBehavior": planned["signing_behavior"],
            "OriginAccessControlOriginType": planned["origin_type"],
        }

    def create(self, planned):
        self.client.create_origin_access_control(
            aws_retry=True, OriginAccessControlConfig=self._config(planned)
        )

    def update(self, current, planned, changes):
        self.client.update_origin_access_control(
            aws_retry=True,
            Id=current["id"],
            IfMatch=self.etag,
            OriginAccessControlConfig=self._config(planned),
        )

    def delete(self, current):
        self.client.delete_origin_access_control(aws_retry=True, Id=current["id"], IfMatch=self.etag)

    def outputs(self, view):
        return {"id": view.get("id", "")}


def main():
    run(OriginAccessControl)


if __name__ == "__main__":
    main()
