"""S3: an object version under a compliance-mode retention keeps it (mode and date), as AWS does;
a bucket's default retention is given in days or in years, not both."""

from __future__ import annotations

import datetime

from moto.s3.exceptions import AccessDeniedByLock

from . import Fix, extend_backend

DEFAULT_RETENTION = "https://docs.aws.amazon.com/AmazonS3/latest/API/API_DefaultRetention.html"
GET_OBJECT_LOCK_CONFIGURATION = (
    "https://docs.aws.amazon.com/AmazonS3/latest/API/API_GetObjectLockConfiguration.html"
)
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


class DefaultRetentionAsAWS:
    """S3 backend whose default retention has Days or Years, the one it was given.

    AWS: "The DefaultRetention settings require both a mode and a period ... either Days or Years
    ... You can't specify both" (DefaultRetention), and GetObjectLockConfiguration gives it back
    so. moto answered both, the unset one as 0, so amazon.aws.s3_bucket compared
    {Mode, Days: 365, Years: 0} with {Mode, Days: 365} and rewrote the configuration on every run.
    """

    def get_object_lock_configuration(self, bucket_name):
        enabled, mode, days, years = super().get_object_lock_configuration(bucket_name)
        return enabled, mode, days or None, years or None


def _apply() -> None:
    extend_backend("moto.s3.models", "s3_backends", ComplianceRetentionAsAWS)


def _apply_default_retention() -> None:
    extend_backend("moto.s3.models", "s3_backends", DefaultRetentionAsAWS)


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
    Fix(
        service="s3",
        name="default-retention-days-or-years",
        summary=(
            "GetObjectLockConfiguration gives the default retention's Days or Years, the one set "
            "(moto gave both, the other as 0: amazon.aws.s3_bucket rewrote the lock configuration on "
            "every run)"
        ),
        reference=f"{GET_OBJECT_LOCK_CONFIGURATION}; {DEFAULT_RETENTION}",
        upstream=(
            "not fixed in moto 5.2.6 (s3/responses.py get_object_lock_configuration writes Days and Years)"
        ),
        apply=_apply_default_retention,
    ),
]
