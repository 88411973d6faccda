"""The front door's guard: deploy-production refuses to start without an explicit approval."""

import json
import os
import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[2]


def _nox(*args, env=None):
    return subprocess.run(
        [sys.executable, "-m", "nox", "--noxfile", str(ROOT / "noxfile.py"), *args],
        cwd=ROOT,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_deploy_production_refuses_without_approval():
    result = _nox("-s", "deploy-production", env={"GIFTCRYPTO_PRODUCTION_APPROVED": ""})
    assert result.returncode != 0
    out = result.stdout + result.stderr
    assert "deploy-production refuses to start without an explicit approval" in out
    assert "--approve production" in out
    assert "ansible-playbook" not in out


def test_deploy_production_refuses_a_wrong_approval():
    result = _nox("-s", "deploy-production", "--", "--approve", "staging")
    assert result.returncode != 0
    assert "refuses to start without an explicit approval" in result.stdout + result.stderr


def test_sessions_have_their_exact_names():
    listed = _nox("--list").stdout
    for name in (
        "lint",
        "unit",
        "molecule",
        "integration",
        "deploy-local",
        "plan-local",
        "destroy-local",
        "deploy-staging",
        "plan-staging",
        "deploy-production",
        "plan-production",
    ):
        assert f"{name} " in listed or f"{name}\n" in listed, name


def test_the_unit_session_installs_the_postgresql_the_database_tests_run():
    from tests.unit.noxfile_module import load
    from tests.unit.pg_cluster import PG_BIN

    noxfile = load()
    assert noxfile.UNIT_DEBIAN_PACKAGES[str(PG_BIN / "initdb")] == "postgresql-15"
    assert '"--cov-fail-under=80"' in (ROOT / "noxfile.py").read_text()


def test_the_security_session_is_defined_and_not_a_default_session():
    listed = _nox("--list").stdout.splitlines()
    # `nox --list` marks the sessions of a bare `nox` with "*" and the others with "-".
    assert any(line.startswith("- security ->") for line in listed), listed
    assert not any(line.startswith("* security ") for line in listed)
    selected = json.loads(_nox("--list", "--json").stdout)
    assert "security" not in {session["name"] for session in selected}
    # A bare `nox` is the suite, which runs these sessions in its lanes (each a `nox` of its own).
    assert [session["name"] for session in selected] == ["suite"]
    lanes = [lane for phase in _noxfile()._suite_phases() for lane in phase]
    run = {name for lane in lanes for name in lane[: lane.index("--") if "--" in lane else None]}
    assert run == {"lint", "sanity", "unit", "preflight", "molecule", "integration"}


def test_molecule_scenarios_run_beside_each_other_only_on_endpoints_of_their_own():
    """The molecule session's lane of scenarios with an endpoint of their own runs beside the other
    lane: each of them must have a port no other scenario (nor deploy-local's 4566) uses."""
    import ast

    import yaml

    (assignment,) = [
        node
        for node in ast.parse((ROOT / "noxfile.py").read_text()).body
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "MOLECULE_OWN_ENDPOINT"
    ]
    own = ast.literal_eval(assignment.value.args[0])
    ports: dict[int, list[str]] = {}
    for scenario in sorted((ROOT / "molecule").glob("*/molecule.yml")):
        text = yaml.safe_load(scenario.read_text())
        variables = text["provisioner"]["inventory"].get("group_vars", {}).get("all", {})
        port = int(variables.get("local_aws_endpoint_port", 4566))
        ports.setdefault(port, []).append(scenario.parent.name)
    for name in own:
        (port,) = [p for p, names in ports.items() if name in names]
        assert port != 4566, name
        assert ports[port] == [name], f"{name} shares port {port} with {ports[port]}"


def test_molecule_scenarios_resolve_the_collection_from_the_checkout():
    """Molecule's prerun copies the collection into the shared ~/.ansible/collections, where the two
    lanes of the molecule session (and other checkouts) would overwrite each other's copy."""
    import yaml

    for scenario in sorted((ROOT / "molecule").glob("*/molecule.yml")):
        config = yaml.safe_load(scenario.read_text())
        assert config.get("prerun") is False, scenario.parent.name
        path = config["provisioner"]["config_options"]["defaults"]["collections_path"]
        assert path == "${MOLECULE_PROJECT_DIRECTORY}/.collections", scenario.parent.name


def test_molecule_scenarios_listen_below_the_ephemeral_port_range():
    """A server of a scenario on a port of Linux's ephemeral range (32768-60999) can fail to bind when
    a client connection of the other lane, or one in TIME_WAIT, holds that port."""
    import re

    for scenario in sorted((ROOT / "molecule").glob("*/molecule.yml")):
        numbers = [int(n) for n in re.findall(r"(?<![\w.])(\d{5})(?![\w.])", scenario.read_text())]
        assert [n for n in numbers if 32768 <= n <= 60999] == [], scenario.parent.name


def test_every_molecule_scenario_has_a_measured_duration():
    """The molecule session starts the longest scenarios first from MOLECULE_SECONDS; a scenario
    missing there would run last whatever its length, and the lanes would no longer end together."""
    import ast

    (assignment,) = [
        node
        for node in ast.parse((ROOT / "noxfile.py").read_text()).body
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "MOLECULE_SECONDS"
    ]
    seconds = ast.literal_eval(assignment.value)
    scenarios = {p.parent.name for p in (ROOT / "molecule").glob("*/molecule.yml")}
    assert set(seconds) == scenarios
    assert all(isinstance(value, int) and value > 0 for value in seconds.values())


def _noxfile():
    from tests.unit.noxfile_module import load

    return load()


def test_the_sanity_session_runs_in_the_suite_right_after_lint():
    (first, *_), *_ = _noxfile()._suite_phases()
    assert first[:2] == ("lint", "sanity"), first


def test_the_suite_never_runs_a_scenario_on_this_machines_servers_beside_the_integration_tests():
    """The integration tests deploy the platform on the fixed ports and paths the scenarios without an
    endpoint of their own use: those scenarios run in the other phase, and every scenario runs once."""
    noxfile = _noxfile()
    scenarios = []
    for phase in noxfile._suite_phases():
        names = [name for lane in phase for name in lane]
        molecule = [lane for lane in phase if lane[0] == "molecule"]
        (lane,) = molecule
        ran = list(lane[lane.index("--") + 1 :])
        scenarios += ran
        if "integration" in names:
            assert set(ran) <= noxfile.MOLECULE_BESIDE_PLATFORM, ran
    assert sorted(scenarios) == noxfile.MOLECULE_SCENARIOS


def test_the_scenarios_beside_the_platform_without_an_endpoint_share_nothing_with_it():
    """A scenario of MOLECULE_BESIDE_PLATFORM that is not one with an endpoint of its own runs beside
    the integration tests' deploy and destroy: it talks to no AWS endpoint (none on 4566, which is the
    platform's then) and every port, directory and file its role takes from its defaults is one of its
    own, not the local platform's."""
    import yaml

    noxfile = _noxfile()
    local = {}
    for path in sorted((ROOT / "inventories" / "local" / "group_vars" / "all").glob("*.yml")):
        local.update(yaml.safe_load(path.read_text()) or {})
    for name in sorted(noxfile.MOLECULE_BESIDE_PLATFORM - noxfile.MOLECULE_OWN_ENDPOINT):
        text = (ROOT / "molecule" / name / "molecule.yml").read_text()
        assert "4566" not in text and "aws_endpoint_url" not in text, name
        ours = yaml.safe_load(text)["provisioner"]["inventory"]["group_vars"]["all"]
        defaults = {}
        for path in sorted((ROOT / "roles" / name / "defaults").glob("**/*.yml")):
            defaults.update(yaml.safe_load(path.read_text()) or {})
        places = {
            variable: value
            for variable, value in defaults.items()
            if variable.endswith(("_port", "_dir", "_file"))
            and (isinstance(value, int) or (isinstance(value, str) and value.startswith("/")))
        }
        assert places, name
        for variable, value in places.items():
            assert variable in ours, f"{name}: {variable} is the platform's ({value})"
            assert ours[variable] not in (value, local.get(variable, value)), f"{name}: {variable}"


def test_the_suite_runs_every_integration_test_once():
    """The integration tests the suite's integration lane leaves out are the ones `nox -s preflight`
    runs in the other phase, and that session is in the suite."""
    noxfile = _noxfile()
    lanes = [lane for phase in noxfile._suite_phases() for lane in phase]
    (integration,) = [lane for lane in lanes if lane[0] == "integration"]
    ignored = [arg.removeprefix("--ignore=") for arg in integration[integration.index("--") + 1 :]]
    assert ignored == list(noxfile.PREFLIGHT_TESTS)
    assert all((ROOT / test).is_file() for test in ignored)
    assert any("preflight" in lane for lane in lanes if "integration" not in lane)


def test_the_sanity_session_targets_the_oldest_core_meta_runtime_promises():
    """ansible-test runs on the ansible-core of requires_ansible's lower bound (read from
    meta/runtime.yml, not written twice), and that core's ignore file is the one in tests/sanity/."""
    import yaml
    from packaging.specifiers import SpecifierSet
    from packaging.version import Version

    promised = SpecifierSet(yaml.safe_load((ROOT / "meta" / "runtime.yml").read_text())["requires_ansible"])
    (lower,) = [Version(s.version) for s in promised if s.operator == ">="]
    noxfile = _noxfile()
    core = noxfile._sanity_core()
    assert core == f"{lower.major}.{lower.minor}"
    installs = SpecifierSet(noxfile._sanity_requirement(core).removeprefix("ansible-core"))
    assert lower in installs
    assert f"{lower.major}.{lower.minor}.99" in installs
    assert f"{lower.major}.{lower.minor + 1}.0" not in installs
    assert f"{lower.major}.{lower.minor - 1}.99" not in installs
    ignores = sorted(p.name for p in (ROOT / "tests" / "sanity").glob("ignore-*.txt"))
    assert ignores in ([], [f"ignore-{core}.txt"]), ignores


def test_every_sanity_ignore_entry_gives_its_reason():
    """ansible-test's ignore files take a trailing `# comment` (a comment-only line is a parse error)."""
    for path in sorted((ROOT / "tests" / "sanity").glob("ignore-*.txt")):
        for number, line in enumerate(path.read_text().splitlines(), start=1):
            entry, _, reason = line.partition(" # ")
            assert len(entry.split(" ")) == 2, f"{path.name}:{number}: <path> <test>[:<code>]"
            assert len(reason.strip()) >= 20, f"{path.name}:{number}: the entry gives no reason"


def test_the_sanity_session_refuses_clearly_without_the_python_it_needs(tmp_path, monkeypatch):
    """A `python3.12` that cannot run (pyenv's shim without a 3.12 selected) does not count, and
    without one the session stops naming the Python it needs and how to get it."""
    noxfile = _noxfile()
    shim = tmp_path / f"python{noxfile.SANITY_PYTHON}"
    shim.write_text("#!/bin/sh\necho 'pyenv: python3.12: command not found' >&2\nexit 127\n")
    shim.chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setenv("PYENV_ROOT", str(tmp_path / "no-pyenv"))

    class Session:
        def error(self, message):
            raise RuntimeError(message)

    import pytest

    with pytest.raises(RuntimeError) as refused:
        noxfile._sanity_python(Session())
    assert f"no Python {noxfile.SANITY_PYTHON}" in str(refused.value)
    assert f"pyenv install {noxfile.SANITY_PYTHON}" in str(refused.value)


def test_sanity_ignores_outside_ansible_lints_list_are_only_for_vendored_manifests():
    """.ansible-lint-ignore lets tests/sanity/ignore-*.txt hold entries that ansible-lint's sanity rule
    (Partner Engineering's allow list) refuses: only a multi-document YAML file vendored byte for byte
    (its directory has a VENDORED.md), which ansible-test's yamllint expects to be a single document."""
    from ansiblelint.rules.sanity import CheckSanityIgnoreFiles

    allowed = set(CheckSanityIgnoreFiles.allowed_ignores)
    for path in sorted((ROOT / "tests" / "sanity").glob("ignore-*.txt")):
        for line in path.read_text().splitlines():
            target, test = line.partition(" # ")[0].split(" ")
            if test in allowed or target.split("/")[0] not in {"plugins", "roles"}:
                continue
            assert test == "yamllint:multiple-yaml-documents", line
            assert (ROOT / target).parent.joinpath("VENDORED.md").is_file(), line
            assert (ROOT / target).read_text().count("\n---") >= 1, line
