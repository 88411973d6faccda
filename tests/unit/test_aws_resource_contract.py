"""One contract test over every AWS module of the collection (plugins/module_utils/aws_resource.py).

Each module runs the life cycle the amazon.aws integration targets run, against moto: check mode on
nothing, create, check mode again, apply again, an update in check mode then applied, and (where the
module deletes) the deletion the same way. At each step: ``changed`` and ``planned`` say the same
thing, check mode calls no write API (every AWS call is recorded), the resource's view is under its
key, ``changes`` names what differs, and ``diff`` is there exactly when the run asks for one.

A module's own behaviour stays in its own test file; this file holds what they all promise.
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib
import pathlib
from collections.abc import Callable
from unittest import mock

import boto3
import botocore.client
import botocore.exceptions
import pytest
from moto import mock_aws

from tests.unit import aws_stand_ins, moto_modules
from tests.unit.moto_modules import ACCOUNT_ID, REGION

MODULES = pathlib.Path(__file__).resolve().parents[2] / "plugins" / "modules"
# Our modules that are not AWS modules (PostgreSQL, a package built on the controller): the contract
# does not apply.
# audit_anchor writes immutable objects (an Object Lock bucket): no resource life cycle either.
NOT_AWS = {"audit_anchor", "audit_verify", "lambda_package", "pg_migrate", "pii_keyring"}
# Read-only modules (named <prefix>_info, on aws_resource.AWSInfo) keep no resource: nothing to create,
# update or delete, so no life cycle to run; they always answer changed=false (their own tests say so).
READ_ONLY_SUFFIX = "_info"
READ_PREFIXES = ("Describe", "Get", "List", "Head", "Lookup", "Search", "Check", "BatchGet")


@dataclasses.dataclass
class Case:
    """How to run one module through the life cycle."""

    present: dict
    update: dict | None  # None: nothing of it changes in place (the update steps are left out)
    setup: Callable[[], dict] = lambda: {}  # prerequisites (boto3, under moto); returns options to add
    deletes: bool = True
    creates: bool = True  # False: a setting of a resource setup() makes, so the first run is an update
    fake: dict = dataclasses.field(
        default_factory=dict
    )  # operations moto lacks (moto_modules.fake_operations)


def _topic() -> dict:
    return {"topic_arn": boto3.client("sns", region_name=REGION).create_topic(Name="contract")["TopicArn"]}


def _db_instance() -> dict:
    boto3.client("rds", region_name=REGION).create_db_instance(
        DBInstanceIdentifier="contract",
        Engine="postgres",
        DBInstanceClass="db.t3.micro",
        MasterUsername="contract_admin",
        MasterUserPassword="contract-password-1",  # pragma: allowlist secret
        AllocatedStorage=20,
    )
    return {}


def _rotation_api() -> dict:
    """Secrets Manager's schedule operations in memory: moto runs the function's testSecret step
    through Docker, absent here (test_secretsmanager_rotation_schedule.py runs them on moto)."""
    secrets = {
        name: {"ARN": f"arn:aws:secretsmanager:{REGION}:{ACCOUNT_ID}:secret:{name}-AbCdEf", "Name": name}
        for name in ("contract/postgres/app_rw", "contract/redis/app")
    }

    def describe(params):
        return dict(next(s for s in secrets.values() if params["SecretId"] in (s["Name"], s["ARN"])))

    def rotate(params):
        secret = describe(params)
        secrets[secret["Name"]].update(
            RotationEnabled=True,
            RotationLambdaARN=params["RotationLambdaARN"],
            RotationRules=params["RotationRules"],
        )
        return {"ARN": secret["ARN"], "Name": secret["Name"]}

    def cancel(params):
        secret = describe(params)
        secrets[secret["Name"]]["RotationEnabled"] = False
        return {"ARN": secret["ARN"], "Name": secret["Name"]}

    return {"DescribeSecret": describe, "RotateSecret": rotate, "CancelRotateSecret": cancel}


ROTATION_FUNCTION = f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:contract-secret-rotation"


def _standards_api() -> dict:
    """Security Hub's standards operations, which moto lacks, in memory (test_securityhub_hub.py has more)."""
    enabled: dict[str, str] = {}  # standards ARN -> subscription ARN

    def get(_params):
        return {
            "StandardsSubscriptions": [
                {"StandardsArn": arn, "StandardsSubscriptionArn": sub, "StandardsStatus": "READY"}
                for arn, sub in enabled.items()
            ]
        }

    def enable(params):
        for request in params["StandardsSubscriptionRequests"]:
            arn = request["StandardsArn"]
            enabled[arn] = arn.replace("::standards/", f":{ACCOUNT_ID}:subscription/")
        return {"StandardsSubscriptions": []}

    def disable(params):
        for arn, sub in list(enabled.items()):
            if sub in params["StandardsSubscriptionArns"]:
                del enabled[arn]
        return {"StandardsSubscriptions": []}

    return {"GetEnabledStandards": get, "BatchEnableStandards": enable, "BatchDisableStandards": disable}


def _vpc_and_log_group() -> dict:
    vpc = boto3.client("ec2", region_name=REGION).create_vpc(CidrBlock="10.9.0.0/16")["Vpc"]["VpcId"]
    boto3.client("logs", region_name=REGION).create_log_group(logGroupName="/contract/flow")
    role = f"arn:aws:iam::{ACCOUNT_ID}:role/flow-logs"
    return {"resource_id": vpc, "log_group_name": "/contract/flow", "deliver_logs_permission_arn": role}


def _s3_gateway_endpoint() -> dict:
    ec2 = boto3.client("ec2", region_name=REGION)
    vpc = ec2.create_vpc(CidrBlock="10.7.0.0/16")["Vpc"]["VpcId"]
    table = ec2.create_route_table(VpcId=vpc)["RouteTable"]["RouteTableId"]
    endpoint = ec2.create_vpc_endpoint(
        VpcId=vpc, ServiceName=f"com.amazonaws.{REGION}.s3", RouteTableIds=[table], VpcEndpointType="Gateway"
    )["VpcEndpoint"]
    return {"vpc_endpoint_id": endpoint["VpcEndpointId"]}


ONLY_OURS = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Principal": {"AWS": "*"},
            "Action": "s3:GetObject",
            "Resource": "*",
            "Condition": {"StringEquals": {"aws:PrincipalAccount": ACCOUNT_ID}},
        }
    ],
}


def _replication_api() -> dict:
    """The RDS automated backups replication calls moto lacks, in memory (with its describe)."""
    backups: list[dict] = []

    def describe(params):
        wanted = params["Filters"][0]["Values"]
        return {"DBInstanceAutomatedBackups": [b for b in backups if b["DBInstanceArn"] in wanted]}

    def start(params):
        backup = {
            "DBInstanceArn": params["SourceDBInstanceArn"],
            "DBInstanceAutomatedBackupsArn": f"arn:aws:rds:us-west-2:{ACCOUNT_ID}:auto-backup:ab-1",
            "Status": "replicating",
            "BackupRetentionPeriod": params["BackupRetentionPeriod"],
        }
        backups.append(backup)
        return {"DBInstanceAutomatedBackup": backup}

    def stop(params):
        backups[:] = [b for b in backups if b["DBInstanceArn"] != params["SourceDBInstanceArn"]]
        return {"DBInstanceAutomatedBackup": {}}

    return {
        "DescribeDBInstanceAutomatedBackups": describe,
        "StartDBInstanceAutomatedBackupsReplication": start,
        "StopDBInstanceAutomatedBackupsReplication": stop,
    }


def _cache_parameter_groups_api() -> dict:
    """Cache parameter groups, which moto lacks, in memory (test_elasticache_parameter_group.py has more)."""
    groups: dict[str, dict] = {}
    tags: dict[str, str] = {}

    def describe(params):
        name = params["CacheParameterGroupName"]
        if name not in groups:
            error = {"Error": {"Code": "CacheParameterGroupNotFound", "Message": name}}
            raise botocore.exceptions.ClientError(error, "DescribeCacheParameterGroups")
        return {"CacheParameterGroups": [groups[name]["group"]]}

    def create(params):
        name = params["CacheParameterGroupName"]
        group = {
            "CacheParameterGroupName": name,
            "CacheParameterGroupFamily": params["CacheParameterGroupFamily"],
            "Description": params["Description"],
            "ARN": f"arn:aws:elasticache:{REGION}:{ACCOUNT_ID}:parametergroup:{name}",
        }
        groups[name] = {"group": group, "values": {"maxmemory-policy": "volatile-lru"}}
        tags.update({t["Key"]: t["Value"] for t in params.get("Tags", [])})
        return {"CacheParameterGroup": group}

    def modify(params):
        for pair in params["ParameterNameValues"]:
            groups[params["CacheParameterGroupName"]]["values"][pair["ParameterName"]] = pair[
                "ParameterValue"
            ]
        return {"CacheParameterGroupName": params["CacheParameterGroupName"]}

    def parameters(params):
        values = groups[params["CacheParameterGroupName"]]["values"]
        return {"Parameters": [{"ParameterName": k, "ParameterValue": v} for k, v in values.items()]}

    return {
        "DescribeCacheParameterGroups": describe,
        "DescribeCacheParameters": parameters,
        "CreateCacheParameterGroup": create,
        "ModifyCacheParameterGroup": modify,
        "DeleteCacheParameterGroup": lambda params: groups.pop(params["CacheParameterGroupName"]) and {},
        "ListTagsForResource": lambda _params: {"TagList": [{"Key": k, "Value": v} for k, v in tags.items()]},
        "AddTagsToResource": lambda params: tags.update({t["Key"]: t["Value"] for t in params["Tags"]}) or {},
        "RemoveTagsFromResource": lambda params: [tags.pop(k) for k in params["TagKeys"]] and {},
    }


def _subnets() -> dict:
    ec2 = boto3.client("ec2", region_name=REGION)
    vpc = ec2.create_vpc(CidrBlock="10.8.0.0/16")["Vpc"]["VpcId"]
    subnets = [
        ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.8.{n}.0/24", AvailabilityZone=f"{REGION}{zone}")["Subnet"]
        for n, zone in ((1, "a"), (2, "b"))
    ]
    return {"subnets": [subnet["SubnetId"] for subnet in subnets]}


def _eks_cluster_for_entries() -> dict:
    """The cluster an access entry goes in (moto has clusters; the entries are aws_stand_ins')."""
    boto3.client("eks", region_name=REGION).create_cluster(
        name="contract-entries",
        roleArn=f"arn:aws:iam::{ACCOUNT_ID}:role/eks",
        resourcesVpcConfig={"subnetIds": _subnets()["subnets"]},
    )
    return {"cluster_name": "contract-entries"}


def _web_acl() -> dict:
    acl = boto3.client("wafv2", region_name=REGION).create_web_acl(
        Name="contract",
        Scope="REGIONAL",
        DefaultAction={"Allow": {}},
        VisibilityConfig={
            "SampledRequestsEnabled": True,
            "CloudWatchMetricsEnabled": True,
            "MetricName": "c",
        },
        Rules=[],
    )
    return {"web_acl_arn": acl["Summary"]["ARN"]}


def _eks_cluster_for_addons() -> dict:
    """The cluster an add-on goes in (moto has clusters; the add-ons are aws_stand_ins')."""
    boto3.client("eks", region_name=REGION).create_cluster(
        name="contract-addons",
        version="1.36",
        roleArn=f"arn:aws:iam::{ACCOUNT_ID}:role/eks",
        resourcesVpcConfig={"subnetIds": _subnets()["subnets"]},
    )
    return {"cluster_name": "contract-addons"}


FSBP = "aws-foundational-security-best-practices/v/1.0.0"
EKS_EDIT = "arn:aws:eks::aws:cluster-access-policy/AmazonEKSEditPolicy"
TEXT = {"type": "text", "x": 0, "y": 0, "width": 24, "height": 1, "properties": {"markdown": "# up"}}

_FLAG = {"constraints": {"type": "number", "required": True, "minimum": 0, "maximum": 100}}
_FLAGS = {
    "version": "1",
    "flags": {"contract": {"name": "Contract", "attributes": {"percentage": _FLAG}}},
    "values": {"contract": {"enabled": True, "percentage": 100}},
}
_APPCONFIG = {
    "application": "contract",
    "environment": "contract",
    "gated_flags": ["contract"],
    "deployment_strategy": {"name": "contract"},
}
_appconfig_fidelity: list = []


def _appconfig_as_aws() -> dict:
    """moto's AppConfig with the local endpoint's fidelity fix (environments, strategies, deployments),
    applied in this process once: moto answers mock_aws's requests from the same URL table."""
    if not _appconfig_fidelity:
        import sys

        files = pathlib.Path(__file__).resolve().parents[2] / "roles" / "local_aws_endpoint" / "files"
        sys.path.insert(0, str(files))
        try:
            from moto_fidelity import appconfig
        finally:
            sys.path.remove(str(files))
        appconfig.FIXES[0].apply()
        _appconfig_fidelity.append(appconfig)
    return {}


CASES: dict[str, Case] = {
    "appconfig_feature_flags": Case(
        present={**_APPCONFIG, "content": _FLAGS},
        update={
            **_APPCONFIG,
            "content": {**_FLAGS, "values": {"contract": {"enabled": True, "percentage": 50}}},
        },
        setup=_appconfig_as_aws,
    ),
    "guardduty_detector": Case(
        present={"finding_publishing_frequency": "FIFTEEN_MINUTES", "tags": {"Layer": "security"}},
        # (moto has no GuardDuty TagResource: the tags are tested in test_guardduty_detector.py)
        update={"finding_publishing_frequency": "ONE_HOUR", "tags": {"Layer": "security"}},
    ),
    "budgets_budget": Case(
        present={
            "name": "contract",
            "limit_amount": 100,
            "notifications": [{"threshold": 80, "email_addresses": ["a@example.com"]}],
        },
        update={
            "name": "contract",
            "limit_amount": 200,
            "notifications": [{"threshold": 80, "email_addresses": ["a@example.com"]}],
        },
        fake=aws_stand_ins.budgets_updates_and_subscribers()[1],
    ),
    "cognito_user_pool": Case(
        present={"name": "contract", "mfa": "ON", "tags": {"Layer": "auth"}},
        # (moto has no Cognito TagResource: the tags are tested in test_cognito_user_pool.py)
        update={
            "name": "contract",
            "mfa": "OPTIONAL",
            "password_policy": {"minimum_length": 16},
            "tags": {"Layer": "auth"},
        },
    ),
    "cognito_user_pool_client": Case(
        present={"name": "contract", "access_token_validity_minutes": 15},
        update={"name": "contract", "access_token_validity_minutes": 30},
        setup=lambda: {
            "user_pool_id": boto3.client("cognito-idp", region_name=REGION).create_user_pool(
                PoolName="contract"
            )["UserPool"]["Id"]
        },
    ),
    "ce_cost_allocation_tags": Case(
        present={"tag_keys": ["Project"]},
        update={"tag_keys": ["Project"], "status": "Inactive"},
        creates=False,
        deletes=False,
        fake=aws_stand_ins.ce_cost_allocation_tags("Project")[1],
    ),
    "sns_topic_encryption": Case(
        present={"kms_master_key_id": "alias/contract"},
        update={"kms_master_key_id": ""},
        setup=_topic,
        creates=False,
        deletes=False,
    ),
    "ec2_vpc_endpoint_policy": Case(
        present={"policy": ONLY_OURS},
        update={
            "policy": {**ONLY_OURS, "Statement": [{**ONLY_OURS["Statement"][0], "Action": "s3:PutObject"}]}
        },
        setup=_s3_gateway_endpoint,
        creates=False,
        deletes=False,
    ),
    "cloudwatch_dashboard": Case(
        present={"name": "contract", "body": {"widgets": []}},
        update={"name": "contract", "body": {"widgets": [TEXT]}},
    ),
    "securityhub_hub": Case(
        present={"standards": [FSBP]},
        update={"standards": [FSBP, "cis-aws-foundations-benchmark/v/3.0.0"]},
        fake=_standards_api(),
    ),
    "ec2_vpc_flow_log": Case(
        present={"tags": {"Layer": "network"}},
        update={"tags": {"Layer": "network"}, "traffic_type": "REJECT"},  # a replacement
        setup=_vpc_and_log_group,
    ),
    "iam_openid_connect_provider": Case(
        present={
            "url": "https://token.example.test",
            "client_ids": ["sts.amazonaws.com"],
            "tags": {"A": "1"},
        },
        update={"url": "https://token.example.test", "thumbprints": ["a" * 40], "tags": {"A": "2"}},
    ),
    "cloudfront_origin_access_control": Case(
        present={"name": "contract", "description": "first"},
        update={"name": "contract", "description": "second"},
    ),
    "rds_automated_backups_replication": Case(
        present={
            "region": "us-west-2",
            "source_db_instance_arn": f"arn:aws:rds:{REGION}:{ACCOUNT_ID}:db:contract",
        },
        update=None,  # nothing of a running replication changes (a different retention is a warning)
        fake=_replication_api(),
    ),
    "rds_instance_master_user_secret": Case(
        present={"db_instance_identifier": "contract"},
        update={"db_instance_identifier": "contract", "rotation_days": 30},
        setup=_db_instance,
        creates=False,  # a setting of an instance amazon.aws.rds_instance creates
        deletes=False,  # turning management off needs a new password of the caller's (not this module's)
    ),
    "secretsmanager_rotation_schedule": Case(
        present={
            "secrets": ["contract/postgres/app_rw", "contract/redis/app"],
            "rotation_lambda_arn": ROTATION_FUNCTION,
        },
        update={
            "secrets": ["contract/postgres/app_rw", "contract/redis/app"],
            "rotation_lambda_arn": ROTATION_FUNCTION,
            "rotation_days": 7,
        },
        creates=False,  # the schedule of secrets other roles create
        fake=_rotation_api(),
    ),
    "config_recorder": Case(
        present={
            "role_arn": f"arn:aws:iam::{ACCOUNT_ID}:role/config",
            "delivery_channel": {"s3_bucket_name": "contract-config"},
        },
        update={
            "role_arn": f"arn:aws:iam::{ACCOUNT_ID}:role/config",
            "delivery_channel": {"s3_bucket_name": "contract-config", "delivery_frequency": "One_Hour"},
        },
    ),
    "elasticache_parameter_group": Case(
        present={"name": "contract", "family": "redis7", "parameters": {"maxmemory-policy": "allkeys-lru"}},
        update={
            "name": "contract",
            "family": "redis7",
            "parameters": {"maxmemory-policy": "noeviction"},
            "tags": {"A": "1"},
        },
        fake=_cache_parameter_groups_api(),
    ),
    "eks_cluster": Case(
        present={"name": "contract", "version": "1.30", "role_arn": f"arn:aws:iam::{ACCOUNT_ID}:role/eks"},
        update={
            "name": "contract",
            "version": "1.30",
            "role_arn": f"arn:aws:iam::{ACCOUNT_ID}:role/eks",
            "logging_types": ["api", "audit", "authenticator", "scheduler"],
            "tags": {"A": "1"},
        },
        setup=_subnets,
    ),
    "elasticache_replication_group": Case(
        # (wait=false: moto keeps a deleted group "deleting" for ever; the waits have their own tests)
        present={"replication_group_id": "contract", "cache_node_type": "cache.t4g.small", "wait": False},
        update={
            "replication_group_id": "contract",
            "cache_node_type": "cache.t4g.small",
            "snapshot_retention_limit": 14,
            "tags": {"A": "1"},
            "wait": False,
        },
    ),
    "wafv2_logging_configuration": Case(
        present={"log_destination_arns": [f"arn:aws:logs:{REGION}:{ACCOUNT_ID}:log-group:aws-waf-logs-a"]},
        update={"log_destination_arns": [f"arn:aws:logs:{REGION}:{ACCOUNT_ID}:log-group:aws-waf-logs-b"]},
        setup=_web_acl,
    ),
    "codebuild_webhook": Case(
        present={"project_name": "contract"},
        update={"project_name": "contract", "build_type": "BUILD_BATCH"},
        fake=aws_stand_ins.codebuild_webhooks("contract")[1],
    ),
    "eks_access_entry": Case(
        present={
            "principal_arn": f"arn:aws:iam::{ACCOUNT_ID}:role/contract",
            "access_policies": [{"policy_arn": EKS_EDIT, "scope": "namespace", "namespaces": ["a"]}],
        },
        update={
            "principal_arn": f"arn:aws:iam::{ACCOUNT_ID}:role/contract",
            "access_policies": [{"policy_arn": EKS_EDIT, "scope": "namespace", "namespaces": ["a", "b"]}],
            "kubernetes_groups": ["deployers"],
            "tags": {"A": "1"},
        },
        setup=_eks_cluster_for_entries,
        fake=aws_stand_ins.eks_access_entries("contract-entries")[1],
    ),
    "eks_addon": Case(
        present={"name": "vpc-cni", "configuration_values": {"enableNetworkPolicy": "true"}, "wait": False},
        update={
            "name": "vpc-cni",
            "configuration_values": {"enableNetworkPolicy": "false"},
            "tags": {"A": "1"},
            "wait": False,
        },
        setup=_eks_cluster_for_addons,
        fake=aws_stand_ins.eks_addons()[1],
    ),
}


def _aws_modules() -> list[str]:
    """Every module of plugins/modules that keeps an AWS resource."""
    return sorted(
        p.stem
        for p in MODULES.glob("*.py")
        if p.stem != "__init__" and p.stem not in NOT_AWS and not p.stem.endswith(READ_ONLY_SUFFIX)
    )


def test_every_aws_module_is_in_the_contract_test():
    assert sorted(CASES) == _aws_modules()


def test_the_read_only_modules_left_out_are_on_the_read_only_base():
    from ansible_collections.giftcrypto.platform.plugins.module_utils.aws_resource import AWSInfo

    read_only = sorted(p.stem for p in MODULES.glob(f"*{READ_ONLY_SUFFIX}.py"))
    assert read_only
    for name in read_only:
        module = importlib.import_module(f"ansible_collections.giftcrypto.platform.plugins.modules.{name}")
        classes = [
            value
            for value in vars(module).values()
            if isinstance(value, type) and issubclass(value, AWSInfo) and value.__module__ == module.__name__
        ]
        assert len(classes) == 1, f"{name} should define one AWSInfo subclass"


@contextlib.contextmanager
def _recorded():
    """Every AWS operation called inside the block, in order (moto still answers them)."""
    calls: list[str] = []
    original = botocore.client.BaseClient._make_api_call

    def record(self, operation_name, api_params):
        calls.append(operation_name)
        return original(self, operation_name, api_params)

    with mock.patch.object(botocore.client.BaseClient, "_make_api_call", record):
        yield calls


def _writes(calls: list[str]) -> list[str]:
    return [call for call in calls if not call.startswith(READ_PREFIXES)]


@pytest.fixture(autouse=True)
def aws_environment(monkeypatch, tmp_path):
    moto_modules.dummy_environment(monkeypatch, tmp_path)


@pytest.fixture(scope="module")
def botocore_loader():
    with moto_modules.shared_botocore_loader():
        yield


@pytest.mark.parametrize("name", sorted(CASES))
@mock_aws
def test_the_life_cycle_keeps_the_contract(name, capsys, botocore_loader):
    case = CASES[name]
    module = importlib.import_module(f"ansible_collections.giftcrypto.platform.plugins.modules.{name}")
    run = moto_modules.runner(module, capsys)
    fake = moto_modules.fake_operations(case.fake) if case.fake else contextlib.nullcontext()
    with fake:
        extra = case.setup()
        present = {**case.present, **extra}
        update = {**(case.present if case.update is None else case.update), **extra}

        def step(args, check_mode, planned, diff=True):
            with _recorded() as calls:
                result = run(args, check_mode=check_mode, diff=diff)
            assert result["rc"] == 0, result
            assert result["planned"] == planned, result
            assert result["changed"] is (planned != "none"), result
            assert isinstance(result["changes"], list) and isinstance(result["unverified"], list), result
            assert (planned == "none") is (result["changes"] == []), result
            assert module_resource in result, result
            if check_mode:
                assert _writes(calls) == [], f"check mode called {_writes(calls)}"
            if diff:
                assert set(result["diff"]) == {"before", "after"}, result
                assert result["diff"]["after"] == result[module_resource], result
            else:
                assert "diff" not in result, result
            return result

        module_resource = _resource_key(module)
        first = "create" if case.creates else "update"
        planned = step(present, True, first)
        assert (planned["diff"]["before"] == {}) is case.creates, planned
        created = step(present, False, first)
        assert created[module_resource], created
        step(present, True, "none")
        step(present, False, "none", diff=False)
        if case.update is not None:
            changed = step(update, True, "update")
            assert changed["diff"]["before"] == created[module_resource]
            step(update, False, "update")
            step(update, False, "none")
        if case.deletes:
            absent = {**update, "state": "absent"}
            step(absent, True, "delete")
            assert step(absent, False, "delete")[module_resource] == {}
            step(absent, False, "none")
            step(absent, True, "none")


def _resource_key(module) -> str:
    classes = [
        value
        for value in vars(module).values()
        if isinstance(value, type) and getattr(value, "resource", "") and value.__module__ == module.__name__
    ]
    assert len(classes) == 1, f"{module.__name__} should define one AWSResource subclass"
    return classes[0].resource


def test_a_problem_with_the_options_is_refused_before_any_call(capsys, botocore_loader):
    from ansible_collections.giftcrypto.platform.plugins.module_utils.aws_resource import AWSResource

    class Refusing(AWSResource):
        service = "guardduty"
        resource = "thing"
        noun = "thing"

        def validate(self):
            return {"size": "must be at least 1, got 0"}

        def describe(self):  # pragma: no cover - never reached
            raise AssertionError("described before validating")

    module = type("m", (), {"main": staticmethod(lambda: Refusing().run())})
    with mock_aws(), _recorded() as calls:
        result = moto_modules.runner(module, capsys)({})
    assert result["failed"] is True
    assert result["msg"] == "Refused before any change: size: must be at least 1, got 0"
    assert result["problems"] == {"size": "must be at least 1, got 0"}
    assert calls == []


def test_an_aws_error_names_what_the_module_was_doing(capsys, botocore_loader):
    from ansible_collections.giftcrypto.platform.plugins.module_utils.aws_resource import AWSResource

    class Failing(AWSResource):
        service = "guardduty"
        resource = "thing"
        noun = "GuardDuty thing"

        def describe(self):
            return self.client.get_detector(aws_retry=True, DetectorId="nope")

    module = type("m", (), {"main": staticmethod(lambda: Failing().run())})
    with mock_aws():
        boto3.client("guardduty", region_name=REGION)
        result = moto_modules.runner(module, capsys)({})
    assert result["failed"] is True
    assert result["msg"].startswith("Could not read the GuardDuty thing"), result["msg"]
