package web

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/gin-gonic/gin"
)

// TestAdmitRefusesAnUnadmittableLimit: a route whose cap exceeds the large
// pool could never be admitted; wiring it is a programming error caught at
// start, not a request that waits forever.
func TestAdmitRefusesAnUnadmittableLimit(t *testing.T) {
	b := NewBodyBudget(testLimits())
	defer func() {
		if r := recover(); r == nil || !strings.Contains(fmt.Sprint(r), "can never be admitted") {
			t.Fatalf("recovered %v, want the refusal", r)
		}
	}()
	b.Admit(testLimits().Large+1, Fail)
}

// TestAdmitClientGone: a client that leaves while its body waits for
// admission is told so (its context's error, a 499 in the log), not that
// the server is busy.
func TestAdmitClientGone(t *testing.T) {
	l := testLimits()
	b := NewBodyBudget(l)
	if err := b.small.sem.Acquire(context.Background(), l.Small); err != nil { // the small pool is full
		t.Fatal(err)
	}
	defer b.small.sem.Release(l.Small)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	req := httptest.NewRequestWithContext(ctx, http.MethodPost, "/json", strings.NewReader("{}"))
	c, w := testContext(t, req)
	var got error
	b.Admit(l.SmallMax, func(c *gin.Context, err error) { got = err; Fail(c, err) })(c)
	if !errors.Is(got, context.Canceled) || w.Code != StatusClientClosedRequest {
		t.Fatalf("fail given %v, answered %d; want the client's cancellation, 499", got, w.Code)
	}
}

// TestReadBodyUnreadable: a body of no declared length that fails while
// arriving is a 400, never a 500.
func TestReadBodyUnreadable(t *testing.T) {
	c, _ := testContext(t, httptest.NewRequest(http.MethodPost, "/", iotest.ErrReader(io.ErrUnexpectedEOF)))
	c.Request.ContentLength = -1
	data, err := ReadBody(c, 10)
	if data != nil {
		t.Fatalf("read %q", data)
	}
	wantProblem(t, err, http.StatusBadRequest, "bad-request", "the request body could not be read", "")
}

// TestRecoverLetsAbortThrough: http.ErrAbortHandler (wrapped or not) is
// net/http's way to abort a response silently; Recover passes it on
// unlogged instead of answering 500.
func TestRecoverLetsAbortThrough(t *testing.T) {
	for _, p := range []any{http.ErrAbortHandler, fmt.Errorf("stream: %w", http.ErrAbortHandler)} {
		t.Run(fmt.Sprint(p), func(t *testing.T) {
			var logs strings.Builder
			r := gin.New()
			r.Use(Recover(slog.New(slog.NewTextHandler(&logs, nil))))
			r.GET("/", func(*gin.Context) { panic(p) })
			w := httptest.NewRecorder()
			func() {
				defer func() {
					if got := recover(); got != p {
						t.Errorf("recovered %v, want %v passed on", got, p)
					}
				}()
				r.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/", nil))
			}()
			if logs.Len() != 0 || w.Body.Len() != 0 {
				t.Fatalf("logged %q, answered %q", logs.String(), w.Body)
			}
		})
	}
}

// TestRecoverAnError: a panic with any other error is a logged 500
// problem, its text in the log and never in the answer.
func TestRecoverAnError(t *testing.T) {
	var logs strings.Builder
	r := gin.New()
	r.Use(WithRequestID(), Recover(slog.New(slog.NewTextHandler(&logs, nil))))
	r.GET("/", func(*gin.Context) { panic(errors.New("secret-bearing database failure")) })
	w := httptest.NewRecorder()
	r.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/", nil))
	p := readProblem(t, w)
	if w.Code != http.StatusInternalServerError || p.Type != ProblemType("internal") || strings.Contains(w.Body.String(), "secret") {
		t.Fatalf("answer %d %s", w.Code, w.Body)
	}
	if !strings.Contains(logs.String(), "secret-bearing database failure") || !strings.Contains(logs.String(), "panic serving request") {
		t.Fatalf("log %q", logs.String())
	}
}

// TestWriteProblemDefaults: a problem without a type is about:blank and
// one without a title takes its status's, as RFC 9457 says; the request's
// path and id are filled in.
func TestWriteProblemDefaults(t *testing.T) {
	gin.SetMode(gin.TestMode)
	r := gin.New()
	r.GET("/x", WithRequestID(), func(c *gin.Context) { WriteProblem(c, Problem{Status: http.StatusTeapot}) })
	req := httptest.NewRequest(http.MethodGet, "/x", nil)
	req.Header.Set("X-Request-ID", "rid-9")
	w := httptest.NewRecorder()
	r.ServeHTTP(w, req)
	p := readProblem(t, w)
	if w.Code != http.StatusTeapot || p.Type != "about:blank" || p.Title != "I'm a teapot" || p.Instance != "/x" ||
		p.RequestID != "rid-9" || w.Header().Get("Cache-Control") != "no-store" || w.Header().Get("Retry-After") != "" {
		t.Fatalf("answer %d %+v %v", w.Code, p, w.Header())
	}
}
