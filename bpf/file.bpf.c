/*
 * File descriptor syscalls: openat, open, openat2, creat, close and the
 * fd-table ones (dup*, pipe*, socketpair, close_range), each emitted once at
 * its exit, paired in the kernel with its entry (arguments and latency).
 * Reads and writes are in io.bpf.c, syscalls on names (unlink, rename,
 * mkdir) in paths.bpf.c.
 */
#include "kindling.h"

#define KINDLING_AT_FDCWD -100
#define KINDLING_O_CREAT_WRONLY_TRUNC 01101

/* The exit of a syscall that opened its path (entry.uptr); the entry holds
 * openat's arguments (dirfd, flags, mode) for every open variant. */
static __always_inline int kindling_open_exit(void *ctx, u32 event_id, long ret)
{
	struct kindling_inflight entry;
	struct kindling_record *r = kindling_syscall_exit(event_id, ret, &entry, KINDLING_LONG);
	if (!r)
		return 0;
	long n = bpf_probe_read_user_str(r->path, KINDLING_PATH_MAX, (void *)entry.uptr);
	kindling_record_commit(ctx, r, KINDLING_LONG, n);
	return 0;
}

TRACEPOINT_PROBE(syscalls, sys_enter_openat)
{
	return kindling_syscall_enter(KINDLING_EV_OPENAT, (u64)(s64)(int)args->dfd,
				      (u64)(u32)args->flags, (u64)args->mode, (u64)args->filename);
}

TRACEPOINT_PROBE(syscalls, sys_exit_openat)
{
	return kindling_open_exit(args, KINDLING_EV_OPENAT, args->ret);
}

#ifdef KINDLING_HAVE_SYS_OPEN
TRACEPOINT_PROBE(syscalls, sys_enter_open)
{
	return kindling_syscall_enter(KINDLING_EV_OPEN, (u64)(s64)KINDLING_AT_FDCWD,
				      (u64)(u32)args->flags, (u64)args->mode, (u64)args->filename);
}

TRACEPOINT_PROBE(syscalls, sys_exit_open)
{
	return kindling_open_exit(args, KINDLING_EV_OPEN, args->ret);
}
#endif

#ifdef KINDLING_HAVE_SYS_OPENAT2
TRACEPOINT_PROBE(syscalls, sys_enter_openat2)
{
	u64 how[2] = {}; /* struct open_how: flags, mode, resolve */
	bpf_probe_read_user(how, sizeof(how), args->how);
	return kindling_syscall_enter(KINDLING_EV_OPENAT2, (u64)(s64)(int)args->dfd, how[0],
				      how[1], (u64)args->filename);
}

TRACEPOINT_PROBE(syscalls, sys_exit_openat2)
{
	return kindling_open_exit(args, KINDLING_EV_OPENAT2, args->ret);
}
#endif

#ifdef KINDLING_HAVE_SYS_CREAT
TRACEPOINT_PROBE(syscalls, sys_enter_creat)
{
	return kindling_syscall_enter(KINDLING_EV_CREAT, (u64)(s64)KINDLING_AT_FDCWD,
				      KINDLING_O_CREAT_WRONLY_TRUNC, (u64)args->mode,
				      (u64)args->pathname);
}

TRACEPOINT_PROBE(syscalls, sys_exit_creat)
{
	return kindling_open_exit(args, KINDLING_EV_CREAT, args->ret);
}
#endif

TRACEPOINT_PROBE(syscalls, sys_enter_close)
{
	return kindling_syscall_enter(KINDLING_EV_CLOSE, args->fd, 0, 0, 0);
}

KINDLING_SIMPLE_EXIT(close, KINDLING_EV_CLOSE)

/*
 * Syscalls that only change which object an fd number refers to. They keep
 * the service's fd table right; without them a dup2'ed or piped fd would
 * carry stale context. Each is compiled only where this kernel has its
 * tracepoints (KINDLING_HAVE_SYS_* from the driver).
 */

#ifdef KINDLING_HAVE_SYS_DUP
TRACEPOINT_PROBE(syscalls, sys_enter_dup)
{
	return kindling_syscall_enter(KINDLING_EV_DUP, args->fildes, 0, 0, 0);
}

KINDLING_SIMPLE_EXIT(dup, KINDLING_EV_DUP)
#endif

#ifdef KINDLING_HAVE_SYS_DUP2
TRACEPOINT_PROBE(syscalls, sys_enter_dup2)
{
	return kindling_syscall_enter(KINDLING_EV_DUP2, args->oldfd, args->newfd, 0, 0);
}

KINDLING_SIMPLE_EXIT(dup2, KINDLING_EV_DUP2)
#endif

#ifdef KINDLING_HAVE_SYS_DUP3
TRACEPOINT_PROBE(syscalls, sys_enter_dup3)
{
	return kindling_syscall_enter(KINDLING_EV_DUP3, args->oldfd, args->newfd,
				      (u64)(u32)args->flags, 0);
}

KINDLING_SIMPLE_EXIT(dup3, KINDLING_EV_DUP3)
#endif

/* pipe, pipe2 and socketpair return two fds through a user array: read it
 * at exit into arg0 and arg1 (arg2 keeps the flags or the socket type). */
static __always_inline int kindling_fd_pair_exit(void *ctx, u32 event_id, long ret)
{
	struct kindling_inflight entry;
	struct kindling_record *r = kindling_syscall_exit(event_id, ret, &entry, KINDLING_SHORT);
	if (!r)
		return 0;
	int fds[2] = {-1, -1};
	if (ret == 0 && entry.uptr)
		bpf_probe_read_user(fds, sizeof(fds), (void *)entry.uptr);
	r->family = (u16)entry.arg0;
	r->arg0 = (u64)(s64)fds[0];
	r->arg1 = (u64)(s64)fds[1];
	kindling_record_commit(ctx, r, KINDLING_SHORT, 0);
	return 0;
}

#ifdef KINDLING_HAVE_SYS_PIPE
TRACEPOINT_PROBE(syscalls, sys_enter_pipe)
{
	return kindling_syscall_enter(KINDLING_EV_PIPE, 0, 0, 0, (u64)args->fildes);
}

TRACEPOINT_PROBE(syscalls, sys_exit_pipe)
{
	return kindling_fd_pair_exit(args, KINDLING_EV_PIPE, args->ret);
}
#endif

#ifdef KINDLING_HAVE_SYS_PIPE2
TRACEPOINT_PROBE(syscalls, sys_enter_pipe2)
{
	return kindling_syscall_enter(KINDLING_EV_PIPE2, 0, 0, (u64)(u32)args->flags,
				      (u64)args->fildes);
}

TRACEPOINT_PROBE(syscalls, sys_exit_pipe2)
{
	return kindling_fd_pair_exit(args, KINDLING_EV_PIPE2, args->ret);
}
#endif

#ifdef KINDLING_HAVE_SYS_SOCKETPAIR
TRACEPOINT_PROBE(syscalls, sys_enter_socketpair)
{
	return kindling_syscall_enter(KINDLING_EV_SOCKETPAIR, (u64)(u32)args->family, 0,
				      (u64)(u32)args->type, (u64)args->usockvec);
}

TRACEPOINT_PROBE(syscalls, sys_exit_socketpair)
{
	return kindling_fd_pair_exit(args, KINDLING_EV_SOCKETPAIR, args->ret);
}
#endif

#ifdef KINDLING_HAVE_SYS_CLOSE_RANGE
TRACEPOINT_PROBE(syscalls, sys_enter_close_range)
{
	return kindling_syscall_enter(KINDLING_EV_CLOSE_RANGE, args->fd, args->max_fd,
				      args->flags, 0);
}

KINDLING_SIMPLE_EXIT(close_range, KINDLING_EV_CLOSE_RANGE)
#endif
