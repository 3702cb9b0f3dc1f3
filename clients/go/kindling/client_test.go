package kindling_test

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
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

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestSocketFromEnv(t *testing.T) {
	t.Setenv(kindling.SocketEnv, "")
	if got := kindling.SocketFromEnv(); got != kindling.DefaultSocket {
		t.Errorf("SocketFromEnv() = %q, want %q", got, kindling.DefaultSocket)
	}
	t.Setenv(kindling.SocketEnv, "/tmp/other.sock")
	if got := kindling.SocketFromEnv(); got != "/tmp/other.sock" {
		t.Errorf("SocketFromEnv() = %q, want /tmp/other.sock", got)
	}
}

func TestDialMissingSocket(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "missing.sock")
	_, err := kindling.Dial(sock)
	if err == nil {
		t.Fatal("Dial succeeded on a missing socket")
	}
	want := "no kindling probe service at " + sock + `: the socket does not exist; start the service with "kindling-probe serve"`
	if err.Error() != want {
		t.Errorf("error = %q, want %q", err, want)
	}
	var nse *kindling.NoServiceError
	if !errors.As(err, &nse) || nse.Socket != sock {
		t.Errorf("error %v is not a *NoServiceError for %s", err, sock)
	}
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("error %v does not match fs.ErrNotExist", err)
	}
}

func TestDialNotASocket(t *testing.T) {
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := kindling.Dial(file)
	if !errors.Is(err, kindling.ErrNotSocket) {
		t.Fatalf("Dial(regular file) error = %v, want ErrNotSocket", err)
	}
	if !strings.Contains(err.Error(), "no kindling probe service at "+file+": ") {
		t.Errorf("unclear error: %v", err)
	}
}

func TestDialStaleSocket(t *testing.T) {
	client, err := kindling.Dial(fakeprobe.StaleSocket(t))
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	_, err = client.Subscribe(testContext(t), nil)
	if status.Code(err) != codes.Unavailable {
		t.Errorf("Subscribe on a stale socket: error %v, want Unavailable", err)
	}
}

func TestClientCalls(t *testing.T) {
	boot := time.Date(2024, 5, 1, 0, 0, 0, 0, time.UTC)
	svc := &fakeprobe.Service{
		GetInfoFunc: func(context.Context, *probev1.GetInfoRequest) (*probev1.GetInfoResponse, error) {
			return &probev1.GetInfoResponse{ServiceVersion: "1.2.3", NodeName: "node-a"}, nil
		},
		ConfigureFunc: func(_ context.Context, req *probev1.ConfigureRequest) (*probev1.ConfigureResponse, error) {
			if len(req.GetEnableEvents()) == 0 {
				return nil, status.Error(codes.InvalidArgument, "nothing to change")
			}
			return &probev1.ConfigureResponse{EnabledEvents: req.GetEnableEvents()}, nil
		},
		SubscribeFunc: func(_ *probev1.SubscribeRequest, stream grpc.ServerStreamingServer[probev1.SubscribeResponse]) error {
			for i := uint64(1); i <= 3; i++ {
				err := stream.Send(&probev1.SubscribeResponse{
					BootTime: timestamppb.New(boot),
					Events:   []*eventv1.Event{{Seq: i, Name: "read"}},
				})
				if err != nil {
					return err
				}
			}
			return nil // ends the stream: the client sees io.EOF
		},
	}
	srv := fakeprobe.Start(t, svc)
	ctx := testContext(t)

	client, err := kindling.Dial(srv.Socket)
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	if client.Socket() != srv.Socket {
		t.Errorf("Socket() = %q, want %q", client.Socket(), srv.Socket)
	}

	info, err := client.GetInfo(ctx)
	if err != nil {
		t.Fatalf("GetInfo: %v", err)
	}
	if info.GetServiceVersion() != "1.2.3" || info.GetNodeName() != "node-a" {
		t.Errorf("GetInfo = %v", info)
	}

	cfg, err := client.Configure(ctx, &probev1.ConfigureRequest{EnableEvents: []string{"connect"}})
	if err != nil {
		t.Fatalf("Configure: %v", err)
	}
	if got := cfg.GetEnabledEvents(); len(got) != 1 || got[0] != "connect" {
		t.Errorf("Configure enabled %v", got)
	}
	if _, err := client.Configure(ctx, &probev1.ConfigureRequest{}); status.Code(err) != codes.InvalidArgument {
		t.Errorf("invalid Configure: error %v, want InvalidArgument", err)
	}

	req := &probev1.SubscribeRequest{AllowList: []*probev1.EventFilter{{Names: []string{"read"}, Pids: []uint32{7}}}}

	// Recv reads every batch, then io.EOF.
	stream, err := client.Subscribe(ctx, req)
	if err != nil {
		t.Fatalf("Subscribe: %v", err)
	}
	for want := uint64(1); want <= 3; want++ {
		resp, err := stream.Recv()
		if err != nil {
			t.Fatalf("Recv: %v", err)
		}
		if got := resp.GetEvents()[0].GetSeq(); got != want {
			t.Errorf("seq %d, want %d", got, want)
		}
		if !resp.GetBootTime().AsTime().Equal(boot) {
			t.Errorf("boot time %v", resp.GetBootTime())
		}
	}
	if _, err := stream.Recv(); err != io.EOF {
		t.Errorf("Recv after the end: %v, want io.EOF", err)
	}

	// Responses does the same as a range loop and does not yield io.EOF.
	stream, err = client.Subscribe(ctx, req)
	if err != nil {
		t.Fatalf("Subscribe: %v", err)
	}
	var seqs []uint64
	for resp, err := range stream.Responses() {
		if err != nil {
			t.Fatalf("Responses: %v", err)
		}
		seqs = append(seqs, resp.GetEvents()[0].GetSeq())
	}
	if len(seqs) != 3 {
		t.Errorf("Responses gave seqs %v, want 1 2 3", seqs)
	}

	reqs := svc.Requests()
	if len(reqs) != 2 || !proto.Equal(reqs[0], req) {
		t.Errorf("service received %v, want %v", reqs, req)
	}
}

func TestResponsesYieldsErrorOnce(t *testing.T) {
	svc := &fakeprobe.Service{
		SubscribeFunc: func(*probev1.SubscribeRequest, grpc.ServerStreamingServer[probev1.SubscribeResponse]) error {
			return status.Error(codes.InvalidArgument, `unknown event name "nope"`)
		},
	}
	client, err := kindling.Dial(fakeprobe.Start(t, svc).Socket)
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	stream, err := client.Subscribe(testContext(t), &probev1.SubscribeRequest{})
	if err != nil {
		t.Fatalf("Subscribe: %v", err)
	}
	var errs []error
	for _, err := range stream.Responses() {
		errs = append(errs, err)
	}
	if len(errs) != 1 || status.Code(errs[0]) != codes.InvalidArgument {
		t.Errorf("Responses yielded %v, want one InvalidArgument error", errs)
	}
}
