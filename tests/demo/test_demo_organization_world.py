"""The demo organization on moto over HTTP: built with AWS Organizations, each account provisioned
as its stack would be (compared with the CDK constructs themselves, synthesized here), and the
replication step the demo performs for S3.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import unquote_plus

import pytest
from aws_cdk import App, Environment, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3
from aws_cdk.assertions import Template

from bucketwatch.demo.clients import Clients
from bucketwatch.demo.detection import DemoError
from bucketwatch.demo.organization import (
    AUDIT_ROLE,
    CENTRAL_NAME,
    PAYMENTS,
    CentralProvisioner,
    OrgWorld,
    archive_policy,
    build_world,
    create_organization,
    read_only_statements,
    seed_endpoint,
)
from bucketwatch.demo.replication import Replicator, matching_rule
from bucketwatch.localaws import MotoServer
from infra.archive import LogArchive
from infra.audit_role import AuditRole
from infra.naming import replication_role_name
from infra.posture import read_only_statements as stack_read_only_statements
from infra.replication import CrossAccountReplication

pytestmark = pytest.mark.xdist_group("demo-organization-world")


@pytest.fixture(scope="module")
def world() -> Iterator[OrgWorld]:
    """The organization on a server of its own (the session's server is reset by other tests)."""
    with MotoServer() as server:
        yield build_world(server.endpoint_url, seed=7)


# -- CloudFormation JSON to plain policy documents ------------------------------------------------

def _resolve(value: Any, arns: dict[str, str]) -> Any:
    """Fn::Join, Ref AWS::Partition and the Fn::GetAtt Arn of a resource in `arns`, resolved as AWS
    would; other references are left as they are."""
    if isinstance(value, dict):
        if "Fn::Join" in value:
            separator, parts = value["Fn::Join"]
            return separator.join(str(_resolve(p, arns)) for p in parts)
        if value.get("Ref") == "AWS::Partition":
            return "aws"
        if "Fn::GetAtt" in value and value["Fn::GetAtt"][0] in arns:
            return arns[value["Fn::GetAtt"][0]]
        return {k: _resolve(v, arns) for k, v in value.items()}
    if isinstance(value, list):
        return [_resolve(v, arns) for v in value]
    return value


def _listed(value: Any) -> list[Any]:
    return sorted(value) if isinstance(value, list) else [value]


def _statement(st: dict[str, Any]) -> str:
    """One statement, canonical: no Sid; actions, resources, principals and condition values as
    sorted lists; `"*"` as `{"AWS": ["*"]}` (the same grant, spelled two ways)."""
    principal = st.get("Principal")
    if principal == "*":
        principal = {"AWS": "*"}
    out = {"Effect": st["Effect"], "Action": _listed(st["Action"]), "Resource": _listed(st.get("Resource", [])),
           "Principal": {k: _listed(v) for k, v in (principal or {}).items()},
           "Condition": {op: {k: _listed(v) for k, v in kv.items()} for op, kv in (st.get("Condition") or {}).items()}}
    return json.dumps(out, sort_keys=True)


def _statements(document: dict[str, Any]) -> list[str]:
    return sorted(_statement(st) for st in document["Statement"])


def _template(stack: Stack) -> tuple[dict[str, Any], dict[str, str]]:
    """The stack's resources with named roles' and buckets' ARNs resolved."""
    resources = Template.from_stack(stack).to_json()["Resources"]
    arns = {logical: f"arn:aws:iam::{stack.account}:role/{r['Properties']['RoleName']}"
            for logical, r in resources.items() if r["Type"] == "AWS::IAM::Role"}
    arns.update({logical: f"arn:aws:s3:::{r['Properties']['BucketName']}" for logical, r in resources.items()
                 if r["Type"] == "AWS::S3::Bucket" and isinstance(r["Properties"].get("BucketName"), str)})
    return _resolve(resources, arns), arns


def _role(resources: dict[str, Any], name: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """(trust, every statement of the policies attached to it) of the role named `name`."""
    logical, role = next((k, r) for k, r in resources.items()
                         if r["Type"] == "AWS::IAM::Role" and r["Properties"].get("RoleName") == name)
    statements = [st for r in resources.values() if r["Type"] == "AWS::IAM::Policy"
                  for st in r["Properties"]["PolicyDocument"]["Statement"]
                  if any(ref == {"Ref": logical} for ref in r["Properties"]["Roles"])]
    return role["Properties"]["AssumeRolePolicyDocument"], statements


def _stored_role(clients: Clients, name: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    iam_client = clients.iam
    trust = iam_client.get_role(RoleName=name)["Role"]["AssumeRolePolicyDocument"]
    statements = [st for policy in iam_client.list_role_policies(RoleName=name)["PolicyNames"]
                  for st in iam_client.get_role_policy(RoleName=name, PolicyName=policy)["PolicyDocument"]["Statement"]]
    return trust, statements


def _stack(account: str, region: str) -> Stack:
    return Stack(App(), "Stack", env=Environment(account=account, region=region))


# -- Organizations --------------------------------------------------------------------------------

def test_organizations_lists_the_management_account_the_center_and_three_members(world: OrgWorld) -> None:
    listed = world.management.organizations.list_accounts()["Accounts"]
    names = world.names
    assert {(a["Id"], a["Name"]) for a in listed if a["Id"] != names.management_id} == {
        (names.central.account_id, CENTRAL_NAME), *((m.account_id, m.name) for m in names.members)}
    # Each account's resources are that account's own: the members see only their buckets.
    for member in names.members:
        buckets = {b["Name"] for b in world.of(member.account_id).s3.list_buckets()["Buckets"]}
        assert buckets == {member.names.access_log_bucket, *member.buckets.values()}


def test_the_same_seed_gives_the_same_accounts_and_another_seed_others(world: OrgWorld) -> None:
    with MotoServer() as server:
        seed_endpoint(server.endpoint_url, 7)
        again = create_organization(Clients(server.endpoint_url))
    with MotoServer() as server:
        seed_endpoint(server.endpoint_url, 8)
        other = create_organization(Clients(server.endpoint_url))
    assert (again.organization_id, again.accounts) == (world.names.organization_id, world.names.accounts)
    assert not set(other.accounts) & set(world.names.accounts)


# -- As the stacks build it -------------------------------------------------------------------------

def test_audit_roles_are_the_stacks_audit_role(world: OrgWorld) -> None:
    names = world.names
    for member in names.members:
        stack = _stack(member.account_id, member.region)
        AuditRole(stack, "Audit", role_name=AUDIT_ROLE, trusted_role_arn=names.scanner_role_arn,
                  organization_id=names.organization_id)
        resources, _ = _template(stack)
        trust, statements = _role(resources, AUDIT_ROLE)
        stored_trust, stored = _stored_role(world.of(member.account_id), AUDIT_ROLE)
        assert _statements(stored_trust) == _statements(trust)
        assert sorted(map(_statement, stored)) == sorted(map(_statement, statements))
        assert names.scanner_role_arn in json.dumps(stored_trust) and names.organization_id in json.dumps(stored_trust)


def test_read_only_statements_are_the_posture_roles(world: OrgWorld) -> None:
    stack = _stack(world.names.central.account_id, "us-east-1")
    document = stack.resolve(iam.PolicyDocument(statements=stack_read_only_statements()).to_json())
    assert sorted(map(_statement, read_only_statements())) == _statements(_resolve(document, {}))


def test_member_replication_is_the_stacks_replication(world: OrgWorld) -> None:
    names = world.names
    for member in names.members:
        stack = _stack(member.account_id, member.region)
        bucket = s3.Bucket(stack, "Logs", bucket_name=member.names.access_log_bucket, versioned=True)
        CrossAccountReplication(stack, "Replication", source=bucket, destination_bucket_name=names.archive_bucket,
                                destination_account=names.central.account_id,
                                role_name=replication_role_name(member.region))
        resources, _ = _template(stack)
        trust, statements = _role(resources, replication_role_name(member.region))
        clients = world.of(member.account_id)
        stored_trust, stored = _stored_role(clients, replication_role_name(member.region))
        assert _statements(stored_trust) == _statements(trust)
        assert sorted(map(_statement, stored)) == sorted(map(_statement, statements))
        expected = next(r for r in resources.values() if r["Type"] == "AWS::S3::Bucket")["Properties"][
            "ReplicationConfiguration"]
        stored_config = clients.s3.get_bucket_replication(Bucket=member.names.access_log_bucket)[
            "ReplicationConfiguration"]
        assert stored_config["Role"] == expected["Role"]
        (rule,), (want,) = stored_config["Rules"], expected["Rules"]
        assert (rule["ID"], rule["Status"], rule["Filter"], rule["DeleteMarkerReplication"]) == (
            want["Id"], want["Status"], want["Filter"], want["DeleteMarkerReplication"])
        destination = rule["Destination"]
        assert (destination["Bucket"], destination["Account"], destination["AccessControlTranslation"]) == (
            want["Destination"]["Bucket"], want["Destination"]["Account"], want["Destination"]["AccessControlTranslation"])


def test_the_archive_policy_is_the_stacks_once_hardened(world: OrgWorld) -> None:
    names = world.names
    stack = _stack(names.central.account_id, names.central.region)
    LogArchive(stack, "Archive", organization_id=names.organization_id)
    resources, _ = _template(stack)
    expected = next(r for r in resources.values() if r["Type"] == "AWS::S3::BucketPolicy")["Properties"][
        "PolicyDocument"]
    central = world.of(names.central.account_id)
    before = json.loads(central.s3.get_bucket_policy(Bucket=names.archive_bucket)["Policy"])
    assert _statements(before) == _statements(archive_policy(names))
    CentralProvisioner(central, names).harden_monitoring_buckets()
    try:
        after = json.loads(central.s3.get_bucket_policy(Bucket=names.archive_bucket)["Policy"])
        assert _statements(after) == _statements(expected)
    finally:  # moto enforces the TLS deny on every write: the other tests here still write
        for bucket in (names.archive_bucket, names.central.access_log_bucket, names.central.processed_bucket):
            central.s3.delete_bucket_policy(Bucket=bucket)
        central.s3.put_bucket_policy(Bucket=names.archive_bucket, Policy=json.dumps(before))


def test_member_trails_deliver_into_the_archive_with_its_key(world: OrgWorld) -> None:
    names = world.names
    for account in names.accounts:
        (trail,) = world.of(account).cloudtrail.describe_trails(includeShadowTrails=False)["trailList"]
        assert trail["S3BucketName"] == names.archive_bucket
        assert trail["KmsKeyId"] == f"arn:aws:kms:us-east-1:{names.central.account_id}:alias/bucketwatch-archive"
        assert trail["IsMultiRegionTrail"] and trail["LogFileValidationEnabled"]


# -- Replication ----------------------------------------------------------------------------------

def test_a_new_access_log_object_is_replicated_with_its_key_and_announced_by_the_archive(world: OrgWorld) -> None:
    names = world.names
    payments = names.member(PAYMENTS)
    bucket = payments.bucket("payments-ledger")
    key = (f"{bucket}/{payments.account_id}/us-east-1/{bucket}/2026/05/12/"
           "2026-05-12-09-20-11-0123456789ABCDEF")
    member = world.of(payments.account_id)
    member.s3.put_object(Bucket=payments.names.access_log_bucket, Key=key, Body=b"a log line\n")
    central = world.of(names.central.account_id)
    queue = world.central.detector_queue_url
    central.sqs.purge_queue(QueueUrl=queue)
    replica = Replicator(world.clients).replicate(payments.account_id, payments.names.access_log_bucket, key)
    assert replica is not None and (replica.destination_bucket, replica.key) == (names.archive_bucket, key)
    assert replica.destination_account == names.central.account_id and replica.rule_id == "to-central-archive"
    body = central.s3.get_object(Bucket=names.archive_bucket, Key=key)["Body"].read()
    assert body == b"a log line\n"
    messages = central.sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10)["Messages"]
    records = [json.loads(json.loads(m["Body"])["Message"]) for m in messages]
    announced = [unquote_plus(r["s3"]["object"]["key"]) for record in records for r in record.get("Records", [])]
    assert announced == [key]


def test_a_bucket_without_replication_is_not_replicated(world: OrgWorld) -> None:
    payments = world.names.member(PAYMENTS)
    bucket = payments.bucket("payments-exports")
    world.of(payments.account_id).s3.put_object(Bucket=bucket, Key="x.csv", Body=b"1")
    assert Replicator(world.clients).replicate(payments.account_id, bucket, "x.csv") is None


def test_replication_that_the_demo_does_not_emulate_is_refused(world: OrgWorld) -> None:
    payments = world.names.member(PAYMENTS)
    member = world.of(payments.account_id)
    bucket = payments.bucket("payments-exports")  # versioned, and no TLS-only policy (moto enforces it)
    member.s3.put_bucket_replication(Bucket=bucket, ReplicationConfiguration={
        "Role": f"arn:aws:iam::{payments.account_id}:role/other", "Rules": [{
            "ID": "to-partner", "Status": "Enabled", "Priority": 1, "Filter": {"Prefix": ""},
            "DeleteMarkerReplication": {"Status": "Disabled"},
            "Destination": {"Bucket": "arn:aws:s3:::partner-bucket", "Account": "444455556666"}}]})
    member.s3.put_object(Bucket=bucket, Key="ledger/1.avro", Body=b"1")
    with pytest.raises(DemoError, match="replicates to account 444455556666 with owner None"):
        Replicator(world.clients).replicate(payments.account_id, bucket, "ledger/1.avro")


def test_the_matching_rule_is_the_enabled_one_with_the_highest_priority() -> None:
    rules = [{"ID": "off", "Status": "Disabled", "Priority": 9, "Filter": {"Prefix": ""}},
             {"ID": "logs", "Status": "Enabled", "Priority": 2, "Filter": {"Prefix": "logs/"}},
             {"ID": "all", "Status": "Enabled", "Priority": 1, "Filter": {"Prefix": ""}},
             {"ID": "v1", "Status": "Enabled", "Priority": 0, "Prefix": "old/"}]
    config = {"Rules": rules}
    assert matching_rule(config, "logs/a")["ID"] == "logs"
    assert matching_rule(config, "other/a")["ID"] == "all"
    assert matching_rule({"Rules": [rules[3]]}, "old/a")["ID"] == "v1"
    assert matching_rule({"Rules": [rules[3]]}, "new/a") is None
    with pytest.raises(DemoError, match="only prefix filters are emulated"):
        matching_rule({"Rules": [{"ID": "t", "Status": "Enabled", "Filter": {"Tag": {"Key": "k", "Value": "v"}}}]},
                      "a")
