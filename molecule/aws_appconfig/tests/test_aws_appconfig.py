"""What aws_appconfig built, read back from the scenario's AWS endpoint with boto3 (the control plane
and AppConfig's data plane, as the service reads it), and how the role behaves on a converged
account (plan, no new version), on a flipped flag and on a bad flag document."""

import copy
import json

import pytest

APPLICATION = "gcflags-local"
REQUIRED_TAGS = {"Project", "Environment", "ManagedBy", "CostCenter"}


@pytest.fixture
def chain(aws):
    """(appconfig client, application id, environment id, profile id) as they are when called."""
    appconfig = aws("appconfig")
    (app,) = [a for a in appconfig.list_applications()["Items"] if a["Name"] == APPLICATION]
    (environment,) = appconfig.list_environments(ApplicationId=app["Id"])["Items"]
    (profile,) = appconfig.list_configuration_profiles(ApplicationId=app["Id"])["Items"]
    return appconfig, app["Id"], environment["Id"], profile["Id"]


def _served(aws, poll=15):
    """The flags as the service reads them: a configuration session, then the latest configuration."""
    data = aws("appconfigdata")
    token = data.start_configuration_session(
        ApplicationIdentifier=APPLICATION,
        EnvironmentIdentifier="local",
        ConfigurationProfileIdentifier="feature-flags",
        RequiredMinimumPollIntervalInSeconds=poll,
    )["InitialConfigurationToken"]
    return json.loads(data.get_latest_configuration(ConfigurationToken=token)["Configuration"].read())


def test_a_feature_flag_profile_deployed_all_at_once(chain, aws):
    appconfig, app, environment, profile = chain
    found = appconfig.get_configuration_profile(ApplicationId=app, ConfigurationProfileId=profile)
    assert (found["Name"], found["Type"], found["LocationUri"]) == (
        "feature-flags",
        "AWS.AppConfig.FeatureFlags",
        "hosted",
    )
    (deployment,) = appconfig.list_deployments(ApplicationId=app, EnvironmentId=environment)["Items"]
    assert deployment["State"] == "COMPLETE"
    assert (deployment["DeploymentDurationInMinutes"], deployment["FinalBakeTimeInMinutes"]) == (0, 0)
    account = aws("sts").get_caller_identity()["Account"]
    app_tags = appconfig.list_tags_for_resource(
        ResourceArn=f"arn:aws:appconfig:us-east-1:{account}:application/{app}"
    )
    assert set(app_tags["Tags"]) >= REQUIRED_TAGS


def test_the_service_reads_the_flag_values(aws):
    assert _served(aws) == {"stats_replica_reads": {"enabled": True, "percentage": 100}}


def test_the_app_role_reads_this_configuration_only(chain, aws):
    _, app, environment, profile = chain
    policy = aws("iam").get_role_policy(RoleName="gcflags-local-app", PolicyName="feature-flags")[
        "PolicyDocument"
    ]
    (statement,) = policy["Statement"]
    assert sorted(statement["Action"]) == [
        "appconfig:GetLatestConfiguration",
        "appconfig:StartConfigurationSession",
    ]
    assert statement["Resource"].endswith(
        f":application/{app}/environment/{environment}/configuration/{profile}"
    )


def test_converged_plan_changes_nothing_and_makes_no_version(chain, converge, planned):
    appconfig, app, _, profile = chain
    before = appconfig.list_hosted_configuration_versions(ApplicationId=app, ConfigurationProfileId=profile)[
        "Items"
    ]
    # (A second apply is molecule's idempotence step.)
    planned(converge("--check"), 0)
    after = appconfig.list_hosted_configuration_versions(ApplicationId=app, ConfigurationProfileId=profile)[
        "Items"
    ]
    assert after == before


def test_a_flipped_flag_reaches_the_data_plane_and_goes_back(chain, aws, converge, planned, scenario_vars):
    flags = copy.deepcopy(_defaults_flags())
    flags["values"]["stats_replica_reads"] = {"enabled": True, "percentage": 25}
    planned(converge(extra_vars={"aws_appconfig_flags": flags}), 1)
    assert _served(aws) == {"stats_replica_reads": {"enabled": True, "percentage": 25}}
    planned(converge(), 1)
    assert _served(aws) == {"stats_replica_reads": {"enabled": True, "percentage": 100}}


def test_a_bad_flag_document_is_refused_before_any_change(chain, converge, refused):
    appconfig, app, _, profile = chain
    before = appconfig.list_hosted_configuration_versions(ApplicationId=app, ConfigurationProfileId=profile)[
        "Items"
    ]
    flags = copy.deepcopy(_defaults_flags())
    flags["values"]["stats_replica_reads"]["percentage"] = 120
    refused(
        converge(extra_vars={"aws_appconfig_flags": flags}),
        "['values']['stats_replica_reads']['percentage']: 120 is above the maximum 100",
        not_reached="Keep the feature flag document deployed",
    )
    after = appconfig.list_hosted_configuration_versions(ApplicationId=app, ConfigurationProfileId=profile)[
        "Items"
    ]
    assert after == before


def _defaults_flags():
    import pathlib

    import yaml

    defaults = (
        pathlib.Path(__file__).resolve().parents[3] / "roles" / "aws_appconfig" / "defaults" / "main.yml"
    )
    return yaml.safe_load(defaults.read_text())["aws_appconfig_flags"]
