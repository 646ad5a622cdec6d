// Package observability sets up the service's logs (slog), Prometheus metrics
// and, when configured, OpenTelemetry tracing.
package observability

import (
	"io"
	"log/slog"
	"sync"
)

// NewLogger returns a JSON or text logger at level. The JSON one also
// writes access log lines (AccessLog) without going through slog's
// attribute machinery, byte for byte as slog would have.
func NewLogger(w io.Writer, level slog.Level, format string) *slog.Logger {
	opts := &slog.HandlerOptions{Level: level}
	if format == "text" {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	out := &lockedWriter{w: w}
	return slog.New(&jsonHandler{JSONHandler: slog.NewJSONHandler(out, opts), out: out})
}

// lockedWriter serialises the writes of slog's handler and of the access
// log's fast path, so lines never interleave.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// jsonHandler is slog's JSON handler, recognisable by the access log as one
// whose lines it may encode itself. WithAttrs and WithGroup return slog's
// own handler: a logger with attributes or groups of its own takes slog's
// path, so nothing it adds is ever left out of a line.
type jsonHandler struct {
	*slog.JSONHandler
	out *lockedWriter
}
