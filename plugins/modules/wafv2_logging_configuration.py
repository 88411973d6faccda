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
  - GiftCrypto platform team (@giftcrypto)
options:
  web_acl_arn:
    description: ARN of the web ACL.
    type: str
    required: true
  log_destination_arns:
    description:
      - Where the web ACL logs (one destination; a log group's ARN must name a group called
        C(aws-waf-logs-*), as WAF requires).
      - Unset leaves the logging configuration as it is; an empty list turns logging off (as
        O(state=absent) does).
    type: list
    elements: str
notes:
  - The logging configuration has no tags of its own (the web ACL's are C(community.aws.wafv2_web_acl)'s).
extends_documentation_fragment: [giftcrypto.platform.aws_resource, giftcrypto.platform.aws_resource.state,
  amazon.aws.common.modules, amazon.aws.region.modules, amazon.aws.boto3]
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
planned:
  description: C(create) when the web ACL starts logging, C(update) when its destination changes,
    C(delete) when it stops, C(none) otherwise.
  returned: always
  type: str
  sample: create
changes:
  description: C(log_destination_arns) when the destinations differ (with C(web_acl_arn) when logging starts).
  returned: always
  type: list
  elements: str
  sample: [log_destination_arns]
unverified:
  description: Always empty (nothing this module plans depends on another resource's existence).
  returned: always
  type: list
  elements: str
  sample: []
logging_configuration:
  description: The web ACL's logging configuration after the run (planned, in check mode; {} for none).
  returned: always
  type: dict
  sample:
    web_acl_arn: arn:aws:wafv2:us-east-1:123456789012:regional/webacl/web/1a2b
    log_destination_arns: ["arn:aws:logs:us-east-1:123456789012:log-group:aws-waf-logs-web"]
log_destination_arns:
  description: The web ACL's logging destinations after the run (empty for no logging).
  returned: always
  type: list
  elements: str
  sample: ["arn:aws:logs:us-east-1:123456789012:log-group:aws-waf-logs-web"]
"""

import re
from typing import ClassVar

from ansible_collections.giftcrypto.platform.plugins.module_utils.aws_resource import AWSResource, refuse, run

_ARN = r"^arn:aws[a-z-]*:[a-z0-9-]+:[a-z0-9-]*:[0-9]{0,12}:\S+$"


class LoggingConfiguration(AWSResource):
    service = "wafv2"
    resource = "logging_configuration"
    noun = "logging configuration of the web ACL"
    named_by = "web_acl_arn"
    not_found = ("WAFNonexistentItemException",)
    options: ClassVar[dict] = {
        "web_acl_arn": {"type": "str", "required": True},
        "log_destination_arns": {"type": "list", "elements": "str", "no_log": False},
    }

    def validate(self):
        problems = {}
        for option, values in (
            ("web_acl_arn", [self.params["web_acl_arn"]]),
            ("log_destination_arns", self.params["log_destination_arns"] or []),
        ):
            bad = [v for v in values if not isinstance(v, str) or not re.match(_ARN, v) or len(v) > 2048]
            if bad:
                problems[option] = f"not an ARN: {', '.join(repr(v) for v in bad)}"
        if len(self.params["log_destination_arns"] or []) > 1:
            problems.setdefault("log_destination_arns", "WAF logs to one destination, got several")
        return problems

    def run(self):
        destinations = self.params["log_destination_arns"]
        if destinations is None and self.params["state"] == "present":
            # Destinations unset: the logging configuration is left as it is, only read.
            refuse(self.module, self.validate(), "any change")
            before = self._read("Read", None)
            self._exit("none", before, before, [])
        if destinations == []:
            # An empty list of destinations is no logging: the same as state=absent.
            self.params["state"] = "absent"
        super().run()

    def describe(self):
        return self.client.get_logging_configuration(aws_retry=True, ResourceArn=self.params["web_acl_arn"])

    def view(self, described):
        destinations = (described.get("LoggingConfiguration") or {}).get("LogDestinationConfigs") or []
        if not destinations:
            return {}
        return {"web_acl_arn": self.params["web_acl_arn"], "log_destination_arns": sorted(destinations)}

    def plan(self, current):
        return {
            "web_acl_arn": self.params["web_acl_arn"],
            "log_destination_arns": sorted(self.params["log_destination_arns"]),
        }

    def create(self, planned):
        self.update({}, planned, ["log_destination_arns"])

    def update(self, current, planned, changes):
        self.client.put_logging_configuration(
            aws_retry=True,
            LoggingConfiguration={
                "ResourceArn": self.params["web_acl_arn"],
                "LogDestinationConfigs": planned["log_destination_arns"],
            },
        )

    def delete(self, current):
        self.client.delete_logging_configuration(aws_retry=True, ResourceArn=self.params["web_acl_arn"])

    def outputs(self, view):
        return {"log_destination_arns": list(view.get("log_destination_arns") or [])}


def main():
    run(LoggingConfiguration)


if __name__ == "__main__":
    main()
