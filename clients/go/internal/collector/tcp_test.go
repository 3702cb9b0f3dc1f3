package collector

import (
	"testing"

	eventv1 "github.com/kindling-probe/kindling-probe/clients/go/gen/kindling/event/v1"
	probev1 "github.com/kindling-probe/kindling-probe/clients/go/gen/kindling/probe/v1"
	"github.com/kindling-probe/kindling-probe/clients/go/kindling"
)

const (
	connects        = "kindling.tcp.connects"
	connectDuration = "kindling.tcp.connect.duration"
	einprogress     = -115
)

// connecting is the client fd before the handshake: what a failed connect
// knows of it.
func connectingFd() *eventv1.Fd {
	fd := clientFd()
	fd.Source = nil
	return fd
}

// handshakeEnd is the tcp_state_change that ends a handshake of the client's
// socket.
func handshakeEnd(ns uint64, newState string, latency uint64) *eventv1.Event {
	return tcpEvent("tcp_state_change", clientPid, clientFd(), ns, map[string]any{
		"old_state": "SYN_SENT", "new_state": newState, "connect_latency_ns": latency,
		"local_address": "10.0.0.2", "local_port": uint32(40000),
		"remote_address": "10.0.0.1", "remote_port": uint32(80),
	})
}

var connectAttrs = []string{
	"server.address=10.0.0.1", "server.port=80", "process.pid=200", "process.executable.name=curl",
}

func TestBlockingConnect(t *testing.T) {
	h := newHarness(t, Options{})
	// The state change comes first: it happened inside the connect.
	h.feed(handshakeEnd(900, "ESTABLISHED", 700), sysExit("connect", clientPid, clientFd(), 1_000, 2_000, 0))
	p := h.only(connects)
	if p.value != 1 || !hasAttrs(p.attrs, append(connectAttrs, "outcome=success")) || p.attrs.Len() != 5 {
		t.Errorf("connects %v", p)
	}
	// Timed by the connect itself.
	if d := h.only(connectDuration); d.count != 1 || !near(d.sum, 2e-6) || !hasAttrs(d.attrs, connectAttrs) || d.attrs.Len() != 4 {
		t.Errorf("duration %v", d)
	}
}

func TestNonBlockingConnect(t *testing.T) {
	for _, c := range []struct {
		name   string
		events []*eventv1.Event
	}{
		{"the handshake ends after the connect returns", []*eventv1.Event{
			sysExit("connect", clientPid, clientFd(), 1_000, 300, einprogress),
			handshakeEnd(5_000, "ESTABLISHED", 4_200),
		}},
		{"the handshake ends before the connect returns (loopback)", []*eventv1.Event{
			handshakeEnd(900, "ESTABLISHED", 4_200),
			sysExit("connect", clientPid, clientFd(), 1_000, 300, einprogress),
		}},
		{"interrupted: the handshake goes on", []*eventv1.Event{
			sysExit("connect", clientPid, clientFd(), 1_000, 300, -4),
			handshakeEnd(5_000, "ESTABLISHED", 4_200),
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			h := newHarness(t, Options{})
			h.feed(c.events...)
			if n := h.total(connects, append(connectAttrs, "outcome=success")...); n != 1 {
				t.Errorf("%d successful connects", n)
			}
			if d := h.only(connectDuration); d.count != 1 || !near(d.sum, 4.2e-6) {
				t.Errorf("duration %v", d)
			}
		})
	}
}

func TestFailedConnects(t *testing.T) {
	reset := func(ns uint64) *eventv1.Event {
		return tcpEvent("tcp_receive_reset", clientPid, connectingFd(), ns, map[string]any{
			"local_address": "10.0.0.2", "local_port": uint32(40000), "remote_address": "10.0.0.1", "remote_port": uint32(80),
		})
	}
	for _, c := range []struct {
		name   string
		events []*eventv1.Event
		errno  string
	}{
		{"blocking, refused", []*eventv1.Event{
			reset(800), handshakeEnd(900, "CLOSE", 100),
			sysExit("connect", clientPid, connectingFd(), 1_000, 300, -111),
		}, "ECONNREFUSED"},
		{"blocking, timed out", []*eventv1.Event{
			sysExit("connect", clientPid, connectingFd(), 1_000, 300, -110),
		}, "ETIMEDOUT"},
		{"non-blocking, refused on loopback", []*eventv1.Event{
			reset(800), handshakeEnd(900, "CLOSE", 100),
			sysExit("connect", clientPid, connectingFd(), 1_000, 300, einprogress),
		}, "ECONNREFUSED"},
		{"non-blocking, refused later", []*eventv1.Event{
			sysExit("connect", clientPid, connectingFd(), 1_000, 300, einprogress),
			reset(1_800), handshakeEnd(1_900, "CLOSE", 100),
		}, "ECONNREFUSED"},
		{"non-blocking, given up", []*eventv1.Event{
			sysExit("connect", clientPid, connectingFd(), 1_000, 300, einprogress),
			handshakeEnd(9_000, "CLOSE", 8_000),
		}, "_OTHER"},
	} {
		t.Run(c.name, func(t *testing.T) {
			h := newHarness(t, Options{})
			h.feed(c.events...)
			p := h.only(connects)
			want := append(connectAttrs, "outcome=failure", "error.type="+c.errno)
			if p.value != 1 || !hasAttrs(p.attrs, want) || p.attrs.Len() != len(want) {
				t.Errorf("got %v, want %v", p, want)
			}
			if pts := h.points(connectDuration); len(pts) != 0 {
				t.Errorf("failed connects timed: %v", pts)
			}
		})
	}
}

func TestConnectsThatAreNotAttempts(t *testing.T) {
	h := newHarness(t, Options{})
	udp := clientFd()
	udp.Protocol = eventv1.L4Protocol_L4_PROTOCOL_UDP
	ownerless := handshakeEnd(5_000, "ESTABLISHED", 100)
	ownerless.Thread, ownerless.Fd = nil, nil
	h.feed(
		sysExit("connect", clientPid, udp, 100, 10, 0),           // a UDP socket's peer
		sysExit("connect", clientPid, clientFd(), 200, 10, -114), // EALREADY
		sysExit("connect", clientPid, clientFd(), 300, 10, -106), // EISCONN
		ownerless, // a socket the probe saw no connect of
		tcpEvent("tcp_state_change", clientPid, clientFd(), 6_000, map[string]any{"old_state": "ESTABLISHED", "new_state": "FIN_WAIT1"}),
	)
	if pts := h.points(connects); len(pts) != 0 {
		t.Errorf("counted %v", pts)
	}
}

func TestWaitingConnectsAreForgotten(t *testing.T) {
	h := newHarness(t, Options{})
	h.feed(sysExit("connect", clientPid, clientFd(), 1_000, 300, einprogress))
	h.c.Handle(kindling.Item{Loss: &probev1.Loss{Reason: probev1.LossReason_LOSS_REASON_SUBSCRIBER_QUEUE_FULL, Count: 1}})
	h.feed(handshakeEnd(5_000, "ESTABLISHED", 4_000))
	h.feed(sysExit("close", clientPid, clientFd(), 6_000, 300, 0))
	h.feed(sysExit("connect", clientPid, clientFd(), 7_000, 300, einprogress))
	h.c.tcp.sweep(7_000 + handshakeTTLNs + 1)
	h.feed(handshakeEnd(handshakeTTLNs+8_000, "ESTABLISHED", 4_000))
	if pts := h.points(connects); len(pts) != 0 {
		t.Errorf("counted %v", pts)
	}
	if n := len(h.c.tcp.early) + len(h.c.tcp.pending) + len(h.c.tcp.resets); n != 1 {
		t.Errorf("%d entries waiting, want the last handshake alone", n)
	}
}

func TestTCPHealth(t *testing.T) {
	h := newHarness(t, Options{})
	ends := map[string]any{
		"local_address": "10.0.0.2", "local_port": uint32(40000), "remote_address": "10.0.0.1", "remote_port": uint32(80),
	}
	with := func(extra map[string]any) map[string]any {
		m := map[string]any{}
		for k, v := range ends {
			m[k] = v
		}
		for k, v := range extra {
			m[k] = v
		}
		return m
	}
	h.feed(
		tcpEvent("tcp_retransmit", clientPid, clientFd(), 100, with(map[string]any{"state": "ESTABLISHED"})),
		tcpEvent("tcp_retransmit", clientPid, clientFd(), 200, with(map[string]any{"state": "ESTABLISHED"})),
		tcpEvent("tcp_send_reset", clientPid, clientFd(), 300, with(map[string]any{"state": "CLOSE", "reason_name": "TCP_ABORT_ON_CLOSE"})),
		tcpEvent("tcp_receive_reset", clientPid, clientFd(), 400, ends),
		tcpEvent("skb_drop", clientPid, clientFd(), 500, with(map[string]any{"reason_name": "SOCKET_RCVBUFF", "reason": uint32(3)})),
		tcpEvent("skb_drop", clientPid, clientFd(), 600, with(map[string]any{"reason": uint32(77)})),
		tcpEvent("tcp_probe", clientPid, clientFd(), 700, with(map[string]any{"srtt_us": uint32(1500)})),
	)
	four := []string{"network.local.address=10.0.0.2", "network.local.port=40000", "network.peer.address=10.0.0.1", "network.peer.port=80"}
	if p := h.only("kindling.tcp.retransmits"); p.value != 2 || !hasAttrs(p.attrs, four) {
		t.Errorf("retransmits %v", p)
	}
	if p := h.only("kindling.tcp.resets", "direction=sent"); p.value != 1 || !hasAttrs(p.attrs, four) {
		t.Errorf("resets sent %v", p)
	}
	if p := h.only("kindling.tcp.resets", "direction=received"); p.value != 1 {
		t.Errorf("resets received %v", p)
	}
	if h.total("kindling.tcp.drops", "reason=SOCKET_RCVBUFF") != 1 || h.total("kindling.tcp.drops", "reason=UNKNOWN") != 1 {
		t.Errorf("drops %v", h.points("kindling.tcp.drops"))
	}
	p := h.only("kindling.tcp.srtt")
	if p.count != 1 || !near(p.sum, 1.5e-3) || p.attrs.Len() != 4 || !hasAttrs(p.attrs, four) {
		t.Errorf("srtt %v", p)
	}
}

func TestTCPConnectionBudget(t *testing.T) {
	h := newHarness(t, Options{Limits: Limits{TCPConnections: 1}})
	for _, port := range []uint32{40000, 40001, 40000} {
		h.feed(tcpEvent("tcp_retransmit", 0, nil, 100, map[string]any{
			"local_address": "10.0.0.2", "local_port": port, "remote_address": "10.0.0.1", "remote_port": uint32(80),
		}))
	}
	// An ownerless event that knows only its local end.
	h.feed(tcpEvent("tcp_send_reset", 0, nil, 200, map[string]any{"local_address": "10.0.0.2", "local_port": uint32(8080)}))
	if h.total("kindling.tcp.retransmits", "network.local.port=40000", "network.peer.port=80") != 2 {
		t.Errorf("retransmits %v", h.points("kindling.tcp.retransmits"))
	}
	p := h.only("kindling.tcp.retransmits", "network.local.port=40001")
	if p.value != 1 || p.attrs.Len() != 3 || !hasAttrs(p.attrs, []string{"network.peer.address=_other"}) {
		t.Errorf("beyond the budget: %v", p)
	}
	if p := h.only("kindling.tcp.resets"); p.attrs.Len() != 3 {
		t.Errorf("resets %v", p)
	}
}
