package kindling_test

import (
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"

	eventv1 "github.com/kindling-probe/kindling-probe/clients/go/gen/kindling/event/v1"
	probev1 "github.com/kindling-probe/kindling-probe/clients/go/gen/kindling/probe/v1"
	"github.com/kindling-probe/kindling-probe/clients/go/internal/fakeprobe"
	"github.com/kindling-probe/kindling-probe/clients/go/kindling"
)

type subscribeFunc = func(*probev1.SubscribeRequest, grpc.ServerStreamingServer[probev1.SubscribeResponse]) error

// dialFake serves a fake probe whose Subscribe is handle and returns a
// client for it with the fake's service.
func dialFake(t *testing.T, handle subscribeFunc) (*kindling.Client, *fakeprobe.Service) {
	t.Helper()
	svc := &fakeprobe.Service{SubscribeFunc: handle}
	client, err := kindling.Dial(fakeprobe.Start(t, svc).Socket)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close() })
	return client, svc
}

// events returns a response of stream id carrying events with these seqs.
func events(id string, seqs ...uint64) *probev1.SubscribeResponse {
	resp := &probev1.SubscribeResponse{StreamId: id}
	for _, seq := range seqs {
		resp.Events = append(resp.Events, &eventv1.Event{Seq: seq, Name: "read"})
	}
	return resp
}

// sendAll sends resps on stream.
func sendAll(stream grpc.ServerStreamingServer[probev1.SubscribeResponse], resps ...*probev1.SubscribeResponse) error {
	for _, r := range resps {
		if err := stream.Send(r); err != nil {
			return err
		}
	}
	return nil
}

// recvAll reads s until an error, which it returns, with the seqs of the
// events it read.
func recvAll(t *testing.T, s *kindling.Stream) ([]uint64, error) {
	t.Helper()
	var seqs []uint64
	for {
		resp, err := s.Recv()
		if err != nil {
			return seqs, err
		}
		for _, ev := range resp.GetEvents() {
			seqs = append(seqs, ev.GetSeq())
		}
	}
}

func TestStreamTracksIDAndLastSeq(t *testing.T) {
	client, _ := dialFake(t, func(_ *probev1.SubscribeRequest, stream grpc.ServerStreamingServer[probev1.SubscribeResponse]) error {
		lossOnly := &probev1.SubscribeResponse{StreamId: "s-1", Losses: []*probev1.Loss{
			{Reason: probev1.LossReason_LOSS_REASON_SUBSCRIBER_QUEUE_FULL, Count: 10, FirstSeq: 4},
		}}
		return sendAll(stream, &probev1.SubscribeResponse{StreamId: "s-1"}, events("s-1", 1, 2), lossOnly, events("s-1", 14))
	})
	stream, err := client.Subscribe(testContext(t), &probev1.SubscribeRequest{ResumeWindow: durationpb.New(time.Minute)})
	if err != nil {
		t.Fatal(err)
	}
	if id, last := stream.StreamID(), stream.LastSeq(); id != "" || last != 0 {
		t.Errorf("before the first response: StreamID %q, LastSeq %d; want empty and 0", id, last)
	}
	// After each response: the id it carried and the seq of the last event
	// so far (a loss does not move it: those events were never sent).
	want := []struct {
		id   string
		last uint64
	}{{"s-1", 0}, {"s-1", 2}, {"s-1", 2}, {"s-1", 14}}
	for i, w := range want {
		if _, err := stream.Recv(); err != nil {
			t.Fatalf("Recv %d: %v", i, err)
		}
		if id, last := stream.StreamID(), stream.LastSeq(); id != w.id || last != w.last {
			t.Errorf("after response %d: StreamID %q, LastSeq %d; want %q, %d", i, id, last, w.id, w.last)
		}
	}
	if _, err := stream.Recv(); err != io.EOF {
		t.Errorf("Recv at the end: %v, want io.EOF", err)
	}
	if id, last := stream.StreamID(), stream.LastSeq(); id != "s-1" || last != 14 {
		t.Errorf("after the end: StreamID %q, LastSeq %d; want s-1, 14", id, last)
	}
}

func TestResponsesTracksLastSeq(t *testing.T) {
	client, _ := dialFake(t, func(_ *probev1.SubscribeRequest, stream grpc.ServerStreamingServer[probev1.SubscribeResponse]) error {
		return sendAll(stream, events("s-2", 5, 6), events("s-2", 7))
	})
	stream, err := client.Subscribe(testContext(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	var lasts []uint64
	for _, err := range stream.Responses() {
		if err != nil {
			t.Fatal(err)
		}
		lasts = append(lasts, stream.LastSeq())
	}
	if len(lasts) != 2 || lasts[0] != 6 || lasts[1] != 7 || stream.StreamID() != "s-2" {
		t.Errorf("LastSeq after each response %v, StreamID %q; want [6 7], s-2", lasts, stream.StreamID())
	}
}

func TestResume(t *testing.T) {
	const overflowMsg = "the stream's queue was full: the subscriber read too slowly"
	client, svc := dialFake(t, func(req *probev1.SubscribeRequest, stream grpc.ServerStreamingServer[probev1.SubscribeResponse]) error {
		switch req.GetResume().GetLastSeq() {
		case 0: // the original stream
			if err := sendAll(stream, &probev1.SubscribeResponse{StreamId: "abc"}, events("abc", 1, 2), events("abc", 3)); err != nil {
				return err
			}
			return status.Error(codes.ResourceExhausted, overflowMsg)
		case 3: // the first resume: 4 and 5 are gone
			tooLate := &probev1.SubscribeResponse{StreamId: "abc", Losses: []*probev1.Loss{
				{Reason: probev1.LossReason_LOSS_REASON_RESUME_TOO_LATE, Count: 2, FirstSeq: 4},
			}}
			if err := sendAll(stream, tooLate, events("abc", 6, 7)); err != nil {
				return err
			}
			return status.Error(codes.Unavailable, "the connection broke")
		default: // the second resume: the window passed
			return status.Error(codes.NotFound, "resume.stream_id: no resumable stream has this id")
		}
	})
	ctx := testContext(t)
	req := &probev1.SubscribeRequest{
		AllowList:    []*probev1.EventFilter{{Names: []string{"read"}, Pids: []uint32{7}}},
		Overflow:     probev1.OverflowPolicy_OVERFLOW_POLICY_DISCONNECT,
		ResumeWindow: durationpb.New(time.Minute),
	}
	original := proto.Clone(req).(*probev1.SubscribeRequest)
	stream, err := client.Subscribe(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	req.AllowList = nil // the stream keeps its own copy for Resume

	seqs, err := recvAll(t, stream)
	if len(seqs) != 3 {
		t.Errorf("first stream gave seqs %v, want 1 2 3", seqs)
	}
	if !errors.Is(err, kindling.ErrOverflow) {
		t.Errorf("overflow error %v does not match ErrOverflow", err)
	}
	if st := status.Convert(err); st.Code() != codes.ResourceExhausted || st.Message() != overflowMsg {
		t.Errorf("overflow error has status %v %q, want the service's ResourceExhausted %q", st.Code(), st.Message(), overflowMsg)
	}
	if msg := err.Error(); !strings.Contains(msg, "read too slowly") || !strings.Contains(msg, "Client.Resume") {
		t.Errorf("overflow error %q does not say why and what to do", msg)
	}

	resumed, err := client.Resume(ctx, stream)
	if err != nil {
		t.Fatalf("Resume: %v", err)
	}
	if resumed.StreamID() != "abc" || resumed.LastSeq() != 3 {
		t.Errorf("resumed stream starts at StreamID %q, LastSeq %d; want abc, 3", resumed.StreamID(), resumed.LastSeq())
	}
	resp, err := resumed.Recv()
	if err != nil {
		t.Fatal(err)
	}
	if l := resp.GetLosses(); len(l) != 1 || l[0].GetReason() != probev1.LossReason_LOSS_REASON_RESUME_TOO_LATE ||
		kindling.FormatLoss(l[0]) != "lost 2 events (resumed too late) seq 4-5" {
		t.Errorf("resumed stream's first response %v, want the loss of 4 and 5", resp)
	}
	if resumed.LastSeq() != 3 {
		t.Errorf("LastSeq %d after a loss alone, want 3", resumed.LastSeq())
	}
	seqs, err = recvAll(t, resumed)
	if len(seqs) != 2 || seqs[0] != 6 || seqs[1] != 7 || resumed.LastSeq() != 7 {
		t.Errorf("resumed stream gave seqs %v, LastSeq %d; want 6 7, 7", seqs, resumed.LastSeq())
	}
	if status.Code(err) != codes.Unavailable || errors.Is(err, kindling.ErrOverflow) || errors.Is(err, kindling.ErrStreamExpired) {
		t.Errorf("resumed stream ended with %v, want the plain Unavailable error", err)
	}

	again, err := client.Resume(ctx, resumed)
	if err != nil {
		t.Fatalf("second Resume: %v", err)
	}
	_, err = again.Recv()
	if !errors.Is(err, kindling.ErrStreamExpired) || status.Code(err) != codes.NotFound {
		t.Errorf("resuming an expired stream: %v, want ErrStreamExpired with codes.NotFound", err)
	}
	if !strings.Contains(err.Error(), "start a new stream") {
		t.Errorf("expired error %q does not say to start a new stream", err)
	}

	// Each resume sends the original request with Resume at the last event
	// received.
	wantReqs := []*probev1.SubscribeRequest{original, proto.Clone(original).(*probev1.SubscribeRequest), proto.Clone(original).(*probev1.SubscribeRequest)}
	wantReqs[1].Resume = &probev1.Resume{StreamId: "abc", LastSeq: 3}
	wantReqs[2].Resume = &probev1.Resume{StreamId: "abc", LastSeq: 7}
	got := svc.Requests()
	if len(got) != len(wantReqs) {
		t.Fatalf("service received %d requests, want %d: %v", len(got), len(wantReqs), got)
	}
	for i := range got {
		if !proto.Equal(got[i], wantReqs[i]) {
			t.Errorf("request %d:\n got %v\nwant %v", i, got[i], wantReqs[i])
		}
	}
}

func TestResumeNotResumable(t *testing.T) {
	client, svc := dialFake(t, func(_ *probev1.SubscribeRequest, stream grpc.ServerStreamingServer[probev1.SubscribeResponse]) error {
		return sendAll(stream, events("", 1, 2))
	})
	ctx := testContext(t)
	for _, tt := range []struct {
		name string
		req  *probev1.SubscribeRequest
		why  string
	}{
		{"no resume window", &probev1.SubscribeRequest{}, "set SubscribeRequest.resume_window"},
		{"no stream id yet", &probev1.SubscribeRequest{ResumeWindow: durationpb.New(time.Minute)}, "ended before the service sent its stream id"},
	} {
		stream, err := client.Subscribe(ctx, tt.req)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := recvAll(t, stream); err != io.EOF {
			t.Fatalf("%s: stream ended with %v, want io.EOF", tt.name, err)
		}
		if stream.StreamID() != "" || stream.LastSeq() != 2 {
			t.Errorf("%s: StreamID %q, LastSeq %d; want empty, 2", tt.name, stream.StreamID(), stream.LastSeq())
		}
		n := len(svc.Requests())
		resumed, err := client.Resume(ctx, stream)
		if resumed != nil || !errors.Is(err, kindling.ErrNotResumable) {
			t.Errorf("%s: Resume = %v, %v; want ErrNotResumable", tt.name, resumed, err)
		} else if want := "kindling: the stream is not resumable: "; !strings.HasPrefix(err.Error(), want) || !strings.Contains(err.Error(), tt.why) {
			t.Errorf("%s: error %q, want %q...%q", tt.name, err, want, tt.why)
		}
		if len(svc.Requests()) != n {
			t.Errorf("%s: Resume sent a request", tt.name)
		}
	}
}

func TestSubscribeWithResume(t *testing.T) {
	client, _ := dialFake(t, func(_ *probev1.SubscribeRequest, stream grpc.ServerStreamingServer[probev1.SubscribeResponse]) error {
		return status.Error(codes.NotFound, "no resumable stream has this id")
	})
	stream, err := client.Subscribe(testContext(t), &probev1.SubscribeRequest{Resume: &probev1.Resume{StreamId: "old", LastSeq: 41}})
	if err != nil {
		t.Fatal(err)
	}
	if stream.StreamID() != "old" || stream.LastSeq() != 41 {
		t.Errorf("StreamID %q, LastSeq %d; want old, 41 from the request", stream.StreamID(), stream.LastSeq())
	}
	if _, err := stream.Recv(); !errors.Is(err, kindling.ErrStreamExpired) {
		t.Errorf("Recv: %v, want ErrStreamExpired", err)
	}
}

// The codes keep their plain meaning on streams where they cannot mean an
// overflow or an expired resume.
func TestErrorsOfOtherStreams(t *testing.T) {
	for _, tt := range []struct {
		name     string
		req      *probev1.SubscribeRequest
		code     codes.Code
		overflow bool
	}{
		{"drop newest", &probev1.SubscribeRequest{}, codes.ResourceExhausted, false},
		{"drop oldest", &probev1.SubscribeRequest{Overflow: probev1.OverflowPolicy_OVERFLOW_POLICY_DROP_OLDEST}, codes.ResourceExhausted, false},
		{"disconnect, not resumable", &probev1.SubscribeRequest{Overflow: probev1.OverflowPolicy_OVERFLOW_POLICY_DISCONNECT}, codes.ResourceExhausted, true},
		{"not resumed", &probev1.SubscribeRequest{}, codes.NotFound, false},
	} {
		client, _ := dialFake(t, func(*probev1.SubscribeRequest, grpc.ServerStreamingServer[probev1.SubscribeResponse]) error {
			return status.Error(tt.code, "message")
		})
		stream, err := client.Subscribe(testContext(t), tt.req)
		if err != nil {
			t.Fatal(err)
		}
		_, err = stream.Recv()
		if status.Code(err) != tt.code || errors.Is(err, kindling.ErrStreamExpired) || errors.Is(err, kindling.ErrOverflow) != tt.overflow {
			t.Errorf("%s: Recv error %v; want %v, overflow %v", tt.name, err, tt.code, tt.overflow)
		}
		if tt.overflow && strings.Contains(err.Error(), "Resume") {
			t.Errorf("%s: error %q suggests resuming a stream that is not resumable", tt.name, err)
		}
		if !tt.overflow && err.Error() != status.Error(tt.code, "message").Error() {
			t.Errorf("%s: error %q changed", tt.name, err)
		}
	}
}
