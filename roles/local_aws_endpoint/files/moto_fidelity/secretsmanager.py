"""Secrets Manager: a secret marked for deletion refuses GetSecretValue as AWS words it."""

from __future__ import annotations

from . import Fix, extend_backend

REFERENCE = "https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_GetSecretValue.html"
# AWS's words (InvalidRequestException), which clients match: amazon.aws's secretsmanager_secret
# lookup recognises a deleted secret by "marked for deletion" (its on_deleted option).
MARKED_FOR_DELETION = "You can't perform this operation on the secret because it was marked for deletion."


class DeletedSecretAsAWS:
    """Secrets Manager backend whose GetSecretValue of a secret marked for deletion fails with AWS's
    message (moto: "...currently marked deleted", which no client recognises)."""

    def get_secret_value(self, secret_id, version_id, version_stage):
        from moto.secretsmanager.exceptions import InvalidRequestException

        if self._is_valid_identifier(secret_id) and self.secrets[secret_id].is_deleted():
            raise InvalidRequestException(MARKED_FOR_DELETION)
        return super().get_secret_value(secret_id, version_id, version_stage)


def _apply() -> None:
    extend_backend("moto.secretsmanager.models", "secretsmanager_backends", DeletedSecretAsAWS)


FIXES = [
    Fix(
        service="secretsmanager",
        name="deleted-secret-value",
        summary=(
            "GetSecretValue of a secret marked for deletion fails with InvalidRequestException and AWS's "
            "message (...marked for deletion.); moto: ...currently marked deleted, so amazon.aws's lookup "
            "with on_deleted=skip failed instead of skipping"
        ),
        reference=REFERENCE,
        upstream="not in moto 5.2.6 (secretsmanager/models.py get_secret_value)",
        apply=_apply,
    ),
]
