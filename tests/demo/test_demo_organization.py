"""`bucketwatch demo --organization`, end to end on its own moto server: exact alerts by rule and
account (and no alert for the copy between two members), every account in the central lake with
its region, logs read from the archive where the delivery path puts them, exact posture failures
per account, and the HTML report's per-account view in headless Chromium.

Expectations come from the story's design (bucketwatch/demo/org_story.py, organization.py and
docs/demo.md) and the rules' documented thresholds, not from a previous run's output.
"""

from __future__ import annotations

import json
import re
import shlex
from collections import Counter
from pathlib import Path

import pytest

from bucketwatch.cli import main as cli_main
from bucketwatch.demo.org_report import NEXT_STEPS, OrgDemoResult, render_org_text
from bucketwatch.demo.org_story import CONTRACTOR_READS, ETL_COPIES, EXFIL_FILES, build_org_story
from bucketwatch.demo.organization import (
    DROP_BUCKET,
    MEMBER_PLANS,
    OUTSIDER,
    OrgNames,
    central_names,
    member_of,
)
from bucketwatch.demo.report import resource_name
from bucketwatch.demo.run import DemoOptions, run_demo, run_query
from bucketwatch.demo.story import ATTACKER_IP, UNKNOWN_ROLE_IP

from .chromium import chromium_binary, inspect_page

# One demo run serves every test here: keep them on one xdist worker.
pytestmark = pytest.mark.xdist_group("demo-organization")

MEMBER_REGIONS = {"payments": "us-east-1", "analytics": "eu-west-1", "web": "us-west-2"}

EXPECTED_ALERTS = {
    # 10:40-10:51: stolen CI keys copy twelve ledger files to a bucket of 999988887777 (outside
    # the organization): one alert per destination bucket and actor, and the ledger's access log
    # shows each copy's read from the attacker's address (the ledger allows 10.0.0.0/8 only).
    ("AWS.S3.CopyObjectToExternalAccountBucket", "payments"): 1,
    ("AWS.S3.ServerAccess.IPWhitelist", "payments"): 1,
    # 11:20-11:34: contractor-sandbox reads the landing bucket (only analytics-etl is known good).
    ("AWS.S3.ServerAccess.UnknownRequester", "analytics"): 1,
    # 10:05 on web-assets: PAB deleted, then a public-read policy (one bucket, one actor).
    ("AWS.S3.DeletePublicAccessBlock", "web"): 1,
    ("Bucketwatch.S3.BucketMadePublic", "web"): 1,
    ("AWS.CloudTrail.ResourceMadePublic", "web"): 1,  # Panther's multi-service rule sees the policy too
    ("AWS.S3.BucketPolicyModified", "web"): 1,
    # Nothing in the security account; and the ETL's copy from payments into analytics is inside
    # the organization: no AWS.S3.CopyObjectToExternalAccountBucket for it.
}


def expected_failures(accounts: dict[str, str], buckets: dict[str, str]) -> dict[str, set[tuple[str, str]]]:
    """Per account name: (resource, policy) of every unsuppressed FAIL the design implies, under the
    default (baseline) pack the organization's config file names."""
    return {
        # The security account blocks public access account-wide; its archive, lake and log bucket
        # are the stacks' careful buckets (the log bucket's known gaps are the stack's written
        # exceptions, carried as tags).
        "security": set(),
        # No account-level Block Public Access in the members: one finding each, on the account.
        # The exports bucket is acceptable, not careful: ACLs still on, plain HTTP allowed.
        "payments": {(f"AWS::::Account:{accounts['payments']}", "BW.S3.AccountPublicAccessBlock"),
                     (buckets["payments-exports"], "BW.S3.AclsDisabled"),
                     (buckets["payments-exports"], "BW.S3.SecureAccess")},
        # The scratch bucket is careless from the start: nothing configured at all, not logged.
        "analytics": {(f"AWS::::Account:{accounts['analytics']}", "BW.S3.AccountPublicAccessBlock"),
                      *((buckets["analytics-scratch"], p) for p in (
                          "BW.S3.AclsDisabled", "BW.S3.Encryption", "BW.S3.Logging", "BW.S3.MonitoringCoverage",
                          "BW.S3.PublicAccessBlockAll", "BW.S3.SecureAccess", "BW.S3.Versioning"))},
        # Made public during the story: no PAB, a policy granting everyone (which replaced the
        # TLS-only one).
        "web": {(f"AWS::::Account:{accounts['web']}", "BW.S3.AccountPublicAccessBlock"),
                *((buckets["web-assets"], p) for p in (
                    "BW.S3.PublicAccessBlockAll", "BW.S3.PrincipalRestrictions", "BW.S3.SecureAccess"))},
    }


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> OrgDemoResult:
    out = tmp_path_factory.mktemp("demo-organization")
    result = run_demo(DemoOptions(out_dir=out, quiet=True, progress=False, organization=True))
    assert isinstance(result, OrgDemoResult)
    return result


def _ids(demo: OrgDemoResult) -> dict[str, str]:
    """Account name -> id (moto's Organizations chose the ids)."""
    return {a["name"]: a["account_id"] for a in demo.accounts}


def _buckets(demo: OrgDemoResult) -> dict[str, str]:
    """Bucket stem -> name (`<stem>-<account id>`)."""
    ids = _ids(demo)
    stems = {"payments": ("payments-ledger", "payments-exports"), "analytics": ("analytics-landing", "analytics-scratch"),
             "web": ("web-assets",)}
    return {stem: f"{stem}-{ids[name]}" for name, group in stems.items() for stem in group}


def _sql(demo: OrgDemoResult, sql: str) -> list[tuple]:
    assert demo.lake_dir is not None
    return run_query(demo.lake_dir, sql)[1]


def test_the_organization_has_a_central_account_and_three_members(demo: OrgDemoResult) -> None:
    assert demo.organization_id.startswith("o-")
    assert [(a["name"], a["role"]) for a in demo.accounts] == [
        ("security", "central"), ("payments", "member"), ("analytics", "member"), ("web", "member")]
    assert len(set(_ids(demo).values())) == 4 and OUTSIDER not in _ids(demo).values()
    assert {a["name"]: a["region"] for a in demo.accounts if a["role"] == "member"} == MEMBER_REGIONS


def test_exactly_the_alerts_the_story_implies_by_account(demo: OrgDemoResult) -> None:
    names = {v: k for k, v in _ids(demo).items()}
    assert all(a["kind"] == "detection" and a["status"] == "created" for a in demo.alerts)
    by_rule_and_account = Counter((a["rule_id"], names.get(a["account_id"], a["account_id"])) for a in demo.alerts)
    assert dict(by_rule_and_account) == EXPECTED_ALERTS
    by_rule = {a["rule_id"]: a for a in demo.alerts}
    exfil = by_rule["AWS.S3.CopyObjectToExternalAccountBucket"]
    assert exfil["event_count"] == EXFIL_FILES
    assert exfil["context"]["accountsOutsideOrganization"] == [OUTSIDER]
    assert exfil["context"]["externalBuckets"] == [f"arn:aws:s3:::{DROP_BUCKET}"]
    assert (exfil["first_seen"], exfil["last_seen"]) == ("2026-05-12T10:40:00Z", "2026-05-12T10:50:05Z")
    assert by_rule["AWS.S3.ServerAccess.IPWhitelist"]["dedup"] == f"{_buckets(demo)['payments-ledger']}:{ATTACKER_IP}"
    assert by_rule["AWS.S3.ServerAccess.IPWhitelist"]["event_count"] == EXFIL_FILES
    reads = by_rule["AWS.S3.ServerAccess.UnknownRequester"]
    assert reads["event_count"] == CONTRACTOR_READS and reads["region"] == "eu-west-1"
    assert UNKNOWN_ROLE_IP in json.dumps(reads["samples"])


def test_the_copy_between_two_members_was_evaluated_and_did_not_alert(demo: OrgDemoResult) -> None:
    ids, buckets = _ids(demo), _buckets(demo)
    copies = _sql(demo, "SELECT p_account_id, json_extract_string(requestParameters, '$.bucketName'), COUNT(*) "
                        "FROM panther_logs.aws_cloudtrail WHERE eventName = 'CopyObject' GROUP BY ALL ORDER BY ALL")
    # The ETL's copies were recorded by both accounts (caller and destination owner); the
    # attacker's only by payments (the drop bucket's account is not ours).
    assert sorted(copies) == sorted([(ids["payments"], buckets["analytics-landing"], ETL_COPIES),
                                     (ids["analytics"], buckets["analytics-landing"], ETL_COPIES),
                                     (ids["payments"], DROP_BUCKET, EXFIL_FILES)])
    matched = _sql(demo, "SELECT json_extract_string(requestParameters, '$.bucketName'), COUNT(*) "
                         "FROM panther_rule_matches.aws_cloudtrail "
                         "WHERE p_rule_id = 'AWS.S3.CopyObjectToExternalAccountBucket' GROUP BY ALL")
    assert matched == [(DROP_BUCKET, EXFIL_FILES)]


def test_every_account_is_in_the_central_lake_with_its_region(demo: OrgDemoResult) -> None:
    ids = _ids(demo)
    access = _sql(demo, "SELECT DISTINCT p_account_id, p_region FROM panther_logs.aws_s3serveraccess")
    assert sorted(access) == sorted((ids[name], region) for name, region in MEMBER_REGIONS.items())
    trail = _sql(demo, "SELECT DISTINCT p_account_id, p_region FROM panther_logs.aws_cloudtrail")
    # The ETL's copies went to the analytics bucket's region: CloudTrail records them in eu-west-1.
    assert sorted(trail) == sorted([(ids["security"], "us-east-1"), (ids["payments"], "us-east-1"),
                                    (ids["payments"], "eu-west-1"), (ids["analytics"], "eu-west-1"),
                                    (ids["web"], "us-west-2")])
    accounts = _sql(demo, "SELECT COUNT(DISTINCT p_account_id) FROM (SELECT p_account_id FROM "
                          "panther_logs.aws_s3serveraccess UNION ALL SELECT p_account_id FROM panther_logs.aws_cloudtrail)")
    assert accounts == [(4,)]
    assert not _sql(demo, "SELECT * FROM panther_logs.aws_s3serveraccess WHERE p_account_id IS NULL OR p_region IS NULL")
    assert demo.query_rows and {row[0] for row in demo.query_rows} == set(ids.values())


def test_no_line_is_lost(demo: OrgDemoResult) -> None:
    """Every line written in any account is a record in the central lake (or quarantined)."""
    ids = _ids(demo)
    central = central_names(ids["security"])
    org = OrgNames(demo.organization_id, "", central,
                   tuple(member_of(plan, ids[plan.name], central) for plan in MEMBER_PLANS))
    story = build_org_story(7, org)
    written = sum(len(s.access_logs) + len(s.cloudtrail) for s in story.stories.values())
    assert demo.counts.lines_written == written
    assert demo.counts.records == written and demo.counts.quarantined == 0
    assert f"-> {written:,} records + 0 quarantined" in render_org_text(demo)


def test_logs_were_read_from_the_archive_where_the_delivery_path_puts_them(demo: OrgDemoResult) -> None:
    """Access logs: replicas in the archive under the member bucket's unchanged PartitionedPrefix
    key; CloudTrail: the archive's AWSLogs/<account>/CloudTrail/<region>/ (the trail's bucket)."""
    archive = f"bucketwatch-archive-{_ids(demo)['security']}-us-east-1"
    sources = _sql(demo, "SELECT p_source, p_account_id, p_region, bucket FROM panther_logs.aws_s3serveraccess")
    for source, account, region, bucket in sources:
        assert re.fullmatch(rf"s3://{archive}/{bucket}/{account}/{region}/{bucket}/2026/05/12/"
                            r"2026-05-12-\d\d-\d\d-\d\d-[0-9A-F]{16}", source), source
    trails = _sql(demo, "SELECT p_source, recipientAccountId, awsRegion FROM panther_logs.aws_cloudtrail")
    for source, account, region in trails:
        assert source.startswith(f"s3://{archive}/AWSLogs/{account}/CloudTrail/{region}/2026/05/12/{account}_"), source
    replicated_objects = _sql(demo, "SELECT COUNT(DISTINCT p_source) FROM panther_logs.aws_s3serveraccess")
    assert replicated_objects == [(demo.replicated,)]
    assert demo.counts.reconciled and demo.counts.quarantined == 0


def test_exactly_the_posture_failures_each_account_implies(demo: OrgDemoResult) -> None:
    ids, buckets = _ids(demo), _buckets(demo)
    names = {v: k for k, v in ids.items()}
    found: dict[str, set[tuple[str, str]]] = {name: set() for name in ids}
    for r in demo.posture_failures:
        found[names[r["account_id"]]].add((resource_name(r), r["policy"]))
    assert found == expected_failures(ids, buckets)
    assert len(demo.posture_failures) == sum(len(v) for v in found.values())
    assert not [r for r in demo.posture if r["status"] == "UNKNOWN"]
    # Every account was scanned (each member through its audit role), each bucket under its account.
    scanned = {names[a["account_id"]]: (a["error"], a["buckets"], a["trails"]) for a in demo.posture_accounts}
    assert scanned == {"security": (None, 3, 1), "payments": (None, 3, 1), "analytics": (None, 3, 1),
                       "web": (None, 2, 1)}
    # Application buckets are named `<stem>-<owner account id>`: every verdict is under that account.
    for r in demo.posture:
        if resource_name(r) in buckets.values():
            assert r["account_id"] == resource_name(r).rsplit("-", 1)[1], r


def test_suppressions_are_the_stacks_written_exceptions_carried_as_tags(demo: OrgDemoResult) -> None:
    """Under the baseline pack, the access-log buckets' two known gaps (they cannot log to
    themselves; the trails leave them out by name), from the tags the stacks write."""
    ids = _ids(demo)
    log_buckets = {f"bucketwatch-access-logs-{ids[name]}-{region}"
                   for name, region in {"security": "us-east-1", **MEMBER_REGIONS}.items()}
    suppressed = {(resource_name(r), r["policy"]) for r in demo.posture if r["status"] == "SUPPRESSED"}
    assert suppressed == {(b, p) for b in log_buckets for p in ("BW.S3.Logging", "BW.S3.MonitoringCoverage")}
    assert {r["suppression"]["origin"] for r in demo.posture if r["status"] == "SUPPRESSED"} == {"resource metadata"}
    assert all(r["verdict"] == "FAIL" for r in demo.posture if r["status"] == "SUPPRESSED")


def test_the_text_report_groups_alerts_and_posture_by_account(demo: OrgDemoResult) -> None:
    text = render_org_text(demo)
    ids = _ids(demo)
    alerts = text[text.index("Alerts (7) by account"):text.index("Posture failures (")]
    blocks = re.split(r"\n  (?=\w+ \d{12} \()", alerts)[1:]
    heads = [block.splitlines()[0] for block in blocks]
    assert heads == [f"security {ids['security']} (central, us-east-1): no alerts",
                     f"payments {ids['payments']} (member, us-east-1): 2 alerts",
                     f"analytics {ids['analytics']} (member, eu-west-1): 1 alert",
                     f"web {ids['web']} (member, us-west-2): 4 alerts"]
    assert "AWS.S3.CopyObjectToExternalAccountBucket" in blocks[1] and "outside the organization" in blocks[1]
    posture = text[text.index("Posture failures ("):text.index("What to run next")]
    assert f"web {ids['web']} (member, us-west-2): 4 failures on 2 resources (2 buckets scanned)" in posture
    assert f"security {ids['security']} (central, us-east-1): no failures (3 buckets scanned)" in posture
    saved = json.loads((demo.html_path.parent / "accounts.json").read_text())
    assert saved["organization_id"] == demo.organization_id and len(saved["accounts"]) == 4


def test_the_suggested_queries_run_on_the_central_lake(demo: OrgDemoResult, capsys: pytest.CaptureFixture[str]) -> None:
    queries = [command.format(lake=demo.lake_dir) for _, command in NEXT_STEPS if command.startswith("bucketwatch query")]
    assert len(queries) == 2
    outputs = []
    for command in queries:
        assert cli_main([*shlex.split(command)[1:], "--format", "json"]) == 0, command
        outputs.append([json.loads(line) for line in capsys.readouterr().out.splitlines() if line.strip()])
    ids = _ids(demo)
    assert {row["p_account_id"] for row in outputs[0]} == {ids[name] for name in MEMBER_REGIONS}
    assert {(row["p_account_id"], row["destination"], row["copies"]) for row in outputs[1]} == {
        (ids["payments"], _buckets(demo)["analytics-landing"], ETL_COPIES),
        (ids["analytics"], _buckets(demo)["analytics-landing"], ETL_COPIES),
        (ids["payments"], DROP_BUCKET, EXFIL_FILES)}


PER_ACCOUNT_PROBE = """
JSON.stringify({
  summary: Array.from(document.querySelectorAll('#accounts tr')).slice(1).map(tr =>
    Array.from(tr.querySelectorAll('td')).map(td => td.textContent)),
  accounts: Array.from(document.querySelectorAll('#per-account article.account')).map(a => ({
    id: a.id, title: a.querySelector('h3').textContent,
    rules: Array.from(a.querySelectorAll('table.account-alerts td code')).map(c => c.textContent),
    policies: Array.from(a.querySelectorAll('table.account-posture td code')).map(c => c.textContent),
    height: a.getBoundingClientRect().height})),
  bars: document.querySelectorAll('#alerts-over-time rect.bar').length,
  organization: Array.from(document.querySelectorAll('#organization td code')).map(c => c.textContent),
})
"""


def test_the_html_report_has_a_per_account_view_in_chromium(demo: OrgDemoResult, tmp_path: Path) -> None:
    assert chromium_binary(), "headless Chromium is needed: apt-get update && apt-get install -y chromium"
    assert demo.html_path is not None
    page = demo.html_path.read_text(encoding="utf-8")
    assert "<script" not in page and not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page)
    report = inspect_page(demo.html_path, PER_ACCOUNT_PROBE)
    (tmp_path / "report.png").write_bytes(report.screenshot)
    assert report.errors == []
    seen = json.loads(report.value)
    ids = _ids(demo)
    assert seen["organization"] == list(ids.values())
    # The summary table: one row per account, with its name; the worst first.
    # web: 3 High failures and a High alert; analytics: 3 High failures; payments: 1; security: none.
    assert [row[:2] for row in seen["summary"]] == [[ids["web"], "web"], [ids["analytics"], "analytics"],
                                                     [ids["payments"], "payments"], [ids["security"], "security"]]
    articles = {a["id"]: a for a in seen["accounts"]}
    assert set(articles) == {f"account-{i}" for i in ids.values()}
    assert all(a["height"] > 20 for a in articles.values())
    web = articles[f"account-{ids['web']}"]
    assert web["title"] == f"web ({ids['web']})"
    assert sorted(web["rules"]) == sorted(["AWS.S3.DeletePublicAccessBlock", "Bucketwatch.S3.BucketMadePublic",
                                           "AWS.CloudTrail.ResourceMadePublic", "AWS.S3.BucketPolicyModified"])
    assert "BW.S3.PrincipalRestrictions" in web["policies"]
    payments = articles[f"account-{ids['payments']}"]
    assert sorted(payments["rules"]) == ["AWS.S3.CopyObjectToExternalAccountBucket", "AWS.S3.ServerAccess.IPWhitelist"]
    assert articles[f"account-{ids['security']}"]["rules"] == []
    assert articles[f"account-{ids['security']}"]["policies"] == []
    assert seen["bars"] > 0


def test_bucketwatch_report_finds_the_same_alerts_by_account_in_the_central_lake(demo: OrgDemoResult) -> None:
    """The lake's rule matches hold the same alerts as the alerts topic, each under its account;
    the matches of signal rules (CreateAlert: false, e.g. every upload) are not alerts."""
    from bucketwatch.reporting.lake import load_report

    assert demo.lake_dir is not None
    report = load_report(demo.lake_dir)
    assert Counter((a["rule_id"], a["account_id"], a["event_count"]) for a in report.alerts) == Counter(
        (a["rule_id"], a["account_id"], a["event_count"]) for a in demo.alerts)
    signals = _sql(demo, "SELECT COUNT(*) FROM panther_rule_matches.aws_cloudtrail "
                         "WHERE p_rule_id = 'Bucketwatch.S3.ObjectUpload'")
    assert signals[0][0] > 0  # they are in the lake, for the correlation rules
