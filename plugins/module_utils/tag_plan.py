# Copyright: GiftCrypto platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""The tag arithmetic our AWS modules share: what to set, what to remove, what the resource ends with.

Keys under the reserved ``aws:`` prefix belong to AWS: they are never set nor removed by a module
and are kept in what a resource ends up with.
"""

from __future__ import annotations

from ansible_collections.amazon.aws.plugins.module_utils.tagging import (
    boto3_tag_list_to_ansible_dict,
    compare_aws_tags,
)


def plan_tags(have: dict | None, wanted: dict | None, purge: bool) -> tuple[dict, dict, list]:
    """Returns ``(tags_after, to_set, to_unset)`` for a resource that has ``have``.

    ``wanted=None`` means tags are not managed: nothing changes and ``have`` is what remains.
    """
    have = dict(have or {})
    if wanted is None:
        return have, {}, []
    to_set, to_unset = compare_aws_tags(have, wanted, purge)
    to_set = {key: value for key, value in to_set.items() if not key.startswith("aws:")}
    to_unset = sorted(key for key in to_unset if not key.startswith("aws:"))
    after = {key: value for key, value in have.items() if key not in to_unset}
    after.update(to_set)
    return after, to_set, to_unset


def settable(tags: dict | None) -> dict:
    """The tags a create request may carry (without the reserved ``aws:`` keys)."""
    return {key: value for key, value in (tags or {}).items() if not key.startswith("aws:")}


def resource_tags(client, arn: str | None) -> dict:
    """The tags of a resource whose service lists them by ``ResourceName`` (RDS, ElastiCache).

    ``client`` is wrapped with ``AWSRetry`` (the call passes ``aws_retry=True``); no ARN, no tags.
    """
    if not arn:
        return {}
    answer = client.list_tags_for_resource(aws_retry=True, ResourceName=arn)
    return boto3_tag_list_to_ansible_dict(answer.get("TagList") or [])
