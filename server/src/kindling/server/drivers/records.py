"""The kernel record: the fixed-size struct every eBPF program emits.

RECORD_DTYPE mirrors `struct kindling_record` in bpf/kindling.h byte for byte
(the C side pins the offsets with static asserts). Records are decoded a whole
drain at a time with one numpy view, never field by field in Python.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

RECORD_BASE_SIZE = 140
PATH_MAX = 256

RECORD_DTYPE = np.dtype(
    {
        "names": [
            "ts", "latency_ns", "ret", "cgroup_id", "arg0", "arg1", "arg2",
            "pid", "tid", "uid", "gid", "event_id", "cpu", "family", "flags",
            "sport", "dport", "path_len", "saddr", "daddr", "comm",
        ],
        "formats": [
            "<u8", "<u8", "<i8", "<u8", "<u8", "<u8", "<u8",
            "<u4", "<u4", "<u4", "<u4", "<u2", "<u2", "<u2", "<u2",
            "<u2", "<u2", "<u4", "V16", "V16", "S16",
        ],
        "offsets": [
            0, 8, 16, 24, 32, 40, 48,
            56, 60, 64, 68, 72, 74, 76, 78,
            80, 82, 84, 88, 104, 120,
        ],
        "itemsize": RECORD_BASE_SIZE,
    }
)  # fmt: skip

Records = npt.NDArray[np.void]
Paths = npt.NDArray[np.object_]


def decode(plain: Sequence[bytes], with_path: Sequence[bytes]) -> tuple[Records, Paths]:
    """Decode raw perf samples into a record array and a path column.

    `plain` holds samples of exactly RECORD_BASE_SIZE bytes; `with_path` holds
    samples whose fixed part is followed by a path of `path_len` bytes (perf
    pads samples with stale ring contents, so their length says nothing about
    the path's). Paths are returned as raw bytes (None for records without
    one), aligned with the records.
    """
    n_plain = len(plain)
    n_path = len(with_path)
    records = np.empty(n_plain + n_path, dtype=RECORD_DTYPE)
    if n_plain:
        records[:n_plain] = np.frombuffer(b"".join(plain), dtype=RECORD_DTYPE)
    paths: Paths = np.full(n_plain + n_path, None, dtype=object)
    if n_path:
        heads = b"".join(sample[:RECORD_BASE_SIZE] for sample in with_path)
        records[n_plain:] = np.frombuffer(heads, dtype=RECORD_DTYPE)
        lengths = np.minimum(records["path_len"][n_plain:], PATH_MAX).tolist()
        paths[n_plain:] = [
            sample[RECORD_BASE_SIZE : RECORD_BASE_SIZE + length]
            for sample, length in zip(with_path, lengths, strict=True)
        ]
    return records, paths


def empty() -> tuple[Records, Paths]:
    return np.empty(0, dtype=RECORD_DTYPE), np.empty(0, dtype=object)
