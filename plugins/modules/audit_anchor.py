#!/usr/bin/python
# Copyright: GiftCrypto platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: audit_anchor
short_description: Anchors the audit chains' heads in an Object Lock bucket, signed with KMS
version_added: "0.2.0"
description:
  - Reads the head of every audit hash chain (C(audit_chain_heads)) and the hash of every row added
    since the previous anchor, builds a canonical JSON document of them, signs its SHA-256 with an
    asymmetric KMS key (C(kms:Sign), C(ECDSA_SHA_256), message type C(DIGEST)) and writes document
    and signature to an S3 bucket whose Object Lock (compliance mode) keeps every anchor for its
    retention. M(giftcrypto.platform.audit_verify) with O(giftcrypto.platform.audit_verify#module:anchors)
    then detects a history rewritten by the database's owner, heads included, and names the first
    rewritten row.
  - Nothing is written when the heads are those of the newest anchor (the task is not changed), so a
    converged platform's deploy writes nothing.
  - Each anchor is a new key, written with the C(If-None-Match) condition so an existing anchor is never
    replaced; the bucket's Object Lock refuses its deletion and the shortening of its retention.
  - Why a custom module. No stock module signs with KMS (amazon.aws has no C(kms:Sign) module), and
    the heads must be read in the same snapshot as the rows they close; the bucket and the key are
    made with the stock amazon.aws.s3_bucket and amazon.aws.kms_key.
author:
  - GiftCrypto platform team (@giftcrypto)
requirements:
  - psycopg >= 3.1
  - boto3
options:
  bucket:
    description: The anchors' bucket (Object Lock enabled, compliance mode default retention).
    type: str
    required: true
  prefix:
    description: Key prefix of the anchors; each database's anchors are under C(<prefix><database>/).
    type: str
    default: audit-anchors/
  key_id:
    description: The asymmetric signing key (ECC_NIST_P256, SIGN_VERIFY), given as ID, ARN or alias.
    type: str
    required: true
attributes:
  check_mode:
    support: full
    description:
      - Reads the heads and the newest anchor and says whether an anchor would be written.
      - Signs and writes nothing.
  diff_mode:
    support: full
    description: The heads of the newest anchor before, those anchored now after.
extends_documentation_fragment:
  - giftcrypto.platform.postgres
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: Anchor the audit chains' heads
  giftcrypto.platform.audit_anchor:
    login_host: db.internal
    login_user: auditor
    login_password: "{{ auditor_password }}"
    login_db: giftcrypto
    ssl_mode: verify-full
    ca_cert: /etc/giftcrypto/pki/ca.crt
    bucket: giftcrypto-prod-audit-anchors-123456789012
    key_id: alias/giftcrypto-prod-audit-anchor
"""

RETURN = r"""
key:
  description:
    - Key of the anchor written (or that would be written).
    - The newest anchor's when nothing changed.
  returned: always
  type: str
  sample: audit-anchors/giftcrypto/20261206T140102.123456Z-9f2c0a1b3c4d.json
version_id:
  description: Version of the anchor object written.
  returned: when an anchor was written
  type: str
retain_until:
  description: The anchor's Object Lock retain-until date, as S3 reports it.
  returned: when an anchor was written
  type: str
heads:
  description: The heads anchored, keyed by shard.
  returned: always
  type: dict
  sample: {"0": {"seq": 12, "hash": "9f2c..."}}
diverged_shards:
  description:
    - Shards whose chain no longer holds the newest anchor's head (rewritten, re-created or restored).
    - Their chains are anchored whole, and a warning says so.
  returned: always
  type: list
  elements: int
rows_anchored:
  description: Number of row hashes the new anchor records (rows added since the previous anchor).
  returned: always
  type: int
queries:
  description: SQL executed.
  returned: always
  type: list
  elements: str
"""

from ansible_collections.amazon.aws.plugins.module_utils.botocore import is_boto3_error_code
from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry
from ansible_collections.giftcrypto.platform.plugins.module_utils import audit_anchor
from ansible_collections.giftcrypto.platform.plugins.module_utils.pg import (
    QueryLog,
    connect,
    connection_argument_spec,
)


def newest_anchor(s3, bucket: str, prefix: str) -> tuple[str | None, dict]:
    """(key, heads {shard: {seq, hash}}) of the newest anchor under the prefix, or (None, {})."""
    newest = None
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for item in page.get("Contents", []):
            if item["Key"].endswith(".json") and (newest is None or item["Key"] > newest):
                newest = item["Key"]
    if newest is None:
        return None, {}
    parsed = audit_anchor.parse(audit_anchor.read_anchor(s3, bucket, newest), newest)
    return newest, parsed[0]["heads"]


def read_chains(module, previous: dict, diverged: list) -> tuple[dict, dict, list]:
    """(heads {shard: (seq, hash)}, rows {shard: (from_seq, [hash])}, queries) in one snapshot.

    Shards whose chain no longer holds the newest anchor's head are added to `diverged`.
    """
    conn = connect(module, autocommit=False)
    log = QueryLog(conn)
    try:
        conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        log.queries.append("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        heads = {int(s): (int(q), bytes(h)) for s, q, h in log.fetchall(audit_anchor.HEADS_SQL)}
        rows = {}
        for shard, (seq, _head_hash) in heads.items():
            since = int(previous.get(str(shard), {}).get("seq", 0))
            if 0 < since <= seq:
                # The newest anchor's head must still be on this chain; when it is not (history
                # rewritten, or a database re-created or restored under the same name), the chain is
                # anchored whole and audit_verify reports the difference from the older anchors.
                found = log.fetchall(audit_anchor.ROW_HASH_SQL, (shard, since))
                if [bytes(h).hex() for (h,) in found] != [previous[str(shard)]["hash"]]:
                    diverged.append(shard)
                    since = 0
            elif since > seq:
                diverged.append(shard)
                since = 0
            if seq > since:
                hashes = [
                    bytes(row[1]) for row in log.fetchall(audit_anchor.ROW_HASHES_SQL, (shard, since, seq))
                ]
                rows[shard] = (since + 1, hashes)
        conn.rollback()
    except Exception as exc:  # psycopg errors  # pylint: disable=broad-except
        module.fail_json(msg=f"audit_anchor could not read the audit chains: {exc}", queries=log.queries)
    finally:
        conn.close()
    return heads, rows, log.queries


def main() -> None:
    argument_spec = connection_argument_spec()
    argument_spec.update(
        bucket={"type": "str", "required": True},
        prefix={"type": "str", "default": "audit-anchors/"},
        key_id={"type": "str", "required": True},
    )
    module = AnsibleAWSModule(argument_spec=argument_spec, supports_check_mode=True)
    bucket, database = module.params["bucket"], module.params["login_db"]
    prefix = f"{module.params['prefix']}{database}/"
    retry = AWSRetry.jittered_backoff(retries=5)
    s3 = module.client("s3", retry_decorator=retry)
    try:
        previous_key, previous = newest_anchor(s3, bucket, prefix)
    except audit_anchor.AnchorError as exc:
        module.fail_json(msg=f"the newest anchor cannot be read: {exc}")
    except Exception as exc:  # botocore errors  # pylint: disable=broad-except
        module.fail_json_aws(exc, msg=f"could not list the anchors in s3://{bucket}/{prefix}")
    diverged: list[int] = []
    heads, rows, queries = read_chains(module, previous, diverged)
    current = {str(s): {"seq": q, "hash": h.hex()} for s, (q, h) in sorted(heads.items())}
    result = {
        "changed": False,
        "key": previous_key or "",
        "heads": current,
        "rows_anchored": 0,
        "diverged_shards": diverged,
        "queries": queries,
    }
    if current == previous:
        module.exit_json(**result)
    document = audit_anchor.build_document(database, heads, rows)
    result.update(
        changed=True,
        key=audit_anchor.object_key(module.params["prefix"], document),
        rows_anchored=sum(len(hashes) for _first, hashes in rows.values()),
    )
    if diverged:
        # AnsibleModule's own warn (as ce_cost_allocation_tags): amazon.aws 11's passes warnings to
        # exit_json, which ansible-core reports as deprecated.
        module._module.warn(
            f"the newest anchor's heads of shards {diverged} are not on their chains any more (history "
            "rewritten, or the database re-created or restored): those chains are anchored whole; "
            "audit_verify with the anchors reports where they differ"
        )
    if module._diff:
        result["diff"] = {"before": {"heads": previous}, "after": {"heads": current}}
    try:
        lock = s3.get_object_lock_configuration(Bucket=bucket, aws_retry=True)["ObjectLockConfiguration"]
    except is_boto3_error_code("ObjectLockConfigurationNotFoundError"):
        lock = {}
    except Exception as exc:  # botocore errors  # pylint: disable=broad-except
        module.fail_json_aws(exc, msg=f"could not read the Object Lock configuration of {bucket}")
    mode = lock.get("Rule", {}).get("DefaultRetention", {}).get("Mode")
    enabled = lock.get("ObjectLockEnabled", "no Object Lock")
    if lock.get("ObjectLockEnabled") != "Enabled" or mode != "COMPLIANCE":
        module.fail_json(
            msg=(
                f"bucket={bucket}: anchors go only to a bucket with Object Lock enabled and a "
                f"compliance-mode default retention (found {enabled}, mode {mode}); "
                "nothing was written"
            ),
            **{**result, "changed": False},
        )
    if module.check_mode:
        module.exit_json(**result)
    kms = module.client("kms", retry_decorator=retry)
    try:
        signature, key_arn = audit_anchor.kms_sign(kms, module.params["key_id"], document)
    except Exception as exc:  # botocore errors  # pylint: disable=broad-except
        module.fail_json_aws(exc, msg=f"KMS could not sign the anchor with {module.params['key_id']}")
    try:
        written = s3.put_object(
            Bucket=bucket,
            Key=result["key"],
            Body=audit_anchor.envelope(document, signature, key_arn),
            ContentType="application/json",
            ChecksumAlgorithm="SHA256",
            IfNoneMatch="*",
            aws_retry=True,
        )
        stored = s3.head_object(
            Bucket=bucket, Key=result["key"], VersionId=written["VersionId"], aws_retry=True
        )
    except Exception as exc:  # botocore errors  # pylint: disable=broad-except
        module.fail_json_aws(exc, msg=f"could not write the anchor s3://{bucket}/{result['key']}")
    if stored.get("ObjectLockMode") != "COMPLIANCE":
        module.fail_json(
            msg=(
                f"the anchor s3://{bucket}/{result['key']} is not under an Object Lock in compliance mode "
                f"(mode {stored.get('ObjectLockMode')}): give the bucket a compliance-mode default retention"
            ),
            **result,
        )
    result.update(
        version_id=written.get("VersionId", ""), retain_until=str(stored.get("ObjectLockRetainUntilDate"))
    )
    module.exit_json(**result)


if __name__ == "__main__":
    main()
