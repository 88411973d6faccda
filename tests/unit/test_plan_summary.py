"""The plan_summary callback: how it classifies module results, and a real check-mode run of it."""

from __future__ import annotations

import json
import pathlib
import subprocess
import sys
from types import SimpleNamespace

import pytest
from ansible_collections.giftcrypto.platform.plugins.callback.plan_summary import (
    STOCK_FOUND_KEYS,
    CallbackModule,
    _is_resource_action,
    classify,
)

ROOT = pathlib.Path(__file__).resolve().parents[2]
ANSIBLE_PLAYBOOK = pathlib.Path(sys.executable).with_name("ansible-playbook")

# What the modules really return (trimmed), as seen with -vvv.
SUBNET_PLANNED = {  # amazon.aws.ec2_vpc_subnet, check mode, the subnet does not exist yet
    "changed": True,
    "subnet": {},
    "invocation": {"module_args": {"vpc_id": "vpc-0abc1234def567890", "cidr": "10.42.0.0/18"}},
}
SUBNET_RETAGGED = {  # amazon.aws.ec2_vpc_subnet, an existing subnet whose tags change
    "changed": True,
    "subnet": {
        "id": "subnet-0123456789abcdef0",
        "vpc_id": "vpc-0abc1234def567890",
        "cidr_block": "10.42.0.0/18",
        "tags": {"Name": "giftcrypto-local-private-a"},
    },
}
VPC_RETAGGED = {"changed": True, "vpc": {"id": "vpc-0abc1234def567890", "cidr_block": "10.42.0.0/16"}}
ROUTE_TABLE_PLANNED = {  # amazon.aws.ec2_vpc_route_table's stand-in in check mode: no routes
    "changed": True,
    "route_table": {"id": "rtb-xxxxxxxx", "route_table_id": "rtb-xxxxxxxx", "vpc_id": "vpc-xxxxxxxx"},
}
ROUTE_TABLE_CHANGED = {
    "changed": True,
    "route_table": {
        "id": "rtb-0123456789abcdef0",
        "routes": [{"destination_cidr_block": "10.42.0.0/16", "gateway_id": "local"}],
    },
}
FLOW_LOG_PLANNED = {  # giftcrypto.platform.ec2_vpc_flow_log, check mode, nothing yet: its contract
    "changed": True,
    "planned": "create",
    "changes": ["resource_id", "traffic_type"],
    "flow_log": {"resource_id": "vpc-0abc1234def567890"},
    "diff": {"before": {}, "after": {"resource_id": "vpc-0abc1234def567890"}},
}
DETECTOR_DELETED = {"changed": True, "planned": "delete", "changes": ["status"], "detector": {}}
DETECTOR_UPDATED = {
    "changed": True,
    "planned": "update",
    "changes": ["tags"],
    "detector": {"detector_id": "x"},
}
SECRET_CHANGED = {
    "changed": True,
    "secret": {"arn": "arn:aws:secretsmanager:us-east-1:123456789012:secret:giftcrypto/local/x-AbCdEf"},
}
COPY_PLANNED = {  # ansible.builtin.copy in check mode with --diff, a new file
    "changed": True,
    "dest": "/tmp/new/file.txt",
    "diff": [{"before": "", "after": "hello"}],
}
COPY_CHANGED = {"changed": True, "dest": "/tmp/f", "diff": [{"before": "old", "after": "hello"}]}
FILE_PLANNED = {  # ansible.builtin.file in check mode, a directory to create
    "changed": True,
    "diff": {
        "before": {"path": "/tmp/d", "state": "absent"},
        "after": {"path": "/tmp/d", "state": "directory"},
    },
}
FILE_REMOVED = {
    "changed": True,
    "diff": {
        "before": {"path": "/tmp/d", "state": "directory"},
        "after": {"path": "/tmp/d", "state": "absent"},
    },
}


@pytest.mark.parametrize(
    ("action", "result", "expected"),
    [
        ("amazon.aws.ec2_vpc_subnet", SUBNET_PLANNED, ("create", True)),
        ("amazon.aws.ec2_vpc_subnet", SUBNET_RETAGGED, ("change", True)),
        ("amazon.aws.ec2_vpc_net", VPC_RETAGGED, ("change", True)),
        ("amazon.aws.ec2_vpc_route_table", ROUTE_TABLE_PLANNED, ("create", True)),
        ("amazon.aws.ec2_vpc_route_table", ROUTE_TABLE_CHANGED, ("change", True)),
        ("giftcrypto.platform.ec2_vpc_flow_log", FLOW_LOG_PLANNED, ("create", True)),
        ("giftcrypto.platform.guardduty_detector", DETECTOR_DELETED, ("delete", True)),
        ("giftcrypto.platform.guardduty_detector", DETECTOR_UPDATED, ("change", True)),
        ("community.aws.secretsmanager_secret", SECRET_CHANGED, ("change", True)),
        ("community.aws.secretsmanager_secret", {"changed": True}, ("create", True)),
        ("ansible.builtin.copy", COPY_PLANNED, ("create", True)),
        ("ansible.builtin.copy", COPY_CHANGED, ("change", True)),
        ("ansible.builtin.file", FILE_PLANNED, ("create", True)),
        ("ansible.builtin.file", FILE_REMOVED, ("delete", True)),
        # a module that says nothing: counted as a change, and said to be unclassified
        (
            "community.postgresql.postgresql_user",
            {"changed": True, "queries": ["ALTER ROLE x"]},
            ("change", False),
        ),
        # the contract wins over a diff, and over the look of any value
        (
            "giftcrypto.platform.x",
            {"changed": True, "planned": "create", "id": "vpc-0abc1234def567890"},
            ("create", True),
        ),
    ],
)
def test_classify_reads_what_the_module_says(action, result, expected):
    assert classify(action, result) == expected


def test_every_stock_key_names_a_documented_return_value():
    import os

    os.environ.setdefault("ANSIBLE_CONFIG", str(ROOT / "ansible.cfg"))
    completed = subprocess.run(
        [str(ANSIBLE_PLAYBOOK.with_name("ansible-doc")), "--json", *sorted(STOCK_FOUND_KEYS)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    docs = json.loads(completed.stdout)
    # ec2_vpc_endpoint returns `result`, which its documentation calls `endpoints`.
    undocumented = {"amazon.aws.ec2_vpc_endpoint": "result"}
    for module, path in STOCK_FOUND_KEYS.items():
        if undocumented.get(module) == path.split(".")[0]:
            continue
        returned = docs[module].get("return") or {}
        top = path.split(".")[0]
        assert top in returned, f"{module} documents no return value {top} ({sorted(returned)})"


@pytest.mark.parametrize(
    ("action", "resource"),
    [
        ("amazon.aws.ec2_vpc_subnet", True),
        ("amazon.aws.ec2_vpc_net", True),
        ("giftcrypto.platform.ec2_vpc_flow_log", True),
        ("ansible.builtin.copy", True),
        ("copy", True),
        ("ansible.builtin.set_fact", False),
        ("set_fact", False),
        ("ansible.builtin.assert", False),
        ("amazon.aws.ec2_vpc_subnet_info", False),
        ("amazon.aws.ec2_vpc_net_info", False),
        ("ansible.builtin.include_role", False),
        ("ansible.builtin.import_tasks", False),
        ("ansible.builtin.debug", False),
        ("ansible.builtin.command", False),
        ("ansible.builtin.stat", False),
        ("ansible.builtin.gather_facts", False),
        ("ansible.builtin.setup", False),
        ("ansible.builtin.package_facts", False),
        ("ansible.builtin.validate_argument_spec", False),
        ("", True),
        (None, True),
    ],
)
def test_is_resource_action(action, resource):
    assert _is_resource_action(action) is resource


def _runner_result(action, result, name="Task", loop=None):
    task = SimpleNamespace(action=action, name=name, loop=loop)
    return SimpleNamespace(_task=task, _result=result)


@pytest.fixture
def callback():
    plugin = CallbackModule()
    plugin.layer = "Network layer"
    return plugin


def test_records_creations_changes_unchanged_and_unchecked(callback):
    callback.v2_runner_on_ok(_runner_result("amazon.aws.ec2_vpc_subnet", SUBNET_PLANNED, "Subnet a"))
    callback.v2_runner_on_ok(_runner_result("amazon.aws.ec2_vpc_net", VPC_RETAGGED, "VPC"))
    callback.v2_runner_on_ok(_runner_result("amazon.aws.ec2_vpc_igw", {"changed": False}, "IGW"))
    callback.v2_runner_on_ok(_runner_result("ansible.builtin.set_fact", {"changed": False}, "Fact"))
    callback.v2_runner_on_ok(_runner_result("amazon.aws.ec2_vpc_net_info", {"changed": False}, "Info"))
    callback.v2_runner_on_skipped(
        _runner_result(
            "community.aws.s3_lifecycle",
            {
                "skipped": True,
                "msg": "remote module (community.aws.s3_lifecycle) does not support check mode",
            },
            "Lifecycle",
        )
    )
    callback.v2_runner_on_skipped(
        _runner_result(
            "amazon.aws.ec2_vpc_nat_gateway",
            {"skipped": True, "false_condition": "x", "skip_reason": "Conditional result was False"},
            "NAT",
        )
    )
    (layer,) = callback.summary()["layers"]
    assert layer == {
        "layer": "Network layer",
        "create": 1,
        "change": 1,
        "unchanged": 1,
        "unchecked": 1,
        "to_create": ["Subnet a"],
        "to_change": ["VPC"],
        "not_checked": ["Lifecycle"],
    }


def test_failed_results_are_not_counted(callback):
    callback.v2_runner_on_ok(_runner_result("amazon.aws.ec2_vpc_net", {"changed": True, "failed": True}))
    assert callback.summary()["totals"] == {"create": 0, "change": 0, "unchanged": 0, "unchecked": 0}


def test_loop_items_are_recorded_one_by_one_and_the_loop_result_is_not(callback):
    items = [
        {**SUBNET_PLANNED, "item": {"zone": "a"}, "_ansible_item_label": "private-a"},
        {**SUBNET_RETAGGED, "item": {"zone": "b"}, "_ansible_item_label": "private-b"},
    ]
    for item in items:
        callback.v2_runner_item_on_ok(
            _runner_result("amazon.aws.ec2_vpc_subnet", item, "Subnets", loop=[{}, {}])
        )
    callback.v2_runner_on_ok(
        _runner_result(
            "amazon.aws.ec2_vpc_subnet", {"changed": True, "results": items}, "Subnets", loop=[{}, {}]
        )
    )
    (layer,) = callback.summary()["layers"]
    assert layer["to_create"] == ["Subnets (private-a)"]
    assert layer["to_change"] == ["Subnets (private-b)"]


def test_a_module_returning_results_outside_a_loop_is_still_counted(callback):
    # ansible.builtin.dnf/package return a `results` list of their own: that is not a loop.
    callback.v2_runner_on_ok(
        _runner_result("ansible.builtin.dnf", {"changed": True, "results": ["Installed: redis"]}, "Redis")
    )
    # (dnf returns no diff: it does not say whether it installs or upgrades)
    assert callback.summary()["layers"][0]["to_change"] == [
        "Redis (create or change: the module does not say)"
    ]


def test_commands_count_only_when_check_mode_skipped_them(callback):
    callback.v2_runner_on_ok(_runner_result("ansible.builtin.command", {"changed": False, "rc": 0}, "Read"))
    callback.v2_runner_on_skipped(
        _runner_result(
            "ansible.builtin.command",
            {"skipped": True, "msg": "Command would have run if not in check mode"},
            "Start the server",
        )
    )
    callback.v2_runner_on_skipped(
        _runner_result(
            "ansible.builtin.shell", {"skipped": True, "skip_reason": "Conditional result was False"}
        )
    )
    (layer,) = callback.summary()["layers"]
    assert (layer["unchanged"], layer["not_checked"]) == (0, ["Start the server"])


# --- End to end: a real ansible-playbook --check with the callback enabled -------------------------

PLAYBOOK = """\
- name: Storage layer
  hosts: localhost
  gather_facts: true
  gather_subset: [min]
  tasks:
    - name: Write the greeting
      ansible.builtin.copy:
        content: hello
        dest: "{work}/out/greeting.txt"
        mode: "0644"
    - name: Keep the existing directory
      ansible.builtin.file:
        path: "{work}/existing"
        state: directory
    - name: Read something
      ansible.builtin.command: /bin/true
      changed_when: false
      check_mode: false
    - name: Start the server
      ansible.builtin.command: /bin/true
      changed_when: true
    - name: Answer the prompt
      ansible.builtin.expect:
        command: /bin/true
        responses: {{}}
      tags: [needs_pexpect]
    - name: Remember a fact
      ansible.builtin.set_fact:
        greeting_path: "{work}/out/greeting.txt"
    - name: Check the fact
      ansible.builtin.assert:
        that: greeting_path | length > 0
        quiet: true
    - name: Look at the directory
      ansible.builtin.stat:
        path: "{work}/existing"

- name: Service layer
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Write the service files
      ansible.builtin.copy:
        content: "{{{{ item }}}}"
        dest: "{work}/out/{{{{ item }}}}.conf"
        mode: "0644"
      loop: [api, worker]
    - name: Keep the existing directory too
      ansible.builtin.file:
        path: "{work}/existing"
        state: directory
"""


def _run_playbook(work: pathlib.Path, *options: str) -> tuple[str, dict]:
    plan = work / "plan.json"
    plan.unlink(missing_ok=True)
    inventory = work / "hosts.ini"
    inventory.write_text(f"localhost ansible_connection=local ansible_python_interpreter={sys.executable}\n")
    env = {
        "PATH": f"{ANSIBLE_PLAYBOOK.parent}:/usr/bin:/bin",
        "HOME": str(work),
        "LC_ALL": "C.UTF-8",
        "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"),
        "ANSIBLE_CALLBACKS_ENABLED": "giftcrypto.platform.plan_summary",
        "GIFTCRYPTO_PLAN_JSON": str(plan),
        "ANSIBLE_LOCAL_TEMP": str(work / "tmp"),
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_DEPRECATION_WARNINGS": "0",
    }
    completed = subprocess.run(
        [str(ANSIBLE_PLAYBOOK), "-i", str(inventory), str(work / "play.yml"), *options],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    return completed.stdout, json.loads(plan.read_text())


def _workspace(work: pathlib.Path) -> pathlib.Path:
    (work / "existing").mkdir()
    (work / "out").mkdir()
    (work / "play.yml").write_text(PLAYBOOK.format(work=work))
    return work


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    return _workspace(tmp_path_factory.mktemp("plan"))


@pytest.fixture(scope="module")
def check_run(work):
    """One check-mode run shared by the tests that read its plan (each run takes seconds)."""
    return _run_playbook(work, "--check", "--diff")


def _layer(plan, name):
    (layer,) = (layer for layer in plan["layers"] if layer["layer"] == name)
    return layer


@pytest.mark.slow
def test_check_run_splits_the_plan_per_play(check_run, work):
    _, plan = check_run
    assert plan["check_mode"] is True
    assert [layer["layer"] for layer in plan["layers"]] == ["Storage layer", "Service layer"]
    assert list((work / "out").iterdir()) == []  # check mode wrote nothing


@pytest.mark.slow
def test_check_run_storage_layer(check_run):
    storage = _layer(check_run[1], "Storage layer")
    # copy to a path that does not exist: changed and no ID, so a creation.
    assert storage["to_create"] == ["Write the greeting"]
    assert storage["to_change"] == []
    # file on the existing directory; facts, set_fact, assert, stat and the read command do not count.
    assert storage["unchanged"] == 1
    # the command check mode skipped ("would have run if not in check mode") and the module without
    # check mode support (expect) are listed as not checked, not as "no change".
    assert storage["not_checked"] == ["Start the server", "Answer the prompt"]
    assert (storage["create"], storage["change"], storage["unchecked"]) == (1, 0, 2)


@pytest.mark.slow
def test_check_run_service_layer_counts_loop_items(check_run):
    service = _layer(check_run[1], "Service layer")
    assert service["to_create"] == ["Write the service files (api)", "Write the service files (worker)"]
    assert (service["create"], service["change"], service["unchanged"], service["unchecked"]) == (2, 0, 1, 0)


@pytest.mark.slow
def test_check_run_totals_and_printed_table(check_run):
    stdout, plan = check_run
    assert plan["totals"] == {"create": 3, "change": 0, "unchanged": 2, "unchecked": 2}
    table = stdout[stdout.index("PLAN SUMMARY") :].splitlines()
    assert table[0] == "PLAN SUMMARY (check mode: nothing was changed)"
    assert table[1].split() == ["Layer", "create", "change", "unchanged", "unchecked"]
    assert table[2].split() == ["Storage", "layer", "1", "0", "1", "2"]
    assert table[3].split() == ["Service", "layer", "2", "0", "1", "0"]
    assert table[4:9] == [
        "  + Storage layer: Write the greeting",
        "  ? Storage layer: Start the server (not checked)",
        "  ? Storage layer: Answer the prompt (not checked)",
        "  + Service layer: Write the service files (api)",
        "  + Service layer: Write the service files (worker)",
    ]
    assert table[9] == "Plan: 3 to create, 0 to change, 2 unchanged, 2 could not be checked (would apply)."


@pytest.mark.slow
def test_applied_run_then_the_plan_shows_no_changes(tmp_path):
    work = _workspace(tmp_path)
    # expect cannot run for real here (no pexpect); it only matters to the check-mode plan.
    stdout, plan = _run_playbook(work, "--skip-tags", "needs_pexpect", "--diff")
    assert plan["check_mode"] is False
    assert (work / "out" / "worker.conf").read_text() == "worker"
    # copy's diff has nothing before: what it wrote counts as created; the command is not a resource.
    assert plan["totals"] == {"create": 3, "change": 0, "unchanged": 2, "unchecked": 0}
    assert "PLAN SUMMARY (applied)" in stdout
    assert "Plan: 3 to create, 0 to change, 2 unchanged, 0 could not be checked (apply)." in stdout

    stdout, plan = _run_playbook(work, "--check", "--diff")
    assert plan["check_mode"] is True
    assert plan["totals"] == {"create": 0, "change": 0, "unchanged": 5, "unchecked": 2}
    assert [layer["unchanged"] for layer in plan["layers"]] == [2, 3]
    assert "No changes: 5 resources match the inventory, 2 could not be checked." in stdout


# --- In-process: the play, playbook and stats events, as ansible-playbook sends them ---------------


@pytest.fixture
def configured(monkeypatch, tmp_path):
    """A callback configured as ansible-playbook configures it, its JSON written under tmp_path."""
    import yaml
    from ansible import constants as C
    from ansible_collections.giftcrypto.platform.plugins.callback import plan_summary

    options = yaml.safe_load(plan_summary.DOCUMENTATION)["options"]
    C.config.initialize_plugin_configuration_definitions("callback", CallbackModule.CALLBACK_NAME, options)
    monkeypatch.setenv("GIFTCRYPTO_PLAN_JSON", str(tmp_path / "plan.json"))
    plugin = CallbackModule()
    plugin._load_name = CallbackModule.CALLBACK_NAME
    plugin.set_options()
    return plugin


def _play(name: str, **extra):
    from ansible.parsing.dataloader import DataLoader
    from ansible.playbook.play import Play

    return Play.load({"name": name, "hosts": "localhost", **extra}, loader=DataLoader())


def _start(plugin, monkeypatch, check: bool) -> None:
    from ansible import context
    from ansible.module_utils.common.collections import ImmutableDict
    from ansible.parsing.dataloader import DataLoader
    from ansible.playbook import Playbook

    monkeypatch.setattr(context, "CLIARGS", ImmutableDict({"check": check}))
    plugin.v2_playbook_on_start(Playbook(DataLoader()))


def _stats(failures=(), unreachable=()):
    from ansible.executor.stats import AggregateStats

    stats = AggregateStats()
    for host in failures:
        stats.increment("failures", host)
    for host in unreachable:
        stats.increment("dark", host)
    return stats


def test_stats_print_the_plan_and_write_its_json(configured, monkeypatch, tmp_path, capsys):
    _start(configured, monkeypatch, check=True)
    configured.v2_playbook_on_play_start(_play("Network layer"))
    configured.v2_runner_on_ok(_runner_result("amazon.aws.ec2_vpc_subnet", SUBNET_PLANNED, "Subnet a"))
    configured.v2_runner_on_ok(_runner_result("amazon.aws.ec2_vpc_net", VPC_RETAGGED, "VPC"))
    configured.v2_playbook_on_play_start(_play("Database layer"))
    configured.v2_runner_on_ok(
        _runner_result("giftcrypto.platform.pg_migrate", {"changed": False}, "Migrate")
    )
    loop = [{}, {}]
    configured.v2_runner_item_on_skipped(
        _runner_result(
            "ansible.builtin.command",
            {"skipped": True, "msg": "Command would have run if not in check mode", "item": "seed"},
            "Seed",
            loop=loop,
        )
    )
    configured.v2_runner_on_skipped(
        _runner_result("ansible.builtin.command", {"skipped": True, "results": []}, "Seed", loop=loop)
    )
    configured.v2_playbook_on_stats(_stats())

    printed = capsys.readouterr().out.splitlines()
    start = printed.index("PLAN SUMMARY (check mode: nothing was changed)")
    assert [line.split() for line in printed[start + 1 : start + 4]] == [
        ["Layer", "create", "change", "unchanged", "unchecked"],
        ["Network", "layer", "1", "1", "0", "0"],
        ["Database", "layer", "0", "0", "1", "1"],
    ]
    assert printed[start + 4 :] == [
        "  + Network layer: Subnet a",
        "  ~ Network layer: VPC",
        "  ? Database layer: Seed (seed) (not checked)",
        "Plan: 1 to create, 1 to change, 1 unchanged, 1 could not be checked (would apply).",
    ]
    plan = json.loads((tmp_path / "plan.json").read_text())
    assert plan["check_mode"] is True and plan["failed_hosts"] == 0
    assert plan["totals"] == {"create": 1, "change": 1, "unchanged": 1, "unchecked": 1}
    assert [layer["layer"] for layer in plan["layers"]] == ["Network layer", "Database layer"]


def test_a_play_in_check_mode_makes_the_plan_a_check_mode_plan(configured, monkeypatch, capsys):
    _start(configured, monkeypatch, check=False)
    configured.v2_playbook_on_play_start(_play("Edge layer", check_mode=True))
    configured.v2_runner_on_ok(_runner_result("amazon.aws.ec2_vpc_igw", {"changed": False}, "IGW"))
    configured.v2_playbook_on_stats(_stats())
    out = capsys.readouterr().out
    assert "PLAN SUMMARY (check mode: nothing was changed)" in out
    assert out.rstrip().endswith("No changes: 1 resources match the inventory.")


def test_an_applied_run_with_failed_hosts_is_an_incomplete_plan(configured, monkeypatch, tmp_path, capsys):
    _start(configured, monkeypatch, check=False)
    configured.v2_playbook_on_play_start(_play("Network layer"))
    configured.v2_runner_on_ok(_runner_result("amazon.aws.ec2_vpc_subnet", SUBNET_PLANNED, "Subnet a"))
    configured.v2_playbook_on_stats(_stats(failures=["web1"], unreachable=["db1"]))
    out = capsys.readouterr().out
    assert "PLAN SUMMARY (applied)" in out
    assert "PLAN INCOMPLETE: 2 host(s) failed or were unreachable" in out
    assert "Plan:" not in out
    plan = json.loads((tmp_path / "plan.json").read_text())
    assert (plan["check_mode"], plan["failed_hosts"]) == (False, 2)


def test_nothing_recorded_still_prints_a_table_and_no_json_unless_asked(
    configured, monkeypatch, tmp_path, capsys
):
    monkeypatch.delenv("GIFTCRYPTO_PLAN_JSON")
    configured.set_options()
    _start(configured, monkeypatch, check=True)
    configured.v2_playbook_on_stats(_stats())
    out = capsys.readouterr().out.splitlines()
    assert out[-2].split() == ["Layer", "create", "change", "unchanged", "unchecked"]
    assert out[-1] == "No changes: 0 resources match the inventory."
    assert not (tmp_path / "plan.json").exists()
