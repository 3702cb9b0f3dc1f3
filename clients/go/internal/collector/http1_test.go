package collector

import "testing"

func TestParseRequestLine(t *testing.T) {
	cases := []struct {
		name     string
		payload  string
		cut      bool
		ok       bool
		method   string
		reported string
		target   string
		end      int
	}{
		{"get", "GET /users/1 HTTP/1.1\r\nHost: x\r\n\r\n", false, true, "GET", "GET", "/users/1", 23},
		{"http/1.0 with a bare newline", "POST /a HTTP/1.0\nHost: x\n\n", false, true, "POST", "POST", "/a", 17},
		{"absolute form", "GET http://example.com/x?y HTTP/1.1\r\n", false, true, "GET", "GET", "http://example.com/x?y", 37},
		{"unknown method is _OTHER", "PURGE /cache HTTP/1.1\r\n", false, true, "PURGE", "_OTHER", "/cache", 23},
		{"webdav method with a dash", "VERSION-CONTROL /a HTTP/1.1\r\n", false, true, "VERSION-CONTROL", "_OTHER", "/a", 29},
		{"query method", "QUERY /q HTTP/1.1\r\n", false, true, "QUERY", "QUERY", "/q", 19},
		{"cut inside the target", "GET /very/long/pa", true, true, "GET", "GET", "/very/long/pa", 17},
		{"cut inside the version", "GET /a HTTP/1", true, true, "GET", "GET", "/a", 13},
		{"cut after the carriage return", "GET /a HTTP/1.1\r", true, true, "GET", "GET", "/a", 16},
		{"not cut: the line must end", "GET /very/long/pa", false, false, "", "", "", 0},
		{"lower-case method", "get / HTTP/1.1\r\n", false, false, "", "", "", 0},
		{"HTTP/2 preface", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", false, false, "", "", "", 0},
		{"two spaces", "GET  / HTTP/1.1\r\n", false, false, "", "", "", 0},
		{"no target", "GET HTTP/1.1\r\n", false, false, "", "", "", 0},
		{"binary", "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", false, false, "", "", "", 0},
		{"a response is not a request", "HTTP/1.1 200 OK\r\n", false, false, "", "", "", 0},
		{"method too long", "ABCDEFGHIJKLMNOPQRSTU / HTTP/1.1\r\n", false, false, "", "", "", 0},
		{"redis inline command", "PING\r\n", false, false, "", "", "", 0},
		{"cut: what follows must begin the version", "GET /a XTTP", true, false, "", "", "", 0},
		{"empty", "", true, false, "", "", "", 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			req, end, ok := parseRequestLine([]byte(c.payload), c.cut)
			if ok != c.ok {
				t.Fatalf("ok = %v, want %v", ok, c.ok)
			}
			if !ok {
				return
			}
			if req.method != c.method || req.reportedMethod() != c.reported || req.target != c.target || end != c.end {
				t.Errorf("got %+v (reported %s) end %d, want %s (%s) %s end %d",
					req, req.reportedMethod(), end, c.method, c.reported, c.target, c.end)
			}
		})
	}
}

func TestParseStatusLine(t *testing.T) {
	cases := []struct {
		name    string
		payload string
		ok      bool
		status  int
		interim bool
	}{
		{"200", "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", true, 200, false},
		{"404 over HTTP/1.0", "HTTP/1.0 404 Not Found\r\n", true, 404, false},
		{"no reason phrase", "HTTP/1.1 204\r\n\r\n", true, 204, false},
		{"cut after the code", "HTTP/1.1 503", true, 503, false},
		{"100 Continue is interim", "HTTP/1.1 100 Continue\r\n\r\n", true, 100, true},
		{"101 is final", "HTTP/1.1 101 Switching Protocols\r\n", true, 101, false},
		{"code too long", "HTTP/1.1 2000 OK\r\n", false, 0, false},
		{"code out of range", "HTTP/1.1 600 Odd\r\n", false, 0, false},
		{"HTTP/2", "HTTP/2 200\r\n", false, 0, false},
		{"lower case", "http/1.1 200 OK\r\n", false, 0, false},
		{"too short", "HTTP/1.1 20", false, 0, false},
		{"body", "hello", false, 0, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			resp, _, ok := parseStatusLine([]byte(c.payload))
			if ok != c.ok || ok && (resp.status != c.status || resp.interim() != c.interim) {
				t.Errorf("got %+v ok %v (interim %v), want status %d ok %v (interim %v)",
					resp, ok, resp.interim(), c.status, c.ok, c.interim)
			}
		})
	}
}

func TestLooksLike(t *testing.T) {
	if !looksLikeRequest([]byte("GET /\x00 HTTP/1.1")) || looksLikeRequest([]byte("HELLO world")) {
		t.Error("looksLikeRequest")
	}
	if !looksLikeResponse([]byte("HTTP/9 x")) || looksLikeResponse([]byte("HTTX")) {
		t.Error("looksLikeResponse")
	}
}

func TestNextMessage(t *testing.T) {
	const two = "GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\n\r\n"
	cases := []struct {
		name     string
		payload  string
		response bool
		noBody   bool
		want     int
	}{
		{"request without a body", two, false, false, 28},
		{"request with a body", "POST /a HTTP/1.1\r\ncontent-length: 5\r\n\r\nhelloGET /b HTTP/1.1\r\n", false, false, 44},
		{"the body goes past the payload", "POST /a HTTP/1.1\r\nContent-Length: 500\r\n\r\nhel", false, false, -1},
		{"headers go past the payload", "GET /a HTTP/1.1\r\nHost: x\r\n", false, false, -1},
		{"chunked", "POST /a HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n", false, false, -1},
		{"bad length", "POST /a HTTP/1.1\r\nContent-Length: -1\r\n\r\nx", false, false, -1},
		{"header without a colon", "GET /a HTTP/1.1\r\nnonsense\r\n\r\nGET", false, false, -1},
		{"response with a length", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokHTTP/1.1 404 No\r\n", true, false, 40},
		{"response until the close", "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nokHTTP/1.1", true, false, -1},
		{"response to HEAD", "HTTP/1.1 200 OK\r\nContent-Length: 1400\r\n\r\nHTTP/1.1 200 OK\r\n", true, true, 41},
		{"nothing after", "HTTP/1.1 204 No Content\r\n\r\n", true, true, -1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := []byte(c.payload)
			var end int
			if c.response {
				_, end, _ = parseStatusLine(p)
			} else {
				_, end, _ = parseRequestLine(p, false)
			}
			if got := nextMessage(p, end, c.response, c.noBody); got != c.want {
				t.Errorf("nextMessage = %d, want %d", got, c.want)
			}
		})
	}
}
