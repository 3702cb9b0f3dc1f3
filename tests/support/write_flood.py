"""A process that writes 3 bytes to /dev/null for SECONDS, flat out or at
RATE writes a second: it prints its pid as a JSON line, waits for a line on
stdin, writes, then prints {"wrote": N}."""

from __future__ import annotations

import json
import os
import sys
import time

BURST = 100


def main() -> None:
    seconds = float(sys.argv[1])
    rate = float(sys.argv[2]) if len(sys.argv) > 2 else 0.0
    print(json.dumps({"pid": os.getpid()}), flush=True)
    sys.stdin.readline()
    fd = os.open("/dev/null", os.O_WRONLY)
    wrote = 0
    began = time.monotonic()
    while (now := time.monotonic()) < began + seconds:
        if rate and wrote >= rate * (now - began):
            time.sleep(BURST / rate / 2)
            continue
        for _ in range(BURST):
            os.write(fd, b"abc")
        wrote += BURST
    print(json.dumps({"wrote": wrote}), flush=True)


if __name__ == "__main__":
    main()
