/*
 * Socket syscalls (socket, connect, accept, accept4, bind, listen,
 * shutdown) and the TCP state tracepoint that completes their 4-tuples
 * without reading kernel structs (sock_table.h keeps what it learns):
 *   - connect: the server end comes from the sockaddr argument; the client
 *     end (local port) is only chosen after the socket enters SYN_SENT, so it
 *     is taken from the SYN_SENT -> ESTABLISHED transition of the same socket,
 *     before connect returns, or after it for a non-blocking connect
 *     (EINPROGRESS), whose completion is then a tcp_state_change record.
 *   - accept: the client end comes from the peer sockaddr the kernel writes
 *     back; the server end from the SYN_RECV -> ESTABLISHED transition that
 *     created the connection, looked up by the client end.
 */
#include "kindling.h"

/* thread id -> socket while connecting or listening (from the state change
 * to the syscall's exit) */
BPF_TABLE("lru_hash", u32, u64, kindling_connecting, 16384);

/* The server end of an accepted connection, and its socket. */
struct kindling_accepted_end {
	struct kindling_endpoint local;
	u64 sk;
};
/* client end of an accepted connection -> its server end */
BPF_TABLE("lru_hash", struct kindling_endpoint, struct kindling_accepted_end, kindling_accepted,
	  16384);

/* A state change becomes a record when tcp_state_change is delivered, or,
 * to complete a non-blocking connect's fd context, when it ends SYN_SENT. */
static __always_inline void kindling_state_record(void *ctx, struct kindling_sock *s, int oldstate,
						  int newstate, struct kindling_endpoint *local,
						  struct kindling_endpoint *remote)
{
	struct kindling_event_control *control =
		kindling_sock_wanted(KINDLING_EV_TCP_STATE_CHANGE, s);
	if (!control)
		return;
	int ends_connect = oldstate == KINDLING_TCP_SYN_SENT;
	if (!(control->bits & KINDLING_EVC_DELIVERED) &&
	    !(ends_connect && s && (s->flags & KINDLING_SOCK_CONNECT_PENDING)))
		return;
	struct kindling_record *r =
		kindling_sock_record(KINDLING_EV_TCP_STATE_CHANGE, s, KINDLING_SHORT);
	if (!r)
		return;
	r->arg1 = oldstate;
	r->arg2 = newstate;
	if (ends_connect && s && s->connect_ts) {
		r->arg3 = r->ts - s->connect_ts;
		r->flags |= KINDLING_F_ARG3_VALID;
	}
	kindling_record_ends(r, local->family, local->addr, local->port, remote->addr,
			     remote->port);
	kindling_record_commit(ctx, r, KINDLING_SHORT, 0);
}

TRACEPOINT_PROBE(sock, inet_sock_set_state)
{
	if (args->protocol != KINDLING_IPPROTO_TCP)
		return 0;
	u64 sk = (u64)args->skaddr;
	int oldstate = args->oldstate;
	int newstate = args->newstate;
	struct kindling_endpoint local = {};
	struct kindling_endpoint remote = {};
	local.family = args->family;
	local.port = args->sport;
	remote.family = args->family;
	remote.port = args->dport;
	if (args->family == KINDLING_AF_INET) {
		__builtin_memcpy(local.addr, args->saddr, 4);
		__builtin_memcpy(remote.addr, args->daddr, 4);
	} else {
		__builtin_memcpy(local.addr, args->saddr_v6, 16);
		__builtin_memcpy(remote.addr, args->daddr_v6, 16);
	}
	struct kindling_sock *s = kindling_sock_entry(
		sk, newstate == KINDLING_TCP_SYN_SENT || newstate == KINDLING_TCP_ESTABLISHED ||
			    newstate == KINDLING_TCP_LISTEN);
	if (newstate == KINDLING_TCP_SYN_SENT ||
	    (newstate == KINDLING_TCP_ESTABLISHED && oldstate == KINDLING_TCP_SYN_RECV))
		kindling_probed.delete(&sk); /* a new connection: sample it afresh */
	if (newstate == KINDLING_TCP_LISTEN && s) {
		/* Inside listen(): the port is bound now, even if bind asked for 0. */
		u64 pid_tgid = bpf_get_current_pid_tgid();
		u32 tid = (u32)pid_tgid;
		struct kindling_inflight *f = kindling_inflight_slot(tid, 0);
		kindling_connecting.update(&tid, &sk);
		s->flags = 0;
		if (f && f->event_id == KINDLING_EV_LISTEN && f->tgid == pid_tgid >> 32)
			kindling_sock_own(s, (s32)f->arg0);
		s->family = local.family;
		__builtin_memcpy(s->saddr, local.addr, 16);
		s->sport = local.port;
	}
	if (newstate == KINDLING_TCP_SYN_SENT) {
		/* Inside connect(): the connecting thread owns the socket. */
		u64 pid_tgid = bpf_get_current_pid_tgid();
		u32 tid = (u32)pid_tgid;
		kindling_connecting.update(&tid, &sk);
		struct kindling_inflight *f = kindling_inflight_slot(tid, 0);
		if (s) {
			s->flags = 0;
			s->connect_ts = bpf_ktime_get_boot_ns();
			if (f && f->event_id == KINDLING_EV_CONNECT && f->tgid == pid_tgid >> 32)
				kindling_sock_own(s, (s32)f->arg0);
		}
	}
	if (newstate == KINDLING_TCP_ESTABLISHED && s) {
		if (oldstate == KINDLING_TCP_SYN_RECV)
			s->flags = 0; /* a new connection: its owner is the accepting thread */
		s->family = local.family;
		__builtin_memcpy(s->saddr, local.addr, 16);
		__builtin_memcpy(s->daddr, remote.addr, 16);
		s->sport = local.port;
		s->dport = remote.port;
		s->flags |= KINDLING_SOCK_ENDS;
		if (oldstate == KINDLING_TCP_SYN_RECV) {
			struct kindling_accepted_end end = {};
			__builtin_memcpy(&end.local, &local, sizeof(local));
			end.sk = sk;
			kindling_accepted.update(&remote, &end);
		}
	}
	/* A closed socket keeps its entry: a reset it sends on its way out (an
	 * SO_LINGER 0 close) comes after this. The entry starts afresh when the
	 * address is a socket again (SYN_SENT, LISTEN or an accepted connection),
	 * and the LRU map forgets it in time. */
	kindling_state_record(args, s, oldstate, newstate, &local, &remote);
	return 0;
}

TRACEPOINT_PROBE(syscalls, sys_enter_socket)
{
	return kindling_syscall_enter(KINDLING_EV_SOCKET, (u64)(u32)args->family,
				      (u64)(u32)args->type, (u64)(u32)args->protocol, 0);
}

KINDLING_SIMPLE_EXIT(socket, KINDLING_EV_SOCKET)

TRACEPOINT_PROBE(syscalls, sys_enter_connect)
{
	/* A socket this thread left in SYN_SENT without a connect exit (TCP
	 * Fast Open, a lost entry) must not lend this connect its local end. */
	u32 tid = (u32)bpf_get_current_pid_tgid();
	kindling_connecting.delete(&tid);
	return kindling_syscall_enter(KINDLING_EV_CONNECT, (u64)(u32)args->fd,
				      (u64)(u32)args->addrlen, 0, (u64)args->uservaddr);
}

TRACEPOINT_PROBE(syscalls, sys_exit_connect)
{
	struct kindling_inflight entry;
	struct kindling_record *r =
		kindling_syscall_exit(KINDLING_EV_CONNECT, args->ret, &entry, KINDLING_LONG);
	if (!r)
		return 0;
	long n = kindling_read_sockaddr(r, entry.uptr, (long)(int)entry.arg1, 0, 1);
	u32 tid = r->tid;
	u64 *sk = kindling_connecting.lookup(&tid);
	if (sk) {
		u64 key = *sk;
		kindling_connecting.delete(&tid);
		struct kindling_sock *s = kindling_sock_entry(key, 0);
		if (s && (s->flags & KINDLING_SOCK_ENDS) && s->family == r->family) {
			__builtin_memcpy(r->saddr, s->saddr, 16);
			r->sport = s->sport;
			r->flags |= KINDLING_F_SRC_VALID;
		} else if (s && args->ret == -KINDLING_EINPROGRESS) {
			/* Completed later: its state change completes the fd context. */
			s->flags |= KINDLING_SOCK_CONNECT_PENDING;
		}
	}
	kindling_record_commit(args, r, KINDLING_LONG, n);
	return 0;
}

static __always_inline int kindling_accept_exit(void *ctx, u32 event_id, long ret)
{
	struct kindling_inflight entry;
	struct kindling_record *r = kindling_syscall_exit(event_id, ret, &entry, KINDLING_LONG);
	if (!r)
		return 0;
	long n = 0;
	if (ret >= 0 && entry.uptr && entry.arg2) {
		int addrlen = 0;
		bpf_probe_read_user(&addrlen, sizeof(addrlen), (void *)entry.arg2);
		n = kindling_read_sockaddr(r, entry.uptr, addrlen, 1, 1);
		if (r->flags & KINDLING_F_SRC_VALID) {
			struct kindling_endpoint peer = {};
			__builtin_memcpy(peer.addr, r->saddr, 16);
			peer.port = r->sport;
			peer.family = r->family;
			struct kindling_accepted_end *end = kindling_accepted.lookup(&peer);
			if (end) {
				__builtin_memcpy(r->daddr, end->local.addr, 16);
				r->dport = end->local.port;
				r->flags |= KINDLING_F_DST_VALID;
				struct kindling_sock *s = kindling_sock_entry(end->sk, 0);
				if (s)
					kindling_sock_own(s, (s32)ret);
				kindling_accepted.delete(&peer);
			}
		}
	}
	/* arg2 held the user pointer to the address length; do not leak it. */
	r->arg2 = 0;
	kindling_record_commit(ctx, r, KINDLING_LONG, n);
	return 0;
}

TRACEPOINT_PROBE(syscalls, sys_enter_accept)
{
	return kindling_syscall_enter(KINDLING_EV_ACCEPT, (u64)(u32)args->fd, 0,
				      (u64)args->upeer_addrlen, (u64)args->upeer_sockaddr);
}

TRACEPOINT_PROBE(syscalls, sys_exit_accept)
{
	return kindling_accept_exit(args, KINDLING_EV_ACCEPT, args->ret);
}

TRACEPOINT_PROBE(syscalls, sys_enter_accept4)
{
	return kindling_syscall_enter(KINDLING_EV_ACCEPT4, (u64)(u32)args->fd,
				      (u64)(u32)args->flags, (u64)args->upeer_addrlen,
				      (u64)args->upeer_sockaddr);
}

TRACEPOINT_PROBE(syscalls, sys_exit_accept4)
{
	return kindling_accept_exit(args, KINDLING_EV_ACCEPT4, args->ret);
}

TRACEPOINT_PROBE(syscalls, sys_enter_bind)
{
	return kindling_syscall_enter(KINDLING_EV_BIND, (u64)(u32)args->fd,
				      (u64)(u32)args->addrlen, 0, (u64)args->umyaddr);
}

TRACEPOINT_PROBE(syscalls, sys_exit_bind)
{
	struct kindling_inflight entry;
	struct kindling_record *r =
		kindling_syscall_exit(KINDLING_EV_BIND, args->ret, &entry, KINDLING_LONG);
	if (!r)
		return 0;
	long n = kindling_read_sockaddr(r, entry.uptr, (long)(int)entry.arg1, 0, 1);
	kindling_record_commit(args, r, KINDLING_LONG, n);
	return 0;
}

TRACEPOINT_PROBE(syscalls, sys_enter_listen)
{
	u32 tid = (u32)bpf_get_current_pid_tgid();
	kindling_connecting.delete(&tid);
	return kindling_syscall_enter(KINDLING_EV_LISTEN, (u64)(u32)args->fd,
				      (u64)(u32)args->backlog, 0, 0);
}

TRACEPOINT_PROBE(syscalls, sys_exit_listen)
{
	struct kindling_inflight entry;
	struct kindling_record *r =
		kindling_syscall_exit(KINDLING_EV_LISTEN, args->ret, &entry, KINDLING_SHORT);
	if (!r)
		return 0;
	u32 tid = r->tid;
	u64 *sk = kindling_connecting.lookup(&tid);
	if (sk) {
		u64 key = *sk;
		kindling_connecting.delete(&tid);
		struct kindling_sock *s = kindling_sock_entry(key, 0);
		if (s && s->family) {
			r->family = s->family;
			__builtin_memcpy(r->saddr, s->saddr, 16);
			r->sport = s->sport;
			r->flags |= KINDLING_F_SRC_VALID;
		}
	}
	kindling_record_commit(args, r, KINDLING_SHORT, 0);
	return 0;
}

TRACEPOINT_PROBE(syscalls, sys_enter_shutdown)
{
	return kindling_syscall_enter(KINDLING_EV_SHUTDOWN, (u64)(u32)args->fd,
				      (u64)(u32)args->how, 0, 0);
}

KINDLING_SIMPLE_EXIT(shutdown, KINDLING_EV_SHUTDOWN)
