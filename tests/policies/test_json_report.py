"""The JSON report encodes each result as `json.dumps(finding.to_dict())` would, byte for byte,
though it encodes the parts findings share (policy, resource) once."""

from __future__ import annotations

import json
from pathlib import Path

from policies.config import PostureSettings, Suppression
from policies.registry import load_policies
from policies.reporters.json_report import render_json
from policies.runner import FAIL, PASS, SUPPRESSED, UNKNOWN, Finding, ResourceRef, evaluate
from policies.sources.template import collect_template_subjects

TEMPLATES = Path(__file__).parent / "templates"


def _results(findings: list[Finding]) -> list[str]:
    text = render_json(findings, "high")
    body = text[text.index('"results": [\n') + len('"results": [\n'):text.index("\n ],\n")]
    return [line.strip().removesuffix(",") for line in body.split("\n")] if findings else []


def test_every_template_result_is_the_plain_encoding() -> None:
    settings = PostureSettings(suppressions=[Suppression(policy="BW.S3.*", resource="*AccessLogs*", reason="logs")])
    policies = load_policies([])
    findings = evaluate(policies, collect_template_subjects([TEMPLATES / "secure.json", TEMPLATES / "cross_stack"],
                                                           settings), settings)
    assert {f.status for f in findings} >= {PASS, FAIL, SUPPRESSED}
    assert _results(findings) == [json.dumps(f.to_dict()) for f in findings]


def test_fields_that_vary_per_finding_are_encoded_per_finding() -> None:
    policy = next(p for p in load_policies([]) if p.remediation)
    live = ResourceRef(id="arn:aws:s3:::données", source="live", name="données", arn="arn:aws:s3:::données",
                       region="eu-west-3", account="123456789012")
    other = ResourceRef(id="Stack/Bucket", source="template", logical_id="Bucket", file="t.json", line=4)
    findings = [
        Finding(policy, live, FAIL, 'policy says "*" — anyone', verdict=FAIL),
        Finding(policy, live, UNKNOWN, "Policy: not readable", verdict=UNKNOWN, resource_type="AWS.S3.Bucket"),
        Finding(policy, other, PASS, "", verdict=PASS),
        Finding(policy, other, SUPPRESSED, "no logging", verdict=FAIL,
                suppression=Suppression(policy=policy.id, resource="Stack/*", reason="ticket 7", origin="config")),
    ]
    results = _results(findings)
    assert results == [json.dumps(f.to_dict()) for f in findings]
    assert json.loads(results[0])["remediation"] == policy.remediation  # a FAIL verdict names the fix
    assert json.loads(results[1])["remediation"] is None
    assert json.loads(results[3])["suppression"]["reason"] == "ticket 7"
