package web

import (
	"bytes"
	"encoding/json"
	"errors"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/gopherops/gopherops/service/internal/accounts"
	"github.com/gopherops/gopherops/service/internal/observability"
)

// seenRequests records what the dashboard's history is told.
type seenRequests struct {
	mu  sync.Mutex
	got []seenRequest
}

type seenRequest struct {
	end     time.Time
	elapsed time.Duration
	status  int
}

func (s *seenRequests) ObserveRequest(end time.Time, elapsed time.Duration, status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.got = append(s.got, seenRequest{end, elapsed, status})
}

// TestObserveRecords: each request's access log line has exactly the fields
// it always had, in their order and with their values, and its metrics the
// same series and labels; the dashboard is told of it with the line's time.
func TestObserveRecords(t *testing.T) {
	gin.SetMode(gin.TestMode)
	var logs bytes.Buffer
	metrics := observability.NewMetrics()
	seen := &seenRequests{}
	r := gin.New()
	r.HandleMethodNotAllowed = true
	if err := r.SetTrustedProxies(nil); err != nil {
		t.Fatal(err)
	}
	r.Use(WithRequestID(), Observe(ObserveConfig{Metrics: metrics, Requests: seen,
		Logger: observability.NewLogger(&logs, slog.LevelInfo, "json")}), Recover(slog.New(slog.DiscardHandler)))
	signIn := func(c *gin.Context) {
		SetActor(c, accounts.Actor{User: accounts.User{ID: 42}, RequestID: RequestID(c), ClientIP: ClientIP(c)})
	}
	r.GET("/api/v1/users/:id", func(c *gin.Context) { c.String(http.StatusOK, "user "+c.Param("id")) })
	r.GET("/api/v1/me", signIn, func(c *gin.Context) { c.String(http.StatusOK, "me") })
	r.GET("/api/v1/broken", signIn, func(c *gin.Context) {
		_ = c.Error(errors.New("database \"down\""))
		c.String(http.StatusInternalServerError, "oops")
	})
	r.GET("/api/v1/panics", func(*gin.Context) { panic("boom") })
	r.Handle("BREW", "/api/v1/users/:id", func(c *gin.Context) { c.Status(http.StatusTeapot) })

	keysAnon := "time level msg request_id method route path status latency_ms bytes client_ip"
	tests := []struct {
		name, method, path, requestID string
		// the line's fields, in order; its request_id must be the one the
		// server sent in X-Request-Id
		keys, level, route, body string
		status                   int
		// unwritten: gin writes the answer after the middleware returns
		// (its own 404, a bare status), so the line has always said -1
		unwritten bool
		userID    float64
		errText   string
		// the series
		methodLabel, statusLabel string
	}{
		{name: "anonymous read, the caller's request id", method: "GET", path: "/api/v1/users/7", requestID: "proxy-1.a_b",
			keys: keysAnon, level: "INFO", route: "/api/v1/users/:id", body: "user 7", status: 200,
			methodLabel: "GET", statusLabel: "200"},
		{name: "signed in, a malformed request id replaced", method: "GET", path: "/api/v1/me", requestID: "bad id!",
			keys: keysAnon + " user_id", level: "INFO", route: "/api/v1/me", body: "me", status: 200, userID: 42,
			methodLabel: "GET", statusLabel: "200"},
		{name: "server error with its error", method: "GET", path: "/api/v1/broken",
			keys: keysAnon + " user_id error", level: "ERROR", route: "/api/v1/broken", body: "oops", status: 500, userID: 42,
			errText: "Error #01: database \"down\"\n", methodLabel: "GET", statusLabel: "500"},
		{name: "panic", method: "GET", path: "/api/v1/panics", keys: keysAnon, level: "ERROR", route: "/api/v1/panics",
			status: 500, methodLabel: "GET", statusLabel: "500"},
		{name: "unmatched", method: "GET", path: "/nowhere/\u2028\"x", keys: keysAnon, level: "INFO", route: "unmatched",
			status: 404, unwritten: true, methodLabel: "GET", statusLabel: "404"},
		{name: "an invented method is labelled OTHER, logged as sent", method: "BREW", path: "/api/v1/users/9",
			keys: keysAnon, level: "INFO", route: "/api/v1/users/:id", status: 418, unwritten: true, methodLabel: "OTHER", statusLabel: "418"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			logs.Reset()
			before := counterValue(t, metrics, tt.methodLabel, tt.route, tt.statusLabel)
			req := httptest.NewRequest(tt.method, tt.path, nil)
			req.RemoteAddr = "192.0.2.7:41234"
			if tt.requestID != "" {
				req.Header.Set("X-Request-ID", tt.requestID)
			}
			w := httptest.NewRecorder()
			r.ServeHTTP(w, req)
			if w.Code != tt.status || tt.body != "" && w.Body.String() != tt.body {
				t.Fatalf("status %d %q, want %d %q", w.Code, w.Body, tt.status, tt.body)
			}

			line := logs.String()
			if strings.Count(line, "\n") != 1 {
				t.Fatalf("want one line, got %q", line)
			}
			var got map[string]any
			if err := json.Unmarshal([]byte(line), &got); err != nil {
				t.Fatalf("not JSON: %q", line)
			}
			if keys := strings.Join(orderedKeys(t, line), " "); keys != tt.keys {
				t.Fatalf("keys %q, want %q", keys, tt.keys)
			}
			id := w.Header().Get("X-Request-Id")
			if tt.requestID != "" && validRequestID(tt.requestID) && id != tt.requestID || id == "" {
				t.Fatalf("X-Request-Id %q for the caller's %q", id, tt.requestID)
			}
			bytes := float64(w.Body.Len())
			if tt.unwritten {
				bytes = -1
			}
			want := map[string]any{"level": tt.level, "msg": "request", "request_id": id, "method": tt.method,
				"route": tt.route, "path": tt.path, "status": float64(tt.status), "bytes": bytes,
				"client_ip": "192.0.2.7"}
			if tt.userID != 0 {
				want["user_id"] = tt.userID
			}
			if tt.errText != "" {
				want["error"] = tt.errText
			}
			for k, v := range want {
				if got[k] != v {
					t.Errorf("%s = %#v, want %#v", k, got[k], v)
				}
			}
			if ms, ok := got["latency_ms"].(float64); !ok || ms < 0 {
				t.Errorf("latency_ms %v", got["latency_ms"])
			}
			logged, err := time.Parse(time.RFC3339Nano, got["time"].(string))
			if err != nil {
				t.Fatal(err)
			}

			// One more request in exactly the series that has always counted it.
			if after := counterValue(t, metrics, tt.methodLabel, tt.route, tt.statusLabel); after != before+1 {
				t.Errorf("http_requests_total{%s %s %s} went from %v to %v", tt.methodLabel, tt.route, tt.statusLabel, before, after)
			}
			seen.mu.Lock()
			last := seen.got[len(seen.got)-1]
			seen.mu.Unlock()
			if last.status != tt.status || !last.end.Equal(logged) || last.elapsed < 0 {
				t.Errorf("dashboard told %+v; want status %d at the line's time %s", last, tt.status, logged)
			}
		})
	}

	// The series and their labels, exactly.
	families, err := metrics.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	labels := map[string][]string{}
	for _, mf := range families {
		for _, m := range mf.GetMetric() {
			var names []string
			for _, l := range m.GetLabel() {
				names = append(names, l.GetName())
			}
			if prev, ok := labels[mf.GetName()]; ok && !slices.Equal(prev, names) {
				t.Fatalf("%s has series with labels %v and %v", mf.GetName(), prev, names)
			}
			labels[mf.GetName()] = names
		}
	}
	for name, want := range map[string][]string{
		"http_requests_total":           {"method", "route", "status"},
		"http_request_duration_seconds": {"method", "route"},
		"http_requests_in_flight":       nil,
	} {
		got, ok := labels[name]
		if !ok || !slices.Equal(got, want) {
			t.Errorf("%s labels %v (present %v), want %v", name, got, ok, want)
		}
	}
	if v := gaugeValue(t, metrics, "http_requests_in_flight"); v != 0 {
		t.Errorf("in flight %v after every request ended", v)
	}
	if n := histogramCount(t, metrics, "GET", "/api/v1/users/:id"); n != 1 {
		t.Errorf("duration count for GET /api/v1/users/:id %d, want 1", n)
	}
}

// orderedKeys returns the top-level keys of a JSON object in order.
func orderedKeys(t *testing.T, line string) []string {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(line))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		t.Fatalf("not a JSON object: %s", line)
	}
	var keys []string
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, tok.(string))
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			t.Fatal(err)
		}
	}
	return keys
}

// sample is one series' labels and value, as a scrape reads it.
type sample struct {
	labels map[string]string
	value  float64 // a counter's or a gauge's
	count  uint64  // a histogram's
}

// series returns the series of family name whose labels are exactly want.
func series(t *testing.T, m *observability.Metrics, name string, want map[string]string) []sample {
	t.Helper()
	families, err := m.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var out []sample
	for _, mf := range families {
		if mf.GetName() != name {
			continue
		}
		for _, metric := range mf.GetMetric() {
			s := sample{labels: map[string]string{}, value: metric.GetCounter().GetValue() + metric.GetGauge().GetValue(),
				count: metric.GetHistogram().GetSampleCount()}
			for _, l := range metric.GetLabel() {
				s.labels[l.GetName()] = l.GetValue()
			}
			if maps.Equal(s.labels, want) {
				out = append(out, s)
			}
		}
	}
	return out
}

func counterValue(t *testing.T, m *observability.Metrics, method, route, status string) float64 {
	t.Helper()
	s := series(t, m, "http_requests_total", map[string]string{"method": method, "route": route, "status": status})
	if len(s) == 0 {
		return 0
	}
	return s[0].value
}

func gaugeValue(t *testing.T, m *observability.Metrics, name string) float64 {
	t.Helper()
	s := series(t, m, name, map[string]string{})
	if len(s) != 1 {
		t.Fatalf("%s: %d series", name, len(s))
	}
	return s[0].value
}

func histogramCount(t *testing.T, m *observability.Metrics, method, route string) uint64 {
	t.Helper()
	s := series(t, m, "http_request_duration_seconds", map[string]string{"method": method, "route": route})
	if len(s) != 1 {
		t.Fatalf("duration %s %s: %d series", method, route, len(s))
	}
	return s[0].count
}
