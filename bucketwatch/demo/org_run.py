"""`bucketwatch demo --organization`: the organization mode on one local endpoint.

AWS Organizations creates a central security account and three members; each account is
provisioned as its CDK stack would be (organization.py). Then, as in AWS:

- member access logs land in the member's regional access-log bucket (PartitionedPrefix keys) and
  are replicated into the central archive under the same keys (replication.py: the configuration
  is the member bucket's own; the demo performs the copy S3 would);
- member (and central) CloudTrail files land in the archive under `AWSLogs/<account>/CloudTrail/
  <region>/...`, the bucket the account's trail names;
- the archive's object-created notifications reach the central detector, which the demo invokes
  as Lambda would, with the central stack's environment (BUCKETWATCH_ORGANIZATION_FILE included);
- the central posture scanner's role scans every account of the organization through each
  member's BucketwatchAudit role (`policies.posture_handler.scan_request`, the Lambda's own).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import yaml

from bucketwatch.demo.delivery import Deliverer, Step, timeline
from bucketwatch.demo.detection import DetectorDriver, environment, handler_environment
from bucketwatch.demo.org_report import OrgDemoResult
from bucketwatch.demo.org_story import END, START, OrgStory, build_org_story
from bucketwatch.demo.organization import (
    ANALYTICS,
    CENTRAL_NAME,
    OFFICE_NETWORK,
    PAYMENTS,
    CentralProvisioner,
    MemberProvisioner,
    OrgNames,
    OrgWorld,
    build_world,
)
from bucketwatch.demo.replication import Replicator
from bucketwatch.demo.run import DemoOptions, Stages, collect_detections, deliver_in_slots, run_query, tally
from bucketwatch.localaws import MotoServer
from detectors.common.organization import BUNDLED_FILE_NAME
from detectors.common.organization import FILE_VARIABLE as ORGANIZATION_FILE_VARIABLE
from detectors.common.words import plural

# The central lake, by account and region: what the organization mode is for.
LAKE_BY_ACCOUNT_SQL = (
    "SELECT p_account_id, p_region, p_log_type, COUNT(*) AS records FROM ("
    "SELECT p_account_id, p_region, p_log_type FROM panther_logs.aws_s3serveraccess UNION ALL "
    "SELECT p_account_id, p_region, p_log_type FROM panther_logs.aws_cloudtrail) "
    "GROUP BY ALL ORDER BY p_account_id, p_region, p_log_type"
)


def run_organization(server: MotoServer, options: DemoOptions, out_dir: Path, stages: Stages,
                     show: bool) -> OrgDemoResult:
    world = build_world(server.endpoint_url, options.seed)
    org = world.names
    stages.say(f"organization {org.organization_id}: central security account {org.central.account_id} and "
               f"{len(org.members)} members ({', '.join(f'{m.name} {m.account_id} {m.region}' for m in org.members)}),"
               " each provisioned as its stack would be")
    story = build_org_story(options.seed, org)
    result = OrgDemoResult(endpoint=server.endpoint_url, lake_dir=out_dir / "lake", organization_id=org.organization_id,
                           accounts=account_rows(org))
    describe_story(result, story)
    config_path = write_org_config(org, out_dir)
    central = world.of(org.central.account_id)
    lambda_environment = {**central.credentials, **organization_file(org, out_dir)}
    with handler_environment(world.central, config_path, extra=lambda_environment):
        deliver_and_detect(world, story, options.seed, result, stages, show)
    collect_detections(central, world.central, result, stages)
    harden(world)
    result.posture, result.posture_accounts = organization_posture(world, config_path, server.endpoint_url, out_dir)
    stages.say(f"posture scan of {plural(len(result.posture_accounts), 'account')}: "
               f"{plural(len(result.posture), 'verdict')}, {plural(len(result.posture_failures), 'failure')}")
    result.query_sql = LAKE_BY_ACCOUNT_SQL
    result.query_columns, result.query_rows = run_query(result.lake_dir, LAKE_BY_ACCOUNT_SQL)
    for name, data in (("alerts.json", result.alerts), ("posture.json", result.posture),
                       ("accounts.json", {"organization_id": org.organization_id, "accounts": result.accounts,
                                          "posture_scan": result.posture_accounts})):
        (out_dir / name).write_text(json.dumps(data, indent=2, default=str), encoding="utf-8")
    return result


def account_rows(org: OrgNames) -> list[dict[str, Any]]:
    central = org.central
    return [{"account_id": central.account_id, "name": CENTRAL_NAME, "role": "central", "region": central.region},
            *({"account_id": m.account_id, "name": m.name, "role": "member", "region": m.region}
              for m in org.members)]


def describe_story(result: OrgDemoResult, story: OrgStory) -> None:
    names = story.org.account_names
    result.story_changes = [f"{c.at:%H:%M} {names[account]} {c.target}: {c.description}"
                            for account, c in story.changes]
    result.story_markers = [(c.at, f"{names[account]} {c.target}: {c.description}") for account, c in story.changes]
    result.story_window = (START, END)


def detection_config(org: OrgNames) -> dict[str, Any]:
    """Who may read the analytics landing bucket; where the payments ledger may be reached from."""
    analytics, payments = org.member(ANALYTICS), org.member(PAYMENTS)
    return {"detections": {
        "known_good_access": [{
            "bucket": analytics.bucket("analytics-landing"),
            "principals": [f"arn:aws:sts::{analytics.account_id}:assumed-role/analytics-etl/*"],
        }],
        "ip_allowlist": [{"cidrs": [OFFICE_NETWORK], "buckets": [payments.bucket("payments-ledger")]}],
    }}


def posture_config() -> dict[str, Any]:
    """The default pack, as a new deployment runs it; the monitoring's own buckets carry their
    written exceptions as tags, as the stacks write them (infra/waivers.py)."""
    return {"posture": {"pack": "baseline"}}


def write_org_config(org: OrgNames, out_dir: Path) -> Path:
    """The central stack's config file (`configFile` in the context): detections and posture."""
    path = out_dir / "bucketwatch.yml"
    path.write_text(yaml.safe_dump({**detection_config(org), **posture_config()}, sort_keys=False),
                    encoding="utf-8")
    return path


# -- Delivery: where AWS writes each log object ---------------------------------------------------

@dataclass(frozen=True)
class AccountStep:
    """A step of one account's timeline."""

    account_id: str
    step: Step

    @property
    def at(self) -> Any:
        return self.step.at


def org_timeline(story: OrgStory, seed: int) -> list[AccountStep]:
    """Every account's deliveries and changes, in the order they happen."""
    steps = [AccountStep(account, step) for index, (account, account_story) in enumerate(story.stories.items())
             for step in timeline(account_story, seed * 31 + index)]
    return sorted(steps, key=lambda s: (s.at, s.step.obj.key if s.step.obj else "", s.account_id))


class OrgDeliverer:
    """Writes each log object where AWS would and applies each change in its account."""

    def __init__(self, world: OrgWorld) -> None:
        self.world = world
        self.replicator = Replicator(world.clients)
        self._trail_buckets: dict[str, str] = {}

    def run(self, item: AccountStep) -> None:
        account, step = item.account_id, item.step
        obj = step.obj
        if obj is not None and obj.log_type == "AWS.CloudTrail":
            # CloudTrail writes into the bucket the account's trail names: the central archive.
            self.world.of(self.world.names.central.account_id).s3.put_object(
                Bucket=self.trail_bucket(account), Key=obj.key, Body=obj.body, ACL="bucket-owner-full-control")
        elif obj is not None:
            # S3 delivers server access logs within the bucket's account and region; replication
            # then copies them into the archive (as configured on the member's log bucket).
            self.world.of(account).s3.put_object(Bucket=obj.bucket, Key=obj.key, Body=obj.body)
            self.replicator.replicate(account, obj.bucket, obj.key)
        if step.change is not None:
            Deliverer(self.world.of(account)).apply(step.change)

    def trail_bucket(self, account: str) -> str:
        if account not in self._trail_buckets:
            trails = self.world.of(account).cloudtrail.describe_trails(includeShadowTrails=False)["trailList"]
            self._trail_buckets[account] = next(t["S3BucketName"] for t in trails
                                                if t["Name"] == self.world.names.central.trail_name)
        return self._trail_buckets[account]


def deliver_and_detect(world: OrgWorld, story: OrgStory, seed: int, result: OrgDemoResult, stages: Stages,
                       show: bool) -> None:
    counts = result.counts
    steps = org_timeline(story, seed)
    objects = [s.step.obj for s in steps if s.step.obj is not None]
    tally(counts, objects)
    stages.say(f"story: {counts.objects} log objects in {len(story.stories)} accounts ({counts.access_log_lines:,} "
               f"access-log lines, {counts.cloudtrail_records:,} CloudTrail records) and {len(story.changes)} changes;"
               " access logs replicate into the archive, trails deliver there, the central detector reads it")
    deliverer = OrgDeliverer(world)
    driver = DetectorDriver(world.of(world.names.central.account_id), world.central)
    deliver_in_slots(steps, deliverer.run, driver, show)
    result.replicated = len(deliverer.replicator.replicas)
    # The archive announces CloudTrail files and replicas; S3 also sends a test event per configuration.
    announced = result.replicated + sum(1 for o in objects if o.log_type == "AWS.CloudTrail")
    stages.say(f"{result.replicated} access-log objects replicated into the archive; detector handler: "
               f"{driver.run.invocations} invocations for {driver.run.messages} notifications "
               f"({driver.run.messages - announced} S3 test events)")


def harden(world: OrgWorld) -> None:
    """The TLS-only statements the stacks have from the start, once the demo stops writing."""
    org = world.names
    CentralProvisioner(world.of(org.central.account_id), org).harden_monitoring_buckets()
    for member in org.members:
        MemberProvisioner(world.of(member.account_id), org, member).harden_monitoring_buckets()


# -- Posture: the central scanner, through each member's audit role -------------------------------

def organization_file(org: OrgNames, out_dir: Path) -> dict[str, str]:
    """The central stack's organization settings as its Lambdas get them: a JSON file (in the code
    asset there, in the demo's output folder here) named by BUCKETWATCH_ORGANIZATION_FILE."""
    path = out_dir / BUNDLED_FILE_NAME
    path.write_text(org.organization().to_json())
    return {ORGANIZATION_FILE_VARIABLE: str(path)}


def organization_posture(world: OrgWorld, config_path: Path, endpoint_url: str, out_dir: Path
                         ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Every verdict of the org-wide scan, and per account what the scan found there.

    Run as the posture Lambda runs: the scanner role's credentials, BUCKETWATCH_ORGANIZATION_FILE and
    BUCKETWATCH_CONFIG in the environment, the request made by the handler's own `scan_request`.
    """
    from policies.config import load_settings
    from policies.posture_handler import scan_request
    from policies.sources.live_scan import run_live_scan

    org = world.names
    scanner = world.of(org.central.account_id).assume(org.scanner_role_arn, session_name="bucketwatch-posture")
    variables = {**scanner.credentials, **organization_file(org, out_dir),
                 "BUCKETWATCH_CONFIG": str(config_path)}
    with environment(variables):
        request = replace(scan_request(load_settings(str(config_path)), regions=None), endpoint_url=endpoint_url)
        scan = run_live_scan(request)
    accounts = [{"account_id": a.account_id, "name": org.account_names.get(a.account_id), "error": a.error,
                 "buckets": a.buckets, "trails": a.trails, "api_calls": a.api_calls} for a in scan.accounts]
    return [finding.to_dict() for finding in scan.findings], accounts

