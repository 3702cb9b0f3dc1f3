// Package fakeprobe is a test double of the kindling probe service: an
// in-process gRPC server implementing ProbeService on a unix socket, whose
// behaviour each test scripts. The real service has its own tests.
package fakeprobe

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"

	probev1 "github.com/kindling-probe/kindling-probe/clients/go/gen/kindling/probe/v1"
)

// Service implements probev1.ProbeServiceServer by calling the function
// fields; a nil field answers with codes.Unimplemented. It records every
// SubscribeRequest it receives.
type Service struct {
	probev1.UnimplementedProbeServiceServer

	// SubscribeFunc handles Subscribe.
	SubscribeFunc func(*probev1.SubscribeRequest, grpc.ServerStreamingServer[probev1.SubscribeResponse]) error
	// ConfigureFunc handles Configure.
	ConfigureFunc func(context.Context, *probev1.ConfigureRequest) (*probev1.ConfigureResponse, error)
	// GetInfoFunc handles GetInfo.
	GetInfoFunc func(context.Context, *probev1.GetInfoRequest) (*probev1.GetInfoResponse, error)

	mu       sync.Mutex
	requests []*probev1.SubscribeRequest
}

// Subscribe implements probev1.ProbeServiceServer.
func (s *Service) Subscribe(req *probev1.SubscribeRequest, stream grpc.ServerStreamingServer[probev1.SubscribeResponse]) error {
	s.mu.Lock()
	s.requests = append(s.requests, proto.Clone(req).(*probev1.SubscribeRequest))
	s.mu.Unlock()
	if s.SubscribeFunc == nil {
		return s.UnimplementedProbeServiceServer.Subscribe(req, stream)
	}
	return s.SubscribeFunc(req, stream)
}

// Configure implements probev1.ProbeServiceServer.
func (s *Service) Configure(ctx context.Context, req *probev1.ConfigureRequest) (*probev1.ConfigureResponse, error) {
	if s.ConfigureFunc == nil {
		return s.UnimplementedProbeServiceServer.Configure(ctx, req)
	}
	return s.ConfigureFunc(ctx, req)
}

// GetInfo implements probev1.ProbeServiceServer.
func (s *Service) GetInfo(ctx context.Context, req *probev1.GetInfoRequest) (*probev1.GetInfoResponse, error) {
	if s.GetInfoFunc == nil {
		return s.UnimplementedProbeServiceServer.GetInfo(ctx, req)
	}
	return s.GetInfoFunc(ctx, req)
}

// Requests returns the SubscribeRequests received so far.
func (s *Service) Requests() []*probev1.SubscribeRequest {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]*probev1.SubscribeRequest(nil), s.requests...)
}

// Server is a running fake service.
type Server struct {
	// Socket is the path of the unix socket the server listens on.
	Socket string
	// GRPC is the underlying server; tests may Stop it to simulate the
	// service going away.
	GRPC *grpc.Server
}

// Start serves svc on a new unix socket in a temporary directory and stops
// the server when the test ends.
func Start(t testing.TB, svc *Service) *Server {
	t.Helper()
	sock := SocketPath(t)
	lis, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatalf("listen on %s: %v", sock, err)
	}
	gs := grpc.NewServer()
	probev1.RegisterProbeServiceServer(gs, svc)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = gs.Serve(lis)
	}()
	t.Cleanup(func() {
		gs.Stop()
		<-done
	})
	return &Server{Socket: sock, GRPC: gs}
}

// SocketPath returns a path for a unix socket in a temporary directory that
// is removed when the test ends. It keeps the path short, because socket
// paths are limited to about 100 bytes.
func SocketPath(t testing.TB) string {
	t.Helper()
	dir := t.TempDir()
	if len(dir) > 80 {
		var err error
		dir, err = os.MkdirTemp("/tmp", "kp")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.RemoveAll(dir) })
	}
	return filepath.Join(dir, "probe.sock")
}

// StaleSocket creates a socket file at a new path with nobody listening on
// it, as a crashed service leaves behind, and returns the path.
func StaleSocket(t testing.TB) string {
	t.Helper()
	sock := SocketPath(t)
	lis, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatalf("listen on %s: %v", sock, err)
	}
	lis.(*net.UnixListener).SetUnlinkOnClose(false)
	if err := lis.Close(); err != nil {
		t.Fatal(err)
	}
	return sock
}
