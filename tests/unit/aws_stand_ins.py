"""In-memory stand-ins for AWS operations moto 5.2 lacks, for ``moto_modules.fake_operations``.

Each function returns ``(state, handlers)``: the state the operations keep (for the tests to look
at) and the handlers by operation name. Requests still go through botocore, which validates their
shapes against the service model before a handler sees them; answers follow the API references.
Shared by each module's own test file and the contract test (test_aws_resource_contract.py).
"""

from __future__ import annotations

from collections.abc import Callable

import botocore.exceptions

from tests.unit.moto_modules import ACCOUNT_ID, REGION

Handlers = dict[str, Callable[[dict], dict]]


def _not_found(operation: str, message: str) -> botocore.exceptions.ClientError:
    return botocore.exceptions.ClientError(
        {"Error": {"Code": "ResourceNotFoundException", "Message": message}}, operation
    )


def codebuild_webhooks(*projects: str) -> tuple[dict[str, dict], Handlers]:
    """CodeBuild projects (named) and their webhooks: BatchGetProjects' ``webhook``, CreateWebhook,
    UpdateWebhook, DeleteWebhook (CodeBuild API reference)."""
    state = {name: {"name": name} for name in projects}

    def batch_get(params):
        return {
            "projects": [state[n] for n in params["names"] if n in state],
            "projectsNotFound": [n for n in params["names"] if n not in state],
        }

    def create(params):
        state[params["projectName"]]["webhook"] = {
            "url": "https://api.github.com/repos/giftcrypto/giftcrypto.platform/hooks/1",
            "filterGroups": params["filterGroups"],
            "buildType": params.get("buildType", "BUILD"),
        }
        return {"webhook": state[params["projectName"]]["webhook"]}

    def update(params):
        webhook = state[params["projectName"]]["webhook"]
        webhook.update(filterGroups=params["filterGroups"], buildType=params.get("buildType", "BUILD"))
        return {"webhook": webhook}

    def delete(params):
        if "webhook" not in state.get(params["projectName"], {}):
            raise _not_found("DeleteWebhook", "no webhook")
        state[params["projectName"]].pop("webhook")
        return {}

    return state, {
        "BatchGetProjects": batch_get,
        "CreateWebhook": create,
        "UpdateWebhook": update,
        "DeleteWebhook": delete,
    }


def eks_access_entries(cluster: str) -> tuple[dict[str, dict], Handlers]:
    """The access entries of one cluster (by principal ARN, each with its ``policies``): CreateAccessEntry,
    DescribeAccessEntry, UpdateAccessEntry, DeleteAccessEntry, AssociateAccessPolicy,
    DisassociateAccessPolicy, ListAssociatedAccessPolicies, TagResource, UntagResource (EKS API
    reference). The cluster itself is moto's (DescribeCluster is not answered here)."""
    entries: dict[str, dict] = {}

    def entry(params):
        if params["clusterName"] != cluster or params["principalArn"] not in entries:
            raise _not_found("DescribeAccessEntry", "no access entry")
        return entries[params["principalArn"]]

    def create(params):
        principal = params["principalArn"]
        name = principal.rsplit("/", 1)[1]
        entries[principal] = {
            "clusterName": params["clusterName"],
            "principalArn": principal,
            "kubernetesGroups": params.get("kubernetesGroups", []),
            "accessEntryArn": f"arn:aws:eks:{REGION}:{ACCOUNT_ID}:access-entry/{cluster}/role/{name}/1a2b",
            "username": params.get(
                "username", f"arn:aws:sts::{ACCOUNT_ID}:assumed-role/{name}/{{{{SessionName}}}}"
            ),
            "type": params.get("type", "STANDARD"),
            "tags": dict(params.get("tags", {})),
            "policies": {},
        }
        return {"accessEntry": _public(entries[principal])}

    def update(params):
        current = entry(params)
        for key in ("kubernetesGroups", "username"):
            if key in params:
                current[key] = params[key]
        return {"accessEntry": _public(current)}

    def delete(params):
        entry(params)
        del entries[params["principalArn"]]
        return {}

    def associate(params):
        entry(params)["policies"][params["policyArn"]] = {
            "policyArn": params["policyArn"],
            "accessScope": params["accessScope"],
        }
        return {}

    def disassociate(params):
        entry(params)["policies"].pop(params["policyArn"])
        return {}

    def by_arn(resource_arn):
        return next(e for e in entries.values() if e["accessEntryArn"] == resource_arn)

    def tag(params):
        by_arn(params["resourceArn"])["tags"].update(params["tags"])
        return {}

    def untag(params):
        for key in params["tagKeys"]:
            by_arn(params["resourceArn"])["tags"].pop(key, None)
        return {}

    return entries, {
        "CreateAccessEntry": create,
        "DescribeAccessEntry": lambda params: {"accessEntry": _public(entry(params))},
        "UpdateAccessEntry": update,
        "DeleteAccessEntry": delete,
        "AssociateAccessPolicy": associate,
        "DisassociateAccessPolicy": disassociate,
        "ListAssociatedAccessPolicies": lambda params: {
            "associatedAccessPolicies": list(entry(params)["policies"].values())
        },
        "TagResource": tag,
        "UntagResource": untag,
    }


def _public(entry: dict) -> dict:
    """An access entry as the API answers it (its policies are listed apart)."""
    return {key: value for key, value in entry.items() if key != "policies"}


def eks_addons() -> tuple[dict, Handlers]:
    """EKS add-ons (moto 5.2 has none): CreateAddon, DescribeAddon, UpdateAddon, DeleteAddon,
    ListAddons, DescribeAddonVersions, and TagResource / UntagResource of an add-on's ARN, answered by
    the local endpoint's own emulation of them (``moto_fidelity.eks.AddonsAsAWS``, which follows the
    EKS API reference and has its test in test_local_aws_endpoint_fidelity.py); the clusters are
    moto's (of the test's account and region). Returns the add-ons by (cluster, name)."""
    import pathlib
    import sys

    files = pathlib.Path(__file__).resolve().parents[2] / "roles" / "local_aws_endpoint" / "files"
    sys.path.insert(0, str(files))
    try:
        from moto_fidelity.eks import AddonsAsAWS
    finally:
        sys.path.remove(str(files))
    from moto.eks.exceptions import EKSError
    from moto.eks.models import eks_backends

    class Backend(AddonsAsAWS):
        partition, region_name, account_id = "aws", REGION, ACCOUNT_ID

        def __init__(self):
            self._faithful_addons = {}

        def describe_cluster(self, name):
            return eks_backends[ACCOUNT_ID][REGION].describe_cluster(name=name)

    backend = Backend()

    def answer(operation, call):
        def handler(params):
            try:
                return call(params)
            except EKSError as error:
                raise botocore.exceptions.ClientError(
                    {"Error": {"Code": error.code, "Message": str(error.message)}}, operation
                ) from error

        return handler

    def by_arn(operation, arn):
        found = backend._addon_by_arn(arn)
        if found is None:
            raise _not_found(operation, f"no add-on {arn}")
        return found

    def tag(params):
        by_arn("TagResource", params["resourceArn"])["tags"].update(params["tags"])
        return {}

    def untag(params):
        for key in params["tagKeys"]:
            by_arn("UntagResource", params["resourceArn"])["tags"].pop(key, None)
        return {}

    return backend._faithful_addons, {
        "CreateAddon": answer(
            "CreateAddon", lambda p: {"addon": backend.create_addon(p["clusterName"], p["addonName"], p)}
        ),
        "DescribeAddon": answer(
            "DescribeAddon", lambda p: {"addon": backend.describe_addon(p["clusterName"], p["addonName"])}
        ),
        "UpdateAddon": answer(
            "UpdateAddon", lambda p: {"update": backend.update_addon(p["clusterName"], p["addonName"], p)}
        ),
        "DeleteAddon": answer(
            "DeleteAddon", lambda p: {"addon": backend.delete_addon(p["clusterName"], p["addonName"])}
        ),
        "ListAddons": answer("ListAddons", lambda p: {"addons": backend.list_addons(p["clusterName"])}),
        "DescribeAddonVersions": answer(
            "DescribeAddonVersions",
            lambda p: {
                "addons": backend.describe_addon_versions(
                    kubernetes_version=p.get("kubernetesVersion"), addon_name=p.get("addonName")
                )
            },
        ),
        "TagResource": tag,
        "UntagResource": untag,
    }


def budgets_updates_and_subscribers() -> tuple[dict, Handlers]:
    """UpdateBudget and DescribeSubscribersForNotification (AWS Budgets API reference), over moto's own
    budgets (which has the rest of the budget's operations), looked up at each call (the handlers can be
    made before moto's mock starts): the state is empty, moto holds the budgets."""
    from moto.budgets.models import budgets_backends

    class Budgets(dict):
        def _all(self):
            return budgets_backends[ACCOUNT_ID]["aws"].budgets[ACCOUNT_ID]

        def __contains__(self, name):
            return name in self._all()

        def __getitem__(self, name):
            return self._all()[name]

        def get(self, name, default=None):
            return self._all().get(name, default)

    budgets = Budgets()

    def missing(operation: str, message: str) -> botocore.exceptions.ClientError:
        return botocore.exceptions.ClientError(
            {"Error": {"Code": "NotFoundException", "Message": message}}, operation
        )

    def update(params):
        new = params["NewBudget"]
        if new["BudgetName"] not in budgets:
            raise missing("UpdateBudget", "the budget doesn't exist")
        budget = budgets[new["BudgetName"]]
        # The period is kept as moto stored it (botocore hands the handler datetimes).
        budget.budget = {**new, "TimePeriod": budget.budget.get("TimePeriod")}
        return {}

    def subscribers(params):
        budget = budgets.get(params["BudgetName"])
        if budget is None:
            raise missing("DescribeSubscribersForNotification", "the budget doesn't exist")
        asked = params["Notification"]
        for stored in budget.notifications:
            if {k: stored.details.get(k) for k in asked} == asked:
                return {"Subscribers": stored.subscribers}
        raise missing("DescribeSubscribersForNotification", "the notification doesn't exist")

    return {}, {"UpdateBudget": update, "DescribeSubscribersForNotification": subscribers}


def ce_cost_allocation_tags(*seen: str) -> tuple[dict[str, str], Handlers]:
    """ListCostAllocationTags and UpdateCostAllocationTagsStatus (Cost Explorer API reference): the
    user-defined keys billing has ``seen`` (Inactive at first); the state is each key's status."""
    state = dict.fromkeys(seen, "Inactive")

    def list_tags(params):
        keys = params.get("TagKeys") or sorted(state)
        return {
            "CostAllocationTags": [
                {"TagKey": k, "Type": "UserDefined", "Status": state[k]} for k in keys if k in state
            ]
        }

    def update(params):
        errors = []
        for entry in params["CostAllocationTagsStatus"]:
            if entry["TagKey"] not in state:
                errors.append({"TagKey": entry["TagKey"], "Code": "TagKeysNotFound", "Message": "not found"})
            else:
                state[entry["TagKey"]] = entry["Status"]
        return {"Errors": errors}

    return state, {"ListCostAllocationTags": list_tags, "UpdateCostAllocationTagsStatus": update}
