# Copyright: GiftCrypto platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
name: plan_summary
type: aggregate
short_description: Terraform-plan-like summary of a check-mode run, per layer
version_added: 0.1.0
description:
  - Counts, for each play (one play is one layer of the platform), the resources a run would
    create, would change, leaves alone, and could not check, and prints the table and the list of
    resources to create or change when the playbook ends.
  - Made for C(ansible-playbook --check --diff) (C(nox -s plan-<env>)); in a real run it reports
    what was created and changed.
  - What a changed result is comes from the module itself, never from the look of its values.
    The collection's AWS modules return their result contract (C(planned) is C(create),
    C(update), C(delete) or C(none); C(plugins/module_utils/aws_resource.py)). A module that
    returns a diff (with C(--diff), such as C(file), C(copy), C(template) and several amazon.aws modules) is a
    creation when the diff's before is empty or absent, a deletion when its after is, a change
    otherwise. A stock AWS module without either is read through the key of its documented
    return values that holds the resource it found (C(STOCK_FOUND_KEYS)); empty or missing in a
    check-mode result means there was nothing to find, so a creation. Anything else that changed
    counts as a change, listed with a note that the module does not say whether it creates.
  - Bookkeeping tasks (facts, asserts, lookups, C(*_info) and C(*_facts) modules, includes) are not
    resources and are not counted. Results skipped because the module cannot run in check mode are
    counted as "could not check", so the plan never claims "no change" for what it did not look at;
    that includes C(command) and C(shell) tasks, which are not counted when they run (reads) but
    are listed as "could not check" when check mode skips them.
requirements:
  - enable in ansible.cfg or with C(ANSIBLE_CALLBACKS_ENABLED=giftcrypto.platform.plan_summary)
options:
  json_path:
    description: Also write the summary as JSON to this file (for tests and CI annotations).
    type: path
    env:
      - name: GIFTCRYPTO_PLAN_JSON
    ini:
      - section: giftcrypto_plan_summary
        key: json_path
"""

import json

from ansible.plugins.callback import CallbackBase

NOT_RESOURCES = {
    "add_host",
    "assert",
    "async_status",
    "command",
    "debug",
    "fail",
    "gather_facts",
    "group_by",
    "import_role",
    "import_tasks",
    "include_role",
    "include_tasks",
    "include_vars",
    "meta",
    "pause",
    "ping",
    "set_fact",
    "set_stats",
    "setup",
    "shell",
    "stat",
    "uri",
    "validate_argument_spec",
    "wait_for",
}
# Not resources, but they change things when they run: when check mode skips them, the plan lists
# them as "could not check" instead of leaving them out.
SKIPPED_IN_CHECK_MODE_MATTERS = {"command", "shell"}
# Stock AWS modules that return no diff: the key (a dotted path) of their documented return values
# under which they return the resource they found. A check-mode run that finds nothing leaves it
# empty or out (ec2_vpc_route_table returns a stand-in id then, but never the table's routes, which
# every real table has: its local route).
STOCK_FOUND_KEYS = {
    "amazon.aws.backup_plan": "backup_plan_id",
    "amazon.aws.backup_selection": "backup_selection.selection_id",
    "amazon.aws.backup_vault": "vault.backup_vault_arn",
    "amazon.aws.cloudtrail": "trail.name",
    "amazon.aws.cloudwatch_metric_alarm": "alarm_arn",
    "amazon.aws.cloudwatchevent_rule": "rule.arn",
    "amazon.aws.cloudwatchlogs_log_group": "log_group_name",
    "amazon.aws.ec2_eip": "allocation_id",
    "amazon.aws.ec2_security_group": "group_id",
    # (it returns `result`, which its documentation calls `endpoints`)
    "amazon.aws.ec2_vpc_endpoint": "result.vpc_endpoint_id",
    "amazon.aws.ec2_vpc_igw": "gateway_id",
    "amazon.aws.ec2_vpc_nacl": "nacl_id",
    "amazon.aws.ec2_vpc_nat_gateway": "create_time",
    "amazon.aws.ec2_vpc_net": "vpc.id",
    "amazon.aws.ec2_vpc_route_table": "route_table.routes",
    "amazon.aws.ec2_vpc_subnet": "subnet.id",
    "amazon.aws.elb_application_lb": "load_balancer_arn",
    "amazon.aws.iam_group": "iam_group.group.arn",
    "amazon.aws.iam_managed_policy": "policy.arn",
    "amazon.aws.iam_role": "iam_role.arn",
    "amazon.aws.kms_key": "key_arn",
    "amazon.aws.rds_instance": "db_instance_arn",
    "amazon.aws.rds_instance_param_group": "db_parameter_group_arn",
    "amazon.aws.rds_subnet_group": "subnet_group.db_subnet_group_arn",
    "amazon.aws.s3_bucket": "name",
    "community.aws.acm_certificate": "certificate.arn",
    "community.aws.cloudfront_distribution": "arn",
    "community.aws.ecs_ecr": "repository.repositoryArn",
    "community.aws.eks_nodegroup": "nodegroup_arn",
    "community.aws.elasticache_subnet_group": "cache_subnet_group.arn",
    "community.aws.elb_target_group": "target_group_arn",
    "community.aws.secretsmanager_secret": "secret.arn",  # pragma: allowlist secret
    "community.aws.sns_topic": "sns_topic.topic_arn",
    "community.aws.wafv2_web_acl": "arn",
}
CONTRACT = {"create": "create", "update": "change", "delete": "delete"}


def _short_action(action):
    return (action or "").rsplit(".", 1)[-1]


def _is_resource_action(action):
    short = _short_action(action)
    return short not in NOT_RESOURCES and not short.endswith(("_info", "_facts"))


def _skipped_by_check_mode(result):
    reason = str(result.get("msg", "")) + str(result.get("skip_reason", ""))
    return "check mode" in reason.lower()


def _empty(value):
    """Whether a diff side stands for nothing: no content, no keys, or a path that is absent."""
    if value in (None, "", {}, []):
        return True
    return isinstance(value, dict) and value.get("state") == "absent"


def _from_diff(diff):
    """create, delete or change from a module's diff (a dict or a list of them); None without one."""
    sides = [d for d in (diff if isinstance(diff, list) else [diff]) if isinstance(d, dict) and "before" in d]
    if not sides:
        return None
    if all(_empty(d.get("before")) for d in sides):
        return "create"
    if all(_empty(d.get("after")) for d in sides):
        return "delete"
    return "change"


def _found(result, path):
    value = result
    for key in path.split("."):
        if not isinstance(value, dict) or key not in value:
            return False
        value = value[key]
    return value not in (None, "", {}, [])


def classify(action, result):
    """What a changed result did: (create, change or delete, whether the module said which)."""
    planned = result.get("planned")
    if planned in CONTRACT:
        return CONTRACT[planned], True
    from_diff = _from_diff(result.get("diff"))
    if from_diff:
        return from_diff, True
    path = STOCK_FOUND_KEYS.get(action or "")
    if path is not None:
        return ("change" if _found(result, path) else "create"), True
    return "change", False


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "giftcrypto.platform.plan_summary"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self):
        super().__init__()
        self.layers = {}
        self.order = []
        self.layer = "(no play)"
        self.check_mode = False

    def _bucket(self):
        if self.layer not in self.layers:
            self.layers[self.layer] = {"create": [], "change": [], "unchanged": 0, "unchecked": []}
            self.order.append(self.layer)
        return self.layers[self.layer]

    def v2_playbook_on_play_start(self, play):
        self.layer = play.get_name().strip() or "(unnamed play)"
        self.check_mode = bool(getattr(play, "check_mode", False)) or self.check_mode

    def v2_playbook_on_start(self, playbook):
        from ansible import context

        self.check_mode = bool(context.CLIARGS.get("check", False))

    def _record(self, task, result, label=None, skipped=False):
        skipped = skipped or bool(result.get("skipped"))
        if not _is_resource_action(task.action) and not (
            skipped
            and _short_action(task.action) in SKIPPED_IN_CHECK_MODE_MATTERS
            and _skipped_by_check_mode(result)
        ):
            return
        what = (task.name or task.action).strip()
        if label:
            what = f"{what} ({label})"
        bucket = self._bucket()
        if skipped:
            if _skipped_by_check_mode(result):
                bucket["unchecked"].append(what)
            return
        if result.get("failed"):
            return
        if result.get("changed"):
            kind, said = classify(getattr(task, "resolved_action", None) or task.action, result)
            if kind == "delete":
                what = f"{what} (delete)"
                kind = "change"
            elif not said:
                what = f"{what} (create or change: the module does not say)"
            bucket[kind].append(what)
        else:
            bucket["unchanged"] += 1

    @staticmethod
    def _is_loop(result):
        # As the default callback does: some modules (dnf, package...) return `results` outside loops.
        return bool(result._task.loop) and "results" in result._result

    def v2_runner_on_ok(self, result):
        if self._is_loop(result):
            return  # a loop: its items were recorded one by one
        self._record(result._task, result._result)

    def v2_runner_on_skipped(self, result):
        if self._is_loop(result):
            return
        self._record(result._task, result._result, skipped=True)

    def v2_runner_item_on_ok(self, result):
        label = result._result.get("_ansible_item_label", result._result.get("item"))
        self._record(result._task, result._result, label=str(label))

    def v2_runner_item_on_skipped(self, result):
        label = result._result.get("_ansible_item_label", result._result.get("item"))
        self._record(result._task, result._result, label=str(label), skipped=True)

    def summary(self):
        layers = []
        for name in self.order:
            bucket = self.layers[name]
            layers.append(
                {
                    "layer": name,
                    "create": len(bucket["create"]),
                    "change": len(bucket["change"]),
                    "unchanged": bucket["unchanged"],
                    "unchecked": len(bucket["unchecked"]),
                    "to_create": bucket["create"],
                    "to_change": bucket["change"],
                    "not_checked": bucket["unchecked"],
                }
            )
        totals = {
            key: sum(layer[key] for layer in layers) for key in ("create", "change", "unchanged", "unchecked")
        }
        return {"check_mode": self.check_mode, "layers": layers, "totals": totals}

    def v2_playbook_on_stats(self, stats):
        summary = self.summary()
        verb = "would " if summary["check_mode"] else ""
        width = max([len(layer["layer"]) for layer in summary["layers"]] + [5])
        lines = [
            "",
            "PLAN SUMMARY"
            + (" (check mode: nothing was changed)" if summary["check_mode"] else " (applied)"),
            f"{'Layer':<{width}}  {'create':>6}  {'change':>6}  {'unchanged':>9}  {'unchecked':>9}",
        ]
        for layer in summary["layers"]:
            lines.append(
                f"{layer['layer']:<{width}}  {layer['create']:>6}  {layer['change']:>6}  "
                f"{layer['unchanged']:>9}  {layer['unchecked']:>9}"
            )
        totals = summary["totals"]
        for layer in summary["layers"]:
            lines.extend(f"  + {layer['layer']}: {what}" for what in layer["to_create"])
            lines.extend(f"  ~ {layer['layer']}: {what}" for what in layer["to_change"])
            lines.extend(f"  ? {layer['layer']}: {what} (not checked)" for what in layer["not_checked"])
        failed = sum(stats.failures.values()) + sum(stats.dark.values())
        summary["failed_hosts"] = failed
        if failed:
            lines.append(
                f"PLAN INCOMPLETE: {failed} host(s) failed or were unreachable; the figures above cover "
                "only the tasks that ran before the failure."
            )
        elif totals["create"] or totals["change"]:
            lines.append(
                f"Plan: {totals['create']} to create, {totals['change']} to change, "
                f"{totals['unchanged']} unchanged, {totals['unchecked']} could not be checked "
                f"({verb}apply)."
            )
        else:
            lines.append(
                f"No changes: {totals['unchanged']} resources match the inventory"
                + (f", {totals['unchecked']} could not be checked." if totals["unchecked"] else ".")
            )
        self._display.display("\n".join(lines))
        path = self.get_option("json_path")
        if path:
            with open(path, "w", encoding="utf-8") as handle:
                json.dump(summary, handle, indent=2)
