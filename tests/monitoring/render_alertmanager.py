"""Render roles/monitoring/templates/alertmanager.yml.j2 outside Ansible, for amtool.

The role renders the template with ansible.builtin.template; this script does the same with
plain Jinja2 (Ansible's trim_blocks, the to_json filter and ansible_managed) from a variables
file, so the unit tests can check the result with `amtool` without running a playbook.

Usage: python tests/monitoring/render_alertmanager.py VARS_FILE [OUTPUT]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import jinja2
import yaml

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "roles" / "monitoring" / "templates" / "alertmanager.yml.j2"


def render(vars_file: Path) -> str:
    """Return the Alertmanager configuration rendered with the variables of vars_file."""
    variables = yaml.safe_load(vars_file.read_text(encoding="utf-8"))
    variables.setdefault(
        "ansible_managed", "Ansible managed (rendered by tests/monitoring/render_alertmanager.py)"
    )
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATE.parent)),
        trim_blocks=True,
        keep_trailing_newline=True,
        undefined=jinja2.StrictUndefined,
        autoescape=False,  # noqa: S701 - YAML, not HTML
    )
    env.filters["to_json"] = json.dumps
    return env.get_template(TEMPLATE.name).render(**variables)


def main(argv: list[str]) -> int:
    """Render the template; write OUTPUT, or print it."""
    if len(argv) not in (2, 3):
        sys.stderr.write(__doc__ or "")
        return 2
    text = render(Path(argv[1]))
    if len(argv) == 3:
        Path(argv[2]).write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
