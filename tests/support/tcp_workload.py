"""TCP connections whose events the tests expect to see, exactly.

Run as a separate process (the probe never captures its own process), with
the address of a server the test runs in a network namespace. It prints its
pid and waits for a line on stdin, then, on loopback:

- binds and listens, connects to itself without blocking (EINPROGRESS, then
  the connection completes) and sends on that connection;
- connects without blocking to a closed port (refused with a reset);
- closes an accepted connection's client end with SO_LINGER 0 (a reset);
- overflows a UDP socket's receive buffer (drops).

Then it connects to the namespace's server, prints "lossy?" and waits for a
line: meanwhile the test takes the link down, so what it sends next is
retransmitted until the test brings the link back up ("up"). It prints what
it did as JSON.
"""

from __future__ import annotations

import errno
import json
import os
import select
import socket
import struct
import sys
import time
from pathlib import Path


def nonblocking_connect(address: tuple[str, int]) -> tuple[socket.socket, int]:
    client = socket.socket()
    client.setblocking(False)
    code = client.connect_ex(address)
    assert code == errno.EINPROGRESS, errno.errorcode.get(code, code)
    select.select([], [client], [], 5)
    return client, client.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)


def loopback() -> dict[str, object]:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    port = listener.getsockname()[1]

    client, error = nonblocking_connect(("127.0.0.1", port))
    assert error == 0
    client.setblocking(True)
    client.sendall(b"after a non-blocking connect")
    accepted, _ = listener.accept()

    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))  # bound, never listening: connections are refused
    closed_port = closed.getsockname()[1]
    refused, refused_error = nonblocking_connect(("127.0.0.1", closed_port))
    assert refused_error == errno.ECONNREFUSED

    lingering = socket.create_connection(("127.0.0.1", port))
    lingering_port = lingering.getsockname()[1]
    peer, _ = listener.accept()
    lingering.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    lingering_fd = lingering.fileno()
    lingering.close()  # sends a reset
    time.sleep(0.05)

    # Datagrams to a socket whose receive buffer is full are dropped.
    sink = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sink.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1)
    sink.bind(("127.0.0.1", 0))
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as source:
        for _ in range(64):
            source.sendto(b"x" * 1024, sink.getsockname())
    sink.close()
    result = {
        "listener_fd": listener.fileno(),
        "port": port,
        "client_fd": client.fileno(),
        "client_port": client.getsockname()[1],
        "refused_fd": refused.fileno(),
        "closed_port": closed_port,
        "lingering_fd": lingering_fd,
        "lingering_port": lingering_port,
        "peer_fd": peer.fileno(),
    }
    for s in (client, accepted, refused, peer, closed, listener):
        s.close()
    return result


def lossy(address: tuple[str, int]) -> dict[str, object]:
    with socket.create_connection(address, timeout=10) as client:
        client.sendall(b"before the link went down")
        print("lossy?", flush=True)
        sys.stdin.readline()  # the link is down now
        client.sendall(b"retransmitted " * 64)
        print("sent", flush=True)
        sys.stdin.readline()  # the link is up again
        client.shutdown(socket.SHUT_WR)
        client.recv(1)  # the server's close
        return {"fd": client.fileno(), "local": client.getsockname()}


def main() -> None:
    server = (sys.argv[1], int(sys.argv[2]))
    print(json.dumps({"pid": os.getpid()}), flush=True)
    sys.stdin.readline()
    result = {
        "pid": os.getpid(),
        "comm": Path("/proc/self/comm").read_text().strip(),
        "loopback": loopback(),
        "lossy": lossy(server),
    }
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
