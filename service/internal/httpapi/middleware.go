package httpapi

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"regexp"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

const ctxRequestID = "gopherops.request_id"

var requestIDPattern = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)

// requestID returns the request's id, set by withRequestID.
func requestID(c *gin.Context) string { return c.GetString(ctxRequestID) }

// withRequestID takes a well-formed X-Request-ID from the caller (a proxy may
// have set it) or makes one, and echoes it in the response.
func withRequestID() gin.HandlerFunc {
	return func(c *gin.Context) {
		id := c.GetHeader("X-Request-ID")
		if !requestIDPattern.MatchString(id) {
			var b [12]byte
			_, _ = rand.Read(b[:])
			id = hex.EncodeToString(b[:])
		}
		c.Set(ctxRequestID, id)
		c.Header("X-Request-ID", id)
		c.Next()
	}
}

// recoverProblem turns a panic into a logged 500 problem: no stack trace or
// panic text reaches the client.
func recoverProblem(log *slog.Logger) gin.HandlerFunc {
	return func(c *gin.Context) {
		defer func() {
			if r := recover(); r != nil {
				if err, ok := r.(error); ok && errors.Is(err, http.ErrAbortHandler) {
					panic(r)
				}
				log.ErrorContext(c.Request.Context(), "panic serving request",
					"request_id", requestID(c), "panic", fmt.Sprint(r), "route", c.FullPath())
				if !c.Writer.Written() {
					writeProblem(c, Problem{Type: problemType("internal"), Status: http.StatusInternalServerError,
						Detail: "something went wrong on our side; quote the request id if you report it"})
				}
				c.Abort()
			}
		}()
		c.Next()
	}
}

// routeLabel is the route template for metrics and logs: bounded cardinality,
// no IDs.
func routeLabel(c *gin.Context) string {
	if r := c.FullPath(); r != "" {
		return r
	}
	return "unmatched"
}

// observe writes the access log line and the request metrics, and traces the
// request when tracing is on.
func (s *server) observe() gin.HandlerFunc {
	tracing := s.deps.Tracing != nil && s.deps.Tracing.Enabled
	return func(c *gin.Context) {
		start := time.Now()
		m := s.deps.Metrics
		m.InFlight.Inc()
		var span trace.Span
		if tracing {
			ctx := s.deps.Tracing.Propagator.Extract(c.Request.Context(), propagation.HeaderCarrier(c.Request.Header))
			ctx, span = s.deps.Tracing.Tracer.Start(ctx, c.Request.Method+" "+routeLabel(c),
				trace.WithSpanKind(trace.SpanKindServer))
			c.Request = c.Request.WithContext(ctx)
		}

		c.Next()

		m.InFlight.Dec()
		elapsed := time.Since(start)
		route, status := routeLabel(c), c.Writer.Status()
		s.deps.Status.ObserveRequest(elapsed, status) // the dashboard's charts
		m.RequestsTotal.WithLabelValues(c.Request.Method, route, strconv.Itoa(status)).Inc()
		m.RequestDuration.WithLabelValues(c.Request.Method, route).Observe(elapsed.Seconds())
		if span != nil {
			span.SetAttributes(attribute.String("http.route", route), attribute.Int("http.response.status_code", status),
				attribute.String("request.id", requestID(c)))
			if status >= 500 {
				span.SetStatus(codes.Error, http.StatusText(status))
			}
			span.End()
		}

		level := slog.LevelInfo
		attrs := []slog.Attr{
			slog.String("request_id", requestID(c)),
			slog.String("method", c.Request.Method),
			slog.String("route", route),
			slog.String("path", c.Request.URL.Path),
			slog.Int("status", status),
			slog.Float64("latency_ms", float64(elapsed.Microseconds())/1000),
			slog.Int("bytes", c.Writer.Size()),
			slog.String("client_ip", c.ClientIP()),
		}
		if a, ok := actorFrom(c); ok {
			attrs = append(attrs, slog.Int64("user_id", a.User.ID))
		}
		if status >= 500 {
			level = slog.LevelError
			if errs := c.Errors.ByType(gin.ErrorTypeAny); len(errs) > 0 {
				attrs = append(attrs, slog.String("error", errs.String()))
			}
		}
		s.log.LogAttrs(c.Request.Context(), level, "request", attrs...)
	}
}

// secureHeaders sets the browser hardening headers on every response.
func (s *server) secureHeaders() gin.HandlerFunc {
	hsts := s.deps.Config.Production()
	return func(c *gin.Context) {
		h := c.Writer.Header()
		h.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "+
			"connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "same-origin")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Cross-Origin-Opener-Policy", "same-origin")
		h.Set("Cross-Origin-Resource-Policy", "same-origin")
		h.Set("Permissions-Policy", "camera=(), microphone=(), geolocation=(), interest-cohort=()")
		if hsts {
			h.Set("Strict-Transport-Security", "max-age=63072000; includeSubDomains")
		}
		c.Next()
	}
}

// limitBody caps the request body; reading past n fails with *http.MaxBytesError.
func limitBody(n int64) gin.HandlerFunc {
	return func(c *gin.Context) {
		if c.Request.ContentLength > n {
			fail(c, &http.MaxBytesError{Limit: n})
			return
		}
		c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, n)
		c.Next()
	}
}

// noStore keeps responses that depend on who is signed in out of caches.
func noStore(c *gin.Context) {
	c.Header("Cache-Control", "no-store")
	c.Next()
}
