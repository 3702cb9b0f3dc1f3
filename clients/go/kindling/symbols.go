package kindling

import (
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// The symbolic names of the numbers events carry (errno values, signals and
// flags), from golang.org/x/sys/unix; the Python client takes the same names
// from the C library, and the shared vectors in clients/testdata hold both
// to the same text.

// errnoSpelling is where x/sys/unix names an errno value differently from
// the C library (and Python's errno module).
var errnoSpelling = map[string]string{"EFSCORRUPTED": "EUCLEAN", "EHWPOISON": ""}

// ErrnoName returns the errno name of v ("ENOENT" for 2), or "" if it has
// none.
func ErrnoName(v int64) string {
	if v <= 0 || v > 4095 {
		return ""
	}
	name := unix.ErrnoName(syscall.Errno(v))
	if spelled, ok := errnoSpelling[name]; ok {
		return spelled
	}
	return name
}

// SignalName returns the name of a standard signal ("SIGKILL" for 9), or ""
// for others (real-time signals have no fixed names).
func SignalName(v uint64) string {
	if v < 1 || v > 31 {
		return ""
	}
	return unix.SignalName(syscall.Signal(v))
}

type flag struct {
	name string
	bits uint64
}

// Composite flags (O_SYNC holds O_DSYNC's bit, O_TMPFILE O_DIRECTORY's) come first.
var openFlags = []flag{
	{"O_CREAT", unix.O_CREAT}, {"O_EXCL", unix.O_EXCL}, {"O_NOCTTY", unix.O_NOCTTY},
	{"O_TRUNC", unix.O_TRUNC}, {"O_APPEND", unix.O_APPEND}, {"O_NONBLOCK", unix.O_NONBLOCK},
	{"O_SYNC", unix.O_SYNC}, {"O_DSYNC", unix.O_DSYNC}, {"O_ASYNC", unix.O_ASYNC},
	{"O_DIRECT", unix.O_DIRECT}, {"O_TMPFILE", unix.O_TMPFILE}, {"O_DIRECTORY", unix.O_DIRECTORY},
	{"O_NOFOLLOW", unix.O_NOFOLLOW}, {"O_NOATIME", unix.O_NOATIME}, {"O_CLOEXEC", unix.O_CLOEXEC},
	{"O_PATH", unix.O_PATH},
}

var accessModes = map[uint64]string{unix.O_RDONLY: "O_RDONLY", unix.O_WRONLY: "O_WRONLY", unix.O_RDWR: "O_RDWR"}

var socketFlags = []flag{{"SOCK_NONBLOCK", unix.SOCK_NONBLOCK}, {"SOCK_CLOEXEC", unix.SOCK_CLOEXEC}}

var socketTypes = map[uint64]string{
	unix.SOCK_STREAM: "SOCK_STREAM", unix.SOCK_DGRAM: "SOCK_DGRAM", unix.SOCK_RAW: "SOCK_RAW",
	unix.SOCK_SEQPACKET: "SOCK_SEQPACKET",
}

var domains = map[uint64]string{
	unix.AF_UNIX: "AF_UNIX", unix.AF_INET: "AF_INET", unix.AF_INET6: "AF_INET6",
	unix.AF_NETLINK: "AF_NETLINK", unix.AF_PACKET: "AF_PACKET",
}

var msgFlags = []flag{
	{"MSG_OOB", unix.MSG_OOB}, {"MSG_PEEK", unix.MSG_PEEK}, {"MSG_DONTROUTE", unix.MSG_DONTROUTE},
	{"MSG_TRUNC", unix.MSG_TRUNC}, {"MSG_DONTWAIT", unix.MSG_DONTWAIT}, {"MSG_EOR", unix.MSG_EOR},
	{"MSG_WAITALL", unix.MSG_WAITALL}, {"MSG_CONFIRM", unix.MSG_CONFIRM},
	{"MSG_ERRQUEUE", unix.MSG_ERRQUEUE}, {"MSG_NOSIGNAL", unix.MSG_NOSIGNAL},
	{"MSG_MORE", unix.MSG_MORE}, {"MSG_FASTOPEN", unix.MSG_FASTOPEN},
	{"MSG_CMSG_CLOEXEC", unix.MSG_CMSG_CLOEXEC},
}

var shutdownHows = map[uint64]string{unix.SHUT_RD: "SHUT_RD", unix.SHUT_WR: "SHUT_WR", unix.SHUT_RDWR: "SHUT_RDWR"}

// bits names the flags set in v, after first; bits without a name follow
// in hex, and no bits at all are "0".
func bits(v uint64, table []flag, first ...string) string {
	parts := first
	for _, f := range table {
		if f.bits != 0 && v&f.bits == f.bits {
			parts = append(parts, f.name)
			v &^= f.bits
		}
	}
	if v != 0 {
		parts = append(parts, "0x"+strconv.FormatUint(v, 16))
	}
	if len(parts) == 0 {
		return "0"
	}
	return strings.Join(parts, "|")
}

func openFlagsText(v uint64) string {
	mode, ok := accessModes[v&unix.O_ACCMODE]
	if !ok {
		return bits(v, openFlags)
	}
	return bits(v&^unix.O_ACCMODE, openFlags, mode)
}

func socketTypeText(v uint64) string {
	kind, ok := socketTypes[v&0xf]
	if !ok {
		return bits(v, socketFlags)
	}
	return bits(v&^0xf, socketFlags, kind)
}

func modeText(v uint64) string {
	if v == 0 {
		return "0"
	}
	return "0" + strconv.FormatUint(v, 8)
}

func named(names map[uint64]string) func(uint64) string {
	return func(v uint64) string { return names[v] }
}

// renderers give the symbolic form of an integer attribute, by event and key.
var renderers = func() map[[2]string]func(uint64) string {
	r := map[[2]string]func(uint64) string{
		{"accept4", "flags"}: func(v uint64) string { return bits(v, socketFlags) },
		{"shutdown", "how"}:  named(shutdownHows),
	}
	for _, ev := range []string{"open", "openat", "openat2"} {
		r[[2]string{ev, "flags"}] = openFlagsText
	}
	for _, ev := range []string{"pipe2", "dup3"} {
		r[[2]string{ev, "flags"}] = func(v uint64) string { return bits(v, openFlags) }
	}
	for _, ev := range []string{"socket", "socketpair"} {
		r[[2]string{ev, "domain"}] = named(domains)
		r[[2]string{ev, "type"}] = socketTypeText
	}
	for _, ev := range []string{"sendto", "recvfrom", "sendmsg", "recvmsg", "sendmmsg", "recvmmsg"} {
		r[[2]string{ev, "flags"}] = func(v uint64) string { return bits(v, msgFlags) }
	}
	for _, ev := range []string{"open", "openat", "openat2", "creat", "mkdir", "mkdirat"} {
		r[[2]string{ev, "mode"}] = modeText
	}
	for _, ev := range []string{"kill", "tgkill", "process_exit"} {
		r[[2]string{ev, "signal"}] = SignalName
	}
	return r
}()

// SymbolicAttribute returns the symbolic form of an integer attribute of an
// event, or "" if it has none: for example "O_RDONLY|O_CLOEXEC" for the
// flags of openat, "SOCK_STREAM|SOCK_CLOEXEC" for the type of socket and
// "SIGKILL" for the signal of kill. Bits without a name follow in hex.
func SymbolicAttribute(event, key string, v int64) string {
	render := renderers[[2]string{event, key}]
	if render == nil || v < 0 {
		return ""
	}
	return render(uint64(v))
}
