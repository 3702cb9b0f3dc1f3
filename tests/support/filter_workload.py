"""Events that tell each field of the filter language apart.

Run as a separate process (the probe never captures its own process). It
forks a child that waits, prints both pids, waits for a line on stdin, then:

- names its main thread "kfilter-main" and opens a file that exists and
  one that does not (return values);
- writes to that file (category file) and over a TCP connection to itself
  on 127.0.0.1 (category net, with a payload for streams that ask for
  socket payloads; protocols, ports, addresses, descriptor types);
- writes to the file from a second thread named "kfilter-thread" (tids,
  comms);
- reads a pipe whose data comes 80 ms later, and one whose data is there
  (latency);
- runs /bin/cat on the file (a new process in its tree: process_trees);
- lets the child become user and group 65534, open the file and exit
  (uids, gids, and a process_exit tracepoint event: sources).

It prints what it did as JSON.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import socket
import subprocess
import sys
import threading
from pathlib import Path

NOBODY = 65534
PR_SET_NAME = 15
DELAY_SECONDS = 0.08

_libc = ctypes.CDLL(None, use_errno=True)


def set_thread_name(name: str) -> None:
    _libc.prctl(PR_SET_NAME, name.encode(), 0, 0, 0)


def child(go: int, path: str) -> None:
    os.read(go, 1)
    os.setgid(NOBODY)
    os.setuid(NOBODY)
    os.close(os.open(path, os.O_RDONLY))
    os._exit(0)


def main() -> None:
    directory = Path(sys.argv[1])
    existing = directory / "exists.txt"
    existing.write_text("kindling\n")
    existing.chmod(0o644)
    directory.chmod(0o755)
    go_read, go_write = os.pipe()
    pid = os.fork()
    if pid == 0:
        child(go_read, str(existing))
    # The second thread starts now, so that its id is known beforehand.
    fd_box: list[int] = []
    start_writing = threading.Event()
    started = threading.Event()
    tids: dict[str, int] = {}

    def writer() -> None:
        set_thread_name("kfilter-thread")
        tids["thread"] = threading.get_native_id()
        started.set()
        start_writing.wait()
        os.write(fd_box[0], b"from a thread\n")

    thread = threading.Thread(target=writer)
    thread.start()
    started.wait()
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    print(
        json.dumps(
            {"pid": os.getpid(), "child_pid": pid, "thread_tid": tids["thread"], "port": port}
        ),
        flush=True,
    )
    sys.stdin.readline()

    set_thread_name("kfilter-main")
    fd = os.open(existing, os.O_WRONLY | os.O_APPEND)
    with contextlib.suppress(FileNotFoundError):
        os.open(directory / "missing.txt", os.O_RDONLY)
    os.write(fd, b"from main\n")

    client = socket.create_connection(listener.getsockname())
    client_fd = client.fileno()
    server, _ = listener.accept()
    client.send(b"GET /filtered HTTP/1.1\r\n\r\n")
    server.recv(64)

    fd_box.append(fd)
    start_writing.set()
    thread.join()

    slow_read, slow_write = os.pipe()
    quick_read, quick_write = os.pipe()
    os.write(quick_write, b"q")
    threading.Timer(DELAY_SECONDS, os.write, args=(slow_write, b"s")).start()
    os.read(quick_read, 1)
    os.read(slow_read, 1)

    # A process started after the subscriptions, in the workload's tree.
    subprocess.run(["/bin/cat", str(existing)], stdout=subprocess.DEVNULL, check=True)
    os.write(go_write, b"g")
    os.waitpid(pid, 0)
    for s in (client, server, listener):
        s.close()
    print(
        json.dumps(
            {
                "pid": os.getpid(),
                "child_pid": pid,
                "main_tid": threading.get_native_id(),
                "thread_tid": tids["thread"],
                "file_fd": fd,
                "client_fd": client_fd,
                "slow_read_fd": slow_read,
                "quick_read_fd": quick_read,
                "existing": str(existing),
                "port": port,
                "exe": os.readlink("/proc/self/exe"),
            }
        ),
        flush=True,
    )


if __name__ == "__main__":
    main()
