/*
 * The I/O family: read, write, readv, writev, pread64, pwrite64, sendto,
 * recvfrom, sendmsg, recvmsg, sendmmsg, recvmmsg and sendfile. Each is
 * emitted once at its exit, paired in the kernel with its entry (arguments
 * and latency), with the peer address of calls that name one (sendto,
 * recvfrom, a msghdr's msg_name: an unconnected UDP socket's datagrams), and
 * with the payload when a subscriber wants it (payload.h).
 *
 * The record's class follows what it carries: a data record with a payload,
 * a long record for a unix socket's name, a short one otherwise.
 */
#include "kindling.h"

/* Where a call's payload is (kindling_io_exit's `layout`). */
#define KINDLING_IO_NONE 0   /* none the probe can read (sendfile) */
#define KINDLING_IO_BUFFER 1 /* uptr: one buffer */
#define KINDLING_IO_IOVEC 2  /* uptr: iovecs, arg1 of them */
#define KINDLING_IO_MSG 3    /* uptr: a user_msghdr */
#define KINDLING_IO_MMSG 4   /* uptr: mmsghdrs, of which the first counts */

/* Where its peer address is (`peer`). */
#define KINDLING_PEER_NONE 0
#define KINDLING_PEER_ARG 1     /* uptr2, arg3 bytes long */
#define KINDLING_PEER_ARG_PTR 2 /* uptr2, as long as the int arg3 points to */
#define KINDLING_PEER_MSG 3     /* the msghdr's msg_name */

/* What an I/O call's exit found: its buffers, what it moved, its peer. */
struct kindling_io {
	u64 buffers;
	u64 count; /* iovecs */
	u64 moved;
	u64 peer;
	long peer_len;
	int layout; /* KINDLING_IO_BUFFER or KINDLING_IO_IOVEC once found */
};

static __always_inline void kindling_io_locate(struct kindling_inflight *entry, long ret, int layout,
					       int peer, struct kindling_io *io)
{
	io->moved = ret > 0 ? ret : 0;
	io->buffers = entry->uptr;
	io->count = entry->arg1;
	io->layout = layout;
	if (ret < 0)
		return;
	if (layout == KINDLING_IO_MSG || layout == KINDLING_IO_MMSG) {
		struct kindling_msghdr msg = {};
		if (bpf_probe_read_user(&msg, sizeof(msg), (void *)entry->uptr)) {
			io->layout = KINDLING_IO_NONE;
			return;
		}
		if (layout == KINDLING_IO_MMSG) {
			u32 len = 0;
			if (ret < 1 || bpf_probe_read_user(&len, sizeof(len),
							   (void *)(entry->uptr +
								    KINDLING_MMSG_LEN_OFFSET)))
				return;
			io->moved = len;
		}
		io->buffers = msg.iov;
		io->count = msg.iovlen;
		io->layout = KINDLING_IO_IOVEC;
		if (peer == KINDLING_PEER_MSG && msg.name) {
			io->peer = msg.name;
			io->peer_len = msg.namelen;
		}
	} else if (peer == KINDLING_PEER_ARG && entry->uptr2) {
		io->peer = entry->uptr2;
		io->peer_len = (long)(int)entry->arg3;
	} else if (peer == KINDLING_PEER_ARG_PTR && entry->uptr2 && entry->arg3) {
		int len = 0;
		if (!bpf_probe_read_user(&len, sizeof(len), (void *)entry->arg3)) {
			io->peer = entry->uptr2;
			io->peer_len = len;
		}
	}
}

/* Whether a peer address is a unix socket's (it then needs a path area). */
static __always_inline int kindling_peer_is_unix(struct kindling_io *io)
{
	u16 family = 0;
	return io->peer && !bpf_probe_read_user(&family, sizeof(family), (void *)io->peer) &&
	       family == KINDLING_AF_UNIX;
}

/* Emit the record; `cls` is a constant at each call site. */
static __always_inline int kindling_io_emit(void *ctx, u32 event_id, long ret,
					    struct kindling_inflight *entry, struct kindling_io *io,
					    int cls)
{
	struct kindling_record *r = kindling_syscall_record(event_id, ret, entry, cls);
	if (!r)
		return 0;
	if (entry->flags & KINDLING_IF_SOCKET)
		r->flags |= KINDLING_F_ON_SOCKET;
	long path_len = 0;
	if (io->peer)
		path_len = kindling_read_sockaddr(r, io->peer, io->peer_len, 0,
						  cls != KINDLING_SHORT);
	if (cls == KINDLING_DATA) {
		if (io->layout == KINDLING_IO_BUFFER)
			kindling_copy_buffer(r, io->buffers, io->moved);
		else
			kindling_copy_iovecs(r, io->buffers, io->count, io->moved);
	}
	kindling_record_commit(ctx, r, cls, path_len);
	return 0;
}

static __always_inline int kindling_io_exit(void *ctx, u32 event_id, long ret, int layout,
					    int peer)
{
	struct kindling_inflight entry;
	struct kindling_event_control *control = kindling_syscall_paired(event_id, ret, &entry);
	if (!control)
		return 0;
	struct kindling_io io = {};
	kindling_io_locate(&entry, ret, layout, peer, &io);
	if (io.layout != KINDLING_IO_NONE && kindling_payload_wanted(control, &entry, io.moved))
		return kindling_io_emit(ctx, event_id, ret, &entry, &io, KINDLING_DATA);
	if (kindling_peer_is_unix(&io))
		return kindling_io_emit(ctx, event_id, ret, &entry, &io, KINDLING_LONG);
	return kindling_io_emit(ctx, event_id, ret, &entry, &io, KINDLING_SHORT);
}

/* The entry of an I/O call: fd, a count or flags, a third argument, the
 * buffers; `socket_only` for calls that only work on sockets. */
static __always_inline struct kindling_inflight *kindling_io_enter(u32 event_id, u64 fd, u64 arg1,
								   u64 arg2, u64 buffers,
								   int socket_only)
{
	struct kindling_inflight *f = kindling_syscall_begin(event_id);
	if (f) {
		f->arg0 = fd;
		f->arg1 = arg1;
		f->arg2 = arg2;
		f->uptr = buffers;
		if (socket_only)
			f->flags = KINDLING_IF_SOCKET;
	}
	return f;
}

TRACEPOINT_PROBE(syscalls, sys_enter_read)
{
	kindling_io_enter(KINDLING_EV_READ, args->fd, args->count, 0, (u64)args->buf, 0);
	return 0;
}

TRACEPOINT_PROBE(syscalls, sys_exit_read)
{
	return kindling_io_exit(args, KINDLING_EV_READ, args->ret, KINDLING_IO_BUFFER,
				KINDLING_PEER_NONE);
}

TRACEPOINT_PROBE(syscalls, sys_enter_write)
{
	kindling_io_enter(KINDLING_EV_WRITE, args->fd, args->count, 0, (u64)args->buf, 0);
	return 0;
}

TRACEPOINT_PROBE(syscalls, sys_exit_write)
{
	return kindling_io_exit(args, KINDLING_EV_WRITE, args->ret, KINDLING_IO_BUFFER,
				KINDLING_PEER_NONE);
}

#ifdef KINDLING_HAVE_SYS_READV
TRACEPOINT_PROBE(syscalls, sys_enter_readv)
{
	kindling_io_enter(KINDLING_EV_READV, args->fd, args->vlen, 0, (u64)args->vec, 0);
	return 0;
}

TRACEPOINT_PROBE(syscalls, sys_exit_readv)
{
	return kindling_io_exit(args, KINDLING_EV_READV, args->ret, KINDLING_IO_IOVEC,
				KINDLING_PEER_NONE);
}
#endif

#ifdef KINDLING_HAVE_SYS_WRITEV
TRACEPOINT_PROBE(syscalls, sys_enter_writev)
{
	kindling_io_enter(KINDLING_EV_WRITEV, args->fd, args->vlen, 0, (u64)args->vec, 0);
	return 0;
}

TRACEPOINT_PROBE(syscalls, sys_exit_writev)
{
	return kindling_io_exit(args, KINDLING_EV_WRITEV, args->ret, KINDLING_IO_IOVEC,
				KINDLING_PEER_NONE);
}
#endif

#ifdef KINDLING_HAVE_SYS_PREAD64
TRACEPOINT_PROBE(syscalls, sys_enter_pread64)
{
	kindling_io_enter(KINDLING_EV_PREAD64, args->fd, args->count, (u64)args->pos,
			  (u64)args->buf, 0);
	return 0;
}

TRACEPOINT_PROBE(syscalls, sys_exit_pread64)
{
	return kindling_io_exit(args, KINDLING_EV_PREAD64, args->ret, KINDLING_IO_BUFFER,
				KINDLING_PEER_NONE);
}
#endif

#ifdef KINDLING_HAVE_SYS_PWRITE64
TRACEPOINT_PROBE(syscalls, sys_enter_pwrite64)
{
	kindling_io_enter(KINDLING_EV_PWRITE64, args->fd, args->count, (u64)args->pos,
			  (u64)args->buf, 0);
	return 0;
}

TRACEPOINT_PROBE(syscalls, sys_exit_pwrite64)
{
	return kindling_io_exit(args, KINDLING_EV_PWRITE64, args->ret, KINDLING_IO_BUFFER,
				KINDLING_PEER_NONE);
}
#endif

#ifdef KINDLING_HAVE_SYS_SENDTO
TRACEPOINT_PROBE(syscalls, sys_enter_sendto)
{
	struct kindling_inflight *f =
		kindling_io_enter(KINDLING_EV_SENDTO, (u64)(u32)args->fd, args->len,
				  (u64)(u32)args->flags, (u64)args->buff, 1);
	if (f) {
		f->uptr2 = (u64)args->addr;
		f->arg3 = (u64)(u32)args->addr_len;
	}
	return 0;
}

TRACEPOINT_PROBE(syscalls, sys_exit_sendto)
{
	return kindling_io_exit(args, KINDLING_EV_SENDTO, args->ret, KINDLING_IO_BUFFER,
				KINDLING_PEER_ARG);
}
#endif

#ifdef KINDLING_HAVE_SYS_RECVFROM
TRACEPOINT_PROBE(syscalls, sys_enter_recvfrom)
{
	struct kindling_inflight *f =
		kindling_io_enter(KINDLING_EV_RECVFROM, (u64)(u32)args->fd, args->size,
				  (u64)(u32)args->flags, (u64)args->ubuf, 1);
	if (f) {
		f->uptr2 = (u64)args->addr;
		f->arg3 = (u64)args->addr_len;
	}
	return 0;
}

TRACEPOINT_PROBE(syscalls, sys_exit_recvfrom)
{
	return kindling_io_exit(args, KINDLING_EV_RECVFROM, args->ret, KINDLING_IO_BUFFER,
				KINDLING_PEER_ARG_PTR);
}
#endif

#ifdef KINDLING_HAVE_SYS_SENDMSG
TRACEPOINT_PROBE(syscalls, sys_enter_sendmsg)
{
	kindling_io_enter(KINDLING_EV_SENDMSG, (u64)(u32)args->fd, (u64)(u32)args->flags, 0,
			  (u64)args->msg, 1);
	return 0;
}

TRACEPOINT_PROBE(syscalls, sys_exit_sendmsg)
{
	return kindling_io_exit(args, KINDLING_EV_SENDMSG, args->ret, KINDLING_IO_MSG,
				KINDLING_PEER_MSG);
}
#endif

#ifdef KINDLING_HAVE_SYS_RECVMSG
TRACEPOINT_PROBE(syscalls, sys_enter_recvmsg)
{
	kindling_io_enter(KINDLING_EV_RECVMSG, (u64)(u32)args->fd, (u64)(u32)args->flags, 0,
			  (u64)args->msg, 1);
	return 0;
}

TRACEPOINT_PROBE(syscalls, sys_exit_recvmsg)
{
	return kindling_io_exit(args, KINDLING_EV_RECVMSG, args->ret, KINDLING_IO_MSG,
				KINDLING_PEER_MSG);
}
#endif

#ifdef KINDLING_HAVE_SYS_SENDMMSG
TRACEPOINT_PROBE(syscalls, sys_enter_sendmmsg)
{
	kindling_io_enter(KINDLING_EV_SENDMMSG, (u64)(u32)args->fd, (u64)(u32)args->vlen,
			  (u64)(u32)args->flags, (u64)args->mmsg, 1);
	return 0;
}

TRACEPOINT_PROBE(syscalls, sys_exit_sendmmsg)
{
	return kindling_io_exit(args, KINDLING_EV_SENDMMSG, args->ret, KINDLING_IO_MMSG,
				KINDLING_PEER_MSG);
}
#endif

#ifdef KINDLING_HAVE_SYS_RECVMMSG
TRACEPOINT_PROBE(syscalls, sys_enter_recvmmsg)
{
	kindling_io_enter(KINDLING_EV_RECVMMSG, (u64)(u32)args->fd, (u64)(u32)args->vlen,
			  (u64)(u32)args->flags, (u64)args->mmsg, 1);
	return 0;
}

TRACEPOINT_PROBE(syscalls, sys_exit_recvmmsg)
{
	return kindling_io_exit(args, KINDLING_EV_RECVMMSG, args->ret, KINDLING_IO_MMSG,
				KINDLING_PEER_MSG);
}
#endif

#ifdef KINDLING_HAVE_SYS_SENDFILE64
TRACEPOINT_PROBE(syscalls, sys_enter_sendfile64)
{
	kindling_io_enter(KINDLING_EV_SENDFILE, (u64)(u32)args->out_fd, (u64)(u32)args->in_fd,
			  args->count, 0, 0);
	return 0;
}

TRACEPOINT_PROBE(syscalls, sys_exit_sendfile64)
{
	return kindling_io_exit(args, KINDLING_EV_SENDFILE, args->ret, KINDLING_IO_NONE,
				KINDLING_PEER_NONE);
}
#endif

/* Mark calls that move data through a socket, for payloads of sockets only. */
#ifdef KINDLING_HAVE_SOCK_SOCK_SEND_LENGTH
TRACEPOINT_PROBE(sock, sock_send_length)
{
	kindling_mark_socket();
	return 0;
}
#endif

#ifdef KINDLING_HAVE_SOCK_SOCK_RECV_LENGTH
TRACEPOINT_PROBE(sock, sock_recv_length)
{
	kindling_mark_socket();
	return 0;
}
#endif
