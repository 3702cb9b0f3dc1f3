/*
 * Socket addresses the application passed to or got back from a syscall
 * (connect, accept, bind, sendto, recvfrom, a msghdr's msg_name): read from
 * user memory, whose layout is the stable user-space ABI, into a record's
 * client or server end. A unix socket's name goes to the record's path area
 * as raw sun_path bytes (KINDLING_F_PATH_RAW).
 */
#ifndef KINDLING_SOCKADDR_H
#define KINDLING_SOCKADDR_H

#define KINDLING_UNIX_PATH_MAX 108

struct kindling_sockaddr_in {
	u16 family;
	u16 port;
	u8 addr[4];
};

struct kindling_sockaddr_in6 {
	u16 family;
	u16 port;
	u32 flowinfo;
	u8 addr[16];
};

/* Read a user sockaddr into the record's client (to_src) or server end.
 * Returns the number of sun_path bytes copied to r->path for unix sockets
 * (the record must then be a long or a data record). */
static __always_inline long kindling_read_sockaddr(struct kindling_record *r, u64 uptr,
						   long addrlen, int to_src, int has_path)
{
	u16 family = 0;
	if (!uptr || addrlen < 2 || bpf_probe_read_user(&family, sizeof(family), (void *)uptr))
		return 0;
	r->family = family;
	if (family == KINDLING_AF_INET) {
		struct kindling_sockaddr_in sa = {};
		if (bpf_probe_read_user(&sa, sizeof(sa), (void *)uptr))
			return 0;
		if (to_src) {
			__builtin_memcpy(r->saddr, sa.addr, 4);
			r->sport = kindling_ntohs(sa.port);
			r->flags |= KINDLING_F_SRC_VALID;
		} else {
			__builtin_memcpy(r->daddr, sa.addr, 4);
			r->dport = kindling_ntohs(sa.port);
			r->flags |= KINDLING_F_DST_VALID;
		}
	} else if (family == KINDLING_AF_INET6) {
		struct kindling_sockaddr_in6 sa = {};
		if (bpf_probe_read_user(&sa, sizeof(sa), (void *)uptr))
			return 0;
		if (to_src) {
			__builtin_memcpy(r->saddr, sa.addr, 16);
			r->sport = kindling_ntohs(sa.port);
			r->flags |= KINDLING_F_SRC_VALID;
		} else {
			__builtin_memcpy(r->daddr, sa.addr, 16);
			r->dport = kindling_ntohs(sa.port);
			r->flags |= KINDLING_F_DST_VALID;
		}
	} else if (family == KINDLING_AF_UNIX && has_path) {
		long n = addrlen - 2;
		if (n <= 0)
			return 0;
		if (n > KINDLING_UNIX_PATH_MAX)
			n = KINDLING_UNIX_PATH_MAX;
		if (bpf_probe_read_user(r->path, n & 127, (void *)(uptr + 2)))
			return 0;
		r->flags |= KINDLING_F_PATH_RAW;
		return n;
	}
	return 0;
}

#endif /* KINDLING_SOCKADDR_H */
