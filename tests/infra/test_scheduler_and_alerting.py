"""The scheduled analysis, alert destinations and webhook notifier constructs, as template specs
(aws_cdk.assertions.Template) of the multi-account example (configFile with an alerts: section,
a notifier on the secops destination), and their exact IAM statements."""

from __future__ import annotations

import json

import pytest
from aws_cdk import App
from aws_cdk.assertions import Match, Template
from synth_support import REPO_ROOT, TEST_CONTEXT, Synthesized, read_templates, render
from test_detector import role_statements

from detectors.common.errors import UserError
from detectors.scheduled.schedule import Schedule
from infra.config import ConfigError, plan_from_context
from infra.notifier import NOTIFIER_HANDLER
from infra.scheduler import ATHENA_ACTIONS, GLUE_READ_ACTIONS, SCHEDULER_HANDLER, eventbridge_expressions

pytestmark = pytest.mark.xdist_group("infra")
EXAMPLE = REPO_ROOT / "examples" / "multi-account-context.json"
STAGE = "Bucketwatch-111111111111-us-east-1"
LAKE = "bucketwatch-lake-111111111111-us-east-1"
SECRET = "arn:aws:secretsmanager:us-east-1:111111111111:secret:bucketwatch/slack-webhook-AbCdEf"


@pytest.fixture(scope="module")
def example(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    outdir = tmp_path_factory.mktemp("cdk-alerts")
    context = {**TEST_CONTEXT, "bucketwatch": json.loads(EXAMPLE.read_text())["bucketwatch"]}
    from infra.app import build_app

    app = App(outdir=str(outdir), context=context)
    build_app(app)
    app.synth()  # both gates pass, or this raises
    return Synthesized(outdir, read_templates(outdir))


def function(assembly: Synthesized, handler: str) -> tuple[str, dict]:
    return next((k, v) for k, v in assembly.resources(STAGE, "AWS::Lambda::Function").items()
                if v["Properties"]["Handler"] == handler)


def granted(assembly: Synthesized, handler: str) -> dict[str, dict]:
    """Sid -> (rendered) statement of a function's role."""
    template = assembly.templates[STAGE]
    role_id = function(assembly, handler)[1]["Properties"]["Role"]["Fn::GetAtt"][0]
    return {s.get("Sid", "?"): render(s, template) for s in role_statements(assembly, STAGE, role_id)}


@pytest.mark.parametrize(("raw", "expected"), [
    ({"RateMinutes": 10}, ("cron(0/10 * * * ? *)",)),
    ({"RateMinutes": 60}, ("cron(0 0/1 * * ? *)",)),
    ({"RateMinutes": 120}, ("cron(0 0/2 * * ? *)",)),
    ({"RateMinutes": 7}, ("rate(7 minutes)",)),
    ({"RateMinutes": 90}, ("rate(90 minutes)",)),
    ({"CronExpression": "15 0 * * *"}, ("cron(15 0 * * ? *)",)),
    ({"CronExpression": "*/5 8-18 * * 1-5"}, ("cron(0/5 8-18 ? * MON-FRI *)",)),
    ({"CronExpression": "0 6 * * 0,7"}, ("cron(0 6 ? * SUN,SUN *)",)),
    ({"CronExpression": "0 9 1,15 * mon"}, ("cron(0 9 1,15 * ? *)", "cron(0 9 ? * MON *)")),
])
def test_schedules_become_eventbridge_expressions(raw, expected):
    assert eventbridge_expressions(Schedule.parse({**raw, "TimeoutMinutes": 5}, "s")) == expected


def test_a_wrapping_weekday_range_is_refused():
    with pytest.raises(UserError, match="the day-of-week range '5-7' wraps around the week"):
        eventbridge_expressions(Schedule.parse({"CronExpression": "0 6 * * 5-7"}, "s"))


def test_scheduler_as_a_template_spec(example: Synthesized) -> None:
    template = Template.from_json(example.templates[STAGE])
    template.has_resource_properties("AWS::Lambda::Function", {
        "Handler": SCHEDULER_HANDLER, "Timeout": 900, "ReservedConcurrentExecutions": 2,
        "DeadLetterConfig": Match.object_like({"TargetArn": Match.any_value()}),
        "Environment": {"Variables": Match.object_like({
            "ATHENA_WORKGROUP": "bucketwatch", "BUCKETWATCH_CONFIG": "bucketwatch.yml",
            "STATE_TABLE": Match.any_value(), "DEDUP_TABLE": Match.any_value(),
            "BUCKETWATCH_ALERT_TOPICS": Match.any_value()})},
    })
    template.has_resource_properties("AWS::Events::Rule", {
        "ScheduleExpression": "cron(0/10 * * * ? *)",
        "Targets": [Match.object_like({
            "RetryPolicy": {"MaximumRetryAttempts": 2, "MaximumEventAgeInSeconds": 3600},
            "DeadLetterConfig": Match.any_value(),
            "InputTransformer": {"InputPathsMap": {"time": "$.time"},
                                 "InputTemplate": '{"item":"AWS S3 Large Download","time":<time>}'}})],
    })
    template.has_resource_properties("AWS::DynamoDB::Table", {
        "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
        "TimeToLiveSpecification": {"AttributeName": "expires_at", "Enabled": True},
        "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True},
        "SSESpecification": Match.object_like({"SSEEnabled": True, "SSEType": "KMS"}),
    })
    rules = [r for r in example.resources(STAGE, "AWS::Events::Rule").values()
             if "InputTransformer" in r["Properties"]["Targets"][0]]
    assert len(rules) == 5  # three queries something reads, two correlation rules


def test_scheduler_role_is_least_privilege(example: Synthesized) -> None:
    statements = granted(example, SCHEDULER_HANDLER)
    workgroup = "arn:aws:athena:us-east-1:111111111111:workgroup/bucketwatch"
    assert (statements["RunQueriesInTheLakeWorkgroup"]["Action"], statements["RunQueriesInTheLakeWorkgroup"]["Resource"]) \
        == (list(ATHENA_ACTIONS), workgroup)
    glue = statements["ReadTheLakeCatalog"]
    assert glue["Action"] == list(GLUE_READ_ACTIONS)
    prefix = "arn:aws:glue:us-east-1:111111111111:"
    assert glue["Resource"] == [f"{prefix}catalog", *(f"{prefix}database/{d}" for d in (
        "bucketwatch", "panther_logs", "panther_rule_matches", "panther_views")),
        f"{prefix}table/bucketwatch/posture_findings",
        *(f"{prefix}table/{d}/{t}" for d in ("panther_logs", "panther_rule_matches") for t in ("aws_cloudtrail", "aws_s3serveraccess")),
        *(f"{prefix}table/panther_views/{v}" for v in ("all_aws_account_ids", "all_aws_arns", "all_ip_addresses"))]
    tables = [f"arn:aws:s3:::{LAKE}/{p}/*" for p in ("bucketwatch", "panther_logs", "panther_rule_matches")]
    assert statements["ReadTheLakeTables"]["Resource"] == tables and statements["ReadTheLakeTables"]["Action"] == "s3:GetObject"
    listing = statements["ListTheLakeTablesAndResults"]
    assert listing["Resource"] == f"arn:aws:s3:::{LAKE}" and listing["Condition"] == {"StringLike": {"s3:prefix": [
        "bucketwatch/*", "panther_logs/*", "panther_rule_matches/*", "athena-results/*"]}}
    assert statements["AthenaResultsOnly"]["Resource"] == f"arn:aws:s3:::{LAKE}/athena-results/*"
    assert statements["KeepResultTables"]["Resource"] == [
        f"arn:aws:s3:::{LAKE}/bucketwatch/access_error_baseline/result.parquet",
        f"arn:aws:s3:::{LAKE}/bucketwatch/cloudtrail_buckets/result.parquet"]
    assert statements["SchedulerStateAndDedup"]["Action"] == ["dynamodb:GetItem", "dynamodb:PutItem"]
    published = statements["PublishAlerts"]["Resource"]
    assert len(published) == 4  # the alerts topic and the three destinations' topics
    everything = [a for s in statements.values() for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])]
    assert not any(a.endswith("*") and not a.startswith("kms:GenerateDataKey") for a in everything), everything
    assert all(s["Resource"] != "*" for s in statements.values())


def test_one_topic_per_destination_and_the_functions_can_reach_them(example: Synthesized) -> None:
    template = example.templates[STAGE]
    topics = {v["Properties"].get("TopicName"): k for k, v in example.resources(STAGE, "AWS::SNS::Topic").items()}
    names = ["bucketwatch-alerts-dlp-team", "bucketwatch-alerts-pager", "bucketwatch-alerts-secops"]
    assert sorted(n for n in topics if n) == names
    for name in names:
        assert example.resources(STAGE, "AWS::SNS::Topic")[topics[name]]["Properties"]["KmsMasterKeyId"]
    _, detector = function(example, "detectors.handler.handler")
    routed = json.loads(render(detector["Properties"]["Environment"]["Variables"]["BUCKETWATCH_ALERT_TOPICS"], template))
    assert sorted(routed) == ["dlp-team", "pager", "secops"]
    assert routed["pager"] == f"<Ref {topics['bucketwatch-alerts-pager']}>"
    detector_grants = granted(example, "detectors.handler.handler")
    assert len(detector_grants["PublishToAlertDestinations"]["Resource"]) == 3


def test_the_stacks_trail_bucket_is_passed_to_the_detector(example: Synthesized) -> None:
    _, detector = function(example, "detectors.handler.handler")
    value = render(detector["Properties"]["Environment"]["Variables"]["BUCKETWATCH_TRAIL_BUCKETS"], example.templates[STAGE])
    assert json.loads(value) == ["bucketwatch-trail-111111111111-us-east-1"]


def test_the_central_detector_knows_the_archive(org_assembly: Synthesized) -> None:
    from synth_support import CENTRAL, CENTRAL_REGION, CENTRAL_STAGE

    detector = next(v for v in org_assembly.resources(CENTRAL_STAGE, "AWS::Lambda::Function").values()
                    if v["Properties"]["Handler"] == "detectors.handler.handler")
    value = render(detector["Properties"]["Environment"]["Variables"]["BUCKETWATCH_TRAIL_BUCKETS"],
                   org_assembly.templates[CENTRAL_STAGE])
    assert json.loads(value) == [f"bucketwatch-archive-{CENTRAL}-{CENTRAL_REGION}"]
    scheduler = next(v for v in org_assembly.resources(CENTRAL_STAGE, "AWS::Lambda::Function").values()
                     if v["Properties"]["Handler"] == SCHEDULER_HANDLER)
    # The organization's settings: a file in the code asset, which every function shares.
    assert scheduler["Properties"]["Environment"]["Variables"]["BUCKETWATCH_ORGANIZATION_FILE"] == "bucketwatch-organization.json"
    assert scheduler["Properties"]["Code"] == detector["Properties"]["Code"]


def test_notifier_reads_only_its_secret_and_hears_medium_and_up_from_secops(example: Synthesized) -> None:
    template = Template.from_json(example.templates[STAGE])
    function_id, notifier = function(example, NOTIFIER_HANDLER)
    assert notifier["Properties"]["Environment"]["Variables"] == {"WEBHOOK_SECRET_ARN": SECRET}  # never the URL
    statements = granted(example, NOTIFIER_HANDLER)
    assert statements["ReadTheWebhookSecret"] == {"Sid": "ReadTheWebhookSecret", "Effect": "Allow",
                                                  "Action": "secretsmanager:GetSecretValue", "Resource": SECRET}
    topics = {v["Properties"].get("TopicName"): k for k, v in example.resources(STAGE, "AWS::SNS::Topic").items()}
    template.has_resource_properties("AWS::SNS::Subscription", {
        "Protocol": "lambda", "Endpoint": {"Fn::GetAtt": [function_id, "Arn"]},
        "TopicArn": {"Ref": topics["bucketwatch-alerts-secops"]},
        "FilterPolicyScope": "MessageBody",
        "FilterPolicy": {"severity": ["Medium", "High", "Critical"]},
    })


@pytest.mark.parametrize(("notifier", "message"), [
    ({"secretArn": SECRET, "parameterName": "/bw/hook"}, "give exactly one of secretArn (Secrets Manager) and parameterName"),
    ({}, "give exactly one of secretArn"),
    ({"secretArn": "https://hooks.slack.com/services/T/B/X"}, "notifier.secretArn: expected a Secrets Manager secret ARN"),
    ({"parameterName": "/bw/hook", "destination": "pagr"}, "notifier.destination: 'pagr' is not a destination of the config "
                                                           "file's alerts: section (pager, secops, dlp-team)"),
    ({"parameterName": "/bw/hook", "minSeverity": "loud"}, "notifier.minSeverity: severity must be one of"),
    ({"parameterName": "/bw/hook", "url": "https://x"}, "notifier: unknown key(s) url"),
])
def test_bad_notifier_context_is_one_line(notifier, message):
    context = {"deployments": [{"account": "111111111111", "region": "us-east-1",
                                "configFile": "examples/bucketwatch-alerts.yml", "notifier": notifier}]}
    with pytest.raises(ConfigError) as info:
        plan_from_context(context)
    assert message in str(info.value) and "\n" not in str(info.value)


def test_scheduled_analysis_can_be_turned_off():
    (deployment,) = plan_from_context({"deployments": [{"account": "111111111111", "region": "us-east-1",
                                                        "scheduledAnalysis": False}]}).deployments
    assert deployment.scheduled_analysis is False
