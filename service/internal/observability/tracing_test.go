package observability

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
)

func TestTracingOffByDefault(t *testing.T) {
	tr, err := NewTracing(context.Background(), "")
	if err != nil || tr.Enabled {
		t.Fatalf("tracing without an endpoint: enabled=%v err=%v", tr.Enabled, err)
	}
	_, span := tr.Tracer.Start(context.Background(), "x")
	if span.SpanContext().IsValid() {
		t.Fatal("the no-op tracer recorded a span")
	}
}

func TestTracingExportsOverOTLP(t *testing.T) {
	var posts atomic.Int32
	collector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && r.URL.Path == "/v1/traces" && r.Header.Get("Content-Type") == "application/x-protobuf" {
			posts.Add(1)
		}
		w.WriteHeader(http.StatusOK)
	}))
	defer collector.Close()
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", collector.URL)
	t.Setenv("OTEL_EXPORTER_OTLP_INSECURE", "true")

	ctx := context.Background()
	tr, err := NewTracing(ctx, collector.URL)
	if err != nil || !tr.Enabled {
		t.Fatalf("tracing with an endpoint: %v", err)
	}
	_, span := tr.Tracer.Start(ctx, "GET /healthz")
	span.End()
	if err := tr.Shutdown(ctx); err != nil {
		t.Fatalf("flush: %v", err)
	}
	if posts.Load() == 0 {
		t.Fatal("no spans reached the OTLP collector")
	}
}
