// Command kindling-events prints the kernel events of the kindling probe
// service, one per line.
//
// Usage:
//
//	kindling-events [--socket PATH] [filter flags: --name NAMES --pid PIDS ...] [--include-self] [-o compact|json|table] [--color auto|always|never] [--count N] [--timeout 30s] [--follow]
//	kindling-events stats [--interval 1s] [--count N]
//	kindling-events version
//	kindling-events completion bash|zsh|fish|powershell
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
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	eventv1 "github.com/kindling-probe/kindling-probe/clients/go/gen/kindling/event/v1"
	probev1 "github.com/kindling-probe/kindling-probe/clients/go/gen/kindling/probe/v1"
	"github.com/kindling-probe/kindling-probe/clients/go/internal/command"
	"github.com/kindling-probe/kindling-probe/clients/go/internal/reach"
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

const longHelp = `kindling-events prints kernel events from the kindling probe service, one per line.

Filters: an event is printed when it matches every filter flag given and one
value of each; list flags take comma lists or repeat, --comm and --exe one RE2
pattern each. An event matching any --exclude- flag is left out, and so is the
command's own process, unless --include-self.

Compact lines show each value once, errno names after failed calls' return
values (ret=-2 ENOENT) and flags by name (flags=O_RDONLY|O_CLOEXEC). JSON lines
are the event in protobuf JSON (proto field names, zero values written) after
"time" (RFC 3339, nanoseconds) and "node".

Loss notices go to stderr. SIGINT and SIGTERM stop the command
cleanly with exit status 0. Exit status 1 means an error, that the service
stopped, or that --timeout ended the run before --count events arrived; 2
means bad usage or a request the service rejected.`

const examples = `  kindling-events --name connect,accept4 --pid 1234 -o json --count 10
  kindling-events --category net --remote-port 80,8000-8999 --errors-only
  kindling-events --process-tree 4242 --exclude-name read,write --min-latency 1ms
  kindling-events --follow --timeout 1h
  kindling-events completion bash > /etc/bash_completion.d/kindling-events`

// version is the command's version, set at build time with
// -ldflags "-X main.version=..." (the module's when unset).
var version = ""

// options are the parsed command-line flags.
type options struct {
	socket  string
	filters filterFlags
	format  string
	payload string
	count   int
	timeout time.Duration
	follow  bool
	self    bool
	color   string
	stats   *statsOptions // set when the stats subcommand runs
}

// payloadModes are the --payload choices.
var payloadModes = map[string]probev1.PayloadMode{
	"none":    probev1.PayloadMode_PAYLOAD_MODE_UNSPECIFIED,
	"sockets": probev1.PayloadMode_PAYLOAD_MODE_SOCKETS,
	"all":     probev1.PayloadMode_PAYLOAD_MODE_ALL,
}

// seconds is a duration flag that also takes a plain number of seconds
// ("0.5", as the Python CLI does) besides Go durations ("30s", "1m30s").
type seconds time.Duration

func (d *seconds) String() string { return time.Duration(*d).String() }

func (d *seconds) Set(value string) error {
	parsed, err := time.ParseDuration(value)
	if err != nil {
		f, ferr := strconv.ParseFloat(value, 64)
		if ferr != nil || math.IsNaN(f) || math.IsInf(f, 0) {
			return notDuration(value)
		}
		parsed = secondsToDuration(math.Abs(f))
		if f < 0 {
			parsed = -parsed
		}
	}
	if parsed < 0 {
		return notDuration(value)
	}
	*d = seconds(parsed)
	return nil
}

func (d *seconds) Type() string { return "duration" }

func notDuration(value string) error {
	return fmt.Errorf("%q is not a duration (30s, 1m30s) or a number of seconds, 0 or more", value)
}

// newCommand returns the command; running it fills opts and sets ran.
func newCommand(opts *options, ran *bool, stdout, stderr io.Writer) *cobra.Command {
	cmd := &cobra.Command{
		Use:           prog + " [flags]",
		Short:         "Print kernel events from the kindling probe service, one per line",
		Long:          longHelp,
		Example:       examples,
		Version:       commandVersion(),
		Args:          cobra.NoArgs,
		SilenceErrors: true, // run prints them, with the usage hint
		SilenceUsage:  true,
		RunE: func(*cobra.Command, []string) error {
			*ran = true
			return nil
		},
	}
	cmd.SetFlagErrorFunc(command.FlagError)
	cmd.SetOut(stdout)
	cmd.SetErr(stderr)
	flags := cmd.Flags()
	flags.SortFlags = false
	cmd.PersistentFlags().StringVar(&opts.socket, "socket", kindling.SocketFromEnv(),
		"unix socket of the probe service ($KINDLING_SOCKET, else /run/kindling.sock)")
	flags.BoolVar(&opts.self, "include-self", false, "also print the events of this command's own process (left out by default)")
	flags.StringVar(&opts.payload, "payload", "none",
		"show the bytes I/O events moved: sockets (calls on sockets) or all (calls on any descriptor)")
	flags.StringVarP(&opts.format, "output", "o", "compact",
		"output format: compact (one readable line per event), json (one protobuf JSON object per line) or table (aligned columns under a header)")
	flags.StringVar(&opts.color, "color", "auto",
		"colour compact lines: auto (on a terminal, unless $NO_COLOR is set), always or never")
	flags.IntVar(&opts.count, "count", 0, "exit after printing N events (0: no limit)")
	flags.Var((*seconds)(&opts.timeout), "timeout", "stop after this long: 30s, 1m30s, or seconds (0: never)")
	flags.BoolVar(&opts.follow, "follow", false,
		"keep going when the service restarts or the connection breaks: reconnect, resume where the stream was, and report on stderr what could not be recovered")
	addFilterFlags(flags, &opts.filters)
	_ = cmd.RegisterFlagCompletionFunc("output", cobra.FixedCompletions([]string{"compact", "json", "table"}, cobra.ShellCompDirectiveNoFileComp))
	_ = cmd.RegisterFlagCompletionFunc("color", cobra.FixedCompletions([]string{"auto", "always", "never"}, cobra.ShellCompDirectiveNoFileComp))
	_ = cmd.RegisterFlagCompletionFunc("payload", cobra.FixedCompletions([]string{"none", "sockets", "all"}, cobra.ShellCompDirectiveNoFileComp))
	stats := &statsOptions{}
	statsCmd := &cobra.Command{
		Use:   "stats",
		Short: "Show the service's live counters, refreshed every second",
		Long: `stats shows the kindling probe service's live counters: its streams and, per
event the kernel counted, what it emitted (and how many a second), filtered
and lost. A terminal is redrawn in place; a pipe gets one block per refresh.
SIGINT stops it with exit status 0.`,
		Args: cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			opts.stats = stats
			*ran = true
			return nil
		},
	}
	stats.interval = time.Second
	statsCmd.Flags().Var((*seconds)(&stats.interval), "interval", "time between refreshes: 1s, 500ms, or seconds")
	statsCmd.Flags().IntVar(&stats.count, "count", 0, "exit after N refreshes (0: no limit)")
	cmd.AddCommand(statsCmd)
	cmd.AddCommand(command.VersionCommand(prog, commandVersion()))
	return cmd
}

// commandVersion is the version set at build time, or the module's.
func commandVersion() string { return command.Version(version) }

// parseFlags parses args. It returns done = true with the exit code when the
// command should exit at once (after --help, --version, a subcommand such as
// completion, or a usage error).
func parseFlags(args []string, stdout, stderr io.Writer) (opts options, code int, done bool) {
	ran := false
	cmd := newCommand(&opts, &ran, stdout, stderr)
	cmd.SetArgs(args)
	usageError := func(msg string) (options, int, bool) {
		fmt.Fprintf(stderr, "%s: %s\nRun '%s --help' for usage.\n", prog, msg, prog)
		return options{}, exitUsage, true
	}
	if err := cmd.Execute(); err != nil {
		return usageError(err.Error())
	}
	if !ran {
		return options{}, exitOK, true // help, version or completion was printed
	}
	switch {
	case opts.format != "compact" && opts.format != "json" && opts.format != "table":
		return usageError(fmt.Sprintf("--output: invalid output format %q: use -o compact, json or table", opts.format))
	case payloadModes[opts.payload] == 0 && opts.payload != "none":
		return usageError(fmt.Sprintf("--payload: invalid payload choice %q: use --payload sockets or --payload all", opts.payload))
	case opts.color != "auto" && opts.color != "always" && opts.color != "never":
		return usageError(fmt.Sprintf("--color: invalid color choice %q: use --color auto, always or never", opts.color))
	case opts.count < 0:
		return usageError("--count: must not be negative")
	case opts.socket == "":
		return usageError("--socket: the socket path must not be empty")
	}
	if _, _, err := opts.filters.filters(); err != nil {
		return usageError(err.Error())
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

	if problem := reach.Problem(opts.socket); problem != "" {
		return fail("%s", problem)
	}
	client, err := kindling.Dial(opts.socket)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return fail("%v or pass --socket", err)
		}
		return fail("%v", err)
	}
	defer client.Close()
	if opts.stats != nil {
		if err := runStats(ctx, client, *opts.stats, stdout); err != nil && ctx.Err() == nil {
			return fail("querying the kindling probe service at %s failed: %s", opts.socket, status.Convert(err).Message())
		}
		return exitOK
	}

	// The stream's context ends on a signal (ctx), on --timeout, or when
	// --count events were printed. The timeout cancels the context rather
	// than setting a deadline, which gRPC would also send to the service:
	// the stream could then fail with DeadlineExceeded before the context
	// reported that it is done.
	streamCtx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	if opts.timeout > 0 {
		timer := time.AfterFunc(opts.timeout, func() { cancel(errTimedOut) })
		defer timer.Stop()
	}

	req := &probev1.SubscribeRequest{Payload: payloadModes[opts.payload]}
	allow, deny, _ := opts.filters.filters() // checked by parseFlags
	if allow != nil {
		req.AllowList = []*probev1.EventFilter{allow}
	}
	req.DenyList = deny
	if !opts.self {
		// The command's own gRPC traffic would otherwise fill its output.
		req.DenyList = append(req.DenyList, &probev1.EventFilter{Pids: []uint32{uint32(os.Getpid())}})
	}

	out := bufio.NewWriter(stdout)
	compact := kindling.CompactOptions{Color: useColor(opts.color, stdout)}
	printed := 0
	// stopped reports the exit status when the stream's context has ended:
	// by a signal, by --timeout, or by --count.
	stopped := func() int {
		if context.Cause(streamCtx) != errTimedOut || opts.count == 0 || printed >= opts.count {
			return exitOK
		}
		return fail("timed out after %ss with %d of %d events",
			kindling.FormatFloat(opts.timeout.Seconds()), printed, opts.count)
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
			if flagged := inFlagTerms(st.Message()); flagged != "" {
				fmt.Fprintf(stderr, "%s: %s\n", prog, flagged)
			} else {
				fmt.Fprintf(stderr, "%s: the service rejected the request: %s\n", prog, st.Message())
			}
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
			if problem := reach.Problem(opts.socket); problem != "" { // the errno of our own connect() says why
				return fail("%s", problem)
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
			b, err := kindling.FormatJSON(ev, resp.GetBootTime().AsTime(), resp.GetNodeName())
			if err != nil {
				out.Flush()
				return true, fail("encoding event %d as JSON: %v", ev.GetSeq(), err)
			}
			out.Write(b)
		} else if opts.format == "table" {
			if printed == 0 {
				out.WriteString(kindling.TableHeader + "\n")
			}
			out.WriteString(kindling.FormatTableRow(ev, resp.GetBootTime().AsTime()))
		} else {
			out.WriteString(compact.Format(ev, resp.GetBootTime().AsTime()))
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

	warnDisabled(streamCtx, client, opts.filters.allow.GetNames(), stderr)
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

// useColor says whether --color choice colours lines written to w: "auto"
// colours only a terminal, and only when $NO_COLOR is unset or empty
// (https://no-color.org); "always" and "never" decide alone.
func useColor(choice string, w io.Writer) bool {
	if choice != "auto" {
		return choice == "always"
	}
	return os.Getenv("NO_COLOR") == "" && isTerminal(w)
}

// isTerminal says whether w is a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}

// warnDisabled warns on stderr about the --name events the service's
// catalogue has disabled: none of them will arrive until they are enabled.
func warnDisabled(ctx context.Context, client *kindling.Client, names []string, stderr io.Writer) {
	if len(names) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	info, err := client.GetInfo(ctx)
	if err != nil {
		return // the subscription reports what is wrong
	}
	disabled := map[string]bool{}
	for _, ev := range info.GetEvents() {
		if !ev.GetEnabled() {
			disabled[ev.GetName()] = true
		}
	}
	warned := map[string]bool{}
	for _, name := range names {
		if disabled[name] && !warned[name] {
			warned[name] = true
			fmt.Fprintf(stderr, "%s: warning: --name %s: the service has disabled this event, so none will arrive until it is enabled (\"kindling configure --enable %s\")\n",
				prog, name, name)
		}
	}
}

// secondsToDuration converts a non-negative number of seconds to a
// duration, saturating instead of overflowing.
func secondsToDuration(s float64) time.Duration {
	if s >= math.MaxInt64/float64(time.Second) {
		return math.MaxInt64
	}
	return time.Duration(s * float64(time.Second))
}
