/*
 * Process life cycle from the sched and task tracepoints: exec, fork (new
 * processes only, not threads) and exit (when the whole thread group is gone).
 */
#include "kindling.h"

#define KINDLING_CLONE_THREAD 0x00010000ULL

/* clone flags seen at task:task_newtask, read by sched_process_fork (both fire
 * in the parent, in that order), keyed by the parent's thread id. */
BPF_TABLE("lru_hash", u32, u64, kindling_clone_flags, 16384);
/* exit_group() codes, keyed by thread group id, read at the group's exit. The
 * service attaches sys_enter_exit_group only while process_exit is delivered:
 * as a syscall tracepoint it slows every syscall a little. */
BPF_TABLE("lru_hash", u32, s32, kindling_exit_codes, 16384);

TRACEPOINT_PROBE(sched, sched_process_exec)
{
	u64 pid_tgid = bpf_get_current_pid_tgid();
	if (!kindling_wanted(KINDLING_EV_PROCESS_EXEC, pid_tgid))
		return 0;
	struct kindling_record *r =
		kindling_record_begin(KINDLING_EV_PROCESS_EXEC, pid_tgid, KINDLING_LONG);
	if (!r)
		return 0;
	r->arg0 = args->old_pid;
	unsigned short offset = args->data_loc_filename & 0xFFFF;
	long n = bpf_probe_read_kernel_str(r->path, KINDLING_PATH_MAX, (char *)args + offset);
	kindling_record_commit(args, r, KINDLING_LONG, n);
	return 0;
}

TRACEPOINT_PROBE(task, task_newtask)
{
	u32 tid = (u32)bpf_get_current_pid_tgid();
	u64 flags = args->clone_flags;
	kindling_clone_flags.update(&tid, &flags);
	return 0;
}

TRACEPOINT_PROBE(sched, sched_process_fork)
{
	u64 pid_tgid = bpf_get_current_pid_tgid();
	u32 tid = (u32)pid_tgid;
	u64 flags = 0;
	u64 *seen = kindling_clone_flags.lookup(&tid);
	if (seen) {
		flags = *seen;
		kindling_clone_flags.delete(&tid);
	}
	if ((flags & KINDLING_CLONE_THREAD) || !kindling_wanted(KINDLING_EV_PROCESS_FORK, pid_tgid))
		return 0;
	struct kindling_record *r =
		kindling_record_begin(KINDLING_EV_PROCESS_FORK, pid_tgid, KINDLING_SHORT);
	if (!r)
		return 0;
	r->arg0 = args->child_pid;
	r->arg1 = flags;
	kindling_record_commit(args, r, KINDLING_SHORT, 0);
	return 0;
}

TRACEPOINT_PROBE(syscalls, sys_enter_exit_group)
{
	u32 tgid = bpf_get_current_pid_tgid() >> 32;
	s32 code = args->error_code;
	kindling_exit_codes.update(&tgid, &code);
	return 0;
}

TRACEPOINT_PROBE(sched, sched_process_exit)
{
	u64 pid_tgid = bpf_get_current_pid_tgid();
	u32 tid = (u32)pid_tgid;
	u32 tgid = pid_tgid >> 32;
	/* A thread that dies inside a syscall never reaches its exit: free its
	 * slot for the next thread with its id. */
	struct kindling_inflight *slot = kindling_inflight_slot(tid, 0);
	if (slot)
		slot->event_id = 0;
#ifdef KINDLING_HAVE_GROUP_DEAD
	if (!args->group_dead)
		return 0;
#else
	if (tid != tgid)
		return 0;
#endif
	s32 *code = kindling_exit_codes.lookup(&tgid);
	s32 exit_code = code ? *code : 0;
	if (code)
		kindling_exit_codes.delete(&tgid);
	if (!kindling_wanted(KINDLING_EV_PROCESS_EXIT, pid_tgid))
		return 0;
	struct kindling_record *r =
		kindling_record_begin(KINDLING_EV_PROCESS_EXIT, pid_tgid, KINDLING_SHORT);
	if (!r)
		return 0;
	if (code) {
		r->arg0 = (u64)(s64)exit_code;
		r->flags |= KINDLING_F_EXIT_CODE;
	}
	kindling_record_commit(args, r, KINDLING_SHORT, 0);
	return 0;
}
