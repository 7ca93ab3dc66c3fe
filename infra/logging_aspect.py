"""Server access logging for every bucket in the app, into its region's access-log bucket."""

from __future__ import annotations

import re

import jsii
from aws_cdk import Annotations, IAspect, Stack, Token
from aws_cdk import aws_s3 as s3
from constructs import IConstruct

from infra.access_logs import is_access_log_target
from infra.naming import ACCESS_LOG_BUCKET_PREFIX, regional_bucket_name


@jsii.implements(IAspect)
class AccessLoggingAspect:
    """Turns on server access logging for each `AWS::S3::Bucket` that has none.

    Logs go to `<prefix>-<account>-<region>` of the bucket's own stack (S3 delivers access logs
    only within a region), under a per-bucket prefix derived from the construct path, in the
    PartitionedPrefix layout (`<prefix><account>/<region>/<bucket>/YYYY/MM/DD/...`) that the
    detectors parse. Log buckets themselves are skipped, and a log bucket configured to log into
    itself is an error: S3 would log its own log deliveries forever.
    """

    def __init__(self, *, log_bucket_prefix: str = ACCESS_LOG_BUCKET_PREFIX) -> None:
        self.log_bucket_prefix = log_bucket_prefix

    def visit(self, node: IConstruct) -> None:
        if not isinstance(node, s3.CfnBucket):
            return
        if is_access_log_target(node):
            self._refuse_self_logging(node)
            return
        if node.logging_configuration is not None:
            return  # the bucket's own choice wins
        stack = Stack.of(node)
        node.logging_configuration = s3.CfnBucket.LoggingConfigurationProperty(
            destination_bucket_name=regional_bucket_name(self.log_bucket_prefix, stack),
            log_file_prefix=log_prefix(node),
            target_object_key_format=s3.CfnBucket.TargetObjectKeyFormatProperty(
                partitioned_prefix=s3.CfnBucket.PartitionedPrefixProperty(partition_date_source="EventTime")
            ),
        )

    @staticmethod
    def _refuse_self_logging(node: s3.CfnBucket) -> None:
        config = node.logging_configuration
        target = getattr(config, "destination_bucket_name", None)
        if target is None:
            return
        stack = Stack.of(node)
        if stack.resolve(target) == stack.resolve(node.bucket_name):
            Annotations.of(node).add_error(
                f"{node.node.path} is an access-log target bucket configured to log into itself: S3 "
                "would log its own log deliveries forever; remove its logging configuration"
            )


def log_prefix(bucket: s3.CfnBucket) -> str:
    """`<bucket name>/` for named buckets, else a slug of the construct path (a bucket cannot Ref itself)."""
    name = bucket.bucket_name
    if name and not Token.is_unresolved(name):
        return f"{name}/"
    path = bucket.node.path.removesuffix("/Resource")
    return re.sub(r"[^A-Za-z0-9!_.*'()-]+", "-", path).strip("-") + "/"
