package collector

import (
	"context"
	"fmt"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"golang.org/x/sys/unix"

	eventv1 "github.com/kindling-probe/kindling-probe/clients/go/gen/kindling/event/v1"
	"github.com/kindling-probe/kindling-probe/clients/go/kindling"
)

// TCP metrics: connects and their latency, retransmissions, resets, drops
// and round-trip times.
//
// A blocking connect reports its outcome and latency itself. A
// non-blocking one returns EINPROGRESS, and the handshake's end comes as a
// tcp_state_change from SYN_SENT (to ESTABLISHED, or to CLOSE when it
// failed) with the time it took; on loopback the handshake often ends
// before the connect returns, so the state change may come first. Both are
// matched by the socket's owner (pid, fd), which the state change carries
// when the probe saw the connect: the local port is unknown for a connect
// that failed.

// unknownError is the error.type of a non-blocking connect that failed
// for a reason the kernel did not tell.
const unknownError = "_OTHER"

// handshakeTTLNs is how long a state change or a reset waits for the
// connect it belongs to.
const handshakeTTLNs = 60 * 1e9

// connectAttempt is a non-blocking connect waiting for its handshake.
type connectAttempt struct {
	server endpoint
	owner  owner
	ns     uint64
}

// handshake is the end of a handshake (a state change from SYN_SENT).
type handshake struct {
	established bool
	latencyNs   uint64
	refused     bool // a reset answered the SYN
	ns          uint64
}

// tcpMetrics follows connects and counts the TCP events.
type tcpMetrics struct {
	ins *instruments
	// budget bounds the connections named by their ends.
	budget *labelBudget[struct{}]
	// pending are EINPROGRESS connects waiting for their handshake's end.
	pending map[connKey]connectAttempt
	// early are handshakes that ended before their connect returned.
	early map[connKey]handshake
	// resets are the times sockets received a reset, for the handshake
	// that fails next on them.
	resets map[connKey]uint64
}

func newTCPMetrics(ins *instruments, maxConnections int) *tcpMetrics {
	return &tcpMetrics{
		ins: ins, budget: newLabelBudget[struct{}](maxConnections), pending: map[connKey]connectAttempt{},
		early: map[connKey]handshake{}, resets: map[connKey]uint64{},
	}
}

// connect handles a connect's exit.
func (m *tcpMetrics) connect(ev *eventv1.Event) {
	fd := ev.GetFd()
	if fd.GetProtocol() != eventv1.L4Protocol_L4_PROTOCOL_TCP {
		return // a UDP connect only sets the peer
	}
	key := keyOf(ev)
	attempt := connectAttempt{server: endpointOf(fd.GetDestination()), owner: ownerOf(ev), ns: ev.GetTimestampNs()}
	ret := ev.GetReturnValue()
	switch {
	case ret == 0:
		delete(m.early, key)
		delete(m.resets, key)
		m.succeeded(attempt, ev.GetLatencyNs())
	case connecting(ret) && ret < 0:
		if h, ok := m.early[key]; ok {
			delete(m.early, key)
			m.finish(attempt, h)
		} else {
			m.pending[key] = attempt
		}
	case ret == -int64(unix.EALREADY) || ret == -int64(unix.EISCONN):
		// A connect again on a socket connecting or connected: no attempt.
	case ret < 0:
		delete(m.early, key)
		delete(m.resets, key)
		m.failed(attempt, kindling.ErrnoName(-ret))
	}
}

// connecting says a connect's return value means a connection is made or
// being made: 0, or EINPROGRESS or EINTR, when the handshake goes on
// without the caller.
func connecting(ret int64) bool {
	return ret == 0 || ret == -int64(unix.EINPROGRESS) || ret == -int64(unix.EINTR)
}

// stateChange handles a tcp_state_change: the end of a handshake when it
// leaves SYN_SENT.
func (m *tcpMetrics) stateChange(ev *eventv1.Event) {
	if stringAttr(ev, "old_state") != "SYN_SENT" || ev.GetThread() == nil || ev.GetFd() == nil {
		return // not a handshake's end, or a socket whose connect the probe did not see
	}
	key := keyOf(ev)
	_, refused := m.resets[key]
	delete(m.resets, key)
	h := handshake{
		established: stringAttr(ev, "new_state") == "ESTABLISHED",
		latencyNs:   uintAttr(ev, "connect_latency_ns"),
		refused:     refused,
		ns:          ev.GetTimestampNs(),
	}
	if attempt, ok := m.pending[key]; ok {
		delete(m.pending, key)
		m.finish(attempt, h)
		return
	}
	m.early[key] = h
}

func (m *tcpMetrics) finish(attempt connectAttempt, h handshake) {
	switch {
	case h.established:
		m.succeeded(attempt, h.latencyNs)
	case h.refused:
		m.failed(attempt, "ECONNREFUSED")
	default:
		// Timed out or unreachable: the caller alone learns which.
		m.failed(attempt, unknownError)
	}
}

func (m *tcpMetrics) succeeded(a connectAttempt, latencyNs uint64) {
	ctx := context.Background()
	kv := a.attributes()
	m.ins.connectDuration.Record(ctx, seconds(latencyNs), metric.WithAttributes(kv...))
	m.ins.connects.Add(ctx, 1, metric.WithAttributes(append(kv, attribute.String("outcome", "success"))...))
}

func (m *tcpMetrics) failed(a connectAttempt, errno string) {
	if errno == "" {
		errno = unknownError // an errno x/sys/unix has no name for
	}
	kv := append(a.attributes(), attribute.String("outcome", "failure"), attribute.String("error.type", errno))
	m.ins.connects.Add(context.Background(), 1, metric.WithAttributes(kv...))
}

func (a connectAttempt) attributes() []attribute.KeyValue {
	kv := make([]attribute.KeyValue, 0, 7)
	kv = append(kv,
		attribute.String("server.address", a.server.address),
		attribute.Int("server.port", int(a.server.port)))
	return a.owner.attributes(kv)
}

// close forgets what waits for a socket that was closed.
func (m *tcpMetrics) close(ev *eventv1.Event) {
	key := keyOf(ev)
	delete(m.pending, key)
	delete(m.early, key)
	delete(m.resets, key)
}

// exit forgets what waits for the sockets of a process that exited.
func (m *tcpMetrics) exit(pid uint32) {
	for key := range m.pending {
		if key.pid == pid {
			delete(m.pending, key)
		}
	}
	for key := range m.early {
		if key.pid == pid {
			delete(m.early, key)
		}
	}
	for key := range m.resets {
		if key.pid == pid {
			delete(m.resets, key)
		}
	}
}

// reset counts a reset sent or received; a received one may be the
// answer to a connect.
func (m *tcpMetrics) reset(ev *eventv1.Event, received bool) {
	direction := "sent"
	if received {
		direction = "received"
		if ev.GetThread() != nil && ev.GetFd() != nil {
			m.resets[keyOf(ev)] = ev.GetTimestampNs()
		}
	}
	kv := append(m.ends(ev), attribute.String("direction", direction))
	m.ins.resets.Add(context.Background(), 1, metric.WithAttributes(kv...))
}

func (m *tcpMetrics) retransmit(ev *eventv1.Event) {
	m.ins.retransmits.Add(context.Background(), 1, metric.WithAttributes(m.ends(ev)...))
}

func (m *tcpMetrics) drop(ev *eventv1.Event) {
	reason := stringAttr(ev, "reason_name")
	if reason == "" {
		reason = "UNKNOWN" // a reason number this kernel has no name for
	}
	kv := append(m.ends(ev), attribute.String("reason", reason))
	m.ins.drops.Add(context.Background(), 1, metric.WithAttributes(kv...))
}

// probe records a sampled smoothed round-trip time.
func (m *tcpMetrics) probe(ev *eventv1.Event) {
	m.ins.srtt.Record(context.Background(), float64(uintAttr(ev, "srtt_us"))/1e6, metric.WithAttributes(m.ends(ev)...))
}

// forget drops the connects waiting: after a loss their handshakes may
// never come, or come for another connect.
func (m *tcpMetrics) forget() {
	clear(m.pending)
	clear(m.early)
	clear(m.resets)
}

// sweep drops what waited since before nowNs - handshakeTTLNs.
func (m *tcpMetrics) sweep(nowNs uint64) {
	for key, a := range m.pending {
		if a.ns+handshakeTTLNs < nowNs {
			delete(m.pending, key)
		}
	}
	for key, h := range m.early {
		if h.ns+handshakeTTLNs < nowNs {
			delete(m.early, key)
		}
	}
	for key, ns := range m.resets {
		if ns+handshakeTTLNs < nowNs {
			delete(m.resets, key)
		}
	}
}

// ends are a TCP event's local and remote ends as attributes, those it
// knows; beyond the budget of connections, the peer is OtherValue.
func (m *tcpMetrics) ends(ev *eventv1.Event) []attribute.KeyValue {
	local, localPort := stringAttr(ev, "local_address"), uintAttr(ev, "local_port")
	remote, remotePort := stringAttr(ev, "remote_address"), uintAttr(ev, "remote_port")
	kv := make([]attribute.KeyValue, 0, 5)
	if local != "" {
		kv = append(kv,
			attribute.String("network.local.address", local),
			attribute.Int("network.local.port", int(localPort)))
	}
	if remote != "" {
		key := fmt.Sprintf("%s:%d|%s:%d", local, localPort, remote, remotePort)
		if m.budget.admit(struct{}{}, key) == OtherValue {
			kv = append(kv, attribute.String("network.peer.address", OtherValue))
		} else {
			kv = append(kv,
				attribute.String("network.peer.address", remote),
				attribute.Int("network.peer.port", int(remotePort)))
		}
	}
	return kv
}

// stringAttr returns the string attribute key of ev, or "".
func stringAttr(ev *eventv1.Event, key string) string {
	for _, a := range ev.GetAttributes() {
		if a.GetKey() == key {
			return a.GetStringValue()
		}
	}
	return ""
}

// uintAttr returns the unsigned attribute key of ev (32 or 64 bits), or 0.
func uintAttr(ev *eventv1.Event, key string) uint64 {
	for _, a := range ev.GetAttributes() {
		if a.GetKey() == key {
			switch v := a.GetValue().(type) {
			case *eventv1.Attribute_Uint32Value:
				return uint64(v.Uint32Value)
			case *eventv1.Attribute_Uint64Value:
				return v.Uint64Value
			}
		}
	}
	return 0
}
