"""Detection benchmark: end-to-end `detect` (every built-in rule enabled) vs `ingest` alone,
and both vs DuckDB's split parse to Parquet, measured in the same run.

    .venv/bin/python bench/bench_detect.py [--lines 1000000] [--files 8] [--seed 7] [--traffic attack|busy]

Each side runs in a fresh child process on one thread; imports are not timed (as in
bench_ingest). `detect` writes the same lake plus rule matches and keeps alerts in memory. The
goal (issue 3): detect throughput within 20% of ingest-only throughput (ratio >= 0.80). Wall
and CPU-second rates are both printed: the machine is shared, CPU time is the steadier figure.

Two traffic profiles, same generator (bench/gen_access_logs.py), same line format and edge cases:
- `attack` (the ingest benchmark's own logs): every line has a random requester out of eight and
  a random client address, 12.5% anonymous, 3% without TLS, 8% errors. About 60% of the lines
  match some rule and thousands of alerts are raised: a worst case, an incident on every bucket.
- `busy`: what the access log of a busy bucket looks like. A few principals make most requests
  (a pipeline role, an application role, CI, the owner), each from a handful of addresses (NAT
  gateways, VPC endpoints); few anonymous requests (the public site bucket) or requests without
  TLS; errors at 2%. 3% of the lines keep the generator's random requester and address, so the
  edge cases (IPv6, anonymous, odd principals) stay in. Plus one real incident: a leaked CI key
  downloading thousands of objects from one outside address for an hour.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))

import bench_ingest  # noqa: E402  (the ingest benchmark: generator, ingest and DuckDB runs)
import gen_access_logs  # noqa: E402

from detectors.parsers.s3_access_format import format_access_log_line  # noqa: E402

# Turns on the rules that are off until configured, so every built-in rule runs. The generator
# gives every line a random client address; an allowlist that excluded some of its ranges would
# raise one alert per line (dedup is bucket + address), which measures alert storms, not rules.
# So the allowlist covers the generator's ranges: the rule still evaluates every line.
CONFIG = """
detections:
  known_good_access:
    - bucket: "prod-data-lake"
      principals: ["arn:aws:sts::123456789012:assumed-role/DataPipelineRole/*"]
    - bucket: "payroll-*"
      principals: ["arn:aws:iam::123456789012:user/alice"]
  ip_allowlist:
    - cidrs: ["10.0.0.0/8", "54.0.0.0/8", "192.0.0.0/8", "198.0.0.0/8", "203.0.0.0/8", "2001:db8::/32"]
  rules:
    AWS.S3.ServerAccess.Unauthenticated: {enabled: true}
"""



# `busy` traffic: (requester, weight, addresses it uses). Weights sum to 97; 3% stay random.
BUSY_ACTORS = [
    ("arn:aws:sts::123456789012:assumed-role/DataPipelineRole/i-0abcd1234efgh5678", 40, ["10.0.12.7", "10.0.44.19"]),
    ("arn:aws:sts::123456789012:assumed-role/eagle/regionalDeliverySession", 25, ["10.0.3.201", "10.0.3.202", "10.0.9.14"]),
    ("arn:aws:iam::123456789012:user/deploy-bot", 12, ["54.201.7.33"]),
    (gen_access_logs.OWNER, 10, ["10.0.0.5"]),
    ("svc:logging.s3.amazonaws.com", 5, ["10.0.250.1"]),
    ("arn:aws:iam::123456789012:user/alice", 3, ["203.0.113.24", "2001:db8:1::24"]),
    ("arn:aws:sts::210987654321:assumed-role/AWSReservedSSO_Admin_0123456789abcdef/bob@example.com", 2,
     ["198.51.100.7"]),
]
LEAKED = "arn:aws:iam::123456789012:user/leaked-ci"
# A busy deployment's known-good list names its regular readers (all but the other account's admin).
_REGULARS = ", ".join(f'"{who}"' for who, _, _ in BUSY_ACTORS if "210987654321" not in who)
BUSY_CONFIG = re.sub(r"principals: \[.*\]", f"principals: [{_REGULARS}]", CONFIG)


def busy_record(rng: random.Random, record: dict[str, Any], progress: float) -> dict[str, Any]:
    """Rewrite a generated record's who/where (and TLS, errors) as a busy bucket's traffic has them."""
    if "requester" not in record or record.get("requester") == "AmazonS3":
        return record  # lifecycle records stay as generated
    if 0.40 <= progress < 0.40 + 1 / 144 and rng.random() < 0.5:  # one hour of the six days
        record.update(requester=LEAKED, remoteip="192.0.2.66", operation="REST.GET.OBJECT", httpstatus=200,
                      errorcode=None, bucket="payroll-exports")
        return record
    roll = rng.random() * 100
    for requester, weight, addresses in BUSY_ACTORS:
        if roll < weight:
            record.update(requester=requester, remoteip=rng.choice(addresses))
            if record.get("bucket") == "static-site-assets" and rng.random() < 0.05:
                record["requester"] = None  # the public site's anonymous visitors
            break
        roll -= weight
    if record.get("ciphersuite") is None and "tlsVersion" in record and rng.random() < 0.9:
        record.update(ciphersuite="ECDHE-RSA-AES128-GCM-SHA256", tlsVersion="TLSv1.2")  # 0.3% without TLS
    if record.get("errorcode") and rng.random() < 0.75:  # errors 2% instead of 8%
        record.update(httpstatus=200, errorcode=None)
    return record


def generate(profile: str, lines: int, files: int, seed: int) -> Path:
    if profile == "attack":
        return bench_ingest.generate(lines, files, seed)
    folder = bench_ingest.OUT / f"access-{profile}-{lines}-{files}-{seed}"
    marker = folder / ".complete"
    if marker.exists():
        return folder
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    rng = random.Random(seed + 1)
    per_file = -(-lines // files)
    produced = gen_access_logs.generate(lines, seed)
    for i in range(files):
        count = min(per_file, lines - i * per_file)
        with open(folder / f"2020-05-10-00-00-{i:02d}-{seed:016X}", "w", encoding="utf-8") as out:
            batch = []
            for j in range(count):
                record, fields, _ = next(produced)
                batch.append(format_access_log_line(busy_record(rng, record, (i * per_file + j) / lines), fields))
            out.write("\n".join(batch) + "\n")
    marker.touch()
    return folder


def child(folder: str, config: str) -> None:
    from bucketwatch.cli import build_parser, main

    build_parser()  # imports are not part of the measurement (as in bench_ingest)
    scratch = Path(tempfile.mkdtemp(prefix="bench-detect-"))
    cpu_before = time.process_time()
    started = time.perf_counter()
    code = main(["detect", folder, "--lake", str(scratch / "lake"), "--config", config, "--quiet",
                 "--alerts", str(scratch / "alerts.jsonl")])
    elapsed = time.perf_counter() - started
    cpu = time.process_time() - cpu_before
    if code:
        raise SystemExit(code)
    alerts = len((scratch / "alerts.jsonl").read_text().splitlines()) if (scratch / "alerts.jsonl").exists() else 0
    rss_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    shutil.rmtree(scratch, ignore_errors=True)
    print(json.dumps({"elapsed": elapsed, "cpu": cpu, "rss_mb": rss_kb / 1024, "alerts": alerts}))


def measure_detect(folder: Path, config: Path) -> dict:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "ARROW_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, __file__, "--child", str(folder), str(config)],
                          capture_output=True, text=True, env=env, cwd=REPO)
    if done.returncode:
        raise SystemExit(f"detect failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--files", type=int, default=8)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--traffic", choices=("attack", "busy"), default="attack",
                        help="traffic profile of the generated logs (see the module docstring)")
    parser.add_argument("--child", nargs=2, metavar=("FOLDER", "CONFIG"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return
    folder = generate(args.traffic, args.lines, args.files, args.seed)
    config = bench_ingest.OUT / f"bench_detect_config_{args.traffic}.yml"
    config.write_text(CONFIG if args.traffic == "attack" else BUSY_CONFIG)
    print(f"input: {args.lines:,} lines in {args.files} files, {args.traffic} traffic ({folder})")
    for path in folder.iterdir():  # warm the page cache so the first measured run is not penalized
        path.read_bytes()
    detect = measure_detect(folder, config)
    ingest = bench_ingest.measure("ours", folder, 1)
    duck = bench_ingest.measure("duckdb", folder, 1)
    runs = (("detect", detect), ("ingest", ingest), ("duckdb", duck))
    rates = {name: args.lines / run["elapsed"] for name, run in runs}
    cpu_rates = {name: args.lines / run["cpu"] for name, run in runs}
    print(f"detect (all rules): {rates['detect']:>10,.0f} lines/s  {detect['elapsed']:6.2f} s  "
          f"{cpu_rates['detect']:>10,.0f} lines/CPU-s  peak RSS {detect['rss_mb']:6.0f} MB  {detect['alerts']} alerts")
    print(f"ingest only:        {rates['ingest']:>10,.0f} lines/s  {ingest['elapsed']:6.2f} s  "
          f"{cpu_rates['ingest']:>10,.0f} lines/CPU-s  peak RSS {ingest['rss_mb']:6.0f} MB")
    print(f"duckdb (threads=1): {rates['duckdb']:>10,.0f} lines/s  {duck['elapsed']:6.2f} s  "
          f"{cpu_rates['duckdb']:>10,.0f} lines/CPU-s")
    print(f"ratio detect/ingest: {rates['detect'] / rates['ingest']:.2f} wall, "
          f"{cpu_rates['detect'] / cpu_rates['ingest']:.2f} per CPU-second  (goal >= 0.80)")
    print(f"ratio detect/duckdb: {rates['detect'] / rates['duckdb']:.2f}   ratio ingest/duckdb: "
          f"{rates['ingest'] / rates['duckdb']:.2f}")


if __name__ == "__main__":
    main()
