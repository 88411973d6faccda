"""giftcrypto.platform.eks_access_entry: check mode, create, no-op, policy change, tags, delete.

moto 5.2 has no EKS access entries: the access entry operations are answered by a small in-memory
backend through ``moto_modules.fake_operations`` (the request shapes are still validated against
botocore's model before they reach it), following the EKS API reference (CreateAccessEntry,
DescribeAccessEntry, UpdateAccessEntry, DeleteAccessEntry, AssociateAccessPolicy,
DisassociateAccessPolicy, ListAssociatedAccessPolicies, TagResource, UntagResource).
"""

from __future__ import annotations

import botocore.exceptions
import pytest
from ansible_collections.giftcrypto.platform.plugins.modules import eks_access_entry
from moto import mock_aws

from tests.unit import moto_modules
from tests.unit.moto_modules import ACCOUNT_ID, REGION

aws_environment, botocore_loader, run_module = moto_modules.module_fixtures(eks_access_entry)

CLUSTER = "giftcrypto-staging"
PRINCIPAL = f"arn:aws:iam::{ACCOUNT_ID}:role/giftcrypto-staging-ci-deploy"
ADMIN = "arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy"
EDIT = "arn:aws:eks::aws:cluster-access-policy/AmazonEKSEditPolicy"
PRESENT = {
    "cluster_name": CLUSTER,
    "principal_arn": PRINCIPAL,
    "access_policies": [{"policy_arn": ADMIN, "scope": "cluster"}],
    "tags": {"Project": "GiftCrypto"},
}


def _not_found(operation: str):
    return botocore.exceptions.ClientError(
        {"Error": {"Code": "ResourceNotFoundException", "Message": "no access entry"}}, operation
    )


@pytest.fixture
def eks():
    """The in-memory access entries of one cluster, and the operations that reach them."""
    entries: dict[str, dict] = {}
    policies: dict[str, dict[str, dict]] = {}

    def arn(principal):
        name = principal.rsplit("/", 1)[1]
        return f"arn:aws:eks:{REGION}:{ACCOUNT_ID}:access-entry/{CLUSTER}/role/{name}/1a2b"

    def entry(params):
        if params["principalArn"] not in entries:
            raise _not_found("DescribeAccessEntry")
        return entries[params["principalArn"]]

    def create(params):
        principal = params["principalArn"]
        entries[principal] = {
            "clusterName": params["clusterName"],
            "principalArn": principal,
            "kubernetesGroups": params.get("kubernetesGroups", []),
            "accessEntryArn": arn(principal),
            "username": params.get(
                "username", f"arn:aws:sts::{ACCOUNT_ID}:assumed-role/x/{{{{SessionName}}}}"
            ),
            "type": params.get("type", "STANDARD"),
            "tags": dict(params.get("tags", {})),
        }
        policies[principal] = {}
        return {"accessEntry": entries[principal]}

    def update(params):
        current = entry(params)
        for key in ("kubernetesGroups", "username"):
            if key in params:
                current[key] = params[key]
        return {"accessEntry": current}

    def delete(params):
        entry(params)
        del entries[params["principalArn"]]
        del policies[params["principalArn"]]
        return {}

    def associate(params):
        entry(params)
        policies[params["principalArn"]][params["policyArn"]] = {
            "policyArn": params["policyArn"],
            "accessScope": params["accessScope"],
        }
        return {}

    def disassociate(params):
        entry(params)
        policies[params["principalArn"]].pop(params["policyArn"])
        return {}

    def listed(params):
        entry(params)
        return {"associatedAccessPolicies": list(policies[params["principalArn"]].values())}

    def by_arn(resource_arn):
        return next(e for e in entries.values() if e["accessEntryArn"] == resource_arn)

    def tag(params):
        by_arn(params["resourceArn"])["tags"].update(params["tags"])
        return {}

    def untag(params):
        for key in params["tagKeys"]:
            by_arn(params["resourceArn"])["tags"].pop(key, None)
        return {}

    handlers = {
        "CreateAccessEntry": create,
        "DescribeAccessEntry": lambda p: {"accessEntry": entry(p)},
        "UpdateAccessEntry": update,
        "DeleteAccessEntry": delete,
        "AssociateAccessPolicy": associate,
        "DisassociateAccessPolicy": disassociate,
        "ListAssociatedAccessPolicies": listed,
        "TagResource": tag,
        "UntagResource": untag,
    }
    with mock_aws(), moto_modules.fake_operations(handlers) as calls:
        yield {"entries": entries, "policies": policies, "calls": calls}


def _writes(calls) -> list[str]:
    return [name for name, _ in calls if not name.startswith(("Describe", "List"))]


def test_lifecycle_check_create_noop_change_delete(run_module, eks):
    # Check mode on nothing: the creation and the association are planned, nothing is written.
    result = run_module(PRESENT, check_mode=True)
    assert result["rc"] == 0, result
    assert result["changed"] is True
    assert result["changes"] == ["create the access entry", f"associate {ADMIN} (cluster)"]
    assert result["diff"]["before"] == {}
    assert _writes(eks["calls"]) == []

    result = run_module(PRESENT)
    assert result["changed"] is True and result["rc"] == 0, result
    assert _writes(eks["calls"]) == ["CreateAccessEntry", "AssociateAccessPolicy"]
    assert result["access_entry"]["access_policies"] == [
        {"policy_arn": ADMIN, "scope": "cluster", "namespaces": []}
    ]
    assert eks["entries"][PRINCIPAL]["tags"] == {"Project": "GiftCrypto"}

    # Again, and in check mode: nothing to do.
    eks["calls"].clear()
    for check in (True, False):
        result = run_module(PRESENT, check_mode=check)
        assert result["changed"] is False and result["changes"] == [], result
    assert _writes(eks["calls"]) == []

    # Namespace-scoped edit rights instead of cluster admin, another tag, a group.
    changed = {
        **PRESENT,
        "kubernetes_groups": ["giftcrypto-deployers"],
        "access_policies": [
            {"policy_arn": EDIT, "scope": "namespace", "namespaces": ["monitoring", "giftcrypto"]}
        ],
        "tags": {"Project": "GiftCrypto", "Layer": "ci"},
    }
    result = run_module(changed)
    assert result["changed"] is True, result
    assert result["changes"] == [
        "set the Kubernetes groups to ['giftcrypto-deployers']",
        f"associate {EDIT} (namespace giftcrypto,monitoring)",
        f"disassociate {ADMIN}",
        "tag ['Layer']",
    ]
    assert set(eks["policies"][PRINCIPAL]) == {EDIT}
    assert eks["policies"][PRINCIPAL][EDIT]["accessScope"] == {
        "type": "namespace",
        "namespaces": ["giftcrypto", "monitoring"],
    }
    assert eks["entries"][PRINCIPAL]["kubernetesGroups"] == ["giftcrypto-deployers"]
    assert result["diff"]["before"]["access_policies"][0]["policy_arn"] == ADMIN

    # Delete: check mode first, then for real, then nothing left to do.
    absent = {"cluster_name": CLUSTER, "principal_arn": PRINCIPAL, "state": "absent"}
    assert run_module(absent, check_mode=True)["changed"] is True
    assert PRINCIPAL in eks["entries"]
    assert run_module(absent)["changed"] is True
    assert eks["entries"] == {}
    assert run_module(absent)["changed"] is False


def test_policies_not_listed_stay_without_purge(run_module, eks):
    run_module(PRESENT)
    result = run_module(
        {**PRESENT, "access_policies": [{"policy_arn": EDIT}], "purge_access_policies": False}
    )
    assert result["changes"] == [f"associate {EDIT} (cluster)"]
    assert set(eks["policies"][PRINCIPAL]) == {ADMIN, EDIT}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            {"access_policies": [{"policy_arn": EDIT, "scope": "namespace"}]},
            "namespace scope without namespaces",
        ),
        ({"access_policies": [{"policy_arn": EDIT, "namespaces": ["a"]}]}, "cluster scope and namespaces"),
        ({"principal_arn": "giftcrypto-staging-ci-deploy"}, "expected the ARN of an IAM role or user"),
    ],
)
def test_bad_options_are_refused_before_any_call(run_module, eks, args, message):
    result = run_module({**PRESENT, **args})
    assert result["failed"] is True and message in result["msg"], result
    assert eks["calls"] == []


def test_the_type_of_an_entry_cannot_change(run_module, eks):
    run_module(PRESENT)
    result = run_module({**PRESENT, "type": "EC2_LINUX"})
    assert result["failed"] is True and "EKS cannot change" in result["msg"]
