package collector

import (
	"bytes"
	"strconv"
)

// HTTP/1.x: request lines ("METHOD SP target SP HTTP/1.x"), status lines
// ("HTTP/1.x SP code") and, to find the next message in the same payload,
// the header block's end and the body's length. A payload is the first
// bytes of one read or write, often cut by the probe's snaplen, so parsing
// stops at the first thing it cannot be sure of.

// knownMethods are reported as themselves; any other method becomes
// "_OTHER", as OpenTelemetry's semantic conventions ask, so that junk cannot
// grow the label set.
var knownMethods = map[string]bool{
	"GET": true, "HEAD": true, "POST": true, "PUT": true, "DELETE": true,
	"CONNECT": true, "OPTIONS": true, "TRACE": true, "PATCH": true, "QUERY": true,
}

// httpRequest is a parsed request line.
type httpRequest struct {
	method string // as sent
	target string // undecoded
}

// reportedMethod is the method as a metric attribute.
func (r httpRequest) reportedMethod() string {
	if knownMethods[r.method] {
		return r.method
	}
	return "_OTHER"
}

// httpResponse is a parsed status line.
type httpResponse struct {
	status int
}

// interim says the response is a 1xx other than 101: the final response
// to the same request is still to come.
func (r httpResponse) interim() bool {
	return r.status >= 100 && r.status < 200 && r.status != 101
}

// parseRequestLine parses the request line that starts p. It returns the
// offset after the line (len(p) when cut), and ok false when p does not
// start with a request line. cut says p is shorter than what the call
// moved: then a line the payload ends inside is accepted once its target
// has begun.
func parseRequestLine(p []byte, cut bool) (req httpRequest, end int, ok bool) {
	i := 0
	for i < len(p) && i < 20 && (p[i] >= 'A' && p[i] <= 'Z' || i > 0 && (p[i] == '_' || p[i] == '-')) {
		i++
	}
	if i == 0 || i >= len(p) || p[i] != ' ' {
		return httpRequest{}, 0, false
	}
	method := string(p[:i])
	j := i + 1
	for j < len(p) && p[j] >= 0x21 && p[j] <= 0x7e {
		j++
	}
	if j == i+1 {
		return httpRequest{}, 0, false
	}
	target := string(p[i+1 : j])
	n, ok := versionEnd(p[j:], cut)
	if !ok {
		return httpRequest{}, 0, false
	}
	return httpRequest{method, target}, j + n, true
}

// requestLineEnds are the ways a request line goes on after its target.
var requestLineEnds = [][]byte{
	[]byte(" HTTP/1.1\r\n"), []byte(" HTTP/1.0\r\n"), []byte(" HTTP/1.1\n"), []byte(" HTTP/1.0\n"),
}

// versionEnd returns the length of the version and line end that start
// rest, which runs to the payload's end: when cut, the payload may end
// inside them.
func versionEnd(rest []byte, cut bool) (int, bool) {
	for _, end := range requestLineEnds {
		if bytes.HasPrefix(rest, end) {
			return len(end), true
		}
		if cut && len(rest) < len(end) && bytes.HasPrefix(end, rest) {
			return len(rest), true
		}
	}
	return 0, false
}

// parseStatusLine parses the status line that starts p and returns the
// offset after the line (len(p) when the payload ends inside it).
func parseStatusLine(p []byte) (resp httpResponse, end int, ok bool) {
	const prefix = "HTTP/1."
	if len(p) < len(prefix)+5 || !bytes.HasPrefix(p, []byte(prefix)) {
		return httpResponse{}, 0, false
	}
	if v := p[len(prefix)]; v != '0' && v != '1' || p[len(prefix)+1] != ' ' {
		return httpResponse{}, 0, false
	}
	code := p[len(prefix)+2 : len(prefix)+5]
	if code[0] < '1' || code[0] > '5' || !isDigit(code[1]) || !isDigit(code[2]) {
		return httpResponse{}, 0, false
	}
	after := len(prefix) + 5
	if after < len(p) && p[after] != ' ' && p[after] != '\r' && p[after] != '\n' {
		return httpResponse{}, 0, false
	}
	status, _ := strconv.Atoi(string(code))
	end = len(p)
	if nl := bytes.IndexByte(p[after:], '\n'); nl >= 0 {
		end = after + nl + 1
	}
	return httpResponse{status}, end, true
}

// looksLikeRequest says p starts with a known method and a space, so that a
// request line that fails to parse is a parse error rather than another
// protocol.
func looksLikeRequest(p []byte) bool {
	sp := bytes.IndexByte(p, ' ')
	return sp > 0 && knownMethods[string(p[:sp])]
}

// looksLikeResponse says p starts like a status line.
func looksLikeResponse(p []byte) bool {
	return bytes.HasPrefix(p, []byte("HTTP/"))
}

// nextMessage returns the offset of the message after the one whose
// headers start at p[start:] (just after its start line), or -1 when it is
// not known: the headers or the body go past the payload, or the body's
// length is not given by Content-Length. noBody says the message has no
// body whatever its headers say (a response to HEAD, a 1xx, 204 or 304); a
// response without Content-Length otherwise runs until the connection
// closes, a request's has no body.
func nextMessage(p []byte, start int, response, noBody bool) int {
	headers := p[start:]
	length := -1
	for {
		nl := bytes.IndexByte(headers, '\n')
		if nl < 0 {
			return -1 // the headers go past the payload
		}
		line := bytes.TrimRight(headers[:nl], "\r")
		headers = headers[nl+1:]
		if len(line) == 0 {
			break // the blank line that ends the headers
		}
		name, value, found := bytes.Cut(line, []byte(":"))
		if !found {
			return -1
		}
		value = bytes.TrimSpace(value)
		switch {
		case bytes.EqualFold(name, []byte("Content-Length")):
			n, err := strconv.Atoi(string(value))
			if err != nil || n < 0 {
				return -1
			}
			length = n
		case bytes.EqualFold(name, []byte("Transfer-Encoding")):
			if !noBody {
				return -1 // chunked: the body's end is inside it
			}
		}
	}
	switch {
	case noBody:
		length = 0
	case length < 0 && response:
		return -1
	case length < 0:
		length = 0
	}
	next := len(p) - len(headers) + length
	if next >= len(p) {
		return -1
	}
	return next
}

func isDigit(b byte) bool { return b >= '0' && b <= '9' }
