"""Bad inventories of the API's data path on EKS (issue 20) are refused by the preflight play, with
a message naming the variable, its value and the rule, before any change: a pool larger than the RDS
connection limit, autoscaler bounds upside down, a read replica aws_rds does not make.

The rules are app_deploy's (roles/app_deploy/tasks/eks_validate.yml), included by roles/preflight
(tasks/application.yml) in every environment: here on the local inventory, as the other refusals."""

from __future__ import annotations

import pytest

from tests.integration.test_preflight import _assert_refused, _snapshot

pytestmark = pytest.mark.integration

APPLICATION_CASES = {
    # db.t3.micro (the local inventory's class): 1 GiB, RDS's default max_connections 112, less 20
    # reserved = 92; 2 poolers x 2 logins x (200 + 2) = 808.
    "pool_larger_than_the_rds_connection_limit": (
        "rds.yml",
        {"app_deploy_eks_pooler_default_pool_size": 200},
        "the pool is larger than the RDS connection limit: app_deploy_eks_pooler_replicas=2 x 2 logins x "
        "(app_deploy_eks_pooler_default_pool_size=200 + app_deploy_eks_pooler_reserve_pool_size=2) = 808 "
        "server connections, but db.t3.micro accepts 112 (max_connections) less "
        "app_deploy_eks_database_reserved_connections=20 = 92",
    ),
    "hpa_minimum_above_its_maximum": (
        "eks.yml",
        {"app_deploy_eks_replicas": 8, "app_deploy_eks_hpa_max_replicas": 4},
        "app_deploy_eks_replicas=8 (the HorizontalPodAutoscaler minimum of each colour) is above "
        "app_deploy_eks_hpa_max_replicas=4 (its maximum)",
    ),
    "replica_endpoint_without_a_replica": (
        "rds.yml",
        {"app_deploy_eks_database_replica": "giftcrypto-local-replica-1"},
        "app_deploy_eks_database_replica=giftcrypto-local-replica-1 is not a read replica aws_rds makes "
        "(aws_rds_replica_count=0: no replica): a replica endpoint needs a replica",
    ),
}


@pytest.mark.parametrize("case", sorted(APPLICATION_CASES))
def test_bad_application_inventory_is_refused_before_any_change(case, tmp_path, aws):
    file, changes, message = APPLICATION_CASES[case]
    _assert_refused(aws, tmp_path, file, changes, message, "Local AWS endpoint", _snapshot)
