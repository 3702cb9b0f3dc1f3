"""Processes, signals and file names whose events the tests expect to see.

Run as a separate process (the probe never captures its own process). It
prints its pid and waits for a line on stdin, then:

- runs /bin/echo with known arguments, and a shell that exits with code 3;
- forks a child that sleeps, and kills it with SIGTERM (kill);
- opens files with open, creat and openat2, and renames, unlinks and makes
  directories with each of the calls of the catalogue, by raw syscall number
  (libc picks its own variants);
- calls getpid and uname, syscalls the catalogue has no event of its own for.

It prints what it did as JSON.
"""

from __future__ import annotations

import ctypes
import json
import os
import signal
import struct
import subprocess
import sys
import time
from pathlib import Path

ECHO_ARGS = ["/bin/echo", "hello", "two words", ""]
AT_FDCWD = -100
O_CREAT_WRONLY = os.O_CREAT | os.O_WRONLY
# x86_64 syscall numbers (asm/unistd_64.h)
NR = {
    "open": 2, "creat": 85, "rename": 82, "mkdir": 83, "unlink": 87, "openat2": 437,
    "renameat": 264, "renameat2": 316, "mkdirat": 258, "unlinkat": 263,
}  # fmt: skip

_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long


def syscall(name: str, *args: int | bytes) -> int:
    # Every argument a machine word: ctypes would pass ints as 32-bit ones.
    words = [ctypes.c_char_p(a) if isinstance(a, bytes) else ctypes.c_long(a) for a in args]
    result = int(_libc.syscall(ctypes.c_long(NR[name]), *words))
    if result < 0:
        raise OSError(ctypes.get_errno(), f"{name}: {os.strerror(ctypes.get_errno())}")
    return result


def files(directory: Path) -> dict[str, object]:
    base = str(directory).encode()
    opened = syscall("open", base + b"/opened", O_CREAT_WRONLY, 0o600)
    created = syscall("creat", base + b"/created", 0o640)
    how = ctypes.create_string_buffer(struct.pack("<QQQ", O_CREAT_WRONLY, 0o644, 0), 24)
    openat2 = syscall("openat2", AT_FDCWD, base + b"/openat2", ctypes.addressof(how), 24)
    for fd in (opened, created, openat2):
        os.close(fd)
    syscall("rename", base + b"/opened", base + b"/renamed")
    syscall("renameat", AT_FDCWD, base + b"/created", AT_FDCWD, base + b"/renamedat")
    syscall("renameat2", AT_FDCWD, base + b"/openat2", AT_FDCWD, base + b"/renamedat2", 1)
    syscall("unlink", base + b"/renamed")
    syscall("unlinkat", AT_FDCWD, base + b"/renamedat", 0)
    syscall("mkdir", base + b"/dir", 0o750)
    syscall("mkdirat", AT_FDCWD, base + b"/dirat", 0o700)
    syscall("unlinkat", AT_FDCWD, base + b"/dirat", 0x200)  # AT_REMOVEDIR
    return {"fds": {"open": opened, "creat": created, "openat2": openat2}}


def main() -> None:
    directory = Path(sys.argv[1])
    print(json.dumps({"pid": os.getpid()}), flush=True)
    sys.stdin.readline()
    echo = subprocess.Popen(ECHO_ARGS, stdout=subprocess.DEVNULL)
    echo.wait()
    shell = subprocess.Popen(["/bin/sh", "-c", "exit 3"])
    shell.wait()
    child = os.fork()
    if child == 0:
        time.sleep(30)
        os._exit(0)
    time.sleep(0.1)
    os.kill(child, signal.SIGTERM)
    _, status = os.waitpid(child, 0)
    uname = os.uname()
    result = {
        "getpid": os.getpid(),
        "nodename": uname.nodename,
        "pid": os.getpid(),
        "comm": Path("/proc/self/comm").read_text().strip(),
        "echo_pid": echo.pid,
        "shell_pid": shell.pid,
        "shell_exit": shell.returncode,
        "child_pid": child,
        "child_signal": os.WTERMSIG(status),
        **files(directory),
    }
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
