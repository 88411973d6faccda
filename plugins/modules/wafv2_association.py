#!/usr/bin/python
# Copyright: GiftCrypto platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: wafv2_association
short_description: Associate a regional WAFv2 web ACL with resources and set where it logs
version_added: 0.1.0
description:
  - Makes O(web_acl_arn) the web ACL of every resource of O(resource_arns) (application load
    balancers, API Gateway stages, ...), reading each resource's current web ACL with
    C(GetWebACLForResource) and calling C(AssociateWebACL) only where it differs.
  - Optionally sets the web ACL's logging configuration (O(log_destination_arns), for example a
    CloudWatch Logs group named C(aws-waf-logs-*)) with C(GetLoggingConfiguration) and
    C(PutLoggingConfiguration) / C(DeleteLoggingConfiguration).
  - Fills a gap, C(community.aws.wafv2_resources) lists the ACL's resources with
    C(ListResourcesForWebACL) (not implemented by the local endpoint, and an extra call per run)
    and community.aws has no module for a web ACL's logging configuration.
  - Resources are compared one by one from their side, so a resource that another ACL protects is
    moved to this one; with O(state=absent) the listed resources that use this ACL are
    disassociated and its logging configuration is deleted.
author:
  - GiftCrypto platform team
options:
  web_acl_arn:
    description: ARN of the regional web ACL.
    type: str
    required: true
  resource_arns:
    description: ARNs of the resources the web ACL protects.
    type: list
    elements: str
    default: []
  log_destination_arns:
    description:
      - Where the web ACL logs (one destination; a log group's ARN must name a group called
        C(aws-waf-logs-*), as WAF requires).
      - Unset leaves the logging configuration as it is; an empty list turns logging off.
    type: list
    elements: str
  state:
    description: Whether the associations (and the logging configuration) exist.
    type: str
    choices: [present, absent]
    default: present
notes:
  - Supports check mode, which reports what would be associated or logged without calling a write API.
  - Supports diff (each resource's web ACL and the logging destinations before and after).
  - Lives in the collection's C(aws) action group so that C(module_defaults) for
    C(group/amazon.aws.aws) give it region, endpoint and credentials.
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: Protect the load balancer with the web ACL and log to CloudWatch Logs
  giftcrypto.platform.wafv2_association:
    web_acl_arn: "{{ acl.arn }}"
    resource_arns: ["{{ alb.load_balancer_arn }}"]
    log_destination_arns:
      - arn:aws:logs:us-east-1:123456789012:log-group:aws-waf-logs-giftcrypto-production

- name: Take the web ACL off the load balancer and stop its logging
  giftcrypto.platform.wafv2_association:
    web_acl_arn: "{{ acl.arn }}"
    resource_arns: ["{{ alb.load_balancer_arn }}"]
    state: absent
"""

RETURN = r"""
associations:
  description: Resource ARN to the ARN of the web ACL that protects it ("" for none), after the run.
  returned: always
  type: dict
  sample:
    "arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/app/web/50dc6c495c0c9188": >-
      arn:aws:wafv2:us-east-1:123456789012:regional/webacl/web/a1b2c3d4-5678-90ab-cdef-EXAMPLE11111
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


def _current_acl(client, resource_arn):
    try:
        answer = client.get_web_acl_for_resource(aws_retry=True, ResourceArn=resource_arn)
    except is_boto3_error_code("WAFNonexistentItemException"):
        return ""
    return (answer.get("WebACL") or {}).get("ARN", "")


def _current_logging(client, web_acl_arn):
    try:
        answer = client.get_logging_configuration(aws_retry=True, ResourceArn=web_acl_arn)
    except is_boto3_error_code("WAFNonexistentItemException"):
        return []
    return list((answer.get("LoggingConfiguration") or {}).get("LogDestinationConfigs") or [])


def main():
    argument_spec = dict(
        web_acl_arn=dict(type="str", required=True),
        resource_arns=dict(type="list", elements="str", default=[]),
        log_destination_arns=dict(type="list", elements="str", no_log=False),
        state=dict(type="str", default="present", choices=["present", "absent"]),
    )
    module = AnsibleAWSModule(argument_spec=argument_spec, supports_check_mode=True)
    params = module.params
    bad = [
        f"{name}={value!r}"
        for name, values in (
            ("web_acl_arn", [params["web_acl_arn"]]),
            ("resource_arns", params["resource_arns"]),
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
    resources = sorted(set(params["resource_arns"]))
    client = module.client("wafv2", retry_decorator=AWSRetry.jittered_backoff(retries=10))

    try:
        before = {arn: _current_acl(client, arn) for arn in resources}
        logging_before = _current_logging(client, web_acl_arn)
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
        module.fail_json_aws(e, msg=f"Could not read the associations of {web_acl_arn}")

    if params["state"] == "present":
        after = {arn: web_acl_arn for arn in resources}
        wanted_logging = (
            logging_before if params["log_destination_arns"] is None else params["log_destination_arns"]
        )
    else:
        after = {arn: ("" if acl == web_acl_arn else acl) for arn, acl in before.items()}
        wanted_logging = []
    to_associate = [arn for arn in resources if after[arn] == web_acl_arn and before[arn] != web_acl_arn]
    to_disassociate = [arn for arn in resources if before[arn] == web_acl_arn and after[arn] == ""]
    logging_change = sorted(wanted_logging) != sorted(logging_before)
    changed = bool(to_associate or to_disassociate or logging_change)
    diff = {
        "before": {"associations": before, "log_destination_arns": logging_before},
        "after": {"associations": after, "log_destination_arns": list(wanted_logging)},
    }

    if changed and not module.check_mode:
        try:
            for arn in to_associate:
                client.associate_web_acl(aws_retry=True, WebACLArn=web_acl_arn, ResourceArn=arn)
            for arn in to_disassociate:
                client.disassociate_web_acl(aws_retry=True, ResourceArn=arn)
            if logging_change and wanted_logging:
                client.put_logging_configuration(
                    aws_retry=True,
                    LoggingConfiguration={
                        "ResourceArn": web_acl_arn,
                        "LogDestinationConfigs": list(wanted_logging),
                    },
                )
            elif logging_change:
                client.delete_logging_configuration(aws_retry=True, ResourceArn=web_acl_arn)
        except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
            module.fail_json_aws(e, msg=f"Could not associate {web_acl_arn} or set its logging")

    module.exit_json(
        changed=changed,
        associations=after,
        log_destination_arns=list(wanted_logging),
        diff=diff,
    )


if __name__ == "__main__":
    main()
