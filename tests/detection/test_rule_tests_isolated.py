"""A rule's YAML tests judge the rule with its default settings, whatever config is active."""

from __future__ import annotations

from bucketwatch.analysis_runner import run_rule_test
from detectors.config import activated, active, parse_detections
from detectors.engine.rules import load_rules


def test_rule_tests_ignore_a_config_left_active_by_a_detect_run() -> None:
    rules = {rule.id: rule for rule in load_rules([], include_builtin=True)}
    allowlist_rule = rules["AWS.S3.ServerAccess.IPWhitelist"]
    # Everything allowed: under this config no request is outside the allowlist.
    permissive = parse_detections({"ip_allowlist": [{"cidrs": ["0.0.0.0/0", "::/0"]}]})
    with activated(permissive):
        results = [run_rule_test(allowlist_rule, test) for test in allowlist_rule.tests]
        assert active() is permissive, "running a test must restore the active settings"
    assert any(test["ExpectedResult"] for test in allowlist_rule.tests)
    assert all(ok for ok, _ in results), [why for ok, why in results if not ok]
