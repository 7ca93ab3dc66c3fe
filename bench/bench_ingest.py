"""Ingest benchmark: our end-to-end `ingest` vs DuckDB's own split parse to hive-partitioned Parquet.

    .venv/bin/python bench/bench_ingest.py [--shape delivered,backfill] [--lines 600000] [--repeat 3] [--cpu 1]
    .venv/bin/python bench/bench_ingest.py --shape files --lines 1000000 --files 8 [--workers 2] [--small 250000]
    .venv/bin/python bench/bench_ingest.py --manifest-overhead 5 [--shape delivered] [--lines 600000]
    .venv/bin/python bench/bench_ingest.py --shape delivered --baseline /tmp/base [--no-duckdb]

Input shapes (generated once into bench/out/, realistic varied lines from bench/gen_access_logs.py):
- delivered: S3's delivery shape: --objects (240) objects, each one hour of time-ordered lines
             (a few seconds of jitter across the boundary), consecutive hours, named as S3 names them;
- backfill:  ONE file whose lines span 28 days x 24 hours in no time order (an archive concatenated
             from many buckets' and days' objects: what users point `ingest` at first);
- files:     --files files of time-ordered lines over 6 days (the earlier benchmark's shape).

Each side runs in a fresh child process on one thread, pinned with `taskset -c CPU` to the same
core (unless --workers > 1), --repeat times, interleaved (ours, duckdb, duckdb, ours, ...) because
the machine is shared; it prints the medians (wall clock and CPU seconds) and the ratio
ours/duckdb of each shape, and the load average before and after.
- ours:   `bucketwatch ingest` (parse, validate, normalize, p_ fields, hour partitions of zstd
          Parquet (Snappy for files under 100 rows), the exactly-once manifest)
- duckdb: read lines, split on '"' and ' ', strptime, casts, write zstd Parquet partitioned by the
          UTC year/month/day/hour (PARTITION_BY, hive folders), threads=1
`--baseline DIR` adds a third side, `base`: our `ingest` from another source tree (a commit to
compare against, e.g. `git archive main | tar -x -C DIR`), in the same interleaved runs.
`--small N` (files shape) measures our peak RSS again on N lines: flat memory means it does not grow.

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
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
OUT = HERE / "out"
SHAPES = ("delivered", "backfill", "files")
BACKFILL_DAYS = 28

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
  ), r AS (
    SELECT h[1] AS bucketowner, h[2] AS bucket,
           strptime(h[3] || ' ' || h[4], '[%d/%b/%Y:%H:%M:%S %z]')::TIMESTAMP AS "time",
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
  )
  SELECT *, year("time") AS year, month("time") AS month, day("time") AS day, hour("time") AS hour FROM r
) TO {target} (FORMAT parquet, COMPRESSION zstd, PARTITION_BY (year, month, day, hour));
"""


def _write_lines(path: Path, lines: Iterator[str], count: int) -> None:
    with open(path, "w", encoding="utf-8") as out:
        batch = []
        for _ in range(count):
            batch.append(next(lines))
            if len(batch) == 10_000:
                out.write("\n".join(batch) + "\n")
                batch.clear()
        if batch:
            out.write("\n".join(batch) + "\n")


def generate(shape: str, lines: int, files: int, seed: int) -> Path:
    """The input folder of a shape (generated once, reused while its marker exists)."""
    folder = OUT / (f"access-{lines}-{files}-{seed}" if shape == "files" else f"{shape}-{lines}-{files}-{seed}")
    marker = folder / ".complete"
    if marker.exists():
        return folder
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    sys.path.insert(0, str(HERE))
    import gen_access_logs

    if shape == "backfill":
        span = BACKFILL_DAYS * 24 * 3600
        produced = (line for _, _, line in gen_access_logs.generate(lines, seed, ordered=False, span_seconds=span))
        _write_lines(folder / "access-logs-archive.log", produced, lines)
    else:
        # delivered: one hour per object, consecutive hours; files: the 6-day span cut into `files`
        span = files * 3600 if shape == "delivered" else gen_access_logs.SPAN_SECONDS
        produced = (line for _, _, line in gen_access_logs.generate(lines, seed, span_seconds=span))
        per_file = -(-lines // files)
        for i in range(files):
            delivered = gen_access_logs.START + timedelta(hours=i + 1, minutes=seed % 60)
            name = (f"{delivered:%Y-%m-%d-%H-%M-%S}-{seed:08X}{i:08X}" if shape == "delivered"
                    else f"2020-05-10-00-00-{i:02d}-{seed:016X}")
            _write_lines(folder / name, produced, min(per_file, lines - i * per_file))
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
                                      target=f"'{scratch / 'out'}'"))
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


def measure(kind: str, folder: Path, workers: int, cpu: int | None, baseline: Path | None = None) -> dict:
    """One side in a fresh child process; pinned to core `cpu` with taskset when it runs on one.
    `base` is our `ingest` from the `baseline` source tree (its own bench script and imports)."""
    one_thread = workers == 1 or kind == "duckdb"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "ARROW_NUM_THREADS": "1"} if one_thread else dict(os.environ)
    tree, script = REPO, __file__
    if kind == "base":
        if baseline is None:
            raise SystemExit("the base side needs --baseline DIR")
        tree, script, kind = baseline, str(baseline / "bench" / "bench_ingest.py"), "ours"
        env["PYTHONPATH"] = str(baseline)
    pin = ["taskset", "-c", str(cpu)] if cpu is not None and one_thread else []
    done = subprocess.run([*pin, sys.executable, script, "--child", kind, str(folder), "--workers", str(workers)],
                          capture_output=True, text=True, env=env, cwd=tree)
    if done.returncode:
        raise SystemExit(f"{kind} failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def manifest_overhead(folder: Path, runs: int, cpu: int | None) -> None:
    cpu_s: dict[str, list[float]] = {"ours": [], "plain": []}
    wall: dict[str, list[float]] = {"ours": [], "plain": []}
    for number in range(runs):
        for kind in ("plain", "ours") if number % 2 else ("ours", "plain"):
            result = measure(kind, folder, 1, cpu)
            cpu_s[kind].append(result["cpu"])
            wall[kind].append(result["elapsed"])
            print(f"run {number + 1} {kind:5}: {result['cpu']:6.2f} CPU-s, {result['elapsed']:6.2f} s wall, "
                  f"{result['files']} files", flush=True)
    ours, plain = statistics.median(cpu_s["ours"]), statistics.median(cpu_s["plain"])
    print(f"median CPU: with manifest {ours:.2f} s, without {plain:.2f} s: overhead {100 * (ours / plain - 1):+.1f}%")
    print(f"median wall: with manifest {statistics.median(wall['ours']):.2f} s, "
          f"without {statistics.median(wall['plain']):.2f} s")


def compare(shape: str, folder: Path, lines: int, args: argparse.Namespace) -> dict[str, tuple[float, float]]:
    """The sides (ours, duckdb, and base with --baseline), --repeat times interleaved (the order
    rotates each run); prints each run and the medians; returns the ratios (wall, CPU) of the
    medians: ours/duckdb and, with --baseline, ours/base (> 1: ours is faster)."""
    sides = [kind for kind in ("ours", "base", "duckdb") if kind in args.sides]
    runs: dict[str, list[dict]] = {kind: [] for kind in sides}
    for number in range(args.repeat):
        order = sides[number % len(sides):] + sides[:number % len(sides)]
        for kind in order if number % 2 == 0 else order[::-1]:
            workers = args.workers if kind != "duckdb" else 1
            result = measure(kind, folder, workers, args.cpu, args.baseline)
            runs[kind].append(result)
            print(f"  {shape} run {number + 1} {kind:6}: {result['elapsed']:6.2f} s wall, {result['cpu']:6.2f} CPU-s, "
                  f"peak RSS {result['rss_mb']:4.0f} MB, Parquet {result['output_mb']:.0f} MB in {result['files']} files",
                  flush=True)
    medians = {kind: (statistics.median(r["elapsed"] for r in rs), statistics.median(r["cpu"] for r in rs))
               for kind, rs in runs.items()}
    labels = {"ours": f"ours   (workers={args.workers})", "base": f"base   (workers={args.workers})",
              "duckdb": "duckdb (threads=1)"}
    for kind in sides:
        wall, cpu = medians[kind]
        print(f"{shape:9} {labels[kind]}: {lines / wall:>9,.0f} lines/s wall ({wall:6.2f} s), {lines / cpu:>9,.0f} "
              f"lines per CPU-second ({cpu:6.2f} s) [medians of {args.repeat}]")
    ratios = {}
    for other in sides[1:]:
        ratio_wall = medians[other][0] / medians["ours"][0]
        ratio_cpu = medians[other][1] / medians["ours"][1]
        print(f"{shape:9} ratio ours/{other}: {ratio_wall:.2f} wall, {ratio_cpu:.2f} per CPU-second", flush=True)
        ratios[other] = (ratio_wall, ratio_cpu)
    return ratios


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shape", default="delivered,backfill", help=f"comma-separated: {', '.join(SHAPES)}")
    parser.add_argument("--lines", type=int, default=600_000)
    parser.add_argument("--objects", type=int, default=240, help="objects of the delivered shape (one hour each)")
    parser.add_argument("--files", type=int, default=8, help="files of the `files` shape")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=3, help="runs of each side per shape (medians are printed)")
    parser.add_argument("--cpu", type=int, default=max(os.sched_getaffinity(0)),
                        help="the core both sides are pinned to (taskset -c); -1: not pinned")
    parser.add_argument("--baseline", type=Path, metavar="DIR",
                        help="also time our ingest from this source tree (e.g. `git archive main | tar -x -C DIR`), "
                             "interleaved, and print ours/base")
    parser.add_argument("--no-duckdb", action="store_true", help="with --baseline: ours vs base only")
    parser.add_argument("--small", type=int, default=0, help="files shape: our peak RSS again at this many lines")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--manifest-overhead", type=int, metavar="N", default=0,
                        help="measure ingest with and without the manifest, N runs each")
    parser.add_argument("--child", nargs=2, metavar=("KIND", "FOLDER"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child[0], args.child[1], args.workers)
        return
    args.cpu = None if args.cpu < 0 else args.cpu
    args.sides = ["ours", *(["base"] if args.baseline else []), *([] if args.no_duckdb and args.baseline else ["duckdb"])]
    shapes = args.shape.split(",")
    if unknown := [s for s in shapes if s not in SHAPES]:
        parser.error(f"unknown shape {unknown[0]!r}: use {', '.join(SHAPES)}")
    print(f"{datetime.now():%Y-%m-%d %H:%M}, load average {_load()}, pinned to core {args.cpu}", flush=True)
    ratios = {}
    for shape in shapes:
        files = {"delivered": args.objects, "backfill": 1, "files": args.files}[shape]
        folder = generate(shape, args.lines, files, args.seed)
        size_mb = sum(p.stat().st_size for p in folder.iterdir()) / 1e6
        print(f"{shape}: {args.lines:,} lines in {files} file(s), {size_mb:,.0f} MB ({folder})", flush=True)
        if args.manifest_overhead:
            manifest_overhead(folder, args.manifest_overhead, args.cpu)
            continue
        ratios[shape] = compare(shape, folder, args.lines, args)
        if shape == "files" and args.small and args.small < args.lines:
            # Same file size, fewer files: only the input size changes between the two runs.
            small = generate("files", args.small, max(1, args.files * args.small // args.lines), args.seed)
            small_rss = measure("ours", small, args.workers, args.cpu)["rss_mb"]
            print(f"flat memory: peak RSS {small_rss:.0f} MB at {args.small:,} lines")
    for shape, by_side in ratios.items():
        for other, (wall, cpu) in by_side.items():
            print(f"RESULT {shape:9} ours/{other} {wall:.2f} wall, {cpu:.2f} per CPU-second")
    print(f"load average at the end {_load()}")


if __name__ == "__main__":
    main()
