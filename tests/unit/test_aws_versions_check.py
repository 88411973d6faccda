"""tools/aws_versions_check.py: every pinned version against the catalogue, 90 days ahead.

The same check runs in `nox -s lint` (a pre-commit hook run on every lint) on the day it runs; here
it runs on today's date (it must pass: the pins are current) and on later dates (it must fail,
naming the file, the variable, the value and the date), and on a copy of the tree with a stale pin.
"""

from __future__ import annotations

import importlib.util
import pathlib
import shutil
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]


def _load():
    spec = importlib.util.spec_from_file_location(
        "aws_versions_check", ROOT / "tools" / "aws_versions_check.py"
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


check = _load()


def test_every_pin_is_found():
    found = {(p["where"], p["variable"], p["value"]) for p in check.pins()}
    assert ("roles/aws_eks/defaults/main.yml", "aws_eks_kubernetes_version", "1.36") in found
    assert ("roles/aws_eks/defaults/main.yml", "aws_eks_supported_versions", "1.36") in found
    assert ("roles/aws_rds/defaults/main.yml", "aws_rds_engine_version", "17.10") in found
    assert ("roles/aws_elasticache/defaults/main.yml", "aws_elasticache_engine_version", "7.1") in found
    assert ("roles/monitoring/defaults/main/eks.yml", "monitoring_eks_kubernetes_version", "1.36") in found
    for env in ("local", "staging", "production"):
        assert (f"inventories/{env}/group_vars/all/eks.yml", "aws_eks_kubernetes_version", "1.36") in found
    assert ("molecule/aws_eks/molecule.yml", "aws_eks_kubernetes_version", "1.36") in found
    # Templates refer to another pin: not read twice.
    assert not any("{{" in value for _, _, value in found)


def test_the_pins_pass_today(capsys):
    assert check.main([]) == 0
    assert "none past or within 90 days" in capsys.readouterr().out


def test_the_pins_pass_on_the_catalogues_date(capsys):
    assert check.main(["--today", "2026-12-06"]) == 0


def test_a_later_date_fails_90_days_before_the_end_of_standard_support(capsys):
    # EKS 1.36's standard support ends on 2027-08-02: 90 days before is 2027-05-04.
    assert check.main(["--today", "2027-05-03"]) == 0
    capsys.readouterr()
    assert check.main(["--today", "2027-05-04"]) == 1
    err = capsys.readouterr().err
    assert (
        "roles/aws_eks/defaults/main.yml: aws_eks_kubernetes_version=1.36: its standard support ends on "
        "2027-08-02, "
        "in 90 days (this check fails 90 days ahead); move the pin now"
    ) in err
    assert "inventories/production/group_vars/all/eks.yml: aws_eks_kubernetes_version=1.36" in err


def test_a_date_past_the_end_fails_for_every_stale_pin(capsys):
    assert check.main(["--today", "2030-03-01"]) == 1
    err = capsys.readouterr().err
    assert "aws_eks_kubernetes_version=1.36: its standard support ended on 2027-08-02" in err
    assert "aws_rds_engine_version=17.10: its standard support ended on 2030-02-28" in err
    # Redis OSS 7 has no announced end: no message for it.
    assert "aws_elasticache_engine_version" not in err


@pytest.fixture
def tree(tmp_path):
    """A copy of the files the check reads."""
    for pattern in (*check.SOURCES, "roles/preflight/files/aws_catalogue.yml"):
        for path in ROOT.glob(pattern):
            target = tmp_path / path.relative_to(ROOT)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, target)
    return tmp_path


def test_a_stale_pin_in_an_inventory_fails(tree, capsys):
    path = tree / "inventories" / "staging" / "group_vars" / "all" / "eks.yml"
    path.write_text(
        path.read_text().replace('aws_eks_kubernetes_version: "1.36"', 'aws_eks_kubernetes_version: "1.30"')
    )
    rds = tree / "roles" / "aws_rds" / "defaults" / "main.yml"
    rds.write_text(
        rds.read_text().replace('aws_rds_engine_version: "17.10"', 'aws_rds_engine_version: "17.4"')
    )
    assert check.main(["--root", str(tree), "--today", "2026-12-06"]) == 1
    err = capsys.readouterr().err
    assert (
        "inventories/staging/group_vars/all/eks.yml: aws_eks_kubernetes_version=1.30: its standard support "
        "ended on 2025-07-23 (extended support until 2026-07-23)"
    ) in err
    assert (
        "roles/aws_rds/defaults/main.yml: aws_rds_engine_version=17.4: RDS creates no new instance on it "
        "since 2026-05-01" in err
    )


def test_a_version_the_catalogue_does_not_know_fails(tree, capsys):
    path = tree / "roles" / "aws_elasticache" / "defaults" / "main.yml"
    path.write_text(
        path.read_text().replace(
            'aws_elasticache_engine_version: "7.1"', 'aws_elasticache_engine_version: "9.9"'
        )
    )
    eks = tree / "roles" / "aws_eks" / "defaults" / "main.yml"
    eks.write_text(
        eks.read_text().replace(
            'aws_eks_supported_versions: ["1.36"]', 'aws_eks_supported_versions: ["1.36", "1.40"]'
        )
    )
    assert check.main(["--root", str(tree), "--today", "2026-12-06"]) == 1
    err = capsys.readouterr().err
    assert (
        "aws_elasticache_engine_version=9.9: not an ElastiCache version of the catalogue of 2026-12-06" in err
    )
    assert "aws_eks_supported_versions=1.40: not an EKS version of the catalogue" in err
