/*
 * Process life cycle from the sched and task tracepoints: exec (with its
 * arguments), fork (new processes only, not threads) and exit (when the
 * whole thread group is gone, with its exit code or fatal signal); and the
 * process syscalls: clone, clone3, fork, vfork, kill and tgkill.
 */
#include "kindling.h"

#define KINDLING_CLONE_THREAD 0x00010000ULL
/* An exec's arguments: at most this many, and the data area's bytes. */
#define KINDLING_MAX_ARGS 32

/* An exec's arguments are gathered here (twice the data area: see payload.h). */
struct kindling_exec_args {
	u8 bytes[2 * KINDLING_DATA_CAPACITY];
};
BPF_PERCPU_ARRAY(kindling_exec_scratch, struct kindling_exec_args, 1);
/* clone flags seen at task:task_newtask, read by sched_process_fork (both fire
 * in the parent, in that order), keyed by the parent's thread id. */
BPF_TABLE("lru_hash", u32, u64, kindling_clone_flags, 16384);
/* exit codes (exit_group, or the leader's exit), keyed by thread group id,
 * read at the group's exit. The service attaches these syscall tracepoints
 * only while process_exit is delivered: they slow every syscall a little. */
BPF_TABLE("lru_hash", u32, s32, kindling_exit_codes, 16384);
/* Fatal signals delivered with their default action, by thread group id:
 * the process dies of the first one. */
BPF_TABLE("lru_hash", u32, s32, kindling_exit_signals, 16384);
/* The last signal sent to a process that would end it by default, by the
 * target's id. A fatal signal sent to a process reaches its threads as
 * SIGKILL (the kernel's group exit), so the delivery alone cannot tell
 * which signal it was. */
BPF_TABLE("lru_hash", u32, s32, kindling_signals_sent, 16384);

/* Signals whose default action ends the process (signal(7)); the others
 * are ignored, stop or continue it. */
static __always_inline int kindling_fatal_by_default(int sig)
{
	switch (sig) {
	case 17: /* SIGCHLD */
	case 18: /* SIGCONT */
	case 19: /* SIGSTOP */
	case 20: /* SIGTSTP */
	case 21: /* SIGTTIN */
	case 22: /* SIGTTOU */
	case 23: /* SIGURG */
	case 28: /* SIGWINCH */
		return 0;
	}
	return sig > 0 && sig <= 64;
}

/* The new program's arguments, into a data record's data area, NUL-separated.
 * At sched_process_exec the new program's stack is set up and the thread's
 * user registers point at it: the stack pointer at argc, then argv[] (the
 * ELF start-up ABI). The stack pointer's place in the architecture's entry
 * frame (struct pt_regs, fixed by its entry code) comes from the service as
 * KINDLING_PT_REGS_SP: including the kernel's ptrace.h would double the
 * programs' compile time. */
static __always_inline void kindling_read_args(struct kindling_record *r)
{
#if defined(KINDLING_HAVE_TASK_PT_REGS) && defined(KINDLING_PT_REGS_SP)
	u32 zero = 0;
	struct kindling_exec_args *a = kindling_exec_scratch.lookup(&zero);
	if (!a)
		return;
	u64 regs = (u64)bpf_task_pt_regs(bpf_get_current_task_btf());
	u64 sp = 0;
	u64 argc = 0;
	if (!regs || bpf_probe_read_kernel(&sp, sizeof(sp), (void *)(regs + KINDLING_PT_REGS_SP)) ||
	    bpf_probe_read_user(&argc, sizeof(argc), (void *)sp))
		return;
	u64 off = 0;
	int truncated = argc > KINDLING_MAX_ARGS;
	for (int i = 0; i < KINDLING_MAX_ARGS; i++) {
		if (i >= argc)
			break;
		if (off >= KINDLING_DATA_CAPACITY) {
			truncated = 1;
			break;
		}
		u64 arg = 0;
		if (bpf_probe_read_user(&arg, sizeof(arg), (void *)(sp + 8 + i * 8)) || !arg)
			break;
		long n = bpf_probe_read_user_str(a->bytes + off, KINDLING_DATA_CAPACITY, (void *)arg);
		if (n <= 0)
			break;
		off += n;
	}
	if (off > KINDLING_DATA_CAPACITY) {
		off = KINDLING_DATA_CAPACITY;
		truncated = 1;
	}
	if (!bpf_probe_read_kernel(r->data, off, a->bytes))
		r->data_len = off;
	if (truncated)
		r->flags |= KINDLING_F_DATA_TRUNCATED;
#endif
}

TRACEPOINT_PROBE(sched, sched_process_exec)
{
	u64 pid_tgid = bpf_get_current_pid_tgid();
	/* A new program: the process has not died of a signal yet. */
	u32 tgid = pid_tgid >> 32;
	kindling_exit_signals.delete(&tgid);
	if (!kindling_wanted(KINDLING_EV_PROCESS_EXEC, pid_tgid))
		return 0;
	struct kindling_record *r =
		kindling_record_begin(KINDLING_EV_PROCESS_EXEC, pid_tgid, KINDLING_DATA);
	if (!r)
		return 0;
	r->arg0 = args->old_pid;
	unsigned short offset = args->data_loc_filename & 0xFFFF;
	long n = bpf_probe_read_kernel_str(r->path, KINDLING_PATH_MAX, (char *)args + offset);
	kindling_read_args(r);
	kindling_record_commit(args, r, KINDLING_DATA, n);
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

/* exit() ends one thread; the leader's code is the process's, unless
 * another thread calls exit_group. */
TRACEPOINT_PROBE(syscalls, sys_enter_exit)
{
	u64 pid_tgid = bpf_get_current_pid_tgid();
	u32 tgid = pid_tgid >> 32;
	if ((u32)pid_tgid != tgid)
		return 0;
	s32 code = args->error_code;
	kindling_exit_codes.update(&tgid, &code);
	return 0;
}

TRACEPOINT_PROBE(signal, signal_generate)
{
	/* result 0: TRACE_SIGNAL_DELIVERED (queued for the target) */
	if (args->result != 0 || !kindling_fatal_by_default(args->sig))
		return 0;
	u32 target = args->pid;
	s32 sig = args->sig;
	kindling_signals_sent.update(&target, &sig);
	return 0;
}

TRACEPOINT_PROBE(signal, signal_deliver)
{
	/* SIG_DFL is 0: the signal's default action, which may end the process. */
	if (args->sa_handler != 0 || !kindling_fatal_by_default(args->sig))
		return 0;
	u32 tgid = bpf_get_current_pid_tgid() >> 32;
	s32 sig = args->sig;
	/* The first: the others (SIGKILL to each thread) follow from it. */
	kindling_exit_signals.insert(&tgid, &sig);
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
	s32 *signal = kindling_exit_signals.lookup(&tgid);
	s32 exit_signal = signal ? *signal : 0;
	if (signal)
		kindling_exit_signals.delete(&tgid);
	s32 *sent = kindling_signals_sent.lookup(&tgid);
	if (sent) {
		if (exit_signal == 9) /* SIGKILL: maybe the group exit of the signal sent */
			exit_signal = *sent;
		kindling_signals_sent.delete(&tgid);
	}
	if (!kindling_wanted(KINDLING_EV_PROCESS_EXIT, pid_tgid))
		return 0;
	struct kindling_record *r =
		kindling_record_begin(KINDLING_EV_PROCESS_EXIT, pid_tgid, KINDLING_SHORT);
	if (!r)
		return 0;
	if (exit_signal) {
		/* Killed: whatever exit code a thread gave on its way does not count. */
		r->arg1 = exit_signal;
		r->flags |= KINDLING_F_EXIT_SIGNAL;
	} else if (code) {
		r->arg0 = (u64)(s64)exit_code;
		r->flags |= KINDLING_F_EXIT_CODE;
	}
	kindling_record_commit(args, r, KINDLING_SHORT, 0);
	return 0;
}

/* The process syscalls; the child they create is process_fork's. */
TRACEPOINT_PROBE(syscalls, sys_enter_clone)
{
	return kindling_syscall_enter(KINDLING_EV_CLONE, args->clone_flags, 0, 0, 0);
}

KINDLING_SIMPLE_EXIT(clone, KINDLING_EV_CLONE)

#ifdef KINDLING_HAVE_SYS_CLONE3
TRACEPOINT_PROBE(syscalls, sys_enter_clone3)
{
	u64 flags = 0; /* struct clone_args starts with its flags */
	bpf_probe_read_user(&flags, sizeof(flags), args->uargs);
	return kindling_syscall_enter(KINDLING_EV_CLONE3, flags, 0, 0, 0);
}

KINDLING_SIMPLE_EXIT(clone3, KINDLING_EV_CLONE3)
#endif

#ifdef KINDLING_HAVE_SYS_FORK
TRACEPOINT_PROBE(syscalls, sys_enter_fork)
{
	return kindling_syscall_enter(KINDLING_EV_FORK, 0, 0, 0, 0);
}

KINDLING_SIMPLE_EXIT(fork, KINDLING_EV_FORK)
#endif

#ifdef KINDLING_HAVE_SYS_VFORK
TRACEPOINT_PROBE(syscalls, sys_enter_vfork)
{
	return kindling_syscall_enter(KINDLING_EV_VFORK, 0, 0, 0, 0);
}

KINDLING_SIMPLE_EXIT(vfork, KINDLING_EV_VFORK)
#endif

TRACEPOINT_PROBE(syscalls, sys_enter_kill)
{
	return kindling_syscall_enter(KINDLING_EV_KILL, (u64)(s64)args->pid, (u64)(s64)args->sig, 0,
				      0);
}

KINDLING_SIMPLE_EXIT(kill, KINDLING_EV_KILL)

TRACEPOINT_PROBE(syscalls, sys_enter_tgkill)
{
	return kindling_syscall_enter(KINDLING_EV_TGKILL, (u64)(s64)args->tgid,
				      (u64)(s64)args->pid, (u64)(s64)args->sig, 0);
}

KINDLING_SIMPLE_EXIT(tgkill, KINDLING_EV_TGKILL)
