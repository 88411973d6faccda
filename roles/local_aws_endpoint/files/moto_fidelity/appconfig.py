"""AppConfig: environments, deployment strategies, deployments, the data plane (AppConfig Data) and
the validation of feature flag documents, which moto 5.2 lacks.

moto's AppConfig keeps applications, configuration profiles and hosted configuration versions only.
These fixes add, on moto's own backend and URL table, what a feature flag rollout needs:

- ListApplications and ListHostedConfigurationVersions (moto routes neither);
- environments (Create/Get/List/Update/DeleteEnvironment);
- deployment strategies (Create/Get/List/Update/DeleteDeploymentStrategy, with AWS's predefined
  ``AppConfig.*`` strategies listed beside the account's own);
- deployments (Start/Get/List/StopDeployment): a deployment is DEPLOYING for the strategy's
  duration, BAKING for its final bake time, then COMPLETE; a second one while one is in progress is
  a ConflictException; StopDeployment rolls it back;
- the data plane, ``appconfigdata`` (signed with the signing name ``appconfig``, so moto's server
  sends it here): StartConfigurationSession and GetLatestConfiguration, which answers the
  environment's deployed version once per session and an empty body while it has not changed, with
  a new token each time and the session's poll interval; a feature flag profile's answer is the
  flags' values, as AWS serves it;
- CreateHostedConfigurationVersion of an ``AWS.AppConfig.FeatureFlags`` profile refuses a document
  that breaks AWS's schema or its own attribute constraints (BadRequestException), as AWS does.

The endpoint rolls a deployment out to every client at once (AWS moves a growing share of clients
during the strategy's duration); a local deployment strategy lasts 0 minutes, so nothing differs there.
"""

from __future__ import annotations

import base64
import datetime
import json
import pathlib
import re
import secrets
import time

from . import Fix, extend_backend, route_responses

API = "https://docs.aws.amazon.com/appconfig/2019-10-09/APIReference"
DATA_START = f"{API}/API_appconfigdata_StartConfigurationSession.html"
DATA_GET = f"{API}/API_appconfigdata_GetLatestConfiguration.html"
FLAGS_TYPE = (
    "https://docs.aws.amazon.com/appconfig/latest/userguide/appconfig-type-reference-feature-flags.html"
)
PREDEFINED = (
    "https://docs.aws.amazon.com/appconfig/latest/userguide/appconfig-creating-deployment-strategy.html"
)
SCHEMA_FILE = pathlib.Path(__file__).with_name("appconfig_feature_flags.schema.json")

# AWS's predefined deployment strategies (the user guide's table): Id = Name.
PREDEFINED_STRATEGIES = (
    ("AppConfig.Canary10Percent20Minutes", 20, "EXPONENTIAL", 10.0, 10),
    ("AppConfig.Linear50PercentEvery30Seconds", 1, "LINEAR", 50.0, 1),
    ("AppConfig.Linear20PercentEvery6Minutes", 30, "LINEAR", 20.0, 30),
    ("AppConfig.AllAtOnce", 0, "LINEAR", 100.0, 10),
)
IN_PROGRESS = ("DEPLOYING", "BAKING", "VALIDATING")
MIN_POLL, MAX_POLL, DEFAULT_POLL = 15, 86400, 60


def _error(code: str, message: str, status: int = 400):
    from moto.core.exceptions import JsonRESTError

    error = JsonRESTError(code, message)
    error.code = status
    return error


def _not_found(what: str):
    return _error("ResourceNotFoundException", f"{what} not found", 404)


def _iso(epoch: float) -> str:
    return datetime.datetime.fromtimestamp(epoch, datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _random_id() -> str:
    return secrets.token_hex(4)[:7]


def _flag_document_problems(content: str) -> list[str]:
    """Why AWS would refuse content as an AWS.AppConfig.FeatureFlags version (empty: it would not)."""
    import jsonschema

    try:
        document = json.loads(content)
    except ValueError as error:
        return [f"not JSON: {error}"]
    schema = json.loads(SCHEMA_FILE.read_text())
    found = [error.message for error in jsonschema.Draft7Validator(schema).iter_errors(document)]
    if found:
        return found
    flags = document.get("flags") or {}
    for key, value in (document.get("values") or {}).items():
        if key not in flags:
            found.append(f"values.{key}: no such flag")
            continue
        attributes = flags[key].get("attributes") or {}
        for name, given in value.items():
            if name in ("enabled", "_createdAt", "_updatedAt"):
                continue
            constraints = (attributes.get(name) or {}).get("constraints")
            if name not in attributes:
                found.append(f"values.{key}.{name}: no such attribute")
            elif constraints and constraints.get("type") == "number":
                if not isinstance(given, (int, float)) or isinstance(given, bool):
                    found.append(f"values.{key}.{name}: not a number")
                elif given < constraints.get("minimum", given) or given > constraints.get("maximum", given):
                    found.append(f"values.{key}.{name}: outside its minimum and maximum")
            elif constraints and constraints.get("type") == "string":
                if not isinstance(given, str):
                    found.append(f"values.{key}.{name}: not a string")
                elif "enum" in constraints and given not in constraints["enum"]:
                    found.append(f"values.{key}.{name}: not one of its enum")
                elif "pattern" in constraints and not re.search(constraints["pattern"], given):
                    found.append(f"values.{key}.{name}: does not match its pattern")
            elif constraints and constraints.get("type") == "boolean" and not isinstance(given, bool):
                found.append(f"values.{key}.{name}: not a boolean")
        for name, definition in attributes.items():
            if (definition.get("constraints") or {}).get("required") and name not in value:
                found.append(f"values.{key}.{name}: required")
    return found


class AppConfigAsAWS:
    """AppConfig backend with environments, deployment strategies, deployments and configuration
    sessions (moto: applications, profiles and hosted versions only)."""

    def _fidelity(self) -> dict:
        if not hasattr(self, "_fidelity_appconfig"):
            strategies = {
                name: {
                    "Id": name,
                    "Name": name,
                    "Description": "AWS's predefined strategy",
                    "DeploymentDurationInMinutes": duration,
                    "GrowthType": growth_type,
                    "GrowthFactor": growth,
                    "FinalBakeTimeInMinutes": bake,
                    "ReplicateTo": "NONE",
                }
                for name, duration, growth_type, growth, bake in PREDEFINED_STRATEGIES
            }
            self._fidelity_appconfig = {
                "environments": {},
                "strategies": strategies,
                "deployments": {},
                "tokens": {},
            }
        return self._fidelity_appconfig

    # --- environments ----------------------------------------------------------------------------

    def _environments(self, app_id: str) -> dict:
        self.get_application(app_id)
        return self._fidelity()["environments"].setdefault(app_id, {})

    def fidelity_create_environment(self, app_id, name, description, monitors, tags) -> dict:
        environment = {
            "ApplicationId": app_id,
            "Id": _random_id(),
            "Name": name,
            "Description": description or "",
            "State": "ReadyForDeployment",
            "Monitors": monitors or [],
        }
        self._environments(app_id)[environment["Id"]] = environment
        self.tag_resource(self._environment_arn(app_id, environment["Id"]), tags or {})
        return environment

    def _environment_arn(self, app_id: str, env_id: str) -> str:
        prefix = f"arn:aws:appconfig:{self.region_name}:{self.account_id}"
        return f"{prefix}:application/{app_id}/environment/{env_id}"

    def fidelity_get_environment(self, app_id, env_id) -> dict:
        environment = self._environments(app_id).get(env_id)
        if environment is None:
            raise _not_found(f"Environment {env_id}")
        latest = self._latest_deployment(app_id, env_id)
        if latest is not None:
            state = self._deployment_view(latest)["State"]
            environment["State"] = {
                "ROLLED_BACK": "RolledBack",
                "REVERTED": "Reverted",
                "COMPLETE": "ReadyForDeployment",
            }.get(state, "Deploying")
        return environment

    def fidelity_list_environments(self, app_id) -> list:
        return [self.fidelity_get_environment(app_id, env_id) for env_id in list(self._environments(app_id))]

    def fidelity_update_environment(self, app_id, env_id, name, description, monitors) -> dict:
        environment = self.fidelity_get_environment(app_id, env_id)
        if name is not None:
            environment["Name"] = name
        if description is not None:
            environment["Description"] = description
        if monitors is not None:
            environment["Monitors"] = monitors
        return environment

    def fidelity_delete_environment(self, app_id, env_id) -> None:
        self.fidelity_get_environment(app_id, env_id)
        self._environments(app_id).pop(env_id)
        self._fidelity()["deployments"].pop((app_id, env_id), None)

    # --- deployment strategies -------------------------------------------------------------------

    def fidelity_create_deployment_strategy(self, params: dict) -> dict:
        strategy = {
            "Id": _random_id(),
            "Name": params["Name"],
            "Description": params.get("Description", ""),
            "DeploymentDurationInMinutes": params["DeploymentDurationInMinutes"],
            "GrowthType": params.get("GrowthType", "LINEAR"),
            "GrowthFactor": float(params["GrowthFactor"]),
            "FinalBakeTimeInMinutes": params.get("FinalBakeTimeInMinutes", 0),
            "ReplicateTo": params.get("ReplicateTo", "NONE"),
        }
        self._fidelity()["strategies"][strategy["Id"]] = strategy
        arn = f"arn:aws:appconfig:{self.region_name}:{self.account_id}:deploymentstrategy/{strategy['Id']}"
        self.tag_resource(arn, params.get("Tags") or {})
        return strategy

    def fidelity_get_deployment_strategy(self, strategy_id) -> dict:
        strategy = self._fidelity()["strategies"].get(strategy_id)
        if strategy is None:
            raise _not_found(f"Deployment strategy {strategy_id}")
        return strategy

    def fidelity_update_deployment_strategy(self, strategy_id, params: dict) -> dict:
        strategy = self.fidelity_get_deployment_strategy(strategy_id)
        if strategy_id.startswith("AppConfig."):
            raise _error("BadRequestException", "A predefined deployment strategy cannot be changed")
        for key in ("Description", "DeploymentDurationInMinutes", "FinalBakeTimeInMinutes", "GrowthType"):
            if params.get(key) is not None:
                strategy[key] = params[key]
        if params.get("GrowthFactor") is not None:
            strategy["GrowthFactor"] = float(params["GrowthFactor"])
        return strategy

    def fidelity_delete_deployment_strategy(self, strategy_id) -> None:
        self.fidelity_get_deployment_strategy(strategy_id)
        if strategy_id.startswith("AppConfig."):
            raise _error("BadRequestException", "A predefined deployment strategy cannot be deleted")
        self._fidelity()["strategies"].pop(strategy_id)

    # --- deployments -----------------------------------------------------------------------------

    def _latest_deployment(self, app_id, env_id):
        deployments = self._fidelity()["deployments"].get((app_id, env_id)) or []
        return deployments[-1] if deployments else None

    def _deployment_view(self, deployment: dict) -> dict:
        if deployment["State"] in IN_PROGRESS:
            elapsed = (time.time() - deployment["_started"]) / 60
            duration = deployment["DeploymentDurationInMinutes"]
            if elapsed >= duration + deployment["FinalBakeTimeInMinutes"]:
                deployment.update(State="COMPLETE", PercentageComplete=100.0)
                deployment["CompletedAt"] = _iso(
                    deployment["_started"] + 60 * (duration + deployment["FinalBakeTimeInMinutes"])
                )
            elif elapsed >= duration:
                deployment.update(State="BAKING", PercentageComplete=100.0)
            else:
                deployment["PercentageComplete"] = round(100.0 * elapsed / duration, 1) if duration else 100.0
        return {key: value for key, value in deployment.items() if not key.startswith("_")}

    def fidelity_start_deployment(self, app_id, env_id, params: dict) -> dict:
        self.fidelity_get_environment(app_id, env_id)
        strategy = self.fidelity_get_deployment_strategy(params["DeploymentStrategyId"])
        profile = self.get_configuration_profile(app_id, params["ConfigurationProfileId"])
        version = profile.get_version(int(params["ConfigurationVersion"]))
        latest = self._latest_deployment(app_id, env_id)
        if latest is not None and self._deployment_view(latest)["State"] in IN_PROGRESS:
            raise _error(
                "ConflictException",
                f"Deployment number {latest['DeploymentNumber']} is in progress for environment {env_id}",
                409,
            )
        deployments = self._fidelity()["deployments"].setdefault((app_id, env_id), [])
        now = time.time()
        deployment = {
            "ApplicationId": app_id,
            "EnvironmentId": env_id,
            "DeploymentStrategyId": strategy["Id"],
            "ConfigurationProfileId": profile.id,
            "DeploymentNumber": len(deployments) + 1,
            "ConfigurationName": profile.name,
            "ConfigurationLocationUri": profile.location_uri,
            "ConfigurationVersion": str(version.version),
            "Description": params.get("Description", ""),
            "DeploymentDurationInMinutes": strategy["DeploymentDurationInMinutes"],
            "GrowthType": strategy["GrowthType"],
            "GrowthFactor": strategy["GrowthFactor"],
            "FinalBakeTimeInMinutes": strategy["FinalBakeTimeInMinutes"],
            "State": "DEPLOYING",
            "EventLog": [],
            "PercentageComplete": 0.0,
            "StartedAt": _iso(now),
            "VersionLabel": version.version_label or "",
            "_started": now,
        }
        if version.version_label is None:
            deployment.pop("VersionLabel")
        deployments.append(deployment)
        arn = f"{self._environment_arn(app_id, env_id)}/deployment/{deployment['DeploymentNumber']}"
        self.tag_resource(arn, params.get("Tags") or {})
        return self._deployment_view(deployment)

    def _deployment(self, app_id, env_id, number) -> dict:
        self.fidelity_get_environment(app_id, env_id)
        for deployment in self._fidelity()["deployments"].get((app_id, env_id)) or []:
            if deployment["DeploymentNumber"] == int(number):
                return deployment
        raise _not_found(f"Deployment {number}")

    def fidelity_get_deployment(self, app_id, env_id, number) -> dict:
        return self._deployment_view(self._deployment(app_id, env_id, number))

    def fidelity_list_deployments(self, app_id, env_id) -> list:
        self.fidelity_get_environment(app_id, env_id)
        deployments = self._fidelity()["deployments"].get((app_id, env_id)) or []
        keys = (
            "DeploymentNumber",
            "ConfigurationName",
            "ConfigurationVersion",
            "DeploymentDurationInMinutes",
            "GrowthType",
            "GrowthFactor",
            "FinalBakeTimeInMinutes",
            "State",
            "PercentageComplete",
            "StartedAt",
            "CompletedAt",
            "VersionLabel",
        )
        views = [self._deployment_view(deployment) for deployment in reversed(deployments)]
        return [{key: view[key] for key in keys if key in view} for view in views]

    def fidelity_stop_deployment(self, app_id, env_id, number) -> dict:
        deployment = self._deployment(app_id, env_id, number)
        if self._deployment_view(deployment)["State"] not in IN_PROGRESS:
            raise _error("BadRequestException", f"Deployment {number} is not in progress")
        deployment["State"] = "ROLLED_BACK"
        return self._deployment_view(deployment)

    def fidelity_list_hosted_configuration_versions(self, app_id, profile_id) -> list:
        profile = self.get_configuration_profile(app_id, profile_id)
        return [
            {
                "ApplicationId": app_id,
                "ConfigurationProfileId": profile_id,
                "VersionNumber": version.version,
                "Description": version.description or "",
                "ContentType": version.content_type,
                **({"VersionLabel": version.version_label} if version.version_label else {}),
            }
            for version in sorted(profile.config_versions.values(), key=lambda v: v.version, reverse=True)
        ]

    def create_hosted_configuration_version(
        self, app_id, config_profile_id, description, content, content_type, version_label
    ):
        profile = self.get_configuration_profile(app_id, config_profile_id)
        if profile._type == "AWS.AppConfig.FeatureFlags":
            text = content.decode() if isinstance(content, bytes) else content
            problems = _flag_document_problems(text)
            if problems:
                raise _error("BadRequestException", "Invalid feature flag document: " + "; ".join(problems))
        return super().create_hosted_configuration_version(
            app_id, config_profile_id, description, content, content_type, version_label
        )

    # --- the data plane --------------------------------------------------------------------------

    def _find(self, items, identifier: str, what: str):
        for item in items:
            if identifier in (item["Id"], item["Name"]):
                return item
        raise _not_found(what)

    def fidelity_start_configuration_session(self, params: dict) -> str:
        interval = params.get("RequiredMinimumPollIntervalInSeconds")
        if interval is not None and not MIN_POLL <= int(interval) <= MAX_POLL:
            raise _error(
                "BadRequestException",
                f"RequiredMinimumPollIntervalInSeconds must be {MIN_POLL} to {MAX_POLL}",
            )
        app = self._find(
            [a.to_json() for a in self.applications.values()], params["ApplicationIdentifier"], "Application"
        )
        environment = self._find(
            self.fidelity_list_environments(app["Id"]), params["EnvironmentIdentifier"], "Environment"
        )
        profile = self._find(
            [p.to_json() for p in self.get_application(app["Id"]).config_profiles.values()],
            params["ConfigurationProfileIdentifier"],
            "Configuration profile",
        )
        return self._token(
            {
                "app": app["Id"],
                "env": environment["Id"],
                "profile": profile["Id"],
                "interval": int(interval or DEFAULT_POLL),
                "seen": None,
            }
        )

    def _token(self, session: dict) -> str:
        token = base64.urlsafe_b64encode(secrets.token_bytes(48)).decode()
        self._fidelity()["tokens"][token] = {**session, "expires": time.time() + 24 * 3600}
        return token

    def fidelity_get_latest_configuration(self, token: str) -> tuple[str, dict, bytes, str | None]:
        session = self._fidelity()["tokens"].pop(token, None)
        if session is None or session["expires"] < time.time():
            raise _error(
                "BadRequestException", "The configuration token is not valid (each token is valid once)"
            )
        deployed = None
        for deployment in reversed(
            self._fidelity()["deployments"].get((session["app"], session["env"])) or []
        ):
            view = self._deployment_view(deployment)
            if view["ConfigurationProfileId"] == session["profile"] and view["State"] not in ("ROLLED_BACK",):
                deployed = view
                break
        if deployed is None:
            raise _not_found("Deployed configuration")
        profile = self.get_configuration_profile(session["app"], session["profile"])
        version = profile.get_version(int(deployed["ConfigurationVersion"]))
        key = (deployed["DeploymentNumber"], version.version)
        body, label = b"", None
        if session["seen"] != key:
            content = version.content.encode() if isinstance(version.content, str) else version.content
            if profile._type == "AWS.AppConfig.FeatureFlags":
                document = json.loads(content)
                content = json.dumps(
                    {
                        flag: {k: v for k, v in value.items() if k not in ("_createdAt", "_updatedAt")}
                        for flag, value in (document.get("values") or {}).items()
                    }
                ).encode()
            body, label = content, version.version_label
        next_token = self._token({**session, "seen": key})
        return (
            next_token,
            {"interval": session["interval"], "content_type": version.content_type},
            body,
            label,
        )


class AppConfigResponses:
    """AppConfig responses of the operations AppConfigAsAWS adds."""

    def _params(self) -> dict:
        try:
            return json.loads(self.body) if self.body else {}
        except ValueError:
            return {}

    def _uri(self, name: str) -> str:
        return self.uri_match[name]

    def list_applications(self):
        return json.dumps({"Items": [app.to_json() for app in self.appconfig_backend.applications.values()]})

    def create_environment(self):
        params = self._params()
        environment = self.appconfig_backend.fidelity_create_environment(
            self._uri("ApplicationId"),
            params["Name"],
            params.get("Description"),
            params.get("Monitors"),
            params.get("Tags"),
        )
        return 201, {"status": 201}, json.dumps(environment)

    def get_environment(self):
        return json.dumps(
            self.appconfig_backend.fidelity_get_environment(
                self._uri("ApplicationId"), self._uri("EnvironmentId")
            )
        )

    def list_environments(self):
        items = self.appconfig_backend.fidelity_list_environments(self._uri("ApplicationId"))
        return json.dumps({"Items": items})

    def update_environment(self):
        params = self._params()
        environment = self.appconfig_backend.fidelity_update_environment(
            self._uri("ApplicationId"),
            self._uri("EnvironmentId"),
            params.get("Name"),
            params.get("Description"),
            params.get("Monitors"),
        )
        return json.dumps(environment)

    def delete_environment(self):
        self.appconfig_backend.fidelity_delete_environment(
            self._uri("ApplicationId"), self._uri("EnvironmentId")
        )
        return 204, {"status": 204}, ""

    def create_deployment_strategy(self):
        strategy = self.appconfig_backend.fidelity_create_deployment_strategy(self._params())
        return 201, {"status": 201}, json.dumps(strategy)

    def get_deployment_strategy(self):
        return json.dumps(
            self.appconfig_backend.fidelity_get_deployment_strategy(self._uri("DeploymentStrategyId"))
        )

    def list_deployment_strategies(self):
        return json.dumps({"Items": list(self.appconfig_backend._fidelity()["strategies"].values())})

    def update_deployment_strategy(self):
        strategy = self.appconfig_backend.fidelity_update_deployment_strategy(
            self._uri("DeploymentStrategyId"), self._params()
        )
        return json.dumps(strategy)

    def delete_deployment_strategy(self):
        self.appconfig_backend.fidelity_delete_deployment_strategy(self._uri("DeploymentStrategyId"))
        return 204, {"status": 204}, ""

    def start_deployment(self):
        deployment = self.appconfig_backend.fidelity_start_deployment(
            self._uri("ApplicationId"), self._uri("EnvironmentId"), self._params()
        )
        return 201, {"status": 201}, json.dumps(deployment)

    def get_deployment(self):
        deployment = self.appconfig_backend.fidelity_get_deployment(
            self._uri("ApplicationId"), self._uri("EnvironmentId"), self._uri("DeploymentNumber")
        )
        return json.dumps(deployment)

    def list_deployments(self):
        items = self.appconfig_backend.fidelity_list_deployments(
            self._uri("ApplicationId"), self._uri("EnvironmentId")
        )
        return json.dumps({"Items": items})

    def stop_deployment(self):
        deployment = self.appconfig_backend.fidelity_stop_deployment(
            self._uri("ApplicationId"), self._uri("EnvironmentId"), self._uri("DeploymentNumber")
        )
        return 202, {"status": 202}, json.dumps(deployment)

    def list_hosted_configuration_versions(self):
        items = self.appconfig_backend.fidelity_list_hosted_configuration_versions(
            self._uri("ApplicationId"), self._uri("ConfigurationProfileId")
        )
        return json.dumps({"Items": items})


class AppConfigDataResponse:
    """The AppConfig Data API (appconfigdata): StartConfigurationSession, GetLatestConfiguration."""

    @property
    def appconfig_backend(self):
        from moto.appconfig.models import appconfig_backends

        return appconfig_backends[self.current_account][self.region]

    def start_configuration_session(self):
        token = self.appconfig_backend.fidelity_start_configuration_session(json.loads(self.body or "{}"))
        return 201, {"status": 201}, json.dumps({"InitialConfigurationToken": token})

    def get_latest_configuration(self):
        token = (self.querystring.get("configuration_token") or [""])[0]
        next_token, settings, body, label = self.appconfig_backend.fidelity_get_latest_configuration(token)
        headers = {
            "status": 200,
            "Next-Poll-Configuration-Token": next_token,
            "Next-Poll-Interval-In-Seconds": str(settings["interval"]),
            "Content-Type": settings["content_type"] or "application/octet-stream",
        }
        if label:
            headers["Version-Label"] = label
        return 200, headers, body


def _apply() -> None:
    from moto.appconfig import urls
    from moto.appconfig.responses import AppConfigResponse
    from moto.core.responses import BaseResponse

    extend_backend("moto.appconfig.models", "appconfig_backends", AppConfigAsAWS)
    response = type("FaithfulAppConfigResponse", (AppConfigResponses, AppConfigResponse), {})
    route_responses("moto.appconfig.urls", AppConfigResponse, response)
    app = "{0}/applications/(?P<app_id>[^/]+)"
    environment = app + "/environments/(?P<environment_id>[^/]+)"
    for path in (
        app + "/environments$",
        environment + "$",
        environment + "/deployments$",
        environment + "/deployments/(?P<deployment_number>[^/]+)$",
        "{0}/deploymentstrategies$",
        "{0}/deploymentstrategies/(?P<strategy_id>[^/]+)$",
        # DeleteDeploymentStrategy's path, spelt so by AWS
        "{0}/deployementstrategies/(?P<strategy_id>[^/]+)$",
    ):
        urls.url_paths[path] = response.dispatch

    class FaithfulAppConfigDataResponse(AppConfigDataResponse, BaseResponse):
        def __init__(self) -> None:
            super().__init__(service_name="appconfigdata")

    urls.url_paths["{0}/configurationsessions$"] = FaithfulAppConfigDataResponse.dispatch
    urls.url_paths["{0}/configuration$"] = FaithfulAppConfigDataResponse.dispatch


FIXES = [
    Fix(
        service="appconfig",
        name="feature-flag-rollout",
        summary=(
            "environments, deployment strategies (AWS's predefined AppConfig.* listed), deployments "
            "(DEPLOYING for the strategy's duration, BAKING, COMPLETE; ConflictException while one is in "
            "progress), ListApplications, ListHostedConfigurationVersions, and a feature flag document that "
            "breaks AWS's schema or its constraints refused (BadRequestException) (moto: none of these)"
        ),
        reference=(
            f"{API}/API_CreateEnvironment.html; {API}/API_CreateDeploymentStrategy.html; "
            f"{API}/API_StartDeployment.html; {API}/API_ListApplications.html; "
            f"{API}/API_ListHostedConfigurationVersions.html; {FLAGS_TYPE}; {PREDEFINED}"
        ),
        upstream="not in moto 5.2.6 (appconfig/urls.py routes applications and configuration profiles only)",
        apply=_apply,
    ),
    Fix(
        service="appconfigdata",
        name="configuration-sessions",
        summary=(
            "StartConfigurationSession and GetLatestConfiguration: the deployed version once per session "
            "(a feature flag profile's flag values), then an empty body until it changes, a new single-use "
            "token and the session's poll interval each time (moto: no appconfigdata)"
        ),
        reference=f"{DATA_START}; {DATA_GET}",
        upstream="not in moto 5.2.6 (no appconfigdata service)",
        apply=lambda: None,  # routed by the appconfig fix (the same signing name, one URL table)
    ),
]
