"""Debian's nginx for the collector tests: a configuration of the given
server blocks in a directory of its own, run in the foreground as one
process (so that its pid is the one serving), stopped afterwards."""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"

_CONF = """
user root;
daemon off;
master_process off;
worker_processes 1;
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
events {{ worker_connections 64; }}
http {{
    access_log off;
    client_body_temp_path {dir}/tmp;
    proxy_temp_path {dir}/tmp;
    fastcgi_temp_path {dir}/tmp;
    uwsgi_temp_path {dir}/tmp;
    scgi_temp_path {dir}/tmp;
{servers}
}}
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def running_nginx(
    directory: Path, servers: str, ready_port: int
) -> Iterator[subprocess.Popen[bytes]]:
    """nginx serving `servers` (server blocks, as nginx.conf writes them),
    once it accepts connections on `ready_port`."""
    assert Path(NGINX).exists(), "nginx is missing: run make setup (it installs nginx-light)"
    (directory / "tmp").mkdir(parents=True, exist_ok=True)
    conf = directory / "nginx.conf"
    conf.write_text(_CONF.format(dir=directory, servers=servers))
    proc = subprocess.Popen(
        [NGINX, "-c", str(conf), "-p", str(directory), "-e", str(directory / "error.log")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 10
        while True:
            assert proc.poll() is None, (
                f"nginx exited: {proc.stderr.read() if proc.stderr else b''!r}"
            )
            try:
                socket.create_connection(("127.0.0.1", ready_port), timeout=1).close()
                break
            except OSError:
                assert time.monotonic() < deadline, "nginx never listened"
                time.sleep(0.05)
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
