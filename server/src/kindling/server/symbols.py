"""Names for numbers that events carry: TCP states, which are part of the
kernel's ABI, and reasons (drop reasons, reset reasons), whose numbers
differ between kernel versions and are read from the running kernel's own
tracepoint formats."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

# include/net/tcp_states.h
TCP_STATES: Mapping[int, str] = {
    1: "ESTABLISHED",
    2: "SYN_SENT",
    3: "SYN_RECV",
    4: "FIN_WAIT1",
    5: "FIN_WAIT2",
    6: "TIME_WAIT",
    7: "CLOSE",
    8: "CLOSE_WAIT",
    9: "LAST_ACK",
    10: "LISTEN",
    11: "CLOSING",
    12: "NEW_SYN_RECV",
}

TRACEFS_ROOTS = (Path("/sys/kernel/tracing"), Path("/sys/kernel/debug/tracing"))
_PAIR = re.compile(r'\{\s*(-?\d+)\s*,\s*"([^"]*)"\s*\}')


def print_symbols(format_text: str, field_name: str) -> dict[int, str]:
    """The names a tracepoint's print format gives a field's values, from its
    `__print_symbolic(REC->field, { 2, "NAME" }, ...)`."""
    marker = f"__print_symbolic(REC->{field_name},"
    start = format_text.find(marker)
    if start < 0:
        return {}
    depth, end = 1, start + len(marker)
    while end < len(format_text) and depth:  # up to the closing parenthesis
        depth += {"(": 1, ")": -1}.get(format_text[end], 0)
        end += 1
    return {int(number): name for number, name in _PAIR.findall(format_text[start:end])}


@dataclass
class KernelSymbols:
    """The running kernel's names for a tracepoint field, read once when first
    needed; empty where tracefs cannot be read."""

    hook: str  # "category:event"
    field_name: str
    roots: tuple[Path, ...] = TRACEFS_ROOTS
    _table: dict[int, str] | None = field(default=None, init=False, repr=False, compare=False)

    def get(self, value: int) -> str | None:
        if self._table is None:
            self._table = self._read()
        return self._table.get(value)

    def _read(self) -> dict[int, str]:
        category, _, event = self.hook.partition(":")
        for root in self.roots:
            try:
                text = (root / "events" / category / event / "format").read_text()
            except OSError:
                continue
            return print_symbols(text, self.field_name)
        return {}


Symbols = Mapping[int, str] | KernelSymbols
