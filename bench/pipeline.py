"""Pipeline micro-benchmark: microseconds per event for each stage the
service runs on its reader thread, on synthetic records (no kernel needed).

    .venv/bin/python bench/pipeline.py [--events N] [--repeat R]

Stages: decode (raw perf samples -> record array), build (thread/fd context
and event encoding) and frame (per-subscriber sequence numbers). The records
are `write` and `read` syscall exits on a few fds of one process, plus a
share of `openat` with paths, which is what a busy process looks like.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import numpy as np

from kindling.server.catalog import CATALOG
from kindling.server.drivers.base import RecordBatch
from kindling.server.drivers.records import RECORD_BASE_SIZE, RECORD_DTYPE, decode
from kindling.server.pipeline.broker import frame_events
from kindling.server.pipeline.events import EventBuilder


def synthetic_samples(n: int) -> tuple[list[bytes], list[bytes]]:
    records = np.zeros(n, dtype=RECORD_DTYPE)
    rng = np.random.default_rng(7)
    names = rng.choice(["write", "read", "openat"], size=n, p=[0.45, 0.45, 0.10])
    records["event_id"] = [CATALOG.by_name[str(name)].id for name in names]
    records["ts"] = 10**12 + np.arange(n, dtype=np.uint64) * 1000
    records["latency_ns"] = rng.integers(300, 50_000, size=n)
    records["ret"] = rng.integers(1, 4096, size=n)
    records["pid"] = os.getpid()
    records["tid"] = os.getpid()
    records["arg0"] = rng.integers(3, 8, size=n)
    records["arg1"] = 4096
    records["flags"] = 1
    records["cpu"] = rng.integers(0, 2, size=n)
    records["comm"] = b"app"
    plain, with_path = [], []
    for i, name in enumerate(names):
        raw = records[i : i + 1].tobytes()
        assert len(raw) == RECORD_BASE_SIZE
        if name == "openat":
            with_path.append(raw + b"/var/lib/app/data.db\0\0\0\0")
        else:
            plain.append(raw)
    return plain, with_path


def measure(n: int) -> dict[str, float]:
    plain, with_path = synthetic_samples(n)
    builder = EventBuilder(CATALOG)
    start = time.perf_counter()
    records, paths = decode(plain, with_path)
    order = np.argsort(records["ts"], kind="stable")
    records, paths = records[order], paths[order]
    decoded = time.perf_counter()
    batch = builder.build(RecordBatch(records, paths))
    built = time.perf_counter()
    frame_events(batch.events, list(range(len(batch.events))), 1)
    framed = time.perf_counter()
    return {
        "decode": (decoded - start) / n * 1e6,
        "build": (built - decoded) / n * 1e6,
        "frame": (framed - built) / n * 1e6,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    runs = [measure(args.events) for _ in range(args.repeat)]
    total = 0.0
    print(f"{'stage':<8} {'us/event (median of ' + str(args.repeat) + ')':>24}")
    for stage in ("decode", "build", "frame"):
        value = statistics.median(run[stage] for run in runs)
        total += value
        print(f"{stage:<8} {value:>24.2f}")
    print(f"{'total':<8} {total:>24.2f}   ({1e6 / total:,.0f} events per CPU-second)")


if __name__ == "__main__":
    main()
