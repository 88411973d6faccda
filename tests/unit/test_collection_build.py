"""The built collection installs offline into an empty collections path and documents its modules.

One `ansible-galaxy collection build` for the module. Everything runs with a clean environment and
from a directory outside the checkout, so neither ansible.cfg (collections_path = ./.collections)
nor PYTHONPATH=.collections can make Ansible find the checkout instead of the installed artifact.
The dependencies of galaxy.yml (amazon.aws, community.*, kubernetes.core) resolve offline from the
collections the `ansible` PyPI package bundles in site-packages (the default collection search
path), so no --no-deps is needed.
"""

import json
import pathlib
import subprocess
import sys
import tarfile

import pytest
import yaml

ROOT = pathlib.Path(__file__).resolve().parents[2]
BIN = pathlib.Path(sys.executable).parent
GALAXY = yaml.safe_load((ROOT / "galaxy.yml").read_text())
ARTIFACT = f"{GALAXY['namespace']}-{GALAXY['name']}-{GALAXY['version']}.tar.gz"
# Left out of the artifact by galaxy.yml's build_ignore (a leading segment of a member's path).
LEFT_OUT = (
    ".collections",
    ".venv",
    ".nox",
    ".ara",
    ".git",
    ".github",
    ".hypothesis",
    ".render",
    ".secrets.baseline",
    "tests",
    "molecule",
    "tools",
    "dist",
    "noxfile.py",
    "pyproject.toml",
    "uv.lock",
    "ansible.cfg",
    "site.yml",
    "docs/bench",
    "docs/compliance",
    "docs/reference",
    "service/tests",
    "changelogs/fragments",
)
# What the roles and playbooks need at run time from the collection's root.
SHIPPED = (
    "MANIFEST.json",
    "FILES.json",
    "README.md",
    "CHANGELOG.rst",
    "meta/runtime.yml",
    "plugins/modules/pg_migrate.py",
    "plugins/module_utils/pg.py",
    "plugins/doc_fragments/postgres.py",
    "roles/db_schema/meta/argument_specs.yml",
    "playbooks/site.yml",
    "roles/db_schema/files/migrations/0001_core_tables.up.sql",
    "service/pyproject.toml",
    "service/src/giftcrypto_api/__init__.py",
)
MAX_BYTES = 1024 * 1024


def _clean_env(home: pathlib.Path, **extra: str) -> dict[str, str]:
    return {"PATH": f"{BIN}:/usr/bin:/bin", "HOME": str(home), "LANG": "C.UTF-8", **extra}


def _run(args, cwd, env):
    result = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, f"{' '.join(map(str, args))}\n{result.stdout}\n{result.stderr}"
    return result


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    work = tmp_path_factory.mktemp("collection")
    home = work / "home"
    home.mkdir()
    dist = work / "dist"
    _run([BIN / "ansible-galaxy", "collection", "build", "--output-path", dist, ROOT], work, _clean_env(home))
    artifact = dist / ARTIFACT
    assert artifact.is_file()
    return work, home, artifact


def test_the_artifact_is_lean(built):
    _, _, artifact = built
    with tarfile.open(artifact) as tar:
        names = [m.name.removeprefix("./") for m in tar.getmembers()]
    for name in names:
        for prefix in LEFT_OUT:
            assert not (name == prefix or name.startswith(f"{prefix}/")), name
        assert "__pycache__" not in name and not name.endswith(".pyc"), name
        assert not (name.startswith("docs/") and name.endswith(".png")), name
    for name in SHIPPED:
        assert name in names, name
    assert artifact.stat().st_size < MAX_BYTES


def test_it_installs_offline_into_an_empty_path_and_ansible_doc_reads_it(built):
    work, home, artifact = built
    collections = work / "collections"
    assert not collections.exists()
    install = ("collection", "install", "--offline", "-p", collections, artifact)
    # ANSIBLE_COLLECTIONS_PATH names the empty path alone: a giftcrypto.platform installed in the
    # default ~/.ansible/collections would otherwise count as "already installed" and skip it.
    result = _run(
        [BIN / "ansible-galaxy", *install], work, _clean_env(home, ANSIBLE_COLLECTIONS_PATH=str(collections))
    )
    installed = collections / "ansible_collections" / GALAXY["namespace"] / GALAXY["name"]
    assert (installed / "MANIFEST.json").is_file()
    manifest = json.loads((installed / "MANIFEST.json").read_text())["collection_info"]
    assert manifest["version"] == GALAXY["version"]
    # The dependencies come from the ansible package, not from a download.
    for dependency in GALAXY["dependencies"]:
        assert f"'{dependency}:" in result.stdout and "is already installed" in result.stdout, dependency

    env = _clean_env(home, ANSIBLE_COLLECTIONS_PATH=str(collections))
    doc = _run([BIN / "ansible-doc", "--json", "giftcrypto.platform.pg_migrate"], work, env)
    found = json.loads(doc.stdout)["giftcrypto.platform.pg_migrate"]["doc"]
    assert pathlib.Path(found["filename"]).is_relative_to(installed)
    assert found["short_description"]
    assert {"path", "target", "login_host"} <= set(found["options"])
    # A module documented with an amazon.aws doc fragment resolves it from the ansible package.
    flow = _run([BIN / "ansible-doc", "--json", "giftcrypto.platform.ec2_vpc_flow_log"], work, env)
    assert "access_key" in json.loads(flow.stdout)["giftcrypto.platform.ec2_vpc_flow_log"]["doc"]["options"]
