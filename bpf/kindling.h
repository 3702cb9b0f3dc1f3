/*
 * Shared definitions for the kindling eBPF programs: the record every program
 * emits, the maps they share and small helpers.
 *
 * Rules for code in this directory:
 *   - Never read kernel structs. The kernel headers BCC compiles against may
 *     not match the running kernel; use tracepoint arguments and BPF helpers.
 *   - Event ids (KINDLING_EV_*) and sizes come from the service's catalogue
 *     (kindling/server/catalog.py) as -D flags; do not hard-code them here.
 *   - The record layout below is mirrored by a numpy dtype in
 *     kindling/server/drivers/records.py; the static asserts pin the offsets.
 *   - BCC loads the programs with the license "GPL" (its default), which the
 *     bpf_probe_read_* helpers require.
 */
#ifndef KINDLING_H
#define KINDLING_H

#ifndef KINDLING_EVENT_COUNT
#error "KINDLING_EVENT_COUNT must come from the service's event catalogue"
#endif

#define KINDLING_PATH_MAX 256
/* Records without a path are exactly this long; records with a path append
 * the NUL-terminated path right after it. perf pads raw samples to 4 mod 8
 * bytes, and 140 is 4 mod 8, so a path record can never look like a plain
 * one. */
#define KINDLING_RECORD_BASE_SIZE 140

/* kindling_record.flags */
#define KINDLING_F_ENTER_SEEN   0x01 /* latency_ns is valid */
#define KINDLING_F_HAS_PATH     0x02 /* a path follows the fixed part */
#define KINDLING_F_SRC_VALID    0x04 /* sport/saddr hold the client end */
#define KINDLING_F_DST_VALID    0x08 /* dport/daddr hold the server end */
#define KINDLING_F_EXIT_CODE    0x10 /* arg0 holds the exit code */
#define KINDLING_F_PATH_RAW     0x20 /* path holds raw sun_path bytes */

#define KINDLING_AF_UNIX  1
#define KINDLING_AF_INET  2
#define KINDLING_AF_INET6 10

struct kindling_record {
	u64 ts;          /*   0: CLOCK_BOOTTIME ns, at syscall exit */
	u64 latency_ns;  /*   8: exit - entry */
	s64 ret;         /*  16: syscall return value */
	u64 cgroup_id;   /*  24 */
	u64 arg0;        /*  32: event specific, see catalog.py */
	u64 arg1;        /*  40 */
	u64 arg2;        /*  48 */
	u32 pid;         /*  56: thread group id */
	u32 tid;         /*  60 */
	u32 uid;         /*  64 */
	u32 gid;         /*  68 */
	u16 event_id;    /*  72 */
	u16 cpu;         /*  74 */
	u16 family;      /*  76: address family of saddr/daddr */
	u16 flags;       /*  78: KINDLING_F_* */
	u16 sport;       /*  80: client port, host order */
	u16 dport;       /*  82: server port, host order */
	u32 path_len;    /*  84: path bytes sent (a string's NUL included) */
	u8 saddr[16];    /*  88: client address (IPv4 in the first 4 bytes) */
	u8 daddr[16];    /* 104: server address */
	char comm[16];   /* 120 */
	u32 reserved1;   /* 136 */
	char path[KINDLING_PATH_MAX]; /* 140: only sent when HAS_PATH */
};

_Static_assert(__builtin_offsetof(struct kindling_record, pid) == 56, "record layout");
_Static_assert(__builtin_offsetof(struct kindling_record, event_id) == 72, "record layout");
_Static_assert(__builtin_offsetof(struct kindling_record, saddr) == 88, "record layout");
_Static_assert(__builtin_offsetof(struct kindling_record, comm) == 120, "record layout");
_Static_assert(__builtin_offsetof(struct kindling_record, path) == KINDLING_RECORD_BASE_SIZE,
	       "record layout");

/* A syscall between its entry and its exit, keyed by thread id. */
struct kindling_inflight {
	u64 ts;
	u64 arg0;
	u64 arg1;
	u64 arg2;
	u64 uptr;       /* user pointer read at exit: a path or a sockaddr */
	u32 event_id;
	u32 reserved;
};

/* One end of a TCP connection; zero-filled so it can be a hash key. */
struct kindling_endpoint {
	u8 addr[16];
	u16 port;
	u16 family;
	u32 reserved;
};

BPF_PERF_OUTPUT(kindling_events);
/* A record plus slack: the verifier bounds a path length by a mask (2x the
 * real maximum), so the buffer must cover that bound. */
struct kindling_scratch_buf {
	struct kindling_record record;
	char slack[KINDLING_PATH_MAX];
};
BPF_PERCPU_ARRAY(kindling_scratch, struct kindling_scratch_buf, 1);
/* [0] = the service's own thread group id: its syscalls never feed back. */
BPF_ARRAY(kindling_self, u32, 1);
/* Per event id: 1 when the event is captured. The service keeps the events
 * that its thread and fd tables depend on always enabled. */
BPF_ARRAY(kindling_enabled, u8, KINDLING_EVENT_COUNT);
BPF_TABLE("lru_hash", u32, struct kindling_inflight, kindling_inflight, 65536);

static __always_inline int kindling_is_self(u32 tgid)
{
	u32 zero = 0;
	u32 *self = kindling_self.lookup(&zero);
	return self && *self == tgid;
}

static __always_inline int kindling_is_enabled(u32 event_id)
{
	u8 *on = kindling_enabled.lookup(&event_id);
	return on && *on;
}

static __always_inline u16 kindling_ntohs(u16 v)
{
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	return __builtin_bswap16(v);
#else
	return v;
#endif
}

/* Start a record in the per-CPU scratch buffer (records are too big for the
 * BPF stack). Returns NULL when the scratch map is unavailable. */
static __always_inline struct kindling_record *kindling_record_begin(u32 event_id, u64 pid_tgid)
{
	u32 zero = 0;
	struct kindling_scratch_buf *buf = kindling_scratch.lookup(&zero);
	if (!buf)
		return 0;
	struct kindling_record *r = &buf->record;
	__builtin_memset(r, 0, KINDLING_RECORD_BASE_SIZE);
	u64 uid_gid = bpf_get_current_uid_gid();
	r->ts = bpf_ktime_get_boot_ns();
	r->cgroup_id = bpf_get_current_cgroup_id();
	r->pid = pid_tgid >> 32;
	r->tid = (u32)pid_tgid;
	r->uid = (u32)uid_gid;
	r->gid = uid_gid >> 32;
	r->event_id = event_id;
	r->cpu = bpf_get_smp_processor_id();
	bpf_get_current_comm(&r->comm, sizeof(r->comm));
	return r;
}

/* Send a record; path_len counts the path bytes (with the NUL) or is 0. */
static __always_inline void kindling_record_submit(void *ctx, struct kindling_record *r, long path_len)
{
	if (path_len <= 0) {
		kindling_events.perf_submit(ctx, r, KINDLING_RECORD_BASE_SIZE);
		return;
	}
	/* Unsigned and masked so the verifier can bound the size. */
	u32 len = (u32)path_len;
	/* Hide len's origin from the compiler, or it reuses the signed value. */
	asm volatile("" : "+r"(len));
	if (len > KINDLING_PATH_MAX)
		len = KINDLING_PATH_MAX;
	len &= (2 * KINDLING_PATH_MAX - 1);
	r->flags |= KINDLING_F_HAS_PATH;
	/* perf pads samples with whatever the ring held: say where the path ends. */
	r->path_len = len;
	kindling_events.perf_submit(ctx, r, KINDLING_RECORD_BASE_SIZE + len);
}

/* Remember a syscall's entry so its exit can be paired with it in the
 * kernel: one record per syscall, carrying the arguments and the latency. */
static __always_inline int kindling_syscall_enter(u32 event_id, u64 arg0, u64 arg1, u64 arg2,
						  u64 uptr)
{
	u64 pid_tgid = bpf_get_current_pid_tgid();
	u32 tid = (u32)pid_tgid;
	if (kindling_is_self(pid_tgid >> 32) || !kindling_is_enabled(event_id))
		return 0;
	struct kindling_inflight f = {};
	f.ts = bpf_ktime_get_boot_ns();
	f.arg0 = arg0;
	f.arg1 = arg1;
	f.arg2 = arg2;
	f.uptr = uptr;
	f.event_id = event_id;
	kindling_inflight.update(&tid, &f);
	return 0;
}

/* Pair a syscall exit with its entry and start its record. The entry's
 * values are copied to *entry. Returns NULL when the entry was not seen
 * (the event was disabled, or capture started mid-syscall). */
static __always_inline struct kindling_record *
kindling_syscall_exit(u32 event_id, long ret, struct kindling_inflight *entry)
{
	u64 pid_tgid = bpf_get_current_pid_tgid();
	u32 tid = (u32)pid_tgid;
	struct kindling_inflight *f = kindling_inflight.lookup(&tid);
	if (!f)
		return 0;
	if (f->event_id != event_id) {
		kindling_inflight.delete(&tid);
		return 0;
	}
	__builtin_memcpy(entry, f, sizeof(*entry));
	kindling_inflight.delete(&tid);
	struct kindling_record *r = kindling_record_begin(event_id, pid_tgid);
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

/* The exit of a syscall whose record needs nothing beyond its entry's
 * arguments and its return value. */
#define KINDLING_SIMPLE_EXIT(name, event_id)                                        \
	TRACEPOINT_PROBE(syscalls, sys_exit_##name)                                 \
	{                                                                           \
		struct kindling_inflight entry;                                     \
		struct kindling_record *r = kindling_syscall_exit(event_id, args->ret, &entry); \
		if (r)                                                              \
			kindling_record_submit(args, r, 0);                         \
		return 0;                                                           \
	}

#endif /* KINDLING_H */
