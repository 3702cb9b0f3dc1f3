/*
 * Shared definitions for the kindling eBPF programs: the filters every
 * program applies first, the kernel counters, syscall entry/exit pairing and
 * the start and commit of a record.
 *
 * Rules for code in this directory:
 *   - Never read kernel structs. The kernel headers BCC compiles against may
 *     not match the running kernel; use tracepoint arguments and BPF helpers.
 *   - Event ids (KINDLING_EV_*), the event control bits (KINDLING_EVC_*) and
 *     sizes come from the service as -D flags; do not hard-code them here.
 *   - The record layout is bpf/kindling_record.h, generated from the service's
 *     kindling/server/record.py; change it there. bpf/transport.h says how
 *     records leave the kernel.
 *   - BCC rewrites map method calls (map.lookup()) only in the main
 *     translation unit, so the driver concatenates the files (record, transport,
 *     this header, then the probe families) instead of #including them.
 *   - BCC loads the programs with the license "GPL" (its default), which the
 *     bpf_probe_read_* helpers require.
 *
 * The service attaches a program only while its event is wanted (by a
 * subscriber, Configure, or the thread and fd tables that give events their
 * context), so a syscall nobody asked for costs the traced process nothing.
 * An attached program filters before doing any work, and counts what it
 * filtered, emitted and lost, per event and per CPU.
 */
#ifndef KINDLING_H
#define KINDLING_H

#ifndef KINDLING_EVENT_COUNT
#error "KINDLING_EVENT_COUNT must come from the service's event catalogue"
#endif

#define KINDLING_AF_UNIX  1
#define KINDLING_AF_INET  2
#define KINDLING_AF_INET6 10

/* Service-wide settings, written by the service: [0]. */
struct kindling_config {
	u32 self_pid;   /* the service's thread group id: its syscalls never feed back */
	u32 deny_pids;  /* 1 when kindling_pid_deny has entries */
	u32 deny_comms; /* 1 when kindling_comm_deny has entries */
	u32 snaplen;    /* the most payload bytes an event carries (payload.h) */
};

struct kindling_counters {
	u64 emitted;  /* records committed to the buffer */
	u64 filtered; /* calls the filters below dropped */
	u64 lost;     /* records the buffer had no room for */
	u64 reserved;
};

struct kindling_comm {
	char comm[16];
};

/* A syscall between its entry and its exit. */
struct kindling_inflight {
	u64 ts;
	u64 arg0;
	u64 arg1;
	u64 arg2;
	u64 arg3;
	u64 arg4;
	u64 arg5;
	u64 uptr;       /* user pointer read at exit: a path, a buffer, a sockaddr */
	u64 uptr2;      /* a second one: a sockaddr, a second path */
	u32 tgid;
	u32 event_id;   /* 0 once the exit used it */
	u32 epoch;
	u32 flags;      /* KINDLING_IF_*: what the call did on its way */
};

/* kindling_inflight.flags */
#define KINDLING_IF_SOCKET 0x1 /* the call moved data through a socket */

/* One end of a TCP connection; zero-filled so it can be a hash key. */
struct kindling_endpoint {
	u8 addr[16];
	u16 port;
	u16 family;
	u32 reserved;
};

BPF_ARRAY(kindling_config, struct kindling_config, 1);
/* Per event id: how it is captured. The epoch grows each time the event's
 * programs are attached, so an exit never pairs with an entry left over from
 * an earlier attachment (one whose exit the probe did not see). */
struct kindling_event_control {
	u32 bits; /* KINDLING_EVC_* */
	u32 epoch;
};
BPF_ARRAY(kindling_event_control, struct kindling_event_control, KINDLING_EVENT_COUNT);
/* Sets of thread group ids as bitmaps: bit (pid & 63) of word pid >> 6, for
 * every pid up to the kernel's pid_max. The verifier inlines array lookups;
 * a hash lookup would cost a call on every filtered syscall. */
/* The processes pid-scoped events are captured for. */
BPF_ARRAY(kindling_pid_allow, u64, KINDLING_PID_WORDS);
/* The processes nothing is captured for. */
BPF_ARRAY(kindling_pid_deny, u64, KINDLING_PID_WORDS);
/* The cgroups (v2 ids, the same bitmap layout) cgroup-scoped events are
 * captured for; the service scopes by cgroup only when every allowed id has
 * a bit here. */
BPF_ARRAY(kindling_cgroup_allow, u64, KINDLING_CGROUP_WORDS);
/* Thread names nothing is captured for. */
BPF_HASH(kindling_comm_deny, struct kindling_comm, u8, KINDLING_MAX_DENY_COMMS);
/* Counters per CPU and event, at [cpu * KINDLING_COUNTER_ROW + event id]: each
 * CPU writes only its own row, so no atomics are needed, and the service
 * reads them from the map's mapped memory, without a system call. */
BPF_F_TABLE("array", u32, struct kindling_counters, kindling_counters,
	    KINDLING_MAX_CPUS * KINDLING_COUNTER_ROW, BPF_F_MMAPABLE);

BPF_ARRAY(kindling_inflight_slots, struct kindling_inflight, KINDLING_TID_SLOTS);
#ifdef KINDLING_TASK_STORAGE
/* Task-local storage: found through the task itself and freed with it. */
BPF_TASK_STORAGE(kindling_inflight, struct kindling_inflight);
#else
BPF_TABLE("lru_hash", u32, struct kindling_inflight, kindling_inflight, 65536);
#endif

static __always_inline u16 kindling_ntohs(u16 v)
{
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	return __builtin_bswap16(v);
#else
	return v;
#endif
}

static __always_inline int kindling_pid_allowed(u32 tgid)
{
	u32 word = tgid >> 6;
	u64 *bits = kindling_pid_allow.lookup(&word);
	return bits && (*bits >> (tgid & 63) & 1);
}

static __always_inline int kindling_pid_denied(u32 tgid)
{
	u32 word = tgid >> 6;
	u64 *bits = kindling_pid_deny.lookup(&word);
	return bits && (*bits >> (tgid & 63) & 1);
}

static __always_inline int kindling_cgroup_allowed(u64 cgroup)
{
	u32 word = cgroup >> 6;
	u64 *bits = cgroup >> 6 < KINDLING_CGROUP_WORDS ? kindling_cgroup_allow.lookup(&word) : 0;
	return bits && (*bits >> (cgroup & 63) & 1);
}

static __always_inline struct kindling_counters *kindling_counters_of(u32 event_id)
{
	u32 slot = bpf_get_smp_processor_id() * KINDLING_COUNTER_ROW + event_id;
	return kindling_counters.lookup(&slot);
}

static __always_inline void kindling_count_filtered(u32 event_id)
{
	struct kindling_counters *c = kindling_counters_of(event_id);
	if (c)
		c->filtered++;
}

/* Whether an event of a thread is captured, by the filters merged from every
 * subscriber and Configure; returns the event's control when it is. The
 * thread is the current one when `current` (a constant at each call site),
 * else the one `tgid`, `cgroup` and `comm` describe (a socket's owner). */
static __always_inline struct kindling_event_control *
kindling_wanted_by(u32 event_id, u32 tgid, u64 cgroup, const char *comm, int current)
{
	u32 zero = 0;
	struct kindling_event_control *control = kindling_event_control.lookup(&event_id);
	struct kindling_config *config = kindling_config.lookup(&zero);
	if (!control || !config || !(control->bits & KINDLING_EVC_CAPTURE) ||
	    config->self_pid == tgid)
		return 0;
	if ((control->bits & KINDLING_EVC_PID_SCOPED) && !kindling_pid_allowed(tgid))
		goto filtered;
	if (config->deny_pids && kindling_pid_denied(tgid))
		goto filtered;
	if ((control->bits & KINDLING_EVC_CGROUP_SCOPED) &&
	    !kindling_cgroup_allowed(current ? bpf_get_current_cgroup_id() : cgroup))
		goto filtered;
	if (config->deny_comms) {
		struct kindling_comm name = {};
		if (current)
			bpf_get_current_comm(&name.comm, sizeof(name.comm));
		else
			__builtin_memcpy(name.comm, comm, sizeof(name.comm));
		if (kindling_comm_deny.lookup(&name))
			goto filtered;
	}
	return control;
filtered:
	kindling_count_filtered(event_id);
	return 0;
}

static __always_inline struct kindling_event_control *kindling_wanted(u32 event_id, u64 pid_tgid)
{
	return kindling_wanted_by(event_id, pid_tgid >> 32, 0, 0, 1);
}

/* Start a record of a class (transport.h) in the transport's buffer, every
 * fixed field written (no memset) but whose thread it is: the caller sets
 * that and what the event carries. Returns NULL, counted as lost, when the
 * buffer is full. */
static __always_inline struct kindling_record *kindling_record_reserve(u32 event_id, int cls)
{
	struct kindling_record *r = kindling_reserve(cls);
	if (!r) {
		struct kindling_counters *c = kindling_counters_of(event_id);
		if (c)
			c->lost++;
		return 0;
	}
	r->ts = bpf_ktime_get_boot_ns();
	r->latency_ns = 0;
	r->ret = 0;
	r->arg0 = 0;
	r->arg1 = 0;
	r->arg2 = 0;
	r->arg3 = 0;
	r->event_id = event_id;
	r->cpu = bpf_get_smp_processor_id();
	r->family = 0;
	r->flags = 0;
	r->sport = 0;
	r->dport = 0;
	r->path_len = 0;
	r->data_len = 0;
	__builtin_memset(r->saddr, 0, sizeof(r->saddr));
	__builtin_memset(r->daddr, 0, sizeof(r->daddr));
	return r;
}

/* Start a record of the current thread (see kindling_record_reserve). */
static __always_inline struct kindling_record *kindling_record_begin(u32 event_id, u64 pid_tgid,
								     int cls)
{
	struct kindling_record *r = kindling_record_reserve(event_id, cls);
	if (!r)
		return 0;
	u64 uid_gid = bpf_get_current_uid_gid();
	r->cgroup_id = bpf_get_current_cgroup_id();
	r->pid = pid_tgid >> 32;
	r->tid = (u32)pid_tgid;
	r->uid = (u32)uid_gid;
	r->gid = uid_gid >> 32;
	bpf_get_current_comm(&r->comm, sizeof(r->comm));
	return r;
}

/* Send a record; path_len counts the path bytes (with a string's NUL), or
 * is 0 (long and data records only). A data record's data_len is set by
 * the caller. */
static __always_inline void kindling_record_commit(void *ctx, struct kindling_record *r,
						   int cls, long path_len)
{
	u32 event_id = r->event_id;
	if (cls == KINDLING_DATA && r->data_len)
		r->flags |= KINDLING_F_HAS_DATA;
	if (cls != KINDLING_SHORT && path_len > 0) {
		u32 len = (u32)path_len;
		if (len > KINDLING_PATH_MAX)
			len = KINDLING_PATH_MAX;
		r->path_len = len;
		r->flags |= KINDLING_F_HAS_PATH;
	}
	struct kindling_counters *c = kindling_counters_of(event_id);
	/* Wake the reader every so many records of an event on this CPU. */
	int wake = c && (c->emitted + 1) % KINDLING_WAKEUP_RECORDS == 0;
	int error = kindling_commit(ctx, r, cls, wake);
	if (!c)
		return;
	if (error)
		c->lost++;
	else
		c->emitted++;
}

/* Where a thread's entry waits for its exit. Threads whose id is below
 * KINDLING_TID_SLOTS have a slot of their own in an array, found by the
 * inlined array lookup; the others (kernels with a large pid_max) use
 * task-local storage where the kernel has it, or an LRU hash. Measured on the
 * machine this was written on: an array slot costs nothing worth counting,
 * task storage and hash lookups about 200 ns each, per entry and per exit. */
static __always_inline struct kindling_inflight *kindling_inflight_slot(u32 tid, int create)
{
	if (tid < KINDLING_TID_SLOTS)
		return kindling_inflight_slots.lookup(&tid);
#ifdef KINDLING_TASK_STORAGE
	return kindling_inflight.task_storage_get((void *)bpf_get_current_task_btf(), 0,
						  create ? BPF_LOCAL_STORAGE_GET_F_CREATE : 0);
#else
	if (create) {
		struct kindling_inflight blank = {};
		kindling_inflight.update(&tid, &blank);
	}
	return kindling_inflight.lookup(&tid);
#endif
}

/* Remember a syscall's entry so its exit can be paired with it in the
 * kernel: one record per syscall, carrying the arguments and the latency.
 * Returns the entry's slot, arguments zeroed, for the caller to fill; NULL
 * when the call is not captured. */
static __always_inline struct kindling_inflight *kindling_syscall_begin(u32 event_id)
{
	u64 pid_tgid = bpf_get_current_pid_tgid();
	struct kindling_event_control *control = kindling_wanted(event_id, pid_tgid);
	if (!control)
		return 0;
	struct kindling_inflight *f = kindling_inflight_slot((u32)pid_tgid, 1);
	if (!f)
		return 0;
	f->ts = bpf_ktime_get_boot_ns();
	f->arg0 = 0;
	f->arg1 = 0;
	f->arg2 = 0;
	f->arg3 = 0;
	f->arg4 = 0;
	f->arg5 = 0;
	f->uptr = 0;
	f->uptr2 = 0;
	f->tgid = pid_tgid >> 32;
	f->event_id = event_id;
	f->epoch = control->epoch;
	f->flags = 0;
	return f;
}

static __always_inline int kindling_syscall_enter(u32 event_id, u64 arg0, u64 arg1, u64 arg2,
						  u64 uptr)
{
	struct kindling_inflight *f = kindling_syscall_begin(event_id);
	if (f) {
		f->arg0 = arg0;
		f->arg1 = arg1;
		f->arg2 = arg2;
		f->uptr = uptr;
	}
	return 0;
}

/* Pair a syscall exit with its entry, whose values are copied to *entry.
 * Returns the event's control when the call is to be emitted; NULL when the
 * entry was not seen (the event was filtered, or capture started
 * mid-syscall) or when the event drops failed calls and this one failed. */
static __always_inline struct kindling_event_control *
kindling_syscall_paired(u32 event_id, long ret, struct kindling_inflight *entry)
{
	u64 pid_tgid = bpf_get_current_pid_tgid();
	struct kindling_event_control *control = kindling_event_control.lookup(&event_id);
	/* The entry's filters, again: cheap, and a filtered call then skips the
	 * lookup of an entry it never stored. */
	if (!control || !(control->bits & KINDLING_EVC_CAPTURE))
		return 0;
	if ((control->bits & KINDLING_EVC_PID_SCOPED) && !kindling_pid_allowed(pid_tgid >> 32))
		return 0;
	struct kindling_inflight *f = kindling_inflight_slot((u32)pid_tgid, 0);
	if (!f || f->event_id != event_id)
		return 0;
	__builtin_memcpy(entry, f, sizeof(*entry));
	f->event_id = 0;
	/* An entry of another epoch, or left by a thread that died in its
	 * syscall and whose id was reused, is not this call's. */
	if (entry->epoch != control->epoch || entry->tgid != pid_tgid >> 32)
		return 0;
	if ((control->bits & KINDLING_EVC_DROP_FAILED) && ret <= 0) {
		kindling_count_filtered(event_id);
		return 0;
	}
	return control;
}

/* Start the record of a paired syscall exit, in a record class. Returns
 * NULL when the buffer is full. */
static __always_inline struct kindling_record *
kindling_syscall_record(u32 event_id, long ret, struct kindling_inflight *entry, int cls)
{
	struct kindling_record *r =
		kindling_record_begin(event_id, bpf_get_current_pid_tgid(), cls);
	if (!r)
		return 0;
	r->ret = ret;
	r->latency_ns = r->ts - entry->ts;
	r->flags = KINDLING_F_ENTER_SEEN;
	r->arg0 = entry->arg0;
	r->arg1 = entry->arg1;
	r->arg2 = entry->arg2;
	return r;
}

/* Pair a syscall exit with its entry and start its record: NULL when the
 * call is not emitted (see kindling_syscall_paired) or the buffer is full. */
static __always_inline struct kindling_record *
kindling_syscall_exit(u32 event_id, long ret, struct kindling_inflight *entry, int cls)
{
	if (!kindling_syscall_paired(event_id, ret, entry))
		return 0;
	return kindling_syscall_record(event_id, ret, entry, cls);
}

/* The exit of a syscall whose record needs nothing beyond its entry's
 * arguments and its return value. */
#define KINDLING_SIMPLE_EXIT(name, event_id)                                             \
	TRACEPOINT_PROBE(syscalls, sys_exit_##name)                                      \
	{                                                                                \
		struct kindling_inflight entry;                                          \
		struct kindling_record *r =                                              \
			kindling_syscall_exit(event_id, args->ret, &entry, KINDLING_SHORT); \
		if (r)                                                                   \
			kindling_record_commit(args, r, KINDLING_SHORT, 0);              \
		return 0;                                                                \
	}

#endif /* KINDLING_H */
