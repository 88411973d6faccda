"""Filters that check inputs against what AWS offers (asked of AWS, or read from the catalogue).

``catalogue_offered`` turns the dated catalogue (roles/preflight/files/aws_catalogue.yml) into the
shape of AWS's answers for one region; ``offering_problems`` compares the inputs with such answers
and returns one message per value AWS would refuse. The logic lives in
module_utils/aws_offerings.py, shared with tools/aws_versions_check.py.
"""

from __future__ import annotations

from ansible.errors import AnsibleFilterError
from ansible_collections.giftcrypto.platform.plugins.module_utils import aws_offerings


def catalogue_offered(catalogue, region, cache_engine="redis"):
    if not isinstance(catalogue, dict) or "as_of" not in catalogue:
        raise AnsibleFilterError("catalogue_offered: the input is not the catalogue (a dict with as_of)")
    return aws_offerings.catalogue_offered(catalogue, str(region), str(cache_engine))


def offering_problems(checks, offered, today=None):
    if not isinstance(checks, dict) or not isinstance(offered, dict):
        raise AnsibleFilterError("offering_problems: the checks and the offered answers must be dicts")
    try:
        return aws_offerings.offering_problems(checks, offered, today)
    except (KeyError, TypeError, ValueError) as exc:
        raise AnsibleFilterError(f"offering_problems: malformed checks or answers: {exc}") from exc


class FilterModule:
    """giftcrypto.platform filters of what AWS offers."""

    def filters(self):
        return {
            "catalogue_offered": catalogue_offered,
            "offering_problems": offering_problems,
        }
