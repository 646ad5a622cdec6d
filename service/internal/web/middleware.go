package web

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/gopherops/gopherops/service/internal/accounts"
	"github.com/gopherops/gopherops/service/internal/observability"
)

const ctxRequest = "gopherops.request"

// request is what the middleware learns of a request once and reads again
// (the request id, the client's address, the signed-in actor): one value
// in the context instead of one per item, and the client's address worked
// out once instead of by each reader.
//
// WithRequestID recycles the record, and the one-entry map it lends gin as
// the context's keys, once the request's handlers have returned: gin makes
// a map per request on the first Set, and the two were a quarter of the
// bytes the API's read path allocates. So nothing may keep the record (or
// the gin context, which is gin's own rule, Copy included) past the
// handlers: copy out what a goroutine needs, as Actor does.
type request struct {
	id       string
	clientIP string
	actor    accounts.Actor
	signedIn bool
	// session is the raw secret of a cookie-authenticated request.
	session string
	// keys is the map lent to gin; it holds ctxRequest -> this record.
	keys map[any]any
}

// newRequest returns an empty record with its map.
func newRequest() *request {
	r := &request{}
	r.keys = map[any]any{ctxRequest: r}
	return r
}

// requestOf returns the request's record, nil before WithRequestID.
func requestOf(c *gin.Context) *request {
	if v, ok := c.Get(ctxRequest); ok {
		return v.(*request)
	}
	return nil
}

// RequestID returns the request's id, set by WithRequestID.
func RequestID(c *gin.Context) string {
	if r := requestOf(c); r != nil {
		return r.id
	}
	return ""
}

// ClientIP is gin's ClientIP (the trusted proxies applied), worked out
// once per request by WithRequestID.
func ClientIP(c *gin.Context) string {
	if r := requestOf(c); r != nil && r.clientIP != "" {
		return r.clientIP
	}
	return c.ClientIP()
}

// WithRequestID takes a well-formed X-Request-ID from the caller (a proxy may
// have set it) or makes one, and echoes it in the response.
func WithRequestID() gin.HandlerFunc {
	ids := newRequestIDs()
	records := sync.Pool{New: func() any { return newRequest() }}
	return func(c *gin.Context) {
		// The header's canonical key, looked up as is: GetHeader would
		// canonicalise "X-Request-ID" (an allocation) on every request.
		var id string
		if v := c.Request.Header["X-Request-Id"]; len(v) > 0 {
			id = v[0]
		}
		if !validRequestID(id) {
			id = ids.next()
		}
		r := records.Get().(*request)
		r.id, r.clientIP = id, c.ClientIP()
		// A context that already has keys (a middleware in front of this
		// one set some) keeps them; the record is then not recycled.
		lent := c.Keys == nil
		if lent {
			c.Keys = r.keys
		} else {
			c.Set(ctxRequest, r)
		}
		// Its own slice, not one in the record: net/http copies the
		// header when gin writes it, after this function has returned.
		c.Writer.Header()["X-Request-Id"] = []string{id}
		c.Next()
		if !lent {
			return
		}
		c.Keys = nil
		keys := r.keys
		if len(keys) != 1 {
			clear(keys)
			keys[ctxRequest] = r
		}
		*r = request{keys: keys}
		records.Put(r)
	}
}

// validRequestID is requestIDPattern without the regexp: 1-64 of [A-Za-z0-9._-].
func validRequestID(id string) bool {
	if len(id) == 0 || len(id) > 64 {
		return false
	}
	for i := 0; i < len(id); i++ {
		switch b := id[i]; {
		case 'a' <= b && b <= 'z', 'A' <= b && b <= 'Z', '0' <= b && b <= '9', b == '.', b == '_', b == '-':
		default:
			return false
		}
	}
	return true
}

// requestIDs makes ids unique across processes and requests without a
// system call per request: a random prefix chosen at start and a counter.
type requestIDs struct {
	prefix string
	n      atomic.Uint64
}

func newRequestIDs() *requestIDs {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return &requestIDs{prefix: hex.EncodeToString(b[:]) + "-"}
}

func (r *requestIDs) next() string {
	var buf [13 + 16]byte
	out := append(buf[:0], r.prefix...)
	return string(strconv.AppendUint(out, r.n.Add(1), 36))
}

// Recover turns a panic into a logged 500 problem: no stack trace or
// panic text reaches the client.
func Recover(log *slog.Logger) gin.HandlerFunc {
	return func(c *gin.Context) {
		defer func() {
			if r := recover(); r != nil {
				if err, ok := r.(error); ok && errors.Is(err, http.ErrAbortHandler) {
					panic(r)
				}
				log.ErrorContext(c.Request.Context(), "panic serving request",
					"request_id", RequestID(c), "panic", fmt.Sprint(r), "route", c.FullPath())
				if !c.Writer.Written() {
					WriteProblem(c, Problem{Type: ProblemType("internal"), Status: http.StatusInternalServerError,
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

// Observe writes the access log line and the request metrics, and traces the
// request when tracing is on. The clock is read twice per request (start
// and end; the end is also the log line's time and the dashboard's), the
// metric children are looked up once per route and status, not once per
// request, and the log line is encoded without slog's attributes
// (observability.AccessLog) only when it will be written.
func Observe(o ObserveConfig) gin.HandlerFunc {
	tracing := o.Tracing != nil && o.Tracing.Enabled
	m := o.Metrics
	access := observability.NewAccessLog(o.Logger)
	instruments := newRouteInstruments(m)
	return func(c *gin.Context) {
		start := time.Now()
		m.InFlight.Inc()
		var span trace.Span
		if tracing {
			ctx := o.Tracing.Propagator.Extract(c.Request.Context(), propagation.HeaderCarrier(c.Request.Header))
			ctx, span = o.Tracing.Tracer.Start(ctx, methodLabel(c.Request.Method)+" "+routeLabel(c),
				trace.WithSpanKind(trace.SpanKindServer))
			c.Request = c.Request.WithContext(ctx)
		}

		c.Next()

		m.InFlight.Dec()
		end := time.Now()
		elapsed := end.Sub(start)
		route, status := routeLabel(c), c.Writer.Status()
		if o.Requests != nil {
			o.Requests.ObserveRequest(end, elapsed, status) // the dashboard's charts
		}
		total, duration := instruments.get(methodLabel(c.Request.Method), route, status)
		total.Inc()
		duration.Observe(elapsed.Seconds())
		req := requestOf(c)
		if span != nil {
			span.SetAttributes(attribute.String("http.route", route), attribute.Int("http.response.status_code", status),
				attribute.String("request.id", RequestID(c)))
			if status >= 500 {
				span.SetStatus(codes.Error, http.StatusText(status))
			}
			span.End()
		}

		level := slog.LevelInfo
		if status >= 500 {
			level = slog.LevelError
		}
		ctx := c.Request.Context()
		if !access.Enabled(ctx, level) {
			return
		}
		line := observability.RequestLine{Time: end, Level: level, Method: c.Request.Method, Route: route,
			Path: c.Request.URL.Path, Status: status, Latency: elapsed, Bytes: c.Writer.Size()}
		if req != nil {
			line.RequestID = req.id
			line.UserID, line.SignedIn = req.actor.User.ID, req.signedIn
		}
		line.ClientIP = ClientIP(c)
		if status >= 500 {
			if errs := c.Errors.ByType(gin.ErrorTypeAny); len(errs) > 0 {
				line.Error = errs.String()
			}
		}
		access.Write(ctx, &line)
	}
}

// methodLabel is the method as a metric label: net/http accepts any token
// as a method, so a client could otherwise create a series (and a cache
// entry) per request with methods of its own invention.
func methodLabel(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions:
		return m
	}
	return "OTHER"
}

// routeInstruments caches the metric children of each (method, route,
// status): WithLabelValues hashes its labels on every call.
type routeInstruments struct {
	m     *observability.Metrics
	cache sync.Map // routeKey -> routeInstrument
}

type routeKey struct {
	method, route string
	status        int
}

type routeInstrument struct {
	total    prometheus.Counter
	duration prometheus.Observer
}

func newRouteInstruments(m *observability.Metrics) *routeInstruments { return &routeInstruments{m: m} }

func (r *routeInstruments) get(method, route string, status int) (prometheus.Counter, prometheus.Observer) {
	k := routeKey{method, route, status}
	if v, ok := r.cache.Load(k); ok {
		ri := v.(routeInstrument)
		return ri.total, ri.duration
	}
	ri := routeInstrument{
		total:    r.m.RequestsTotal.WithLabelValues(method, route, strconv.Itoa(status)),
		duration: r.m.RequestDuration.WithLabelValues(method, route),
	}
	// Routes are templates, methods are labelled from a fixed set and
	// statuses are the server's own, so the cache and the series are
	// bounded whatever a client sends.
	r.cache.Store(k, ri)
	return ri.total, ri.duration
}

// Response headers, set by assigning prepared slices (no canonicalisation or
// allocation per request).
var (
	contentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
		"connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
	// browserHeaders harden HTML pages and their assets.
	browserHeaders = map[string][]string{
		"Content-Security-Policy":      {contentSecurityPolicy},
		"X-Content-Type-Options":       {"nosniff"},
		"Referrer-Policy":              {"same-origin"},
		"X-Frame-Options":              {"DENY"},
		"Cross-Origin-Opener-Policy":   {"same-origin"},
		"Cross-Origin-Resource-Policy": {"same-origin"},
		"Permissions-Policy":           {"camera=(), microphone=(), geolocation=(), interest-cohort=()"},
	}
	// apiHeaders are what matters for JSON: never sniffed into something a
	// browser renders, never cached, never framed.
	apiHeaders = map[string][]string{
		"Content-Security-Policy": {"default-src 'none'; frame-ancestors 'none'"},
		"X-Content-Type-Options":  {"nosniff"},
		"Cache-Control":           {"no-store"},
	}
	hstsHeader = []string{"max-age=63072000; includeSubDomains"}
)

// BrowserHeaders sets the hardening headers of HTML pages and their assets,
// and HSTS when hsts (production).
func BrowserHeaders(hsts bool) gin.HandlerFunc { return headers(browserHeaders, hsts) }

// APIHeaders sets the headers that matter for JSON (nosniff, no-store, no
// framing), and HSTS when hsts (production).
func APIHeaders(hsts bool) gin.HandlerFunc { return headers(apiHeaders, hsts) }

// headers sets the prepared headers (and HSTS) on every response of a group.
func headers(set map[string][]string, hsts bool) gin.HandlerFunc {
	return func(c *gin.Context) {
		h := c.Writer.Header()
		for k, v := range set {
			h[k] = v
		}
		if hsts {
			h["Strict-Transport-Security"] = hstsHeader
		}
		c.Next()
	}
}

// LimitBody caps the request body; reading past n fails with
// *http.MaxBytesError, and a declared length past n is answered by fail (a
// problem for the API, a page for the UI).
func LimitBody(n int64, fail func(*gin.Context, error)) gin.HandlerFunc {
	return func(c *gin.Context) {
		switch {
		case c.Request.ContentLength > n:
			fail(c, &http.MaxBytesError{Limit: n})
			return
		case c.Request.ContentLength != 0 || len(c.Request.TransferEncoding) > 0:
			// Only a request that may carry a body needs the cap (and its
			// allocation); one with Content-Length 0 has http.NoBody.
			c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, n)
		}
		c.Next()
	}
}

// RequestObserver is told the latency and status of every request (the
// dashboard's charts).
type RequestObserver interface {
	// ObserveRequest is told when the request ended, how long it took and
	// its status.
	ObserveRequest(end time.Time, elapsed time.Duration, status int)
}

// ObserveConfig is what Observe records to.
type ObserveConfig struct {
	Metrics  *observability.Metrics
	Tracing  *observability.Tracing
	Logger   *slog.Logger
	Requests RequestObserver
}

// HeadAsGet answers HEAD on every GET route, as RFC 9110 §9.3.2 asks (the
// same status and headers, no content) and as net/http's own mux does; gin
// alone answers 405. Routes without GET keep answering 404 or 405.
func HeadAsGet(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodHead {
			next.ServeHTTP(w, r)
			return
		}
		get := r.Clone(r.Context())
		get.Method = http.MethodGet
		next.ServeHTTP(headWriter{w}, get)
	})
}

// headWriter drops the body of a HEAD response; the server would too, but
// not every ResponseWriter (a recorder, a middleware's) is the server's.
type headWriter struct{ http.ResponseWriter }

func (w headWriter) Write(p []byte) (int, error) { return len(p), nil }

// Unwrap lets http.ResponseController reach the connection's writer.
func (w headWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// WantsHTML reports whether the client prefers a page to a problem document:
// a browser, outside the API.
func WantsHTML(c *gin.Context) bool {
	return !strings.HasPrefix(c.Request.URL.Path, "/api/") && strings.Contains(c.GetHeader("Accept"), "text/html")
}

// CountLogin records the outcome of a sign-in in the login metric.
func CountLogin(m *observability.Metrics, err error) {
	var thr *accounts.ThrottledError
	switch {
	case err == nil:
		m.LoginAttempts.WithLabelValues("success").Inc()
	case errors.As(err, &thr):
		m.LoginAttempts.WithLabelValues("throttled").Inc()
	case errors.Is(err, accounts.ErrAccountDisabled):
		m.LoginAttempts.WithLabelValues("disabled").Inc()
	default:
		m.LoginAttempts.WithLabelValues("failure").Inc()
	}
}
