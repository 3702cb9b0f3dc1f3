"""The syscalls of this machine, for the catalogue's generic syscall events.

Numbers come from the C library's kernel headers (`asm/unistd_64.h` of
linux-libc-dev), which name every syscall of the architecture's ABI; the
parameters from the running kernel's tracepoint formats, which also say
which syscalls this kernel traces. A syscall's tracepoints are named after
the kernel's implementation, which for a few differs from the ABI name
(uname is `newuname`, sendfile `sendfile64`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from kindling.server.symbols import TRACEFS_ROOTS

UNISTD_HEADERS = (
    Path("/usr/include/x86_64-linux-gnu/asm/unistd_64.h"),
    Path("/usr/include/asm/unistd_64.h"),
)
_DEFINE = re.compile(r"^#define __NR_(\w+)\s+(\d+)\s*$", re.MULTILINE)
_FIELD = re.compile(r"field:(.+?)\s+\**(\w+)(\[\d*\])?;\s*offset:(\d+);\s*size:(\d+);")
# Fields every syscall tracepoint has before the syscall's parameters.
_COMMON = frozenset({"common_type", "common_flags", "common_preempt_count", "common_pid"})


@dataclass(frozen=True)
class Syscall:
    name: str  # as the ABI (and strace) names it
    number: int
    tracepoint: str  # its sys_enter_/sys_exit_ tracepoints are named after this
    parameters: tuple[str, ...]  # at most six, in order


def syscall_numbers(headers: tuple[Path, ...] = UNISTD_HEADERS) -> dict[str, int]:
    """Syscall numbers by name, from the first header that exists."""
    for header in headers:
        try:
            text = header.read_text()
        except OSError:
            continue
        return {name: int(number) for name, number in _DEFINE.findall(text)}
    return {}


def _events(roots: tuple[Path, ...]) -> Path | None:
    for root in roots:
        events = root / "events" / "syscalls"
        if events.is_dir():
            return events
    return None


def parameters(format_text: str) -> tuple[str, ...]:
    """A sys_enter_ tracepoint's parameters, from its format."""
    names = [m.group(2) for m in _FIELD.finditer(format_text)]
    return tuple(n for n in names if n not in _COMMON and n != "__syscall_nr")[:6]


def machine_syscalls(
    headers: tuple[Path, ...] = UNISTD_HEADERS, roots: tuple[Path, ...] = TRACEFS_ROOTS
) -> list[Syscall]:
    """Every syscall of this machine that the kernel can trace, by number."""
    numbers = syscall_numbers(headers)
    events = _events(roots)
    if not numbers or events is None:
        return []
    found = []
    for name, number in sorted(numbers.items(), key=lambda item: item[1]):
        for tracepoint in (name, f"new{name}", f"{name}64"):
            try:
                text = (events / f"sys_enter_{tracepoint}" / "format").read_text()
            except OSError:
                continue
            if (events / f"sys_exit_{tracepoint}").is_dir():
                found.append(Syscall(name, number, tracepoint, parameters(text)))
            break
    return found
