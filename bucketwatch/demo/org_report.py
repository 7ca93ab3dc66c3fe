"""What `bucketwatch demo --organization` found, by account: the text report and the HTML report
(the shared report of bucketwatch.reporting, with its per-account view)."""

from __future__ import annotations

from dataclasses import dataclass, field
from html import escape
from typing import Any

from bucketwatch.demo.html import reconciliation
from bucketwatch.demo.report import (
    DemoResult,
    _table,
    alert_line,
    closing_lines,
    counts_text,
    failure_lines,
    posture_footnotes,
)
from bucketwatch.reporting.html import ReportView, query_table, render_report, section
from bucketwatch.reporting.results import (
    NO_ACCOUNT,
    alert_account,
    alert_rule,
    failures_by_bucket,
    result_account,
    severity_rank,
)

NEXT_STEPS = (
    ("Every account's S3 activity in the one central lake",
     'bucketwatch query --lake {lake} "SELECT p_account_id, p_region, COUNT(*) AS requests, '
     "COUNT(DISTINCT requester) AS requesters FROM panther_logs.aws_s3serveraccess GROUP BY ALL ORDER BY ALL\""),
    ("Every copy between buckets, by the account that recorded it (inside the organization, and out of it)",
     'bucketwatch query --lake {lake} "SELECT p_account_id, json_extract_string(requestParameters, \'$.bucketName\') '
     "AS destination, COUNT(*) AS copies FROM panther_logs.aws_cloudtrail WHERE eventName = 'CopyObject' "
     'GROUP BY ALL ORDER BY ALL"'),
    ("Synthesize the organization's stacks (central first, then the members)",
     'CDK_CONTEXT_JSON="$(cat examples/organization-context.json)" python app.py'),
    ("Scan your organization's buckets (read-only)", "bucketwatch scan --organization --role-name BucketwatchAudit"),
)


@dataclass
class OrgDemoResult(DemoResult):
    organization_id: str = ""
    accounts: list[dict[str, Any]] = field(default_factory=list)  # account_id, name, role, region
    posture_accounts: list[dict[str, Any]] = field(default_factory=list)  # what the scan found per account
    replicated: int = 0  # access-log objects replicated into the central archive

    @property
    def account_names(self) -> dict[str, str]:
        return {a["account_id"]: a["name"] for a in self.accounts}

    def label(self, account: str) -> str:
        """`payments 815901396245 (member, us-east-1)`."""
        info = next((a for a in self.accounts if a["account_id"] == account), None)
        if info is None:
            return account
        return f"{info['name']} {account} ({info['role']}, {info['region']})"

    def account_order(self) -> list[str]:
        """The organization's accounts (central first), then any other account an alert names."""
        known = [a["account_id"] for a in self.accounts]
        others = {alert_account(a) for a in self.detection_alerts} - set(known)
        return known + sorted(others)


def render_org_text(result: OrgDemoResult) -> str:
    lines = ["", f"Bucketwatch demo, organization {result.organization_id}: {len(result.accounts)} accounts, "
                 "one central lake",
             f"  {counts_text(result.counts)}",
             f"  ({result.replicated} access-log objects replicated from the members into the central archive, "
             "CloudTrail files delivered there by each account's trail)", ""]
    lines += _accounts_block(result)
    lines += ["", "The central lake, by account and region (SQL on the local lake):", f"  {result.query_sql}",
              _table(_labelled_columns(result), _labelled_rows(result), indent="  "), ""]
    lines += _alerts_block(result)
    lines += ["", *_posture_block(result), ""]
    lines += closing_lines(result, NEXT_STEPS)
    return "\n".join(lines)


def _accounts_block(result: OrgDemoResult) -> list[str]:
    lines = ["Accounts:"]
    for info in result.accounts:
        lines.append(f"  {info['name']:<10} {info['account_id']}  {info['role']:<7} {info['region']}")
    return lines


def _labelled_columns(result: OrgDemoResult) -> list[str]:
    return ["account", *result.query_columns] if result.query_columns else []


def _labelled_rows(result: OrgDemoResult) -> list[tuple[Any, ...]]:
    names = result.account_names
    return [(names.get(str(row[0]), "?"), *row) for row in result.query_rows]


def _alerts_block(result: OrgDemoResult) -> list[str]:
    alerts = result.detection_alerts
    lines = [f"Alerts ({len(alerts)}) by account, read back from the central alerts topic's queue:"]
    for account in result.account_order():
        own = sorted((a for a in alerts if alert_account(a) == account),
                     key=lambda a: (severity_rank(a.get("severity")), alert_rule(a), str(a.get("title"))))
        lines.append(f"  {result.label(account)}: {_count(len(own), 'alert')}")
        lines += [alert_line(a, "    ", prefix=f"{str(a.get('severity', '?')).upper():<9}") for a in own]
    return lines


def _posture_block(result: OrgDemoResult) -> list[str]:
    failures = result.posture_failures
    lines = [f"Posture failures ({len(failures)}) by account, from the central scanner through each member's "
             "audit role:"]
    scans = {a["account_id"]: a for a in result.posture_accounts}
    for info in result.accounts:
        account = info["account_id"]
        own = [r for r in result.posture if result_account(r) == account]
        by_bucket = failures_by_bucket(own)
        scan = scans.get(account, {})
        failed = sum(len(v) for v in by_bucket.values())
        reach = f"not scanned: {scan['error']}" if scan.get("error") else f"{scan.get('buckets', 0)} buckets scanned"
        where = f" on {_count(len(by_bucket), 'resource')}" if failed else ""
        lines.append(f"  {result.label(account)}: {_count(failed, 'failure')}{where} ({reach})")
        for bucket, results in by_bucket.items():
            lines += failure_lines(bucket, results, "    ")
    strays = [r for r in result.posture if result_account(r) == NO_ACCOUNT]
    if strays:
        lines.append(f"  (account unknown: {len(strays)} results)")
    return lines + posture_footnotes(result.posture)


def _count(n: int, noun: str) -> str:
    return f"no {noun}s" if n == 0 else f"{n} {noun}" + ("" if n == 1 else "s")


# -- HTML -----------------------------------------------------------------------------------------

def render_org_html(result: OrgDemoResult, title: str = "Bucketwatch demo report: an organization") -> str:
    c = result.counts
    reconciled = reconciliation(c, "Lines written in every account = records in the central lake + quarantined")
    view = ReportView(
        title=title,
        subtitle=f"Organization {result.organization_id} on the local AWS endpoint {result.endpoint} "
                 f"\u00b7 run took {result.seconds:.1f}s",
        alerts=result.detection_alerts,
        posture=result.posture,
        kpis=[("Accounts", len(result.accounts)), ("Alerts", len(result.detection_alerts)),
              ("Posture failures", len(result.posture_failures)), ("Log objects", c.objects),
              ("Replicated into the archive", result.replicated), ("Records in the central lake", f"{c.records:,}")],
        summary_notes=[reconciled, _organization_table(result), _story(result)],
        window=result.story_window,
        markers=result.story_markers,
        account_names=result.account_names,
        after=[
            section("query", "The central lake, by account and region",
                    f"<pre>{escape(result.query_sql)}</pre>"
                    + query_table(_labelled_columns(result), _labelled_rows(result))),
            section("next", "What to run next",
                    "".join(f"<p>{escape(label)}</p><pre>{escape(cmd.format(lake=result.lake_dir))}</pre>"
                            for label, cmd in NEXT_STEPS)),
        ],
    )
    return render_report(view)


def _organization_table(result: OrgDemoResult) -> str:
    scans = {a["account_id"]: a for a in result.posture_accounts}
    rows = "".join(
        f"<tr><td>{escape(a['name'])}</td><td><code>{escape(a['account_id'])}</code></td><td>{escape(a['role'])}</td>"
        f"<td>{escape(a['region'])}</td><td>{escape(_scan_text(scans.get(a['account_id'])))}</td></tr>"
        for a in result.accounts)
    return ('<table id="organization"><tr><th>Account</th><th>Id</th><th>Role</th><th>Home region</th>'
            f"<th>Posture scan</th></tr>{rows}</table>")


def _scan_text(scan: dict[str, Any] | None) -> str:
    if not scan:
        return "not scanned"
    if scan.get("error"):
        return f"not scanned: {scan['error']}"
    return f"{scan['buckets']} buckets, {scan['trails']} trails"


def _story(result: OrgDemoResult) -> str:
    items = "".join(f"<li>{escape(change)}</li>" for change in result.story_changes)
    return (f"<p>Changes made during the story:</p><ul>{items}</ul><p>The attack crosses accounts: stolen keys in "
            "<b>payments</b> copy ledger files to a bucket of an account outside the organization; the ETL copy "
            "from payments into analytics stays inside it.</p>")
