"""The event catalogue: every event the probe can capture.

This is the single source of truth shared by the layers: the driver passes
the event ids to the eBPF programs as -D flags, the pipeline uses the specs to
turn records into events, and the API publishes them through GetInfo.
Ids are internal (they never reach the wire); names are the public contract.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass

from kindling.event.v1 import event_pb2


class AttrType(enum.Enum):
    """The Attribute oneof case an attribute uses."""

    INT32 = "int32_value"
    UINT32 = "uint32_value"
    INT64 = "int64_value"
    UINT64 = "uint64_value"
    BOOL = "bool_value"
    STRING = "string_value"


class RecordField(enum.Enum):
    """Where in a kernel record an attribute's value lives."""

    ARG0 = "arg0"
    ARG1 = "arg1"
    ARG2 = "arg2"
    FAMILY = "family"
    PATH = "path"


@dataclass(frozen=True)
class AttributeSpec:
    key: str
    type: AttrType
    field: RecordField
    description: str
    # Only present when the record's flags have this bit set (0 = always).
    present_flag: int = 0


@dataclass(frozen=True)
class EventSpec:
    id: int
    name: str
    source: event_pb2.Source.ValueType
    category: event_pb2.Category.ValueType
    description: str
    attributes: tuple[AttributeSpec, ...] = ()
    # The event carries fd context (the fd it used or created).
    fd_context: bool = False
    # The thread and fd tables depend on the event, so the kernel always
    # captures it; disabling it only stops its delivery.
    state_changing: bool = False
    # The category follows the fd's type (NET for sockets, IPC for pipes).
    category_from_fd: bool = False
    # For syscall events: the syscall whose enter/exit tracepoints produce it.
    syscall: str = ""
    # Kernels may lack its tracepoints (architecture, version); the service
    # then runs without it and GetInfo says so.
    optional: bool = False

    @property
    def c_macro(self) -> str:
        return f"KINDLING_EV_{self.name.upper()}"


# Record flag bits, mirrored from bpf/kindling.h.
F_ENTER_SEEN = 0x01
F_HAS_PATH = 0x02
F_SRC_VALID = 0x04
F_DST_VALID = 0x08
F_EXIT_CODE = 0x10
F_PATH_RAW = 0x20

_SYSCALL_EXIT = event_pb2.SOURCE_SYSCALL_EXIT
_TRACEPOINT = event_pb2.SOURCE_TRACEPOINT


_OLD_FD = AttributeSpec("oldfd", AttrType.INT32, RecordField.ARG0, "The fd that was copied.")
_PIPE_FDS = (
    AttributeSpec("read_fd", AttrType.INT32, RecordField.ARG0, "The read end's fd."),
    AttributeSpec("write_fd", AttrType.INT32, RecordField.ARG1, "The write end's fd."),
)


def _specs() -> tuple[EventSpec, ...]:
    return (
        EventSpec(
            id=1,
            name="process_exec",
            source=_TRACEPOINT,
            category=event_pb2.CATEGORY_PROCESS,
            description="A process replaced its program with execve (sched:sched_process_exec).",
            attributes=(
                AttributeSpec(
                    "filename",
                    AttrType.STRING,
                    RecordField.PATH,
                    "The path of the program as execve was given it.",
                ),
                AttributeSpec(
                    "old_pid",
                    AttrType.UINT32,
                    RecordField.ARG0,
                    "The thread id that called execve, before exec made it the leader.",
                ),
            ),
            state_changing=True,
        ),
        EventSpec(
            id=2,
            name="process_fork",
            source=_TRACEPOINT,
            category=event_pb2.CATEGORY_PROCESS,
            description="A process created a new process; new threads are not reported "
            "(sched:sched_process_fork).",
            attributes=(
                AttributeSpec(
                    "child_pid", AttrType.UINT32, RecordField.ARG0, "The new process's id."
                ),
                AttributeSpec(
                    "clone_flags",
                    AttrType.UINT64,
                    RecordField.ARG1,
                    "The clone flags the process was created with.",
                ),
            ),
            state_changing=True,
        ),
        EventSpec(
            id=3,
            name="process_exit",
            source=_TRACEPOINT,
            category=event_pb2.CATEGORY_PROCESS,
            description="The last thread of a process exited (sched:sched_process_exit).",
            attributes=(
                AttributeSpec(
                    "exit_code",
                    AttrType.INT32,
                    RecordField.ARG0,
                    "The code the process passed to exit_group; absent when it ended "
                    "otherwise (killed by a signal, or its last thread called exit).",
                    present_flag=F_EXIT_CODE,
                ),
            ),
            state_changing=True,
        ),
        EventSpec(
            id=4,
            name="openat",
            syscall="openat",
            source=_SYSCALL_EXIT,
            category=event_pb2.CATEGORY_FILE,
            description="openat returned; on success the fd context is the new descriptor.",
            attributes=(
                AttributeSpec(
                    "path",
                    AttrType.STRING,
                    RecordField.PATH,
                    "The path openat was given; relative paths start from dirfd.",
                ),
                AttributeSpec(
                    "dirfd",
                    AttrType.INT32,
                    RecordField.ARG0,
                    "The directory descriptor relative paths start from (-100 is AT_FDCWD).",
                ),
                AttributeSpec("flags", AttrType.INT32, RecordField.ARG1, "The open flags."),
                AttributeSpec(
                    "mode", AttrType.UINT32, RecordField.ARG2, "The mode for created files."
                ),
            ),
            fd_context=True,
            state_changing=True,
        ),
        EventSpec(
            id=5,
            name="close",
            syscall="close",
            source=_SYSCALL_EXIT,
            category=event_pb2.CATEGORY_FILE,
            description="close returned; the fd context describes the descriptor closed.",
            fd_context=True,
            state_changing=True,
            category_from_fd=True,
        ),
        EventSpec(
            id=6,
            name="read",
            syscall="read",
            source=_SYSCALL_EXIT,
            category=event_pb2.CATEGORY_FILE,
            description="read returned the number of bytes read (category NET or IPC for "
            "sockets and pipes).",
            attributes=(
                AttributeSpec("size", AttrType.UINT64, RecordField.ARG1, "The bytes asked for."),
            ),
            fd_context=True,
            category_from_fd=True,
        ),
        EventSpec(
            id=7,
            name="write",
            syscall="write",
            source=_SYSCALL_EXIT,
            category=event_pb2.CATEGORY_FILE,
            description="write returned the number of bytes written (category NET or IPC for "
            "sockets and pipes).",
            attributes=(
                AttributeSpec(
                    "size", AttrType.UINT64, RecordField.ARG1, "The bytes asked to write."
                ),
            ),
            fd_context=True,
            category_from_fd=True,
        ),
        EventSpec(
            id=8,
            name="socket",
            syscall="socket",
            source=_SYSCALL_EXIT,
            category=event_pb2.CATEGORY_NET,
            description="socket returned; on success the fd context is the new socket.",
            attributes=(
                AttributeSpec(
                    "domain", AttrType.INT32, RecordField.ARG0, "The address family (AF_*)."
                ),
                AttributeSpec(
                    "type", AttrType.INT32, RecordField.ARG1, "The socket type and flags."
                ),
                AttributeSpec("protocol", AttrType.INT32, RecordField.ARG2, "The protocol."),
            ),
            fd_context=True,
            state_changing=True,
        ),
        EventSpec(
            id=9,
            name="connect",
            syscall="connect",
            source=_SYSCALL_EXIT,
            category=event_pb2.CATEGORY_NET,
            description="connect returned; the fd context holds the connection's two ends.",
            fd_context=True,
            state_changing=True,
        ),
        EventSpec(
            id=10,
            name="accept",
            syscall="accept",
            source=_SYSCALL_EXIT,
            category=event_pb2.CATEGORY_NET,
            description="accept returned; on success the fd context is the accepted connection.",
            attributes=(
                AttributeSpec(
                    "listen_fd", AttrType.INT32, RecordField.ARG0, "The listening socket's fd."
                ),
            ),
            fd_context=True,
            state_changing=True,
        ),
        EventSpec(
            id=11,
            name="accept4",
            syscall="accept4",
            source=_SYSCALL_EXIT,
            category=event_pb2.CATEGORY_NET,
            description="accept4 returned; on success the fd context is the accepted connection.",
            attributes=(
                AttributeSpec(
                    "listen_fd", AttrType.INT32, RecordField.ARG0, "The listening socket's fd."
                ),
                AttributeSpec("flags", AttrType.INT32, RecordField.ARG1, "The accept4 flags."),
            ),
            fd_context=True,
            state_changing=True,
        ),
        EventSpec(
            id=12,
            name="dup",
            syscall="dup",
            source=_SYSCALL_EXIT,
            category=event_pb2.CATEGORY_FILE,
            description="dup returned; on success the fd context is the new descriptor.",
            attributes=(_OLD_FD,),
            fd_context=True,
            state_changing=True,
            category_from_fd=True,
            optional=True,
        ),
        EventSpec(
            id=13,
            name="dup2",
            syscall="dup2",
            source=_SYSCALL_EXIT,
            category=event_pb2.CATEGORY_FILE,
            description="dup2 returned; on success the fd context is the new descriptor.",
            attributes=(_OLD_FD,),
            fd_context=True,
            state_changing=True,
            category_from_fd=True,
            optional=True,
        ),
        EventSpec(
            id=14,
            name="dup3",
            syscall="dup3",
            source=_SYSCALL_EXIT,
            category=event_pb2.CATEGORY_FILE,
            description="dup3 returned; on success the fd context is the new descriptor.",
            attributes=(
                _OLD_FD,
                AttributeSpec("flags", AttrType.INT32, RecordField.ARG2, "The dup3 flags."),
            ),
            fd_context=True,
            state_changing=True,
            category_from_fd=True,
            optional=True,
        ),
        EventSpec(
            id=15,
            name="pipe",
            syscall="pipe",
            source=_SYSCALL_EXIT,
            category=event_pb2.CATEGORY_IPC,
            description="pipe returned; the fd context is the read end.",
            attributes=_PIPE_FDS,
            fd_context=True,
            state_changing=True,
            optional=True,
        ),
        EventSpec(
            id=16,
            name="pipe2",
            syscall="pipe2",
            source=_SYSCALL_EXIT,
            category=event_pb2.CATEGORY_IPC,
            description="pipe2 returned; the fd context is the read end.",
            attributes=(
                *_PIPE_FDS,
                AttributeSpec("flags", AttrType.INT32, RecordField.ARG2, "The pipe2 flags."),
            ),
            fd_context=True,
            state_changing=True,
            optional=True,
        ),
        EventSpec(
            id=17,
            name="socketpair",
            syscall="socketpair",
            source=_SYSCALL_EXIT,
            category=event_pb2.CATEGORY_IPC,
            description="socketpair returned; the fd context is the first socket.",
            attributes=(
                AttributeSpec(
                    "first_fd", AttrType.INT32, RecordField.ARG0, "The first socket's fd."
                ),
                AttributeSpec(
                    "second_fd", AttrType.INT32, RecordField.ARG1, "The second socket's fd."
                ),
                AttributeSpec(
                    "domain", AttrType.INT32, RecordField.FAMILY, "The address family (AF_*)."
                ),
                AttributeSpec(
                    "type", AttrType.INT32, RecordField.ARG2, "The socket type and flags."
                ),
            ),
            fd_context=True,
            state_changing=True,
            optional=True,
        ),
        EventSpec(
            id=18,
            name="close_range",
            syscall="close_range",
            source=_SYSCALL_EXIT,
            category=event_pb2.CATEGORY_FILE,
            description="close_range returned; it closed (or marked close-on-exec) a range "
            "of descriptors.",
            attributes=(
                AttributeSpec("first", AttrType.UINT32, RecordField.ARG0, "The first fd."),
                AttributeSpec("last", AttrType.UINT32, RecordField.ARG1, "The last fd."),
                AttributeSpec("flags", AttrType.UINT32, RecordField.ARG2, "The close_range flags."),
            ),
            state_changing=True,
            optional=True,
        ),
    )


class Catalog:
    """Lookup over the event specs, by id and by name."""

    def __init__(self, specs: Iterable[EventSpec]) -> None:
        self.specs: tuple[EventSpec, ...] = tuple(sorted(specs, key=lambda s: s.id))
        self.by_name = {s.name: s for s in self.specs}
        self.by_id = {s.id: s for s in self.specs}
        if len(self.by_name) != len(self.specs) or len(self.by_id) != len(self.specs):
            raise ValueError("event names and ids must be unique")
        for spec in self.specs:
            kinds = [a.type is AttrType.STRING for a in spec.attributes]
            if kinds != sorted(kinds, reverse=True):
                # The pipeline encodes strings per event and numbers per batch.
                raise ValueError(f"{spec.name}: list string attributes before numeric ones")
        # Ids index BPF arrays: keep them dense and small.
        self.max_id = max(self.by_id)

    @property
    def names(self) -> list[str]:
        return [s.name for s in self.specs]

    def ids(self, names: Iterable[str]) -> frozenset[int]:
        return frozenset(self.by_name[n].id for n in names)

    @property
    def syscalls(self) -> dict[str, EventSpec]:
        return {s.syscall: s for s in self.specs if s.syscall}

    def c_defines(self, available_syscalls: Iterable[str] = ()) -> list[str]:
        """The -D flags that give the eBPF programs their event ids, and say
        which optional syscalls this kernel can trace."""
        flags = [f"-D{s.c_macro}={s.id}" for s in self.specs]
        flags.append(f"-DKINDLING_EVENT_COUNT={self.max_id + 1}")
        flags.extend(f"-DKINDLING_HAVE_SYS_{name.upper()}" for name in sorted(available_syscalls))
        return flags


CATALOG = Catalog(_specs())
