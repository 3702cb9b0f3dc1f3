package collector

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	eventv1 "github.com/kindling-probe/kindling-probe/clients/go/gen/kindling/event/v1"
	"github.com/kindling-probe/kindling-probe/clients/go/kindling"
)

// harness feeds events to a collector and reads back what it recorded.
type harness struct {
	t      *testing.T
	c      *Collector
	reader *sdkmetric.ManualReader
	seq    uint64
}

func newHarness(t *testing.T, opts Options) *harness {
	t.Helper()
	reader := sdkmetric.NewManualReader()
	c, err := New(sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader)), opts)
	if err != nil {
		t.Fatal(err)
	}
	return &harness{t: t, c: c, reader: reader}
}

func (h *harness) feed(evs ...*eventv1.Event) {
	for _, ev := range evs {
		h.seq++
		ev.Seq = h.seq
		h.c.Handle(kindling.Item{Event: ev})
	}
}

// point is one data point: a counter's value, or a histogram's count and
// sum.
type point struct {
	attrs attribute.Set
	value int64
	count uint64
	sum   float64
}

func (p point) String() string {
	var kv []string
	for _, a := range p.attrs.ToSlice() {
		kv = append(kv, fmt.Sprintf("%s=%s", a.Key, a.Value.Emit()))
	}
	sort.Strings(kv)
	return fmt.Sprintf("{%s} value=%d count=%d sum=%g", strings.Join(kv, " "), p.value, p.count, p.sum)
}

// points returns the data points of the metric name.
func (h *harness) points(name string) []point {
	h.t.Helper()
	var rm metricdata.ResourceMetrics
	if err := h.reader.Collect(context.Background(), &rm); err != nil {
		h.t.Fatal(err)
	}
	var out []point
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if m.Name != name {
				continue
			}
			switch data := m.Data.(type) {
			case metricdata.Sum[int64]:
				for _, dp := range data.DataPoints {
					out = append(out, point{attrs: dp.Attributes, value: dp.Value})
				}
			case metricdata.Histogram[float64]:
				for _, dp := range data.DataPoints {
					out = append(out, point{attrs: dp.Attributes, count: dp.Count, sum: dp.Sum})
				}
			default:
				h.t.Fatalf("%s: unexpected data %T", name, m.Data)
			}
		}
	}
	return out
}

// only returns the one data point of name whose attributes include want
// ("key=value" each), failing when there is not exactly one.
func (h *harness) only(name string, want ...string) point {
	h.t.Helper()
	var found []point
	all := h.points(name)
	for _, p := range all {
		if hasAttrs(p.attrs, want) {
			found = append(found, p)
		}
	}
	if len(found) != 1 {
		h.t.Fatalf("%s %v: %d points match, of %v", name, want, len(found), all)
	}
	return found[0]
}

// total adds up the counter name's values (or histogram counts) whose
// attributes include want.
func (h *harness) total(name string, want ...string) int64 {
	h.t.Helper()
	var n int64
	for _, p := range h.points(name) {
		if hasAttrs(p.attrs, want) {
			n += p.value + int64(p.count)
		}
	}
	return n
}

func hasAttrs(set attribute.Set, want []string) bool {
	for _, w := range want {
		key, value, _ := strings.Cut(w, "=")
		v, ok := set.Value(attribute.Key(key))
		if !ok || v.Emit() != value {
			return false
		}
	}
	return true
}

// Events of a test connection: process 100 (nginx) accepted fd 7 from
// 10.0.0.2:40000 on 10.0.0.1:80; process 200 (curl) connected fd 3 the
// other way.
const (
	serverPid = 100
	clientPid = 200
)

var (
	clientEnd = &eventv1.Endpoint{Address: "10.0.0.2", Port: 40000}
	serverEnd = &eventv1.Endpoint{Address: "10.0.0.1", Port: 80}
)

func socket(num int32, role eventv1.SocketRole) *eventv1.Fd {
	return &eventv1.Fd{
		Num: num, Type: eventv1.FdType_FD_TYPE_IPV4_SOCKET, Protocol: eventv1.L4Protocol_L4_PROTOCOL_TCP,
		Role: role, Source: clientEnd, Destination: serverEnd,
	}
}

func serverFd() *eventv1.Fd { return socket(7, eventv1.SocketRole_SOCKET_ROLE_SERVER) }
func clientFd() *eventv1.Fd { return socket(3, eventv1.SocketRole_SOCKET_ROLE_CLIENT) }

func thread(pid uint32) *eventv1.Thread {
	comm := map[uint32]string{serverPid: "nginx", clientPid: "curl"}[pid]
	return &eventv1.Thread{Pid: pid, Tid: pid, Comm: comm}
}

// sysExit is a syscall exit of pid at ns on fd, which took latency ns.
func sysExit(name string, pid uint32, fd *eventv1.Fd, ns, latency uint64, ret int64) *eventv1.Event {
	return &eventv1.Event{
		TimestampNs: ns, Name: name, Source: eventv1.Source_SOURCE_SYSCALL_EXIT, ReturnValue: ret,
		LatencyNs: latency, Thread: thread(pid), Fd: fd,
	}
}

// ioEvent is an I/O syscall that moved payload, whole.
func ioEvent(name string, pid uint32, fd *eventv1.Fd, ns, latency uint64, payload string) *eventv1.Event {
	ev := sysExit(name, pid, fd, ns, latency, int64(len(payload)))
	ev.Payload = []byte(payload)
	ev.PayloadLength = uint64(len(payload))
	return ev
}

// tcpEvent is a TCP tracepoint event with string and unsigned attributes.
func tcpEvent(name string, pid uint32, fd *eventv1.Fd, ns uint64, attrs map[string]any) *eventv1.Event {
	ev := &eventv1.Event{TimestampNs: ns, Name: name, Source: eventv1.Source_SOURCE_TRACEPOINT, Fd: fd}
	if pid != 0 {
		ev.Thread = thread(pid)
	}
	keys := make([]string, 0, len(attrs))
	for k := range attrs {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		a := &eventv1.Attribute{Key: k}
		switch v := attrs[k].(type) {
		case string:
			a.Value = &eventv1.Attribute_StringValue{StringValue: v}
		case uint32:
			a.Value = &eventv1.Attribute_Uint32Value{Uint32Value: v}
		case uint64:
			a.Value = &eventv1.Attribute_Uint64Value{Uint64Value: v}
		default:
			panic(fmt.Sprintf("attribute %s: %T", k, v))
		}
		ev.Attributes = append(ev.Attributes, a)
	}
	return ev
}
