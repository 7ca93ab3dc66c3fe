"""Benchmark: `bucketwatch check` at 1,000 to 10,000 buckets (is it linear?) and against checkov.

Generates, per size, a cdk.out-like cloud assembly in the shapes CDK synthesizes: one `Platform`
stack (the access-log bucket, exported; a data-event trail naming some buckets) and one
`WorkloadNNN` stack per `--per-stack` buckets. Workload buckets mix good and bad settings, carry
aws:cdk:path metadata and Fn::GetAtt / Fn::Join intrinsics, and most have a bucket policy. A
share depends on deploy-time choices (a parameter with AllowedValues, conditions on it, Fn::If
in properties and in policy statements, a Fn::FindInMap keyed by it, a bucket with a Condition),
so they are judged in several worlds; a third log into the Platform stack's bucket through
Fn::ImportValue, another third into their own stack's; each stack has a bucket policy for a
bucket outside the templates, every fifth one whose bucket is a parameter. Suppressions come
from a config file (exact ids and globs, about one per 50 buckets), from resource metadata and
from CDK acknowledgements in the manifest.

Times, as a user would start it (median of --repeat runs, each a fresh process, pinned to one CPU
with taskset as issue 14's measurements are; wall and CPU time, the latter with any processes a
tool starts; bucketwatch after one untimed run, which caches its bytecode in the work directory,
as an installed package has it, and checkov has):

    bucketwatch check DIR --format json --config bucketwatch.yml

and prints time per bucket at each size, so linearity is visible, and at the sizes in
--checkov-at (default 1000; checkov takes minutes at 10,000) checkov's own S3 checks:

    checkov -d DIR --framework cloudformation --check <every built-in S3 bucket/bucket-policy check>

with the ratio (goal: bucketwatch at least 30x faster). The machine's load average is printed
before and after: on a shared machine, compare runs with similar load.

    .venv/bin/python bench/bench_check.py [--sizes 1000,2500,5000,10000] [--repeat 3]
        [--checkov-at 1000] [--per-stack 100] [--cpu 0] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

BIN = Path(sys.executable).parent
ENV = {**os.environ, "BC_SKIP_MAPPING": "TRUE", "CKV_SKIP_PACKAGE_UPDATE_CHECK": "true", "LOG_LEVEL": "ERROR"}
ACCOUNT, REGION = "123456789012", "us-east-1"
PLATFORM = "Platform"
LOGS_EXPORT = f"{PLATFORM}:ExportsOutputRefAccessLogs5E0B2A1C"
TRAIL_LISTED = 250  # CloudTrail's limit of data resources in basic event selectors


def _join(*parts: Any) -> dict[str, Any]:
    return {"Fn::Join": ["", list(parts)]}


def _explicit_name(stack: str, index: int) -> str | None:
    return f"{stack.lower()}-data-{index:05d}" if index % 4 == 0 else None


def _bucket_properties(stack: str, index: int, logical: str) -> dict[str, Any]:
    """A bucket's properties, varied by `index` so every policy sees passes, failures and worlds."""
    props: dict[str, Any] = {"Tags": [{"Key": "team", "Value": f"team-{index % 7}"}]}
    if (name := _explicit_name(stack, index)) is not None:
        props["BucketName"] = name
    kms = {"ServerSideEncryptionConfiguration": [{"ServerSideEncryptionByDefault": {
        "SSEAlgorithm": "aws:kms", "KMSMasterKeyID": {"Fn::GetAtt": ["DataKey", "Arn"]}}}]}
    if index % 5 == 0:  # KMS in prod only: judged per world
        props["BucketEncryption"] = {"Fn::If": ["IsProd", kms, {"Ref": "AWS::NoValue"}]}
    elif index % 2 == 0:
        props["BucketEncryption"] = kms
    if index % 7 == 2:
        props["VersioningConfiguration"] = {"Status": {"Fn::If": ["IsProd", "Enabled", "Suspended"]}}
    elif index % 3 != 0:
        props["VersioningConfiguration"] = {"Status": "Enabled" if index % 5 else "Suspended"}
    if index % 4 != 1:
        props["PublicAccessBlockConfiguration"] = {k: index % 9 != 0 for k in (
            "BlockPublicAcls", "BlockPublicPolicy", "IgnorePublicAcls", "RestrictPublicBuckets")}
    if index % 3 == 1:  # into the Platform stack's access-log bucket, as CDK writes a cross-stack ref
        props["LoggingConfiguration"] = {"DestinationBucketName": {"Fn::ImportValue": LOGS_EXPORT},
                                         "LogFilePrefix": f"{logical}/"}
    elif index % 3 == 2:
        props["LoggingConfiguration"] = {"DestinationBucketName": {"Ref": "StackLogs"}, "LogFilePrefix": f"{logical}/"}
    if index % 6 == 0:
        props["LifecycleConfiguration"] = {"Rules": [{"Id": "expire", "Status": "Enabled", "ExpirationInDays": {
            "Fn::FindInMap": ["EnvConfig", {"Ref": "Env"}, "RetentionDays"]}}]}
    return props


def _statements(index: int, arn: Any) -> list[dict[str, Any]]:
    objects = _join(arn, "/*")
    root = _join("arn:", {"Ref": "AWS::Partition"}, ":iam::", {"Ref": "AWS::AccountId"}, ":root")
    principal: Any = {"AWS": root}
    if index % 9 == 4:  # anyone in dev, the account in prod
        principal = {"Fn::If": ["IsProd", {"AWS": root}, "*"]}
    statements = [{"Effect": "Allow", "Principal": principal, "Action": ["s3:GetObject*", "s3:List*"],
                   "Resource": [arn, objects]}]
    if index % 2:
        statements.insert(0, {"Effect": "Deny", "Principal": {"AWS": "*"}, "Action": "s3:*", "Resource": [arn, objects],
                              "Condition": {"Bool": {"aws:SecureTransport": "false"}}})
    if index % 11 == 5:
        statements.append({"Effect": "Allow", "Principal": {"Service": "logging.s3.amazonaws.com"},
                           "Action": "s3:PutObject", "Resource": objects})
    return statements


def bucket_resources(stack: str, index: int) -> dict[str, dict[str, Any]]:
    """One bucket and (mostly) its policy."""
    logical = f"Bucket{index:05d}A1B2C3D4"
    bucket: dict[str, Any] = {"Type": "AWS::S3::Bucket", "Properties": _bucket_properties(stack, index, logical),
                              "UpdateReplacePolicy": "Retain", "DeletionPolicy": "Retain",
                              "Metadata": {"aws:cdk:path": f"{stack}/Bucket{index}/Resource"}}
    if index % 10 == 3:
        bucket["Condition"] = "IsProd"  # only deployed in prod
    if index % 30 == 0:  # no logging (index % 3 == 0): a used suppression
        bucket["Metadata"]["bucketwatch"] = {"suppressions": [
            {"id": "BW.S3.Logging", "reason": "scratch data, re-created from the source each night"}]}
    resources = {logical: bucket}
    if index % 8 != 7:
        policy: dict[str, Any] = {
            "Type": "AWS::S3::BucketPolicy",
            "Properties": {"Bucket": {"Ref": logical}, "PolicyDocument": {
                "Version": "2012-10-17", "Statement": _statements(index, {"Fn::GetAtt": [logical, "Arn"]})}},
            "Metadata": {"aws:cdk:path": f"{stack}/Bucket{index}/Policy/Resource"}}
        if "Condition" in bucket:
            policy["Condition"] = bucket["Condition"]
        resources[f"Bucket{index:05d}Policy9F8E7D6C"] = policy
    return resources


def _stack_resources(stack: str, number: int) -> dict[str, Any]:
    """What every workload stack has besides its buckets: a key, a log bucket, foreign bucket policies."""
    resources: dict[str, Any] = {
        "DataKey": {"Type": "AWS::KMS::Key", "Properties": {"EnableKeyRotation": True, "KeyPolicy": {
            "Version": "2012-10-17", "Statement": []}}, "Metadata": {"aws:cdk:path": f"{stack}/DataKey/Resource"}},
        "StackLogs": {"Type": "AWS::S3::Bucket", "Properties": {"VersioningConfiguration": {"Status": "Enabled"}},
                      "Metadata": {"aws:cdk:path": f"{stack}/StackLogs/Resource"}},
    }
    foreign = f"legacy-{stack.lower()}"
    bucket_ref: Any = {"Ref": "SharedBucketName"} if number % 5 == 0 else foreign
    arn = _join("arn:aws:s3:::", bucket_ref, "/*")
    resources["LegacyPolicy"] = {"Type": "AWS::S3::BucketPolicy", "Properties": {"Bucket": bucket_ref, "PolicyDocument": {
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::444455556666:root"},
                                                "Action": "s3:GetObject", "Resource": arn}]}},
        "Metadata": {"aws:cdk:path": f"{stack}/LegacyPolicy/Resource"}}
    return resources


def workload_template(stack: str, number: int, indices: range) -> dict[str, Any]:
    resources = _stack_resources(stack, number)
    for index in indices:
        resources.update(bucket_resources(stack, index))
    parameters: dict[str, Any] = {
        "Env": {"Type": "String", "AllowedValues": ["dev", "staging", "prod"], "Default": "dev"},
        "BootstrapVersion": {"Type": "AWS::SSM::Parameter::Value<String>", "Default": "/cdk-bootstrap/hnb659fds/version"}}
    if number % 5 == 0:
        parameters["SharedBucketName"] = {"Type": "String"}
    return {"Parameters": parameters,
            "Conditions": {"IsProd": {"Fn::Equals": [{"Ref": "Env"}, "prod"]}},
            "Mappings": {"EnvConfig": {"dev": {"RetentionDays": 30}, "staging": {"RetentionDays": 90},
                                       "prod": {"RetentionDays": 365}}},
            "Resources": resources}


def platform_template(listed: list[str]) -> dict[str, Any]:
    """The access-log bucket every workload stack imports, and a trail naming some buckets."""
    trail_bucket = "platform-trail-logs"
    return {"Resources": {
        "AccessLogs5E0B2A1C": {"Type": "AWS::S3::Bucket", "Properties": {
            "VersioningConfiguration": {"Status": "Enabled"},
            "LifecycleConfiguration": {"Rules": [{"Id": "expire", "Status": "Enabled", "ExpirationInDays": 365}]}},
            "Metadata": {"aws:cdk:path": f"{PLATFORM}/AccessLogs/Resource", "bucketwatch": {"suppressions": [
                {"id": "BW.S3.Logging", "reason": "the access-log bucket cannot log into itself"}]}}},
        "DataEvents": {"Type": "AWS::CloudTrail::Trail", "Properties": {
            "IsLogging": True, "IsMultiRegionTrail": True, "EnableLogFileValidation": True,
            "S3BucketName": trail_bucket, "KMSKeyId": "alias/trail",
            "EventSelectors": [{"ReadWriteType": "All", "IncludeManagementEvents": False, "DataResources": [
                {"Type": "AWS::S3::Object", "Values": [f"arn:aws:s3:::{name}/" for name in listed]}]}]},
            "Metadata": {"aws:cdk:path": f"{PLATFORM}/DataEvents/Resource"}}},
        "Outputs": {"ExportsOutputRefAccessLogs5E0B2A1C": {
            "Value": {"Ref": "AccessLogs5E0B2A1C"}, "Export": {"Name": LOGS_EXPORT}}}}


def _artifact(stack: str, acknowledged: dict[str, dict[str, str]]) -> dict[str, Any]:
    metadata = {f"/{path}": [{"type": "aws:cdk:acknowledged-rules", "data": rules}]
                for path, rules in acknowledged.items()}
    return {"type": "aws:cloudformation:stack", "environment": f"aws://{ACCOUNT}/{REGION}",
            "properties": {"templateFile": f"{stack}.template.json"}, "displayName": stack, "metadata": metadata}


def generate(directory: Path, buckets: int, per_stack: int) -> None:
    """The assembly in `directory` (a cdk.out) and its config file beside it (`bucketwatch.yml`)."""
    directory.mkdir(parents=True, exist_ok=True)
    stacks = -(-buckets // per_stack)
    names = [f"Workload{s:03d}" for s in range(stacks)]
    listed = [name for s, stack in enumerate(names) for i in range(s * per_stack, min(buckets, (s + 1) * per_stack))
              if (name := _explicit_name(stack, i)) is not None and i % 8 == 0][:TRAIL_LISTED]
    templates = {PLATFORM: platform_template(listed)}
    artifacts = {PLATFORM: _artifact(PLATFORM, {})}
    for s, stack in enumerate(names):
        templates[stack] = workload_template(stack, s, range(s * per_stack, min(buckets, (s + 1) * per_stack)))
        # An acknowledgement on one construct per stack, and one on every tenth stack as a whole.
        public = _first(s, per_stack, buckets, lambda i: i % 9 == 0 and i % 4 != 1)  # Block Public Access off
        acknowledged = {} if public is None else {f"{stack}/Bucket{public}": {
            "bucketwatch::BW.S3.PublicAccessBlockAll": "a public website bucket, reviewed by security"}}
        if s % 10 == 0:
            acknowledged[stack] = {"bucketwatch::BW.S3.Versioning": "a sandbox stack: its data is disposable"}
        artifacts[stack] = _artifact(stack, acknowledged)
    for stack, template in templates.items():
        (directory / f"{stack}.template.json").write_text(json.dumps(template, indent=1))
    (directory / "manifest.json").write_text(json.dumps({"version": "36.0.0", "artifacts": artifacts}, indent=1))
    (directory.parent / "bucketwatch.yml").write_text(json.dumps({"posture": {"suppressions": suppressions(names, per_stack, buckets)}},
                                                                indent=1))


def _first(stack: int, per_stack: int, buckets: int, wanted: Callable[[int], bool]) -> int | None:
    """The first bucket index of workload stack number `stack` for which `wanted` holds."""
    return next((i for i in range(stack * per_stack, min(buckets, (stack + 1) * per_stack)) if wanted(i)), None)


def suppressions(stacks: list[str], per_stack: int, buckets: int) -> list[dict[str, str]]:
    """About one config suppression per 50 buckets (exact resource ids, construct-path globs, a
    policy glob), each on a bucket it finds a failure on."""
    found = []
    for s, stack in enumerate(stacks):
        unversioned = _first(s, per_stack, buckets, lambda i: i % 3 == 0 and i % 7 != 2 and i % 30 != 0)
        unlogged = _first(s, per_stack, buckets, lambda i, taken=unversioned: i % 3 == 0 and i % 30 != 0 and i != taken)
        if unversioned is not None:
            found.append({"policy": "BW.S3.Versioning", "resource": f"{stack}/Bucket{unversioned:05d}A1B2C3D4",
                          "reason": "versioned by the replication target instead"})
        if unlogged is not None:
            found.append({"policy": "BW.S3.Log*", "resource": f"{stack}/Bucket{unlogged}/*",
                          "reason": "public data set, its downloads are counted by the CDN instead"})
    found.append({"policy": "BW.S3.MonitoringCoverage", "resource": "*-data-*",
                  "reason": "named data buckets are covered by the organization trail"})
    return found


def checkov_s3_check_ids() -> list[str]:
    """checkov's built-in CloudFormation checks for S3 buckets and bucket policies."""
    code = ("from checkov.cloudformation.checks.resource.registry import cfn_registry as r\n"
            "import checkov.cloudformation.checks.resource.aws  # noqa\n"
            "ids = sorted({c.id for t in ('AWS::S3::Bucket', 'AWS::S3::BucketPolicy') for c in r.checks.get(t, [])})\n"
            "print(','.join(ids))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=ENV, check=True).stdout
    return out.strip().split(",")


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def compiled_env(root: Path) -> dict[str, str]:
    """ENV with bytecode cached under `root`. An installed bucketwatch has its modules compiled
    (pip writes .pyc files, as it did for checkov's); this checkout's are not, and with
    PYTHONDONTWRITEBYTECODE set every run would compile them again (a fifth of a second)."""
    env = {key: value for key, value in ENV.items() if key != "PYTHONDONTWRITEBYTECODE"}
    return {**env, "PYTHONPYCACHEPREFIX": str(root / "pycache")}


def timed(command: list[str], repeat: int, cpu: str | None, env: dict[str, str] | None = None,
          warm: bool = False) -> tuple[list[float], list[float], subprocess.CompletedProcess]:
    """Wall times and CPU times (user + system, with any processes it starts) of `repeat` runs
    (after one untimed run with `warm`)."""
    pinned = ["taskset", "-c", cpu, *command] if cpu is not None else command
    if warm:
        subprocess.run(pinned, capture_output=True, env=env or ENV, check=False)
    walls, cpus, result = [], [], None
    for _ in range(repeat):
        start, start_cpu = time.perf_counter(), _children_cpu()
        result = subprocess.run(pinned, capture_output=True, text=True, env=env or ENV, check=False)
        walls.append(time.perf_counter() - start)
        cpus.append(_children_cpu() - start_cpu)
        if result.returncode not in (0, 1):
            raise SystemExit(f"{' '.join(command[:3])} ... failed ({result.returncode}):\n{result.stderr[-2000:]}")
    assert result is not None
    return walls, cpus, result


def _sizes(text: str) -> list[int]:
    return [int(part) for part in text.split(",") if part.strip() and part.strip() != "none"]


def _load() -> str:
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


def measure(root: Path, size: int, args: argparse.Namespace, check_ids: list[str] | None) -> dict[str, Any]:
    assembly = root / f"check-{size}" / "cdk.out"
    generate(assembly, size, args.per_stack)
    config = assembly.parent / "bucketwatch.yml"
    times, cpus, ours = timed([str(BIN / "bucketwatch"), "check", str(assembly), "--format", "json",
                               "--config", str(config)], args.repeat, args.cpu, compiled_env(root),
                              warm=True)
    report = json.loads(ours.stdout)
    row = {"buckets": size, "stacks": -(-size // args.per_stack) + 1, "times": times, "median": statistics.median(times),
           "cpu": statistics.median(cpus), "verdicts": report["summary"]["results"],
           "by_status": report["summary"]["by_status"], "suppressions": report["summary"]["suppressions"]}
    if check_ids is not None:
        theirs_times, theirs_cpus, theirs = timed(
            [str(BIN / "checkov"), "-d", str(assembly), "--framework", "cloudformation", "--check", ",".join(check_ids),
             "-o", "json", "--compact"], args.checkov_repeat, args.cpu)
        summary = json.loads(theirs.stdout)["summary"]
        row.update(checkov=statistics.median(theirs_times), checkov_times=theirs_times,
                   checkov_cpu=statistics.median(theirs_cpus), checkov_verdicts=summary["passed"] + summary["failed"],
                   checkov_checks=len(check_ids))
    return row


def show(row: dict[str, Any], first: dict[str, Any]) -> None:
    per_bucket, cpu_per_bucket = row["median"] / row["buckets"] * 1000, row["cpu"] / row["buckets"] * 1000
    growth = per_bucket / (first["median"] / first["buckets"] * 1000)
    cpu_growth = cpu_per_bucket / (first["cpu"] / first["buckets"] * 1000)
    runs = ", ".join(f"{t:.2f}" for t in row["times"])
    print(f"{row['buckets']:>6} buckets, {row['stacks']:>3} stacks: {row['median']:6.2f} s median ({runs}), "
          f"{row['cpu']:.2f} s CPU; per bucket {per_bucket:.3f} ms ({growth:.2f}x the {first['buckets']}-bucket rate), "
          f"CPU {cpu_per_bucket:.3f} ms ({cpu_growth:.2f}x)")
    print(f"        {row['verdicts']} verdicts {row['by_status']}; suppressions {row['suppressions']}")
    if "checkov" in row:
        print(f"        checkov ({row['checkov_checks']} S3 checks): {row['checkov']:.2f} s median "
              f"({', '.join(f'{t:.2f}' for t in row['checkov_times'])}), {row['checkov_cpu']:.2f} s CPU; "
              f"{row['checkov_verdicts']} verdicts; speed-up {row['checkov'] / row['median']:.1f}x wall, "
              f"{row['checkov_cpu'] / row['cpu']:.1f}x CPU (goal >= 30x)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,2500,5000,10000", help="bucket counts, comma separated")
    parser.add_argument("--per-stack", type=int, default=100, help="buckets per workload stack")
    parser.add_argument("--repeat", type=int, default=3, help="runs of bucketwatch per size; the median counts")
    parser.add_argument("--checkov-at", default="1000", help="sizes at which checkov also runs ('none': never)")
    parser.add_argument("--checkov-repeat", type=int, default=1, help="runs of checkov per size; the median counts")
    parser.add_argument("--cpu", default="0" if shutil.which("taskset") else None,
                        help="pin both tools to this CPU (taskset; default 0; 'none': not pinned)")
    parser.add_argument("--keep", metavar="DIR", help="generate into DIR and keep it (e.g. to profile one size)")
    args = parser.parse_args()
    sizes, checkov_at = _sizes(args.sizes), set(_sizes(args.checkov_at))
    args.cpu = None if args.cpu in (None, "none") else args.cpu
    root = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="bw-bench-check-"))
    check_ids = checkov_s3_check_ids() if checkov_at & set(sizes) else None
    print(f"load average before: {_load()} ({os.cpu_count()} cores); "
          f"{f'both tools pinned to CPU {args.cpu}' if args.cpu is not None else 'not pinned'}")
    try:
        rows = []
        for size in sizes:
            rows.append(measure(root, size, args, check_ids if size in checkov_at else None))
            show(rows[-1], rows[0])
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    print(f"load average after: {_load()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
