"""Preflight's check of an AWS AppConfig feature flag document (roles/aws_appconfig/tasks/validate.yml).

The same checks as the ``appconfig_feature_flags`` module's, before any change of any layer: AWS's
``AWS.AppConfig.FeatureFlags`` schema, the values against the constraints the document declares, and
our rollout rule for the flags the service gates (module_utils/appconfig_flags.py).
"""

from __future__ import annotations

from ansible.errors import AnsibleFilterError
from ansible_collections.giftcrypto.platform.plugins.module_utils import appconfig_flags


def appconfig_flag_problems(document, gated_flags=None) -> list[str]:
    """Every reason AppConfig (or the rollout rule, for gated_flags) would refuse document; [] if none."""
    if not appconfig_flags.HAS_JSONSCHEMA:
        raise AnsibleFilterError("appconfig_flag_problems needs the jsonschema package on the controller")
    return appconfig_flags.problems(document, list(gated_flags or []))


class FilterModule:
    """giftcrypto.platform AppConfig filters."""

    def filters(self):
        return {"appconfig_flag_problems": appconfig_flag_problems}
