"""Pipeline micro-benchmark: microseconds per event for each stage the
service runs on its reader thread, on synthetic records (no kernel needed).

    .venv/bin/python bench/pipeline.py [--events N] [--repeat R]

Stages: decode (raw buffer rows -> record array, merged in timestamp order),
build (thread/fd context and event encoding) and frame (one subscriber's
filter, sequence numbers and framing); apart from the total, the framing
for a subscriber with a field mask (without the thread's exe and container
and the fd's path: messages cut inside, the costliest kind). The records
are `write` and `read` syscall exits on a few fds of one process, plus a
share of `openat` with paths (--opens), which changes the fd table and so
breaks the runs the pipeline handles a column at a time.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import numpy as np

from kindling.server.catalog import CATALOG
from kindling.server.drivers.base import RecordBatch
from kindling.server.drivers.merge import TimestampMerger
from kindling.server.drivers.transports.base import decode
from kindling.server.pipeline.builder import EventBuilder
from kindling.server.pipeline.encode.framing import frame_events
from kindling.server.pipeline.encode.mask import FieldRule, compile_mask, resolve
from kindling.server.pipeline.enrich.procfs import cgroup2_mount
from kindling.server.record import LONG_RECORD_SIZE, PATH_MAX, RECORD_DTYPE, RECORD_SIZE

Rows = np.ndarray  # (n, record size) uint8
MASKED = ("thread.exe", "thread.container_id", "fd.path")
MASK = compile_mask(
    [FieldRule(frozenset(), include=False, paths=frozenset(map(resolve, MASKED)))],
    CATALOG.max_id + 1,
)


def synthetic_rows(n: int, fds: list[int], opens: float = 0.1) -> tuple[Rows, Rows]:
    records = np.zeros(n, dtype=RECORD_DTYPE)
    rng = np.random.default_rng(7)
    io = (1 - opens) / 2
    names = rng.choice(["write", "read", "openat"], size=n, p=[io, io, opens])
    records["event_id"] = [CATALOG.by_name[str(name)].id for name in names]
    records["ts"] = 10**12 + np.arange(n, dtype=np.uint64) * 1000
    records["latency_ns"] = rng.integers(300, 50_000, size=n)
    records["ret"] = rng.integers(1, 4096, size=n)
    records["pid"] = os.getpid()
    records["tid"] = os.getpid()
    records["arg0"] = rng.choice(fds, size=n)
    records["arg1"] = 4096
    records["flags"] = 1
    records["cpu"] = rng.integers(0, 2, size=n)
    records["comm"] = b"app"
    records["cgroup_id"] = os.stat(cgroup2_mount() or "/").st_ino  # a cgroup that exists
    path = b"/var/lib/app/data.db\0"
    is_open = names == "openat"
    records["path_len"] = np.where(is_open, len(path), 0)
    records["flags"] |= np.where(is_open, 2, 0).astype(np.uint16)
    raw = records.view(np.uint8).reshape(n, RECORD_SIZE)
    short = np.ascontiguousarray(raw[~is_open])
    long = np.zeros((int(is_open.sum()), LONG_RECORD_SIZE), dtype=np.uint8)
    long[:, :RECORD_SIZE] = raw[is_open]
    long[:, RECORD_SIZE : RECORD_SIZE + len(path)] = np.frombuffer(path, dtype=np.uint8)
    assert LONG_RECORD_SIZE - RECORD_SIZE == PATH_MAX
    return short, long


def measure(n: int, batch_size: int, fds: list[int], opens: float) -> dict[str, float]:
    """Run n events through the stages in drains of batch_size records."""
    short, long = synthetic_rows(n, fds, opens)
    builder = EventBuilder(CATALOG)
    merger = TimestampMerger(0)
    spent = {"decode": 0.0, "build": 0.0, "frame": 0.0, "masked": 0.0}
    share = batch_size * len(short) // n
    path_share = batch_size - share
    p = w = 0
    while p < len(short) or w < len(long):
        start = time.perf_counter()
        drain = decode([short[p : p + share]], [long[w : w + path_share]])
        records, tails = merger.push(drain.records, drain.tails, 2**63)
        decoded = time.perf_counter()
        batch = builder.build(RecordBatch(records, tails))
        built = time.perf_counter()
        frame_events(batch, np.arange(len(batch), dtype=np.int64), 1)
        framed = time.perf_counter()
        frame_events(batch, np.arange(len(batch), dtype=np.int64), 1, fields=MASK)
        masked = time.perf_counter()
        spent["decode"] += decoded - start
        spent["build"] += built - decoded
        spent["frame"] += framed - built
        spent["masked"] += masked - framed
        p += share
        w += path_share
    return {stage: seconds / n * 1e6 for stage, seconds in spent.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument(
        "--batch", type=int, default=2048, help="records per drain (default: %(default)s)"
    )
    parser.add_argument(
        "--opens",
        type=float,
        default=0.1,
        help="share of openat events among read/write ones (default: %(default)s)",
    )
    args = parser.parse_args()
    # Real open fds of this process, so their context resolves as in life.
    files = [open(os.devnull, "rb") for _ in range(4)]  # noqa: SIM115
    fds = [f.fileno() for f in files]
    runs = [measure(args.events, args.batch, fds, args.opens) for _ in range(args.repeat)]
    for f in files:
        f.close()
    total = 0.0
    print(
        f"{args.events:,} events in drains of {args.batch:,} records, "
        f"{args.opens:.0%} of them openat"
    )
    print(f"{'stage':<8} {'us/event (median of ' + str(args.repeat) + ')':>24}")
    for stage in ("decode", "build", "frame"):
        value = statistics.median(run[stage] for run in runs)
        total += value
        print(f"{stage:<8} {value:>24.2f}")
    print(f"{'total':<8} {total:>24.2f}   ({1e6 / total:,.0f} events per CPU-second)")
    masked = statistics.median(run["masked"] for run in runs)
    print(f"{'frame, field mask':<8} {masked:>15.2f}   (instead of frame: {', '.join(MASKED)} cut)")


if __name__ == "__main__":
    main()
