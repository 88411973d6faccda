"""Cost Explorer: the account's cost allocation tags and their status."""

from __future__ import annotations

import datetime
import json

from . import Fix, extend_backend, route_responses

LIST_TAGS = (
    "https://docs.aws.amazon.com/aws-cost-management/latest/APIReference/API_ListCostAllocationTags.html"
)
UPDATE_STATUS = "https://docs.aws.amazon.com/aws-cost-management/latest/APIReference/API_UpdateCostAllocationTagsStatus.html"
TAG = "https://docs.aws.amazon.com/aws-cost-management/latest/APIReference/API_CostAllocationTag.html"

MAX_UPDATE = 20  # UpdateCostAllocationTagsStatus: 1 to 20 entries
MAX_KEYS = 100  # ListCostAllocationTags: TagKeys, 1 to 100


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class CostAllocationTagsAsAWS:
    """Cost Explorer backend with the account's user-defined cost allocation tags (moto: none).

    AWS lists a user-defined key once its billing data has seen it on a resource; the endpoint has no
    billing data, so it treats every key it is asked about as seen: ListCostAllocationTags with TagKeys
    lists each (Inactive until activated, Type UserDefined), UpdateCostAllocationTagsStatus sets their
    status (LastUpdatedDate), and a key starting with ``aws:`` is refused in the answer's Errors, as
    AWS does not let a user-defined key take that prefix.
    """

    def _cost_allocation_tags(self) -> dict:
        if not hasattr(self, "_fidelity_cost_allocation_tags"):
            self._fidelity_cost_allocation_tags = {}
        return self._fidelity_cost_allocation_tags

    def _tag(self, key: str) -> dict:
        return self._cost_allocation_tags().setdefault(
            key, {"TagKey": key, "Type": "UserDefined", "Status": "Inactive"}
        )

    def list_cost_allocation_tags(self, status, tag_keys, tag_type):
        from moto.core.exceptions import JsonRESTError

        if tag_keys is not None and not 1 <= len(tag_keys) <= MAX_KEYS:
            raise JsonRESTError("ValidationException", f"TagKeys: 1 to {MAX_KEYS} keys")
        tags = (
            [self._tag(key) for key in tag_keys if not key.startswith("aws:")]
            if tag_keys
            else list(self._cost_allocation_tags().values())
        )
        return [
            dict(tag)
            for tag in tags
            if (status is None or tag["Status"] == status) and (tag_type is None or tag["Type"] == tag_type)
        ]

    def update_cost_allocation_tags_status(self, entries):
        from moto.core.exceptions import JsonRESTError

        if not 1 <= len(entries or []) <= MAX_UPDATE:
            raise JsonRESTError("ValidationException", f"CostAllocationTagsStatus: 1 to {MAX_UPDATE} entries")
        errors = []
        for entry in entries:
            key = entry["TagKey"]
            if key.startswith("aws:"):
                errors.append({"TagKey": key, "Code": "InvalidTagKey", "Message": "aws: is reserved for AWS"})
                continue
            tag = self._tag(key)
            if tag["Status"] != entry["Status"]:
                tag["Status"] = entry["Status"]
                tag["LastUpdatedDate"] = _now()
        return errors


class CostAllocationTagsResponses:
    """Cost Explorer responses of ListCostAllocationTags and UpdateCostAllocationTagsStatus."""

    def list_cost_allocation_tags(self):
        params = json.loads(self.body)
        tags = self.ce_backend.list_cost_allocation_tags(
            params.get("Status"), params.get("TagKeys"), params.get("Type")
        )
        return json.dumps({"CostAllocationTags": tags})

    def update_cost_allocation_tags_status(self):
        params = json.loads(self.body)
        errors = self.ce_backend.update_cost_allocation_tags_status(params.get("CostAllocationTagsStatus"))
        return json.dumps({"Errors": errors})


def _apply() -> None:
    from moto.ce.responses import CostExplorerResponse

    extend_backend("moto.ce.models", "ce_backends", CostAllocationTagsAsAWS)
    response = type("FaithfulCostExplorerResponse", (CostAllocationTagsResponses, CostExplorerResponse), {})
    route_responses("moto.ce.urls", CostExplorerResponse, response)


FIXES = [
    Fix(
        service="ce",
        name="cost-allocation-tags",
        summary=(
            "ListCostAllocationTags lists the user-defined keys asked for (Inactive until activated; the "
            "endpoint has no billing data, so every key counts as seen) and UpdateCostAllocationTagsStatus "
            "sets their status, an 'aws:' key refused in Errors (moto: neither operation)"
        ),
        reference=f"{LIST_TAGS}; {UPDATE_STATUS}; {TAG}",
        upstream="not in moto 5.2.6 (ce/responses.py has no cost allocation tag operations)",
        apply=_apply,
    ),
]
