"""Organization scans on moto over HTTP: AWS Organizations lists the accounts, each member is
scanned through its audit role, every result is judged under its own account and region, an
account whose role cannot be assumed is one UNKNOWN while the others are still scanned."""

from __future__ import annotations

import json
import threading
from collections import Counter

import boto3
import pytest
from org_world import AUDIT_ROLE, OUTSIDER, OrgWorld, build_organization, refuse_roles

from bucketwatch.cli import main
from policies.sources.live_scan import LiveScanRequest, run_live_scan

PAB = "BW.S3.AccountPublicAccessBlock"
BUCKET_CALLS = 12  # GetBucketLocation + the 11 per-bucket reads (docs/live.md)


@pytest.fixture
def world(aws_endpoint, monkeypatch) -> OrgWorld:
    world = build_organization()
    refuse_roles(monkeypatch, {world.role_arn("m2")})  # m2's audit role is missing or does not trust us
    return world


def org_scan(**options) -> object:
    return run_live_scan(LiveScanRequest(organization=True, role_name=AUDIT_ROLE, **options))


def test_every_member_is_judged_under_its_own_account_and_region(world: OrgWorld) -> None:
    result = org_scan()
    m2 = world.members["m2"]
    scanned = {a: world.buckets_of(a) for a in (world.management, world.members["m0"], world.members["m1"])}
    buckets = {r["Name"]: (r["AccountId"], r["Region"]) for r in result.resources if r["ResourceType"] == "AWS.S3.Bucket"}
    assert buckets == {b: where for b, where in world.buckets.items() if where[0] != m2}
    assert set(buckets) == set().union(*scanned.values())
    # Every finding on a bucket carries that bucket's account and region.
    for finding in result.findings:
        if finding.ref.arn and finding.ref.arn.startswith("arn:aws:s3:::"):
            assert (finding.ref.account, finding.ref.region) == world.buckets[finding.ref.name], finding.ref.id


def test_account_block_public_access_is_one_finding_per_account(world: OrgWorld) -> None:
    result = org_scan()
    pab = {f.ref.id: f for f in result.findings if f.policy.id == PAB}
    accounts = [world.management, *world.members.values()]
    assert set(pab) == {f"AWS::::Account:{a}" for a in accounts}
    assert {f.ref.account for f in pab.values()} == set(accounts)
    assert all(pab[f"AWS::::Account:{a}"].status == "FAIL" for a in accounts if a != world.members["m2"])
    # The untrusted member: UNKNOWN, naming the role and the error; nothing else from it.
    unknown = pab[f"AWS::::Account:{world.members['m2']}"]
    assert unknown.status == "UNKNOWN"
    assert world.role_arn("m2") in unknown.reason and "AccessDenied" in unknown.reason
    assert [f for f in result.findings if f.ref.account == world.members["m2"]] == [unknown]


def test_accounts_say_how_they_were_reached_and_what_each_cost(world: OrgWorld) -> None:
    result = org_scan()
    by_id = {a.account_id: a for a in result.accounts}
    assert list(by_id) == [world.management, *world.members.values()]  # ListAccounts' order
    assert by_id[world.members["m0"]].name == "m0"
    assert by_id[world.members["m0"]].access == f"role {world.role_arn('m0')}"
    assert by_id[world.members["m2"]].error.startswith(f"cannot assume role {world.role_arn('m2')}: AccessDenied")
    assert result.stats.accounts == 3 and [a.account_id for a in result.stats.not_scanned] == [world.members["m2"]]
    # Calls per account: AssumeRole, GetCallerIdentity, ListBuckets, s3control, one DescribeTrails per
    # region holding buckets (plus the default region), and per bucket the 12 calls less those
    # whose answer is decided: no bucket is versioned (no GetObjectLockConfiguration), only the
    # shared bucket has a policy (GetBucketPolicyStatus for it alone); m2 stops at AssumeRole.
    regions = {a: {r for b, (owner, r) in world.buckets.items() if owner == a} | {"us-east-1"} for a in by_id}

    def bucket_calls(bucket: str) -> int:
        return BUCKET_CALLS - 1 - (bucket != world.shared)

    for account, scan in by_id.items():
        per_bucket = sum(bucket_calls(b) for b in world.buckets_of(account))
        expected = 1 if scan.error else 4 + len(regions[account]) + per_bucket
        assert scan.api_calls == expected, (scan, expected)
        if not scan.error:
            assert scan.decided == {"GetObjectLockConfiguration": len(world.buckets_of(account)),
                                    "GetBucketPolicyStatus": len(world.buckets_of(account) - {world.shared})}
    # The organization's listing: GetCallerIdentity and one ListAccounts page.
    assert result.stats.api_calls == sum(a.api_calls for a in result.accounts) + 2


def test_members_are_inside_for_the_cross_account_policy(world: OrgWorld) -> None:
    result = org_scan()
    assert set(result.settings.organization.accounts) == {world.management, *world.members.values()}
    shared = next(f for f in result.findings if f.policy.id == "BW.S3.CrossAccountPrincipals" and f.ref.name == world.shared)
    # m1's role is a member's: only the outsider is reported.
    assert shared.status == "FAIL" and shared.reason.endswith(f"outside the organization and the allowlist: {OUTSIDER}")


def test_own_account_falls_back_to_the_callers_credentials(world: OrgWorld, monkeypatch) -> None:
    refuse_roles(monkeypatch, {world.role_arn("management"), world.role_arn("m2")})
    result = org_scan()
    own = next(a for a in result.accounts if a.account_id == world.management)
    assert own.error is None
    assert own.access.startswith(f"the caller's credentials (cannot assume role {world.role_arn('management')}")
    assert f"management-logs-{world.management}" in {r["Name"] for r in result.resources}


def test_suspended_accounts_are_members_but_not_scanned(world: OrgWorld) -> None:
    boto3.client("organizations").close_account(AccountId=world.members["m1"])
    result = org_scan()
    assert world.members["m1"] not in {a.account_id for a in result.accounts}
    assert world.members["m1"] in result.settings.organization.accounts


def test_given_accounts_skip_the_organizations_listing(world: OrgWorld) -> None:
    result = org_scan(organization_accounts=[world.members["m0"]])
    assert [a.account_id for a in result.accounts] == [world.members["m0"]]
    assert result.settings.organization.accounts == (world.members["m0"],)


def test_scan_command_json_names_account_and_region(world: OrgWorld, capsys) -> None:
    code = main(["scan", "--organization", "--role-name", AUDIT_ROLE, "--format", "json"])
    captured = capsys.readouterr()
    assert code == 1  # m0's world-readable bucket, every account's Block Public Access
    report = json.loads(captured.out)
    assert {r["account_id"] for r in report["results"]} == {world.management, world.members["m0"], world.members["m1"],
                                                            world.members["m2"]}
    public = next(r for r in report["results"] if r["policy"] == "BW.S3.PublicRead" and r["status"] == "FAIL")
    assert (public["name"], public["account_id"], public["region"]) == (world.world_readable, world.members["m0"],
                                                                        "eu-west-1")
    assert [a["account_id"] for a in report["accounts"]] == [world.management, *world.members.values()]
    assert report["accounts"][3]["error"].startswith("cannot assume role")
    assert report["accounts"][3]["access"] == f"role {world.role_arn('m2')}"  # what was tried
    warnings = captured.err.strip().splitlines()
    assert len(warnings) == 1 and world.members["m2"] in warnings[0] and "does not fail the run" in warnings[0]


def test_unknown_accounts_do_not_fail_the_gate(world: OrgWorld, capsys) -> None:
    # Only the untrusted member's UNKNOWN and FAILs below critical: exit 0, and the report says so.
    assert main(["scan", "--organization", "--role-name", AUDIT_ROLE, "--fail-on", "critical",
                 "--buckets", "m1-*"]) == 0
    text = capsys.readouterr().out
    assert "passed: 0 unsuppressed FAIL at or above critical (1 UNKNOWN result does not fail it" in text


def test_scan_command_sarif_and_junit_name_account_and_region(world: OrgWorld, capsys) -> None:
    main(["scan", "--organization", "--role-name", AUDIT_ROLE, "--format", "sarif"])
    results = json.loads(capsys.readouterr().out)["runs"][0]["results"]
    public = next(r for r in results if r["ruleId"] == "BW.S3.PublicRead")
    assert (public["properties"]["account_id"], public["properties"]["region"]) == (world.members["m0"], "eu-west-1")
    main(["scan", "--organization", "--role-name", AUDIT_ROLE, "--format", "junit"])
    junit = capsys.readouterr().out
    case = junit.split(f'name="arn:aws:s3:::{world.world_readable}"', 1)[1].split("</testcase>", 1)[0]
    assert f'<property name="account_id" value="{world.members["m0"]}" />' in case
    assert '<property name="region" value="eu-west-1" />' in case


def test_text_report_groups_failures_by_account(world: OrgWorld, capsys) -> None:
    main(["scan", "--organization", "--role-name", AUDIT_ROLE])
    lines = capsys.readouterr().out.splitlines()
    screen = "\n".join(lines[:30])
    assert "in 4 accounts" in lines[0]
    assert f"{world.members['m2']} not scanned: cannot assume role {world.role_arn('m2')}" in screen
    assert f"arn:aws:s3:::{world.world_readable}" in screen  # the worst resource, on the first screen
    headers = [line.strip() for line in lines if line.startswith("  account ")]
    # m0 holds the world-readable bucket (one more High FAIL than the others): it comes first.
    assert headers[0].startswith(f"account {world.members['m0']}:")
    assert Counter(h.split(":")[0] for h in headers) == Counter(
        f"account {a}" for a in (world.management, world.members["m0"], world.members["m1"]))


@pytest.mark.parametrize(("argv", "message"), [
    (["--organization"], "--organization needs --role-name"),
    (["--role-name", AUDIT_ROLE], "--role-name applies to --organization scans"),
    (["--organization", "--role-name", AUDIT_ROLE, "--role-arn", "arn:aws:iam::111111111111:role/x"],
     "cannot be combined"),
    (["--organization", "--role-name", "arn:aws:iam::1:role/x"], "--role-name: not an IAM role name"),
])
def test_bad_organization_options_are_one_line_errors(aws_endpoint, capsys, argv, message) -> None:
    assert main(["scan", *argv]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1


def test_no_organization_is_a_one_line_error(aws_endpoint, capsys, monkeypatch, deny) -> None:
    assert main(["scan", "--organization", "--role-name", AUDIT_ROLE]) == 2  # moto lists no account
    err = capsys.readouterr().err.strip()
    assert "AWS Organizations lists no ACTIVE account" in err and len(err.splitlines()) == 1
    original = boto3.Session.__init__

    def not_in_use(self, *args, **kwargs) -> None:  # what AWS answers outside an organization
        original(self, *args, **kwargs)
        deny(self, "ListAccounts", "organizations", "AWSOrganizationsNotInUseException")

    monkeypatch.setattr(boto3.Session, "__init__", not_in_use)
    assert main(["scan", "--organization", "--role-name", AUDIT_ROLE]) == 2
    err = capsys.readouterr().err.strip()
    assert "cannot list the organization's accounts (organizations:ListAccounts): AWSOrganizationsNotInUseException" in err
    assert len(err.splitlines()) == 1


def test_role_name_from_the_config_file(world: OrgWorld, tmp_path, capsys) -> None:
    config = tmp_path / "bucketwatch.yml"
    config.write_text(f"organization:\n  audit_role_name: {AUDIT_ROLE}\n")
    assert main(["scan", "--organization", "--config", str(config), "--format", "json"]) == 1
    assert len(json.loads(capsys.readouterr().out)["accounts"]) == 4


def test_organization_scan_runs_the_pack_and_reviews_its_suppressions(world: OrgWorld, tmp_path, capsys) -> None:
    """The templates branch's packs and suppression review on an organization scan: the account
    finding is suppressed with its owner, a suppression of a policy outside the pack is reported,
    and the accounts table still says how each account was reached."""
    m1 = world.members["m1"]
    config = tmp_path / "bucketwatch.yml"
    config.write_text(
        f"organization:\n  audit_role_name: {AUDIT_ROLE}\nposture:\n  suppressions:\n"
        f"    - {{policy: {PAB}, resource: 'AWS::::Account:{m1}', reason: 'sandbox account, buckets block one by one',"
        f" owner: platform-team}}\n"
        f"    - {{policy: BW.S3.ObjectLock, reason: backups are locked by the vault instead}}\n")
    assert main(["scan", "--organization", "--config", str(config), "--format", "json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert len(report["accounts"]) == 4 and report["summary"]["suppressions"] == {"total": 2, "with_problems": 1}
    assert "BW.S3.ObjectLock" not in {r["policy"] for r in report["results"]}  # strict only; scan runs baseline
    (suppressed,) = [r for r in report["results"] if r["status"] == "SUPPRESSED"]
    assert (suppressed["resource"], suppressed["suppression"]["owner"]) == (f"AWS::::Account:{m1}", "platform-team")
    problems = {u["policy"]: u["problem"] for u in report["suppressions"] if u["problem"]}
    assert problems == {"BW.S3.ObjectLock": "BW.S3.ObjectLock is not judged in this run "
                                            "(see the pack, --policies and --skip-policies)"}
    main(["scan", "--organization", "--config", str(config)])
    text = capsys.readouterr().out
    assert "Accounts (4)" in text and f"{world.members['m2']} not scanned" in text
    assert f"  {PAB} (FAIL, 1 resource) suppressed (config) [owner platform-team]: sandbox account" in text
    assert "  SUPPRESSION BW.S3.ObjectLock (posture.suppressions[1]): BW.S3.ObjectLock is not judged" in text
    main(["scan", "--organization", "--config", str(config), "--pack", "strict", "--format", "json"])
    report = json.loads(capsys.readouterr().out)
    assert report["summary"]["suppressions"]["with_problems"] == 0  # strict judges Object Lock; it suppresses


def test_accounts_are_scanned_concurrently(world: OrgWorld, monkeypatch) -> None:
    threads: set[str] = set()
    original = boto3.Session.__init__

    def watched(self, *args, **kwargs) -> None:
        original(self, *args, **kwargs)
        self.events.register("before-call.s3.ListBuckets", lambda **_: threads.add(threading.current_thread().name))

    monkeypatch.setattr(boto3.Session, "__init__", watched)
    org_scan()
    # Each account is driven by its own thread (ListBuckets is the driver's own call); the
    # per-bucket calls of all of them share the one worker pool.
    assert len(threads) >= 2 and all(name.startswith("bucketwatch-account") for name in threads)
