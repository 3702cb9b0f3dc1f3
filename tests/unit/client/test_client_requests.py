"""The request builders (kindling.client.requests): every field of the contract, and
errors that name the argument."""

from __future__ import annotations

from datetime import timedelta

import pytest
from google.protobuf import duration_pb2, field_mask_pb2

from kindling.client import (
    batching,
    event_filter,
    exclude_fields,
    include_fields,
    kernel_filters,
    subscribe_request,
)
from kindling.event.v1 import event_pb2
from kindling.probe.v1 import probe_pb2


def test_event_filter_sets_every_field() -> None:
    built = event_filter(
        names=["connect", "read"],
        categories=["net", event_pb2.CATEGORY_FILE],
        sources=["syscall_exit"],
        pids=[10],
        process_trees=[11],
        tids=[12],
        ppids=[13],
        uids=[0, 1000],
        gids=[0],
        comms=["nginx|redis-server"],
        exes=[".*/python3"],
        container_ids=["0123456789ab"],
        cgroup_ids=[2**40],
        fd_types=["ipv4_socket", "PIPE"],
        protocols=["tcp"],
        local_ports=[80, (8000, 8999)],
        remote_ports=[(443, 443)],
        local_addresses=["10.0.0.0/8"],
        remote_addresses=["fd00::1", "192.168.1.7"],
        errors_only=True,
        return_values=[-2, 0],
        min_return_value=-13,
        max_return_value=4096,
        min_latency=timedelta(milliseconds=1.5),
        has_payload=False,
    )
    expected = probe_pb2.EventFilter(
        names=["connect", "read"],
        categories=[event_pb2.CATEGORY_NET, event_pb2.CATEGORY_FILE],
        sources=[event_pb2.SOURCE_SYSCALL_EXIT],
        pids=[10],
        process_trees=[11],
        tids=[12],
        ppids=[13],
        uids=[0, 1000],
        gids=[0],
        comms=["nginx|redis-server"],
        exes=[".*/python3"],
        container_ids=["0123456789ab"],
        cgroup_ids=[2**40],
        fd_types=[event_pb2.FD_TYPE_IPV4_SOCKET, event_pb2.FD_TYPE_PIPE],
        protocols=[event_pb2.L4_PROTOCOL_TCP],
        local_ports=[probe_pb2.PortRange(first=80), probe_pb2.PortRange(first=8000, last=8999)],
        remote_ports=[probe_pb2.PortRange(first=443)],
        local_addresses=["10.0.0.0/8"],
        remote_addresses=["fd00::1", "192.168.1.7"],
        return_value=probe_pb2.ReturnValueFilter(
            errors_only=True, values=[-2, 0], min=-13, max=4096
        ),
        min_latency_ns=1_500_000,
        has_payload=False,
    )
    assert built == expected
    # Unset arguments leave their fields unset, presence included.
    empty = event_filter()
    assert empty == probe_pb2.EventFilter()
    assert not empty.HasField("return_value") and not empty.HasField("has_payload")
    assert event_filter(min_return_value=0).return_value == probe_pb2.ReturnValueFilter(min=0)


@pytest.mark.parametrize(
    ("arguments", "error", "message"),
    [
        ({"pids": [1, -3]}, ValueError, r"^pids\[1\]: -3 is not a process id \(1 to 4294967295\)$"),
        ({"pids": [0]}, ValueError, r"^pids\[0\]: 0 is not a process id"),
        ({"uids": [2**32]}, ValueError, r"^uids\[0\]: 4294967296 is not a user id \(0 to"),
        ({"tids": ["7"]}, TypeError, r"^tids\[0\]: expected an integer, not '7'$"),
        ({"names": "connect"}, TypeError, r"^names: expected a list, not str$"),
        ({"comms": [b"x"]}, TypeError, r"^comms\[0\]: expected a string"),
        ({"categories": ["bogus"]}, ValueError, r"^categories\[0\]: 'bogus' is not one of other,"),
        ({"protocols": [99]}, ValueError, r"^protocols\[0\]: 99 is not one of tcp, udp"),
        ({"local_ports": [0]}, ValueError, r"^local_ports\[0\]: 0 is not a port or range"),
        ({"remote_ports": [(90, 80)]}, ValueError, r"^remote_ports\[0\]: \(90, 80\) is not a"),
        ({"remote_ports": ["80"]}, TypeError, r"^remote_ports\[0\]: expected a port or a"),
        (
            {"remote_addresses": ["10.0.0.300"]},
            ValueError,
            r"^remote_addresses\[0\]: '10.0.0.300' is not an IPv4 or IPv6 address or CIDR block$",
        ),
        ({"return_values": [2**63]}, ValueError, r"^return_values\[0\]: 9223372036854775808 is"),
        ({"min_return_value": 1.5}, TypeError, r"^min_return_value: expected an integer"),
        ({"errors_only": 1}, TypeError, r"^errors_only: expected True or False, not 1$"),
        ({"min_latency": -1}, ValueError, r"^min_latency: -1 is not a duration of zero or more$"),
        ({"has_payload": "yes"}, TypeError, r"^has_payload: expected True or False"),
    ],
)
def test_event_filter_names_the_argument_it_rejects(
    arguments: dict[str, object], error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        event_filter(**arguments)  # type: ignore[arg-type]


def test_subscribe_request_sets_every_field() -> None:
    allow = [event_filter(names=["connect"]), event_filter(pids=[7])]
    deny = [event_filter(comms=["sshd"])]
    fields = [
        exclude_fields(["thread.exe", "fd.source"]),
        include_fields(["fd"], events=["connect"]),
    ]
    built = subscribe_request(
        allow=allow,
        deny=deny,
        payload="sockets",
        fields=fields,
        batching=batching(max_events=100, max_delay=0.25),
        overflow="disconnect",
        resume_window=timedelta(minutes=1),
    )
    assert built == probe_pb2.SubscribeRequest(
        allow_list=allow,
        deny_list=deny,
        payload=probe_pb2.PAYLOAD_MODE_SOCKETS,
        fields=[
            probe_pb2.FieldSelection(
                exclude=field_mask_pb2.FieldMask(paths=["thread.exe", "fd.source"])
            ),
            probe_pb2.FieldSelection(
                events=["connect"], include=field_mask_pb2.FieldMask(paths=["fd"])
            ),
        ],
        batching=probe_pb2.Batching(
            max_events=100, max_delay=duration_pb2.Duration(nanos=250_000_000)
        ),
        overflow=probe_pb2.OVERFLOW_POLICY_DISCONNECT,
        resume_window=duration_pb2.Duration(seconds=60),
    )
    assert subscribe_request() == probe_pb2.SubscribeRequest()
    assert not subscribe_request().HasField("batching")
    # An include mask with no paths is a mask still: seq, timestamp_ns and name.
    assert include_fields([]).HasField("include")


@pytest.mark.parametrize(
    ("arguments", "error", "message"),
    [
        ({"payload": "some"}, ValueError, r"^payload: 'some' is not one of none, sockets, all$"),
        ({"overflow": "block"}, ValueError, r"^overflow: 'block' is not one of drop_newest,"),
        ({"resume_window": 0}, ValueError, r"^resume_window: 0 is out of range \(more than 0 to"),
        ({"resume_window": 301}, ValueError, r"^resume_window: 301 is out of range .* 300 s\)$"),
        ({"resume_window": "60"}, TypeError, r"^resume_window: expected seconds or a timedelta"),
        ({"allow": [probe_pb2.Batching()]}, TypeError, r"^allow\[0\]: expected a EventFilter"),
        ({"deny": event_filter()}, TypeError, r"^deny: expected a list, not EventFilter$"),
        ({"batching": 5}, TypeError, r"^batching: expected a Batching, not 5$"),
    ],
)
def test_subscribe_request_names_the_argument_it_rejects(
    arguments: dict[str, object], error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        subscribe_request(**arguments)  # type: ignore[arg-type]


def test_batching_and_kernel_filters() -> None:
    assert batching() == probe_pb2.Batching(max_delay=duration_pb2.Duration())
    with pytest.raises(ValueError, match=r"^max_delay: 11 is out of range \(0 to 10 s\)$"):
        batching(max_delay=11)
    with pytest.raises(ValueError, match=r"^max_events: -1 is out of range"):
        batching(max_events=-1)
    assert kernel_filters(deny_pids=[1], deny_comms=["noisy"], drop_failed_io=True) == (
        probe_pb2.KernelFilters(deny_pids=[1], deny_comms=["noisy"], drop_failed_io=True)
    )
    with pytest.raises(ValueError, match=r"^deny_comms\[0\]: 'a-very-long-name' is not a thread"):
        kernel_filters(deny_comms=["a-very-long-name"])
