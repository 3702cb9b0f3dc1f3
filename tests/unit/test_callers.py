"""Telling callers apart: peer names to credentials, and who may do what."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from kindling.server.api.authorization import Policy
from kindling.server.api.callers import PEER_PREFIX, Caller, CallerLookup

TAG = "0123456789abcdef"


@pytest.fixture
def accepted(tmp_path: Path) -> Iterator[socket.socket]:
    """The accepting side of a real unix socket connection from this process."""
    path = str(tmp_path / "s")
    with socket.socket(socket.AF_UNIX) as listener:
        listener.bind(path)
        listener.listen()
        with socket.socket(socket.AF_UNIX) as client:
            client.connect(path)
            connection, _ = listener.accept()
            with connection:
                yield connection


def peer_name(connection: socket.socket, tag: str = TAG, inode: int | None = None) -> str:
    inode = os.fstat(connection.fileno()).st_ino if inode is None else inode
    return f"{PEER_PREFIX}{tag}:{connection.fileno()}:{inode}"


def test_a_peer_name_gives_the_kernel_s_credentials(accepted: socket.socket) -> None:
    lookup = CallerLookup(TAG)
    caller = lookup.identify(peer_name(accepted))
    assert caller == Caller(
        pid=os.getpid(), uid=os.getuid(), gid=os.getgid(), groups=caller.groups if caller else None
    )
    assert caller is not None and set(os.getgroups()) | {os.getgid()} == caller.groups
    lookup.confirm()  # this process's own call was seen
    assert lookup.available


@pytest.mark.parametrize(
    "name",
    [
        "unix:",
        "unix-abstract:kindling-peer:ffffffffffffffff:3:4",  # another tag
        "ipv4:127.0.0.1:5000",
        f"{PEER_PREFIX}{TAG}:x:1",
        f"{PEER_PREFIX}{TAG}:1",
    ],
)
def test_other_names_identify_nobody(name: str) -> None:
    assert CallerLookup(TAG).identify(name) is None


def test_a_reused_descriptor_identifies_nobody(accepted: socket.socket) -> None:
    inode = os.fstat(accepted.fileno()).st_ino
    assert CallerLookup(TAG).identify(peer_name(accepted, inode=inode + 1)) is None
    closed = f"{PEER_PREFIX}{TAG}:{os.open(os.devnull, os.O_RDONLY)}:{inode}"
    assert CallerLookup(TAG).identify(closed) is None  # not a socket


def test_without_a_tag_nobody_is_identified_and_the_reason_is_given(
    accepted: socket.socket,
) -> None:
    lookup = CallerLookup(None)
    assert lookup.identify(peer_name(accepted)) is None
    assert not lookup.available and "libkindling_peername.so" in lookup.reason


def test_unrecognised_own_calls_make_callers_unavailable() -> None:
    lookup = CallerLookup(TAG)
    lookup.confirm()
    assert not lookup.available
    assert lookup.reason == "this gRPC version does not pass on the peer names the library makes"


def caller(uid: int, *groups: int) -> Caller:
    return Caller(pid=1, uid=uid, gid=groups[0] if groups else uid, groups=frozenset(groups))


POLICY = Policy(reader_gid=4242, admin_gid=4343, admin_group="kadmin", service_uid=999)


@pytest.mark.parametrize(
    ("who", "read", "configure"),
    [
        (caller(0), True, True),  # root
        (caller(999), True, True),  # the service's own user
        (caller(1000, 1000, 4242), True, False),  # the socket's group
        (caller(1000, 4343), True, True),  # the admin group
        (caller(1000, 1000), False, False),
    ],
)
def test_who_may_read_and_configure(who: Caller, read: bool, configure: bool) -> None:
    assert (POLICY.may_read(who), POLICY.may_configure(who)) == (read, configure)


def test_without_an_admin_group_only_root_configures() -> None:
    policy = Policy(reader_gid=4242, admin_gid=None, admin_group=None, service_uid=0)
    assert not policy.may_configure(caller(1000, 4242, 4343))
    assert policy.who_may_configure().startswith("root (start the service with --admin-group")
