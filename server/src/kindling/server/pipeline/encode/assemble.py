"""Build many byte strings at once from per-row segments, with one numpy gather.

Every encoded event (and every framed stream entry) is a concatenation of a
few segments: rows of numpy tables (scalar fields as varints), pieces shared
by many rows (a thread's or an fd's encoded context), and slices of earlier
blobs. Joining them in Python costs a few hundred nanoseconds per row;
describing each segment by (source, start, length) and gathering all bytes
with one fancy index costs a few per byte, with no per-row Python at all.
"""

from __future__ import annotations

import ctypes

import numpy as np
import numpy.typing as npt

from kindling.server.pipeline.encode import native

Bytes = npt.NDArray[np.uint8]
Ints = npt.NDArray[np.int64]


class PiecePool:
    """Distinct byte strings shared by many rows, each stored once."""

    def __init__(self) -> None:
        self._ids: dict[bytes, int] = {}
        self._pieces: list[bytes] = []

    def add(self, piece: bytes) -> int:
        found = self._ids.get(piece)
        if found is None:
            found = self._ids[piece] = len(self._pieces)
            self._pieces.append(piece)
        return found

    def buffer(self) -> tuple[Bytes, Ints, Ints]:
        """The pieces back to back, with each piece's start and length."""
        lengths = np.fromiter(
            (len(p) for p in self._pieces), dtype=np.int64, count=len(self._pieces)
        )
        starts = np.zeros(len(self._pieces), dtype=np.int64)
        if len(lengths) > 1:
            np.cumsum(lengths[:-1], out=starts[1:])
        data = np.frombuffer(b"".join(self._pieces), dtype=np.uint8)
        return data, starts, lengths


class Segments:
    """Per-row segments, in the order they are added, for `rows` rows."""

    def __init__(self, rows: int) -> None:
        self.rows = rows
        self._sources: list[Bytes] = []
        self._columns: list[tuple[int, Ints, Ints]] = []  # (source index, starts, lengths)

    def _source(self, data: Bytes) -> int:
        for i, known in enumerate(self._sources):
            if known is data:
                return i
        self._sources.append(data)
        return len(self._sources) - 1

    def add(self, data: Bytes, starts: Ints, lengths: Ints) -> None:
        """Row r's next segment is data[starts[r] : starts[r] + lengths[r]]."""
        self._columns.append((self._source(data), starts, lengths))

    def add_table(self, table: Bytes, lengths: Ints) -> None:
        """Row r's next segment is table[r, : lengths[r]]."""
        width = table.shape[1]
        flat = np.ascontiguousarray(table).reshape(-1)
        self.add(flat, np.arange(self.rows, dtype=np.int64) * width, lengths)

    def add_pieces(self, pool: tuple[Bytes, Ints, Ints], ids: Ints) -> None:
        """Row r's next segment is piece ids[r] of the pool (none where -1)."""
        data, starts, lengths = pool
        present = ids >= 0
        safe = np.where(present, ids, 0)
        if len(starts):
            self.add(data, starts[safe], np.where(present, lengths[safe], 0))
        else:
            self.add(data, np.zeros(self.rows, dtype=np.int64), np.zeros(self.rows, np.int64))

    def gather(self, rows: Ints | None = None) -> tuple[bytes, Ints]:
        """The chosen rows' bytes back to back, and where each row starts
        (row i is blob[offsets[i] : offsets[i + 1]])."""
        if native.gather is not None and self._columns:
            return self._gather_native(rows)
        return self.gather_numpy(rows)

    def _gather_native(self, rows: Ints | None) -> tuple[bytes, Ints]:
        count = self.rows if rows is None else len(rows)
        columns = len(self._columns)
        starts, lengths, sources = [], [], []
        total = 0
        for source, given_starts, given_lengths in self._columns:
            data = self._sources[source]
            column_starts = np.ascontiguousarray(given_starts, dtype=np.int64)
            column_lengths = np.ascontiguousarray(given_lengths, dtype=np.int64)
            chosen = column_lengths if rows is None else column_lengths[rows]
            used = chosen > 0
            if used.any():
                ends = (column_starts if rows is None else column_starts[rows])[used] + chosen[used]
                if int(ends.max()) > len(data) or int(chosen.min()) < 0:
                    raise ValueError("a segment lies outside its source")
            total += int(chosen.sum())
            starts.append(column_starts)
            lengths.append(column_lengths)
            sources.append(data)
        out = np.empty(total, dtype=np.uint8)
        offsets = np.empty(count + 1, dtype=np.int64)
        chosen_rows = None if rows is None else np.ascontiguousarray(rows, dtype=np.int64)
        pointers = ctypes.c_void_p * columns
        assert native.gather is not None
        native.gather(
            count,
            chosen_rows.ctypes.data if chosen_rows is not None else None,
            columns,
            pointers(*(s.ctypes.data for s in sources)),
            pointers(*(s.ctypes.data for s in starts)),
            pointers(*(n.ctypes.data for n in lengths)),
            out.ctypes.data,
            offsets.ctypes.data,
        )
        return out.tobytes(), offsets

    def gather_numpy(self, rows: Ints | None = None) -> tuple[bytes, Ints]:
        """gather() with numpy only: an index with one entry per output byte."""
        if rows is None:
            rows = np.arange(self.rows, dtype=np.int64)
        bases = np.zeros(len(self._sources), dtype=np.int64)
        if len(self._sources) > 1:
            np.cumsum([len(s) for s in self._sources[:-1]], out=bases[1:])
        # (rows, segments) matrices of absolute starts and lengths.
        starts = np.stack([bases[src] + s[rows] for src, s, _ in self._columns], axis=1).astype(
            np.int64, copy=False
        )
        lengths = np.stack([n[rows] for _, _, n in self._columns], axis=1).astype(
            np.int64, copy=False
        )
        flat_starts = starts.reshape(-1)
        flat_lengths = lengths.reshape(-1)
        total = int(flat_lengths.sum())
        out_starts = np.cumsum(flat_lengths) - flat_lengths
        index = np.repeat(flat_starts - out_starts, flat_lengths) + np.arange(total)
        source = np.concatenate(self._sources) if len(self._sources) > 1 else self._sources[0]
        offsets = np.zeros(len(rows) + 1, dtype=np.int64)
        np.cumsum(lengths.sum(axis=1), out=offsets[1:])
        return source[index].tobytes(), offsets
