package collector

import (
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

// The parser and route vectors of clients/testdata/collector.json, which the
// Python collector's tests read too: both collectors must read the same
// bytes alike.

// vectorPayload is a payload as the vectors write it: a JSON string whose
// characters U+0000 to U+00FF stand for one byte each, or hex.
type vectorPayload struct {
	Payload    *string `json:"payload"`
	PayloadHex string  `json:"payload_hex"`
	Cut        bool    `json:"cut"`
}

func (v vectorPayload) bytes(t *testing.T) []byte {
	if v.Payload == nil {
		b, err := hex.DecodeString(v.PayloadHex)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	var out []byte
	for _, r := range *v.Payload {
		if r > 0xff {
			t.Fatalf("payload character %U is not a byte", r)
		}
		out = append(out, byte(r))
	}
	return out
}

type collectorVectors struct {
	HTTPRequests []struct {
		Name string `json:"name"`
		vectorPayload
		Expect *struct {
			Method         string `json:"method"`
			Target         string `json:"target"`
			ReportedMethod string `json:"reported_method"`
		} `json:"expect"`
	} `json:"http_requests"`
	HTTPResponses []struct {
		Name string `json:"name"`
		vectorPayload
		Expect *struct {
			Status int `json:"status"`
		} `json:"expect"`
	} `json:"http_responses"`
	Routes []struct {
		Target string `json:"target"`
		Expect string `json:"expect"`
	} `json:"routes"`
	RouteLimits []struct {
		Name     string `json:"name"`
		Limit    int    `json:"limit"`
		Requests []struct {
			Target     string `json:"target"`
			Executable string `json:"executable"`
			ServerPort uint32 `json:"server_port"`
		} `json:"requests"`
		Expect []string `json:"expect"`
	} `json:"route_limits"`
}

func readVectors(t *testing.T) collectorVectors {
	data, err := os.ReadFile(filepath.Join("..", "..", "..", "testdata", "collector.json"))
	if err != nil {
		t.Fatal(err)
	}
	var v collectorVectors
	if err := json.Unmarshal(data, &v); err != nil {
		t.Fatal(err)
	}
	return v
}

func TestSharedHTTPVectors(t *testing.T) {
	v := readVectors(t)
	if len(v.HTTPRequests) == 0 || len(v.HTTPResponses) == 0 {
		t.Fatal("no HTTP vectors")
	}
	for _, c := range v.HTTPRequests {
		req, _, ok := parseRequestLine(c.bytes(t), c.Cut)
		switch {
		case c.Expect == nil && ok:
			t.Errorf("%s: parsed %+v, want no request", c.Name, req)
		case c.Expect != nil && (!ok || req.method != c.Expect.Method || req.target != c.Expect.Target ||
			req.reportedMethod() != c.Expect.ReportedMethod):
			t.Errorf("%s: parsed %+v (%v), want %+v", c.Name, req, ok, *c.Expect)
		}
	}
	for _, c := range v.HTTPResponses {
		resp, _, ok := parseStatusLine(c.bytes(t))
		switch {
		case c.Expect == nil && ok:
			t.Errorf("%s: parsed %+v, want no response", c.Name, resp)
		case c.Expect != nil && (!ok || resp.status != c.Expect.Status):
			t.Errorf("%s: parsed %+v (%v), want status %d", c.Name, resp, ok, c.Expect.Status)
		}
	}
}

func TestSharedRouteVectors(t *testing.T) {
	v := readVectors(t)
	if len(v.Routes) == 0 || len(v.RouteLimits) == 0 {
		t.Fatal("no route vectors")
	}
	for _, c := range v.Routes {
		if got := templateRoute(c.Target); got != c.Expect {
			t.Errorf("templateRoute(%q) = %q, want %q", c.Target, got, c.Expect)
		}
	}
	for _, c := range v.RouteLimits {
		routes := newLabelBudget[service](c.Limit)
		var got []string
		for _, r := range c.Requests {
			got = append(got, routes.admit(service{comm: r.Executable, port: r.ServerPort}, templateRoute(r.Target)))
		}
		if len(got) != len(c.Expect) {
			t.Fatalf("%s: %v, want %v", c.Name, got, c.Expect)
		}
		for i := range got {
			if got[i] != c.Expect[i] {
				t.Errorf("%s: %v, want %v", c.Name, got, c.Expect)
				break
			}
		}
	}
}
