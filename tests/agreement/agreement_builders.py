"""Turn the agreement specs into (a) CDK constructs in one app and (b) live buckets on moto."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import boto3
from agreement_specs import (
    ACCOUNT_ID,
    BUCKETS,
    REGION,
    TRAILS,
    BucketSpec,
    TrailSpec,
    bucket_arn,
    policy_statements,
    statement,
)

# --- (a) CDK ---------------------------------------------------------------------------------

CDK_ACL = {"public-read": "PUBLIC_READ", "public-read-write": "PUBLIC_READ_WRITE",
           "authenticated-read": "AUTHENTICATED_READ"}
CDK_OWNERSHIP = {"BucketOwnerEnforced": "BUCKET_OWNER_ENFORCED", "BucketOwnerPreferred": "BUCKET_OWNER_PREFERRED",
                 "ObjectWriter": "OBJECT_WRITER"}


def _cdk_statement(kind: str, name: str) -> Any:
    from aws_cdk import aws_iam as iam

    raw = statement(kind, name)
    principal_key = "NotPrincipal" if "NotPrincipal" in raw else "Principal"
    ((principal_type, principal_value),) = raw[principal_key].items()
    principal = (iam.ServicePrincipal(principal_value) if principal_type == "Service"
                 else iam.AnyPrincipal() if principal_value == "*" else iam.ArnPrincipal(principal_value))
    resources = raw["Resource"] if isinstance(raw["Resource"], list) else [raw["Resource"]]
    return iam.PolicyStatement(
        effect=iam.Effect.ALLOW,
        actions=[raw["Action"]],
        resources=resources,
        conditions=raw.get("Condition"),
        **({"not_principals": [principal]} if principal_key == "NotPrincipal" else {"principals": [principal]}),
    )


def _cdk_bucket(stack: Any, spec: BucketSpec, made: dict[str, Any]) -> Any:
    import aws_cdk as cdk
    from aws_cdk import aws_s3 as s3

    props: dict[str, Any] = {"bucket_name": spec.name, "enforce_ssl": spec.enforce_ssl}
    if spec.encryption:
        props["encryption"] = s3.BucketEncryption.KMS if spec.encryption == "aws:kms" else s3.BucketEncryption.S3_MANAGED
    if spec.versioning:
        props["versioned"] = True  # Suspended: an escape hatch below (the L2 only knows on/off)
    if spec.log_to:
        props["server_access_logs_prefix"] = spec.log_prefix
        if spec.log_to != "self":
            props["server_access_logs_bucket"] = made[spec.log_to]
    if spec.block_public is not None:
        acls, ignore, policy, restrict = spec.block_public
        props["block_public_access"] = s3.BlockPublicAccess(
            block_public_acls=acls, ignore_public_acls=ignore, block_public_policy=policy,
            restrict_public_buckets=restrict)
    if spec.acl:
        props["access_control"] = getattr(s3.BucketAccessControl, CDK_ACL[spec.acl])
    if spec.ownership:
        props["object_ownership"] = getattr(s3.ObjectOwnership, CDK_OWNERSHIP[spec.ownership])
    if spec.object_lock_days:
        props["object_lock_enabled"] = True
        props["object_lock_default_retention"] = s3.ObjectLockRetention.governance(cdk.Duration.days(spec.object_lock_days))
    if spec.lifecycle_days:
        props["lifecycle_rules"] = [s3.LifecycleRule(id="expire", expiration=cdk.Duration.days(spec.lifecycle_days))]
    bucket = s3.Bucket(stack, spec.name.replace(".", "-"), **props)
    if spec.versioning == "Suspended":
        bucket.node.default_child.add_property_override("VersioningConfiguration.Status", "Suspended")
    for kind in spec.statements:
        bucket.add_to_resource_policy(_cdk_statement(kind, spec.name))
    for key, value in spec.tags.items():
        cdk.Tags.of(bucket).add(key, value)
    return bucket


def _cdk_trail(stack: Any, trail: TrailSpec) -> Any:
    from aws_cdk import aws_cloudtrail as cloudtrail

    selectors: dict[str, Any] = {}
    if trail.advanced:
        selectors["advanced_event_selectors"] = [
            cloudtrail.CfnTrail.AdvancedEventSelectorProperty(name=selector["Name"], field_selectors=[
                cloudtrail.CfnTrail.AdvancedFieldSelectorProperty(
                    field=f["Field"], equal_to=f.get("Equals"), starts_with=f.get("StartsWith"))
                for f in selector["FieldSelectors"]])
            for selector in trail.advanced_selectors()]
    else:
        selectors["event_selectors"] = [
            cloudtrail.CfnTrail.EventSelectorProperty(
                read_write_type=kind, include_management_events=True,
                data_resources=[cloudtrail.CfnTrail.DataResourceProperty(
                    type="AWS::S3::Object", values=[f"{bucket_arn(name)}/"])])
            for name, kind in trail.selectors.items()]
    return cloudtrail.CfnTrail(
        stack, trail.name, trail_name=trail.name, s3_bucket_name=trail.bucket, is_logging=trail.logging,
        is_multi_region_trail=trail.multi_region, enable_log_file_validation=trail.log_file_validation,
        kms_key_id=trail.kms_key_id, **selectors)


def synth_cdk_app(outdir: Path) -> Path:
    """All specs in one stack of one app, synthesized for real; returns the cloud assembly dir."""
    import aws_cdk as cdk

    app = cdk.App(outdir=str(outdir), context={"@aws-cdk/aws-s3:serverAccessLogsUseBucketPolicy": True})
    stack = cdk.Stack(app, "AgreementStack", env=cdk.Environment(account=ACCOUNT_ID, region=REGION))
    made: dict[str, Any] = {}
    for spec in BUCKETS:
        made[spec.name] = _cdk_bucket(stack, spec, made)
    for trail in TRAILS:
        _cdk_trail(stack, trail)
    app.synth()
    return outdir


# --- (b) live, on moto -----------------------------------------------------------------------

ALL_USERS = 'uri="http://acs.amazonaws.com/groups/global/AllUsers"'
AUTHENTICATED_USERS = 'uri="http://acs.amazonaws.com/groups/global/AuthenticatedUsers"'
# AWS's canned ACLs as explicit grants: moto's "public-read-write" grants READ only.
CANNED_GRANTS = {
    "public-read": {"GrantRead": ALL_USERS},
    "public-read-write": {"GrantRead": ALL_USERS, "GrantWrite": ALL_USERS},
    "authenticated-read": {"GrantRead": AUTHENTICATED_USERS},
}


def put_canned_acl(s3: Any, bucket: str, acl: str) -> None:
    owner = s3.get_bucket_acl(Bucket=bucket)["Owner"]["ID"]
    s3.put_bucket_acl(Bucket=bucket, GrantFullControl=f"id={owner}", **CANNED_GRANTS[acl])


def _create(s3: Any, spec: BucketSpec) -> None:
    s3.create_bucket(Bucket=spec.name, ObjectLockEnabledForBucket=bool(spec.object_lock_days))
    if spec.ownership:
        s3.put_bucket_ownership_controls(Bucket=spec.name, OwnershipControls={
            "Rules": [{"ObjectOwnership": spec.ownership}]})
    if spec.acl:
        put_canned_acl(s3, spec.name, spec.acl)
    if spec.encryption:
        default: dict[str, Any] = {"SSEAlgorithm": spec.encryption}
        if spec.encryption == "aws:kms":
            default["KMSMasterKeyID"] = boto3.client("kms").create_key()["KeyMetadata"]["Arn"]
        s3.put_bucket_encryption(Bucket=spec.name, ServerSideEncryptionConfiguration={
            "Rules": [{"ApplyServerSideEncryptionByDefault": default}]})
    if spec.versioning:
        s3.put_bucket_versioning(Bucket=spec.name, VersioningConfiguration={"Status": "Enabled"})
        if spec.versioning == "Suspended":
            s3.put_bucket_versioning(Bucket=spec.name, VersioningConfiguration={"Status": "Suspended"})
    if spec.block_public is not None:
        keys = ("BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets")
        s3.put_public_access_block(Bucket=spec.name, PublicAccessBlockConfiguration=dict(
            zip(keys, spec.block_public, strict=True)))
    if spec.object_lock_days:
        s3.put_object_lock_configuration(Bucket=spec.name, ObjectLockConfiguration={
            "ObjectLockEnabled": "Enabled",
            "Rule": {"DefaultRetention": {"Mode": "GOVERNANCE", "Days": spec.object_lock_days}}})
    if spec.lifecycle_days:
        s3.put_bucket_lifecycle_configuration(Bucket=spec.name, LifecycleConfiguration={"Rules": [
            {"ID": "expire", "Status": "Enabled", "Filter": {"Prefix": ""},
             "Expiration": {"Days": spec.lifecycle_days}}]})
    if spec.tags:
        s3.put_bucket_tagging(Bucket=spec.name, Tagging={"TagSet": [
            {"Key": k, "Value": v} for k, v in spec.tags.items()]})


def build_live() -> None:
    """Create every spec on the moto endpoint boto3 points at (AWS_ENDPOINT_URL)."""
    s3 = boto3.client("s3", region_name=REGION)
    for spec in BUCKETS:
        _create(s3, spec)
    # Policies after every bucket exists: log-delivery statements name their source buckets.
    for spec in BUCKETS:
        found = policy_statements(spec)
        if found:
            s3.put_bucket_policy(Bucket=spec.name, Policy=json.dumps({"Version": "2012-10-17", "Statement": found}))
    for spec in BUCKETS:
        if spec.log_target:
            s3.put_bucket_logging(Bucket=spec.name, BucketLoggingStatus={
                "LoggingEnabled": {"TargetBucket": spec.log_target, "TargetPrefix": spec.log_prefix}})
    cloudtrail = boto3.client("cloudtrail", region_name=REGION)
    for trail in TRAILS:
        cloudtrail.create_trail(Name=trail.name, S3BucketName=trail.bucket, IsMultiRegionTrail=trail.multi_region,
                                EnableLogFileValidation=trail.log_file_validation,
                                **({"KmsKeyId": trail.kms_key_id} if trail.kms_key_id else {}))
        if trail.advanced:
            cloudtrail.put_event_selectors(TrailName=trail.name, AdvancedEventSelectors=trail.advanced_selectors())
        else:
            cloudtrail.put_event_selectors(TrailName=trail.name, EventSelectors=[
                {"ReadWriteType": kind, "IncludeManagementEvents": True,
                 "DataResources": [{"Type": "AWS::S3::Object", "Values": [f"{bucket_arn(name)}/"]}]}
                for name, kind in trail.selectors.items()])
        if trail.logging:
            cloudtrail.start_logging(Name=trail.name)
