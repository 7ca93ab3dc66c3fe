"""The HTML report: one self-contained file (inline CSS and SVG, no scripts, no fonts, nothing fetched).

`render_report` draws a `ReportView` (alerts, posture results, key figures, extra sections);
`bucketwatch report` fills it from a lake, `bucketwatch demo` from its own run.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from html import escape
from typing import Any

from bucketwatch.reporting.results import (
    SEVERITY_ORDER,
    STATUS_ORDER,
    alert_account,
    alert_rule,
    by_account,
    failures,
    failures_by_bucket,
    resource_name,
    result_account,
    severity_rank,
)

SEVERITY_COLORS = {"Critical": "#7f1d1d", "High": "#dc2626", "Medium": "#f97316", "Low": "#eab308",
                   "Info": "#60a5fa"}
STATUS_COLORS = {"FAIL": "#dc2626", "UNKNOWN": "#a855f7", "SUPPRESSED": "#94a3b8", "PASS": "#16a34a",
                 "NOT_APPLICABLE": "#cbd5e1"}

CSS = """
body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;margin:0;color:#0f172a;background:#f8fafc}
header{background:#0f172a;color:#f8fafc;padding:18px 32px}
header h1{margin:0;font-size:22px} header p{margin:4px 0 0;color:#cbd5e1;font-size:14px}
main{padding:16px 32px;max-width:1200px}
section{background:#fff;border:1px solid #e2e8f0;border-radius:8px;padding:16px 20px;margin:16px 0}
h2{font-size:17px;margin:0 0 12px}
table{border-collapse:collapse;width:100%;font-size:13px}
th,td{text-align:left;padding:5px 8px;border-bottom:1px solid #e2e8f0;vertical-align:top}
td.t{white-space:nowrap} td.fix{color:#475569;font-size:12px}
th{background:#f1f5f9}
code,pre{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:12px}
pre{background:#0f172a;color:#e2e8f0;padding:10px 12px;border-radius:6px;overflow-x:auto;white-space:pre-wrap}
.sev{display:inline-block;padding:1px 8px;border-radius:10px;color:#fff;font-size:12px}
.kpis{display:flex;gap:12px;flex-wrap:wrap}
.kpi{flex:1;min-width:150px;background:#f1f5f9;border-radius:8px;padding:10px 14px}
.kpi b{display:block;font-size:24px}
.ok{color:#16a34a} .bad{color:#dc2626}
svg text{font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif}
details{margin:2px 0} summary{cursor:pointer;color:#334155}
article.account{border-top:1px solid #e2e8f0;padding-top:8px;margin-top:12px} article.account h3{font-size:15px;margin:4px 0 8px}
"""


@dataclass
class ReportView:
    """What one report shows. Sections in `before`/`after` are HTML fragments (already escaped)."""

    title: str
    subtitle: str = ""
    alerts: list[dict[str, Any]] = field(default_factory=list)   # detection alert messages
    posture: list[dict[str, Any]] = field(default_factory=list)  # posture results, every status
    kpis: list[tuple[str, Any]] = field(default_factory=list)
    summary_notes: list[str] = field(default_factory=list)       # HTML fragments under the figures
    window: tuple[datetime, datetime] | None = None
    markers: list[tuple[datetime, str]] = field(default_factory=list)
    after: list[str] = field(default_factory=list)
    account_names: dict[str, str] = field(default_factory=dict)  # account id -> a name people know


def render_report(view: ReportView) -> str:
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{escape(view.title)}</title><style>{CSS}</style></head><body>",
        f"<header><h1>{escape(view.title)}</h1><p>{escape(view.subtitle)}</p></header><main>",
        '<section id="summary"><h2>Summary</h2><div class="kpis">',
        "".join(_kpi(label, value) for label, value in view.kpis),
        "</div>",
        "".join(view.summary_notes),
        "</section>",
        '<section id="accounts"><h2>By account</h2>',
        accounts_table(view.alerts, view.posture, view.account_names),
        "</section>",
        per_account_section(view.alerts, view.posture, view.account_names),
        '<section id="alerts-over-time"><h2>Alerts over time</h2>',
        alerts_over_time_svg(view.alerts, window=view.window, markers=view.markers),
        "</section>",
        '<section id="alerts"><h2>Alerts by severity</h2>',
        alerts_table(view.alerts),
        "</section>",
        '<section id="posture-by-bucket"><h2>Posture by bucket</h2>',
        posture_by_bucket_svg(view.posture),
        failures_table(view.posture),
        "</section>",
        *view.after,
        "</main></body></html>",
    ]
    return "\n".join(parts)


def section(section_id: str, title: str, body: str) -> str:
    return f'<section id="{escape(section_id)}"><h2>{escape(title)}</h2>{body}</section>'


def _kpi(label: str, value: Any) -> str:
    return f'<div class="kpi"><b>{escape(str(value))}</b>{escape(label)}</div>'


def _badge(severity: str) -> str:
    color = SEVERITY_COLORS.get(severity.capitalize(), "#64748b")
    return f'<span class="sev" style="background:{color}">{escape(severity)}</span>'


def alerts_table(alerts: list[dict[str, Any]]) -> str:
    """Every alert, worst first, with its times, and its runbook, context and sample events folded."""
    rows = sorted(alerts, key=lambda a: (severity_rank(a.get("severity")), alert_rule(a), str(a.get("title"))))
    body = "".join(
        f"<tr><td>{_badge(str(a.get('severity', '?')))}</td><td><code>{escape(alert_rule(a))}</code></td>"
        f"<td>{escape(str(a.get('title', '')))}{_alert_details(a)}</td>"
        f"<td>{escape(str(a.get('event_count', '')))}</td>"
        f"<td class=t>{escape(_short_time(a.get('first_seen')))}</td>"
        f"<td class=t>{escape(_short_time(a.get('last_seen')))}</td></tr>"
        for a in rows)
    return ("<table><tr><th>Severity</th><th>Rule</th><th>Title</th><th>Events</th><th>First seen</th>"
            f"<th>Last seen</th></tr>{body}</table>")


def _alert_details(alert: dict[str, Any]) -> str:
    parts = []
    if alert.get("runbook"):
        parts.append(f"<p><b>Runbook:</b> {escape(str(alert['runbook']))}</p>")
    if alert.get("context"):
        parts.append(f"<p><b>Context</b></p><pre>{escape(json.dumps(alert['context'], indent=1, default=str))}</pre>")
    samples = alert.get("samples") or []
    if samples:
        shown = json.dumps(samples[:3], indent=1, default=str)
        parts.append(f"<p><b>Sample events</b> ({len(samples[:3])} of {alert.get('event_count', len(samples))})</p>"
                     f"<pre>{escape(shown)}</pre>")
    return f"<details><summary>details</summary>{''.join(parts)}</details>" if parts else ""


def accounts_table(alerts: list[dict[str, Any]], results: list[dict[str, Any]],
                   names: dict[str, str] | None = None) -> str:
    rows = by_account(alerts, results)
    if not rows:
        return "<p>Nothing to report.</p>"
    names = names or {}

    def counts(counter: Counter[str]) -> str:
        return ", ".join(f"{counter[s]} {s}" for s in SEVERITY_ORDER if counter.get(s)) or "none"

    def name(account: str) -> str:
        return f"<td>{escape(names.get(account, ''))}</td>" if names else ""

    body = "".join(
        f"<tr><td><code>{escape(r['account'])}</code></td>{name(r['account'])}<td>{escape(counts(r['alerts']))}</td>"
        f"<td>{len(r['resources'])}</td><td>{escape(counts(r['failures']))}</td><td>{r['unknown']}</td></tr>"
        for r in rows)
    head = "<th>Account</th>" + ("<th>Name</th>" if names else "")
    return (f"<table><tr>{head}<th>Alerts</th><th>Resources judged</th><th>Posture failures</th>"
            f"<th>Unknown</th></tr>{body}</table>")


def per_account_section(alerts: list[dict[str, Any]], results: list[dict[str, Any]],
                        names: dict[str, str] | None = None) -> str:
    """With more than one account: each account's alerts and posture failures (and UNKNOWNs)."""
    rows = by_account(alerts, results)
    if len(rows) < 2:
        return ""
    names = names or {}
    blocks = []
    for row in rows:
        account = row["account"]
        own_alerts = [a for a in alerts if alert_account(a) == account]
        own_results = [r for r in results if result_account(r) == account]
        label = f"{names[account]} ({account})" if account in names else account
        blocks.append(
            f'<article class="account" id="account-{escape(account)}"><h3>{escape(label)}</h3>'
            f"{_account_alerts(own_alerts)}{_account_posture(own_results)}</article>")
    return section("per-account", "Per account: alerts and posture", "".join(blocks))


def _account_alerts(alerts: list[dict[str, Any]]) -> str:
    if not alerts:
        return "<p>No alerts.</p>"
    rows = sorted(alerts, key=lambda a: (severity_rank(a.get("severity")), alert_rule(a), str(a.get("title"))))
    body = "".join(
        f"<tr><td>{_badge(str(a.get('severity', '?')))}</td><td><code>{escape(alert_rule(a))}</code></td>"
        f"<td>{escape(str(a.get('title', '')))}</td><td>{escape(str(a.get('event_count', '')))}</td>"
        f"<td class=t>{escape(_short_time(a.get('first_seen')))}</td></tr>" for a in rows)
    return ('<table class="account-alerts"><tr><th>Severity</th><th>Rule</th><th>Title</th><th>Events</th>'
            f"<th>First seen</th></tr>{body}</table>")


def _account_posture(results: list[dict[str, Any]]) -> str:
    failed = sorted(failures(results), key=lambda r: (severity_rank(r.get("severity")), resource_name(r),
                                                      str(r.get("policy"))))
    unknown = [r for r in results if r.get("status") == "UNKNOWN"]
    if not results:
        return "<p>No posture results.</p>"
    if not failed and not unknown:
        return f"<p>Posture: {len(results)} verdict{'' if len(results) == 1 else 's'}, no failures.</p>"
    body = "".join(
        f"<tr><td>{escape(resource_name(r))}</td><td>{_badge(str(r.get('severity', '?')))}</td>"
        f"<td><code>{escape(str(r.get('policy')))}</code></td><td>{escape(str(r.get('status')))}</td>"
        f"<td>{escape(str(r.get('reason', '')))}</td></tr>" for r in [*failed, *unknown])
    return ('<table class="account-posture"><tr><th>Resource</th><th>Severity</th><th>Policy</th><th>Verdict</th>'
            f"<th>Reason</th></tr>{body}</table>")


def failures_table(results: list[dict[str, Any]]) -> str:
    rows = []
    for bucket, failed in failures_by_bucket(results).items():
        for r in sorted(failed, key=lambda r: (severity_rank(r.get("severity")), str(r.get("policy")))):
            rows.append(f"<tr><td>{escape(bucket)}</td><td>{_badge(str(r.get('severity', '?')))}</td>"
                        f"<td><code>{escape(str(r.get('policy')))}</code></td>"
                        f"<td>{escape(str(r.get('reason', '')))}</td>"
                        f"<td class=fix>{escape(str(r.get('remediation') or ''))}</td></tr>")
    suppressed = []
    for r in sorted((r for r in results if r.get("status") == "SUPPRESSED"),
                    key=lambda r: (resource_name(r), str(r.get("policy")))):
        why = (r.get("suppression") or {}).get("reason", "")
        suppressed.append(f"<tr><td>{escape(resource_name(r))}</td><td><code>{escape(str(r.get('policy')))}</code>"
                          f"</td><td>{escape(str(r.get('reason', '')))}</td><td>{escape(str(why))}</td></tr>")
    failed = ("<table><tr><th>Bucket</th><th>Severity</th><th>Policy</th><th>Reason</th><th>Fix</th></tr>"
              f"{''.join(rows)}</table>") if rows else "<p>No failures.</p>"
    kept = ("<table><tr><th>Bucket</th><th>Policy</th><th>Verdict reason</th><th>Suppression reason</th></tr>"
            f"{''.join(suppressed)}</table>") if suppressed else "<p>None.</p>"
    return ("<h2 style='margin-top:16px'>Failures</h2>" + failed
            + "<h2 style='margin-top:16px'>Suppressed, with the team's written reason</h2>" + kept)


def query_table(columns: list[str], rows: list[tuple[Any, ...]]) -> str:
    head = "".join(f"<th>{escape(c)}</th>" for c in columns)
    body = "".join("<tr>" + "".join(f"<td>{escape('NULL' if v is None else str(v))}</td>" for v in row) + "</tr>"
                   for row in rows)
    return f"<table><tr>{head}</tr>{body}</table><p>{len(rows)} rows</p>"


# -- charts ----------------------------------------------------------------------------------

def parse_time(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if not value:
        return None
    text = str(value).replace("Z", "+00:00").replace(" ", "T", 1)
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _short_time(value: Any) -> str:
    parsed = parse_time(value)
    return parsed.strftime("%Y-%m-%d %H:%M") if parsed else str(value or "")


BIN_CHOICES_MINUTES = (30, 60, 120, 360, 720, 1440, 10080)
MAX_BINS = 96


def _bin_minutes(first: datetime, last: datetime) -> int:
    """The finest bin (30 minutes .. a week) that keeps the chart at most MAX_BINS bars wide."""
    span = (last - first).total_seconds() / 60
    return next((m for m in BIN_CHOICES_MINUTES if span / m < MAX_BINS), BIN_CHOICES_MINUTES[-1])


def alerts_over_time_svg(alerts: list[dict[str, Any]], bin_minutes: int | None = None,
                         window: tuple[datetime, datetime] | None = None,
                         markers: list[tuple[datetime, str]] | None = None) -> str:
    """Stacked bars: alerts by the time of their first event, per severity, over `window`
    (default: from the first to the last alert); `markers` are drawn as dashed lines."""
    times = [(parse_time(a.get("first_seen")), str(a.get("severity", "Info")).capitalize()) for a in alerts]
    times = [(t, s) for t, s in times if t is not None]
    width, height, left, bottom, top = 900, 260, 44, 40, 20
    if not times:
        return _empty_svg(width, "No alerts were raised.")
    window = (_aware(window[0]), _aware(window[1])) if window else None
    first = min([t for t, _ in times] + ([window[0]] if window else []))
    end = max([t for t, _ in times] + ([window[1] - timedelta(seconds=1)] if window else []))
    bin_minutes = bin_minutes or _bin_minutes(first, end)
    size = timedelta(minutes=bin_minutes)
    start = datetime.fromtimestamp(first.timestamp() // (bin_minutes * 60) * bin_minutes * 60, UTC)
    label = "%H:%M" if end - start < timedelta(days=1) else ("%m-%d %H:%M" if bin_minutes < 1440 else "%Y-%m-%d")
    nbins = int((end - start) / size) + 1
    bins: list[Counter[str]] = [Counter() for _ in range(nbins)]
    for t, severity in times:
        bins[int((t - start) / size)][severity] += 1
    peak = max(sum(b.values()) for b in bins)
    plot_w, plot_h = width - left - 10, height - top - bottom
    bar_w = plot_w / nbins
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height + 24}" width="100%" '
           f'role="img" aria-label="Alerts over time">']
    for tick in range(peak + 1):
        if peak > 8 and tick % max(1, peak // 4):
            continue
        y = top + plot_h - plot_h * tick / peak
        out.append(f'<line x1="{left}" x2="{width - 10}" y1="{y:.1f}" y2="{y:.1f}" stroke="#e2e8f0"/>'
                   f'<text x="{left - 6}" y="{y + 4:.1f}" font-size="11" text-anchor="end">{tick}</text>')
    for i, counts in enumerate(bins):
        x = left + i * bar_w
        y = top + plot_h
        for severity in reversed(SEVERITY_ORDER):
            n = counts.get(severity, 0)
            if not n:
                continue
            h = plot_h * n / peak
            y -= h
            out.append(f'<rect class="bar" x="{x + 2:.1f}" y="{y:.1f}" width="{max(bar_w - 4, 1):.1f}" '
                       f'height="{h:.1f}" fill="{SEVERITY_COLORS[severity]}">'
                       f"<title>{n} {severity} at {(start + i * size).strftime(label)}</title></rect>")
        if nbins <= 16 or i % max(1, nbins // 12) == 0:  # bin boundaries, so markers read true
            out.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{top + plot_h}" y2="{top + plot_h + 4}" '
                       f'stroke="#64748b"/><text x="{x:.1f}" y="{top + plot_h + 16}" font-size="11" '
                       f'text-anchor="middle">{(start + i * size).strftime(label)}</text>')
    for when, text in markers or ():
        when = _aware(when)
        if start <= when < start + nbins * size:
            x = left + (when - start) / size * bar_w
            out.append(f'<g class="marker"><title>{escape(f"{when:%H:%M} {text}")}</title>'
                       f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{top}" y2="{top + plot_h}" stroke="#0f172a" '
                       f'stroke-dasharray="3 3" stroke-opacity="0.45"/>'
                       f'<path d="M{x - 5:.1f} {top - 8} h10 l-5 8 z" fill="#0f172a"/></g>')
    out.append(f'<line x1="{left}" x2="{width - 10}" y1="{top + plot_h}" y2="{top + plot_h}" stroke="#64748b"/>')
    out.append(f'<text x="{left}" y="{height - 4}" font-size="11" fill="#475569">UTC, {start:%Y-%m-%d}; '
               f"bars count alerts by the time of their first event ({bin_minutes}-minute bins)</text>")
    legend = [(s, SEVERITY_COLORS[s]) for s in SEVERITY_ORDER]
    if markers:
        legend.append(("attacker change (dashed)", "#0f172a"))
    out.append(_legend(legend, left, height + 14))
    out.append("</svg>")
    return "".join(out)


def posture_by_bucket_svg(results: list[dict[str, Any]]) -> str:
    """One horizontal bar per bucket: how many policies passed, failed, could not decide."""
    per: dict[str, Counter[str]] = {}
    for r in results:
        per.setdefault(resource_name(r), Counter())[str(r.get("status"))] += 1
    if not per:
        return _empty_svg(900, "No posture results.")
    # Room for the longest name at about 7 px per character of the 12 px labels.
    row_h, top = 26, 10
    left = max(200, 16 + 7 * max(len(name) for name in per))
    width = left + 620
    buckets = sorted(per, key=lambda b: (-per[b]["FAIL"], b))
    most = max(sum(c.values()) for c in per.values())
    plot_w = width - left - 20
    height = top + row_h * len(buckets) + 40
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="100%" role="img" '
           'aria-label="Posture by bucket">']
    for i, bucket in enumerate(buckets):
        y = top + i * row_h
        out.append(f'<text x="{left - 8}" y="{y + 16}" font-size="12" text-anchor="end">{escape(bucket)}</text>')
        x = float(left)
        for status in STATUS_ORDER:
            n = per[bucket].get(status, 0)
            if not n:
                continue
            w = plot_w * n / most
            out.append(f'<rect class="bar" x="{x:.1f}" y="{y + 3}" width="{w:.1f}" height="{row_h - 6}" '
                       f'fill="{STATUS_COLORS[status]}"><title>{escape(bucket)}: {n} {status}</title></rect>')
            if w > 18:
                out.append(f'<text x="{x + w / 2:.1f}" y="{y + 17}" font-size="11" fill="#fff" '
                           f'text-anchor="middle">{n}</text>')
            x += w
    out.append(_legend([(s, STATUS_COLORS[s]) for s in STATUS_ORDER], left, height - 12))
    out.append("</svg>")
    return "".join(out)


def _legend(items: list[tuple[str, str]], x: float, y: float) -> str:
    out = []
    for label, color in items:
        out.append(f'<rect x="{x:.0f}" y="{y - 9:.0f}" width="10" height="10" fill="{color}"/>'
                   f'<text x="{x + 14:.0f}" y="{y:.0f}" font-size="11">{escape(label)}</text>')
        x += 26 + 8 * len(label)
    return "".join(out)


def _empty_svg(width: int, message: str) -> str:
    return (f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} 40" width="100%">'
            f'<text x="10" y="24" font-size="13">{escape(message)}</text></svg>')
