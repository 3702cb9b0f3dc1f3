/*
 * Socket syscalls (socket, connect, accept, accept4) and the TCP state
 * tracepoint that completes their 4-tuples without reading kernel structs:
 *   - connect: the server end comes from the sockaddr argument; the client
 *     end (local port) is only chosen after the socket enters SYN_SENT, so it
 *     is taken from the SYN_SENT -> ESTABLISHED transition of the same socket.
 *   - accept: the client end comes from the peer sockaddr the kernel writes
 *     back; the server end from the SYN_RECV -> ESTABLISHED transition that
 *     created the connection, looked up by the client end.
 */
#include "kindling.h"

#define KINDLING_IPPROTO_TCP 6
#define KINDLING_TCP_ESTABLISHED 1
#define KINDLING_TCP_SYN_SENT 2
#define KINDLING_TCP_SYN_RECV 3
#define KINDLING_TCP_CLOSE 7

/* thread id -> socket (kernel address, used only as a key) while connecting */
BPF_TABLE("lru_hash", u32, u64, kindling_connecting, 16384);
/* connecting socket -> its local end, once established */
BPF_TABLE("lru_hash", u64, struct kindling_endpoint, kindling_connected, 16384);
/* client end of an accepted connection -> server end */
BPF_TABLE("lru_hash", struct kindling_endpoint, struct kindling_endpoint, kindling_accepted, 16384);

TRACEPOINT_PROBE(sock, inet_sock_set_state)
{
	if (args->protocol != KINDLING_IPPROTO_TCP)
		return 0;
	u64 sk = (u64)args->skaddr;
	if (args->newstate == KINDLING_TCP_SYN_SENT) {
		u32 tid = (u32)bpf_get_current_pid_tgid();
		kindling_connecting.update(&tid, &sk);
		return 0;
	}
	if (args->newstate == KINDLING_TCP_CLOSE) {
		kindling_connected.delete(&sk);
		return 0;
	}
	if (args->newstate != KINDLING_TCP_ESTABLISHED)
		return 0;
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
	if (args->oldstate == KINDLING_TCP_SYN_SENT)
		kindling_connected.update(&sk, &local);
	else if (args->oldstate == KINDLING_TCP_SYN_RECV)
		kindling_accepted.update(&remote, &local);
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
		struct kindling_endpoint *local = kindling_connected.lookup(&key);
		if (local && local->family == r->family) {
			__builtin_memcpy(r->saddr, local->addr, 16);
			r->sport = local->port;
			r->flags |= KINDLING_F_SRC_VALID;
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
			struct kindling_endpoint *local = kindling_accepted.lookup(&peer);
			if (local) {
				__builtin_memcpy(r->daddr, local->addr, 16);
				r->dport = local->port;
				r->flags |= KINDLING_F_DST_VALID;
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
