"""The segment gather builds exactly what joining the pieces in Python would,
with the compiled helper and with numpy alone."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from kindling.server.pipeline.encode import native
from kindling.server.pipeline.encode.assemble import PiecePool, Segments

ROWS = st.integers(min_value=1, max_value=20)


@given(st.data(), ROWS)
def test_gather_matches_python_join(data: st.DataObject, rows: int) -> None:
    width = data.draw(st.integers(min_value=1, max_value=6))
    table = (
        np.array(
            data.draw(
                st.lists(st.binary(min_size=width, max_size=width), min_size=rows, max_size=rows)
            )
        )
        .view(np.uint8)
        .reshape(rows, width)
    )
    lengths = np.array(
        data.draw(st.lists(st.integers(0, width), min_size=rows, max_size=rows)), dtype=np.int64
    )
    pieces = data.draw(st.lists(st.binary(max_size=8), min_size=1, max_size=5))
    pool = PiecePool()
    ids = [pool.add(p) for p in pieces]
    choice = np.array(
        data.draw(st.lists(st.sampled_from([-1, *ids]), min_size=rows, max_size=rows)),
        dtype=np.int64,
    )
    blob = data.draw(st.binary(min_size=1, max_size=30))
    blob_starts = np.array(
        data.draw(st.lists(st.integers(0, len(blob) - 1), min_size=rows, max_size=rows)),
        dtype=np.int64,
    )
    blob_lengths = np.array(
        [data.draw(st.integers(0, len(blob) - int(s))) for s in blob_starts], dtype=np.int64
    )

    segments = Segments(rows)
    segments.add_table(table, lengths)
    segments.add_pieces(pool.buffer(), choice)
    segments.add(np.frombuffer(blob, dtype=np.uint8), blob_starts, blob_lengths)
    chosen = np.array(sorted(data.draw(st.sets(st.integers(0, rows - 1)))), dtype=np.int64)
    out, offsets = segments.gather(chosen)
    numpy_out, numpy_offsets = segments.gather_numpy(chosen)
    assert numpy_out == out
    assert numpy_offsets.tolist() == offsets.tolist()

    unique = {i: p for p, i in zip(pieces, ids, strict=True)}
    expected = [
        bytes(table[r, : lengths[r]])
        + (unique[int(choice[r])] if choice[r] >= 0 else b"")
        + blob[blob_starts[r] : blob_starts[r] + blob_lengths[r]]
        for r in chosen.tolist()
    ]
    assert [out[offsets[i] : offsets[i + 1]] for i in range(len(chosen))] == expected
    assert out == b"".join(expected)


def test_the_compiled_gather_is_built() -> None:
    """`make setup` builds it; without it the service falls back to numpy."""
    assert native.gather is not None, f"{native.LIBRARY} is missing: run `make setup`"


def test_a_segment_outside_its_source_is_refused() -> None:
    segments = Segments(1)
    segments.add(np.zeros(4, dtype=np.uint8), np.array([2]), np.array([3]))
    with pytest.raises(ValueError, match="outside its source"):
        segments.gather()
