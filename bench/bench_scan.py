"""Live-scan benchmark: N buckets on moto (server mode, over HTTP), collected by the live source
concurrently and one call at a time, in the same run.

    .venv/bin/python bench/bench_scan.py [--buckets 1000] [--workers 32]

Prints wall time, API calls per bucket, and the concurrent collector's speed-up over the
one-at-a-time baseline (same code with a single worker). moto answers from one process, so the
speed-up here is bounded by moto's own throughput on this machine, not by AWS; `--latency-ms 20`
adds a simulated network round trip per call (labelled as such in the output) to show the
effect the pool has against a real, remote endpoint.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import boto3

from bucketwatch.localaws import LOCAL_AWS_ENV, MotoServer, local_aws_environment
from policies.sources.live import ScanStats, collect
from policies.sources.live_clients import accounts_for

REGIONS = ("us-east-1", "eu-west-1", "ap-southeast-2")


def populate(count: int) -> None:
    """`count` buckets across three regions, about a third of them with settings to read."""
    s3 = boto3.client("s3")

    def make(index: int) -> None:
        name = f"bench-{index:05d}"
        region = REGIONS[index % len(REGIONS)]
        config = {} if region == "us-east-1" else {"CreateBucketConfiguration": {"LocationConstraint": region}}
        s3.create_bucket(Bucket=name, **config)
        if index % 3 == 0:
            s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
            s3.put_bucket_encryption(Bucket=name, ServerSideEncryptionConfiguration={
                "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]})
            s3.put_bucket_policy(Bucket=name, Policy=json.dumps({"Version": "2012-10-17", "Statement": [
                {"Effect": "Deny", "Principal": "*", "Action": "s3:*", "Resource": f"arn:aws:s3:::{name}/*",
                 "Condition": {"Bool": {"aws:SecureTransport": "false"}}}]}))

    with ThreadPoolExecutor(16) as pool:
        list(pool.map(make, range(count)))


def timed_collect(endpoint: str, workers: int, latency_ms: float = 0.0) -> tuple[float, ScanStats, int]:
    stats = ScanStats()
    accounts = accounts_for(None, None, endpoint)
    if latency_ms:
        # Simulated network round trip (moto answers from loopback; AWS is tens of ms away).
        for account in accounts:
            account.session.events.register("before-send", lambda **_: time.sleep(latency_ms / 1000))
    started = time.perf_counter()
    resources = collect(accounts, endpoint_url=endpoint, workers=workers, stats=stats)
    return time.perf_counter() - started, stats, len(resources)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--buckets", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=32)
    parser.add_argument("--latency-ms", type=float, default=0.0,
                        help="add a simulated network round trip to every call (default 0: moto as is)")
    args = parser.parse_args()
    os.environ.update(LOCAL_AWS_ENV)
    with MotoServer() as server, local_aws_environment(server):
        started = time.perf_counter()
        populate(args.buckets)
        print(f"setup: {args.buckets} buckets on moto in {time.perf_counter() - started:.1f}s")
        concurrent_s, concurrent, found = timed_collect(server.endpoint_url, args.workers, args.latency_ms)
        serial_s, serial, _ = timed_collect(server.endpoint_url, 1, args.latency_ms)
    assert concurrent.buckets == serial.buckets == args.buckets, (concurrent, serial)
    per_bucket = concurrent.api_calls / concurrent.buckets
    if args.latency_ms:
        print(f"(every call delayed by a simulated {args.latency_ms:g} ms network round trip)")
    print(f"concurrent collector ({args.workers} workers): {concurrent_s:.2f}s wall, "
          f"{concurrent.buckets / concurrent_s:,.0f} buckets/s, {concurrent.api_calls:,} API calls "
          f"({per_bucket:.2f} per bucket), {found} resources")
    print(f"one-at-a-time collector (1 worker):  {serial_s:.2f}s wall, {serial.buckets / serial_s:,.0f} buckets/s, "
          f"{serial.api_calls:,} API calls")
    print(f"speed-up of the concurrent collector: {serial_s / concurrent_s:.1f}x")


if __name__ == "__main__":
    main()
