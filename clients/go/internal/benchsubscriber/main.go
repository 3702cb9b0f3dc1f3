// Command benchsubscriber is the subscriber of the probe's benchmark
// (bench/run.py). It subscribes through the client library, decodes every
// response completely (each event is a full protobuf message), and checks
// that delivered plus reported-lost events account for every sequence
// number. It prints nothing per event, so what it measures is the service,
// not a terminal.
//
// Usage:
//
//	benchsubscriber --socket PATH [--pid PID]... [--name NAME]... [--count N] [--timeout SECONDS] [--quiet SECONDS]
//
// It ends after --count events, after --timeout, on SIGINT or SIGTERM, or
// once events have stopped for --quiet seconds after the first one, and
// prints one JSON
// object: {"events": N, "responses": R, "lost": {"reason": count}, "gaps": G}
// where gaps counts sequence numbers neither delivered nor reported lost.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	probev1 "github.com/kindling-probe/kindling-probe/clients/go/gen/kindling/probe/v1"
	"github.com/kindling-probe/kindling-probe/clients/go/kindling"
)

type repeated []string

func (r *repeated) String() string     { return strings.Join(*r, ",") }
func (r *repeated) Set(v string) error { *r = append(*r, v); return nil }

type result struct {
	Events    uint64            `json:"events"`
	Responses uint64            `json:"responses"`
	Lost      map[string]uint64 `json:"lost"`
	Gaps      uint64            `json:"gaps"`
	Error     string            `json:"error,omitempty"`
}

func main() {
	socket := flag.String("socket", kindling.SocketFromEnv(), "unix socket of the probe service")
	count := flag.Uint64("count", 0, "stop after this many events (0: no limit)")
	timeout := flag.Float64("timeout", 60, "stop after this many seconds")
	quiet := flag.Float64("quiet", 2, "stop once no event came for this many seconds after the first")
	payload := flag.Bool("payload", false, "ask for the payloads of calls on sockets")
	var pids, names repeated
	flag.Var(&pids, "pid", "only events of this process id (repeatable)")
	flag.Var(&names, "name", "only events with this name (repeatable)")
	flag.Parse()

	filter := &probev1.EventFilter{Names: names}
	for _, p := range pids {
		var pid uint32
		if _, err := fmt.Sscan(p, &pid); err != nil {
			fmt.Fprintf(os.Stderr, "benchsubscriber: --pid %q is not a number\n", p)
			os.Exit(2)
		}
		filter.Pids = append(filter.Pids, pid)
	}
	req := &probev1.SubscribeRequest{AllowList: []*probev1.EventFilter{filter}}
	if *payload {
		req.Payload = probev1.PayloadMode_PAYLOAD_MODE_SOCKETS
	}
	out := run(*socket, req,
		*count, time.Duration(*timeout*float64(time.Second)), time.Duration(*quiet*float64(time.Second)))
	_ = json.NewEncoder(os.Stdout).Encode(out)
	if out.Error != "" {
		os.Exit(1)
	}
}

func run(socket string, req *probev1.SubscribeRequest, count uint64, timeout, quiet time.Duration) result {
	out := result{Lost: map[string]uint64{}}
	client, err := kindling.Dial(socket)
	if err != nil {
		out.Error = err.Error()
		return out
	}
	defer client.Close()
	stopped, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(stopped, timeout)
	defer cancel()
	stream, err := client.Subscribe(ctx, req)
	if err != nil {
		out.Error = err.Error()
		return out
	}
	// Stop once events have stopped coming for `quiet`.
	var last atomic.Int64
	go func() {
		for ctx.Err() == nil {
			time.Sleep(50 * time.Millisecond)
			if seen := last.Load(); seen != 0 && time.Since(time.Unix(0, seen)) > quiet {
				cancel()
			}
		}
	}()
	// Sequence numbers skipped, and those the stream reported lost (a loss
	// with a first_seq); the difference is what vanished unreported.
	var next, skipped, reported uint64 = 1, 0, 0
	for resp, err := range stream.Responses() {
		if err != nil {
			if ctx.Err() == nil {
				out.Error = err.Error()
			}
			break
		}
		out.Responses++
		for _, loss := range resp.GetLosses() {
			out.Lost[strings.ToLower(strings.TrimPrefix(loss.GetReason().String(), "LOSS_REASON_"))] += loss.GetCount()
			if loss.GetFirstSeq() != 0 {
				reported += loss.GetCount()
			}
		}
		for _, event := range resp.GetEvents() {
			if seq := event.GetSeq(); seq > next {
				skipped += seq - next
				next = seq
			}
			next++
			out.Events++
		}
		if skipped > reported {
			out.Gaps = skipped - reported
		} else {
			out.Gaps = 0
		}
		if len(resp.GetEvents()) > 0 {
			last.Store(time.Now().UnixNano())
		}
		if count > 0 && out.Events >= count {
			break
		}
	}
	return out
}
