package httpapi_test

import (
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/gopherops/gopherops/service/internal/accounts"
	"github.com/gopherops/gopherops/service/internal/throttle"
)

func TestLoginThrottlePerAccount(t *testing.T) {
	e := newEnv(t)
	e.createUser("target", accounts.RoleUser)
	c := e.anon()
	for i := 1; i <= 5; i++ {
		r := c.do("POST", "/api/v1/auth/tokens", map[string]any{"login": "target", "password": "guess-number-" + strconv.Itoa(i) + "-xxxx"}, nil)
		expectProblem(t, r, http.StatusUnauthorized)
	}
	// Locked now: even the right password is refused, with a Retry-After.
	r := c.do("POST", "/api/v1/auth/tokens", map[string]any{"login": "target", "password": userPassword}, nil)
	expectProblem(t, r, http.StatusTooManyRequests)
	if secs, err := strconv.Atoi(r.header.Get("Retry-After")); err != nil || secs < 1 || secs > 61 {
		t.Fatalf("Retry-After %q, want 1..61 seconds", r.header.Get("Retry-After"))
	}
	// Other accounts are not affected.
	if r := c.do("POST", "/api/v1/auth/tokens", map[string]any{"login": "root", "password": rootPassword}, nil); r.status != 201 {
		t.Fatalf("another account was locked too: %d", r.status)
	}
	// The failures were counted in the metrics.
	if got := counterValue(t, e, "gopherops_login_attempts_total", "failure"); got < 5 {
		t.Fatalf("failure counter %v, want >= 5", got)
	}
}

func TestLoginThrottlePerClient(t *testing.T) {
	e := newEnv(t, envOptions{limiter: throttle.New(time.Hour, 3)})
	c := e.anon()
	for i := 0; i < 3; i++ {
		expectProblem(t, c.do("POST", "/api/v1/auth/tokens", map[string]any{"login": "nobody-" + strconv.Itoa(i), "password": "whatever-whatever"}, nil), 401)
	}
	// The fourth attempt from the same address is refused before any password check.
	r := c.do("POST", "/api/v1/auth/tokens", map[string]any{"login": "root", "password": rootPassword}, nil)
	expectProblem(t, r, http.StatusTooManyRequests)
	if r.header.Get("Retry-After") == "" {
		t.Fatal("no Retry-After")
	}
}

func counterValue(t *testing.T, e *env, name, label string) float64 {
	t.Helper()
	mfs, err := e.metrics.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				if lp.GetValue() == label {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	return 0
}
