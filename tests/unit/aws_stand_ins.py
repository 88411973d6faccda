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
