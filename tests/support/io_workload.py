"""I/O calls whose events the tests expect to see, exactly.

Run as a separate process (the probe never captures its own process). It
starts a small HTTP server process, prints both pids, waits for a line on
stdin so observers can subscribe first, then:

- sends a DNS-shaped query over UDP with sendto and receives it with recvfrom;
- sends two buffers with sendmsg over a unix socket pair and receives them
  with recvmsg;
- over a TCP connection of its own, writes two buffers with writev and sends
  a file with sendfile;
- makes an HTTP request to the server with a header long enough to be cut.

It prints what it did as JSON. `--http-server DIR` runs the server instead.
"""

from __future__ import annotations

import http.client
import http.server
import json
import os
import socket
import struct
import subprocess
import sys
from pathlib import Path

DNS_QUERY = (
    struct.pack(">HHHHHH", 0x1234, 0x0100, 1, 0, 0, 0)
    + b"".join(bytes((len(p),)) + p for p in (b"example", b"com"))
    + b"\0"
    + struct.pack(">HH", 1, 1)  # A, IN
)
UNIX_PARTS = (b"hello ", b"over unix")
WRITEV_PARTS = (b"first-buffer|", b"second-buffer")
FILE_CONTENT = b"kindling sendfile content\n" * 8
LONG_HEADER = "x" * 1500


def serve(directory: str) -> None:
    def handler(*args: object) -> http.server.SimpleHTTPRequestHandler:
        return http.server.SimpleHTTPRequestHandler(*args, directory=directory)  # type: ignore[arg-type]

    http.server.SimpleHTTPRequestHandler.log_message = lambda *args: None  # type: ignore[method-assign]
    server = http.server.HTTPServer(("127.0.0.1", 0), handler)
    print(json.dumps({"pid": os.getpid(), "port": server.server_address[1]}), flush=True)
    server.serve_forever()


def udp() -> dict[str, object]:
    with (
        socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as server,
        socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as client,
    ):
        server.bind(("127.0.0.1", 0))
        client.sendto(DNS_QUERY, server.getsockname())
        data, _ = server.recvfrom(512)
        assert data == DNS_QUERY
        return {
            "client_fd": client.fileno(),
            "server_fd": server.fileno(),
            "server_port": server.getsockname()[1],
            "client_port": client.getsockname()[1],
        }


def unix() -> dict[str, object]:
    first, second = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    with first, second:
        sent = first.sendmsg(list(UNIX_PARTS))
        data, _, _, _ = second.recvmsg(64)
        assert data == b"".join(UNIX_PARTS)
        return {"send_fd": first.fileno(), "recv_fd": second.fileno(), "sent": sent}


def tcp(directory: Path) -> dict[str, object]:
    path = directory / "sendfile.txt"
    path.write_bytes(FILE_CONTENT)
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        with socket.create_connection(listener.getsockname()) as client:
            peer, _ = listener.accept()
            with peer, path.open("rb") as file:
                written = os.writev(client.fileno(), list(WRITEV_PARTS))
                copied = os.sendfile(client.fileno(), file.fileno(), 0, len(FILE_CONTENT))
                received = b""
                while len(received) < written + copied:
                    received += peer.recv(4096)
                return {
                    "fd": client.fileno(),
                    "file_fd": file.fileno(),
                    "port": listener.getsockname()[1],
                    "client_port": client.getsockname()[1],
                    "written": written,
                    "copied": copied,
                }


def http_request(port: int) -> dict[str, object]:
    connection = http.client.HTTPConnection("127.0.0.1", port)
    connection.request("GET", "/hello.txt", headers={"X-Long": LONG_HEADER})
    assert connection.sock is not None
    fd = connection.sock.fileno()
    response = connection.getresponse()
    body = response.read()
    connection.close()
    return {"status": response.status, "body": body.decode(), "fd": fd}


def main() -> None:
    if sys.argv[1] == "--http-server":
        serve(sys.argv[2])
        return
    directory = Path(sys.argv[1])
    (directory / "hello.txt").write_text("hello from kindling\n")
    server = subprocess.Popen(
        [sys.executable, __file__, "--http-server", str(directory)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert server.stdout is not None
    started = json.loads(server.stdout.readline())
    print(json.dumps({"pid": os.getpid(), "server_pid": started["pid"]}), flush=True)
    sys.stdin.readline()
    try:
        result = {
            "pid": os.getpid(),
            "comm": Path("/proc/self/comm").read_text().strip(),
            "server_pid": started["pid"],
            "server_port": started["port"],
            "udp": udp(),
            "unix": unix(),
            "tcp": tcp(directory),
            "http": http_request(started["port"]),
        }
    finally:
        server.terminate()
        server.wait()
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
