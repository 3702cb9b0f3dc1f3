// Package kindling is a Go client for the kindling probe service, the
// node-local gRPC service that streams kernel events captured by an eBPF
// probe over a unix domain socket.
//
// The wire contract is defined by the protobuf packages kindling.event.v1
// and kindling.probe.v1, whose generated Go code lives in
// github.com/kindling-probe/kindling-probe/clients/go/gen/kindling/event/v1
// (package eventv1) and
// github.com/kindling-probe/kindling-probe/clients/go/gen/kindling/probe/v1
// (package probev1). This package adds a small convenience layer on top:
//
//   - [Dial] connects to the service's socket, checking first that the
//     socket exists so that a missing service gives a clear error.
//   - [Client.Subscribe] opens an event stream; [Stream.Recv] and
//     [Stream.Responses] read its batches.
//   - [Client.Resume] continues a resumable stream after a disconnect,
//     from the [Stream.StreamID] and [Stream.LastSeq] the stream kept.
//   - [Client.GetInfo] and [Client.Configure] wrap the unary calls.
//   - [FormatCompact] (and [CompactOptions] for colour), [FormatTableRow],
//     [FormatJSON] and [FormatLoss] render events and loss notices the way
//     the kindling-events command prints them; [ErrnoName], [SignalName] and
//     [SymbolicAttribute] name the numbers events carry.
//
// Every call returns the gRPC status errors of google.golang.org/grpc/status
// unchanged, so callers can inspect them with status.Code. The errors of a
// stream that overflowed or that can no longer be resumed also match
// [ErrOverflow] and [ErrStreamExpired] with errors.Is, and say what to do;
// status.Code and status.Convert still return the service's status.
//
// # Resumable streams
//
// A SubscribeRequest with resume_window set opens a resumable stream: after
// a disconnect (a broken connection, or codes.ResourceExhausted when the
// request's overflow policy is OVERFLOW_POLICY_DISCONNECT and the
// subscriber read too slowly) the service keeps it for that long, and
// [Client.Resume] continues it after the last event received, with a Loss
// (LOSS_REASON_RESUME_TOO_LATE) for the events the service no longer had.
// A stream the service no longer has gives [ErrStreamExpired]: start a new
// one.
//
// # Example
//
// Print every connect and accept4 event of process 1234 until ctx ends:
//
//	client, err := kindling.Dial(kindling.SocketFromEnv())
//	if err != nil {
//		log.Fatal(err) // e.g. no kindling probe service at /run/kindling.sock: ...
//	}
//	defer client.Close()
//
//	stream, err := client.Subscribe(ctx, &probev1.SubscribeRequest{
//		AllowList: []*probev1.EventFilter{{
//			Names: []string{"connect", "accept4"},
//			Pids:  []uint32{1234},
//		}},
//	})
//	if err != nil {
//		log.Fatal(err)
//	}
//	for resp, err := range stream.Responses() {
//		if err != nil {
//			log.Fatal(err) // also when ctx ends (codes.Canceled); io.EOF just ends the loop
//		}
//		for _, loss := range resp.GetLosses() {
//			log.Print(kindling.FormatLoss(loss))
//		}
//		boot := resp.GetBootTime().AsTime()
//		for _, ev := range resp.GetEvents() {
//			fmt.Println(kindling.FormatCompact(ev, boot))
//		}
//	}
package kindling
