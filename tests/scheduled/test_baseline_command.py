"""`bucketwatch baseline`: known_good_access and ip_allowlist proposed from a week of both log
types, with the counts behind each entry; the snippet is a valid config that then alerts on the
newcomer only."""

from __future__ import annotations

import json
from datetime import timedelta

import yaml
from access_log_events import access_line, write_access_log
from cloudtrail_events import identity, s3_event, utc, write_trail_file

from bucketwatch.cli import main
from detectors.baseline.propose import network_of, principal_glob
from detectors.common.config_file import load_config

NOW = "2024-05-14T12:00:00Z"
API = "arn:aws:sts::111122223333:assumed-role/customer-api/i-0{n}"
ANALYST = identity("IAMUser", "analyst")


def history(root):
    """customer-api reads customer-data on 5 days from 10.0.1.x and 2001:db8:1:2::/64; the analyst
    reads finance-reports through CloudTrail on 2 days; an outsider once; errors and AWS services."""
    lines, records = [], []
    for day in (8, 9, 10, 12, 13):
        start = utc(f"2024-05-{day:02d}T10:00:00Z")
        for i in range(10):
            lines.append((start, access_line(start + timedelta(minutes=i), "customer-data", API.format(n=day),
                                             f"10.0.1.{i + 1}", key=f"c/{i}.json")))
        lines.append((start, access_line(start + timedelta(minutes=20), "customer-data", API.format(n=day),
                                         "2001:db8:1:2::5")))
        lines.append((start, access_line(start + timedelta(minutes=30), "customer-data", API.format(n=day),
                                         "10.0.1.9", status=403, error="AccessDenied")))
    outsider = utc("2024-05-11T03:00:00Z")
    lines.append((outsider, access_line(outsider, "customer-data", "arn:aws:iam::999988887777:user/x",
                                        "198.51.100.66")))
    write_access_log(root / "logs", "customer-data", lines, "2024-05-13-23-59-59-ABCDEF0123456789")
    for day in (9, 13):
        at = utc(f"2024-05-{day:02d}T15:00:00Z")
        records += [s3_event("GetObject", ANALYST, "finance-reports", f"q/{i}.pdf", at + timedelta(minutes=i),
                             ip="203.0.113.5", bytes_out=100) for i in range(3)]
        records.append(s3_event("GetObject", identity("AWSService", ""), "finance-reports", "x", at,
                                ip="athena.amazonaws.com"))
    write_trail_file(root / "logs", records, utc("2024-05-13T15:00:00Z"))
    assert main(["ingest", str(root / "logs"), "--lake", str(root / "lake")]) == 0


def test_globs_and_networks():
    assert principal_glob("arn:aws:sts::111122223333:assumed-role/app/i-0abc") == \
        "arn:aws:sts::111122223333:assumed-role/app/*"
    assert principal_glob("arn:aws:iam::111122223333:user/a") == "arn:aws:iam::111122223333:user/a"
    assert network_of("10.0.1.77") == "10.0.1.0/24" and network_of("2001:db8:1:2::5") == "2001:db8:1:2::/64"
    assert network_of("s3.amazonaws.com") is None


def test_proposal_from_a_week_of_history(tmp_path, capsys):
    history(tmp_path)
    out = tmp_path / "proposed.yml"
    assert main(["baseline", "--lake", str(tmp_path / "lake"), "--now", NOW, "--output", str(out)]) == 0
    text = out.read_text()
    data = yaml.safe_load(text)["detections"]
    assert data["known_good_access"] == [
        {"bucket": "customer-data", "principals": ["arn:aws:sts::111122223333:assumed-role/customer-api/*"]},
        {"bucket": "finance-reports", "principals": [ANALYST["arn"]]},
    ]
    assert data["ip_allowlist"] == [
        {"buckets": ["customer-data"], "cidrs": ["10.0.1.0/24", "2001:db8:1:2::/64"]},
        {"buckets": ["finance-reports"], "cidrs": ["203.0.113.0/24"]},
    ]
    # The counts behind each entry, computed from the generator: 5 days x 11 successful reads.
    assert '"arn:aws:sts::111122223333:assumed-role/customer-api/*"  # 55 GetObject on 5 of 7 days, 5 sessions' \
        in text
    assert "# 6 GetObject on 2 of 7 days" in text
    assert "# 55 requests from 10 addresses on 5 of 7 days" in text  # 50 reads + 5 denied, from 10.0.1.1-10
    assert "#   reader arn:aws:iam::999988887777:user/x on customer-data: 1 request on 1 day" in text
    assert "athena" not in text
    settings = load_config(out).detections
    assert [e.bucket for e in settings.known_good_access] == ["customer-data", "finance-reports"]

    # The proposal in use: the customer-api role is known; the outsider is not.
    today = utc("2024-05-14T09:00:00Z")
    write_access_log(tmp_path / "today", "customer-data", [
        (today, access_line(today, "customer-data", API.format(n=14), "10.0.1.3")),
        (today, access_line(today + timedelta(minutes=1), "customer-data", "arn:aws:iam::999988887777:user/x",
                            "198.51.100.66")),
    ], "2024-05-14-10-00-00-ABCDEF0123456790")
    assert main(["detect", str(tmp_path / "today"), "--config", str(out), "--no-lake",
                 "--alerts", str(tmp_path / "alerts.jsonl"), "-q"]) == 0
    alerts = [json.loads(line) for line in (tmp_path / "alerts.jsonl").read_text().splitlines()]
    unknown = [a for a in alerts if a["rule_id"] == "AWS.S3.ServerAccess.UnknownRequester"]
    outside = [a for a in alerts if a["rule_id"] == "AWS.S3.ServerAccess.IPWhitelist"]
    assert [a["context"]["principal"] for a in unknown] == ["arn:aws:iam::999988887777:user/x"]
    assert len(outside) == 1 and "198.51.100.66" in json.dumps(outside[0]["context"])
    assert not any(API.format(n=14) in json.dumps(a["context"]) for a in alerts)


def test_empty_lake_and_bad_arguments(tmp_path, capsys):
    assert main(["baseline", "--lake", str(tmp_path / "none"), "--now", NOW]) == 0
    out = capsys.readouterr().out
    assert "nothing seen on enough days" in out
    assert main(["baseline", "--lake", str(tmp_path), "--days", "3", "--min-days", "4"]) == 2
    assert "--min-days between 1 and --days" in capsys.readouterr().err
