"""tools/role_docs.py: the roles' READMEs are generated from meta/argument_specs.yml and checked.

The issue's acceptance: a role whose argument spec changed without its README fails `nox -s lint`
(whose pre-commit hook runs `python tools/role_docs.py --check`).
"""

import importlib.util
import pathlib
import shutil
import subprocess
import sys

import pytest
import yaml

ROOT = pathlib.Path(__file__).resolve().parents[2]
TOOL = ROOT / "tools" / "role_docs.py"

_spec = importlib.util.spec_from_file_location("giftcrypto_role_docs", TOOL)
role_docs = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(role_docs)


def _tool(*args):
    return subprocess.run(
        [sys.executable, str(TOOL), *map(str, args)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture
def role_copy(tmp_path):
    """A copy of local_pki (two entry points, a default from defaults/) outside the tree."""
    copy = tmp_path / "roles" / "local_pki"
    shutil.copytree(ROOT / "roles" / "local_pki", copy)
    return copy


def test_every_readme_of_the_tree_is_up_to_date():
    result = _tool("--check")
    assert result.returncode == 0, result.stderr


def test_every_role_has_a_readme_with_the_generated_section():
    roles = sorted(p.parent.parent for p in (ROOT / "roles").glob("*/meta/argument_specs.yml"))
    assert roles
    for role in roles:
        text = (role / "README.md").read_text()
        assert text.count(role_docs.BEGIN) == 1, role.name
        assert text.count(role_docs.END) == 1, role.name


def test_a_copy_is_up_to_date_until_its_argument_spec_changes(role_copy):
    readme = role_copy / "README.md"
    assert _tool("--check", role_copy).returncode == 0

    path = role_copy / "meta" / "argument_specs.yml"
    specs = yaml.safe_load(path.read_text())
    specs["argument_specs"]["main"]["options"]["local_pki_key_size"]["description"] = "Changed."
    path.write_text(yaml.safe_dump(specs, sort_keys=False))

    result = _tool("--check", role_copy)
    assert result.returncode == 1
    assert f"{readme}: stale" in result.stderr
    assert "Changed." not in readme.read_text()

    before = readme.read_text()
    rewrite = _tool(role_copy)
    assert rewrite.returncode == 0, rewrite.stderr
    after = readme.read_text()
    assert "| `local_pki_key_size` | int | no | `3072` |  | Changed. |" in after
    # Only the generated section changed: the prose before and after it is kept.
    prose = before.split(role_docs.BEGIN)[0], before.split(role_docs.END)[1]
    assert after.startswith(prose[0])
    assert after.endswith(prose[1])
    assert _tool("--check", role_copy).returncode == 0


def test_a_new_option_or_default_makes_the_readme_stale(role_copy):
    path = role_copy / "meta" / "argument_specs.yml"
    specs = yaml.safe_load(path.read_text())
    specs["argument_specs"]["server_cert"]["options"]["local_pki_cert_extra"] = {
        "type": "list",
        "elements": "dict",
        "description": ["First C(paragraph).", "Second."],
        "options": {"name": {"type": "str", "required": True, "choices": ["a", "b|c"], "description": "N."}},
    }
    path.write_text(yaml.safe_dump(specs, sort_keys=False))
    assert _tool("--check", role_copy).returncode == 1
    assert _tool(role_copy).returncode == 0
    text = (role_copy / "README.md").read_text()
    assert "| `local_pki_cert_extra` | list of dict | no |  |  | First `paragraph`.<br><br>Second. |" in text
    assert "| `local_pki_cert_extra[].name` | str | yes |  | `a`, `b\\|c` | N. |" in text

    # A default that only defaults/ gives is shown with its mark, and its change is seen too.
    defaults = role_copy / "defaults" / "main.yml"
    assert "`{{ local_pki_dir }}/{{ local_pki_cert_name }}` †" in text
    defaults.write_text(
        defaults.read_text().replace("{{ local_pki_dir }}/{{ local_pki_cert_name }}", "/srv/x")
    )
    result = _tool("--check", role_copy)
    assert result.returncode == 1
    assert "stale" in result.stderr


def test_a_readme_without_markers_or_missing_fails_the_check(role_copy):
    readme = role_copy / "README.md"
    text = readme.read_text()
    start, end = text.index(role_docs.BEGIN), text.index(role_docs.END) + len(role_docs.END)
    readme.write_text(text[:start] + text[end:])
    result = _tool("--check", role_copy)
    assert result.returncode == 1
    assert f"{readme}: no generated section" in result.stderr

    # Rewriting appends the section under its own heading, keeping the README's text.
    assert _tool(role_copy).returncode == 0
    rewritten = readme.read_text()
    assert rewritten.startswith(text[:start].rstrip("\n"))
    assert role_docs.BEGIN in rewritten

    readme.unlink()
    result = _tool("--check", role_copy)
    assert result.returncode == 1
    assert f"{readme}: missing" in result.stderr


def test_the_output_is_deterministic(role_copy):
    assert role_docs.generate(role_copy) == role_docs.generate(role_copy)
    assert _tool(role_copy).returncode == 0
    first = (role_copy / "README.md").read_bytes()
    assert _tool(role_copy).returncode == 0
    assert (role_copy / "README.md").read_bytes() == first


@pytest.mark.parametrize(
    ("text", "table", "expected"),
    [
        (
            "C(a) V(b) O(c=d) RV(e) E(HOME) M(ansible.builtin.copy)",
            False,
            "`a` `b` `c=d` `e` `HOME` `ansible.builtin.copy`",
        ),
        (
            "I(it) B(bold) U(https://x.example) L(text,https://y.example)",
            False,
            "*it* **bold** <https://x.example> [text](https://y.example)",
        ),
        ("C(a|b) and x|y", True, "`a\\|b` and x\\|y"),
        ("C(a|b)", False, "`a|b`"),
        ("<platform>-<env> a*b snake_case _edge_", False, "\\<platform>-\\<env> a\\*b snake_case \\_edge\\_"),
        ("C(`tick`)", False, "`` `tick` ``"),
        ("GCM(x) API(y)", False, "GCM(x) API(y)"),
        ("one\n  two", False, "one two"),
    ],
)
def test_ansible_markup_becomes_markdown(text, table, expected):
    assert role_docs.markup(text, table=table) == expected
