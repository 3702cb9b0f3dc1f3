package collector

import (
	"math"
	"strings"
	"testing"

	eventv1 "github.com/kindling-probe/kindling-probe/clients/go/gen/kindling/event/v1"
	probev1 "github.com/kindling-probe/kindling-probe/clients/go/gen/kindling/probe/v1"
	"github.com/kindling-probe/kindling-probe/clients/go/kindling"
)

const (
	get      = "GET /users/42?full=1 HTTP/1.1\r\nHost: api\r\n\r\n"
	ok       = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
	notFound = "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"
)

const (
	serverMetric = "http.server.request.duration"
	clientMetric = "http.client.request.duration"
)

func near(a, b float64) bool { return math.Abs(a-b) < 1e-12 }

func TestServerSidePairing(t *testing.T) {
	h := newHarness(t, Options{})
	h.feed(
		sysExit("accept4", serverPid, serverFd(), 1_000, 500, 7),
		// The request's read was entered at 10_000 (latency 2_000); the
		// response's write returned at 50_000.
		ioEvent("recvfrom", serverPid, serverFd(), 12_000, 2_000, get),
		ioEvent("writev", serverPid, serverFd(), 50_000, 3_000, ok),
	)
	p := h.only(serverMetric)
	want := []string{
		"http.request.method=GET", "http.response.status_code=200", "http.route=/users/*",
		"server.address=10.0.0.1", "server.port=80", "network.peer.address=10.0.0.2",
		"process.pid=100", "process.executable.name=nginx",
	}
	if !hasAttrs(p.attrs, want) || p.attrs.Len() != len(want) {
		t.Errorf("attributes %v, want exactly %v", p, want)
	}
	if p.count != 1 || !near(p.sum, 40e-6) {
		t.Errorf("duration %v, want one of 40µs", p)
	}
	if pts := h.points(clientMetric); len(pts) != 0 {
		t.Errorf("client side recorded %v", pts)
	}
	if v, _ := p.attrs.Value("http.response.status_code"); v.Type().String() != "INT64" {
		t.Errorf("status code is a %s", v.Type())
	}
}

func TestClientSidePairing(t *testing.T) {
	h := newHarness(t, Options{})
	fd := clientFd()
	h.feed(
		sysExit("connect", clientPid, fd, 1_000, 500, 0),
		// Written from 10_000 to 11_000, the response read returned at 90_000.
		ioEvent("sendto", clientPid, fd, 11_000, 1_000, get),
		ioEvent("recvfrom", clientPid, fd, 90_000, 70_000, notFound),
	)
	p := h.only(clientMetric)
	want := []string{
		"http.request.method=GET", "http.response.status_code=404", "http.route=/users/*",
		"server.address=10.0.0.1", "server.port=80", "network.peer.address=10.0.0.1",
		"process.pid=200", "process.executable.name=curl",
	}
	if !hasAttrs(p.attrs, want) || p.count != 1 || !near(p.sum, 80e-6) {
		t.Errorf("got %v, want %v and 80µs", p, want)
	}
}

func TestBothSidesOfOneConnection(t *testing.T) {
	// The collector sees both processes of a local connection.
	h := newHarness(t, Options{})
	h.feed(
		ioEvent("sendto", clientPid, clientFd(), 10, 1, get),
		ioEvent("recvfrom", serverPid, serverFd(), 20, 1, get),
		ioEvent("writev", serverPid, serverFd(), 30, 1, ok),
		ioEvent("recvfrom", clientPid, clientFd(), 40, 1, ok),
	)
	if h.total(serverMetric) != 1 || h.total(clientMetric) != 1 {
		t.Errorf("server %v, client %v", h.points(serverMetric), h.points(clientMetric))
	}
}

func TestKeepAliveAndPipelining(t *testing.T) {
	h := newHarness(t, Options{})
	fd := serverFd()
	two := "GET /a HTTP/1.1\r\n\r\nPOST /b HTTP/1.1\r\nContent-Length: 3\r\n\r\nabcGET /c HTTP/1.1\r\n\r\n"
	h.feed(
		ioEvent("read", serverPid, fd, 100, 10, "GET /first HTTP/1.1\r\n\r\n"),
		ioEvent("write", serverPid, fd, 200, 10, ok),
		// Three pipelined requests in one read, answered in two writes.
		ioEvent("read", serverPid, fd, 300, 10, two),
		ioEvent("writev", serverPid, fd, 400, 10, ok+notFound),
		ioEvent("write", serverPid, fd, 500, 10, "HTTP/1.1 201 Created\r\n\r\n"),
	)
	for _, c := range []struct {
		route, method, status string
		sum                   float64
	}{
		{"/first", "GET", "200", 110e-9},
		{"/a", "GET", "200", 110e-9},
		{"/b", "POST", "404", 110e-9},
		{"/c", "GET", "201", 210e-9},
	} {
		p := h.only(serverMetric, "http.route="+c.route)
		if !hasAttrs(p.attrs, []string{"http.request.method=" + c.method, "http.response.status_code=" + c.status}) ||
			p.count != 1 || !near(p.sum, c.sum) {
			t.Errorf("%s: %v, want %s %s %g", c.route, p, c.method, c.status, c.sum)
		}
	}
}

func TestResponsesSplitAcrossWrites(t *testing.T) {
	// Headers and body in two writes (and a body that only looks like a
	// response): one request, one response.
	h := newHarness(t, Options{})
	fd := serverFd()
	h.feed(
		ioEvent("read", serverPid, fd, 100, 10, get),
		ioEvent("write", serverPid, fd, 200, 10, "HTTP/1.1 200 OK\r\nContent-Length: 17\r\n\r\n"),
		ioEvent("write", serverPid, fd, 300, 10, "HTTP/1.1 500 body"),
	)
	if p := h.only(serverMetric); p.count != 1 || !hasAttrs(p.attrs, []string{"http.response.status_code=200"}) {
		t.Errorf("got %v", p)
	}
}

func TestInterimResponses(t *testing.T) {
	h := newHarness(t, Options{})
	fd := serverFd()
	h.feed(
		ioEvent("read", serverPid, fd, 100, 10, "PUT /upload HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 9\r\n\r\n"),
		ioEvent("write", serverPid, fd, 200, 10, "HTTP/1.1 100 Continue\r\n\r\n"),
		ioEvent("read", serverPid, fd, 300, 10, "the data!"),
		ioEvent("write", serverPid, fd, 400, 10, "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n"),
	)
	p := h.only(serverMetric)
	if p.count != 1 || !near(p.sum, 310e-9) || !hasAttrs(p.attrs, []string{"http.request.method=PUT", "http.response.status_code=204"}) {
		t.Errorf("got %v", p)
	}
}

func TestHeadResponseHasNoBody(t *testing.T) {
	h := newHarness(t, Options{})
	fd := serverFd()
	h.feed(
		ioEvent("read", serverPid, fd, 100, 10, "HEAD /f HTTP/1.1\r\n\r\nGET /f HTTP/1.1\r\n\r\n"),
		ioEvent("writev", serverPid, fd, 200, 10, "HTTP/1.1 200 OK\r\nContent-Length: 1400\r\n\r\nHTTP/1.1 304 Not Modified\r\n\r\n"),
	)
	if h.total(serverMetric, "http.request.method=HEAD", "http.response.status_code=200") != 1 ||
		h.total(serverMetric, "http.request.method=GET", "http.response.status_code=304") != 1 {
		t.Errorf("got %v", h.points(serverMetric))
	}
}

func TestWhatDoesNotCount(t *testing.T) {
	h := newHarness(t, Options{})
	fd := serverFd()
	failed := ioEvent("recvfrom", serverPid, fd, 100, 10, get)
	failed.ReturnValue = -11 // EAGAIN, with a stale payload
	udp := serverFd()
	udp.Protocol = eventv1.L4Protocol_L4_PROTOCOL_UDP
	h.feed(
		failed,
		ioEvent("recvfrom", serverPid, udp, 150, 10, get),
		ioEvent("writev", serverPid, udp, 160, 10, ok),
		ioEvent("writev", serverPid, fd, 200, 10, ok), // no request seen
		ioEvent("recvfrom", serverPid, fd, 300, 10, "\x16\x03\x01 TLS hello"),
		ioEvent("writev", serverPid, fd, 400, 10, "\x16\x03\x03 TLS"),
		ioEvent("recvfrom", serverPid, fd, 500, 10, "*1\r\n$4\r\nPING\r\n"),
		ioEvent("writev", serverPid, fd, 600, 10, "+PONG\r\n"),
	)
	if pts := h.points(serverMetric); len(pts) != 0 {
		t.Errorf("recorded %v", pts)
	}
	if n := h.total("kindling.collector.parse_errors"); n != 0 {
		t.Errorf("%d parse errors", n)
	}
	if n := h.total("kindling.collector.events"); n != 8 {
		t.Errorf("%d events counted, want 8", n)
	}
}

func TestParseErrors(t *testing.T) {
	h := newHarness(t, Options{})
	fd := serverFd()
	h.feed(
		ioEvent("recvfrom", serverPid, fd, 100, 10, "GET /a\x01b HTTP/1.1\r\n"),
		ioEvent("recvfrom", serverPid, fd, 200, 10, get),
		ioEvent("writev", serverPid, fd, 300, 10, "HTTP/1.1 2xx Odd\r\n"),
	)
	if n := h.total("kindling.collector.parse_errors", "protocol=http"); n != 2 {
		t.Errorf("%d parse errors, want 2", n)
	}
}

func TestUnmatchedRequests(t *testing.T) {
	h := newHarness(t, Options{})
	fd := serverFd()
	h.feed(
		ioEvent("recvfrom", serverPid, fd, 100, 10, get),
		sysExit("close", serverPid, fd, 200, 10, 0),
		// The same fd number, a new connection: nothing pairs across.
		sysExit("accept4", serverPid, fd, 300, 10, 7),
		ioEvent("writev", serverPid, fd, 400, 10, ok),
		// A request, then the fd is another connection without a close
		// seen.
		ioEvent("recvfrom", serverPid, fd, 500, 10, get),
	)
	other := serverFd()
	other.Source = &eventv1.Endpoint{Address: "10.0.0.3", Port: 50000}
	h.feed(ioEvent("writev", serverPid, other, 600, 10, ok))
	if pts := h.points(serverMetric); len(pts) != 0 {
		t.Errorf("recorded %v", pts)
	}
	if n := h.total("kindling.collector.unmatched_requests", "protocol=http"); n != 2 {
		t.Errorf("%d unmatched, want 2", n)
	}
}

func TestLossForgetsWaitingRequests(t *testing.T) {
	h := newHarness(t, Options{})
	fd := serverFd()
	h.feed(ioEvent("recvfrom", serverPid, fd, 100, 10, get))
	h.c.Handle(kindling.Item{Loss: &probev1.Loss{Reason: probev1.LossReason_LOSS_REASON_KERNEL_BUFFER_FULL, Count: 3}})
	// The response to the first request may have been lost: this one may
	// answer a request lost too, so it pairs with nothing.
	h.feed(ioEvent("writev", serverPid, fd, 400, 10, ok))
	h.feed(ioEvent("recvfrom", serverPid, fd, 500, 10, get), ioEvent("writev", serverPid, fd, 600, 10, ok))
	if p := h.only(serverMetric); p.count != 1 || !near(p.sum, 110e-9) {
		t.Errorf("got %v", p)
	}
	if n := h.total("kindling.collector.lost_events", "reason=kernel_buffer_full"); n != 3 {
		t.Errorf("%d lost", n)
	}
	if n := h.total("kindling.collector.unmatched_requests"); n != 1 {
		t.Errorf("%d unmatched", n)
	}
	h.c.Handle(kindling.Item{Gap: &kindling.Gap{LastSeq: 9, Reason: "restarted"}})
	h.c.Reconnected()
	h.c.Reconnected() // a resume, later
	if h.total("kindling.collector.stream_breaks", "outcome=restarted") != 1 ||
		h.total("kindling.collector.stream_breaks", "outcome=resumed") != 1 {
		t.Errorf("breaks %v", h.points("kindling.collector.stream_breaks"))
	}
}

func TestUpgradeEndsHTTP(t *testing.T) {
	h := newHarness(t, Options{})
	fd := serverFd()
	h.feed(
		ioEvent("recvfrom", serverPid, fd, 100, 10, "GET /ws HTTP/1.1\r\nUpgrade: websocket\r\n\r\n"),
		ioEvent("writev", serverPid, fd, 200, 10, "HTTP/1.1 101 Switching Protocols\r\n\r\n"),
		// Frames that happen to look like HTTP are not requests any more.
		ioEvent("recvfrom", serverPid, fd, 300, 10, get),
		ioEvent("writev", serverPid, fd, 400, 10, ok),
	)
	if p := h.only(serverMetric); p.count != 1 || !hasAttrs(p.attrs, []string{"http.response.status_code=101"}) {
		t.Errorf("got %v", p)
	}
}

func TestRoleFromContent(t *testing.T) {
	// Descriptors the service knows no role for: the reader of a request is
	// the server.
	h := newHarness(t, Options{})
	server, client := serverFd(), clientFd()
	server.Role, client.Role = eventv1.SocketRole_SOCKET_ROLE_UNSPECIFIED, eventv1.SocketRole_SOCKET_ROLE_UNSPECIFIED
	h.feed(
		ioEvent("write", serverPid, server, 50, 10, ok), // no request yet: ignored
		ioEvent("read", serverPid, server, 100, 10, get),
		ioEvent("write", serverPid, server, 200, 10, ok),
		ioEvent("write", clientPid, client, 300, 10, get),
		ioEvent("read", clientPid, client, 400, 10, ok),
	)
	if h.total(serverMetric, "process.pid=100") != 1 || h.total(clientMetric, "process.pid=200") != 1 {
		t.Errorf("server %v client %v", h.points(serverMetric), h.points(clientMetric))
	}
}

func TestCutRequestLine(t *testing.T) {
	h := newHarness(t, Options{})
	fd := serverFd()
	long := "GET /files/" + strings.Repeat("x", 600) + " HTTP/1.1\r\n\r\n"
	read := ioEvent("recvfrom", serverPid, fd, 100, 10, long)
	read.Payload = read.Payload[:512] // the probe's snaplen
	h.feed(read, ioEvent("writev", serverPid, fd, 200, 10, ok))
	if h.total(serverMetric, "http.route=/files/"+strings.Repeat("x", 512-len("GET /files/"))) != 1 {
		t.Errorf("got %v", h.points(serverMetric))
	}
}

func TestRouteLimitAndContainer(t *testing.T) {
	h := newHarness(t, Options{Limits: Limits{Routes: 2}})
	fd := serverFd()
	ns := uint64(0)
	for _, path := range []string{"/a", "/b", "/c", "/a", "/d"} {
		ns += 100
		read := ioEvent("recvfrom", serverPid, fd, ns, 10, "GET "+path+" HTTP/1.1\r\n\r\n")
		read.Thread.ContainerId = "0123456789ab"
		h.feed(read, ioEvent("writev", serverPid, fd, ns+50, 10, ok))
	}
	if h.total(serverMetric, "http.route=/a", "container.id=0123456789ab") != 2 ||
		h.total(serverMetric, "http.route=/b") != 1 ||
		h.total(serverMetric, "http.route=_other") != 2 {
		t.Errorf("got %v", h.points(serverMetric))
	}
}

func TestPeerBudget(t *testing.T) {
	h := newHarness(t, Options{Limits: Limits{Peers: 2}})
	for i, peer := range []string{"10.0.0.2", "10.0.0.3", "10.0.0.4", "10.0.0.2"} {
		fd := serverFd()
		fd.Num = int32(10 + i)
		fd.Source = &eventv1.Endpoint{Address: peer, Port: 40000}
		ns := uint64(100 * (i + 1))
		h.feed(ioEvent("recvfrom", serverPid, fd, ns, 1, get), ioEvent("writev", serverPid, fd, ns+10, 1, ok))
	}
	if h.total(serverMetric, "network.peer.address=10.0.0.2") != 2 ||
		h.total(serverMetric, "network.peer.address=10.0.0.3") != 1 ||
		h.total(serverMetric, "network.peer.address=_other") != 1 {
		t.Errorf("got %v", h.points(serverMetric))
	}
}

func TestProcessExitEndsItsConnections(t *testing.T) {
	h := newHarness(t, Options{})
	other := serverFd()
	other.Num = 8
	h.feed(
		ioEvent("recvfrom", serverPid, serverFd(), 100, 1, get),
		ioEvent("recvfrom", serverPid, other, 110, 1, get),
		ioEvent("sendto", clientPid, clientFd(), 120, 1, get),
		&eventv1.Event{TimestampNs: 200, Name: "process_exit", Thread: thread(serverPid)},
	)
	if h.c.conns.conns.n != 1 || h.c.conns.conns.get(connKey{clientPid, 3}) == nil {
		t.Errorf("%d connections left, want the client's", h.c.conns.conns.n)
	}
	if n := h.total("kindling.collector.unmatched_requests"); n != 2 {
		t.Errorf("%d unmatched", n)
	}
}

func TestPendingIsBounded(t *testing.T) {
	h := newHarness(t, Options{})
	fd := serverFd()
	for i := range maxPending + 5 {
		h.feed(ioEvent("recvfrom", serverPid, fd, uint64(100+i), 1, get))
	}
	if n := h.total("kindling.collector.unmatched_requests"); n != 5 {
		t.Errorf("%d unmatched, want 5", n)
	}
}

func TestIdleConnectionsAreSwept(t *testing.T) {
	h := newHarness(t, Options{})
	h.feed(ioEvent("recvfrom", serverPid, serverFd(), 100, 1, get))
	h.c.conns.sweep(100 + idleNs/2)
	if h.c.conns.conns.n != 1 {
		t.Fatal("swept too early")
	}
	h.c.conns.sweep(200 + idleNs)
	if h.c.conns.conns.n != 0 || h.total("kindling.collector.unmatched_requests") != 1 {
		t.Errorf("not swept: %d connections", h.c.conns.conns.n)
	}
}
