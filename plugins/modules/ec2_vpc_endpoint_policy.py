#!/usr/bin/python
# Copyright: GiftCrypto platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: ec2_vpc_endpoint_policy
short_description: Set the policy of an existing VPC endpoint
version_added: 0.1.0
description:
  - Sets the policy document (C(PolicyDocument), through C(ModifyVpcEndpoint)) of an existing
    gateway or interface VPC endpoint, and keeps it so.
  - Fills a gap, C(amazon.aws.ec2_vpc_endpoint) sends its O(policy) only when it creates an
    endpoint; it never changes the policy of one that exists (it only ensures its tags), so an
    endpoint made before its policy was written keeps the default policy (any principal, any
    action) for good. Use C(amazon.aws.ec2_vpc_endpoint) to create the endpoint, then this module.
  - A setting of the endpoint, not a resource of its own, this module neither creates nor deletes
    anything. An endpoint that does not exist fails the run; in check mode (a plan made before
    C(amazon.aws.ec2_vpc_endpoint) has created it) the policy is planned and the endpoint listed in
    RV(unverified).
author:
  - GiftCrypto platform team (@giftcrypto)
options:
  vpc_endpoint_id:
    description: ID of the endpoint (C(vpce-...)).
    type: str
    required: true
  policy:
    description:
      - The policy document, as JSON text or as a dictionary. Compared with the endpoint's as parsed
        JSON (key order and white space do not matter, the order of lists does).
    type: json
    required: true
notes:
  - Tags are not this module's, C(amazon.aws.ec2_vpc_endpoint) manages them.
extends_documentation_fragment: [giftcrypto.platform.aws_resource, amazon.aws.common.modules,
  amazon.aws.region.modules, amazon.aws.boto3]
"""

EXAMPLES = r"""
- name: Create the S3 gateway endpoint
  amazon.aws.ec2_vpc_endpoint:
    vpc_id: "{{ vpc_id }}"
    service: com.amazonaws.eu-west-1.s3
    route_table_ids: "{{ private_route_table_ids }}"
    policy: "{{ lookup('ansible.builtin.template', 's3_endpoint_policy.json.j2') }}"
  register: s3_endpoint

- name: Keep its policy, also on an endpoint made before the policy was written
  giftcrypto.platform.ec2_vpc_endpoint_policy:
    vpc_endpoint_id: "{{ s3_endpoint.result.vpc_endpoint_id }}"
    policy: "{{ lookup('ansible.builtin.template', 's3_endpoint_policy.json.j2') }}"
"""

RETURN = r"""
planned:
  description:
    - C(update) when the endpoint's policy changes; C(create) only in a check run before the
      endpoint exists (a real run then fails).
  returned: always
  type: str
  sample: update
changes:
  description: C(policy) when the policy differs.
  returned: always
  type: list
  elements: str
  sample: [policy]
unverified:
  description: In check mode, the endpoint when it does not exist yet.
  returned: always
  type: list
  elements: str
  sample: []
endpoint_policy:
  description: The endpoint's policy after the run (planned, in check mode).
  returned: always
  type: dict
  sample:
    vpc_endpoint_id: vpce-0123456789abcdef0
    policy: {Version: "2012-10-17", Statement: []}
vpc_endpoint_id:
  description: ID of the endpoint.
  returned: always
  type: str
  sample: vpce-0123456789abcdef0
"""

import json
import re
from typing import ClassVar

from ansible_collections.giftcrypto.platform.plugins.module_utils.aws_resource import (
    AWSResource,
    ResourceProblem,
    run,
)


def _parsed(policy) -> dict:
    return json.loads(policy) if isinstance(policy, str) else policy


class EndpointPolicy(AWSResource):
    service = "ec2"
    resource = "endpoint_policy"
    noun = "policy of the VPC endpoint"
    named_by = "vpc_endpoint_id"
    shared = ()
    not_found = ("InvalidVpcEndpointId.NotFound", "InvalidVpcEndpoint.NotFound")
    options: ClassVar[dict] = {
        "vpc_endpoint_id": {"type": "str", "required": True},
        "policy": {"type": "json", "required": True},
    }

    def validate(self):
        problems = {}
        # Any other text is asked of EC2, whose not-found answer fails the run, or, in a plan, names
        # the endpoint as not verified (a check run before the endpoint exists passes a stand-in).
        if not re.fullmatch(r"[\w.-]+", self.params["vpc_endpoint_id"]):
            problems["vpc_endpoint_id"] = (
                f"{self.params['vpc_endpoint_id']!r} is not an endpoint ID (vpce-...)"
            )
        try:
            document = _parsed(self.params["policy"])
        except ValueError as error:
            problems["policy"] = f"not JSON: {error}"
        else:
            if not isinstance(document, dict) or "Statement" not in document:
                problems["policy"] = "must be a policy document, an object with a Statement"
        return problems

    def describe(self):
        endpoints = self.client.describe_vpc_endpoints(
            aws_retry=True, VpcEndpointIds=[self.params["vpc_endpoint_id"]]
        )["VpcEndpoints"]
        live = [e for e in endpoints if e.get("State", "").lower() not in ("deleted", "deleting")]
        return live[0] if live else None

    def view(self, described):
        return {
            "vpc_endpoint_id": described["VpcEndpointId"],
            "policy": _parsed(described.get("PolicyDocument") or "{}"),
        }

    def plan(self, current):
        if current is None:
            self.unverified.append(
                f"vpc_endpoint_id: the endpoint {self.params['vpc_endpoint_id']} does not exist (yet): "
                "amazon.aws.ec2_vpc_endpoint creates it"
            )
        return {"vpc_endpoint_id": self.params["vpc_endpoint_id"], "policy": _parsed(self.params["policy"])}

    def create(self, planned):
        raise ResourceProblem("the endpoint does not exist: create it first (amazon.aws.ec2_vpc_endpoint)")

    def update(self, current, planned, changes):
        self.client.modify_vpc_endpoint(
            aws_retry=True,
            VpcEndpointId=self.params["vpc_endpoint_id"],
            PolicyDocument=json.dumps(planned["policy"]),
        )

    def outputs(self, view):
        return {"vpc_endpoint_id": self.params["vpc_endpoint_id"]}


def main():
    run(EndpointPolicy)


if __name__ == "__main__":
    main()
