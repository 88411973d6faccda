#!/usr/bin/python
# Copyright: GiftCrypto platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: elb_load_balancer_attributes
short_description: Set attributes of an Elastic Load Balancing v2 load balancer
version_added: 0.1.0
description:
  - Sets the listed attributes of an application or network load balancer (for example
    C(access_logs.s3.enabled), C(routing.http.drop_invalid_header_fields.enabled),
    C(deletion_protection.enabled)) with one C(DescribeLoadBalancerAttributes) and, only when one
    differs, one C(ModifyLoadBalancerAttributes). Attributes not listed are left as they are.
  - Fills a gap, C(amazon.aws.elb_application_lb) fails with a C(KeyError) (for example
    C('access_logs_s3_enabled')) when the answer lacks an attribute it compares, as the local
    endpoint's answer does for access logs, idle timeout and header handling; an attribute missing
    from the answer is treated here as one to set.
author:
  - GiftCrypto platform team
options:
  load_balancer_arn:
    description: ARN of the load balancer.
    type: str
    required: true
  attributes:
    description:
      - Attribute keys and their values; booleans and numbers are written the way the API spells
        them (C(true), C(60)).
    type: dict
    required: true
notes:
  - Supports check mode, which reports what would be changed without calling a write API.
  - Supports diff (the listed attributes before and after).
  - Lives in the collection's C(aws) action group so that C(module_defaults) for
    C(group/amazon.aws.aws) give it region, endpoint and credentials.
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: Access logs, strict header handling and deletion protection
  giftcrypto.platform.elb_load_balancer_attributes:
    load_balancer_arn: "{{ alb.load_balancer_arn }}"
    attributes:
      access_logs.s3.enabled: true
      access_logs.s3.bucket: giftcrypto-production-logs-123456789012
      access_logs.s3.prefix: alb
      routing.http.drop_invalid_header_fields.enabled: true
      deletion_protection.enabled: true
      idle_timeout.timeout_seconds: 60
"""

RETURN = r"""
attributes:
  description: The listed attributes after the run, as the API spells their values.
  returned: always
  type: dict
  sample: {"access_logs.s3.enabled": "true", "idle_timeout.timeout_seconds": "60"}
"""

import re

try:  # noqa: SIM105 -- the usual optional-import guard of Ansible modules
    import botocore
except ImportError:
    pass  # handled by AnsibleAWSModule

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry

_ARN = (
    r"^arn:aws[a-z-]*:elasticloadbalancing:[a-z0-9-]+:[0-9]{12}:"
    r"loadbalancer/(app|net|gwy)/[A-Za-z0-9-]{1,32}/[0-9a-f]+$"
)
_KEY = r"^[a-z0-9_]+(\.[a-z0-9_]+)+$"


def _spelled(value):
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def main():
    argument_spec = dict(
        load_balancer_arn=dict(type="str", required=True),
        attributes=dict(type="dict", required=True),
    )
    module = AnsibleAWSModule(argument_spec=argument_spec, supports_check_mode=True)
    arn = module.params["load_balancer_arn"]
    if not re.match(_ARN, arn):
        module.fail_json(msg=f"load_balancer_arn={arn!r}: not the ARN of a load balancer")
    wanted = {}
    for key, value in module.params["attributes"].items():
        if not isinstance(key, str) or not re.match(_KEY, key) or len(key) > 256:
            module.fail_json(
                msg=f"attributes: {key!r} is not an attribute key (for example deletion_protection.enabled)"
            )
        if value is None or isinstance(value, (dict, list)) or len(_spelled(value)) > 1024:
            module.fail_json(msg=f"attributes: the value of {key} must be a string, a number or a boolean")
        wanted[key] = _spelled(value)
    if not wanted:
        module.fail_json(msg="attributes: list at least one attribute")
    client = module.client("elbv2", retry_decorator=AWSRetry.jittered_backoff(retries=10))

    try:
        answer = client.describe_load_balancer_attributes(aws_retry=True, LoadBalancerArn=arn)
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
        module.fail_json_aws(e, msg=f"Could not read the attributes of {arn}")
    have = {item["Key"]: item["Value"] for item in answer.get("Attributes") or []}
    before = {key: have.get(key) for key in wanted}
    changes = {key: value for key, value in wanted.items() if have.get(key) != value}
    diff = {"before": before, "after": wanted}
    if changes and not module.check_mode:
        try:
            client.modify_load_balancer_attributes(
                aws_retry=True,
                LoadBalancerArn=arn,
                Attributes=[{"Key": key, "Value": value} for key, value in sorted(changes.items())],
            )
        except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
            module.fail_json_aws(e, msg=f"Could not set the attributes {sorted(changes)} of {arn}")
    module.exit_json(changed=bool(changes), attributes=wanted, diff=diff)


if __name__ == "__main__":
    main()
