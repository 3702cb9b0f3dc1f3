"""What the BCC driver needs from the machine, checked before compiling.

Every check either passes or raises StartupError with one sentence that says
what to do. Checks that only describe the kernel (BTF, kprobes, the BPF ring
buffer) become KernelFeatures for GetInfo.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import os
import subprocess
from pathlib import Path

from kindling.server.catalog import Catalog
from kindling.server.drivers.base import KernelFeature
from kindling.server.errors import StartupError

TRACEFS_MOUNTS = (Path("/sys/kernel/tracing"), Path("/sys/kernel/debug/tracing"))

# Capability bits (linux/capability.h).
CAP_SYS_ADMIN = 21
CAP_PERFMON = 38
CAP_BPF = 39

# Tracepoints the programs always attach to, besides the syscall events'
# (which come from the catalogue): (category, event).
BASE_TRACEPOINTS = (
    ("sched", "sched_process_exec"),
    ("sched", "sched_process_fork"),
    ("sched", "sched_process_exit"),
    ("task", "task_newtask"),
    ("sock", "inet_sock_set_state"),
    ("syscalls", "sys_enter_exit_group"),
)


def _has_syscall(root: Path, name: str) -> bool:
    events = root / "events" / "syscalls"
    return (events / f"sys_enter_{name}").is_dir() and (events / f"sys_exit_{name}").is_dir()


def available_syscalls(root: Path, catalog: Catalog) -> set[str]:
    """The catalogue's syscalls whose tracepoints this kernel has."""
    return {name for name in catalog.syscalls if _has_syscall(root, name)}


SETUP_HINT = "run `make setup` in the kindling-probe source tree (or scripts/setup.sh)"


def effective_capabilities() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("CapEff:"):
            return int(line.split()[1], 16)
    return 0


def privileged() -> bool:
    caps = effective_capabilities()

    def has(bit: int) -> bool:
        return bool(caps >> bit & 1)

    return has(CAP_SYS_ADMIN) or (has(CAP_BPF) and has(CAP_PERFMON))


def check_privileges() -> None:
    if privileged():
        return
    raise StartupError(
        "loading eBPF programs needs root (or the CAP_BPF and CAP_PERFMON capabilities); "
        "run kindling-probe with sudo"
    )


# bpf(2) syscall numbers; other architectures skip the early check.
_SYS_BPF = {"x86_64": 321, "aarch64": 280}
_BPF_MAP_CREATE = 0
_BPF_MAP_TYPE_ARRAY = 2


def check_bpf_syscall() -> None:
    """Create and close a one-element BPF map, to tell a kernel or sandbox
    that forbids eBPF apart from a problem with the programs themselves."""
    number = _SYS_BPF.get(os.uname().machine)
    if number is None:
        return
    libc = ctypes.CDLL(None, use_errno=True)
    attr = (ctypes.c_uint32 * 32)()  # union bpf_attr, zero-filled
    attr[0], attr[1], attr[2], attr[3] = _BPF_MAP_TYPE_ARRAY, 4, 4, 1
    fd = libc.syscall(number, _BPF_MAP_CREATE, ctypes.byref(attr), ctypes.sizeof(attr))
    if fd >= 0:
        os.close(fd)
        return
    code = ctypes.get_errno()
    if code == errno.ENOSYS:
        raise StartupError(
            "this kernel has no bpf() system call; the probe needs a kernel built with "
            "CONFIG_BPF_SYSCALL"
        )
    raise StartupError(
        f"the kernel refused to create an eBPF map ({os.strerror(code)}); run the probe on "
        "the host as root, outside seccomp or kernel lockdown, or grant it CAP_BPF and "
        "CAP_PERFMON"
    )


def tracefs_root() -> Path | None:
    for path in TRACEFS_MOUNTS:
        if (path / "events").is_dir():
            return path
    return None


def ensure_tracefs() -> Path:
    """Find tracefs, mounting it at /sys/kernel/tracing when it is not mounted."""
    root = tracefs_root()
    if root is not None:
        return root
    target = TRACEFS_MOUNTS[0]
    result = subprocess.run(
        ["mount", "-t", "tracefs", "tracefs", str(target)],
        capture_output=True,
        text=True,
        check=False,
    )
    root = tracefs_root()
    if root is None:
        detail = result.stderr.strip() or f"exit status {result.returncode}"
        raise StartupError(
            f"tracefs is not mounted and mounting it at {target} failed ({detail}); "
            f"mount it with `mount -t tracefs tracefs {target}`"
        )
    return root


def check_tracepoints(root: Path, catalog: Catalog) -> None:
    missing = [
        f"{category}:{event}"
        for category, event in BASE_TRACEPOINTS
        if not (root / "events" / category / event).is_dir()
    ]
    missing += [
        f"syscalls:sys_{{enter,exit}}_{name}"
        for name, spec in catalog.syscalls.items()
        if not spec.optional and not _has_syscall(root, name)
    ]
    if missing:
        raise StartupError(
            f"this kernel lacks the tracepoints {', '.join(missing)} that the probe attaches to; "
            "it needs a kernel built with CONFIG_FTRACE_SYSCALLS and CONFIG_BPF_EVENTS"
        )


def has_exit_group_dead(root: Path) -> bool:
    """sched_process_exit gained `group_dead` in Linux 6.x; older kernels lack it."""
    fmt = root / "events" / "sched" / "sched_process_exit" / "format"
    try:
        return "group_dead" in fmt.read_text()
    except OSError:
        return False


def check_kernel_headers() -> Path:
    build = Path("/lib/modules") / os.uname().release / "build"
    if not (build / "include").is_dir():
        raise StartupError(
            f"BCC needs kernel headers at {build} and there are none; {SETUP_HINT}, which "
            "installs them or links the closest available ones"
        )
    return build


def import_bcc() -> object:
    try:
        import bcc  # noqa: PLC0415  (bcc is optional: only this driver needs it)
    except ImportError:
        raise StartupError(
            "the BCC Python bindings (Debian package python3-bpfcc) are not importable; "
            f"{SETUP_HINT}"
        ) from None
    return bcc


def _libbpf_probe_map(map_type: int) -> tuple[bool | None, str]:
    """Whether the kernel supports a BPF map type, asking libbpf (None when
    it cannot tell), and how that was decided."""
    name = ctypes.util.find_library("bpf")
    if not name:
        return None, "libbpf not found to probe it"
    try:
        lib = ctypes.CDLL(name)
        result = int(lib.libbpf_probe_bpf_map_type(map_type, None))
    except (OSError, AttributeError):
        return None, "libbpf cannot probe map types"
    if result < 0:
        return None, f"could not probe it: {os.strerror(-result)}"
    return result == 1, "probed with libbpf"


def kernel_features(root: Path | None) -> list[KernelFeature]:
    features = []
    btf = Path("/sys/kernel/btf/vmlinux")
    features.append(
        KernelFeature("btf", btf.exists(), f"{btf} {'present' if btf.exists() else 'missing'}")
    )
    if root is None:
        features.append(KernelFeature("tracepoints", False, "tracefs is not mounted"))
        features.append(KernelFeature("kprobes", False, "tracefs is not mounted"))
    else:
        features.append(KernelFeature("tracepoints", True, f"tracefs at {root}"))
        kprobes = (root / "kprobe_events").exists()
        features.append(
            KernelFeature(
                "kprobes",
                kprobes,
                "kprobe_events present" if kprobes else "kernel built without CONFIG_KPROBES",
            )
        )
        uprobes = (root / "uprobe_events").exists()
        features.append(
            KernelFeature(
                "uprobes",
                uprobes,
                "uprobe_events present" if uprobes else "kernel built without CONFIG_UPROBES",
            )
        )
    if privileged():
        ringbuf, how = _libbpf_probe_map(27)  # BPF_MAP_TYPE_RINGBUF
    else:
        ringbuf, how = None, "needs root to probe"
    features.append(KernelFeature("ring_buffer", bool(ringbuf), how))
    features.append(KernelFeature("perf_buffer", True, "used for transport"))
    return features
