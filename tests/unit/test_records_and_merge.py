"""Decoding raw perf samples and merging per-CPU drains in timestamp order."""

from __future__ import annotations

import numpy as np
import pytest
from support.records import Rec, to_batch

from kindling.server.drivers.merge import TimestampMerger
from kindling.server.drivers.records import RECORD_BASE_SIZE, RECORD_DTYPE, decode


def _raw(rec: Rec) -> bytes:
    batch = to_batch([rec])
    if rec.path is not None:
        batch.records["path_len"] = len(rec.path) + 1  # with the NUL
    head = batch.records.tobytes()
    assert len(head) == RECORD_BASE_SIZE
    if rec.path is None:
        return head
    # perf pads raw samples to 4 mod 8 bytes; the padding is garbage.
    sample = head + rec.path + b"\0"
    return sample + b"\xaa" * ((4 - len(sample)) % 8)


def test_decode_plain_and_path_samples() -> None:
    plain = [_raw(Rec("read", ts=10, pid=7, ret=42, arg0=3, arg1=100))]
    with_path = [_raw(Rec("openat", ts=5, pid=8, ret=4, path=b"/etc/hostname"))]
    records, paths = decode(plain, with_path)
    assert records.dtype == RECORD_DTYPE
    assert records["pid"].tolist() == [7, 8]
    assert records["ret"].tolist() == [42, 4]
    assert records["comm"].tolist() == [b"app", b"app"]
    assert paths[0] is None
    assert paths[1] == b"/etc/hostname\0"  # the padding is cut off


def test_decode_nothing() -> None:
    records, paths = decode([], [])
    assert len(records) == 0
    assert len(paths) == 0


def _batch(*timestamps: int) -> tuple[np.ndarray, np.ndarray]:
    b = to_batch([Rec("read", ts=t, pid=t) for t in timestamps])
    return b.records, b.paths


def test_merge_orders_across_cpus_and_holds_back_recent_records() -> None:
    merger = TimestampMerger(slack_ns=100)
    # Two CPUs drained one after the other: out of order overall.
    records, paths = _batch(50, 901, 20, 960)
    out, _ = merger.push(records, paths, drain_start_ns=1000)
    # Everything stamped after 1000 - 100 waits for the next drain.
    assert out["ts"].tolist() == [20, 50]
    assert merger.pending == 2
    records, paths = _batch(905, 1500)
    out, _ = merger.push(records, paths, drain_start_ns=2000)
    assert out["ts"].tolist() == [901, 905, 960, 1500]
    assert merger.late == 0


def test_merge_counts_records_later_than_the_slack() -> None:
    merger = TimestampMerger(slack_ns=0)
    merger.push(*_batch(100, 200), drain_start_ns=300)
    out, _ = merger.push(*_batch(150), drain_start_ns=400)
    assert out["ts"].tolist() == [150]
    assert merger.late == 1


def test_merge_keeps_paths_aligned_and_flushes() -> None:
    merger = TimestampMerger(slack_ns=0)
    b = to_batch([Rec("openat", ts=30, path=b"/b"), Rec("openat", ts=10, path=b"/a")])
    out, out_paths = merger.push(b.records, b.paths, drain_start_ns=20)
    assert out["ts"].tolist() == [10]
    assert out_paths.tolist() == [b"/a"]
    held, held_paths = merger.flush()
    assert held["ts"].tolist() == [30]
    assert held_paths.tolist() == [b"/b"]
    assert merger.pending == 0


def test_merge_rejects_negative_slack() -> None:
    with pytest.raises(ValueError, match="slack"):
        TimestampMerger(slack_ns=-1)
