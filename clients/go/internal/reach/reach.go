// Package reach says in one sentence why no kindling probe service answers
// on a unix socket path, for the commands' error messages.
package reach

import (
	"errors"
	"net"
	"os"
	"syscall"
	"time"
)

// Problem returns one sentence saying why nothing serves on the unix
// socket path, or "". gRPC reports every failure to connect as Unavailable
// with a message of its own; the errno of a connect() of our own says what
// is wrong (and the Python command says the same, from the same errno
// values).
func Problem(path string) string {
	const start = `"kindling-probe serve"`
	const point = "$KINDLING_SOCKET or --socket"
	info, err := os.Stat(path)
	if errors.Is(err, syscall.ENOENT) {
		return "no kindling probe service at " + path + ": the socket does not exist; start the service with " +
			start + ", or point " + point + " at its socket"
	}
	if err != nil {
		return connectSentence(path, err)
	}
	if info.Mode().Type() != os.ModeSocket {
		return "no kindling probe service at " + path + ": the path exists but is not a unix socket"
	}
	conn, err := net.DialTimeout("unix", path, 5*time.Second)
	if err != nil {
		var netErr net.Error
		if errors.As(err, &netErr) && netErr.Timeout() {
			return "" // a busy service: let gRPC wait for it
		}
		return connectSentence(path, err)
	}
	conn.Close()
	return ""
}

func connectSentence(path string, err error) string {
	var errno syscall.Errno
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return "no kindling probe service listens at " + path + ` (a socket left behind by a service that stopped); start it with "kindling-probe serve", or point $KINDLING_SOCKET or --socket at a running one`
	case errors.Is(err, syscall.EACCES), errors.Is(err, syscall.EPERM):
		return "cannot connect to the kindling probe service at " + path +
			": permission denied; run as a user allowed to use the socket (root or the socket's group)"
	case errors.As(err, &errno):
		return "cannot connect to the kindling probe service at " + path + ": " + errno.Error()
	default:
		return "cannot connect to the kindling probe service at " + path + ": " + err.Error()
	}
}
