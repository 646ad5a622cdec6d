package web

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

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
		{"not signed in", context.Background(), accounts.ErrUnauthenticated, http.StatusUnauthorized, false},
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
			// Retry-After is in whole seconds, never sooner than the wait.
			if tt.retryAfter {
				secs, err := strconv.Atoi(w.Header().Get("Retry-After"))
				if err != nil || time.Duration(secs)*time.Second < p.RetryAfter || time.Duration(secs-1)*time.Second > p.RetryAfter {
					t.Fatalf("Retry-After %q for a wait of %s, want it rounded up to whole seconds", w.Header().Get("Retry-After"), p.RetryAfter)
				}
			}
			// A 401 says how to authenticate; nothing else does.
			if got := w.Header().Values("WWW-Authenticate"); (tt.status == http.StatusUnauthorized) != (len(got) == 1 && got[0] != "") {
				t.Fatalf("WWW-Authenticate %q with status %d", got, tt.status)
			}
			var got Problem
			if err := json.Unmarshal(w.Body.Bytes(), &got); err != nil {
				t.Fatal(err)
			}
			// A title the classification left empty is the status's text.
			title := p.Title
			if title == "" {
				title = http.StatusText(tt.status)
			}
			if got.Title != title || got.Title == "" || got.Type == "" || got.Instance != "/api/v1/users/1" {
				t.Fatalf("written title %q type %q instance %q, want %q, a type and the path", got.Title, got.Type, got.Instance, title)
			}
		})
	}
}

// TestCheckJSONTextNamesTheField: text PostgreSQL cannot store is refused
// naming the top-level field it is in, in the problem's errors, or "body"
// when the key itself cannot name a field.
func TestCheckJSONTextNamesTheField(t *testing.T) {
	tests := []struct {
		name, raw, field string
	}{
		{"a NUL in a field", `{"name":"a\u0000b","email":"x@example.com"}`, "name"},
		{"invalid UTF-8 in a field", "{\"email\":\"x@example.com\",\"name\":\"\xff\"}", "name"},
		{"a key with a NUL", `{"\u0000":"a\u0000b"}`, "body"},
		{"an empty key", `{"":"a\u0000b"}`, "body"},
		{"clean text", `{"name":"Zoë","email":"x@example.com"}`, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := checkJSONText([]byte(tt.raw))
			if tt.field == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			p := Classify(context.Background(), err)
			if p.Status != http.StatusBadRequest || len(p.Errors) != 1 || p.Errors[0].Field != tt.field {
				t.Fatalf("problem %d %+v, want 400 naming %q", p.Status, p.Errors, tt.field)
			}
		})
	}
}
