#!/usr/bin/python
# Copyright: GiftCrypto platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: wafv2_logging_configuration
short_description: Set where a WAFv2 web ACL logs its requests
version_added: 0.1.0
description:
  - Sets the logging configuration of the web ACL O(web_acl_arn) (O(log_destination_arns), for
    example a CloudWatch Logs group named C(aws-waf-logs-*)) with C(GetLoggingConfiguration) and
    C(PutLoggingConfiguration) / C(DeleteLoggingConfiguration).
  - Fills a gap, neither amazon.aws nor community.aws has a module for a web ACL's logging
    configuration (C(community.aws.wafv2_resources) associates a web ACL with resources).
  - With O(state=absent) the web ACL's logging configuration is deleted.
author:
  - GiftCrypto platform team
options:
  web_acl_arn:
    description: ARN of the web ACL.
    type: str
    required: true
  log_destination_arns:
    description:
      - Where the web ACL logs (one destination; a log group's ARN must name a group called
        C(aws-waf-logs-*), as WAF requires).
      - Unset leaves the logging configuration as it is; an empty list turns logging off.
    type: list
    elements: str
  state:
    description: Whether the logging configuration exists.
    type: str
    choices: [present, absent]
    default: present
notes:
  - Supports check mode, which reports what would be logged without calling a write API.
  - Supports diff (the logging destinations before and after).
  - Lives in the collection's C(aws) action group so that C(module_defaults) for
    C(group/amazon.aws.aws) give it region, endpoint and credentials.
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: Log the web ACL's requests to CloudWatch Logs
  giftcrypto.platform.wafv2_logging_configuration:
    web_acl_arn: "{{ acl.arn }}"
    log_destination_arns:
      - arn:aws:logs:us-east-1:123456789012:log-group:aws-waf-logs-giftcrypto-production

- name: Stop the web ACL's logging
  giftcrypto.platform.wafv2_logging_configuration:
    web_acl_arn: "{{ acl.arn }}"
    state: absent
"""

RETURN = r"""
log_destination_arns:
  description: The web ACL's logging destinations after the run (empty for no logging).
  returned: always
  type: list
  elements: str
  sample: ["arn:aws:logs:us-east-1:123456789012:log-group:aws-waf-logs-web"]
"""

import re

try:  # noqa: SIM105 -- the usual optional-import guard of Ansible modules
    import botocore
except ImportError:
    pass  # handled by AnsibleAWSModule

from ansible_collections.amazon.aws.plugins.module_utils.botocore import is_boto3_error_code
from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry

_ARN = r"^arn:aws[a-z-]*:[a-z0-9-]+:[a-z0-9-]*:[0-9]{0,12}:\S+$"


def _current_logging(client, web_acl_arn):
    try:
        answer = client.get_logging_configuration(aws_retry=True, ResourceArn=web_acl_arn)
    except is_boto3_error_code("WAFNonexistentItemException"):
        return []
    return list((answer.get("LoggingConfiguration") or {}).get("LogDestinationConfigs") or [])


def main():
    argument_spec = dict(
        web_acl_arn=dict(type="str", required=True),
        log_destination_arns=dict(type="list", elements="str", no_log=False),
        state=dict(type="str", default="present", choices=["present", "absent"]),
    )
    module = AnsibleAWSModule(argument_spec=argument_spec, supports_check_mode=True)
    params = module.params
    bad = [
        f"{name}={value!r}"
        for name, values in (
            ("web_acl_arn", [params["web_acl_arn"]]),
            ("log_destination_arns", params["log_destination_arns"] or []),
        )
        for value in values
        if not isinstance(value, str) or not re.match(_ARN, value) or len(value) > 2048
    ]
    if bad:
        module.fail_json(msg=f"Not an ARN: {', '.join(bad)}")
    if len(params["log_destination_arns"] or []) > 1:
        module.fail_json(msg="log_destination_arns: WAF logs to one destination, got several")
    web_acl_arn = params["web_acl_arn"]
    client = module.client("wafv2", retry_decorator=AWSRetry.jittered_backoff(retries=10))

    try:
        logging_before = _current_logging(client, web_acl_arn)
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
        module.fail_json_aws(e, msg=f"Could not read the logging configuration of {web_acl_arn}")

    if params["state"] == "present":
        wanted_logging = (
            logging_before if params["log_destination_arns"] is None else params["log_destination_arns"]
        )
    else:
        wanted_logging = []
    changed = sorted(wanted_logging) != sorted(logging_before)
    diff = {
        "before": {"log_destination_arns": logging_before},
        "after": {"log_destination_arns": list(wanted_logging)},
    }

    if changed and not module.check_mode:
        try:
            if wanted_logging:
                client.put_logging_configuration(
                    aws_retry=True,
                    LoggingConfiguration={
                        "ResourceArn": web_acl_arn,
                        "LogDestinationConfigs": list(wanted_logging),
                    },
                )
            else:
                client.delete_logging_configuration(aws_retry=True, ResourceArn=web_acl_arn)
        except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
            module.fail_json_aws(e, msg=f"Could not set the logging configuration of {web_acl_arn}")

    module.exit_json(
        changed=changed,
        log_destination_arns=list(wanted_logging),
        diff=diff,
    )


if __name__ == "__main__":
    main()
