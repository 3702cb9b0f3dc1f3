/*
 * Any other syscall, by name: one program for every syscall's entry and one
 * for every exit, attached to the tracepoints of just the syscalls asked for
 * (syscalls:sys_enter_<name>, sys_exit_<name>), so the others cost nothing.
 * All those tracepoints share a layout: the syscall number at offset 8, then
 * the arguments (entry) or the return value (exit) from offset 16. The event
 * id is KINDLING_GENERIC_BASE + the syscall number.
 */
#include "kindling.h"

static __always_inline u32 kindling_any_syscall_id(void *ctx)
{
	int nr = *(int *)(ctx + 8);
	if (nr < 0 || KINDLING_GENERIC_BASE + nr >= KINDLING_EVENT_COUNT)
		return 0;
	return KINDLING_GENERIC_BASE + nr;
}

int kindling_any_syscall_enter(void *ctx)
{
	u32 event_id = kindling_any_syscall_id(ctx);
	if (!event_id)
		return 0;
	struct kindling_inflight *f = kindling_syscall_begin(event_id);
	if (!f)
		return 0;
	/* Six words, whatever the syscall takes: the service keeps its own. */
	u64 a[6] = {};
	bpf_probe_read_kernel(a, sizeof(a), ctx + 16);
	f->arg0 = a[0];
	f->arg1 = a[1];
	f->arg2 = a[2];
	f->arg3 = a[3];
	f->arg4 = a[4];
	f->arg5 = a[5];
	return 0;
}

int kindling_any_syscall_exit(void *ctx)
{
	u32 event_id = kindling_any_syscall_id(ctx);
	if (!event_id)
		return 0;
	long ret = *(long *)(ctx + 16);
	struct kindling_inflight entry;
	struct kindling_record *r = kindling_syscall_exit(event_id, ret, &entry, KINDLING_SHORT);
	if (!r)
		return 0;
	/* Arguments 4 to 6: arg3, then the two words of saddr (record.py). */
	r->arg3 = entry.arg3;
	__builtin_memcpy(r->saddr, &entry.arg4, 8);
	__builtin_memcpy(r->saddr + 8, &entry.arg5, 8);
	kindling_record_commit(ctx, r, KINDLING_SHORT, 0);
	return 0;
}
