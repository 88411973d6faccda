# SQL here is built from integers and hex read back from the database, never from outside input.
# ruff: noqa: S608
"""Anchored audit heads (issue 23 item 1, docs/adr/0016-anchored-audit-heads.md).

The anchors go to the deployed local platform's Object Lock bucket, signed with its anchor key
(aws_security_baseline), through giftcrypto.platform.audit_anchor as db_schema's deploy step runs
it. The database is a scratch one (tests/integration/test_audit.py's), dropped at the end: the
deployed trail is never touched. Its anchors stay in the bucket, locked, as on AWS (under
audit-anchors/<scratch database>/; the local endpoint forgets them when it stops).

As the deploy step does, the test assumes the anchoring role and reaches the endpoint over TLS
(the anchor step's endpoint URL and CA bundle in the local inventory): the anchors bucket's policy
denies requests without TLS, writes by any other principal and writes without If-None-Match, and
the endpoint evaluates it as AWS does (its fidelity layer, s3:bucket-policy-request-context).
"""

from __future__ import annotations

import datetime
import json
import pathlib

import botocore.exceptions
import pytest

from tests.integration.fixtures_schema import audit_verify, run_module
from tests.integration.test_audit import TAMPER, _audited_database, busiest_shard

pytestmark = pytest.mark.integration

PREFIX = "audit-anchors/"


@pytest.fixture
def anchors(local_vars):
    name = f"{local_vars['platform_name']}-{local_vars['platform_environment']}"
    return {"bucket": f"{name}-audit-anchors", "prefix": PREFIX, "key_id": f"alias/{name}-audit-anchor"}


def _https(local_vars) -> tuple[str, str]:
    """The anchor step's endpoint (TLS) and the CA bundle it trusts, as the local inventory sets them
    (db_schema_audit_anchor_aws_endpoint_url; ..._aws_ca_bundle: the endpoint's own certificate)."""
    url = local_vars["db_schema_audit_anchor_aws_endpoint_url"]
    port = url.rsplit(":", 1)[1]
    bundle = pathlib.Path.home() / f".local/state/giftcrypto/aws-endpoint-{port}/tls.pem"
    assert url.startswith("https://") and bundle.exists(), (url, bundle)
    return url, str(bundle)


@pytest.fixture
def aws_args(local_vars, aws):
    """The anchoring role's session, over TLS: what the deploy step signs and writes with."""
    name = f"{local_vars['platform_name']}-{local_vars['platform_environment']}"
    role = aws("iam").get_role(RoleName=f"{name}-audit-anchor")["Role"]["Arn"]
    session = aws("sts").assume_role(RoleArn=role, RoleSessionName="integration-anchor")["Credentials"]
    url, bundle = _https(local_vars)
    return {
        "region": local_vars["aws_region"],
        "endpoint_url": url,
        "aws_ca_bundle": bundle,
        "access_key": session["AccessKeyId"],
        "secret_key": session["SecretAccessKey"],
        "session_token": session["SessionToken"],
    }


def s3_client(aws_args: dict, **credentials):
    """An S3 client over TLS, as the anchoring role's session unless other credentials are given."""
    import boto3

    keys = credentials or {
        "aws_access_key_id": aws_args["access_key"],
        "aws_secret_access_key": aws_args["secret_key"],
        "aws_session_token": aws_args["session_token"],
    }
    return boto3.client(
        "s3",
        endpoint_url=aws_args["endpoint_url"],
        region_name=aws_args["region"],
        verify=aws_args["aws_ca_bundle"],
        **keys,
    )


def anchor(db, anchors, aws_args, check: bool = False) -> dict:
    facts = db.kwargs("auditor")
    args = {
        "bucket": anchors["bucket"],
        "prefix": anchors["prefix"],
        "key_id": anchors["key_id"],
        "login_host": facts["host"],
        "login_port": facts["port"],
        "login_user": facts["user"],
        "login_db": db.name,
        "ssl_mode": facts["sslmode"],
        **({"ca_cert": facts["sslrootcert"]} if facts.get("sslrootcert") else {}),
        **aws_args,
    }
    secrets = {
        "login_password": facts["password"],
        "secret_key": args.pop("secret_key"),
        "session_token": args.pop("session_token"),
    }
    return run_module("audit_anchor", args, secrets, check=check)


def verify(db, **options) -> dict:
    """audit_verify, the session's secret key and token out of the command line."""
    if "secret_key" not in options:
        return audit_verify(db, **options)
    options = dict(options)
    facts = db.kwargs("auditor")
    args = {
        "login_host": facts["host"],
        "login_port": facts["port"],
        "login_user": facts["user"],
        "login_db": db.name,
        "ssl_mode": facts["sslmode"],
        **({"ca_cert": facts["sslrootcert"]} if facts.get("sslrootcert") else {}),
        **options,
    }
    secrets = {
        "login_password": facts["password"],
        "secret_key": args.pop("secret_key"),
        "session_token": args.pop("session_token"),
    }
    return run_module("audit_verify", args, secrets)


def rewrite_history(db, shard: int, seq: int) -> None:
    """As the superuser: change row `seq` of `shard`, then recompute every later hash and the head."""
    from ansible_collections.giftcrypto.platform.plugins.modules.audit_verify import row_hash

    db.superuser(
        TAMPER + 'UPDATE audit_log SET row_data = row_data || \'{"kyc_status": "verified"}\' '
        f"WHERE shard = {shard} AND seq = {seq}"
    )
    with db.connect("auditor") as conn:
        rows = conn.execute(
            "SELECT shard, seq, occurred_at, txid, actor_user_id::text, actor_role, table_name, operation, "
            "row_id, changed_columns, row_data::text, prev_hash, hash FROM audit_log "
            "WHERE shard = %s AND seq >= %s ORDER BY seq",
            (shard, seq),
        ).fetchall()
    prev = bytes(rows[0][11])
    statements = []
    for row in rows:
        digest = row_hash((*row[:11], prev, row[12]))
        statements.append(
            f"UPDATE audit_log SET prev_hash = '\\x{prev.hex()}', hash = '\\x{digest.hex()}' "
            f"WHERE shard = {shard} AND seq = {row[1]}"
        )
        prev = digest
    statements.append(f"UPDATE audit_chain_heads SET hash = '\\x{prev.hex()}' WHERE shard = {shard}")
    db.superuser(TAMPER + "; ".join(statements))


@pytest.mark.soc2("CC7.2")
def test_rewritten_history_with_rewritten_heads_is_caught_by_the_anchors(
    new_database, anchors, aws_args, aws, local_vars
):
    db = _audited_database(new_database)
    # The deploy step: check mode plans an anchor, the run writes it, a second run writes nothing.
    planned = anchor(db, anchors, aws_args, check=True)
    assert not planned.get("failed"), planned.get("msg")
    assert planned["changed"] is True and planned["rows_anchored"] > 20
    written = anchor(db, anchors, aws_args)
    assert not written.get("failed"), written.get("msg")
    assert written["changed"] is True and written["key"].startswith(f"{PREFIX}{db.name}/")
    again = anchor(db, anchors, aws_args)
    assert again["changed"] is False and again["key"] == written["key"]

    verified = verify(db, anchors=anchors, **aws_args)
    assert verified["ok"] is True and verified["anchors_verified"] == 1, verified.get("msg")

    shard, top = busiest_shard(db)
    rewritten = top - 2
    rewrite_history(db, shard, rewritten)

    alone = audit_verify(db)
    assert alone["ok"] is True, alone["first_break"]  # consistent on its own: rows, hashes and head
    result = verify(db, anchors=anchors, **aws_args)
    assert result["ok"] is False and result.get("failed")
    assert (result["first_break"]["shard"], result["first_break"]["seq"]) == (shard, rewritten)
    assert "signed anchor" in result["first_break"]["reason"]
    assert f"shard {shard} seq {rewritten}" in result["msg"]

    # The anchor cannot be removed nor weakened inside its retention, not even by its writer.
    s3 = s3_client(aws_args)
    bucket, key = anchors["bucket"], written["key"]
    version = written["version_id"]
    head = s3.head_object(Bucket=bucket, Key=key, VersionId=version)
    assert head["ObjectLockMode"] == "COMPLIANCE"
    assert head["ObjectLockRetainUntilDate"] > datetime.datetime.now(datetime.UTC) + datetime.timedelta(
        days=364
    )
    refusals = {
        "delete": lambda: s3.delete_object(Bucket=bucket, Key=key, VersionId=version),
        "shorten": lambda: s3.put_object_retention(
            Bucket=bucket,
            Key=key,
            VersionId=version,
            Retention={
                "Mode": "COMPLIANCE",
                "RetainUntilDate": datetime.datetime(2020, 1, 1, tzinfo=datetime.UTC),
            },
        ),
        "governance": lambda: s3.put_object_retention(
            Bucket=bucket,
            Key=key,
            VersionId=version,
            Retention={"Mode": "GOVERNANCE", "RetainUntilDate": head["ObjectLockRetainUntilDate"]},
            BypassGovernanceRetention=True,
        ),
        "overwrite": lambda: s3.put_object(Bucket=bucket, Key=key, Body=b"{}", IfNoneMatch="*"),
    }
    for name, call in refusals.items():
        with pytest.raises(botocore.exceptions.ClientError) as refused:
            call()
        code = refused.value.response["Error"]["Code"]
        assert code == ("PreconditionFailed" if name == "overwrite" else "AccessDenied"), (name, code)

    # Writes the bucket policy denies (as on AWS; the endpoint evaluates it): without If-None-Match,
    # by a principal other than the anchoring role, over plain HTTP.
    original = json.loads(s3.get_object(Bucket=bucket, Key=key, VersionId=version)["Body"].read())
    forged = json.loads(json.dumps(original))
    forged["document"]["heads"][str(shard)]["hash"] = "00" * 32
    body = json.dumps(forged).encode()
    deployer = s3_client(
        aws_args,
        aws_access_key_id=local_vars["aws_access_key_id"],
        aws_secret_access_key=local_vars["aws_secret_access_key"],
    )
    denied = {
        "unconditional": lambda: s3.put_object(Bucket=bucket, Key=key, Body=body),
        "other principal": lambda: deployer.put_object(
            Bucket=bucket, Key=key.replace(".json", "-forged.json"), Body=body, IfNoneMatch="*"
        ),
        "plain http": lambda: aws("s3").get_object(Bucket=bucket, Key=key, VersionId=version),
    }
    for name, call in denied.items():
        with pytest.raises(botocore.exceptions.ClientError) as refused:
            call()
        assert refused.value.response["Error"]["Code"] == "AccessDenied", name
    kept = json.loads(s3.get_object(Bucket=bucket, Key=key, VersionId=version)["Body"].read())
    assert kept == original
    # A forged anchor the writer itself puts under a new key (the old signature kept) is reported,
    # not trusted.
    forged_key = key.replace(".json", "-forged.json")
    s3.put_object(Bucket=bucket, Key=forged_key, Body=body, IfNoneMatch="*", ChecksumAlgorithm="SHA256")
    result = verify(db, anchors=anchors, **aws_args)
    assert result["ok"] is False and result["anchors_verified"] == 1
    assert any("signature does not verify" in problem for problem in result["anchor_problems"])
    assert (result["first_break"]["shard"], result["first_break"]["seq"]) == (shard, rewritten)
