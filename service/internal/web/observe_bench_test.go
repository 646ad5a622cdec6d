package web

import (
	"io"
	"log/slog"
	"net/http"
	"testing"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/gopherops/gopherops/service/internal/observability"
	"github.com/gopherops/gopherops/service/internal/status"
)

// discardWriter is a ResponseWriter that keeps nothing, reused across a
// benchmark's iterations so that only the middleware's own cost is counted.
type discardWriter struct {
	h      http.Header
	status int
}

func (w *discardWriter) Header() http.Header         { return w.h }
func (w *discardWriter) Write(p []byte) (int, error) { return len(p), nil }
func (w *discardWriter) WriteHeader(s int)           { w.status = s }

// BenchmarkRequestPath measures what the middleware every request goes
// through costs: the request id, the access log line (JSON, written to a
// discarding writer so the encoding is what is measured, not the disk), the
// metrics, the dashboard's history and the API headers, against the same
// route with none of them. The log line is measured on and off (level warn)
// to tell its cost from the metrics'.
func BenchmarkRequestPath(b *testing.B) {
	gin.SetMode(gin.ReleaseMode)
	body := []byte(`{"id":42,"username":"someone"}`)
	handler := func(c *gin.Context) {
		c.Writer.Header()["Content-Type"] = []string{"application/json"}
		c.Writer.WriteHeader(http.StatusOK)
		_, _ = c.Writer.Write(body)
	}
	chain := func(level slog.Level) *gin.Engine {
		r := gin.New()
		r.Use(WithRequestID(), Observe(ObserveConfig{Metrics: observability.NewMetrics(),
			Logger:   observability.NewLogger(io.Discard, level, "json"),
			Requests: status.NewReporter(nil, nil, time.Now(), "bench")}), Recover(slog.New(slog.DiscardHandler)))
		r.Group("/api/v1", APIHeaders(false)).GET("/users/:id", handler)
		return r
	}
	bare := gin.New()
	bare.GET("/api/v1/users/:id", handler)
	cases := []struct {
		name string
		h    http.Handler
	}{
		{"route only", bare},
		{"middleware, log off", chain(slog.LevelWarn)},
		{"middleware, log on", chain(slog.LevelInfo)},
	}
	for _, tc := range cases {
		b.Run(tc.name, func(b *testing.B) {
			req, err := http.NewRequest(http.MethodGet, "/api/v1/users/42", nil)
			if err != nil {
				b.Fatal(err)
			}
			req.RemoteAddr = "192.0.2.7:41234"
			req.Header.Set("User-Agent", "bench")
			w := &discardWriter{h: http.Header{}}
			b.ReportAllocs()
			for b.Loop() {
				clear(w.h)
				w.status = 0
				tc.h.ServeHTTP(w, req)
				if w.status != http.StatusOK {
					b.Fatalf("status %d", w.status)
				}
			}
		})
	}
}
