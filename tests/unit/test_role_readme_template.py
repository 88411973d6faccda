"""The roles' READMEs: aar-doc with our template (docs/templates/role_variables.md.j2, .aar_doc.yml).

aar-doc renders; what is ours is the template, tested here on a role made for it, and the markers
every role's README must hold. `nox -s lint`'s role-docs hook regenerates every README and fails on a
change (that the tree is current is its job, not a test's).
"""

import pathlib
import shutil
import subprocess
import sys
import textwrap

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
BEGIN, END = "<!-- BEGIN_ANSIBLE_DOCS -->", "<!-- END_ANSIBLE_DOCS -->"

SPEC = """\
argument_specs:
  main:
    short_description: A role made for the test.
    description:
      - First paragraph with O(demo_state=absent) and C(cron(<m> <h> ? * * *)).
      - GCM(x) is no markup; I(it), B(bold), RV(out), E(HOME), P(giftcrypto.platform.pg_migrate#module).
    options:
      demo_state:
        type: str
        default: present
        choices: [present, absent]
        description: V(present) or V(absent).
      demo_name:
        type: str
        description: Name with a|pipe and <placeholder>, see L(the docs,https://example.com/x).
      demo_required:
        type: list
        elements: str
        required: true
        description: Required, no default.
      demo_password:
        type: str
        no_log: true
        default: ""
        description: A secret.
      demo_rules:
        type: list
        elements: dict
        default: []
        description: Rules.
        options:
          port:
            type: int
            required: true
            description: Port of the rule.
      demo_map:
        type: dict
        default: {b: 2, a: 1}
        description:
          - Paragraph one.
          - Paragraph two.
        options:
          a:
            type: int
            description: Key a.
  other:
    short_description: A second entry point
"""


def _aar_doc(role: pathlib.Path) -> subprocess.CompletedProcess:
    """aar-doc as the hook runs it: from the root (where .aar_doc.yml names the template)."""
    program = pathlib.Path(sys.executable).parent / "aar-doc"
    command = str(program) if program.exists() else shutil.which("aar-doc")
    assert command, "aar-doc is missing: the docs dependency group (nox -s lint and nox -s docs install it)"
    return subprocess.run(
        [command, str(role), "markdown"], cwd=ROOT, capture_output=True, text=True, timeout=120, check=False
    )


@pytest.fixture
def role(tmp_path):
    role = tmp_path / "roles" / "demo"
    (role / "meta").mkdir(parents=True)
    # aar-doc also renders its own page (unused: .aar_doc.yml's template only takes our section), which
    # reads these fields of meta/main.yml.
    galaxy = "galaxy_info:\n  author: test\n  description: Demo.\n  license: MIT\n  platforms: []\n"
    (role / "meta" / "main.yml").write_text(galaxy)
    (role / "meta" / "argument_specs.yml").write_text(SPEC)
    (role / "README.md").write_text(f"# demo\n\nProse kept.\n\n{BEGIN}\n{END}\n\nAfter kept.\n")
    return role


def _section(role: pathlib.Path) -> str:
    result = _aar_doc(role)
    assert result.returncode == 0, result.stdout + result.stderr
    return (role / "README.md").read_text()


def test_the_section_goes_between_the_markers_and_the_prose_stays(role):
    text = _section(role)
    assert text.startswith("# demo\n\nProse kept.\n\n" + BEGIN + "\n")
    assert text.endswith(END + "\n\nAfter kept.\n")
    assert text.count(BEGIN) == text.count(END) == 1
    assert "### Entry point `main`" in text
    assert "### Entry point `other`\n\nA second entry point.\n\nNo options." in text
    assert text.index("Entry point `main`") < text.index("Entry point `other`")


def test_ansible_markup_becomes_markdown(role):
    text = _section(role)
    assert "- First paragraph with `demo_state=absent` and `cron(<m> <h> ? * * *)`." in text
    assert "- GCM(x) is no markup; *it*, **bold**, `out`, `HOME`, `giftcrypto.platform.pg_migrate`." in text
    # In a table cell: the pipe is escaped, a bare < does not open an HTML tag, L() is a link.
    assert "Name with a\\|pipe and \\<placeholder>, see [the docs](https://example.com/x)." in text
    assert "| `present`, `absent` | `present` or `absent`. |" in text


def test_rows_defaults_suboptions_and_secrets(role):
    text = _section(role)
    rows = {line.split(" | ")[0].strip("| `"): line for line in text.splitlines() if line.startswith("| `")}
    assert rows["demo_state"].startswith("| `demo_state` | str | no | `present` |")
    # Not in the spec: the role's defaults/ holds it.
    assert rows["demo_name"].startswith("| `demo_name` | str | no | [defaults/](defaults/) |")
    assert rows["demo_required"].startswith("| `demo_required` | list of str | yes |  |")
    assert rows["demo_password"].endswith("| A secret. Never logged (`no_log`). |")
    assert rows["demo_password"].startswith('| `demo_password` | str | no | `""` |')
    assert rows["demo_rules[].port"].startswith("| `demo_rules[].port` | int | yes |  |")
    assert rows["demo_map"].startswith('| `demo_map` | dict | no | `{"a": 1, "b": 2}` |')
    assert rows["demo_map"].endswith("| Paragraph one.<br><br>Paragraph two. |")
    assert rows["demo_map.a"].startswith("| `demo_map.a` | int | no |  |")
    assert "is not in the argument spec: it is the value in the role's" in text


def test_a_second_run_changes_nothing_and_a_spec_change_shows(role):
    first = _section(role)
    assert _section(role) == first
    spec = role / "meta" / "argument_specs.yml"
    spec.write_text(spec.read_text().replace("description: Rules.", "description: Firewall rules."))
    changed = _section(role)
    assert changed != first
    assert "| Firewall rules. |" in changed


def test_every_role_readme_has_the_markers_once():
    roles = sorted(p.parent.parent for p in (ROOT / "roles").glob("*/meta/argument_specs.yml"))
    assert roles
    for path in roles:
        text = (path / "README.md").read_text()
        assert text.count(BEGIN + "\n") == 1, path.name
        assert text.count(END + "\n") == 1, path.name


def test_the_template_renders_the_role_spec_as_the_readme_holds_it(tmp_path):
    """One real role, copied: aar-doc gives back the README as committed (what the hook checks)."""
    copy = tmp_path / "roles" / "local_pki"
    shutil.copytree(ROOT / "roles" / "local_pki", copy)
    expected = (copy / "README.md").read_text()
    assert _section(copy) == expected, textwrap.shorten(expected, 200)
