"""`bucketwatch baseline`: propose known_good_access and ip_allowlist entries from lake history.

From N days of both log types (access logs and CloudTrail data events) before `now`:
- **known_good_access**: per bucket, the principals that read it (successful GetObject) on at
  least `min_days` distinct days. An assumed-role session ARN becomes the role's glob
  (`arn:aws:sts::ACCOUNT:assumed-role/ROLE/*`): sessions change, the role is what is known.
- **ip_allowlist**: per bucket, the networks requests came from on at least `min_days` days:
  IPv4 addresses grouped by /24, IPv6 by /64 (an address's neighbours are the same NAT or VPC).

Each entry carries the counts behind it (requests, days, sessions or addresses), printed as YAML
comments; what fell short of `min_days` is listed as comments too, for review. The snippet is the
`detections:` section of the config file and is validated by parsing it back with the config
loader before it is shown. History can hold the very traffic these detections should catch:
review before use.
"""

from __future__ import annotations

import ipaddress
import json
import re
import tempfile
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from detectors.common.config_file import load_config
from detectors.sql.executors import QueryExecutor
from detectors.sql.transpile import transpile

IPV4_PREFIX, IPV6_PREFIX = 24, 64
MAX_REVIEW_LINES = 10
_ASSUMED_ROLE = re.compile(r"^(arn:aws[\w-]*:sts::\d{12}:assumed-role/[^/]+)/.+$")

# Successful object reads of both log types, one row per (bucket, principal, day): Snowflake SQL,
# run wherever the executor runs (DuckDB here).
READERS_SQL = """
SELECT bucket, principal, DATE_TRUNC('day', p_event_time) AS day, COUNT(*) AS requests
FROM (
  SELECT bucket, requester AS principal, p_event_time FROM panther_logs.public.aws_s3serveraccess
  WHERE operation = 'REST.GET.OBJECT' AND errorcode IS NULL AND requester IS NOT NULL
    AND p_occurs_since('{days} days')
  UNION ALL
  SELECT requestParameters:bucketName, userIdentity:arn, p_event_time FROM panther_logs.public.aws_cloudtrail
  WHERE eventSource = 's3.amazonaws.com' AND eventName = 'GetObject' AND errorCode IS NULL
    AND userIdentity:arn IS NOT NULL AND p_occurs_since('{days} days')
) AS reads
WHERE bucket IS NOT NULL
GROUP BY 1, 2, 3
"""
# Every client request with its source address, one row per (bucket, address, day).
ADDRESSES_SQL = """
SELECT bucket, address, DATE_TRUNC('day', p_event_time) AS day, COUNT(*) AS requests
FROM (
  SELECT bucket, remoteip AS address, p_event_time FROM panther_logs.public.aws_s3serveraccess
  WHERE remoteip IS NOT NULL AND operation NOT LIKE 'S3.%' AND p_occurs_since('{days} days')
  UNION ALL
  SELECT requestParameters:bucketName, sourceIPAddress, p_event_time FROM panther_logs.public.aws_cloudtrail
  WHERE eventSource = 's3.amazonaws.com' AND sourceIPAddress IS NOT NULL AND p_occurs_since('{days} days')
) AS requests
WHERE bucket IS NOT NULL
GROUP BY 1, 2, 3
"""


@dataclass
class Evidence:
    """What stands behind one proposed principal glob or network, for one bucket."""

    requests: int = 0
    days: set[str] = field(default_factory=set)
    members: set[str] = field(default_factory=set)  # sessions or addresses folded into it

    def add(self, requests: int, day: str, member: str) -> None:
        self.requests += requests
        self.days.add(day)
        self.members.add(member)


@dataclass
class Proposal:
    start: datetime
    end: datetime
    days: int
    min_days: int
    readers: dict[str, dict[str, Evidence]] = field(default_factory=dict)  # bucket -> glob -> evidence
    networks: dict[str, dict[str, Evidence]] = field(default_factory=dict)  # bucket -> cidr -> evidence

    def accepted(self, table: Mapping[str, Mapping[str, Evidence]]) -> dict[str, list[tuple[str, Evidence]]]:
        out = {}
        for bucket in sorted(table):
            entries = sorted(((k, e) for k, e in table[bucket].items() if len(e.days) >= self.min_days),
                             key=lambda item: (-item[1].requests, item[0]))
            if entries:
                out[bucket] = entries
        return out

    def short_of(self, table: Mapping[str, Mapping[str, Evidence]]) -> list[tuple[str, str, Evidence]]:
        rows = [(bucket, k, e) for bucket, items in table.items() for k, e in items.items()
                if len(e.days) < self.min_days]
        return sorted(rows, key=lambda row: (-row[2].requests, row[0], row[1]))


def principal_glob(arn: str) -> str:
    """A role session's ARN -> the role's sessions; any other principal as it is."""
    match = _ASSUMED_ROLE.match(arn)
    return f"{match.group(1)}/*" if match else arn


def network_of(address: str) -> str | None:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return None  # CloudTrail's AWS service names ("s3.amazonaws.com") are not addresses
    prefix = IPV4_PREFIX if ip.version == 4 else IPV6_PREFIX
    return str(ipaddress.ip_network(f"{ip}/{prefix}", strict=False))


def propose(executor: QueryExecutor, now: datetime, days: int = 7, min_days: int = 2) -> Proposal:
    proposal = Proposal(start=now - timedelta(days=days), end=now, days=days, min_days=min_days)
    for row in _run(executor, READERS_SQL, now, days):
        evidence = proposal.readers.setdefault(row["bucket"], defaultdict(Evidence))
        evidence[principal_glob(row["principal"])].add(int(row["requests"]), str(row["day"]), row["principal"])
    for row in _run(executor, ADDRESSES_SQL, now, days):
        network = network_of(str(row["address"]))
        if network is not None:
            evidence = proposal.networks.setdefault(row["bucket"], defaultdict(Evidence))
            evidence[network].add(int(row["requests"]), str(row["day"]), str(row["address"]))
    return proposal


def _run(executor: QueryExecutor, sql: str, now: datetime, days: int) -> list[dict[str, Any]]:
    return executor.run(transpile(sql.format(days=days), read="snowflake", write=executor.dialect, now=now))


# -- the snippet ---------------------------------------------------------------------------------
def render(proposal: Proposal) -> str:
    """The `detections:` snippet with the counts as comments (validated by `validate`)."""
    q = json.dumps  # JSON strings are YAML double-quoted scalars
    span = f"{proposal.start:%Y-%m-%dT%H:%MZ} .. {proposal.end:%Y-%m-%dT%H:%MZ}"
    lines = [f"# Proposed by `bucketwatch baseline` from {proposal.days} days of lake history ({span}):",
             f"# principals that read each bucket, and networks requests came from, on at least "
             f"{proposal.min_days} of those days.",
             "# Review before use: history can hold the very traffic these detections should catch.",
             "detections:"]
    readers, networks = proposal.accepted(proposal.readers), proposal.accepted(proposal.networks)

    def reader(glob: str, e: Evidence) -> str:
        sessions = f", {_count(len(e.members), 'session')}" if glob.endswith("/*") else ""
        return f"{e.requests:,} GetObject on {len(e.days)} of {proposal.days} days{sessions}"

    def network(cidr: str, e: Evidence) -> str:
        return (f"{_count(e.requests, 'request')} from {_count(len(e.members), 'address')} on {len(e.days)} of "
                f"{proposal.days} days")

    lines += _section("known_good_access", readers, lambda b: f"bucket: {q(b)}", "principals", reader)
    lines += _section("ip_allowlist", networks, lambda b: f"buckets: [{q(b)}]", "cidrs", network)
    if not readers and not networks:
        lines.append("  {}  # nothing seen on enough days")
    lines += _review(proposal)
    return "\n".join(lines) + "\n"


def _section(name: str, entries: Mapping[str, list[tuple[str, Evidence]]], head: Any, key: str,
             why: Any) -> list[str]:
    """One list of the snippet: per bucket, its values with the evidence as aligned comments."""
    if not entries:
        return []
    lines = [f"  {name}:"]
    for bucket, values in entries.items():
        lines += [f"    - {head(bucket)}", f"      {key}:"]
        width = max(len(json.dumps(value)) for value, _ in values)
        lines += [f"        - {json.dumps(value).ljust(width)}  # {why(value, e)}" for value, e in values]
    return lines


def _review(proposal: Proposal) -> list[str]:
    short = [("reader", *row) for row in proposal.short_of(proposal.readers)]
    short += [("network", *row) for row in proposal.short_of(proposal.networks)]
    if not short:
        return []
    lines = [f"# Seen on fewer than {proposal.min_days} days (not proposed):"]
    for kind, bucket, key, e in sorted(short, key=lambda row: -row[3].requests)[:MAX_REVIEW_LINES]:
        lines.append(f"#   {kind} {key} on {bucket}: {_count(e.requests, 'request')} on {_count(len(e.days), 'day')}")
    if len(short) > MAX_REVIEW_LINES:
        lines.append(f"#   ... and {len(short) - MAX_REVIEW_LINES} more")
    return lines


def _count(n: int, word: str) -> str:
    return f"{n:,} {word}" + ("" if n == 1 else "es" if word.endswith("s") else "s")


def validate(snippet: str) -> Any:
    """The snippet read back by the config loader (raises UserError if it were not valid)."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "baseline.yml"
        path.write_text(snippet, encoding="utf-8")
        return load_config(path).detections

