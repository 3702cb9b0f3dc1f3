/*
 * File descriptor syscalls: openat, close, read and write, each emitted once
 * at its exit, paired in the kernel with its entry (arguments and latency).
 */
#include "kindling.h"

TRACEPOINT_PROBE(syscalls, sys_enter_openat)
{
	return kindling_syscall_enter(KINDLING_EV_OPENAT, (u64)(s64)(int)args->dfd,
				      (u64)(u32)args->flags, (u64)args->mode, (u64)args->filename);
}

TRACEPOINT_PROBE(syscalls, sys_exit_openat)
{
	struct kindling_inflight entry;
	struct kindling_record *r = kindling_syscall_exit(KINDLING_EV_OPENAT, args->ret, &entry);
	if (!r)
		return 0;
	long n = bpf_probe_read_user_str(r->path, KINDLING_PATH_MAX, (void *)entry.uptr);
	kindling_record_submit(args, r, n);
	return 0;
}

TRACEPOINT_PROBE(syscalls, sys_enter_close)
{
	return kindling_syscall_enter(KINDLING_EV_CLOSE, args->fd, 0, 0, 0);
}

TRACEPOINT_PROBE(syscalls, sys_exit_close)
{
	struct kindling_inflight entry;
	struct kindling_record *r = kindling_syscall_exit(KINDLING_EV_CLOSE, args->ret, &entry);
	if (r)
		kindling_record_submit(args, r, 0);
	return 0;
}

TRACEPOINT_PROBE(syscalls, sys_enter_read)
{
	return kindling_syscall_enter(KINDLING_EV_READ, args->fd, args->count, 0, 0);
}

TRACEPOINT_PROBE(syscalls, sys_exit_read)
{
	struct kindling_inflight entry;
	struct kindling_record *r = kindling_syscall_exit(KINDLING_EV_READ, args->ret, &entry);
	if (r)
		kindling_record_submit(args, r, 0);
	return 0;
}

TRACEPOINT_PROBE(syscalls, sys_enter_write)
{
	return kindling_syscall_enter(KINDLING_EV_WRITE, args->fd, args->count, 0, 0);
}

TRACEPOINT_PROBE(syscalls, sys_exit_write)
{
	struct kindling_inflight entry;
	struct kindling_record *r = kindling_syscall_exit(KINDLING_EV_WRITE, args->ret, &entry);
	if (r)
		kindling_record_submit(args, r, 0);
	return 0;
}
