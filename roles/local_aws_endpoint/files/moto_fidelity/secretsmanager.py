"""Secrets Manager: a secret marked for deletion refuses GetSecretValue as AWS words it; a value read
without a stage or version is the one labelled AWSCURRENT, also after a rotation moved the label;
RotateSecret with a rotation Lambda keeps the schedule as AWS does, and the platform's rotation
function runs in the endpoint's process (moto runs Lambda functions in Docker, which the local
environment lacks)."""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import os
import tempfile
import threading
import time
import uuid
import zipimport

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


ROTATE_REFERENCE = "https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_RotateSecret.html"
ROTATION_GUIDE = "https://docs.aws.amazon.com/secretsmanager/latest/userguide/troubleshoot_rotation.html"
ROTATION_FUNCTION_GUIDE = (
    "https://docs.aws.amazon.com/secretsmanager/latest/userguide/rotate-secrets_lambda-functions.html"
)
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
    Here RotateImmediately=false keeps the schedule only (AWS's testSecret of the configuration is
    not run: a deploy that sets schedules never logs in anywhere through the endpoint). A rotation
    starts as AWS starts one (a new version labelled AWSPENDING, without a value) and then runs the
    function (run_rotation_function); a function that cannot run here (no Docker) leaves it as a
    failed rotation.
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
        # As Secrets Manager starts a rotation: a new version labelled AWSPENDING, without a value,
        # then the function's four steps. A function that cannot run here leaves it so, as a failed one.
        version_id = client_request_token or str(uuid.uuid4())
        if client_request_token:
            self._client_request_token_validator(client_request_token)
        secret.versions[version_id] = {
            "createdate": int(time.time()),
            "version_id": version_id,
            "version_stages": ["AWSPENDING"],
        }
        function = get_backend(self.account_id, self.region_name).get_function(function_arn)
        if self.run_rotation_function(function, secret.arn, version_id):
            secret.last_rotation_date = int(time.time())
        return secret.to_short_dict(version_id=version_id)

    def run_rotation_function(self, function, secret_arn: str, token: str) -> bool:
        """Runs the function's four steps; whether they all succeeded. Without Docker, no function runs
        (the fix rotation-lambda-in-process runs the platform's)."""
        return False


class RotationFunctionInProcess:
    """Secrets Manager backend that runs the platform's rotation function in the endpoint's process
    (see runnable and run_in_process): the same package the deploy uploaded, its four steps in order,
    as Secrets Manager invokes them on AWS."""

    def run_rotation_function(self, function, secret_arn: str, token: str) -> bool:
        if not runnable(function, self.account_id):
            return super().run_rotation_function(function, secret_arn, token)
        return run_in_process(function, secret_arn, token, self.region_name)


# The rotation function the endpoint runs itself (ADR 0019): a Python function whose handler is the
# platform's (plugins/module_utils/secret_rotation.py in the package aws_secret_rotation uploads).
IN_PROCESS_HANDLER = "secret_rotation.lambda_handler"
# The endpoint's own URL, which the launcher exports: the function's Secrets Manager calls go there.
ENDPOINT_URL_VARIABLE = "GIFTCRYPTO_ENDPOINT_URL"
STEPS = ("createSecret", "setSecret", "testSecret", "finishSecret")
# One rotation at a time: the function's environment is the process's while its steps run.
_ROTATION_LOCK = threading.Lock()
_HANDLERS: dict[str, object] = {}


def runnable(function, account_id: str) -> bool:
    """Whether the endpoint runs this function's steps itself: the platform's handler on a Python
    runtime, with its code uploaded, in moto's default account (the one the function's calls reach),
    by a launcher that said where it listens."""
    from moto.core.models import DEFAULT_ACCOUNT_ID

    return (
        function.handler == IN_PROCESS_HANDLER
        and str(function.run_time or "").startswith("python")
        and bool(getattr(function, "code_bytes", b""))
        and account_id == DEFAULT_ACCOUNT_ID
        and bool(os.environ.get(ENDPOINT_URL_VARIABLE))
    )


def _handler(function):
    """The handler of the function's own package (the .zip the deploy uploaded), imported from it once
    per code digest; its imports (psycopg, redis, boto3) come from the endpoint's environment."""
    digest = hashlib.sha256(function.code_bytes).hexdigest()
    if digest not in _HANDLERS:
        module_name, attribute = function.handler.rsplit(".", 1)
        directory = tempfile.mkdtemp(prefix="giftcrypto-function-")
        path = os.path.join(directory, f"{digest}.zip")
        with open(path, "wb") as handle:
            handle.write(function.code_bytes)
        spec = zipimport.zipimporter(path).find_spec(module_name)
        if spec is None:
            raise LookupError(f"the function's package has no module {module_name}")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        _HANDLERS[digest] = getattr(module, attribute)
    return _HANDLERS[digest]


@contextlib.contextmanager
def _environment(variables: dict[str, str]):
    saved = {name: os.environ.get(name) for name in variables}
    os.environ.update(variables)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _log(function, lines: list[str]) -> None:
    """The steps' outcome in the function's log group, as Lambda writes it (never a secret's value:
    the handler's errors name the secret and the step only)."""
    with contextlib.suppress(Exception):
        function.logs_backend.ensure_log_group(function.logs_group_name)
        function.save_logs("\n".join(lines))


def run_in_process(function, secret_arn: str, token: str, region: str) -> bool:
    """Secrets Manager's four invocations of the function, in order, in this process; whether all
    succeeded. The function's environment variables apply, with SECRETS_MANAGER_ENDPOINT this
    endpoint and credentials of the default account; a step that fails stops the rotation, which
    then stays as AWS leaves a failed one (AWSPENDING, AWSCURRENT unchanged)."""
    variables = {
        **{str(k): str(v) for k, v in (function.environment_vars or {}).items()},
        "SECRETS_MANAGER_ENDPOINT": os.environ[ENDPOINT_URL_VARIABLE],
        "AWS_REGION": region,
        "AWS_DEFAULT_REGION": region,
        "AWS_ACCESS_KEY_ID": "giftcrypto-rotation",
        "AWS_SECRET_ACCESS_KEY": "giftcrypto-rotation",  # pragma: allowlist secret (moto checks none)
    }
    lines = []
    with _ROTATION_LOCK, _environment(variables):
        try:
            handler = _handler(function)
        except Exception as error:  # a package the runtime could not load either
            _log(function, [f"init error: {type(error).__name__}: {error}"])
            return False
        for step in STEPS:
            event = {"Step": step, "SecretId": secret_arn, "ClientRequestToken": token}
            try:
                handler(event, None)
            except Exception as error:
                lines.append(f"{step} failed: {type(error).__name__}: {error}")
                _log(function, lines)
                return False
            lines.append(f"{step} of {secret_arn} done")
    _log(function, lines)
    return True


def _apply_rotation_schedule() -> None:
    extend_backend("moto.secretsmanager.models", "secretsmanager_backends", LambdaRotationScheduleAsAWS)


def _apply_rotation_in_process() -> None:
    extend_backend("moto.secretsmanager.models", "secretsmanager_backends", RotationFunctionInProcess)


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
    Fix(
        service="secretsmanager",
        name="rotation-lambda-in-process",
        summary=(
            "A rotation with the platform's rotation function (handler secret_rotation.lambda_handler, a "
            "Python runtime) runs its four steps (createSecret, setSecret, testSecret, finishSecret) in "
            "the endpoint's process, from the package the deploy uploaded, with the function's environment "
            "and Secrets Manager at this endpoint; a failed step leaves the rotation as AWS does and is "
            "logged in /aws/lambda/<function> (moto: the function run in Docker, absent here)"
        ),
        reference=f"{ROTATION_FUNCTION_GUIDE}; {ROTATE_REFERENCE}",
        upstream="not in moto 5.2.6 (awslambda/models.py runs functions in Docker only)",
        apply=_apply_rotation_in_process,
    ),
]
