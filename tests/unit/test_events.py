"""Records to kindling events: context from the thread and fd tables."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from support.records import Rec, to_batch

from kindling.event.v1 import event_pb2
from kindling.server import catalog as cat
from kindling.server.catalog import CATALOG
from kindling.server.pipeline.builder import EventBuilder
from kindling.server.pipeline.encode import native
from kindling.server.pipeline.enrich.procfs import ProcFS, container_id_from_cgroup
from kindling.server.pipeline.plan import Demand, Region, TableScope
from kindling.server.record import RecordFlag

AF_UNIX, AF_INET, AF_INET6 = 1, 2, 10
SOCK_STREAM, SOCK_CLOEXEC = 1, 0o2000000
AT_FDCWD = -100


@pytest.fixture
def builder(tmp_path: Path) -> EventBuilder:
    # An empty /proc: every process looks gone, so only the records count.
    return EventBuilder(CATALOG, ProcFS(tmp_path))


def build(builder: EventBuilder, *recs: Rec) -> list[event_pb2.Event]:
    batch = builder.build(to_batch(recs))
    return [event_pb2.Event.FromString(raw) for raw in batch.events]


def attrs(event: event_pb2.Event) -> dict[str, object]:
    return {a.key: getattr(a, a.WhichOneof("value") or "key") for a in event.attributes}


def test_openat_event_is_encoded_completely(builder: EventBuilder) -> None:
    (event,) = build(
        builder,
        Rec(
            "openat", ts=123_456, pid=42, tid=43, uid=1000, gid=1001, cpu=1, cgroup_id=77,
            ret=5, latency_ns=900, arg0=AT_FDCWD, arg1=0o2000000, arg2=0o644,
            flags=cat.F_ENTER_SEEN, comm=b"cat", path=b"/etc/hostname",
        ),
    )  # fmt: skip
    expected = event_pb2.Event(
        timestamp_ns=123_456,
        name="openat",
        source=event_pb2.SOURCE_SYSCALL_EXIT,
        category=event_pb2.CATEGORY_FILE,
        cpu=1,
        return_value=5,
        latency_ns=900,
        thread=event_pb2.Thread(pid=42, tid=43, uid=1000, gid=1001, comm="cat", cgroup_id=77),
        fd=event_pb2.Fd(num=5, type=event_pb2.FD_TYPE_FILE, path="/etc/hostname"),
        attributes=[
            event_pb2.Attribute(key="path", string_value="/etc/hostname"),
            event_pb2.Attribute(key="dirfd", int32_value=-100),
            event_pb2.Attribute(key="flags", int32_value=0o2000000),
            event_pb2.Attribute(key="mode", uint32_value=0o644),
        ],
    )
    assert event == expected


def test_failed_openat_has_no_fd_but_keeps_the_path(builder: EventBuilder) -> None:
    (event,) = build(builder, Rec("openat", ts=1, ret=-2, arg0=AT_FDCWD, path=b"/nope"))
    assert event.return_value == -2
    assert not event.HasField("fd")
    assert attrs(event)["path"] == "/nope"


def test_io_on_an_opened_file_carries_its_path_until_close(builder: EventBuilder) -> None:
    events = build(
        builder,
        Rec("openat", ts=1, pid=9, ret=3, path=b"/var/log/app.log"),
        Rec("read", ts=2, pid=9, ret=10, arg0=3, arg1=4096),
        Rec("close", ts=3, pid=9, ret=0, arg0=3),
        Rec("read", ts=4, pid=9, ret=-9, arg0=3, arg1=1),
    )
    read, close, late_read = events[1:]
    assert read.fd.path == "/var/log/app.log"
    assert read.category == event_pb2.CATEGORY_FILE
    assert attrs(read) == {"size": 4096}
    assert close.fd.path == "/var/log/app.log"
    # After close the fd is unknown (and this /proc has nothing to say).
    assert late_read.fd.num == 3
    assert late_read.fd.type == event_pb2.FD_TYPE_UNSPECIFIED


def test_tcp_connect_fills_both_ends_and_later_io_is_net(builder: EventBuilder) -> None:
    flags = cat.F_SRC_VALID | cat.F_DST_VALID
    events = build(
        builder,
        Rec("socket", ts=1, pid=5, ret=4, arg0=AF_INET, arg1=SOCK_STREAM | SOCK_CLOEXEC),
        Rec("connect", ts=2, pid=5, ret=0, arg0=4, family=AF_INET, flags=flags,
            saddr="10.0.0.1", sport=51000, daddr="10.0.0.2", dport=443),
        Rec("write", ts=3, pid=5, ret=100, arg0=4, arg1=100),
    )  # fmt: skip
    connect, write = events[1], events[2]
    expected_fd = event_pb2.Fd(
        num=4,
        type=event_pb2.FD_TYPE_IPV4_SOCKET,
        protocol=event_pb2.L4_PROTOCOL_TCP,
        role=event_pb2.SOCKET_ROLE_CLIENT,
        source=event_pb2.Endpoint(address="10.0.0.1", port=51000),
        destination=event_pb2.Endpoint(address="10.0.0.2", port=443),
    )
    assert connect.fd == expected_fd
    assert connect.category == event_pb2.CATEGORY_NET
    assert write.fd == expected_fd
    assert write.category == event_pb2.CATEGORY_NET


def test_accept_gets_the_peer_and_the_local_end(builder: EventBuilder) -> None:
    flags = cat.F_SRC_VALID | cat.F_DST_VALID
    (event,) = build(
        builder,
        Rec("accept4", ts=1, pid=5, ret=7, arg0=3, arg1=SOCK_CLOEXEC, family=AF_INET6,
            flags=flags, saddr="::1", sport=40000, daddr="::1", dport=8080),
    )  # fmt: skip
    assert event.fd == event_pb2.Fd(
        num=7,
        type=event_pb2.FD_TYPE_IPV6_SOCKET,
        protocol=event_pb2.L4_PROTOCOL_TCP,
        role=event_pb2.SOCKET_ROLE_SERVER,
        source=event_pb2.Endpoint(address="::1", port=40000),
        destination=event_pb2.Endpoint(address="::1", port=8080),
    )
    assert attrs(event) == {"listen_fd": 3, "flags": SOCK_CLOEXEC}


def test_unix_connect_with_abstract_name(builder: EventBuilder) -> None:
    events = build(
        builder,
        Rec("connect", ts=1, pid=5, ret=0, arg0=6, family=AF_UNIX, flags=cat.F_PATH_RAW,
            path=b"\0bus-name"),
        Rec("connect", ts=2, pid=5, ret=0, arg0=7, family=AF_UNIX, flags=cat.F_PATH_RAW,
            path=b"/run/app.sock\0"),
    )  # fmt: skip
    assert events[0].fd.unix_path == "@bus-name"
    assert events[1].fd.unix_path == "/run/app.sock"
    assert events[1].fd.type == event_pb2.FD_TYPE_UNIX_SOCKET


def test_process_life_cycle(builder: EventBuilder) -> None:
    events = build(
        builder,
        Rec("openat", ts=1, pid=10, ret=3, arg1=0, path=b"/kept"),
        Rec("openat", ts=2, pid=10, ret=4, arg1=0o2000000, path=b"/cloexec"),
        Rec("process_fork", ts=3, pid=10, arg0=11, arg1=0x11),
        Rec("process_exec", ts=4, pid=11, arg0=11, comm=b"true", path=b"/bin/true",
            data=b"true\0-x\0\0", flags=RecordFlag.HAS_DATA),
        Rec("read", ts=5, pid=11, ret=0, arg0=3),
        Rec("read", ts=6, pid=11, ret=-9, arg0=4),
        Rec("process_exit", ts=7, pid=11, comm=b"true", flags=cat.F_EXIT_CODE, arg0=0),
        Rec("process_exit", ts=8, pid=12, comm=b"killed", arg1=15, flags=RecordFlag.EXIT_SIGNAL),
    )  # fmt: skip
    fork, exec_, read_kept, read_closed, exit_, killed = events[2:]
    assert attrs(fork) == {"child_pid": 11, "clone_flags": 0x11}
    assert exec_.thread.exe == "/bin/true"
    assert exec_.thread.ppid == 10
    exec_attrs = attrs(exec_)
    assert list(exec_attrs.pop("args").values) == ["true", "-x", ""]  # type: ignore[attr-defined]
    assert exec_attrs == {"filename": "/bin/true", "old_pid": 11, "args_truncated": False}
    # The child inherited fd 3; exec closed the close-on-exec fd 4.
    assert read_kept.fd.path == "/kept"
    assert read_closed.fd.type == event_pb2.FD_TYPE_UNSPECIFIED
    assert exit_.thread == event_pb2.Thread(
        pid=11, tid=11, ppid=10, comm="true", exe="/bin/true", cgroup_id=1
    )
    assert attrs(exit_) == {"exit_code": 0}
    # A process a signal killed has no exit code.
    assert attrs(killed) == {"signal": 15}
    # The exited process is forgotten.
    (after,) = build(builder, Rec("read", ts=9, pid=11, ret=0, arg0=3))
    assert after.thread.exe == ""
    assert after.fd.type == event_pb2.FD_TYPE_UNSPECIFIED


def test_undelivered_events_still_update_state(builder: EventBuilder) -> None:
    builder.delivered = frozenset({CATALOG.by_name["read"].id})
    batch = builder.build(
        to_batch(
            [
                Rec("openat", ts=1, pid=3, ret=5, path=b"/data"),
                Rec("read", ts=2, pid=3, ret=1, arg0=5),
            ]
        )
    )
    assert batch.event_ids.tolist() == [CATALOG.by_name["read"].id]
    assert batch.pids.tolist() == [3]
    (read,) = (event_pb2.Event.FromString(raw) for raw in batch.events)
    assert read.fd.path == "/data"


def test_context_from_proc_for_things_created_before_capture(tmp_path: Path) -> None:
    builder = EventBuilder(CATALOG, ProcFS())
    target = tmp_path / "existing.txt"
    target.write_text("x")
    pid = os.getpid()
    with (
        target.open() as existing,
        socket.create_server(("127.0.0.1", 0)) as server,
        socket.create_connection(server.getsockname()) as client,
    ):
        port = server.getsockname()[1]
        accepted, peer = server.accept()
        with accepted:
            events = build(
                builder,
                Rec("read", ts=1, pid=pid, ret=1, arg0=existing.fileno()),
                Rec("read", ts=2, pid=pid, ret=1, arg0=accepted.fileno()),
                Rec("write", ts=3, pid=pid, ret=1, arg0=client.fileno()),
            )
    file_read, server_read, client_write = events
    assert file_read.thread.ppid == os.getppid()
    assert file_read.thread.exe == os.path.realpath(sys.executable)
    assert file_read.fd.path == str(target)
    assert server_read.fd.role == event_pb2.SOCKET_ROLE_SERVER
    assert server_read.fd.protocol == event_pb2.L4_PROTOCOL_TCP
    assert (server_read.fd.source.port, server_read.fd.destination.port) == (peer[1], port)
    assert client_write.fd.role == event_pb2.SOCKET_ROLE_CLIENT
    assert (client_write.fd.source.port, client_write.fd.destination.port) == (peer[1], port)
    assert client_write.category == event_pb2.CATEGORY_NET


@pytest.mark.parametrize(
    ("cgroup", "expected"),
    [
        ("0::/system.slice/docker-" + "a" * 64 + ".scope\n", "a" * 12),
        ("0::/kubepods/burstable/pod1/cri-containerd-" + "b1" * 32 + ".scope", "b1" * 6),
        ("12:memory:/docker/" + "c" * 64 + "\n0::/", "c" * 12),
        ("0::/user.slice/user-0.slice/session-1.scope\n", ""),
    ],
)
def test_container_id_from_cgroup(cgroup: str, expected: str) -> None:
    assert container_id_from_cgroup(cgroup) == expected


def test_strings_that_are_not_utf8_do_not_break_the_stream(builder: EventBuilder) -> None:
    (event,) = build(
        builder, Rec("openat", ts=1, pid=3, ret=4, comm=b"bad\xff\xfename", path=b"/tmp/\xff.txt")
    )
    assert event.thread.comm == "bad\ufffd\ufffdname"
    assert event.fd.path == "/tmp/\ufffd.txt"
    assert attrs(event)["path"] == "/tmp/\ufffd.txt"


def test_fd_table_syscalls(builder: EventBuilder) -> None:
    events = build(
        builder,
        Rec("openat", ts=1, pid=8, ret=3, path=b"/log"),
        Rec("dup2", ts=2, pid=8, ret=1, arg0=3, arg1=1),
        Rec("write", ts=3, pid=8, ret=5, arg0=1),
        Rec("pipe2", ts=4, pid=8, arg0=5, arg1=6, arg2=0o2000000),
        Rec("write", ts=5, pid=8, ret=1, arg0=6),
        Rec("socketpair", ts=6, pid=8, family=AF_UNIX, arg0=7, arg1=9, arg2=SOCK_STREAM),
        Rec("close_range", ts=7, pid=8, arg0=5, arg1=0xFFFFFFFF, arg2=0),
        Rec("read", ts=8, pid=8, ret=-9, arg0=7),
        Rec("read", ts=9, pid=8, ret=0, arg0=3),
    )
    dup2, write_dup, pipe2, write_pipe, socketpair, close_range, after, kept = events[1:]
    assert dup2.fd.path == "/log"
    assert attrs(dup2) == {"oldfd": 3}
    assert write_dup.fd.path == "/log"
    assert pipe2.fd == event_pb2.Fd(num=5, type=event_pb2.FD_TYPE_PIPE)
    assert pipe2.category == event_pb2.CATEGORY_IPC
    assert attrs(pipe2) == {"read_fd": 5, "write_fd": 6, "flags": 0o2000000}
    assert write_pipe.fd.type == event_pb2.FD_TYPE_PIPE
    assert write_pipe.category == event_pb2.CATEGORY_IPC
    assert socketpair.fd.type == event_pb2.FD_TYPE_UNIX_SOCKET
    assert attrs(socketpair) == {"first_fd": 7, "second_fd": 9, "domain": AF_UNIX, "type": 1}
    assert not close_range.HasField("fd")
    assert attrs(close_range) == {"first": 5, "last": 0xFFFFFFFF, "flags": 0}
    # close_range(5, ~0) closed the pipe and the sockets, not fd 3.
    assert after.fd.type == event_pb2.FD_TYPE_UNSPECIFIED
    assert kept.fd.path == "/log"


def test_an_fd_unknown_now_is_looked_up_again_later(tmp_path: Path) -> None:
    builder = EventBuilder(CATALOG, ProcFS())
    pid = os.getpid()
    r, w = os.pipe()
    os.close(r)
    os.close(w)
    (before,) = build(builder, Rec("read", ts=1, pid=pid, ret=-9, arg0=r))
    assert before.fd.type == event_pb2.FD_TYPE_UNSPECIFIED
    r2, w2 = os.pipe()
    try:
        assert r2 == r
        (after,) = build(builder, Rec("read", ts=2, pid=pid, ret=0, arg0=r))
        assert after.fd.type == event_pb2.FD_TYPE_PIPE
    finally:
        os.close(r2)
        os.close(w2)


EVENT_MIX = ["read", "write", "read", "write", "read", "write", "openat", "close", "dup2",
             "dup3", "process_fork", "process_exec", "process_exit", "pipe2", "socket",
             "connect", "accept4", "socketpair", "close_range"]  # fmt: skip


@pytest.mark.parametrize("delivered", [None, ("read", "write"), ("read", "dup2", "close")])
@pytest.mark.parametrize("seed", range(5))
def test_a_batch_builds_what_one_event_at_a_time_builds(
    tmp_path: Path, seed: int, delivered: tuple[str, ...] | None
) -> None:
    """Plain events take their context from an as-of join over the batch's
    table changes, and changes overwritten unread are skipped; the result must
    be what handling every event on its own, with every change applied in
    between, gives."""
    import random

    rng = random.Random(seed)
    by_batch = EventBuilder(CATALOG, ProcFS(tmp_path))
    one_by_one = EventBuilder(CATALOG, ProcFS(tmp_path))
    if delivered is not None:
        by_batch.delivered = one_by_one.delivered = CATALOG.ids(delivered)
    ts = 0
    for _ in range(4):  # state carries over between batches
        recs = []
        for _ in range(300):
            ts += 1
            name = rng.choice(EVENT_MIX)
            pid = rng.choice([10, 11, 12])
            recs.append(
                Rec(
                    name, ts=ts, pid=pid, tid=pid + rng.choice([0, 1000]),
                    comm=rng.choice([b"a", b"b"]), ret=rng.choice([-9, 0, 3, 4, 5]),
                    latency_ns=rng.randrange(10**6), cpu=rng.randrange(2),
                    arg0=rng.choice([3, 4, 5, 2**64 - 1]), arg1=rng.choice([4, 5, 4096]),
                    arg2=rng.choice([0, 0o2000000]), family=rng.choice([0, AF_INET]),
                    flags=rng.choice([0, cat.F_ENTER_SEEN, cat.F_DST_VALID]),
                    daddr="10.0.0.1", dport=80,
                    path=b"/f%d" % rng.randrange(3) if name in ("openat", "process_exec") else None,
                )
            )  # fmt: skip
        batched = by_batch.build(to_batch(recs)).events
        alone = [e for rec in recs for e in one_by_one.build(to_batch([rec])).events]
        assert batched == alone


def test_numpy_alone_encodes_what_the_compiled_helpers_do(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    recs = [
        Rec("openat", ts=1, pid=9, ret=3, path=b"/var/log/app.log"),
        *[Rec("write", ts=2 + i, pid=9, ret=10, arg0=3, arg1=i) for i in range(50)],
        Rec("process_exit", ts=99, pid=9, flags=cat.F_EXIT_CODE, arg0=1),
    ]
    compiled = EventBuilder(CATALOG, ProcFS(tmp_path)).build(to_batch(recs)).events
    monkeypatch.setattr(native, "gather", None)
    monkeypatch.setattr(native, "varints", None)
    plain = EventBuilder(CATALOG, ProcFS(tmp_path)).build(to_batch(recs)).events
    assert plain == compiled


def _scope(fd_pids: set[int] | None, thread_pids: set[int] | None = None) -> TableScope:
    def region(pids: set[int] | None) -> Region:
        return Region.of(
            [Demand(frozenset({1}), None if pids is None else frozenset(pids))], frozenset()
        )

    return TableScope(threads=region(thread_pids or fd_pids), fds=region(fd_pids))


def test_events_outside_the_table_scope_are_neither_kept_nor_delivered(
    builder: EventBuilder,
) -> None:
    builder.set_scope(_scope({9}), at_ns=0)
    events = build(
        builder,
        Rec("openat", ts=1, pid=8, ret=3, path=b"/not/mine"),
        Rec("openat", ts=2, pid=9, ret=3, path=b"/mine"),
        *[Rec("read", ts=10 + i, pid=8 if i % 2 else 9, ret=1, arg0=3) for i in range(40)],
    )
    # Only pid 9 is in scope: pid 8's events (captured for someone else's
    # sake) never reach a subscriber, and its fd 3 never entered the table.
    assert {e.thread.pid for e in events} == {9}
    assert [e.fd.path for e in events if e.name == "read"] == ["/mine"] * 20
    builder.set_scope(_scope(None), at_ns=100)
    (event,) = build(builder, Rec("read", ts=101, pid=8, ret=1, arg0=3))
    assert event.fd.path == ""  # looked up afresh (this /proc has nothing), not stale


def test_a_thread_only_scope_leaves_the_fd_table_alone(builder: EventBuilder) -> None:
    # Someone wants process events of pid 8, and fd context only for pid 9.
    builder.set_scope(_scope({9}, thread_pids={8, 9}), at_ns=0)
    build(builder, Rec("openat", ts=1, pid=8, ret=3, path=b"/outside"))
    builder.set_scope(_scope({8, 9}), at_ns=5)
    (event,) = build(builder, Rec("read", ts=6, pid=8, ret=1, arg0=3))
    assert event.fd.path == ""


def test_a_narrower_scope_starts_the_tables_afresh_at_its_timestamp(
    builder: EventBuilder,
) -> None:
    builder.set_scope(_scope({8, 9}), at_ns=0)
    build(builder, Rec("openat", ts=1, pid=9, ret=3, path=b"/before"))
    # The kernel stopped capturing pid 9's fd syscalls at 50 and started
    # again at 60: what the table knew of it may be stale by then.
    builder.set_scope(_scope({8}), at_ns=50)
    builder.set_scope(_scope({8, 9}), at_ns=60)
    events = build(
        builder,
        Rec("read", ts=40, pid=9, ret=1, arg0=3),
        Rec("read", ts=55, pid=9, ret=1, arg0=3),
        Rec("read", ts=70, pid=9, ret=1, arg0=3),
    )
    assert [(e.timestamp_ns, e.fd.path) for e in events] == [(40, "/before"), (70, "")]


def test_a_seed_keeps_context_of_a_process_gone_before_its_events(tmp_path: Path) -> None:
    """A subscription's processes are read from /proc when it starts: a
    process that exits before its first event is processed keeps its
    executable, parent and open files."""
    target = tmp_path / "seeded.txt"
    target.write_text("x")
    child = subprocess.Popen(
        [sys.executable, "-c", "import sys; f = open(sys.argv[1]); print(f.fileno(), flush=True);"
         " sys.stdin.readline()", str(target)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert child.stdout is not None and child.stdin is not None
    fd = int(child.stdout.readline())
    builder = EventBuilder(CATALOG, ProcFS())
    seed = builder.snapshot([child.pid], [child.pid])
    builder.set_scope(TableScope.everyone(), at_ns=0, seed=seed)
    child.stdin.write("\n")
    child.stdin.close()
    child.wait(timeout=10)
    (event,) = build(builder, Rec("read", ts=1, pid=child.pid, ret=1, arg0=fd))
    assert event.thread.exe == os.path.realpath(sys.executable)
    assert event.thread.ppid == os.getpid()
    assert event.fd.path == str(target)


def test_changes_overwritten_before_anything_reads_them_are_not_applied(
    builder: EventBuilder, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A server opening and closing a file per request: only the batch's last
    change to each fd number is applied, and context stays right."""
    applied: list[str] = []
    apply = builder.updates.apply

    def counting(r: Any, path: bytes | None) -> Any:
        applied.append(CATALOG.by_id[r.event_id].name)
        return apply(r, path)

    monkeypatch.setattr(builder.updates, "apply", counting)
    builder.delivered = CATALOG.ids(["read"])
    recs = []
    for i in range(100):
        recs.append(Rec("openat", ts=2 * i + 1, pid=9, ret=12, path=b"/srv/file-%d" % i))
        recs.append(Rec("close", ts=2 * i + 2, pid=9, ret=0, arg0=12))
    recs.append(Rec("openat", ts=1000, pid=9, ret=12, path=b"/srv/last"))
    recs.append(Rec("read", ts=1001, pid=9, ret=5, arg0=12))
    recs.append(Rec("openat", ts=1002, pid=9, ret=13, path=b"/srv/kept"))
    events = build(builder, *recs)
    assert [e.fd.path for e in events] == ["/srv/last"]
    assert applied == ["openat", "openat"]  # the one the read needs, and fd 13's
    (later,) = build(builder, Rec("read", ts=2000, pid=9, ret=1, arg0=13))
    assert later.fd.path == "/srv/kept"


def test_a_fork_between_two_opens_keeps_the_first(builder: EventBuilder) -> None:
    """fork copies the caller's whole fd table: a change before it is read by
    it, even when a later change overwrites the same fd in the parent."""
    builder.delivered = CATALOG.ids(["read"])
    events = build(
        builder,
        Rec("openat", ts=1, pid=9, ret=5, path=b"/before-fork"),
        Rec("process_fork", ts=2, pid=9, arg0=20),
        Rec("openat", ts=3, pid=9, ret=5, path=b"/after-fork"),
        Rec("read", ts=4, pid=20, ret=1, arg0=5),
        Rec("read", ts=5, pid=9, ret=1, arg0=5),
    )
    assert [(e.thread.pid, e.fd.path) for e in events] == [
        (20, "/before-fork"),
        (9, "/after-fork"),
    ]
