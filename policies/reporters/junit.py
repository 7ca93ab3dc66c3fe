"""JUnit XML: one test suite per policy, one test case per resource.

FAIL → <failure>; UNKNOWN, NOT_APPLICABLE and SUPPRESSED → <skipped> with the status and reason
in the message, so CI dashboards show them without failing the build on their own. Each test
case names the account and region it belongs to as properties, when known.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections import defaultdict
from collections.abc import Sequence

from policies.runner import FAIL, PASS, SUPPRESSED, Finding


def render_junit(findings: Sequence[Finding], threshold: str) -> str:
    by_policy: dict[str, list[Finding]] = defaultdict(list)
    for finding in findings:
        by_policy[finding.policy.id].append(finding)
    root = ET.Element("testsuites", name="bucketwatch posture", tests=str(len(findings)),
                      failures=str(sum(f.status == FAIL for f in findings)))
    for policy_id in sorted(by_policy):
        cases = by_policy[policy_id]
        suite = ET.SubElement(root, "testsuite", name=policy_id, tests=str(len(cases)),
                              failures=str(sum(f.status == FAIL for f in cases)),
                              skipped=str(sum(f.status not in (FAIL, PASS) for f in cases)))
        for finding in cases:
            case = ET.SubElement(suite, "testcase", classname=policy_id, name=finding.ref.id)
            if finding.ref.file:
                case.set("file", finding.ref.file)
            if finding.ref.line:
                case.set("line", str(finding.ref.line))
            located = [(k, v) for k, v in (("account_id", finding.ref.account), ("region", finding.ref.region)) if v]
            if located:
                properties = ET.SubElement(case, "properties")
                for name, value in located:
                    ET.SubElement(properties, "property", name=name, value=value)
            if finding.status == FAIL:
                failure = ET.SubElement(case, "failure", message=finding.reason, type=finding.severity)
                failure.text = " ".join(finding.policy.remediation.split())
            elif finding.status != PASS:
                message = f"{finding.status}: {finding.reason}"
                if finding.status == SUPPRESSED and finding.suppression:
                    message += f" (suppressed: {finding.suppression.reason})"
                ET.SubElement(case, "skipped", message=message)
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode")
