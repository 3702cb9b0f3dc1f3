package collector

import "strings"

// templateRoute turns a request target into a route with bounded
// cardinality: the path alone (no query or fragment), each segment that
// looks like an id (all digits, hexadecimal of 8 or more digits, or a
// UUID) replaced by "*". An empty path is "/".
func templateRoute(target string) string {
	path := target
	if i := strings.Index(path, "://"); i >= 0 && !strings.ContainsAny(path[:i], "/?#") {
		// absolute-form (a request to a proxy): the path after the authority
		rest := path[i+3:]
		if j := strings.IndexAny(rest, "/?#"); j >= 0 {
			path = rest[j:]
		} else {
			path = ""
		}
	}
	if i := strings.IndexAny(path, "?#"); i >= 0 {
		path = path[:i]
	}
	if path == "" {
		return "/"
	}
	// Most paths have no id: they are returned as they are, unbuilt.
	var b strings.Builder
	last := 0 // path[:last] is in b, or needs no change
	for start := 0; start <= len(path); {
		end := strings.IndexByte(path[start:], '/')
		if end < 0 {
			end = len(path)
		} else {
			end += start
		}
		if looksLikeID(path[start:end]) {
			if b.Len() == 0 {
				b.Grow(len(path))
			}
			b.WriteString(path[last:start])
			b.WriteByte('*')
			last = end
		}
		start = end + 1
	}
	if last == 0 {
		return path
	}
	b.WriteString(path[last:])
	return b.String()
}

// looksLikeID says a path segment is an id rather than a name.
func looksLikeID(s string) bool {
	if s == "" {
		return false
	}
	digits, hex := true, true
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			digits = false
			if !(c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
				hex = false
			}
		}
	}
	return digits || hex && len(s) >= 8 || isUUID(s)
}

// isUUID says s is a UUID in its 8-4-4-4-12 hexadecimal form.
func isUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if i == 8 || i == 13 || i == 18 || i == 23 {
			if c != '-' {
				return false
			}
		} else if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
			return false
		}
	}
	return true
}

// service is what the route and peer budgets apply to: one program on
// one port.
type service struct {
	comm string
	port uint32
}
