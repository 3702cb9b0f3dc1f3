"""The kernel record's one definition, the transports' decoding of raw
buffer memory, and merging drains in timestamp order."""

from __future__ import annotations

import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from support.records import Rec, to_batch

from kindling.server import record
from kindling.server.drivers.merge import TimestampMerger
from kindling.server.drivers.transports import perfbuf, ringbuf
from kindling.server.drivers.transports.base import TransportError, decode
from kindling.server.record import LONG_RECORD_SIZE, RECORD_DTYPE, RECORD_SIZE

ROOT = Path(__file__).resolve().parents[2]


def test_the_c_header_is_generated_from_the_spec() -> None:
    header = (ROOT / record.GENERATED_HEADER).read_text()
    assert header == record.c_header(), "run `make generate`: bpf/kindling_record.h is stale"


def test_the_c_header_agrees_with_the_numpy_layout(tmp_path: Path) -> None:
    """Compile the generated header with the host compiler and print each
    field's offset and size: they must be the numpy dtype's."""
    names = RECORD_DTYPE.names or ()
    program = "\n".join(
        [
            "#include <stdio.h>",
            "#include <stddef.h>",
            "typedef unsigned char u8; typedef unsigned short u16; typedef unsigned int u32;",
            "typedef unsigned long long u64; typedef long long s64;",
            "#define KINDLING_DATA_CAPACITY 64",
            record.c_header(),
            "int main(void) {",
            *(
                f'printf("%zu %zu\\n", offsetof(struct kindling_record, {n}), '
                f"sizeof(((struct kindling_record *)0)->{n}));"
                for n in names
            ),
            "return 0; }",
        ]
    )
    binary = tmp_path / "record-layout"
    subprocess.run(["cc", "-x", "c", "-o", str(binary), "-"], input=program.encode(), check=True)
    lines = subprocess.run([str(binary)], capture_output=True, text=True, check=True).stdout
    got = [tuple(map(int, line.split())) for line in lines.splitlines()]
    want = [(RECORD_DTYPE.fields[n][1], RECORD_DTYPE.fields[n][0].itemsize) for n in names]
    assert got == want


def test_the_spec_refuses_implicit_padding() -> None:
    code = (
        "from typing import Annotated, NamedTuple\n"
        "from kindling.server import record\n"
        "class Bad(NamedTuple):\n"
        "    a: Annotated[int, record._u16('')]\n"
        "    b: Annotated[int, record._u64('')]\n"
        "record.KernelRecord = Bad\n"
        "record._layout()\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert "would need padding before it" in result.stderr


DATA_CAPACITY = 64


def _raw(rec: Rec, long: bool = False) -> bytes:
    """A record's bytes as the kernel writes them: long when it has a path,
    data when it has data, with stale bytes after the valid ones."""
    batch = to_batch([rec])
    head = batch.records.tobytes()
    assert len(head) == RECORD_SIZE
    if rec.path is None and rec.data is None and not long:
        return head
    raw = head + (rec.path or b"").ljust(record.PATH_MAX, b"\xaa")
    if rec.data is None:
        return raw
    return raw + rec.data.ljust(DATA_CAPACITY, b"\xbb")


def _rows(raws: list[bytes], size: int) -> np.ndarray:
    return np.frombuffer(b"".join(raws), dtype=np.uint8).reshape(-1, size)


def test_decode_short_and_long_records() -> None:
    short = [_raw(Rec("read", ts=10, pid=7, ret=42, arg0=3, arg1=100))]
    long = [
        _raw(Rec("openat", ts=5, pid=8, ret=4, path=b"/etc/hostname\0")),
        _raw(Rec("connect", ts=6, pid=8, ret=0), long=True),  # a long record, no string
    ]
    data = [
        _raw(Rec("write", ts=7, pid=9, ret=5, data=b"hello")),
        _raw(Rec("write", ts=8, pid=9, ret=2, path=b"\0sock", data=b"hi")),
    ]
    size = record.data_record_size(DATA_CAPACITY)
    drain = decode(
        [_rows(short, RECORD_SIZE)], [_rows(long, LONG_RECORD_SIZE)], [_rows(data, size)]
    )
    assert drain.records.dtype == RECORD_DTYPE
    assert drain.records["pid"].tolist() == [7, 8, 8, 9, 9]
    assert drain.records["ret"].tolist() == [42, 4, 0, 5, 2]
    assert drain.records["comm"].tolist() == [b"app"] * 5
    # Only path_len and data_len bytes are valid: the rest of the slot is stale.
    assert drain.tails.tolist() == [
        [None, None],
        [b"/etc/hostname\0", None],
        [None, None],
        [None, b"hello"],
        [b"\0sock", b"hi"],
    ]


def test_decode_nothing() -> None:
    empty = np.empty((0, RECORD_SIZE), dtype=np.uint8)
    drain = decode([empty], [np.empty((0, LONG_RECORD_SIZE), dtype=np.uint8)])
    assert len(drain) == 0
    assert drain.tails.shape == (0, 2)


def test_data_areas_are_bounded() -> None:
    assert record.data_record_size(512) == LONG_RECORD_SIZE + 512
    for bad in (0, 12, record.DATA_MAX + 8):
        with pytest.raises(ValueError, match="data area"):
            record.data_record_size(bad)


def _ring_window(records: list[bytes], headers: list[int]) -> np.ndarray:
    size = len(records[0])
    stride = ringbuf.stride(size)
    out = bytearray()
    for raw, header in zip(records, headers, strict=True):
        entry = struct.pack("<II", header, 0) + raw
        out += entry.ljust(stride, b"\0")
    return np.frombuffer(bytes(out), dtype=np.uint8).reshape(-1, stride)


def test_ring_buffer_reads_up_to_the_first_record_being_written() -> None:
    raws = [_raw(Rec("read", ts=t, pid=t)) for t in (1, 2, 3, 4)]
    headers = [RECORD_SIZE, RECORD_SIZE | ringbuf.DISCARD, RECORD_SIZE | ringbuf.BUSY, RECORD_SIZE]
    rows, consumed = ringbuf.committed(_ring_window(raws, headers), RECORD_SIZE)
    # The discarded record is consumed but not returned; the busy one and
    # everything after it wait for the next drain.
    assert consumed == 2
    assert rows.reshape(-1).view(RECORD_DTYPE)["pid"].tolist() == [1]


def test_ring_buffer_refuses_a_record_of_another_size() -> None:
    raws = [_raw(Rec("read", ts=1))]
    with pytest.raises(TransportError, match="where all are"):
        ringbuf.committed(_ring_window(raws, [RECORD_SIZE - 8]), RECORD_SIZE)


def _perf_sample(raw: bytes) -> bytes:
    size = perfbuf.sample_size(len(raw))
    body = struct.pack("<I", size - 12) + raw
    return (struct.pack("<IHH", perfbuf.PERF_RECORD_SAMPLE, 0, size) + body).ljust(size, b"\0")


def _perf_lost(count: int) -> bytes:
    return struct.pack("<IHHQQ", perfbuf.PERF_RECORD_LOST, 0, 24, 0, count)


def test_perf_samples_decode_with_one_view() -> None:
    raws = [_raw(Rec("write", ts=t, pid=t)) for t in (5, 6, 7)]
    chunk = np.frombuffer(b"".join(_perf_sample(r) for r in raws), dtype=np.uint8)
    rows, lost = perfbuf.parse_samples(chunk, RECORD_SIZE)
    assert lost == 0
    assert rows.reshape(-1).view(RECORD_DTYPE)["pid"].tolist() == [5, 6, 7]


def test_perf_lost_records_are_counted() -> None:
    raws = [_raw(Rec("write", ts=t, pid=t)) for t in (5, 6)]
    data = _perf_sample(raws[0]) + _perf_lost(17) + _perf_sample(raws[1])
    rows, lost = perfbuf.parse_samples(np.frombuffer(data, dtype=np.uint8), RECORD_SIZE)
    assert lost == 17
    assert rows.reshape(-1).view(RECORD_DTYPE)["pid"].tolist() == [5, 6]


def test_online_cpus_reads_kernel_cpu_lists(tmp_path: Path) -> None:
    listing = tmp_path / "online"
    listing.write_text("0-2,5,7-8\n")
    assert perfbuf.online_cpus(str(listing)) == [0, 1, 2, 5, 7, 8]


def _batch(*timestamps: int) -> tuple[np.ndarray, np.ndarray]:
    b = to_batch([Rec("read", ts=t, pid=t) for t in timestamps])
    return b.records, b.tails


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


def test_merge_keeps_tails_aligned_and_flushes() -> None:
    merger = TimestampMerger(slack_ns=0)
    b = to_batch([Rec("openat", ts=30, path=b"/b"), Rec("openat", ts=10, path=b"/a", data=b"x")])
    out, out_tails = merger.push(b.records, b.tails, drain_start_ns=20)
    assert out["ts"].tolist() == [10]
    assert out_tails.tolist() == [[b"/a", b"x"]]
    held, held_tails = merger.flush()
    assert held["ts"].tolist() == [30]
    assert held_tails.tolist() == [[b"/b", None]]
    assert merger.pending == 0


def test_merge_rejects_negative_slack() -> None:
    with pytest.raises(ValueError, match="slack"):
        TimestampMerger(slack_ns=-1)
