"""Container ids follow the cgroup a record was captured in."""

from __future__ import annotations

import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.cgroups import temporary_cgroup
from support.service import Service, start_service
from support.streams import EventLog, pump, read_json_lines

from kindling.server.pipeline.enrich.procfs import CgroupIndex, cgroup2_mount

pytestmark = pytest.mark.kernel

CONTAINER = uuid.uuid4().hex + uuid.uuid4().hex  # 64 hex digits, like docker's


@pytest.fixture
def container_cgroup() -> Iterator[Path]:
    with temporary_cgroup("", name=f"kindling-test-docker-{CONTAINER}.scope") as path:
        yield path


def test_the_index_maps_cgroup_ids_to_container_ids(container_cgroup: Path) -> None:
    index = CgroupIndex(cgroup2_mount())
    assert index.container_id(container_cgroup.stat().st_ino) == CONTAINER[:12]
    assert index.container_id(container_cgroup.parent.stat().st_ino) == ""


@pytest.fixture
def own_service(tmp_path: Path, kernel_available: None) -> Iterator[Service]:
    service = start_service(tmp_path)
    yield service
    assert service.stop() == 0


def test_a_process_moved_into_a_container_is_labelled(
    container_cgroup: Path, own_service: Service, tmp_path: Path, kindling_events_bin: Path
) -> None:
    # Like a container runtime: fork on the host, join the container's
    # cgroup, then exec the container's program.
    script = (
        "import os, sys\n"
        "sys.stdin.readline()\n"
        "open(sys.argv[1], 'w').write(str(os.getpid()))\n"
        "os.execv('/bin/true', ['true'])\n"
    )
    child = subprocess.Popen(
        [sys.executable, "-c", script, str(container_cgroup / "cgroup.procs")],
        stdin=subprocess.PIPE,
        text=True,
    )
    log = EventLog()
    cli = subprocess.Popen(
        [str(kindling_events_bin), "--socket", str(own_service.socket), "-o", "json",
         "--pid", str(child.pid), "--name", "process_exec", "--name", "process_exit"],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    pump(cli, read_json_lines, log)
    try:
        own_service.wait_subscribers(1)
        assert child.stdin is not None
        child.stdin.write("go\n")
        child.stdin.close()
        assert child.wait(timeout=30) == 0
        events = log.wait_for(lambda evs: any(e.name == "process_exit" for e in evs))
    finally:
        cli.terminate()
        cli.wait(timeout=10)
    # The interpreter's own exec may be seen too, from before it moved.
    moved = [e for e in events if e.thread.exe == "/bin/true"]
    assert [e.name for e in moved] == ["process_exec", "process_exit"]
    for event in moved:
        assert event.thread.container_id == CONTAINER[:12]
        assert event.thread.cgroup_id == container_cgroup.stat().st_ino
