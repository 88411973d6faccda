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
  - GiftCrypto platform team
options:
  project_name:
    description: Name of the CodeBuild project (it must exist, with a source that supports webhooks).
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
    description: C(BUILD) or C(BUILD_BATCH).
    type: str
    choices: [BUILD, BUILD_BATCH]
    default: BUILD
  state:
    description: Whether the webhook exists.
    type: str
    choices: [present, absent]
    default: present
notes:
  - Supports check mode, which reports what would be created or changed without calling a write API.
  - Supports diff (the webhook's filter groups and build type before and after).
  - The webhook is read from C(BatchGetProjects); its secret, when the source provider gives one,
    is never returned.
  - Lives in the collection's C(aws) action group so that C(module_defaults) for
    C(group/amazon.aws.aws) give it region, endpoint and credentials.
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
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
webhook:
  description: The webhook as compared by the module; empty when absent.
  returned: always
  type: dict
  sample:
    url: https://api.github.com/repos/giftcrypto/giftcrypto.platform/hooks/1
    build_type: BUILD
    filter_groups: [[{type: EVENT, pattern: WORKFLOW_JOB_QUEUED, exclude_matched_pattern: false}]]
changes:
  description: What was (or, in check mode, would be) done.
  returned: always
  type: list
  elements: str
  sample: ["create the webhook"]
"""

try:  # noqa: SIM105 -- the usual optional-import guard of Ansible modules
    import botocore
except ImportError:
    pass  # handled by AnsibleAWSModule

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry

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


def _api_groups(groups):
    return [
        [
            {
                "type": f["type"],
                "pattern": f["pattern"],
                "excludeMatchedPattern": f["exclude_matched_pattern"],
            }
            for f in group
        ]
        for group in groups
    ]


def describe(client, module, name):
    try:
        projects = client.batch_get_projects(aws_retry=True, names=[name]).get("projects") or []
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
        module.fail_json_aws(e, msg=f"Could not read the CodeBuild project {name}")
    if not projects:
        module.fail_json(msg=f"project_name={name}: no such CodeBuild project (create it first)")
    webhook = projects[0].get("webhook")
    if not webhook:
        return {}
    return {
        "url": webhook.get("url", ""),
        "build_type": webhook.get("buildType", "BUILD"),
        "filter_groups": _groups(webhook.get("filterGroups")),
    }


def validate(module):
    groups = module.params["filter_groups"]
    if not groups or any(not isinstance(group, list) or not group for group in groups):
        module.fail_json(msg="filter_groups: a non-empty list of non-empty lists of filters")
    for group in groups:
        for item in group:
            if not isinstance(item, dict) or set(item) - {"type", "pattern", "exclude_matched_pattern"}:
                module.fail_json(
                    msg=f"filter_groups: {item!r} is not a filter (type, pattern, exclude_matched_pattern)"
                )
            if item.get("type") not in FILTER_TYPES:
                module.fail_json(
                    msg=f"filter_groups: type {item.get('type')!r} is not one of {', '.join(FILTER_TYPES)}"
                )
            if not isinstance(item.get("pattern"), str) or not item["pattern"]:
                module.fail_json(msg=f"filter_groups: the {item['type']} filter needs a pattern")


def main():
    argument_spec = dict(
        project_name=dict(type="str", required=True),
        filter_groups=dict(
            type="list", elements="list", default=[[{"type": "EVENT", "pattern": "WORKFLOW_JOB_QUEUED"}]]
        ),
        build_type=dict(type="str", choices=["BUILD", "BUILD_BATCH"], default="BUILD"),
        state=dict(type="str", choices=["present", "absent"], default="present"),
    )
    module = AnsibleAWSModule(argument_spec=argument_spec, supports_check_mode=True)
    name = module.params["project_name"]
    if module.params["state"] == "present":
        validate(module)
    client = module.client("codebuild", retry_decorator=AWSRetry.jittered_backoff(retries=10, delay=2))
    current = describe(client, module, name)

    if module.params["state"] == "absent":
        changes = ["delete the webhook"] if current else []
        if changes and not module.check_mode:
            try:
                client.delete_webhook(aws_retry=True, projectName=name)
            except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
                module.fail_json_aws(e, msg=f"Could not delete the webhook of {name}")
        module.exit_json(
            changed=bool(changes), changes=changes, webhook={}, diff={"before": current, "after": {}}
        )

    groups = _groups(module.params["filter_groups"])
    wanted = {
        "url": current.get("url", ""),
        "build_type": module.params["build_type"],
        "filter_groups": groups,
    }
    changes = []
    if not current:
        changes.append("create the webhook")
    elif current["filter_groups"] != groups or current["build_type"] != wanted["build_type"]:
        changes.append("update the webhook's filter groups and build type")
    if changes and not module.check_mode:
        arguments = {
            "projectName": name,
            "filterGroups": _api_groups(groups),
            "buildType": wanted["build_type"],
        }
        try:
            if current:
                client.update_webhook(aws_retry=True, **arguments)
            else:
                client.create_webhook(aws_retry=True, **arguments)
        except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
            module.fail_json_aws(e, msg=f"Could not {changes[0]} of {name}")
        wanted = describe(client, module, name)
    module.exit_json(
        changed=bool(changes), changes=changes, webhook=wanted, diff={"before": current, "after": wanted}
    )


if __name__ == "__main__":
    main()
