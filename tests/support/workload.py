"""A small program whose kernel events the tests expect to see, exactly.

Run as a separate process (the probe never captures its own process). It
waits for a line on stdin, so observers can subscribe first, then: runs
/bin/true, makes a TCP connection to a listener of its own, and opens and
reads a file. It prints what it did as JSON.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path


def main() -> None:
    path = Path(sys.argv[1])
    path.write_text("kindling workload\n")
    print(json.dumps({"pid": os.getpid()}), flush=True)
    sys.stdin.readline()

    true = subprocess.Popen(["/bin/true"])
    true.wait()

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as client:
            client.connect(("127.0.0.1", port))
            client_port = client.getsockname()[1]
            conn, _ = server.accept()
            conn.close()

    fd = os.open(path, os.O_RDONLY)
    data = os.read(fd, 4096)
    os.close(fd)

    print(
        json.dumps(
            {
                "pid": os.getpid(),
                "comm": Path("/proc/self/comm").read_text().strip(),
                "true_pid": true.pid,
                "true_exit": true.returncode,
                "port": port,
                "client_port": client_port,
                "path": str(path),
                "fd": fd,
                "read": len(data),
            }
        ),
        flush=True,
    )


if __name__ == "__main__":
    main()
