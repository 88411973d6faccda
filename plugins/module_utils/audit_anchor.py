# Copyright: GiftCrypto platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Anchors of the audit chains: signed documents of the chain heads kept outside the database.

An anchor is one S3 object (a bucket with Object Lock in compliance mode) holding

    {"document": {...}, "signature": "<base64>", "signing_key": "<KMS key ARN>",
     "signing_algorithm": "ECDSA_SHA_256"}

The document records, for each shard, the head (seq and full SHA-256 hash) and the first 16 hex
digits of the hash of every row added since the previous anchor ("rows": from_seq and the list).
The full head hash is what detects a rewritten history (every later hash depends on every earlier
row); the short row hashes are what names the first rewritten row, which a head alone cannot. The
signature is KMS Sign (MessageType DIGEST) over the SHA-256 of the document's canonical JSON
(keys sorted, no whitespace, UTF-8). See docs/adr/0016-anchored-audit-heads.md.

Used by the audit_anchor module (writes anchors) and audit_verify (checks them).
"""

from __future__ import annotations

import base64
import hashlib
import json
from datetime import UTC, datetime

FORMAT = "giftcrypto-audit-anchor/1"
SIGNING_ALGORITHM = "ECDSA_SHA_256"
ROW_HASH_DIGITS = 16

HEADS_SQL = "SELECT shard, seq, hash FROM audit_chain_heads ORDER BY shard"
ROW_HASH_SQL = "SELECT hash FROM audit_log WHERE shard = %s AND seq = %s"
ROW_HASHES_SQL = (
    "SELECT seq, hash FROM audit_log WHERE shard = %s AND seq > %s AND seq <= %s ORDER BY seq, occurred_at"
)


class AnchorError(Exception):
    """An anchor that cannot be used: unreadable, unsigned, signed by another key, or malformed."""


def canonical(document: dict) -> bytes:
    """The bytes that are signed: JSON with sorted keys, no whitespace, UTF-8."""
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def digest(document: dict) -> bytes:
    return hashlib.sha256(canonical(document)).digest()


def build_document(
    database: str, heads: dict[int, tuple[int, bytes]], rows: dict[int, tuple[int, list]]
) -> dict:
    """The anchor document: heads {shard: (seq, hash)}, rows {shard: (from_seq, [hash, ...])}."""
    return {
        "format": FORMAT,
        "database": database,
        "anchored_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "heads": {str(s): {"seq": int(q), "hash": bytes(h).hex()} for s, (q, h) in sorted(heads.items())},
        "rows": {
            str(s): {"from_seq": int(first), "hashes": [bytes(h).hex()[:ROW_HASH_DIGITS] for h in hashes]}
            for s, (first, hashes) in sorted(rows.items())
            if hashes
        },
    }


def object_key(prefix: str, document: dict) -> str:
    """<prefix><database>/<anchored_at>-<12 hex of the digest>.json: sorted by time within a database."""
    stamp = document["anchored_at"].replace(":", "").replace("-", "")
    return f"{prefix}{document['database']}/{stamp}-{digest(document).hex()[:12]}.json"


def envelope(document: dict, signature: bytes, key_arn: str) -> bytes:
    return json.dumps(
        {
            "document": document,
            "signature": base64.b64encode(signature).decode("ascii"),
            "signing_key": key_arn,
            "signing_algorithm": SIGNING_ALGORITHM,
        },
        sort_keys=True,
        indent=1,
    ).encode("utf-8")


def kms_sign(kms, key_id: str, document: dict) -> tuple[bytes, str]:
    """(signature, key ARN) of KMS Sign over the document's digest."""
    answer = kms.sign(
        KeyId=key_id,
        Message=digest(document),
        MessageType="DIGEST",
        SigningAlgorithm=SIGNING_ALGORITHM,
        aws_retry=True,
    )
    return answer["Signature"], answer["KeyId"]


def public_key_verifier(pem_or_der: bytes):
    """A function(document, signature) -> bool checking ECDSA P-256 signatures with a public key."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec, utils

    if pem_or_der.lstrip().startswith(b"-----"):
        key = serialization.load_pem_public_key(pem_or_der)
    else:
        key = serialization.load_der_public_key(pem_or_der)
    if not isinstance(key, ec.EllipticCurvePublicKey):
        raise AnchorError("the anchors' public key is not an elliptic-curve key (ECC_NIST_P256 expected)")

    def verify(document: dict, signature: bytes) -> bool:
        try:
            key.verify(signature, digest(document), ec.ECDSA(utils.Prehashed(hashes.SHA256())))
        except InvalidSignature:
            return False
        return True

    return verify


def parse(body: bytes, where: str) -> tuple[dict, bytes, str]:
    """(document, signature, signing key) of an anchor object's body; AnchorError when malformed."""
    try:
        anchor = json.loads(body)
        document, signature = anchor["document"], base64.b64decode(anchor["signature"], validate=True)
        key = str(anchor.get("signing_key", ""))
        if document.get("format") != FORMAT or not isinstance(document.get("heads"), dict):
            raise ValueError(f"format is not {FORMAT}")
        for shard, head in document["heads"].items():
            int(shard), int(head["seq"]), bytes.fromhex(head["hash"])
        for shard, rows in document.get("rows", {}).items():
            int(shard), int(rows["from_seq"]), [bytes.fromhex(h) for h in rows["hashes"]]
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise AnchorError(f"anchor {where} is malformed: {exc}") from exc
    return document, signature, key


def list_anchors(s3, bucket: str, prefix: str) -> list[dict]:
    """Every version of every anchor object under the prefix: [{key, version_id, last_modified}]."""
    found = []
    paginator = s3.get_paginator("list_object_versions")
    for page in paginator.paginate(Bucket=bucket, Prefix=prefix):
        for version in page.get("Versions", []):
            if version["Key"].endswith(".json"):
                found.append(
                    {
                        "key": version["Key"],
                        "version_id": version["VersionId"],
                        "modified": version["LastModified"],
                    }
                )
    return sorted(found, key=lambda v: (v["key"], v["modified"]))


def read_anchor(s3, bucket: str, key: str, version_id: str | None = None) -> bytes:
    kwargs = {"Bucket": bucket, "Key": key}
    if version_id:
        kwargs["VersionId"] = version_id
    return s3.get_object(**kwargs)["Body"].read()


def anchored_rows(documents: list[dict]) -> dict[int, dict[int, str]]:
    """{shard: {seq: hash prefix or full hash}} of every verified anchor: rows and heads alike."""
    merged: dict[int, dict[int, str]] = {}
    for document in documents:
        for shard, rows in document.get("rows", {}).items():
            seqs = merged.setdefault(int(shard), {})
            for offset, short in enumerate(rows["hashes"]):
                seqs.setdefault(int(rows["from_seq"]) + offset, short.lower())
        for shard, head in document["heads"].items():
            if int(head["seq"]) > 0:
                merged.setdefault(int(shard), {})[int(head["seq"])] = head["hash"].lower()
    return merged
