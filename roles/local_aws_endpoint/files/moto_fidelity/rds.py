"""RDS: a DB parameter group as DescribeDBParameterGroups and DescribeDBParameters give it; the master
password secret RDS manages (ManageMasterUserPassword) as RDS creates and rotates it."""

from __future__ import annotations

import json
import re
import secrets
import string
import time
import uuid

from . import Fix, extend_backend, route_responses

DESCRIBE_GROUPS = (
    "https://docs.aws.amazon.com/AmazonRDS/latest/APIReference/API_DescribeDBParameterGroups.html"
)
DESCRIBE_PARAMETERS = (
    "https://docs.aws.amazon.com/AmazonRDS/latest/APIReference/API_DescribeDBParameters.html"
)
PARAMETER = "https://docs.aws.amazon.com/AmazonRDS/latest/APIReference/API_Parameter.html"
PGAUDIT_REFERENCE = "https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/Appendix.PostgreSQL.CommonDBATasks.pgaudit.reference.html"

# The parameters of the postgres<major> families that the platform sets (roles/aws_rds: its
# defaults, aws_rds_extra_parameters of the tests), as RDS describes them in a new group: the
# engine default (no ParameterValue when RDS gives none), ApplyType, DataType, AllowedValues.
# A parameter outside this list is one the endpoint does not know (it says so in DescribeDBParameters
# by leaving it out, as RDS does for a name that is not a parameter of the family).
POSTGRES_PARAMETERS = {
    "log_connections": {
        "Description": "Logs each successful connection.",
        "ApplyType": "dynamic",
        "DataType": "boolean",
        "AllowedValues": "0,1",
    },
    "log_disconnections": {
        "Description": "Logs end of a session, including duration.",
        "ApplyType": "dynamic",
        "DataType": "boolean",
        "AllowedValues": "0,1",
    },
    "log_min_duration_statement": {
        "Description": "(ms) Sets the minimum execution time above which statements will be logged.",
        "ApplyType": "dynamic",
        "DataType": "integer",
        "AllowedValues": "-1-2147483647",
    },
    "pgaudit.log": {
        "Description": "Specifies which classes of statements will be logged by session audit logging.",
        "ApplyType": "dynamic",
        "DataType": "list",
        "AllowedValues": "ddl,function,misc,read,role,write,none,all,-ddl,-function,-misc,-read,-role,-write",
    },
    "pgaudit.log_parameter": {
        "Description": (
            "Specifies that audit logging should include the parameters that were passed with the statement."
        ),
        "ApplyType": "dynamic",
        "DataType": "boolean",
        "AllowedValues": "0,1",
    },
    # Object audit logging (pgaudit's PGC_SUSET setting, so dynamic): RDS allows one value only,
    # the role rds_pgaudit (User Guide, "Reference for the pgAudit extension" and "Auditing database
    # objects": "the only allowable value is rds_pgaudit"); unset in a new group.
    "pgaudit.role": {
        "Description": "Specifies the master role to use for object audit logging.",
        "ApplyType": "dynamic",
        "DataType": "string",
        "AllowedValues": "rds_pgaudit",
    },
    "rds.force_ssl": {
        "Description": "Force SSL connections.",
        "ApplyType": "dynamic",
        "DataType": "boolean",
        "AllowedValues": "0,1",
        # 0 up to postgres14, 1 from postgres15 on (set per family below).
    },
    "shared_preload_libraries": {
        "Description": "Sets which shared libraries are preloaded at server start.",
        "ApplyType": "static",
        "DataType": "list",
        "AllowedValues": (
            "auto_explain,orafce,pgaudit,pglogical,pg_bigm,pg_cron,pg_hint_plan,pg_prewarm,pg_similarity,"
            "pg_stat_statements,pg_tle,pg_transport,plprofiler"
        ),
        "ParameterValue": "pg_stat_statements",
    },
    "work_mem": {
        "Description": "(kB) Sets the maximum memory to be used for query workspaces.",
        "ApplyType": "dynamic",
        "DataType": "integer",
        "AllowedValues": "64-2147483647",
    },
}


def engine_defaults(family: str | None) -> dict[str, dict]:
    """The catalogue's parameters of a family, as a new group of that family has them."""
    match = re.fullmatch(r"postgres(\d+)", family or "")
    if not match:
        return {}
    major = int(match.group(1))
    defaults = {}
    for name, spec in POSTGRES_PARAMETERS.items():
        parameter = {
            "ParameterName": name,
            **spec,
            "Source": "engine-default",
            "IsModifiable": True,
            "ApplyMethod": "pending-reboot",
        }
        if name == "rds.force_ssl":
            parameter["ParameterValue"] = "1" if major >= 15 else "0"
        defaults[name] = parameter
    return defaults


def group_parameters(group, source: str | None = None) -> list[dict]:
    """A group's parameters as DescribeDBParameters gives them: its family's, the user's over them."""
    parameters = engine_defaults(group.family)
    for name, value in group.parameters.items():
        parameters[name] = {**parameters.get(name, {"ParameterName": name}), **value, "Source": "user"}
    listed = sorted(parameters.values(), key=lambda p: p["ParameterName"])
    return [p for p in listed if source is None or p["Source"] == source]


class ParameterGroupsAsAWS:
    """RDS backend whose DescribeDBParameterGroups of a missing name fails with DBParameterGroupNotFound."""

    def describe_db_parameter_groups(self, db_parameter_group_kwargs):
        from moto.rds.exceptions import DBParameterGroupNotFoundError

        groups = super().describe_db_parameter_groups(db_parameter_group_kwargs)
        name = db_parameter_group_kwargs.get("db_parameter_group_name")
        if name and not groups:
            raise DBParameterGroupNotFoundError(name)
        return groups


class ParametersAsAWS:
    """RDS responses whose DescribeDBParameters lists the family's parameters with their metadata."""

    def describe_db_parameters(self):
        from moto.core.responses import ActionResult
        from moto.rds.exceptions import DBParameterGroupNotFoundError

        name = self.params.get("DBParameterGroupName")
        groups = self.backend.describe_db_parameter_groups({"db_parameter_group_name": name})
        if not groups:
            raise DBParameterGroupNotFoundError(name)
        return ActionResult({"Parameters": group_parameters(groups[0], self.params.get("Source"))})


MANAGED_GUIDE = "https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/rds-secrets-manager.html"
MODIFY_INSTANCE = "https://docs.aws.amazon.com/AmazonRDS/latest/APIReference/API_ModifyDBInstance.html"
ROTATE_REFERENCE = "https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_RotateSecret.html"
# RDS's schedule of a secret it manages, until the owner changes it (User Guide, "Password management
# with Amazon RDS and AWS Secrets Manager": rotation is turned on, every 7 days).
MANAGED_ROTATION_DAYS = 7
_PASSWORD_ALPHABET = string.ascii_letters + string.digits


def _password(length: int = 32) -> str:
    return "".join(secrets.choice(_PASSWORD_ALPHABET) for _position in range(length))


def as_rds_manages_it(database) -> None:
    """The instance's managed secret as RDS creates it: the instance's master user name and a password
    of its own (moto: ``admin`` / a fixed password), rotation on every 7 days (moto: off)."""
    managed = getattr(database, "master_user_secret", None)
    if managed is None or getattr(managed.secret, "giftcrypto_as_rds", False):
        return
    secret = managed.secret
    value = json.dumps({"username": database.master_username, "password": _password()})
    secret.secret_string = value
    for version in secret.versions.values():
        if "AWSCURRENT" in version["version_stages"]:
            version["secret_string"] = value
    secret.rotation_requested = True
    secret.rotation_enabled = True
    secret.auto_rotate_after_days = MANAGED_ROTATION_DAYS
    secret.next_rotation_date = int(time.time()) + MANAGED_ROTATION_DAYS * 86400
    secret.giftcrypto_as_rds = True


class ManagedMasterSecretAsRDS:
    """RDS backend whose managed master secrets are as RDS makes them (see as_rds_manages_it)."""

    def create_db_instance(self, db_kwargs):
        database = super().create_db_instance(db_kwargs)
        as_rds_manages_it(database)
        return database

    def modify_db_instance(self, db_instance_identifier, db_kwargs):
        database = super().modify_db_instance(db_instance_identifier, db_kwargs)
        as_rds_manages_it(database)
        return database


class ManagedRotationAsRDS:
    """Secrets Manager backend that rotates a secret RDS owns as RDS does (managed rotation, no Lambda):
    RotateSecret sets the schedule and, unless RotateImmediately=false, puts a new password as
    AWSCURRENT (the old one AWSPREVIOUS). moto, without a Lambda, left a version with no value as
    AWSCURRENT, so GetSecretValue failed after a rotation."""

    def rotate_secret(
        self,
        secret_id,
        client_request_token=None,
        rotation_lambda_arn=None,
        rotation_rules=None,
        rotate_immediately=True,
    ):
        from moto.secretsmanager.exceptions import InvalidParameterException

        secret = self.secrets.get(secret_id) if self._is_valid_identifier(secret_id) else None
        if secret is None or secret.owning_service != "rds" or rotation_lambda_arn or secret.is_deleted():
            return super().rotate_secret(
                secret_id,
                client_request_token=client_request_token,
                rotation_lambda_arn=rotation_lambda_arn,
                rotation_rules=rotation_rules,
                rotate_immediately=rotate_immediately,
            )
        days = (rotation_rules or {}).get("AutomaticallyAfterDays")
        if days is not None:
            if not 1 <= int(days) <= 1000:
                raise InvalidParameterException("RotationRules.AutomaticallyAfterDays must be within 1-1000.")
            secret.auto_rotate_after_days = int(days)
        secret.rotation_requested = True
        secret.rotation_enabled = True
        secret.next_rotation_date = int(time.time()) + secret.auto_rotate_after_days * 86400
        version_id = secret.default_version_id
        if rotate_immediately:
            username = json.loads(secret.secret_string or "{}").get("username", "")
            version_id = client_request_token or str(uuid.uuid4())
            self.put_secret_value(
                secret_id,
                secret_string=json.dumps({"username": username, "password": _password()}),
                secret_binary=None,
                client_request_token=version_id,
                version_stages=["AWSCURRENT"],
            )
            secret.last_rotation_date = int(time.time())
        return secret.to_short_dict(version_id=version_id)


def _apply() -> None:
    from moto.rds.responses import RDSResponse

    extend_backend("moto.rds.models", "rds_backends", ParameterGroupsAsAWS)
    response = type("FaithfulRDSResponse", (ParametersAsAWS, RDSResponse), {})
    route_responses("moto.rds.urls", RDSResponse, response)


def _apply_managed_master_secret() -> None:
    extend_backend("moto.rds.models", "rds_backends", ManagedMasterSecretAsRDS)
    extend_backend("moto.secretsmanager.models", "secretsmanager_backends", ManagedRotationAsRDS)


FIXES = [
    Fix(
        service="rds",
        name="parameter-groups-and-parameters",
        summary=(
            "DescribeDBParameterGroups of a missing group fails with DBParameterGroupNotFound (moto: an "
            "empty "
            "list, amazon.aws.rds_instance_param_group failed with 'list index out of range'); "
            "DescribeDBParameters "
            "lists the family's parameters (engine-default, then user) with Source, ApplyType, DataType, "
            "AllowedValues, IsModifiable, and honours Source= (moto: only the parameters set, without "
            "DataType). "
            "The family's parameters are a catalogue of those the platform sets"
        ),
        reference=f"{DESCRIBE_GROUPS}; {DESCRIBE_PARAMETERS}; {PARAMETER}; {PGAUDIT_REFERENCE}",
        upstream=(
            "not in moto 5.2.6 (rds/models.py describe_db_parameter_groups, rds/responses.py "
            "describe_db_parameters)"
        ),
        apply=_apply,
    ),
    Fix(
        service="rds",
        name="managed-master-user-secret",
        summary=(
            "The secret RDS creates for ManageMasterUserPassword holds the instance's master user name "
            "and a generated password (moto: admin and a fixed password) and is rotated every 7 days "
            "(moto: rotation off); RotateSecret of a secret RDS owns, without a Lambda, sets the "
            "schedule and, unless RotateImmediately=false, puts a new password as AWSCURRENT (moto: a "
            "version without a value)"
        ),
        reference=f"{MANAGED_GUIDE}; {MODIFY_INSTANCE}; {ROTATE_REFERENCE}",
        upstream=(
            "not in moto 5.2.6 (rds/models.py MasterUserSecret, secretsmanager/models.py rotate_secret)"
        ),
        apply=_apply_managed_master_secret,
    ),
]
