"""The organization app as a whole: its stages, one posture scan for the organization, the
environment contract of the central Lambdas, and properties every template must have (service
grants scoped to their source, alarm topics CloudWatch may publish to)."""

from __future__ import annotations

import fnmatch
import json

import pytest
from aws_cdk.assertions import Match, Template
from synth_support import (
    CENTRAL,
    CENTRAL_STAGE,
    MEMBER_REGIONS,
    MEMBER_STAGES,
    ORG_ID,
    Synthesized,
    asset_dir,
    asset_file,
    render,
)

from detectors.common.organization import (
    BUNDLED_FILE_NAME,
    FILE_VARIABLE,
    OrganizationSettings,
    parse_organization,
)
from infra.detector import DETECTOR_HANDLER
from infra.posture import POSTURE_HANDLER
from infra.posture_fanout import WORKER_HANDLER

pytestmark = pytest.mark.xdist_group("infra")
ACCOUNTS = [CENTRAL, *MEMBER_REGIONS]
RESOURCE_POLICIES = {
    "AWS::S3::BucketPolicy": "PolicyDocument",
    "AWS::SNS::TopicPolicy": "PolicyDocument",
    "AWS::SQS::QueuePolicy": "PolicyDocument",
    "AWS::KMS::Key": "KeyPolicy",
}
SOURCE_KEYS = {"aws:SourceArn", "aws:SourceAccount", "aws:SourceOrgID"}


def functions(assembly: Synthesized, handler: str) -> list[tuple[str, str, dict]]:
    return [
        (stage, k, v) for stage in assembly.templates
        for k, v in assembly.resources(stage, "AWS::Lambda::Function").items() if v["Properties"]["Handler"] == handler
    ]


def test_one_central_stage_then_one_stage_per_member_region(org_assembly: Synthesized) -> None:
    assert sorted(org_assembly.templates) == sorted([CENTRAL_STAGE, *MEMBER_STAGES])
    manifest = json.loads((org_assembly.outdir / f"assembly-{CENTRAL_STAGE}" / "manifest.json").read_text())
    stacks = [a["displayName"] for a in manifest["artifacts"].values() if a["type"] == "aws:cloudformation:stack"]
    assert stacks == [f"{CENTRAL_STAGE}/Central"]
    for stage in MEMBER_STAGES:
        manifest = json.loads((org_assembly.outdir / f"assembly-{stage}" / "manifest.json").read_text())
        stacks = [a["displayName"] for a in manifest["artifacts"].values() if a["type"] == "aws:cloudformation:stack"]
        assert stacks == [f"{stage}/Member"]


def test_one_posture_scanner_for_the_whole_organization(org_assembly: Synthesized) -> None:
    ((stage, _, scanner),) = functions(org_assembly, POSTURE_HANDLER)
    assert stage == CENTRAL_STAGE
    (rule,) = [r for k, r in org_assembly.resources(CENTRAL_STAGE, "AWS::Events::Rule").items()
               if "ScheduleExpression" in r["Properties"] and k.startswith("Posture")]
    assert rule["Properties"]["ScheduleExpression"] == "cron(0 6 * * ? *)"
    env = scanner["Properties"]["Environment"]["Variables"]
    organization = bundled_organization(org_assembly, scanner)
    # Every account exactly once: each member is scanned once per schedule, the center too.
    assert list(organization.accounts) == ACCOUNTS
    assert (organization.organization_id, organization.audit_role_name) == (ORG_ID, "BucketwatchAudit")
    assert organization.trusted_accounts == ("444455556666",)
    assert "SCAN_REGIONS" not in env  # no scanRegions: every bucket's region


def test_central_scanner_may_assume_only_the_audit_role_of_the_organization(org_assembly: Synthesized) -> None:
    """The fan-out's worker scans: its role is the one the audit roles trust, and it may assume
    only the audit role's name in accounts of the organization (one statement for any number of
    members); the scheduled function (the dispatcher) may assume nothing."""
    ((_, _, worker),) = functions(org_assembly, WORKER_HANDLER)
    ((_, _, dispatcher),) = functions(org_assembly, POSTURE_HANDLER)
    role_id = worker["Properties"]["Role"]["Fn::GetAtt"][0]
    role = org_assembly.templates[CENTRAL_STAGE]["Resources"][role_id]["Properties"]
    assert role["RoleName"] == "bucketwatch-posture-scanner"  # what the audit roles trust
    assume = [s for s in role_statements(org_assembly, role_id) if "sts:AssumeRole" in str(s["Action"])]
    assert assume == [{
        "Action": "sts:AssumeRole",
        "Effect": "Allow",
        "Resource": "arn:aws:iam::*:role/BucketwatchAudit",
        "Sid": "AssumeMemberAuditRoles",
        "Condition": {"StringEquals": {"aws:ResourceOrgID": ORG_ID}},
    }]
    dispatcher_role = dispatcher["Properties"]["Role"]["Fn::GetAtt"][0]
    assert "sts:AssumeRole" not in str(role_statements(org_assembly, dispatcher_role))


def bundled_organization(assembly: Synthesized, function: dict) -> OrganizationSettings:
    """The organization settings `function` reads: the file its environment names, in its code."""
    name = function["Properties"]["Environment"]["Variables"][FILE_VARIABLE]
    assert name == BUNDLED_FILE_NAME
    return parse_organization(json.loads(asset_file(assembly.outdir, function, name)))


def role_statements(assembly: Synthesized, role_id: str) -> list[dict]:
    return [
        s for p in assembly.resources(CENTRAL_STAGE, "AWS::IAM::Policy").values() if {"Ref": role_id} in p["Properties"]["Roles"]
        for s in render(p["Properties"]["PolicyDocument"]["Statement"], assembly.templates[CENTRAL_STAGE])
    ]


def test_posture_handler_reads_the_central_environment_as_one_scan_of_every_account(
    org_assembly: Synthesized, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The contract with policies/posture_handler.py and policies/posture_fanout.py: what the stack
    sets is what the dispatcher needs to send every account, and the worker to scan one, and the
    roles the worker will assume are the ones the stack lets it."""
    from policies.posture_handler import QUEUE_VARIABLE, _settings, organization_scope
    from policies.sources.live_org import role_arn

    ((_, _, dispatcher),) = functions(org_assembly, POSTURE_HANDLER)
    ((_, _, worker),) = functions(org_assembly, WORKER_HANDLER)
    dispatcher_env = dispatcher["Properties"]["Environment"]["Variables"]
    worker_env = worker["Properties"]["Environment"]["Variables"]
    assert set(dispatcher_env) == {FILE_VARIABLE, QUEUE_VARIABLE}
    assert set(worker_env) == {FILE_VARIABLE, "ALERTS_TOPIC_ARN", "PROCESSED_BUCKET"}
    assert dispatcher["Properties"]["Code"] == worker["Properties"]["Code"]
    monkeypatch.chdir(asset_dir(org_assembly.outdir, worker))  # as in Lambda: the code asset's root
    monkeypatch.delenv("BUCKETWATCH_CONFIG", raising=False)
    monkeypatch.delenv("BUCKETWATCH_ORGANIZATION", raising=False)
    monkeypatch.setenv(FILE_VARIABLE, worker_env[FILE_VARIABLE])
    scope = organization_scope(_settings())
    assert scope is not None
    role_name, accounts = scope
    assert accounts == ACCOUNTS
    assumable = next(s for s in role_statements(org_assembly, worker["Properties"]["Role"]["Fn::GetAtt"][0])
                     if s.get("Sid") == "AssumeMemberAuditRoles")
    assert assumable["Condition"] == {"StringEquals": {"aws:ResourceOrgID": _settings().organization.organization_id}}
    for account in ACCOUNTS:
        assert fnmatch.fnmatchcase(role_arn("aws", account, role_name), assumable["Resource"])
    assert not fnmatch.fnmatchcase(role_arn("aws", CENTRAL, "OtherRole"), assumable["Resource"])


def test_central_detector_knows_the_organization(org_assembly: Synthesized) -> None:
    ((stage, _, detector),) = functions(org_assembly, DETECTOR_HANDLER)
    assert stage == CENTRAL_STAGE
    assert bundled_organization(org_assembly, detector).accounts == tuple(ACCOUNTS)
    assert detector["Properties"]["ReservedConcurrentExecutions"] == 10  # the example's central override


def test_central_lake_has_every_table(org_assembly: Synthesized) -> None:
    template = Template.from_json(org_assembly.templates[CENTRAL_STAGE])
    template.resource_count_is("AWS::Glue::Database", 4)
    template.resource_count_is("AWS::Glue::Table", 8)
    template.resource_count_is("AWS::Athena::WorkGroup", 1)


@pytest.mark.parametrize(("database", "table"), [("panther_logs", "aws_s3serveraccess"), ("panther_logs", "aws_cloudtrail"),
                                                 ("panther_rule_matches", "aws_s3serveraccess"), ("bucketwatch", "posture_findings")])
def test_central_lake_tables_say_which_account_and_region(org_assembly: Synthesized, database: str, table: str) -> None:
    """Every member's rows land in one table; p_account_id and p_region tell them apart in WHERE and GROUP BY."""
    Template.from_json(org_assembly.templates[CENTRAL_STAGE]).has_resource_properties(
        "AWS::Glue::Table",
        {
            "DatabaseName": database,
            "TableInput": Match.object_like({
                "Name": table,
                "Parameters": Match.object_like({"projection.enabled": "true"}),
                "StorageDescriptor": Match.object_like({"Columns": Match.array_with([
                    {"Name": "p_account_id", "Type": "string"}, {"Name": "p_region", "Type": "string"},
                ])}),
            }),
        },
    )


def test_single_account_stages_scan_each_account_once(assembly: Synthesized) -> None:
    """Two stages of one account used to scan every region twice and alert to two topics."""
    assert [stage for stage, _, _ in functions(assembly, POSTURE_HANDLER)] == ["Bucketwatch-111111111111-us-east-1"]
    assert len(functions(assembly, DETECTOR_HANDLER)) == 2  # detection stays per region


def service_grants(template: dict):
    for logical_id, resource in template["Resources"].items():
        document = resource.get("Properties", {}).get(RESOURCE_POLICIES.get(resource["Type"], ""))
        for statement in (document or {}).get("Statement", []):
            principal = statement.get("Principal")
            if statement["Effect"] == "Allow" and isinstance(principal, dict) and "Service" in principal:
                yield logical_id, statement


@pytest.mark.parametrize("which", ["assembly", "org_assembly"])
def test_every_service_grant_names_its_source(which: str, request: pytest.FixtureRequest) -> None:
    """No confused deputy: a service may act on our bucket, key, topic or queue only for our
    trail, alarm, rule, bucket or account (CloudWatch Logs: for our log groups)."""
    assembly: Synthesized = request.getfixturevalue(which)
    found = 0
    for stage, template in assembly.templates.items():
        for logical_id, statement in service_grants(template):
            found += 1
            keys = {key for clause in statement.get("Condition", {}).values() for key in clause}
            if statement["Principal"]["Service"] == {"Fn::Join": ["", ["logs.", {"Ref": "AWS::Region"}, ".amazonaws.com"]]} \
                    or str(statement["Principal"]["Service"]).startswith("logs."):
                assert keys == {"kms:EncryptionContext:aws:logs:arn"}, (stage, logical_id, statement)
            else:
                assert keys & SOURCE_KEYS, (stage, logical_id, statement)
            if "cloudtrail.amazonaws.com" in str(statement["Principal"]):
                assert "aws:SourceArn" in keys, (stage, logical_id, statement)
    assert found >= 8


@pytest.mark.parametrize("which", ["assembly", "org_assembly"])
def test_every_topic_an_alarm_notifies_lets_cloudwatch_publish(which: str, request: pytest.FixtureRequest) -> None:
    assembly: Synthesized = request.getfixturevalue(which)
    notified = 0
    for stage, template in assembly.templates.items():
        for alarm in assembly.resources(stage, "AWS::CloudWatch::Alarm").values():
            for action in alarm["Properties"].get("AlarmActions", []):
                notified += 1
                topic_id = action["Ref"]
                policy = next(p for p in assembly.resources(stage, "AWS::SNS::TopicPolicy").values() if action in p["Properties"]["Topics"])
                (grant,) = [s for s in render(policy["Properties"]["PolicyDocument"]["Statement"], template)
                            if s.get("Principal") == {"Service": "cloudwatch.amazonaws.com"}]
                assert grant["Action"] == "sns:Publish" and grant["Effect"] == "Allow"
                account = stage.split("-")[1]
                region = "-".join(stage.split("-")[2:])
                assert grant["Condition"] == {
                    "StringEquals": {"aws:SourceAccount": account},
                    "ArnLike": {"aws:SourceArn": f"arn:aws:cloudwatch:{region}:{account}:alarm:*"},
                }
                # The topic is encrypted: CloudWatch needs the data key too.
                key_id = template["Resources"][topic_id]["Properties"]["KmsMasterKeyId"]["Fn::GetAtt"][0]
                key_grants = [s for s in template["Resources"][key_id]["Properties"]["KeyPolicy"]["Statement"]
                              if "cloudwatch.amazonaws.com" in str(s.get("Principal"))]
                assert key_grants and all(s["Condition"] == {"StringEquals": {"aws:SourceAccount": account}} for s in key_grants)
                assert {"kms:GenerateDataKey*", "kms:Decrypt"} <= {a for s in key_grants for a in s["Action"]}
    assert notified >= 4
