"""One service per socket: the lock beside it."""

from __future__ import annotations

from pathlib import Path

import pytest

from kindling.server.api.lock import SocketLock
from kindling.server.errors import StartupError


def test_a_second_holder_is_refused_until_the_first_lets_go(tmp_path: Path) -> None:
    first, second = SocketLock(tmp_path / "k.sock"), SocketLock(tmp_path / "k.sock")
    first.acquire()
    with pytest.raises(StartupError, match="another service is already listening on"):
        second.acquire()
    first.release()
    assert not first.path.exists()
    second.acquire()
    assert second.path.exists()
    second.release()


def test_a_lock_in_a_directory_that_cannot_hold_it_says_so(tmp_path: Path) -> None:
    with pytest.raises(StartupError, match=r"cannot create the socket in .*nope"):
        SocketLock(tmp_path / "nope" / "k.sock").acquire()
