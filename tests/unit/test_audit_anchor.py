"""giftcrypto.platform.audit_anchor and audit_verify's anchors, against a real audit trail
(tests/unit/pg_cluster.py) and the local AWS endpoint's launcher (its fidelity layer signs a digest
as KMS does and keeps a compliance-mode retention as S3 does).

The anchors' bucket and key are made here as aws_security_baseline makes them (Object Lock in
compliance mode, an ECC_NIST_P256 SIGN_VERIFY key); the role's posture is in
tests/integration/test_posture.py and the templates' rules in test_audit_anchor_policies below.
"""

from __future__ import annotations

import json
import pathlib

import pytest
from ansible_collections.giftcrypto.platform.plugins.module_utils import audit_anchor as anchors_lib
from ansible_collections.giftcrypto.platform.plugins.modules import audit_anchor, audit_verify

from tests.unit import moto_modules
from tests.unit.test_audit_verify import _tamper, audited  # noqa: F401 -- the audited trail fixture
from tests.unit.test_local_aws_endpoint_fidelity import aws, endpoint  # noqa: F401 -- the launcher

ROOT = pathlib.Path(__file__).resolve().parents[2]
BUCKET = "unit-audit-anchors"


@pytest.fixture
def anchor_store(aws, endpoint):  # noqa: F811
    s3, kms = aws("s3"), aws("kms")
    s3.create_bucket(Bucket=BUCKET, ObjectLockEnabledForBucket=True)
    s3.put_object_lock_configuration(
        Bucket=BUCKET,
        ObjectLockConfiguration={
            "ObjectLockEnabled": "Enabled",
            "Rule": {"DefaultRetention": {"Mode": "COMPLIANCE", "Days": 365}},
        },
    )
    key = kms.create_key(KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")["KeyMetadata"]["Arn"]
    aws_args = {
        "endpoint_url": endpoint,
        "region": "us-east-1",
        "access_key": "testing",
        "secret_key": "testing",  # pragma: allowlist secret
    }
    return {"s3": s3, "kms": kms, "key": key, "aws": aws_args}


def test_anchor_then_verify_names_the_first_rewritten_row(pg_cluster, audited, anchor_store, capsys):  # noqa: F811
    run_anchor = moto_modules.runner(audit_anchor, capsys)
    run_verify = moto_modules.runner(audit_verify, capsys)
    login = pg_cluster.login(audited["db"], user="auditor")
    args = {**login, **anchor_store["aws"], "bucket": BUCKET, "key_id": anchor_store["key"]}

    planned = run_anchor(args, check_mode=True)
    assert (planned["rc"], planned["changed"], planned["rows_anchored"]) == (0, True, audited["rows"]), (
        planned
    )
    assert not anchor_store["s3"].list_objects_v2(Bucket=BUCKET).get("Contents")  # check mode wrote nothing
    written = run_anchor(args)
    assert written["rc"] == 0 and written["changed"] is True, written
    assert written["key"].startswith(f"audit-anchors/{audited['db']}/")
    assert run_anchor(args)["changed"] is False  # heads anchored already: nothing written

    # The anchor: a canonical document, signed over its digest with the key, verifiable offline.
    body = anchor_store["s3"].get_object(Bucket=BUCKET, Key=written["key"])["Body"].read()
    document, signature, signing_key = anchors_lib.parse(body, written["key"])
    assert signing_key == anchor_store["key"]
    public = anchor_store["kms"].get_public_key(KeyId=anchor_store["key"])["PublicKey"]
    assert anchors_lib.public_key_verifier(public)(document, signature) is True
    assert document["heads"] == written["heads"]

    anchors = {"bucket": BUCKET, "key_id": anchor_store["key"]}
    verified = run_verify({**login, **anchor_store["aws"], "anchors": anchors})
    assert (verified["rc"], verified["ok"], verified["anchors_verified"]) == (0, True, 1), verified

    # Rewrite the second of the three user inserts, recompute its hash and every later one and the
    # head: the chain is consistent again, only the anchor knows.
    shard = audited["users"]
    with pg_cluster.connect(audited["db"]) as conn:
        conn.execute("SET session_replication_role = replica")
        conn.execute(
            'UPDATE audit_log SET row_data = row_data || \'{"kyc_status": "verified"}\' '
            "WHERE shard = %s AND seq = 2",
            (shard,),
        )
        rows = conn.execute(
            "SELECT shard, seq, occurred_at, txid, actor_user_id::text, actor_role, table_name, operation, "
            "row_id, changed_columns, row_data::text, prev_hash, hash FROM audit_log "
            "WHERE shard = %s AND seq >= 2 ORDER BY seq",
            (shard,),
        ).fetchall()
        prev = bytes(rows[0][11])
        for row in rows:
            digest = audit_verify.row_hash((*row[:11], prev, row[12]))
            conn.execute(
                "UPDATE audit_log SET prev_hash = %s, hash = %s WHERE shard = %s AND seq = %s",
                (prev, digest, shard, row[1]),
            )
            prev = digest
        conn.execute("UPDATE audit_chain_heads SET hash = %s WHERE shard = %s", (prev, shard))

    assert run_verify(login)["ok"] is True
    broken = run_verify({**login, **anchor_store["aws"], "anchors": anchors})
    assert broken["rc"] == 1 and broken["ok"] is False
    assert (broken["first_break"]["shard"], broken["first_break"]["seq"]) == (shard, 2)
    assert "signed anchor" in broken["first_break"]["reason"]

    # Verified with the public key alone (no KMS call), the same answer.
    from cryptography.hazmat.primitives import serialization

    pem = (
        serialization.load_der_public_key(public)
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    offline = run_verify(
        {**login, **anchor_store["aws"], "anchors": {"documents": [json.loads(body)], "public_key": pem}}
    )
    assert (offline["first_break"]["shard"], offline["first_break"]["seq"]) == (shard, 2)

    # The job run on the rewritten chain: the newest anchor's head is not on it any more, so the
    # chain is anchored whole with a warning; the older anchor still names the rewritten row.
    rewritten = run_anchor(args)
    assert rewritten["changed"] is True and rewritten["diverged_shards"] == [shard], rewritten
    assert "not on their chains" in json.dumps(rewritten.get("warnings")), rewritten.keys()
    again = run_verify({**login, **anchor_store["aws"], "anchors": anchors})
    assert (again["first_break"]["shard"], again["first_break"]["seq"], again["anchors_verified"]) == (
        shard,
        2,
        2,
    )

    # An anchor signed by another key is not trusted: reported, its rows not used.
    other = anchor_store["kms"].create_key(KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")["KeyMetadata"][
        "Arn"
    ]
    stranger = run_verify({**login, **anchor_store["aws"], "anchors": {"bucket": BUCKET, "key_id": other}})
    assert stranger["ok"] is False and stranger["anchors_verified"] == 0
    assert len(stranger["anchor_problems"]) == 2
    assert "signature does not verify" in stranger["anchor_problems"][0]


def test_anchor_refuses_a_bucket_without_compliance_lock(pg_cluster, audited, anchor_store, capsys):  # noqa: F811
    anchor_store["s3"].create_bucket(Bucket="unit-unlocked")
    run_anchor = moto_modules.runner(audit_anchor, capsys)
    args = {
        **pg_cluster.login(audited["db"], user="auditor"),
        **anchor_store["aws"],
        "bucket": "unit-unlocked",
        "key_id": anchor_store["key"],
    }
    result = run_anchor(args)
    assert result["rc"] == 1 and "compliance-mode default retention" in result["msg"], result["msg"]
    assert not anchor_store["s3"].list_objects_v2(Bucket="unit-unlocked").get("Contents")  # nothing written


def test_verify_without_a_key_to_check_anchors_against_is_refused(pg_cluster, audited, capsys):  # noqa: F811
    run_verify = moto_modules.runner(audit_verify, capsys)
    result = run_verify({**pg_cluster.login(audited["db"], user="auditor"), "anchors": {"bucket": BUCKET}})
    assert result["rc"] == 1 and "anchors.key_id or anchors.public_key" in result["msg"]


def _template(name: str, **facts) -> dict:
    """A template of aws_security_baseline rendered as the role renders it (Jinja2 with to_json)."""
    import jinja2

    env = jinja2.Environment(undefined=jinja2.StrictUndefined)  # noqa: S701 -- JSON, not HTML
    env.filters["to_json"] = json.dumps
    env.filters["regex_replace"] = lambda value, pattern, repl: __import__("re").sub(pattern, repl, value)
    source = (ROOT / "roles" / "aws_security_baseline" / "templates" / name).read_text()
    return json.loads(env.from_string(source).render(**facts))


FACTS = {
    "aws_security_baseline_name": "giftcrypto-production",
    "aws_security_baseline__partition": "aws",
    "aws_security_baseline__account_id": "123456789012",
    "aws_security_baseline_region": "eu-west-1",
    "aws_security_baseline__role_arns": {
        "audit-anchor": "arn:aws:iam::123456789012:role/giftcrypto-production-audit-anchor"
    },
    "aws_security_baseline_audit_anchors_bucket_name": "giftcrypto-production-audit-anchors",
}


def test_audit_anchor_policies():
    signer = FACTS["aws_security_baseline__role_arns"]["audit-anchor"]
    key = _template("audit_anchor_key_policy.json.j2", **FACTS)["Statement"]
    allows_sign = [s for s in key if s["Effect"] == "Allow" and "kms:Sign" in json.dumps(s["Action"])]
    assert [s["Principal"] for s in allows_sign] == [{"AWS": signer}]
    assert not any(s["Action"] == "kms:*" for s in key)  # no delegation of Sign to IAM policies
    (deny,) = [s for s in key if s["Effect"] == "Deny"]
    assert deny == {
        "Sid": "NoOneElseSigns",
        "Effect": "Deny",
        "Principal": "*",
        "Action": "kms:Sign",
        "Resource": "*",
        "Condition": {"StringNotEquals": {"aws:PrincipalArn": signer}},
    }
    verifiers = next(s for s in key if s["Sid"] == "VerifiersOfThisAccount")
    assert set(verifiers["Action"]) == {"kms:Verify", "kms:GetPublicKey", "kms:DescribeKey"}

    bucket = {s["Sid"]: s for s in _template("audit_anchors_bucket_policy.json.j2", **FACTS)["Statement"]}
    assert bucket["DenyRequestsWithoutTls"]["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    assert bucket["AnchorsAreNeverReplaced"]["Condition"] == {"Null": {"s3:if-none-match": "true"}}
    assert bucket["OnlyTheAnchoringJobWrites"]["Condition"] == {
        "StringNotEquals": {"aws:PrincipalArn": signer}
    }
    assert "s3:PutObjectRetention" in bucket["NoGovernanceBypassNorRetentionChange"]["Action"]


def test_the_bucket_task_locks_in_compliance_mode_for_the_audit_retention():
    import yaml

    role = ROOT / "roles" / "aws_security_baseline"
    tasks = yaml.safe_load((role / "tasks" / "audit_anchors.yml").read_text())
    (bucket,) = [t["amazon.aws.s3_bucket"] for t in tasks if "amazon.aws.s3_bucket" in t]
    assert bucket["object_lock_enabled"] is True and bucket["versioning"] is True
    assert bucket["object_lock_default_retention"]["mode"] == "COMPLIANCE"
    defaults = yaml.safe_load((role / "defaults" / "main.yml").read_text())
    assert defaults["aws_security_baseline_audit_anchor_retention_days"] >= 365  # the audit retention
    (key,) = [t["amazon.aws.kms_key"] for t in tasks if "amazon.aws.kms_key" in t]
    assert (key["key_spec"], key["key_usage"]) == ("ECC_NIST_P256", "SIGN_VERIFY")
