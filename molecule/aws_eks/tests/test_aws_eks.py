"""What aws_eks built, read back from the scenario's AWS endpoint with boto3, and how the role behaves
on bad input, on a converged account (plan) and on a change of scaling."""

import json
import os
import pathlib

import pytest
import yaml

NAME = "gceks-local"
REQUIRED_TAGS = {"Project", "Environment", "ManagedBy", "CostCenter"}


@pytest.fixture(scope="module")
def key_id(aws):
    """The id of a KMS key named by an alias or an ARN."""
    return lambda alias_or_arn: aws("kms").describe_key(KeyId=alias_or_arn)["KeyMetadata"]["KeyId"]


@pytest.fixture(scope="module")
def cluster(aws):
    return aws("eks").describe_cluster(name=NAME)["cluster"]


@pytest.fixture(scope="module")
def private_subnets(aws):
    subnets = aws("ec2").describe_subnets(Filters=[{"Name": "tag:Tier", "Values": ["private"]}])["Subnets"]
    return sorted(s["SubnetId"] for s in subnets)


@pytest.fixture(scope="module")
def node_group(aws):
    """A node group of the cluster, as it is when called."""
    return lambda name: aws("eks").describe_nodegroup(clusterName=NAME, nodegroupName=name)["nodegroup"]


def test_cluster_in_the_private_subnets_with_the_baselines_role(cluster, private_subnets):
    assert sorted(cluster["resourcesVpcConfig"]["subnetIds"]) == private_subnets
    assert cluster["roleArn"].endswith(f":role/{NAME}-eks-cluster")
    assert cluster["version"] == "1.36"
    assert set(cluster["tags"]) >= REQUIRED_TAGS


def test_eks_1_endpoint_private_and_public_only_for_the_listed_range(cluster):
    vpc = cluster["resourcesVpcConfig"]
    assert vpc["endpointPrivateAccess"] is True
    assert vpc["endpointPublicAccess"] is True
    assert vpc["publicAccessCidrs"] == ["198.51.100.0/24"]


def test_eks_3_secrets_encrypted_with_the_eks_key(cluster, key_id):
    (config,) = cluster["encryptionConfig"]
    assert config["resources"] == ["secrets"]
    assert key_id(config["provider"]["keyArn"]) == key_id(f"alias/{NAME}-eks")


def test_eks_8_control_plane_logs(cluster):
    enabled = {t for e in cluster["logging"]["clusterLogging"] if e["enabled"] for t in e["types"]}
    assert enabled == {"api", "audit", "authenticator", "scheduler"}


def test_control_plane_log_group_encrypted_and_retained(aws, key_id):
    groups = aws("logs").describe_log_groups(logGroupNamePrefix=f"/aws/eks/{NAME}/cluster")["logGroups"]
    (group,) = groups
    assert group["retentionInDays"] == 365
    assert key_id(group["kmsKeyId"]) == key_id(f"alias/{NAME}-logs")


@pytest.fixture(scope="module")
def template_data(aws):
    """The launch template version a node group runs on, as EC2 describes it."""

    def data(group):
        template = group["launchTemplate"]
        (version,) = aws("ec2").describe_launch_template_versions(
            LaunchTemplateId=template["id"], Versions=[template["version"]]
        )["LaunchTemplateVersions"]
        return version["LaunchTemplateData"]

    return data


def test_node_groups_sizes_types_role_and_subnets(private_subnets, node_group, template_data):
    general, scaling = node_group("general"), node_group("scaling")
    assert template_data(general)["InstanceType"] == "t3.medium"
    assert general["scalingConfig"] == {"minSize": 2, "desiredSize": 2, "maxSize": 4}
    assert general["labels"] == {"workload": "general"}
    assert template_data(scaling)["InstanceType"] == "t3.large"
    assert scaling["scalingConfig"] == {"minSize": 0, "desiredSize": 1, "maxSize": 4}
    for group in (general, scaling):
        assert group["nodeRole"].endswith(f":role/{NAME}-eks-node")
        assert sorted(group["subnets"]) == private_subnets
        assert group["updateConfig"] == {"maxUnavailable": 1}
        assert set(group["tags"]) >= REQUIRED_TAGS


def test_node_groups_on_al2023_with_an_encrypted_root_volume_and_imdsv2(node_group, template_data):
    for name in ("general", "scaling"):
        group = node_group(name)
        # No AMI in the template: EKS's default AMI type for a 1.30 cluster.
        assert group["amiType"] == "AL2023_x86_64_STANDARD"
        assert group["launchTemplate"]["name"] == f"{NAME}-{name}"
        data = template_data(group)
        assert "ImageId" not in data
        (root,) = data["BlockDeviceMappings"]
        assert root["Ebs"] == {
            "Encrypted": True,
            "DeleteOnTermination": True,
            "VolumeSize": 20,
            "VolumeType": "gp3",
        }
        assert data["MetadataOptions"]["HttpTokens"] == "required"


def test_irsa_oidc_provider_of_the_clusters_issuer(cluster, aws):
    issuer = cluster["identity"]["oidc"]["issuer"].removeprefix("https://")
    providers = [p["Arn"] for p in aws("iam").list_open_id_connect_providers()["OpenIDConnectProviderList"]]
    assert any(arn.endswith(f":oidc-provider/{issuer}") for arn in providers), providers
    provider = aws("iam").get_open_id_connect_provider(
        OpenIDConnectProviderArn=next(a for a in providers if a.endswith(issuer))
    )
    assert provider["ClientIDList"] == ["sts.amazonaws.com"]


def test_the_vpc_cni_is_a_managed_addon_enforcing_network_policies(aws):
    """Issue 20 item 7: NetworkPolicy enforcement on in the cluster's configuration (the vpc-cni add-on's
    enableNetworkPolicy), at EKS's default version for the cluster's Kubernetes version."""
    eks = aws("eks")
    assert eks.list_addons(clusterName=NAME)["addons"] == ["vpc-cni"]
    addon = eks.describe_addon(clusterName=NAME, addonName="vpc-cni")["addon"]
    assert addon["status"] == "ACTIVE"
    assert json.loads(addon["configurationValues"]) == {"enableNetworkPolicy": "true"}
    (info,) = eks.describe_addon_versions(kubernetesVersion="1.36", addonName="vpc-cni")["addons"]
    (default,) = [
        v["addonVersion"]
        for v in info["addonVersions"]
        if any(c["clusterVersion"] == "1.36" and c["defaultVersion"] for c in v["compatibilities"])
    ]
    assert addon["addonVersion"] == default
    assert set(addon["tags"]) >= REQUIRED_TAGS and addon["tags"]["Name"] == f"{NAME}-vpc-cni"


def test_network_policy_enforcement_switched_back_on_by_the_next_run(aws, converge, recap):
    """Someone turns enforcement off by hand: the plan shows it, the next run puts it back."""
    eks = aws("eks")
    eks.update_addon(
        clusterName=NAME, addonName="vpc-cni", configurationValues='{"enableNetworkPolicy": "false"}'
    )
    try:
        planned = converge("--check", "--diff")
        assert planned.returncode == 0, planned.stdout[-3000:]
        assert recap(planned.stdout) == (1, 0)
        result = converge()
        assert result.returncode == 0, result.stdout[-3000:]
    finally:
        addon = eks.describe_addon(clusterName=NAME, addonName="vpc-cni")["addon"]
        if json.loads(addon["configurationValues"]) != {"enableNetworkPolicy": "true"}:
            eks.update_addon(
                clusterName=NAME, addonName="vpc-cni", configurationValues='{"enableNetworkPolicy": "true"}'
            )
    addon = eks.describe_addon(clusterName=NAME, addonName="vpc-cni")["addon"]
    assert json.loads(addon["configurationValues"]) == {"enableNetworkPolicy": "true"}
    assert recap(converge().stdout) == (0, 0)


ROLE_FILES = pathlib.Path(__file__).resolve().parents[3] / "roles" / "aws_eks" / "files"


@pytest.mark.parametrize(
    ("role", "service_account"),
    [
        ("aws-load-balancer-controller", "aws-load-balancer-controller"),
        ("cluster-autoscaler", "cluster-autoscaler"),
    ],
)
def test_controller_roles_trust_one_service_account_of_the_clusters_provider(
    cluster, role, service_account, aws, policy
):
    iam = aws("iam")
    issuer = cluster["identity"]["oidc"]["issuer"].removeprefix("https://")
    found = iam.get_role(RoleName=f"{NAME}-{role}")["Role"]
    trust = found["AssumeRolePolicyDocument"]
    (statement,) = policy(trust)["Statement"]
    assert statement["Action"] == "sts:AssumeRoleWithWebIdentity"
    assert statement["Principal"]["Federated"].endswith(f":oidc-provider/{issuer}")
    assert statement["Condition"] == {
        "StringEquals": {
            f"{issuer}:aud": "sts.amazonaws.com",
            f"{issuer}:sub": f"system:serviceaccount:kube-system:{service_account}",
        }
    }
    assert iam.list_attached_role_policies(RoleName=f"{NAME}-{role}")["AttachedPolicies"] == []
    assert iam.list_role_policies(RoleName=f"{NAME}-{role}")["PolicyNames"] == [f"{role}-permissions"]


def test_the_load_balancer_controller_has_its_published_policy_unchanged(aws, policy):
    document = aws("iam").get_role_policy(
        RoleName=f"{NAME}-aws-load-balancer-controller", PolicyName="aws-load-balancer-controller-permissions"
    )["PolicyDocument"]
    document = policy(document)
    published = json.loads((ROLE_FILES / "aws-load-balancer-controller" / "iam_policy.json").read_text())
    assert document == published


def test_the_cluster_autoscaler_resizes_only_this_clusters_groups(aws, policy):
    document = aws("iam").get_role_policy(
        RoleName=f"{NAME}-cluster-autoscaler", PolicyName="cluster-autoscaler-permissions"
    )["PolicyDocument"]
    document = policy(document)
    statements = {s["Sid"]: s for s in document["Statement"]}
    resize = statements["ResizeOnlyThisClustersGroups"]
    assert set(resize["Action"]) == {
        "autoscaling:SetDesiredCapacity",
        "autoscaling:TerminateInstanceInAutoScalingGroup",
    }
    assert resize["Condition"]["StringEquals"][f"aws:ResourceTag/k8s.io/cluster-autoscaler/{NAME}"] == "owned"
    assert statements["DescribeThisClustersNodeGroups"]["Resource"].endswith(f":nodegroup/{NAME}/*/*")
    for statement in document["Statement"]:
        if statement["Resource"] == "*" and "Condition" not in statement:
            assert all(":Describe" in a or ":Get" in a for a in statement["Action"]), (
                "only reads on every resource"
            )


def test_the_controllers_are_rendered_with_their_irsa_roles():
    """No Kubernetes here: rendered only; the autoscaler's minor is the cluster's, the roles are IRSA's."""
    rendered = pathlib.Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"]) / "cluster"
    assert sorted(p.name for p in rendered.iterdir()) == [
        "00-aws-load-balancer-controller-crds.yml",
        "05-metrics-server.yml",
        "10-cluster-autoscaler.yml",
        "aws-load-balancer-controller-values.yml",
    ]
    documents = {
        (d["kind"], d["metadata"]["name"]): d
        for d in yaml.safe_load_all((rendered / "10-cluster-autoscaler.yml").read_text())
        if d
    }
    account = documents[("ServiceAccount", "cluster-autoscaler")]
    assert account["metadata"]["annotations"]["eks.amazonaws.com/role-arn"].endswith(
        f":role/{NAME}-cluster-autoscaler"
    )
    (container,) = documents[("Deployment", "cluster-autoscaler")]["spec"]["template"]["spec"]["containers"]
    assert container["image"] == "registry.k8s.io/autoscaling/cluster-autoscaler:v1.36.1"
    assert (
        f"--node-group-auto-discovery=asg:tag=k8s.io/cluster-autoscaler/enabled,k8s.io/cluster-autoscaler/{NAME}"
        in container["command"]
    )
    values = yaml.safe_load((rendered / "aws-load-balancer-controller-values.yml").read_text())
    assert values["serviceAccount"]["annotations"]["eks.amazonaws.com/role-arn"].endswith(
        f":role/{NAME}-aws-load-balancer-controller"
    )
    assert values["clusterName"] == NAME
    assert values["vpcId"].startswith("vpc-")


@pytest.mark.parametrize("name", ["gceks/api", "gceks/worker"])
def test_ecr_repository_immutable_scanned_encrypted_with_lifecycle(name, aws, key_id):
    ecr = aws("ecr")
    (repository,) = ecr.describe_repositories(repositoryNames=[name])["repositories"]
    assert repository["imageTagMutability"] == "IMMUTABLE"
    assert repository["imageScanningConfiguration"]["scanOnPush"] is True
    assert repository["encryptionConfiguration"]["encryptionType"] == "KMS"
    assert key_id(repository["encryptionConfiguration"]["kmsKey"]) == key_id(f"alias/{NAME}-s3")
    rules = json.loads(ecr.get_lifecycle_policy(repositoryName=name)["lifecyclePolicyText"])["rules"]
    assert [r["selection"]["tagStatus"] for r in rules] == ["untagged", "any"]
    assert rules[1]["selection"]["countNumber"] == 30


@pytest.fixture
def snapshot(aws, node_group):
    """What the layer manages, to compare before and after a run."""

    def take():
        eks = aws("eks")
        cluster = eks.describe_cluster(name=NAME)["cluster"]
        return (
            cluster["version"],
            cluster["resourcesVpcConfig"].get("endpointPublicAccess"),
            sorted(cluster["resourcesVpcConfig"].get("publicAccessCidrs", [])),
            sorted(
                (g, json.dumps(node_group(g)["scalingConfig"], sort_keys=True))
                for g in eks.list_nodegroups(clusterName=NAME)["nodegroups"]
            ),
            sorted(r["repositoryName"] for r in aws("ecr").describe_repositories()["repositories"]),
        )

    return take


GENERAL = {"name": "general", "instance_type": "t3.medium", "min_size": 2, "desired_size": 2, "max_size": 4}


@pytest.mark.parametrize(
    ("extra_vars", "message"),
    [
        (
            {
                "aws_eks_environment": "production",
                "aws_eks_cluster_log_retention_days": 365,
                "aws_eks_ecr_force_delete": False,
            },
            "aws_eks_endpoint_public_access=true with aws_eks_environment=production",
        ),
        ({"aws_eks_public_access_cidrs": ["0.0.0.0/0"]}, "0.0.0.0/0 opens the API endpoint to the world"),
        ({"aws_eks_public_access_cidrs": []}, "needs at least one CIDR"),
        ({"aws_eks_kubernetes_version": "1.24"}, "aws_eks_kubernetes_version=1.24: must be one of"),
        ({"aws_eks_cluster_log_types": ["api", "authenticator"]}, "(missing: audit)"),
        (
            {"aws_eks_node_groups": [{**GENERAL, "min_size": 5}]},
            "general: min_size=5, desired_size=2, max_size=4 must satisfy",
        ),
        (
            {"aws_eks_node_groups": [{**GENERAL, "instance_type": "x2iedn.32xlarge"}]},
            "instance_type=x2iedn.32xlarge is not one of aws_eks_allowed_instance_types",
        ),
        ({"aws_eks_node_groups": [GENERAL, GENERAL]}, "node group names must be unique"),
        (
            {"aws_eks_managed_addons": [{"name": "vpc-cni", "configuration_values": {}}]},
            "vpc-cni must be one of them with configuration_values.enableNetworkPolicy",
        ),
    ],
)
def test_bad_input_is_refused_before_any_aws_call(
    extra_vars, message, converge, refused, snapshot, unchanged
):
    with unchanged(snapshot):
        refused(converge(extra_vars=extra_vars), message, not_reached="Find the security baseline's keys")


def test_plan_of_the_converged_layer_changes_nothing(converge, planned):
    planned(converge("--check", "--diff"), 0)


def test_plan_reports_a_scaling_change_and_a_private_endpoint_without_making_them(
    converge, planned, snapshot, unchanged
):
    with unchanged(snapshot):
        groups = [
            {**GENERAL, "max_size": 6},
            {
                "name": "scaling",
                "instance_type": "t3.large",
                "min_size": 0,
                "desired_size": 1,
                "max_size": 4,
                "keep_desired_size": True,
            },
        ]
        result = converge(
            "--check",
            "--diff",
            extra_vars={"aws_eks_node_groups": groups, "aws_eks_endpoint_public_access": False},
        )
        # The cluster's endpoint and the general group's scaling (community.aws.eks_nodegroup shows no diff).
        planned(result, 2)


def test_a_changed_instance_type_rolls_out_through_a_new_launch_template_version(
    converge, node_group, recap, template_data
):
    scaling = {
        "name": "scaling",
        "instance_type": "t3.large",
        "min_size": 0,
        "desired_size": 1,
        "max_size": 4,
    }
    scaling["keep_desired_size"] = True
    before = node_group("general")["launchTemplate"]["version"]
    groups = [{**GENERAL, "instance_type": "t3.xlarge", "labels": {"workload": "general"}}, scaling]
    result = converge(extra_vars={"aws_eks_node_groups": groups})
    assert result.returncode == 0, result.stdout[-3000:]
    general = node_group("general")
    assert int(general["launchTemplate"]["version"]) == int(before) + 1
    assert template_data(general)["InstanceType"] == "t3.xlarge"
    # Back to the scenario's type: one more version, and the layer is as converge left it.
    result = converge()
    assert result.returncode == 0, result.stdout[-3000:]
    assert template_data(node_group("general"))["InstanceType"] == "t3.medium"
    assert recap(converge().stdout) == (0, 0)
