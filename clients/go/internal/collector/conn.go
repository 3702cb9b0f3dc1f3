package collector

import (
	"context"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	eventv1 "github.com/kindling-probe/kindling-probe/clients/go/gen/kindling/event/v1"
)

// Connections and request pairing. A connection is a process's file
// descriptor (pid, fd num) with the connection's two ends; accept or
// connect starts one, close ends it, and so do an event on the same fd
// with other ends (the close was not seen) and the process's exit. The
// socket role says which side the process is: a server reads requests and
// writes responses, a client writes requests and reads responses.
// Requests wait in a FIFO per connection for their responses (pipelining
// keeps the order).

const (
	// maxPending bounds the requests one connection keeps waiting.
	maxPending = 256
	// maxConnections bounds the connections followed at once; beyond it,
	// new ones are not followed until sweeps free room.
	maxConnections = 1 << 16
	// idleNs is how long a connection may go without events before a sweep
	// forgets it (its close and its process's exit were missed).
	idleNs = 10 * 60 * 1e9
)

// connKey identifies a connection by its owner's descriptor (or, in the
// TCP metrics, a socket).
type connKey struct {
	pid uint32
	fd  int32
}

func keyOf(ev *eventv1.Event) connKey {
	return connKey{pid: ev.GetThread().GetPid(), fd: ev.GetFd().GetNum()}
}

// endpoint is one end of a connection; the zero value is unknown.
type endpoint struct {
	address string
	port    uint32
}

func endpointOf(ep *eventv1.Endpoint) endpoint {
	return endpoint{address: ep.GetAddress(), port: ep.GetPort()}
}

func (e endpoint) known() bool { return e.address != "" || e.port != 0 }

// owner is the process an event came from, as metric attributes use it.
type owner struct {
	pid       uint32
	comm      string
	container string
}

func ownerOf(ev *eventv1.Event) owner {
	t := ev.GetThread()
	return owner{pid: t.GetPid(), comm: t.GetComm(), container: t.GetContainerId()}
}

// attributes appends the process attributes.
func (o owner) attributes(kv []attribute.KeyValue) []attribute.KeyValue {
	kv = append(kv,
		attribute.Int("process.pid", int(o.pid)),
		attribute.String("process.executable.name", o.comm))
	if o.container != "" {
		kv = append(kv, attribute.String("container.id", o.container))
	}
	return kv
}

// connection is what the collector keeps of one connection.
type connection struct {
	// client and server are fd.source and fd.destination: the connecting
	// end and the accepting end.
	client, server endpoint
	role           eventv1.SocketRole
	pending        []pendingRequest
	// upgraded says the connection left HTTP/1 (101 Switching Protocols).
	upgraded bool
	lastNs   uint64
}

// pendingRequest is a request waiting for its response.
type pendingRequest struct {
	startNs uint64
	method  string // as reported
	head    bool
	route   string
	owner   owner
}

// connTable holds connections by process, so that a process's exit ends
// all of its connections at once.
type connTable struct {
	byPid map[uint32]map[int32]*connection
	n     int
}

func (t *connTable) get(key connKey) *connection { return t.byPid[key.pid][key.fd] }

func (t *connTable) put(key connKey, c *connection) {
	fds := t.byPid[key.pid]
	if fds == nil {
		fds = map[int32]*connection{}
		t.byPid[key.pid] = fds
	}
	if fds[key.fd] == nil {
		t.n++
	}
	fds[key.fd] = c
}

func (t *connTable) remove(key connKey) {
	fds := t.byPid[key.pid]
	if fds[key.fd] == nil {
		return
	}
	t.n--
	delete(fds, key.fd)
	if len(fds) == 0 {
		delete(t.byPid, key.pid)
	}
}

// connections follows connections and pairs their requests and responses.
type connections struct {
	ins    *instruments
	routes *labelBudget[service]
	peers  *labelBudget[service]
	conns  connTable
	series map[seriesKey]attribute.Set
}

func newConnections(ins *instruments, limits Limits) *connections {
	return &connections{
		ins: ins, routes: newLabelBudget[service](limits.Routes), peers: newLabelBudget[service](limits.Peers),
		conns: connTable{byPid: map[uint32]map[int32]*connection{}}, series: map[seriesKey]attribute.Set{},
	}
}

// open starts a connection at an accept or connect.
func (t *connections) open(ev *eventv1.Event) {
	key := keyOf(ev)
	if old := t.conns.get(key); old != nil {
		t.end(key, old)
	}
	t.track(key, ev)
}

// close ends the connection of a close.
func (t *connections) close(ev *eventv1.Event) {
	key := keyOf(ev)
	if c := t.conns.get(key); c != nil {
		t.end(key, c)
	}
}

// exit ends the connections of a process that exited.
func (t *connections) exit(pid uint32) {
	for fd, c := range t.conns.byPid[pid] {
		t.end(connKey{pid: pid, fd: fd}, c)
	}
}

// track starts following the connection of ev's descriptor, unless too
// many are followed already.
func (t *connections) track(key connKey, ev *eventv1.Event) *connection {
	if t.conns.n >= maxConnections {
		return nil
	}
	fd := ev.GetFd()
	c := &connection{
		client: endpointOf(fd.GetSource()), server: endpointOf(fd.GetDestination()),
		role: fd.GetRole(), lastNs: ev.GetTimestampNs(),
	}
	t.conns.put(key, c)
	return c
}

// end forgets a connection; its requests still waiting are unmatched.
func (t *connections) end(key connKey, c *connection) {
	t.unmatched(len(c.pending))
	t.conns.remove(key)
}

func (t *connections) unmatched(n int) {
	if n > 0 {
		t.ins.unmatched.Add(context.Background(), int64(n), metric.WithAttributes(attribute.String("protocol", "http")))
	}
}

// lookup returns the connection of an I/O event, starting one when the
// descriptor is new or now refers to another connection.
func (t *connections) lookup(ev *eventv1.Event) *connection {
	key := keyOf(ev)
	fd := ev.GetFd()
	client, server := endpointOf(fd.GetSource()), endpointOf(fd.GetDestination())
	c := t.conns.get(key)
	if c != nil && (client.known() && c.client.known() && client != c.client ||
		server.known() && c.server.known() && server != c.server) {
		t.end(key, c)
		c = nil
	}
	if c == nil {
		return t.track(key, ev)
	}
	if !c.client.known() {
		c.client = client
	}
	if !c.server.known() {
		c.server = server
	}
	if c.role == eventv1.SocketRole_SOCKET_ROLE_UNSPECIFIED {
		c.role = fd.GetRole()
	}
	c.lastNs = ev.GetTimestampNs()
	return c
}

// io handles a read-family (read true) or write-family event.
func (t *connections) io(ev *eventv1.Event, read bool) {
	payload := ev.GetPayload()
	if ev.GetReturnValue() <= 0 || len(payload) == 0 ||
		ev.GetFd().GetProtocol() == eventv1.L4Protocol_L4_PROTOCOL_UDP {
		return
	}
	c := t.lookup(ev)
	if c == nil || c.upgraded {
		return
	}
	cut := ev.GetPayloadLength() > uint64(len(payload))
	if c.role == eventv1.SocketRole_SOCKET_ROLE_UNSPECIFIED {
		// A descriptor the service knows no role for: the side that
		// receives a request is the server.
		if _, _, ok := parseRequestLine(payload, cut); !ok {
			return
		}
		c.role = eventv1.SocketRole_SOCKET_ROLE_CLIENT
		if read {
			c.role = eventv1.SocketRole_SOCKET_ROLE_SERVER
		}
	}
	if (c.role == eventv1.SocketRole_SOCKET_ROLE_SERVER) == read {
		t.requests(c, ev, payload, cut)
	} else {
		t.responses(c, ev, payload)
	}
}

// requests queues the requests a payload starts with: one, or more when
// the client pipelined them and each is whole in the payload.
func (t *connections) requests(c *connection, ev *eventv1.Event, payload []byte, cut bool) {
	// A request starts when the call that moved it was entered.
	start := ev.GetTimestampNs() - min(ev.GetLatencyNs(), ev.GetTimestampNs())
	who := ownerOf(ev)
	for off := 0; ; {
		req, end, ok := parseRequestLine(payload[off:], cut)
		if !ok {
			if off == 0 && looksLikeRequest(payload) {
				t.parseError()
			}
			return
		}
		if len(c.pending) == maxPending {
			t.unmatched(1)
			c.pending = c.pending[1:]
		}
		c.pending = append(c.pending, pendingRequest{
			startNs: start,
			method:  req.reportedMethod(),
			head:    req.method == "HEAD",
			route:   t.routes.admit(service{comm: who.comm, port: c.server.port}, templateRoute(req.target)),
			owner:   who,
		})
		next := nextMessage(payload[off:], end, false, false)
		if next < 0 {
			return
		}
		off += next
	}
}

// responses pairs the responses a payload starts with with the requests
// waiting, oldest first.
func (t *connections) responses(c *connection, ev *eventv1.Event, payload []byte) {
	for off := 0; ; {
		resp, end, ok := parseStatusLine(payload[off:])
		if !ok {
			if off == 0 && looksLikeResponse(payload) {
				t.parseError()
			}
			return
		}
		if len(c.pending) == 0 {
			return // its request was not seen
		}
		req := c.pending[0]
		if !resp.interim() {
			c.pending = c.pending[1:]
			t.record(c, req, resp, ev.GetTimestampNs())
		}
		if resp.status == 101 {
			c.upgraded = true
			t.unmatched(len(c.pending))
			c.pending = nil
			return
		}
		noBody := req.head || resp.status < 200 || resp.status == 204 || resp.status == 304
		next := nextMessage(payload[off:], end, true, noBody)
		if next < 0 {
			return
		}
		off += next
	}
}

// record reports a request that got its response at endNs.
func (t *connections) record(c *connection, req pendingRequest, resp httpResponse, endNs uint64) {
	histogram, peer := t.ins.httpServer, c.client.address
	client := c.role == eventv1.SocketRole_SOCKET_ROLE_CLIENT
	if client {
		histogram, peer = t.ins.httpClient, c.server.address
	}
	key := seriesKey{
		client: client, method: req.method, status: resp.status, route: req.route,
		server: c.server, peer: t.peers.admit(service{comm: req.owner.comm, port: c.server.port}, peer),
		owner: req.owner,
	}
	set, ok := t.series[key]
	if !ok {
		set = key.attributes()
		if len(t.series) >= maxSeries {
			clear(t.series)
		}
		t.series[key] = set
	}
	histogram.Record(context.Background(), seconds(endNs-min(req.startNs, endNs)), metric.WithAttributeSet(set))
}

// seriesKey is what the attributes of a request's series are made of.
// Building an attribute set costs more than the rest of a request: the
// sets are kept for the series seen.
type seriesKey struct {
	client bool
	method string
	status int
	route  string
	server endpoint
	peer   string
	owner  owner
}

// maxSeries bounds the attribute sets kept.
const maxSeries = 1 << 14

func (k seriesKey) attributes() attribute.Set {
	kv := make([]attribute.KeyValue, 0, 9)
	kv = append(kv,
		attribute.String("http.request.method", k.method),
		attribute.Int("http.response.status_code", k.status),
		attribute.String("http.route", k.route),
		attribute.String("server.address", k.server.address),
		attribute.Int("server.port", int(k.server.port)),
		attribute.String("network.peer.address", k.peer),
	)
	return attribute.NewSet(k.owner.attributes(kv)...)
}

func (t *connections) parseError() {
	t.ins.parseErrors.Add(context.Background(), 1, metric.WithAttributes(attribute.String("protocol", "http")))
}

// forgetPending drops every request waiting, as unmatched: after a loss,
// the next response on a connection may answer a request the collector
// never saw.
func (t *connections) forgetPending() {
	for _, fds := range t.conns.byPid {
		for _, c := range fds {
			t.unmatched(len(c.pending))
			c.pending = nil
		}
	}
}

// sweep forgets the connections idle since before nowNs - idleNs.
func (t *connections) sweep(nowNs uint64) {
	for pid, fds := range t.conns.byPid {
		for fd, c := range fds {
			if c.lastNs+idleNs < nowNs {
				t.end(connKey{pid: pid, fd: fd}, c)
			}
		}
	}
}

func seconds(ns uint64) float64 { return float64(ns) / 1e9 }
