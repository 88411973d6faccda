# Copyright: GiftCrypto platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What AWS offers (versions, zones, instance types) and the inputs it would refuse.

Two sources answer the same questions in the same shape (an "offered" dict):

- AWS itself, on staging and production: ``giftcrypto.platform.aws_offerings_info`` (EKS versions
  and the cluster's own, RDS major lifecycles and orderable classes, ElastiCache versions, EC2
  offerings per zone) plus the stock ``amazon.aws.aws_az_info`` and
  ``amazon.aws.rds_engine_versions_info``;
- the dated catalogue ``roles/preflight/files/aws_catalogue.yml`` where AWS cannot be asked (the
  local endpoint answers anything), turned into that shape by :func:`catalogue_offered`.

:func:`offering_problems` compares the inputs with an offered dict and returns one message per
refusal, naming the variable, the value and what AWS offers instead. :func:`pinned_version_problems`
is the CI check of ``tools/aws_versions_check.py``: every pinned version against the catalogue, 90
days ahead of its end of standard support.
"""

from __future__ import annotations

import datetime
import re

# The shape of an offered dict; None means "not asked" (that part is not checked).
OFFERED_KEYS = (
    "source",
    "zones",
    "eks_versions",
    "eks_cluster_version",
    "rds_versions",
    "rds_majors",
    "rds_orderable",
    "cache_versions",
    "cache_majors",
    "instance_type_offerings",
)
RUNBOOK = "docs/runbooks/upgrade-versions.md"


def parse_date(value) -> datetime.date | None:
    """A date from a catalogue string (YYYY-MM-DD), a date, a datetime or an ISO timestamp; or None."""
    if value in (None, ""):
        return None
    if isinstance(value, datetime.datetime):
        return value.astimezone(datetime.UTC).date() if value.tzinfo else value.date()
    if isinstance(value, datetime.date):
        return value
    text = str(value)
    if len(text) > 10:
        parsed = datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
        return parsed.astimezone(datetime.UTC).date() if parsed.tzinfo else parsed.date()
    return datetime.date.fromisoformat(text)


def today_utc() -> datetime.date:
    return datetime.datetime.now(datetime.UTC).date()


def version_key(version) -> tuple[int, ...]:
    """Sort key of a dotted version ("1.36", "17.10", "5.0.6"); anything else sorts first."""
    return tuple(int(part) for part in re.findall(r"\d+", str(version))) or (-1,)


def _date_text(value) -> str:
    day = parse_date(value)
    return day.isoformat() if day else "no date announced"


def _ended(end, today: datetime.date) -> bool:
    """Whether a support period ending on `end` is over on `today` (the end date itself is not in it)."""
    day = parse_date(end)
    return day is not None and today >= day


def catalogue_offered(catalogue: dict, region: str, cache_engine: str = "redis") -> dict:
    """The catalogue's answers for a region, in the shape of AWS's (see the module docstring)."""
    majors = catalogue.get("rds_postgres", {}).get("majors", [])
    cache_rows = catalogue.get("elasticache", {}).get("engines", {}).get(cache_engine, [])
    offerings = catalogue.get("instance_type_offerings", {}).get("regions", {})
    zones = catalogue.get("zones", {}).get("regions", {})
    return {
        "source": f"the catalogue roles/preflight/files/aws_catalogue.yml of {catalogue.get('as_of', '?')}",
        "zones": list(zones[region]) if region in zones else [],
        "eks_versions": [
            {
                "version": str(row["version"]),
                "end_of_standard_support": row.get("end_of_standard_support"),
                "end_of_extended_support": row.get("end_of_extended_support"),
            }
            for row in catalogue.get("eks", {}).get("versions", [])
        ],
        "eks_cluster_version": None,
        "rds_versions": [str(v) for row in majors for v in row.get("creatable", [])],
        "rds_majors": {
            str(row["major"]): {
                "end_of_standard_support": row.get("end_of_standard_support"),
                "end_of_extended_support": row.get("end_of_extended_support"),
            }
            for row in majors
        },
        "rds_not_created": catalogue.get("rds_postgres", {}).get("not_created_since") or {},
        "rds_orderable": None,
        "cache_versions": [str(v) for row in cache_rows for v in row.get("versions", [])],
        "cache_majors": {
            str(row["major"]): {
                "end_of_standard_support": row.get("end_of_standard_support"),
                "end_of_extended_support": row.get("end_of_extended_support"),
            }
            for row in cache_rows
        },
        "instance_type_offerings": {t: list(z) for t, z in (offerings.get(region) or {}).items()},
    }


def ec2_type(instance_type: str) -> str:
    """The EC2 instance type behind a database class or cache node type (db.r6g.large -> r6g.large)."""
    return re.sub(r"^(db|cache)\.", "", str(instance_type))


def _eks_status(row: dict, today: datetime.date) -> str:
    status = str(row.get("status") or "").upper()
    if status in ("STANDARD_SUPPORT", "EXTENDED_SUPPORT", "UNSUPPORTED"):
        return status
    if _ended(row.get("end_of_extended_support"), today):
        return "UNSUPPORTED"
    if _ended(row.get("end_of_standard_support"), today):
        return "EXTENDED_SUPPORT"
    return "STANDARD_SUPPORT"


def _eks_offer_text(rows: list[dict], today: datetime.date) -> str:
    texts = []
    for row in sorted(rows, key=lambda r: version_key(r["version"])):
        status = _eks_status(row, today)
        if status == "STANDARD_SUPPORT":
            texts.append(
                f"{row['version']} (standard support until {_date_text(row.get('end_of_standard_support'))})"
            )
        elif status == "EXTENDED_SUPPORT":
            texts.append(
                f"{row['version']} (extended support until {_date_text(row.get('end_of_extended_support'))})"
            )
    return ", ".join(texts) or "nothing"


def _eks_problems(check: dict, offered: dict, today: datetime.date) -> list[str]:
    rows = offered.get("eks_versions")
    if rows is None:
        return []
    variable, value = check["variable"], str(check["value"])
    source = offered.get("source", "AWS")
    by_version = {str(r["version"]): r for r in rows}
    offer = _eks_offer_text(rows, today)
    row = by_version.get(value)
    status = _eks_status(row, today) if row else "UNSUPPORTED"
    problems = []
    if status == "UNSUPPORTED":
        ended = (
            f"its extended support ended on {_date_text(row.get('end_of_extended_support'))}; " if row else ""
        )
        problems.append(
            f"{variable}={value}: EKS creates no cluster on it ({ended}{source}); it offers {offer}"
        )
    elif status == "EXTENDED_SUPPORT" and not check.get("upgrade_step"):
        standard = ", ".join(
            f"{r['version']} (until {_date_text(r.get('end_of_standard_support'))})"
            for r in sorted(rows, key=lambda r: version_key(r["version"]))
            if _eks_status(r, today) == "STANDARD_SUPPORT"
        )
        standard_end = _date_text(row.get("end_of_standard_support"))
        extended_end = _date_text(row.get("end_of_extended_support"))
        problems.append(
            f"{variable}={value}: its standard support ended on {standard_end} (billed extended support "
            f"until {extended_end}, {source}); pin a version in standard support: "
            f"{standard or 'none listed'}. "
            f"A cluster catching up one minor version per deploy sets aws_eks_upgrade_step=true for those "
            f"deploys ({RUNBOOK})"
        )
    running = offered.get("eks_cluster_version")
    if running and status != "UNSUPPORTED":
        have, want = version_key(running), version_key(value)
        if len(have) >= 2 and len(want) >= 2 and want[:1] == have[:1] and want[1] > have[1] + 1:
            step = f"{have[0]}.{have[1] + 1}"
            problems.append(
                f"{variable}={value}: the cluster {check.get('cluster', '')} runs {running} and EKS upgrades "
                f"one minor version at a time: deploy {step} first (-e {variable}={step} -e "
                f"aws_eks_upgrade_step=true), then each next minor up to {value} ({RUNBOOK})"
            )
    return problems


def _rds_problems(check: dict, offered: dict, today: datetime.date) -> list[str]:
    creatable = offered.get("rds_versions")
    if creatable is None:
        return []
    variable, value = check["variable"], str(check["value"])
    source = offered.get("source", "AWS")
    major = value.split(".", maxsplit=1)[0]
    same_major = sorted((v for v in creatable if v.split(".")[0] == major), key=version_key)
    problems = []
    if value not in creatable:
        gone = offered.get("rds_not_created") or {}
        why = (
            f"RDS creates no new instance on it since {gone.get('date')}"
            if value in [str(v) for v in gone.get("versions", [])]
            else "not a version RDS creates"
        )
        problems.append(
            f"{variable}={value}: {why} ({source}); it creates "
            f"{', '.join(same_major) if same_major else 'no PostgreSQL ' + major + ' version'}"
        )
    lifecycle = (offered.get("rds_majors") or {}).get(major)
    if lifecycle and _ended(lifecycle.get("end_of_standard_support"), today):
        problems.append(
            f"{variable}={value}: RDS standard support for PostgreSQL {major} ended on "
            f"{_date_text(lifecycle.get('end_of_standard_support'))} (billed RDS Extended Support until "
            f"{_date_text(lifecycle.get('end_of_extended_support'))}, {source}); a major upgrade is an ADR "
            "and a planned migration"
        )
    return problems


def _items(items) -> list[dict]:
    """[{variable, value}] from such a list or from a dict variable -> value."""
    if isinstance(items, dict):
        return [{"variable": k, "value": v} for k, v in items.items()]
    return list(items or [])


def _rds_class_problems(check: dict, offered: dict) -> list[str]:
    orderable = offered.get("rds_orderable")
    if orderable is None:
        return []
    source = offered.get("source", "AWS")
    storage, multi_az, zones = check.get("storage_type"), check.get("multi_az"), check.get("zones") or []
    fitting = sorted(
        c
        for c, o in orderable.items()
        if (not storage or storage in o.get("storage_types", []))
        and (not multi_az or o.get("multi_az"))
        and set(zones) <= set(o.get("zones", []))
    )
    allowed = [c for c in check.get("allowed", []) if c in fitting] or fitting
    problems = []
    for item in _items(check.get("classes")):
        variable, value = item["variable"], item["value"]
        option = orderable.get(value)
        what = []
        if option is None:
            what.append(f"RDS offers no {value} for PostgreSQL {check.get('version')}")
        else:
            if storage and storage not in option.get("storage_types", []):
                what.append(f"not with {storage} storage (only {', '.join(option.get('storage_types', []))})")
            if multi_az and not option.get("multi_az"):
                what.append("not Multi-AZ")
            missing = [z for z in zones if z not in option.get("zones", [])]
            if missing:
                what.append(f"not in {', '.join(missing)}")
        if what:
            problems.append(
                f"{variable}={value}: {'; '.join(what)} ({source}); for PostgreSQL {check.get('version')} "
                f"{'Multi-AZ ' if multi_az else ''}{'with ' + storage + ' ' if storage else ''}in "
                f"{', '.join(zones)} it offers {', '.join(allowed) or 'no class'}"
            )
    return problems


def _cache_problems(check: dict, offered: dict, today: datetime.date) -> list[str]:
    versions = offered.get("cache_versions")
    if versions is None:
        return []
    variable, value, engine = check["variable"], str(check["value"]), check.get("engine", "redis")
    source = offered.get("source", "AWS")
    problems = []
    if value not in versions:
        problems.append(
            f"{variable}={value}: ElastiCache offers no {engine} {value} ({source}); it offers "
            f"{engine} {', '.join(sorted(versions, key=version_key)) or 'nothing'}"
        )
    major = value.split(".", maxsplit=1)[0]
    lifecycle = (offered.get("cache_majors") or {}).get(major)
    if lifecycle and _ended(lifecycle.get("end_of_standard_support"), today):
        problems.append(
            f"{variable}={value}: ElastiCache standard support for {engine} {major} ended on "
            f"{_date_text(lifecycle.get('end_of_standard_support'))} (billed Extended Support until "
            f"{_date_text(lifecycle.get('end_of_extended_support'))}, {source})"
        )
    return problems


def _zone_problems(check: dict, offered: dict) -> list[str]:
    zones = offered.get("zones")
    if zones is None:
        return []
    variable, region = check["variable"], check.get("region", "")
    foreign = [z for z in check.get("value") or [] if z not in zones]
    if not foreign:
        return []
    known = ", ".join(zones) if zones else f"none (the region {region} is unknown to it)"
    return [
        f"{variable}: {', '.join(foreign)} {'is not a zone' if len(foreign) == 1 else 'are not zones'} of "
        f"aws_region={region} ({offered.get('source', 'AWS')}); its zones are {known}"
    ]


def _offering_problems(check: dict, offered: dict) -> list[str]:
    offerings = offered.get("instance_type_offerings")
    if offerings is None:
        return []
    source = offered.get("source", "AWS")
    zones = check.get("zones") or []
    problems = []
    for item in _items(check.get("types")):
        variable, value = item["variable"], item["value"]
        ec2 = ec2_type(value)
        if ec2 not in offerings:
            problems.append(
                f"{variable}={value}: {ec2} is offered in none of {', '.join(zones)} ({source})"
                + ("" if offered.get("zones") is None else "; add its offerings from AWS to the catalogue")
            )
            continue
        missing = [z for z in zones if z not in offerings[ec2]]
        if missing:
            where = ", ".join(offerings[ec2]) or "no zone"
            problems.append(
                f"{variable}={value}: {ec2} is not offered in {', '.join(missing)} ({source}); "
                f"it is offered in {where}"
            )
    return problems


def offering_problems(checks: dict, offered: dict, today=None) -> list[str]:
    """Every input of `checks` that AWS (or the catalogue, per `offered`) would refuse, one message each.

    checks: zones {variable, value, region}; eks_version {variable, value, upgrade_step, cluster};
    rds_version {variable, value}; rds_classes {classes, version, storage_type, multi_az, zones,
    allowed}; cache_version {variable, value, engine}; instance_types {types, zones}. classes and
    types are [{variable, value}] or a dict variable -> value. A part absent from `checks`, or not
    asked in `offered` (None), is not checked.
    """
    day = parse_date(today) or today_utc()
    problems = []
    if "zones" in checks:
        problems += _zone_problems(checks["zones"], offered)
    if "eks_version" in checks:
        problems += _eks_problems(checks["eks_version"], offered, day)
    if "rds_version" in checks:
        problems += _rds_problems(checks["rds_version"], offered, day)
    if "rds_classes" in checks:
        problems += _rds_class_problems(checks["rds_classes"], offered)
    if "cache_version" in checks:
        problems += _cache_problems(checks["cache_version"], offered, day)
    if "instance_types" in checks:
        problems += _offering_problems(checks["instance_types"], offered)
    return problems


# --- The CI check of pinned versions (tools/aws_versions_check.py) ----------------------------------

# Variables that pin a version, by what they pin. A list variable pins each of its elements.
PINNED_VARIABLES = {
    "aws_eks_kubernetes_version": "eks",
    "aws_eks_supported_versions": "eks",
    "monitoring_eks_kubernetes_version": "eks",
    "aws_rds_engine_version": "rds",
    "aws_elasticache_engine_version": "elasticache",
}


def _catalogue_end(catalogue: dict, kind: str, version: str, engine: str = "redis"):
    """(end of standard support, end of extended support, known) of a pinned version in the catalogue."""
    if kind == "eks":
        for row in catalogue.get("eks", {}).get("versions", []):
            if str(row["version"]) == version:
                return row.get("end_of_standard_support"), row.get("end_of_extended_support"), True
    elif kind == "rds":
        for row in catalogue.get("rds_postgres", {}).get("majors", []):
            if str(row["major"]) == version.split(".")[0]:
                known = version in [str(v) for v in row.get("creatable", [])]
                return row.get("end_of_standard_support"), row.get("end_of_extended_support"), known
    else:
        for row in catalogue.get("elasticache", {}).get("engines", {}).get(engine, []):
            if version in [str(v) for v in row.get("versions", [])]:
                return row.get("end_of_standard_support"), row.get("end_of_extended_support"), True
    return None, None, False


def _unknown_pin(catalogue: dict, kind: str, value: str) -> str:
    """Why the catalogue does not know a pinned version, and what it lists instead."""
    as_of = f"the catalogue of {catalogue.get('as_of')}"
    if kind == "rds":
        gone = catalogue.get("rds_postgres", {}).get("not_created_since") or {}
        majors = {str(r["major"]): r for r in catalogue.get("rds_postgres", {}).get("majors", [])}
        creatable = [str(v) for v in majors.get(value.split(".")[0], {}).get("creatable", [])]
        why = (
            f"RDS creates no new instance on it since {gone.get('date')}"
            if value in [str(v) for v in gone.get("versions", [])]
            else "not a minor RDS creates"
        )
        return f"{why} ({as_of}); it creates {', '.join(creatable) or 'no version of that major'}"
    if kind == "eks":
        listed = [str(r["version"]) for r in catalogue.get("eks", {}).get("versions", [])]
        return f"not an EKS version of {as_of} (it lists {', '.join(sorted(listed, key=version_key))})"
    return f"not an ElastiCache version of {as_of}"


def pinned_version_problems(
    pins: list[dict], catalogue: dict, today=None, window_days: int = 90
) -> list[str]:
    """Pins past their end of standard support, within `window_days` of it, or unknown to the catalogue.

    pins: [{where, variable, value}] (value a literal version; templated values are left out by the
    caller). Returns one message per problem, naming the file, the variable, the value and the date.
    """
    day = parse_date(today) or today_utc()
    problems = []
    for pin in pins:
        where, variable, value = pin["where"], pin["variable"], str(pin["value"])
        kind = PINNED_VARIABLES.get(variable)
        if kind is None:
            continue
        standard, extended, known = _catalogue_end(catalogue, kind, value)
        if not known:
            problems.append(f"{where}: {variable}={value}: {_unknown_pin(catalogue, kind, value)}")
            continue
        end = parse_date(standard)
        if end is None:
            continue
        left = (end - day).days
        if left <= 0:
            problems.append(
                f"{where}: {variable}={value}: its standard support ended on {end} (extended support until "
                f"{_date_text(extended)}); pin a version in standard support ({RUNBOOK})"
            )
        elif left <= window_days:
            problems.append(
                f"{where}: {variable}={value}: its standard support ends on {end}, in {left} days "
                f"(this check fails {window_days} days ahead); move the pin now ({RUNBOOK})"
            )
    return problems
