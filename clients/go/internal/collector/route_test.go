package collector

import (
	"fmt"
	"testing"
)

func TestTemplateRoute(t *testing.T) {
	cases := []struct{ target, want string }{
		{"/users/123/orders/deadbeef00?x=1", "/users/*/orders/*"},
		{"/", "/"},
		{"", "/"},
		{"?q=1", "/"},
		{"/search?q=1#top", "/search"},
		{"/page#section", "/page"},
		{"/items/550e8400-e29b-41d4-a716-446655440000", "/items/*"},
		{"/items/550E8400-E29B-41D4-A716-446655440000/x", "/items/*/x"},
		{"/v1/abc", "/v1/abc"},         // short hex-looking word stays
		{"/v1/cafebabe", "/v1/*"},      // 8 hex digits
		{"/v1/cafebab", "/v1/cafebab"}, // 7
		{"/v1/12ab", "/v1/12ab"},       // mixed, short
		{"/api/2024/", "/api/*/"},      // trailing slash kept
		{"/a//b", "/a//b"},             // empty segments kept
		{"/files/report.pdf", "/files/report.pdf"},
		{"/u/550e8400e29b41d4a716446655440000", "/u/*"}, // UUID without dashes: 32 hex digits
		{"/u/550e8400-e29b-41d4-a716-44665544000g", "/u/550e8400-e29b-41d4-a716-44665544000g"},
		{"http://example.com/users/7?x", "/users/*"},
		{"http://example.com", "/"},
		{"http://example.com?x=1", "/"},
		{"/redirect?to=http://x/1", "/redirect"},
		{"*", "*"},
		{"/%E2%82%AC/1", "/%E2%82%AC/*"},
	}
	for _, c := range cases {
		if got := templateRoute(c.target); got != c.want {
			t.Errorf("templateRoute(%q) = %q, want %q", c.target, got, c.want)
		}
	}
}

func TestRouteLimit(t *testing.T) {
	l := newRouteLimiter(3)
	nginx := service{comm: "nginx", port: 80}
	for i, want := range []string{"/a", "/b", "/c", OtherRoute, OtherRoute} {
		if got := l.route(nginx, fmt.Sprintf("/%c?i=%d", 'a'+i, i)); got != want {
			t.Errorf("route %d = %q, want %q", i, got, want)
		}
	}
	// Routes seen before the limit stay themselves; ids collapse first.
	if got := l.route(nginx, "/b"); got != "/b" {
		t.Errorf("a known route became %q", got)
	}
	// The limit is per program and port.
	if got := l.route(service{comm: "nginx", port: 8080}, "/z"); got != "/z" {
		t.Errorf("another port's route became %q", got)
	}
	if got := l.route(service{comm: "envoy", port: 80}, "/z"); got != "/z" {
		t.Errorf("another program's route became %q", got)
	}
	if got := newRouteLimiter(0).max; got != DefaultMaxRoutes {
		t.Errorf("default limit %d", got)
	}
}
