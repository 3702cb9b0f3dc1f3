/*
 * What the probe knows of TCP sockets, by the socket's kernel address (used
 * only as a key, never read): the process and fd that own it, learned in
 * that process's own syscalls (at connect's SYN_SENT, at accept's exit), and
 * its two ends, learned from sock:inet_sock_set_state. TCP events that fire
 * outside the owner (retransmits, resets, drops, state changes in softirq)
 * take their thread and fd from here, and are filtered by the owner.
 */
#ifndef KINDLING_SOCK_TABLE_H
#define KINDLING_SOCK_TABLE_H

#define KINDLING_IPPROTO_TCP 6
#define KINDLING_TCP_ESTABLISHED 1
#define KINDLING_TCP_SYN_SENT 2
#define KINDLING_TCP_SYN_RECV 3
#define KINDLING_TCP_CLOSE 7
#define KINDLING_TCP_LISTEN 10
#define KINDLING_EINPROGRESS 115

/* kindling_sock.flags */
#define KINDLING_SOCK_OWNED 0x1           /* tgid, fd and the rest are the owner's */
#define KINDLING_SOCK_ENDS 0x2            /* saddr..family hold both ends */
#define KINDLING_SOCK_CONNECT_PENDING 0x4 /* connect returned EINPROGRESS */

struct kindling_sock {
	u64 cgroup_id;
	u64 connect_ts; /* when it entered SYN_SENT */
	u32 tgid;
	s32 fd;
	u32 uid;
	u32 gid;
	char comm[16];
	u8 saddr[16]; /* local end */
	u8 daddr[16]; /* remote end */
	u16 sport;
	u16 dport;
	u16 family;
	u16 flags; /* KINDLING_SOCK_* */
};

BPF_TABLE("lru_hash", u64, struct kindling_sock, kindling_socks, 65536);
/* When tcp_probe last made a record of a socket (tcp.bpf.c); forgotten when
 * the address becomes a new connection. */
BPF_TABLE("lru_hash", u64, u64, kindling_probed, 16384);

/* The entry of a socket, created empty when `create`. */
static __always_inline struct kindling_sock *kindling_sock_entry(u64 sk, int create)
{
	struct kindling_sock *s = kindling_socks.lookup(&sk);
	if (s || !create)
		return s;
	struct kindling_sock blank = {};
	kindling_socks.update(&sk, &blank);
	return kindling_socks.lookup(&sk);
}

/* The current thread owns the socket, as descriptor `fd`. */
static __always_inline void kindling_sock_own(struct kindling_sock *s, s32 fd)
{
	u64 pid_tgid = bpf_get_current_pid_tgid();
	u64 uid_gid = bpf_get_current_uid_gid();
	s->tgid = pid_tgid >> 32;
	s->fd = fd;
	s->uid = (u32)uid_gid;
	s->gid = uid_gid >> 32;
	s->cgroup_id = bpf_get_current_cgroup_id();
	bpf_get_current_comm(&s->comm, sizeof(s->comm));
	s->flags |= KINDLING_SOCK_OWNED;
}

/* Whether an event of a socket is captured, by its owner (an event of a
 * socket whose owner is not known passes only filters that need none). */
static __always_inline struct kindling_event_control *
kindling_sock_wanted(u32 event_id, struct kindling_sock *s)
{
	if (s && (s->flags & KINDLING_SOCK_OWNED))
		return kindling_wanted_by(event_id, s->tgid, s->cgroup_id, s->comm, 0);
	char nobody[16] = {};
	return kindling_wanted_by(event_id, 0, 0, nobody, 0);
}

/* Start a record of a socket's event: its owner's thread and fd (arg0) if
 * known, else thread 0 and fd -1. */
static __always_inline struct kindling_record *kindling_sock_record(u32 event_id,
								    struct kindling_sock *s,
								    int cls)
{
	struct kindling_record *r = kindling_record_reserve(event_id, cls);
	if (!r)
		return 0;
	if (s && (s->flags & KINDLING_SOCK_OWNED)) {
		r->pid = s->tgid;
		r->tid = s->tgid;
		r->uid = s->uid;
		r->gid = s->gid;
		r->cgroup_id = s->cgroup_id;
		__builtin_memcpy(r->comm, s->comm, sizeof(r->comm));
		r->arg0 = (u64)(s64)s->fd;
	} else {
		r->pid = 0;
		r->tid = 0;
		r->uid = 0;
		r->gid = 0;
		r->cgroup_id = 0;
		__builtin_memset(r->comm, 0, sizeof(r->comm));
		r->arg0 = (u64)(s64)-1;
	}
	return r;
}

/* A record's local (saddr, sport) and remote (daddr, dport) ends. */
static __always_inline void kindling_record_ends(struct kindling_record *r, u16 family,
						 const u8 *local, u16 local_port,
						 const u8 *remote, u16 remote_port)
{
	if (family != KINDLING_AF_INET && family != KINDLING_AF_INET6)
		return;
	int size = family == KINDLING_AF_INET ? 4 : 16;
	r->family = family;
	if (size == 4) {
		__builtin_memcpy(r->saddr, local, 4);
		__builtin_memcpy(r->daddr, remote, 4);
	} else {
		__builtin_memcpy(r->saddr, local, 16);
		__builtin_memcpy(r->daddr, remote, 16);
	}
	r->sport = local_port;
	r->dport = remote_port;
	r->flags |= KINDLING_F_SRC_VALID | KINDLING_F_DST_VALID;
}

#endif /* KINDLING_SOCK_TABLE_H */
