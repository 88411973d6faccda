"""What the collection declares for its users: requirements.txt, bindep.txt, meta/execution-environment.yml.

- requirements.txt holds what plugins/ imports and what the collections the roles call need, in
  pyproject.toml's ranges, and resolves from PyPI (pip's resolver, --dry-run) without the emulator
  (moto and its server's Flask/Werkzeug) or any test tool;
- `ansible-builder create -f meta/execution-environment.yml` makes a build context whose Containerfile
  installs those files (ansible-builder copies a symbolic link as a link: the definition's files are
  the real ones, in meta/, and the root's are links to them);
- the built collection, installed elsewhere, is introspected by ansible-builder (what another
  execution environment with this collection in it gets) to the same requirements.

ansible-builder is pyproject.toml's dependency group `ee`: a test that needs it fails, naming the
group, where it is missing (`nox -s ee` builds the image itself).
"""

from __future__ import annotations

import ast
import json
import os
import pathlib
import re
import shutil
import subprocess
import sys
import tomllib

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name

ROOT = pathlib.Path(__file__).resolve().parents[2]
META = ROOT / "meta"
BIN = pathlib.Path(sys.executable).parent
DEFINITION = yaml.safe_load((META / "execution-environment.yml").read_text())
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())

# What must never reach a user's controller: the local AWS endpoint and what only its server needs,
# and the repository's test and lint tools.
EMULATOR_AND_TOOLS = {
    "moto",
    "werkzeug",
    "flask",
    "flask-cors",
    "py-partiql-parser",
    "openapi-spec-validator",
    "responses",
    "pytest",
    "molecule",
    "ansible-lint",
    "ruff",
    "hypothesis",
}
# The distribution each third-party import of plugins/ comes from. A new import that is not here
# fails test_plugins_imports_are_declared: add it to requirements.txt (and pyproject.toml) and here.
IMPORTS = {
    "boto3": "boto3",
    "botocore": "botocore",
    "cryptography": "cryptography",
    "jsonschema": "jsonschema",
    "psycopg": "psycopg",
    "redis": "redis",
    # ansible-core's own dependency (the execution environment's ansible_core brings it).
    "yaml": "pyyaml",
}
# What the collections the roles and playbooks call need on the controller (their own
# requirements.txt, and the docs of the plugins named here).
COLLECTIONS = {
    r"\bamazon\.aws\.": {"boto3", "botocore"},
    r"\bcommunity\.aws\.": {"boto3", "botocore"},
    r"\bcommunity\.postgresql\.": {"psycopg"},
    r"\bcommunity\.crypto\.": {"cryptography"},
    r"\bkubernetes\.core\.k8s": {"kubernetes"},
    r"\bansible\.utils\.ip(addr|wrap)\b": {"netaddr"},
}


def requirements(path: pathlib.Path) -> list[Requirement]:
    lines = (line.strip() for line in path.read_text().splitlines())
    return [Requirement(line) for line in lines if line and not line.startswith("#")]


def names(reqs) -> set[str]:
    return {canonicalize_name(r.name) for r in reqs}


def ansible_builder() -> str:
    found = shutil.which("ansible-builder", path=str(BIN)) or shutil.which("ansible-builder")
    if not found:
        pytest.fail(
            "ansible-builder is not installed in this environment: it is pyproject.toml's dependency "
            "group `ee` (pip install --group ee, or the shared .venv built with that group)"
        )
    return found


def third_party_imports(folder: pathlib.Path) -> dict[str, set[str]]:
    """Top-level modules imported anywhere in folder's Python files (guarded imports too)."""
    found: dict[str, set[str]] = {}
    for path in folder.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                modules = [node.module]
            else:
                continue
            for module in modules:
                top = module.split(".")[0]
                if top in sys.stdlib_module_names or top in {"ansible", "ansible_collections", "__future__"}:
                    continue
                found.setdefault(top, set()).add(str(path.relative_to(ROOT)))
    return found


def test_root_files_are_the_definitions_files():
    """The conventional names at the root are links to meta/'s files (one copy of each)."""
    for name in ("requirements.txt", "bindep.txt"):
        link = ROOT / name
        assert link.is_symlink(), f"{name} at the root must be a link to meta/{name}"
        assert os.readlink(link) == f"meta/{name}"
        assert not (META / name).is_symlink(), (
            f"meta/{name} must be a file: ansible-builder copies links as links"
        )
    assert DEFINITION["dependencies"]["python"] == "requirements.txt"
    assert DEFINITION["dependencies"]["system"] == "bindep.txt"
    assert DEFINITION["dependencies"]["galaxy"] == "requirements.yml"


def test_requirements_are_pyproject_ranges():
    declared = {canonicalize_name(r.name): r for r in requirements(META / "requirements.txt")}
    project = {canonicalize_name(r.name): r for r in map(Requirement, PYPROJECT["project"]["dependencies"])}
    assert not set(declared) & EMULATOR_AND_TOOLS, "requirements.txt names the emulator or a test tool"
    for name, req in declared.items():
        assert name in project, f"{name} is in requirements.txt but not in pyproject.toml's dependencies"
        assert req.specifier == project[name].specifier, (
            name,
            str(req.specifier),
            str(project[name].specifier),
        )
        assert req.extras == project[name].extras, (name, req.extras, project[name].extras)
        # Bounded: a new major is a reviewed change.
        assert any(s.operator == "<" for s in req.specifier), f"{name} has no upper bound"
        assert any(s.operator == ">=" for s in req.specifier), f"{name} has no lower bound"


def test_plugins_imports_are_declared():
    imports = third_party_imports(ROOT / "plugins")
    unknown = {module: sorted(files) for module, files in imports.items() if module not in IMPORTS}
    assert not unknown, f"plugins/ imports modules with no declared distribution: {unknown}"
    declared = names(requirements(META / "requirements.txt")) | {"pyyaml"}
    missing = {IMPORTS[module] for module in imports} - declared
    assert not missing, f"plugins/ imports {missing}, which requirements.txt does not declare"


def test_collections_the_roles_call_have_their_requirements():
    text = "\n".join(
        p.read_text()
        for folder in ("roles", "playbooks")
        for p in (ROOT / folder).rglob("*.yml")
        if "/files/" not in str(p)
    )
    declared = names(requirements(META / "requirements.txt"))
    needed: set[str] = set()
    for pattern, packages in COLLECTIONS.items():
        if re.search(pattern, text):
            needed |= packages
    assert needed <= declared, f"the roles call collections that need {needed - declared}"
    # And nothing is declared that neither plugins/ nor those collections need.
    used = needed | {IMPORTS[m] for m in third_party_imports(ROOT / "plugins")}
    assert declared <= used, f"requirements.txt declares {declared - used}, which nothing needs"


def test_requirements_resolve_from_pypi_without_the_emulator(tmp_path):
    """pip's resolver, as the execution environment's Python 3.13 with its ansible-core would install."""
    core = DEFINITION["dependencies"]["ansible_core"]["package_pip"]
    report = tmp_path / "report.json"
    command = [
        sys.executable,
        "-m",
        "pip",
        "install",
        "--dry-run",
        "--ignore-installed",
        "--quiet",
        "--only-binary=:all:",
        "--python-version",
        "3.13",
        "--report",
        str(report),
        "-r",
        str(ROOT / "requirements.txt"),
        core,
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=600, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    resolved = {
        canonicalize_name(item["metadata"]["name"]): item["metadata"]["version"]
        for item in json.loads(report.read_text())["install"]
    }
    assert not set(resolved) & EMULATOR_AND_TOOLS, sorted(set(resolved) & EMULATOR_AND_TOOLS)
    for req in requirements(META / "requirements.txt"):
        name = canonicalize_name(req.name)
        assert name in resolved and req.specifier.contains(resolved[name]), (name, resolved.get(name))
    # What plugins/ imports is installed (PyYAML through ansible-core).
    for module in third_party_imports(ROOT / "plugins"):
        assert IMPORTS[module] in resolved, f"{module} ({IMPORTS[module]}) is not installed"
    assert SpecifierSet(core.removeprefix("ansible-core")).contains(resolved["ansible-core"])


def test_definition_core_meets_runtime_and_python():
    """The execution environment's ansible-core is one meta/runtime.yml promises, on Python >= 3.12."""
    runtime = yaml.safe_load((META / "runtime.yml").read_text())
    core = SpecifierSet(
        DEFINITION["dependencies"]["ansible_core"]["package_pip"].removeprefix("ansible-core")
    )
    lowest = min(s.version for s in core if s.operator == ">=")
    assert SpecifierSet(runtime["requires_ansible"]).contains(f"{lowest}.0")
    assert DEFINITION["version"] == 3
    # trixie's python3 is 3.13; bookworm's 3.11 cannot run ansible-core 2.20 or later.
    assert DEFINITION["images"]["base_image"]["name"].endswith(":trixie-slim")
    assert "python3 [platform:dpkg platform:rpm] >=3.12" in (META / "bindep.txt").read_text()


def test_collections_of_the_execution_environment():
    """meta/requirements.yml: this collection, and what its roles call that galaxy.yml does not declare."""
    wanted = {c["name"] for c in yaml.safe_load((META / "requirements.yml").read_text())["collections"]}
    galaxy = yaml.safe_load((ROOT / "galaxy.yml").read_text())
    assert f"{galaxy['namespace']}.{galaxy['name']}" in wanted
    text = "\n".join(
        p.read_text() for folder in ("roles", "playbooks") for p in (ROOT / folder).rglob("*.yml")
    )
    text += "\n".join(p.read_text() for p in (ROOT / "plugins").rglob("*.py"))
    used = set(re.findall(r"\b([a-z][a-z0-9_]*\.[a-z][a-z0-9_]*)\.[a-z][a-z0-9_]+\b", text))
    known = {c for c in used if c.split(".")[0] in {"amazon", "community", "kubernetes", "ansible"}}
    known -= {
        "ansible.builtin",
        "ansible.legacy",
        "ansible.module_utils",
        "ansible.plugins",
        "ansible.errors",
    }
    known -= {
        c
        for c in known
        if c.startswith("ansible.") and c.split(".")[1] not in {"utils", "posix", "netcommon"}
    }
    missing = known - wanted - set(galaxy["dependencies"])
    assert not missing, f"the roles call collections nothing installs: {sorted(missing)}"


def test_ansible_builder_create_makes_the_context(tmp_path):
    context = tmp_path / "context"
    result = subprocess.run(
        [
            ansible_builder(),
            "create",
            "-f",
            str(META / "execution-environment.yml"),
            "--context",
            str(context),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    build = context / "_build"
    for name in ("requirements.txt", "bindep.txt", "requirements.yml"):
        copied = build / name
        assert copied.is_file() and not copied.is_symlink(), f"_build/{name} is not a file"
        assert copied.read_text() == (META / name).read_text()
    for script in (
        "assemble",
        "install-from-bindep",
        "introspect.py",
        "check_galaxy",
        "check_ansible",
        "entrypoint",
    ):
        assert (build / "scripts" / script).is_file(), script
    containerfile = (context / "Containerfile").read_text()
    assert f'ARG EE_BASE_IMAGE="{DEFINITION["images"]["base_image"]["name"]}"' in containerfile
    assert DEFINITION["dependencies"]["ansible_core"]["package_pip"] in containerfile
    assert 'ARG PKGMGR="/usr/bin/apt-get"' in containerfile
    # The collection's files are what introspection installs with, and Galaxy's requirements installed.
    assert "--user-pip=requirements.txt --user-bindep=bindep.txt" in containerfile
    assert "ansible-galaxy collection install" in containerfile
    assert "PIP_BREAK_SYSTEM_PACKAGES=1" in containerfile


def test_installed_collection_introspects_to_its_requirements(tmp_path):
    """What ansible-builder reads from this collection inside another execution environment's build."""
    built = tmp_path / "dist"
    # A clean environment and an empty home: no ansible.cfg, no collection installed anywhere else.
    (tmp_path / "home").mkdir()
    env = {"PATH": f"{BIN}:/usr/bin:/bin", "HOME": str(tmp_path / "home"), "LANG": "C.UTF-8"}
    galaxy = [str(BIN / "ansible-galaxy"), "collection"]
    build = [*galaxy, "build", "--output-path", str(built), str(ROOT)]
    subprocess.run(build, check=True, env=env, cwd=tmp_path, capture_output=True)
    artifact = next(built.glob("*.tar.gz"))
    collections = tmp_path / "collections"
    install = [*galaxy, "install", "--no-deps", "--offline", "-p", str(collections), str(artifact)]
    subprocess.run(install, check=True, env=env, cwd=tmp_path, capture_output=True)
    installed = collections / "ansible_collections" / "giftcrypto" / "platform"
    assert (installed / "meta" / "execution-environment.yml").is_file()
    assert (installed / "requirements.txt").read_text() == (META / "requirements.txt").read_text()
    pip, bindep = tmp_path / "pip.txt", tmp_path / "bindep.txt"
    result = subprocess.run(
        [
            ansible_builder(),
            "introspect",
            "--write-pip",
            str(pip),
            "--write-bindep",
            str(bindep),
            str(collections),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr

    def lines(path: pathlib.Path) -> set[str]:
        return {line.split("#")[0].strip() for line in path.read_text().splitlines()} - {""}

    assert {str(Requirement(line)) for line in lines(pip)} == {
        str(r) for r in requirements(META / "requirements.txt")
    }
    assert lines(bindep) == lines(META / "bindep.txt")


def test_the_ee_session_is_defined_and_not_a_default_session():
    """`nox -s ee` builds the image (minutes): named, opt-in, never part of a bare `nox`."""
    command = [sys.executable, "-m", "nox", "--noxfile", str(ROOT / "noxfile.py"), "--list", "--json"]
    selected = json.loads(
        subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=True).stdout
    )
    assert "ee" not in {session["name"] for session in selected}
    listed = subprocess.run(command[:-1], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    # `nox --list` marks the sessions of a bare `nox` with "*" and the others with "-".
    assert any(line.startswith("- ee ->") for line in listed.splitlines()), listed
