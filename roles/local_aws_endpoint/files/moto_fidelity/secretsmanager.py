"""Secrets Manager: a secret marked for deletion refuses GetSecretValue as AWS words it; RotateSecret
with a rotation Lambda keeps the schedule as AWS does."""

from __future__ import annotations

import time
import uuid

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


ROTATE_REFERENCE = "https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_RotateSecret.html"
ROTATION_GUIDE = "https://docs.aws.amazon.com/secretsmanager/latest/userguide/troubleshoot_rotation.html"
# AWS's answer to a RotateSecret while an earlier rotation left AWSPENDING on another version.
ROTATION_IN_PROGRESS = "A previous rotation isn't complete. That rotation will be reattempted."


class LambdaRotationScheduleAsAWS:
    """Secrets Manager backend whose RotateSecret with a rotation Lambda keeps the schedule as AWS does.

    AWS: RotateSecret sets RotationLambdaARN and RotationRules; with RotateImmediately=false it
    rotates nothing (the value, the versions and LastRotatedDate stay; NextRotationDate follows the
    rule). With a rotation, only the function moves AWSCURRENT (its finishSecret); a rotation whose
    function fails leaves AWSPENDING on an empty version and AWSCURRENT where it was, and a later
    RotateSecret is refused while that AWSPENDING is there.

    moto 5.2.5: RotateImmediately=false still adds an AWSPENDING version (a copy of the value) that
    stays, sets LastRotatedDate, and invokes the function through Docker; a rotation moves AWSCURRENT
    to a new version *without a value* whatever the function did, so GetSecretValue fails after it.
    Here the endpoint runs no function (no Docker): RotateImmediately=false keeps the schedule only
    (AWS's testSecret of the configuration is not run), and a rotation ends as one whose function
    failed. tools/rotate_secrets.py runs the function's four steps in its place.
    """

    def rotate_secret(
        self,
        secret_id,
        client_request_token=None,
        rotation_lambda_arn=None,
        rotation_rules=None,
        rotate_immediately=True,
    ):
        from moto.awslambda.utils import get_backend
        from moto.secretsmanager.exceptions import (
            InvalidParameterException,
            InvalidRequestException,
            ResourceNotFoundException,
        )

        secret = self.secrets.get(secret_id) if self._is_valid_identifier(secret_id) else None
        function_arn = rotation_lambda_arn or getattr(secret, "rotation_lambda_arn", "")
        rules = rotation_rules or {}
        other_rules = set(rules) - {"AutomaticallyAfterDays"}  # ScheduleExpression, Duration: moto's
        if secret is None or not function_arn or secret.is_deleted() or other_rules:
            return super().rotate_secret(
                secret_id,
                client_request_token=client_request_token,
                rotation_lambda_arn=rotation_lambda_arn,
                rotation_rules=rotation_rules,
                rotate_immediately=rotate_immediately,
            )
        days = rules.get("AutomaticallyAfterDays")
        if days is not None and not 1 <= int(days) <= 1000:
            raise InvalidParameterException("RotationRules.AutomaticallyAfterDays must be within 1-1000.")
        try:
            get_backend(self.account_id, self.region_name).get_function(function_arn)
        except Exception as error:
            raise ResourceNotFoundException(f"Resource not found for ARN '{function_arn}'.") from error
        current = secret.default_version_id
        if any(
            "AWSPENDING" in version["version_stages"] and version_id != current
            for version_id, version in secret.versions.items()
        ):
            raise InvalidRequestException(ROTATION_IN_PROGRESS)
        if days is not None:
            secret.auto_rotate_after_days = int(days)
        secret.rotation_lambda_arn = function_arn
        secret.rotation_requested = True
        if secret.auto_rotate_after_days > 0:  # as moto: a schedule needs a rule
            secret.rotation_enabled = True
            secret.next_rotation_date = int(time.time()) + secret.auto_rotate_after_days * 86400
        if not rotate_immediately:
            return secret.to_short_dict(version_id=current)
        # The function cannot run here: the rotation ends as one whose function failed.
        version_id = client_request_token or str(uuid.uuid4())
        if client_request_token:
            self._client_request_token_validator(client_request_token)
        secret.versions[version_id] = {
            "createdate": int(time.time()),
            "version_id": version_id,
            "version_stages": ["AWSPENDING"],
        }
        return secret.to_short_dict(version_id=version_id)


def _apply_rotation_schedule() -> None:
    extend_backend("moto.secretsmanager.models", "secretsmanager_backends", LambdaRotationScheduleAsAWS)


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
        name="rotation-lambda-schedule",
        summary=(
            "RotateSecret with a rotation Lambda and RotateImmediately=false sets the function, the rule "
            "and NextRotationDate and nothing else (moto: an AWSPENDING copy of the value left behind, "
            "LastRotatedDate set, the function invoked through Docker); a rotation the endpoint cannot "
            "run (no Docker) ends as one whose function failed, AWSPENDING on an empty version and "
            "AWSCURRENT unchanged (moto: AWSCURRENT moved to a version without a value); RotateSecret "
            "while such an AWSPENDING remains is refused (InvalidRequestException)"
        ),
        reference=f"{ROTATE_REFERENCE}; {ROTATION_GUIDE}",
        upstream="not in moto 5.2.6 (secretsmanager/models.py rotate_secret)",
        apply=_apply_rotation_schedule,
    ),
]
