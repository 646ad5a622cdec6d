package api_test

import (
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/gopherops/gopherops/service/internal/accounts"
	"github.com/gopherops/gopherops/service/internal/apptest"
	"github.com/gopherops/gopherops/service/internal/throttle"
)

func TestLoginThrottlePerAccount(t *testing.T) {
	e := apptest.New(t)
	e.CreateUser("target", accounts.RoleUser)
	c := e.Anon()
	for i := 1; i <= 5; i++ {
		r := c.Do("POST", "/api/v1/auth/tokens", map[string]any{"login": "target", "password": "guess-number-" + strconv.Itoa(i) + "-xxxx"}, nil)
		apptest.ExpectProblem(t, r, http.StatusUnauthorized)
	}
	// Locked now: even the right password is refused, with a Retry-After.
	r := c.Do("POST", "/api/v1/auth/tokens", map[string]any{"login": "target", "password": apptest.UserPassword}, nil)
	apptest.ExpectProblem(t, r, http.StatusTooManyRequests)
	if secs, err := strconv.Atoi(r.Header.Get("Retry-After")); err != nil || secs < 1 || secs > 61 {
		t.Fatalf("Retry-After %q, want 1..61 seconds", r.Header.Get("Retry-After"))
	}
	// Other accounts are not affected.
	if r := c.Do("POST", "/api/v1/auth/tokens", map[string]any{"login": "root", "password": apptest.RootPassword}, nil); r.Status != 201 {
		t.Fatalf("another account was locked too: %d", r.Status)
	}
	// The failures were counted in the metrics.
	if got := counterValue(t, e, "gopherops_login_attempts_total", "failure"); got < 5 {
		t.Fatalf("failure counter %v, want >= 5", got)
	}
}

func TestLoginThrottlePerClient(t *testing.T) {
	e := apptest.New(t, apptest.Options{Limiter: throttle.New(time.Hour, 3)})
	c := e.Anon()
	for i := 0; i < 3; i++ {
		apptest.ExpectProblem(t, c.Do("POST", "/api/v1/auth/tokens", map[string]any{"login": "nobody-" + strconv.Itoa(i), "password": "whatever-whatever"}, nil), 401)
	}
	// The fourth attempt from the same address is refused before any password check.
	r := c.Do("POST", "/api/v1/auth/tokens", map[string]any{"login": "root", "password": apptest.RootPassword}, nil)
	apptest.ExpectProblem(t, r, http.StatusTooManyRequests)
	if r.Header.Get("Retry-After") == "" {
		t.Fatal("no Retry-After")
	}
}

func counterValue(t *testing.T, e *apptest.Env, name, label string) float64 {
	t.Helper()
	mfs, err := e.Metrics.Registry.Gather()
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
