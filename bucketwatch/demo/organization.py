"""The demo organization: AWS Organizations on the local endpoint, a central security account and
three member accounts, provisioned through boto3 as the organization mode's CDK stacks build them
(docs/infra.md, "Organization: one central security account").

moto's default account (123456789012) is the management account: it creates the organization
and the accounts, and does nothing else (as AWS advises). Every other account is reached through
`OrganizationAccountAccessRole`, the role Organizations creates in each new account (moto: an
assumed role's credentials act in the role's account).

    security   central, us-east-1   the archive, the lake, the detector, the alerts topic, the
                                     posture scanner; its own trail delivers into the archive
    payments   member, us-east-1    the ledger (careful), the exports (acceptable)
    analytics  member, eu-west-1    the landing bucket (careful), a scratch bucket (careless)
    web        member, us-west-2    the site's assets, made public during the story

Each member gets what its `Member` stack holds: the regional access-log bucket replicating into
the archive (rule `to-central-archive`, role `bucketwatch-replication-<region>`), a multi-region
trail delivering into the archive (key `alias/bucketwatch-archive`), and the read-only
`BucketwatchAudit` role trusted by the central `bucketwatch-posture-scanner`. Names, actions and
the replication rule come from `infra/` itself, so the demo cannot drift from the stacks (tests compare the policies with the constructs').
"""

from __future__ import annotations

import json
import urllib.request
from dataclasses import dataclass, field
from typing import Any

from bucketwatch.demo.account import (
    ACCESS_LOG_BUCKET_WAIVERS,
    BLOCK_ALL,
    SSE_S3,
    DemoNames,
    Provisioned,
    Provisioner,
    _logging_delivery_policy,
    _sse_kms,
    _ssl_only_policy,
)
from bucketwatch.demo.clients import Clients
from detectors.common.organization import OrganizationSettings
from infra.archive import REPLICA_ACTIONS
from infra.naming import (
    ACCESS_LOG_BUCKET_PREFIX,
    ARCHIVE_BUCKET_PREFIX,
    ARCHIVE_KEY_ALIAS,
    LAKE_BUCKET_PREFIX,
    POSTURE_ROLE_NAME,
    REPLICATION_ROLE_PREFIX,
    TRAIL_NAME,
    bucket_name,
    replication_role_name,
)
from infra.posture import RESOURCELESS_ACTIONS, scan_actions
from infra.replication import DESTINATION_ACTIONS, RULE_ID, SOURCE_ACTIONS, SOURCE_BUCKET_ACTIONS

CENTRAL_NAME = "security"
CENTRAL_REGION = "us-east-1"
SETUP_ROLE = "OrganizationAccountAccessRole"  # what Organizations creates in every new account
AUDIT_ROLE = "BucketwatchAudit"  # the organization context's default auditRoleName
OUTSIDER = "999988887777"  # an account outside the organization: the attacker's drop zone
DROP_BUCKET = f"exfil-drop-{OUTSIDER}"
OFFICE_NETWORK = "10.0.0.0/8"


@dataclass(frozen=True)
class MemberPlan:
    """A member account before it exists: its name in Organizations, its region, its buckets
    (name stems; each bucket is `<stem>-<account id>`, bucket names being global)."""

    name: str
    region: str
    buckets: tuple[str, ...]


PAYMENTS, ANALYTICS, WEB = "payments", "analytics", "web"
MEMBER_PLANS = (
    MemberPlan(PAYMENTS, "us-east-1", ("payments-ledger", "payments-exports")),
    MemberPlan(ANALYTICS, "eu-west-1", ("analytics-landing", "analytics-scratch")),
    MemberPlan(WEB, "us-west-2", ("web-assets",)),
)
# Buckets that do not log (careless from the start); every other application bucket does.
UNLOGGED_STEMS = frozenset({"analytics-scratch"})


@dataclass(frozen=True)
class Member:
    name: str
    names: DemoNames  # its account id, region, access-log bucket, trail (delivering to the archive)
    buckets: dict[str, str]  # stem -> bucket name

    @property
    def account_id(self) -> str:
        return self.names.account_id

    @property
    def region(self) -> str:
        return self.names.region

    def bucket(self, stem: str) -> str:
        return self.buckets[stem]


@dataclass(frozen=True)
class OrgNames:
    """Every name of the demo organization, known once Organizations has created the accounts."""

    organization_id: str
    management_id: str
    central: DemoNames
    members: tuple[Member, ...]

    def member(self, name: str) -> Member:
        return next(m for m in self.members if m.name == name)

    @property
    def accounts(self) -> list[str]:
        """The organization as Bucketwatch's context lists it: the central account, then members."""
        return [self.central.account_id, *(m.account_id for m in self.members)]

    @property
    def account_names(self) -> dict[str, str]:
        return {self.central.account_id: CENTRAL_NAME, **{m.account_id: m.name for m in self.members}}

    @property
    def archive_bucket(self) -> str:
        return self.central.trail_bucket

    @property
    def scanner_role_arn(self) -> str:
        return f"arn:aws:iam::{self.central.account_id}:role/{POSTURE_ROLE_NAME}"

    def audit_role_arn(self, account_id: str) -> str:
        return f"arn:aws:iam::{account_id}:role/{AUDIT_ROLE}"

    def replication_role_arn(self, member: Member) -> str:
        return f"arn:aws:iam::{member.account_id}:role/{replication_role_name(member.region)}"

    def organization(self) -> OrganizationSettings:
        """What the central stack gives its Lambdas (the file BUCKETWATCH_ORGANIZATION_FILE names)."""
        return OrganizationSettings(organization_id=self.organization_id, accounts=tuple(self.accounts),
                                    audit_role_name=AUDIT_ROLE)


def central_names(account_id: str) -> DemoNames:
    region = CENTRAL_REGION
    return DemoNames(
        account_id=account_id, region=region,
        access_log_bucket=bucket_name(ACCESS_LOG_BUCKET_PREFIX, account_id, region),
        trail_bucket=bucket_name(ARCHIVE_BUCKET_PREFIX, account_id, region),  # the trail delivers here
        processed_bucket=bucket_name(LAKE_BUCKET_PREFIX, account_id, region),
        app_buckets=(), logged_app_buckets=(),
    )


def member_of(plan: MemberPlan, account_id: str, central: DemoNames) -> Member:
    buckets = {stem: f"{stem}-{account_id}" for stem in plan.buckets}
    names = DemoNames(
        account_id=account_id, region=plan.region,
        access_log_bucket=bucket_name(ACCESS_LOG_BUCKET_PREFIX, account_id, plan.region),
        trail_bucket=central.trail_bucket,  # member trails deliver into the central archive
        processed_bucket=central.processed_bucket,
        app_buckets=tuple(buckets.values()),
        logged_app_buckets=tuple(b for stem, b in buckets.items() if stem not in UNLOGGED_STEMS),
    )
    return Member(plan.name, names, buckets)


@dataclass
class OrgWorld:
    """The organization on the endpoint: names, clients per account, what provisioning returned."""

    names: OrgNames
    management: Clients
    clients: dict[str, Clients]  # account id -> clients in its home region, as its admin
    central: Provisioned = field(default=None)  # type: ignore[assignment]

    def of(self, account_id: str) -> Clients:
        return self.clients[account_id]


def seed_endpoint(endpoint_url: str, seed: int) -> None:
    """moto's own randomness (account ids, the organization id) from the demo's seed: the same
    seed gives the same accounts, so the same story, byte for byte."""
    request = urllib.request.Request(f"{endpoint_url}/moto-api/seed?a={seed}", data=b"", method="POST")
    with urllib.request.urlopen(request, timeout=10):
        pass


def create_organization(management: Clients) -> OrgNames:
    """AWS Organizations: the organization, then the security account and the members."""
    organizations = management.organizations
    organization_id = organizations.create_organization(FeatureSet="ALL")["Organization"]["Id"]

    def account(name: str) -> str:
        status = organizations.create_account(Email=f"aws+{name}@acme.example", AccountName=name)
        return status["CreateAccountStatus"]["AccountId"]

    central = central_names(account(CENTRAL_NAME))
    members = tuple(member_of(plan, account(plan.name), central) for plan in MEMBER_PLANS)
    management_id = management.sts.get_caller_identity()["Account"]
    return OrgNames(organization_id, management_id, central, members)


def build_world(endpoint_url: str, seed: int) -> OrgWorld:
    """Create the organization and provision every account; the center first, as it deploys."""
    seed_endpoint(endpoint_url, seed)
    management = Clients(endpoint_url)
    names = create_organization(management)

    def admin(account_id: str, region: str) -> Clients:
        return management.assume(f"arn:aws:iam::{account_id}:role/{SETUP_ROLE}", region=region)

    clients = {names.central.account_id: admin(names.central.account_id, CENTRAL_REGION)}
    clients.update({m.account_id: admin(m.account_id, m.region) for m in names.members})
    world = OrgWorld(names, management, clients)
    world.central = CentralProvisioner(clients[names.central.account_id], names).run()
    for member in names.members:
        MemberProvisioner(clients[member.account_id], names, member).run()
    return world


# -- Policy documents, as the stacks write them ------------------------------------------------

def _document(*statements: dict[str, Any]) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": list(statements)}


def read_only_statements() -> list[dict[str, Any]]:
    """The live scan's configuration reads (`infra.posture.read_only_statements`, as JSON): the
    posture scanner's role and every member's audit role hold exactly these."""
    actions = scan_actions()
    return [
        {"Sid": "DescribeAnyBucket", "Effect": "Allow", "Resource": "arn:aws:s3:::*",
         "Action": [a for a in actions if a.startswith("s3:") and a not in RESOURCELESS_ACTIONS]},
        {"Sid": "DescribeAnyTrail", "Effect": "Allow", "Resource": "arn:aws:cloudtrail:*:*:trail/*",
         "Action": [a for a in actions if a.startswith("cloudtrail:") and a not in RESOURCELESS_ACTIONS]},
        {"Sid": "ListWithoutResourceTypes", "Effect": "Allow", "Resource": "*",
         "Action": sorted(a for a in actions if a in RESOURCELESS_ACTIONS)},
    ]


def audit_role_trust(names: OrgNames) -> dict[str, Any]:
    """`infra.audit_role.AuditRole`: only the central scanner, only from inside the organization."""
    return _document({"Effect": "Allow", "Principal": {"AWS": names.scanner_role_arn}, "Action": "sts:AssumeRole",
                      "Condition": {"StringEquals": {"aws:PrincipalOrgID": names.organization_id}}})


def archive_policy(names: OrgNames) -> dict[str, Any]:
    """`infra.archive.LogArchive`'s bucket policy: CloudTrail for the organization's trails named
    `bucketwatch-data-events` (each under its own `AWSLogs/<account>/`, a policy variable), replicas
    from the organization's roles named `bucketwatch-replication-*`; no account listed."""
    archive = f"arn:aws:s3:::{names.archive_bucket}"
    trails = {"StringEquals": {"aws:SourceOrgID": names.organization_id},
              "ArnLike": {"aws:SourceArn": f"arn:aws:cloudtrail:*:*:trail/{TRAIL_NAME}"}}
    replicators = {"StringEquals": {"aws:PrincipalOrgID": names.organization_id},
                   "ArnLike": {"aws:PrincipalArn": f"arn:aws:iam::*:role/{REPLICATION_ROLE_PREFIX}-*"}}
    return _document(
        {"Sid": "AWSCloudTrailAclCheck", "Effect": "Allow", "Principal": {"Service": "cloudtrail.amazonaws.com"},
         "Action": "s3:GetBucketAcl", "Resource": archive, "Condition": trails},
        {"Sid": "AWSCloudTrailWrite", "Effect": "Allow", "Principal": {"Service": "cloudtrail.amazonaws.com"},
         "Action": "s3:PutObject", "Resource": f"{archive}/AWSLogs/${{aws:SourceAccount}}/*",
         "Condition": {**trails, "StringEquals": {**trails["StringEquals"], "s3:x-amz-acl": "bucket-owner-full-control"}}},
        {"Sid": "MemberReplicationRolesWriteReplicas", "Effect": "Allow", "Principal": {"AWS": "*"},
         "Action": list(REPLICA_ACTIONS), "Resource": f"{archive}/*", "Condition": replicators},
        {"Sid": "MemberReplicationRolesCheckVersioning", "Effect": "Allow", "Principal": {"AWS": "*"},
         "Action": "s3:GetBucketVersioning", "Resource": archive, "Condition": replicators},
    )


def replication_configuration(names: OrgNames, member: Member) -> dict[str, Any]:
    """`infra.replication.CrossAccountReplication`: every new object, keys unchanged, owned by the
    central account, deletions not replicated, metrics on."""
    return {"Role": names.replication_role_arn(member), "Rules": [{
        "ID": RULE_ID, "Status": "Enabled", "Priority": 0, "Filter": {"Prefix": ""},
        "DeleteMarkerReplication": {"Status": "Disabled"},
        "Destination": {
            "Bucket": f"arn:aws:s3:::{names.archive_bucket}", "Account": names.central.account_id,
            "AccessControlTranslation": {"Owner": "Destination"},
            "Metrics": {"Status": "Enabled", "EventThreshold": {"Minutes": 15}},
        },
    }]}


def replication_role(member: Member, archive_bucket: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """(trust, permissions) of the member's replication role: S3 only, for this account and bucket."""
    source = f"arn:aws:s3:::{member.names.access_log_bucket}"
    trust = _document({"Effect": "Allow", "Principal": {"Service": "s3.amazonaws.com"}, "Action": "sts:AssumeRole",
                       "Condition": {"StringEquals": {"aws:SourceAccount": member.account_id},
                                     "ArnLike": {"aws:SourceArn": source}}})
    permissions = _document(
        {"Sid": "ReadSourceConfiguration", "Effect": "Allow", "Action": list(SOURCE_BUCKET_ACTIONS), "Resource": source},
        {"Sid": "ReadSourceVersions", "Effect": "Allow", "Action": list(SOURCE_ACTIONS), "Resource": f"{source}/*"},
        {"Sid": "WriteReplicas", "Effect": "Allow", "Action": list(DESTINATION_ACTIONS),
         "Resource": f"arn:aws:s3:::{archive_bucket}/*"},
    )
    return trust, permissions


def trail_selectors(excluded: list[str]) -> list[dict[str, Any]]:
    """Management events and object writes on every bucket but the monitoring's own, named exactly;
    reads are covered by the server access logs (a written waiver, as `dataEvents.waiverReason`)."""
    return [
        {"Name": "Management events", "FieldSelectors": [{"Field": "eventCategory", "Equals": ["Management"]}]},
        {"Name": "S3 writes, all buckets but the monitoring's", "FieldSelectors": [
            {"Field": "eventCategory", "Equals": ["Data"]},
            {"Field": "resources.type", "Equals": ["AWS::S3::Object"]},
            {"Field": "readOnly", "Equals": ["false"]},
            {"Field": "resources.ARN", "NotStartsWith": sorted(f"arn:aws:s3:::{b}/" for b in excluded)},
        ]},
    ]


# -- Provisioning --------------------------------------------------------------------------------

class OrgProvisioner(Provisioner):
    """What the central and member provisioners share: IAM roles, the trail into the archive."""

    def __init__(self, clients: Clients, org: OrgNames, names: DemoNames) -> None:
        super().__init__(clients, names)
        self.org = org

    def _role(self, name: str, trust: dict[str, Any], permissions: dict[str, Any]) -> str:
        iam = self.c.iam
        arn = iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
        iam.put_role_policy(RoleName=name, PolicyName=f"{name}-policy", PolicyDocument=json.dumps(permissions))
        return arn

    def trail(self) -> None:
        """The account's multi-region trail, delivering into the central archive with its key."""
        n, org = self.names, self.org
        central = org.central
        ct = self.c.cloudtrail
        key = f"arn:aws:kms:{central.region}:{central.account_id}:{ARCHIVE_KEY_ALIAS}"
        ct.create_trail(Name=n.trail_name, S3BucketName=org.archive_bucket, IsMultiRegionTrail=True,
                        EnableLogFileValidation=True, IncludeGlobalServiceEvents=True, KmsKeyId=key)
        excluded = [n.access_log_bucket, org.archive_bucket, central.processed_bucket, central.access_log_bucket]
        ct.put_event_selectors(TrailName=n.trail_name, AdvancedEventSelectors=trail_selectors(sorted(set(excluded))))
        ct.start_logging(Name=n.trail_name)


class CentralProvisioner(OrgProvisioner):
    """The central stack: archive, lake, detector plumbing, its own access-log bucket and trail,
    and the organization's posture scanner role."""

    def __init__(self, clients: Clients, org: OrgNames) -> None:
        super().__init__(clients, org, org.central)

    def run(self) -> Provisioned:
        self.monitoring()
        self.trail()
        self.scanner_role()
        self.account_public_access_block()
        return self.out

    def monitoring(self) -> None:
        """As a single-account stack's, with the archive where the trail bucket is (its own key and
        the organization's bucket policy), announcing every new object."""
        key_arn = self._key("bucketwatch", "Bucketwatch lake and topics")
        archive_key = self._key(ARCHIVE_KEY_ALIAS.removeprefix("alias/"), "Bucketwatch organization log archive")
        self.out.extra.update(monitoring_key_arn=key_arn, archive_key_arn=archive_key)
        self.monitoring_buckets(trail_key=archive_key, lake_key=key_arn, trail_policy=archive_policy(self.org))
        self._notify(self.names.trail_bucket, {"archive": ""})  # CloudTrail files and replicas alike

    def scanner_role(self) -> None:
        """`bucketwatch-posture-scanner`: the live scan's reads, and the audit role in the
        organization's accounts (as infra/posture.py grants it)."""
        org = self.org
        trust = _document({"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"},
                           "Action": "sts:AssumeRole"})
        assume = {"Sid": "AssumeMemberAuditRoles", "Effect": "Allow", "Action": "sts:AssumeRole",
                  "Resource": org.audit_role_arn("*"),
                  "Condition": {"StringEquals": {"aws:ResourceOrgID": org.organization_id}}}
        self._role(POSTURE_ROLE_NAME, trust, _document(*read_only_statements(), assume))

    def account_public_access_block(self) -> None:
        """The security account blocks public access account-wide (its members do not, yet)."""
        from policies.sources.live_clients import ClientFactory

        account = self.names.account_id
        # The live scan's client factory knows s3control's account-in-the-host-name on a local endpoint.
        control = ClientFactory(self.c.credentialed_session(), self.c.endpoint_url).client("s3control", account_id=account)
        control.put_public_access_block(AccountId=account, PublicAccessBlockConfiguration=BLOCK_ALL)

    def harden_monitoring_buckets(self) -> None:
        n = self.names
        policies = {n.access_log_bucket: _logging_delivery_policy(n), n.trail_bucket: archive_policy(self.org),
                    n.processed_bucket: _document()}
        _add_tls_only(self.c, policies)


class MemberProvisioner(OrgProvisioner):
    """A member's home-region stack: access-log bucket replicating into the archive, the trail
    into the archive, the audit role; plus the team's own buckets."""

    def __init__(self, clients: Clients, org: OrgNames, member: Member) -> None:
        super().__init__(clients, org, member.names)
        self.member = member

    def run(self) -> Provisioned:
        self.access_log_bucket()
        self.replication()
        self.trail()
        self.audit_role()
        self.application_buckets()
        return self.out

    def access_log_bucket(self) -> None:
        n, s3 = self.names, self.c.s3
        self._monitoring_bucket(n.access_log_bucket)
        s3.put_bucket_encryption(Bucket=n.access_log_bucket, ServerSideEncryptionConfiguration=SSE_S3)
        s3.put_bucket_policy(Bucket=n.access_log_bucket, Policy=json.dumps(_logging_delivery_policy(n)))
        self._carry_waivers(n.access_log_bucket, ACCESS_LOG_BUCKET_WAIVERS)

    def replication(self) -> None:
        trust, permissions = replication_role(self.member, self.org.archive_bucket)
        self._role(replication_role_name(self.member.region), trust, permissions)
        self.c.s3.put_bucket_replication(Bucket=self.names.access_log_bucket,
                                         ReplicationConfiguration=replication_configuration(self.org, self.member))

    def audit_role(self) -> None:
        self._role(AUDIT_ROLE, audit_role_trust(self.org), _document(*read_only_statements()))

    def application_buckets(self) -> None:
        s3, member = self.c.s3, self.member
        key_arn = self._key(f"{member.name}-data", f"{member.name} application data")
        for stem, bucket in member.buckets.items():
            self._create_bucket(bucket)
            s3.put_bucket_tagging(Bucket=bucket, Tagging={"TagSet": [
                {"Key": "owner", "Value": f"{member.name}-team"},
                {"Key": "data-classification", "Value": "restricted" if stem == "payments-ledger" else "internal"},
            ]})
            CONFIGURE[stem](self, bucket, key_arn)
            if stem not in UNLOGGED_STEMS:
                self._enable_access_logging(bucket)

    # One function per bucket: careful, acceptable, careless.
    def careful(self, bucket: str, key_arn: str) -> None:
        s3 = self.c.s3
        s3.put_public_access_block(Bucket=bucket, PublicAccessBlockConfiguration=BLOCK_ALL)
        s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
        s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps(_ssl_only_policy(bucket)))
        s3.put_bucket_encryption(Bucket=bucket, ServerSideEncryptionConfiguration=_sse_kms(key_arn))
        s3.put_bucket_ownership_controls(
            Bucket=bucket, OwnershipControls={"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]})
        self._expire_after(bucket, 365)

    def acceptable(self, bucket: str, key_arn: str) -> None:
        """Private and versioned, but SSE-S3, ACLs on, plain HTTP allowed, no lifecycle."""
        s3 = self.c.s3
        s3.put_public_access_block(Bucket=bucket, PublicAccessBlockConfiguration=BLOCK_ALL)
        s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
        s3.put_bucket_encryption(Bucket=bucket, ServerSideEncryptionConfiguration=SSE_S3)

    def careless(self, bucket: str, key_arn: str) -> None:
        """Left with whatever S3 gives a new bucket."""

    def site_assets(self, bucket: str, key_arn: str) -> None:
        """Private behind the CDN, for now: PAB on, versioned, SSE-S3, TLS only, ACLs off."""
        self.careful(bucket, key_arn)
        self.c.s3.put_bucket_encryption(Bucket=bucket, ServerSideEncryptionConfiguration=SSE_S3)

    def harden_monitoring_buckets(self) -> None:
        _add_tls_only(self.c, {self.names.access_log_bucket: _logging_delivery_policy(self.names)})


CONFIGURE = {
    "payments-ledger": MemberProvisioner.careful,
    "payments-exports": MemberProvisioner.acceptable,
    "analytics-landing": MemberProvisioner.careful,
    "analytics-scratch": MemberProvisioner.careless,
    "web-assets": MemberProvisioner.site_assets,
}


def _add_tls_only(clients: Clients, policies: dict[str, dict[str, Any]]) -> None:
    """The TLS-only deny the stacks give every monitoring bucket, added once the demo has written
    its logs (moto ignores the condition and would deny every write; see account.py)."""
    for bucket, policy in policies.items():
        policy["Statement"].append(_ssl_only_policy(bucket)["Statement"][0])
        clients.s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps(policy))

