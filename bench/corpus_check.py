"""Corpus run: `bucketwatch check` over every template of public template collections.

Reads a directory of CloudFormation templates given on the command line (e.g. checkov's
`tests/cloudformation` fixtures and awslabs' aws-cloudformation-templates, fetched elsewhere;
nothing of them is committed here) and runs the template source, the runner and all four
reporters on each file on its own, as `bucketwatch check FILE` would. Prints:

- templates checked, templates refused with a one-line error (exit 2) and crashes (any other
  exception: a traceback a user would see);
- verdicts by status, and UNKNOWN verdicts by reason class: the deploy-time classes (a value
  only known at deploy time decides) and the classes that are not (which should stay at 0);
- bucket fields fed by properties a macro fills at deploy time (Fn::Transform), and how many of
  them the template source treated as known anyway (must be 0: no PASS on what it cannot see).

    .venv/bin/python bench/corpus_check.py /tmp/corpus [--pack strict] [--show CLASS]
"""

from __future__ import annotations

import argparse
import re
import sys
import traceback
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from detectors.common.errors import UserError
from policies.config import PostureSettings
from policies.registry import load_policies
from policies.reporters import FORMATS, render
from policies.runner import evaluate
from policies.sources.cfn_load import TEMPLATE_SUFFIXES, parse_text
from policies.sources.cfn_resources import BUCKET_PROPERTY_FIELDS
from policies.sources.template import collect_template_subjects

# Reason class -> pattern; the first that matches names the class. "deploy-time" classes are the
# ones where a value only known at deploy time (or a resource outside the given templates) decides.
REASON_CLASSES: list[tuple[str, str, bool]] = [
    ("condition (Fn::If / Condition on a deploy-time value)", r"depends on|condition \S+ is|on condition", True),
    ("parameter given at deploy time", r"parameter \S+ is given at deploy time|parameter \S+ \(", True),
    ("pseudo parameter (account, region, stack)", r"pseudo parameter|AWS::Region|AWS::AccountId|account is only known"
     r"|own account id is not known", True),
    ("import from another stack", r"comes from another stack", True),
    ("deploy-time function (GetAZs, Transform, ...)", r"only evaluated at deploy time|Fn::Transform|AWS::Include", True),
    ("resource outside the templates (trail, log target, bucket)", r"not visible at synth time|not defined in the "
     r"checked templates|defined outside|organization trail", True),
    ("CloudFront OAI owner not named", r"origin access identity", True),
    ("malformed template value", r"malformed|unexpected shape|not a string|not a JSON|not a policy document|"
     r"does not define|not defined$|not Boolean|unknown canned ACL", False),
    ("policy raised (a bug)", r"policy raised", False),
]


def reason_class(reason: str) -> tuple[str, bool]:
    for name, pattern, deploy_time in REASON_CLASSES:
        if re.search(pattern, reason):
            return name, deploy_time
    return "other", False


def templates(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file() and p.suffix in TEMPLATE_SUFFIXES)


def has_unseen_properties(raw: object) -> bool:
    """Properties CloudFormation fills in at deploy time (Fn::Transform / AWS::Include)."""
    if isinstance(raw, dict):
        return "Fn::Transform" in raw or any(has_unseen_properties(v) for v in raw.values())
    if isinstance(raw, list):
        return any(has_unseen_properties(v) for v in raw)
    return False


def unseen_but_known(body: dict, subjects: list) -> tuple[int, list[str]]:
    """(bucket fields fed by a property a macro fills at deploy time, those of them the source
    nevertheless treated as known): the second must be empty, or a policy could PASS on them."""
    raw = body.get("Resources") or {}
    count, wrong = 0, []
    for subject in subjects:
        resource = raw.get(subject.ref.logical_id)
        props = resource.get("Properties") if isinstance(resource, dict) else None
        if subject.resource.get("ResourceType") != "AWS.S3.Bucket" or not isinstance(props, dict):
            continue
        whole = "Fn::Transform" in props
        for field, (keys, _) in BUCKET_PROPERTY_FIELDS.items():
            if whole or any(has_unseen_properties(props.get(key)) for key in keys):
                count += 1
                known = [facts for facts, bucket in subject.worlds() if field not in bucket["Unknown"]]
                if known:
                    wrong.append(f"{subject.ref.logical_id} {field}")
    return count, wrong


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("root", type=Path, help="directory holding the fetched template collections")
    parser.add_argument("--pack", default="strict", help="policy pack to run (default: strict, every policy)")
    parser.add_argument("--show", action="append", default=[], help="print the reasons of this UNKNOWN class")
    parser.add_argument("--show-errors", action="store_true", help="print each exit-2 message")
    args = parser.parse_args()
    settings = PostureSettings()
    if hasattr(settings, "pack"):
        settings.pack = args.pack
    policies = load_policies()
    files = templates(args.root)
    statuses: Counter[str] = Counter()
    classes: Counter[tuple[str, bool]] = Counter()
    examples: dict[str, list[str]] = {}
    refused: list[str] = []
    crashes: list[str] = []
    unseen_pass: list[str] = []
    checked = buckets = unseen_judged = 0
    for path in files:
        try:
            subjects = collect_template_subjects([path], settings)
            findings = evaluate(policies, subjects, settings)
            for fmt in FORMATS:
                render(fmt, findings, "info")
        except UserError as exc:
            if "not a CloudFormation template" in str(exc) or "no Resources mapping" in str(exc):
                continue  # parameter files, checkov's other fixtures: not templates
            refused.append(f"{path}: {exc}")
            continue
        except Exception:  # a crash is what this run counts
            crashes.append(f"{path}:\n{traceback.format_exc()}")
            continue
        checked += 1
        buckets += sum(s.resource.get("ResourceType") == "AWS.S3.Bucket" for s in subjects)
        body = parse_text(path.read_text(encoding="utf-8-sig"), path)
        unseen_fields, seen_as_known = unseen_but_known(body, subjects)
        unseen_judged += unseen_fields
        unseen_pass.extend(f"{path}: {what}" for what in seen_as_known)
        for finding in findings:
            statuses[finding.verdict] += 1
            if finding.verdict == "UNKNOWN":
                key = reason_class(finding.reason)
                classes[key] += 1
                examples.setdefault(key[0], []).append(f"{path.name}:{finding.ref.logical_id}:{finding.policy.id}: "
                                                       f"{finding.reason}")
    print(f"templates: {len(files)} files, {checked} checked, {len(refused)} refused (exit 2), {len(crashes)} crashes")
    print(f"resources judged: {buckets} buckets; verdicts: " + ", ".join(f"{k} {v}" for k, v in sorted(statuses.items())))
    print("UNKNOWN by reason class:")
    for (name, deploy_time), count in sorted(classes.items(), key=lambda kv: -kv[1]):
        print(f"  {count:6d}  {'deploy-time' if deploy_time else 'NOT deploy-time'}  {name}")
    print(f"bucket fields a macro fills at deploy time (Fn::Transform in their properties): {unseen_judged}, "
          f"treated as known (a PASS could follow): {len(unseen_pass)}")
    for line in unseen_pass[:20]:
        print("  " + line)
    for name in args.show:
        print(f"--- {name}")
        for line in sorted(set(examples.get(name, [])))[:200]:
            print("  " + line)
    if args.show_errors:
        print("--- refused")
        for line in refused:
            print("  " + line)
    for crash in crashes[:10]:
        print("--- crash\n" + crash)
    return 1 if crashes or unseen_pass else 0


if __name__ == "__main__":
    sys.exit(main())
