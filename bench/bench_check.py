"""Benchmark: `bucketwatch check` vs checkov's own S3 checks over a generated cdk.out.

Generates a cdk.out-like cloud assembly (manifest.json + one template per stack) holding
--buckets buckets, each with a bucket policy, in the shapes CDK synthesizes (a mix of good and
bad settings, aws:cdk:path metadata, Fn::GetAtt / Fn::Join intrinsics). Then times, in one
run, wall clock for each CLI as a user would start it:

    bucketwatch check DIR --format json
    checkov -d DIR --framework cloudformation --check <every built-in S3 bucket/bucket-policy check>

and prints both and the ratio (goal: bucketwatch at least 10x faster).

    .venv/bin/python bench/bench_check.py [--buckets 1000] [--stacks 10] [--repeat 2]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BIN = Path(sys.executable).parent
ENV = {**os.environ, "BC_SKIP_MAPPING": "TRUE", "CKV_SKIP_PACKAGE_UPDATE_CHECK": "true", "LOG_LEVEL": "ERROR"}


def bucket_resources(stack: str, index: int) -> dict[str, dict]:
    """One bucket and its policy, varied by `index` so every policy sees passes and failures."""
    logical = f"Bucket{index:04d}A1B2C3D4"
    props: dict = {"Tags": [{"Key": "team", "Value": f"team-{index % 7}"}]}
    if index % 2 == 0:
        props["BucketEncryption"] = {"ServerSideEncryptionConfiguration": [{"ServerSideEncryptionByDefault": {
            "SSEAlgorithm": "aws:kms", "KMSMasterKeyID": {"Fn::GetAtt": ["DataKey", "Arn"]}}}]}
    if index % 3 != 0:
        props["VersioningConfiguration"] = {"Status": "Enabled" if index % 5 else "Suspended"}
    if index % 4 != 1:
        props["PublicAccessBlockConfiguration"] = {k: index % 9 != 0 for k in (
            "BlockPublicAcls", "BlockPublicPolicy", "IgnorePublicAcls", "RestrictPublicBuckets")}
    if index % 3 == 1:
        props["LoggingConfiguration"] = {"DestinationBucketName": {"Ref": "AccessLogs"}, "LogFilePrefix": f"{logical}/"}
    if index % 6 == 0:
        props["LifecycleConfiguration"] = {"Rules": [{"Id": "expire", "Status": "Enabled", "ExpirationInDays": 365}]}
    arn = {"Fn::GetAtt": [logical, "Arn"]}
    statements = [{"Effect": "Allow", "Principal": {"AWS": {"Fn::Join": ["", [
        "arn:", {"Ref": "AWS::Partition"}, ":iam::", {"Ref": "AWS::AccountId"}, ":root"]]}},
        "Action": ["s3:GetObject*", "s3:List*"], "Resource": [arn, {"Fn::Join": ["", [arn, "/*"]]}]}]
    if index % 2:
        statements.insert(0, {"Effect": "Deny", "Principal": {"AWS": "*"}, "Action": "s3:*",
                              "Resource": [arn, {"Fn::Join": ["", [arn, "/*"]]}],
                              "Condition": {"Bool": {"aws:SecureTransport": "false"}}})
    return {
        logical: {"Type": "AWS::S3::Bucket", "Properties": props, "UpdateReplacePolicy": "Retain",
                  "DeletionPolicy": "Retain", "Metadata": {"aws:cdk:path": f"{stack}/Bucket{index}/Resource"}},
        f"Bucket{index:04d}Policy9F8E7D6C": {
            "Type": "AWS::S3::BucketPolicy",
            "Properties": {"Bucket": {"Ref": logical}, "PolicyDocument": {"Version": "2012-10-17", "Statement": statements}},
            "Metadata": {"aws:cdk:path": f"{stack}/Bucket{index}/Policy/Resource"}},
    }


def generate(directory: Path, buckets: int, stacks: int) -> None:
    artifacts = {}
    per_stack = -(-buckets // stacks)
    for s in range(stacks):
        stack = f"Workload{s:02d}"
        resources = {
            "AccessLogs": {"Type": "AWS::S3::Bucket", "Properties": {"VersioningConfiguration": {"Status": "Enabled"}},
                           "Metadata": {"aws:cdk:path": f"{stack}/AccessLogs/Resource"}},
            "DataKey": {"Type": "AWS::KMS::Key", "Properties": {"EnableKeyRotation": True, "KeyPolicy": {
                "Version": "2012-10-17", "Statement": []}}, "Metadata": {"aws:cdk:path": f"{stack}/DataKey/Resource"}},
        }
        for i in range(s * per_stack, min(buckets, (s + 1) * per_stack)):
            resources.update(bucket_resources(stack, i))
        template = {"Resources": resources, "Parameters": {"BootstrapVersion": {
            "Type": "AWS::SSM::Parameter::Value<String>", "Default": "/cdk-bootstrap/hnb659fds/version"}}}
        (directory / f"{stack}.template.json").write_text(json.dumps(template, indent=1))
        artifacts[stack] = {"type": "aws:cloudformation:stack", "environment": "aws://unknown-account/unknown-region",
                            "properties": {"templateFile": f"{stack}.template.json"}, "displayName": stack}
    (directory / "manifest.json").write_text(json.dumps({"version": "36.0.0", "artifacts": artifacts}, indent=1))


def checkov_s3_check_ids() -> list[str]:
    """checkov's built-in CloudFormation checks for S3 buckets and bucket policies."""
    code = ("from checkov.cloudformation.checks.resource.registry import cfn_registry as r\n"
            "import checkov.cloudformation.checks.resource.aws  # noqa\n"
            "ids = sorted({c.id for t in ('AWS::S3::Bucket', 'AWS::S3::BucketPolicy') for c in r.checks.get(t, [])})\n"
            "print(','.join(ids))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=ENV, check=True).stdout
    return out.strip().split(",")


def timed(command: list[str], repeat: int) -> tuple[float, subprocess.CompletedProcess]:
    best, result = float("inf"), None
    for _ in range(repeat):
        start = time.perf_counter()
        result = subprocess.run(command, capture_output=True, text=True, env=ENV, check=False)
        best = min(best, time.perf_counter() - start)
    return best, result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--buckets", type=int, default=1000)
    parser.add_argument("--stacks", type=int, default=10)
    parser.add_argument("--repeat", type=int, default=2, help="runs per tool; the best wall time counts")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="bw-bench-check-"))
    try:
        assembly = workdir / "cdk.out"
        assembly.mkdir()
        generate(assembly, args.buckets, args.stacks)
        ids = checkov_s3_check_ids()
        ours_s, ours = timed([str(BIN / "bucketwatch"), "check", str(assembly), "--format", "json"], args.repeat)
        theirs_s, theirs = timed([str(BIN / "checkov"), "-d", str(assembly), "--framework", "cloudformation",
                                  "--check", ",".join(ids), "-o", "json", "--compact"], args.repeat)
        if ours.returncode not in (0, 1) or theirs.returncode not in (0, 1):
            print(ours.stderr[-1000:], theirs.stderr[-1000:], file=sys.stderr)
            return 1
        summary = json.loads(ours.stdout)["summary"]
        checkov_summary = json.loads(theirs.stdout)["summary"]
        print(f"buckets: {args.buckets} (+{args.buckets} bucket policies) in {args.stacks} stacks")
        print(f"bucketwatch check: {ours_s:.2f} s  ({summary['results']} verdicts, {summary['policies']} policies)")
        print(f"checkov ({len(ids)} S3 checks): {theirs_s:.2f} s  "
              f"({checkov_summary['passed'] + checkov_summary['failed']} verdicts)")
        print(f"speed-up: {theirs_s / ours_s:.1f}x (goal >= 10x)")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
