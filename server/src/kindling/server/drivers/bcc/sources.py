"""Find and assemble the eBPF C sources.

BCC's rewriter (map.lookup(), TRACEPOINT_PROBE argument structs) only works
on the main translation unit, not on included files, so the sources are
concatenated into one text rather than #included.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

# Order matters: the record (generated), how records leave the kernel, the
# shared headers, then the probe families.
SOURCE_FILES = (
    "kindling_record.h",
    "transport.h",
    "kindling.h",
    "sockaddr.h",
    "payload.h",
    "sock_table.h",
    "process.bpf.c",
    "file.bpf.c",
    "paths.bpf.c",
    "net.bpf.c",
    "tcp.bpf.c",
    "io.bpf.c",
    "any_syscall.bpf.c",
)


def bpf_dir() -> Path:
    """The directory holding the sources: inside the installed wheel, or bpf/
    at the top of the source tree for an editable install."""
    packaged = Path(str(resources.files(__package__ or "kindling.server.drivers.bcc") / "bpf"))
    if (packaged / SOURCE_FILES[0]).is_file():
        return packaged
    for parent in Path(__file__).resolve().parents:
        candidate = parent / "bpf"
        if (candidate / SOURCE_FILES[0]).is_file():
            return candidate
    raise FileNotFoundError("the eBPF sources (bpf/kindling.h) are not installed")


def program_text(directory: Path | None = None) -> str:
    directory = directory or bpf_dir()
    parts = []
    for name in SOURCE_FILES:
        parts.append(f"/* ---- {name} ---- */\n")
        parts.append((directory / name).read_text())
    return "\n".join(parts)
