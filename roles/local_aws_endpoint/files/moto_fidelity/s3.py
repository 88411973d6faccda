"""S3: an object version under a compliance-mode retention keeps it (mode and date), as AWS does."""

from __future__ import annotations

import datetime

from moto.s3.exceptions import AccessDeniedByLock

from . import Fix, extend_backend

PUT_OBJECT_RETENTION = "https://docs.aws.amazon.com/AmazonS3/latest/API/API_PutObjectRetention.html"
OBJECT_LOCK = (
    "https://docs.aws.amazon.com/AmazonS3/latest/userguide/object-lock.html#object-lock-retention-modes"
)


def _instant(value: str | None) -> datetime.datetime | None:
    """A retain-until date as moto keeps it (ISO 8601 text, Z or offset) or None."""
    if not value:
        return None
    parsed = datetime.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=datetime.UTC)


class ComplianceRetentionAsAWS:
    """S3 backend that refuses to weaken a compliance-mode retention while it runs.

    AWS: "In compliance mode, a protected object version can't be overwritten or deleted by any
    user, including the root user ... its retention mode can't be changed, and its retention period
    can't be shortened." PutObjectRetention that changes the mode or moves the retain-until date
    earlier answers 403 AccessDenied. moto accepted both, after which the version could be deleted.
    """

    def put_object_retention(self, bucket_name, key_name, version_id, retention):
        key = self.get_object(bucket_name, key_name, version_id=version_id)
        if key is not None and key.lock_mode == "COMPLIANCE" and key.is_locked(governance_bypass=False):
            mode, until = retention
            current, asked = _instant(key.lock_until), _instant(until)
            if mode != "COMPLIANCE" or asked is None or (current is not None and asked < current):
                raise AccessDeniedByLock()
        return super().put_object_retention(bucket_name, key_name, version_id, retention)


def _apply() -> None:
    extend_backend("moto.s3.models", "s3_backends", ComplianceRetentionAsAWS)


FIXES = [
    Fix(
        service="s3",
        name="compliance-retention-kept",
        summary=(
            "PutObjectRetention cannot change the mode nor shorten the retain-until date of a version "
            "under a running compliance-mode retention: 403 AccessDenied (moto accepted both, after "
            "which the locked version could be deleted)"
        ),
        reference=f"{PUT_OBJECT_RETENTION}; {OBJECT_LOCK}",
        upstream="not in moto 5.2.6 (s3/models.py put_object_retention sets mode and date unchecked)",
        apply=_apply,
    ),
]
