package kindling

import (
	"context"
	"errors"
	"iter"
	"math/rand/v2"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"

	eventv1 "github.com/kindling-probe/kindling-probe/clients/go/gen/kindling/event/v1"
	probev1 "github.com/kindling-probe/kindling-probe/clients/go/gen/kindling/probe/v1"
)

// An Item is one thing a stream delivers, in order: an event, a notice of
// events the stream lost, or (from [Client.Follow]) a notice that the stream
// had to start over. Exactly one of Event, Loss and Gap is set.
type Item struct {
	// Event is an event of the stream.
	Event *eventv1.Event
	// Loss reports events the stream lost before the events after it: how
	// many, why, and their sequence numbers when they had any.
	Loss *probev1.Loss
	// Gap reports that Follow could not resume the stream and started a new
	// one: what happened between is unknown.
	Gap *Gap
	// Response is the response the item came in (nil for a Gap), for its
	// node name and boot_time: an event's wall-clock time is boot_time plus
	// its timestamp_ns.
	Response *probev1.SubscribeResponse
}

// A Gap is a break in a followed stream that no Loss accounts for: the
// service restarted, or kept the stream for less time than the client was
// away. The new stream numbers its events from 1 again.
type Gap struct {
	// LastSeq is the sequence number of the last event of the stream before
	// the gap (0 if none came).
	LastSeq uint64
	// Reason says why, in a sentence.
	Reason string
}

// Items returns an iterator over the stream's events and loss notices, one
// by one, in order: a response's losses come before its events, because
// they happened before them. Like [Stream.Responses], it ends after io.EOF
// and after yielding the first other error.
func (s *Stream) Items() iter.Seq2[Item, error] {
	return func(yield func(Item, error) bool) {
		for resp, err := range s.Responses() {
			if err != nil {
				yield(Item{}, err)
				return
			}
			if !yieldResponse(resp, yield) {
				return
			}
		}
	}
}

func yieldResponse(resp *probev1.SubscribeResponse, yield func(Item, error) bool) bool {
	for _, loss := range resp.GetLosses() {
		if !yield(Item{Loss: loss, Response: resp}, nil) {
			return false
		}
	}
	for _, ev := range resp.GetEvents() {
		if !yield(Item{Event: ev, Response: resp}, nil) {
			return false
		}
	}
	return true
}

// FollowOptions tunes [Client.Follow]. The zero value is usable.
type FollowOptions struct {
	// ResumeWindow is how long the service keeps the stream for the client
	// after a disconnect, when the request does not say (default 1 minute,
	// at most 5 minutes).
	ResumeWindow time.Duration
	// MinBackoff and MaxBackoff bound the wait between attempts to reach
	// the service again (default 100 ms and 5 s); each wait doubles the last
	// one, with jitter.
	MinBackoff, MaxBackoff time.Duration
	// OnReconnect, when set, is called when a resumed or new stream first
	// answers, with the error that broke the one before (nil when the
	// service ended it).
	OnReconnect func(cause error)
}

const defaultResumeWindow = time.Minute

// Follow subscribes with req and keeps the subscription going across
// disconnects and service restarts until ctx ends: it makes the stream
// resumable (req's resume_window, or opts.ResumeWindow), resumes it from the
// last event it yielded when the connection breaks, and when the service no
// longer has the stream it starts a new one and yields a [Gap] first.
// Losses the service reports on resume (LOSS_REASON_RESUME_TOO_LATE) come as
// Loss items like any other. Waits between attempts back off exponentially.
//
// The iterator yields an error and stops for errors that retrying cannot
// cure: an invalid request, a permission refused, ctx's end (its error).
func (c *Client) Follow(ctx context.Context, req *probev1.SubscribeRequest, opts FollowOptions) iter.Seq2[Item, error] {
	req = followRequest(req, opts)
	return func(yield func(Item, error) bool) {
		var stream *Stream // the last stream opened
		var cause error    // what ended it (nil: the service ended it)
		backoff := newBackoff(opts)
		for {
			next, err := c.reopen(ctx, req, stream, cause)
			if err != nil {
				if ctx.Err() != nil || !retryable(err) {
					yield(Item{}, errOr(ctx.Err(), err))
					return
				}
				if !backoff.wait(ctx) {
					yield(Item{}, ctx.Err())
					return
				}
				continue
			}
			if next.gap != nil && !yield(Item{Gap: next.gap}, nil) {
				return
			}
			// Told once the new stream answers: one that fails at once is
			// not a reconnection.
			reconnected, broken := stream != nil, cause
			stream, cause = next.stream, nil
			for resp, err := range stream.Responses() {
				if err != nil {
					cause = err
					break
				}
				if reconnected && opts.OnReconnect != nil {
					opts.OnReconnect(broken)
				}
				reconnected = false
				backoff.reset()
				if !yieldResponse(resp, yield) {
					return
				}
			}
			if ctx.Err() != nil {
				yield(Item{}, ctx.Err())
				return
			}
			if cause != nil && !retryable(cause) {
				yield(Item{}, cause)
				return
			}
		}
	}
}

type reopened struct {
	stream *Stream
	gap    *Gap
}

// reopen opens the first stream (last is nil), resumes last, or, when the
// service no longer has it (cause, or the answer to the resume, says so),
// opens a new stream after a gap.
func (c *Client) reopen(ctx context.Context, req *probev1.SubscribeRequest, last *Stream, cause error) (reopened, error) {
	if last == nil {
		s, err := c.Subscribe(ctx, req)
		return reopened{stream: s}, err
	}
	if last.StreamID() != "" && !errors.Is(cause, ErrStreamExpired) {
		s, err := c.Resume(ctx, last)
		if !errors.Is(err, ErrStreamExpired) {
			// A resume the service cannot honour fails at the first Recv,
			// with ErrStreamExpired as the cause of the next reopen.
			return reopened{stream: s}, err
		}
	}
	s, err := c.Subscribe(ctx, req)
	if err != nil {
		return reopened{}, err
	}
	return reopened{stream: s, gap: &Gap{
		LastSeq: last.LastSeq(),
		Reason:  "the service no longer had the stream (it restarted, or its resume window passed); a new stream starts",
	}}, nil
}

func followRequest(req *probev1.SubscribeRequest, opts FollowOptions) *probev1.SubscribeRequest {
	if req == nil {
		req = &probev1.SubscribeRequest{}
	} else {
		req = proto.Clone(req).(*probev1.SubscribeRequest)
	}
	if req.GetResumeWindow() == nil {
		window := opts.ResumeWindow
		if window <= 0 {
			window = defaultResumeWindow
		}
		req.ResumeWindow = durationpb.New(window)
	}
	return req
}

// retryable says whether another attempt may succeed: the service was not
// reachable or went away, or the stream was cut.
func retryable(err error) bool {
	if errors.Is(err, ErrStreamExpired) {
		return true
	}
	switch status.Code(err) {
	case codes.Unavailable, codes.Aborted, codes.Internal, codes.Unknown:
		return true
	case codes.ResourceExhausted:
		return errors.Is(err, ErrOverflow)
	default:
		return false
	}
}

func errOr(first, second error) error {
	if first != nil {
		return first
	}
	return second
}

type backoff struct {
	min, max, next time.Duration
}

func newBackoff(opts FollowOptions) *backoff {
	b := &backoff{min: opts.MinBackoff, max: opts.MaxBackoff}
	if b.min <= 0 {
		b.min = 100 * time.Millisecond
	}
	if b.max < b.min {
		b.max = max(5*time.Second, b.min)
	}
	b.next = b.min
	return b
}

func (b *backoff) reset() { b.next = b.min }

// wait sleeps for the next backoff, with up to 20% jitter so that many
// followers do not come back at the same instant; false when ctx ended.
func (b *backoff) wait(ctx context.Context) bool {
	d := b.next + time.Duration(rand.Int64N(int64(b.next)/5+1))
	b.next = min(b.next*2, b.max)
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
