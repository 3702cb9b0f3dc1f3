"""The screen of ``kindling stats``: the service's live counters from GetInfo.

Each refresh shows the streams' totals and, per event the kernel counted,
what it emitted, filtered and lost, with the emitted rate since the
previous refresh.
"""

from __future__ import annotations

from kindling.probe.v1 import probe_pb2

__all__ = ["Counters", "stats_lines"]

#: What the kernel counted per event: (emitted, filtered, lost).
Counters = dict[str, tuple[int, int, int]]


def counters(info: probe_pb2.GetInfoResponse) -> Counters:
    """The kernel's counters in ``info``, by event."""
    return {c.event: (c.emitted, c.filtered, c.lost) for c in info.driver.counters}


def stats_lines(
    info: probe_pb2.GetInfoResponse, previous: Counters | None, seconds: float
) -> list[str]:
    """The lines of one refresh; ``previous`` are the counters ``seconds`` before."""
    streams = info.streams
    lines = [
        f"node {info.node_name or '-'}: {streams.subscribers} subscribers, "
        f"{streams.queue_events} events ({streams.queue_bytes} bytes) queued, "
        f"queue memory {streams.memory_used_bytes} of {streams.memory_bytes} bytes",
    ]
    if info.driver.failure:
        lines.append(f"capture stopped: {info.driver.failure}")
    now = counters(info)
    rows = []
    for event, (emitted, filtered, lost) in now.items():
        before = (previous or {}).get(event, (emitted, 0, 0))[0]
        rate = (emitted - before) / seconds if previous is not None and seconds > 0 else 0.0
        rows.append((rate, event, emitted, filtered, lost))
    rows.sort(key=lambda row: (-row[0], -row[2], row[1]))
    table = [["EVENT", "EMITTED/S", "EMITTED", "FILTERED", "LOST"]]
    table += [[event, f"{rate:.0f}", str(e), str(f), str(lost)] for rate, event, e, f, lost in rows]
    if len(table) == 1:
        lines.append("the kernel counts nothing: nobody is subscribed")
        return lines
    widths = [max(len(row[i]) for row in table) for i in range(len(table[0]))]
    for row in table:
        cells = [row[0].ljust(widths[0])] + [
            c.rjust(w) for c, w in zip(row[1:], widths[1:], strict=True)
        ]
        lines.append("  ".join(cells).rstrip())
    return lines
