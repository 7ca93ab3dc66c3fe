"""Text for a terminal or a CI log: the summary first, then the FAILs worst first, then what
could not be decided and what was suppressed; passes are only counted.

    summary     counts by status and severity, the verdict, the accounts (when several, or
                when the scan says how it reached them), the worst resources and policies
    FAIL        by account (when several), then by severity, one block per policy: its fix
                once, then one line per failing resource with the reason
    UNKNOWN     one line per resource with why it could not be decided
    SUPPRESSED  one block per written reason (and owner), naming the resources
    SUPPRESSIONS TO REVIEW  one line per suppression that applied to nothing as written
    totals      the verdict again, for the tail of a CI log
"""

from __future__ import annotations

import textwrap
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from detectors.common.severity import SEVERITIES, severity_rank
from detectors.common.table import format_table
from detectors.common.words import plural as _plural
from policies.runner import (
    FAIL,
    NOT_APPLICABLE,
    PASS,
    SUPPRESSED,
    UNKNOWN,
    Finding,
    SuppressionUse,
    summarize,
)

TOP = 5  # rows of the worst-resources and worst-policies tables
WIDTH = 110
NO_ACCOUNT = "-"


def _account(finding: Finding) -> str:
    return finding.ref.account or NO_ACCOUNT


def _where(finding: Finding, with_account: bool) -> str:
    ref = finding.ref
    location = f"{ref.file}:{ref.line}" if ref.file and ref.line else ref.file
    account = f"account {ref.account}" if with_account and ref.account else None
    parts = [p for p in (account, ref.region, ref.construct_path, location) if p]
    return f" ({', '.join(parts)})" if parts else ""


def _worst_first(findings: Iterable[Finding]) -> list[Finding]:
    return sorted(findings, key=lambda f: (-severity_rank(f.severity), f.policy.id, f.ref.id))


def _badness(failures: Sequence[Finding]) -> tuple[int, ...]:
    """Sort key, worst first: more Critical FAILs, then more High ones, and so on (one more High
    problem outranks any number of Medium ones)."""
    counts = Counter(f.severity for f in failures)
    return tuple(-counts[s] for s in reversed(SEVERITIES))


def _headline(summary: dict[str, Any], accounts: set[str]) -> list[str]:
    counts = summary["by_status"]
    in_accounts = f" in {_plural(len(accounts), 'account')}" if len(accounts) > 1 else ""
    by_severity = summary["failures_by_severity"]
    severities = ", ".join(f"{by_severity[s]} {s}" for s in reversed(SEVERITIES) if by_severity.get(s))
    return [
        f"Bucketwatch posture: {_plural(summary['results'], 'result')} for "
        f"{_plural(summary['resources'], 'resource')}{in_accounts} and "
        f"{_plural(summary['policies'], 'policy', 'policies')}",
        f"  FAIL {counts[FAIL]:,}" + (f" ({severities})" if severities else "")
        + "".join(f", {status} {counts[status]:,}" for status in (UNKNOWN, SUPPRESSED, NOT_APPLICABLE, PASS)),
        _verdict(summary),
    ]


def _verdict(summary: dict[str, Any]) -> str:
    verdict = "FAILED" if summary["blocking"] else "passed"
    unknown = summary["by_status"][UNKNOWN]
    verb = "does" if unknown == 1 else "do"
    note = f" ({_plural(unknown, 'UNKNOWN result')} {verb} not fail it: see UNKNOWN below)" if unknown else ""
    return f"{verdict}: {summary['blocking']} unsuppressed FAIL at or above {summary['fail_on']}{note}"


def _accounts_table(findings: Sequence[Finding], accounts: Sequence[Mapping[str, Any]] | None) -> list[str]:
    statuses: dict[str, Counter[str]] = defaultdict(Counter)
    resources: dict[str, set[str]] = defaultdict(set)
    for finding in findings:
        statuses[_account(finding)][finding.status] += 1
        resources[_account(finding)].add(finding.ref.id)
    if accounts is None:
        accounts = [{"account_id": a} for a in sorted(statuses)]
    if len(accounts) < 2 and not any(a.get("error") for a in accounts):
        return []  # one account, scanned: the headline says it all
    rows, not_scanned = [], []
    for account in accounts:
        key = account.get("account_id") or NO_ACCOUNT
        if account.get("error"):
            not_scanned.append(f"  {key} not scanned: {account['error']}")
        access = "NOT SCANNED (below)" if account.get("error") else account.get("access") or ""
        rows.append((key, account.get("name") or "", len(resources[key]), statuses[key][FAIL],
                     statuses[key][UNKNOWN], access))
    table = format_table(("ACCOUNT", "NAME", "RESOURCES", "FAIL", "UNKNOWN", "SCANNED WITH"), rows,
                         indent="  ", right=(2, 3, 4))
    return ["", f"Accounts ({len(accounts)})", table, *not_scanned]


def _worst_tables(failures: Sequence[Finding], with_account: bool) -> list[str]:
    if not failures:
        return []
    by_resource: dict[str, list[Finding]] = defaultdict(list)
    by_policy: dict[str, list[Finding]] = defaultdict(list)
    for finding in failures:
        by_resource[finding.ref.id].append(finding)
        by_policy[finding.policy.id].append(finding)

    resources = sorted(by_resource.values(), key=lambda g: (_badness(g), g[0].ref.id))[:TOP]
    columns = ("RESOURCE", *(("ACCOUNT",) if with_account else ()), "WORST", "FAIL")
    rows = [(g[0].ref.id, *((_account(g[0]),) if with_account else ()),
             _worst_first(g)[0].severity, len(g)) for g in resources]
    policies = sorted(by_policy.values(),
                      key=lambda g: (-severity_rank(g[0].severity), -len(g), g[0].policy.id))[:TOP]
    policy_rows = [(g[0].policy.id, g[0].severity, len(g), g[0].policy.title) for g in policies]
    return [
        "", f"Worst resources ({min(TOP, len(by_resource))} of {len(by_resource)} failing)",
        format_table(columns, rows, indent="  ", right=(len(columns) - 1,)),
        "", f"Worst policies ({min(TOP, len(by_policy))} of {len(by_policy)} failing)",
        format_table(("POLICY", "SEVERITY", "FAILING", "TITLE"), policy_rows, indent="  ", right=(2,)),
    ]


def _fail_blocks(failures: Sequence[Finding], indent: str) -> list[str]:
    """One block per policy, worst severity first: the fix once, then each failing resource."""
    lines = []
    by_policy: dict[str, list[Finding]] = defaultdict(list)
    for finding in _worst_first(failures):
        by_policy[finding.policy.id].append(finding)
    # Within a severity, the rarer problems first: one exposed bucket before a setting every
    # bucket lacks.
    groups = sorted(by_policy.values(), key=lambda g: (-severity_rank(g[0].severity), len(g), g[0].policy.id))
    for group in groups:
        policy = group[0].policy
        lines.append(f"{indent}{policy.severity.upper():<8} {policy.id}: {policy.title} ({_plural(len(group), 'resource')})")
        if policy.remediation:
            lines.append(f"{indent}  fix: {' '.join(policy.remediation.split())}")
        lines += [f"{indent}  - {f.ref.id}{_where(f, with_account=False)}: {f.reason}" for f in group]
    return lines


def _fail_section(failures: Sequence[Finding], several_accounts: bool) -> list[str]:
    if not failures:
        return []
    lines = ["", f"FAIL ({len(failures):,}), worst first"]
    if not several_accounts:
        return lines + _fail_blocks(failures, "  ")
    by_account: dict[str, list[Finding]] = defaultdict(list)
    for finding in failures:
        by_account[_account(finding)].append(finding)
    ordered = sorted(by_account.items(), key=lambda item: (_badness(item[1]), item[0]))
    for account, group in ordered:
        lines.append(f"  account {account}: {len(group):,} FAIL")
        lines += _fail_blocks(group, "    ")
    return lines


def _unknown_section(unknown: Sequence[Finding], with_account: bool) -> list[str]:
    if not unknown:
        return []
    lines = ["", f"UNKNOWN ({len(unknown):,}): could not be decided; they do not fail the run"]
    lines += [f"  {f.policy.id}  {f.ref.id}{_where(f, with_account)}: {f.reason}" for f in _worst_first(unknown)]
    return lines


def _suppressed_section(suppressed: Sequence[Finding]) -> list[str]:
    if not suppressed:
        return []
    lines = ["", f"SUPPRESSED ({len(suppressed):,}): the verdict stands, a written reason accepts it"]
    groups: dict[tuple[str, str, str, str, str], list[str]] = defaultdict(list)
    for finding in _worst_first(suppressed):
        written = finding.suppression
        origin, reason, owner = (written.origin, written.reason, written.owner or "") if written else ("", "", "")
        groups[(finding.policy.id, finding.verdict, origin, owner, reason)].append(finding.ref.id)
    for (policy, verdict, origin, owner, reason), names in groups.items():
        owned = f" [owner {owner}]" if owner else ""
        lines.append(f"  {policy} ({verdict}, {_plural(len(names), 'resource')}) suppressed ({origin}){owned}: {reason}")
        lines += textwrap.wrap(", ".join(names), width=WIDTH, initial_indent="    ", subsequent_indent="    ",
                               break_on_hyphens=False, break_long_words=False)
    return lines


def _suppression_problems(suppressions: Sequence[SuppressionUse]) -> list[str]:
    """Suppressions that applied to nothing as written (unused, expired, naming no policy, or
    naming one this run does not judge): each is a finding of its own to review."""
    problems = [use for use in suppressions if use.problem]
    if not problems:
        return []
    lines = ["", f"SUPPRESSIONS TO REVIEW ({len(problems):,}): they suppressed nothing as written"]
    lines += [f"  SUPPRESSION {u.suppression.policy} ({u.suppression.where}): {u.problem}" for u in problems]
    return lines


def render_text(findings: Sequence[Finding], threshold: str, suppressions: Sequence[SuppressionUse] = (),
                accounts: Sequence[Mapping[str, Any]] | None = None) -> str:
    """`suppressions`: the run's suppressions and their use (`runner.review_suppressions`);
    `accounts`: how each account was scanned (`AccountScan.to_dict()`), when a scan says so."""
    summary = summarize(findings, threshold)
    by_status: dict[str, list[Finding]] = defaultdict(list)
    for finding in findings:
        by_status[finding.status].append(finding)
    seen_accounts = {_account(f) for f in findings} | {a.get("account_id") or NO_ACCOUNT for a in accounts or ()}
    several = len(seen_accounts - {NO_ACCOUNT}) > 1
    counts = summary["by_status"]
    lines = [
        *_headline(summary, seen_accounts - {NO_ACCOUNT}),
        *_accounts_table(findings, accounts),
        *_worst_tables(by_status[FAIL], several),
        *_fail_section(by_status[FAIL], several),
        *_unknown_section(by_status[UNKNOWN], several),
        *_suppressed_section(by_status[SUPPRESSED]),
        *_suppression_problems(suppressions),
        "",
        f"{_plural(summary['results'], 'result')} for {_plural(summary['resources'], 'resource')} and "
        f"{_plural(summary['policies'], 'policy')}: "
        + ", ".join(f"{counts[s]} {s}" for s in (FAIL, UNKNOWN, SUPPRESSED, NOT_APPLICABLE, PASS)),
        _verdict(summary),
    ]
    return "\n".join(lines)
