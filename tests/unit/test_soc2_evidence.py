"""tools/soc2_evidence.py: the SOC 2 matrix never claims a control that no passing test shows."""

from __future__ import annotations

import importlib.util
import json
import pathlib
import textwrap

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("soc2_evidence", ROOT / "tools" / "soc2_evidence.py")
evidence = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(evidence)

MOD = "tests/integration/test_tls_access.py"


def _junit(
    path: pathlib.Path, cases: str, timestamp: str = "2026-11-29T09:00:00.000000+00:00"
) -> pathlib.Path:
    path.write_text(
        '<?xml version="1.0" encoding="utf-8"?>\n<testsuites>'
        f'<testsuite name="pytest" errors="0" failures="0" skipped="0" tests="1" timestamp="{timestamp}">'
        f"{textwrap.dedent(cases)}</testsuite></testsuites>\n"
    )
    return path


def _case(name: str, body: str = "", classname: str = "tests.integration.test_tls_access") -> str:
    return f'<testcase classname="{classname}" name="{name}" time="0.1">{body}</testcase>'


@pytest.mark.parametrize(
    ("nodeid", "key"),
    [
        (f"{MOD}::test_x", ("tests.integration.test_tls_access", "test_x")),
        (f"{MOD}::test_x[redis-TLSv1_1]", ("tests.integration.test_tls_access", "test_x[redis-TLSv1_1]")),
        ("tests/unit/test_a.py::TestCls::test_y[1]", ("tests.unit.test_a.TestCls", "test_y[1]")),
    ],
)
def test_junit_key_is_what_pytest_junitxml_writes(nodeid, key):
    assert evidence.junit_key(nodeid) == key


def test_results_passed_failed_error_skipped(tmp_path):
    cases = "".join(
        [
            _case("test_ok"),
            _case("test_bad", '<failure message="boom">boom</failure>'),
            _case("test_err", '<error message="setup">setup</error>'),
            _case("test_skip", '<skipped message="no">no</skipped>'),
        ]
    )
    when, results = evidence.read_junit(_junit(tmp_path / "integration.xml", cases))
    assert when == "2026-11-29T09:00:00+00:00"
    klass = "tests.integration.test_tls_access"
    assert results == {
        (klass, "test_ok"): "passed",
        (klass, "test_bad"): "failed",
        (klass, "test_err"): "failed",
        (klass, "test_skip"): "skipped",
    }


def test_a_teardown_error_reported_after_a_pass_fails_the_test(tmp_path):
    cases = _case("test_ok") + _case("test_ok", '<error message="teardown">x</error>')
    _, results = evidence.read_junit(_junit(tmp_path / "integration.xml", cases))
    assert results == {("tests.integration.test_tls_access", "test_ok"): "failed"}


def test_coverage_xml_is_not_a_junit_file(tmp_path):
    coverage = tmp_path / "coverage.xml"
    coverage.write_text('<?xml version="1.0" ?><coverage version="7"><packages/></coverage>')
    assert evidence.read_junit(coverage) is None
    broken = tmp_path / "broken.xml"
    broken.write_text("<testsuites><testsuite>")
    assert evidence.read_junit(broken) is None


def test_the_newest_run_of_a_test_wins(tmp_path):
    old = _junit(tmp_path / "a.xml", _case("test_x", "<failure>old</failure>"), "2026-11-01T08:00:00+00:00")
    new = _junit(tmp_path / "b.xml", _case("test_x"), "2026-11-29T08:00:00+00:00")
    key = ("tests.integration.test_tls_access", "test_x")
    assert evidence.read_results([new, old])[key] == ("passed", "2026-11-29T08:00:00+00:00")
    old.write_text(old.read_text().replace("2026-11-01", "2026-11-30"))
    assert evidence.read_results([new, old])[key] == ("failed", "2026-11-30T08:00:00+00:00")


def test_a_criterion_is_evidenced_only_when_every_test_passed(tmp_path):
    cases = "".join(
        [
            _case("test_tls[a]"),
            _case("test_tls[b]"),
            _case("test_login", "<failure>refused nothing</failure>"),
            _case("test_logged"),
            _case("test_skipped", "<skipped/>"),
        ]
    )
    results = evidence.read_results([_junit(tmp_path / "integration.xml", cases)])
    markers = {
        f"{MOD}::test_tls[a]": ["CC6.7"],
        f"{MOD}::test_tls[b]": ["CC6.7"],
        f"{MOD}::test_login": ["CC6.1", "CC7.2"],
        f"{MOD}::test_logged": ["CC7.2"],
        f"{MOD}::test_skipped": ["CC6.6"],
    }
    matrix = evidence.build_matrix(markers, results)
    assert matrix["CC6.7"]["evidenced"] is True
    assert matrix["CC6.1"]["evidenced"] is False  # its only test failed
    assert matrix["CC7.2"]["evidenced"] is False  # one passed, one failed
    assert matrix["CC6.6"]["evidenced"] is False  # skipped is not passed
    assert (f"{MOD}::test_login", "failed", "2026-11-29T09:00:00+00:00") in matrix["CC7.2"]["tests"]


def test_a_test_that_did_not_run_does_not_evidence(tmp_path):
    results = evidence.read_results([_junit(tmp_path / "unit.xml", _case("test_other"))])
    matrix = evidence.build_matrix({f"{MOD}::test_missing": ["CC6.7"]}, results)
    assert matrix["CC6.7"]["tests"] == [(f"{MOD}::test_missing", "not run", "")]
    assert matrix["CC6.7"]["evidenced"] is False


def test_a_criterion_without_tests_or_without_a_control_is_not_evidenced():
    matrix = evidence.build_matrix(
        {f"{MOD}::test_x": ["CC9.9"]}, {(MOD[:-3].replace("/", "."), "test_x"): ("passed", "")}
    )
    assert set(evidence.CONTROLS) <= set(matrix)
    assert all(not row["evidenced"] for c, row in matrix.items() if c != "CC9.9" and not row["tests"])
    assert matrix["CC9.9"]["evidenced"] is False
    assert "UNKNOWN CRITERION" in matrix["CC9.9"]["control"]


def test_main_writes_the_matrix(tmp_path):
    junit_dir = tmp_path / "output"
    junit_dir.mkdir()
    cases = _case("test_tls") + _case("test_cipher", "<failure>accepted CBC</failure>")
    _junit(junit_dir / "integration.xml", cases)
    (junit_dir / "coverage.xml").write_text("<coverage/>")
    markers = tmp_path / "markers.json"
    markers.write_text(json.dumps({f"{MOD}::test_tls": ["CC6.1"], f"{MOD}::test_cipher": ["CC6.7"]}))
    out = tmp_path / "docs" / "soc2-matrix.md"
    argv = ["--markers", str(markers), "--junit-dir", str(junit_dir), "--output", str(out)]
    assert evidence.main(argv) == 0
    text = out.read_text()
    assert "| CC6.1 |" in text and "| evidenced | 1/1 |" in text
    assert "| CC6.7 |" in text and "| **NOT evidenced** | 0/1 |" in text
    assert f"`{MOD}::test_cipher` | **failed** | 2026-11-29T09:00:00+00:00 |" in text
    assert "coverage.xml" not in text
    assert evidence.main([*argv, "--strict"]) == 1


def test_the_plugin_collects_the_soc2_markers(tmp_path):
    (tmp_path / "test_sample.py").write_text(
        textwrap.dedent(
            """
            import pytest

            @pytest.mark.soc2("CC6.7", "CC6.1")
            @pytest.mark.parametrize("n", [1, 2])
            def test_marked(n):
                pass

            class TestGroup:
                @pytest.mark.soc2("CC7.2")
                def test_in_class(self):
                    pass

            def test_unmarked():
                pass
            """
        )
    )
    markers = evidence.collect_markers(["test_sample.py"], cwd=tmp_path)
    assert markers == {
        "test_sample.py::test_marked[1]": ["CC6.1", "CC6.7"],
        "test_sample.py::test_marked[2]": ["CC6.1", "CC6.7"],
        "test_sample.py::TestGroup::test_in_class": ["CC7.2"],
    }
