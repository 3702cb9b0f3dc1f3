"""Column helpers that let a batch's plain events take their context without
a Python step per event.

Events that change the tables (opens, closes, execs) are applied one by one,
in order. Every other event needs the table as it was at its own place in
the batch: that is the state after the last change to its key before it.
`last_change` finds that change for every event at once (an "as-of" join),
and `distinct` the few different (key, change) pairs, so the tables are
consulted once per pair, right after its change.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

Ints = npt.NDArray[np.int64]
NONE = -1  # no change before the event: the table as the batch found it
LATER = np.iinfo(np.int64).max  # nothing after it in the batch
# distinct() sorts when rows change this often.
SORT_ABOVE_RUNS = 64


def last_change(
    query_keys: npt.NDArray[Any],
    query_rows: Ints,
    change_keys: npt.NDArray[Any],
    change_rows: Ints,
) -> Ints:
    """For each query, the last change row before its own row with the same
    key, or NONE. Rows are positions in one batch; a row is a query or a
    change, never both."""
    queries, changes = len(query_rows), len(change_rows)
    if not changes or not queries:
        return np.full(queries, NONE, dtype=np.int64)
    keys = np.concatenate((change_keys, query_keys))
    rows = np.concatenate((change_rows, query_rows)).astype(np.int64, copy=False)
    is_change = np.zeros(changes + queries, dtype=bool)
    is_change[:changes] = True
    order = np.lexsort((rows, keys))
    keys, rows, is_change = keys[order], rows[order], is_change[order]
    position = np.arange(len(order))
    # The last change at or before each position, and where its key's run starts.
    last = np.maximum.accumulate(np.where(is_change, position, -1))
    starts = np.ones(len(order), dtype=bool)
    starts[1:] = keys[1:] != keys[:-1]
    run_start = np.maximum.accumulate(np.where(starts, position, 0))
    found = np.where(last >= run_start, rows[np.maximum(last, 0)], NONE)
    result = np.empty(len(order), dtype=np.int64)
    result[order] = found
    return result[changes:]


def next_event(
    query_keys: npt.NDArray[Any],
    query_rows: Ints,
    event_keys: npt.NDArray[Any],
    event_rows: Ints,
) -> Ints:
    """For each query, the first event row after its own row with the same
    key, or LATER (no such event). A query and an event may share a row: the
    event then counts as after it."""
    queries, events = len(query_rows), len(event_rows)
    if not events or not queries:
        return np.full(queries, LATER, dtype=np.int64)
    keys = np.concatenate((query_keys, event_keys))
    rows = np.concatenate((query_rows, event_rows)).astype(np.int64, copy=False)
    is_event = np.zeros(queries + events, dtype=bool)
    is_event[queries:] = True
    # By key, then row, queries before events of the same row.
    order = np.lexsort((is_event, rows, keys))
    keys, rows, is_event = keys[order], rows[order], is_event[order]
    position = np.arange(len(order))
    # The first event at or after each position, and where its key's run ends.
    first = np.minimum.accumulate(np.where(is_event, position, len(order))[::-1])[::-1]
    ends = np.ones(len(order), dtype=bool)
    ends[:-1] = keys[1:] != keys[:-1]
    run_end = np.minimum.accumulate(np.where(ends, position, len(order))[::-1])[::-1]
    found = np.where(first <= run_end, rows[np.minimum(first, len(order) - 1)], LATER)
    result = np.empty(len(order), dtype=np.int64)
    result[order] = found
    return result[:queries]


def distinct(columns: list[npt.NDArray[Any]]) -> tuple[list[tuple[Any, ...]], npt.NDArray[np.intp]]:
    """The distinct rows of some columns, and for each row the index of its
    value among them.

    Rows mostly come in runs of equal values (a thread doing I/O on one fd),
    so runs are found with numpy and only their first rows compared in
    Python; where runs are short, a sort does the work instead."""
    n = len(columns[0]) if columns else 0
    if not n:
        return [], np.empty(0, dtype=np.intp)
    change = np.zeros(n, dtype=bool)
    change[0] = True
    for column in columns:
        change[1:] |= column[1:] != column[:-1]
    firsts = np.flatnonzero(change)
    if len(firsts) > SORT_ABOVE_RUNS and len(firsts) * 4 > n:
        return _distinct_by_sorting(columns)
    index: dict[tuple[Any, ...], int] = {}
    run_values = np.array(
        [
            index.setdefault(key, len(index))
            for key in zip(*(column[firsts].tolist() for column in columns), strict=True)
        ],
        dtype=np.intp,
    )
    which = np.repeat(run_values, np.diff(np.append(firsts, n)))
    return list(index), which


def _distinct_by_sorting(
    columns: list[npt.NDArray[Any]],
) -> tuple[list[tuple[Any, ...]], npt.NDArray[np.intp]]:
    """distinct() with np.unique, in order of first appearance."""
    n = len(columns[0])
    order = np.lexsort(columns[::-1])
    sorted_columns = [column[order] for column in columns]
    starts = np.zeros(n, dtype=bool)
    starts[0] = True
    for column in sorted_columns:
        starts[1:] |= column[1:] != column[:-1]
    group_of_sorted = np.cumsum(starts) - 1
    group = np.empty(n, dtype=np.intp)
    group[order] = group_of_sorted
    # Number the groups by first appearance, as the run-based path does.
    first_rows = np.full(int(group_of_sorted[-1]) + 1, n, dtype=np.intp)
    np.minimum.at(first_rows, group, np.arange(n))
    rank = np.empty(len(first_rows), dtype=np.intp)
    by_appearance = np.argsort(first_rows, kind="stable")
    rank[by_appearance] = np.arange(len(first_rows))
    keys = list(
        zip(*(column[first_rows[by_appearance]].tolist() for column in columns), strict=True)
    )
    return keys, rank[group]
