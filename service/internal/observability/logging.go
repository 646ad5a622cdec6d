// Package observability sets up the service's logs (slog), Prometheus metrics
// and, when configured, OpenTelemetry tracing.
package observability

import (
	"io"
	"log/slog"
	"sync"
	"time"
)

// LoggerOption changes how NewLogger's logger writes.
type LoggerOption func(*lineWriter)

// BatchAccessLines lets access log lines below warn wait up to delay (or
// until maxBatch bytes are waiting) so that the lines of many requests share
// one write(2); at the service's request rates that write is otherwise the
// largest single cost a request pays for its log line (docs/benchmark.md).
// Every other line (slog's own, and access lines at warn or above) is written
// at once, after the access lines waiting before it, so the order of the log
// never changes. What a crash can lose is the last delay's access lines:
// call Flush when the program ends.
func BatchAccessLines(delay time.Duration) LoggerOption {
	return func(l *lineWriter) { l.delay = delay }
}

// AccessLineDelay is the longest an access line waits in the service's
// binaries: short enough that a tail of the log looks live and a crash loses
// little, long enough that under load a write carries tens of lines.
const AccessLineDelay = 5 * time.Millisecond

// maxBatch is how many bytes of access lines may wait: the request whose line
// crosses it writes the batch itself, which also holds back a process whose
// log output is blocked instead of letting the batch grow.
const maxBatch = 32 << 10

// NewLogger returns a JSON or text logger at level. The JSON one also
// writes access log lines (AccessLog) without going through slog's
// attribute machinery, byte for byte as slog would have.
func NewLogger(w io.Writer, level slog.Level, format string, opts ...LoggerOption) *slog.Logger {
	hopts := &slog.HandlerOptions{Level: level}
	if format == "text" {
		return slog.New(slog.NewTextHandler(w, hopts))
	}
	out := &lineWriter{w: w}
	for _, o := range opts {
		o(out)
	}
	if out.delay > 0 {
		out.timer = time.AfterFunc(time.Hour, func() { _ = out.Flush() })
		out.timer.Stop()
	}
	return slog.New(&jsonHandler{JSONHandler: slog.NewJSONHandler(out, hopts), out: out})
}

// Flush writes the access lines still waiting in log's batch (see
// BatchAccessLines); any other logger has none.
func Flush(log *slog.Logger) error {
	if log == nil {
		return nil
	}
	if h, ok := log.Handler().(*jsonHandler); ok {
		return h.out.Flush()
	}
	return nil
}

// lineWriter serialises the writes of slog's handler and of the access
// log's fast path, so lines never interleave, and holds the access lines
// that wait to be written together.
type lineWriter struct {
	w     io.Writer
	delay time.Duration // 0: access lines are written at once
	timer *time.Timer   // writes the batch delay after its first line

	// order is held while writing to w, so that a batch taken before a
	// line is written before it.
	order sync.Mutex
	spare []byte // the buffer the last batch was written from; under order

	mu      sync.Mutex
	pending []byte // access lines waiting; under mu
	armed   bool   // the timer will write pending; under mu
}

// Write writes p at once, after the access lines waiting before it.
func (l *lineWriter) Write(p []byte) (int, error) {
	l.order.Lock()
	defer l.order.Unlock()
	if err := l.flushLocked(); err != nil {
		return 0, err
	}
	return l.w.Write(p)
}

// Defer queues p (copied) to be written with the lines around it, within
// the delay; without a delay it writes p at once.
func (l *lineWriter) Defer(p []byte) {
	if l.delay <= 0 {
		_, _ = l.Write(p)
		return
	}
	l.mu.Lock()
	l.pending = append(l.pending, p...)
	full := len(l.pending) >= maxBatch
	if !full && !l.armed {
		l.armed = true
		l.timer.Reset(l.delay)
	}
	l.mu.Unlock()
	if full {
		_ = l.Flush()
	}
}

// Flush writes the waiting access lines.
func (l *lineWriter) Flush() error {
	l.order.Lock()
	defer l.order.Unlock()
	return l.flushLocked()
}

// flushLocked writes the batch; l.order is held. The batch is taken and the
// timer disarmed together, so a line queued after it arms the timer again.
func (l *lineWriter) flushLocked() error {
	l.mu.Lock()
	batch := l.pending
	l.pending, l.armed = l.spare[:0], false
	l.mu.Unlock()
	l.spare = batch[:0]
	if cap(batch) > 2*maxBatch {
		l.spare = nil // a burst of long lines: not kept for reuse
	}
	if len(batch) == 0 {
		return nil
	}
	_, err := l.w.Write(batch)
	return err
}

// jsonHandler is slog's JSON handler, recognisable by the access log as one
// whose lines it may encode itself. WithAttrs and WithGroup return slog's
// own handler: a logger with attributes or groups of its own takes slog's
// path, so nothing it adds is ever left out of a line.
type jsonHandler struct {
	*slog.JSONHandler
	out *lineWriter
}
