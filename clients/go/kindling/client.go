package kindling

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"iter"
	"net/url"
	"os"
	"path/filepath"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	probev1 "github.com/kindling-probe/kindling-probe/clients/go/gen/kindling/probe/v1"
)

// DefaultSocket is the unix socket the probe service listens on unless it is
// told otherwise.
const DefaultSocket = "/run/kindling.sock"

// SocketEnv is the environment variable that overrides [DefaultSocket].
const SocketEnv = "KINDLING_SOCKET"

// SocketFromEnv returns the value of $KINDLING_SOCKET, or [DefaultSocket]
// when it is unset or empty.
func SocketFromEnv() string {
	if s := os.Getenv(SocketEnv); s != "" {
		return s
	}
	return DefaultSocket
}

// ErrNotSocket is wrapped by the error [Dial] returns when the path exists
// but is not a unix socket.
var ErrNotSocket = errors.New("not a socket")

// NoServiceError is the error [Dial] returns when there is no usable socket
// at the path it was given. It wraps the cause: [fs.ErrNotExist] when the
// path does not exist, [ErrNotSocket] when it is not a socket, or the error
// of os.Stat otherwise (for example a permission error), so callers can use
// errors.Is.
type NoServiceError struct {
	// Socket is the socket path as passed to Dial.
	Socket string
	// Err is the cause.
	Err error
}

// Error implements error.
func (e *NoServiceError) Error() string {
	prefix := "no kindling probe service at " + e.Socket + ": "
	switch {
	case errors.Is(e.Err, fs.ErrNotExist):
		return prefix + `the socket does not exist; start the service with "kindling-probe serve"`
	case errors.Is(e.Err, ErrNotSocket):
		return prefix + "the path exists but is not a unix socket"
	default:
		return prefix + "cannot check the socket: " + e.Err.Error()
	}
}

// Unwrap returns the cause.
func (e *NoServiceError) Unwrap() error { return e.Err }

// Client is a connection to the probe service. It is safe for concurrent
// use; create it with [Dial] and release it with [Client.Close].
type Client struct {
	socket string
	conn   *grpc.ClientConn
	probe  probev1.ProbeServiceClient
}

// Dial returns a client for the probe service listening on the unix socket
// at socketPath. It first checks that the path exists and is a socket, and
// returns a [*NoServiceError] if not. Like grpc.NewClient it does not wait
// for the connection: an unreachable service (for example a stale socket
// file) shows up as a codes.Unavailable error from the first call.
//
// The connection uses insecure transport credentials, which is what the
// service expects on its local socket; opts are appended after them and may
// override them or add other options such as interceptors.
func Dial(socketPath string, opts ...grpc.DialOption) (*Client, error) {
	fi, err := os.Stat(socketPath)
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err // the path is in NoServiceError already
		}
		return nil, &NoServiceError{Socket: socketPath, Err: err}
	}
	if fi.Mode().Type() != fs.ModeSocket {
		return nil, &NoServiceError{Socket: socketPath, Err: ErrNotSocket}
	}
	abs, err := filepath.Abs(socketPath)
	if err != nil {
		return nil, fmt.Errorf("kindling: socket path %s: %w", socketPath, err)
	}
	// Equivalent to "unix://"+abs, but escapes characters such as '?' or '#'
	// that would otherwise be parsed as part of a URL.
	target := (&url.URL{Scheme: "unix", Path: abs}).String()
	opts = append([]grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())}, opts...)
	conn, err := grpc.NewClient(target, opts...)
	if err != nil {
		return nil, fmt.Errorf("kindling: connecting to %s: %w", socketPath, err)
	}
	return &Client{socket: socketPath, conn: conn, probe: probev1.NewProbeServiceClient(conn)}, nil
}

// Socket returns the socket path the client was dialed with.
func (c *Client) Socket() string { return c.socket }

// ProbeService returns the generated gRPC client, for calls that need
// per-call options.
func (c *Client) ProbeService() probev1.ProbeServiceClient { return c.probe }

// Close closes the connection. Streams still open on it end with a
// codes.Canceled error.
func (c *Client) Close() error { return c.conn.Close() }

// GetInfo describes the service: its version, driver, kernel features and
// event catalogue.
func (c *Client) GetInfo(ctx context.Context) (*probev1.GetInfoResponse, error) {
	return c.probe.GetInfo(ctx, &probev1.GetInfoRequest{})
}

// Configure changes which events the probe captures for all subscribers and
// returns the events it captures afterwards. The service answers an invalid
// request (for example an unknown event name) with codes.InvalidArgument and
// changes nothing.
func (c *Client) Configure(ctx context.Context, req *probev1.ConfigureRequest) (*probev1.ConfigureResponse, error) {
	return c.probe.Configure(ctx, req)
}

// Subscribe opens a stream of the events that req selects (a nil req selects
// every event). The stream runs until ctx is done, the service stops, or the
// service rejects the request; cancel ctx to end it.
//
// Subscribe waits until the connection is established, so an unreachable
// service gives a codes.Unavailable error here, while the same code from
// [Stream.Recv] means the service went away after the stream started.
// Invalid filters (for example an unknown event name) are reported with
// codes.InvalidArgument, from either Subscribe or the first Recv.
func (c *Client) Subscribe(ctx context.Context, req *probev1.SubscribeRequest) (*Stream, error) {
	if req == nil {
		req = &probev1.SubscribeRequest{}
	}
	s, err := c.probe.Subscribe(ctx, req)
	if err == io.EOF {
		// grpc-go reports a transport failure while sending the request as
		// io.EOF; the real status would only be visible on the stream.
		err = status.Error(codes.Unavailable, "the connection closed before the request was sent")
	}
	if err != nil {
		return nil, err
	}
	return &Stream{s: s}, nil
}

// Stream is an event stream opened by [Client.Subscribe]. It must be read
// from one goroutine at a time.
type Stream struct {
	s grpc.ServerStreamingClient[probev1.SubscribeResponse]
}

// Recv returns the next batch of the stream: zero or more events in
// timestamp order and the losses the stream suffered since the previous
// batch. It returns io.EOF when the service ended the stream normally, and a
// gRPC status error otherwise (codes.Canceled or codes.DeadlineExceeded when
// the stream's context ended).
func (s *Stream) Recv() (*probev1.SubscribeResponse, error) { return s.s.Recv() }

// Responses returns an iterator over the stream's batches, for use with
// range. The iteration ends after io.EOF, which it does not yield, or after
// yielding the first other error.
func (s *Stream) Responses() iter.Seq2[*probev1.SubscribeResponse, error] {
	return func(yield func(*probev1.SubscribeResponse, error) bool) {
		for {
			resp, err := s.s.Recv()
			if err == io.EOF {
				return
			}
			if !yield(resp, err) || err != nil {
				return
			}
		}
	}
}
