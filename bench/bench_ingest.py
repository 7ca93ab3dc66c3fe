"""Ingest benchmark: our end-to-end `ingest` vs DuckDB's own split parse to Parquet, same run.

    .venv/bin/python bench/bench_ingest.py [--lines 1000000] [--files 8] [--workers 1] [--small 250000]
    .venv/bin/python bench/bench_ingest.py --manifest-overhead 5 [--lines 1000000] [--files 8]

Generates realistic, varied S3 server access log lines (bench/gen_access_logs.py) into --files
files, then runs, each in a fresh child process on one thread:
- ours:   `bucketwatch ingest` (parse, normalize, p_ fields, partitioned Parquet with zstd)
- duckdb: read lines, split on '"' and ' ', strptime, casts, write Parquet with zstd (threads=1)
and prints lines/s for both, the ratio ours/duckdb, and peak RSS. Memory is measured again on
--small lines: flat memory means the peak does not grow with input size. `--workers N` runs
ours with N processes (files are spread over them); the baseline stays on one thread.

`--manifest-overhead N` measures what exactly-once costs: `bucketwatch ingest` (manifest, staging,
atomic commits, the invariant) against the same parsing and Parquet writing straight into a lake
folder without any of it ("plain"), N runs each, alternating, each in a fresh child process into
a fresh lake; it prints the CPU seconds of both (median) and the overhead in percent.
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
OUT = HERE / "out"

DUCKDB_SQL = r"""
SET threads = 1;
COPY (
  WITH raw AS (
    SELECT line FROM read_csv({files}, columns = {{'line': 'VARCHAR'}}, delim = '\t', quote = '', escape = '',
                              header = false, auto_detect = false)
  ), q AS (
    SELECT string_split(line, '"') AS p FROM raw
  ), s AS (
    SELECT string_split(p[1], ' ') AS h, p[2] AS uri, string_split(p[3], ' ') AS m, p[4] AS ref, p[6] AS ua,
           string_split(p[7], ' ') AS t
    FROM q
  )
  SELECT h[1] AS bucketowner, h[2] AS bucket,
         strptime(h[3] || ' ' || h[4], '[%d/%b/%Y:%H:%M:%S %z]') AS "time",
         nullif(h[5], '-') AS remoteip, nullif(h[6], '-') AS requester, nullif(h[7], '-') AS requestid,
         nullif(h[8], '-') AS operation, nullif(h[9], '-') AS "key", nullif(uri, '-') AS requesturi,
         TRY_CAST(nullif(m[2], '-') AS BIGINT) AS httpstatus, nullif(m[3], '-') AS errorcode,
         TRY_CAST(nullif(m[4], '-') AS BIGINT) AS bytessent, TRY_CAST(nullif(m[5], '-') AS BIGINT) AS objectsize,
         TRY_CAST(nullif(m[6], '-') AS BIGINT) AS totaltime, TRY_CAST(nullif(m[7], '-') AS BIGINT) AS turnaroundtime,
         nullif(ref, '-') AS referrer, nullif(ua, '-') AS useragent,
         nullif(t[2], '-') AS versionid, nullif(t[3], '-') AS hostid, nullif(t[4], '-') AS signatureversion,
         nullif(t[5], '-') AS ciphersuite, nullif(t[6], '-') AS authenticationtype, nullif(t[7], '-') AS hostheader,
         nullif(t[8], '-') AS "tlsVersion", nullif(t[9], '-') AS accesspointarn, nullif(t[10], '-') AS aclrequired,
         nullif(t[11], '-') AS sourceregion
  FROM s
) TO {target} (FORMAT parquet, COMPRESSION zstd);
"""


def generate(lines: int, files: int, seed: int) -> Path:
    folder = OUT / f"access-{lines}-{files}-{seed}"
    marker = folder / ".complete"
    if marker.exists():
        return folder
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    sys.path.insert(0, str(HERE))
    from gen_access_logs import generate as generate_lines

    per_file = -(-lines // files)
    iterator = generate_lines(lines, seed)
    for i in range(files):
        count = min(per_file, lines - i * per_file)
        with open(folder / f"2020-05-10-00-00-{i:02d}-{seed:016X}", "w", encoding="utf-8") as out:
            batch = []
            for _ in range(count):
                batch.append(next(iterator)[2])
                if len(batch) == 10_000:
                    out.write("\n".join(batch) + "\n")
                    batch.clear()
            if batch:
                out.write("\n".join(batch) + "\n")
    marker.touch()
    return folder


def child(kind: str, folder: str, workers: int) -> None:
    """Run one side in this (fresh) process and print elapsed seconds and peak RSS as JSON."""
    scratch = Path(tempfile.mkdtemp(prefix=f"bench-{kind}-"))
    if kind == "ours":  # imports (all CLI commands) are not part of the measurement
        from bucketwatch.cli import build_parser, main

        build_parser()
    elif kind == "plain":
        from detectors.lake.ingest import ObjectBuffer
        from detectors.lake.writer import LakeWriter
        from detectors.pipeline import parse_inputs
    else:
        import duckdb
    cpu_before = _cpu_seconds()
    started = time.perf_counter()
    if kind == "ours":
        code = main(["ingest", folder, "--lake", str(scratch / "lake"), "--workers", str(workers)])
        if code:
            raise SystemExit(code)
    elif kind == "plain":  # the same parse and Parquet writes, no manifest/staging/commit
        buffer, source = ObjectBuffer(LakeWriter(scratch / "lake")), None
        for batch in parse_inputs([folder]):
            if batch.source != source:
                buffer.flush()
                source = batch.source
            buffer.add(batch)
        buffer.flush()
    else:
        files = sorted(str(p) for p in Path(folder).iterdir() if not p.name.startswith("."))
        con = duckdb.connect()
        con.execute(DUCKDB_SQL.format(files="[" + ", ".join(f"'{f}'" for f in files) + "]",
                                      target=f"'{scratch / 'out.parquet'}'"))
    elapsed = time.perf_counter() - started
    cpu = _cpu_seconds() - cpu_before
    rss_kb = max(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
    parquet = list(scratch.rglob("*.parquet"))
    output_mb = sum(p.stat().st_size for p in parquet) / 1e6
    shutil.rmtree(scratch, ignore_errors=True)
    print(json.dumps({"elapsed": elapsed, "cpu": cpu, "rss_mb": rss_kb / 1024, "output_mb": output_mb,
                      "files": len(parquet)}))


def _cpu_seconds() -> float:
    """User + system CPU of this process and its finished children (the workers)."""
    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def measure(kind: str, folder: Path, workers: int) -> dict:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "ARROW_NUM_THREADS": "1"} if workers == 1 or kind == "duckdb" \
        else dict(os.environ)
    done = subprocess.run([sys.executable, __file__, "--child", kind, str(folder), "--workers", str(workers)],
                          capture_output=True, text=True, env=env, cwd=REPO)
    if done.returncode:
        raise SystemExit(f"{kind} failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def manifest_overhead(folder: Path, runs: int) -> None:
    import statistics

    cpu: dict[str, list[float]] = {"ours": [], "plain": []}
    wall: dict[str, list[float]] = {"ours": [], "plain": []}
    for number in range(runs):
        for kind in ("plain", "ours") if number % 2 else ("ours", "plain"):
            result = measure(kind, folder, 1)
            cpu[kind].append(result["cpu"])
            wall[kind].append(result["elapsed"])
            print(f"run {number + 1} {kind:5}: {result['cpu']:6.2f} CPU-s, {result['elapsed']:6.2f} s wall, "
                  f"{result['files']} files", flush=True)
    ours, plain = statistics.median(cpu["ours"]), statistics.median(cpu["plain"])
    print(f"median CPU: with manifest {ours:.2f} s, without {plain:.2f} s: overhead {100 * (ours / plain - 1):+.1f}%")
    print(f"median wall: with manifest {statistics.median(wall['ours']):.2f} s, "
          f"without {statistics.median(wall['plain']):.2f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--files", type=int, default=8)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--small", type=int, default=250_000, help="size of the flat-memory comparison run")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--manifest-overhead", type=int, metavar="N", default=0,
                        help="measure ingest with and without the manifest, N runs each")
    parser.add_argument("--child", nargs=2, metavar=("KIND", "FOLDER"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child[0], args.child[1], args.workers)
        return
    folder = generate(args.lines, args.files, args.seed)
    size_mb = sum(p.stat().st_size for p in folder.iterdir()) / 1e6
    print(f"input: {args.lines:,} lines in {args.files} files, {size_mb:,.0f} MB ({folder})")
    if args.manifest_overhead:
        manifest_overhead(folder, args.manifest_overhead)
        return
    ours = measure("ours", folder, args.workers)
    duck = measure("duckdb", folder, 1)
    ours_rate, duck_rate = args.lines / ours["elapsed"], args.lines / duck["elapsed"]
    ours_cpu_rate, duck_cpu_rate = args.lines / ours["cpu"], args.lines / duck["cpu"]
    for label, rate, cpu_rate, run in ((f"ours   (workers={args.workers})", ours_rate, ours_cpu_rate, ours),
                                       ("duckdb (threads=1)", duck_rate, duck_cpu_rate, duck)):
        print(f"{label}: {rate:>10,.0f} lines/s wall ({run['elapsed']:6.2f} s), {cpu_rate:>10,.0f} lines per "
              f"CPU-second ({run['cpu']:6.2f} s), peak RSS {run['rss_mb']:5.0f} MB, "
              f"Parquet {run['output_mb']:.0f} MB in {run['files']} files")
    print(f"ratio ours/duckdb: {ours_rate / duck_rate:.2f} wall, {ours_cpu_rate / duck_cpu_rate:.2f} per CPU-second")
    if args.small and args.small < args.lines:
        # Same file size, fewer files: only the input size changes between the two runs.
        small = generate(args.small, max(1, args.files * args.small // args.lines), args.seed)
        small_ours = measure("ours", small, args.workers)
        print(f"flat memory: peak RSS {small_ours['rss_mb']:.0f} MB at {args.small:,} lines vs "
              f"{ours['rss_mb']:.0f} MB at {args.lines:,} lines")


if __name__ == "__main__":
    main()
