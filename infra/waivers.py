"""Every check the monitoring stack deliberately does not satisfy, with the reason, in one place.

A waiver names the findings it covers in each tool that reads our templates:

- cdk-nag (AwsSolutions pack, a CDK validation plugin): acknowledged with
  `Validations.of(construct).acknowledge(...)`, which is where cdk-nag v3 reads them.
- checkov's built-in CloudFormation checks: written into the resource's template metadata as
  `Metadata.checkov.skip[{id, comment}]`, which checkov honours per resource and reports as skipped.
- Bucketwatch's own policies (the synth-time plugin): `Metadata.bucketwatch.suppressions`
  `[{id, reason}]` on the resource, which the template source reads and reports as SUPPRESSED.

Reviewers read this file to see what the deployment does not do and why; constructs call
`apply_waiver(construct, WAIVER)` on the exact resource the waiver is about, never on a stack.
Buckets also carry their Bucketwatch suppressions as tags (policies/suppression_tags.py), which
the live scan reads. CDK is imported only where a waiver is applied, so the demo can read the
waivers (what the deployed stack carries) without loading CDK.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from aws_cdk import CfnResource
    from constructs import IConstruct

from policies.suppression_tags import suppression_tags

BUCKETWATCH_METADATA_KEY = "bucketwatch"


@dataclass(frozen=True)
class Waiver:
    reason: str
    nag: tuple[str, ...] = ()
    checkov: tuple[str, ...] = ()
    bucketwatch: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if len(self.reason.strip()) < 20:
            raise ValueError(f"a waiver needs a real reason, got {self.reason!r}")


ACCESS_LOG_BUCKET_SELF_LOGGING = Waiver(
    "This is the regional server-access-log target bucket; S3 cannot deliver a bucket's access "
    "logs into itself without an endless loop, and there is no further bucket to log into.",
    nag=("AwsSolutions-S1",),
    checkov=("CKV_AWS_18",),
    bucketwatch=("BW.S3.Logging",),
)
ACCESS_LOG_BUCKET_UNRECORDED = Waiver(
    "The regional access-log bucket cannot log to itself, and the data-event trail excludes the "
    "monitoring's own log buckets on purpose: recording their deliveries would log every log "
    "delivery again, in a loop. Its writers are S3 log delivery and replication; its readers are "
    "Bucketwatch's own functions, which CloudTrail management events and IAM already cover.",
    bucketwatch=("BW.S3.MonitoringCoverage",),
)
ACCESS_LOG_BUCKET_SSE_S3 = Waiver(
    "S3 server access log delivery only writes to target buckets with SSE-S3 default "
    "encryption; SSE-KMS would silently stop log delivery.",
    bucketwatch=("BW.S3.EncryptionKMS",),
)
ACCESS_LOG_BUCKET_NO_OBJECT_LOCK = Waiver(
    "S3 server access logging does not deliver to a target bucket with an Object Lock default "
    "retention period, so the access-log bucket relies on versioning and its policy instead.",
    bucketwatch=("BW.S3.ObjectLock",),
)
OBJECT_LOCK_OPT_IN = Waiver(
    "Object Lock in COMPLIANCE mode cannot be undone, not even by the root user, and keeps "
    "every object for its retention period; it is opt-in (setting objectLockDays).",
    bucketwatch=("BW.S3.ObjectLock",),
)
LAMBDA_NO_VPC = Waiver(
    "The functions only call public AWS APIs (S3, SNS, DynamoDB, KMS); a VPC would add NAT or "
    "endpoint costs and no data path; IAM and resource policies scope their access.",
    checkov=("CKV_AWS_117",),
)
SQS_MANAGED_ENCRYPTION = Waiver(
    "The queue is encrypted with SQS-managed keys (SqsManagedSseEnabled); checkov's check only "
    "recognises KmsMasterKeyId. SSE-SQS avoids granting EventBridge and Lambda use of a KMS key.",
    checkov=("CKV_AWS_27",),
)
DLQ_HAS_NO_DLQ = Waiver(
    "This queue is itself the dead-letter queue of a Lambda function; a dead-letter queue of a "
    "dead-letter queue only moves the same messages again.",
    nag=("AwsSolutions-SQS3",),
)
LOG_OBJECTS_READ = Waiver(
    "Log object keys are chosen by S3 log delivery and CloudTrail (account, region, date); the "
    "detector may read any object, but only in the log buckets and under their log prefixes.",
)
LAKE_PREFIX_WRITE = Waiver(
    "Lake object keys are partitioned by event time and written as new files; each function may "
    "only put objects below its own database prefix of the processed bucket.",
)
POSTURE_READS_EVERY_BUCKET = Waiver(
    "The posture scan judges every bucket and trail in the account by design: its role has only "
    "configuration reads (Get/List/Describe, no object access), some of which IAM only grants on '*'.",
)
SCHEDULED_QUERIES_READ_THE_LAKE = Waiver(
    "Scheduled queries run in Athena with the caller's permissions: Athena reads every file of a "
    "table's partitions (keys chosen by event time) and writes query results under the workgroup's "
    "results prefix; the role reads only the lake's table prefixes and writes only the results prefix.",
)

REPLICATION_OBJECTS = Waiver(
    "S3 replication copies whatever objects log delivery writes (keys chosen by S3: prefix, account, "
    "region, date); the role reads only the member's access-log bucket and writes only replicas into "
    "the central archive.",
)
ORGANIZATION_AUDIT_READS = Waiver(
    "The central posture scan judges every bucket and trail of the member account by design: the audit "
    "role has only configuration reads (Get/List/Describe, no object access), some of which IAM only "
    "grants on '*', and only the central posture role of the organization can assume it.",
)
ASSUME_AUDIT_ROLES_BY_ORGANIZATION = Waiver(
    "The central posture scan assumes the read-only audit role in every member account: the resource "
    "is that role's fixed name in any account ('*' stands for the account id only), and the statement's "
    "condition aws:ResourceOrgID = the organization id limits it to roles owned by the organization's "
    "accounts, so it stays one statement however many members there are (a list of role ARNs passed "
    "IAM's managed-policy size limit at 121 members). Each audit role in turn trusts only this scanner "
    "role of the organization (aws:PrincipalOrgID).",
)


def narrowed_data_events(reason: str) -> Waiver:
    """The deployer's own written reason (context `dataEvents.waiverReason`) for a trail that
    records only reads or only writes (BW.CloudTrail.S3DataEvents), e.g. to halve the data-event bill."""
    return Waiver(reason, bucketwatch=("BW.CloudTrail.S3DataEvents",))


def apply_waiver(construct: IConstruct, waiver: Waiver, *extra_nag_findings: str) -> None:
    """Acknowledge `waiver` on `construct` for cdk-nag, checkov and Bucketwatch's own policies.

    `extra_nag_findings` are finding-level cdk-nag ids (e.g. `AwsSolutions-IAM5[Resource::...]`)
    that only exist once a resource is known; they share the waiver's reason.
    """
    from aws_cdk import Acknowledgment, Validations

    ids = (*waiver.nag, *extra_nag_findings)
    if ids:
        Validations.of(construct).acknowledge(*(Acknowledgment(id=i, reason=waiver.reason) for i in ids))
    if waiver.checkov:
        _skip_checkov(_cfn_resource(construct), waiver)
    if waiver.bucketwatch:
        _suppress_bucketwatch(_cfn_resource(construct), waiver)


def iam5_resource(resource: str) -> str:
    """cdk-nag's finding id for one wildcard resource of an IAM policy."""
    return f"AwsSolutions-IAM5[Resource::{resource}]"


def nag_arn(construct: IConstruct) -> str:
    """How cdk-nag prints `Fn::GetAtt [<logical id>, Arn]` of `construct`'s resource."""
    from aws_cdk import Stack

    resource = _cfn_resource(construct)
    return f"<{Stack.of(resource).get_logical_id(resource)}.Arn>"


def nag_text(scope: IConstruct, value: str) -> str:
    """How cdk-nag prints `value` (a string that may hold tokens) in a finding id: references as
    `<Name>`, joins concatenated."""
    from aws_cdk import Stack

    return _nag_render(Stack.of(scope).resolve(value))


def _nag_render(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and "Ref" in value:
        return f"<{value['Ref']}>"
    if isinstance(value, dict) and "Fn::GetAtt" in value:
        return "<{}.{}>".format(*value["Fn::GetAtt"])
    if isinstance(value, dict) and "Fn::Join" in value:
        separator, parts = value["Fn::Join"]
        return separator.join(_nag_render(part) for part in parts)
    raise TypeError(f"cannot render {value!r} the way cdk-nag prints it")


def _cfn_resource(construct: IConstruct) -> CfnResource:
    from aws_cdk import CfnResource

    if isinstance(construct, CfnResource):
        return construct
    child = construct.node.default_child
    if not isinstance(child, CfnResource):
        raise TypeError(f"{construct.node.path} has no CloudFormation resource to carry a checkov skip")
    return child


def _skip_checkov(resource: CfnResource, waiver: Waiver) -> None:
    current = resource.get_metadata("checkov") or {}
    skips = [s for s in current.get("skip", []) if s["id"] not in waiver.checkov]
    skips += [{"id": check, "comment": waiver.reason} for check in waiver.checkov]
    resource.add_metadata("checkov", {"skip": skips})


def _suppress_bucketwatch(resource: CfnResource, waiver: Waiver) -> None:
    """Bucketwatch's template source reads `Metadata.bucketwatch.suppressions[{id, reason}]`; a
    deployed bucket carries the same exceptions as tags, which the live scan reads
    (policies/suppression_tags.py), so synth-time and live verdicts agree."""
    current = dict(resource.get_metadata(BUCKETWATCH_METADATA_KEY) or {})
    entries = [e for e in current.get("suppressions", []) if e["id"] not in waiver.bucketwatch]
    entries += [{"id": policy, "reason": waiver.reason} for policy in waiver.bucketwatch]
    resource.add_metadata(BUCKETWATCH_METADATA_KEY, {**current, "suppressions": entries})
    if resource.cfn_resource_type == "AWS::S3::Bucket":
        from aws_cdk import Tags

        for key, value in suppression_tags(waiver.bucketwatch, waiver.reason).items():
            Tags.of(resource).add(key, value)
