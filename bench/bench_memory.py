"""Peak memory of `bucketwatch ingest` as the input grows: it should stay flat.

    .venv/bin/python bench/bench_memory.py [--sizes 64,256,1024] [--kinds access,cloudtrail,long-line,long-record]
                                           [--command ingest|detect]

Generates each input on the fly into a temporary folder (deleted afterwards), one file per input
so the streaming of a single file is what is measured:
- access:      S3 server access log lines (bench/gen_access_logs.py), SIZE MB in one file;
- cloudtrail:  one uncompressed CloudTrail file `{"Records": [...]}` of SIZE MB (the samples'
               records with distinct ids and times);
- long-line:   an access log with one line of SIZE MB in the middle (quarantined by reference);
- long-record: a CloudTrail file with one record of SIZE MB in the middle (likewise).
`--command detect` measures `bucketwatch detect --no-lake` instead: the rules engine on the same
batches (the detector Lambda's path). Each command runs in a fresh child process; the child reports its own peak RSS
(resource.getrusage ru_maxrss) and CPU seconds. Prints one line per input and, per kind, the
ratio of the largest input's peak to the smallest's.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
MB = 1024 * 1024
SAMPLE_TRAIL = next((REPO / "detectors" / "samples" / "logs" / "cloudtrail").rglob("*.json.gz"))


def _access_block(seed: int = 7) -> bytes:
    """About 22 MB of varied generated access log lines."""
    sys.path.insert(0, str(HERE))
    from gen_access_logs import generate

    return "".join(line + "\n" for _, _, line in generate(40_000, seed=seed)).encode()


def write_access(path: Path, size: int, block: bytes | None = None) -> int:
    """SIZE bytes of access log lines: a block of generated lines, repeated (row ids still differ:
    they include each line's position)."""
    block = block if block is not None else _access_block()
    written = lines = 0
    with path.open("ab") as out:
        while written < size:
            piece = block if size - written >= len(block) else block[: block.rfind(b"\n", 0, size - written) + 1]
            if not piece:
                break
            out.write(piece)
            written += len(piece)
            lines += piece.count(b"\n")
    return lines


def _trail_records() -> list[dict]:
    return json.loads(gzip.decompress(SAMPLE_TRAIL.read_bytes()))["Records"]


def write_cloudtrail(path: Path, size: int, long_record: int = 0) -> int:
    """One CloudTrail document of about SIZE bytes; with `long_record`, one record of that size
    in the middle."""
    records = _trail_records()
    start = datetime(2024, 5, 14, tzinfo=UTC)
    rng = random.Random(3)
    written = count = 0
    with path.open("w", encoding="utf-8") as out:
        out.write('{"Records": [')
        while written < size:
            record = dict(rng.choice(records))
            record["eventID"] = f"{count:032x}"
            record["eventTime"] = (start + timedelta(seconds=count // 50)).strftime("%Y-%m-%dT%H:%M:%SZ")
            text = json.dumps(record)
            out.write(("," if count else "") + text)
            written += len(text) + 1
            count += 1
            if long_record and count == 1000:
                out.write(',{"eventVersion": "1.09", "eventTime": "2024-05-14T10:00:00Z", "pad": "')
                _write_filler(out, long_record)
                out.write('"}')
                count += 1
        out.write("]}")
    return count


def _write_filler(out, size: int) -> None:
    chunk = "x" * MB
    for _ in range(size // MB):
        out.write(chunk)


def write_long_line(path: Path, size: int) -> int:
    """8 MB of lines, one line of SIZE bytes, 8 MB of lines."""
    block = _access_block()
    lines = write_access(path, 8 * MB, block)
    with path.open("a", encoding="utf-8") as out:
        _write_filler(out, size)
        out.write("\n")
    return lines + 1 + write_access(path, 8 * MB, block)


def generate(kind: str, size_mb: int, folder: Path) -> tuple[Path, int]:
    folder.mkdir(parents=True, exist_ok=True)
    size = size_mb * MB
    if kind == "access":
        path = folder / "2020-05-10-00-00-00-ABCDEF0123456789"
        return path, write_access(path, size)
    if kind == "cloudtrail":
        path = folder / "AWSLogs/111122223333/CloudTrail/us-east-1/2024/05/14/trail.json"
        path.parent.mkdir(parents=True)
        return path, write_cloudtrail(path, size)
    if kind == "long-line":
        path = folder / "2020-05-10-00-00-00-ABCDEF0123456780"
        return path, write_long_line(path, size)
    path = folder / "AWSLogs/111122223333/CloudTrail/us-east-1/2024/05/14/long.json"
    path.parent.mkdir(parents=True)
    return path, write_cloudtrail(path, 8 * MB, long_record=size)


def child(command: str, folder: str, lake: str) -> None:
    """Run the command in this (fresh) process; print peak RSS and CPU as JSON."""
    from bucketwatch.cli import main

    started = time.perf_counter()
    argv = ["ingest", folder, "--lake", lake] if command == "ingest" else ["detect", folder, "--no-lake", "--quiet"]
    code = main(argv)
    usage = resource.getrusage(resource.RUSAGE_SELF)
    print(json.dumps({"code": code, "rss_mb": usage.ru_maxrss / 1024, "cpu": usage.ru_utime + usage.ru_stime,
                      "elapsed": time.perf_counter() - started}))


def measure(command: str, folder: Path, lake: Path) -> dict:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "ARROW_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, __file__, "--child", command, str(folder), str(lake)],
                          capture_output=True, text=True, env=env, cwd=REPO)
    if done.returncode:
        raise SystemExit(f"{command} failed:\n{done.stderr}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    result["summary"] = done.stderr.strip().splitlines()[-1] if done.stderr.strip() else ""
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="64,256,1024", help="input sizes in MB (default 64,256,1024)")
    parser.add_argument("--kinds", default="access,cloudtrail,long-line,long-record")
    parser.add_argument("--command", choices=("ingest", "detect"), default="ingest")
    parser.add_argument("--child", nargs=3, metavar=("COMMAND", "FOLDER", "LAKE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return
    sizes = [int(s) for s in args.sizes.split(",")]
    for kind in args.kinds.split(","):
        peaks = []
        for size_mb in sizes:
            scratch = Path(tempfile.mkdtemp(prefix=f"bench-memory-{kind}-"))
            try:
                path, records = generate(kind, size_mb, scratch / "in")
                actual = path.stat().st_size / MB
                result = measure(args.command, scratch / "in", scratch / "lake")
            finally:
                shutil.rmtree(scratch, ignore_errors=True)
            peaks.append(result["rss_mb"])
            print(f"{args.command} {kind:12} {actual:7,.0f} MB input, {records:>10,} records: peak RSS {result['rss_mb']:6,.0f} MB, "
                  f"{result['cpu']:6.1f} CPU-s, exit {result['code']}", flush=True)
            print(f"{'':12} {result['summary']}", flush=True)
        if len(peaks) > 1:
            print(f"{kind:12} peak RSS at {sizes[-1]:,} MB / at {sizes[0]:,} MB: {peaks[-1] / peaks[0]:.2f}", flush=True)


if __name__ == "__main__":
    main()
