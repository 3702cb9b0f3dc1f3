package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	eventv1 "github.com/kindling-probe/kindling-probe/clients/go/gen/kindling/event/v1"
	probev1 "github.com/kindling-probe/kindling-probe/clients/go/gen/kindling/probe/v1"
	"github.com/kindling-probe/kindling-probe/clients/go/internal/fakeprobe"
	"github.com/kindling-probe/kindling-probe/clients/go/kindling"
)

// TestMain runs the command itself when the test binary is started with
// KINDLING_EVENTS_RUN_MAIN=1, so that TestSignal can run it as a process.
func TestMain(m *testing.M) {
	if os.Getenv("KINDLING_EVENTS_RUN_MAIN") == "1" {
		os.Args = append([]string{prog}, os.Args[1:]...)
		main()
	}
	os.Exit(m.Run())
}

var boot = time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)

// event returns a syscall exit event of process pid.
func event(seq uint64, name string, pid uint32) *eventv1.Event {
	return &eventv1.Event{
		Seq: seq, TimestampNs: seq * 1000, Name: name, Source: eventv1.Source_SOURCE_SYSCALL_EXIT,
		LatencyNs: 850, Thread: &eventv1.Thread{Pid: pid, Tid: pid, Comm: "app"},
	}
}

// batch returns a response carrying evs.
func batch(evs ...*eventv1.Event) *probev1.SubscribeResponse {
	return &probev1.SubscribeResponse{BootTime: timestamppb.New(boot), NodeName: "node-a", Events: evs}
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

type result struct {
	code           int
	stdout, stderr string
}

// runCmd runs the command with args and a deadline that keeps a broken
// test from hanging.
func runCmd(t *testing.T, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	return runCtx(ctx, args...)
}

func runCtx(ctx context.Context, args ...string) result {
	var stdout, stderr bytes.Buffer
	code := run(ctx, args, &stdout, &stderr)
	return result{code, stdout.String(), stderr.String()}
}

func lines(s string) []string {
	return strings.Split(strings.TrimSuffix(s, "\n"), "\n")
}

func TestCount(t *testing.T) {
	svc := &fakeprobe.Service{SubscribeFunc: sendThenWait(
		batch(event(1, "read", 10), event(2, "read", 10)),
		batch(event(3, "write", 10), event(4, "write", 10)),
	)}
	srv := fakeprobe.Start(t, svc)
	for _, countFlag := range []string{"--count", "--count"} {
		r := runCmd(t, "--socket", srv.Socket, countFlag, "3")
		if r.code != 0 || r.stderr != "" {
			t.Fatalf("%s 3: exit %d, stderr %q", countFlag, r.code, r.stderr)
		}
		want := []string{
			"2024-05-01T12:00:00.000001Z read app[10/10] ret=0 lat=850ns",
			"2024-05-01T12:00:00.000002Z read app[10/10] ret=0 lat=850ns",
			"2024-05-01T12:00:00.000003Z write app[10/10] ret=0 lat=850ns",
		}
		if got := lines(r.stdout); !slices.Equal(got, want) {
			t.Errorf("%s 3 printed\n%s\nwant\n%s", countFlag, strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
	}
}

func TestFiltersReachRequest(t *testing.T) {
	svc := &fakeprobe.Service{SubscribeFunc: sendThenWait(batch(event(1, "connect", 42)))}
	srv := fakeprobe.Start(t, svc)

	r := runCmd(t, "--socket", srv.Socket, "--name", "connect", "--name=accept4", "--pid", "42", "--pid=43", "--count=1")
	if r.code != 0 {
		t.Fatalf("exit %d, stderr %q", r.code, r.stderr)
	}
	r = runCmd(t, "--socket", srv.Socket, "--count", "1")
	if r.code != 0 {
		t.Fatalf("exit %d, stderr %q", r.code, r.stderr)
	}
	r = runCmd(t, "--socket", srv.Socket, "--count", "1", "--payload", "sockets")
	if r.code != 0 {
		t.Fatalf("exit %d, stderr %q", r.code, r.stderr)
	}
	r = runCmd(t, "--socket", srv.Socket, "--name", "connect,accept4", "--pid", "42,43", "--count", "1")
	if r.code != 0 {
		t.Fatalf("comma lists: exit %d, stderr %q", r.code, r.stderr)
	}

	reqs := svc.Requests()
	if len(reqs) != 4 {
		t.Fatalf("service received %d requests, want 4", len(reqs))
	}
	if !proto.Equal(reqs[3], reqs[0]) {
		t.Errorf("comma lists gave %v, repeats %v; want the same", reqs[3], reqs[0])
	}
	self := []*probev1.EventFilter{{Pids: []uint32{uint32(os.Getpid())}}}
	want := &probev1.SubscribeRequest{AllowList: []*probev1.EventFilter{{
		Names: []string{"connect", "accept4"},
		Pids:  []uint32{42, 43},
	}}, DenyList: self}
	if !proto.Equal(reqs[0], want) {
		t.Errorf("request with filters = %v, want %v", reqs[0], want)
	}
	if !proto.Equal(reqs[1], &probev1.SubscribeRequest{DenyList: self}) {
		t.Errorf("request without filters = %v, want one that leaves out the command's pid", reqs[1])
	}
	wantPayload := &probev1.SubscribeRequest{Payload: probev1.PayloadMode_PAYLOAD_MODE_SOCKETS, DenyList: self}
	if !proto.Equal(reqs[2], wantPayload) {
		t.Errorf("request with --payload = %v, want %v", reqs[2], wantPayload)
	}
}

func TestIncludeSelfKeepsTheCommandsOwnEvents(t *testing.T) {
	svc := &fakeprobe.Service{SubscribeFunc: sendThenWait(batch(event(1, "connect", 42)))}
	srv := fakeprobe.Start(t, svc)
	if r := runCmd(t, "--socket", srv.Socket, "--include-self", "--count", "1"); r.code != 0 {
		t.Fatalf("exit %d, stderr %q", r.code, r.stderr)
	}
	if reqs := svc.Requests(); len(reqs) != 1 || !proto.Equal(reqs[0], &probev1.SubscribeRequest{}) {
		t.Errorf("requests with --include-self = %v, want one empty request", reqs)
	}
}

func TestJSONOutput(t *testing.T) {
	ev := event(1, "connect", 42)
	ev.Attributes = []*eventv1.Attribute{{Key: "msg", Value: &eventv1.Attribute_StringValue{StringValue: "a\nb"}}}
	srv := fakeprobe.Start(t, &fakeprobe.Service{SubscribeFunc: sendThenWait(batch(ev, event(2, "close", 42)))})

	r := runCmd(t, "--socket", srv.Socket, "-o", "json", "--count", "2")
	if r.code != 0 {
		t.Fatalf("exit %d, stderr %q", r.code, r.stderr)
	}
	got := lines(r.stdout)
	if len(got) != 2 {
		t.Fatalf("printed %d lines, want 2:\n%s", len(got), r.stdout)
	}
	if !strings.HasPrefix(got[0], `{"time":"2024-05-01T12:00:00.000001000Z","node":"node-a","seq":"1","timestamp_ns":"1000","name":"connect",`) {
		t.Errorf("unexpected JSON line %s", got[0])
	}
	for _, line := range got {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Errorf("line %q is not JSON: %v", line, err)
		}
	}
}

func TestLossesGoToStderr(t *testing.T) {
	resp := batch(event(7, "read", 1))
	resp.Losses = []*probev1.Loss{
		{Reason: probev1.LossReason_LOSS_REASON_KERNEL_BUFFER_FULL, Count: 12},
		{Reason: probev1.LossReason_LOSS_REASON_SUBSCRIBER_QUEUE_FULL, Count: 5, FirstSeq: 2},
		{Reason: probev1.LossReason_LOSS_REASON_RESUME_TOO_LATE, Count: 3, FirstSeq: 4},
	}
	lossOnly := &probev1.SubscribeResponse{Losses: []*probev1.Loss{{Count: 1}}}
	srv := fakeprobe.Start(t, &fakeprobe.Service{SubscribeFunc: sendThenWait(resp, lossOnly, batch(event(8, "read", 1)))})

	r := runCmd(t, "--socket", srv.Socket, "--count", "2")
	if r.code != 0 {
		t.Fatalf("exit %d, stderr %q", r.code, r.stderr)
	}
	want := []string{
		"kindling-events: lost 12 events (kernel buffer full)",
		"kindling-events: lost 5 events (subscriber queue full) seq 2-6",
		"kindling-events: lost 3 events (resumed too late) seq 4-6",
		"kindling-events: lost 1 events (unknown)",
	}
	if got := lines(r.stderr); !slices.Equal(got, want) {
		t.Errorf("stderr\n%s\nwant\n%s", r.stderr, strings.Join(want, "\n"))
	}
	if n := len(lines(r.stdout)); n != 2 || strings.Contains(r.stdout, "lost") {
		t.Errorf("stdout has %d lines, want only the 2 events:\n%s", n, r.stdout)
	}
}

func TestInvalidArgument(t *testing.T) {
	msg := `unknown event name "conect"; GetInfo lists the event catalogue`
	srv := fakeprobe.Start(t, &fakeprobe.Service{
		SubscribeFunc: func(*probev1.SubscribeRequest, grpc.ServerStreamingServer[probev1.SubscribeResponse]) error {
			return status.Error(codes.InvalidArgument, msg)
		},
	})
	r := runCmd(t, "--socket", srv.Socket, "--name", "conect")
	if r.code != 2 {
		t.Errorf("exit %d, want 2", r.code)
	}
	if want := "kindling-events: the service rejected the request: " + msg + "\n"; r.stderr != want {
		t.Errorf("stderr %q, want %q", r.stderr, want)
	}
}

func TestOtherServiceError(t *testing.T) {
	srv := fakeprobe.Start(t, &fakeprobe.Service{
		SubscribeFunc: func(*probev1.SubscribeRequest, grpc.ServerStreamingServer[probev1.SubscribeResponse]) error {
			return status.Error(codes.PermissionDenied, "subscribers must run as root")
		},
	})
	r := runCmd(t, "--socket", srv.Socket)
	if r.code != 1 || !strings.Contains(r.stderr, "subscribers must run as root") || strings.Count(r.stderr, "\n") != 1 {
		t.Errorf("exit %d, stderr %q; want 1 and one line with the message", r.code, r.stderr)
	}
}

func TestTimeout(t *testing.T) {
	srv := fakeprobe.Start(t, &fakeprobe.Service{SubscribeFunc: sendThenWait(batch(event(1, "read", 1)))})

	// Without --count, a timeout is the normal end.
	start := time.Now()
	r := runCmd(t, "--socket", srv.Socket, "--timeout", "0.3")
	if r.code != 0 || r.stderr != "" || len(lines(r.stdout)) != 1 {
		t.Errorf("--timeout 0.3: exit %d, stdout %q, stderr %q; want 0 and one event", r.code, r.stdout, r.stderr)
	}
	if d := time.Since(start); d < 300*time.Millisecond || d > 10*time.Second {
		t.Errorf("--timeout 0.3 took %v", d)
	}

	// With --count, too few events is an error.
	r = runCmd(t, "--socket", srv.Socket, "--timeout", "0.2", "--count", "5")
	if r.code != 1 {
		t.Errorf("--timeout with --count: exit %d, want 1", r.code)
	}
	if want := "kindling-events: timed out after 0.2s with 1 of 5 events\n"; r.stderr != want {
		t.Errorf("stderr %q, want %q", r.stderr, want)
	}
	if len(lines(r.stdout)) != 1 {
		t.Errorf("the event that arrived was not printed: %q", r.stdout)
	}

	// Reaching --count before the timeout is a success.
	r = runCmd(t, "--socket", srv.Socket, "--timeout", "5", "--count", "1")
	if r.code != 0 || r.stderr != "" {
		t.Errorf("--count reached before --timeout: exit %d, stderr %q", r.code, r.stderr)
	}
}

func TestCancelStopsCleanly(t *testing.T) {
	sent := make(chan struct{})
	srv := fakeprobe.Start(t, &fakeprobe.Service{
		SubscribeFunc: func(_ *probev1.SubscribeRequest, stream grpc.ServerStreamingServer[probev1.SubscribeResponse]) error {
			if err := stream.Send(batch(event(1, "read", 1), event(2, "read", 1))); err != nil {
				return err
			}
			close(sent)
			<-stream.Context().Done()
			return nil
		},
	})
	ctx, cancel := context.WithCancel(t.Context())
	go func() {
		<-sent
		time.Sleep(100 * time.Millisecond)
		cancel() // what SIGINT and SIGTERM do
	}()
	r := runCtx(ctx, "--socket", srv.Socket)
	if r.code != 0 || r.stderr != "" {
		t.Errorf("exit %d, stderr %q; want 0 and nothing", r.code, r.stderr)
	}
	if n := len(lines(r.stdout)); n != 2 {
		t.Errorf("printed %d events, want 2", n)
	}
}

func TestServiceStops(t *testing.T) {
	// The service ends the stream normally.
	srv := fakeprobe.Start(t, &fakeprobe.Service{
		SubscribeFunc: func(_ *probev1.SubscribeRequest, stream grpc.ServerStreamingServer[probev1.SubscribeResponse]) error {
			return stream.Send(batch(event(1, "read", 1)))
		},
	})
	r := runCmd(t, "--socket", srv.Socket)
	if r.code != 1 || !strings.Contains(r.stderr, "stopped") || strings.Count(r.stderr, "\n") != 1 {
		t.Errorf("stream ended: exit %d, stderr %q; want 1 and one line saying the service stopped", r.code, r.stderr)
	}
	if len(lines(r.stdout)) != 1 {
		t.Errorf("the event before the end was not printed: %q", r.stdout)
	}
	// ... unless the count was reached.
	if r := runCmd(t, "--socket", srv.Socket, "--count", "1"); r.code != 0 {
		t.Errorf("stream ended after --count: exit %d, stderr %q", r.code, r.stderr)
	}

	// The service goes away in the middle of the stream.
	var once sync.Once
	var gs *grpc.Server
	srv2 := fakeprobe.Start(t, &fakeprobe.Service{
		SubscribeFunc: func(_ *probev1.SubscribeRequest, stream grpc.ServerStreamingServer[probev1.SubscribeResponse]) error {
			if err := stream.Send(batch(event(1, "read", 1))); err != nil {
				return err
			}
			once.Do(func() { go gs.Stop() })
			<-stream.Context().Done()
			return nil
		},
	})
	gs = srv2.GRPC
	r = runCmd(t, "--socket", srv2.Socket)
	if r.code != 1 || !strings.Contains(r.stderr, "kindling probe service at "+srv2.Socket+" stopped") {
		t.Errorf("service went away: exit %d, stderr %q; want 1 and a line saying it stopped", r.code, r.stderr)
	}
}

func TestNoService(t *testing.T) {
	// The sentences are in clients/testdata/cli.json (TestCLIExpectations).
	r := runCmd(t, "--socket", filepath.Join(t.TempDir(), "x.sock"))
	if r.code != 1 || !strings.Contains(r.stderr, "the socket does not exist") || !strings.Contains(r.stderr, "$KINDLING_SOCKET") {
		t.Errorf("missing socket: exit %d, stderr %q", r.code, r.stderr)
	}
}

func TestSocketFromEnvironment(t *testing.T) {
	srv := fakeprobe.Start(t, &fakeprobe.Service{SubscribeFunc: sendThenWait(batch(event(1, "read", 1)))})
	t.Setenv(kindling.SocketEnv, srv.Socket)
	if r := runCmd(t, "--count", "1"); r.code != 0 || len(lines(r.stdout)) != 1 {
		t.Errorf("with $KINDLING_SOCKET: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
}

func TestUsage(t *testing.T) {
	for _, arg := range []string{"--help", "-h"} {
		r := runCmd(t, arg)
		if r.code != 0 || !strings.Contains(r.stdout, "Examples:\n  kindling-events --name") || r.stderr != "" {
			t.Errorf("%s: exit %d, stdout %q, stderr %q", arg, r.code, r.stdout, r.stderr)
		}
	}
	bad := map[string][]string{
		"unknown flag":      {"--bogus"},
		"bad format":        {"-o", "yaml"},
		"bad pid":           {"--pid", "abc"},
		"zero pid":          {"--pid", "0"},
		"negative count":    {"--count", "-1"},
		"bad timeout":       {"--timeout", "soon"},
		"negative duration": {"--timeout", "-1s"},
		"empty comma item":  {"--name", "connect,,read"},
		"negative timeout":  {"--timeout", "-2"},
		"positional":        {"connect"},
		"missing value":     {"--name"},
		"empty name":        {"--name", ""},
		"empty socket path": {"--socket", ""},
		"bad payload":       {"--payload", "files"},
	}
	for name, args := range bad {
		r := runCmd(t, args...)
		if r.code != 2 || !strings.HasPrefix(r.stderr, "kindling-events: ") || r.stdout != "" {
			t.Errorf("%s %q: exit %d, stdout %q, stderr %q; want exit 2 and an error", name, args, r.code, r.stdout, r.stderr)
		}
	}
}

// TestSignal runs the command as a process and stops it with SIGTERM.
func TestSignal(t *testing.T) {
	srv := fakeprobe.Start(t, &fakeprobe.Service{SubscribeFunc: sendThenWait(batch(event(1, "read", 1)))})
	exe, err := os.Executable()
	if err != nil {
		t.Skip(err)
	}
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT} {
		cmd := exec.Command(exe, "--socket", srv.Socket)
		cmd.Env = append(os.Environ(), "KINDLING_EVENTS_RUN_MAIN=1")
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		line, err := bufio.NewReader(stdout).ReadString('\n')
		if err != nil || !strings.Contains(line, " read app[1/1]") {
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatalf("first line %q, %v; stderr %q", line, err, stderr.String())
		}
		if err := cmd.Process.Signal(sig); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case err := <-done:
			if err != nil || stderr.Len() > 0 {
				t.Errorf("after %v: %v, stderr %q; want exit 0 and no output", sig, err, stderr.String())
			}
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-done
			t.Errorf("the command did not stop on %v", sig)
		}
	}
}

func TestVersionAndCompletion(t *testing.T) {
	r := runCmd(t, "version")
	if r.code != 0 || !strings.HasPrefix(r.stdout, "kindling-events ") || r.stderr != "" {
		t.Errorf("version: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	if v := runCmd(t, "--version"); v.code != 0 || !strings.Contains(v.stdout, "kindling-events") {
		t.Errorf("--version: exit %d, stdout %q", v.code, v.stdout)
	}
	r = runCmd(t, "completion", "bash")
	if r.code != 0 || !strings.Contains(r.stdout, "__start_kindling-events") {
		t.Errorf("completion bash: exit %d, stderr %q", r.code, r.stderr)
	}
}

func TestTimeoutTakesDurationsAndSeconds(t *testing.T) {
	srv := fakeprobe.Start(t, &fakeprobe.Service{SubscribeFunc: sendThenWait(batch(event(1, "read", 1)))})
	for _, given := range []string{"200ms", "0.2"} {
		start := time.Now()
		r := runCmd(t, "--socket", srv.Socket, "--timeout", given)
		if r.code != 0 || time.Since(start) > 5*time.Second {
			t.Errorf("--timeout %s: exit %d after %v, stderr %q", given, r.code, time.Since(start), r.stderr)
		}
	}
}

func TestColor(t *testing.T) {
	srv := fakeprobe.Start(t, &fakeprobe.Service{SubscribeFunc: sendThenWait(batch(event(1, "read", 10)))})
	r := runCmd(t, "--socket", srv.Socket, "--count=1", "--color=always")
	want := "\x1b[2m2024-05-01T12:00:00.000001Z\x1b[0m \x1b[1mread\x1b[0m app[10/10] ret=0 lat=850ns\n"
	if r.code != 0 || r.stdout != want {
		t.Errorf("--color=always: exit %d, printed %q, want %q", r.code, r.stdout, want)
	}
	// auto: never into a buffer, a pipe or a file.
	if r := runCmd(t, "--socket", srv.Socket, "--count=1"); strings.Contains(r.stdout, "\x1b") {
		t.Errorf("--color=auto coloured a buffer: %q", r.stdout)
	}
	for _, tc := range []struct {
		choice, noColor string
		want            bool
	}{{"always", "1", true}, {"never", "", false}, {"auto", "1", false}} {
		t.Setenv("NO_COLOR", tc.noColor)
		if got := useColor(tc.choice, os.Stdout); got != tc.want && tc.choice != "auto" {
			t.Errorf("useColor(%q) with NO_COLOR=%q = %v, want %v", tc.choice, tc.noColor, got, tc.want)
		} else if tc.choice == "auto" && got {
			t.Errorf("useColor(auto) with NO_COLOR=%q coloured", tc.noColor)
		}
	}
}

func TestTableOutput(t *testing.T) {
	srv := fakeprobe.Start(t, &fakeprobe.Service{SubscribeFunc: sendThenWait(batch(event(1, "read", 10), event(2, "write", 10)))})
	r := runCmd(t, "--socket", srv.Socket, "-o", "table", "--count=2")
	want := []string{
		kindling.TableHeader,
		"2024-05-01T12:00:00.000001Z read             app[10/10]               0            850ns",
		"2024-05-01T12:00:00.000002Z write            app[10/10]               0            850ns",
	}
	if got := lines(r.stdout); r.code != 0 || !slices.Equal(got, want) {
		t.Errorf("-o table: exit %d, printed\n%s\nwant\n%s", r.code, strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestStats(t *testing.T) {
	calls := 0
	var mu sync.Mutex
	svc := &fakeprobe.Service{GetInfoFunc: func(context.Context, *probev1.GetInfoRequest) (*probev1.GetInfoResponse, error) {
		mu.Lock()
		defer mu.Unlock()
		calls++
		return &probev1.GetInfoResponse{
			NodeName: "node-a",
			Streams:  &probev1.StreamsInfo{Subscribers: 2, MemoryBytes: 1000},
			Driver: &probev1.DriverInfo{Counters: []*probev1.KernelCounters{
				{Event: "read", Emitted: uint64(100 * calls), Lost: uint64(calls)},
				{Event: "openat", Emitted: 10},
			}},
		}, nil
	}}
	srv := fakeprobe.Start(t, svc)
	r := runCmd(t, "stats", "--socket", srv.Socket, "--count=2", "--interval=0.2")
	if r.code != 0 || r.stderr != "" {
		t.Fatalf("exit %d, stderr %q", r.code, r.stderr)
	}
	blocks := strings.Split(r.stdout, "\n\n")
	if len(blocks) != 2 || strings.Contains(r.stdout, "\x1b") {
		t.Fatalf("want two blocks and no redrawing into a buffer, got %q", r.stdout)
	}
	first, second := lines(blocks[0]), lines(blocks[1])
	// The Python command's test expects the same lines.
	if want := "node node-a: 2 subscribers, 0 events (0 bytes) queued, queue memory 0 of 1000 bytes"; first[0] != want {
		t.Errorf("first line %q, want %q", first[0], want)
	}
	if got := strings.Fields(first[1]); !slices.Equal(got, []string{"EVENT", "EMITTED/S", "EMITTED", "FILTERED", "LOST"}) {
		t.Errorf("header %q", first[1])
	}
	if fields := strings.Fields(second[2]); fields[0] != "read" || fields[1] == "0" {
		t.Errorf("busiest row %q, want read with a rate", second[2])
	}
	if got := strings.Fields(second[3]); !slices.Equal(got, []string{"openat", "0", "10", "0", "0"}) {
		t.Errorf("quiet row %q", second[3])
	}
}
