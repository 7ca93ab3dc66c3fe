"""JUnit XML: one test suite per policy, one test case per resource.

FAIL → <failure>; UNKNOWN, NOT_APPLICABLE and SUPPRESSED → <skipped> with the status and reason
in the message, so CI dashboards show them without failing the build on their own. Each test
case names the account and region it belongs to as properties, when known. Suppressions with a
problem (unused, expired, naming no policy) are test cases of a `bucketwatch.suppressions` suite,
skipped with the problem as message.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections import defaultdict
from collections.abc import Sequence

from policies.config import Suppression
from policies.runner import FAIL, PASS, SUPPRESSED, Finding, SuppressionUse

SUPPRESSIONS_SUITE = "bucketwatch.suppressions"


def render_junit(findings: Sequence[Finding], threshold: str, suppressions: Sequence[SuppressionUse] = ()) -> str:
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
                    message += f" (suppressed: {finding.suppression.reason}{_owner(finding.suppression)})"
                ET.SubElement(case, "skipped", message=message)
    _suppression_suite(root, suppressions)
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode")


def _owner(suppression: Suppression) -> str:
    parts = [f"owner {suppression.owner}" if suppression.owner else "",
             f"expires {suppression.expires.isoformat()}" if suppression.expires else ""]
    return "".join(f"; {part}" for part in parts if part)


def _suppression_suite(root: ET.Element, suppressions: Sequence[SuppressionUse]) -> None:
    problems = [use for use in suppressions if use.problem]
    if not problems:
        return
    suite = ET.SubElement(root, "testsuite", name=SUPPRESSIONS_SUITE, tests=str(len(problems)), failures="0",
                          skipped=str(len(problems)))
    for use in problems:
        case = ET.SubElement(suite, "testcase", classname=SUPPRESSIONS_SUITE,
                             name=f"{use.suppression.policy} @ {use.suppression.where or use.suppression.resource}")
        ET.SubElement(case, "skipped", message=f"suppression {use.problem} ({use.suppression.origin}: "
                                               f"{use.suppression.reason}{_owner(use.suppression)})")
