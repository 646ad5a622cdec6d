package observability

import (
	"context"
	"log/slog"
	"math"
	"strconv"
	"sync"
	"time"

	"github.com/gopherops/gopherops/service/internal/jsonquote"
)

// RequestLine is what the access log records of one request.
type RequestLine struct {
	// Time is when the answer was complete: the line's "time".
	Time      time.Time
	Level     slog.Level
	RequestID string
	Method    string
	Route     string
	Path      string
	Status    int
	Latency   time.Duration
	Bytes     int
	ClientIP  string
	// UserID is the signed-in user's, recorded only when SignedIn.
	UserID   int64
	SignedIn bool
	// Error is recorded only when not empty.
	Error string
}

// accessMessage is the access log line's "msg".
const accessMessage = "request"

// Attrs are the line's attributes in their order, as slog records them.
func (l *RequestLine) Attrs() []slog.Attr {
	attrs := make([]slog.Attr, 0, 10)
	attrs = append(attrs,
		slog.String("request_id", l.RequestID),
		slog.String("method", l.Method),
		slog.String("route", l.Route),
		slog.String("path", l.Path),
		slog.Int("status", l.Status),
		slog.Float64("latency_ms", latencyMS(l.Latency)),
		slog.Int("bytes", l.Bytes),
		slog.String("client_ip", l.ClientIP),
	)
	if l.SignedIn {
		attrs = append(attrs, slog.Int64("user_id", l.UserID))
	}
	if l.Error != "" {
		attrs = append(attrs, slog.String("error", l.Error))
	}
	return attrs
}

// latencyMS is the latency in milliseconds to the microsecond.
func latencyMS(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// AccessLog writes one line per request. With NewLogger's JSON handler it
// encodes the line itself into a pooled buffer (no allocation per line),
// byte for byte what slog's JSON handler writes for the same record; with
// any other handler (text, a logger with attributes of its own, a test's
// handler) it hands the record to slog.
type AccessLog struct {
	log  *slog.Logger
	fast *lineWriter // nil: slog's path
	// bufs holds the fast path's line buffers (*[]byte); one that grew
	// past maxPooledLine (a very long path) is left to the collector.
	bufs sync.Pool
}

// NewAccessLog returns the access log that writes to log.
func NewAccessLog(log *slog.Logger) *AccessLog {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	a := &AccessLog{log: log}
	a.bufs.New = func() any { b := make([]byte, 0, 512); return &b }
	if h, ok := log.Handler().(*jsonHandler); ok {
		a.fast = h.out
	}
	return a
}

// Enabled reports whether a line at level would be written, so that a
// caller builds nothing for a line that would not be.
func (a *AccessLog) Enabled(ctx context.Context, level slog.Level) bool {
	return a.log.Enabled(ctx, level)
}

// maxPooledLine is the largest line buffer kept for reuse.
const maxPooledLine = 16 << 10

// Write writes l's line. Like slog's handlers, it reports no write error:
// a request is never failed for its log line.
func (a *AccessLog) Write(ctx context.Context, l *RequestLine) {
	if a.fast == nil || !jsonTimeOK(l.Time) {
		r := slog.NewRecord(l.Time, l.Level, accessMessage, 0)
		r.AddAttrs(l.Attrs()...)
		_ = a.log.Handler().Handle(ctx, r)
		return
	}
	bp := a.bufs.Get().(*[]byte)
	b := l.AppendJSON((*bp)[:0])
	if l.Level < slog.LevelWarn {
		a.fast.Defer(b) // copied: the buffer goes back to the pool
	} else {
		_, _ = a.fast.Write(b)
	}
	if cap(b) <= maxPooledLine {
		*bp = b
		a.bufs.Put(bp)
	}
}

// jsonTimeOK reports whether slog writes t without an error note: RFC 3339
// has four-digit years only. Any other time takes slog's path.
func jsonTimeOK(t time.Time) bool {
	y := t.Year()
	return y >= 0 && y < 10000
}

// AppendJSON appends l as slog's JSON handler (no options) writes the
// record {l.Time, l.Level, "request", l.Attrs()}, newline included.
func (l *RequestLine) AppendJSON(b []byte) []byte {
	b = append(b, `{"time":"`...)
	b = l.Time.Round(0).AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","level":`...)
	b = jsonquote.Append(b, l.Level.String(), jsonquote.Slog)
	b = append(b, `,"msg":"`+accessMessage+`","request_id":`...)
	b = jsonquote.Append(b, l.RequestID, jsonquote.Slog)
	b = append(b, `,"method":`...)
	b = jsonquote.Append(b, l.Method, jsonquote.Slog)
	b = append(b, `,"route":`...)
	b = jsonquote.Append(b, l.Route, jsonquote.Slog)
	b = append(b, `,"path":`...)
	b = jsonquote.Append(b, l.Path, jsonquote.Slog)
	b = append(b, `,"status":`...)
	b = strconv.AppendInt(b, int64(l.Status), 10)
	b = append(b, `,"latency_ms":`...)
	b = appendJSONFloat(b, latencyMS(l.Latency))
	b = append(b, `,"bytes":`...)
	b = strconv.AppendInt(b, int64(l.Bytes), 10)
	b = append(b, `,"client_ip":`...)
	b = jsonquote.Append(b, l.ClientIP, jsonquote.Slog)
	if l.SignedIn {
		b = append(b, `,"user_id":`...)
		b = strconv.AppendInt(b, l.UserID, 10)
	}
	if l.Error != "" {
		b = append(b, `,"error":`...)
		b = jsonquote.Append(b, l.Error, jsonquote.Slog)
	}
	return append(b, "}\n"...)
}

// appendJSONFloat writes f as encoding/json does (which is what slog's JSON
// handler calls for floats): the shortest decimal, in exponent form only
// below 1e-6 or from 1e21, with a one-digit negative exponent. f is finite:
// a latency is.
func appendJSONFloat(b []byte, f float64) []byte {
	format := byte('f')
	if a := math.Abs(f); a != 0 && (a < 1e-6 || a >= 1e21) {
		format = 'e'
	}
	b = strconv.AppendFloat(b, f, format, -1, 64)
	if format == 'e' {
		// 1e-07 becomes 1e-7, as in encoding/json.
		if n := len(b); n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b[n-2] = b[n-1]
			b = b[:n-1]
		}
	}
	return b
}
