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
	"sync"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

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
//
// A request with resume_window set opens a resumable stream, which
// [Client.Resume] continues after a disconnect. A request with resume set
// continues the stream it names, as Client.Resume does, and the returned
// Stream starts from its stream_id and last_seq.
func (c *Client) Subscribe(ctx context.Context, req *probev1.SubscribeRequest) (*Stream, error) {
	if req == nil {
		req = &probev1.SubscribeRequest{}
	} else {
		// The stream keeps the request for Client.Resume: the caller may
		// change or reuse its own.
		req = proto.Clone(req).(*probev1.SubscribeRequest)
	}
	return c.subscribe(ctx, req)
}

// Resume continues the resumable stream s after it was disconnected, for
// example after [Stream.Recv] returned an error matching [ErrOverflow] or a
// codes.Unavailable error. It sends the request s was opened with, with
// resume set to s's [Stream.StreamID] and [Stream.LastSeq], and returns a
// new Stream that goes on from there and can itself be resumed: the service
// first resends the events after LastSeq that it kept, and reports those it
// no longer has as one Loss with reason LOSS_REASON_RESUME_TOO_LATE and
// their sequence numbers.
//
// Resume s only once it has ended: a stream resumed elsewhere while it runs
// ends with codes.Aborted. Resume does not read s, which may belong to
// another Client. Resume returns an error matching [ErrNotResumable] when none of
// s's responses carried a stream id (its request had no resume_window, or
// it ended before the first response), and the new stream's first Recv (or
// Resume itself) returns an error matching [ErrStreamExpired] when the
// service no longer has the stream: its resume window passed or the service
// restarted, so start a new stream with [Client.Subscribe].
func (c *Client) Resume(ctx context.Context, s *Stream) (*Stream, error) {
	id, last := s.StreamID(), s.LastSeq()
	if id == "" {
		why := "none of its responses carried a stream id; set SubscribeRequest.resume_window to make a stream resumable"
		if s.req.GetResumeWindow() != nil {
			why = "it ended before the service sent its stream id"
		}
		return nil, fmt.Errorf("kindling: %w: %s", ErrNotResumable, why)
	}
	req := proto.Clone(s.req).(*probev1.SubscribeRequest)
	req.Resume = &probev1.Resume{StreamId: id, LastSeq: last}
	return c.subscribe(ctx, req)
}

// subscribe opens a stream for req, which the stream keeps.
func (c *Client) subscribe(ctx context.Context, req *probev1.SubscribeRequest) (*Stream, error) {
	st := &Stream{
		req:     req,
		id:      req.GetResume().GetStreamId(),
		lastSeq: req.GetResume().GetLastSeq(),
	}
	s, err := c.probe.Subscribe(ctx, req)
	if err == io.EOF {
		// grpc-go reports a transport failure while sending the request as
		// io.EOF; the real status would only be visible on the stream.
		err = status.Error(codes.Unavailable, "the connection closed before the request was sent")
	}
	if err != nil {
		return nil, st.streamError(err)
	}
	st.s = s
	return st, nil
}

// ErrOverflow is matched (with errors.Is) by the error that ends a stream
// whose request asked for OVERFLOW_POLICY_DISCONNECT when its queue in the
// service was full, because the subscriber read too slowly: read faster
// (for example hand the batches to another goroutine), ask for fewer events
// or choose another overflow policy. A resumable stream can be continued
// with [Client.Resume], which reports what it lost meanwhile. The error is
// also the service's codes.ResourceExhausted status error, which
// status.Code and status.Convert return.
var ErrOverflow = errors.New("the stream overflowed: the subscriber read too slowly")

// ErrStreamExpired is matched (with errors.Is) by the error of a resumed
// stream (see [Client.Resume]) that the service no longer has: its resume
// window passed, or the service restarted. Start a new stream with
// [Client.Subscribe]. The error is also the service's codes.NotFound status
// error.
var ErrStreamExpired = errors.New("the stream to resume expired or the service restarted; start a new stream")

// ErrNotResumable is wrapped by the error [Client.Resume] returns for a
// stream that has no stream id to resume.
var ErrNotResumable = errors.New("the stream is not resumable")

// streamError is a gRPC status error of a stream that also matches one of
// the sentinel errors above. It keeps the status for status.FromError, with
// its message unchanged.
type streamError struct {
	kind error // ErrOverflow or ErrStreamExpired
	hint string
	err  error // the gRPC status error
}

func (e *streamError) Error() string {
	return "kindling: " + e.kind.Error() + e.hint + ": " + e.err.Error()
}

func (e *streamError) Unwrap() []error { return []error{e.kind, e.err} }

// GRPCStatus returns the status of the service's error, for status.FromError.
func (e *streamError) GRPCStatus() *status.Status { return status.Convert(e.err) }

// Stream is an event stream opened by [Client.Subscribe] or [Client.Resume].
// It must be read from one goroutine at a time; [Stream.StreamID] and
// [Stream.LastSeq] may be called from any goroutine.
type Stream struct {
	s   grpc.ServerStreamingClient[probev1.SubscribeResponse]
	req *probev1.SubscribeRequest // as sent, for Client.Resume

	mu      sync.Mutex
	id      string
	lastSeq uint64
}

// StreamID returns the id of a resumable stream, from the last response
// that carried one (or from the request that resumed it), or "" when the
// stream is not resumable or the service has not sent its id yet. The
// first response of a resumable stream carries only its id.
func (s *Stream) StreamID() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.id
}

// LastSeq returns the sequence number of the last event that [Stream.Recv]
// returned (for a resumed stream, from the stream before it when this one
// has returned none yet), or 0 when there was none. [Client.Resume]
// continues the stream after it.
func (s *Stream) LastSeq() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lastSeq
}

// Recv returns the next batch of the stream: zero or more events in
// timestamp order and the losses the stream suffered since the previous
// batch. It returns io.EOF when the service ended the stream normally, and a
// gRPC status error otherwise (codes.Canceled or codes.DeadlineExceeded when
// the stream's context ended). That error matches [ErrOverflow] when the
// service ended the stream because the subscriber read too slowly, and
// [ErrStreamExpired] when the service could not resume it.
func (s *Stream) Recv() (*probev1.SubscribeResponse, error) {
	resp, err := s.s.Recv()
	if err != nil {
		if err != io.EOF {
			err = s.streamError(err)
		}
		return nil, err
	}
	s.mu.Lock()
	if id := resp.GetStreamId(); id != "" {
		s.id = id
	}
	for _, ev := range resp.GetEvents() {
		// Events come in sequence order; max keeps LastSeq from going back
		// all the same.
		s.lastSeq = max(s.lastSeq, ev.GetSeq())
	}
	s.mu.Unlock()
	return resp, nil
}

// streamError returns err, a gRPC status error of the stream, as an error
// that also matches ErrOverflow or ErrStreamExpired when its code means
// that; other errors it returns unchanged.
func (s *Stream) streamError(err error) error {
	switch status.Code(err) {
	case codes.ResourceExhausted:
		// grpc-go also reports a response larger than the client accepts
		// with this code: it is an overflow only for a stream that asked to
		// be disconnected then, or a resumed one that does not say (it keeps
		// the policy it started with).
		policy := s.req.GetOverflow()
		if policy != probev1.OverflowPolicy_OVERFLOW_POLICY_DISCONNECT &&
			(s.req.GetResume() == nil || policy != probev1.OverflowPolicy_OVERFLOW_POLICY_UNSPECIFIED) {
			return err
		}
		hint := ""
		if s.StreamID() != "" {
			hint = "; resume the stream with Client.Resume"
		}
		return &streamError{kind: ErrOverflow, hint: hint, err: err}
	case codes.NotFound:
		if s.req.GetResume() == nil {
			return err
		}
		return &streamError{kind: ErrStreamExpired, err: err}
	default:
		return err
	}
}

// Responses returns an iterator over the stream's batches, for use with
// range. The iteration ends after io.EOF, which it does not yield, or after
// yielding the first other error (the error [Stream.Recv] returns).
func (s *Stream) Responses() iter.Seq2[*probev1.SubscribeResponse, error] {
	return func(yield func(*probev1.SubscribeResponse, error) bool) {
		for {
			resp, err := s.Recv()
			if err == io.EOF {
				return
			}
			if !yield(resp, err) || err != nil {
				return
			}
		}
	}
}
