// Command kindling-collector turns the events of the kindling probe service
// into request and TCP metrics and serves them for Prometheus to scrape.
//
// Usage:
//
//	kindling-collector [--socket PATH] [--listen ADDRESS] [--max-routes N] [--max-peers N] [--max-tcp-connections N]
//	kindling-collector version
//
// It subscribes to the socket I/O, connect, accept and close events and the
// TCP events of IPv4 and IPv6 sockets, with their payloads, pairs HTTP/1.x
// requests with their responses on every connection, and exports, through
// the OpenTelemetry SDK and its Prometheus exporter,
// http.server.request.duration, http.client.request.duration,
// kindling.tcp.connects, kindling.tcp.connect.duration and the other TCP and
// self metrics at http://ADDRESS/metrics. It reconnects and resumes the
// stream when the service restarts or the connection breaks, and counts
// what the stream lost.
//
// Exit status: 0 after SIGINT or SIGTERM; 1 when no service answers on the
// socket, the listen address cannot be used or serving the metrics fails;
// 2 for bad usage and for a subscription the service rejects.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"slices"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/kindling-probe/kindling-probe/clients/go/internal/collector"
	"github.com/kindling-probe/kindling-probe/clients/go/internal/command"
	"github.com/kindling-probe/kindling-probe/clients/go/internal/reach"
	"github.com/kindling-probe/kindling-probe/clients/go/kindling"
)

const prog = "kindling-collector"

// Exit codes.
const (
	exitOK    = 0
	exitError = 1
	exitUsage = 2
)

// DefaultListen is where the metrics are served unless --listen says.
const DefaultListen = ":9464"

func main() {
	// SIGINT and SIGTERM cancel the context: the stream and the metrics
	// server stop and the command exits 0.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

const longHelp = `kindling-collector turns the events of the kindling probe service into
request and TCP metrics, and serves them for Prometheus at /metrics.

It pairs HTTP/1.x requests and responses on every IPv4 and IPv6 connection,
server side and client side, and counts TCP connects, retransmissions,
resets and drops:

  http_server_request_duration_seconds   by method, status, route, server
  http_client_request_duration_seconds     address and port, peer, process
  kindling_tcp_connects_total            by server, process and outcome
  kindling_tcp_connect_duration_seconds  successful connects
  kindling_tcp_{retransmits,resets,drops}_total, kindling_tcp_srtt_seconds
  kindling_collector_{events,lost_events,stream_breaks}_total
  kindling_collector_{unmatched_requests,parse_errors}_total

Routes are templated (numeric, long hexadecimal and UUID path segments become
"*"). Each program on a port keeps at most --max-routes routes and
--max-peers peer addresses, and the TCP metrics name at most
--max-tcp-connections connections; later values are "_other". The stream
reconnects and resumes when the service restarts; what it lost is counted
in kindling_collector_lost_events_total and told on stderr.

SIGINT and SIGTERM stop the collector with exit status 0. Exit status 1
means that no service answered on the socket, that the listen address could
not be used or that serving the metrics failed; 2 means bad usage or a
subscription the service rejected.`

const examples = `  kindling-collector
  kindling-collector --socket /run/kindling.sock --listen 127.0.0.1:9464
  curl -s localhost:9464/metrics | grep http_server_request_duration_seconds_count`

// version is the command's version, set at build time with
// -ldflags "-X main.version=..." (the module's when unset).
var version = ""

// options are the parsed command-line flags.
type options struct {
	socket string
	listen string
	limits collector.Limits
}

// newCommand returns the command; running it fills opts and sets ran.
func newCommand(opts *options, ran *bool, stdout, stderr io.Writer) *cobra.Command {
	cmd := &cobra.Command{
		Use:           prog + " [flags]",
		Short:         "Serve request and TCP metrics from the kindling probe service's events",
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
	flags.StringVar(&opts.socket, "socket", kindling.SocketFromEnv(),
		"unix socket of the probe service ($KINDLING_SOCKET, else /run/kindling.sock)")
	flags.StringVar(&opts.listen, "listen", DefaultListen,
		"address to serve the metrics on, host:port (an empty host: every interface; port 0: any free port)")
	flags.IntVar(&opts.limits.Routes, "max-routes", collector.DefaultMaxRoutes,
		`distinct http.route values per program and port before new ones become "_other"`)
	flags.IntVar(&opts.limits.Peers, "max-peers", collector.DefaultMaxPeers,
		`distinct network.peer.address values per program and port before new ones become "_other"`)
	flags.IntVar(&opts.limits.TCPConnections, "max-tcp-connections", collector.DefaultMaxTCPConnections,
		`distinct connections the TCP metrics name by their ends before new ones get network.peer.address "_other"`)
	cmd.AddCommand(command.VersionCommand(prog, commandVersion()))
	return cmd
}

// commandVersion is the version set at build time, or the module's.
func commandVersion() string { return command.Version(version) }

// parseFlags parses args. It returns done = true with the exit code when the
// command should exit at once (after --help, --version, the version
// subcommand, or a usage error).
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
		return options{}, exitOK, true // help or version was printed
	}
	if opts.socket == "" {
		return usageError("--socket: the socket path must not be empty")
	}
	for _, limit := range []struct {
		flag  string
		value int
	}{{"--max-routes", opts.limits.Routes}, {"--max-peers", opts.limits.Peers}, {"--max-tcp-connections", opts.limits.TCPConnections}} {
		if limit.value < 1 {
			return usageError(limit.flag + ": must be at least 1")
		}
	}
	if _, port, err := net.SplitHostPort(opts.listen); err != nil || port == "" {
		return usageError(fmt.Sprintf("--listen: %q is not host:port (for example :9464 or 127.0.0.1:9464)", opts.listen))
	}
	return opts, exitOK, false
}

// run is the command: it parses args, serves the metrics until ctx ends
// (main cancels it on SIGINT and SIGTERM) and returns the exit status.
// Notices and errors go to stderr.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	opts, code, done := parseFlags(args, stdout, stderr)
	if done {
		return code
	}
	say := func(format string, a ...any) { fmt.Fprintf(stderr, prog+": "+format+"\n", a...) }
	fail := func(format string, a ...any) int {
		say(format, a...)
		return exitError
	}

	if problem := reach.Problem(opts.socket); problem != "" {
		return fail("%s", problem)
	}
	listener, err := net.Listen("tcp", opts.listen)
	if err != nil {
		return fail("cannot serve the metrics on %s: %s", opts.listen, listenReason(err))
	}
	defer listener.Close() // if the server never takes it
	client, err := kindling.Dial(opts.socket)
	if err != nil {
		return fail("%v", err)
	}
	defer client.Close()
	infoCtx, cancelInfo := context.WithTimeout(ctx, 10*time.Second)
	info, err := client.GetInfo(infoCtx)
	cancelInfo()
	if err != nil {
		if ctx.Err() != nil {
			return exitOK
		}
		return fail("asking the kindling probe service at %s for its event catalogue failed: %s", opts.socket, status.Convert(err).Message())
	}
	req, missing := collector.Request(info.GetEvents(), uint32(os.Getpid()))
	for _, name := range missing {
		say("warning: this kernel cannot produce %s events: the metrics that need them stay empty", name)
	}
	var asked []string
	for _, filter := range req.GetAllowList() {
		asked = append(asked, filter.GetNames()...)
	}
	for _, ev := range info.GetEvents() {
		if ev.GetAvailable() && !ev.GetEnabled() && slices.Contains(asked, ev.GetName()) {
			say("warning: the service has disabled %s events, so none will arrive until it is enabled (\"kindling configure --enable %s\")",
				ev.GetName(), ev.GetName())
		}
	}

	prom, err := collector.NewPrometheus(commandVersion())
	if err != nil {
		return fail("%v", err)
	}
	defer prom.Provider.Shutdown(context.Background())
	coll, err := collector.New(prom.Provider, collector.Options{Limits: opts.limits, Version: commandVersion()})
	if err != nil {
		return fail("%v", err)
	}

	mux := http.NewServeMux()
	mux.Handle("/metrics", prom.Handler)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/" {
			http.NotFound(w, r)
			return
		}
		fmt.Fprintf(w, "%s %s: the metrics are at /metrics\n", prog, commandVersion())
	})
	server := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	streamCtx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	served := make(chan struct{})
	go func() {
		defer close(served)
		if err := server.Serve(listener); !errors.Is(err, http.ErrServerClosed) {
			cancel(fmt.Errorf("serving the metrics on %s failed: %w", opts.listen, err))
		}
	}()
	say("serving metrics at http://%s/metrics from the kindling probe service at %s", displayAddr(listener.Addr()), opts.socket)

	err = coll.Run(streamCtx, client, req, prefixed{stderr})
	shutdownCtx, cancelShutdown := context.WithTimeout(context.Background(), 5*time.Second)
	server.Shutdown(shutdownCtx)
	cancelShutdown()
	<-served
	switch {
	case ctx.Err() != nil:
		return exitOK
	case context.Cause(streamCtx) != nil && streamCtx.Err() != nil:
		return fail("%v", context.Cause(streamCtx))
	}
	st := status.Convert(err)
	switch st.Code() {
	case codes.InvalidArgument:
		say("the service rejected the subscription: %s", st.Message())
		return exitUsage
	case codes.PermissionDenied, codes.Unauthenticated:
		return fail("the kindling probe service at %s refused the subscription: %s", opts.socket, st.Message())
	default:
		return fail("the stream from the kindling probe service at %s failed: %s: %s", opts.socket, st.Code(), st.Message())
	}
}

// prefixed writes each notice on a line of its own after the command's
// name.
type prefixed struct{ w io.Writer }

func (p prefixed) Write(b []byte) (int, error) {
	if _, err := fmt.Fprintf(p.w, "%s: %s", prog, b); err != nil {
		return 0, err
	}
	return len(b), nil
}

// displayAddr is addr as one would type it in a URL: an unspecified
// address (every interface) as localhost.
func displayAddr(addr net.Addr) string {
	tcp, ok := addr.(*net.TCPAddr)
	if !ok {
		return addr.String()
	}
	if tcp.IP == nil || tcp.IP.IsUnspecified() {
		return fmt.Sprintf("localhost:%d", tcp.Port)
	}
	return tcp.String()
}

// listenReason says why listening failed, in words.
func listenReason(err error) string {
	switch {
	case errors.Is(err, syscall.EADDRINUSE):
		return "the address is in use (another collector?); choose another with --listen"
	case errors.Is(err, syscall.EACCES):
		return "permission denied (ports below 1024 need privileges); choose another with --listen"
	case errors.Is(err, syscall.EADDRNOTAVAIL):
		return "this host has no such address; choose another with --listen"
	}
	var opErr *net.OpError
	if errors.As(err, &opErr) && opErr.Err != nil {
		return opErr.Err.Error()
	}
	return err.Error()
}
