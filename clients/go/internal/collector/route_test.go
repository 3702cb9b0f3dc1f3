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

func TestLabelBudget(t *testing.T) {
	routes := newLabelBudget[service](3)
	nginx := service{comm: "nginx", port: 80}
	for i, want := range []string{"/a", "/b", "/c", OtherValue, OtherValue} {
		if got := routes.admit(nginx, templateRoute(fmt.Sprintf("/%c?i=%d", 'a'+i, i))); got != want {
			t.Errorf("route %d = %q, want %q", i, got, want)
		}
	}
	// Values seen before the limit stay themselves.
	if got := routes.admit(nginx, "/b"); got != "/b" {
		t.Errorf("a known route became %q", got)
	}
	// The limit is per program and port.
	if got := routes.admit(service{comm: "nginx", port: 8080}, "/z"); got != "/z" {
		t.Errorf("another port's route became %q", got)
	}
	if got := routes.admit(service{comm: "envoy", port: 80}, "/z"); got != "/z" {
		t.Errorf("another program's route became %q", got)
	}
}

func TestLabelBudgetForgetsTheOldestScope(t *testing.T) {
	b := newLabelBudget[int](1)
	b.admit(0, "x")
	for scope := 1; scope < maxScopes; scope++ {
		b.admit(scope, "x")
	}
	if got := b.admit(0, "y"); got != OtherValue {
		t.Errorf("scope 0 forgotten too early: %q", got)
	}
	b.admit(maxScopes, "x") // one scope too many: scope 0 goes
	if got := b.admit(0, "y"); got != "y" || len(b.seen) != maxScopes || len(b.order) != maxScopes {
		t.Errorf("scope 0 kept: %q, %d scopes", got, len(b.seen))
	}
}
