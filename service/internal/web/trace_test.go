package web

import (
	"bytes"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/gopherops/gopherops/service/internal/observability"
)

// TestObserveTraces: with tracing on, each request is a server span named
// for its method and route template (never the path with its ids), a child
// of the caller's trace, carrying the route, status and request id, and in
// error only for a 5xx (a client that left is not the server's error).
func TestObserveTraces(t *testing.T) {
	gin.SetMode(gin.TestMode)
	spans := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans))
	t.Cleanup(func() { _ = tp.Shutdown(t.Context()) })
	tracing := &observability.Tracing{Tracer: tp.Tracer("test"), Propagator: propagation.TraceContext{}, Enabled: true}
	r := gin.New()
	r.Use(WithRequestID(), Observe(ObserveConfig{Metrics: observability.NewMetrics(), Tracing: tracing,
		Logger: slog.New(slog.DiscardHandler)}))
	r.GET("/api/v1/users/:id", func(c *gin.Context) {
		// The handler's context carries the span, for the store's queries.
		if !trace.SpanContextFromContext(c.Request.Context()).IsValid() {
			t.Error("the handler's context has no span")
		}
		c.Status(http.StatusOK)
	})
	r.GET("/api/v1/broken", func(c *gin.Context) { c.Status(http.StatusInternalServerError) })
	r.GET("/api/v1/gone", func(c *gin.Context) { c.Status(StatusClientClosedRequest) })
	const parent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	tests := []struct {
		path, name, route string
		status            int
		code              codes.Code
	}{
		{"/api/v1/users/7", "GET /api/v1/users/:id", "/api/v1/users/:id", 200, codes.Unset},
		{"/api/v1/broken", "GET /api/v1/broken", "/api/v1/broken", 500, codes.Error},
		{"/api/v1/gone", "GET /api/v1/gone", "/api/v1/gone", StatusClientClosedRequest, codes.Unset},
	}
	for i, tt := range tests {
		req := httptest.NewRequest(http.MethodGet, tt.path, nil)
		req.Header.Set("Traceparent", parent)
		req.Header.Set("X-Request-ID", "trace-req")
		r.ServeHTTP(httptest.NewRecorder(), req)
		ended := spans.Ended()
		if len(ended) != i+1 {
			t.Fatalf("%d spans ended, want %d", len(ended), i+1)
		}
		s := ended[i]
		attrs := map[attribute.Key]attribute.Value{}
		for _, kv := range s.Attributes() {
			attrs[kv.Key] = kv.Value
		}
		if s.Name() != tt.name || s.SpanKind() != trace.SpanKindServer || s.Parent().TraceID().String() != "4bf92f3577b34da6a3ce929d0e0e4736" ||
			attrs["http.route"].AsString() != tt.route || attrs["http.response.status_code"].AsInt64() != int64(tt.status) ||
			attrs["request.id"].AsString() != "trace-req" || s.Status().Code != tt.code {
			t.Fatalf("span %q kind %s parent %s attrs %v status %v", s.Name(), s.SpanKind(), s.Parent().TraceID(), attrs, s.Status())
		}
	}
}

// TestObserveLogLevel: with the log at ERROR, a successful request writes
// no access line and a failing one still does.
func TestObserveLogLevel(t *testing.T) {
	gin.SetMode(gin.TestMode)
	var logs bytes.Buffer
	r := gin.New()
	r.Use(WithRequestID(), Observe(ObserveConfig{Metrics: observability.NewMetrics(),
		Logger: observability.NewLogger(&logs, slog.LevelError, "json")}))
	r.GET("/ok", func(c *gin.Context) { c.Status(http.StatusOK) })
	r.GET("/fails", func(c *gin.Context) { c.Status(http.StatusInternalServerError) })
	r.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/ok", nil))
	if logs.Len() != 0 {
		t.Fatalf("a 200 was logged at ERROR level: %s", logs.String())
	}
	r.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/fails", nil))
	if n := strings.Count(logs.String(), "\n"); n != 1 || !strings.Contains(logs.String(), `"status":500`) {
		t.Fatalf("want the 500's line, got %q", logs.String())
	}
}
