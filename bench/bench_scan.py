"""Live-scan benchmark: N buckets on moto (server mode, over HTTP, 127.0.0.1), scanned by the live
source and by its baselines in the same run, interleaved and repeated (the machine is shared).

    .venv/bin/python bench/bench_scan.py [--buckets 1000] [--workers 32] [--repeat 2]
                                         [--prowler /tmp/prowler-venv/bin/prowler] [--latency-ms 0]

Runs, each repeat in this order:
- ours: the live source as shipped (calls whose answer is decided are skipped);
- every call: the same collector making every call for every bucket (the collector before
  skipping: 12 calls per bucket);
- one worker: ours with a single worker (the one-at-a-time baseline);
- with `--prowler PATH`: `bucketwatch scan` end to end (CLI, policies, JSON report), then
  `prowler aws --service s3` end to end (its S3 checks, CSV report), both as subprocesses.

Prints wall times (median over repeats) and their ratios, and the API calls per bucket by API.
Calls are counted twice: by the collector (botocore events) and by moto itself (its request
recorder), which is also how Prowler's calls are counted.

Prowler is not installed here: install it in a throwaway venv outside the repo (docs/live.md).
It is pointed at moto only: AWS_ENDPOINT_URL, moto's credentials, no profile. Its s3control
client puts the account id in the host name (123456789012.127.0.0.1), which would otherwise be
looked up in DNS; it runs in a private mount namespace (unshare -m, needs root) whose /etc/hosts
maps that name to 127.0.0.1, so nothing leaves the machine. Without that, Prowler is not run.

The bucket population: the previous bench's (three regions; a third of the buckets versioned,
with SSE-S3 and an SSL-only bucket policy) as AWS creates buckets today: BucketOwnerEnforced,
Block Public Access and SSE-S3 on every new bucket (moto applies none of AWS's defaults), except
one bucket in five that is "legacy" (created before April 2023: ACLs enabled, no access block).
`--latency-ms 20` adds a simulated network round trip to every call of the in-process runs.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import boto3

from bucketwatch.localaws import LOCAL_AWS_ENV, MOTO_ACCOUNT_ID, MotoServer, local_aws_environment
from policies.sources.live import ScanStats, collect
from policies.sources.live_clients import accounts_for

REGIONS = ("us-east-1", "eu-west-1", "ap-southeast-2")
ENFORCED = {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]}
BLOCK_ALL = dict.fromkeys(("BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets"), True)
SSE_S3 = {"Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]}
# S3 sub-resources (query keys) and the GET they stand for, to name recorded requests.
S3_SUBRESOURCES = {
    "location": "GetBucketLocation", "acl": "GetBucketAcl", "policy": "GetBucketPolicy",
    "policyStatus": "GetBucketPolicyStatus", "versioning": "GetBucketVersioning", "logging": "GetBucketLogging",
    "encryption": "GetBucketEncryption", "publicAccessBlock": "GetPublicAccessBlock",
    "ownershipControls": "GetBucketOwnershipControls", "object-lock": "GetObjectLockConfiguration",
    "tagging": "GetBucketTagging", "lifecycle": "GetBucketLifecycleConfiguration",
    "replication": "GetBucketReplication", "notification": "GetBucketNotificationConfiguration",
    "list-type": "ListObjectsV2",
}
# Prowler's progress bar's last line: "-> Scan completed! |...| 22/22 [100%] in 2.4s" (or "in 1:05.3s").
PROWLER_SCAN_TIME = re.compile(r"Scan completed!.*?\] in (?:(\d+):)?(\d+(?:\.\d+)?)")
S3CONTROL = {("GET", "configuration/publicAccessBlock"): "GetPublicAccessBlock", ("GET", "accesspoint"): "ListAccessPoints",
             ("GET", "mrap/instances"): "ListMultiRegionAccessPoints"}


# -- the buckets --------------------------------------------------------------------------------
def bucket_kind(index: int) -> tuple[bool, bool]:
    """(has settings, legacy) of bucket `index`."""
    return index % 3 == 0, index % 5 == 4


def populate(count: int) -> None:
    s3 = boto3.client("s3")

    def make(index: int) -> None:
        name = f"bench-{index:05d}"
        region = REGIONS[index % len(REGIONS)]
        settings, legacy = bucket_kind(index)
        config = {} if region == "us-east-1" else {"CreateBucketConfiguration": {"LocationConstraint": region}}
        s3.create_bucket(Bucket=name, **config)
        s3.put_bucket_encryption(Bucket=name, ServerSideEncryptionConfiguration=SSE_S3)
        if not legacy:
            s3.put_bucket_ownership_controls(Bucket=name, OwnershipControls=ENFORCED)
            s3.put_public_access_block(Bucket=name, PublicAccessBlockConfiguration=BLOCK_ALL)
        if settings:
            s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
            s3.put_bucket_policy(Bucket=name, Policy=json.dumps({"Version": "2012-10-17", "Statement": [
                {"Effect": "Deny", "Principal": "*", "Action": "s3:*", "Resource": f"arn:aws:s3:::{name}/*",
                 "Condition": {"Bool": {"aws:SecureTransport": "false"}}}]}))

    with ThreadPoolExecutor(16) as pool:
        list(pool.map(make, range(count)))


# -- moto's own count of the requests it served ---------------------------------------------------
class Recorder:
    """moto's request recorder (MOTO_RECORDER_FILEPATH): every request it serves, whoever sent it."""

    def __init__(self, endpoint: str) -> None:
        self.endpoint = endpoint

    def _post(self, action: str) -> None:
        request = urllib.request.Request(f"{self.endpoint}/moto-api/recorder/{action}", method="POST")
        urllib.request.urlopen(request).read()

    def restart(self) -> None:
        self._post("reset-recording")
        self._post("start-recording")

    def calls(self) -> Counter[str]:
        self._post("stop-recording")
        text = urllib.request.urlopen(f"{self.endpoint}/moto-api/recorder/download-recording").read().decode()
        return Counter(request_name(json.loads(line)) for line in text.splitlines() if line.strip())


def request_name(entry: dict) -> str:
    """An API name for one recorded request ("GetBucketAcl", "sts:GetCallerIdentity", ...)."""
    headers = {k.lower(): v for k, v in entry.get("headers", {}).items()}
    scope = re.search(r"Credential=[^/]+/[^/]+/[^/]+/([^/]+)/", headers.get("authorization", ""))
    service = scope.group(1) if scope else "unsigned"
    url = urlsplit(entry["url"])
    if headers.get("x-amz-target"):
        return f"{service}:{headers['x-amz-target'].rsplit('.', 1)[-1]}"
    if service != "s3":
        body = entry.get("body") or ""
        if entry.get("body_encoded"):
            body = base64.b64decode(body).decode("utf-8", "replace")
        action = dict(parse_qsl(body)).get("Action") or dict(parse_qsl(url.query)).get("Action")
        return f"{service}:{action or entry['method']}"
    if url.path.startswith("/v20180820/"):
        resource = url.path.split("/", 2)[-1]
        return f"s3control:{S3CONTROL.get((entry['method'], resource), entry['method'] + ' ' + resource)}"
    keys = [key for key, _ in parse_qsl(url.query, keep_blank_values=True)]
    named = next((S3_SUBRESOURCES[k] for k in keys if k in S3_SUBRESOURCES), None)
    if entry["method"] == "GET" and named:
        return named
    if url.path in ("", "/"):
        return "ListBuckets" if entry["method"] == "GET" else f"{entry['method']} /"
    return {"HEAD": "HeadBucket"}.get(entry["method"], f"{entry['method']} {'?'.join(keys) or 'bucket'}")


# -- the runs -----------------------------------------------------------------------------------
@dataclass
class Run:
    name: str
    seconds: list[float] = field(default_factory=list)
    scan_seconds: list[float] = field(default_factory=list)  # Prowler's own "scan completed in"
    calls: Counter[str] = field(default_factory=Counter)  # by moto's count, last repeat
    client_calls: Counter[str] = field(default_factory=Counter)  # by the collector's count
    loads: list[float] = field(default_factory=list)
    cpu_seconds: list[float] = field(default_factory=list)  # the collector's process CPU (in-process runs)

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)


def in_process(endpoint: str, workers: int, skip: bool,
               latency_ms: float) -> Callable[[], tuple[float, tuple[ScanStats, float]]]:
    def run() -> tuple[float, tuple[ScanStats, float]]:
        stats = ScanStats()
        accounts = accounts_for(None, None, endpoint)
        if latency_ms:
            for account in accounts:
                account.session.events.register("before-send", lambda **_: time.sleep(latency_ms / 1000))
        started, cpu = time.perf_counter(), time.process_time()
        collect(accounts, endpoint_url=endpoint, workers=workers, stats=stats, skip_decided=skip)
        # Process CPU of this process only (every thread): moto runs in another one.
        return time.perf_counter() - started, (stats, time.process_time() - cpu)
    return run


def subprocess_env(endpoint: str) -> dict[str, str]:
    """moto's credentials and endpoint only: no profile, no real account reachable."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    return {**env, **LOCAL_AWS_ENV, "AWS_ENDPOINT_URL": endpoint}


def run_command(argv: list[str], env: dict[str, str]) -> tuple[float, str]:
    started = time.perf_counter()
    done = subprocess.run(argv, env=env, capture_output=True, text=True, stdin=subprocess.DEVNULL)
    seconds = time.perf_counter() - started
    if done.returncode not in (0, 1, 3):  # 1: ours found FAILs; 3: Prowler found FAILs
        raise SystemExit(f"{argv[0]} exited {done.returncode}:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
    return seconds, done.stdout + done.stderr


def offline_prowler(prowler: str, workdir: Path) -> list[str] | None:
    """The command prefix that runs Prowler with <account>.127.0.0.1 resolving to 127.0.0.1
    from a private /etc/hosts (mount namespace), or None when that cannot be set up here."""
    hosts = workdir / "hosts"
    hosts.write_text(f"127.0.0.1 localhost\n127.0.0.1 {MOTO_ACCOUNT_ID}.127.0.0.1\n")
    prefix = ["unshare", "-m", "sh", "-c", f'mount --bind {hosts} /etc/hosts && exec "$@"', "sh"]
    probe = subprocess.run([*prefix, "getent", "ahosts", f"{MOTO_ACCOUNT_ID}.127.0.0.1"],
                           capture_output=True, text=True, stdin=subprocess.DEVNULL)
    if probe.returncode != 0 or "127.0.0.1" not in probe.stdout:
        print(f"Prowler not run: a private /etc/hosts could not be set up (unshare -m needs root): "
              f"{probe.stderr.strip()[:200]}")
        return None
    return [*prefix, prowler]


def prowler_argv(prefix: list[str], workdir: Path) -> list[str]:
    return [*prefix, "aws", "--service", "s3", "--region", *REGIONS, "--no-banner", "--no-color",
            "--output-formats", "csv", "--output-directory", str(workdir / "prowler-out"), "--ignore-exit-code-3"]


def ours_argv(workdir: Path, workers: int) -> list[str]:
    return [sys.executable, "-m", "bucketwatch", "scan", "--format", "json", "--workers", str(workers),
            "--output", str(workdir / "ours.json")]


def load_average() -> float:
    return os.getloadavg()[0]


# -- the report ---------------------------------------------------------------------------------
def per_bucket(calls: Counter[str], buckets: int) -> float:
    return sum(calls.values()) / buckets


def print_calls(runs: list[Run], buckets: int) -> None:
    apis = sorted({api for run in runs for api in run.calls}, key=lambda a: (-max(r.calls[a] for r in runs), a))
    width = max(len(a) for a in apis)
    print(f"\nAPI calls per bucket, as moto served them ({buckets:,} buckets)")
    print(f"  {'API':<{width}}  " + "  ".join(f"{run.name:>12}" for run in runs))
    for api in apis:
        print(f"  {api:<{width}}  " + "  ".join(f"{run.calls[api] / buckets:>12.3f}" for run in runs))
    print(f"  {'total':<{width}}  " + "  ".join(f"{per_bucket(run.calls, buckets):>12.3f}" for run in runs))


def print_times(runs: list[Run], buckets: int) -> None:
    print("\nWall time (median of repeats; every repeat in brackets; load average at each start)")
    for run in runs:
        every = ", ".join(f"{s:.1f}" for s in run.seconds)
        loads = ", ".join(f"{load:.1f}" for load in run.loads)
        scan = f"; its own 'scan completed in' {statistics.median(run.scan_seconds):.1f}s" if run.scan_seconds else ""
        if run.cpu_seconds:
            cpu = statistics.median(run.cpu_seconds)
            scan = f"; collector CPU {cpu:.1f}s = {1000 * cpu / sum(run.calls.values()):.2f} ms per call"
        print(f"  {run.name:<14} {run.median:7.2f}s  [{every}]  {buckets / run.median:6.0f} buckets/s"
              f"  load [{loads}]{scan}")


def print_ratios(runs: dict[str, Run]) -> None:
    ours = runs["ours"].median
    print("\nRatios (baseline time / our time; > 1 means ours is faster)")
    print(f"  every call (skipping off) / ours: {runs['every call'].median / ours:.2f}x")
    if "one worker" in runs:
        print(f"  one worker / ours:                {runs['one worker'].median / ours:.2f}x")
    if "prowler" in runs:
        cli, prowler = runs["bucketwatch scan"], runs["prowler"]
        print(f"  prowler / bucketwatch scan, end to end (CLI start to report): {prowler.median / cli.median:.2f}x")
        if prowler.scan_seconds:
            scan = statistics.median(prowler.scan_seconds)
            print(f"  prowler's own scan phase / bucketwatch scan end to end:       {scan / cli.median:.2f}x")
    else:
        print("  Prowler was not run (give --prowler PATH; see docs/live.md)")


# -- main ---------------------------------------------------------------------------------------
def measure(run: Run, recorder: Recorder, action: Callable[[], tuple[float, object]]) -> object:
    run.loads.append(load_average())
    recorder.restart()
    seconds, detail = action()
    run.calls = recorder.calls()
    run.seconds.append(seconds)
    return detail


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--buckets", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=32)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--prowler", help="path of a prowler executable (its own venv); omitted: not run")
    parser.add_argument("--no-one-worker", action="store_true", help="skip the (slow) one-worker baseline")
    parser.add_argument("--latency-ms", type=float, default=0.0,
                        help="add a simulated network round trip to every call of the in-process runs")
    args = parser.parse_args()
    os.environ.update(LOCAL_AWS_ENV)
    with tempfile.TemporaryDirectory(prefix="bench-scan-") as tmp:
        workdir = Path(tmp)
        # Read by moto's server process when it starts: where its recorder writes.
        os.environ["MOTO_RECORDER_FILEPATH"] = str(workdir / "moto-recording.jsonl")
        with MotoServer() as server, local_aws_environment(server):
            started = time.perf_counter()
            populate(args.buckets)
            print(f"setup: {args.buckets:,} buckets on moto in {time.perf_counter() - started:.1f}s; "
                  f"{os.cpu_count()} cores, load average {load_average():.1f}")
            if args.latency_ms:
                print(f"(every in-process call delayed by a simulated {args.latency_ms:g} ms network round trip)")
            runs = run_all(args, server.endpoint_url, Recorder(server.endpoint_url), workdir)
    print_times(list(runs.values()), args.buckets)
    print_calls(list(runs.values()), args.buckets)
    print_ratios(runs)


def run_all(args: argparse.Namespace, endpoint: str, recorder: Recorder, workdir: Path) -> dict[str, Run]:
    plan: list[tuple[Run, Callable[[], tuple[float, object]]]] = [
        (Run("ours"), in_process(endpoint, args.workers, True, args.latency_ms)),
        (Run("every call"), in_process(endpoint, args.workers, False, args.latency_ms)),
    ]
    if not args.no_one_worker:
        plan.append((Run("one worker"), in_process(endpoint, 1, True, args.latency_ms)))
    prefix = offline_prowler(args.prowler, workdir) if args.prowler else None
    if prefix:
        env = subprocess_env(endpoint)
        plan.append((Run("bucketwatch scan"), lambda: run_command(ours_argv(workdir, args.workers), env)))
        plan.append((Run("prowler"), lambda: run_command(prowler_argv(prefix, workdir), env)))
    for repeat in range(args.repeat):
        for run, action in plan:
            detail = measure(run, recorder, action)
            if isinstance(detail, tuple):
                check_counts(run, *detail)
            elif run.name == "prowler" and (found := PROWLER_SCAN_TIME.search(str(detail))):
                minutes, seconds = found.groups()
                run.scan_seconds.append(60 * int(minutes or 0) + float(seconds))
            print(f"  repeat {repeat + 1}: {run.name:<16} {run.seconds[-1]:6.2f}s  "
                  f"{per_bucket(run.calls, args.buckets):5.2f} calls/bucket", flush=True)
    return {run.name: run for run, _ in plan}


def check_counts(run: Run, stats: ScanStats, cpu_seconds: float) -> None:
    """The collector's own count must match what moto served (no retries happen on loopback)."""
    run.client_calls = stats.calls
    run.cpu_seconds.append(cpu_seconds)
    if +stats.calls != +run.calls:
        diff = {api: (stats.calls[api], run.calls[api]) for api in set(stats.calls) | set(run.calls)
                if stats.calls[api] != run.calls[api]}
        print(f"  note: {run.name}: collector and moto counts differ (collector, moto): {diff}")


if __name__ == "__main__":
    main()
