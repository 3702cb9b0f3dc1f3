"""What any eBPF driver needs from the host, checked before loading anything.

Every check either passes or raises StartupError with one sentence that says
what to do. Checks that only describe the kernel (BTF, kprobes, the BPF ring
buffer, task-local storage) become KernelFeatures for GetInfo, and choose
between the driver's alternatives (ring buffer or perf buffers, task storage
or a hash map for pairing syscall entries with exits).
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


def tracepoint_exists(root: Path, hook: str) -> bool:
    category, _, event = hook.partition(":")
    return (root / "events" / category / event).is_dir()


def available_hooks(root: Path, catalog: Catalog) -> set[str]:
    """The catalogue's tracepoints that this kernel has."""
    return {hook for hook in catalog.all_hooks if tracepoint_exists(root, hook)}


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
    required = catalog.hooks(
        [s.id for s in catalog.specs if not s.optional],
        [s.id for s in catalog.specs if not s.optional],
    )
    missing = [hook for hook in required if not tracepoint_exists(root, hook)]
    if missing:
        raise StartupError(
            f"this kernel lacks the tracepoints {', '.join(missing)} that the probe attaches to; "
            "it needs a kernel built with CONFIG_FTRACE_SYSCALLS and CONFIG_BPF_EVENTS"
        )


def pid_max() -> int:
    """One more than the highest process or thread id this kernel hands out."""
    try:
        return int(Path("/proc/sys/kernel/pid_max").read_text())
    except (OSError, ValueError):
        return 4194304  # the most a 64-bit kernel allows


def has_exit_group_dead(root: Path) -> bool:
    """sched_process_exit gained `group_dead` in Linux 6.x; older kernels lack it."""
    fmt = root / "events" / "sched" / "sched_process_exit" / "format"
    try:
        return "group_dead" in fmt.read_text()
    except OSError:
        return False


# uapi/linux/bpf.h
BPF_PROG_TYPE_TRACEPOINT = 5
BPF_MAP_TYPE_RINGBUF = 27
BPF_MAP_TYPE_TASK_STORAGE = 29
BPF_FUNC_TASK_STORAGE_GET = 156
BPF_FUNC_GET_CURRENT_TASK_BTF = 158
BPF_FUNC_TASK_PT_REGS = 175


def _libbpf() -> ctypes.CDLL | None:
    name = ctypes.util.find_library("bpf")
    if not name:
        return None
    try:
        return ctypes.CDLL(name)
    except OSError:
        return None


def _probe(what: str, call: str, *args: int) -> tuple[bool | None, str]:
    """Ask libbpf whether the kernel supports something (None when it cannot
    tell), and say how that was decided."""
    lib = _libbpf()
    if lib is None:
        return None, f"libbpf not found to probe {what}"
    try:
        result = int(getattr(lib, call)(*args, None))
    except AttributeError:
        return None, f"this libbpf cannot probe {what}"
    if result < 0:
        return None, f"could not probe {what}: {os.strerror(-result)}"
    return result == 1, "probed with libbpf"


def has_ring_buffer() -> tuple[bool, str]:
    """The BPF ring buffer (Linux 5.8+)."""
    if not privileged():
        return False, "needs root to probe"
    found, how = _probe("ring buffers", "libbpf_probe_bpf_map_type", BPF_MAP_TYPE_RINGBUF)
    return bool(found), how


def has_task_storage() -> tuple[bool, str]:
    """Task-local storage usable from tracepoint programs (Linux 5.11+ with BTF)."""
    if not privileged():
        return False, "needs root to probe"
    if not Path("/sys/kernel/btf/vmlinux").exists():
        return False, "needs kernel BTF (/sys/kernel/btf/vmlinux)"
    found, how = _probe("task storage", "libbpf_probe_bpf_map_type", BPF_MAP_TYPE_TASK_STORAGE)
    if not found:
        return False, how if found is None else "no task storage maps"
    for helper in (BPF_FUNC_TASK_STORAGE_GET, BPF_FUNC_GET_CURRENT_TASK_BTF):
        found, how = _probe(
            "task storage", "libbpf_probe_bpf_helper", BPF_PROG_TYPE_TRACEPOINT, helper
        )
        if not found:
            return False, how if found is None else "tracepoint programs cannot use it"
    return True, "probed with libbpf"


def has_task_pt_regs() -> tuple[bool, str]:
    """bpf_task_pt_regs in tracepoint programs (Linux 5.15+ with BTF): a new
    program's user registers, hence its arguments, at exec."""
    if not privileged():
        return False, "needs root to probe"
    if not Path("/sys/kernel/btf/vmlinux").exists():
        return False, "needs kernel BTF (/sys/kernel/btf/vmlinux)"
    for helper in (BPF_FUNC_TASK_PT_REGS, BPF_FUNC_GET_CURRENT_TASK_BTF):
        found, how = _probe(
            "exec arguments", "libbpf_probe_bpf_helper", BPF_PROG_TYPE_TRACEPOINT, helper
        )
        if not found:
            return False, how if found is None else "tracepoint programs cannot read task registers"
    return True, "probed with libbpf"


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
    ringbuf, how = has_ring_buffer()
    features.append(KernelFeature("ring_buffer", ringbuf, how))
    features.append(KernelFeature("perf_buffer", True, "every kernel the probe runs on"))
    storage, how = has_task_storage()
    features.append(KernelFeature("task_storage", storage, how))
    regs, how = has_task_pt_regs()
    features.append(KernelFeature("exec_arguments", regs, how))
    return features
