/*
 * TCP health from tracepoints: retransmissions, resets sent and received,
 * congestion state (tcp_probe, sampled) and packets dropped on their way to
 * a socket (skb:kfree_skb). They fire wherever the kernel is (often in
 * softirq), so their thread and fd are the socket's owner from
 * sock_table.h, and the kernel filters apply to that owner.
 */
#include "kindling.h"

/* The formats of tcp_send_reset and kfree_skb name these enums, which the
 * headers BCC compiles with may not define: complete them here. Only their
 * size matters (4 bytes); their values are read as numbers and named by the
 * service from the running kernel's formats. */
enum sk_rst_reason { KINDLING_SK_RST_REASON };
enum skb_drop_reason { KINDLING_SKB_DROP_REASON };

/* tcp_probe fires per segment: one record per socket per interval. */
#define KINDLING_TCP_PROBE_INTERVAL_NS 1000000000ULL

/* A record of a socket's event, if wanted: with the owner, if known. */
static __always_inline struct kindling_record *kindling_tcp_record(u32 event_id, u64 sk)
{
	struct kindling_sock *s = sk ? kindling_sock_entry(sk, 0) : 0;
	if (!kindling_sock_wanted(event_id, s))
		return 0;
	return kindling_sock_record(event_id, s, KINDLING_SHORT);
}

/* The local and remote ends from the address fields of tcp:* tracepoints
 * that carry family, saddr/daddr (IPv4), saddr_v6/daddr_v6 and ports. A
 * macro: each tracepoint's args are a struct of their own. */
#define KINDLING_TCP_ARGS_ENDS(r, args)                                                   \
	do {                                                                               \
		u8 local_[16] = {};                                                        \
		u8 remote_[16] = {};                                                       \
		if ((args)->family == KINDLING_AF_INET) {                                  \
			__builtin_memcpy(local_, (args)->saddr, 4);                        \
			__builtin_memcpy(remote_, (args)->daddr, 4);                       \
		} else {                                                                   \
			__builtin_memcpy(local_, (args)->saddr_v6, 16);                    \
			__builtin_memcpy(remote_, (args)->daddr_v6, 16);                   \
		}                                                                          \
		kindling_record_ends((r), (args)->family, local_, (args)->sport, remote_,  \
				     (args)->dport);                                       \
	} while (0)

/* The local and remote ends from a tracepoint's sockaddr copies (28 bytes
 * each: a sockaddr_in or a sockaddr_in6). */
static __always_inline void kindling_sockaddr_ends(struct kindling_record *r, const u8 *local_sa,
						   const u8 *remote_sa)
{
	u8 local[28];
	u8 remote[28];
	__builtin_memcpy(local, local_sa, sizeof(local));
	__builtin_memcpy(remote, remote_sa, sizeof(remote));
	u16 family = *(u16 *)local;
	u16 local_port = kindling_ntohs(*(u16 *)(local + 2));
	u16 remote_port = kindling_ntohs(*(u16 *)(remote + 2));
	if (family == KINDLING_AF_INET)
		kindling_record_ends(r, family, local + 4, local_port, remote + 4, remote_port);
	else if (family == KINDLING_AF_INET6)
		kindling_record_ends(r, family, local + 8, local_port, remote + 8, remote_port);
}

#ifdef KINDLING_HAVE_TCP_TCP_RETRANSMIT_SKB
TRACEPOINT_PROBE(tcp, tcp_retransmit_skb)
{
	struct kindling_record *r = kindling_tcp_record(KINDLING_EV_TCP_RETRANSMIT,
							(u64)args->skaddr);
	if (!r)
		return 0;
	r->arg1 = args->state;
	KINDLING_TCP_ARGS_ENDS(r, args);
	kindling_record_commit(args, r, KINDLING_SHORT, 0);
	return 0;
}
#endif

#ifdef KINDLING_HAVE_TCP_TCP_SEND_RESET
TRACEPOINT_PROBE(tcp, tcp_send_reset)
{
	struct kindling_record *r = kindling_tcp_record(KINDLING_EV_TCP_SEND_RESET,
							(u64)args->skaddr);
	if (!r)
		return 0;
	r->arg1 = args->state;
	r->arg2 = args->reason;
	kindling_sockaddr_ends(r, args->saddr, args->daddr);
	kindling_record_commit(args, r, KINDLING_SHORT, 0);
	return 0;
}
#endif

#ifdef KINDLING_HAVE_TCP_TCP_RECEIVE_RESET
TRACEPOINT_PROBE(tcp, tcp_receive_reset)
{
	struct kindling_record *r = kindling_tcp_record(KINDLING_EV_TCP_RECEIVE_RESET,
							(u64)args->skaddr);
	if (!r)
		return 0;
	KINDLING_TCP_ARGS_ENDS(r, args);
	kindling_record_commit(args, r, KINDLING_SHORT, 0);
	return 0;
}
#endif

#ifdef KINDLING_HAVE_TCP_TCP_PROBE
TRACEPOINT_PROBE(tcp, tcp_probe)
{
	/* The owner's filters first: most segments are of sockets nobody wants
	 * (measured under nginx: 268 -> 172 ns per segment), and a clock read and
	 * a second lookup cost more than the filter. */
	u64 sk = (u64)args->skaddr;
	struct kindling_sock *s = sk ? kindling_sock_entry(sk, 0) : 0;
	if (!kindling_sock_wanted(KINDLING_EV_TCP_PROBE, s))
		return 0;
	u64 now = bpf_ktime_get_boot_ns();
	u64 *last = kindling_probed.lookup(&sk);
	if (last && now - *last < KINDLING_TCP_PROBE_INTERVAL_NS)
		return 0;
	struct kindling_record *r = kindling_sock_record(KINDLING_EV_TCP_PROBE, s, KINDLING_SHORT);
	if (!r)
		return 0;
	kindling_probed.update(&sk, &now);
	r->arg1 = (u64)args->srtt | (u64)args->snd_cwnd << 32;
	r->arg2 = (u64)args->snd_wnd | (u64)args->rcv_wnd << 32;
	r->arg3 = args->ssthresh;
	kindling_sockaddr_ends(r, args->saddr, args->daddr);
	kindling_record_commit(args, r, KINDLING_SHORT, 0);
	return 0;
}
#endif

#ifdef KINDLING_HAVE_SKB_KFREE_SKB
TRACEPOINT_PROBE(skb, kfree_skb)
{
	/* Only drops on the way into a socket (the kernel names it). */
	u64 sk = (u64)args->rx_sk;
	if (!sk)
		return 0;
	struct kindling_sock *s = kindling_sock_entry(sk, 0);
	if (!kindling_sock_wanted(KINDLING_EV_SKB_DROP, s))
		return 0;
	struct kindling_record *r = kindling_sock_record(KINDLING_EV_SKB_DROP, s, KINDLING_SHORT);
	if (!r)
		return 0;
	r->arg1 = args->reason;
	r->arg2 = args->protocol;
	if (s && (s->flags & KINDLING_SOCK_ENDS))
		kindling_record_ends(r, s->family, s->saddr, s->sport, s->daddr, s->dport);
	kindling_record_commit(args, r, KINDLING_SHORT, 0);
	return 0;
}
#endif
