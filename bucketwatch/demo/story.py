"""The demo's story: one working day of a small company's S3 traffic, and an attack on it.

Pure data, no AWS calls: `build_story(seed)` returns the access-log entries (field dicts with
Panther's field names), the CloudTrail records, the configuration changes the attacker makes
(applied to the local endpoint by `bucketwatch.demo.delivery`) and a few raw lines that are not
access-log lines at all. The same seed gives the same story, byte for byte.

Timeline (UTC, on STORY_DAY):
    08:00-14:00  normal work: the customer API, the ETL job, the BI dashboard, the nightly backup
                 agent's checks, the report publisher, a few 404s and a misconfigured BI job's 403s
    10:05-10:20  enumeration from an outside address: anonymous GET/HEAD/list requests -> 403
    10:40        stolen `ci-deploy` keys: public access block deleted, bucket policy and ACL made
                 public on acme-shared-reports
    10:50-11:10  plaintext (HTTP, no TLS) anonymous reads of the now-public reports
    11:30-11:45  an unknown role reads acme-customer-data (which only `customer-api` should read)
    12:00        server access logging disabled on acme-backups, then versioning suspended
    12:10-12:22  objects in acme-backups rewritten with SSE-C (customer-provided keys)
    12:25        ransom note uploaded
    12:30-12:40  mass deletion of the original objects
    12:45        the trail is stopped; CloudTrail delivers nothing after this
"""

from __future__ import annotations

import base64
import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from bucketwatch.demo.account import (
    ANALYTICS,
    BACKUPS,
    CUSTOMER_DATA,
    DEV_SCRATCH,
    SHARED_REPORTS,
    DemoNames,
)

# A Tuesday in May, so the tutorial's `month=5 AND day>=10` query finds the story.
STORY_DAY = datetime(2026, 5, 12, tzinfo=UTC)
START = STORY_DAY.replace(hour=8)
END = STORY_DAY.replace(hour=14)

ATTACKER_IP = "198.51.100.23"  # outside address (TEST-NET-2)
UNKNOWN_ROLE_IP = "203.0.113.77"  # outside address (TEST-NET-3)
RANSOM_NOTE_KEY = "HOW_TO_DECRYPT_FILES.txt"

UA_BOTO = "Boto3/1.34.84 md/Botocore#1.34.84 ua/2.0 os/linux#5.10.213-201.855.amzn2.x86_64 md/arch#x86_64 lang/python#3.11.8 md/pyimpl#CPython cfg/retry-mode#standard Botocore/1.34.84"
UA_JAVA = "aws-sdk-java/2.25.31 Linux/5.10.216-204.855.amzn2.x86_64 OpenJDK_64-Bit_Server_VM/17.0.11+9-LTS Java/17.0.11 vendor/Amazon.com_Inc. io/sync http/Apache cfg/retry-mode/adaptive"
UA_GLUE = "aws-sdk-java/1.12.681 Linux/4.14.343-261.564.amzn2.x86_64 OpenJDK_64-Bit_Server_VM/25.402-b08 java/1.8.0_402 scala/2.12.17 vendor/Red_Hat,_Inc. cfg/retry-mode/legacy AWSGlueETL"
UA_CLI = "aws-cli/2.15.40 md/awscrt#0.19.19 ua/2.0 os/linux#6.5.0-1018-aws md/arch#x86_64 lang/python#3.11.8 md/pyimpl#CPython command/s3api.list-objects-v2"
UA_SCANNER = "python-requests/2.31.0"
UA_CURL = "curl/8.5.0"
UA_BROWSER = 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36'

TLS13 = ("TLSv1.3", "TLS_AES_128_GCM_SHA256")
TLS12 = ("TLSv1.2", "ECDHE-RSA-AES128-GCM-SHA256")
NO_TLS = (None, None)


@dataclass(frozen=True)
class Actor:
    """Who makes requests: their ARN as access logs and CloudTrail show it, where from, how."""

    name: str
    arn: str | None  # None: anonymous
    ip: str
    useragent: str
    tls: tuple[str | None, str | None] = TLS13
    kind: str = "AssumedRole"  # AssumedRole | IAMUser | anonymous

    def user_identity(self, account_id: str, access_key: str) -> dict[str, Any]:
        if self.arn is None:
            return {"type": "AWSAccount", "principalId": "", "accountId": "anonymous"}
        if self.kind == "IAMUser":
            user = self.arn.rsplit("/", 1)[-1]
            return {"type": "IAMUser", "principalId": "AIDA5BWX2QK7EXAMPLE", "arn": self.arn,
                    "accountId": account_id, "accessKeyId": access_key, "userName": user}
        role, session = self.arn.split("assumed-role/", 1)[1].split("/", 1)
        return {
            "type": "AssumedRole",
            "principalId": f"AROA5BWX2QK7{role.upper().replace('-', '')[:8]}:{session}",
            "arn": self.arn,
            "accountId": account_id,
            "accessKeyId": access_key,
            "sessionContext": {
                "sessionIssuer": {"type": "Role", "principalId": f"AROA5BWX2QK7{role.upper().replace('-', '')[:8]}",
                                  "arn": f"arn:aws:iam::{account_id}:role/{role}",
                                  "accountId": account_id, "userName": role},
                "attributes": {"creationDate": START.strftime("%Y-%m-%dT%H:%M:%SZ"), "mfaAuthenticated": "false"},
            },
        }


def _role(account: str, role: str, session: str) -> str:
    return f"arn:aws:sts::{account}:assumed-role/{role}/{session}"


def actors(account: str) -> dict[str, Actor]:
    return {
        "customer_api": Actor("customer-api", _role(account, "customer-api", "i-0a1b2c3d4e5f60718"),
                              "10.0.12.41", UA_JAVA),
        "etl": Actor("analytics-etl", _role(account, "analytics-etl", "glue-job-nightly-export"),
                     "10.0.40.17", UA_GLUE, TLS12),
        "bi": Actor("bi-dashboard", _role(account, "bi-dashboard", "quicksight-refresh"), "10.0.41.9", UA_BOTO),
        "backup": Actor("backup-agent", _role(account, "backup-agent", "nightly"), "10.0.50.5", UA_BOTO),
        "publisher": Actor("report-publisher", _role(account, "report-publisher", "lambda-publish"),
                           "10.0.33.12", UA_BOTO),
        "stolen_ci": Actor("ci-deploy (stolen keys)", f"arn:aws:iam::{account}:user/ci-deploy", ATTACKER_IP,
                           UA_CLI, TLS12, kind="IAMUser"),
        "scanner": Actor("anonymous scanner", None, ATTACKER_IP, UA_SCANNER, TLS12, kind="anonymous"),
        "plaintext": Actor("anonymous HTTP client", None, ATTACKER_IP, UA_CURL, NO_TLS, kind="anonymous"),
        "unknown_role": Actor("contractor-sandbox", _role(account, "contractor-sandbox", "jdoe"),
                              UNKNOWN_ROLE_IP, UA_BOTO),
    }


@dataclass(frozen=True)
class Change:
    """A configuration change the attacker makes; delivery applies it to the endpoint."""

    at: datetime
    action: str  # delete_public_access_block | public_policy | public_acl | disable_logging |
    #              suspend_versioning | stop_trail
    target: str  # bucket or trail name
    description: str


@dataclass
class Story:
    seed: int
    names: DemoNames
    access_logs: list[dict[str, Any]] = field(default_factory=list)
    cloudtrail: list[dict[str, Any]] = field(default_factory=list)
    changes: list[Change] = field(default_factory=list)
    # Raw lines that are not access-log lines, delivered inside one bucket's log object:
    # (source bucket, time, text). They must end up quarantined, never dropped.
    malformed: list[tuple[str, datetime, str]] = field(default_factory=list)
    # Objects that exist in the buckets by story time (key lists), for realistic keys.
    objects: dict[str, list[str]] = field(default_factory=dict)


class StoryBuilder:
    def __init__(self, seed: int, names: DemoNames) -> None:
        self.rng = random.Random(seed)
        self.names = names
        self.account = names.account_id
        self.actors = actors(names.account_id)
        self.story = Story(seed=seed, names=names)
        self.owner_id = self._hex(64).lower()

    # -- random but reproducible details ---------------------------------------------------
    def _hex(self, n: int) -> str:
        return "".join(self.rng.choice("0123456789ABCDEF") for _ in range(n))

    def _host_id(self) -> str:
        return base64.b64encode(self.rng.randbytes(57)).decode()

    def _between(self, start: datetime, end: datetime) -> datetime:
        seconds = int((end - start).total_seconds())
        return start + timedelta(seconds=self.rng.randrange(seconds))

    # -- access-log entries ----------------------------------------------------------------
    def access(self, when: datetime, actor: Actor, bucket: str, operation: str, key: str | None,
               status: int, error: str | None = None, size: int | None = None,
               aclrequired: bool = False) -> dict[str, Any]:
        method = operation.split(".")[1]
        tls_version, cipher = actor.tls
        scheme_host = f"{bucket}.s3.{self.names.region}.amazonaws.com"
        uri_path = f"/{key}" if key else "/"
        query = "?list-type=2&prefix=&delimiter=%2F&encoding-type=url" if operation == "REST.GET.BUCKET" else ""
        ok = error is None
        sent = (size or 0) if ok and method == "GET" else (243 if not ok else None)
        entry = {
            "bucketowner": self.owner_id,
            "bucket": bucket,
            "time": when,
            "remoteip": actor.ip,
            "requester": actor.arn,
            "requestid": self._hex(16),
            "operation": operation,
            "key": key,
            "requesturi": f"{method} {uri_path}{query} HTTP/1.1",
            "httpstatus": status,
            "errorcode": error,
            "bytessent": sent,
            "objectsize": size if ok and key else None,
            "totaltime": self.rng.randint(8, 180),
            "turnaroundtime": self.rng.randint(4, 40),
            "referrer": None,
            "useragent": actor.useragent,
            "versionid": None,
            "hostid": self._host_id(),
            "signatureversion": "SigV4" if actor.arn else None,
            "ciphersuite": cipher,
            "authenticationtype": "AuthHeader" if actor.arn else None,
            "hostheader": scheme_host,
            "tlsVersion": tls_version,
            "accesspointarn": None,
            "aclrequired": "Yes" if aclrequired else None,
        }
        self.story.access_logs.append(entry)
        return entry

    # -- CloudTrail records ----------------------------------------------------------------
    def trail(self, when: datetime, actor: Actor, event_name: str, source: str = "s3.amazonaws.com",
              request: dict[str, Any] | None = None, resources: list[dict[str, Any]] | None = None,
              data_event: bool = False, read_only: bool = False, error: str | None = None,
              extra: dict[str, Any] | None = None) -> dict[str, Any]:
        tls_version, cipher = actor.tls
        key_id = ("AKIA" if actor.kind == "IAMUser" else "ASIA") + self._hex(16)
        record: dict[str, Any] = {
            "eventVersion": "1.10",
            "userIdentity": actor.user_identity(self.account, key_id),
            "eventTime": when.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "eventSource": source,
            "eventName": event_name,
            "awsRegion": self.names.region,
            "sourceIPAddress": actor.ip,
            "userAgent": actor.useragent,
            "requestParameters": request or {},
            "responseElements": None,
            "requestID": self._hex(16),
            "eventID": self._uuid(),
            "readOnly": read_only,
            "resources": resources or [],
            "eventType": "AwsApiCall",
            "managementEvent": not data_event,
            "recipientAccountId": self.account,
            "eventCategory": "Data" if data_event else "Management",
        }
        if source == "s3.amazonaws.com":
            record["additionalEventData"] = {
                "SignatureVersion": "SigV4", "CipherSuite": cipher or "ECDHE-RSA-AES128-GCM-SHA256",
                "bytesTransferredIn": 0, "AuthenticationMethod": "AuthHeader",
                "x-amz-id-2": self._host_id(), "bytesTransferredOut": 0,
            }
        if tls_version:
            record["tlsDetails"] = {"tlsVersion": tls_version, "cipherSuite": cipher,
                                    "clientProvidedHostHeader": f"s3.{self.names.region}.amazonaws.com"}
        if error:
            record["errorCode"] = error
            record["errorMessage"] = "Access Denied"
        if extra:
            record.update(extra)
        self.story.cloudtrail.append(record)
        return record

    def _uuid(self) -> str:
        h = self._hex(32).lower()
        return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"

    def _object_resources(self, bucket: str, key: str) -> list[dict[str, Any]]:
        return [{"type": "AWS::S3::Object", "ARN": f"arn:aws:s3:::{bucket}/{key}"},
                {"accountId": self.account, "type": "AWS::S3::Bucket", "ARN": f"arn:aws:s3:::{bucket}"}]

    def data_write(self, when: datetime, actor: Actor, bucket: str, key: str, event_name: str = "PutObject",
                   request: dict[str, Any] | None = None) -> dict[str, Any]:
        params = {"bucketName": bucket, "key": key, "Host": f"{bucket}.s3.{self.names.region}.amazonaws.com",
                  **(request or {})}
        return self.trail(when, actor, event_name, request=params,
                          resources=self._object_resources(bucket, key), data_event=True)

    def bucket_change(self, when: datetime, actor: Actor, event_name: str, bucket: str,
                      request: dict[str, Any]) -> dict[str, Any]:
        params = {"bucketName": bucket, "Host": f"{bucket}.s3.{self.names.region}.amazonaws.com", **request}
        return self.trail(when, actor, event_name, request=params, resources=[
            {"accountId": self.account, "type": "AWS::S3::Bucket", "ARN": f"arn:aws:s3:::{bucket}"}])


# ---------------------------------------------------------------------------------------------
# The chapters of the story. Each adds entries through the builder, in a fixed order.
# ---------------------------------------------------------------------------------------------

def _keys(rng: random.Random, pattern: str, count: int) -> list[str]:
    return [pattern.format(n=rng.randrange(100000, 999999)) for _ in range(count)]


def normal_day(b: StoryBuilder) -> None:
    """Six ordinary working hours, then the day's routine odds and ends."""
    company_objects(b)
    for h in range(6):
        start = START + timedelta(hours=h)
        end = start + timedelta(hours=1)
        customer_api_hour(b, start, end)
        analytics_hour(b, start, end)
        reports_and_backups_hour(b, start, end)
    routine_extras(b)


def company_objects(b: StoryBuilder) -> None:
    """The keys that exist in the buckets, so requests name real-looking objects."""
    rng = b.rng
    customers = _keys(rng, "customers/2026/05/cust-{n}.json", 60)
    invoices = _keys(rng, "invoices/2026/05/INV-{n}.pdf", 20)
    exports = _keys(rng, "exports/daily/2026-05-12/part-{n}.snappy.parquet", 24)
    reports = _keys(rng, "reports/2026-Q2/partner-report-{n}.pdf", 12)
    backups = [f"db/orders/2026-05-{day:02d}/orders-{part:03d}.dump.gz" for day in range(1, 12)
               for part in range(1, 13)]  # 132 nightly dump parts
    b.story.objects = {CUSTOMER_DATA: customers + invoices, ANALYTICS: exports, SHARED_REPORTS: reports,
                       BACKUPS: backups}


def customer_api_hour(b: StoryBuilder, start: datetime, end: datetime) -> None:
    """The customer API reads and writes customer records all day, over TLS from the VPC."""
    api, rng = b.actors["customer_api"], b.rng
    records = b.story.objects[CUSTOMER_DATA]
    customers = [key for key in records if key.startswith("customers/")]  # updated; invoices are not
    for _ in range(90):
        key = rng.choice(records)
        b.access(b._between(start, end), api, CUSTOMER_DATA, "REST.GET.OBJECT", key, 200,
                 size=rng.randint(2_000, 900_000))
    for _ in range(12):
        key = rng.choice(customers)
        when = b._between(start, end)
        b.access(when, api, CUSTOMER_DATA, "REST.PUT.OBJECT", key, 200, size=rng.randint(2_000, 60_000))
        b.data_write(when, api, CUSTOMER_DATA, key)
    for _ in range(2):  # lookups of records that do not exist (yet)
        b.access(b._between(start, end), api, CUSTOMER_DATA, "REST.GET.OBJECT",
                 f"customers/2026/05/cust-{rng.randrange(100000, 999999)}.json", 404, "NoSuchKey")


def analytics_hour(b: StoryBuilder, start: datetime, end: datetime) -> None:
    """The BI dashboard refreshes from the exports; the ETL job writes new parts every hour."""
    bi, etl, rng = b.actors["bi"], b.actors["etl"], b.rng
    exports = b.story.objects[ANALYTICS]
    for _ in range(25):
        b.access(b._between(start, end), bi, ANALYTICS, "REST.GET.OBJECT", rng.choice(exports), 200,
                 size=rng.randint(1_000_000, 40_000_000))
    b.access(b._between(start, end), bi, ANALYTICS, "REST.GET.BUCKET", None, 200)
    for _ in range(4):
        key = rng.choice(exports)
        when = b._between(start, end)
        b.access(when, etl, ANALYTICS, "REST.PUT.OBJECT", key, 200, size=rng.randint(5_000_000, 60_000_000))
        b.data_write(when, etl, ANALYTICS, key)


def reports_and_backups_hour(b: StoryBuilder, start: datetime, end: datetime) -> None:
    """Partners fetch reports through the publisher; the backup agent verifies last night's dumps."""
    rng = b.rng
    for _ in range(6):
        b.access(b._between(start, end), b.actors["publisher"], SHARED_REPORTS, "REST.GET.OBJECT",
                 rng.choice(b.story.objects[SHARED_REPORTS]), 200, size=rng.randint(80_000, 3_000_000))
    for _ in range(5):
        b.access(b._between(start, end), b.actors["backup"], BACKUPS, "REST.HEAD.OBJECT",
                 rng.choice(b.story.objects[BACKUPS]), 200)


def routine_extras(b: StoryBuilder) -> None:
    a = b.actors
    # A BI job misconfigured to read a prefix it has no grant on: a handful of 403s, twice.
    for when in (STORY_DAY.replace(hour=9, minute=12), STORY_DAY.replace(hour=13, minute=12)):
        for i in range(3):
            b.access(when + timedelta(seconds=i * 7), a["bi"], ANALYTICS, "REST.GET.OBJECT",
                     "restricted/payroll/2026-05.csv", 403, "AccessDenied")
    # The publisher uploads the daily report at noon; dev-scratch gets its usual test junk.
    when = STORY_DAY.replace(hour=12, minute=2, second=11)
    daily = "reports/2026-Q2/daily-2026-05-12.pdf"
    b.access(when, a["publisher"], SHARED_REPORTS, "REST.PUT.OBJECT", daily, 200, size=412_331)
    b.data_write(when, a["publisher"], SHARED_REPORTS, daily)
    for i in range(3):
        b.data_write(STORY_DAY.replace(hour=9 + i, minute=30), a["etl"], DEV_SCRATCH, f"tmp/test-{i}.csv")
    # Routine management reads: the dashboard lists buckets.
    for h in range(8, 13):
        b.trail(STORY_DAY.replace(hour=h, minute=5), a["bi"], "ListBuckets", read_only=True,
                request={"Host": f"s3.{b.names.region}.amazonaws.com"})


ENUMERATION_GUESSES = (".env", "backup.sql", "db/dump.sql.gz", "config/credentials.json", "admin/passwords.txt",
                       "terraform.tfstate", ".git/config", "id_rsa", "wp-config.php.bak", "export.csv")


def enumeration(b: StoryBuilder) -> None:
    """An outside address probes the company's buckets anonymously: every request is denied."""
    start = STORY_DAY.replace(hour=10, minute=5)
    scanner = b.actors["scanner"]
    step = 0
    for bucket in (CUSTOMER_DATA, SHARED_REPORTS, ANALYTICS, BACKUPS):
        for _ in range(2):
            b.access(start + timedelta(seconds=step * 17), scanner, bucket, "REST.GET.BUCKET", None, 403,
                     "AccessDenied")
            step += 1
        for guess in ENUMERATION_GUESSES:
            operation = "REST.HEAD.OBJECT" if step % 3 == 0 else "REST.GET.OBJECT"
            b.access(start + timedelta(seconds=step * 17), scanner, bucket, operation, guess, 403, "AccessDenied")
            step += 1


def make_public(b: StoryBuilder) -> None:
    """Stolen CI keys open acme-shared-reports to the world: PAB off, public policy, public ACL."""
    ci = b.actors["stolen_ci"]
    t = STORY_DAY.replace(hour=10, minute=40)
    bucket = SHARED_REPORTS
    b.bucket_change(t, ci, "DeleteBucketPublicAccessBlock", bucket, {"publicAccessBlock": ""})
    b.story.changes.append(Change(t, "delete_public_access_block", bucket, "public access block deleted"))
    t += timedelta(seconds=41)
    b.bucket_change(t, ci, "PutBucketPolicy", bucket, {"policy": "", "bucketPolicy": public_read_policy(bucket)})
    b.story.changes.append(Change(t, "public_policy", bucket, "bucket policy allows s3:GetObject to everyone"))
    t += timedelta(seconds=33)
    b.bucket_change(t, ci, "PutBucketAcl", bucket, {
        "acl": "",
        "AccessControlPolicy": {"AccessControlList": {"Grant": [
            {"Grantee": {"xsi:type": "CanonicalUser", "ID": b.owner_id}, "Permission": "FULL_CONTROL"},
            {"Grantee": {"xsi:type": "Group", "URI": "http://acs.amazonaws.com/groups/global/AllUsers"},
             "Permission": "READ"},
        ]}, "Owner": {"ID": b.owner_id}},
    })
    b.story.changes.append(Change(t, "public_acl", bucket, "ACL grants READ to AllUsers"))


def public_read_policy(bucket: str) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": [{
        "Sid": "PublicRead", "Effect": "Allow", "Principal": "*",
        "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::{bucket}/*",
    }]}


def plaintext_reads(b: StoryBuilder) -> None:
    """The attacker downloads the now-public reports anonymously, over plain HTTP."""
    start = STORY_DAY.replace(hour=10, minute=50)
    reports = b.story.objects[SHARED_REPORTS]
    for i, key in enumerate(reports * 2):
        b.access(start + timedelta(seconds=i * 50), b.actors["plaintext"], SHARED_REPORTS, "REST.GET.OBJECT", key,
                 200, size=b.rng.randint(80_000, 3_000_000))


def unknown_role_reads(b: StoryBuilder) -> None:
    """A role nobody mapped to acme-customer-data reads customer records."""
    start = STORY_DAY.replace(hour=11, minute=30)
    for i, key in enumerate(b.story.objects[CUSTOMER_DATA][:25]):
        b.access(start + timedelta(seconds=i * 36), b.actors["unknown_role"], CUSTOMER_DATA, "REST.GET.OBJECT",
                 key, 200, size=b.rng.randint(2_000, 900_000))


def ransomware(b: StoryBuilder) -> None:
    """Logging and versioning off, SSE-C rewrite of the backups, a ransom note, the originals
    deleted, trail off."""
    ci = b.actors["stolen_ci"]
    t = STORY_DAY.replace(hour=12, minute=0)
    b.bucket_change(t, ci, "PutBucketLogging", BACKUPS, {
        "logging": "", "BucketLoggingStatus": {"xmlns": "http://s3.amazonaws.com/doc/2006-03-01/"}})
    b.story.changes.append(Change(t, "disable_logging", BACKUPS, "server access logging disabled"))
    t += timedelta(minutes=1, seconds=12)
    b.bucket_change(t, ci, "PutBucketVersioning", BACKUPS, {
        "versioning": "", "VersioningConfiguration": {"xmlns": "http://s3.amazonaws.com/doc/2006-03-01/",
                                                      "Status": "Suspended"}})
    b.story.changes.append(Change(t, "suspend_versioning", BACKUPS, "versioning suspended"))
    dumps = b.story.objects[BACKUPS]
    start = STORY_DAY.replace(hour=12, minute=10)
    for i, key in enumerate(dumps[:120]):
        b.data_write(start + timedelta(seconds=i * 6), ci, BACKUPS, f"{key}.locked", "CopyObject", {
            "x-amz-copy-source": f"{BACKUPS}/{key}",
            "x-amz-server-side-encryption-customer-algorithm": "AES256",
        })
    b.data_write(STORY_DAY.replace(hour=12, minute=25), ci, BACKUPS, RANSOM_NOTE_KEY)
    start = STORY_DAY.replace(hour=12, minute=30)
    for i, key in enumerate(dumps[:120]):
        b.data_write(start + timedelta(seconds=i * 5), ci, BACKUPS, key, "DeleteObject")
    t = STORY_DAY.replace(hour=12, minute=45)
    b.trail(t, ci, "StopLogging", source="cloudtrail.amazonaws.com",
            request={"name": b.names.trail_arn},
            resources=[{"accountId": b.account, "type": "AWS::CloudTrail::Trail", "ARN": b.names.trail_arn}])
    b.story.changes.append(Change(t, "stop_trail", b.names.trail_name, "trail stopped"))


def foreign_lines(b: StoryBuilder) -> None:
    """Lines that are not S3 access-log lines inside an access-log object: they must be quarantined."""
    when = STORY_DAY.replace(hour=9, minute=44)
    b.story.malformed.append((CUSTOMER_DATA, when, (
        'h2 2026-05-12T09:44:01.120934Z app/acme-web/50dc6c495c0c9188 198.51.100.23:47312 10.0.1.7:80 0.000 0.004 '
        '0.000 200 200 34 366 "GET https://www.acme.example:443/ HTTP/2.0" "curl/8.5.0" ECDHE-RSA-AES128-GCM-SHA256 '
        'TLSv1.2')))
    b.story.malformed.append((CUSTOMER_DATA, when + timedelta(minutes=2), (
        f"{b.owner_id} {CUSTOMER_DATA} [12/May/2026:09:46:13 +0000] 10.0.12.41 "
        f"arn:aws:sts::{b.account}:assumed-role/customer-api/i-0a1b2c3d4e5f60718 3E57427F3EXAMPLE REST.GET.OBJECT")))


def build_story(seed: int = 7, names: DemoNames | None = None) -> Story:
    b = StoryBuilder(seed, names or DemoNames())
    normal_day(b)
    enumeration(b)
    make_public(b)
    plaintext_reads(b)
    unknown_role_reads(b)
    ransomware(b)
    foreign_lines(b)
    return finish(b.story)


def finish(story: Story) -> Story:
    """Drop what AWS would not have delivered; order everything by time."""
    logging_off = {c.target: c.at for c in story.changes if c.action == "disable_logging"}
    trail_off = min((c.at for c in story.changes if c.action == "stop_trail"), default=None)
    story.access_logs = sorted(
        (e for e in story.access_logs if e["bucket"] not in logging_off or e["time"] < logging_off[e["bucket"]]),
        key=lambda e: e["time"])
    story.cloudtrail = sorted(
        (r for r in story.cloudtrail if trail_off is None or _ct_time(r) <= trail_off),
        key=_ct_time)
    story.changes.sort(key=lambda c: c.at)
    return story


def _ct_time(record: dict[str, Any]) -> datetime:
    return datetime.strptime(record["eventTime"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
