package collector

import (
	"context"
	"fmt"
	"io"
	"slices"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	eventv1 "github.com/kindling-probe/kindling-probe/clients/go/gen/kindling/event/v1"
	probev1 "github.com/kindling-probe/kindling-probe/clients/go/gen/kindling/probe/v1"
	"github.com/kindling-probe/kindling-probe/clients/go/kindling"
)

// The events the collector asks for, by what it does with them.
var (
	readEvents    = []string{"read", "readv", "recvfrom", "recvmsg", "recvmmsg"}
	writeEvents   = []string{"write", "writev", "sendto", "sendmsg", "sendmmsg"}
	socketEvents  = []string{"accept", "accept4", "connect", "close"}
	tcpEvents     = []string{"tcp_state_change", "tcp_retransmit", "tcp_send_reset", "tcp_receive_reset", "tcp_probe", "skb_drop"}
	exitEvents    = []string{"process_exit"}
	optionalNames = map[string]bool{"recvmmsg": true, "sendmmsg": true}
)

// WantedEvents are the names of every event the collector can use.
func WantedEvents() []string {
	return slices.Concat(socketEvents, readEvents, writeEvents, tcpEvents, exitEvents)
}

// Request returns the subscription the collector needs, leaving out process
// ownPid (the collector itself): the socket syscalls on IPv4 and IPv6
// sockets only (unix sockets, the service's own included, stay out), with
// their payloads; and the TCP tracepoints and process exits, which need no
// descriptor filter: a tracepoint's descriptor is only known when the probe
// saw its socket connect or accept, and a filter on it would drop the rest.
// catalogue is the service's (GetInfo), so that an event this kernel cannot
// produce is left out rather than refused; missing names those left out
// that the collector would have used, except the optional ones.
func Request(catalogue []*probev1.EventDescriptor, ownPid uint32) (req *probev1.SubscribeRequest, missing []string) {
	available := map[string]bool{}
	for _, ev := range catalogue {
		if ev.GetAvailable() {
			available[ev.GetName()] = true
		}
	}
	pick := func(groups ...[]string) (names []string) {
		for _, name := range slices.Concat(groups...) {
			switch {
			case available[name]:
				names = append(names, name)
			case !optionalNames[name]:
				missing = append(missing, name)
			}
		}
		return names
	}
	socketNames, ioNames := pick(socketEvents), pick(readEvents, writeEvents)
	req = &probev1.SubscribeRequest{
		AllowList: []*probev1.EventFilter{{
			Names:   slices.Concat(socketNames, ioNames),
			FdTypes: []eventv1.FdType{eventv1.FdType_FD_TYPE_IPV4_SOCKET, eventv1.FdType_FD_TYPE_IPV6_SOCKET},
		}},
		DenyList: []*probev1.EventFilter{{Pids: []uint32{ownPid}}},
		Payload:  probev1.PayloadMode_PAYLOAD_MODE_SOCKETS,
		// Fewer, larger responses cost both ends less per event; event
		// times are the kernel's, so the wait changes no duration.
		Batching: &probev1.Batching{MaxDelay: durationpb.New(batchDelay)},
	}
	if names := pick(tcpEvents, exitEvents); len(names) > 0 {
		req.AllowList = append(req.AllowList, &probev1.EventFilter{Names: names})
	}
	if len(ioNames) > 0 {
		// I/O events are most of the stream: they come without what the
		// collector does not read.
		req.Fields = []*probev1.FieldSelection{{
			Events: ioNames,
			Mask: &probev1.FieldSelection_Exclude{Exclude: &fieldmaskpb.FieldMask{Paths: []string{
				"attributes", "thread.exe", "thread.ppid", "thread.uid", "thread.gid", "thread.cgroup_id",
				"fd.path", "fd.unix_path",
			}}},
		}}
	}
	return req, missing
}

// batchDelay is how long the service may hold the stream's events to send
// more of them at once.
const batchDelay = 50 * time.Millisecond

// Options tune a [Collector].
type Options struct {
	// Limits bound the metrics' label sets; zero fields take the defaults.
	Limits Limits
	// Version is the collector's version, for its instrumentation scope.
	Version string
}

// Limits are the budgets of distinct attribute values: past them, new
// values become [OtherValue].
type Limits struct {
	// Routes is the most http.route values per service (a program on a
	// port): [DefaultMaxRoutes] when 0.
	Routes int
	// Peers is the most network.peer.address values per service in the
	// request metrics: [DefaultMaxPeers] when 0.
	Peers int
	// TCPConnections is the most connections the TCP health metrics name
	// by their ends: [DefaultMaxTCPConnections] when 0.
	TCPConnections int
}

func (l Limits) withDefaults() Limits {
	if l.Routes <= 0 {
		l.Routes = DefaultMaxRoutes
	}
	if l.Peers <= 0 {
		l.Peers = DefaultMaxPeers
	}
	if l.TCPConnections <= 0 {
		l.TCPConnections = DefaultMaxTCPConnections
	}
	return l
}

// sweepEvery is how many events pass between sweeps of idle state.
const sweepEvery = 1 << 14

// A Collector turns events into metrics. Its Handle must be called from one
// goroutine at a time; the metrics may be read at any time.
type Collector struct {
	ins   *instruments
	conns *connections
	tcp   *tcpMetrics
	count uint64
	// restarted says a Gap came since the stream last broke: the break is
	// counted as a restart, not a resume.
	restarted bool
}

// New returns a collector recording through mp.
func New(mp metric.MeterProvider, opts Options) (*Collector, error) {
	ins, err := newInstruments(mp, opts.Version)
	if err != nil {
		return nil, err
	}
	limits := opts.Limits.withDefaults()
	return &Collector{
		ins: ins, conns: newConnections(ins, limits), tcp: newTCPMetrics(ins, limits.TCPConnections),
	}, nil
}

// Handle takes one item of the stream: an event, a loss notice or a gap.
func (c *Collector) Handle(it kindling.Item) {
	switch {
	case it.Event != nil:
		c.event(it.Event)
	case it.Loss != nil:
		c.ins.lost.Add(context.Background(), int64(it.Loss.GetCount()),
			metric.WithAttributes(attribute.String("reason", lossReason(it.Loss.GetReason()))))
		c.forget()
	case it.Gap != nil:
		c.ins.breaks.Add(context.Background(), 1, metric.WithAttributes(attribute.String("outcome", "restarted")))
		c.restarted = true
		c.forget()
	}
}

// Reconnected tells the collector that the stream broke and now goes on:
// resumed where it was, or restarted after a Gap that Handle was given.
func (c *Collector) Reconnected() {
	if c.restarted {
		c.restarted = false
		return // counted with the gap
	}
	c.ins.breaks.Add(context.Background(), 1, metric.WithAttributes(attribute.String("outcome", "resumed")))
}

// forget drops what waits to be paired: after a loss the next response or
// handshake may belong to something the collector never saw.
func (c *Collector) forget() {
	c.conns.forgetPending()
	c.tcp.forget()
}

func (c *Collector) event(ev *eventv1.Event) {
	c.ins.received.Add(1)
	c.count++
	if c.count%sweepEvery == 0 {
		c.conns.sweep(ev.GetTimestampNs())
		c.tcp.sweep(ev.GetTimestampNs())
	}
	switch name := ev.GetName(); name {
	case "read", "readv", "recvfrom", "recvmsg", "recvmmsg":
		c.conns.io(ev, true)
	case "write", "writev", "sendto", "sendmsg", "sendmmsg":
		c.conns.io(ev, false)
	case "accept", "accept4":
		if ev.GetReturnValue() >= 0 {
			c.conns.open(ev)
		}
	case "connect":
		c.tcp.connect(ev)
		if connecting(ev.GetReturnValue()) && ev.GetFd().GetProtocol() != eventv1.L4Protocol_L4_PROTOCOL_UDP {
			c.conns.open(ev)
		}
	case "close":
		c.conns.close(ev)
		c.tcp.close(ev)
	case "process_exit":
		c.conns.exit(ev.GetThread().GetPid())
		c.tcp.exit(ev.GetThread().GetPid())
	case "tcp_state_change":
		c.tcp.stateChange(ev)
	case "tcp_retransmit":
		c.tcp.retransmit(ev)
	case "tcp_send_reset":
		c.tcp.reset(ev, false)
	case "tcp_receive_reset":
		c.tcp.reset(ev, true)
	case "tcp_probe":
		c.tcp.probe(ev)
	case "skb_drop":
		c.tcp.drop(ev)
	}
}

// lossNoticeEvery is the least time between two notices of losses: a
// stream that keeps losing would flood the log otherwise.
const lossNoticeEvery = 10 * time.Second

// Run follows the service's stream with req until ctx ends, reconnecting
// and resuming as [kindling.Client.Follow] does, and hands every item to
// Handle. Notices (losses, at most one every 10 s, reconnections,
// restarts) go to notices, one line each. It returns ctx's error when ctx
// ended, or the error that retrying cannot cure (for example a request the
// service rejected).
func (c *Collector) Run(ctx context.Context, client *kindling.Client, req *probev1.SubscribeRequest, notices io.Writer) error {
	opts := kindling.FollowOptions{
		// Long enough to ride out a dropped connection; a stopped collector
		// stops costing the service (its kernel hooks) soon after.
		ResumeWindow: 5 * time.Second,
		OnReconnect: func(cause error) {
			fmt.Fprintf(notices, "reconnected to the kindling probe service at %s\n", client.Socket())
			c.Reconnected()
		},
	}
	var lastNotice time.Time
	var unsaid uint64 // events lost since the last notice, not told yet
	for it, err := range client.Follow(ctx, req, opts) {
		if err != nil {
			return err
		}
		switch {
		case it.Loss != nil:
			if now := time.Now(); now.Sub(lastNotice) >= lossNoticeEvery {
				more := ""
				if unsaid > 0 {
					more = fmt.Sprintf(", after %d more since the last notice", unsaid)
				}
				fmt.Fprintf(notices, "the stream %s%s\n", kindling.FormatLoss(it.Loss), more)
				lastNotice, unsaid = now, 0
			} else {
				unsaid += it.Loss.GetCount()
			}
		case it.Gap != nil:
			fmt.Fprintf(notices, "the stream started over: events after seq %d are unknown (%s)\n", it.Gap.LastSeq, it.Gap.Reason)
		}
		c.Handle(it)
	}
	return ctx.Err()
}
