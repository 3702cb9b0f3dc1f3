package collector

import (
	"context"
	"io"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"testing"

	eventv1 "github.com/kindling-probe/kindling-probe/clients/go/gen/kindling/event/v1"
	probev1 "github.com/kindling-probe/kindling-probe/clients/go/gen/kindling/probe/v1"
)

func TestRequest(t *testing.T) {
	var catalogue []*probev1.EventDescriptor
	for _, name := range append(WantedEvents(), "openat", "tcp_nope") {
		// This kernel has no recvmmsg and no skb_drop.
		available := name != "recvmmsg" && name != "skb_drop"
		catalogue = append(catalogue, &probev1.EventDescriptor{Name: name, Available: available, Enabled: true})
	}
	req, missing := Request(catalogue, 4242)
	if !slices.Equal(missing, []string{"skb_drop"}) {
		t.Errorf("missing %v, want skb_drop alone (recvmmsg is optional)", missing)
	}
	if len(req.GetAllowList()) != 2 {
		t.Fatalf("allow list %v", req.GetAllowList())
	}
	allow := req.GetAllowList()[0]
	names := allow.GetNames()
	for _, name := range []string{"accept4", "connect", "close", "read", "writev", "sendto", "recvfrom"} {
		if !slices.Contains(names, name) {
			t.Errorf("%s not asked for on sockets", name)
		}
	}
	for _, name := range []string{"recvmmsg", "skb_drop", "openat", "tcp_nope", "tcp_probe", "process_exit"} {
		if slices.Contains(names, name) {
			t.Errorf("%s asked for on sockets", name)
		}
	}
	// The TCP tracepoints and exits, whatever their descriptor.
	tcp := req.GetAllowList()[1]
	if !slices.Equal(tcp.GetNames(), []string{"tcp_state_change", "tcp_retransmit", "tcp_send_reset", "tcp_receive_reset", "tcp_probe", "process_exit"}) ||
		len(tcp.GetFdTypes()) != 0 {
		t.Errorf("second filter %v", tcp)
	}
	if !slices.Equal(allow.GetFdTypes(), []eventv1.FdType{eventv1.FdType_FD_TYPE_IPV4_SOCKET, eventv1.FdType_FD_TYPE_IPV6_SOCKET}) {
		t.Errorf("fd types %v", allow.GetFdTypes())
	}
	if d := req.GetDenyList(); len(d) != 1 || !slices.Equal(d[0].GetPids(), []uint32{4242}) {
		t.Errorf("deny list %v", d)
	}
	if req.GetPayload() != probev1.PayloadMode_PAYLOAD_MODE_SOCKETS {
		t.Errorf("payload %v", req.GetPayload())
	}
	// I/O events come without their attributes; the TCP events keep theirs.
	fields := req.GetFields()
	if len(fields) != 1 || !slices.Contains(fields[0].GetExclude().GetPaths(), "attributes") ||
		!slices.Contains(fields[0].GetEvents(), "recvfrom") || slices.Contains(fields[0].GetEvents(), "tcp_probe") ||
		slices.Contains(fields[0].GetExclude().GetPaths(), "payload") {
		t.Errorf("fields %v", fields)
	}
}

func TestPrometheusNames(t *testing.T) {
	prom, err := NewPrometheus("1.2.3")
	if err != nil {
		t.Fatal(err)
	}
	defer prom.Provider.Shutdown(context.Background())
	c, err := New(prom.Provider, Options{Version: "1.2.3"})
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, c: c}
	h.feed(
		sysExit("connect", clientPid, clientFd(), 1_000, 2_000, 0),
		ioEvent("recvfrom", serverPid, serverFd(), 12_000, 2_000, get),
		ioEvent("writev", serverPid, serverFd(), 50_000, 3_000, ok),
	)
	rec := httptest.NewRecorder()
	prom.Handler.ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	body, _ := io.ReadAll(rec.Result().Body)
	text := string(body)
	for _, want := range []string{
		`http_server_request_duration_seconds_count{http_request_method="GET",http_response_status_code="200",http_route="/users/*",network_peer_address="10.0.0.2",process_executable_name="nginx",process_pid="100",server_address="10.0.0.1",server_port="80"} 1`,
		`http_server_request_duration_seconds_bucket{http_request_method="GET",http_response_status_code="200",http_route="/users/*",network_peer_address="10.0.0.2",process_executable_name="nginx",process_pid="100",server_address="10.0.0.1",server_port="80",le="0.0001"} 1`,
		`kindling_tcp_connects_total{outcome="success",process_executable_name="curl",process_pid="200",server_address="10.0.0.1",server_port="80"} 1`,
		`kindling_tcp_connect_duration_seconds_count{process_executable_name="curl",process_pid="200",server_address="10.0.0.1",server_port="80"} 1`,
		"kindling_collector_events_total 3",
		`kindling_collector_lost_events_total{reason="kernel_buffer_full"} 0`,
		`kindling_collector_stream_breaks_total{outcome="restarted"} 0`,
		`target_info{service_name="kindling-collector",service_version="1.2.3"} 1`,
	} {
		if !strings.Contains(text, want+"\n") {
			t.Errorf("no line %s in:\n%s", want, text)
		}
	}
	// The spec's buckets, in seconds.
	var bounds []string
	for _, m := range regexp.MustCompile(`http_server_request_duration_seconds_bucket\{.*le="([^"]+)"\}`).FindAllStringSubmatch(text, -1) {
		bounds = append(bounds, m[1])
	}
	want := []string{"0.0001", "0.00025", "0.0005", "0.001", "0.0025", "0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "5", "10", "+Inf"}
	if !slices.Equal(bounds, want) {
		t.Errorf("buckets %v, want %v", bounds, want)
	}
	if strings.Contains(text, "otel_scope") {
		t.Error("scope labels on the series")
	}
}
