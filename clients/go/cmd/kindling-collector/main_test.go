package main

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	eventv1 "github.com/kindling-probe/kindling-probe/clients/go/gen/kindling/event/v1"
	probev1 "github.com/kindling-probe/kindling-probe/clients/go/gen/kindling/probe/v1"
	"github.com/kindling-probe/kindling-probe/clients/go/internal/collector"
	"github.com/kindling-probe/kindling-probe/clients/go/internal/fakeprobe"
)

// TestMain runs the command itself when the test binary is started with
// KINDLING_COLLECTOR_RUN_MAIN=1, so that TestSignal can run it as a process.
func TestMain(m *testing.M) {
	if os.Getenv("KINDLING_COLLECTOR_RUN_MAIN") == "1" {
		os.Args = append([]string{prog}, os.Args[1:]...)
		main()
	}
	os.Exit(m.Run())
}

// syncBuffer is a buffer that the command writes while the test reads it.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

type result struct {
	code           int
	stdout, stderr string
}

// runCmd runs the command to its end, with a deadline that keeps a broken
// test from hanging.
func runCmd(t *testing.T, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	var stdout, stderr bytes.Buffer
	code := run(ctx, args, &stdout, &stderr)
	return result{code, stdout.String(), stderr.String()}
}

// catalogue answers GetInfo with every event the collector uses.
func catalogue(context.Context, *probev1.GetInfoRequest) (*probev1.GetInfoResponse, error) {
	return catalogueWithout()
}

// catalogueWithout is the catalogue, with the events disabled named.
func catalogueWithout(disabled ...string) (*probev1.GetInfoResponse, error) {
	var events []*probev1.EventDescriptor
	for _, name := range collector.WantedEvents() {
		events = append(events, &probev1.EventDescriptor{Name: name, Available: true, Enabled: !slices.Contains(disabled, name)})
	}
	return &probev1.GetInfoResponse{Events: events}, nil
}

// sendThenWait returns a Subscribe handler that sends resps and then keeps
// the stream open until the client ends it.
func sendThenWait(resps ...*probev1.SubscribeResponse) func(*probev1.SubscribeRequest, grpc.ServerStreamingServer[probev1.SubscribeResponse]) error {
	return func(_ *probev1.SubscribeRequest, stream grpc.ServerStreamingServer[probev1.SubscribeResponse]) error {
		for _, r := range resps {
			if err := stream.Send(r); err != nil {
				return err
			}
		}
		<-stream.Context().Done()
		return stream.Context().Err()
	}
}

// exchange is one HTTP request and response on an nginx connection.
func exchange(seq uint64, path, status string) []*eventv1.Event {
	fd := &eventv1.Fd{
		Num: 9, Type: eventv1.FdType_FD_TYPE_IPV4_SOCKET, Protocol: eventv1.L4Protocol_L4_PROTOCOL_TCP,
		Role:        eventv1.SocketRole_SOCKET_ROLE_SERVER,
		Source:      &eventv1.Endpoint{Address: "127.0.0.1", Port: 51000},
		Destination: &eventv1.Endpoint{Address: "127.0.0.1", Port: 8080},
	}
	thread := &eventv1.Thread{Pid: 77, Tid: 77, Comm: "nginx"}
	req := "GET " + path + " HTTP/1.1\r\nHost: x\r\n\r\n"
	resp := "HTTP/1.1 " + status + " X\r\nContent-Length: 0\r\n\r\n"
	return []*eventv1.Event{
		{Seq: seq, TimestampNs: seq * 1000, Name: "recvfrom", ReturnValue: int64(len(req)), LatencyNs: 100,
			Thread: thread, Fd: fd, Payload: []byte(req), PayloadLength: uint64(len(req))},
		{Seq: seq + 1, TimestampNs: seq*1000 + 500, Name: "writev", ReturnValue: int64(len(resp)), LatencyNs: 100,
			Thread: thread, Fd: fd, Payload: []byte(resp), PayloadLength: uint64(len(resp))},
	}
}

func batch(events ...*eventv1.Event) *probev1.SubscribeResponse {
	return &probev1.SubscribeResponse{Events: events, BootTime: timestamppb.Now(), StreamId: "s1"}
}

var servingLine = regexp.MustCompile(`serving metrics at (http://\S+/metrics) from`)

// start runs the command in the background and returns the URL of its
// metrics, and a function that stops it and returns its result.
func start(t *testing.T, args ...string) (string, func() result) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	var stdout, stderr syncBuffer
	done := make(chan int, 1)
	go func() { done <- run(ctx, args, &stdout, &stderr) }()
	stop := func() result {
		cancel()
		select {
		case code := <-done:
			return result{code, stdout.String(), stderr.String()}
		case <-time.After(10 * time.Second):
			t.Fatal("the command did not stop")
			return result{}
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if m := servingLine.FindStringSubmatch(stderr.String()); m != nil {
			return m[1], stop
		}
		select {
		case code := <-done:
			t.Fatalf("the command exited %d: %s", code, stderr.String())
		case <-time.After(10 * time.Millisecond):
		}
	}
	stop()
	t.Fatalf("the command never served: %s", stderr.String())
	return "", nil
}

func scrape(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("scrape: %d %v", resp.StatusCode, err)
	}
	return string(body)
}

func TestServesMetrics(t *testing.T) {
	loss := batch(exchange(10, "/orders/123", "200")...)
	loss.Losses = []*probev1.Loss{{Reason: probev1.LossReason_LOSS_REASON_SUBSCRIBER_QUEUE_FULL, Count: 4, FirstSeq: 6}}
	// Told at most once every 10 s, counted every time.
	again := batch()
	again.Losses = []*probev1.Loss{{Reason: probev1.LossReason_LOSS_REASON_KERNEL_BUFFER_FULL, Count: 2}}
	svc := &fakeprobe.Service{
		GetInfoFunc: func(context.Context, *probev1.GetInfoRequest) (*probev1.GetInfoResponse, error) {
			return catalogueWithout("tcp_probe")
		},
		SubscribeFunc: sendThenWait(
			batch(),
			batch(exchange(1, "/orders/7?x=1", "200")...),
			batch(exchange(3, "/orders/8", "200")...),
			batch(exchange(5, "/missing", "404")...),
			loss,
			again,
		),
	}
	srv := fakeprobe.Start(t, svc)
	url, stop := start(t, "--socket", srv.Socket, "--listen", "127.0.0.1:0")
	const orders = `http_server_request_duration_seconds_count{http_request_method="GET",http_response_status_code="200",http_route="/orders/*",network_peer_address="127.0.0.1",process_executable_name="nginx",process_pid="77",server_address="127.0.0.1",server_port="8080"} 3`
	const last = `kindling_collector_lost_events_total{reason="kernel_buffer_full"} 2` // the last batch's
	var text string
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if text = scrape(t, url); strings.Contains(text, last+"\n") {
			break
		}
	}
	for _, want := range []string{
		orders,
		`http_server_request_duration_seconds_count{http_request_method="GET",http_response_status_code="404",http_route="/missing",network_peer_address="127.0.0.1",process_executable_name="nginx",process_pid="77",server_address="127.0.0.1",server_port="8080"} 1`,
		`kindling_collector_events_total 8`,
		`kindling_collector_lost_events_total{reason="subscriber_queue_full"} 4`,
		`kindling_collector_lost_events_total{reason="kernel_buffer_full"} 2`,
	} {
		if !strings.Contains(text, want+"\n") {
			t.Errorf("no line %s in\n%s", want, text)
		}
	}
	r := stop()
	if r.code != 0 {
		t.Errorf("exit %d: %s", r.code, r.stderr)
	}
	if !strings.Contains(r.stderr, "kindling-collector: the stream lost 4 events (subscriber queue full) seq 6-9\n") ||
		strings.Count(r.stderr, "the stream lost") != 1 {
		t.Errorf("not one loss notice: %q", r.stderr)
	}
	if !strings.Contains(r.stderr, "warning: the service has disabled tcp_probe events") {
		t.Errorf("no warning about the disabled event: %q", r.stderr)
	}

	reqs := svc.Requests()
	if len(reqs) != 1 {
		t.Fatalf("%d requests", len(reqs))
	}
	req := reqs[0]
	if req.GetResumeWindow() == nil || req.GetPayload() != probev1.PayloadMode_PAYLOAD_MODE_SOCKETS ||
		!slices.Equal(req.GetDenyList()[0].GetPids(), []uint32{uint32(os.Getpid())}) {
		t.Errorf("request %v", req)
	}
}

func TestResumesAfterADisconnect(t *testing.T) {
	var mu sync.Mutex
	calls := 0
	svc := &fakeprobe.Service{
		GetInfoFunc: catalogue,
		SubscribeFunc: func(req *probev1.SubscribeRequest, stream grpc.ServerStreamingServer[probev1.SubscribeResponse]) error {
			mu.Lock()
			calls++
			n := calls
			mu.Unlock()
			if n == 1 {
				stream.Send(batch(exchange(1, "/a", "200")...))
				return status.Error(codes.Unavailable, "the connection broke")
			}
			if req.GetResume().GetStreamId() != "s1" || req.GetResume().GetLastSeq() != 2 {
				return status.Errorf(codes.FailedPrecondition, "resumed with %v", req.GetResume())
			}
			return sendThenWait(batch(exchange(3, "/a", "200")...))(req, stream)
		},
	}
	srv := fakeprobe.Start(t, svc)
	url, stop := start(t, "--socket", srv.Socket, "--listen", "127.0.0.1:0")
	const want = `http_route="/a",network_peer_address="127.0.0.1",process_executable_name="nginx",process_pid="77",server_address="127.0.0.1",server_port="8080"} 2`
	var text string
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if text = scrape(t, url); strings.Contains(text, want) {
			break
		}
	}
	r := stop()
	if !strings.Contains(text, want) {
		t.Errorf("not both requests counted:\n%s\nstderr %s", text, r.stderr)
	}
	if r.code != 0 || !strings.Contains(r.stderr, "reconnected to the kindling probe service") {
		t.Errorf("exit %d, stderr %q", r.code, r.stderr)
	}
	if !strings.Contains(text, `kindling_collector_stream_breaks_total{outcome="resumed"} 1`) {
		t.Errorf("the resume is not counted:\n%s", text)
	}
}

func TestNoService(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "missing.sock")
	r := runCmd(t, "--socket", missing)
	want := "kindling-collector: no kindling probe service at " + missing +
		`: the socket does not exist; start the service with "kindling-probe serve", or point $KINDLING_SOCKET or --socket at its socket` + "\n"
	if r.code != 1 || r.stderr != want {
		t.Errorf("exit %d, stderr %q, want 1 and %q", r.code, r.stderr, want)
	}
	r = runCmd(t, "--socket", fakeprobe.StaleSocket(t))
	if r.code != 1 || !strings.Contains(r.stderr, "no kindling probe service listens at") || strings.Count(r.stderr, "\n") != 1 {
		t.Errorf("stale socket: exit %d, stderr %q", r.code, r.stderr)
	}
	t.Setenv("KINDLING_SOCKET", missing)
	if r := runCmd(t); r.code != 1 || !strings.Contains(r.stderr, missing) {
		t.Errorf("$KINDLING_SOCKET: exit %d, stderr %q", r.code, r.stderr)
	}
}

func TestListenAddressInUse(t *testing.T) {
	srv := fakeprobe.Start(t, &fakeprobe.Service{GetInfoFunc: catalogue})
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	r := runCmd(t, "--socket", srv.Socket, "--listen", taken.Addr().String())
	want := "kindling-collector: cannot serve the metrics on " + taken.Addr().String() +
		": the address is in use (another collector?); choose another with --listen\n"
	if r.code != 1 || r.stderr != want {
		t.Errorf("exit %d, stderr %q, want %q", r.code, r.stderr, want)
	}
}

func TestRejectedSubscription(t *testing.T) {
	srv := fakeprobe.Start(t, &fakeprobe.Service{
		GetInfoFunc: catalogue,
		SubscribeFunc: func(*probev1.SubscribeRequest, grpc.ServerStreamingServer[probev1.SubscribeResponse]) error {
			return status.Error(codes.InvalidArgument, "allow_list[0].names[3]: unknown event name 'recvfrom'")
		},
	})
	r := runCmd(t, "--socket", srv.Socket, "--listen", "127.0.0.1:0")
	if r.code != 2 || !strings.HasSuffix(r.stderr, "kindling-collector: the service rejected the subscription: allow_list[0].names[3]: unknown event name 'recvfrom'\n") {
		t.Errorf("exit %d, stderr %q", r.code, r.stderr)
	}
}

func TestUsageErrors(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--nope"}, "unknown flag: --nope"},
		{[]string{"--max-routes", "0"}, "--max-routes: must be at least 1"},
		{[]string{"--max-routes", "many"}, `--max-routes: "many" is not a whole number`},
		{[]string{"--max-peers", "-1"}, "--max-peers: must be at least 1"},
		{[]string{"--max-tcp-connections", "0"}, "--max-tcp-connections: must be at least 1"},
		{[]string{"--listen", "9464"}, `--listen: "9464" is not host:port (for example :9464 or 127.0.0.1:9464)`},
		{[]string{"--socket", ""}, "--socket: the socket path must not be empty"},
		{[]string{"extra"}, `unknown command "extra" for "kindling-collector"`},
	} {
		r := runCmd(t, c.args...)
		want := "kindling-collector: " + c.want + "\nRun 'kindling-collector --help' for usage.\n"
		if r.code != 2 || r.stderr != want {
			t.Errorf("%v: exit %d, stderr %q, want 2 and %q", c.args, r.code, r.stderr, want)
		}
	}
}

func TestHelpAndVersion(t *testing.T) {
	r := runCmd(t, "--help")
	for _, want := range []string{"--socket", "--listen", "--max-routes", ":9464", "http_server_request_duration_seconds", "Exit status 1"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("help lacks %q", want)
		}
	}
	if r.code != 0 || r.stderr != "" {
		t.Errorf("--help: exit %d, stderr %q", r.code, r.stderr)
	}
	r = runCmd(t, "version")
	if r.code != 0 || !strings.HasPrefix(r.stdout, "kindling-collector ") || r.stderr != "" {
		t.Errorf("version: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
}

func TestSignal(t *testing.T) {
	srv := fakeprobe.Start(t, &fakeprobe.Service{GetInfoFunc: catalogue, SubscribeFunc: sendThenWait(batch())})
	exe, err := os.Executable()
	if err != nil {
		t.Skip(err)
	}
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT} {
		cmd := exec.Command(exe, "--socket", srv.Socket, "--listen", "127.0.0.1:0")
		cmd.Env = append(os.Environ(), "KINDLING_COLLECTOR_RUN_MAIN=1")
		stderr, err := cmd.StderrPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		line, err := bufio.NewReader(stderr).ReadString('\n')
		if err != nil || !servingLine.MatchString(line) {
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatalf("first line %q, %v", line, err)
		}
		if err := cmd.Process.Signal(sig); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("after %v: %v; want exit 0", sig, err)
			}
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-done
			t.Errorf("the command did not stop on %v", sig)
		}
	}
}
