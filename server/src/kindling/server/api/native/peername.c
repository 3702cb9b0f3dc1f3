/*
 * Tells the service's request handlers which connection a call came on, so
 * that they can read the caller's credentials (SO_PEERCRED, SO_PEERGROUPS).
 *
 * gRPC Python gives a handler only context.peer(), a string gRPC's core
 * makes from getpeername(); for a unix socket whose client did not bind a
 * name that is "unix:" for every caller, and no API hands out the
 * connection's fd (grpc/grpc#28755). Preloaded into the service
 * (LD_PRELOAD, see callers.py), this library wraps getpeername(), accept()
 * and accept4(): for the accepting side of a unix socket connection they
 * return the abstract name
 *
 *     "\0kindling-peer:<tag>:<fd>:<inode>"
 *
 * instead, which gRPC then shows as "unix-abstract:kindling-peer:...". The
 * handler checks the tag, that fd still is the socket with that inode, and
 * asks the kernel who is on the other end. The tag is random for each
 * start, so a client that binds such a name itself is not believed should
 * some gRPC version take the name from elsewhere; the service checks at
 * start that its own calls are recognised and refuses Configure to
 * everyone when they are not.
 *
 * It costs nothing on the event path: gRPC calls getpeername() a few times
 * per connection, never per message.
 *
 * Built by `make setup` (scripts/setup.sh) into libkindling_peername.so.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

typedef int (*getpeername_fn)(int, struct sockaddr *, socklen_t *);
typedef int (*accept4_fn)(int, struct sockaddr *, socklen_t *, int);
typedef int (*accept_fn)(int, struct sockaddr *, socklen_t *);

static getpeername_fn real_getpeername;
static accept4_fn real_accept4;
static accept_fn real_accept;
static char tag[33];

__attribute__((constructor)) static void kindling_peername_init(void)
{
	unsigned char random[16];
	real_getpeername = (getpeername_fn)dlsym(RTLD_NEXT, "getpeername");
	real_accept4 = (accept4_fn)dlsym(RTLD_NEXT, "accept4");
	real_accept = (accept_fn)dlsym(RTLD_NEXT, "accept");
	if (getrandom(random, sizeof(random), 0) != (ssize_t)sizeof(random))
		return; /* no tag: kindling_peer_tag() says so, nothing is rewritten */
	for (size_t i = 0; i < sizeof(random); i++)
		snprintf(tag + 2 * i, 3, "%02x", random[i]);
}

/* The per-start tag, or "" when the library could not make one. */
const char *kindling_peer_tag(void)
{
	return tag;
}

/*
 * Replace the peer address of fd with its abstract name when fd is the
 * accepting side of a unix socket connection (its own address is the
 * listener's path); `room` is the caller's buffer size.
 */
static void rename_peer(int fd, struct sockaddr *addr, socklen_t room, socklen_t *len)
{
	struct sockaddr_un own;
	socklen_t own_len = sizeof(own);
	struct stat info;
	struct sockaddr_un name;

	if (tag[0] == '\0' || addr == NULL || len == NULL || addr->sa_family != AF_UNIX)
		return;
	if (getsockname(fd, (struct sockaddr *)&own, &own_len) != 0 ||
	    own_len <= offsetof(struct sockaddr_un, sun_path) || fstat(fd, &info) != 0)
		return; /* an unnamed (client) socket: leave it */
	memset(&name, 0, sizeof(name));
	name.sun_family = AF_UNIX;
	int n = snprintf(name.sun_path + 1, sizeof(name.sun_path) - 1, "kindling-peer:%s:%d:%lu",
			 tag, fd, (unsigned long)info.st_ino);
	if (n <= 0 || (size_t)n >= sizeof(name.sun_path) - 1)
		return;
	socklen_t full = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + (size_t)n);
	memcpy(addr, &name, room < full ? room : full);
	*len = full;
}

int getpeername(int fd, struct sockaddr *addr, socklen_t *len)
{
	socklen_t room = len ? *len : 0;
	int result = real_getpeername(fd, addr, len);
	if (result == 0)
		rename_peer(fd, addr, room, len);
	return result;
}

int accept4(int fd, struct sockaddr *addr, socklen_t *len, int flags)
{
	socklen_t room = len ? *len : 0;
	int connection = real_accept4(fd, addr, len, flags);
	if (connection >= 0)
		rename_peer(connection, addr, room, len);
	return connection;
}

int accept(int fd, struct sockaddr *addr, socklen_t *len)
{
	socklen_t room = len ? *len : 0;
	int connection = real_accept(fd, addr, len);
	if (connection >= 0)
		rename_peer(connection, addr, room, len);
	return connection;
}
