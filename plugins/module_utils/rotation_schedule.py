# Copyright: GiftCrypto platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""A secret's rotation schedule as DescribeSecret answers it, read the same way by
giftcrypto.platform.secretsmanager_rotation_schedule (which sets it) and
secretsmanager_rotation_schedule_info (which reads it for the stores of the generated secrets)."""

from __future__ import annotations


def schedule_view(described):
    """The schedule's fields of a DescribeSecret answer (None or {} for a missing secret): the
    function and rules only while rotation is on, as AWS keeps them after CancelRotateSecret."""
    described = described or {}
    enabled = bool(described.get("RotationEnabled"))
    return {
        "arn": described.get("ARN", ""),
        "rotation_enabled": enabled,
        "rotation_lambda_arn": described.get("RotationLambdaARN", "") if enabled else "",
        "rotation_rules": dict(described.get("RotationRules") or {}) if enabled else {},
    }


def kept(described):
    """What community.aws.secretsmanager_secret must be given to leave a secret's schedule alone
    (its rotation_match: RotationEnabled, RotationLambdaARN and RotationRules equal to
    {"AutomaticallyAfterDays": rotation_interval}), or None when no argument can."""
    view = schedule_view(described)
    if not view["rotation_enabled"]:
        return {"rotation_lambda": None, "rotation_interval": None}
    rules = view["rotation_rules"]
    days = rules.get("AutomaticallyAfterDays")
    if (
        not view["rotation_lambda_arn"]
        or set(rules) != {"AutomaticallyAfterDays"}
        or not isinstance(days, int)
    ):
        return None
    return {"rotation_lambda": view["rotation_lambda_arn"], "rotation_interval": days}
