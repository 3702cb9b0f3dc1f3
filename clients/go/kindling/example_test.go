package kindling_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"

	eventv1 "github.com/kindling-probe/kindling-probe/clients/go/gen/kindling/event/v1"
	probev1 "github.com/kindling-probe/kindling-probe/clients/go/gen/kindling/probe/v1"
	"github.com/kindling-probe/kindling-probe/clients/go/kindling"
)

func ExampleFormatCompact() {
	boot := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	ev := &eventv1.Event{
		TimestampNs: 1_500_000,
		Name:        "connect",
		Source:      eventv1.Source_SOURCE_SYSCALL_EXIT,
		LatencyNs:   12_345,
		Thread:      &eventv1.Thread{Pid: 42, Tid: 42, Comm: "curl"},
		Fd: &eventv1.Fd{
			Num:         3,
			Type:        eventv1.FdType_FD_TYPE_IPV6_SOCKET,
			Protocol:    eventv1.L4Protocol_L4_PROTOCOL_TCP,
			Source:      &eventv1.Endpoint{Address: "::1", Port: 51000},
			Destination: &eventv1.Endpoint{Address: "::1", Port: 8080},
		},
	}
	fmt.Println(kindling.FormatCompact(ev, boot))
	// Output:
	// 2024-05-01T12:00:00.001500Z connect curl[42/42] ret=0 lat=12.3us fd=3 tcp [::1]:51000->[::1]:8080
}

func ExampleFormatJSON() {
	boot := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	b, err := kindling.FormatJSON(&eventv1.Event{Seq: 1, TimestampNs: 123, Name: "connect"}, boot, "node-a")
	if err != nil {
		panic(err)
	}
	fmt.Println(string(b))
	// Output:
	// {"time":"2024-05-01T12:00:00.000000123Z","node":"node-a","seq":"1","timestamp_ns":"123","name":"connect","source":"SOURCE_UNSPECIFIED","category":"CATEGORY_UNSPECIFIED","cpu":0,"return_value":"0","latency_ns":"0","attributes":[],"payload":"","payload_length":"0"}
}

func ExampleFormatLoss() {
	fmt.Println(kindling.FormatLoss(&probev1.Loss{
		Reason:   probev1.LossReason_LOSS_REASON_SUBSCRIBER_QUEUE_FULL,
		Count:    3,
		FirstSeq: 10,
	}))
	// Output:
	// lost 3 events (subscriber queue full) seq 10-12
}

// A resumable stream that the service disconnects when the subscriber falls
// behind, instead of dropping events, and that goes on where it stopped.
func ExampleClient_Resume() {
	ctx := context.Background()
	client, err := kindling.Dial(kindling.SocketFromEnv())
	if err != nil {
		log.Fatal(err)
	}
	defer client.Close()

	stream, err := client.Subscribe(ctx, &probev1.SubscribeRequest{
		Overflow:     probev1.OverflowPolicy_OVERFLOW_POLICY_DISCONNECT,
		ResumeWindow: durationpb.New(time.Minute),
	})
	if err != nil {
		log.Fatal(err)
	}
	for {
		for resp, err := range stream.Responses() {
			if errors.Is(err, kindling.ErrOverflow) {
				log.Printf("%v: resuming after seq %d", err, stream.LastSeq())
				break
			}
			if err != nil {
				log.Fatal(err) // ErrStreamExpired: start a new stream instead
			}
			for _, loss := range resp.GetLosses() {
				log.Print(kindling.FormatLoss(loss)) // e.g. lost 12 events (resumed too late) seq 80-91
			}
			for _, ev := range resp.GetEvents() {
				fmt.Println(kindling.FormatCompact(ev, resp.GetBootTime().AsTime()))
			}
		}
		if stream, err = client.Resume(ctx, stream); err != nil {
			log.Fatal(err)
		}
	}
}

// Follow keeps a subscription going across disconnects and service
// restarts, and says what it could not recover.
func ExampleClient_Follow() {
	client, err := kindling.Dial(kindling.SocketFromEnv())
	if err != nil {
		log.Fatal(err)
	}
	defer client.Close()
	ctx, stop := context.WithTimeout(context.Background(), time.Minute)
	defer stop()
	req := &probev1.SubscribeRequest{AllowList: []*probev1.EventFilter{{Names: []string{"connect"}}}}
	for it, err := range client.Follow(ctx, req, kindling.FollowOptions{}) {
		switch {
		case err != nil:
			log.Print(err) // ctx's end, or a request the service refuses
			return
		case it.Gap != nil:
			log.Printf("events after seq %d are unknown: %s", it.Gap.LastSeq, it.Gap.Reason)
		case it.Loss != nil:
			log.Print(kindling.FormatLoss(it.Loss))
		default:
			fmt.Println(it.Event.GetName(), it.Event.GetThread().GetComm())
		}
	}
}
