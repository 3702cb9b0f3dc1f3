"""The as-of join that gives plain events the context of their moment."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from kindling.server.pipeline.enrich.asof import LATER, NONE, distinct, last_change, next_event


@given(st.lists(st.tuples(st.integers(0, 3), st.booleans()), max_size=60))
def test_last_change_is_the_latest_earlier_change_of_the_same_key(
    rows: list[tuple[int, bool]],
) -> None:
    keys = np.array([k for k, _ in rows], dtype=np.int64)
    is_change = np.array([c for _, c in rows], dtype=bool)
    positions = np.arange(len(rows), dtype=np.int64)
    got = last_change(
        keys[~is_change], positions[~is_change], keys[is_change], positions[is_change]
    )
    expected = []
    for row in positions[~is_change].tolist():
        earlier = [r for r in range(row) if is_change[r] and keys[r] == keys[row]]
        expected.append(earlier[-1] if earlier else NONE)
    assert got.tolist() == expected


def test_distinct_finds_values_and_where_each_row_has_its_own() -> None:
    a = np.array([1, 1, 2, 1, 2, 2])
    b = np.array([b"x", b"x", b"y", b"x", b"y", b"z"])
    values, which = distinct([a, b])
    assert values == [(1, b"x"), (2, b"y"), (2, b"z")]
    assert which.tolist() == [0, 0, 1, 0, 1, 2]


@given(st.lists(st.tuples(st.integers(0, 2), st.integers(0, 2)), min_size=1, max_size=300))
def test_distinct_by_runs_and_by_sorting_agree(rows: list[tuple[int, int]]) -> None:
    a = np.array([x for x, _ in rows])
    b = np.array([y for _, y in rows])
    values, which = distinct([a, b])
    # Every row maps to its own value, numbered by first appearance.
    assert [values[i] for i in which.tolist()] == rows
    assert values == list(dict.fromkeys(rows))


@given(
    st.lists(st.tuples(st.integers(0, 3), st.integers(0, 20)), max_size=30),
    st.lists(st.tuples(st.integers(0, 3), st.integers(0, 20)), max_size=30),
)
def test_next_event_is_the_first_later_event_of_the_same_key(
    queries: list[tuple[int, int]], events: list[tuple[int, int]]
) -> None:
    def column(pairs: list[tuple[int, int]], i: int) -> np.ndarray:
        return np.array([p[i] for p in pairs], dtype=np.int64)

    got = next_event(column(queries, 0), column(queries, 1), column(events, 0), column(events, 1))
    expected = [
        min((r for k, r in events if k == key and r >= row), default=LATER) for key, row in queries
    ]
    assert got.tolist() == expected
