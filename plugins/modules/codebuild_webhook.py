#!/usr/bin/python
# Copyright: GiftCrypto platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: codebuild_webhook
short_description: Manage the webhook of a CodeBuild project (for example a GitHub Actions runner project)
version_added: 0.2.0
description:
  - Creates, updates or deletes the webhook that starts builds of an AWS CodeBuild project on
    events of its source repository, with its filter groups. A project whose webhook filters on
    C(WORKFLOW_JOB_QUEUED) is an AWS CodeBuild-hosted GitHub Actions runner, each queued job whose
    C(runs-on) label names the project runs as a build of it.
  - Fills a gap, community.aws.codebuild_project manages the project but not its webhook (the
    C(CreateWebhook), C(UpdateWebhook) and C(DeleteWebhook) APIs), and no other module does.
author:
  - GiftCrypto platform team (@giftcrypto)
options:
  project_name:
    description:
      - Name of the CodeBuild project (it must exist, with a source that supports webhooks), a letter
        or digit then 1 to 254 letters, digits, hyphens or underscores.
    type: str
    required: true
  filter_groups:
    description:
      - The filter groups, as the API takes them - a list of groups, each a list of filters
        (C(type), C(pattern), optional C(exclude_matched_pattern)); a build starts when every filter
        of one group matches.
    type: list
    elements: list
    default: [[{type: EVENT, pattern: WORKFLOW_JOB_QUEUED}]]
  build_type:
    description: What a build started by the webhook is.
    type: str
    choices: [BUILD, BUILD_BATCH, RUNNER_BUILDKITE_BUILD]
    default: BUILD
notes:
  - The webhook is read from C(BatchGetProjects); its secret, when the source provider gives one,
    is never returned.
  - With O(state=absent), a project that does not exist has no webhook either (nothing to do).
extends_documentation_fragment: [giftcrypto.platform.aws_resource, giftcrypto.platform.aws_resource.state,
  amazon.aws.common.modules, amazon.aws.region.modules, amazon.aws.boto3]
"""

EXAMPLES = r"""
- name: Make the project a GitHub Actions runner (builds start on queued workflow jobs)
  giftcrypto.platform.codebuild_webhook:
    project_name: giftcrypto-staging-ci-runner

- name: Remove the webhook
  giftcrypto.platform.codebuild_webhook:
    project_name: giftcrypto-staging-ci-runner
    state: absent
"""

RETURN = r"""
planned:
  description:
    - C(create), C(update), C(delete) or C(none), what this run did to the project's webhook (or, in
      check mode, what a real run would do).
  returned: always
  type: str
  sample: create
changes:
  description:
    - Which of C(build_type) and C(filter_groups) a run finds different from the project's webhook;
      for a webhook still to be made, every key of RV(webhook).
  returned: always
  type: list
  elements: str
  sample: [filter_groups]
unverified:
  description:
    - Filled only in check mode before the project exists (community.aws.codebuild_project may
      create it earlier in the same play), naming O(project_name).
  returned: always
  type: list
  elements: str
  sample: []
webhook:
  description:
    - The project's webhook after the run, as the module compares it (in check mode, as it would be);
      C({}) when the project has none.
  returned: always
  type: dict
  sample:
    url: https://api.github.com/repos/giftcrypto/giftcrypto.platform/hooks/1
    build_type: BUILD
    filter_groups: [[{type: EVENT, pattern: WORKFLOW_JOB_QUEUED, exclude_matched_pattern: false}]]
"""

import re
from typing import ClassVar

from ansible_collections.giftcrypto.platform.plugins.module_utils.aws_resource import (
    AWSResource,
    ResourceProblem,
    run,
)

#: CodeBuild's WebhookFilterType and WebhookBuildType (API reference: WebhookFilter, CreateWebhook)
FILTER_TYPES = (
    "EVENT",
    "BASE_REF",
    "HEAD_REF",
    "ACTOR_ACCOUNT_ID",
    "FILE_PATH",
    "COMMIT_MESSAGE",
    "WORKFLOW_NAME",
    "TAG_NAME",
    "RELEASE_NAME",
    "REPOSITORY_NAME",
    "ORGANIZATION_NAME",
)
BUILD_TYPES = ("BUILD", "BUILD_BATCH", "RUNNER_BUILDKITE_BUILD")
FILTER_KEYS = {"type", "pattern", "exclude_matched_pattern"}
PROJECT_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{1,254}")


def _groups(groups):
    """Comparable filter groups: each filter as {type, pattern, exclude_matched_pattern}."""
    return [
        [
            {
                "type": f.get("type"),
                "pattern": f.get("pattern"),
                "exclude_matched_pattern": bool(
                    f.get("excludeMatchedPattern", f.get("exclude_matched_pattern", False))
                ),
            }
            for f in group
        ]
        for group in groups or []
    ]


def _filter_problem(item):
    """What is wrong with one filter of filter_groups, or None."""
    if not isinstance(item, dict) or set(item) - FILTER_KEYS:
        return f"{item!r} is not a filter (type, pattern, exclude_matched_pattern)"
    if item.get("type") not in FILTER_TYPES:
        return f"type {item.get('type')!r} is not one of {', '.join(FILTER_TYPES)}"
    if not isinstance(item.get("pattern"), str) or not item["pattern"]:
        return f"the {item['type']} filter needs a pattern, got {item.get('pattern')!r}"
    return None


class Webhook(AWSResource):
    service = "codebuild"
    resource = "webhook"
    noun = "webhook of the CodeBuild project"
    # DeleteWebhook answers ResourceNotFoundException for a webhook deleted meanwhile.
    not_found = ("ResourceNotFoundException",)
    named_by = "project_name"
    options: ClassVar[dict] = {
        "project_name": {"type": "str", "required": True},
        "filter_groups": {
            "type": "list",
            "elements": "list",
            "default": [[{"type": "EVENT", "pattern": "WORKFLOW_JOB_QUEUED"}]],
        },
        "build_type": {"type": "str", "choices": list(BUILD_TYPES), "default": "BUILD"},
    }

    def __init__(self, module=None):
        super().__init__(module)
        self.project_found = True

    def validate(self):
        problems = {}
        name = self.params["project_name"]
        if not PROJECT_NAME.fullmatch(name):
            problems["project_name"] = (
                f"a letter or digit then 1 to 254 letters, digits, hyphens or underscores, got {name!r}"
            )
        if self.params["state"] == "absent":
            return problems
        groups = self.params["filter_groups"]
        if not groups or any(not isinstance(group, list) or not group for group in groups):
            problems["filter_groups"] = f"a non-empty list of non-empty lists of filters, got {groups!r}"
            return problems
        found = [problem for group in groups for problem in map(_filter_problem, group) if problem]
        if found:
            problems["filter_groups"] = "; ".join(found)
        return problems

    def describe(self):
        name = self.params["project_name"]
        projects = self.client.batch_get_projects(aws_retry=True, names=[name]).get("projects") or []
        self.project_found = bool(projects)
        return (projects[0].get("webhook") or None) if projects else None

    def view(self, described):
        return {
            "url": described.get("url", ""),
            "build_type": described.get("buildType") or "BUILD",
            "filter_groups": _groups(described.get("filterGroups")),
        }

    def plan(self, current):
        if not self.project_found:
            self.unverified.append(
                f"project_name: the project {self.params['project_name']} does not exist (yet): "
                "community.aws.codebuild_project creates it"
            )
        return {
            "url": (current or {}).get("url", ""),
            "build_type": self.params["build_type"],
            "filter_groups": _groups(self.params["filter_groups"]),
        }

    def _request(self, planned):
        return {
            "projectName": self.params["project_name"],
            "buildType": planned["build_type"],
            "filterGroups": [
                [
                    {
                        "type": f["type"],
                        "pattern": f["pattern"],
                        "excludeMatchedPattern": f["exclude_matched_pattern"],
                    }
                    for f in group
                ]
                for group in planned["filter_groups"]
            ],
        }

    def create(self, planned):
        if not self.project_found:
            raise ResourceProblem("no such project: create it first (community.aws.codebuild_project)")
        self.client.create_webhook(aws_retry=True, **self._request(planned))

    def update(self, current, planned, changes):
        self.client.update_webhook(aws_retry=True, **self._request(planned))

    def delete(self, current):
        self.client.delete_webhook(aws_retry=True, projectName=self.params["project_name"])


def main():
    run(Webhook)


if __name__ == "__main__":
    main()
