// Package observability sets up the service's logs (slog), Prometheus metrics
// and, when configured, OpenTelemetry tracing.
package observability

import (
	"io"
	"log/slog"
)

// NewLogger returns a JSON or text logger at level.
func NewLogger(w io.Writer, level slog.Level, format string) *slog.Logger {
	opts := &slog.HandlerOptions{Level: level}
	if format == "text" {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}
