/*
 * Payload capture: the first bytes an I/O call moved (for a read, what it
 * read), copied from the application's buffers into a data record's data
 * area, at most the configured snaplen (kindling_config.snaplen) and the
 * area's capacity. The record's arg3 holds how many bytes the call moved in
 * all, so the service can tell a cut payload (KINDLING_F_DATA_TRUNCATED).
 *
 * An event's payload is copied only while a subscriber wants it
 * (KINDLING_EVC_PAYLOAD), and by default only for sockets: the
 * sock:sock_send_length and sock:sock_recv_length tracepoints, attached
 * only then, mark the current call as one on a socket (KINDLING_IF_SOCKET).
 * KINDLING_EVC_PAYLOAD_ANY_FD copies it for any descriptor.
 *
 * Buffers are user memory, whose layout (struct iovec, struct user_msghdr,
 * struct mmsghdr) is the stable user-space ABI.
 */
#ifndef KINDLING_PAYLOAD_H
#define KINDLING_PAYLOAD_H

/* A payload is gathered from at most this many iovecs. */
#define KINDLING_MAX_IOVECS 8

struct kindling_iovec {
	u64 base;
	u64 len;
};

struct kindling_msghdr {
	u64 name;
	u32 namelen;
	u32 pad0;
	u64 iov;
	u64 iovlen;
	u64 control;
	u64 controllen;
	u32 flags;
	u32 pad1;
};

/* struct mmsghdr: a msghdr, then the bytes that message moved. */
#define KINDLING_MMSG_LEN_OFFSET 56

/* iovecs are gathered here first: twice the data area, so that the verifier
 * can see every copy lands inside it whatever the offset. */
struct kindling_gather {
	u8 bytes[2 * KINDLING_DATA_CAPACITY];
};
BPF_PERCPU_ARRAY(kindling_gather_area, struct kindling_gather, 1);

static __always_inline u32 kindling_snaplen(void)
{
	u32 zero = 0;
	struct kindling_config *config = kindling_config.lookup(&zero);
	return config ? config->snaplen : 0;
}

/* Whether the call's payload is copied; `moved` is what it moved in all. */
static __always_inline int kindling_payload_wanted(struct kindling_event_control *control,
						   struct kindling_inflight *entry, long moved)
{
	if (moved <= 0 || !(control->bits & KINDLING_EVC_PAYLOAD) || !kindling_snaplen())
		return 0;
	return (control->bits & KINDLING_EVC_PAYLOAD_ANY_FD) || (entry->flags & KINDLING_IF_SOCKET);
}

/* How many of `moved` bytes a payload holds. */
static __always_inline u64 kindling_payload_size(u64 moved)
{
	u64 n = moved;
	u32 snaplen = kindling_snaplen();
	if (n > snaplen)
		n = snaplen;
	if (n > KINDLING_DATA_CAPACITY)
		n = KINDLING_DATA_CAPACITY;
	return n;
}

static __always_inline void kindling_payload_done(struct kindling_record *r, u64 copied,
						  u64 moved)
{
	r->data_len = copied;
	r->arg3 = moved;
	if (moved > copied)
		r->flags |= KINDLING_F_DATA_TRUNCATED;
}

/* The payload of a call that moved `moved` bytes through one buffer. */
static __always_inline void kindling_copy_buffer(struct kindling_record *r, u64 buf, u64 moved)
{
	u64 n = kindling_payload_size(moved);
	if (bpf_probe_read_user(r->data, n, (void *)buf))
		n = 0;
	kindling_payload_done(r, n, moved);
}

/* The payload of a call that moved `moved` bytes through `count` iovecs. */
static __always_inline void kindling_copy_iovecs(struct kindling_record *r, u64 iovecs, u64 count,
						 u64 moved)
{
	u32 zero = 0;
	struct kindling_gather *g = kindling_gather_area.lookup(&zero);
	if (!g)
		return;
	u64 want = kindling_payload_size(moved);
	u64 off = 0;
	for (int i = 0; i < KINDLING_MAX_IOVECS; i++) {
		if (i >= count || off >= want || off >= KINDLING_DATA_CAPACITY)
			break;
		struct kindling_iovec iov = {};
		if (bpf_probe_read_user(&iov, sizeof(iov), (void *)(iovecs + i * sizeof(iov))))
			break;
		u64 n = iov.len;
		if (n > want - off)
			n = want - off;
		if (n > KINDLING_DATA_CAPACITY)
			n = KINDLING_DATA_CAPACITY;
		if (bpf_probe_read_user(g->bytes + off, n, (void *)iov.base))
			break;
		off += n;
	}
	if (off > KINDLING_DATA_CAPACITY)
		off = KINDLING_DATA_CAPACITY;
	if (bpf_probe_read_kernel(r->data, off, g->bytes))
		off = 0;
	kindling_payload_done(r, off, moved);
}

/* Mark the current thread's call as one on a socket. */
static __always_inline void kindling_mark_socket(void)
{
	struct kindling_inflight *f = kindling_inflight_slot((u32)bpf_get_current_pid_tgid(), 0);
	if (f && f->event_id)
		f->flags |= KINDLING_IF_SOCKET;
}

#endif /* KINDLING_PAYLOAD_H */
