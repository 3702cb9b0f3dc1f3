"""A load generator with exact counts, for the collector's kernel tests.

    python collector_load.py PLAN_JSON

The plan names the servers (nginx, redis, DNS ports on 127.0.0.1) and how
many requests of each kind to make. Every request is made once, in order,
and timed around its own send and receive with perf_counter; the report
(one JSON object on stdout) lists what was done, what came back and how long
each took, so the test can compare the collector's counts and histograms
with it.
"""

from __future__ import annotations

import http.client
import json
import os
import socket
import struct
import sys
import time
from collections import defaultdict
from typing import Any


def http_load(port: int, plan: list[list[Any]], report: dict[str, Any]) -> None:
    """plan: [path, count] pairs, each group on its own keep-alive connection."""
    timings: dict[str, list[float]] = defaultdict(list)
    for path, count in plan:
        connection = http.client.HTTPConnection("127.0.0.1", port)
        connection.connect()
        report["connects"][str(port)] += 1
        for _ in range(count):
            start = time.perf_counter()
            connection.request("GET", path)
            response = connection.getresponse()
            response.read()
            elapsed = time.perf_counter() - start
            timings[f"{path} {response.status}"].append(elapsed)
        connection.close()
    report["http"] = timings


def redis_command(*words: bytes) -> bytes:
    return b"*%d\r\n" % len(words) + b"".join(b"$%d\r\n%s\r\n" % (len(w), w) for w in words)


def redis_load(port: int, plan: list[list[Any]], report: dict[str, Any]) -> None:
    """plan: [command words, count] pairs, on one connection."""
    timings: dict[str, list[float]] = defaultdict(list)
    client = socket.create_connection(("127.0.0.1", port))
    report["connects"][str(port)] += 1
    for words, count in plan:
        message = redis_command(*(w.encode() for w in words))
        for _ in range(count):
            start = time.perf_counter()
            client.sendall(message)
            reply = client.recv(65536)
            elapsed = time.perf_counter() - start
            assert reply.endswith(b"\r\n"), reply
            kind = "error" if reply.startswith(b"-") else "ok"
            timings[f"{words[0].upper()} {kind}"].append(elapsed)
    client.close()
    report["redis"] = timings


def dns_query(ident: int, name: str) -> bytes:
    labels = b"".join(bytes([len(p)]) + p.encode() for p in name.split("."))
    return struct.pack("!HHHHHH", ident, 0x0100, 1, 0, 0, 0) + labels + b"\x00\x00\x01\x00\x01"


def dns_load(port: int, plan: list[list[Any]], report: dict[str, Any]) -> None:
    """plan: [name, count] pairs, from one UDP socket, one query at a time."""
    timings: dict[str, list[float]] = defaultdict(list)
    client = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    client.settimeout(5)
    ident = 0
    for name, count in plan:
        for _ in range(count):
            ident += 1
            start = time.perf_counter()
            client.sendto(dns_query(ident, name), ("127.0.0.1", port))
            answer, _ = client.recvfrom(512)
            elapsed = time.perf_counter() - start
            assert struct.unpack_from("!H", answer)[0] == ident
            rcode = {0: "NOERROR", 3: "NXDOMAIN"}[answer[3] & 0xF]
            timings[f"{name} {rcode}"].append(elapsed)
    client.close()
    report["dns"] = timings


def refused(port: int, report: dict[str, Any]) -> None:
    """One connect to a port nobody listens on."""
    client = socket.socket()
    try:
        client.connect(("127.0.0.1", port))
    except ConnectionRefusedError:
        report["refused"][str(port)] += 1
    finally:
        client.close()


def main() -> None:
    plan = json.loads(sys.argv[1])
    report: dict[str, Any] = {
        "pid": os.getpid(),
        "connects": defaultdict(int),
        "refused": defaultdict(int),
    }
    http_load(plan["nginx_port"], plan["http"], report)
    redis_load(plan["redis_port"], plan["redis"], report)
    dns_load(plan["dns_port"], plan["dns"], report)
    refused(plan["closed_port"], report)
    print(json.dumps(report), flush=True)


if __name__ == "__main__":
    main()
