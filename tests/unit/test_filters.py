"""The filter language over a batch's columns: each field matches what it
says and nothing else, fields AND inside a filter, filters OR in a list,
deny subtracts, and bad values are refused naming the field."""

from __future__ import annotations

import pytest

from kindling.event.v1 import event_pb2
from kindling.probe.v1 import probe_pb2
from kindling.server.api.requests import compile_request
from kindling.server.catalog import CATALOG
from kindling.server.pipeline.encode.batch import EventBatch, EventColumns
from kindling.server.pipeline.enrich.context import address_bytes
from kindling.server.pipeline.fanout.filters import MAX_FILTERS, FilterError
from kindling.server.pipeline.plan import Demand

ID = {s.name: s.id for s in CATALOG.specs}
NET, FILE = event_pb2.CATEGORY_NET, event_pb2.CATEGORY_FILE

# Five events, one per row: what each column holds.
ROWS = [
    # name,      pid, tid, uid, gid, cgroup, comm,      category, ret, latency, payload
    ("read", 10, 10, 0, 0, 7, b"nginx", NET, 512, 4_000, True),
    ("read", 10, 11, 0, 0, 7, b"nginx", FILE, -11, 900, False),
    ("connect", 20, 20, 1000, 100, 8, b"python3", NET, -111, 250_000, False),
    ("openat", 30, 30, 1000, 100, 8, b"kworker/0:1", FILE, 3, 12_000, False),
    ("process_exec", 40, 40, 0, 0, 9, b"sh", event_pb2.CATEGORY_PROCESS, 0, 0, False),
]


def batch() -> EventBatch:
    names = [r[0] for r in ROWS]
    columns = EventColumns.of(
        len(ROWS),
        event_ids=[ID[n] for n in names],
        pids=[r[1] for r in ROWS],
        tids=[r[2] for r in ROWS],
        uids=[r[3] for r in ROWS],
        gids=[r[4] for r in ROWS],
        cgroup_ids=[r[5] for r in ROWS],
        comms=[r[6] for r in ROWS],
        categories=[r[7] for r in ROWS],
        return_values=[r[8] for r in ROWS],
        latencies=[r[9] for r in ROWS],
        has_payload=[r[10] for r in ROWS],
    )
    return EventBatch.from_events([n.encode() for n in names], columns)


def selected(
    *allow: probe_pb2.EventFilter, deny: tuple[probe_pb2.EventFilter, ...] = ()
) -> list[int]:
    request = probe_pb2.SubscribeRequest(allow_list=allow, deny_list=deny)
    mask = compile_request(request, CATALOG).mask(batch())
    return [i for i, chosen in enumerate(mask.tolist()) if chosen]


F = probe_pb2.EventFilter
RV = probe_pb2.ReturnValueFilter


@pytest.mark.parametrize(
    ("given", "rows"),
    [
        (F(names=["read"]), [0, 1]),
        (F(names=["openat", "process_exec"]), [3, 4]),
        (F(categories=[NET]), [0, 2]),
        (F(categories=[event_pb2.CATEGORY_PROCESS, FILE]), [1, 3, 4]),
        (F(sources=[event_pb2.SOURCE_TRACEPOINT]), [4]),
        (F(sources=[event_pb2.SOURCE_SYSCALL_EXIT]), [0, 1, 2, 3]),
        (F(pids=[10, 40]), [0, 1, 4]),
        (F(tids=[11]), [1]),
        (F(uids=[1000]), [2, 3]),
        (F(gids=[0]), [0, 1, 4]),
        (F(cgroup_ids=[8]), [2, 3]),
        (F(comms=["nginx"]), [0, 1]),
        (F(comms=["ngin"]), []),  # the whole name must match
        (F(comms=["python3?", "kworker/.*"]), [2, 3]),
        (F(return_value=RV(errors_only=True)), [1, 2]),
        (F(return_value=RV(values=[3, 0])), [3, 4]),
        (F(return_value=RV(min=1)), [0, 3]),
        (F(return_value=RV(max=-100)), [2]),
        (F(return_value=RV(min=-20, max=0)), [1, 4]),
        (F(return_value=RV(errors_only=True, values=[-11])), [1]),
        (F(min_latency_ns=10_000), [2, 3]),
        (F(min_latency_ns=4_000), [0, 2, 3]),
        (F(has_payload=True), [0]),
        (F(has_payload=False), [1, 2, 3, 4]),
        # Fields inside one filter AND.
        (F(names=["read"], categories=[NET]), [0]),
        (F(names=["read"], return_value=RV(errors_only=True), tids=[10]), []),
        (F(uids=[1000], comms=["kworker/.*"]), [3]),
        # A filter with nothing set matches everything.
        (F(), [0, 1, 2, 3, 4]),
    ],
)
def test_each_field_selects_exactly_its_events(
    given: probe_pb2.EventFilter, rows: list[int]
) -> None:
    assert selected(given) == rows


def test_allow_filters_or_and_deny_filters_subtract() -> None:
    assert selected(F(names=["connect"]), F(comms=["sh"])) == [2, 4]
    assert selected(F(pids=[10, 20]), deny=(F(return_value=RV(errors_only=True)),)) == [0]
    assert selected(deny=(F(categories=[FILE]), F(uids=[1000]))) == [0, 4]
    assert selected(F(names=["read"]), F(names=["read"], pids=[10])) == [0, 1]


def test_many_filters_use_their_own_bits() -> None:
    # 64 filters, each naming one tid; only two of them match rows.
    filters = [F(tids=[1000 + i]) for i in range(MAX_FILTERS - 2)] + [F(tids=[11]), F(tids=[40])]
    assert selected(*filters) == [1, 4]
    assert selected(*filters, deny=(F(comms=["sh"]),)) == [1]


def test_an_event_the_catalogue_does_not_know_reaches_filters_naming_no_event() -> None:
    # A replay gives id 0 to events of a newer probe this catalogue lacks.
    columns = EventColumns.of(1, event_ids=[0], pids=[10])
    unknown = EventBatch.from_events([b"x"], columns)
    by_name = compile_request(probe_pb2.SubscribeRequest(allow_list=[F(names=["read"])]), CATALOG)
    by_pid = compile_request(probe_pb2.SubscribeRequest(allow_list=[F(pids=[10])]), CATALOG)
    assert by_name.mask(unknown).tolist() == [False]
    assert by_pid.mask(unknown).tolist() == [True]


@pytest.mark.parametrize(
    ("given", "message"),
    [
        (F(categories=[0]), r"allow_list\[0\].categories\[0\]: 0 is not a category; use one of"),
        (F(categories=[99]), r"allow_list\[0\].categories\[0\]: 99 is not a category"),
        (F(sources=[3, 42]), r"allow_list\[0\].sources\[1\]: 42 is not a source"),
        (F(tids=[0]), r"allow_list\[0\].tids\[0\]: 0 is not a thread id"),
        (F(pids=[1, 4194304]), r"allow_list\[0\].pids\[1\]: 4194304 is not a process id"),
        (F(comms=["ok", "(unclosed"]), r"allow_list\[0\].comms\[1\]: '\(unclosed' is not an RE2"),
        (F(comms=["(a)\\1"]), r"allow_list\[0\].comms\[0\]: .* is not an RE2 regular expression"),
        (F(comms=["a" * 300]), r"allow_list\[0\].comms\[0\]: a pattern is at most 256 bytes"),
        (F(comms=["x"] * 65), r"allow_list\[0\].comms: at most 64 values per filter"),
        (F(uids=list(range(4097))), r"allow_list\[0\].uids: at most 4096 values per filter"),
        (
            F(return_value=RV(min=5, max=1)),
            r"allow_list\[0\].return_value: min 5 is more than max 1",
        ),
    ],
)
def test_invalid_fields_are_refused_naming_the_field(
    given: probe_pb2.EventFilter, message: str
) -> None:
    with pytest.raises(FilterError, match=message):
        compile_request(probe_pb2.SubscribeRequest(allow_list=[given]), CATALOG)


def test_an_unbounded_bad_pattern_is_not_echoed() -> None:
    pattern = "(" * 200
    with pytest.raises(FilterError) as raised:
        compile_request(probe_pb2.SubscribeRequest(deny_list=[F(comms=[pattern])]), CATALOG)
    assert len(str(raised.value)) < 400


def test_the_kernel_is_asked_for_what_the_event_fields_allow() -> None:
    all_ids = frozenset(CATALOG.by_id)
    net = compile_request(
        probe_pb2.SubscribeRequest(allow_list=[F(categories=[NET], pids=[10])]), CATALOG
    )
    (demand,) = net.demands(all_ids)
    # I/O whose category follows the fd may be NET: the kernel captures it.
    assert {ID["read"], ID["connect"], ID["sendto"]} <= demand.events
    assert ID["openat"] not in demand.events and ID["process_exec"] not in demand.events
    assert demand.pids == {10}
    traced = compile_request(
        probe_pb2.SubscribeRequest(allow_list=[F(sources=[event_pb2.SOURCE_TRACEPOINT])]), CATALOG
    )
    assert all(
        CATALOG.by_id[i].source == event_pb2.SOURCE_TRACEPOINT
        for d in traced.demands(all_ids)
        for i in d.events
    )
    # Fields the kernel cannot evaluate do not narrow what it captures.
    by_comm = compile_request(
        probe_pb2.SubscribeRequest(allow_list=[F(names=["read"], comms=["nginx"])]), CATALOG
    )
    assert by_comm.demands(all_ids) == [Demand(frozenset({ID["read"]}))]
    # A deny filter on event fields alone takes those events off the kernel's work...
    no_file = compile_request(
        probe_pb2.SubscribeRequest(deny_list=[F(categories=[FILE, event_pb2.CATEGORY_PROCESS])]),
        CATALOG,
    )
    (demand,) = no_file.demands(all_ids)
    assert ID["openat"] not in demand.events and ID["process_exec"] not in demand.events
    assert ID["read"] in demand.events  # read may be on a socket
    # ...one with any other field cannot.
    partial = compile_request(
        probe_pb2.SubscribeRequest(deny_list=[F(names=["openat"], uids=[0])]), CATALOG
    )
    own = frozenset(s.id for s in CATALOG.specs if not s.generic)
    assert partial.demands(all_ids) == [Demand(own)]


def test_generic_syscall_events_reach_only_filters_that_name_them() -> None:
    getpid = CATALOG.by_name["getpid"].id
    columns = EventColumns.of(2, event_ids=[getpid, ID["read"]], pids=[10, 10])
    both = EventBatch.from_events([b"g", b"r"], columns)
    anything = compile_request(probe_pb2.SubscribeRequest(), CATALOG)
    assert anything.mask(both).tolist() == [False, True]
    (demand,) = anything.demands(frozenset(CATALOG.by_id))
    assert getpid not in demand.events and ID["read"] in demand.events
    named = compile_request(
        probe_pb2.SubscribeRequest(allow_list=[F(names=["getpid"]), F(pids=[10])]), CATALOG
    )
    assert named.mask(both).tolist() == [True, True]


def mapped(address: str) -> list[int]:
    return list(address_bytes(address))


# Four events with process and connection context.
CONTEXT = [
    # ppid, exe, container, fd type, protocol, local (addr, port), remote (addr, port)
    (1, "/usr/sbin/nginx", "0123456789ab", event_pb2.FD_TYPE_IPV4_SOCKET,
     event_pb2.L4_PROTOCOL_TCP, ("10.1.2.3", 80), ("192.168.0.9", 51000)),
    (1, "/usr/bin/python3.11", "", event_pb2.FD_TYPE_IPV6_SOCKET,
     event_pb2.L4_PROTOCOL_UDP, ("fd00::5", 5353), ("2001:db8::1", 53)),
    (7, "/usr/bin/redis-server", "fedcba987654", event_pb2.FD_TYPE_IPV4_SOCKET,
     event_pb2.L4_PROTOCOL_TCP, ("127.0.0.1", 6379), ("127.0.0.1", 40000)),
    (7, "/bin/sh", "", event_pb2.FD_TYPE_FILE, event_pb2.L4_PROTOCOL_UNSPECIFIED, None, None),
]  # fmt: skip


def context_batch() -> EventBatch:
    n = len(CONTEXT)
    zero = [0] * 16
    columns = EventColumns.of(
        n,
        event_ids=[ID["read"]] * n,
        pids=[100 + i for i in range(n)],
        ppids=[c[0] for c in CONTEXT],
        exes=[c[1] for c in CONTEXT],
        container_ids=[c[2] for c in CONTEXT],
        fd_types=[c[3] for c in CONTEXT],
        protocols=[c[4] for c in CONTEXT],
        local_ports=[c[5][1] if c[5] else 0 for c in CONTEXT],
        remote_ports=[c[6][1] if c[6] else 0 for c in CONTEXT],
        local_addresses=[mapped(c[5][0]) if c[5] else zero for c in CONTEXT],
        remote_addresses=[mapped(c[6][0]) if c[6] else zero for c in CONTEXT],
    )
    return EventBatch.from_events([b"e"] * n, columns)


PR = probe_pb2.PortRange


@pytest.mark.parametrize(
    ("given", "rows"),
    [
        (F(ppids=[7]), [2, 3]),
        (F(exes=["/usr/sbin/nginx"]), [0]),
        (F(exes=[r".*/python3(\.[0-9]+)?", ".*redis.*"]), [1, 2]),
        (F(container_ids=["0123456789ab"]), [0]),
        (F(container_ids=["fedcba987654" + "0" * 52]), [2]),  # a full id
        (F(fd_types=[event_pb2.FD_TYPE_IPV4_SOCKET]), [0, 2]),
        (F(protocols=[event_pb2.L4_PROTOCOL_UDP]), [1]),
        (F(local_ports=[PR(first=80)]), [0]),
        (F(local_ports=[PR(first=5000, last=7000)]), [1, 2]),
        (F(remote_ports=[PR(first=53), PR(first=40000, last=60000)]), [0, 1, 2]),
        (F(local_addresses=["10.0.0.0/8"]), [0]),
        (F(local_addresses=["127.0.0.1", "fd00::/8"]), [1, 2]),
        (F(remote_addresses=["192.168.0.0/16", "2001:db8::/32"]), [0, 1]),
        (F(remote_addresses=["::ffff:127.0.0.0/104"]), [2]),  # mapped form
        (F(remote_addresses=["0.0.0.0/0"]), [0, 2]),  # every IPv4 peer, not "unknown"
        (F(protocols=[event_pb2.L4_PROTOCOL_TCP], remote_ports=[PR(first=40000)]), [2]),
    ],
)
def test_context_fields_select_exactly_their_events(
    given: probe_pb2.EventFilter, rows: list[int]
) -> None:
    request = probe_pb2.SubscribeRequest(allow_list=[given])
    mask = compile_request(request, CATALOG).mask(context_batch())
    assert [i for i, chosen in enumerate(mask.tolist()) if chosen] == rows


@pytest.mark.parametrize(
    ("given", "message"),
    [
        (F(local_ports=[PR(first=0)]), r"local_ports\[0\]: ports run from 1 to 65535"),
        (F(remote_ports=[PR(first=90, last=80)]), r"remote_ports\[0\]: first 90 is above last 80"),
        (F(remote_addresses=["10.0.0.0/33"]), r"remote_addresses\[0\]: .* is not an IP address"),
        (F(container_ids=["xyz"]), r"container_ids\[0\]: a container id is 12 to 64"),
        (F(fd_types=[77]), r"fd_types\[0\]: 77 is not a descriptor type"),
        (F(exes=["*"]), r"exes\[0\]: .* is not an RE2 regular expression"),
    ],
)
def test_invalid_context_fields_are_refused(given: probe_pb2.EventFilter, message: str) -> None:
    with pytest.raises(FilterError, match=message):
        compile_request(probe_pb2.SubscribeRequest(allow_list=[given]), CATALOG)


def test_process_trees_take_a_process_and_its_descendants() -> None:
    # pids 10 (root), 11 (its child), 12 (its grandchild), 20 (unrelated).
    lineage = {10: [1], 11: [10, 1], 12: [11, 10, 1], 20: [1]}
    ancestors = [chain + [0] * (16 - len(chain)) for chain in lineage.values()]
    columns = EventColumns.of(
        4, event_ids=[ID["read"]] * 4, pids=list(lineage), ancestors=ancestors
    )
    tree = EventBatch.from_events([b"e"] * 4, columns)

    def chosen(*given: probe_pb2.EventFilter) -> list[int]:
        request = probe_pb2.SubscribeRequest(allow_list=given)
        mask = compile_request(request, CATALOG).mask(tree)
        return [pid for pid, take in zip(lineage, mask.tolist(), strict=True) if take]

    assert chosen(F(process_trees=[10])) == [10, 11, 12]
    assert chosen(F(process_trees=[11])) == [11, 12]
    assert chosen(F(process_trees=[12, 20])) == [12, 20]
    assert chosen(F(process_trees=[10]), F(pids=[20])) == [10, 11, 12, 20]
    assert chosen(F(process_trees=[10], pids=[12])) == [12]
    with pytest.raises(FilterError, match=r"process_trees\[0\]: 0 is not a process id"):
        chosen(F(process_trees=[0]))
