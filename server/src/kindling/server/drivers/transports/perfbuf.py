"""Per-CPU perf buffers (any kernel that runs the probe), read from their
mapped memory.

For each CPU the reader opens a BPF-output perf event (`perf_event_open`) and
maps its buffer: a metadata page (`struct perf_event_mmap_page`, whose
data_head the kernel advances and whose data_tail the reader writes) followed
by the data pages. The driver stores the event's fd in the BPF perf event
array, so `perf_submit` on that CPU writes there. The kernel wakes a reader
blocked on the fd once a quarter of the buffer is pending, never per record.

A sample is a `perf_event_header` (type, misc, size), a u32 raw size and the
raw record, padded to 8 bytes. Every record of a buffer has the same size, so
a drain is a (n, sample size) byte view checked and copied with numpy. Only
when the kernel had to insert a LOST record (the buffer was full) does the
reader walk the drain record by record.
"""

from __future__ import annotations

import ctypes
import fcntl
import mmap
import os
import struct
from collections.abc import Iterable, Sequence

import numpy as np

from kindling.server.drivers.transports.base import (
    Drain,
    RawRows,
    RecordSizes,
    TransportError,
    decode,
)

PERF_TYPE_SOFTWARE = 1
PERF_COUNT_SW_BPF_OUTPUT = 10
PERF_SAMPLE_RAW = 1 << 10
PERF_ATTR_WATERMARK = 1 << 14
PERF_ATTR_SIZE = 112  # PERF_ATTR_SIZE_VER5
PERF_FLAG_FD_CLOEXEC = 1 << 3
PERF_EVENT_IOC_ENABLE = 0x2400
PERF_EVENT_IOC_DISABLE = 0x2401
PERF_RECORD_LOST = 2
PERF_RECORD_SAMPLE = 9
# struct perf_event_mmap_page: data_head, data_tail, data_offset, data_size
# are u64 words at these indexes.
_DATA_HEAD, _DATA_TAIL, _DATA_OFFSET, _DATA_SIZE = 128, 129, 130, 131

_SYS_PERF_EVENT_OPEN = {"x86_64": 298, "aarch64": 241}

_HEADER = struct.Struct("<IHH")
_LOST = struct.Struct("<QQ")


def sample_size(record_size: int) -> int:
    """Bytes a raw sample of `record_size` takes in the buffer."""
    return 8 + ((4 + record_size + 7) & ~7)


def online_cpus(path: str = "/sys/devices/system/cpu/online") -> list[int]:
    """CPU numbers from a kernel CPU list such as "0-3,6"."""
    with open(path) as f:
        text = f.read().strip()
    cpus: list[int] = []
    for part in text.split(","):
        first, _, last = part.partition("-")
        cpus.extend(range(int(first), int(last or first) + 1))
    return cpus


def _perf_event_open(cpu: int, watermark: int) -> int:
    number = _SYS_PERF_EVENT_OPEN.get(os.uname().machine)
    if number is None:
        raise OSError(f"perf buffers are not supported on {os.uname().machine} yet")
    attr = struct.pack(
        "<IIQQQQQII",
        PERF_TYPE_SOFTWARE,
        PERF_ATTR_SIZE,
        PERF_COUNT_SW_BPF_OUTPUT,
        1,  # sample_period: every output
        PERF_SAMPLE_RAW,
        0,  # read_format
        PERF_ATTR_WATERMARK,
        watermark,
        0,  # bp_type
    ).ljust(PERF_ATTR_SIZE, b"\0")
    libc = ctypes.CDLL(None, use_errno=True)
    buffer = ctypes.create_string_buffer(attr, len(attr))
    fd = int(libc.syscall(number, buffer, -1, cpu, -1, PERF_FLAG_FD_CLOEXEC))
    if fd < 0:
        code = ctypes.get_errno()
        raise OSError(code, f"perf_event_open on CPU {cpu}: {os.strerror(code)}")
    return fd


def parse_samples(chunk: RawRows, record_size: int) -> tuple[RawRows, int]:
    """The records in a run of perf records (a copy, one per row), and the
    count of records the kernel reported lost in it."""
    size = sample_size(record_size)
    if len(chunk) % size == 0:
        samples = chunk.reshape(-1, size)
        types = np.ascontiguousarray(samples[:, 0:4]).view("<u4")[:, 0]
        sizes = np.ascontiguousarray(samples[:, 6:8]).view("<u2")[:, 0]
        if np.all(types == PERF_RECORD_SAMPLE) and np.all(sizes == size):
            return np.array(samples[:, 12 : 12 + record_size], dtype=np.uint8), 0
    return _walk(chunk.tobytes(), record_size)


def _walk(data: bytes, record_size: int) -> tuple[RawRows, int]:
    """Record by record: only after the kernel inserted LOST records."""
    found: list[bytes] = []
    lost = 0
    at = 0
    while at + _HEADER.size <= len(data):
        kind, _misc, size = _HEADER.unpack_from(data, at)
        if size < _HEADER.size or at + size > len(data):
            raise TransportError(f"a perf record of {size} bytes")
        if kind == PERF_RECORD_SAMPLE:
            raw_size = struct.unpack_from("<I", data, at + 8)[0]
            if raw_size < record_size:
                raise TransportError(f"a perf sample of {raw_size} bytes")
            found.append(data[at + 12 : at + 12 + record_size])
        elif kind == PERF_RECORD_LOST:
            lost += _LOST.unpack_from(data, at + 8)[1]
        at += size
    return np.frombuffer(b"".join(found), dtype=np.uint8).reshape(-1, record_size).copy(), lost


class PerfBuffer:
    """One CPU's perf buffer of fixed-size BPF output records."""

    def __init__(self, cpu: int, pages: int, record_size: int) -> None:
        if pages <= 0 or pages & (pages - 1):
            raise ValueError("a perf buffer's size is a power of two number of pages")
        page = mmap.PAGESIZE
        self.cpu = cpu
        self.record_size = record_size
        # Wake the reader early once a quarter of the buffer is pending; it
        # otherwise drains on its timer, in larger (cheaper) batches.
        self.fd = _perf_event_open(cpu, watermark=max(sample_size(record_size), pages * page // 4))
        try:
            self._map = mmap.mmap(
                self.fd, (1 + pages) * page, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE
            )
        except OSError:
            os.close(self.fd)
            raise
        self._meta = np.frombuffer(self._map, dtype="<u8", count=page // 8)
        offset = int(self._meta[_DATA_OFFSET]) or page
        self._size = int(self._meta[_DATA_SIZE]) or pages * page
        self._data = np.frombuffer(self._map, dtype=np.uint8, count=self._size, offset=offset)
        fcntl.ioctl(self.fd, PERF_EVENT_IOC_ENABLE, 0)

    def read(self) -> tuple[RawRows, int]:
        """The pending records, one per row, and the count of records the kernel
        reported lost; consumes them."""
        head = int(self._meta[_DATA_HEAD])
        tail = int(self._meta[_DATA_TAIL])
        if head == tail:
            return np.empty((0, self.record_size), dtype=np.uint8), 0
        start = tail % self._size
        length = head - tail
        if start + length <= self._size:
            chunk = self._data[start : start + length]
        else:  # the pending bytes wrap around the end of the buffer
            chunk = np.concatenate((self._data[start:], self._data[: start + length - self._size]))
        rows, lost = parse_samples(chunk, self.record_size)
        self._meta[_DATA_TAIL] = head
        return rows, lost

    def close(self) -> None:
        fcntl.ioctl(self.fd, PERF_EVENT_IOC_DISABLE, 0)
        del self._meta, self._data
        self._map.close()
        os.close(self.fd)


class PerfBufferTransport:
    """Per-CPU perf buffers for each of the three record classes."""

    name = "perf_buffer"

    def __init__(self, cpus: Sequence[int], pages: int, sizes: RecordSizes) -> None:
        # by_class[k] holds class k's buffer on each CPU, in RecordSizes order.
        self.by_class: list[list[PerfBuffer]] = [[] for _ in sizes.sizes]
        try:
            for cpu in cpus:
                for buffers, record_size in zip(self.by_class, sizes.sizes, strict=True):
                    buffers.append(PerfBuffer(cpu, pages, record_size))
        except BaseException:
            self.close()
            raise

    def fds(self) -> list[int]:
        return [b.fd for b in self._buffers()]

    def _buffers(self) -> Iterable[PerfBuffer]:
        for buffers in self.by_class:
            yield from buffers

    def drain(self) -> Drain:
        rows: list[list[RawRows]] = []
        lost = 0
        for buffers in self.by_class:
            rows.append([])
            for buffer in buffers:
                taken, n = buffer.read()
                rows[-1].append(taken)
                lost += n
        short, long, data = rows
        drain = decode(short, long, data)
        drain.buffer_lost = lost
        return drain

    def close(self) -> None:
        for buffer in self._buffers():
            buffer.close()
        self.by_class = []
