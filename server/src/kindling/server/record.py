"""The kernel record: the one definition of what every eBPF program emits.

`KernelRecord` below is the specification. Everything else derives from it:

- `bpf/kindling_record.h`, the C struct and flag bits the eBPF programs use
  (`make generate` writes it; a unit test fails when it is out of date);
- `RECORD_DTYPE`, the numpy view through which a drain is decoded at once;
- the records the pipeline handles one at a time: `KernelRecord._make` over
  `RECORD_DTYPE` rows;
- the tests' record builder.

So a new field is one edit here (and `make generate`). Fields are laid out in
order, each at its natural alignment; the spec refuses implicit padding, so
the C and numpy layouts cannot disagree.

Records come in three classes, each a fixed size, so that a buffer of one
class decodes with one numpy view:

- short records, `RECORD_SIZE` bytes: the fixed part only;
- long records, `LONG_RECORD_SIZE`: the fixed part, then a path area of
  `PATH_MAX` bytes for a string (a path, a unix socket name), of which
  `path_len` bytes are valid;
- data records, `data_record_size(capacity)`: a long record followed by a
  data area of `capacity` bytes (set when the programs are compiled), of
  which `data_len` bytes are valid: the payload of an I/O call, an exec's
  arguments, a second path.

What follows the fixed part is the record's tail: in the pipeline, the
valid bytes of its path and of its data (`Tails`, one row per record).
"""

from __future__ import annotations

import enum
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated, Any, NamedTuple, get_type_hints

import numpy as np
import numpy.typing as npt


@dataclass(frozen=True)
class CType:
    """A field's C type: `count` elements of `c_name` (an array when count > 1)."""

    c_name: str
    numpy: str
    size: int
    count: int = 1
    doc: str = ""


def _u64(doc: str) -> CType:
    return CType("u64", "<u8", 8, doc=doc)


def _s64(doc: str) -> CType:
    return CType("s64", "<i8", 8, doc=doc)


def _u32(doc: str) -> CType:
    return CType("u32", "<u4", 4, doc=doc)


def _u16(doc: str) -> CType:
    return CType("u16", "<u2", 2, doc=doc)


def _bytes(count: int, doc: str) -> CType:
    return CType("u8", f"V{count}", 1, count, doc)


def _chars(count: int, doc: str) -> CType:
    return CType("char", f"S{count}", 1, count, doc)


class KernelRecord(NamedTuple):
    """One kernel record's fixed part, field by field, in layout order."""

    ts: Annotated[int, _u64("CLOCK_BOOTTIME ns: at syscall exit, or when the tracepoint fired")]
    latency_ns: Annotated[int, _u64("syscall exit - entry")]
    ret: Annotated[int, _s64("syscall return value")]
    cgroup_id: Annotated[int, _u64("cgroup v2 id of the thread")]
    arg0: Annotated[int, _u64("event specific (see catalog.py)")]
    arg1: Annotated[int, _u64("event specific")]
    arg2: Annotated[int, _u64("event specific")]
    arg3: Annotated[int, _u64("event specific; with a payload, the bytes the call moved")]
    pid: Annotated[int, _u32("thread group id")]
    tid: Annotated[int, _u32("thread id")]
    uid: Annotated[int, _u32("")]
    gid: Annotated[int, _u32("")]
    event_id: Annotated[int, _u16("catalogue id")]
    cpu: Annotated[int, _u16("")]
    family: Annotated[int, _u16("address family of saddr/daddr")]
    flags: Annotated[int, _u16("KINDLING_F_*")]
    sport: Annotated[int, _u16("client port, host order (TCP events: the local port)")]
    dport: Annotated[int, _u16("server port, host order (TCP events: the remote port)")]
    path_len: Annotated[int, _u16("valid bytes of path (a string's NUL included)")]
    data_len: Annotated[int, _u16("valid bytes of data (data records)")]
    saddr: Annotated[
        bytes,
        _bytes(
            16, "client address, IPv4 in the first 4 bytes (TCP: local; any syscall: args 5, 6)"
        ),
    ]
    daddr: Annotated[bytes, _bytes(16, "server address (TCP events: remote)")]
    comm: Annotated[bytes, _chars(16, "thread name")]


class RecordFlag(enum.IntFlag):
    """Bits of KernelRecord.flags (KINDLING_F_<name> in C)."""

    ENTER_SEEN = 0x01
    HAS_PATH = 0x02
    SRC_VALID = 0x04
    DST_VALID = 0x08
    EXIT_CODE = 0x10
    PATH_RAW = 0x20
    DATA_TRUNCATED = 0x40
    ON_SOCKET = 0x80
    ARG3_VALID = 0x100
    EXIT_SIGNAL = 0x200
    HAS_DATA = 0x400


FLAG_MEANINGS = {
    RecordFlag.ENTER_SEEN: "latency_ns is valid",
    RecordFlag.HAS_PATH: "path holds path_len valid bytes",
    RecordFlag.SRC_VALID: "sport/saddr hold the client end",
    RecordFlag.DST_VALID: "dport/daddr hold the server end",
    RecordFlag.EXIT_CODE: "arg0 holds the exit code",
    RecordFlag.PATH_RAW: "path holds raw sun_path bytes",
    RecordFlag.DATA_TRUNCATED: "data was cut to the data area's size",
    RecordFlag.ON_SOCKET: "the call moved data through a socket",
    RecordFlag.ARG3_VALID: "arg3 holds a value (events whose arg3 may be absent)",
    RecordFlag.EXIT_SIGNAL: "arg1 holds the signal that ended the process",
    RecordFlag.HAS_DATA: "data holds data_len valid bytes",
}


# Bytes of string a long record carries after the fixed part.
PATH_MAX = 256
# The largest data area the programs may be compiled with.
DATA_MAX = 4096


def _layout() -> list[tuple[str, CType, int]]:
    hints = get_type_hints(KernelRecord, include_extras=True)
    offset = 0
    fields = []
    for name in KernelRecord._fields:
        ctype = hints[name].__metadata__[0]
        if offset % ctype.size:
            raise TypeError(f"KernelRecord.{name} would need padding before it at {offset}")
        fields.append((name, ctype, offset))
        offset += ctype.size * ctype.count
    if offset % 8:
        raise TypeError(f"KernelRecord is {offset} bytes: keep it a multiple of 8")
    return fields


LAYOUT = _layout()
RECORD_SIZE = LAYOUT[-1][2] + LAYOUT[-1][1].size * LAYOUT[-1][1].count
LONG_RECORD_SIZE = RECORD_SIZE + PATH_MAX


def data_record_size(capacity: int) -> int:
    """The size of a data record whose data area holds `capacity` bytes."""
    if not 0 < capacity <= DATA_MAX or capacity % 8:
        raise ValueError(f"a data area holds 8 to {DATA_MAX} bytes, in multiples of 8")
    return LONG_RECORD_SIZE + capacity


RECORD_DTYPE = np.dtype(
    {
        "names": [name for name, _, _ in LAYOUT],
        "formats": [ctype.numpy for _, ctype, _ in LAYOUT],
        "offsets": [offset for _, _, offset in LAYOUT],
        "itemsize": RECORD_SIZE,
    }
)

Records = npt.NDArray[np.void]
# Per record, its tail: (path, data) as raw bytes, None where it has none.
Tails = npt.NDArray[np.object_]
PATH, DATA = 0, 1


# The same bytes without fields. numpy copies a structured array with field
# offsets field by field, 5 to 25 times slower than plain items of the same
# size (for 3000 records: 630 us against 28 us to reorder): bulk moves of
# records (take, concatenate) go through this view.
RECORD_BYTES = np.dtype((np.void, RECORD_SIZE))


def no_tails(count: int) -> Tails:
    tails: Tails = np.full((count, 2), None, dtype=object)
    return tails


def empty() -> tuple[Records, Tails]:
    return np.empty(0, dtype=RECORD_DTYPE), no_tails(0)


def take(records: Records, index: npt.NDArray[Any]) -> Records:
    """records[index] (an index array or a mask), at the speed of plain bytes."""
    taken: Records = records.view(RECORD_BYTES)[index].view(RECORD_DTYPE)
    return taken


def concatenate(parts: Sequence[Records]) -> Records:
    joined: Records = np.concatenate([p.view(RECORD_BYTES) for p in parts]).view(RECORD_DTYPE)
    return joined


def from_rows(rows: npt.NDArray[np.uint8]) -> Records:
    """Records from a (n, >= RECORD_SIZE) byte table whose rows start with them."""
    fixed = np.ascontiguousarray(rows[:, :RECORD_SIZE])
    return fixed.reshape(-1).view(RECORD_DTYPE)


GENERATED_HEADER = "bpf/kindling_record.h"


def c_header() -> str:
    """The text of bpf/kindling_record.h."""
    lines = [
        "/*",
        " * The kernel record every eBPF program emits, and its flag bits.",
        " * Generated from server/src/kindling/server/record.py by `make generate`;",
        " * do not edit (a unit test fails when this file is out of date).",
        " */",
        "#ifndef KINDLING_RECORD_H",
        "#define KINDLING_RECORD_H",
        "",
        f"#define KINDLING_PATH_MAX {PATH_MAX}",
        f"#define KINDLING_RECORD_SIZE {RECORD_SIZE}",
        f"#define KINDLING_LONG_RECORD_SIZE {LONG_RECORD_SIZE}",
        f"/* The data area's size (a multiple of 8, at most {DATA_MAX}) comes from the service. */",
        "#ifndef KINDLING_DATA_CAPACITY",
        '#error "KINDLING_DATA_CAPACITY must come from the service"',
        "#endif",
        "#define KINDLING_DATA_RECORD_SIZE (KINDLING_LONG_RECORD_SIZE + KINDLING_DATA_CAPACITY)",
        "",
        "/* kindling_record.flags */",
    ]
    for flag in RecordFlag:
        lines.append(
            f"#define KINDLING_F_{flag.name} 0x{flag.value:03x} /* {FLAG_MEANINGS[flag]} */"
        )
    lines += ["", "struct kindling_record {"]
    for name, ctype, offset in LAYOUT:
        declarator = f"{name}[{ctype.count}]" if ctype.count > 1 else name
        doc = f": {ctype.doc}" if ctype.doc else ""
        lines.append(f"\t{ctype.c_name} {declarator}; /* {offset:3}{doc} */")
    lines += [
        f"\tchar path[KINDLING_PATH_MAX]; /* {RECORD_SIZE:3}: long and data records */",
        f"\tu8 data[KINDLING_DATA_CAPACITY]; /* {LONG_RECORD_SIZE:3}: data records only */",
        "};",
        "",
    ]
    for name, _, offset in LAYOUT:
        lines.append(
            f"_Static_assert(__builtin_offsetof(struct kindling_record, {name}) == {offset}, "
            '"record layout");'
        )
    lines += [
        "_Static_assert(__builtin_offsetof(struct kindling_record, path) == KINDLING_RECORD_SIZE,",
        '\t       "record layout");',
        "_Static_assert(__builtin_offsetof(struct kindling_record, data) == "
        "KINDLING_LONG_RECORD_SIZE,",
        '\t       "record layout");',
        "",
        "#endif /* KINDLING_RECORD_H */",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    # `python -m kindling.server.record > bpf/kindling_record.h` (make generate)
    sys.stdout.write(c_header())
