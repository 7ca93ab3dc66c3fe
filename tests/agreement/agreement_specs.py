"""The bucket configurations of the agreement test, each written ONCE, declaratively.

`agreement_builders` turns every spec into CDK constructs (synth-time side) and into boto3
calls against moto (live side); the test then asks both sources for verdicts. Anything a spec
says must be expressible on both sides, with the exceptions CloudFormation itself has (MFA
delete, the account-level public access block), which the template source reports as
NOT_APPLICABLE.
"""

from __future__ import annotations

from dataclasses import dataclass, field

ACCOUNT_ID = "123456789012"
REGION = "us-east-1"
OTHER_ACCOUNT = "999999999999"
ALL_BLOCKED = (True, True, True, True)  # BlockPublicAcls, IgnorePublicAcls, BlockPublicPolicy, RestrictPublicBuckets
NONE_BLOCKED = (False, False, False, False)

# Extra bucket-policy statements a spec can ask for, by kind (built on both sides).
STATEMENT_KINDS = (
    "public_get",            # Allow * s3:GetObject
    "cross_account",         # Allow another account's root s3:GetObject
    "ssl_allow_condition",   # Allow own account only when SecureTransport is true (no Deny)
    "not_principal",         # Allow with NotPrincipal
    "service_no_condition",  # Allow a service principal without SourceArn/SourceAccount
    "all_actions",           # Allow own account s3:*
)


@dataclass(frozen=True)
class BucketSpec:
    name: str
    encryption: str | None = None            # None | "AES256" | "aws:kms"
    versioning: str | None = None            # None | "Enabled" | "Suspended"
    log_to: str | None = None                # None | "self" | name of another spec
    block_public: tuple[bool, bool, bool, bool] | None = None
    acl: str | None = None                   # None | "public-read" | "public-read-write" | "authenticated-read"
    ownership: str | None = None             # None | BucketOwnerEnforced | BucketOwnerPreferred | ObjectWriter
    enforce_ssl: bool = False                # Deny when aws:SecureTransport is false
    statements: tuple[str, ...] = ()         # kinds from STATEMENT_KINDS
    object_lock_days: int | None = None      # default GOVERNANCE retention in days
    lifecycle_days: int | None = None        # expire objects after N days
    tags: dict[str, str] = field(default_factory=dict)

    @property
    def log_target(self) -> str | None:
        return self.name if self.log_to == "self" else self.log_to

    @property
    def log_prefix(self) -> str:
        return f"{self.name}/"


@dataclass(frozen=True)
class TrailSpec:
    """One trail: basic data-event selectors per bucket ("All"/"ReadOnly"/"WriteOnly")."""

    name: str
    bucket: str
    selectors: dict[str, str]
    multi_region: bool = True
    logging: bool = True
    log_file_validation: bool = True
    kms_key_id: str | None = None
    advanced: bool = False  # advanced event selectors instead of basic ones

    def advanced_selectors(self) -> list[dict]:
        """One advanced selector per bucket, in the shape GetEventSelectors returns."""
        read_only = {"ReadOnly": ["true"], "WriteOnly": ["false"]}
        found = []
        for name, kind in self.selectors.items():
            fields = [{"Field": "eventCategory", "Equals": ["Data"]},
                      {"Field": "resources.type", "Equals": ["AWS::S3::Object"]},
                      {"Field": "resources.ARN", "StartsWith": [f"{bucket_arn(name)}/"]}]
            if kind in read_only:
                fields.append({"Field": "readOnly", "Equals": read_only[kind]})
            found.append({"Name": f"{name} {kind}", "FieldSelectors": fields})
        return found


GOOD = {"encryption": "AES256", "versioning": "Enabled", "block_public": ALL_BLOCKED,
        "ownership": "BucketOwnerEnforced", "enforce_ssl": True, "lifecycle_days": 365}

BUCKETS: tuple[BucketSpec, ...] = (
    BucketSpec("agr-logs", **GOOD),
    BucketSpec("agr-good", log_to="agr-logs", tags={"team": "security"}, **GOOD),
    BucketSpec("agr-good-kms", log_to="agr-logs", **{**GOOD, "encryption": "aws:kms"}),
    BucketSpec("agr-bare"),
    BucketSpec("agr-self-logging", log_to="self", encryption="AES256"),
    BucketSpec("agr-versioning-suspended", versioning="Suspended", encryption="AES256"),
    BucketSpec("agr-public-read-acl", acl="public-read", ownership="ObjectWriter", block_public=NONE_BLOCKED),
    BucketSpec("agr-public-write-acl", acl="public-read-write", ownership="ObjectWriter",
               block_public=NONE_BLOCKED),
    BucketSpec("agr-authenticated-read-acl", acl="authenticated-read", ownership="ObjectWriter",
               block_public=NONE_BLOCKED),
    BucketSpec("agr-public-policy", statements=("public_get",), block_public=NONE_BLOCKED, enforce_ssl=True),
    BucketSpec("agr-ssl-allow-only", statements=("ssl_allow_condition",), encryption="aws:kms"),
    BucketSpec("agr-cross-account", statements=("cross_account",), enforce_ssl=True, **{
        "encryption": "AES256", "versioning": "Enabled"}),
    BucketSpec("agr-not-principal", statements=("not_principal",), enforce_ssl=True),
    BucketSpec("agr-confused-deputy", statements=("service_no_condition",)),
    BucketSpec("agr-all-actions", statements=("all_actions",), enforce_ssl=True),
    BucketSpec("agr-pab-partial", block_public=(True, True, False, False), ownership="BucketOwnerPreferred"),
    BucketSpec("agr-object-lock", object_lock_days=30, versioning="Enabled", encryption="AES256"),
    # Object Lock turns versioning on by itself (no VersioningConfiguration in the template).
    BucketSpec("agr-lock-only", object_lock_days=30, encryption="AES256"),
    BucketSpec("agr-kms-log-target", encryption="aws:kms", versioning="Enabled"),
    BucketSpec("agr-logs-to-kms", log_to="agr-kms-log-target", encryption="AES256"),
    BucketSpec("agr-lock-log-target", object_lock_days=7, versioning="Enabled"),
    BucketSpec("agr-logs-to-lock", log_to="agr-lock-log-target"),
    BucketSpec("agr-trail-logs", **GOOD),
    BucketSpec("agr-trail-covered", encryption="aws:kms", versioning="Enabled", enforce_ssl=True),
    BucketSpec("agr-trail-write-only", encryption="AES256"),
    BucketSpec("agr.dotted.name", encryption="AES256", lifecycle_days=30),
    BucketSpec("agr-advanced-all", encryption="AES256", versioning="Enabled"),
    BucketSpec("agr-advanced-read", encryption="AES256"),
)

TRAILS: tuple[TrailSpec, ...] = (
    TrailSpec("agr-data-trail", bucket="agr-trail-logs",
              selectors={"agr-trail-covered": "All", "agr-trail-write-only": "WriteOnly", "agr-good": "All"}),
    TrailSpec("agr-stopped-trail", bucket="agr-trail-logs", selectors={"agr-bare": "All"},
              logging=False, multi_region=False, log_file_validation=False),
    TrailSpec("agr-advanced-trail", bucket="agr-trail-logs", advanced=True,
              selectors={"agr-advanced-all": "All", "agr-advanced-read": "ReadOnly"},
              kms_key_id=f"arn:aws:kms:{REGION}:{ACCOUNT_ID}:key/11111111-2222-3333-4444-555555555555"),
)

# The posture configuration both sides are judged with.
POSTURE_CONFIG = {"synth_trails_complete": True, "cross_account_allowlist": []}


def bucket_arn(name: str) -> str:
    return f"arn:aws:s3:::{name}"


def statement(kind: str, name: str) -> dict:
    """The IAM JSON of one extra statement kind, as the live side writes it. The CDK side builds
    the same statement with iam.PolicyStatement; CDK renders a lone principal as {"AWS": ...}."""
    objects = f"{bucket_arn(name)}/*"
    own_root = f"arn:aws:iam::{ACCOUNT_ID}:root"
    return {
        "public_get": {"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "s3:GetObject", "Resource": objects},
        "cross_account": {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{OTHER_ACCOUNT}:root"},
                          "Action": "s3:GetObject", "Resource": objects},
        "ssl_allow_condition": {"Effect": "Allow", "Principal": {"AWS": own_root}, "Action": "s3:GetObject",
                                "Resource": objects, "Condition": {"Bool": {"aws:SecureTransport": "true"}}},
        "not_principal": {"Effect": "Allow", "NotPrincipal": {"AWS": own_root}, "Action": "s3:GetObject",
                          "Resource": objects},
        "service_no_condition": {"Effect": "Allow", "Principal": {"Service": "cloudtrail.amazonaws.com"},
                                 "Action": "s3:PutObject", "Resource": objects},
        "all_actions": {"Effect": "Allow", "Principal": {"AWS": own_root}, "Action": "s3:*",
                        "Resource": [bucket_arn(name), objects]},
    }[kind]


def ssl_deny(name: str) -> dict:
    """What CDK's enforceSSL adds."""
    return {"Effect": "Deny", "Principal": {"AWS": "*"}, "Action": "s3:*",
            "Resource": [bucket_arn(name), f"{bucket_arn(name)}/*"],
            "Condition": {"Bool": {"aws:SecureTransport": "false"}}}


def log_delivery(target: str, source: BucketSpec) -> dict:
    """What CDK adds to a log target's policy (serverAccessLogsUseBucketPolicy)."""
    return {"Effect": "Allow", "Principal": {"Service": "logging.s3.amazonaws.com"}, "Action": "s3:PutObject",
            "Resource": f"{bucket_arn(target)}/{source.log_prefix}*",
            "Condition": {"ArnLike": {"aws:SourceArn": bucket_arn(source.name)},
                          "StringEquals": {"aws:SourceAccount": ACCOUNT_ID}}}


def policy_statements(spec: BucketSpec, specs: tuple[BucketSpec, ...] = BUCKETS) -> list[dict]:
    """Every statement of a bucket's policy, in the order CDK adds them."""
    found = [ssl_deny(spec.name)] if spec.enforce_ssl else []
    found += [statement(kind, spec.name) for kind in spec.statements]
    found += [log_delivery(spec.name, source) for source in specs if source.log_target == spec.name]
    return found
