"""Routing alerts to named destinations: the config file's `alerts:` section, rules' destinations(),
`detect` / `schedule run` writing each destination's file, and SNS topics per destination."""

from __future__ import annotations

import json

import boto3
import pytest
from cloudtrail_events import utc, write_trail_file
from technique_events import backdoor_policy, individual_deletion

from bucketwatch.cli import main
from detectors.common.config_file import load_config
from detectors.common.errors import UserError
from detectors.engine.routing import Destination, Routing, parse_alerts
from detectors.engine.sinks import SNSSink

T0 = utc("2024-05-14T10:00:00Z")
ROUTING = Routing((Destination("pager", "High"), Destination("secops", "Medium"), Destination("dlp-team")))


@pytest.mark.parametrize(("section", "message"), [
    ("alerts:\n  destinations: pager\n", "alerts.destinations: expected a list, got str"),
    ("alerts:\n  destinations: [{name: Pager}]\n", "alerts.destinations[0].name: expected 1-40 lower-case letters"),
    ("alerts:\n  destinations: [{name: skip}]\n", "alerts.destinations[0].name: expected 1-40"),
    ("alerts:\n  destinations: [{name: a, min_severity: urgent}]\n",
     "alerts.destinations[0].min_severity: severity must be one of info, low, medium, high, critical"),
    ("alerts:\n  destinations: [{name: a}, {name: a}]\n", "alerts.destinations[1].name: 'a' is listed twice (also at [0])"),
    ("alerts:\n  destinations: [{name: a, topic: x}]\n", "alerts.destinations[0]: unknown key(s) topic"),
    ("alerts:\n  routes: []\n", "alerts: unknown key(s) routes"),
])
def test_bad_routing_is_one_line_naming_the_key(tmp_path, section, message):
    path = tmp_path / "c.yml"
    path.write_text(section)
    with pytest.raises(UserError) as info:
        load_config(path)
    assert message in str(info.value) and "\n" not in str(info.value)


def test_routing_by_severity_and_by_the_rule():
    assert ROUTING.route("Critical", None) == (["pager", "secops"], [])
    assert ROUTING.route("Medium", None) == (["secops"], [])
    assert ROUTING.route("Low", None) == ([], [])
    assert ROUTING.route("Low", ["dlp-team"]) == (["dlp-team"], [])  # the rule's choice replaces severity routing
    assert ROUTING.route("High", ["SKIP"]) == ([], [])
    names, problems = ROUTING.route("High", ["dlp-tema"])  # a typo: routed by severity, and said so
    assert names == ["pager", "secops"] and problems == ["the rule named destination(s) that are not configured: dlp-tema"]
    assert parse_alerts(None) == Routing()


PACK_RULE = '''
def rule(event):
    return event.get("eventName") == "PutBucketPolicy"

def title(event):
    return "policy of " + event.deep_get("requestParameters", "bucketName")

def destinations(event):
    bucket = event.deep_get("requestParameters", "bucketName")
    return {"payroll": ["dlp-team"], "scratch": ["SKIP"], "typo": ["dlp-tema"]}.get(bucket)
'''


def test_detect_routes_alerts_to_destination_files(tmp_path, capsys):
    pack = tmp_path / "pack"
    pack.mkdir()
    (pack / "policy_watch.py").write_text(PACK_RULE)
    (pack / "policy_watch.yml").write_text("AnalysisType: rule\nFilename: policy_watch.py\nRuleID: Acme.PolicyWatch\n"
                                           "LogTypes: [AWS.CloudTrail]\nSeverity: Low\n")
    (tmp_path / "bw.yml").write_text(
        "alerts:\n  destinations:\n"
        f"    - {{name: pager, min_severity: High, file: {tmp_path / 'pager.jsonl'}}}\n"
        f"    - {{name: dlp-team, file: {tmp_path / 'dlp.jsonl'}}}\n")
    records = [*backdoor_policy("payroll", T0), *backdoor_policy("scratch", T0), *backdoor_policy("typo", T0),
               *backdoor_policy("web", T0)]
    write_trail_file(tmp_path / "logs", records, T0)
    code = main(["detect", str(tmp_path / "logs"), "--no-lake", "--rules", str(pack), "--config",
                 str(tmp_path / "bw.yml"), "--alerts", str(tmp_path / "all.jsonl")])
    out = capsys.readouterr()
    every = [json.loads(line) for line in (tmp_path / "all.jsonl").read_text().splitlines()]
    routed = {(a["rule_id"], a["dedup"]): a["destinations"] for a in every}
    assert code == 0
    assert routed[("Acme.PolicyWatch", "policy of payroll")] == ["dlp-team"]
    assert routed[("Acme.PolicyWatch", "policy of scratch")] == []  # SKIP: in --alerts, no destination
    assert routed[("Acme.PolicyWatch", "policy of web")] == []  # Low: below every min_severity
    assert routed[("Acme.PolicyWatch", "policy of typo")] == []  # unknown name: by severity, Low reaches none
    # The external-grant rule (Medium, organization unknown) reaches no destination; nothing is High.
    dlp = [json.loads(line)["dedup"] for line in (tmp_path / "dlp.jsonl").read_text().splitlines()]
    assert dlp == ["policy of payroll"] and not (tmp_path / "pager.jsonl").exists()
    assert "warning: rule Acme.PolicyWatch: the rule named destination(s) that are not configured: dlp-tema" in out.err
    assert ", to dlp-team" in out.out


def test_schedule_run_routes_correlation_alerts(tmp_path):
    (tmp_path / "bw.yml").write_text(
        f"alerts:\n  destinations:\n    - {{name: pager, min_severity: High, file: {tmp_path / 'pager.jsonl'}}}\n")
    write_trail_file(tmp_path / "logs", individual_deletion("victim-bucket", T0), T0)
    assert main(["detect", str(tmp_path / "logs"), "--lake", str(tmp_path / "lake"), "--state",
                 str(tmp_path / "s.sqlite"), "-q", "--config", str(tmp_path / "bw.yml")]) == 0
    assert not (tmp_path / "pager.jsonl").exists()  # detect raised Medium and Info only
    assert main(["schedule", "run", "--lake", str(tmp_path / "lake"), "--state", str(tmp_path / "s.sqlite"), "-q",
                 "--now", "2024-05-14T10:30:00Z", "--config", str(tmp_path / "bw.yml")]) == 0
    pager = [json.loads(line) for line in (tmp_path / "pager.jsonl").read_text().splitlines()]
    assert [a["rule_id"] for a in pager] == ["Bucketwatch.S3.BulkDeletionThenUpload"]
    events = pager[0]["samples"][0]["events"]  # the events behind the correlation (at most two per step)
    assert [(e["step"], e["eventName"]) for e in events] == [("Mass Deletion", "DeleteObject"), ("Upload", "PutObject")]
    assert events[1]["requestParameters"]["key"] == "FILES-DELETED.txt"
    assert pager[0]["runbook"] and pager[0]["context"]["first_seen"] < pager[0]["context"]["last_seen"]


def test_sns_sink_publishes_to_each_routed_destination_topic(aws_endpoint, caplog):
    sns = boto3.client("sns", region_name="us-east-1")
    sqs = boto3.client("sqs", region_name="us-east-1")
    inboxes = {}
    topics = {}
    for name in ("alerts", "pager", "secops"):
        topics[name] = sns.create_topic(Name=f"bucketwatch-{name}")["TopicArn"]
        url = sqs.create_queue(QueueName=f"{name}-inbox")["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        sns.subscribe(TopicArn=topics[name], Protocol="sqs", Endpoint=arn)
        inboxes[name] = url
    base = {"kind": "detection", "status": "created", "rule_id": "R", "title": "t", "dedup": "d",
            "first_seen": "2024-05-14T10:00:00Z", "last_seen": "2024-05-14T10:00:00Z", "event_count": 1,
            "samples": [], "context": {}}
    alerts = [ROUTING.annotate({**base, "alert_id": "high", "severity": "High"}),
              ROUTING.annotate({**base, "alert_id": "medium", "severity": "Medium"}),
              ROUTING.annotate({**base, "alert_id": "dlp", "severity": "Low", "rule_destinations": ["dlp-team"]})]
    sink = SNSSink(topics["alerts"], sns, {"pager": topics["pager"], "secops": topics["secops"]})
    assert sink.emit(alerts) == 3

    def received(name):
        messages = sqs.receive_message(QueueUrl=inboxes[name], MaxNumberOfMessages=10, WaitTimeSeconds=1)
        return sorted(json.loads(json.loads(m["Body"])["Message"])["alert_id"] for m in messages.get("Messages", []))

    assert received("alerts") == ["dlp", "high", "medium"]  # the alerts topic gets everything
    assert received("pager") == ["high"] and received("secops") == ["high", "medium"]
    assert "routed to destination 'dlp-team', which has no topic" in caplog.text
