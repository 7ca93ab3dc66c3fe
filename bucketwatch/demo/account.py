"""The demo account: names of everything the demo provisions, and provisioning through boto3.

The layout mirrors what `cdk deploy` of Bucketwatch stands up (DESIGN.md, Infrastructure) plus
a handful of application buckets whose configurations range from careful to careless, so the
posture scan and the detections have something real to find.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from bucketwatch.localaws import DEFAULT_REGION, MOTO_ACCOUNT_ID
from infra.waivers import (
    ACCESS_LOG_BUCKET_NO_OBJECT_LOCK,
    ACCESS_LOG_BUCKET_SELF_LOGGING,
    ACCESS_LOG_BUCKET_SSE_S3,
    ACCESS_LOG_BUCKET_UNRECORDED,
    OBJECT_LOCK_OPT_IN,
    Waiver,
)
from policies.suppression_tags import suppression_tags

ACCOUNT_ID = MOTO_ACCOUNT_ID
REGION = DEFAULT_REGION

# Application buckets (what the company stores) and what the story does to each.
CUSTOMER_DATA = "acme-customer-data"  # sensitive, well configured; read by an unknown role
SHARED_REPORTS = "acme-shared-reports"  # private until the attacker makes it public
ANALYTICS = "acme-analytics-exports"  # acceptable but no versioning
BACKUPS = "acme-backups"  # ransomware target: logging disabled, SSE-C rewrite, mass deletion
DEV_SCRATCH = "acme-dev-scratch"  # careless from the start: no logging, no versioning, no PAB

APP_BUCKETS = (CUSTOMER_DATA, SHARED_REPORTS, ANALYTICS, BACKUPS, DEV_SCRATCH)
# Buckets whose server access logs go to the regional access-log bucket at the start.
LOGGED_BUCKETS = (CUSTOMER_DATA, SHARED_REPORTS, ANALYTICS, BACKUPS)

ACCESS_LOG_BUCKET_WAIVERS = (ACCESS_LOG_BUCKET_SELF_LOGGING, ACCESS_LOG_BUCKET_SSE_S3, ACCESS_LOG_BUCKET_UNRECORDED,
                             ACCESS_LOG_BUCKET_NO_OBJECT_LOCK)


@dataclass(frozen=True)
class DemoNames:
    """Every resource name the demo uses; one place so the story, tests and report agree."""

    account_id: str = ACCOUNT_ID
    region: str = REGION
    access_log_bucket: str = f"bucketwatch-access-logs-{ACCOUNT_ID}-{REGION}"
    trail_bucket: str = f"bucketwatch-trail-{ACCOUNT_ID}"
    processed_bucket: str = f"bucketwatch-processed-{ACCOUNT_ID}"
    trail_name: str = "bucketwatch-data-events"
    notification_topic: str = "bucketwatch-log-notifications"
    detector_queue: str = "bucketwatch-detector-inbox"
    alerts_topic: str = "bucketwatch-alerts"
    alerts_queue: str = "bucketwatch-alerts-inbox"
    dedup_table: str = "bucketwatch-dedup"
    app_buckets: tuple[str, ...] = APP_BUCKETS
    logged_app_buckets: tuple[str, ...] = LOGGED_BUCKETS

    @property
    def logged_buckets(self) -> tuple[str, ...]:
        """Every bucket whose server access logs go to the access-log bucket at the start."""
        return (*self.logged_app_buckets, self.trail_bucket, self.processed_bucket)

    def arn(self, service: str, resource: str) -> str:
        return f"arn:aws:{service}:{self.region}:{self.account_id}:{resource}"

    @property
    def trail_arn(self) -> str:
        return self.arn("cloudtrail", f"trail/{self.trail_name}")

    @staticmethod
    def access_log_prefix(bucket: str) -> str:
        """Per-bucket target prefix, as the infrastructure's logging Aspect sets it."""
        return f"{bucket}/"


@dataclass
class Provisioned:
    """ARNs and URLs the demo needs after provisioning."""

    names: DemoNames
    notification_topic_arn: str = ""
    alerts_topic_arn: str = ""
    detector_queue_url: str = ""
    alerts_queue_url: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


def _ssl_only_policy(bucket: str) -> dict[str, Any]:
    return {
        "Version": "2012-10-17",
        "Statement": [{
            "Sid": "DenyInsecureTransport",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "s3:*",
            "Resource": [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"],
            "Condition": {"Bool": {"aws:SecureTransport": "false"}},
        }],
    }


def _logging_delivery_policy(names: DemoNames) -> dict[str, Any]:
    bucket = names.access_log_bucket
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "S3ServerAccessLogsPolicy",
                "Effect": "Allow",
                "Principal": {"Service": "logging.s3.amazonaws.com"},
                "Action": "s3:PutObject",
                "Resource": f"arn:aws:s3:::{bucket}/*",
                "Condition": {"StringEquals": {"aws:SourceAccount": names.account_id}},
            },
        ],
    }


def _trail_bucket_policy(names: DemoNames) -> dict[str, Any]:
    bucket = names.trail_bucket
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "AWSCloudTrailAclCheck",
                "Effect": "Allow",
                "Principal": {"Service": "cloudtrail.amazonaws.com"},
                "Action": "s3:GetBucketAcl",
                "Resource": f"arn:aws:s3:::{bucket}",
                "Condition": {"StringEquals": {"aws:SourceArn": names.trail_arn}},
            },
            {
                "Sid": "AWSCloudTrailWrite",
                "Effect": "Allow",
                "Principal": {"Service": "cloudtrail.amazonaws.com"},
                "Action": "s3:PutObject",
                "Resource": f"arn:aws:s3:::{bucket}/AWSLogs/{names.account_id}/*",
                "Condition": {"StringEquals": {"s3:x-amz-acl": "bucket-owner-full-control",
                                               "aws:SourceArn": names.trail_arn}},
            },
        ],
    }


BLOCK_ALL = {
    "BlockPublicAcls": True,
    "IgnorePublicAcls": True,
    "BlockPublicPolicy": True,
    "RestrictPublicBuckets": True,
}

SSE_S3 = {"Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]}


def _sse_kms(key_arn: str) -> dict[str, Any]:
    return {"Rules": [{
        "ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": key_arn},
        "BucketKeyEnabled": True,
    }]}


class Provisioner:
    """Creates the demo account's resources with boto3 clients bound to one endpoint."""

    def __init__(self, clients: Any, names: DemoNames | None = None) -> None:
        self.c = clients
        self.names = names or DemoNames()
        self.out = Provisioned(self.names)

    def run(self) -> Provisioned:
        self.monitoring()
        self.application_buckets()
        self.trail()
        return self.out

    # -- Bucketwatch's own resources ---------------------------------------------------------
    def monitoring(self) -> None:
        n = self.names
        key_arn = self._key("bucketwatch", "Bucketwatch trail and lake")
        self.out.extra["monitoring_key_arn"] = key_arn
        self.monitoring_buckets(trail_key=key_arn, lake_key=key_arn, trail_policy=_trail_bucket_policy(n))
        self._notify(n.trail_bucket, {"cloudtrail": f"AWSLogs/{n.account_id}/CloudTrail/"})

    def monitoring_buckets(self, trail_key: str, lake_key: str, trail_policy: dict[str, Any]) -> None:
        """The access-log, trail and lake buckets as the stack builds them (with their written
        exceptions as tags), the topics, queues and table, and the access-log notifications."""
        n, s3 = self.names, self.c.s3
        for bucket in (n.access_log_bucket, n.trail_bucket, n.processed_bucket):
            self._monitoring_bucket(bucket)
        # Access-log delivery supports only SSE-S3 on the target bucket; the others use a key.
        s3.put_bucket_encryption(Bucket=n.access_log_bucket, ServerSideEncryptionConfiguration=SSE_S3)
        s3.put_bucket_encryption(Bucket=n.trail_bucket, ServerSideEncryptionConfiguration=_sse_kms(trail_key))
        s3.put_bucket_encryption(Bucket=n.processed_bucket, ServerSideEncryptionConfiguration=_sse_kms(lake_key))
        s3.put_bucket_policy(Bucket=n.access_log_bucket, Policy=json.dumps(_logging_delivery_policy(n)))
        s3.put_bucket_policy(Bucket=n.trail_bucket, Policy=json.dumps(trail_policy))
        self._carry_waivers(n.access_log_bucket, ACCESS_LOG_BUCKET_WAIVERS)
        for bucket in (n.trail_bucket, n.processed_bucket):
            self._carry_waivers(bucket, (OBJECT_LOCK_OPT_IN,))
        # The trail bucket and the processed bucket log to the regional access-log bucket; the
        # access-log bucket cannot log to itself.
        for bucket in (n.trail_bucket, n.processed_bucket):
            self._enable_access_logging(bucket)
        self.detector_plumbing()
        self._notify(n.access_log_bucket, {
            source: f"{n.access_log_prefix(source)}{n.account_id}/" for source in n.logged_buckets})

    def _carry_waivers(self, bucket: str, waivers: tuple[Waiver, ...]) -> None:
        """The stack's written exceptions, as the deployed bucket carries them (tags the scan reads)."""
        tags = {k: v for waiver in waivers for k, v in suppression_tags(waiver.bucketwatch, waiver.reason).items()}
        self.c.s3.put_bucket_tagging(Bucket=bucket, Tagging={"TagSet": [{"Key": k, "Value": v} for k, v in tags.items()]})

    def _create_bucket(self, bucket: str) -> None:
        """A bucket in the clients' region (outside us-east-1 S3 wants the region named)."""
        region = self.c.region
        options = {} if region == "us-east-1" else {"CreateBucketConfiguration": {"LocationConstraint": region}}
        self.c.s3.create_bucket(Bucket=bucket, **options)

    def _monitoring_bucket(self, bucket: str) -> None:
        """Created as every monitoring bucket is: public access blocked, versioned, ACLs off, 365 days."""
        s3 = self.c.s3
        self._create_bucket(bucket)
        s3.put_public_access_block(Bucket=bucket, PublicAccessBlockConfiguration=BLOCK_ALL)
        s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
        s3.put_bucket_ownership_controls(
            Bucket=bucket, OwnershipControls={"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]})
        self._expire_after(bucket, 365)

    def detector_plumbing(self) -> None:
        """The notification and alerts topics, a queue on each (the Lambda's event source, and
        where the demo reads alerts back), and the dedup table."""
        n, sns = self.names, self.c.sns
        self.out.notification_topic_arn = sns.create_topic(Name=n.notification_topic)["TopicArn"]
        self.out.alerts_topic_arn = sns.create_topic(Name=n.alerts_topic)["TopicArn"]
        self.out.detector_queue_url = self._subscribed_queue(n.detector_queue, self.out.notification_topic_arn)
        self.out.alerts_queue_url = self._subscribed_queue(n.alerts_queue, self.out.alerts_topic_arn)
        self.c.dynamodb.create_table(
            TableName=n.dedup_table,
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        # A new table is CREATING until it is ACTIVE in AWS: wait before configuring it.
        self.c.dynamodb.get_waiter("table_exists").wait(TableName=n.dedup_table,
                                                         WaiterConfig={"Delay": 1, "MaxAttempts": 30})
        self.c.dynamodb.update_time_to_live(
            TableName=n.dedup_table,
            TimeToLiveSpecification={"Enabled": True, "AttributeName": "expires_at"},
        )

    def _key(self, alias: str, description: str) -> str:
        arn = self.c.kms.create_key(Description=description)["KeyMetadata"]["Arn"]
        self.c.kms.create_alias(AliasName=f"alias/{alias}", TargetKeyId=arn)
        return arn

    def _expire_after(self, bucket: str, days: int, prefix: str = "") -> None:
        self.c.s3.put_bucket_lifecycle_configuration(Bucket=bucket, LifecycleConfiguration={"Rules": [{
            "ID": f"expire-after-{days}-days", "Status": "Enabled", "Filter": {"Prefix": prefix},
            "Expiration": {"Days": days}, "NoncurrentVersionExpiration": {"NoncurrentDays": 30},
            "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 7},
        }]})

    def _notify(self, bucket: str, prefixes: dict[str, str]) -> None:
        """Object-created notifications to the notification topic, one per log prefix ("": every
        new object).

        The prefixes cover the PartitionedPrefix layout (`<prefix><account>/...`) and CloudTrail's
        `AWSLogs/<account>/CloudTrail/`; moto writes placeholder access logs of its own for API
        calls in the SimplePrefix layout (`<prefix><date>-...`), which these filters leave out.
        """
        self.c.s3.put_bucket_notification_configuration(
            Bucket=bucket,
            NotificationConfiguration={"TopicConfigurations": [{
                "Id": f"bucketwatch-{name}",
                "TopicArn": self.out.notification_topic_arn,
                "Events": ["s3:ObjectCreated:*"],
                **({"Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": prefix}]}}} if prefix else {}),
            } for name, prefix in prefixes.items()]},
        )

    def _subscribed_queue(self, name: str, topic_arn: str) -> str:
        sqs = self.c.sqs
        url = sqs.create_queue(QueueName=name)["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        self.c.sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=queue_arn)
        return url

    def _enable_access_logging(self, bucket: str) -> None:
        self.c.s3.put_bucket_logging(
            Bucket=bucket,
            BucketLoggingStatus={"LoggingEnabled": {
                "TargetBucket": self.names.access_log_bucket,
                "TargetPrefix": self.names.access_log_prefix(bucket),
                "TargetObjectKeyFormat": {"PartitionedPrefix": {"PartitionDateSource": "EventTime"}},
            }},
        )

    def harden_monitoring_buckets(self) -> None:
        """Add the TLS-only deny to the buckets the demo writes to, once all writing is done.

        moto ignores policy conditions, so a Deny-unless-SecureTransport statement blocks every
        PutObject there (DESIGN.md, known moto limits). The deployed stack has it from the start;
        the demo adds it after delivery and processing so the posture scan sees the same state.
        """
        n = self.names
        policies = {
            n.access_log_bucket: _logging_delivery_policy(n),
            n.trail_bucket: _trail_bucket_policy(n),
            n.processed_bucket: {"Version": "2012-10-17", "Statement": []},
        }
        for bucket, policy in policies.items():
            policy["Statement"].append(_ssl_only_policy(bucket)["Statement"][0])
            self.c.s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps(policy))

    # -- The company's buckets ---------------------------------------------------------------
    def application_buckets(self) -> None:
        s3 = self.c.s3
        key_arn = self._key("acme-data", "acme application data")
        self.out.extra["data_key_arn"] = key_arn
        for bucket in APP_BUCKETS:
            self._create_bucket(bucket)
            s3.put_bucket_tagging(Bucket=bucket, Tagging={"TagSet": [
                {"Key": "owner", "Value": "platform-team"},
                {"Key": "data-classification", "Value": "restricted" if bucket == CUSTOMER_DATA else "internal"},
            ]})

        # Careful: KMS, versioning, public access blocked, TLS only, logged, lifecycle; ACLs
        # disabled except on the shared reports.
        for bucket in (CUSTOMER_DATA, SHARED_REPORTS, BACKUPS):
            s3.put_public_access_block(Bucket=bucket, PublicAccessBlockConfiguration=BLOCK_ALL)
            s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
            s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps(_ssl_only_policy(bucket)))
            s3.put_bucket_encryption(Bucket=bucket, ServerSideEncryptionConfiguration=_sse_kms(key_arn))
        for bucket in (CUSTOMER_DATA, BACKUPS):
            s3.put_bucket_ownership_controls(
                Bucket=bucket, OwnershipControls={"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]})
        self._expire_after(CUSTOMER_DATA, 90, prefix="tmp/")  # upload scratch space
        self._expire_after(SHARED_REPORTS, 365)
        self._expire_after(BACKUPS, 365)
        s3.put_bucket_encryption(Bucket=ANALYTICS, ServerSideEncryptionConfiguration=SSE_S3)
        # Shared reports still allow ACLs (the partner portal used them once): the opening the
        # attacker uses later.
        s3.put_bucket_ownership_controls(
            Bucket=SHARED_REPORTS, OwnershipControls={"Rules": [{"ObjectOwnership": "BucketOwnerPreferred"}]})
        # Acceptable but unversioned, and reachable over plain HTTP.
        s3.put_public_access_block(Bucket=ANALYTICS, PublicAccessBlockConfiguration=BLOCK_ALL)
        for bucket in LOGGED_BUCKETS:
            self._enable_access_logging(bucket)
        # DEV_SCRATCH: left with whatever S3 gives a new bucket.

    def trail(self) -> None:
        n = self.names
        ct = self.c.cloudtrail
        ct.create_trail(Name=n.trail_name, S3BucketName=n.trail_bucket, IsMultiRegionTrail=True,
                        EnableLogFileValidation=True, IncludeGlobalServiceEvents=True,
                        KmsKeyId=self.out.extra["monitoring_key_arn"])
        # Write data events on every bucket except the trail's own (no logging loop); reads are
        # covered by server access logs.
        ct.put_event_selectors(TrailName=n.trail_name, AdvancedEventSelectors=[
            {"Name": "Management events", "FieldSelectors": [
                {"Field": "eventCategory", "Equals": ["Management"]}]},
            {"Name": "S3 writes, all buckets but the trail's", "FieldSelectors": [
                {"Field": "eventCategory", "Equals": ["Data"]},
                {"Field": "resources.type", "Equals": ["AWS::S3::Object"]},
                {"Field": "readOnly", "Equals": ["false"]},
                {"Field": "resources.ARN", "NotStartsWith": [f"arn:aws:s3:::{n.trail_bucket}/"]},
            ]},
        ])
        ct.start_logging(Name=n.trail_name)
