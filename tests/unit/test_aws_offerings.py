"""The offering checks (module_utils/aws_offerings.py, the offering filters) and the catalogue itself."""

from __future__ import annotations

import pathlib
import re

import pytest
import yaml
from ansible.errors import AnsibleFilterError
from ansible_collections.giftcrypto.platform.plugins.filter import offerings
from ansible_collections.giftcrypto.platform.plugins.module_utils import aws_offerings

ROOT = pathlib.Path(__file__).resolve().parents[2]
CATALOGUE = yaml.safe_load((ROOT / "roles" / "preflight" / "files" / "aws_catalogue.yml").read_text())
TODAY = "2026-12-06"
ZONES = ["us-east-1a", "us-east-1b", "us-east-1c"]


@pytest.fixture
def local():
    return offerings.catalogue_offered(CATALOGUE, "us-east-1")


def _problems(checks, offered, today=TODAY):
    return offerings.offering_problems(checks, offered, today)


# --- The catalogue -------------------------------------------------------------------------------


def test_the_catalogue_is_dated_and_every_row_names_its_aws_page():
    assert CATALOGUE["as_of"] == "2026-12-06"
    rows = [
        *CATALOGUE["eks"]["versions"],
        *CATALOGUE["rds_postgres"]["majors"],
        *(row for rows in CATALOGUE["elasticache"]["engines"].values() for row in rows),
    ]
    for row in rows:
        assert re.match(r"^https://docs\.aws\.amazon\.com/", row["source"]), row
        standard = aws_offerings.parse_date(row.get("end_of_standard_support"))
        extended = aws_offerings.parse_date(row.get("end_of_extended_support"))
        assert (standard is None) == (extended is None), row
        assert standard is None or extended > standard, row


def test_the_catalogue_holds_the_dates_of_the_issue():
    eks = {r["version"]: r for r in CATALOGUE["eks"]["versions"]}
    assert eks["1.29"]["end_of_extended_support"] == "2026-03-23"
    assert eks["1.30"]["end_of_extended_support"] == "2026-07-23"
    assert eks["1.31"]["end_of_extended_support"] == "2026-11-26"
    assert [eks[v]["end_of_standard_support"] for v in ("1.32", "1.33", "1.34")] == [
        "2026-03-23",
        "2026-07-29",
        "2026-12-02",
    ]
    assert (eks["1.35"]["eks_release"], eks["1.35"]["end_of_standard_support"]) == (
        "2026-01-28",
        "2027-03-27",
    )
    rds = {r["major"]: r for r in CATALOGUE["rds_postgres"]["majors"]}
    assert rds["14"]["end_of_standard_support"] == "2027-02-28"
    gone = CATALOGUE["rds_postgres"]["not_created_since"]
    assert gone["date"] == "2026-05-01"
    for major, first, last in (("14", 14, 17), ("15", 9, 12), ("16", 5, 8), ("17", 1, 4)):
        for minor in range(first, last + 1):
            assert f"{major}.{minor}" in gone["versions"]
            assert f"{major}.{minor}" not in rds[major]["creatable"]
    for target in ("14.20", "15.15", "16.11", "17.7"):
        assert target in rds[target.split(".")[0]]["creatable"]


# --- Zones ---------------------------------------------------------------------------------------


def test_zones_of_another_region_are_refused(local):
    checks = {
        "zones": {
            "variable": "aws_network_availability_zones",
            "value": ["eu-west-1a", "us-east-1b"],
            "region": "us-east-1",
        }
    }
    (problem,) = _problems(checks, local)
    assert problem.startswith(
        "aws_network_availability_zones: eu-west-1a is not a zone of aws_region=us-east-1"
    )
    assert "its zones are us-east-1a, us-east-1b" in problem
    assert _problems({"zones": {**checks["zones"], "value": ZONES}}, local) == []


def test_a_region_the_catalogue_does_not_know_refuses_every_zone():
    offered = offerings.catalogue_offered(CATALOGUE, "ap-south-2")
    checks = {
        "zones": {
            "variable": "aws_network_availability_zones",
            "value": ["ap-south-2a"],
            "region": "ap-south-2",
        }
    }
    (problem,) = _problems(checks, offered)
    assert "the region ap-south-2 is unknown to it" in problem


# --- EKS -----------------------------------------------------------------------------------------


def _eks(value, **extra):
    return {"eks_version": {"variable": "aws_eks_kubernetes_version", "value": value, **extra}}


def test_eks_versions_past_extended_support_are_refused(local):
    (problem,) = _problems(_eks("1.31"), local)
    assert problem.startswith("aws_eks_kubernetes_version=1.31: EKS creates no cluster on it")
    assert "its extended support ended on 2026-11-26" in problem
    assert "1.36 (standard support until 2027-08-02)" in problem
    (problem,) = _problems(_eks("1.23"), local)
    assert "EKS creates no cluster on it" in problem


def test_eks_versions_in_extended_support_only_as_an_upgrade_step(local):
    (problem,) = _problems(_eks("1.34"), local)
    assert "its standard support ended on 2026-12-02" in problem
    assert "1.35 (until 2027-03-27), 1.36 (until 2027-08-02)" in problem
    assert "aws_eks_upgrade_step=true" in problem
    assert _problems(_eks("1.34", upgrade_step=True), local) == []
    assert _problems(_eks("1.36"), local) == []


def test_a_version_is_judged_on_the_day(local):
    assert _problems(_eks("1.36"), local, "2027-08-01") == []
    (problem,) = _problems(_eks("1.36"), local, "2027-08-02")
    assert "its standard support ended on 2027-08-02" in problem


def test_more_than_one_minor_above_the_running_cluster_is_refused(local):
    offered = {**local, "eks_cluster_version": "1.32"}
    (problem,) = _problems(_eks("1.36", cluster="giftcrypto-staging"), offered)
    assert "the cluster giftcrypto-staging runs 1.32" in problem
    assert "deploy 1.33 first (-e aws_eks_kubernetes_version=1.33 -e aws_eks_upgrade_step=true)" in problem
    assert _problems(_eks("1.33", upgrade_step=True), offered) == []
    # A cluster already newer than the pin is the module's business (it keeps it, with a warning).
    assert _problems(_eks("1.36"), {**local, "eks_cluster_version": "1.36"}) == []


def test_aws_status_wins_over_dates():
    offered = {
        "source": "AWS (us-east-1)",
        "eks_versions": [{"version": "1.36", "status": "EXTENDED_SUPPORT", "end_of_standard_support": None}],
    }
    (problem,) = _problems(_eks("1.36"), offered)
    assert "standard support ended" in problem


# --- RDS -----------------------------------------------------------------------------------------


def _rds(value):
    return {"rds_version": {"variable": "aws_rds_engine_version", "value": value}}


def test_rds_minors_rds_no_longer_creates_are_refused(local):
    (problem,) = _problems(_rds("17.4"), local)
    assert problem == (
        "aws_rds_engine_version=17.4: RDS creates no new instance on it since 2026-05-01 (the catalogue "
        "roles/preflight/files/aws_catalogue.yml of 2026-12-06); it creates 17.7, 17.8, 17.9, 17.10"
    )
    (problem,) = _problems(_rds("17.5"), local)
    assert "not a version RDS creates" in problem
    assert _problems(_rds("17.10"), local) == []


def test_an_rds_major_past_standard_support_is_refused(local):
    assert _problems(_rds("14.23"), local) == []
    (problem,) = _problems(_rds("14.23"), local, "2027-03-01")
    assert "RDS standard support for PostgreSQL 14 ended on 2027-02-28" in problem
    assert "until 2030-02-28" in problem


def test_rds_classes_are_checked_against_the_orderable_options():
    offered = {
        "source": "AWS (us-east-1)",
        "rds_orderable": {
            "db.r6g.large": {"storage_types": ["gp2", "gp3"], "multi_az": True, "zones": ZONES},
            "db.t3.micro": {"storage_types": ["gp2"], "multi_az": False, "zones": ZONES[:2]},
        },
    }
    checks = {
        "rds_classes": {
            "classes": {
                "aws_rds_instance_class": "db.t3.micro",
                "aws_rds_replica_instance_class": "db.x9.huge",
            },
            "version": "17.10",
            "storage_type": "gp3",
            "multi_az": True,
            "zones": ZONES,
            "allowed": ["db.t3.micro", "db.r6g.large"],
        }
    }
    first, second = _problems(checks, offered)
    assert first.startswith(
        "aws_rds_instance_class=db.t3.micro: not with gp3 storage (only gp2); not Multi-AZ; not in us-east-1c"
    )
    assert first.endswith("it offers db.r6g.large")
    assert second.startswith(
        "aws_rds_replica_instance_class=db.x9.huge: RDS offers no db.x9.huge for PostgreSQL 17.10"
    )
    ok = {"rds_classes": {**checks["rds_classes"], "classes": {"aws_rds_instance_class": "db.r6g.large"}}}
    assert _problems(ok, offered) == []


# --- ElastiCache ----------------------------------------------------------------------------------


def _cache(value):
    return {
        "cache_version": {"variable": "aws_elasticache_engine_version", "value": value, "engine": "redis"}
    }


def test_cache_versions(local):
    assert _problems(_cache("7.1"), local) == []
    (problem,) = _problems(_cache("7.3"), local)
    assert problem.startswith("aws_elasticache_engine_version=7.3: ElastiCache offers no redis 7.3")
    assert _problems(_cache("6.2"), local) == []
    (problem,) = _problems(_cache("6.2"), local, "2027-02-01")
    assert "standard support for redis 6 ended on 2027-01-31" in problem


# --- Instance types per zone ------------------------------------------------------------------------


def test_instance_types_not_offered_in_a_zone_are_refused(local):
    checks = {
        "instance_types": {
            "zones": ["us-east-1a", "us-east-1b", "us-east-1e"],
            "types": {
                "aws_eks_node_groups[general].instance_type": "t3.medium",
                "aws_elasticache_node_type": "cache.r7g.large",
            },
        }
    }
    first, second = _problems(checks, local)
    assert first.startswith(
        "aws_eks_node_groups[general].instance_type=t3.medium: t3.medium is not offered in us-east-1e"
    )
    assert "it is offered in us-east-1a, us-east-1b, us-east-1c, us-east-1d, us-east-1f" in first
    assert second.startswith(
        "aws_elasticache_node_type=cache.r7g.large: r7g.large is not offered in us-east-1e"
    )
    assert _problems({"instance_types": {**checks["instance_types"], "zones": ZONES}}, local) == []


def test_a_type_the_catalogue_does_not_know_is_refused(local):
    checks = {
        "instance_types": {
            "zones": ZONES,
            "types": [{"variable": "aws_rds_instance_class", "value": "db.x2iedn.32xlarge"}],
        }
    }
    (problem,) = _problems(checks, local)
    assert "x2iedn.32xlarge is offered in none of us-east-1a" in problem
    assert "add its offerings from AWS to the catalogue" in problem


def test_parts_not_asked_are_not_checked():
    checks = {
        **_eks("1.20"),
        **_rds("9.6"),
        **_cache("2.8"),
        "zones": {"variable": "z", "value": ["x"], "region": "r"},
    }
    assert _problems(checks, {"source": "AWS"}) == []


# --- The filters' guards -------------------------------------------------------------------------


def test_the_filters_refuse_what_is_not_theirs():
    with pytest.raises(AnsibleFilterError, match="not the catalogue"):
        offerings.catalogue_offered({"eks": {}}, "us-east-1")
    with pytest.raises(AnsibleFilterError, match="must be dicts"):
        offerings.offering_problems([], {})
    with pytest.raises(AnsibleFilterError, match="malformed"):
        offerings.offering_problems({"eks_version": {"value": "1.36"}}, {"eks_versions": []})
    assert set(offerings.FilterModule().filters()) == {"catalogue_offered", "offering_problems"}


def test_dates_parse_from_every_shape():
    import datetime

    assert aws_offerings.parse_date("2027-08-02T00:00:00Z") == datetime.date(2027, 8, 2)
    assert aws_offerings.parse_date(
        datetime.datetime(2027, 8, 1, 23, 0, tzinfo=datetime.UTC)
    ) == datetime.date(2027, 8, 1)
    assert aws_offerings.parse_date(datetime.datetime(2027, 8, 1, 23, 0)) == datetime.date(2027, 8, 1)
    assert aws_offerings.parse_date(datetime.date(2027, 8, 2)) == datetime.date(2027, 8, 2)
    assert aws_offerings.parse_date("") is None
    assert aws_offerings.version_key("1.36") > aws_offerings.version_key("1.9")
    assert aws_offerings.version_key("x") == (-1,)
