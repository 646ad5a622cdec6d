package web

import (
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/gopherops/gopherops/service/internal/accounts"
	"github.com/gopherops/gopherops/service/internal/observability"
)

// The hardening headers, written out here rather than read from the
// package, so that a change to any of them is a change to this test too.
var (
	wantBrowserHeaders = map[string]string{
		"Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
			"connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
		"X-Content-Type-Options":       "nosniff",
		"Referrer-Policy":              "same-origin",
		"X-Frame-Options":              "DENY",
		"Cross-Origin-Opener-Policy":   "same-origin",
		"Cross-Origin-Resource-Policy": "same-origin",
		"Permissions-Policy":           "camera=(), microphone=(), geolocation=(), interest-cohort=()",
	}
	wantAPIHeaders = map[string]string{
		"Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'",
		"X-Content-Type-Options":  "nosniff",
		"Cache-Control":           "no-store",
	}
	wantHSTS = "max-age=63072000; includeSubDomains"
)

// TestSecurityHeaders: each group answers with exactly its set of headers,
// one value each, and HSTS only when asked (production); a handler that adds
// to one of them changes its own answer, never the next one's.
func TestSecurityHeaders(t *testing.T) {
	gin.SetMode(gin.TestMode)
	tests := []struct {
		name string
		mw   gin.HandlerFunc
		want map[string]string
	}{
		{"browser", BrowserHeaders(false), wantBrowserHeaders},
		{"browser with HSTS", BrowserHeaders(true), withHSTS(wantBrowserHeaders)},
		{"API", APIHeaders(false), wantAPIHeaders},
		{"API with HSTS", APIHeaders(true), withHSTS(wantAPIHeaders)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := gin.New()
			r.GET("/plain", tt.mw, func(c *gin.Context) { c.Status(http.StatusNoContent) })
			r.GET("/adds", tt.mw, func(c *gin.Context) {
				// Add appends to the prepared slice: it must not be the
				// package's own.
				c.Writer.Header().Add("X-Content-Type-Options", "extra")
				c.Writer.Header().Add("Content-Security-Policy", "extra")
				c.Status(http.StatusNoContent)
			})
			for range 2 {
				w := httptest.NewRecorder()
				r.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/plain", nil))
				got := map[string]string{}
				for k, v := range w.Header() {
					if len(v) != 1 {
						t.Fatalf("%s: %q, want one value", k, v)
					}
					got[k] = v[0]
				}
				if !maps.Equal(got, tt.want) {
					t.Fatalf("headers\n%v\nwant\n%v", got, tt.want)
				}
				w = httptest.NewRecorder()
				r.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/adds", nil))
				if v := w.Header().Values("X-Content-Type-Options"); !slices.Equal(v, []string{"nosniff", "extra"}) {
					t.Fatalf("after Add: %q", v)
				}
			}
		})
	}
}

func withHSTS(h map[string]string) map[string]string {
	out := maps.Clone(h)
	out["Strict-Transport-Security"] = wantHSTS
	return out
}

// TestWantsHTML: a page for a browser outside the API, a problem document
// for everything else.
func TestWantsHTML(t *testing.T) {
	const browser = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
	tests := []struct {
		path, accept string
		want         bool
	}{
		{"/users", browser, true},
		{"/", "text/html", true},
		{"/users", "application/json", false},
		{"/users", "", false},
		{"/users", "*/*", false},
		{"/api/v1/users", browser, false},
		{"/api/", "text/html", false},
		{"/apis", "text/html", true},
	}
	for _, tt := range tests {
		t.Run(tt.path+" "+tt.accept, func(t *testing.T) {
			req := httptest.NewRequest(http.MethodGet, tt.path, nil)
			if tt.accept != "" {
				req.Header.Set("Accept", tt.accept)
			}
			c, _ := testContext(t, req)
			if got := WantsHTML(c); got != tt.want {
				t.Fatalf("WantsHTML = %v, want %v", got, tt.want)
			}
		})
	}
}

// TestCountLogin: each sign-in outcome is counted under its own result,
// the error found however deeply it is wrapped.
func TestCountLogin(t *testing.T) {
	tests := []struct {
		name   string
		err    error
		result string
	}{
		{"success", nil, "success"},
		{"throttled", fmt.Errorf("login: %w", &accounts.ThrottledError{RetryAfter: time.Minute}), "throttled"},
		{"disabled", fmt.Errorf("login: %w", accounts.ErrAccountDisabled), "disabled"},
		{"wrong password", accounts.ErrBadCredentials, "failure"},
		{"anything else", errors.New("database down"), "failure"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := observability.NewMetrics()
			CountLogin(m, tt.err)
			CountLogin(m, tt.err)
			for _, result := range []string{"success", "failure", "throttled", "disabled"} {
				want := 0.0
				if result == tt.result {
					want = 2
				}
				got := 0.0
				if s := series(t, m, "gopherops_login_attempts_total", map[string]string{"result": result}); len(s) == 1 {
					got = s[0].value
				}
				if got != want {
					t.Errorf("%s counted %v, want %v", result, got, want)
				}
			}
		})
	}
}

// TestClientIP: the address WithRequestID worked out once, else gin's (a
// router without it, or a record started without an address).
func TestClientIP(t *testing.T) {
	gin.SetMode(gin.TestMode)
	seen := func(c *gin.Context) { c.String(http.StatusOK, "%s", ClientIP(c)) }
	tests := []struct {
		name  string
		front []gin.HandlerFunc
		want  string
	}{
		{"no record: gin's", nil, "192.0.2.1"},
		{"a record without an address: gin's", []gin.HandlerFunc{func(c *gin.Context) { SetSession(c, "s") }}, "192.0.2.1"},
		{"the record's, worked out once", []gin.HandlerFunc{WithRequestID(), func(c *gin.Context) {
			c.Request.RemoteAddr = "198.51.100.7:1234" // too late to count
		}}, "192.0.2.1"},
		{"the actor's when it started the record", []gin.HandlerFunc{func(c *gin.Context) {
			SetActor(c, accounts.Actor{ClientIP: "203.0.113.9"})
		}}, "203.0.113.9"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := gin.New()
			if err := r.SetTrustedProxies(nil); err != nil {
				t.Fatal(err)
			}
			r.GET("/", append(tt.front, seen)...)
			req := httptest.NewRequest(http.MethodGet, "/", nil)
			req.RemoteAddr = "192.0.2.1:5555"
			w := httptest.NewRecorder()
			r.ServeHTTP(w, req)
			if w.Body.String() != tt.want {
				t.Fatalf("ClientIP = %q, want %q", w.Body, tt.want)
			}
		})
	}
}

// TestRecordWithoutRequestID: on a router without WithRequestID (a test's),
// the first of SetSession and SetActor starts the record and the other
// joins it.
func TestRecordWithoutRequestID(t *testing.T) {
	c, _ := testContext(t, httptest.NewRequest(http.MethodGet, "/", nil))
	if _, ok := Actor(c); ok {
		t.Fatal("signed in before SetActor")
	}
	if _, ok := SessionSecret(c); ok {
		t.Fatal("a session before SetSession")
	}
	SetSession(c, "gos_secret")
	SetActor(c, accounts.Actor{User: accounts.User{ID: 9}, ClientIP: "203.0.113.9"})
	a, ok := Actor(c)
	secret, hasSession := SessionSecret(c)
	if !ok || a.User.ID != 9 || !hasSession || secret != "gos_secret" || RequestID(c) != "" {
		t.Fatalf("actor %+v (%v), session %q (%v), id %q", a, ok, secret, hasSession, RequestID(c))
	}
}

// TestAnonymousActor: who a request is before signing in, for the audit
// trail: its id, address and browser, and no user.
func TestAnonymousActor(t *testing.T) {
	gin.SetMode(gin.TestMode)
	var got accounts.Actor
	r := gin.New()
	if err := r.SetTrustedProxies(nil); err != nil {
		t.Fatal(err)
	}
	r.POST("/login", WithRequestID(), func(c *gin.Context) { got = AnonymousActor(c) })
	req := httptest.NewRequest(http.MethodPost, "/login", nil)
	req.RemoteAddr = "192.0.2.1:5555"
	req.Header.Set("X-Request-ID", "req-1")
	req.Header.Set("User-Agent", "curl/8")
	r.ServeHTTP(httptest.NewRecorder(), req)
	if got.RequestID != "req-1" || got.ClientIP != "192.0.2.1" || got.UserAgent != "curl/8" || got.User.ID != 0 || got.SessionID != 0 {
		t.Fatalf("anonymous actor %+v", got)
	}
}

// TestRouteInstrumentsCached: the children of a (method, route, status)
// are looked up once and reused; another status is another series.
func TestRouteInstrumentsCached(t *testing.T) {
	m := observability.NewMetrics()
	ri := newRouteInstruments(m)
	total1, dur1 := ri.get("GET", "/api/v1/me", 200)
	total2, dur2 := ri.get("GET", "/api/v1/me", 200)
	other, _ := ri.get("GET", "/api/v1/me", 404)
	if total1 != total2 || dur1 != dur2 || other == total1 {
		t.Fatal("the same key must give the same children, another status another counter")
	}
	total1.Inc()
	total2.Inc()
	other.Inc()
	if v := counterValue(t, m, "GET", "/api/v1/me", "200"); v != 2 {
		t.Fatalf("200 counted %v, want 2", v)
	}
	if v := counterValue(t, m, "GET", "/api/v1/me", "404"); v != 1 {
		t.Fatalf("404 counted %v, want 1", v)
	}
}

// TestDefaultBodyLimits: the figures its doc promises: JSON and forms from
// the small pool, 8 MiB and 32 MiB held at once, and a 1 MiB upload given
// 21 s to arrive.
func TestDefaultBodyLimits(t *testing.T) {
	l := DefaultBodyLimits()
	want := BodyLimits{SmallMax: 64 << 10, Small: 8 << 20, Large: 32 << 20,
		Wait: 2 * time.Second, Grace: 5 * time.Second, MinRate: 64 << 10}
	if l != want {
		t.Fatalf("limits %+v, want %+v", l, want)
	}
	if arrive := l.Grace + time.Duration(1<<20/l.MinRate)*time.Second; arrive != 21*time.Second {
		t.Fatalf("a 1 MiB upload has %s, want 21s", arrive)
	}
	if l.SmallMax > l.Small || l.Small > l.Large {
		t.Fatal("a small body must fit the small pool, and the small pool be the smaller")
	}
}
