"""The organization's story: one morning in three member accounts (and the security account),
and an attack that crosses accounts. Pure data like `story.py`, built with its `StoryBuilder`:
one `Story` per account, each with that account's access logs, CloudTrail records and changes.

Timeline (UTC, on STORY_DAY, 09:00-12:00):
    all morning  payments: the payments API reads and writes the ledger; analytics: the ETL job
                 reads the landing bucket and writes scratch files; web: the CDN origin reads the
                 site's assets; security: an analyst lists buckets
    09:30        web: the deploy role uploads new assets
    10:05        web: the deploy role deletes the assets bucket's public access block and gives
                 it a public-read policy ("the images were broken"); anonymous visitors follow
    10:15-10:21  payments -> analytics: the nightly ETL copies eight exports into the analytics
                 account's landing bucket (member to member: inside the organization, no alert)
    10:40-10:51  payments: stolen `ci-deploy` keys copy twelve ledger files to a bucket of account
                 999988887777, outside the organization
    11:20-11:34  analytics: role `contractor-sandbox` reads the landing bucket, which only the
                 analytics ETL should read
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from bucketwatch.demo.organization import (
    ANALYTICS,
    DROP_BUCKET,
    OUTSIDER,
    PAYMENTS,
    WEB,
    Member,
    OrgNames,
)
from bucketwatch.demo.story import (
    ATTACKER_IP,
    STORY_DAY,
    TLS12,
    UA_BOTO,
    UA_BROWSER,
    UA_CLI,
    UA_GLUE,
    UA_JAVA,
    UNKNOWN_ROLE_IP,
    Actor,
    Change,
    Story,
    StoryBuilder,
    finish,
    public_read_policy,
)

START = STORY_DAY.replace(hour=9)
END = STORY_DAY.replace(hour=12)
HOURS = 3
VISITOR_IPS = ("192.0.2.17", "192.0.2.44", "192.0.2.101", "192.0.2.230")  # TEST-NET-1
EXFIL_FILES = 12
ETL_COPIES = 8
CONTRACTOR_READS = 15


def _role(account: str, role: str, session: str) -> str:
    return f"arn:aws:sts::{account}:assumed-role/{role}/{session}"


def member_actors(member: Member) -> dict[str, Actor]:
    """Who acts in each member account."""
    a = member.account_id
    if member.name == PAYMENTS:
        return {
            "api": Actor("payments-api", _role(a, "payments-api", "i-0f1e2d3c4b5a69788"), "10.1.12.40", UA_JAVA),
            "etl": Actor("payments-etl", _role(a, "payments-etl", "glue-job-nightly-export"), "10.1.40.17",
                         UA_GLUE, TLS12),
            "stolen_ci": Actor("ci-deploy (stolen keys)", f"arn:aws:iam::{a}:user/ci-deploy", ATTACKER_IP, UA_CLI,
                               TLS12, kind="IAMUser"),
        }
    if member.name == ANALYTICS:
        return {
            "etl": Actor("analytics-etl", _role(a, "analytics-etl", "glue-job-hourly"), "10.2.40.9", UA_GLUE, TLS12),
            "contractor": Actor("contractor-sandbox", _role(a, "contractor-sandbox", "jdoe"), UNKNOWN_ROLE_IP,
                                UA_BOTO),
        }
    return {
        "cdn": Actor("cdn-origin", _role(a, "cdn-origin-reader", "edge-fetch"), "10.3.1.5", UA_BOTO),
        "deploy": Actor("web-deploy", _role(a, "web-deploy", "dev-laptop"), "10.3.9.14", UA_CLI),
        **{f"visitor{i}": Actor("anonymous visitor", None, ip, UA_BROWSER, kind="anonymous")
           for i, ip in enumerate(VISITOR_IPS)},
    }


@dataclass
class OrgStory:
    seed: int
    org: OrgNames
    stories: dict[str, Story] = field(default_factory=dict)  # account id -> its story

    @property
    def changes(self) -> list[tuple[str, Change]]:
        """(account id, change), in time order."""
        return sorted(((account, c) for account, s in self.stories.items() for c in s.changes),
                      key=lambda item: item[1].at)

    def story_of(self, name: str) -> Story:
        return self.stories[self.org.member(name).account_id]


class OrgStoryBuilder:
    """One StoryBuilder per account, each with its own reproducible randomness."""

    def __init__(self, seed: int, org: OrgNames) -> None:
        self.org = org
        self.builders: dict[str, StoryBuilder] = {}
        for index, names in enumerate((org.central, *(m.names for m in org.members))):
            builder = StoryBuilder(seed * 1009 + index, names)
            self.builders[names.account_id] = builder
        for member in org.members:
            self.builders[member.account_id].actors = member_actors(member)
        central = self.builders[org.central.account_id]
        central.actors = {"analyst": Actor("security-analyst", _role(org.central.account_id, "security-analyst",
                                                                     "alice"), "10.9.0.5", UA_CLI)}

    def of(self, name: str) -> tuple[StoryBuilder, Member]:
        member = self.org.member(name)
        return self.builders[member.account_id], member

    def build(self, seed: int) -> OrgStory:
        story = OrgStory(seed, self.org)
        for account, builder in self.builders.items():
            story.stories[account] = builder.story
        return story


def _keys(b: StoryBuilder, pattern: str, count: int) -> list[str]:
    return [pattern.format(n=b.rng.randrange(100000, 999999)) for _ in range(count)]


def _hours() -> list[tuple[datetime, datetime]]:
    return [(START + timedelta(hours=h), START + timedelta(hours=h + 1)) for h in range(HOURS)]


# -- payments ------------------------------------------------------------------------------------

def payments_morning(o: OrgStoryBuilder) -> None:
    b, m = o.of(PAYMENTS)
    ledger = m.bucket("payments-ledger")
    b.story.objects[ledger] = _keys(b, "ledger/2026/05/batch-{n}.avro", 40)
    b.story.objects[m.bucket("payments-exports")] = [f"exports/2026-05-11/settlements-{i:02d}.parquet"
                                                     for i in range(1, ETL_COPIES + 1)]
    api = b.actors["api"]
    for start, end in _hours():
        for _ in range(20):
            b.access(b._between(start, end), api, ledger, "REST.GET.OBJECT", b.rng.choice(b.story.objects[ledger]),
                     200, size=b.rng.randint(20_000, 4_000_000))
        for _ in range(4):
            key, when = b.rng.choice(b.story.objects[ledger]), b._between(start, end)
            b.access(when, api, ledger, "REST.PUT.OBJECT", key, 200, size=b.rng.randint(20_000, 400_000))
            b.data_write(when, api, ledger, key)


def member_to_member_copy(o: OrgStoryBuilder) -> None:
    """The nightly ETL copies the exports into the analytics account: both accounts' trails record
    the copy (CloudTrail delivers a cross-account data event to the caller and the bucket owners),
    and both buckets log it."""
    b, payments = o.of(PAYMENTS)
    a, analytics = o.of(ANALYTICS)
    exports, landing = payments.bucket("payments-exports"), analytics.bucket("analytics-landing")
    etl = b.actors["etl"]
    start = STORY_DAY.replace(hour=10, minute=15)
    a.story.objects.setdefault(landing, [])
    for i, source_key in enumerate(b.story.objects[exports]):
        when = start + timedelta(seconds=45 * i)
        key = f"incoming/payments/{source_key.rsplit('/', 1)[1]}"
        a.story.objects[landing].append(key)
        size = b.rng.randint(2_000_000, 30_000_000)
        get = b.access(when, etl, exports, "REST.COPY.OBJECT_GET", source_key, 200, size=size)
        get["requesturi"] = f"PUT /{landing}/{key} HTTP/1.1"
        put = a.access(when, etl, landing, "REST.COPY.OBJECT", key, 200, size=size)
        put["requesturi"] = f"PUT /{key} HTTP/1.1"
        record = copy_record(b, when, etl, (exports, source_key, payments.account_id),
                             (landing, key, analytics.account_id), analytics.region)
        shared = copy.deepcopy(record)
        shared.update(recipientAccountId=analytics.account_id, sharedEventID=record["eventID"],
                      eventID=a._uuid(), requestID=record["requestID"])
        a.story.cloudtrail.append(shared)


def copy_record(b: StoryBuilder, when: datetime, actor: Actor, source: tuple[str, str, str],
                target: tuple[str, str, str], region: str) -> dict[str, Any]:
    """A CopyObject data event: the object and bucket on both sides, each bucket with its owner."""
    (src_bucket, src_key, src_owner), (dst_bucket, dst_key, dst_owner) = source, target
    record = b.data_write(when, actor, dst_bucket, dst_key, "CopyObject",
                          {"x-amz-copy-source": f"{src_bucket}/{src_key}"})
    # The request goes to the destination bucket's region; CloudTrail records it there.
    record["awsRegion"] = region
    record["requestParameters"]["Host"] = f"{dst_bucket}.s3.{region}.amazonaws.com"
    record["resources"] = [
        {"type": "AWS::S3::Object", "ARN": f"arn:aws:s3:::{src_bucket}/{src_key}"},
        {"accountId": src_owner, "type": "AWS::S3::Bucket", "ARN": f"arn:aws:s3:::{src_bucket}"},
        {"type": "AWS::S3::Object", "ARN": f"arn:aws:s3:::{dst_bucket}/{dst_key}"},
        {"accountId": dst_owner, "type": "AWS::S3::Bucket", "ARN": f"arn:aws:s3:::{dst_bucket}"},
    ]
    return record


def exfiltration(o: OrgStoryBuilder) -> None:
    """Stolen CI keys list the buckets, then copy ledger files to a bucket outside the organization.
    The ledger's own access log records each copy's read (REST.COPY.OBJECT_GET) from the
    attacker's address; the drop bucket's account is not ours, so nothing else does."""
    b, payments = o.of(PAYMENTS)
    ledger = payments.bucket("payments-ledger")
    ci = b.actors["stolen_ci"]
    b.trail(STORY_DAY.replace(hour=10, minute=38, second=12), ci, "ListBuckets", read_only=True,
            request={"Host": f"s3.{payments.region}.amazonaws.com"})
    start = STORY_DAY.replace(hour=10, minute=40)
    for i, key in enumerate(b.story.objects[ledger][:EXFIL_FILES]):
        when = start + timedelta(seconds=55 * i)
        size = b.rng.randint(200_000, 4_000_000)
        get = b.access(when, ci, ledger, "REST.COPY.OBJECT_GET", key, 200, size=size)
        get["requesturi"] = f"PUT /{DROP_BUCKET}/{key} HTTP/1.1"
        copy_record(b, when, ci, (ledger, key, payments.account_id), (DROP_BUCKET, key, OUTSIDER), payments.region)


# -- analytics -----------------------------------------------------------------------------------

def analytics_morning(o: OrgStoryBuilder) -> None:
    b, m = o.of(ANALYTICS)
    landing, scratch = m.bucket("analytics-landing"), m.bucket("analytics-scratch")
    staged = _keys(b, "incoming/orders/orders-{n}.parquet", 20)
    b.story.objects.setdefault(landing, [])
    b.story.objects[landing] = staged + b.story.objects[landing]
    etl = b.actors["etl"]
    for start, end in _hours():
        for _ in range(10):
            b.access(b._between(start, end), etl, landing, "REST.GET.OBJECT", b.rng.choice(staged), 200,
                     size=b.rng.randint(1_000_000, 30_000_000))
        b.data_write(b._between(start, end), etl, scratch, f"tmp/join-{b.rng.randrange(1000, 9999)}.parquet")


def contractor_reads(o: OrgStoryBuilder) -> None:
    """A role nobody mapped to the landing bucket reads the payments exports just copied there."""
    b, m = o.of(ANALYTICS)
    landing = m.bucket("analytics-landing")
    keys = [k for k in b.story.objects[landing] if k.startswith("incoming/payments/")]
    keys += [k for k in b.story.objects[landing] if not k.startswith("incoming/payments/")]
    start = STORY_DAY.replace(hour=11, minute=20)
    for i, key in enumerate(keys[:CONTRACTOR_READS]):
        b.access(start + timedelta(seconds=58 * i), b.actors["contractor"], landing, "REST.GET.OBJECT", key, 200,
                 size=b.rng.randint(1_000_000, 30_000_000))


# -- web -----------------------------------------------------------------------------------------

def web_morning(o: OrgStoryBuilder) -> None:
    b, m = o.of(WEB)
    assets = m.bucket("web-assets")
    b.story.objects[assets] = [f"static/{kind}/{name}-{b.rng.randrange(10**7, 10**8):x}.{ext}"
                               for kind, name, ext in (("img", "hero", "webp"), ("img", "logo", "svg"),
                                                       ("js", "app", "js"), ("css", "site", "css"),
                                                       ("img", "product", "jpg"), ("fonts", "inter", "woff2"))]
    cdn, deploy = b.actors["cdn"], b.actors["deploy"]
    for start, end in _hours():
        for _ in range(12):
            b.access(b._between(start, end), cdn, assets, "REST.GET.OBJECT", b.rng.choice(b.story.objects[assets]),
                     200, size=b.rng.randint(4_000, 900_000))
    deployed = STORY_DAY.replace(hour=9, minute=30)
    for i, key in enumerate(b.story.objects[assets][:3]):
        when = deployed + timedelta(seconds=4 * i)
        b.access(when, deploy, assets, "REST.PUT.OBJECT", key, 200, size=b.rng.randint(4_000, 900_000))
        b.data_write(when, deploy, assets, key)


def assets_made_public(o: OrgStoryBuilder) -> None:
    """The deploy role opens the assets bucket to the world; anonymous visitors read it directly."""
    b, m = o.of(WEB)
    assets = m.bucket("web-assets")
    deploy = b.actors["deploy"]
    t = STORY_DAY.replace(hour=10, minute=5)
    b.bucket_change(t, deploy, "DeleteBucketPublicAccessBlock", assets, {"publicAccessBlock": ""})
    b.story.changes.append(Change(t, "delete_public_access_block", assets, "public access block deleted"))
    t += timedelta(seconds=38)
    b.bucket_change(t, deploy, "PutBucketPolicy", assets, {"policy": "", "bucketPolicy": public_read_policy(assets)})
    b.story.changes.append(Change(t, "public_policy", assets, "bucket policy allows s3:GetObject to everyone"))
    visitors = [b.actors[f"visitor{i}"] for i in range(len(VISITOR_IPS))]
    for _ in range(16):
        b.access(b._between(t + timedelta(minutes=2), END), b.rng.choice(visitors), assets, "REST.GET.OBJECT",
                 b.rng.choice(b.story.objects[assets]), 200, size=b.rng.randint(4_000, 900_000))


# -- security (central) --------------------------------------------------------------------------

def security_morning(o: OrgStoryBuilder) -> None:
    b = o.builders[o.org.central.account_id]
    for hour in (9, 11):
        b.trail(STORY_DAY.replace(hour=hour, minute=5, second=31), b.actors["analyst"], "ListBuckets",
                read_only=True, request={"Host": f"s3.{o.org.central.region}.amazonaws.com"})


def build_org_story(seed: int, org: OrgNames) -> OrgStory:
    o = OrgStoryBuilder(seed, org)
    security_morning(o)
    payments_morning(o)
    analytics_morning(o)
    web_morning(o)
    member_to_member_copy(o)
    assets_made_public(o)
    exfiltration(o)
    contractor_reads(o)
    story = o.build(seed)
    for account_story in story.stories.values():
        finish(account_story)
    return story
