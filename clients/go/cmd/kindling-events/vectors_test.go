package main

import (
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/spf13/pflag"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	probev1 "github.com/kindling-probe/kindling-probe/clients/go/gen/kindling/probe/v1"
	"github.com/kindling-probe/kindling-probe/clients/go/internal/fakeprobe"
)

// cliCase is one case of clients/testdata/cli.json, which the Python
// command's tests read too.
type cliCase struct {
	Name     string   `json:"name"`
	Socket   string   `json:"socket"`
	Reject   string   `json:"reject"`
	Disabled []string `json:"disabled"`
	Args     []string `json:"args"`
	Exit     int      `json:"exit"`
	Stderr   string   `json:"stderr"`
	// Request, when set, is the SubscribeRequest the service must receive.
	Request json.RawMessage `json:"request"`
}

func TestCLIExpectations(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("..", "..", "..", "testdata", "cli.json"))
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Cases []cliCase `json:"cases"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	for _, c := range doc.Cases {
		t.Run(c.Name, func(t *testing.T) {
			var socket string
			var received []*probev1.SubscribeRequest
			switch c.Socket {
			case "none":
			case "missing":
				socket = filepath.Join(t.TempDir(), "missing.sock")
			case "stale":
				socket = fakeprobe.StaleSocket(t)
			case "file":
				socket, _ = filepath.Abs("vectors_test.go")
			case "service":
				socket = fakeService(t, c, &received).Socket
			default:
				t.Fatalf("unknown socket kind %q", c.Socket)
			}
			args := c.Args
			if socket != "" {
				args = append([]string{"--socket", socket}, args...)
			}
			r := runCmd(t, args...)
			want := strings.NewReplacer("{prog}", prog, "{usage}", prog, "{socket}", socket).Replace(c.Stderr)
			if r.code != c.Exit || r.stderr != want {
				t.Errorf("exit %d, stderr %q\nwant exit %d, stderr %q", r.code, r.stderr, c.Exit, want)
			}
			if c.Request != nil {
				expected := &probev1.SubscribeRequest{}
				if err := protojson.Unmarshal(c.Request, expected); err != nil {
					t.Fatal(err)
				}
				if len(received) != 1 || !proto.Equal(received[0], expected) {
					t.Errorf("the service received %v\nwant %v", received, expected)
				}
			}
		})
	}
}

// fakeService starts the fake service a "service" case describes.
// It appends each SubscribeRequest it gets to received.
func fakeService(t *testing.T, c cliCase, received *[]*probev1.SubscribeRequest) *fakeprobe.Server {
	send := sendThenWait(batch(event(1, "connect", 42)))
	svc := &fakeprobe.Service{SubscribeFunc: func(req *probev1.SubscribeRequest, stream grpc.ServerStreamingServer[probev1.SubscribeResponse]) error {
		*received = append(*received, req)
		return send(req, stream)
	}}
	if c.Reject != "" {
		svc.SubscribeFunc = func(*probev1.SubscribeRequest, grpc.ServerStreamingServer[probev1.SubscribeResponse]) error {
			return status.Error(codes.InvalidArgument, c.Reject)
		}
	}
	svc.GetInfoFunc = func(context.Context, *probev1.GetInfoRequest) (*probev1.GetInfoResponse, error) {
		info := &probev1.GetInfoResponse{}
		for _, name := range []string{"connect", "read", "write"} {
			enabled := true
			for _, d := range c.Disabled {
				enabled = enabled && d != name
			}
			info.Events = append(info.Events, &probev1.EventDescriptor{Name: name, Enabled: enabled})
		}
		return info, nil
	}
	return fakeprobe.Start(t, svc)
}

// TestSameFlags checks that the command has the flags of
// clients/testdata/cli.json, which the Python command's tests check too.
func TestSameFlags(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("..", "..", "..", "testdata", "cli.json"))
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Flags []string `json:"flags"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	var opts options
	ran := false
	cmd := newCommand(&opts, &ran, io.Discard, io.Discard)
	var have []string
	cmd.LocalFlags().VisitAll(func(f *pflag.Flag) { have = append(have, "--"+f.Name) })
	sort.Strings(have)
	want := append([]string(nil), doc.Flags...)
	sort.Strings(want)
	if strings.Join(have, " ") != strings.Join(want, " ") {
		t.Errorf("flags %v\nwant %v", have, want)
	}
}
