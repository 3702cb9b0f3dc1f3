"""The BPF ring buffer (Linux 5.8+), read from its mapped memory.

A ring buffer map is mapped in two parts: a page holding the consumer
position, which the reader writes, then a page holding the producer position
followed by the data area, which the kernel maps twice in a row so a record
that wraps around the end reads as one contiguous run. Each record starts
with an 8-byte header (its length, with a BUSY bit while the producer is
still writing it and a DISCARD bit if it gave up) and is padded to 8 bytes.

Since every record of a buffer has the same size, a drain is a (n, stride)
byte view: the reader checks the headers with numpy, stops at the first
record still being written, copies the committed ones out and advances the
consumer position once.
"""

from __future__ import annotations

import mmap
from collections.abc import Sequence

import numpy as np

from kindling.server.drivers.transports.base import (
    Drain,
    RawRows,
    RecordSizes,
    TransportError,
    decode,
)

HEADER_SIZE = 8
BUSY = 1 << 31
DISCARD = 1 << 30


def committed(window: RawRows, record_size: int) -> tuple[RawRows, int]:
    """From a (n, stride) view of consecutive records: the committed records'
    bytes (a copy), and how many records may be consumed (those before the
    first one still being written, discarded ones included)."""
    headers = np.ascontiguousarray(window[:, :4]).view("<u4")[:, 0]
    busy = np.flatnonzero(headers & BUSY)
    count = int(busy[0]) if len(busy) else len(window)
    window, headers = window[:count], headers[:count]
    lengths = headers & ~np.uint32(BUSY | DISCARD)
    if np.any(lengths != record_size):
        raise TransportError(
            f"a ring buffer record of {int(lengths[lengths != record_size][0])} bytes "
            f"where all are {record_size}"
        )
    kept = window[(headers & DISCARD) == 0, HEADER_SIZE : HEADER_SIZE + record_size]
    return np.array(kept, dtype=np.uint8), count


def stride(record_size: int) -> int:
    """Bytes a record takes in the ring: its header, itself, padded to 8."""
    return (HEADER_SIZE + record_size + 7) & ~7


class RingBuffer:
    """One ring buffer map of fixed-size records."""

    def __init__(self, map_fd: int, data_size: int, record_size: int) -> None:
        if data_size <= 0 or data_size & (data_size - 1) or data_size % mmap.PAGESIZE:
            raise ValueError("a ring buffer's size is a power of two number of pages")
        page = mmap.PAGESIZE
        self.fd = map_fd
        self.record_size = record_size
        self._stride = stride(record_size)
        self._mask = data_size - 1
        self._consumer_map = mmap.mmap(
            map_fd, page, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE, offset=0
        )
        self._data_map = mmap.mmap(
            map_fd, page + 2 * data_size, mmap.MAP_SHARED, mmap.PROT_READ, offset=page
        )
        self._consumer = np.frombuffer(self._consumer_map, dtype="<u8", count=1)
        self._producer = np.frombuffer(self._data_map, dtype="<u8", count=1)
        self._data = np.frombuffer(self._data_map, dtype=np.uint8, offset=page)

    def read(self) -> RawRows:
        """The committed records, one per row, and consume them."""
        consumer = int(self._consumer[0])
        count = (int(self._producer[0]) - consumer) // self._stride
        if count <= 0:
            return np.empty((0, self.record_size), dtype=np.uint8)
        start = consumer & self._mask
        window = self._data[start : start + count * self._stride].reshape(count, self._stride)
        rows, consumed = committed(window, self.record_size)
        self._consumer[0] = consumer + consumed * self._stride
        return rows

    def close(self) -> None:
        # The arrays above are views of the maps: drop them first.
        del self._consumer, self._producer, self._data
        self._consumer_map.close()
        self._data_map.close()


class RingBufferTransport:
    """The ring buffers of the three record classes, shared by all CPUs."""

    name = "ring_buffer"

    def __init__(self, buffers: Sequence[tuple[int, int]], sizes: RecordSizes) -> None:
        """`buffers` holds each class's ring buffer map as (fd, data size in
        bytes), in RecordSizes order."""
        self._rings = [
            RingBuffer(fd, size, record_size)
            for (fd, size), record_size in zip(buffers, sizes.sizes, strict=True)
        ]

    def fds(self) -> list[int]:
        return [ring.fd for ring in self._rings]

    def drain(self) -> Drain:
        short, long, data = ([ring.read()] for ring in self._rings)
        return decode(short, long, data)

    def close(self) -> None:
        for ring in self._rings:
            ring.close()
