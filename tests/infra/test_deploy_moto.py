"""Deploy the app with the real CDK CLI to moto in server mode, then look at what moto built.

`npx cdk bootstrap` then `npx cdk deploy --require-approval never`, exactly as a user does,
against moto on localhost (the CLI needs a host name, not an IP, to address S3 buckets).

What this proves: the synthesized app and its real Lambda bundle go through the CLI's whole
path (synth with the validation plugins, asset build and upload to the bootstrap bucket,
change set, stack creation) and that CloudFormation accepts every resource's shape.

What moto materializes, and so what is checked: the three buckets (names, default encryption,
the trail bucket's KMS key), both SNS topics (KMS key), the three Lambda functions (handler,
runtime, environment wired to the real topic, bucket and tables; their roles), the roles' inline
policies (the exact statements), the Lambda invoke permissions for SNS and EventBridge, the
schedule rules and their targets (retry policy, dead-letter queue, the scheduled items' input),
the DynamoDB key schemas, the queues and keys, and the code zip in the bootstrap bucket. The
scheduled Lambda's handler then runs in-process with the deployed function's own environment:
its query goes to Athena (moto: results queued through its API), its state to the deployed state
table, its alert to the deployed alerts topic.

What moto's CloudFormation accepts but does not build (so it is NOT checked here; the template
tests cover it): bucket policies, versioning, public access blocks, lifecycle, notification and
logging configuration, SNS subscriptions and topic policies, the CloudTrail trail, Glue
databases/tables/view, the Athena workgroup, CloudWatch alarms, Lambda event-invoke configs,
reserved concurrency, layers, DynamoDB TTL/PITR/SSE. Moto cannot run Lambda code (no Docker),
so the handlers are not invoked by moto; their own tests run them in-process against moto, and
the last test here runs the scheduled handler in-process against this deployed stack.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import zipfile
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from synth_support import REPO_ROOT

from bucketwatch.localaws import MOTO_ACCOUNT_ID, MotoServer, local_aws_environment
from infra.detector import DETECTOR_LAKE_PREFIXES
from infra.posture import POSTURE_HANDLER, scan_actions
from infra.scheduler import SCHEDULER_HANDLER

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("infra-deploy")]
REGION = "us-east-1"
STACK = f"Bucketwatch-{MOTO_ACCOUNT_ID}-{REGION}-Monitoring"
LAKE = f"bucketwatch-lake-{MOTO_ACCOUNT_ID}-{REGION}"
LOGS = f"bucketwatch-access-logs-{MOTO_ACCOUNT_ID}-{REGION}"
TRAIL = f"bucketwatch-trail-{MOTO_ACCOUNT_ID}-{REGION}"
LAYER = f"arn:aws:lambda:{REGION}:{MOTO_ACCOUNT_ID}:layer:AWSSDKPandas-Python314:1"


@pytest.fixture(scope="module")
def deployed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, object]]:
    outdir = tmp_path_factory.mktemp("cdk-deploy")
    with MotoServer() as server:
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "CDK_DEFAULT_"))},
            **server.env(use_localhost=True),
            # `python3 app.py` (cdk.json) must be the project's interpreter; the CLI from package.json.
            "PATH": os.pathsep.join([str(REPO_ROOT / ".venv" / "bin"), str(REPO_ROOT / "node_modules" / ".bin"), os.environ["PATH"]]),
        }
        cdk = ["npx", "--no", "cdk"]
        run(
            [*cdk, "bootstrap", f"aws://{MOTO_ACCOUNT_ID}/{REGION}", "--ci", "--output", str(outdir / "bootstrap")], env
        )
        run(
            [
                *cdk, "deploy", "**", "--require-approval", "never", "--ci", "--progress", "events",
                "--output", str(outdir / "app"), "--parameters", f"PyarrowLayerArn={LAYER}",
            ],
            env,
        )
        with local_aws_environment(server):
            yield {"outdir": outdir / "app", "cfn": boto3.client("cloudformation", region_name=REGION),
                   "endpoint": server.endpoint_url}


def run(command: list[str], env: dict[str, str]) -> None:
    result = subprocess.run(command, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, f"{' '.join(command)} failed:\n{result.stdout[-3000:]}\n{result.stderr[-5000:]}"


def physical_ids(deployed: dict[str, object], resource_type: str) -> dict[str, str]:
    cfn = deployed["cfn"]
    resources = cfn.list_stack_resources(StackName=STACK)["StackResourceSummaries"]  # type: ignore[attr-defined]
    return {r["LogicalResourceId"]: r["PhysicalResourceId"] for r in resources if r["ResourceType"] == resource_type}


def test_stack_created(deployed: dict[str, object]) -> None:
    (stack,) = deployed["cfn"].describe_stacks(StackName=STACK)["Stacks"]  # type: ignore[attr-defined]
    assert stack["StackStatus"] == "CREATE_COMPLETE"
    assert {p["ParameterKey"]: p["ParameterValue"] for p in stack["Parameters"]}["PyarrowLayerArn"] == LAYER


def test_buckets_with_their_encryption(deployed: dict[str, object]) -> None:
    s3 = boto3.client("s3")
    names = {b["Name"] for b in s3.list_buckets()["Buckets"]}
    assert {LAKE, LOGS, TRAIL} <= names
    # The access-log target must be SSE-S3; the others use their own KMS keys.
    rule = s3.get_bucket_encryption(Bucket=LOGS)["ServerSideEncryptionConfiguration"]["Rules"][0]
    assert rule["ApplyServerSideEncryptionByDefault"] == {"SSEAlgorithm": "AES256"}
    keys = physical_ids(deployed, "AWS::KMS::Key")
    for name, key_prefix in ((LAKE, "MonitoringKey"), (TRAIL, "DataEventTrailKey")):
        rule = s3.get_bucket_encryption(Bucket=name)["ServerSideEncryptionConfiguration"]["Rules"][0]
        assert rule["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "aws:kms"
        (key_id,) = [v for k, v in keys.items() if k.startswith(key_prefix)]
        assert rule["ApplyServerSideEncryptionByDefault"]["KMSMasterKeyID"].endswith(key_id)


def test_topics_encrypted_with_the_monitoring_key(deployed: dict[str, object]) -> None:
    sns = boto3.client("sns")
    topics = physical_ids(deployed, "AWS::SNS::Topic")
    keys = physical_ids(deployed, "AWS::KMS::Key")
    monitoring_key = next(v for k, v in keys.items() if k.startswith("MonitoringKey"))
    names = set()
    for arn in topics.values():
        attributes = sns.get_topic_attributes(TopicArn=arn)["Attributes"]
        assert attributes["KmsMasterKeyId"].endswith(monitoring_key)
        names.add(attributes["DisplayName"])
    assert names == {"Bucketwatch new log objects", "Bucketwatch alerts"}


def test_functions_are_wired_to_the_deployed_resources(deployed: dict[str, object]) -> None:
    lam = boto3.client("lambda")
    topics = physical_ids(deployed, "AWS::SNS::Topic")
    alerts = next(v for k, v in topics.items() if "Alerts" in k)
    tables = physical_ids(deployed, "AWS::DynamoDB::Table")
    table = next(v for k, v in tables.items() if k.startswith("DetectorDedupTable"))
    state = next(v for k, v in tables.items() if k.startswith("SchedulerStateTable"))
    roles = physical_ids(deployed, "AWS::IAM::Role")
    functions = {f["Handler"]: f for f in lam.list_functions()["Functions"]}
    assert set(functions) == {"detectors.handler.handler", POSTURE_HANDLER, SCHEDULER_HANDLER}
    detector, posture = functions["detectors.handler.handler"], functions[POSTURE_HANDLER]
    scheduler = functions[SCHEDULER_HANDLER]
    assert detector["Runtime"] == posture["Runtime"] == scheduler["Runtime"] == "python3.14"
    assert detector["Environment"]["Variables"] == {"ALERTS_TOPIC_ARN": alerts, "PROCESSED_BUCKET": LAKE, "DEDUP_TABLE": table,
                                                    "BUCKETWATCH_TRAIL_BUCKETS": json.dumps([TRAIL])}
    assert posture["Environment"]["Variables"] == {"ALERTS_TOPIC_ARN": alerts, "PROCESSED_BUCKET": LAKE}
    assert scheduler["Environment"]["Variables"] == {"ALERTS_TOPIC_ARN": alerts, "PROCESSED_BUCKET": LAKE, "DEDUP_TABLE": table,
                                                     "STATE_TABLE": state, "ATHENA_WORKGROUP": "bucketwatch"}
    role_names = {arn.rsplit("/", 1)[1] for arn in (detector["Role"], posture["Role"], scheduler["Role"])}
    assert role_names == set(roles.values())
    notification = next(v for k, v in topics.items() if "Notification" in k)
    detector_policy = json.loads(lam.get_policy(FunctionName=detector["FunctionName"])["Policy"])["Statement"]
    assert [(s["Principal"]["Service"], s["Condition"]["ArnLike"]["AWS:SourceArn"]) for s in detector_policy] == [
        ("sns.amazonaws.com", notification)
    ]
    posture_policy = json.loads(lam.get_policy(FunctionName=posture["FunctionName"])["Policy"])["Statement"]
    assert [s["Principal"]["Service"] for s in posture_policy] == ["events.amazonaws.com"]
    scheduler_policy = json.loads(lam.get_policy(FunctionName=scheduler["FunctionName"])["Policy"])["Statement"]
    assert {s["Principal"]["Service"] for s in scheduler_policy} == {"events.amazonaws.com"} and len(scheduler_policy) == 5


def test_roles_carry_exactly_the_synthesized_statements(deployed: dict[str, object]) -> None:
    iam = boto3.client("iam")
    actions: dict[str, set[str]] = {}
    resources: dict[str, dict[str, list[str]]] = {}
    for logical_id, role in physical_ids(deployed, "AWS::IAM::Role").items():
        assert iam.list_attached_role_policies(RoleName=role)["AttachedPolicies"] == []
        for name in iam.list_role_policies(RoleName=role)["PolicyNames"]:
            for statement in iam.get_role_policy(RoleName=role, PolicyName=name)["PolicyDocument"]["Statement"]:
                for action in [statement["Action"]] if isinstance(statement["Action"], str) else statement["Action"]:
                    actions.setdefault(logical_id, set()).add(action)
                    listed = [statement["Resource"]] if isinstance(statement["Resource"], str) else statement["Resource"]
                    resources.setdefault(logical_id, {}).setdefault(action, []).extend(listed)
    detector = next(k for k in actions if k.startswith("Detector"))
    posture = next(k for k in actions if k.startswith("PostureScanner"))
    assert sorted(resources[detector]["s3:PutObject"]) == sorted(f"arn:aws:s3:::{LAKE}/{p}*" for p in DETECTOR_LAKE_PREFIXES)
    assert sorted(resources[detector]["s3:GetObject"]) == [f"arn:aws:s3:::{LOGS}/*", f"arn:aws:s3:::{TRAIL}/AWSLogs/*"]
    assert set(scan_actions()) <= actions[posture]
    assert resources[posture]["s3:PutObject"] == [f"arn:aws:s3:::{LAKE}/bucketwatch/posture_findings/*"]
    scheduler = next(k for k in actions if k.startswith("Scheduler"))
    workgroup = f"arn:aws:athena:{REGION}:{MOTO_ACCOUNT_ID}:workgroup/bucketwatch"
    assert resources[scheduler]["athena:StartQueryExecution"] == [workgroup]
    assert sorted(resources[scheduler]["s3:GetObject"]) == sorted(
        f"arn:aws:s3:::{LAKE}/{p}*" for p in ("athena-results/", "bucketwatch/", "panther_logs/", "panther_rule_matches/"))
    assert sorted(resources[scheduler]["s3:PutObject"]) == [
        f"arn:aws:s3:::{LAKE}/athena-results/*", f"arn:aws:s3:::{LAKE}/bucketwatch/access_error_baseline/result.parquet",
        f"arn:aws:s3:::{LAKE}/bucketwatch/cloudtrail_buckets/result.parquet"]


def test_schedule_targets_the_scanner_with_retries_and_dlq(deployed: dict[str, object]) -> None:
    events = boto3.client("events")
    (rule_name,) = [v for k, v in physical_ids(deployed, "AWS::Events::Rule").items() if k.startswith("Posture")]
    rule = events.describe_rule(Name=rule_name)
    assert rule["ScheduleExpression"] == "rate(1 day)" and rule["State"] == "ENABLED"
    (target,) = events.list_targets_by_rule(Rule=rule_name)["Targets"]
    assert target["Arn"].split(":function:")[1].startswith(f"{STACK}-PostureScanner")
    assert target["RetryPolicy"] == {"MaximumRetryAttempts": 2, "MaximumEventAgeInSeconds": 7200}
    assert ":sqs:" in target["DeadLetterConfig"]["Arn"]


def test_scheduled_items_each_have_a_schedule(deployed: dict[str, object]) -> None:
    events = boto3.client("events")
    inputs = {}
    for logical_id, rule_name in physical_ids(deployed, "AWS::Events::Rule").items():
        if not logical_id.startswith("Scheduler"):
            continue
        (target,) = events.list_targets_by_rule(Rule=rule_name)["Targets"]
        assert target["RetryPolicy"] == {"MaximumRetryAttempts": 2, "MaximumEventAgeInSeconds": 3600}
        inputs[events.describe_rule(Name=rule_name)["ScheduleExpression"], target["InputTransformer"]["InputTemplate"]] = 1
    assert sorted(inputs) == [
        ("cron(0/10 * * * ? *)", '{"item":"AWS S3 Large Download","time":<time>}'),
        ("cron(0/15 * * * ? *)", '{"item":"Bucketwatch.S3.BulkDeletionThenUpload","time":<time>}'),
        ("cron(0/15 * * * ? *)", '{"item":"Bucketwatch.S3.MultiObjectDeleteThenUpload","time":<time>}'),
        ("cron(15 0 * * ? *)", '{"item":"Bucketwatch S3 Access Error Baseline","time":<time>}'),
        ("cron(5 * * * ? *)", '{"item":"Bucketwatch CloudTrail Buckets","time":<time>}'),
    ]


def test_dedup_and_state_tables_and_queues(deployed: dict[str, object]) -> None:
    tables = physical_ids(deployed, "AWS::DynamoDB::Table").values()
    assert len(tables) == 2
    for table in tables:
        key_schema = boto3.client("dynamodb").describe_table(TableName=table)["Table"]["KeySchema"]
        assert key_schema == [{"AttributeName": "pk", "KeyType": "HASH"}]
    queues = boto3.client("sqs").list_queues()["QueueUrls"]
    assert len([q for q in queues if "DeadLetterQueue" in q]) == 3


def test_the_scheduled_lambda_runs_in_the_deployed_stack(deployed: dict[str, object], monkeypatch) -> None:
    """The handler in-process with the deployed function's environment: the query to Athena in the
    workgroup it names, the alert to the deployed alerts topic, progress in the deployed table."""
    import urllib.request

    from detectors.scheduled import lambda_handler

    lam, sqs, sns = boto3.client("lambda"), boto3.client("sqs"), boto3.client("sns")
    (scheduler,) = [f for f in lam.list_functions()["Functions"] if f["Handler"] == SCHEDULER_HANDLER]
    # moto's CloudFormation accepts the workgroup without building it (see above): made here as deployed.
    boto3.client("athena").create_work_group(Name=scheduler["Environment"]["Variables"]["ATHENA_WORKGROUP"],
                                             Configuration={"ResultConfiguration": {"OutputLocation": f"s3://{LAKE}/athena-results/"}})
    for key, value in scheduler["Environment"]["Variables"].items():
        monkeypatch.setenv(key, value)
    inbox = sqs.create_queue(QueueName="deployed-alerts-inbox")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=inbox, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=scheduler["Environment"]["Variables"]["ALERTS_TOPIC_ARN"], Protocol="sqs", Endpoint=arn)
    columns = ["user_arn", "bucket_name", "total_bytes_downloaded", "object_count"]
    values = ["arn:aws:iam::111122223333:user/leaked-ci", "customer-archive", str(3 * 1024 ** 3), "9"]
    result = {"rows": [{"Data": [{"VarCharValue": c} for c in columns]}, {"Data": [{"VarCharValue": v} for v in values]}],
              "column_info": [{"Name": c, "Type": t} for c, t in zip(columns, ("varchar", "varchar", "bigint", "bigint"), strict=True)]}
    request = urllib.request.Request(f"{deployed['endpoint']}/moto-api/static/athena/query-results", method="POST",
                                     data=json.dumps({"account_id": MOTO_ACCOUNT_ID, "region": REGION,
                                                      "results": [result]}).encode())
    urllib.request.urlopen(request)
    assert lambda_handler.handler({"item": "AWS S3 Large Download", "time": "2024-05-14T10:10:00Z"})["alerts"] == 1
    messages = sqs.receive_message(QueueUrl=inbox, MaxNumberOfMessages=10, WaitTimeSeconds=1)["Messages"]
    alert = json.loads(json.loads(messages[0]["Body"])["Message"])
    assert alert["rule_id"] == "AWS.S3.LargeDownload" and alert["severity"] == "High"
    state = boto3.client("dynamodb").get_item(TableName=scheduler["Environment"]["Variables"]["STATE_TABLE"],
                                              Key={"pk": {"S": "schedule#query#AWS S3 Large Download"}})
    assert "Item" in state


def test_uploaded_code_zip_is_our_bundle(deployed: dict[str, object]) -> None:
    outdir = deployed["outdir"]
    assert isinstance(outdir, Path)
    (manifest,) = outdir.glob("assembly-*/*.assets.json")
    files = json.loads(manifest.read_text())["files"]
    (asset_hash,) = [h for h, f in files.items() if f["source"]["packaging"] == "zip"]
    (destination,) = files[asset_hash]["destinations"].values()
    bucket = destination["bucketName"].replace("${AWS::AccountId}", MOTO_ACCOUNT_ID).replace("${AWS::Region}", REGION)
    body = boto3.client("s3").get_object(Bucket=bucket, Key=destination["objectKey"])["Body"].read()
    names = set(zipfile.ZipFile(io.BytesIO(body)).namelist())
    assert {"detectors/schema.py", "policies/model.py", "yaml/__init__.py", "sqlglot/__init__.py"} <= names
    assert not any(n.startswith(("boto3/", "botocore/", "pyarrow/")) for n in names)
