"""The data-event trail: S3 object-level API activity for the buckets Bucketwatch watches."""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from aws_cdk import Aws, Duration, RemovalPolicy, Stack, Token
from aws_cdk import aws_cloudtrail as cloudtrail
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sns as sns
from constructs import Construct

from infra.access_logs import add_object_created_notification
from infra.buckets import monitoring_bucket, retention_rule
from infra.naming import TRAIL_BUCKET_PREFIX, TRAIL_NAME, regional_bucket_name, s3_arn
from infra.waivers import LOG_OBJECTS_READ, Waiver, apply_waiver, iam5_resource, nag_arn

CLOUDTRAIL = "cloudtrail.amazonaws.com"
LOG_PREFIX = "AWSLogs/"
# Resolved by IAM per request to the account CloudTrail delivers for (a policy variable, not a CDK token).
SOURCE_ACCOUNT_VARIABLE = "${aws:SourceAccount}"
TRAIL_RETENTION = Duration.days(365)


class ReadWrite(enum.Enum):
    ALL = "all"
    READ_ONLY = "read"
    WRITE_ONLY = "write"


@dataclass(frozen=True)
class DataEventScope:
    """Which S3 object activity the trail records.

    `locations` empty means every bucket (minus `excluded`); otherwise each entry is a bucket
    name or `bucket/prefix`. `excluded` are exact bucket names never recorded (a name prefix
    would also hide a look-alike bucket an attacker creates, e.g. `<own bucket>-staging`).
    """

    locations: tuple[str, ...] = ()
    read_write: ReadWrite = ReadWrite.ALL
    excluded: tuple[str, ...] = field(default=())

    @classmethod
    def all_buckets(cls, read_write: ReadWrite = ReadWrite.ALL, excluded: Sequence[str] = ()) -> DataEventScope:
        return cls((), read_write, tuple(excluded))

    @classmethod
    def buckets(cls, locations: Sequence[str], read_write: ReadWrite = ReadWrite.ALL) -> DataEventScope:
        if not locations:
            raise ValueError("DataEventScope.buckets needs at least one bucket or bucket/prefix")
        return cls(tuple(locations), read_write)


@dataclass(frozen=True)
class TrailDestination:
    """Where a trail delivers when it does not own its bucket: the organization's central archive.

    The bucket and key policies there must let this trail write (see `allow_cloudtrail_delivery`);
    `key_arn` may be an alias ARN, so a member can name the central key before it knows its id.
    """

    bucket_name: str
    key_arn: str


class DataEventTrail(Construct):
    """Multi-region trail with log file validation and KMS encryption; management events plus S3
    data events chosen by `data_events` (advanced event selectors).

    Without `destination` it owns its delivery: its own KMS key and an encrypted, versioned,
    private, SSL-only bucket whose policies admit only this trail. With one, it delivers to that
    bucket and key (the central archive of an organization), which must admit it.
    `excluded_buckets` are exact bucket names never recorded (the monitoring's own buckets: each
    write there would cause another logged write).
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        data_events: DataEventScope | None = None,
        excluded_buckets: Sequence[str] = (),
        destination: TrailDestination | None = None,
        notification_topic: sns.ITopic | None = None,
        data_events_waiver: Waiver | None = None,
        trail_name: str = TRAIL_NAME,
        retention: Duration = TRAIL_RETENTION,
        object_lock_days: int | None = None,
        removal_policy: RemovalPolicy = RemovalPolicy.RETAIN,
    ) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        self.trail_name = trail_name
        # Known before the trail exists, so the key and bucket policies can name it (no cycle).
        self.trail_arn = stack.format_arn(service="cloudtrail", resource="trail", resource_name=trail_name)
        self.key: kms.Key | None = None
        self.bucket: s3.Bucket | None = None
        if destination is None:
            self.key, self.bucket = self._own_delivery(stack, retention, object_lock_days, removal_policy)
            bucket_name, key_arn = self.bucket.bucket_name, self.key.key_arn
            excluded_buckets = (regional_bucket_name(TRAIL_BUCKET_PREFIX, stack), *excluded_buckets)
        else:
            bucket_name, key_arn = destination.bucket_name, destination.key_arn
        self.data_events = data_events or DataEventScope.all_buckets()
        # The L1 on purpose: CDK's Trail adds its own bucket-policy statements for CloudTrail,
        # without aws:SourceArn (a confused-deputy gap our own policies flag).
        self.trail = cloudtrail.CfnTrail(
            self,
            "Trail",
            trail_name=trail_name,
            is_logging=True,
            s3_bucket_name=bucket_name,
            kms_key_id=key_arn,
            is_multi_region_trail=True,
            include_global_service_events=True,
            enable_log_file_validation=True,
            advanced_event_selectors=advanced_event_selectors(self.data_events, always_excluded=excluded_buckets),
        )
        if data_events_waiver is not None:
            apply_waiver(self.trail, data_events_waiver)
        if self.bucket is not None and self.key is not None:
            # CloudTrail checks the bucket policy and the key when the trail is created.
            assert self.bucket.policy is not None
            self.trail.node.add_dependency(self.bucket.policy)
            self.trail.node.add_dependency(self.key)
            if notification_topic is not None:
                add_object_created_notification(self.bucket, notification_topic, prefix=LOG_PREFIX)

    def _own_delivery(
        self, stack: Stack, retention: Duration, object_lock_days: int | None, removal_policy: RemovalPolicy
    ) -> tuple[kms.Key, s3.Bucket]:
        key = kms.Key(
            self,
            "Key",
            description="Bucketwatch data-event trail log files",
            enable_key_rotation=True,
            removal_policy=removal_policy,
        )
        bucket = monitoring_bucket(
            self,
            "Bucket",
            bucket_name=regional_bucket_name(TRAIL_BUCKET_PREFIX, stack),
            key=key,
            object_lock_days=object_lock_days,
            removal_policy=removal_policy,
            lifecycle_rules=[
                retention_rule("trail-files", retention)
            ],
        )
        allow_cloudtrail_delivery(bucket, key, {stack.account: self.trail_arn})
        return key, bucket

    def grant_read_logs(self, grantee: iam.IGrantable) -> None:
        """Read trail files: GetObject under AWSLogs/ and decrypt with the trail key."""
        assert self.bucket is not None and self.key is not None, "the trail delivers elsewhere; grant there"
        grantee.grant_principal.add_to_principal_policy(
            iam.PolicyStatement(actions=["s3:GetObject"], resources=[self.bucket.arn_for_objects(f"{LOG_PREFIX}*")])
        )
        self.key.grant_decrypt(grantee)
        apply_waiver(grantee, LOG_OBJECTS_READ, iam5_resource(f"{nag_arn(self.bucket)}/{LOG_PREFIX}*"))


def allow_cloudtrail_delivery(bucket: s3.IBucket, key: kms.IKey, trails: Mapping[str, str]) -> None:
    """Let exactly these trails (`{account: trail ARN}`) deliver to `bucket`, encrypted with `key`.

    Every grant to CloudTrail names the trails by `aws:SourceArn` (no confused deputy); each
    account's trail may write only under its own `AWSLogs/<account>/` prefix. One statement per
    trail: for a single account's own bucket. An organization's archive uses
    `allow_organization_cloudtrail_delivery`, whose size does not grow with the accounts.
    """
    arns = list(trails.values())
    contexts = [f"arn:{Aws.PARTITION}:cloudtrail:*:{account}:trail/*" for account in trails]
    _allow_cloudtrail(bucket, key, {"StringEquals": {"aws:SourceArn": _one_or_all(arns)}}, _one_or_all(contexts))
    for account, arn in trails.items():
        _allow_cloudtrail_write(
            bucket,
            sid="AWSCloudTrailWrite" if len(trails) == 1 else f"AWSCloudTrailWrite{account}",
            account=account,
            source={"StringEquals": {"aws:SourceArn": arn}},
        )


def allow_organization_cloudtrail_delivery(
    bucket: s3.IBucket, key: kms.IKey, *, organization_id: str, trail_name: str = TRAIL_NAME
) -> None:
    """Let the trails named `trail_name` of any account of `organization_id` deliver to `bucket`,
    encrypted with `key`, each account only under its own `AWSLogs/<account>/`: two bucket
    statements and two key statements, whatever the number of accounts.

    What each condition relies on (AWS documentation):
    - `aws:SourceOrgID`: a global key present when a service principal calls on behalf of a
      resource owned by an account in an organization (IAM User Guide, "AWS global condition
      context keys"); AWS Control Tower's own audit bucket policy admits CloudTrail by it
      (Control Tower User Guide, "Amazon S3 bucket policy in the audit account").
    - `aws:SourceArn` ArnLike `arn:<partition>:cloudtrail:*:*:trail/<name>`: for CloudTrail the
      value is always the delivering trail's ARN (CloudTrail User Guide, "Amazon S3 bucket policy
      for CloudTrail" and "Configure AWS KMS key policies for CloudTrail"); the wildcards stand
      for region and account, the name stays exact.
    - `AWSLogs/${aws:SourceAccount}/*`: an IAM policy variable in the Resource element (IAM User
      Guide, "IAM policy elements: Variables and tags": global condition keys may be used as
      variables, in resource-based policies too); CloudTrail sets `aws:SourceAccount` to the
      trail owner's account (CloudTrail User Guide, KMS key policies page). A variable IAM cannot
      resolve makes the statement invalid (same IAM page): this fails closed.
    - `kms:EncryptionContext:aws:cloudtrail:arn`: CloudTrail puts the trail ARN in the encryption
      context (CloudTrail User Guide, "Granting encrypt permissions for trails").
    """
    pattern = f"arn:{Aws.PARTITION}:cloudtrail:*:*:trail/{trail_name}"
    source = {"StringEquals": {"aws:SourceOrgID": organization_id}, "ArnLike": {"aws:SourceArn": pattern}}
    _allow_cloudtrail(bucket, key, source, pattern)
    _allow_cloudtrail_write(bucket, sid="AWSCloudTrailWrite", account=SOURCE_ACCOUNT_VARIABLE, source=source)


def _one_or_all(values: Sequence[str]) -> str | list[str]:
    return values[0] if len(values) == 1 else list(values)


def _allow_cloudtrail(
    bucket: s3.IBucket, key: kms.IKey, source: Mapping[str, Mapping[str, object]], contexts: str | list[str]
) -> None:
    """CloudTrail may use `key` (CDK's Trail sets the key on the trail but does not let CloudTrail
    use it) and check `bucket`'s ACL, for the trails `source` names."""
    key.add_to_resource_policy(
        iam.PolicyStatement(
            sid="AllowCloudTrailToEncryptLogs",
            principals=[iam.ServicePrincipal(CLOUDTRAIL)],
            actions=["kms:GenerateDataKey*"],
            resources=["*"],
            conditions={**source, "StringLike": {"kms:EncryptionContext:aws:cloudtrail:arn": contexts}},
        )
    )
    for sid, target, action, resource in (
        ("AllowCloudTrailToDescribeKey", key, "kms:DescribeKey", "*"),
        ("AWSCloudTrailAclCheck", bucket, "s3:GetBucketAcl", bucket.bucket_arn),
    ):
        target.add_to_resource_policy(
            iam.PolicyStatement(
                sid=sid,
                principals=[iam.ServicePrincipal(CLOUDTRAIL)],
                actions=[action],
                resources=[resource],
                conditions=dict(source),
            )
        )


def _allow_cloudtrail_write(bucket: s3.IBucket, *, sid: str, account: str, source: Mapping[str, Mapping[str, object]]) -> None:
    conditions = {**source, "StringEquals": {**source.get("StringEquals", {}), "s3:x-amz-acl": "bucket-owner-full-control"}}
    bucket.add_to_resource_policy(
        iam.PolicyStatement(
            sid=sid,
            principals=[iam.ServicePrincipal(CLOUDTRAIL)],
            actions=["s3:PutObject"],
            resources=[bucket.arn_for_objects(f"{LOG_PREFIX}{account}/*")],
            conditions=conditions,
        )
    )


def advanced_event_selectors(
    scope: DataEventScope, *, always_excluded: Sequence[str]
) -> list[cloudtrail.CfnTrail.AdvancedEventSelectorProperty]:
    """Management events, plus S3 object data events limited to `scope`."""
    excluded = [*always_excluded, *scope.excluded]
    fields = [
        _equals("eventCategory", "Data"),
        _equals("resources.type", "AWS::S3::Object"),
    ]
    if scope.read_write is not ReadWrite.ALL:
        fields.append(_equals("readOnly", "true" if scope.read_write is ReadWrite.READ_ONLY else "false"))
    if scope.locations:
        _refuse_excluded_locations(scope.locations, excluded)
        fields.append(
            cloudtrail.CfnTrail.AdvancedFieldSelectorProperty(
                field="resources.ARN", starts_with=[_location_arn(loc) for loc in scope.locations]
            )
        )
    else:
        fields.append(
            cloudtrail.CfnTrail.AdvancedFieldSelectorProperty(
                # `name/`: exactly that bucket's objects, not another bucket whose name starts alike.
                field="resources.ARN", not_starts_with=[s3_arn(f"{name}/") for name in excluded]
            )
        )
    return [
        cloudtrail.CfnTrail.AdvancedEventSelectorProperty(
            name="Management events", field_selectors=[_equals("eventCategory", "Management")]
        ),
        cloudtrail.CfnTrail.AdvancedEventSelectorProperty(name="S3 data events", field_selectors=fields),
    ]


def _equals(name: str, value: str) -> cloudtrail.CfnTrail.AdvancedFieldSelectorProperty:
    return cloudtrail.CfnTrail.AdvancedFieldSelectorProperty(field=name, equal_to=[value])


def _location_arn(location: str) -> str:
    bucket, _, prefix = location.partition("/")
    if not bucket:
        raise ValueError(f"data event location {location!r} must start with a bucket name")
    # `bucket/` matches only that bucket's objects, not another bucket whose name starts alike.
    return s3_arn(f"{bucket}/{prefix}")


def _refuse_excluded_locations(locations: Sequence[str], excluded: Sequence[str]) -> None:
    for location in locations:
        bucket = location.partition("/")[0]
        for name in excluded:
            if not Token.is_unresolved(name) and bucket == name:
                raise ValueError(
                    f"data event location {location!r} is one of the monitoring's own buckets "
                    f"({name}): recording it would make the trail log its own deliveries"
                )
