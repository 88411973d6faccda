"""playbooks/restore_rds.yml against the local AWS endpoint: RDS restored into a NEW instance, to a
point in time of the deployed instance and from a snapshot copied to the DR region (what AWS
Backup's cross-region copy leaves there); bad requests refused before anything is created.

The endpoint restores the instance's settings, not data: what these tests show is the AWS half of
the drill (the right API calls, a private encrypted instance in the right subnets, refusals). The
data half, a restore verified row by row, is the local drill (test_dr_drill.py, pgBackRest).
"""

from __future__ import annotations

import uuid

import pytest

from tests.integration.conftest import run_playbook

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def source(aws, local_vars) -> dict:
    identifier = f"{local_vars['platform_name']}-{local_vars['platform_environment']}"
    return aws("rds").describe_db_instances(DBInstanceIdentifier=identifier)["DBInstances"][0]


@pytest.fixture
def target(aws):
    """A fresh target identifier; whatever a test restored under it is deleted afterwards."""
    identifier = f"restore-test-{uuid.uuid4().hex[:8]}"
    regions: list[str] = []
    yield identifier, regions
    for region in regions:
        rds = aws("rds", region)
        if rds.describe_db_instances(Filters=[{"Name": "db-instance-id", "Values": [identifier]}])[
            "DBInstances"
        ]:
            rds.delete_db_instance(DBInstanceIdentifier=identifier, SkipFinalSnapshot=True)


def _restore(*extra: str):
    result = run_playbook(*extra, playbook="playbooks/restore_rds.yml", timeout=300)
    return result, " ".join((result.stdout + result.stderr).split())


@pytest.mark.soc2("A1.2", "A1.3")
def test_point_in_time_restore_creates_a_private_encrypted_instance(aws, source, target):
    identifier, regions = target
    regions.append(None)
    result, output = _restore("-e", f"restore_rds_target_identifier={identifier}")
    assert result.returncode == 0, output[-3000:]
    restored = aws("rds").describe_db_instances(DBInstanceIdentifier=identifier)["DBInstances"][0]
    assert restored["DBInstanceStatus"] == "available"
    assert restored["StorageEncrypted"] is True
    assert restored["KmsKeyId"] == source["KmsKeyId"]
    assert restored["PubliclyAccessible"] is False
    assert restored["DBSubnetGroup"]["DBSubnetGroupName"] == source["DBSubnetGroup"]["DBSubnetGroupName"]
    assert {g["VpcSecurityGroupId"] for g in restored["VpcSecurityGroups"]} == {
        g["VpcSecurityGroupId"] for g in source["VpcSecurityGroups"]
    }
    tags = {t["Key"]: t["Value"] for t in restored["TagList"]}
    assert tags["RestoredFrom"] == source["DBInstanceIdentifier"]
    assert tags["CostCenter"]
    # The source is untouched.
    after = aws("rds").describe_db_instances(DBInstanceIdentifier=source["DBInstanceIdentifier"])[
        "DBInstances"
    ]
    assert after[0]["DBInstanceStatus"] == "available"


@pytest.mark.soc2("A1.2", "A1.3")
def test_restore_from_the_cross_region_copy_in_the_dr_region(aws, source, target, local_vars):
    identifier, regions = target
    dr_region = local_vars["aws_dr_region"]
    regions.append(dr_region)
    snapshot = f"{identifier}-snap"
    rds, dr = aws("rds"), aws("rds", dr_region)
    # The DR region's network (the runbook's prerequisite; this collection does not build it): a
    # VPC with two subnets and their DB subnet group, deleted again at the end.
    ec2 = aws("ec2", dr_region)
    vpc = ec2.create_vpc(CidrBlock="10.99.0.0/16")["Vpc"]["VpcId"]
    subnets = [
        ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.99.{i}.0/24", AvailabilityZone=f"{dr_region}{zone}")[
            "Subnet"
        ]["SubnetId"]
        for i, zone in enumerate("ab")
    ]
    dr.create_db_subnet_group(
        DBSubnetGroupName=f"{identifier}-dr", DBSubnetGroupDescription="DR restore test", SubnetIds=subnets
    )
    arn = rds.create_db_snapshot(
        DBInstanceIdentifier=source["DBInstanceIdentifier"], DBSnapshotIdentifier=snapshot
    )["DBSnapshot"]["DBSnapshotArn"]
    try:
        dr.copy_db_snapshot(
            SourceDBSnapshotIdentifier=arn,
            TargetDBSnapshotIdentifier=f"{snapshot}-dr",
            SourceRegion=local_vars["aws_region"],
            KmsKeyId="alias/aws/rds",
        )
        result, output = _restore(
            "-e",
            f"restore_rds_target_identifier={identifier}",
            "-e",
            "restore_rds_mode=snapshot",
            "-e",
            f"restore_rds_region={dr_region}",
            "-e",
            f"restore_rds_snapshot_identifier={snapshot}-dr",
            "-e",
            f"restore_rds_subnet_group_name={identifier}-dr",
        )
        assert result.returncode == 0, output[-3000:]
        restored = dr.describe_db_instances(DBInstanceIdentifier=identifier)["DBInstances"][0]
        assert restored["DBInstanceStatus"] == "available"
        assert restored["StorageEncrypted"] is True
        assert restored["PubliclyAccessible"] is False
        assert restored["DBSubnetGroup"]["DBSubnetGroupName"] == f"{identifier}-dr"
        assert f"restored in {dr_region} from snapshot {snapshot}-dr" in output
        assert not rds.describe_db_instances(Filters=[{"Name": "db-instance-id", "Values": [identifier]}])[
            "DBInstances"
        ], "the DR restore must not create anything in the primary region"
    finally:
        if dr.describe_db_instances(Filters=[{"Name": "db-instance-id", "Values": [identifier]}])[
            "DBInstances"
        ]:
            dr.delete_db_instance(DBInstanceIdentifier=identifier, SkipFinalSnapshot=True)
        regions.remove(dr_region)
        dr.delete_db_subnet_group(DBSubnetGroupName=f"{identifier}-dr")
        for subnet in subnets:
            ec2.delete_subnet(SubnetId=subnet)
        ec2.delete_vpc(VpcId=vpc)
        dr.delete_db_snapshot(DBSnapshotIdentifier=f"{snapshot}-dr")
        rds.delete_db_snapshot(DBSnapshotIdentifier=snapshot)


REFUSALS = {
    "target_is_the_source": (
        {"restore_rds_target_identifier": "giftcrypto-local"},
        "the target is a new RDS identifier",
    ),
    "target_not_an_identifier": (
        {"restore_rds_target_identifier": "Restored_DB"},
        "restore_rds_target_identifier=Restored_DB",
    ),
    "time_not_utc_iso": (
        {"restore_rds_time": "yesterday"},
        "a point in time is UTC as 2026-11-29T10:15:00Z",
    ),
    "time_in_the_future": (
        {"restore_rds_time": "2999-01-01T00:00:00Z"},
        "the point in time cannot be in the future",
    ),
    "snapshot_mode_without_snapshot": (
        {"restore_rds_mode": "snapshot"},
        "snapshot mode needs restore_rds_snapshot_identifier",
    ),
    "missing_snapshot": (
        {"restore_rds_mode": "snapshot", "restore_rds_snapshot_identifier": "no-such-snapshot"},
        "restore_rds_snapshot_identifier=no-such-snapshot: no encrypted snapshot",
    ),
}


@pytest.mark.parametrize("case", sorted(REFUSALS))
def test_bad_restore_request_is_refused_and_creates_nothing(aws, case, target):
    identifier, _ = target
    changes, message = REFUSALS[case]
    before = sorted(i["DBInstanceIdentifier"] for i in aws("rds").describe_db_instances()["DBInstances"])
    extra = [
        arg
        for key, value in {"restore_rds_target_identifier": identifier, **changes}.items()
        for arg in ("-e", f"{key}={value}")
    ]
    result, output = _restore(*extra)
    assert result.returncode != 0
    assert message in output, output[-3000:]
    assert (
        sorted(i["DBInstanceIdentifier"] for i in aws("rds").describe_db_instances()["DBInstances"]) == before
    )


def test_restore_over_an_existing_instance_is_refused(aws, source, target):
    identifier, regions = target
    regions.append(None)
    assert _restore("-e", f"restore_rds_target_identifier={identifier}")[0].returncode == 0
    result, output = _restore("-e", f"restore_rds_target_identifier={identifier}")
    assert result.returncode != 0
    assert f"restore_rds_target_identifier={identifier} already exists" in output, output[-3000:]
