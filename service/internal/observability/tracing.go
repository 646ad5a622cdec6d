package observability

import (
	"context"
	"fmt"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/gopherops/gopherops/service/internal/buildinfo"
)

// Tracing holds the tracer the HTTP layer uses and how to flush it at exit.
type Tracing struct {
	Tracer     trace.Tracer
	Propagator propagation.TextMapPropagator
	Enabled    bool
	shutdown   func(context.Context) error
}

// NewTracing exports spans over OTLP/HTTP when endpoint is set (the exporter
// reads OTEL_EXPORTER_OTLP_* itself); otherwise it returns a no-op tracer
// that costs nothing per request.
func NewTracing(ctx context.Context, endpoint string) (*Tracing, error) {
	if endpoint == "" {
		return &Tracing{Tracer: noop.NewTracerProvider().Tracer("gopherops"), Propagator: propagation.TraceContext{},
			shutdown: func(context.Context) error { return nil }}, nil
	}
	exp, err := otlptracehttp.New(ctx)
	if err != nil {
		return nil, fmt.Errorf("observability: OTLP exporter: %w", err)
	}
	res := resource.NewSchemaless(
		attribute.String("service.name", "gopherops"),
		attribute.String("service.version", buildinfo.Version),
	)
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithResource(res))
	prop := propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{})
	return &Tracing{Tracer: tp.Tracer("gopherops/http"), Propagator: prop, Enabled: true, shutdown: tp.Shutdown}, nil
}

// Shutdown flushes pending spans.
func (t *Tracing) Shutdown(ctx context.Context) error { return t.shutdown(ctx) }
