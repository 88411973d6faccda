"""Secrets Manager: a secret marked for deletion refuses GetSecretValue as AWS words it; a value read
without a stage or version is the one labelled AWSCURRENT, also after a rotation moved the label."""

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


class CurrentFollowsTheLabel:
    """Secrets Manager backend whose UpdateSecretVersionStage moving AWSCURRENT makes that version the
    one GetSecretValue (and DescribeSecret's callers) get without a stage or version, as on AWS
    ("If you don't specify either a VersionStage or VersionId, then Secrets Manager defaults to
    AWSCURRENT"). moto keeps its default version where PutSecretValue or CreateSecret left it, so
    after a rotation (whose finishSecret moves the label) a plain read answered an older value."""

    def update_secret_version_stage(
        self, secret_id, version_stage, remove_from_version_id, move_to_version_id
    ):
        answer = super().update_secret_version_stage(
            secret_id, version_stage, remove_from_version_id, move_to_version_id
        )
        if version_stage == "AWSCURRENT" and move_to_version_id:
            # secret_id may be a name or an ARN: the answer names the secret.
            self.secrets[answer[1]].set_default_version_id(move_to_version_id)
        return answer


def _apply() -> None:
    extend_backend("moto.secretsmanager.models", "secretsmanager_backends", DeletedSecretAsAWS)


def _apply_current() -> None:
    extend_backend("moto.secretsmanager.models", "secretsmanager_backends", CurrentFollowsTheLabel)


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
    Fix(
        service="secretsmanager",
        name="current-follows-the-label",
        summary=(
            "UpdateSecretVersionStage moving AWSCURRENT makes that version the value read without a stage "
            "or version; moto kept answering the version CreateSecret or PutSecretValue had made, so a "
            "deploy after a rotation read the old password back (amazon.aws's lookup reads no stage)"
        ),
        reference="https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_GetSecretValue.html",
        upstream="not in moto 5.2.6 (secretsmanager/models.py update_secret_version_stage)",
        apply=_apply_current,
    ),
]
