"""The delivery workflows (issue 19): cd-staging builds, scans and pushes the image, hands its digest
to the deploy, which runs on the in-VPC runner; cd-production deploys the digest staging ran; the
scan's allow-list refuses an entry without a reason or past its expiry."""

from __future__ import annotations

import datetime
import importlib.util
import pathlib
import re

import pytest
import yaml

ROOT = pathlib.Path(__file__).resolve().parents[2]
WORKFLOWS = ROOT / ".github" / "workflows"
ALLOWLIST = ROOT / ".github" / "image-allowlist.yaml"
_spec = importlib.util.spec_from_file_location(
    "check_allowlist", ROOT / ".github" / "scripts" / "check_allowlist.py"
)
check_allowlist = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(check_allowlist)

# The label of an AWS CodeBuild-hosted GitHub Actions runner: codebuild-<project>-<run id>-<attempt>
# (the project roles/ci_runner creates in the private subnets).
IN_VPC_RUNNER = re.compile(
    r"^codebuild-\$\{\{ vars\.(STAGING|PRODUCTION)_RUNNER_PROJECT \}\}"
    r"-\$\{\{ github\.run_id \}\}-\$\{\{ github\.run_attempt \}\}$"
)


def _workflow(name: str) -> dict:
    return yaml.safe_load((WORKFLOWS / name).read_text())


def _steps(job: dict) -> list[dict]:
    return job["steps"]


def _uses(step: dict) -> str:
    return step.get("uses", "").split("@")[0]


def _run(job: dict) -> str:
    return "\n".join(step.get("run", "") for step in _steps(job))


@pytest.fixture(scope="module")
def staging() -> dict:
    return _workflow("cd-staging.yml")["jobs"]


@pytest.fixture(scope="module")
def production() -> dict:
    return _workflow("cd-production.yml")["jobs"]


def test_cd_staging_builds_scans_then_pushes_the_image(staging):
    image = staging["image"]
    names = [step["name"] for step in _steps(image)]
    build = next(i for i, s in enumerate(_steps(image)) if "docker build" in s.get("run", ""))
    scans = [
        i
        for i, s in enumerate(_steps(image))
        if _uses(s) == "aquasecurity/trivy-action" and s["with"].get("exit-code") == "1"
    ]
    push = next(i for i, s in enumerate(_steps(image)) if "docker push" in s.get("run", ""))
    assert build < scans[0] < push, names
    scan = _steps(image)[scans[0]]
    assert scan["with"]["severity"] == "HIGH,CRITICAL"
    assert scan["with"]["image-ref"].endswith("${{ steps.ecr.outputs.tag }}")
    assert scan["env"]["TRIVY_IGNOREFILE"] == ".github/image-allowlist.yaml"
    # The Containerfile of the service, from the context container_image.py writes.
    assert "container_image.py context --source service" in _run(image)
    assert "--file /tmp/context/Containerfile" in _run(image)
    # The allow-list is checked before anything is built.
    assert "check_allowlist.py .github/image-allowlist.yaml" in _steps(image)[1]["run"]


def test_cd_staging_attaches_an_sbom_to_the_digest(staging):
    image = staging["image"]
    sbom = [
        s
        for s in _steps(image)
        if _uses(s) == "aquasecurity/trivy-action" and s["with"].get("format") == "cyclonedx"
    ]
    assert sbom and sbom[0]["with"]["output"] == "sbom.cdx.json"
    run = _run(image)
    assert "oras attach --artifact-type application/vnd.cyclonedx+json" in run
    assert '"$REPOSITORY@$DIGEST" sbom.cdx.json:application/vnd.cyclonedx+json' in run


def test_cd_staging_passes_the_digest_to_the_deploy(staging):
    assert staging["image"]["outputs"]["digest"] == "${{ steps.digest.outputs.digest }}"
    deploy = staging["deploy"]
    assert deploy["needs"] == "image"
    assert deploy["env"]["IMAGE_DIGEST"] == "${{ needs.image.outputs.digest }}"
    deploy_step = next(s for s in _steps(deploy) if "nox -s deploy-staging" in s.get("run", ""))
    assert '-e "app_deploy_eks_image_digest=$IMAGE_DIGEST"' in deploy_step["run"]
    assert '-e "app_deploy_release=$IMAGE_TAG"' in deploy_step["run"]


def test_cd_staging_deploys_on_the_in_vpc_runner(staging):
    assert IN_VPC_RUNNER.match(staging["deploy"]["runs-on"]), staging["deploy"]["runs-on"]
    assert "container" not in staging["deploy"]
    # The image job needs the internet, not the VPC: a GitHub-hosted runner.
    assert staging["image"]["runs-on"] == "ubuntu-24.04"


def test_cd_staging_smoke_tests_and_notifies(staging):
    run = _run(staging["deploy"])
    assert ".github/scripts/health_check.py" in run and "check_plan.py" in run
    # No silent success: a staging without health URLs fails instead of warning.
    assert "::error::variable STAGING_HEALTH_URLS is not set" in run
    notify = staging["notify"]
    assert (
        notify["needs"] == ["image", "deploy"] and notify["uses"] == "./.github/workflows/notify-failure.yml"
    )


def test_cd_production_deploys_the_digest_staging_ran_after_the_approval(production):
    deploy = production["deploy"]
    assert deploy["environment"] == "production"
    assert IN_VPC_RUNNER.match(deploy["runs-on"])
    run = _run(deploy)
    # The digest comes from staging's repository (the commit's immutable tag), is copied as it is.
    assert 'aws ecr describe-images --registry-id "$STAGING"' in run
    assert 'oras cp --recursive "$source" "$target:$tag"' in run
    assert '[ "$copied" != "$digest" ]' in run
    step = next(s for s in _steps(deploy) if "nox -s deploy-production" in s.get("run", ""))
    assert step["env"]["IMAGE_DIGEST"] == "${{ steps.image.outputs.digest }}"
    assert '-e "app_deploy_eks_image_digest=$IMAGE_DIGEST"' in step["run"]
    assert "docker build" not in run  # never rebuilt for production
    assert IN_VPC_RUNNER.match(production["rollback"]["runs-on"])


def test_every_action_is_pinned_by_commit():
    for path in WORKFLOWS.glob("*.yml"):
        for job in yaml.safe_load(path.read_text())["jobs"].values():
            for step in job.get("steps", []):
                if "uses" in step:
                    assert re.fullmatch(r"[\w.-]+/[\w.-]+@[0-9a-f]{40}", step["uses"]), (
                        path.name,
                        step["uses"],
                    )


def test_the_containerfile_pins_its_base_by_digest_and_runs_unprivileged():
    text = (ROOT / "service" / "Containerfile").read_text()
    assert re.search(
        r"^ARG BASE_IMAGE=docker\.io/library/debian:bookworm-slim@sha256:[0-9a-f]{64}$", text, re.M
    )
    assert re.search(r"^USER 10001:10001$", text, re.M)
    assert "org.opencontainers.image.revision" in text


# --- the scan's allow-list -------------------------------------------------------------------------
TODAY = datetime.date(2026, 12, 6)


def _entry(**fields) -> dict:
    entry = {
        "id": "CVE-2026-12345",
        "statement": "no fix in bookworm yet; the service never reaches the affected code",
        "expired_at": "2027-01-31",
    }
    entry.update(fields)
    return {key: value for key, value in entry.items() if value is not None}


def test_the_committed_allowlist_passes():
    assert check_allowlist.main([str(ALLOWLIST)]) == 0


def test_an_entry_with_a_reason_and_a_near_expiry_passes():
    assert check_allowlist.problems({"vulnerabilities": [_entry()]}, TODAY) == []


@pytest.mark.parametrize(
    ("fields", "problem"),
    [
        ({"expired_at": "2026-12-05"}, "expired on 2026-12-05"),
        ({"expired_at": None}, "missing expired_at"),
        ({"statement": None}, "missing statement"),
        ({"statement": "accepted"}, "must say why"),
        ({"expired_at": "2027-06-30"}, "more than 90 days ahead"),
        ({"expired_at": "soon"}, "not a YYYY-MM-DD date"),
    ],
)
def test_an_expired_or_unexplained_entry_fails(fields, problem):
    found = check_allowlist.problems({"vulnerabilities": [_entry(**fields)]}, TODAY)
    assert len(found) == 1 and problem in found[0], found


def test_an_expired_entry_fails_the_script(tmp_path):
    path = tmp_path / "allowlist.yaml"
    path.write_text(
        "vulnerabilities:\n"
        "  - id: CVE-2026-12345\n"
        "    statement: >-\n"
        "      no fix in bookworm yet; the service never reaches the affected code\n"
        "    expired_at: 2026-12-01\n"
    )
    assert check_allowlist.main([str(path), "--today", "2026-12-06"]) == 1
    assert check_allowlist.main([str(path), "--today", "2026-11-30"]) == 0


def test_the_minimal_parser_reads_what_pyyaml_reads(tmp_path):
    text = (
        "# comment\n"
        "---\n"
        "vulnerabilities:\n"
        "  - id: CVE-2026-1\n"
        "    statement: >-\n"
        "      first line\n"
        "      second line\n"
        "    expired_at: 2027-01-01\n"
        "  - id: CVE-2026-2\n"
        "    statement: short reason here, long enough\n"
        "    expired_at: 2027-01-02\n"
    )
    minimal = check_allowlist._parse_minimal(text)
    parsed = yaml.safe_load(text)
    assert [e["id"] for e in minimal["vulnerabilities"]] == [e["id"] for e in parsed["vulnerabilities"]]
    assert [e["statement"] for e in minimal["vulnerabilities"]] == [
        e["statement"] for e in parsed["vulnerabilities"]
    ]
    assert [e["expired_at"] for e in minimal["vulnerabilities"]] == [
        str(e["expired_at"]) for e in parsed["vulnerabilities"]
    ]
