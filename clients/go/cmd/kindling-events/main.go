// Command kindling-events prints the kernel events of the kindling probe
// service, one per line.
//
// Usage:
//
//	kindling-events [--socket PATH] [--name NAME]... [--pid PID]... [-o compact|json] [--count N] [--timeout SECONDS] [--follow]
//
// Run "kindling-events --help" for the details. Exit status: 0 on success
// (including when --count events were printed, when --timeout ends a run
// without --count, and on SIGINT or SIGTERM); 1 on errors, when the service
// stops, and when --timeout ends a run before --count events arrived; 2 for
// bad usage and for requests the service rejects as invalid.
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	eventv1 "github.com/kindling-probe/kindling-probe/clients/go/gen/kindling/event/v1"
	probev1 "github.com/kindling-probe/kindling-probe/clients/go/gen/kindling/probe/v1"
	"github.com/kindling-probe/kindling-probe/clients/go/kindling"
)

const prog = "kindling-events"

// Exit codes.
const (
	exitOK    = 0
	exitError = 1
	exitUsage = 2
)

func main() {
	// SIGINT and SIGTERM cancel the context: the stream stops, the output is
	// flushed and the command exits 0.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

const usageText = `kindling-events prints kernel events from the kindling probe service, one per line.

Usage:
  kindling-events [flags]

Flags:
  --socket PATH      unix socket of the probe service (default %s,
                     from $KINDLING_SOCKET, else /run/kindling.sock)
  --name NAME        print only events with this name; repeat for more names
  --pid PID          print only events of this process id; repeat for more pids
  --payload WHICH    show the bytes I/O events moved: sockets (calls on sockets)
                     or all (calls on any descriptor) (default none)
  -o FORMAT          output format: compact (one human-readable line per event)
                     or json (one protobuf JSON object per line) (default compact)
  --count N          exit after printing N events (default 0: no limit)
  --timeout SECONDS  stop after SECONDS, which may be fractional (default 0: none)
  --follow           keep going when the service restarts or the connection
                     breaks: reconnect, resume the stream where it was, and
                     report on stderr what could not be recovered
  -h, --help         print this help

Every flag may be written with one or two dashes. With both --name and --pid,
an event must match one of the names and one of the pids.

Loss notices go to stderr. SIGINT and SIGTERM stop the command cleanly with
exit status 0. Exit status 1 means an error, that the service stopped, or that
--timeout ended the run before --count events arrived; 2 means bad usage or a
request the service rejected.

Example:
  kindling-events --name connect --name accept4 --pid 1234 -o json --count 10
`

// options are the parsed command-line flags.
type options struct {
	socket  string
	names   []string
	pids    []uint32
	format  string
	payload string
	count   int
	timeout float64
	follow  bool
}

// payloadModes are the --payload choices.
var payloadModes = map[string]probev1.PayloadMode{
	"none":    probev1.PayloadMode_PAYLOAD_MODE_UNSPECIFIED,
	"sockets": probev1.PayloadMode_PAYLOAD_MODE_SOCKETS,
	"all":     probev1.PayloadMode_PAYLOAD_MODE_ALL,
}

// stringList is a repeatable string flag.
type stringList []string

func (l *stringList) String() string { return strings.Join(*l, ",") }

func (l *stringList) Set(s string) error {
	if s == "" {
		return errors.New("empty name")
	}
	*l = append(*l, s)
	return nil
}

// pidList is a repeatable process id flag.
type pidList []uint32

func (l *pidList) String() string {
	s := make([]string, len(*l))
	for i, p := range *l {
		s[i] = strconv.FormatUint(uint64(p), 10)
	}
	return strings.Join(s, ",")
}

func (l *pidList) Set(s string) error {
	p, err := strconv.ParseUint(s, 10, 32)
	if err != nil || p == 0 {
		return errors.New("not a process id (a positive integer)")
	}
	*l = append(*l, uint32(p))
	return nil
}

// parseFlags parses args. It returns done = true with the exit code when the
// command should exit at once (after --help or a usage error).
func parseFlags(args []string, stdout, stderr io.Writer) (opts options, code int, done bool) {
	flags := flag.NewFlagSet(prog, flag.ContinueOnError)
	flags.SetOutput(io.Discard) // errors and help are printed below
	flags.Usage = func() {}
	var names stringList
	var pids pidList
	flags.StringVar(&opts.socket, "socket", kindling.SocketFromEnv(), "")
	flags.Var(&names, "name", "")
	flags.Var(&pids, "pid", "")
	flags.StringVar(&opts.format, "o", "compact", "")
	flags.StringVar(&opts.payload, "payload", "none", "")
	flags.IntVar(&opts.count, "count", 0, "")
	flags.Float64Var(&opts.timeout, "timeout", 0, "")
	flags.BoolVar(&opts.follow, "follow", false, "")

	usageError := func(msg string) (options, int, bool) {
		fmt.Fprintf(stderr, "%s: %s\nRun '%s --help' for usage.\n", prog, msg, prog)
		return options{}, exitUsage, true
	}
	if err := flags.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprintf(stdout, usageText, kindling.SocketFromEnv())
			return options{}, exitOK, true
		}
		return usageError(err.Error())
	}
	opts.names, opts.pids = names, pids
	switch {
	case flags.NArg() > 0:
		return usageError(fmt.Sprintf("unexpected argument %q", flags.Arg(0)))
	case opts.format != "compact" && opts.format != "json":
		return usageError(fmt.Sprintf("invalid output format %q: use -o compact or -o json", opts.format))
	case payloadModes[opts.payload] == 0 && opts.payload != "none":
		return usageError(fmt.Sprintf("invalid payload choice %q: use --payload sockets or --payload all", opts.payload))
	case opts.count < 0:
		return usageError("--count must not be negative")
	case opts.timeout < 0 || math.IsNaN(opts.timeout) || math.IsInf(opts.timeout, 0):
		return usageError("--timeout must be a number of seconds, 0 or more")
	case opts.socket == "":
		return usageError("--socket must not be empty")
	}
	return opts, exitOK, false
}

// errTimedOut is the cancellation cause when --timeout expires.
var errTimedOut = errors.New("timed out")

// run is the command: it parses args, prints events to stdout and notices
// and errors to stderr, and returns the exit status. It stops when ctx is
// cancelled, which main does on SIGINT and SIGTERM, and then returns 0.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	opts, code, done := parseFlags(args, stdout, stderr)
	if done {
		return code
	}
	fail := func(format string, a ...any) int {
		fmt.Fprintf(stderr, prog+": "+format+"\n", a...)
		return exitError
	}

	client, err := kindling.Dial(opts.socket)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return fail("%v or pass --socket", err)
		}
		return fail("%v", err)
	}
	defer client.Close()

	// The stream's context ends on a signal (ctx), on --timeout, or when
	// --count events were printed. The timeout cancels the context rather
	// than setting a deadline, which gRPC would also send to the service:
	// the stream could then fail with DeadlineExceeded before the context
	// reported that it is done.
	streamCtx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	if opts.timeout > 0 {
		timer := time.AfterFunc(secondsToDuration(opts.timeout), func() { cancel(errTimedOut) })
		defer timer.Stop()
	}

	req := &probev1.SubscribeRequest{Payload: payloadModes[opts.payload]}
	if len(opts.names) > 0 || len(opts.pids) > 0 {
		req.AllowList = []*probev1.EventFilter{{Names: opts.names, Pids: opts.pids}}
	}

	out := bufio.NewWriter(stdout)
	printed := 0
	// stopped reports the exit status when the stream's context has ended:
	// by a signal, by --timeout, or by --count.
	stopped := func() int {
		if context.Cause(streamCtx) != errTimedOut || opts.count == 0 || printed >= opts.count {
			return exitOK
		}
		return fail("timed out after %ss with %d of %d events",
			strconv.FormatFloat(opts.timeout, 'g', -1, 64), printed, opts.count)
	}
	// streamError reports err, which ended the stream or kept it from
	// starting, and returns the exit status.
	streamError := func(err error, started bool) int {
		if err := out.Flush(); err != nil {
			return fail("writing output: %v", err)
		}
		if streamCtx.Err() != nil {
			return stopped()
		}
		if err == io.EOF {
			return fail("the kindling probe service at %s ended the stream (the service stopped)", opts.socket)
		}
		st := status.Convert(err)
		switch st.Code() {
		case codes.InvalidArgument:
			fmt.Fprintf(stderr, "%s: the service rejected the request: %s\n", prog, st.Message())
			return exitUsage
		case codes.Unavailable, codes.Canceled:
			// Subscribe waits for the connection, so these codes from Recv
			// mean the service went away (the client did not cancel: that
			// was handled above).
			if started {
				return fail("the kindling probe service at %s stopped (%s)", opts.socket, st.Message())
			}
			if st.Code() == codes.Canceled {
				return fail("subscribing to the kindling probe service at %s failed: %s", opts.socket, st.Message())
			}
			if strings.Contains(st.Message(), "permission denied") {
				return fail("cannot connect to the kindling probe service at %s: permission denied; run as a user allowed to use the socket (often root)",
					opts.socket)
			}
			return fail(`the kindling probe service is not reachable at %s (%s); start it with "kindling-probe serve" or pass --socket`,
				opts.socket, st.Message())
		default:
			return fail("subscribing to the kindling probe service at %s failed: %s: %s", opts.socket, st.Code(), st.Message())
		}
	}

	// write prints one event; done says that --count events were printed.
	write := func(ev *eventv1.Event, resp *probev1.SubscribeResponse) (done bool, code int) {
		if opts.format == "json" {
			b, err := kindling.FormatJSON(ev)
			if err != nil {
				out.Flush()
				return true, fail("encoding event %d as JSON: %v", ev.GetSeq(), err)
			}
			out.Write(b)
		} else {
			out.WriteString(kindling.FormatCompact(ev, resp.GetBootTime().AsTime()))
		}
		out.WriteByte('\n')
		printed++
		if opts.count > 0 && printed >= opts.count {
			cancel(nil)
			if err := out.Flush(); err != nil {
				return true, fail("writing output: %v", err)
			}
			return true, exitOK
		}
		return false, exitOK
	}

	if opts.follow {
		return follow(streamCtx, client, req, opts, stderr, out, write, streamError)
	}
	stream, err := client.Subscribe(streamCtx, req)
	if err != nil {
		return streamError(err, false)
	}
	for {
		resp, err := stream.Recv()
		if err != nil {
			return streamError(err, true)
		}
		for _, loss := range resp.GetLosses() {
			fmt.Fprintf(stderr, "%s: %s\n", prog, kindling.FormatLoss(loss))
		}
		for _, ev := range resp.GetEvents() {
			if done, code := write(ev, resp); done {
				return code
			}
		}
		if err := out.Flush(); err != nil {
			return fail("writing output: %v", err)
		}
	}
}

// follow prints the events of a followed subscription (--follow) until ctx
// ends or the service refuses the request, reporting reconnections and
// gaps on stderr.
func follow(ctx context.Context, client *kindling.Client, req *probev1.SubscribeRequest, opts options,
	stderr io.Writer, out *bufio.Writer,
	write func(*eventv1.Event, *probev1.SubscribeResponse) (bool, int),
	streamError func(error, bool) int,
) int {
	followOpts := kindling.FollowOptions{OnReconnect: func(error) {
		fmt.Fprintf(stderr, "%s: reconnected to the kindling probe service at %s\n", prog, opts.socket)
	}}
	var last *probev1.SubscribeResponse
	for it, err := range client.Follow(ctx, req, followOpts) {
		if err != nil {
			return streamError(err, last != nil)
		}
		last = it.Response
		switch {
		case it.Gap != nil:
			out.Flush()
			fmt.Fprintf(stderr, "%s: the stream started over: events after seq %d are unknown (%s)\n",
				prog, it.Gap.LastSeq, it.Gap.Reason)
		case it.Loss != nil:
			out.Flush()
			fmt.Fprintf(stderr, "%s: %s\n", prog, kindling.FormatLoss(it.Loss))
		default:
			if done, code := write(it.Event, it.Response); done {
				return code
			}
		}
		// Each response's events go out together, as without --follow.
		if it.Event != nil && it.Event == lastEvent(it.Response) {
			if err := out.Flush(); err != nil {
				fmt.Fprintf(stderr, "%s: writing output: %v\n", prog, err)
				return exitError
			}
		}
	}
	return exitOK
}

// lastEvent returns the last event of resp, or nil.
func lastEvent(resp *probev1.SubscribeResponse) *eventv1.Event {
	events := resp.GetEvents()
	if len(events) == 0 {
		return nil
	}
	return events[len(events)-1]
}

// secondsToDuration converts a non-negative number of seconds to a
// duration, saturating instead of overflowing.
func secondsToDuration(s float64) time.Duration {
	if s >= math.MaxInt64/float64(time.Second) {
		return math.MaxInt64
	}
	return time.Duration(s * float64(time.Second))
}
