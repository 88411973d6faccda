"""What aws_edge built, read back from the scenario's AWS endpoint with boto3, and how the role behaves
on a converged account (plan) and on a changed one (a bucket made public again is repaired)."""

import json

import pytest

NAME = "gcedge-local"
ACCOUNT = "123456789012"
PURPOSES = ("assets", "backups", "logs")
REQUIRED_TAGS = {"Project", "Environment", "ManagedBy", "CostCenter"}


def _bucket(purpose: str) -> str:
    return f"{NAME}-{purpose}-{ACCOUNT}"


@pytest.fixture(scope="module")
def s3_key_arn(kms_key):
    return kms_key(f"alias/{NAME}-s3")["Arn"]


@pytest.fixture(scope="module")
def alb(aws):
    (found,) = aws("elbv2").describe_load_balancers(Names=[NAME])["LoadBalancers"]
    return found


@pytest.fixture(scope="module")
def listeners(alb, aws):
    found = aws("elbv2").describe_listeners(LoadBalancerArn=alb["LoadBalancerArn"])["Listeners"]
    return {listener["Port"]: listener for listener in found}


@pytest.fixture(scope="module")
def web_acl(aws):
    acls = aws("wafv2").list_web_acls(Scope="REGIONAL")["WebACLs"]
    (summary,) = [a for a in acls if a["Name"] == f"{NAME}-edge"]
    return aws("wafv2").get_web_acl(Name=summary["Name"], Scope="REGIONAL", Id=summary["Id"])["WebACL"]


@pytest.fixture(scope="module")
def distribution(aws):
    items = aws("cloudfront").list_distributions()["DistributionList"].get("Items") or []
    (found,) = [d for d in items if d["Comment"].startswith(f"{NAME} assets")]
    return aws("cloudfront").get_distribution(Id=found["Id"])["Distribution"]


@pytest.mark.parametrize("purpose", PURPOSES)
def test_bucket_versioned_private_tls_only_and_tagged(purpose, aws, tags):
    s3 = aws("s3")
    bucket = _bucket(purpose)
    assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"
    assert s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True,
        "IgnorePublicAcls": True,
        "BlockPublicPolicy": True,
        "RestrictPublicBuckets": True,
    }
    rules = s3.get_bucket_ownership_controls(Bucket=bucket)["OwnershipControls"]["Rules"]
    assert rules == [{"ObjectOwnership": "BucketOwnerEnforced"}]
    policy = json.loads(s3.get_bucket_policy(Bucket=bucket)["Policy"])
    deny = [s for s in policy["Statement"] if s["Effect"] == "Deny"]
    assert deny == [
        {
            "Sid": "DenyRequestsWithoutTls",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "s3:*",
            "Resource": [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"],
            "Condition": {"Bool": {"aws:SecureTransport": "false"}},
        }
    ]
    # Nothing is allowed to everyone.
    assert all(s["Principal"] != "*" for s in policy["Statement"] if s["Effect"] == "Allow")
    bucket_tags = tags(s3.get_bucket_tagging(Bucket=bucket)["TagSet"])
    assert set(bucket_tags) >= REQUIRED_TAGS
    assert bucket_tags["Purpose"] == purpose


@pytest.mark.parametrize("purpose", ["assets", "backups"])
def test_assets_and_backups_encrypted_with_the_s3_key(purpose, s3_key_arn, aws):
    (rule,) = aws("s3").get_bucket_encryption(Bucket=_bucket(purpose))["ServerSideEncryptionConfiguration"][
        "Rules"
    ]
    assert rule["ApplyServerSideEncryptionByDefault"] == {
        "SSEAlgorithm": "aws:kms",
        "KMSMasterKeyID": s3_key_arn,
    }
    assert rule["BucketKeyEnabled"] is True


def test_access_log_bucket_encrypted_with_s3_managed_keys_and_open_to_log_delivery_only(aws):
    bucket = _bucket("logs")
    (rule,) = aws("s3").get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"]
    assert rule["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
    policy = json.loads(aws("s3").get_bucket_policy(Bucket=bucket)["Policy"])
    allows = [s for s in policy["Statement"] if s["Effect"] == "Allow"]
    assert {json.dumps(s["Principal"], sort_keys=True) for s in allows} == {
        '{"Service": "logdelivery.elasticloadbalancing.amazonaws.com"}',
        '{"AWS": "arn:aws:iam::127311923021:root"}',
    }
    assert {s["Action"] for s in allows} == {"s3:PutObject"}
    assert {s["Resource"] for s in allows} == {f"arn:aws:s3:::{bucket}/alb/AWSLogs/{ACCOUNT}/*"}


def test_lifecycle_rules(aws):
    s3 = aws("s3")
    (logs,) = s3.get_bucket_lifecycle_configuration(Bucket=_bucket("logs"))["Rules"]
    assert logs["Status"] == "Enabled"
    assert logs["Expiration"]["Days"] == 365
    assert logs["NoncurrentVersionExpiration"]["NoncurrentDays"] == 30
    (backups,) = s3.get_bucket_lifecycle_configuration(Bucket=_bucket("backups"))["Rules"]
    assert backups["Transitions"] == [{"Days": 30, "StorageClass": "GLACIER"}]
    assert backups["NoncurrentVersionExpiration"]["NoncurrentDays"] == 365
    (assets,) = s3.get_bucket_lifecycle_configuration(Bucket=_bucket("assets"))["Rules"]
    assert assets["AbortIncompleteMultipartUpload"]["DaysAfterInitiation"] == 7


def test_certificate_is_self_signed_for_both_names_and_on_the_https_listener(listeners, aws):
    acm = aws("acm")
    (summary,) = [
        c
        for c in acm.list_certificates()["CertificateSummaryList"]
        if c["DomainName"] == "api.local.giftcrypto.example"
    ]
    certificate = acm.describe_certificate(CertificateArn=summary["CertificateArn"])["Certificate"]
    assert certificate["Type"] == "IMPORTED"
    assert set(certificate["SubjectAlternativeNames"]) == {
        "api.local.giftcrypto.example",
        "assets.local.giftcrypto.example",
    }
    assert listeners[443]["Certificates"] == [{"CertificateArn": summary["CertificateArn"]}]
    # Imported without another chain: the certificate is its own chain, as ACM gives it back.
    imported = acm.get_certificate(CertificateArn=summary["CertificateArn"])
    assert imported["CertificateChain"].strip() == imported["Certificate"].strip()


def test_load_balancer_public_subnets_and_alb_group(alb, aws):
    ec2 = aws("ec2")
    assert alb["Scheme"] == "internet-facing"
    subnets = ec2.describe_subnets(SubnetIds=[z["SubnetId"] for z in alb["AvailabilityZones"]])["Subnets"]
    assert {t["Value"] for s in subnets for t in s["Tags"] if t["Key"] == "Tier"} == {"public"}
    (group,) = ec2.describe_security_groups(GroupIds=alb["SecurityGroups"])["SecurityGroups"]
    assert group["GroupName"] == f"{NAME}-alb"


def test_http_redirects_to_https_and_https_uses_the_tls13_policy(listeners, aws):
    assert set(listeners) == {80, 443}
    (redirect,) = listeners[80]["DefaultActions"]
    assert redirect["Type"] == "redirect"
    assert redirect["RedirectConfig"]["Protocol"] == "HTTPS"
    assert redirect["RedirectConfig"]["Port"] == "443"
    assert redirect["RedirectConfig"]["StatusCode"] == "HTTP_301"
    assert listeners[443]["Protocol"] == "HTTPS"
    assert listeners[443]["SslPolicy"] == "ELBSecurityPolicy-TLS13-1-2-Res-2021-06"
    (forward,) = listeners[443]["DefaultActions"]
    assert forward["Type"] == "forward"
    weights = {g["TargetGroupArn"]: g["Weight"] for g in forward["ForwardConfig"]["TargetGroups"]}
    groups = aws("elbv2").describe_target_groups(TargetGroupArns=list(weights))["TargetGroups"]
    by_name = {g["TargetGroupName"]: g for g in groups}
    assert set(by_name) == {f"{NAME}-api-blue", f"{NAME}-api-green"}, "one target group per colour"
    for group in groups:
        assert (group["Protocol"], group["Port"], group["TargetType"]) == ("HTTP", 8080, "ip")
        assert group["HealthCheckPath"] == "/readyz"
    # A new listener sends everything to blue; the release moves the weights (app_deploy).
    assert {g["TargetGroupName"]: weights[g["TargetGroupArn"]] for g in groups} == {
        f"{NAME}-api-blue": 100,
        f"{NAME}-api-green": 0,
    }


def test_a_deploy_keeps_the_weights_a_release_set(listeners, aws, converge, recap):
    """A release moved the traffic to green (app_deploy's eks_weights.yml): a deploy of the edge keeps it."""
    elb = aws("elbv2")
    listener = listeners[443]
    groups = {g["TargetGroupName"]: g["TargetGroupArn"] for g in elb.describe_target_groups()["TargetGroups"]}
    forward = {
        "Type": "forward",
        "ForwardConfig": {
            "TargetGroups": [
                {"TargetGroupArn": groups[f"{NAME}-api-blue"], "Weight": 0},
                {"TargetGroupArn": groups[f"{NAME}-api-green"], "Weight": 100},
            ]
        },
    }
    elb.modify_listener(ListenerArn=listener["ListenerArn"], DefaultActions=[forward])
    try:
        result = converge()
        assert result.returncode == 0, result.stdout[-3000:]
        assert recap(result.stdout)[0] == 0, "weights kept: nothing to change"
        (action,) = elb.describe_listeners(ListenerArns=[listener["ListenerArn"]])["Listeners"][0][
            "DefaultActions"
        ]
        kept = {g["TargetGroupArn"]: g["Weight"] for g in action["ForwardConfig"]["TargetGroups"]}
        assert kept == {groups[f"{NAME}-api-blue"]: 0, groups[f"{NAME}-api-green"]: 100}
    finally:
        elb.modify_listener(ListenerArn=listener["ListenerArn"], DefaultActions=listener["DefaultActions"])


def test_load_balancer_attributes(alb, aws):
    found = aws("elbv2").describe_load_balancer_attributes(LoadBalancerArn=alb["LoadBalancerArn"])
    attributes = {a["Key"]: a["Value"] for a in found["Attributes"]}
    assert attributes["access_logs.s3.enabled"] == "true"
    assert attributes["access_logs.s3.bucket"] == _bucket("logs")
    assert attributes["access_logs.s3.prefix"] == "alb"
    assert attributes["routing.http.drop_invalid_header_fields.enabled"] == "true"
    assert attributes["idle_timeout.timeout_seconds"] == "60"
    assert attributes["deletion_protection.enabled"] == "false"


def test_web_acl_rules_association_and_logging(web_acl, alb, aws, scenario_vars):
    rules = sorted(web_acl["Rules"], key=lambda r: r["Priority"])
    # First the service's internal routes (Prometheus scrapes them inside the cluster), blocked
    # whatever their spelling: URL-decoded, normalised (merged slashes, dot segments), lowercased.
    internal = rules[0]
    assert (internal["Name"], internal["Priority"], list(internal["Action"])) == ("block-internal-paths", 0, ["Block"])
    regex = internal["Statement"]["RegexMatchStatement"]
    assert regex["RegexString"] == "^(/metrics)(/|$)"
    assert regex["FieldToMatch"] == {"UriPath": {}}
    assert [t["Type"] for t in sorted(regex["TextTransformations"], key=lambda t: t["Priority"])] == [
        "URL_DECODE",
        "NORMALIZE_PATH",
        "LOWERCASE",
    ]
    managed = [r["Statement"]["ManagedRuleGroupStatement"]["Name"] for r in rules[1:-1]]
    assert managed == [
        "AWSManagedRulesCommonRuleSet",
        "AWSManagedRulesKnownBadInputsRuleSet",
        "AWSManagedRulesSQLiRuleSet",
    ]
    rate = rules[-1]["Statement"]["RateBasedStatement"]
    assert (rate["Limit"], rate["AggregateKeyType"]) == (1000, "IP")
    assert "Block" in rules[-1]["Action"]
    wafv2 = aws("wafv2")
    assert (
        wafv2.get_web_acl_for_resource(ResourceArn=alb["LoadBalancerArn"])["WebACL"]["ARN"] == web_acl["ARN"]
    )
    assert wafv2.list_resources_for_web_acl(WebACLArn=web_acl["ARN"])["ResourceArns"] == [
        alb["LoadBalancerArn"]
    ]
    logging = wafv2.get_logging_configuration(ResourceArn=web_acl["ARN"])["LoggingConfiguration"]
    assert logging["LogDestinationConfigs"] == [
        f"arn:aws:logs:{scenario_vars['aws_region']}:{ACCOUNT}:log-group:aws-waf-logs-{NAME}"
    ]
    (group,) = aws("logs").describe_log_groups(logGroupNamePrefix=f"aws-waf-logs-{NAME}")["logGroups"]
    assert group["retentionInDays"] == 365
    assert group.get("kmsKeyId")


def test_distribution_https_only_tls12_2021_root_object_and_bucket_reads_only_for_it(
    distribution, aws, scenario_vars
):
    config = distribution["DistributionConfig"]
    assert config["Enabled"] is True
    assert config["DefaultCacheBehavior"]["ViewerProtocolPolicy"] == "redirect-to-https"
    assert config["ViewerCertificate"]["MinimumProtocolVersion"] == "TLSv1.2_2021"
    assert config["ViewerCertificate"]["SSLSupportMethod"] == "sni-only"
    assert config["DefaultRootObject"] == "index.html"
    assert config["Aliases"]["Items"] == ["assets.local.giftcrypto.example"]
    (origin,) = config["Origins"]["Items"]
    assert origin["DomainName"] == f"{_bucket('assets')}.s3.{scenario_vars['aws_region']}.amazonaws.com"
    assert origin.get("S3OriginConfig", {}).get("OriginAccessIdentity", "") == ""
    oacs = aws("cloudfront").list_origin_access_controls()["OriginAccessControlList"]["Items"]
    (oac,) = [o for o in oacs if o["Name"] == f"{NAME}-assets"]
    assert (oac["SigningBehavior"], oac["SigningProtocol"], oac["OriginAccessControlOriginType"]) == (
        "always",
        "sigv4",
        "s3",
    )
    if "OriginAccessControlId" in origin:  # moto 5.2 drops the field; AWS always answers it
        assert origin["OriginAccessControlId"] == oac["Id"]
    policy = json.loads(aws("s3").get_bucket_policy(Bucket=_bucket("assets"))["Policy"])
    (reads,) = [s for s in policy["Statement"] if s["Effect"] == "Allow"]
    assert reads["Principal"] == {"Service": "cloudfront.amazonaws.com"}
    assert reads["Action"] == "s3:GetObject"
    assert reads["Condition"] == {"StringEquals": {"AWS:SourceArn": distribution["ARN"]}}


def test_plan_of_the_converged_layer_changes_nothing(converge, planned):
    planned(converge("--check", "--diff"), 0)


def test_a_bucket_opened_by_hand_is_planned_then_repaired(aws, converge, recap):
    s3 = aws("s3")
    bucket = _bucket("backups")
    s3.delete_public_access_block(Bucket=bucket)
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Suspended"})

    plan = converge("--check")
    assert plan.returncode == 0, plan.stdout[-3000:]
    assert f"would update the bucket {bucket}" in plan.stdout
    assert recap(plan.stdout)[0] >= 1
    assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Suspended"

    result = converge()
    assert result.returncode == 0, result.stdout[-3000:]
    assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"
    assert (
        s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]["BlockPublicPolicy"]
        is True
    )
    assert recap(converge().stdout) == (0, 0)
