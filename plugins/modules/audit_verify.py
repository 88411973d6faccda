#!/usr/bin/python
# Copyright: GiftCrypto platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: audit_verify
short_description: Verifies the hash chains of the tamper-evident audit trail
version_added: "0.1.0"
description:
  - Recomputes, outside the database, every hash chain of C(audit_log) (one chain per shard, see
    roles/db_schema/files/migrations/0004_audit.up.sql; 64 shards, each transaction appending to a
    free one, since 0011_hot_path.up.sql) and compares the end of each chain with its
    head row in C(audit_chain_heads).
  - Reports the first broken link of each shard and the first of all; a modified row (content no
    longer matches its hash), a removed, inserted or reordered row (sequence gap, duplicate or
    predecessor hash mismatch) and rows removed at the end of a chain (head ahead of the chain)
    are all detected.
  - Only reads; never changes anything, so RV(ignore:changed) is always false.
  - Why a custom module. The hash must be recomputed by a party that does not trust the
    database's own functions (a superuser could replace them); no stock module does this.
author:
  - GiftCrypto platform team (@giftcrypto)
requirements:
  - psycopg >= 3.1
  - cryptography (to verify the anchors' signatures)
options:
  fail_on_break:
    description: Whether a broken chain fails the task (otherwise RV(ok) is false).
    type: bool
    default: true
  expected_heads:
    description:
      - Heads recorded earlier outside the database (RV(heads) of an earlier run), keyed by shard.
      - Each must still be on its chain with the same hash, which detects a chain rewritten by
        someone who also rewrote the head rows.
    type: dict
    default: {}
  anchors:
    description:
      - Signed anchors of the chain heads written outside the database by
        M(giftcrypto.platform.audit_anchor) (an S3 bucket with Object Lock in compliance mode).
      - Every anchor's signature is checked against the pinned signing key, then every row an
        anchor recorded must still be on its chain with the same hash. This detects a history
        rewritten together with its heads (every later hash recomputed) and names the first
        rewritten row. An anchor that is malformed or does not verify fails the verification too.
      - Needs AWS credentials (the C(group/aws) module defaults) to read the bucket and, without
        O(anchors.public_key), the key's public key (C(kms:GetPublicKey)).
    type: dict
    suboptions:
      bucket:
        description:
          - Bucket of the anchors.
          - Every version of every object under O(anchors.prefix)C(<database>/) is checked.
        type: str
      prefix:
        description:
          - Key prefix of the anchors in O(anchors.bucket).
          - As M(giftcrypto.platform.audit_anchor) writes them.
        type: str
        default: audit-anchors/
      documents:
        description: Anchors given directly (the objects' JSON, parsed), instead of or besides the bucket's.
        type: list
        elements: dict
        default: []
      key_id:
        description:
          - The signing key (ID, ARN or alias) the anchors must be signed with.
          - Its public key is read from KMS (C(kms:GetPublicKey)).
        type: str
      public_key:
        description:
          - The signing key's public key (PEM), to verify without KMS.
          - Takes precedence over O(anchors.key_id).
        type: str
attributes:
  check_mode:
    support: full
    description: The module only reads; check mode runs the same verification.
  diff_mode:
    support: none
    description: Nothing changes, so there is no diff.
extends_documentation_fragment:
  - giftcrypto.platform.postgres
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: Verify the audit trail
  giftcrypto.platform.audit_verify:
    login_host: 127.0.0.1
    login_user: auditor
    login_password: "{{ auditor_password }}"
    login_db: giftcrypto
    ssl_mode: verify-full
    ca_cert: /etc/giftcrypto/pki/ca.crt
  register: audit

- name: Verify against the signed anchors in the Object Lock bucket
  giftcrypto.platform.audit_verify:
    login_user: auditor
    login_db: giftcrypto
    anchors:
      bucket: giftcrypto-prod-audit-anchors-123456789012
      prefix: audit-anchors/
      key_id: alias/giftcrypto-prod-audit-anchor
  register: audit

- name: Verify, comparing with heads anchored earlier
  giftcrypto.platform.audit_verify:
    login_user: auditor
    login_db: giftcrypto
    expected_heads: "{{ lookup('ansible.builtin.file', 'heads.json') | from_json }}"
    fail_on_break: false
  register: audit
"""

RETURN = r"""
ok:
  description: Whether every chain verified.
  returned: always
  type: bool
rows_checked:
  description: Number of audit rows whose hash was recomputed.
  returned: always
  type: int
  sample: 1200
first_break:
  description: The first broken link found (lowest shard), or null.
  returned: always
  type: dict
  sample: {"shard": 3, "seq": 17, "reason": "row content does not match its hash (row modified)",
           "table_name": "users", "row_id": "8c1e..."}
breaks:
  description: The first broken link of each broken shard.
  returned: always
  type: list
  elements: dict
heads:
  description: Last verified seq and hash (hex) of each shard, to anchor outside the database.
  returned: always
  type: dict
  sample: {"0": {"seq": 12, "hash": "9f2c..."}}
queries:
  description: SQL executed.
  returned: always
  type: list
  elements: str
"""

import hashlib
import json
import re
from datetime import UTC

from ansible_collections.amazon.aws.plugins.module_utils.botocore import is_boto3_error_code
from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry
from ansible_collections.giftcrypto.platform.plugins.module_utils import audit_anchor
from ansible_collections.giftcrypto.platform.plugins.module_utils.pg import (
    QueryLog,
    connect,
    connection_argument_spec,
)

SEPARATOR = "\x1f"
ROWS_SQL = (
    "SELECT shard, seq, occurred_at, txid, actor_user_id::text, actor_role, table_name, operation, "
    "row_id, changed_columns, row_data::text, prev_hash, hash "
    "FROM audit_log WHERE shard = %s ORDER BY seq, occurred_at"
)


def genesis(shard: int) -> bytes:
    return hashlib.sha256(f"giftcrypto-audit-genesis|{shard}".encode()).digest()


def row_hash(row: tuple) -> bytes:
    """The hash of an audit row, exactly as audit_capture() computes it (see 0004_audit)."""
    shard, seq, occurred_at, txid, actor, role, table, operation, row_id, columns, data, prev = row[:-1]
    stamp = occurred_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    fields = [
        str(shard),
        str(seq),
        stamp,
        str(txid),
        actor or "",
        role,
        table,
        operation,
        row_id,
        ",".join(columns),
        data,
        bytes(prev).hex(),
    ]
    return hashlib.sha256(SEPARATOR.join(fields).encode("utf-8")).digest()


def verify_shard(
    log: QueryLog,
    shard: int,
    head: tuple | None,
    expected: dict | None,
    anchored: dict[int, str] | None = None,
) -> tuple[int, dict | None, dict]:
    """(rows checked, first break or None, last verified {seq, hash}) of one shard's chain.

    `anchored` maps seq to the hash (or its first digits) a signed anchor recorded for that row.
    """
    anchored = anchored or {}
    expected_seq, expected_prev, checked = 1, genesis(shard), 0
    anchor_seen = expected is None or int(expected.get("seq", 0)) == 0
    cursor = log.execute(ROWS_SQL, (shard,))
    for row in cursor:
        checked += 1
        seq, prev, stored = row[1], bytes(row[11]), bytes(row[12])
        where = {"shard": shard, "seq": seq, "table_name": row[6], "row_id": row[8]}
        if seq != expected_seq:
            reason = (
                f"seq {seq} found where {expected_seq} was expected (row removed, inserted or reordered)"
                if seq > expected_seq
                else f"seq {seq} appears again after {expected_seq - 1} (row inserted or reordered)"
            )
            return (
                checked,
                {**where, "reason": reason},
                {"seq": expected_seq - 1, "hash": expected_prev.hex()},
            )
        if prev != expected_prev:
            return (
                checked,
                {**where, "reason": "prev_hash is not the hash of the previous row (chain broken)"},
                {
                    "seq": expected_seq - 1,
                    "hash": expected_prev.hex(),
                },
            )
        if row_hash(row) != stored:
            return (
                checked,
                {**where, "reason": "row content does not match its hash (row modified)"},
                {
                    "seq": expected_seq - 1,
                    "hash": expected_prev.hex(),
                },
            )
        if seq in anchored and not stored.hex().startswith(anchored[seq]):
            return (
                checked,
                {
                    **where,
                    "reason": "hash differs from the signed anchor (history rewritten from this row on)",
                },
                {"seq": seq - 1, "hash": expected_prev.hex()},
            )
        if expected and int(expected.get("seq", 0)) == seq:
            if stored.hex() != str(expected.get("hash", "")).lower():
                return (
                    checked,
                    {**where, "reason": "hash differs from the anchored head (chain rewritten)"},
                    {
                        "seq": seq - 1,
                        "hash": expected_prev.hex(),
                    },
                )
            anchor_seen = True
        expected_prev, expected_seq = stored, seq + 1
    last = {"seq": expected_seq - 1, "hash": expected_prev.hex()}
    beyond = [seq for seq in anchored if seq > last["seq"]]
    if beyond:
        return (
            checked,
            {
                "shard": shard,
                "seq": min(beyond),
                "reason": f"anchored row seq {min(beyond)} is no longer on the chain (rows removed)",
            },
            last,
        )
    if not anchor_seen:
        return (
            checked,
            {
                "shard": shard,
                "seq": int(expected["seq"]),
                "reason": f"anchored head seq {expected['seq']} is no longer on the chain (rows removed)",
            },
            last,
        )
    if head is None:
        return checked, {"shard": shard, "seq": last["seq"], "reason": "no head row for this shard"}, last
    if int(head[0]) != last["seq"] or bytes(head[1]) != expected_prev:
        return (
            checked,
            {
                "shard": shard,
                "seq": last["seq"],
                "reason": (
                    f"chain ends at seq {last['seq']} but its head says seq {head[0]} "
                    "(rows removed at the end, or head altered)"
                ),
            },
            last,
        )
    return checked, None, last


def expected_heads(given: dict) -> dict[int, dict]:
    """expected_heads keyed by shard number; a key that is not a shard number is refused by name."""
    bad = sorted(str(k) for k in given if not re.fullmatch(r"[0-9]{1,9}", str(k)))
    if bad:
        raise ValueError(
            f"expected_heads: keys must be shard numbers (as RV(heads) returns them), not {', '.join(bad)}"
        )
    return {int(k): v for k, v in given.items()}


ANCHORS_SPEC = {
    "bucket": {"type": "str"},
    "prefix": {"type": "str", "default": "audit-anchors/"},
    "documents": {"type": "list", "elements": "dict", "default": []},
    "key_id": {"type": "str"},
    "public_key": {"type": "str"},
}


def load_anchors(module, options: dict, database: str) -> tuple[list[dict], list[str]]:
    """(verified documents, oldest first; problems) of the anchors named by the anchors option."""
    if not options.get("bucket") and not options.get("documents"):
        module.fail_json(msg="anchors: give anchors.bucket or anchors.documents (or both)")
    if not options.get("key_id") and not options.get("public_key"):
        module.fail_json(
            msg="anchors: give anchors.key_id or anchors.public_key: the key the anchors must be signed with"
        )
    retry = AWSRetry.jittered_backoff(retries=5)
    try:
        if options.get("public_key"):
            verify = audit_anchor.public_key_verifier(options["public_key"].encode("utf-8"))
        else:
            kms = module.client("kms", retry_decorator=retry)
            answer = kms.get_public_key(KeyId=options["key_id"], aws_retry=True)
            if answer.get("KeyUsage") != "SIGN_VERIFY":
                module.fail_json(msg=f"anchors.key_id={options['key_id']}: not a SIGN_VERIFY key")
            verify = audit_anchor.public_key_verifier(answer["PublicKey"])
    except audit_anchor.AnchorError as exc:
        module.fail_json(msg=f"anchors: {exc}")
    except is_boto3_error_code("NotFoundException") as exc:
        module.fail_json_aws(exc, msg=f"anchors.key_id={options['key_id']}: no such KMS key")
    except Exception as exc:  # botocore errors  # pylint: disable=broad-except
        module.fail_json_aws(exc, msg="anchors: could not read the signing key")
    bodies = [
        (f"documents[{i}]", json.dumps(d).encode("utf-8"))
        for i, d in enumerate(options.get("documents") or [])
    ]
    if options.get("bucket"):
        s3 = module.client("s3", retry_decorator=retry)
        prefix = f"{options.get('prefix') or ''}{database}/"
        try:
            for version in audit_anchor.list_anchors(s3, options["bucket"], prefix):
                body = audit_anchor.read_anchor(s3, options["bucket"], version["key"], version["version_id"])
                bodies.append(
                    (f"s3://{options['bucket']}/{version['key']} version {version['version_id']}", body)
                )
        except Exception as exc:  # botocore errors  # pylint: disable=broad-except
            module.fail_json_aws(exc, msg=f"anchors: could not read s3://{options['bucket']}/{prefix}")
    documents, problems = [], []
    for where, body in bodies:
        try:
            document, signature, _signing_key = audit_anchor.parse(body, where)
        except audit_anchor.AnchorError as exc:
            problems.append(str(exc))
            continue
        if not verify(document, signature):
            problems.append(f"anchor {where}: the signature does not verify with the anchors' signing key")
        elif document.get("database") != database:
            problems.append(
                f"anchor {where}: anchors database {document.get('database')!r}, not {database!r}"
            )
        else:
            documents.append(document)
    return sorted(documents, key=lambda d: d.get("anchored_at", "")), problems


def main() -> None:
    argument_spec = connection_argument_spec()
    argument_spec.update(
        fail_on_break={"type": "bool", "default": True},
        expected_heads={"type": "dict", "default": {}},
        anchors={"type": "dict", "options": ANCHORS_SPEC},
    )
    module = AnsibleAWSModule(argument_spec=argument_spec, supports_check_mode=True)
    try:
        expected = expected_heads(module.params["expected_heads"] or {})
    except ValueError as exc:
        module.fail_json(msg=str(exc))
    documents, problems = [], []
    if module.params["anchors"]:
        documents, problems = load_anchors(module, module.params["anchors"], module.params["login_db"])
    anchored = audit_anchor.anchored_rows(documents)
    conn = connect(module, autocommit=False)
    log = QueryLog(conn)
    result = {
        "changed": False,
        "ok": True,
        "rows_checked": 0,
        "first_break": None,
        "breaks": [],
        "heads": {},
        "anchors_verified": len(documents),
        "anchor_problems": problems,
    }
    try:
        conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        log.queries.append("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        heads = {int(s): (q, h) for s, q, h in log.fetchall("SELECT shard, seq, hash FROM audit_chain_heads")}
        # Every shard the schema defines, not only those with rows or a head left: a shard whose
        # rows and head were both deleted must show up as broken, as must an anchored one.
        ((shard_count,),) = log.fetchall("SELECT audit_shard_count()")
        shards = sorted(
            set(range(int(shard_count)))
            | set(heads)
            | {int(s) for (s,) in log.fetchall("SELECT DISTINCT shard FROM audit_log")}
            | set(expected)
            | set(anchored)
        )
        for shard in shards:
            checked, broken, last = verify_shard(
                log, shard, heads.get(shard), expected.get(shard), anchored.get(shard)
            )
            result["rows_checked"] += checked
            result["heads"][str(shard)] = last
            if broken:
                result["breaks"].append(broken)
        conn.rollback()
    except Exception as exc:
        module.fail_json(msg=f"audit_verify could not read the audit trail: {exc}", queries=log.queries)
    finally:
        conn.close()
    result["queries"] = log.queries
    if result["breaks"] or problems:
        result["ok"] = False
        result["first_break"] = result["breaks"][0] if result["breaks"] else None
        if module.params["fail_on_break"]:
            first = result["first_break"]
            msg = (
                f"audit chain broken: shard {first['shard']} seq {first['seq']}: {first['reason']}"
                if first
                else f"audit anchors not valid: {'; '.join(problems)}"
            )
            module.fail_json(msg=msg, **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
