package web

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/gin-gonic/gin"

	"github.com/gopherops/gopherops/service/internal/accounts"
)

// TestClassify: the status of each kind of failure, including
// the two that are not the server's fault although they arrive as errors
// from the store: a client that left, and a database that is down.
func TestClassify(t *testing.T) {
	gone, cancel := context.WithCancel(context.Background())
	cancel()
	tests := []struct {
		name       string
		ctx        context.Context
		err        error
		status     int
		retryAfter bool
	}{
		{"client went away mid-query", gone, fmt.Errorf("postgres: %w", context.Canceled), StatusClientClosedRequest, false},
		{"a cancellation the client did not cause is a 500", context.Background(), fmt.Errorf("postgres: %w", context.Canceled), http.StatusInternalServerError, false},
		{"database unavailable", context.Background(), fmt.Errorf("postgres: %w: dial: refused", accounts.ErrUnavailable), http.StatusServiceUnavailable, true},
		{"throttled", context.Background(), &accounts.ThrottledError{RetryAfter: 3e9}, http.StatusTooManyRequests, true},
		{"bad field", context.Background(), BadField("name", "must not contain a NUL character"), http.StatusBadRequest, false},
		{"stale version", context.Background(), accounts.ErrVersionMismatch, http.StatusPreconditionFailed, false},
		{"anything else", context.Background(), errors.New("boom"), http.StatusInternalServerError, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := Classify(tt.ctx, tt.err)
			if p.Status != tt.status || (p.RetryAfter > 0) != tt.retryAfter {
				t.Fatalf("status %d Retry-After %s, want %d (Retry-After: %v)", p.Status, p.RetryAfter, tt.status, tt.retryAfter)
			}
			// Writing is separate, and sends what classifying decided.
			w := httptest.NewRecorder()
			c, _ := gin.CreateTestContext(w)
			c.Request = httptest.NewRequestWithContext(tt.ctx, http.MethodGet, "/api/v1/users/1", nil)
			WriteProblem(c, p)
			if w.Code != tt.status || (w.Header().Get("Retry-After") != "") != tt.retryAfter ||
				w.Header().Get("Content-Type") != ProblemContentType {
				t.Fatalf("written %d Retry-After %q %s", w.Code, w.Header().Get("Retry-After"), w.Header().Get("Content-Type"))
			}
		})
	}
}
