"""Validation of the `detections:` config section: typed settings, errors naming the key."""

from __future__ import annotations

import ipaddress

import pytest

from bucketwatch.cli import main
from detectors.common.errors import UserError
from detectors.config import IP_ALLOWLIST_RULE, KNOWN_GOOD_RULE, load_detection_settings, parse_detections


def test_valid_section_becomes_typed_settings():
    settings = parse_detections({
        "known_good_access": [{"bucket": "fin-*", "principals": ["arn:aws:sts::*:assumed-role/etl/*"]}],
        "ip_allowlist": [{"cidrs": ["10.0.0.0/8", "2001:db8::/32"], "buckets": ["fin-*"]}],
        "rules": {"AWS.S3.ServerAccess.Error": {"threshold": 10, "severity": "high", "dedup_period_minutes": 5}},
    })
    assert settings.known_good_access[0].principals == ("arn:aws:sts::*:assumed-role/etl/*",)
    assert settings.ip_allowlist[0].cidrs[1] == ipaddress.ip_network("2001:db8::/32")
    override = settings.rules["AWS.S3.ServerAccess.Error"]
    assert (override.threshold, override.severity, override.dedup_period_minutes) == (10, "High", 5)
    # Configuring the tutorial lists turns their rules on.
    assert settings.rules[KNOWN_GOOD_RULE].enabled and settings.rules[IP_ALLOWLIST_RULE].enabled


def test_empty_section_keeps_examples_and_rules_off():
    settings = parse_detections(None)
    assert settings.rules == {}
    assert settings.known_good_access[0].bucket == "panther-bootstrap-processeddata-*"


@pytest.mark.parametrize(("section", "message"), [
    ({"ip_allowlist": [{"cidrs": ["10.0.0.300/8"]}]}, "detections.ip_allowlist[0].cidrs[0]: '10.0.0.300/8' is not an IP network"),
    ({"ip_allowlist": [{"cidrs": []}]}, "detections.ip_allowlist[0].cidrs: must list at least one value"),
    ({"ip_allowlist": {"cidrs": ["10.0.0.0/8"]}}, "detections.ip_allowlist: expected a list"),
    ({"known_good_access": [{"bucket": "b"}]}, "detections.known_good_access[0].principals: expected a list"),
    ({"known_good_access": [{"bucket": "", "principals": ["x"]}]}, "detections.known_good_access[0].bucket: expected a non-empty string"),
    ({"known_good_access": [{"bucket": "b", "principals": ["x"], "role": "y"}]}, "detections.known_good_access[0]: unknown key(s) role"),
    ({"rules": {"X": {"threshold": 0}}}, "detections.rules.X.threshold: expected a whole number of at least 1"),
    ({"rules": {"X": {"threshold": "5"}}}, "detections.rules.X.threshold"),
    ({"rules": {"X": {"severity": "urgent"}}}, "detections.rules.X.severity: severity must be one of"),
    ({"rules": {"X": {"enabled": "yes"}}}, "detections.rules.X.enabled: expected true or false"),
    ({"alerts": {}}, "detections: unknown key(s) alerts"),
    ({"cloudtrail_buckets": "audit-logs"}, "detections.cloudtrail_buckets: expected a list"),
    ({"cloudtrail_buckets": ["Audit_Logs"]}, "detections.cloudtrail_buckets[0]: expected an S3 bucket name"),
])
def test_bad_values_are_named(section, message):
    with pytest.raises(UserError) as info:
        parse_detections(section)
    assert message in str(info.value)


def test_detect_reports_bad_config_in_one_line(tmp_path, capsys):
    config = tmp_path / "bw.yml"
    config.write_text("detections:\n  ip_allowlist:\n    - cidrs: [banana]\n")
    log = tmp_path / "empty.log"
    log.write_text("")
    code = main(["detect", str(log), "--config", str(config), "--no-lake"])
    err = capsys.readouterr().err
    assert code == 2
    assert "bucketwatch detect: error: detections.ip_allowlist[0].cidrs[0]: 'banana' is not an IP network" in err
    assert "Traceback" not in err


def test_trail_buckets_from_config_and_the_deployed_stack(tmp_path, monkeypatch):
    config = tmp_path / "bw.yml"
    config.write_text("detections:\n  cloudtrail_buckets: [audit-logs, org-trail-logs]\n")
    monkeypatch.setenv("BUCKETWATCH_TRAIL_BUCKETS", '["stack-trail-111122223333", "audit-logs"]')
    assert load_detection_settings(str(config)).cloudtrail_buckets == (
        "audit-logs", "org-trail-logs", "stack-trail-111122223333")


@pytest.mark.parametrize(("value", "message"), [
    ("audit-logs", "BUCKETWATCH_TRAIL_BUCKETS: expected a JSON list of bucket names, got 'audit-logs'"),
    ('["ok-bucket", "x"]', "BUCKETWATCH_TRAIL_BUCKETS[1]: expected an S3 bucket name"),
])
def test_a_bad_trail_bucket_variable_is_one_line(tmp_path, monkeypatch, capsys, value, message):
    monkeypatch.setenv("BUCKETWATCH_TRAIL_BUCKETS", value)
    log = tmp_path / "empty.log"
    log.write_text("")
    assert main(["detect", str(log), "--no-lake"]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
