"""A process that writes 3 bytes to /dev/null in phases: it prints its pid as
a JSON line, then for each COUNT argument waits for a line on stdin, makes
COUNT writes and prints {"wrote": COUNT}. Its other writes (these lines)
are longer, so a filter on return value 3 selects exactly the phases'."""

from __future__ import annotations

import json
import os
import sys


def main() -> None:
    counts = [int(arg) for arg in sys.argv[1:]]
    print(json.dumps({"pid": os.getpid()}), flush=True)
    fd = os.open("/dev/null", os.O_WRONLY)
    for count in counts:
        sys.stdin.readline()
        for _ in range(count):
            os.write(fd, b"abc")
        print(json.dumps({"wrote": count}), flush=True)


if __name__ == "__main__":
    main()
