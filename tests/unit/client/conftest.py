"""Fixtures of the client tests: a fake probe service on a unix socket (see client_fakes)."""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
from collections.abc import Iterator
from concurrent import futures
from pathlib import Path

import grpc
import pytest
from client_fakes import FakeProbe


@pytest.fixture
def short_dir(tmp_path: Path) -> Iterator[Path]:
    """A directory for unix sockets, whose paths are limited to about 100 bytes."""
    if len(str(tmp_path)) <= 80:
        yield tmp_path
        return
    path = Path(tempfile.mkdtemp(prefix="kc", dir="/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def fake_probe(short_dir: Path) -> Iterator[FakeProbe]:
    """A running fake service on a unix socket; stopped when the test ends."""
    probe = FakeProbe(socket=str(short_dir / "probe.sock"))
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=16))
    server.add_generic_rpc_handlers((probe.handler(),))
    server.add_insecure_port("unix:" + probe.socket)
    server.start()
    probe.server = server
    yield probe
    server.stop(None).wait(10)


@pytest.fixture
def stale_socket(short_dir: Path) -> str:
    """A socket file nobody listens on, as a crashed service leaves behind."""
    path = str(short_dir / "stale.sock")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.bind(path)
    sock.close()
    assert os.path.exists(path)
    return path
