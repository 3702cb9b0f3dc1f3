/*
 * The kernel record every eBPF program emits, and its flag bits.
 * Generated from server/src/kindling/server/record.py by `make generate`;
 * do not edit (a unit test fails when this file is out of date).
 */
#ifndef KINDLING_RECORD_H
#define KINDLING_RECORD_H

#define KINDLING_PATH_MAX 256
#define KINDLING_RECORD_SIZE 144
#define KINDLING_LONG_RECORD_SIZE 400
/* The data area's size (a multiple of 8, at most 4096) comes from the service. */
#ifndef KINDLING_DATA_CAPACITY
#error "KINDLING_DATA_CAPACITY must come from the service"
#endif
#define KINDLING_DATA_RECORD_SIZE (KINDLING_LONG_RECORD_SIZE + KINDLING_DATA_CAPACITY)

/* kindling_record.flags */
#define KINDLING_F_ENTER_SEEN 0x001 /* latency_ns is valid */
#define KINDLING_F_HAS_PATH 0x002 /* path holds path_len valid bytes */
#define KINDLING_F_SRC_VALID 0x004 /* sport/saddr hold the client end */
#define KINDLING_F_DST_VALID 0x008 /* dport/daddr hold the server end */
#define KINDLING_F_EXIT_CODE 0x010 /* arg0 holds the exit code */
#define KINDLING_F_PATH_RAW 0x020 /* path holds raw sun_path bytes */
#define KINDLING_F_DATA_TRUNCATED 0x040 /* data was cut to the data area's size */
#define KINDLING_F_ON_SOCKET 0x080 /* the call moved data through a socket */
#define KINDLING_F_ARG3_VALID 0x100 /* arg3 holds a value (events whose arg3 may be absent) */
#define KINDLING_F_EXIT_SIGNAL 0x200 /* arg1 holds the signal that ended the process */
#define KINDLING_F_HAS_DATA 0x400 /* data holds data_len valid bytes */

struct kindling_record {
	u64 ts; /*   0: CLOCK_BOOTTIME ns: at syscall exit, or when the tracepoint fired */
	u64 latency_ns; /*   8: syscall exit - entry */
	s64 ret; /*  16: syscall return value */
	u64 cgroup_id; /*  24: cgroup v2 id of the thread */
	u64 arg0; /*  32: event specific (see catalog.py) */
	u64 arg1; /*  40: event specific */
	u64 arg2; /*  48: event specific */
	u64 arg3; /*  56: event specific; with a payload, the bytes the call moved */
	u32 pid; /*  64: thread group id */
	u32 tid; /*  68: thread id */
	u32 uid; /*  72 */
	u32 gid; /*  76 */
	u16 event_id; /*  80: catalogue id */
	u16 cpu; /*  82 */
	u16 family; /*  84: address family of saddr/daddr */
	u16 flags; /*  86: KINDLING_F_* */
	u16 sport; /*  88: client port, host order (TCP events: the local port) */
	u16 dport; /*  90: server port, host order (TCP events: the remote port) */
	u16 path_len; /*  92: valid bytes of path (a string's NUL included) */
	u16 data_len; /*  94: valid bytes of data (data records) */
	u8 saddr[16]; /*  96: client address, IPv4 in the first 4 bytes (TCP: local; any syscall: args 5, 6) */
	u8 daddr[16]; /* 112: server address (TCP events: remote) */
	char comm[16]; /* 128: thread name */
	char path[KINDLING_PATH_MAX]; /* 144: long and data records */
	u8 data[KINDLING_DATA_CAPACITY]; /* 400: data records only */
};

_Static_assert(__builtin_offsetof(struct kindling_record, ts) == 0, "record layout");
_Static_assert(__builtin_offsetof(struct kindling_record, latency_ns) == 8, "record layout");
_Static_assert(__builtin_offsetof(struct kindling_record, ret) == 16, "record layout");
_Static_assert(__builtin_offsetof(struct kindling_record, cgroup_id) == 24, "record layout");
_Static_assert(__builtin_offsetof(struct kindling_record, arg0) == 32, "record layout");
_Static_assert(__builtin_offsetof(struct kindling_record, arg1) == 40, "record layout");
_Static_assert(__builtin_offsetof(struct kindling_record, arg2) == 48, "record layout");
_Static_assert(__builtin_offsetof(struct kindling_record, arg3) == 56, "record layout");
_Static_assert(__builtin_offsetof(struct kindling_record, pid) == 64, "record layout");
_Static_assert(__builtin_offsetof(struct kindling_record, tid) == 68, "record layout");
_Static_assert(__builtin_offsetof(struct kindling_record, uid) == 72, "record layout");
_Static_assert(__builtin_offsetof(struct kindling_record, gid) == 76, "record layout");
_Static_assert(__builtin_offsetof(struct kindling_record, event_id) == 80, "record layout");
_Static_assert(__builtin_offsetof(struct kindling_record, cpu) == 82, "record layout");
_Static_assert(__builtin_offsetof(struct kindling_record, family) == 84, "record layout");
_Static_assert(__builtin_offsetof(struct kindling_record, flags) == 86, "record layout");
_Static_assert(__builtin_offsetof(struct kindling_record, sport) == 88, "record layout");
_Static_assert(__builtin_offsetof(struct kindling_record, dport) == 90, "record layout");
_Static_assert(__builtin_offsetof(struct kindling_record, path_len) == 92, "record layout");
_Static_assert(__builtin_offsetof(struct kindling_record, data_len) == 94, "record layout");
_Static_assert(__builtin_offsetof(struct kindling_record, saddr) == 96, "record layout");
_Static_assert(__builtin_offsetof(struct kindling_record, daddr) == 112, "record layout");
_Static_assert(__builtin_offsetof(struct kindling_record, comm) == 128, "record layout");
_Static_assert(__builtin_offsetof(struct kindling_record, path) == KINDLING_RECORD_SIZE,
	       "record layout");
_Static_assert(__builtin_offsetof(struct kindling_record, data) == KINDLING_LONG_RECORD_SIZE,
	       "record layout");

#endif /* KINDLING_RECORD_H */
