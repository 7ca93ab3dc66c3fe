"""The CloudTrail an outside attack-technique catalogue leaves behind, with each technique's own
volumes and names (read from Stratus Red Team's S3/CloudTrail techniques, not copied), and a
realistic benign day to go with it. Every record carries tlsDetails, as real ones do.

- s3-ransomware-individual-deletion: 51 objects in a versioned bucket; download them all, list
  the versions, delete every version with DeleteObject, upload the note FILES-DELETED.txt;
- s3-ransomware-batch-deletion: the same with one DeleteObjects request;
- s3-ransomware-client-side-encryption: download, then CopyObject each object onto itself with an
  SSE-C key, then the note;
- s3-backdoor-bucket-policy: PutBucketPolicy granting GetObject/ListBucket to an outside account's root;
- cloudtrail-lifecycle-rule: a trail logging to its bucket, then a lifecycle rule
  "nuke-cloudtrail-logs-after-1-day" (Expiration 1 day) on that bucket;
- cloudtrail-stop / cloudtrail-delete / cloudtrail-event-selectors.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from access_log_events import access_line
from cloudtrail_events import ACCOUNT, identity, s3_event

from detectors.parsers.s3_access_format import format_access_log_line

ATTACKER = identity("IAMUser", "leaked-ci")
ATTACKER_IP = "198.51.100.66"
OUTSIDE_ACCOUNT = "193672423079"  # the fictitious external account of the backdoor technique
AGENT = "[aws-sdk-go-v2/1.24.0 os/linux lang/go#1.21.5 md/GOOS#linux md/GOARCH#amd64 api/s3#1.48.0]"
FILES = 51
NOTE = "FILES-DELETED.txt"
TRAIL = "stratus-red-team-ctlr-trail"


def object_keys(count: int = FILES) -> list[str]:
    words = ("liable", "donated", "mayday", "blooper", "pueblo", "tantrum", "scary", "secret", "ignition")
    extensions = ("sql", "txt", "docx", "pdf", "png", "tar.gz")
    return [f"{words[i % len(words)]}-{words[(i * 7 + 3) % len(words)]}{i}.{extensions[i % len(extensions)]}"
            for i in range(count)]


def management_event(source: str, name: str, params: dict[str, Any], at: datetime,
                     user: dict[str, Any] = ATTACKER, ip: str = ATTACKER_IP, agent: str = AGENT,
                     response: dict[str, Any] | None = None, error: str | None = None,
                     resources: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    host = f"{source.split('.')[0]}.us-east-1.amazonaws.com"
    record: dict[str, Any] = {
        "eventVersion": "1.10", "userIdentity": user, "eventTime": at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "eventSource": source, "eventName": name, "awsRegion": "us-east-1", "sourceIPAddress": ip,
        "userAgent": agent, "requestParameters": params, "responseElements": response,
        "requestID": uuid.uuid4().hex[:16].upper(), "eventID": str(uuid.uuid4()), "readOnly": False,
        "eventType": "AwsApiCall", "managementEvent": True, "recipientAccountId": ACCOUNT,
        "eventCategory": "Management",
        "tlsDetails": {"tlsVersion": "TLSv1.3", "cipherSuite": "TLS_AES_128_GCM_SHA256",
                       "clientProvidedHostHeader": host},
    }
    if resources is not None:
        record["resources"] = resources
    if error:
        record["errorCode"], record["errorMessage"] = error, "Access Denied"
    return record


def bucket_call(name: str, bucket: str, params: dict[str, Any], at: datetime, **kwargs: Any) -> dict[str, Any]:
    """A bucket-level S3 management call (PutBucketPolicy, PutBucketLifecycle, ...)."""
    return management_event("s3.amazonaws.com", name, {"bucketName": bucket, "Host": f"{bucket}.s3.us-east-1.amazonaws.com",
                                                       **params}, at,
                            resources=[{"accountId": ACCOUNT, "type": "AWS::S3::Bucket", "ARN": f"arn:aws:s3:::{bucket}"}],
                            **kwargs)


def data_event(name: str, bucket: str, key: str, at: datetime, user: dict[str, Any] = ATTACKER,
               ip: str = ATTACKER_IP, **params: Any) -> dict[str, Any]:
    record = s3_event(name, user, bucket, key, at, ip=ip, agent=AGENT if user is ATTACKER else
                      "[aws-sdk-java/2.21.0 Linux/5.10 OpenJDK_64-Bit_Server_VM/17 java/17 vendor/Amazon.com_Inc.]",
                      bytes_out=1024 if name == "GetObject" else None)
    record["requestParameters"].update(params)
    return record


def _download_and_list(bucket: str, start: datetime) -> list[dict[str, Any]]:
    records = [data_event("GetObject", bucket, key, start + timedelta(seconds=i)) for i, key in enumerate(object_keys())]
    listing = data_event("ListObjectVersions", bucket, "", start + timedelta(seconds=FILES + 1), versions="")
    listing["requestParameters"].pop("key")
    return [*records, listing]


def _note(bucket: str, at: datetime) -> dict[str, Any]:
    return data_event("PutObject", bucket, NOTE, at)


def individual_deletion(bucket: str, start: datetime) -> list[dict[str, Any]]:
    records = _download_and_list(bucket, start)
    t = start + timedelta(minutes=2)
    records += [data_event("DeleteObject", bucket, key, t + timedelta(seconds=i * 0.5), versionId=f"v{i:04d}.{key}"[:32])
                for i, key in enumerate(object_keys())]
    return [*records, _note(bucket, t + timedelta(minutes=1))]


def batch_deletion(bucket: str, start: datetime) -> list[dict[str, Any]]:
    records = _download_and_list(bucket, start)
    delete = data_event("DeleteObjects", bucket, "", start + timedelta(minutes=2), delete="", **{"x-id": "DeleteObjects"})
    delete["requestParameters"].pop("key")
    delete["resources"] = [{"type": "AWS::S3::Object", "ARNPrefix": f"arn:aws:s3:::{bucket}/"},
                           {"accountId": ACCOUNT, "type": "AWS::S3::Bucket", "ARN": f"arn:aws:s3:::{bucket}"}]
    return [*records, delete, _note(bucket, start + timedelta(minutes=3))]


def client_side_encryption(bucket: str, start: datetime) -> list[dict[str, Any]]:
    records = _download_and_list(bucket, start)
    t = start + timedelta(minutes=2)
    for i, key in enumerate(object_keys()):
        copy = data_event("CopyObject", bucket, key, t + timedelta(seconds=i), **{
            "x-amz-server-side-encryption-customer-algorithm": "AES256", "x-amz-copy-source": f"{bucket}/{key}",
            "x-id": "CopyObject"})
        copy["responseElements"] = {"x-amz-server-side-encryption-customer-algorithm": "AES256"}
        records.append(copy)
    return [*records, _note(bucket, t + timedelta(minutes=2))]


def backdoor_policy(bucket: str, at: datetime) -> list[dict[str, Any]]:
    policy = {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{OUTSIDE_ACCOUNT}:root"},
        "Action": ["s3:GetObject", "s3:GetBucketLocation", "s3:ListBucket"],
        "Resource": [f"arn:aws:s3:::{bucket}/*", f"arn:aws:s3:::{bucket}"]}]}
    return [bucket_call("PutBucketPolicy", bucket, {"bucketPolicy": policy, "policy": ""}, at)]


def replication_config(destination_bucket: str, account: str, rule_id: str) -> dict[str, Any]:
    """PutBucketReplication's parameters as CloudTrail writes them (the request's XML as JSON)."""
    return {"replication": "", "ReplicationConfiguration": {
        "Role": f"arn:aws:iam::{ACCOUNT}:role/replication", "xmlns": "http://s3.amazonaws.com/doc/2006-03-01/",
        "Rule": {"ID": rule_id, "Status": "Enabled", "Priority": 1, "Filter": {"Prefix": ""},
                 "DeleteMarkerReplication": {"Status": "Disabled"},
                 "Destination": {"Bucket": f"arn:aws:s3:::{destination_bucket}", "Account": account,
                                 "AccessControlTranslation": {"Owner": "Destination"}}}}}


def replication_to_outside(bucket: str, at: datetime) -> list[dict[str, Any]]:
    """Exfiltration by replication (ATT&CK T1537): every new object copied to the attacker's bucket."""
    return [bucket_call("PutBucketReplication", bucket, replication_config("drop-zone-7", OUTSIDE_ACCOUNT, "sync"), at)]


def create_trail(trail: str, bucket: str, at: datetime, user: dict[str, Any] = ATTACKER) -> dict[str, Any]:
    arn = f"arn:aws:cloudtrail:us-east-1:{ACCOUNT}:trail/{trail}"
    return management_event("cloudtrail.amazonaws.com", "CreateTrail",
                            {"name": trail, "s3BucketName": bucket, "isMultiRegionTrail": False,
                             "includeGlobalServiceEvents": True}, at, user=user,
                            response={"name": trail, "s3BucketName": bucket, "trailARN": arn})


def trail_lifecycle(bucket: str, at: datetime) -> list[dict[str, Any]]:
    rule = {"ID": "nuke-cloudtrail-logs-after-1-day", "Status": "Enabled", "Filter": {"Prefix": "*"},
            "Expiration": {"Days": 1}}
    return [bucket_call("PutBucketLifecycle", bucket, {"LifecycleConfiguration": {
        "Rule": rule, "xmlns": "http://s3.amazonaws.com/doc/2006-03-01/"}, "lifecycle": ""}, at)]


def trail_call(name: str, at: datetime, **params: Any) -> list[dict[str, Any]]:
    arn = f"arn:aws:cloudtrail:us-east-1:{ACCOUNT}:trail/{TRAIL}"
    key = "trailName" if "Selectors" in name else "name"
    return [management_event("cloudtrail.amazonaws.com", name, {key: arn, **params}, at)]


# -- a benign day ------------------------------------------------------------------------------
MEMBER_ACCOUNT = "222233334444"
APP = identity("AssumedRole", "customer-api")
ETL = identity("AssumedRole", "nightly-etl")
CLEANER = identity("AssumedRole", "tmp-cleaner")
CI = identity("AssumedRole", "ci-deploy")
ADMIN = identity("AssumedRole", "platform-admin")
CONSOLE = "[Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0]"
AUDIT_BUCKET = "acme-audit-logs"
BENIGN_CONFIG = f"""
organization:
  accounts: ["{ACCOUNT}", "{MEMBER_ACCOUNT}"]
detections:
  known_good_access:
    - bucket: customer-archive
      principals: ["arn:aws:sts::{ACCOUNT}:assumed-role/customer-api/*", "arn:aws:sts::{ACCOUNT}:assumed-role/nightly-etl/*"]
  ip_allowlist:
    - cidrs: ["10.0.0.0/8"]
      buckets: [customer-archive]
"""


def _vpc(record: dict[str, Any]) -> dict[str, Any]:
    record["vpcEndpointId"] = "vpce-0a1b2c3d4e5f60718"
    return record


def benign_cloudtrail(day: datetime) -> list[dict[str, Any]]:
    """A day of an ordinary account: applications, a nightly job, a cleanup job, deployments and
    an administrator's changes (a trail, lifecycle rules, a policy for a member account)."""
    records: list[dict[str, Any]] = []
    for hour in range(24):
        t = day + timedelta(hours=hour)
        records += [_vpc(data_event("GetObject", "customer-archive", f"orders/{hour}/{i}.json", t + timedelta(seconds=i * 40),
                                    user=APP, ip="10.0.12.34")) for i in range(40)]
        records += [_vpc(data_event("PutObject", "customer-archive", f"orders/{hour}/new-{i}.json",
                                    t + timedelta(seconds=i * 90 + 7), user=APP, ip="10.0.12.34")) for i in range(20)]
    night = day + timedelta(hours=2)
    records += [_vpc(data_event("GetObject", "customer-archive", f"orders/{i % 24}/{i}.json", night + timedelta(seconds=i),
                                user=ETL, ip="10.0.40.7")) for i in range(300)]
    records += [_vpc(data_event("DeleteObject", "customer-archive", f"staging/{i}.parquet", night + timedelta(minutes=20, seconds=i),
                                user=ETL, ip="10.0.40.7")) for i in range(20)]
    for run in range(3):  # the cleanup job empties tmp/ with multi-object deletes; CI uploads there later
        t = day + timedelta(hours=6 + run * 6)
        cleanup = data_event("DeleteObjects", "build-cache", "", t, user=CLEANER, ip="10.0.50.9", delete="")
        cleanup["requestParameters"].pop("key")
        records.append(cleanup)
        records += [data_event("PutObject", "build-cache", f"tmp/{run}/{i}.tar", t + timedelta(minutes=30 + i),
                               user=CI, ip="203.0.113.40") for i in range(5)]
    records += [data_event("CopyObject", "customer-archive", f"archive/{i}.json", day + timedelta(hours=4, seconds=i), user=ETL,
                           ip="10.0.40.7", **{"x-amz-copy-source": f"customer-archive/orders/1/{i}.json"}) for i in range(30)]
    records += [data_event("GetObject", "customer-archive", "orders/9/missing.json", day + timedelta(hours=9, minutes=i),
                           user=APP, ip="10.0.12.34") for i in range(2)]
    records[-1]["errorCode"], records[-1]["errorMessage"] = "AccessDenied", "Access Denied"
    admin = {"user": ADMIN, "ip": "203.0.113.10", "agent": CONSOLE}
    t = day + timedelta(hours=14)
    records.append(create_trail("org-trail", AUDIT_BUCKET, t, user=ADMIN))
    records.append(bucket_call("PutBucketLifecycle", AUDIT_BUCKET, {"LifecycleConfiguration": {"Rule": [
        {"ID": "archive", "Status": "Enabled", "Filter": {"Prefix": "AWSLogs/"}, "Expiration": {"Days": 365},
         "NoncurrentVersionExpiration": {"NoncurrentDays": 90}},
        {"ID": "old-test-rule", "Status": "Disabled", "Expiration": {"Days": 1}}]}}, t + timedelta(minutes=5), **admin))
    records.append(bucket_call("PutBucketLifecycle", "build-cache", {"LifecycleConfiguration": {"Rule": {
        "ID": "tmp", "Status": "Enabled", "Filter": {"Prefix": "tmp/"}, "Expiration": {"Days": 1}}}},
        t + timedelta(minutes=6), **admin))
    member_read = {"Version": "2012-10-17", "Statement": [
        {"Sid": "MemberReads", "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{MEMBER_ACCOUNT}:role/analytics"},
         "Action": ["s3:GetObject", "s3:ListBucket"], "Resource": ["arn:aws:s3:::shared-data", "arn:aws:s3:::shared-data/*"]},
        {"Sid": "DenyHttp", "Effect": "Deny", "Principal": "*", "Action": "s3:*", "Resource": "arn:aws:s3:::shared-data/*",
         "Condition": {"Bool": {"aws:SecureTransport": "false"}}}]}
    records.append(bucket_call("PutBucketPolicy", "shared-data", {"bucketPolicy": member_read}, t + timedelta(minutes=8),
                               **admin))
    trail_policy = {"Statement": [
        {"Effect": "Allow", "Principal": {"Service": "cloudtrail.amazonaws.com"}, "Action": "s3:PutObject",
         "Resource": f"arn:aws:s3:::{AUDIT_BUCKET}/AWSLogs/*",
         "Condition": {"StringEquals": {"aws:SourceArn": f"arn:aws:cloudtrail:us-east-1:{ACCOUNT}:trail/org-trail"}}},
        {"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::{AUDIT_BUCKET}/*",
         "Condition": {"StringEquals": {"aws:PrincipalOrgID": "o-a1b2c3d4e5"}}}]}
    records.append(bucket_call("PutBucketPolicy", AUDIT_BUCKET, {"bucketPolicy": trail_policy}, t + timedelta(minutes=9),
                               **admin))
    records.append(bucket_call("PutBucketVersioning", AUDIT_BUCKET, {"VersioningConfiguration": {"Status": "Enabled"}},
                               t + timedelta(minutes=10), **admin))
    records.append(bucket_call("PutBucketReplication", "shared-data",  # a disaster-recovery copy in a member
                               replication_config("shared-data-dr", MEMBER_ACCOUNT, "dr"), t + timedelta(minutes=12),
                               **admin))
    records.append(management_event("cloudtrail.amazonaws.com", "StartLogging", {"name": "org-trail"},
                                    t + timedelta(minutes=11), **admin))
    return sorted(records, key=lambda r: r["eventTime"])


def benign_access_lines(day: datetime) -> dict[str, list[tuple[datetime, str]]]:
    """Server access log lines of the same day, per bucket: the applications over TLS, S3's own
    lifecycle expirations, website visitors, and lines of an old 18-field log (no TLS columns)."""
    app = "arn:aws:sts::111122223333:assumed-role/customer-api/customer-api-session"
    lines: dict[str, list[tuple[datetime, str]]] = {"customer-archive": [], "web-assets": [], "legacy-reports": []}
    for hour in range(24):
        t = day + timedelta(hours=hour)
        lines["customer-archive"] += [(t + timedelta(seconds=i * 60), access_line(t + timedelta(seconds=i * 60),
                                       "customer-archive", app, "10.0.12.34", key=f"orders/{hour}/{i}.json"))
                                      for i in range(30)]
        lines["web-assets"] += [(t + timedelta(seconds=i * 30), access_line(t + timedelta(seconds=i * 30), "web-assets",
                                 None, f"198.51.100.{i + 1}", operation="WEBSITE.GET.OBJECT", key=f"img/{i}.png"))
                                for i in range(10)]
    expiry = day + timedelta(hours=3)
    lines["customer-archive"] += [(expiry, access_line(expiry, "customer-archive", "AmazonS3", "-",
                                   operation="S3.EXPIRE.OBJECT", key=f"staging/old-{i}.parquet")) for i in range(80)]
    for i in range(12):  # a long-running reporting host whose logs predate the TLS columns
        when = day + timedelta(hours=8, minutes=i)
        lines["legacy-reports"].append((when, format_access_log_line({
            "bucketowner": "79a59df900b949e55d96a1e698fbacedfd6e09d98eacf8f8d5218e7cd47ef2be", "bucket": "legacy-reports",
            "time": when, "remoteip": "10.0.60.5", "requester": "arn:aws:iam::111122223333:user/reporting",
            "requestid": f"{i:016X}", "operation": "REST.GET.OBJECT", "key": f"monthly/{i}.pdf",
            "requesturi": f"GET /legacy-reports/monthly/{i}.pdf HTTP/1.1", "httpstatus": 200, "bytessent": 2048,
            "objectsize": 2048, "totaltime": 20, "turnaroundtime": 5, "useragent": "reporting/1.0"}, field_count=18)))
    return lines
