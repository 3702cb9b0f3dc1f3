"""Container ids by cgroup id, with rescans for cgroups created later."""

from __future__ import annotations

import time
from pathlib import Path

from kindling.server.pipeline.enrich.procfs import CgroupIndex, ProcFS
from kindling.server.pipeline.enrich.tables import ProcessTable

CONTAINER = "ab" * 32


def test_index_and_rescan(tmp_path: Path) -> None:
    index = CgroupIndex(tmp_path, rescan_seconds=0.05)
    assert index.container_id(tmp_path.stat().st_ino) == ""
    scope = tmp_path / "system.slice" / f"docker-{CONTAINER}.scope"
    scope.mkdir(parents=True)
    inode = scope.stat().st_ino
    # Right after a scan, an unknown cgroup stays unknown (no rescan storm)...
    assert index.container_id(inode) is None
    time.sleep(0.06)
    # ...and is found by the next allowed rescan.
    assert index.container_id(inode) == CONTAINER[:12]


def test_thread_context_follows_a_cgroup_created_after_a_scan(tmp_path: Path) -> None:
    proc_root = tmp_path / "proc"
    proc_root.mkdir()
    cgroups = tmp_path / "cgroup"
    cgroups.mkdir()
    index = CgroupIndex(cgroups, rescan_seconds=0.05)
    table = ProcessTable(ProcFS(proc_root), index)
    scope = cgroups / f"cri-containerd-{CONTAINER}.scope"
    index.container_id(cgroups.stat().st_ino)  # a scan before the cgroup exists
    scope.mkdir()
    inode = scope.stat().st_ino
    first = table.thread_field(5, 5, 0, 0, b"app", inode)
    assert CONTAINER[:12].encode() not in first  # not known yet
    time.sleep(0.06)
    later = table.thread_field(5, 5, 0, 0, b"app", inode)
    assert CONTAINER[:12].encode() in later
