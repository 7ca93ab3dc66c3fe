"""Detection benchmark: end-to-end `detect` (every built-in rule enabled) vs `ingest` alone,
and both vs DuckDB's split parse to Parquet, measured in the same run.

    .venv/bin/python bench/bench_detect.py [--lines 1000000] [--files 8] [--seed 7]

Uses the ingest benchmark's generated access logs (bench/gen_access_logs.py via
bench/bench_ingest.py) and its ingest/DuckDB measurements, each in a fresh child process on one
thread. `detect` writes the same lake plus rule matches and keeps alerts in memory. The goal
(issue 3): detect throughput within 20% of ingest-only throughput (ratio >= 0.80).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))

import bench_ingest  # noqa: E402  (the ingest benchmark: generator, ingest and DuckDB runs)

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


def child(folder: str, config: str) -> None:
    from bucketwatch.cli import main

    scratch = Path(tempfile.mkdtemp(prefix="bench-detect-"))
    started = time.perf_counter()
    code = main(["detect", folder, "--lake", str(scratch / "lake"), "--config", config, "--quiet",
                 "--alerts", str(scratch / "alerts.jsonl")])
    elapsed = time.perf_counter() - started
    if code:
        raise SystemExit(code)
    alerts = len((scratch / "alerts.jsonl").read_text().splitlines()) if (scratch / "alerts.jsonl").exists() else 0
    rss_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    shutil.rmtree(scratch, ignore_errors=True)
    print(json.dumps({"elapsed": elapsed, "rss_mb": rss_kb / 1024, "alerts": alerts}))


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
    parser.add_argument("--child", nargs=2, metavar=("FOLDER", "CONFIG"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return
    folder = bench_ingest.generate(args.lines, args.files, args.seed)
    config = bench_ingest.OUT / "bench_detect_config.yml"
    config.write_text(CONFIG)
    print(f"input: {args.lines:,} lines in {args.files} files ({folder})")
    for path in folder.iterdir():  # warm the page cache so the first measured run is not penalized
        path.read_bytes()
    detect = measure_detect(folder, config)
    ingest = bench_ingest.measure("ours", folder, 1)
    duck = bench_ingest.measure("duckdb", folder, 1)
    rates = {name: args.lines / run["elapsed"] for name, run in
             (("detect", detect), ("ingest", ingest), ("duckdb", duck))}
    print(f"detect (all rules): {rates['detect']:>10,.0f} lines/s  {detect['elapsed']:6.2f} s  "
          f"peak RSS {detect['rss_mb']:6.0f} MB  {detect['alerts']} alerts")
    print(f"ingest only:        {rates['ingest']:>10,.0f} lines/s  {ingest['elapsed']:6.2f} s  peak RSS {ingest['rss_mb']:6.0f} MB")
    print(f"duckdb (threads=1): {rates['duckdb']:>10,.0f} lines/s  {duck['elapsed']:6.2f} s")
    print(f"ratio detect/ingest: {rates['detect'] / rates['ingest']:.2f}  (goal >= 0.80)")
    print(f"ratio detect/duckdb: {rates['detect'] / rates['duckdb']:.2f}   ratio ingest/duckdb: "
          f"{rates['ingest'] / rates['duckdb']:.2f}")


if __name__ == "__main__":
    main()
