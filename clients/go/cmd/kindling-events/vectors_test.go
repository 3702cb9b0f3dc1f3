package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

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
			switch c.Socket {
			case "none":
			case "missing":
				socket = filepath.Join(t.TempDir(), "missing.sock")
			case "stale":
				socket = fakeprobe.StaleSocket(t)
			case "file":
				socket, _ = filepath.Abs("vectors_test.go")
			case "service":
				socket = fakeService(t, c).Socket
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
		})
	}
}

// fakeService starts the fake service a "service" case describes.
func fakeService(t *testing.T, c cliCase) *fakeprobe.Server {
	svc := &fakeprobe.Service{SubscribeFunc: sendThenWait(batch(event(1, "connect", 42)))}
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
