"""tools/no_deprecations.py: the integration deploy fails on any deprecation warning in its output."""

from __future__ import annotations

import importlib.util
import io
import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("no_deprecations", ROOT / "tools" / "no_deprecations.py")
no_deprecations = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(no_deprecations)


def _run(script: str) -> tuple[int, str]:
    out = io.StringIO()
    return no_deprecations.run([sys.executable, "-c", script], out=out), out.getvalue()


def test_a_clean_run_passes_and_its_output_is_shown():
    code, output = _run("print('PLAY RECAP'); import sys; print('ok=3', file=sys.stderr)")
    assert code == 0
    assert output.splitlines() == ["PLAY RECAP", "ok=3"]


def test_an_ansible_deprecation_fails_the_run_even_on_stderr():
    line = (
        "[DEPRECATION WARNING]: The 'port' alias is deprecated. This feature will be removed from collection"
    )
    code, output = _run(f"import sys; print({line!r}, file=sys.stderr); print('changed=0')")
    assert code == no_deprecations.FOUND_DEPRECATIONS
    assert output.endswith(
        f"1 deprecation warning(s) in the output of {sys.executable}: failing.\n  {line}\n"
    )


def test_a_python_deprecation_warning_fails_the_run():
    code, output = _run(
        "import warnings; warnings.simplefilter('always'); warnings.warn('old', DeprecationWarning)"
    )
    assert code == no_deprecations.FOUND_DEPRECATIONS
    assert "DeprecationWarning: old" in output


def test_the_commands_own_failure_wins():
    code, output = _run("import sys; print('[DEPRECATION WARNING]: x'); sys.exit(2)")
    assert code == 2
    assert "1 deprecation warning(s)" in output


def test_no_command_is_a_usage_error(capsys):
    assert no_deprecations.main([]) == 2
    assert "no_deprecations.py" in capsys.readouterr().err


def test_deprecations_are_told_apart_from_other_warnings():
    lines = [
        "[WARNING]: Deprecation warnings can be disabled",
        "[DEPRECATION WARNING]: x",
        "PendingDeprecationWarning: y",
    ]
    assert no_deprecations.deprecations(lines) == ["[DEPRECATION WARNING]: x", "PendingDeprecationWarning: y"]


IAM_ROLE_LINE = (
    "[DEPRECATION WARNING]: In a release after 2026-05-01 iam_role.assume_role_policy_document_raw will no "
    "longer be returned.  Since release 8.0.0 assume_role_policy_document has been returned with the same "
    "format as iam_role.assume_role_policy_document_raw. This feature will be removed from collection "
    "'amazon.aws' in a release after 2026-05-01."
)


def test_the_one_accepted_deprecation_expires_with_the_release_that_fixes_it(monkeypatch):
    """amazon.aws 10.x and 11.x announce it on every iam_role call; from 12.0.0 the line fails again."""
    installed = no_deprecations.collection_version("amazon", "aws")
    assert installed < (12, 0, 0), "amazon.aws 12 is here: drop ACCEPTED_UNTIL_FIXED"
    assert no_deprecations.deprecations([IAM_ROLE_LINE]) == []
    monkeypatch.setattr(no_deprecations, "collection_version", lambda *_: (12, 0, 0))
    assert no_deprecations.deprecations([IAM_ROLE_LINE]) == [IAM_ROLE_LINE]
    # Any other amazon.aws deprecation still fails, today.
    monkeypatch.undo()
    other = "[DEPRECATION WARNING]: In a release after 2026-05-01 the 'delete_instance_profile' option goes."
    assert no_deprecations.deprecations([other]) == [other]
    assert no_deprecations.collection_version("no_such", "collection") == (0,)


def test_no_task_reads_the_deprecated_return_value():
    """What makes the accepted line harmless: nothing of the collection uses the value it announces."""
    readers = [
        str(path.relative_to(ROOT))
        for pattern in ("roles/**/*.yml", "playbooks/**/*.yml", "plugins/**/*.py", "molecule/**/*.yml")
        for path in ROOT.glob(pattern)
        if "assume_role_policy_document_raw" in path.read_text(errors="replace")
    ]
    assert readers == []


WARNINGS_LINE = (
    "[DEPRECATION WARNING]: Passing `warnings` to `exit_json` or `fail_json` is deprecated. This feature "
    "will be removed from ansible-core version 2.23. Use `AnsibleModule.warn` instead."
)


def test_the_warnings_line_is_accepted_until_ansible_core_removes_it(monkeypatch):
    """amazon.aws hands module.warn()'s warnings to exit_json on ansible-core 2.19+; 2.23 removes that."""
    assert no_deprecations.collection_version("ansible", "core") < (2, 23, 0)
    assert no_deprecations.deprecations([WARNINGS_LINE]) == []
    monkeypatch.setattr(no_deprecations, "collection_version", lambda *_: (2, 23, 0))
    assert no_deprecations.deprecations([WARNINGS_LINE]) == [WARNINGS_LINE]


def test_the_cause_of_the_warnings_line_is_amazon_aws():
    """The accepted line is amazon.aws's doing: AnsibleAWSModule hands module.warn()'s warnings to
    exit_json itself (when it stops, the line has no cause left and its acceptance can go)."""
    import inspect

    from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule

    assert 'kwargs["warnings"]' in inspect.getsource(AnsibleAWSModule.exit_json)


TEXT_SHIM_LINES = [
    f"[DEPRECATION WARNING]: Importing '{name}' from 'ansible.module_utils._text' is deprecated. This "
    "feature will be removed from ansible-core version 2.24. Use "
    "ansible.module_utils.common.text.converters instead."
    for name in ("to_bytes", "to_native", "to_text")
]


def test_the_text_shim_lines_are_accepted_until_ansible_core_removes_the_shim(monkeypatch):
    """ansible-core 2.21 announces the end of module_utils._text; 2.24 removes it."""
    assert no_deprecations.collection_version("ansible", "core") < (2, 24, 0)
    assert no_deprecations.deprecations(TEXT_SHIM_LINES) == []
    other = TEXT_SHIM_LINES[0].replace("'to_bytes'", "'container_to_bytes'")
    assert no_deprecations.deprecations([other]) == [other]
    monkeypatch.setattr(no_deprecations, "collection_version", lambda *_: (2, 24, 0))
    assert no_deprecations.deprecations(TEXT_SHIM_LINES) == TEXT_SHIM_LINES


def test_the_cause_of_the_text_shim_lines_is_community_aws_alone():
    """community.aws imports from the shim (secretsmanager_secret, which the security baseline runs);
    none of our plugins does, nor any other collection the roles use: a new importer fails here."""

    def importers(namespace: str, name: str) -> list[str]:
        spec = importlib.util.find_spec(f"ansible_collections.{namespace}.{name}")
        plugins = pathlib.Path(next(iter(spec.submodule_search_locations))) / "plugins"
        return sorted(
            str(path.relative_to(plugins))
            for path in plugins.rglob("*.py")
            if "module_utils._text" in path.read_text(errors="replace")
        )

    assert "modules/secretsmanager_secret.py" in importers("community", "aws")
    for collection in (
        ("amazon", "aws"),
        ("community", "crypto"),
        ("community", "postgresql"),
        ("kubernetes", "core"),
        ("ansible", "utils"),
        ("community", "general"),
    ):
        assert importers(*collection) == [], collection
    ours = [
        str(path.relative_to(ROOT))
        for path in (ROOT / "plugins").rglob("*.py")
        if "module_utils._text" in path.read_text(errors="replace")
    ]
    assert ours == []
