"""Subscriber filters: checked and compiled once per subscription, applied
a batch at a time over its columns (base.py says how).

Semantics follow SubscribeRequest: an event is selected when it matches at
least one allow filter (or the allow list is empty) and no deny filter; a
filter matches when the event satisfies each of the fields it sets.
"""

from kindling.server.pipeline.fanout.filters import event_type, ids, network, outcome, patterns  # noqa: F401
from kindling.server.pipeline.fanout.filters.base import MAX_FILTERS, MAX_VALUES, FilterError
from kindling.server.pipeline.fanout.filters.selection import Selection, compile_selection
from kindling.server.pipeline.fanout.filters.spec import FilterSpec, ReturnValueSpec, SelectionSpec

__all__ = [
    "MAX_FILTERS",
    "MAX_VALUES",
    "FilterError",
    "FilterSpec",
    "ReturnValueSpec",
    "Selection",
    "SelectionSpec",
    "compile_selection",
]
