"""CloudFront: a distribution's cache behaviors as GetDistribution / GetDistributionConfig give them."""

from __future__ import annotations

from typing import Any

from . import Fix, extend_backend

CACHE_BEHAVIOR = "https://docs.aws.amazon.com/cloudfront/latest/APIReference/API_DefaultCacheBehavior.html"


def _as_aws_answers(behavior: Any) -> None:
    """A cache behavior with what AWS leaves out when it was not set.

    AWS answers an empty ``TrustedSigners`` / ``TrustedKeyGroups`` as ``{Enabled: false,
    Quantity: 0}`` without ``Items``, and gives ``CachePolicyId`` / ``RealtimeLogConfigArn`` only
    when the behavior has them (both are optional members of the type); moto answered
    ``Items: []`` and empty strings.
    """
    for wrapper in (behavior.trusted_signers, behavior.trusted_key_groups):
        if not wrapper.items:
            wrapper.items = None
    if not behavior.cache_policy_id:
        behavior.cache_policy_id = None
    if not behavior.realtime_log_config_arn:
        behavior.realtime_log_config_arn = None


def _distribution_as_aws_answers(distribution: Any) -> None:
    config = distribution.distribution_config
    behaviors = [config.DefaultCacheBehavior, *(config.CacheBehaviors.get("Items") or [])]
    for behavior in behaviors:
        _as_aws_answers(behavior)


class CacheBehaviorsAsAWS:
    """CloudFront backend whose distributions answer their cache behaviors as AWS does."""

    def create_distribution_with_tags(self, distribution_config, tags):
        answer = super().create_distribution_with_tags(distribution_config, tags)
        _distribution_as_aws_answers(answer[0])
        return answer

    def update_distribution(self, dist_config, _id, if_match):
        answer = super().update_distribution(dist_config, _id, if_match)
        _distribution_as_aws_answers(answer[0])
        return answer


def _apply_cache_behaviors() -> None:
    extend_backend("moto.cloudfront.models", "cloudfront_backends", CacheBehaviorsAsAWS)


FIXES = [
    Fix(
        service="cloudfront",
        name="cache-behavior-unset-members",
        summary=(
            "a cache behavior's empty TrustedSigners/TrustedKeyGroups have no Items, and CachePolicyId/"
            "RealtimeLogConfigArn are left out when not set (moto: Items [] and empty strings, so "
            "community.aws.cloudfront_distribution saw a change on every run)"
        ),
        reference=CACHE_BEHAVIOR,
        upstream="not in moto 5.2.6 (cloudfront/models.py DefaultCacheBehaviour sets the empty values)",
        apply=_apply_cache_behaviors,
    ),
]
