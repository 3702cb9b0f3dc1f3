/*
 * Syscalls on names in the file system rather than on descriptors: unlink,
 * unlinkat, rename, renameat, renameat2, mkdir and mkdirat, each emitted
 * once at its exit with its path (a rename's new path in the data area).
 * Relative paths start from the directory descriptor the call was given (or
 * the working directory).
 */
#include "kindling.h"

#define KINDLING_AT_FDCWD -100

/* The exit of a syscall on one path (entry.uptr). */
static __always_inline int kindling_path_exit(void *ctx, u32 event_id, long ret)
{
	struct kindling_inflight entry;
	struct kindling_record *r = kindling_syscall_exit(event_id, ret, &entry, KINDLING_LONG);
	if (!r)
		return 0;
	long n = bpf_probe_read_user_str(r->path, KINDLING_PATH_MAX, (void *)entry.uptr);
	kindling_record_commit(ctx, r, KINDLING_LONG, n);
	return 0;
}

/* The exit of a rename: the old path (uptr) and the new one (uptr2). */
static __always_inline int kindling_rename_exit(void *ctx, u32 event_id, long ret)
{
	struct kindling_inflight entry;
	struct kindling_record *r = kindling_syscall_exit(event_id, ret, &entry, KINDLING_DATA);
	if (!r)
		return 0;
	long n = bpf_probe_read_user_str(r->path, KINDLING_PATH_MAX, (void *)entry.uptr);
	u32 room = KINDLING_DATA_CAPACITY < KINDLING_PATH_MAX ? KINDLING_DATA_CAPACITY
							       : KINDLING_PATH_MAX;
	long m = bpf_probe_read_user_str(r->data, room, (void *)entry.uptr2);
	if (m > 0)
		r->data_len = m;
	kindling_record_commit(ctx, r, KINDLING_DATA, n);
	return 0;
}

#ifdef KINDLING_HAVE_SYS_UNLINK
TRACEPOINT_PROBE(syscalls, sys_enter_unlink)
{
	return kindling_syscall_enter(KINDLING_EV_UNLINK, (u64)(s64)KINDLING_AT_FDCWD, 0, 0,
				      (u64)args->pathname);
}

TRACEPOINT_PROBE(syscalls, sys_exit_unlink)
{
	return kindling_path_exit(args, KINDLING_EV_UNLINK, args->ret);
}
#endif

#ifdef KINDLING_HAVE_SYS_UNLINKAT
TRACEPOINT_PROBE(syscalls, sys_enter_unlinkat)
{
	return kindling_syscall_enter(KINDLING_EV_UNLINKAT, (u64)(s64)(int)args->dfd,
				      (u64)(u32)args->flag, 0, (u64)args->pathname);
}

TRACEPOINT_PROBE(syscalls, sys_exit_unlinkat)
{
	return kindling_path_exit(args, KINDLING_EV_UNLINKAT, args->ret);
}
#endif

#ifdef KINDLING_HAVE_SYS_MKDIR
TRACEPOINT_PROBE(syscalls, sys_enter_mkdir)
{
	return kindling_syscall_enter(KINDLING_EV_MKDIR, (u64)(s64)KINDLING_AT_FDCWD, 0,
				      (u64)args->mode, (u64)args->pathname);
}

TRACEPOINT_PROBE(syscalls, sys_exit_mkdir)
{
	return kindling_path_exit(args, KINDLING_EV_MKDIR, args->ret);
}
#endif

#ifdef KINDLING_HAVE_SYS_MKDIRAT
TRACEPOINT_PROBE(syscalls, sys_enter_mkdirat)
{
	return kindling_syscall_enter(KINDLING_EV_MKDIRAT, (u64)(s64)(int)args->dfd, 0,
				      (u64)args->mode, (u64)args->pathname);
}

TRACEPOINT_PROBE(syscalls, sys_exit_mkdirat)
{
	return kindling_path_exit(args, KINDLING_EV_MKDIRAT, args->ret);
}
#endif

/* Renames: arg0 and arg1 hold the old and new directory descriptors. */
static __always_inline int kindling_rename_enter(u32 event_id, s64 olddfd, s64 newdfd,
						 const char *oldname, const char *newname,
						 u64 flags)
{
	struct kindling_inflight *f = kindling_syscall_begin(event_id);
	if (f) {
		f->arg0 = (u64)olddfd;
		f->arg1 = (u64)newdfd;
		f->arg2 = flags;
		f->uptr = (u64)oldname;
		f->uptr2 = (u64)newname;
	}
	return 0;
}

#ifdef KINDLING_HAVE_SYS_RENAME
TRACEPOINT_PROBE(syscalls, sys_enter_rename)
{
	return kindling_rename_enter(KINDLING_EV_RENAME, KINDLING_AT_FDCWD, KINDLING_AT_FDCWD,
				     args->oldname, args->newname, 0);
}

TRACEPOINT_PROBE(syscalls, sys_exit_rename)
{
	return kindling_rename_exit(args, KINDLING_EV_RENAME, args->ret);
}
#endif

#ifdef KINDLING_HAVE_SYS_RENAMEAT
TRACEPOINT_PROBE(syscalls, sys_enter_renameat)
{
	return kindling_rename_enter(KINDLING_EV_RENAMEAT, (int)args->olddfd, (int)args->newdfd,
				     args->oldname, args->newname, 0);
}

TRACEPOINT_PROBE(syscalls, sys_exit_renameat)
{
	return kindling_rename_exit(args, KINDLING_EV_RENAMEAT, args->ret);
}
#endif

#ifdef KINDLING_HAVE_SYS_RENAMEAT2
TRACEPOINT_PROBE(syscalls, sys_enter_renameat2)
{
	return kindling_rename_enter(KINDLING_EV_RENAMEAT2, (int)args->olddfd, (int)args->newdfd,
				     args->oldname, args->newname, (u32)args->flags);
}

TRACEPOINT_PROBE(syscalls, sys_exit_renameat2)
{
	return kindling_rename_exit(args, KINDLING_EV_RENAMEAT2, args->ret);
}
#endif
