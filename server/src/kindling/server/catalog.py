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
from kindling.server.record import KernelRecord, RecordFlag
from kindling.server.symbols import TCP_STATES, KernelSymbols, Symbols
from kindling.server.syscalls import Syscall, machine_syscalls


class AttrType(enum.Enum):
    """The Attribute oneof case an attribute uses."""

    INT32 = "int32_value"
    UINT32 = "uint32_value"
    INT64 = "int64_value"
    UINT64 = "uint64_value"
    BOOL = "bool_value"
    STRING = "string_value"
    STRING_LIST = "string_list_value"

    @property
    def textual(self) -> bool:
        """Made per event from the record's strings (the others per batch)."""
        return self in (AttrType.STRING, AttrType.STRING_LIST)


class RecordField(enum.Enum):
    """Where in a kernel record (record.KernelRecord) an attribute's value lives."""

    ARG0 = "arg0"
    ARG1 = "arg1"
    ARG2 = "arg2"
    ARG3 = "arg3"
    FAMILY = "family"
    DPORT = "dport"
    PATH = "path"  # the string of a long record
    SPORT = "sport"
    # The peer address a call named, as text: an IP address (daddr), or a
    # unix socket's name (the path area).
    PEER = "peer"
    # A TCP event's local and remote addresses, as text (saddr, daddr).
    LOCAL = "local"
    REMOTE = "remote"
    FLAGS = "flags"
    # The string (or NUL-separated strings) in a data record's data area.
    DATA = "data"
    # A generic syscall's fifth and sixth arguments: the two words of saddr.
    ARG4 = "arg4"
    ARG5 = "arg5"


# Fields that are computed from a record rather than read from one column.
COMPUTED_FIELDS = frozenset(
    {
        RecordField.PATH, RecordField.PEER, RecordField.LOCAL, RecordField.REMOTE,
        RecordField.DATA, RecordField.ARG4, RecordField.ARG5,
    }
)  # fmt: skip


class Table(enum.Enum):
    """Which of the service's context tables an event keeps right."""

    NONE = "none"
    # Process life cycle: the thread table, and the fd table across fork,
    # exec and exit.
    THREADS = "threads"
    # Descriptors created, copied, replaced or closed: the fd table.
    FDS = "fds"


@dataclass(frozen=True)
class AttributeSpec:
    key: str
    type: AttrType
    field: RecordField
    description: str
    # Only present when the record's flags have one of these bits (0 = always).
    present_flag: int = 0
    # Numbers: the field's value shifted right by this many bits first (two
    # values packed into one field).
    shift: int = 0
    # Booleans: whether the field has this bit set.
    bit: int = 0
    # Strings: the name of the field's number (absent when it has none).
    symbols: Symbols | None = None


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
    # The context table the event keeps right: while any subscription needs
    # that table, the kernel captures the event even when nobody wants it
    # delivered.
    table: Table = Table.NONE
    # The category follows the fd's type (NET for sockets, IPC for pipes).
    category_from_fd: bool = False
    # Data moved through an fd (read, write): Configure's drop_failed_io
    # drops calls that moved nothing (return value <= 0) in the kernel.
    io: bool = False
    # It can carry the bytes the call moved (Event.payload), when asked.
    payload: bool = False
    # For syscall events: the syscall whose enter/exit tracepoints produce it
    # (its name, unless the tracepoints are named otherwise: sendfile64).
    syscall: str = ""
    # Kernels may lack its tracepoints (architecture, version); the service
    # then runs without it and GetInfo says so.
    optional: bool = False
    # The tracepoints ("category:event") its programs attach to while it is
    # captured, in attach order (a syscall's entry before its exit).
    hooks: tuple[str, ...] = ()
    # Tracepoints attached only while the event is delivered to a subscriber:
    # they add attributes, not context.
    delivery_hooks: tuple[str, ...] = ()
    # Tracepoints attached only while its payload is captured (they tell
    # calls on sockets from others); the kernel may lack them.
    payload_hooks: tuple[str, ...] = ()
    # Any syscall by name: its hooks run the programs shared by all of them.
    generic: bool = False

    @property
    def c_macro(self) -> str:
        return f"KINDLING_EV_{self.name.upper()}"

    @property
    def state_changing(self) -> bool:
        return self.table is not Table.NONE


# Record flag bits (record.RecordFlag), for the attributes that depend on them.
F_ENTER_SEEN = RecordFlag.ENTER_SEEN
F_SRC_VALID = RecordFlag.SRC_VALID
F_DST_VALID = RecordFlag.DST_VALID
F_EXIT_CODE = RecordFlag.EXIT_CODE
F_PATH_RAW = RecordFlag.PATH_RAW

_SYSCALL_EXIT = event_pb2.SOURCE_SYSCALL_EXIT
_TRACEPOINT = event_pb2.SOURCE_TRACEPOINT


def _syscall(
    event_id: int,
    name: str,
    category: event_pb2.Category.ValueType,
    description: str,
    *attributes: AttributeSpec,
    fd_context: bool = True,
    table: Table = Table.FDS,
    category_from_fd: bool = False,
    io: bool = False,
    optional: bool = False,
    also_hooks: tuple[str, ...] = (),
    syscall: str = "",
    payload: bool = False,
    payload_hooks: tuple[str, ...] = (),
) -> EventSpec:
    """A syscall exit event named after its syscall, from its entry and exit
    tracepoints (and `also_hooks`, attached between them). Most of them carry
    fd context and change the fd table, so those are the defaults."""
    syscall = syscall or name
    return EventSpec(
        id=event_id,
        name=name,
        syscall=syscall,
        source=_SYSCALL_EXIT,
        category=category,
        description=description,
        attributes=attributes,
        fd_context=fd_context,
        table=table,
        category_from_fd=category_from_fd,
        io=io,
        payload=payload,
        optional=optional,
        hooks=(f"syscalls:sys_enter_{syscall}", *also_hooks, f"syscalls:sys_exit_{syscall}"),
        payload_hooks=payload_hooks,
    )


# Tell calls on sockets from others, for payloads of sockets only.
_SENT = ("sock:sock_send_length",)
_RECEIVED = ("sock:sock_recv_length",)


def _io(
    event_id: int,
    name: str,
    description: str,
    *attributes: AttributeSpec,
    payload_hooks: tuple[str, ...] = (),
    syscall: str = "",
    category: event_pb2.Category.ValueType = event_pb2.CATEGORY_FILE,
    payload: bool = True,
) -> EventSpec:
    """An I/O call: fd context from its fd (arg0), a category that follows
    the fd's type, and a payload where the probe can read its buffers."""
    return _syscall(
        event_id, name, category, description, *attributes,
        table=Table.NONE, category_from_fd=True, io=True, optional=name not in ("read", "write"),
        payload=payload, payload_hooks=payload_hooks, syscall=syscall,
    )  # fmt: skip


# Completes the two ends of TCP connections for connect and accept.
_TCP_STATE = "sock:inet_sock_set_state"


def _tcp(
    event_id: int,
    name: str,
    hook: str,
    description: str,
    *attributes: AttributeSpec,
    table: Table = Table.NONE,
) -> EventSpec:
    """A TCP event from a tracepoint, with the connection's two ends and,
    where the probe knows them, its owner's thread and fd (arg0)."""
    return EventSpec(
        id=event_id,
        name=name,
        source=_TRACEPOINT,
        category=event_pb2.CATEGORY_NET,
        description=description + _OWNER,
        attributes=(*attributes[:_strings(attributes)], *_ENDS[:2],
                    *attributes[_strings(attributes):], *_ENDS[2:]),
        fd_context=True,
        table=table,
        optional=True,
        hooks=(hook,),
    )  # fmt: skip


def _strings(attributes: tuple[AttributeSpec, ...]) -> int:
    return sum(1 for a in attributes if a.type.textual)


_THREADS = Table.THREADS


_A = AttributeSpec
_I32, _U32, _U64, _STR = AttrType.INT32, AttrType.UINT32, AttrType.UINT64, AttrType.STRING
_ARG0, _ARG1, _ARG2 = RecordField.ARG0, RecordField.ARG1, RecordField.ARG2
_PATH = RecordField.PATH
_FILE, _NET, _IPC = event_pb2.CATEGORY_FILE, event_pb2.CATEGORY_NET, event_pb2.CATEGORY_IPC

MAX_EXEC_ARGS = 32
_OLD_FD = _A("oldfd", _I32, _ARG0, "The fd that was copied.")
_DIRFD = _A(
    "dirfd", _I32, _ARG0, "The directory descriptor relative paths start from (-100 is AT_FDCWD)."
)
_MODE = _A("mode", _U32, RecordField.ARG2, "The mode for created files or directories.")
_PIPE_FDS = (
    _A("read_fd", _I32, _ARG0, "The read end's fd."),
    _A("write_fd", _I32, _ARG1, "The write end's fd."),
)
_LISTEN_FD = _A("listen_fd", _I32, _ARG0, "The listening socket's fd.")
_PEER = (
    AttributeSpec(
        "peer_address",
        _STR,
        RecordField.PEER,
        "The address the call sent to or received from: an IP address, or a unix "
        'socket\'s name ("@" starts abstract names); absent when the call named none, '
        "as on connected sockets.",
        present_flag=F_DST_VALID | RecordFlag.HAS_PATH,
    ),
    AttributeSpec(
        "peer_port",
        _U32,
        RecordField.DPORT,
        "The port of peer_address, for IP addresses.",
        present_flag=F_DST_VALID,
    ),
)
_SEND_FLAGS = _A("flags", _I32, _ARG2, "The MSG_* flags.")
_F_LOCAL, _F_REMOTE = RecordFlag.SRC_VALID, RecordFlag.DST_VALID
_ENDS = (
    AttributeSpec(
        "local_address", _STR, RecordField.LOCAL, "This host's address.", present_flag=_F_LOCAL
    ),
    AttributeSpec(
        "remote_address", _STR, RecordField.REMOTE, "The peer's address.", present_flag=_F_REMOTE
    ),
    AttributeSpec(
        "local_port", _U32, RecordField.SPORT, "This host's port.", present_flag=_F_LOCAL
    ),
    AttributeSpec(
        "remote_port", _U32, RecordField.DPORT, "The peer's port.", present_flag=_F_REMOTE
    ),
)
_TCP_STATE_OF_ARG1 = AttributeSpec(
    "state",
    _STR,
    _ARG1,
    "The connection's TCP state (ESTABLISHED, SYN_SENT, ...).",
    symbols=TCP_STATES,
)
_OWNER = (
    " The thread and fd are the socket's owner when the probe saw it connect or accept "
    "(these tracepoints fire outside it); both are unset otherwise."
)
_MSG_FLAGS = _A("flags", _I32, _ARG1, "The MSG_* flags.")
_VLEN = _A("vlen", _U32, _ARG1, "The number of messages offered; the payload is the first's.")
_MMSG_FLAGS = _A("flags", _I32, _ARG2, "The MSG_* flags.")
_SOCK_TYPE_ARG1 = _A("type", _I32, _ARG1, "The socket type and flags.")
_ACCEPTED = "returned; on success the fd context is the accepted connection."
_READ = "returned the number of bytes read (category NET or IPC for sockets and pipes)."
_WRITTEN = "returned the number of bytes written (category NET or IPC for sockets and pipes)."
_SENT_BYTES = "returned the number of bytes sent (category IPC for unix sockets)."
_RECEIVED_BYTES = "returned the number of bytes received (category IPC for unix sockets)."
_NEW_FD = "returned; on success the fd context is the new descriptor."


def _specs() -> tuple[EventSpec, ...]:
    process = event_pb2.CATEGORY_PROCESS
    return (
        EventSpec(
            id=1,
            name="process_exec",
            source=_TRACEPOINT,
            category=process,
            description="A process replaced its program with execve (sched:sched_process_exec).",
            attributes=(
                _A("filename", _STR, _PATH, "The path of the program as execve was given it."),
                AttributeSpec(
                    "args", AttrType.STRING_LIST, RecordField.DATA,
                    f"The arguments it was given (argv, the program's name first): at most "
                    f"{MAX_EXEC_ARGS}, and as many bytes as the snaplen's room allows "
                    "(DriverInfo.max_snaplen).",
                    present_flag=RecordFlag.HAS_DATA,
                ),
                _A("old_pid", _U32, _ARG0,
                   "The thread id that called execve, before exec made it the leader."),
                AttributeSpec(
                    "args_truncated", AttrType.BOOL, RecordField.FLAGS,
                    "Whether args lacks arguments the program was given.",
                    bit=RecordFlag.DATA_TRUNCATED,
                ),
            ),
            table=_THREADS,
            hooks=("sched:sched_process_exec",),
        ),
        EventSpec(
            id=2,
            name="process_fork",
            source=_TRACEPOINT,
            category=process,
            description="A process created a new process; new threads are not reported "
            "(sched:sched_process_fork).",
            attributes=(
                _A("child_pid", _U32, _ARG0, "The new process's id."),
                _A("clone_flags", _U64, _ARG1, "The clone flags the process was created with."),
            ),
            table=_THREADS,
            # task_newtask gives the clone flags, which tell threads from processes.
            hooks=("task:task_newtask", "sched:sched_process_fork"),
        ),
        EventSpec(
            id=3,
            name="process_exit",
            source=_TRACEPOINT,
            category=process,
            description="The last thread of a process exited (sched:sched_process_exit).",
            attributes=(
                AttributeSpec(
                    "exit_code", _I32, _ARG0,
                    "The code the process exited with (exit_group's, or its leader's exit); "
                    "absent when a signal ended it.",
                    present_flag=F_EXIT_CODE,
                ),
                AttributeSpec(
                    "signal", _I32, _ARG1,
                    "The signal that ended the process (its default action was to end "
                    "it); absent when it exited.",
                    present_flag=RecordFlag.EXIT_SIGNAL,
                ),
            ),
            table=_THREADS,
            hooks=("sched:sched_process_exit",),
            delivery_hooks=(
                "syscalls:sys_enter_exit_group", "syscalls:sys_enter_exit",
                "signal:signal_generate", "signal:signal_deliver",
            ),
        ),
        _syscall(
            4, "openat", _FILE, f"openat {_NEW_FD}",
            _A("path", _STR, _PATH, "The path openat was given; relative paths start from dirfd."),
            _A("dirfd", _I32, _ARG0,
               "The directory descriptor relative paths start from (-100 is AT_FDCWD)."),
            _A("flags", _I32, _ARG1, "The open flags."),
            _A("mode", _U32, _ARG2, "The mode for created files."),
        ),
        _syscall(
            5, "close", _FILE, "close returned; the fd context describes the descriptor closed.",
            category_from_fd=True,
        ),
        _io(6, "read", f"read {_READ}", _A("size", _U64, _ARG1, "The bytes asked for."),
            payload_hooks=_RECEIVED),
        _io(7, "write", f"write {_WRITTEN}",
            _A("size", _U64, _ARG1, "The bytes asked to write."), payload_hooks=_SENT),
        _syscall(
            8, "socket", _NET, "socket returned; on success the fd context is the new socket.",
            _A("domain", _I32, _ARG0, "The address family (AF_*)."),
            _SOCK_TYPE_ARG1,
            _A("protocol", _I32, _ARG2, "The protocol."),
        ),
        _syscall(
            9, "connect", _NET,
            "connect returned; the fd context holds the connection's two ends.",
            also_hooks=(_TCP_STATE,),
        ),
        _syscall(10, "accept", _NET, f"accept {_ACCEPTED}", _LISTEN_FD,
                 also_hooks=(_TCP_STATE,)),
        _syscall(
            11, "accept4", _NET, f"accept4 {_ACCEPTED}",
            _LISTEN_FD, _A("flags", _I32, _ARG1, "The accept4 flags."),
            also_hooks=(_TCP_STATE,),
        ),
        _syscall(12, "dup", _FILE, f"dup {_NEW_FD}", _OLD_FD, category_from_fd=True,
                 optional=True),
        _syscall(13, "dup2", _FILE, f"dup2 {_NEW_FD}", _OLD_FD, category_from_fd=True,
                 optional=True),
        _syscall(
            14, "dup3", _FILE, f"dup3 {_NEW_FD}",
            _OLD_FD, _A("flags", _I32, _ARG2, "The dup3 flags."),
            category_from_fd=True, optional=True,
        ),
        _syscall(
            15, "pipe", _IPC, "pipe returned; the fd context is the read end.",
            *_PIPE_FDS, optional=True,
        ),
        _syscall(
            16, "pipe2", _IPC, "pipe2 returned; the fd context is the read end.",
            *_PIPE_FDS, _A("flags", _I32, _ARG2, "The pipe2 flags."), optional=True,
        ),
        _syscall(
            17, "socketpair", _IPC, "socketpair returned; the fd context is the first socket.",
            _A("first_fd", _I32, _ARG0, "The first socket's fd."),
            _A("second_fd", _I32, _ARG1, "The second socket's fd."),
            _A("domain", _I32, RecordField.FAMILY, "The address family (AF_*)."),
            _A("type", _I32, _ARG2, "The socket type and flags."),
            optional=True,
        ),
        _syscall(
            18, "close_range", _FILE,
            "close_range returned; it closed (or marked close-on-exec) a range of descriptors.",
            _A("first", _U32, _ARG0, "The first fd."),
            _A("last", _U32, _ARG1, "The last fd."),
            _A("flags", _U32, _ARG2, "The close_range flags."),
            fd_context=False, optional=True,
        ),
        _io(19, "readv", f"readv {_READ}",
            _A("iovcnt", _U32, _ARG1, "The number of buffers."), payload_hooks=_RECEIVED),
        _io(20, "writev", f"writev {_WRITTEN}",
            _A("iovcnt", _U32, _ARG1, "The number of buffers."), payload_hooks=_SENT),
        _io(21, "pread64", f"pread64 {_READ}",
            _A("size", _U64, _ARG1, "The bytes asked for."),
            _A("offset", AttrType.INT64, _ARG2, "The file offset read from."),
            payload_hooks=_RECEIVED),
        _io(22, "pwrite64", f"pwrite64 {_WRITTEN}",
            _A("size", _U64, _ARG1, "The bytes asked to write."),
            _A("offset", AttrType.INT64, _ARG2, "The file offset written at."),
            payload_hooks=_SENT),
        _io(23, "sendto", f"sendto {_SENT_BYTES}", *_PEER,
            _A("size", _U64, _ARG1, "The bytes asked to send."), _SEND_FLAGS, category=_NET),
        _io(24, "recvfrom", f"recvfrom {_RECEIVED_BYTES}", *_PEER,
            _A("size", _U64, _ARG1, "The bytes asked for."), _SEND_FLAGS, category=_NET),
        _io(25, "sendmsg", f"sendmsg {_SENT_BYTES}", *_PEER, _MSG_FLAGS, category=_NET),
        _io(26, "recvmsg", f"recvmsg {_RECEIVED_BYTES}", *_PEER, _MSG_FLAGS, category=_NET),
        _io(27, "sendmmsg", "sendmmsg returned the number of messages sent.",
            *_PEER, _VLEN, _MMSG_FLAGS, category=_NET),
        _io(28, "recvmmsg", "recvmmsg returned the number of messages received.",
            *_PEER, _VLEN, _MMSG_FLAGS, category=_NET),
        _io(29, "sendfile",
            "sendfile returned the number of bytes copied from in_fd to the fd (out_fd) in "
            "the kernel; it carries no payload.",
            _A("in_fd", _I32, _ARG1, "The descriptor read from."),
            _A("count", _U64, _ARG2, "The bytes asked to copy."),
            syscall="sendfile64", payload=False),
        _syscall(
            30, "bind", _NET,
            "bind returned; on success the fd context shows the address the socket is bound to.",
            AttributeSpec("address", _STR, RecordField.PEER,
                          "The address bound: an IP address, or a unix socket's name.",
                          present_flag=F_DST_VALID | RecordFlag.HAS_PATH),
            AttributeSpec("port", _U32, RecordField.DPORT, "The port bound, for IP addresses.",
                          present_flag=F_DST_VALID),
            category_from_fd=True,
        ),
        _syscall(
            31, "listen", _NET,
            "listen returned; on success the socket is a server's, waiting for connections.",
            AttributeSpec("local_address", _STR, RecordField.LOCAL,
                          "The address it listens on (TCP).", present_flag=F_SRC_VALID),
            AttributeSpec("local_port", _U32, RecordField.SPORT,
                          "The port it listens on (TCP), even when bind asked for any.",
                          present_flag=F_SRC_VALID),
            _A("backlog", _I32, _ARG1, "The longest queue of pending connections asked for."),
        ),
        _syscall(
            32, "shutdown", _NET, "shutdown returned; it closed one or both directions.",
            _A("how", _I32, _ARG1, "SHUT_RD (0), SHUT_WR (1) or SHUT_RDWR (2)."),
            table=Table.NONE, category_from_fd=True,
        ),
        _tcp(
            33, "tcp_state_change", _TCP_STATE,
            "A TCP connection changed state (sock:inet_sock_set_state): it completes a "
            "non-blocking connect (SYN_SENT to ESTABLISHED) or records its failure "
            "(SYN_SENT to CLOSE).",
            AttributeSpec("old_state", _STR, _ARG1, "The state it left.", symbols=TCP_STATES),
            AttributeSpec("new_state", _STR, RecordField.ARG2, "The state it entered.",
                          symbols=TCP_STATES),
            AttributeSpec("connect_latency_ns", _U64, RecordField.ARG3,
                          "From SYN_SENT to this change, when the connection left SYN_SENT.",
                          present_flag=RecordFlag.ARG3_VALID),
            table=Table.FDS,
        ),
        _tcp(
            34, "tcp_retransmit", "tcp:tcp_retransmit_skb",
            "TCP sent a segment again (tcp:tcp_retransmit_skb).", _TCP_STATE_OF_ARG1,
        ),
        _tcp(
            35, "tcp_send_reset", "tcp:tcp_send_reset",
            "TCP sent a reset (tcp:tcp_send_reset).",
            _TCP_STATE_OF_ARG1,
            AttributeSpec("reason_name", _STR, RecordField.ARG2,
                          "The kernel's name for the reason, where it gives one.",
                          symbols=KernelSymbols("tcp:tcp_send_reset", "reason")),
            _A("reason", _U32, RecordField.ARG2,
               "The kernel's reason number (enum sk_rst_reason), where it gives one."),
        ),
        _tcp(
            36, "tcp_receive_reset", "tcp:tcp_receive_reset",
            "TCP received a reset (tcp:tcp_receive_reset).",
        ),
        _tcp(
            37, "tcp_probe", "tcp:tcp_probe",
            "A TCP connection's congestion state as a segment was received "
            "(tcp:tcp_probe), sampled at most once a second per connection.",
            _A("srtt_us", _U32, _ARG1, "Smoothed round-trip time, in microseconds."),
            AttributeSpec("snd_cwnd", _U32, _ARG1, "Congestion window, in segments.", shift=32),
            _A("snd_wnd", _U32, RecordField.ARG2, "Send window the peer advertised, in bytes."),
            AttributeSpec("rcv_wnd", _U32, RecordField.ARG2, "Receive window, in bytes.",
                          shift=32),
            _A("ssthresh", _U32, RecordField.ARG3, "Slow-start threshold, in segments."),
        ),
        _tcp(
            38, "skb_drop", "skb:kfree_skb",
            "The kernel dropped a packet a socket was receiving (skb:kfree_skb), with the "
            "reason; the connection's ends are known for TCP sockets the probe saw connect "
            "or accept.",
            AttributeSpec("reason_name", _STR, _ARG1, "The kernel's name for the reason.",
                          symbols=KernelSymbols("skb:kfree_skb", "reason")),
            _A("reason", _U32, _ARG1, "The kernel's reason number (enum skb_drop_reason)."),
            _A("protocol", _U32, RecordField.ARG2, "The packet's protocol (ETH_P_*)."),
        ),
        *_process_syscalls(),
        *_path_syscalls(),
    )  # fmt: skip


def _process_syscalls() -> tuple[EventSpec, ...]:
    process, signal = event_pb2.CATEGORY_PROCESS, event_pb2.CATEGORY_SIGNAL
    child = "returned the new process's (or thread's) id to the caller; process_fork "
    flags = _A("flags", _U64, _ARG0, "The clone flags (CLONE_*).")
    return (
        _syscall(39, "clone", process, f"clone {child}reports new processes.", flags,
                 fd_context=False, table=Table.NONE),
        _syscall(40, "clone3", process, f"clone3 {child}reports new processes.", flags,
                 fd_context=False, table=Table.NONE, optional=True),
        _syscall(41, "fork", process, f"fork {child}reports it too.",
                 fd_context=False, table=Table.NONE, optional=True),
        _syscall(42, "vfork", process, f"vfork {child}reports it too.",
                 fd_context=False, table=Table.NONE, optional=True),
        _syscall(
            43, "kill", signal, "kill returned; it sent a signal to a process or group.",
            _A("target_pid", _I32, _ARG0,
               "The process (> 0), process group (< -1 or 0) or everyone (-1) signalled."),
            _A("signal", _I32, _ARG1, "The signal number (0 only checks)."),
            fd_context=False, table=Table.NONE,
        ),
        _syscall(
            44, "tgkill", signal, "tgkill returned; it sent a signal to one thread.",
            _A("target_tgid", _I32, _ARG0, "The thread's process."),
            _A("target_tid", _I32, _ARG1, "The thread."),
            _A("signal", _I32, RecordField.ARG2, "The signal number."),
            fd_context=False, table=Table.NONE,
        ),
    )  # fmt: skip


def _path_syscalls() -> tuple[EventSpec, ...]:
    path = _A("path", _STR, _PATH, "The path the call was given; relative paths start from dirfd.")
    new_path = AttributeSpec(
        "new_path",
        _STR,
        RecordField.DATA,
        "The path it was renamed to.",
        present_flag=RecordFlag.HAS_DATA,
    )
    opened = "returned; on success the fd context is the new descriptor."

    def named(
        event_id: int,
        name: str,
        description: str,
        *attributes: AttributeSpec,
        optional: bool = True,
    ) -> EventSpec:
        return _syscall(
            event_id,
            name,
            _FILE,
            description,
            *attributes,
            fd_context=False,
            table=Table.NONE,
            optional=optional,
        )

    return (
        _syscall(45, "open", _FILE, f"open {opened}", path,
                 _A("flags", _I32, _ARG1, "The open flags."), _MODE, optional=True),
        _syscall(46, "openat2", _FILE, f"openat2 {opened}", path, _DIRFD,
                 _A("flags", _I32, _ARG1, "The open flags (open_how.flags)."), _MODE,
                 optional=True),
        _syscall(47, "creat", _FILE, f"creat {opened}", path, _MODE, optional=True),
        named(48, "unlink", "unlink returned; on success the name is gone.", path),
        named(49, "unlinkat", "unlinkat returned; on success the name is gone.", path, _DIRFD,
              _A("flags", _I32, _ARG1, "AT_REMOVEDIR for a directory.")),
        named(50, "rename", "rename returned; on success path has a new name.", path, new_path),
        named(51, "renameat", "renameat returned; on success path has a new name.",
              path, new_path, _A("olddirfd", _I32, _ARG0, "Where path starts from."),
              _A("newdirfd", _I32, _ARG1, "Where new_path starts from.")),
        named(52, "renameat2", "renameat2 returned; on success path has a new name.",
              path, new_path, _A("olddirfd", _I32, _ARG0, "Where path starts from."),
              _A("newdirfd", _I32, _ARG1, "Where new_path starts from."),
              _A("flags", _U32, RecordField.ARG2, "RENAME_* flags.")),
        named(53, "mkdir", "mkdir returned; on success the directory exists.", path, _MODE),
        named(54, "mkdirat", "mkdirat returned; on success the directory exists.",
              path, _DIRFD, _MODE),
    )  # fmt: skip


# Generic syscall events have ids from here on: this plus the syscall number.
GENERIC_BASE = 64
_ARG_FIELDS = (
    RecordField.ARG0, RecordField.ARG1, RecordField.ARG2, RecordField.ARG3,
    RecordField.ARG4, RecordField.ARG5,
)  # fmt: skip
_GENERIC_CATEGORIES = {
    **dict.fromkeys(("nanosleep", "clock_nanosleep", "pause"), event_pb2.CATEGORY_SLEEP),
    **dict.fromkeys(
        ("poll", "ppoll", "select", "pselect6", "epoll_wait", "epoll_pwait", "epoll_pwait2",
         "epoll_ctl", "epoll_create", "epoll_create1", "futex", "futex_waitv"),
        event_pb2.CATEGORY_WAIT,
    ),
    **dict.fromkeys(
        ("mmap", "munmap", "mremap", "mprotect", "madvise", "brk", "mlock", "munlock",
         "msync", "mincore"),
        event_pb2.CATEGORY_MEMORY,
    ),
    **dict.fromkeys(
        ("clock_gettime", "clock_settime", "clock_getres", "gettimeofday", "settimeofday",
         "time", "timer_create", "timer_settime", "timerfd_create", "timerfd_settime",
         "adjtimex", "clock_adjtime"),
        event_pb2.CATEGORY_TIME,
    ),
    **dict.fromkeys(
        ("rt_sigaction", "rt_sigprocmask", "rt_sigreturn", "rt_sigtimedwait", "rt_sigqueueinfo",
         "sigaltstack", "tkill", "signalfd", "signalfd4"),
        event_pb2.CATEGORY_SIGNAL,
    ),
    **dict.fromkeys(
        ("getpid", "getppid", "gettid", "getuid", "geteuid", "getgid", "getegid", "setuid",
         "setgid", "setsid", "wait4", "waitid", "prctl", "execve", "execveat", "exit",
         "exit_group", "setns", "unshare"),
        event_pb2.CATEGORY_PROCESS,
    ),
    **dict.fromkeys(
        ("reboot", "init_module", "finit_module", "delete_module", "mount", "umount2",
         "sethostname", "setdomainname", "uname", "sysinfo", "syslog", "bpf", "perf_event_open"),
        event_pb2.CATEGORY_SYSTEM,
    ),
}  # fmt: skip


def generic_specs(
    dedicated: Iterable[EventSpec], syscalls: Iterable[Syscall]
) -> tuple[EventSpec, ...]:
    """An event for every other syscall of this machine, by its name: its raw
    arguments, return value and latency. Syscalls whose tracepoints other
    events use are left out (a tracepoint runs one program of the probe)."""
    dedicated = tuple(dedicated)
    names = {s.name for s in dedicated}
    hooks = {h for s in dedicated for h in (*s.hooks, *s.delivery_hooks, *s.payload_hooks)}
    specs = []
    for syscall in syscalls:
        enter = f"syscalls:sys_enter_{syscall.tracepoint}"
        exit_ = f"syscalls:sys_exit_{syscall.tracepoint}"
        if syscall.name in names or enter in hooks or exit_ in hooks:
            continue
        attributes = tuple(
            AttributeSpec(name, _U64, _ARG_FIELDS[i], f"Argument {i + 1}, as a raw 64-bit word.")
            for i, name in enumerate(syscall.parameters)
        )
        specs.append(
            EventSpec(
                id=GENERIC_BASE + syscall.number,
                name=syscall.name,
                syscall=syscall.tracepoint,
                source=_SYSCALL_EXIT,
                category=_GENERIC_CATEGORIES.get(syscall.name, event_pb2.CATEGORY_OTHER),
                description=f"{syscall.name} returned (any syscall by name: its raw arguments).",
                attributes=attributes,
                table=Table.NONE,
                optional=True,
                hooks=(enter, exit_),
                generic=True,
            )
        )
    return tuple(specs)


# The programs every generic syscall event's hooks run (any_syscall.bpf.c).
ANY_SYSCALL_PROGRAMS = ("kindling_any_syscall_enter", "kindling_any_syscall_exit")


class Catalog:
    """Lookup over the event specs, by id and by name."""

    def __init__(self, specs: Iterable[EventSpec]) -> None:
        self.specs: tuple[EventSpec, ...] = tuple(sorted(specs, key=lambda s: s.id))
        self.by_name = {s.name: s for s in self.specs}
        self.by_id = {s.id: s for s in self.specs}
        if len(self.by_name) != len(self.specs) or len(self.by_id) != len(self.specs):
            raise ValueError("event names and ids must be unique")
        columns = {*KernelRecord._fields, *(f.value for f in COMPUTED_FIELDS)}
        for spec in self.specs:
            if not spec.hooks:
                raise ValueError(f"{spec.name}: an event needs the tracepoints it comes from")
            for attr in spec.attributes:
                if attr.field.value not in columns:
                    raise ValueError(f"{spec.name}.{attr.key}: no record field {attr.field.value}")
            kinds = [a.type.textual for a in spec.attributes]
            if kinds != sorted(kinds, reverse=True):
                # The pipeline encodes strings per event and numbers per batch.
                raise ValueError(f"{spec.name}: list string attributes before numeric ones")
        # Ids index BPF arrays: keep them dense and small.
        self.max_id = max(self.by_id)
        if any(s.id >= GENERIC_BASE for s in self.specs if not s.generic):
            raise ValueError(f"the probe's own events need ids below {GENERIC_BASE}")
        self._programs = {
            hook: ANY_SYSCALL_PROGRAMS[i]
            for s in self.specs
            if s.generic
            for i, hook in enumerate(s.hooks)
        }

    def program(self, hook: str) -> str:
        """The eBPF program that a hook ("category:event") runs."""
        found = self._programs.get(hook)
        if found is not None:
            return found
        category, _, event = hook.partition(":")
        return f"tracepoint__{category}__{event}"  # what TRACEPOINT_PROBE defines

    @property
    def own_names(self) -> list[str]:
        """The names of the probe's own events, without the generic syscalls."""
        return [s.name for s in self.specs if not s.generic]

    def known_events(self) -> str:
        """What an error about an unknown event name says is known."""
        text = f"known events are {', '.join(self.own_names)}"
        if any(s.generic for s in self.specs):
            text += ", and any other syscall of this kernel by its name (kindling info lists all)"
        return text

    @property
    def names(self) -> list[str]:
        return [s.name for s in self.specs]

    def ids(self, names: Iterable[str]) -> frozenset[int]:
        return frozenset(self.by_name[n].id for n in names)

    @property
    def syscalls(self) -> dict[str, EventSpec]:
        return {s.syscall: s for s in self.specs if s.syscall}

    def hooks(
        self, ids: Iterable[int], delivered: Iterable[int] = (), payload: Iterable[int] = ()
    ) -> list[str]:
        """The tracepoints to attach for capturing `ids`, delivering
        `delivered` and capturing the payload of `payload`, without repeats,
        in attach order."""
        wanted, with_payload = set(delivered), set(payload)
        hooks: dict[str, None] = {}
        for event_id in sorted(set(ids)):
            spec = self.by_id[event_id]
            hooks.update(dict.fromkeys(spec.hooks))
            if event_id in wanted:
                hooks.update(dict.fromkeys(spec.delivery_hooks))
            if event_id in with_payload:
                hooks.update(dict.fromkeys(spec.payload_hooks))
        return list(hooks)

    @property
    def all_hooks(self) -> list[str]:
        return self.hooks(self.by_id, self.by_id, self.by_id)

    def unavailable(self, available_hooks: Iterable[str]) -> frozenset[int]:
        """The events this kernel cannot produce: some tracepoint they come
        from is missing (hooks that only add to them may be)."""
        have = set(available_hooks)
        return frozenset(s.id for s in self.specs if not have.issuperset(s.hooks))

    def c_defines(self, available_hooks: Iterable[str] = ()) -> list[str]:
        """The -D flags that give the eBPF programs their event ids, and say
        which tracepoints this kernel has: KINDLING_HAVE_SYS_<syscall> for a
        syscall's pair, KINDLING_HAVE_<CATEGORY>_<EVENT> for the others."""
        have = set(available_hooks)
        flags = [f"-D{s.c_macro}={s.id}" for s in self.specs if not s.generic]
        flags.append(f"-DKINDLING_EVENT_COUNT={self.max_id + 1}")
        flags.append(f"-DKINDLING_GENERIC_BASE={GENERIC_BASE}")
        missing = self.unavailable(have)
        syscalls = sorted(
            {s.syscall for s in self.specs if s.syscall and not s.generic and s.id not in missing}
        )
        flags.extend(f"-DKINDLING_HAVE_SYS_{name.upper()}" for name in syscalls)
        # Generic syscalls' hooks need no flag: their programs are shared.
        for hook in sorted(have - set(self._programs)):
            category, _, event = hook.partition(":")
            flags.append(f"-DKINDLING_HAVE_{category.upper()}_{event.upper()}")
        return flags


_OWN = _specs()
CATALOG = Catalog((*_OWN, *generic_specs(_OWN, machine_syscalls())))
