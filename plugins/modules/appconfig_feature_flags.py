#!/usr/bin/python
# Copyright: GiftCrypto platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: appconfig_feature_flags
short_description: Keep an AWS AppConfig feature flag document deployed to an environment
version_added: 0.1.0
description:
  - Keeps the feature flags of one application's environment in AWS AppConfig as the options describe
    them, the whole chain in one task - the application, the environment, a configuration profile of
    type C(AWS.AppConfig.FeatureFlags) (hosted), a deployment strategy, the hosted configuration
    version holding the flag document and its deployment to the environment.
  - Idempotent by content - the document deployed to the environment (the latest deployment of the
    profile that was not rolled back) is read back and compared with O(content), ignoring the
    timestamps AppConfig adds; a new hosted configuration version is created and deployed only when
    they differ, so a run that changes nothing creates no version and starts no deployment.
  - The document is checked before any call against AWS's C(AWS.AppConfig.FeatureFlags) schema and
    the constraints its attributes declare (what C(CreateHostedConfigurationVersion) would refuse), and
    each flag in O(gated_flags) must declare a C(percentage) attribute constrained to a required number
    from 0 to 100; a bad document is refused, naming where it breaks which rule.
  - Fills a gap, neither amazon.aws nor community.aws ships a module for AWS AppConfig (the
    C(CreateApplication), C(CreateEnvironment), C(CreateConfigurationProfile),
    C(CreateDeploymentStrategy), C(CreateHostedConfigurationVersion) and C(StartDeployment) APIs).
author:
  - GiftCrypto platform team (@giftcrypto)
requirements:
  - jsonschema >= 4.23
options:
  application:
    description: Name of the AppConfig application (1 to 64 characters), unique in the region.
    type: str
    required: true
  environment:
    description: Name of the application's environment the flags are deployed to (1 to 64 characters).
    type: str
    required: true
  configuration_profile:
    description: Name of the feature flag configuration profile (1 to 128 characters).
    type: str
    default: feature-flags
  content:
    description:
      - The feature flag document (C(version), C(flags), C(values)), as the C(AWS.AppConfig.FeatureFlags)
        type reference describes it. Required with O(state=present).
    type: dict
  gated_flags:
    description:
      - "Flags the application rolls out to a percentage of its users - each must be defined, have a value,
        and declare a C(percentage) attribute with the constraints
        C({type: number, required: true, minimum: 0, maximum: 100}), so that AppConfig itself refuses a
        percentage out of range whoever deploys it."
    type: list
    elements: str
    default: []
  deployment_strategy:
    description:
      - How a changed document reaches the environment's clients.
      - A name starting with C(AppConfig.) is one of AWS's predefined strategies (C(AppConfig.AllAtOnce),
        C(AppConfig.Linear50PercentEvery30Seconds)...), used as it is; any other name is a strategy of the
        account that the module creates and keeps with the settings below.
    type: dict
    required: true
    suboptions:
      name:
        description: Name of the strategy (1 to 64 characters).
        type: str
        required: true
      deployment_duration_in_minutes:
        description: Minutes the rollout takes (0 to 1440).
        type: int
        default: 0
      growth_factor:
        description: Percentage of the clients that receive the document at each step (1 to 100).
        type: float
        default: 100
      growth_type:
        description: How the share of clients grows at each step.
        type: str
        choices: [LINEAR, EXPONENTIAL]
        default: LINEAR
      final_bake_time_in_minutes:
        description: Minutes AppConfig watches the environment's alarms after the rollout (0 to 1440).
        type: int
        default: 0
  description:
    description: Description of the application, environment and profile the module creates.
    type: str
    default: Feature flags, kept by giftcrypto.platform
notes:
  - The tags are set on the application, the environment, the profile and the account's own strategy;
    the application's tags are the ones compared.
  - A deployment already in progress on the environment (another document rolling out) makes AWS refuse
    a new one (C(ConflictException)); the run fails, naming it.
  - With O(wait), the run waits until the document has reached every client (the deployment is
    C(BAKING) or C(COMPLETE)) and fails if AppConfig rolled it back; without it, the run returns as soon
    as the deployment has started (a gradual strategy can take its duration).
  - O(state=absent) deletes the environment, the profile and its hosted versions, the account's own
    strategy and the application (when nothing else is left in it).
extends_documentation_fragment:
  - giftcrypto.platform.aws_resource
  - giftcrypto.platform.aws_resource.state
  - giftcrypto.platform.aws_resource.wait
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.tags
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: The API's flags in production, rolled out linearly over 20 minutes, then watched for 10
  giftcrypto.platform.appconfig_feature_flags:
    application: giftcrypto-production
    environment: production
    gated_flags: [stats_replica_reads]
    deployment_strategy:
      name: giftcrypto-production-linear
      deployment_duration_in_minutes: 20
      growth_factor: 20
      final_bake_time_in_minutes: 10
    content:
      version: "1"
      flags:
        stats_replica_reads:
          name: Stats from the read replica
          attributes:
            percentage:
              constraints: {type: number, required: true, minimum: 0, maximum: 100}
      values:
        stats_replica_reads: {enabled: true, percentage: 10}
    wait: false
    tags:
      Project: GiftCrypto

- name: Delete the flags of an environment
  giftcrypto.platform.appconfig_feature_flags:
    application: giftcrypto-staging
    environment: staging
    deployment_strategy: {name: AppConfig.AllAtOnce}
    state: absent
"""

RETURN = r"""
planned:
  description: What the run did or would do (the collection's result contract).
  returned: always
  type: str
  sample: update
changes:
  description:
    - What differs - C(application), C(environment), C(profile), C(deployment_strategy), C(content),
      C(tags).
  returned: always
  type: list
  elements: str
  sample: [content]
unverified:
  description: What the run could not verify (nothing here).
  returned: always
  type: list
  elements: str
  sample: []
feature_flags:
  description: The chain as compared by the module; empty when absent.
  returned: always
  type: dict
  sample:
    application: giftcrypto-production
    environment: production
    profile: feature-flags
    deployment_strategy:
      name: giftcrypto-production-linear
      deployment_duration_in_minutes: 20
      growth_factor: 20.0
      growth_type: LINEAR
      final_bake_time_in_minutes: 10
    content: {version: "1", flags: {}, values: {}}
    version_number: 3
    deployment_number: 3
    deployment_state: COMPLETE
    tags: {Project: GiftCrypto}
application_id:
  description: Id of the application (empty when absent).
  returned: always
  type: str
  sample: abc1234
environment_id:
  description: Id of the environment (empty when absent).
  returned: always
  type: str
  sample: def5678
profile_id:
  description: Id of the configuration profile (empty when absent).
  returned: always
  type: str
  sample: ghi9012
configuration_arn:
  description:
    - ARN of the configuration the application reads (C(appconfig:StartConfigurationSession) and
      C(appconfig:GetLatestConfiguration) apply to it); empty when absent.
  returned: always
  type: str
  sample: arn:aws:appconfig:us-east-1:123456789012:application/abc1234/environment/def5678/configuration/gh90
"""

import json
from typing import Any, ClassVar

from ansible.module_utils.basic import missing_required_lib
from ansible_collections.amazon.aws.plugins.module_utils.iam import get_aws_account_info
from ansible_collections.giftcrypto.platform.plugins.module_utils import appconfig_flags
from ansible_collections.giftcrypto.platform.plugins.module_utils.aws_resource import (
    AWSResource,
    ResourceProblem,
    run,
    tag_by_arn_dict,
)

STRATEGY = {
    "name": {"type": "str", "required": True},
    "deployment_duration_in_minutes": {"type": "int", "default": 0},
    "growth_factor": {"type": "float", "default": 100},
    "growth_type": {"type": "str", "default": "LINEAR", "choices": ["LINEAR", "EXPONENTIAL"]},
    "final_bake_time_in_minutes": {"type": "int", "default": 0},
}
STRATEGY_KEYS = {
    "deployment_duration_in_minutes": "DeploymentDurationInMinutes",
    "growth_factor": "GrowthFactor",
    "growth_type": "GrowthType",
    "final_bake_time_in_minutes": "FinalBakeTimeInMinutes",
}
PREDEFINED = "AppConfig."
ROLLED_OUT = ("BAKING", "COMPLETE")
NOT_FOUND = ("ResourceNotFoundException",)


def _strategy_view(strategy: dict) -> dict:
    view = {"name": strategy["Name"]}
    view.update({option: strategy.get(key) for option, key in STRATEGY_KEYS.items()})
    view["growth_factor"] = float(strategy.get("GrowthFactor") or 0)
    return view


class FeatureFlags(AWSResource):
    service = "appconfig"
    resource = "feature_flags"
    noun = "AppConfig feature flags"
    not_found: ClassVar[tuple[str, ...]] = NOT_FOUND
    shared: ClassVar[tuple[str, ...]] = ("state", "tags", "purge_tags", "wait", "wait_timeout")
    options: ClassVar[dict] = {
        "application": {"type": "str", "required": True},
        "environment": {"type": "str", "required": True},
        "configuration_profile": {"type": "str", "default": "feature-flags"},
        "content": {"type": "dict"},
        "gated_flags": {"type": "list", "elements": "str", "default": []},
        "deployment_strategy": {"type": "dict", "required": True, "options": STRATEGY},
        "description": {"type": "str", "default": "Feature flags, kept by giftcrypto.platform"},
    }
    module_kwargs: ClassVar[dict] = {"required_if": [("state", "present", ["content"])]}

    #: what describe() found: ids, the strategy, the deployment ({} for a part that is missing)
    found: dict[str, Any]
    _partition_account = None  # (partition, account), asked once

    def name(self, view):
        params = self.params
        return f"{params['application']}/{params['environment']}/{params['configuration_profile']}"

    def validate(self):
        if not appconfig_flags.HAS_JSONSCHEMA:
            self.module.fail_json(msg=missing_required_lib("jsonschema"))
        problems = {}
        for option, longest in (("application", 64), ("environment", 64), ("configuration_profile", 128)):
            value = self.params[option]
            if not 1 <= len(value or "") <= longest:
                problems[option] = f"{value!r}: 1 to {longest} characters"
        strategy = self.params["deployment_strategy"]
        if not 1 <= len(strategy["name"]) <= 64:
            problems["deployment_strategy.name"] = f"{strategy['name']!r}: 1 to 64 characters"
        elif not strategy["name"].startswith(PREDEFINED):
            for option, low, high in (
                ("deployment_duration_in_minutes", 0, 1440),
                ("final_bake_time_in_minutes", 0, 1440),
                ("growth_factor", 1, 100),
            ):
                if not low <= strategy[option] <= high:
                    problems[f"deployment_strategy.{option}"] = f"{strategy[option]!r}: {low} to {high}"
        if self.params["state"] == "present" and self.params["content"] is not None:
            found = appconfig_flags.problems(self.params["content"], self.params["gated_flags"])
            if found:
                problems["content"] = "the feature flag document breaks AWS's rules: " + "; ".join(found)
        return problems

    # --- reading ---------------------------------------------------------------------------------

    def _by_name(self, operation: str, name: str, **kwargs) -> dict:
        items = self.paginate(operation, **kwargs).get("Items", [])
        return next((item for item in items if item.get("Name") == name), {})

    def _arn(self, resource: str) -> str:
        if self._partition_account is None:
            account, partition = get_aws_account_info(self.module)
            self._partition_account = (partition, account)
        partition, account = self._partition_account
        return f"arn:{partition}:appconfig:{self.module.region}:{account}:{resource}"

    def describe(self):
        params = self.params
        # The strategy first: a predefined one (or the account's) is needed even for a new application.
        self.found = {
            "strategy": self._by_name("list_deployment_strategies", params["deployment_strategy"]["name"])
        }
        app = self._by_name("list_applications", params["application"])
        if not app:
            return None
        self.found["application"] = app
        self.found["environment"] = self._by_name(
            "list_environments", params["environment"], ApplicationId=app["Id"]
        )
        self.found["profile"] = self._by_name(
            "list_configuration_profiles", params["configuration_profile"], ApplicationId=app["Id"]
        )
        self.found["tags"] = self.client.list_tags_for_resource(
            aws_retry=True, ResourceArn=self._arn(f"application/{app['Id']}")
        ).get("Tags", {})
        self.found["deployment"], self.found["content"] = {}, None
        environment, profile = self.found["environment"], self.found["profile"]
        if environment and profile:
            deployments = self.paginate(
                "list_deployments", ApplicationId=app["Id"], EnvironmentId=environment["Id"]
            ).get("Items", [])
            mine = sorted(
                (d for d in deployments if d.get("ConfigurationName") == profile["Name"]),
                key=lambda d: d["DeploymentNumber"],
            )
            # The latest deployment (its state: rolling out, rolled back...), and the latest one that was
            # not rolled back (what the environment's clients have: its document is compared).
            self.found["latest"] = mine[-1] if mine else {}
            deployed = [d for d in mine if d["State"] != "ROLLED_BACK"]
            if deployed:
                latest = deployed[-1]
                self.found["deployment"] = latest
                version = self.client.get_hosted_configuration_version(
                    aws_retry=True,
                    ApplicationId=app["Id"],
                    ConfigurationProfileId=profile["Id"],
                    VersionNumber=int(latest["ConfigurationVersion"]),
                )
                body = version["Content"].read()
                try:
                    self.found["content"] = json.loads(body)
                except ValueError:
                    self.found["content"] = {"unreadable": body.decode(errors="replace")}
        return self.found

    def view(self, described):
        strategy = described.get("strategy") or {}
        deployment = described.get("deployment") or {}
        latest = described.get("latest") or {}
        profile = described.get("profile") or {}
        content = described.get("content")
        return {
            "application": described["application"]["Name"],
            "environment": (described.get("environment") or {}).get("Name"),
            "profile": profile.get("Name"),
            "profile_type": profile.get("Type"),
            "deployment_strategy": _strategy_view(strategy) if strategy else None,
            "content": appconfig_flags.comparable(content) if isinstance(content, dict) else content,
            "version_number": int(deployment["ConfigurationVersion"]) if deployment else None,
            "deployment_number": latest.get("DeploymentNumber"),
            "deployment_state": latest.get("State"),
            "tags": described.get("tags") or {},
        }

    def plan(self, current):
        strategy = self.params["deployment_strategy"]
        if strategy["name"].startswith(PREDEFINED):
            planned_strategy = (current or {}).get("deployment_strategy") or {"name": strategy["name"]}
        else:
            planned_strategy = {
                "name": strategy["name"],
                **{option: strategy[option] for option in STRATEGY_KEYS},
            }
            planned_strategy["growth_factor"] = float(strategy["growth_factor"])
        if current and current.get("profile_type") not in (None, appconfig_flags.TYPE):
            raise ResourceProblem(
                f"the profile {self.params['configuration_profile']!r} is of type "
                f"{current['profile_type']!r}, not "
                f"{appconfig_flags.TYPE!r} (a profile's type cannot change: choose another name)"
            )
        return {
            "application": self.params["application"],
            "environment": self.params["environment"],
            "profile": self.params["configuration_profile"],
            "profile_type": appconfig_flags.TYPE,
            "deployment_strategy": planned_strategy,
            "content": appconfig_flags.comparable(self.params["content"]),
        }

    # --- changing --------------------------------------------------------------------------------

    def create(self, planned):
        self._ensure(planned, sorted(planned))

    def update(self, current, planned, changes):
        self._ensure(planned, changes)

    def _tags(self) -> dict:
        return {"Tags": self.params["tags"]} if self.params.get("tags") else {}

    def _ensure(self, planned: dict, changes: list[str]) -> None:
        client, found, params = self.client, self.found, self.params
        description = params["description"]
        if not found.get("application"):
            found["application"] = client.create_application(
                aws_retry=True, Name=params["application"], Description=description, **self._tags()
            )
        app = found["application"]["Id"]
        if not found.get("environment"):
            found["environment"] = client.create_environment(
                aws_retry=True,
                ApplicationId=app,
                Name=params["environment"],
                Description=description,
                **self._tags(),
            )
        if not found.get("profile"):
            found["profile"] = client.create_configuration_profile(
                aws_retry=True,
                ApplicationId=app,
                Name=params["configuration_profile"],
                Description=description,
                LocationUri="hosted",
                Type=appconfig_flags.TYPE,
                **self._tags(),
            )
        strategy = planned["deployment_strategy"]
        if not found.get("strategy"):
            if strategy["name"].startswith(PREDEFINED):
                raise ResourceProblem(f"AWS has no predefined deployment strategy {strategy['name']!r}")
            found["strategy"] = client.create_deployment_strategy(
                aws_retry=True,
                Name=strategy["name"],
                ReplicateTo="NONE",
                **{key: strategy[option] for option, key in STRATEGY_KEYS.items()},
                **self._tags(),
            )
        elif "deployment_strategy" in changes and not strategy["name"].startswith(PREDEFINED):
            found["strategy"] = client.update_deployment_strategy(
                aws_retry=True,
                DeploymentStrategyId=found["strategy"]["Id"],
                **{key: strategy[option] for option, key in STRATEGY_KEYS.items()},
            )
        if "content" in changes or not found.get("deployment"):
            version = client.create_hosted_configuration_version(
                aws_retry=True,
                ApplicationId=app,
                ConfigurationProfileId=found["profile"]["Id"],
                Content=json.dumps(self.params["content"], sort_keys=True).encode(),
                ContentType=appconfig_flags.CONTENT_TYPE,
                Description="giftcrypto.platform.appconfig_feature_flags",
            )
            found["deployment"] = client.start_deployment(
                aws_retry=True,
                ApplicationId=app,
                EnvironmentId=found["environment"]["Id"],
                DeploymentStrategyId=found["strategy"]["Id"],
                ConfigurationProfileId=found["profile"]["Id"],
                ConfigurationVersion=str(version["VersionNumber"]),
                Description="giftcrypto.platform.appconfig_feature_flags",
            )

    def tag(self, current, to_set, to_unset):
        resources = [f"application/{self.found['application']['Id']}"]
        if self.found.get("environment"):
            resources.append(f"{resources[0]}/environment/{self.found['environment']['Id']}")
        if self.found.get("profile"):
            resources.append(f"{resources[0]}/configurationprofile/{self.found['profile']['Id']}")
        strategy = self.found.get("strategy") or {}
        if strategy and not strategy["Id"].startswith(PREDEFINED):
            resources.append(f"deploymentstrategy/{strategy['Id']}")
        for resource in resources:
            tag_by_arn_dict(self.client, self._arn(resource), to_set, to_unset)

    def wait(self, goal):
        if goal != "present":
            return
        view = self.poll(
            lambda view: view.get("deployment_state") in (*ROLLED_OUT, "ROLLED_BACK", None),
            "rolled out to every client",
        )
        if view.get("deployment_state") == "ROLLED_BACK":
            raise ResourceProblem(
                f"AppConfig rolled the deployment back (deployment {view.get('deployment_number')}): "
                "an alarm of the environment fired, or it was stopped"
            )

    def delete(self, current):
        client, found = self.client, self.found
        app = found["application"]["Id"]
        if found.get("environment"):
            client.delete_environment(
                aws_retry=True, ApplicationId=app, EnvironmentId=found["environment"]["Id"]
            )
        if found.get("profile"):
            profile = found["profile"]["Id"]
            versions = self.paginate(
                "list_hosted_configuration_versions", ApplicationId=app, ConfigurationProfileId=profile
            ).get("Items", [])
            for version in versions:
                client.delete_hosted_configuration_version(
                    aws_retry=True,
                    ApplicationId=app,
                    ConfigurationProfileId=profile,
                    VersionNumber=version["VersionNumber"],
                )
            client.delete_configuration_profile(
                aws_retry=True, ApplicationId=app, ConfigurationProfileId=profile
            )
        strategy = found.get("strategy") or {}
        if strategy and not strategy["Id"].startswith(PREDEFINED):
            client.delete_deployment_strategy(aws_retry=True, DeploymentStrategyId=strategy["Id"])
        left = self.paginate("list_environments", ApplicationId=app).get("Items", []) or self.paginate(
            "list_configuration_profiles", ApplicationId=app
        ).get("Items", [])
        if not left:
            client.delete_application(aws_retry=True, ApplicationId=app)

    def outputs(self, view):
        found = getattr(self, "found", None) or {}
        if not view:
            return {"application_id": "", "environment_id": "", "profile_id": "", "configuration_arn": ""}
        app = (found.get("application") or {}).get("Id", "")
        environment = (found.get("environment") or {}).get("Id", "")
        profile = (found.get("profile") or {}).get("Id", "")
        arn = ""
        if app and environment and profile:
            arn = self._arn(f"application/{app}/environment/{environment}/configuration/{profile}")
        return {
            "application_id": app,
            "environment_id": environment,
            "profile_id": profile,
            "configuration_arn": arn,
        }


def main():
    run(FeatureFlags)


if __name__ == "__main__":
    main()
