"""The AWS API calls a deploy, a plan and a rollback make, and the IAM actions they need (issue 19).

    python tools/aws_calls.py record tests/output/aws_calls.jsonl [more.jsonl ...]
        rewrites tests/aws_calls/record.json from recorded runs (JSON lines written by the botocore
        plugin tools/aws_calls/giftcrypto_aws_calls.py and the callback giftcrypto.platform.aws_calls)
    python tools/aws_calls.py check tests/output/aws_calls.jsonl
        fails when a recorded run made a call that the committed record does not hold (a new task
        calling a new API: record it and check the policy, see docs/ci-cd.md)

`nox -s aws-calls` (under the platform lock) records a cold deploy, a no-op deploy, the local and
the staging plan (against the local endpoint) and a rollback, and runs `record` on them: that is
how the committed record is kept up to date, e.g. after a merge that changed tasks.

The record holds, per playbook and task, the calls as botocore names them (`<service>:<Operation>`,
service as botocore's service name); ``iam_actions`` maps them to the IAM actions they need, which
tests/unit/test_ci_deploy_policy.py compares with the deploy role's policy
(roles/aws_security_baseline/templates/ci_deploy_policy.json.j2).
"""

from __future__ import annotations

import argparse
import json
import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]
RECORD = ROOT / "tests" / "aws_calls" / "record.json"

# What the deploy role runs: the platform (site.yml and the layer playbooks it imports, also run on
# their own) and the rollback. destroy.yml (local only, refused elsewhere), restore*.yml (people,
# during a disaster), Molecule's own plays and the tests' own playbooks are not the deploy role's.
NOT_DEPLOY_PLAYBOOKS = (
    "destroy.yml",
    "restore.yml",
    "restore_rds.yml",
    # The local pgBackRest passphrase rotation (people, local only; ADR 0019).
    "rotate_backup_cipher.yml",
    "converge.yml",
    "prepare.yml",
    "verify.yml",
    # The integration tests' own playbook around the keyring module (tests/integration/fixtures_pii.py).
    "pii_keyring.yml",
    # The integration tests' ad hoc module runs (`ansible localhost -m ...`,
    # tests/integration/fixtures_schema.run_module: audit_verify, audit_anchor on scratch databases).
    "__adhoc_playbook__",
)

# Tasks whose calls are made as another principal than the deploy role: the role the task assumes
# (sts:AssumeRole, recorded on the task before it, is the deploy role's) and the template of that
# role's policy in aws_security_baseline, against which tests/unit/test_ci_deploy_policy.py checks
# them. Keyed by the task's own name (the callback prefixes it with its role's).
ASSUMED_ROLE_TASKS = {
    # db_schema's anchor step writes the signed heads as the anchoring role (ADR 0016): only that
    # role may sign with the anchor key and write to the anchors bucket.
    "Anchor | Sign the audit chains' heads and write them to the Object Lock bucket": (
        "audit_anchor_policy.json.j2"
    ),
}

# botocore's service name -> IAM's service prefix, where they differ.
IAM_PREFIX = {"elbv2": "elasticloadbalancing", "elb": "elasticloadbalancing"}

# API operations whose IAM action has another name (AWS's Service Authorization Reference, "Actions
# defined by ..."). S3 above all: its bucket subresource operations are authorized by older names.
IAM_ACTION = {
    "s3:HeadBucket": ["s3:ListBucket"],
    "s3:ListObjects": ["s3:ListBucket"],
    "s3:ListObjectsV2": ["s3:ListBucket"],
    "s3:ListObjectVersions": ["s3:ListBucketVersions"],
    "s3:ListBuckets": ["s3:ListAllMyBuckets"],
    "s3:HeadObject": ["s3:GetObject"],
    "s3:GetBucketEncryption": ["s3:GetEncryptionConfiguration"],
    "s3:PutBucketEncryption": ["s3:PutEncryptionConfiguration"],
    "s3:DeleteBucketEncryption": ["s3:PutEncryptionConfiguration"],
    "s3:GetBucketLifecycleConfiguration": ["s3:GetLifecycleConfiguration"],
    "s3:PutBucketLifecycleConfiguration": ["s3:PutLifecycleConfiguration"],
    "s3:DeleteBucketLifecycle": ["s3:PutLifecycleConfiguration"],
    "s3:GetPublicAccessBlock": ["s3:GetBucketPublicAccessBlock"],
    "s3:PutPublicAccessBlock": ["s3:PutBucketPublicAccessBlock"],
    "s3:DeletePublicAccessBlock": ["s3:PutBucketPublicAccessBlock"],
    "s3:GetBucketOwnershipControls": ["s3:GetBucketOwnershipControls"],
    "s3:PutBucketOwnershipControls": ["s3:PutBucketOwnershipControls"],
    "s3:DeleteBucketOwnershipControls": ["s3:PutBucketOwnershipControls"],
    "s3:GetBucketNotificationConfiguration": ["s3:GetBucketNotification"],
    "s3:PutBucketNotificationConfiguration": ["s3:PutBucketNotification"],
    "s3:GetObjectLockConfiguration": ["s3:GetBucketObjectLockConfiguration"],
    "s3:PutObjectLockConfiguration": ["s3:PutBucketObjectLockConfiguration"],
    "s3:GetBucketAccelerateConfiguration": ["s3:GetAccelerateConfiguration"],
    "s3:GetBucketCors": ["s3:GetBucketCORS"],
    "s3:PutBucketCors": ["s3:PutBucketCORS"],
    "s3:GetBucketReplication": ["s3:GetReplicationConfiguration"],
    "s3:PutBucketReplication": ["s3:PutReplicationConfiguration"],
    "s3:GetBucketLogging": ["s3:GetBucketLogging"],
    "s3:PutBucketLogging": ["s3:PutBucketLogging"],
    "s3:DeleteBucketPolicy": ["s3:DeleteBucketPolicy"],
    "s3:DeleteBucketTagging": ["s3:PutBucketTagging"],
    "s3:DeleteBucketCors": ["s3:PutBucketCORS"],
    "s3:DeleteBucketWebsite": ["s3:DeleteBucketWebsite"],
    "s3:GetBucketIntelligentTieringConfiguration": ["s3:GetIntelligentTieringConfiguration"],
    "s3:GetBucketMetricsConfiguration": ["s3:GetMetricsConfiguration"],
    "s3:GetBucketInventoryConfiguration": ["s3:GetInventoryConfiguration"],
    "s3:GetBucketAnalyticsConfiguration": ["s3:GetAnalyticsConfiguration"],
    "cloudfront:CreateDistributionWithTags": ["cloudfront:CreateDistribution", "cloudfront:TagResource"],
    "cloudfront:ListTagsForResource": ["cloudfront:ListTagsForResource"],
    "elasticache:CreateReplicationGroup": ["elasticache:CreateReplicationGroup"],
    # AWS Budgets authorizes its API by two actions ("Actions defined by AWS Budget Service").
    **{
        f"budgets:{operation}": ["budgets:ModifyBudget"]
        for operation in (
            "CreateBudget",
            "UpdateBudget",
            "DeleteBudget",
            "CreateNotification",
            "UpdateNotification",
            "DeleteNotification",
            "CreateSubscriber",
            "UpdateSubscriber",
            "DeleteSubscriber",
        )
    },
    **{
        f"budgets:{operation}": ["budgets:ViewBudget"]
        for operation in (
            "DescribeBudget",
            "DescribeBudgets",
            "DescribeNotificationsForBudget",
            "DescribeSubscribersForNotification",
        )
    },
}
# Calls IAM never authorizes: sts:GetCallerIdentity answers any caller, even one denied everything.
NO_PERMISSION_NEEDED = {"sts:GetCallerIdentity"}


def iam_actions(call: str) -> list[str]:
    """The IAM actions an API call (`<botocore service>:<Operation>`) needs."""
    service, operation = call.split(":", 1)
    prefix = IAM_PREFIX.get(service, service)
    if f"{prefix}:{operation}" in NO_PERMISSION_NEEDED:
        return []
    return IAM_ACTION.get(f"{prefix}:{operation}", [f"{prefix}:{operation}"])


def read_runs(paths: list[pathlib.Path]) -> dict[str, dict[str, set[str]]]:
    """{playbook: {task: {calls}}} of the deploy role's playbooks from recorded runs, in file order."""
    calls: dict[str, dict[str, set[str]]] = {}
    for path in paths:
        playbook, task = "", "(before any task)"
        for line in path.read_text().splitlines():
            if not line.strip():
                continue
            entry = json.loads(line)
            if "playbook" in entry:
                playbook, task = entry["playbook"], "(before any task)"
                if playbook not in NOT_DEPLOY_PLAYBOOKS:
                    calls.setdefault(playbook, {})  # a playbook that calls nothing is recorded as such
            elif "end" in entry:
                playbook, task = "", "(after the playbook)"  # a caller's own calls, between playbooks
            elif "task" in entry:
                task = entry["task"]
            elif "call" in entry and playbook and playbook not in NOT_DEPLOY_PLAYBOOKS:
                calls.setdefault(playbook, {}).setdefault(task, set()).add(entry["call"])
    return calls


def load_record(path: pathlib.Path = RECORD) -> dict:
    return json.loads(path.read_text())


def recorded_calls(record: dict) -> set[str]:
    return {call for tasks in record["playbooks"].values() for calls in tasks.values() for call in calls}


def assumed_role_policy(task: str) -> str | None:
    """The policy template of the role a recorded task's calls are made as, or None (the deploy role)."""
    return ASSUMED_ROLE_TASKS.get(task.split(" : ", 1)[-1])


def deploy_role_calls(record: dict) -> set[str]:
    """The recorded calls the deploy role itself makes (those of ASSUMED_ROLE_TASKS left out)."""
    return {
        call
        for tasks in record["playbooks"].values()
        for task, calls in tasks.items()
        if assumed_role_policy(task) is None
        for call in calls
    }


def assumed_role_calls(record: dict) -> dict[str, set[str]]:
    """{policy template: recorded calls} of the tasks made as another role."""
    found: dict[str, set[str]] = {}
    for tasks in record["playbooks"].values():
        for task, calls in tasks.items():
            policy = assumed_role_policy(task)
            if policy is not None:
                found.setdefault(policy, set()).update(calls)
    return found


def write_record(runs: dict[str, dict[str, set[str]]], path: pathlib.Path = RECORD) -> None:
    record = {
        "comment": (
            "The AWS API calls of the deploy role's playbooks, per playbook and task, recorded against the "
            "local endpoint by `nox -s aws-calls` (tools/aws_calls.py). Do not edit: regenerate. "
            "tests/unit/test_ci_deploy_policy.py checks the deploy role's policy against it."
        ),
        "playbooks": {
            playbook: {task: sorted(calls) for task, calls in sorted(tasks.items())}
            for playbook, tasks in sorted(runs.items())
        },
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record, indent=1, sort_keys=False) + "\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=["record", "check"])
    parser.add_argument("runs", nargs="+", type=pathlib.Path, help="JSON lines files of recorded runs")
    parser.add_argument("--record", type=pathlib.Path, default=RECORD, help="the committed record")
    args = parser.parse_args(argv)
    runs = read_runs(args.runs)
    if args.command == "record":
        write_record(runs, args.record)
        count = len({c for tasks in runs.values() for calls in tasks.values() for c in calls})
        print(f"{args.record}: {count} distinct calls in {len(runs)} playbooks")
        return 0
    committed = recorded_calls(load_record(args.record))
    new = {
        (playbook, task, call)
        for playbook, tasks in runs.items()
        for task, calls in tasks.items()
        for call in calls
        if call not in committed
    }
    for playbook, task, call in sorted(new):
        print(f"{call}: made by {playbook} / {task}, not in {args.record}", file=sys.stderr)
    if new:
        print(
            "record the calls again (`nox -s aws-calls`) and check the deploy role's policy", file=sys.stderr
        )
    return 1 if new else 0


if __name__ == "__main__":
    sys.exit(main())
