"""A member account's stacks: access logs replicated to the center, failed replication alarmed and
forwarded to the center, the trail into the central archive and the audit role (home region)."""

from __future__ import annotations

import json
import re

import pytest
from aws_cdk import App, Stack
from aws_cdk import aws_s3 as s3
from aws_cdk.assertions import Match, Template
from synth_support import (
    CENTRAL,
    CENTRAL_REGION,
    CENTRAL_STAGE,
    HOME_STAGES,
    MEMBER_REGIONS,
    MEMBER_STAGES,
    ORG_ID,
    Synthesized,
    render,
)

from infra.alarm_intake import ALERT_FIELDS, ALERT_TEMPLATE
from infra.posture import scan_actions
from infra.replication import CrossAccountReplication

pytestmark = pytest.mark.xdist_group("infra")
ARCHIVE = f"bucketwatch-archive-{CENTRAL}-{CENTRAL_REGION}"
CENTRAL_BUS = f"arn:aws:events:{CENTRAL_REGION}:{CENTRAL}:event-bus/default"


def stage_of(account: str, region: str) -> str:
    return f"Bucketwatch-{account}-{region}"


def policies_of(assembly: Synthesized, stage: str, role_id: str) -> list[dict]:
    return [
        statement
        for policy in assembly.resources(stage, "AWS::IAM::Policy").values() if {"Ref": role_id} in policy["Properties"]["Roles"]
        for statement in render(policy["Properties"]["PolicyDocument"]["Statement"], assembly.templates[stage])
    ]


def role_named(assembly: Synthesized, stage: str, name: str) -> tuple[str, dict]:
    return next((k, v) for k, v in assembly.resources(stage, "AWS::IAM::Role").items() if v["Properties"].get("RoleName") == name)


@pytest.mark.parametrize(("account", "region"), [(a, r) for a, regions in MEMBER_REGIONS.items() for r in regions])
def test_every_member_region_replicates_its_access_logs_to_the_archive(org_assembly: Synthesized, account: str, region: str) -> None:
    stage = stage_of(account, region)
    template = Template.from_json(org_assembly.templates[stage])
    role_id, _ = role_named(org_assembly, stage, f"bucketwatch-replication-{region}")
    template.has_resource_properties(
        "AWS::S3::Bucket",
        {
            "BucketName": f"bucketwatch-access-logs-{account}-{region}",
            "VersioningConfiguration": {"Status": "Enabled"},  # replication needs it on both sides
            "ReplicationConfiguration": {
                "Role": {"Fn::GetAtt": [role_id, "Arn"]},
                "Rules": [
                    {
                        "Id": "to-central-archive",
                        "Status": "Enabled",
                        "Priority": 0,
                        "Filter": {"Prefix": ""},
                        "DeleteMarkerReplication": {"Status": "Disabled"},
                        "Destination": {
                            "Bucket": Match.any_value(),
                            "Account": CENTRAL,
                            "AccessControlTranslation": {"Owner": "Destination"},
                            "Metrics": {"Status": "Enabled", "EventThreshold": {"Minutes": 15}},
                        },
                    }
                ],
            },
        },
    )
    (bucket,) = org_assembly.resources(stage, "AWS::S3::Bucket").values()
    destination = bucket["Properties"]["ReplicationConfiguration"]["Rules"][0]["Destination"]["Bucket"]
    assert render(destination, org_assembly.templates[stage]) == f"arn:aws:s3:::{ARCHIVE}"
    assert "NotificationConfiguration" not in bucket["Properties"]  # nothing runs in a member
    assert org_assembly.resources(stage, "AWS::Lambda::Function") == {}
    assert org_assembly.resources(stage, "AWS::SNS::Topic") == {}
    assert org_assembly.resources(stage, "AWS::KMS::Key") == {}


def test_replication_role_is_least_privilege(org_assembly: Synthesized) -> None:
    account, region = "333333333333", "ap-southeast-2"
    stage = stage_of(account, region)
    role_id, role = role_named(org_assembly, stage, f"bucketwatch-replication-{region}")
    source = f"arn:aws:s3:::bucketwatch-access-logs-{account}-{region}"
    (trust,) = render(role["Properties"]["AssumeRolePolicyDocument"]["Statement"], org_assembly.templates[stage])
    assert trust["Principal"] == {"Service": "s3.amazonaws.com"}
    assert trust["Condition"] == {"StringEquals": {"aws:SourceAccount": account}, "ArnLike": {"aws:SourceArn": source}}
    granted = {s["Sid"]: (sorted(s["Action"]), s["Resource"]) for s in policies_of(org_assembly, stage, role_id)}
    assert granted == {
        "ReadSourceConfiguration": (["s3:GetReplicationConfiguration", "s3:ListBucket"], source),
        "ReadSourceVersions": (
            ["s3:GetObjectVersionAcl", "s3:GetObjectVersionForReplication", "s3:GetObjectVersionTagging"], f"{source}/*"
        ),
        "WriteReplicas": (["s3:ObjectOwnerOverrideToBucketOwner", "s3:ReplicateObject", "s3:ReplicateTags"], f"arn:aws:s3:::{ARCHIVE}/*"),
    }


def test_failed_replication_is_alarmed_and_forwarded_to_the_center(org_assembly: Synthesized) -> None:
    account, region = "111111111111", "eu-west-1"
    stage = stage_of(account, region)
    template = org_assembly.templates[stage]
    (alarm_id, alarm), = org_assembly.resources(stage, "AWS::CloudWatch::Alarm").items()
    props = alarm["Properties"]
    assert props["AlarmName"] == f"bucketwatch-replication-failed-{region}"
    assert (props["Namespace"], props["MetricName"], props["Statistic"], props["Period"]) == ("AWS/S3", "OperationsFailedReplication", "Sum", 300)
    assert render(props["Dimensions"], template) == [
        {"Name": "DestinationBucket", "Value": ARCHIVE},
        {"Name": "RuleId", "Value": "to-central-archive"},
        {"Name": "SourceBucket", "Value": f"bucketwatch-access-logs-{account}-{region}"},
    ]
    assert props["Threshold"] == 1 and props["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"
    (rule,) = org_assembly.resources(stage, "AWS::Events::Rule").values()
    assert rule["Properties"]["EventPattern"] == {
        "detail-type": ["CloudWatch Alarm State Change"],
        "resources": [{"Fn::GetAtt": [alarm_id, "Arn"]}],
        "source": ["aws.cloudwatch"],
    }
    (target,) = rule["Properties"]["Targets"]
    assert render(target["Arn"], template) == CENTRAL_BUS
    forwarder_role = target["RoleArn"]["Fn::GetAtt"][0]
    assert [(s["Action"], s["Resource"]) for s in policies_of(org_assembly, stage, forwarder_role)] == [("events:PutEvents", CENTRAL_BUS)]


def test_trail_and_audit_role_only_in_each_members_home_region(org_assembly: Synthesized) -> None:
    for stage in MEMBER_STAGES:
        has_trail = bool(org_assembly.resources(stage, "AWS::CloudTrail::Trail"))
        has_audit = any(r["Properties"].get("RoleName") == "BucketwatchAudit" for r in org_assembly.resources(stage, "AWS::IAM::Role").values())
        home = stage in HOME_STAGES.values()
        assert (has_trail, has_audit) == (home, home), stage


@pytest.mark.parametrize("account", ["111111111111", "333333333333"])  # 222222222222 lists its buckets
def test_member_trail_delivers_to_the_archive_and_skips_the_monitoring_buckets(org_assembly: Synthesized, account: str) -> None:
    stage = HOME_STAGES[account]
    template = org_assembly.templates[stage]
    (trail,) = org_assembly.resources(stage, "AWS::CloudTrail::Trail").values()
    props = render(trail["Properties"], template)
    assert props["S3BucketName"] == ARCHIVE
    assert props["KMSKeyId"] == f"arn:aws:kms:{CENTRAL_REGION}:{CENTRAL}:alias/bucketwatch-archive"
    assert props["IsMultiRegionTrail"] is True and props["EnableLogFileValidation"] is True
    fields = {f["Field"]: f for f in props["AdvancedEventSelectors"][1]["FieldSelectors"]}
    assert fields["resources.ARN"]["NotStartsWith"] == [
        *(f"arn:aws:s3:::bucketwatch-access-logs-{account}-{region}/" for region in MEMBER_REGIONS[account]),
        f"arn:aws:s3:::{ARCHIVE}/",
        f"arn:aws:s3:::bucketwatch-access-logs-{CENTRAL}-{CENTRAL_REGION}/",
        f"arn:aws:s3:::bucketwatch-lake-{CENTRAL}-{CENTRAL_REGION}/",
    ]


def test_listed_member_buckets_in_the_trail(org_assembly: Synthesized) -> None:
    # 222222222222 lists payroll and shared/finance/ in the example; its trail records only those.
    stage = HOME_STAGES["222222222222"]
    (trail,) = org_assembly.resources(stage, "AWS::CloudTrail::Trail").values()
    fields = {f["Field"]: f for f in render(trail["Properties"]["AdvancedEventSelectors"][1]["FieldSelectors"], org_assembly.templates[stage])}
    assert fields["resources.ARN"] == {"Field": "resources.ARN", "StartsWith": ["arn:aws:s3:::payroll/", "arn:aws:s3:::shared/finance/"]}


@pytest.mark.parametrize("account", list(MEMBER_REGIONS))
def test_audit_role_reads_configuration_only_and_trusts_only_the_central_scanner(org_assembly: Synthesized, account: str) -> None:
    stage = HOME_STAGES[account]
    role_id, role = role_named(org_assembly, stage, "BucketwatchAudit")
    (trust,) = render(role["Properties"]["AssumeRolePolicyDocument"]["Statement"], org_assembly.templates[stage])
    assert trust == {
        "Action": "sts:AssumeRole",
        "Effect": "Allow",
        "Principal": {"AWS": f"arn:aws:iam::{CENTRAL}:role/bucketwatch-posture-scanner"},
        "Condition": {"StringEquals": {"aws:PrincipalOrgID": ORG_ID}},
    }
    assert role["Properties"]["MaxSessionDuration"] == 3600
    assert "ManagedPolicyArns" not in role["Properties"]
    actions = {a for s in policies_of(org_assembly, stage, role_id) for a in (s["Action"] if isinstance(s["Action"], list) else [s["Action"]])}
    assert actions == set(scan_actions())
    assert all(a.split(":")[1].startswith(("Get", "List", "Describe")) for a in actions)


def test_central_accepts_only_the_organizations_bucketwatch_alarms(org_assembly: Synthesized) -> None:
    """The organization, not a list of members: a list of roots in the bus policy (10,240
    characters) and of accounts in the pattern (2,048 characters) stopped fitting at 305
    and 126 members. The central account's own alarms notify the topic directly, not via the bus."""
    template = org_assembly.templates[CENTRAL_STAGE]
    (bus_policy,) = org_assembly.resources(CENTRAL_STAGE, "AWS::Events::EventBusPolicy").values()
    statement = render(bus_policy["Properties"]["Statement"], template)
    assert statement == {
        "Effect": "Allow",
        "Principal": "*",
        "Action": "events:PutEvents",
        "Resource": CENTRAL_BUS,
        "Condition": {"StringEquals": {"aws:PrincipalOrgID": ORG_ID}},
    }
    rules = org_assembly.resources(CENTRAL_STAGE, "AWS::Events::Rule")
    rule_id, rule = next((k, v) for k, v in rules.items() if "EventPattern" in v["Properties"])
    assert rule["Properties"]["EventPattern"] == {
        "source": ["aws.cloudwatch"],
        "detail-type": ["CloudWatch Alarm State Change"],
        "account": [{"anything-but": [CENTRAL]}],
        "detail": {"alarmName": [{"prefix": "bucketwatch-"}], "state": {"value": ["ALARM"]}},
    }
    (target,) = rule["Properties"]["Targets"]
    alerts_topic = next(k for k, v in org_assembly.resources(CENTRAL_STAGE, "AWS::SNS::Topic").items() if v["Properties"]["DisplayName"] == "Bucketwatch alerts")
    assert target["Arn"] == {"Ref": alerts_topic}
    # The topic admits exactly this rule.
    topic_policy = next(p for p in org_assembly.resources(CENTRAL_STAGE, "AWS::SNS::TopicPolicy").values() if {"Ref": alerts_topic} in p["Properties"]["Topics"])
    events_statement = next(s for s in topic_policy["Properties"]["PolicyDocument"]["Statement"] if s.get("Principal") == {"Service": "events.amazonaws.com"})
    assert events_statement["Condition"] == {"ArnEquals": {"aws:SourceArn": {"Fn::GetAtt": [rule_id, "Arn"]}}}


def test_forwarded_alarm_alert_is_json_for_any_values() -> None:
    """EventBridge puts a placeholder's value into a quoted string as text, elsewhere as a JSON
    value; either way the alert must parse."""
    values = {name: f"{name} value: [1.0 (12/05/24 10:00:00)] > 0 \\ end" for name in ALERT_FIELDS}
    parts = re.split(r'("(?:[^"\\]|\\.)*")', ALERT_TEMPLATE)
    for index, part in enumerate(parts):
        for name, value in values.items():
            inside = part.startswith('"')
            part = part.replace(f"<{name}>", json.dumps(value)[1:-1] if inside else json.dumps(value))
        parts[index] = part
    alert = json.loads("".join(parts))
    assert set(alert) == {"kind", "title", *ALERT_FIELDS}
    assert alert["kind"] == "alarm"
    assert alert["reason"] == values["reason"]
    assert alert["title"] == f"Bucketwatch alarm {values['alarm']} in {values['account']}/{values['region']}"


def test_replication_construct_alone() -> None:
    stack = Stack(App(), "Member", env={"account": "111111111111", "region": "eu-west-1"})
    source = s3.Bucket(stack, "Logs", bucket_name="logs-111111111111-eu-west-1", versioned=True)
    CrossAccountReplication(stack, "Replication", source=source, destination_bucket_name="central-archive", destination_account=CENTRAL)
    template = Template.from_stack(stack)
    template.has_resource_properties(
        "AWS::S3::Bucket",
        {"ReplicationConfiguration": {"Role": Match.any_value(), "Rules": [Match.object_like({
            "Destination": Match.object_like({"Account": CENTRAL, "AccessControlTranslation": {"Owner": "Destination"}}),
        })]}},
    )
    template.has_resource_properties("AWS::CloudWatch::Alarm", {"MetricName": "OperationsFailedReplication", "Namespace": "AWS/S3"})
    # The bucket waits for the role's policy: S3 checks the role when replication is configured.
    bucket = next(iter(template.find_resources("AWS::S3::Bucket").values()))
    policy_id = next(iter(template.find_resources("AWS::IAM::Policy")))
    assert policy_id in bucket["DependsOn"]


def test_replication_needs_a_named_source() -> None:
    stack = Stack(App(), "Member", env={"account": "111111111111", "region": "eu-west-1"})
    source = s3.Bucket(stack, "Logs", versioned=True)
    with pytest.raises(ValueError, match="needs a source bucket with an explicit name"):
        CrossAccountReplication(stack, "Replication", source=source, destination_bucket_name="central-archive", destination_account=CENTRAL)
