"""AWS Config: rules as PutConfigRule stores them and DescribeConfigRules gives them."""

from __future__ import annotations

from . import Fix, extend_backend

DESCRIBE_CONFIG_RULES = "https://docs.aws.amazon.com/config/latest/APIReference/API_DescribeConfigRules.html"
CONFIG_RULE = "https://docs.aws.amazon.com/config/latest/APIReference/API_ConfigRule.html"

# "By default, the value is Detective evaluation mode only." (ConfigRule.EvaluationModes)
DEFAULT_EVALUATION_MODES = [{"Mode": "DETECTIVE"}]


class ConfigRulesAsAWS:
    """Config backend whose rules have EvaluationModes and whose unknown names always fail.

    - A rule keeps the request's EvaluationModes, or DETECTIVE (moto left the field out, and
      community.aws.config_rule deletes it from the answer: KeyError 'EvaluationModes').
    - DescribeConfigRules of a name that is not a rule fails with NoSuchConfigRuleException also
      when the account has no rule yet (moto answered an empty list then, and the stock module
      failed with 'list index out of range' on the first rule it made).
    """

    def put_config_rule(self, config_rule, tags=None):
        answer = super().put_config_rule(config_rule, tags)
        name = config_rule.get("ConfigRuleName")
        rule = self.config_rules.get(name) if name else None
        if rule is None:
            by_id = {r.config_rule_id: r for r in self.config_rules.values()}
            by_arn = {r.config_rule_arn: r for r in self.config_rules.values()}
            rule = by_id.get(config_rule.get("ConfigRuleId")) or by_arn.get(config_rule.get("ConfigRuleArn"))
        if rule is not None:
            rule.evaluation_modes = config_rule.get("EvaluationModes") or [
                dict(m) for m in DEFAULT_EVALUATION_MODES
            ]
        return answer

    def describe_config_rules(self, config_rule_names, next_token):
        from moto.config.exceptions import NoSuchConfigRuleException

        for name in config_rule_names or []:
            if name not in self.config_rules:
                raise NoSuchConfigRuleException(name)
        return super().describe_config_rules(config_rule_names, next_token)


def _apply() -> None:
    extend_backend("moto.config.models", "config_backends", ConfigRulesAsAWS)


FIXES = [
    Fix(
        service="config",
        name="rule-evaluation-modes-missing-names",
        summary=(
            "a rule has EvaluationModes (DETECTIVE by default); DescribeConfigRules of an unknown name fails "
            "with NoSuchConfigRuleException also before the first rule exists (moto: no EvaluationModes, and "
            "an empty list when no rule exists; community.aws.config_rule failed with 'list index out of "
            "range', then KeyError 'EvaluationModes')"
        ),
        reference=f"{DESCRIBE_CONFIG_RULES}; {CONFIG_RULE}",
        upstream=(
            "not in moto 5.2.6 (config/models.py: ConfigRule has no evaluation modes; "
            "describe_config_rules returns early when no rule exists)"
        ),
        apply=_apply,
    ),
]
