"""What aws_observability built, read back from the scenario's AWS endpoint with boto3, and how the
role behaves on bad input, on a converged account (plan) and on an account without the baseline."""

import json

import pytest

NAME = "gcobs-local"
REQUIRED_TAGS = {"Project", "Environment", "ManagedBy", "CostCenter"}
LOG_GROUPS = {"/gcobs/local/application": 30, "/gcobs/local/audit": 365}
TOKEN = "molecule-token-7f3a9c"
SUBSCRIPTIONS = {
    "critical": {
        ("email", "oncall@giftcrypto.example"),
        ("https", f"https://events.pagerduty.example/integration/{TOKEN}/enqueue"),
        ("sms", "+15555550123"),
    },
    "warning": {("email", "platform-team@giftcrypto.example")},
}
NODES = ("gcobs-local-001", "gcobs-local-002", "gcobs-local-003")
# Alarm name -> (severity, namespace, metric, dimension value, threshold)
ALARMS = {
    f"{NAME}-rds-cpu": ("warning", "AWS/RDS", "CPUUtilization", NAME, 80.0),
    f"{NAME}-rds-free-storage": ("critical", "AWS/RDS", "FreeStorageSpace", NAME, 10 * 1024**3),
    f"{NAME}-rds-connections": ("warning", "AWS/RDS", "DatabaseConnections", NAME, 400.0),
    f"{NAME}-rds-replica-lag-gcobs-local-replica-1": (
        "warning",
        "AWS/RDS",
        "ReplicaLag",
        "gcobs-local-replica-1",
        30.0,
    ),
    **{
        f"{NAME}-redis-{kind}-{node}": ("warning", "AWS/ElastiCache", metric, node, threshold)
        for node in NODES
        for kind, metric, threshold in (
            ("cpu", "EngineCPUUtilization", 80.0),
            ("memory", "DatabaseMemoryUsagePercentage", 80.0),
            ("evictions", "Evictions", 100.0),
        )
    },
    f"{NAME}-alb-p95-response-time": ("warning", "AWS/ApplicationELB", "TargetResponseTime", None, 1.0),
    f"{NAME}-eks-node-count": ("critical", "ContainerInsights", "cluster_node_count", NAME, 2.0),
}
MATH_ALARM = f"{NAME}-alb-5xx-rate"
WARNING_ONLY = {
    "critical": [],
    "warning": [{"protocol": "email", "endpoint": "platform-team@giftcrypto.example"}],
}


@pytest.fixture(scope="module")
def logs_key_arn(kms_key):
    return kms_key(f"alias/{NAME}-logs")["Arn"]


@pytest.fixture(scope="module")
def topics(aws):
    arns = [t["TopicArn"] for t in aws("sns").list_topics()["Topics"]]
    return {
        severity: next(a for a in arns if a.endswith(f":{NAME}-{severity}")) for severity in SUBSCRIPTIONS
    }


@pytest.fixture(scope="module")
def alarms(aws):
    found = aws("cloudwatch").describe_alarms(AlarmNamePrefix=f"{NAME}-")["MetricAlarms"]
    return {a["AlarmName"]: a for a in found}


@pytest.fixture(scope="module")
def load_balancer_dimension(aws):
    (alb,) = aws("elbv2").describe_load_balancers(Names=[NAME])["LoadBalancers"]
    return alb["LoadBalancerArn"].split(":loadbalancer/")[1]


@pytest.fixture(scope="module")
def dashboard(aws):
    found = aws("cloudwatch").get_dashboard(DashboardName=f"{NAME}-overview")
    return json.loads(found["DashboardBody"])


# --- Log groups ------------------------------------------------------------------------------


def test_log_groups_keep_their_retention_encrypted_with_the_logs_key(logs_key_arn, aws):
    logs = aws("logs")
    found = {
        g["logGroupName"]: g for g in logs.describe_log_groups(logGroupNamePrefix="/gcobs/")["logGroups"]
    }
    assert set(found) == set(LOG_GROUPS)
    for name, days in LOG_GROUPS.items():
        assert found[name]["retentionInDays"] == days, name
        assert found[name]["kmsKeyId"] == logs_key_arn, name
        group_tags = logs.list_tags_log_group(logGroupName=name)["tags"]
        assert set(group_tags) >= REQUIRED_TAGS, name
        assert group_tags["Name"] == name


# --- Topics and subscriptions ------------------------------------------------------------------


def test_topics_are_still_the_baselines(topics, logs_key_arn, aws):
    """The layer subscribes to the topics but leaves their name, encryption and policy alone."""
    sns = aws("sns")
    for severity, arn in topics.items():
        attributes = sns.get_topic_attributes(TopicArn=arn)["Attributes"]
        assert attributes["DisplayName"] == f"GiftCrypto {severity}"
        assert attributes["KmsMasterKeyId"] == logs_key_arn
        sids = {s["Sid"] for s in json.loads(attributes["Policy"])["Statement"]}
        assert "AlertPublishersOfThisAccount" in sids


def test_each_topic_has_exactly_the_inventorys_subscriptions(topics, aws):
    """The critical and warning subscriptions from the inventory; the unlisted one prepare made is gone."""
    sns = aws("sns")
    for severity, arn in topics.items():
        found = sns.list_subscriptions_by_topic(TopicArn=arn)["Subscriptions"]
        assert {(s["Protocol"], s["Endpoint"]) for s in found} == SUBSCRIPTIONS[severity], severity


def test_the_https_token_is_not_in_the_molecule_output(ansible_log):
    text = ansible_log()
    assert "Ensure the inventory's subscriptions of the alert topics" in text  # the converge is in there
    assert TOKEN not in text


# --- Alarms ------------------------------------------------------------------------------------


def test_the_layers_alarms_are_exactly_the_wanted_ones(alarms):
    """The stale alarm of a fourth Redis node is deleted; an alarm that is not the layer's stays."""
    assert set(alarms) == {*ALARMS, MATH_ALARM, f"{NAME}-custom-alarm"}


@pytest.mark.parametrize("name", sorted(ALARMS))
def test_alarm_watches_its_metric_and_notifies_its_topic(name, alarms, topics, load_balancer_dimension):
    severity, namespace, metric, dimension, threshold = ALARMS[name]
    alarm = alarms[name]
    assert alarm["AlarmActions"] == [topics[severity]]
    assert alarm["OKActions"] == [topics[severity]]
    assert alarm["InsufficientDataActions"] == []
    assert alarm["Namespace"] == namespace
    assert alarm["MetricName"] == metric
    (found,) = alarm["Dimensions"]
    assert found["Value"] == (dimension or load_balancer_dimension)
    assert alarm["Threshold"] == threshold
    assert (alarm["Period"], alarm["EvaluationPeriods"], alarm["DatapointsToAlarm"]) == (60, 5, 3)
    assert f"({severity}; giftcrypto.platform.aws_observability)" in alarm["AlarmDescription"]
    if metric == "TargetResponseTime":
        assert alarm["ExtendedStatistic"] == "p95"
        assert "Statistic" not in alarm


def test_alb_5xx_rate_is_a_metric_math_alarm_on_the_load_balancer(alarms, topics, load_balancer_dimension):
    alarm = alarms[MATH_ALARM]
    assert alarm["AlarmActions"] == alarm["OKActions"] == [topics["critical"]]
    assert alarm["Threshold"] == 1.0
    assert alarm["TreatMissingData"] == "notBreaching"
    queries = {m["Id"]: m for m in alarm["Metrics"]}
    assert queries["rate"]["Expression"] == "100 * (FILL(target5xx, 0) + FILL(elb5xx, 0)) / requests"
    assert queries["rate"]["ReturnData"] is True
    for query_id, metric in (
        ("target5xx", "HTTPCode_Target_5XX_Count"),
        ("elb5xx", "HTTPCode_ELB_5XX_Count"),
        ("requests", "RequestCount"),
    ):
        stat = queries[query_id]["MetricStat"]
        assert stat["Metric"]["MetricName"] == metric
        assert stat["Metric"]["Dimensions"] == [{"Name": "LoadBalancer", "Value": load_balancer_dimension}]
        assert stat["Stat"] == "Sum"
        assert queries[query_id]["ReturnData"] is False


# --- Dashboard ---------------------------------------------------------------------------------


def test_dashboard_shows_every_alarm(dashboard, alarms):
    (widget,) = [w for w in dashboard["widgets"] if w["type"] == "alarm"]
    names = {arn.split(":alarm:")[1] for arn in widget["properties"]["alarms"]}
    assert names == {*ALARMS, MATH_ALARM}
    assert {alarms[n]["AlarmArn"] for n in names} == set(widget["properties"]["alarms"])


def test_dashboard_graphs_each_metric_with_its_threshold(dashboard, load_balancer_dimension, scenario_vars):
    graphs = {
        w["properties"]["title"]: w["properties"] for w in dashboard["widgets"] if w["type"] == "metric"
    }
    assert len(graphs) == 10
    lines = {tuple(m[:4]) for g in graphs.values() for m in g["metrics"] if isinstance(m[0], str)}
    assert ("AWS/RDS", "CPUUtilization", "DBInstanceIdentifier", NAME) in lines
    assert ("AWS/RDS", "ReplicaLag", "DBInstanceIdentifier", "gcobs-local-replica-1") in lines
    for node in NODES:
        assert ("AWS/ElastiCache", "Evictions", "CacheClusterId", node) in lines
    assert ("AWS/ApplicationELB", "TargetResponseTime", "LoadBalancer", load_balancer_dimension) in lines
    assert ("ContainerInsights", "cluster_node_count", "ClusterName", NAME) in lines
    assert graphs["RDS CPU (%)"]["annotations"]["horizontal"] == [{"label": "alarm", "value": 80.0}]
    assert graphs["ALB 5xx (% of requests)"]["metrics"][0][0]["expression"].startswith("100 * (")
    for graph in graphs.values():
        assert graph["region"] == scenario_vars["aws_region"]
        assert graph["annotations"]["horizontal"], graph["title"]


def test_dashboard_lists_the_latest_application_errors(dashboard):
    (widget,) = [w for w in dashboard["widgets"] if w["type"] == "log"]
    assert widget["properties"]["query"].startswith("SOURCE '/gcobs/local/application' |")


# --- Budget and cost allocation tags ------------------------------------------------------------


def test_the_monthly_budget_alerts_the_warning_topic_at_80_and_100_percent(topics, account_id, aws):
    budgets = aws("budgets", "us-east-1")
    budget = budgets.describe_budget(AccountId=account_id, BudgetName=f"{NAME}-monthly")["Budget"]
    assert budget["BudgetType"] == "COST"
    assert budget["TimeUnit"] == "MONTHLY"
    assert float(budget["BudgetLimit"]["Amount"]) == 75
    assert budget["BudgetLimit"]["Unit"] == "USD"
    # Only this environment's costs count (its Environment tag, an active cost allocation tag).
    assert budget["CostFilters"] == {"TagKeyValue": ["user:Environment$local"]}
    found = budgets.describe_notifications_for_budget(AccountId=account_id, BudgetName=f"{NAME}-monthly")
    alerts = {
        (n["NotificationType"], n["ComparisonOperator"], n["Threshold"], n["ThresholdType"]): n
        for n in found["Notifications"]
    }
    assert set(alerts) == {
        ("ACTUAL", "GREATER_THAN", 80.0, "PERCENTAGE"),
        ("ACTUAL", "GREATER_THAN", 100.0, "PERCENTAGE"),
        ("FORECASTED", "GREATER_THAN", 100.0, "PERCENTAGE"),
    }
    for notification in alerts.values():
        subscribers = budgets.describe_subscribers_for_notification(
            AccountId=account_id, BudgetName=f"{NAME}-monthly", Notification=notification
        )["Subscribers"]
        assert subscribers == [{"SubscriptionType": "SNS", "Address": topics["warning"]}]


def test_the_platforms_tag_keys_are_active_cost_allocation_tags(aws):
    ce = aws("ce", "us-east-1")
    found = ce.list_cost_allocation_tags(TagKeys=sorted(REQUIRED_TAGS), Type="UserDefined")[
        "CostAllocationTags"
    ]
    assert {t["TagKey"]: t["Status"] for t in found} == dict.fromkeys(REQUIRED_TAGS, "Active")


# --- Runs of the converge playbook -------------------------------------------------------------


@pytest.mark.parametrize(
    ("extra_vars", "message"),
    [
        (
            {"aws_observability_log_retention_days_application": 14},
            "aws_observability_log_retention_days_application=14",
        ),
        (
            {"aws_observability_log_retention_days_audit": 180},
            "aws_observability_log_retention_days_audit=180",
        ),
        (
            {"aws_observability_log_retention_days_audit": 1096},
            "aws_observability_log_retention_days_audit=1096",
        ),
        (
            {"aws_observability_rds_cpu_threshold_percent": 150},
            "aws_observability_rds_cpu_threshold_percent=150",
        ),
        (
            {"aws_observability_alarm_datapoints_to_alarm": 6},
            "aws_observability_alarm_datapoints_to_alarm=6 from 1 to the evaluation periods",
        ),
        (
            {
                "aws_observability_environment": "production",
                "aws_observability_sns_subscriptions": WARNING_ONLY,
            },
            "aws_observability_environment=production with no subscription in "
            "aws_observability_sns_subscriptions.critical",
        ),
        (
            {"aws_observability_budget": {"limit_usd": -20}},
            "aws_observability_budget.limit_usd=-20: the monthly limit of a budget must be a number greater",
        ),
        (
            {
                "aws_observability_environment": "staging",
                "aws_observability_sns_subscriptions": {
                    "critical": [{"protocol": "http", "endpoint": "http://hooks.example/alerts"}]
                },
            },
            "http sends alerts in clear",
        ),
        (
            {
                "aws_observability_sns_subscriptions": {
                    "critical": [{"protocol": "sms", "endpoint": "0555 0123"}]
                }
            },
            "the sms endpoint does not match",
        ),
        (
            {
                "aws_observability_sns_subscriptions": {
                    "critical": [{"protocol": "pigeon", "endpoint": "roof"}]
                }
            },
            "value of protocol must be one of",
        ),
    ],
    ids=[
        "application-retention",
        "audit-retention",
        "retention-the-module-would-delete-for",
        "threshold-range",
        "m-of-n",
        "production-without-critical-subscription",
        "budget-not-above-zero",
        "http-outside-local",
        "sms-format",
        "bad-protocol",
    ],
)
def test_bad_input_is_refused_before_any_aws_call(extra_vars, message, converge, recap):
    run = converge(extra_vars=extra_vars)
    output = run.stdout + run.stderr
    assert run.returncode != 0, output[-2000:]
    assert message in output, output[-2000:]
    assert "Find the security baseline's logs key" not in output
    assert recap(output) == (0, 1)


def test_plan_of_the_converged_layer_changes_nothing(converge, recap):
    run = converge("--check", "--diff")
    output = run.stdout + run.stderr
    assert run.returncode == 0, output[-3000:]
    assert recap(output) == (0, 0)
    assert TOKEN not in output


def test_plan_reports_a_retention_change_without_making_it(aws, converge, recap):
    """amazon.aws.cloudwatchlogs_log_group would set the retention even in check mode: the role
    reports it instead."""
    run = converge("--check", extra_vars={"aws_observability_log_retention_days_application": 90})
    output = run.stdout + run.stderr
    assert run.returncode == 0, output[-3000:]
    assert "would keep /gcobs/local/application 90 days instead of 30" in output
    assert recap(output) == (2, 0)  # the retention, and the dashboard's header that names it
    (group,) = aws("logs").describe_log_groups(logGroupNamePrefix="/gcobs/local/application")["logGroups"]
    assert group["retentionInDays"] == 30


@pytest.fixture
def fresh_resources(aws):
    """What a run for the platform gcfresh would have made."""

    def found() -> list:
        logs = aws("logs").describe_log_groups(logGroupNamePrefix="/gcfresh/")["logGroups"]
        alarms = aws("cloudwatch").describe_alarms(AlarmNamePrefix="gcfresh-")["MetricAlarms"]
        dashboards = aws("cloudwatch").list_dashboards(DashboardNamePrefix="gcfresh-")["DashboardEntries"]
        account = aws("sts").get_caller_identity()["Account"]
        budgets = aws("budgets", "us-east-1").describe_budgets(AccountId=account).get("Budgets", [])
        return logs + alarms + dashboards + [b for b in budgets if b["BudgetName"].startswith("gcfresh-")]

    return found


def test_without_the_baseline_a_run_is_refused_before_any_change(converge, fresh_resources, recap):
    run = converge(extra_vars={"platform_name": "gcfresh"})
    output = run.stdout + run.stderr
    assert run.returncode != 0, output[-2000:]
    assert (
        "The security baseline layer has not run in this account and region: alias/gcfresh-local-logs"
        in output
    )
    assert "the SNS topic gcfresh-local-critical and the SNS topic gcfresh-local-warning not found" in output
    assert recap(output) == (0, 1)
    assert fresh_resources() == []


def test_without_the_baseline_a_plan_lists_what_would_be_created(converge, fresh_resources, recap):
    run = converge("--check", extra_vars={"platform_name": "gcfresh"})
    output = run.stdout + run.stderr
    assert run.returncode == 0, output[-3000:]
    assert "do not exist yet (the security baseline would create them)" in output
    assert "No application load balancer named gcfresh-local" in output
    assert "would subscribe 3 endpoint(s) to gcfresh-local-critical once the security baseline" in output
    for planned in ("/gcfresh/local/application (30 days)", "gcfresh-local-eks-node-count -> critical"):
        assert f"changed: [localhost] => (item={planned})" in output
    # The log groups, subscriptions, alarms, budget and dashboard tasks (the cost allocation tags are
    # the account's, activated by the converge already).
    assert recap(output) == (5, 0)
    assert fresh_resources() == []
