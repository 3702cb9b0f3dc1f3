package kindling_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	probev1 "github.com/kindling-probe/kindling-probe/clients/go/gen/kindling/probe/v1"
	"github.com/kindling-probe/kindling-probe/clients/go/kindling"
)

// describe renders an item as "e3" (event seq 3), "loss2@4" (a loss of 2
// from seq 4) or "gap@5" (a gap after seq 5).
func describe(it kindling.Item) string {
	switch {
	case it.Event != nil:
		return fmt.Sprintf("e%d", it.Event.GetSeq())
	case it.Loss != nil:
		return fmt.Sprintf("loss%d@%d", it.Loss.GetCount(), it.Loss.GetFirstSeq())
	default:
		return fmt.Sprintf("gap@%d", it.Gap.LastSeq)
	}
}

func TestItemsYieldLossesBeforeTheirResponsesEvents(t *testing.T) {
	client, _ := dialFake(t, func(_ *probev1.SubscribeRequest, stream grpc.ServerStreamingServer[probev1.SubscribeResponse]) error {
		second := events("", 7, 8)
		second.Losses = []*probev1.Loss{{Reason: probev1.LossReason_LOSS_REASON_SUBSCRIBER_QUEUE_FULL, Count: 4, FirstSeq: 3}}
		return sendAll(stream, events("", 1, 2), second)
	})
	stream, err := client.Subscribe(testContext(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for it, err := range stream.Items() {
		if err != nil {
			t.Fatal(err)
		}
		if it.Response == nil {
			t.Fatalf("item %s without its response", describe(it))
		}
		got = append(got, describe(it))
	}
	if want := "[e1 e2 loss4@3 e7 e8]"; fmt.Sprint(got) != want {
		t.Errorf("items %v, want %s", got, want)
	}
}

func TestFollowResumesAndReportsAGapWhenTheStreamIsGone(t *testing.T) {
	calls := 0
	client, svc := dialFake(t, func(req *probev1.SubscribeRequest, stream grpc.ServerStreamingServer[probev1.SubscribeResponse]) error {
		calls++
		switch calls {
		case 1: // the first stream, cut after 3 events
			if err := sendAll(stream, &probev1.SubscribeResponse{StreamId: "a"}, events("a", 1, 2, 3)); err != nil {
				return err
			}
			return status.Error(codes.Unavailable, "connection reset")
		case 2: // not reachable for a moment
			return status.Error(codes.Unavailable, "connection refused")
		case 3: // resumed, cut again
			if err := sendAll(stream, events("a", 4, 5)); err != nil {
				return err
			}
			return status.Error(codes.Unavailable, "connection reset")
		case 4: // the service restarted: no such stream
			return status.Error(codes.NotFound, "resume.stream_id: no resumable stream has this id")
		default: // a new stream
			if err := sendAll(stream, &probev1.SubscribeResponse{StreamId: "b"}, events("b", 1, 2)); err != nil {
				return err
			}
			<-stream.Context().Done()
			return nil
		}
	})
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	var got []string
	reconnects := 0
	opts := kindling.FollowOptions{MinBackoff: time.Millisecond, OnReconnect: func(error) { reconnects++ }}
	var end error
	for it, err := range client.Follow(ctx, &probev1.SubscribeRequest{}, opts) {
		if err != nil {
			end = err
			break
		}
		got = append(got, describe(it))
		if len(got) == 8 {
			cancel()
		}
	}
	if want := "[e1 e2 e3 e4 e5 gap@5 e1 e2]"; fmt.Sprint(got) != want {
		t.Errorf("items %v, want %s", got, want)
	}
	if !errors.Is(end, context.Canceled) {
		t.Errorf("the end: %v, want context.Canceled", end)
	}
	reqs := svc.Requests()
	if len(reqs) != 5 {
		t.Fatalf("%d Subscribe calls, want 5", len(reqs))
	}
	if reqs[0].GetResumeWindow().AsDuration() != time.Minute {
		t.Errorf("the first request's resume window %v, want 1m", reqs[0].GetResumeWindow())
	}
	for i, want := range []uint64{3, 3, 5} { // calls 2, 3 and 4 resume
		if r := reqs[i+1].GetResume(); r.GetStreamId() != "a" || r.GetLastSeq() != want {
			t.Errorf("call %d resumed %v, want stream a after %d", i+2, r, want)
		}
	}
	if reqs[4].GetResume() != nil {
		t.Errorf("the new stream's request resumes %v", reqs[4].GetResume())
	}
	if reconnects != 2 {
		t.Errorf("OnReconnect called %d times, want 2 (the resume and the new stream)", reconnects)
	}
}

func TestFollowStopsOnErrorsRetryingCannotCure(t *testing.T) {
	client, _ := dialFake(t, func(*probev1.SubscribeRequest, grpc.ServerStreamingServer[probev1.SubscribeResponse]) error {
		return status.Error(codes.InvalidArgument, "allow_list[0].names[0]: unknown event name")
	})
	for _, err := range client.Follow(testContext(t), nil, kindling.FollowOptions{}) {
		if status.Code(err) != codes.InvalidArgument {
			t.Errorf("Follow ended with %v, want the InvalidArgument status", err)
		}
		return
	}
	t.Error("Follow yielded nothing")
}
