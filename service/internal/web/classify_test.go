package web

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"github.com/gopherops/gopherops/service/internal/accounts"
)

// TestClassifyEachError: every error the domain, decoding and the body
// budget return has its status, problem type, detail and challenge, wrapped
// or not, the detail never a wrapping error's text; only an unknown error (and a database that is down) is Internal,
// so only their causes are logged and never sent.
func TestClassifyEachError(t *testing.T) {
	type want struct {
		status    int
		slug      string
		detail    string // "" when the error's own text
		challenge string
		retry     time.Duration
		errors    []FieldError
		internal  bool
	}
	tests := []struct {
		name string
		err  error
		want want
	}{
		{"bad request", BadRequest("the id in the path must be a positive integer"),
			want{status: 400, slug: "bad-request"}},
		{"bad field", BadField("limit", "must be an integer"),
			want{status: 400, slug: "bad-request", errors: []FieldError{{"limit", "must be an integer"}}}},
		{"too large", fmt.Errorf("read: %w", &http.MaxBytesError{Limit: 1024}),
			want{status: 413, slug: "too-large", detail: "the request body must be at most 1024 bytes"}},
		{"validation, fields in order", &accounts.ValidationError{Fields: map[string]string{"username": "is taken", "email": "is not an address", "password": "is too short"}},
			want{status: 422, slug: "validation", detail: "some fields are not valid; see errors",
				errors: []FieldError{{"email", "is not an address"}, {"password", "is too short"}, {"username", "is taken"}}}},
		{"conflict", &accounts.ConflictError{Field: "email"},
			want{status: 409, slug: "conflict", errors: []FieldError{{"email", "is already taken"}}}},
		{"throttled", fmt.Errorf("login: %w", &accounts.ThrottledError{RetryAfter: 90 * time.Second}),
			want{status: 429, slug: "throttled", detail: "too many failed sign-in attempts; try again in 1m30s", retry: 90 * time.Second}},
		{"not found", fmt.Errorf("get: %w", accounts.ErrNotFound),
			want{status: 404, slug: "not-found", detail: "no such resource"}},
		{"unauthenticated", accounts.ErrUnauthenticated,
			want{status: 401, slug: "unauthenticated", detail: "sign in or send a bearer token", challenge: `Bearer realm="gopherops"`}},
		{"bad credentials", accounts.ErrBadCredentials, want{status: 401, slug: "bad-credentials"}},
		{"passwords off", accounts.ErrPasswordsOff, want{status: 403, slug: "forbidden"}},
		{"no account", accounts.ErrNoAccount, want{status: 403, slug: "forbidden"}},
		{"email unverified", accounts.ErrEmailUnverified, want{status: 403, slug: "forbidden"}},
		{"account disabled", accounts.ErrAccountDisabled, want{status: 403, slug: "account-disabled"}},
		{"read-only token", accounts.ErrReadOnly, want{status: 403, slug: "insufficient-scope",
			challenge: `Bearer realm="gopherops", error="insufficient_scope", scope="write"`}},
		{"token without admin", accounts.ErrScopeAdmin, want{status: 403, slug: "insufficient-scope",
			challenge: `Bearer realm="gopherops", error="insufficient_scope", scope="admin"`}},
		{"forbidden", accounts.ErrForbidden, want{status: 403, slug: "forbidden"}},
		{"root protected", accounts.ErrRootProtected, want{status: 403, slug: "forbidden"}},
		{"self delete", accounts.ErrSelfDelete, want{status: 403, slug: "forbidden"}},
		{"self disable", accounts.ErrSelfDisable, want{status: 403, slug: "forbidden"}},
		{"password change first", accounts.ErrPasswordChange, want{status: 403, slug: "forbidden"}},
		{"stale version", accounts.ErrVersionMismatch, want{status: 412, slug: "precondition-failed"}},
		{"no If-Match", ErrPreconditionRequired, want{status: 428, slug: "precondition-required"}},
		{"CSRF", ErrCSRF, want{status: 403, slug: "csrf"}},
		{"busy", ErrBusy, want{status: 503, slug: "busy", retry: 5 * time.Second}},
		{"body too slow", fmt.Errorf("%w: i/o timeout", ErrBodyTimeout), want{status: 408, slug: "body-timeout", detail: ErrBodyTimeout.Error()}},
		{"database down", fmt.Errorf("postgres: %w: dial tcp: refused", accounts.ErrUnavailable),
			want{status: 503, slug: "unavailable", detail: accounts.ErrUnavailable.Error(), retry: 5 * time.Second, internal: true}},
		{"unknown", errors.New("pq: relation users does not exist"), want{status: 500, slug: "internal",
			detail: "something went wrong on our side; quote the request id if you report it", internal: true}},
	}
	for _, tt := range tests {
		w := tt.want
		detail := w.detail
		if detail == "" {
			detail = innermost(tt.err).Error()
		}
		// Wrapped by a layer that names internals: the answer is the
		// same, and the internals stay out of it.
		wrapped := fmt.Errorf("store: update users row 7: %w", tt.err)
		for _, err := range []error{tt.err, wrapped} {
			t.Run(tt.name+"/"+err.Error(), func(t *testing.T) {
				p := Classify(context.Background(), err)
				if p.Status != w.status || p.Type != ProblemType(w.slug) || p.Detail != detail || p.Challenge != w.challenge ||
					p.RetryAfter != w.retry || p.Internal != w.internal || !slices.Equal(p.Errors, w.errors) {
					t.Fatalf("problem %+v\nwant %+v (detail %q)", p, w, detail)
				}
			})
		}
	}
}

// innermost is the error at the end of err's chain of wraps.
func innermost(err error) error {
	for {
		next := errors.Unwrap(err)
		if next == nil {
			return err
		}
		err = next
	}
}

// TestFail: Fail writes the problem and stops the chain; the cause of an
// internal one is attached to the request for the access log, and nothing
// else is.
func TestFail(t *testing.T) {
	tests := []struct {
		name   string
		err    error
		status int
		logged bool
	}{
		{"a client's mistake", BadRequest("no"), 400, false},
		{"not found", accounts.ErrNotFound, 404, false},
		{"database down", fmt.Errorf("postgres: %w", accounts.ErrUnavailable), 503, true},
		{"unknown", errors.New("boom"), 500, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, w := testContext(t, httptest.NewRequest(http.MethodGet, "/api/v1/me", nil))
			Fail(c, tt.err)
			if w.Code != tt.status || !c.IsAborted() || w.Header().Get("Content-Type") != ProblemContentType {
				t.Fatalf("status %d aborted %v type %q", w.Code, c.IsAborted(), w.Header().Get("Content-Type"))
			}
			if logged := len(c.Errors) == 1 && errors.Is(c.Errors[0].Err, tt.err); logged != tt.logged || (!tt.logged && len(c.Errors) != 0) {
				t.Fatalf("errors attached %v, want the cause attached: %v", c.Errors, tt.logged)
			}
		})
	}
}

// TestClassifyClientGone: a request whose client left is a 499 only when
// the failure is that cancellation; any other failure keeps its own status.
func TestClassifyClientGone(t *testing.T) {
	gone, cancel := context.WithCancel(context.Background())
	cancel()
	tests := []struct {
		name   string
		err    error
		status int
	}{
		{"the query was cancelled", fmt.Errorf("postgres: %w", context.Canceled), StatusClientClosedRequest},
		{"the database was down anyway", fmt.Errorf("postgres: %w", accounts.ErrUnavailable), http.StatusServiceUnavailable},
		{"a bug anyway", errors.New("boom"), http.StatusInternalServerError},
		{"not found anyway", accounts.ErrNotFound, http.StatusNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if p := Classify(gone, tt.err); p.Status != tt.status {
				t.Fatalf("status %d, want %d", p.Status, tt.status)
			}
		})
	}
}

// TestClassifyServerStopping: a request the server cut at its shutdown
// deadline is the server's 503, to retry elsewhere, not a client's 499;
// the cause reaches the request's context through the contexts derived
// from the server's.
func TestClassifyServerStopping(t *testing.T) {
	base, cut := context.WithCancelCause(context.Background())
	conn, cancelConn := context.WithCancel(base)
	defer cancelConn()
	req, cancelReq := context.WithCancel(conn)
	defer cancelReq()
	cut(ErrServerStopping)
	p := Classify(req, fmt.Errorf("postgres: %w", context.Canceled))
	if p.Status != http.StatusServiceUnavailable || p.Type != ProblemType("unavailable") || !p.Internal ||
		p.RetryAfter != retryUnavailable || p.Detail != ErrServerStopping.Error() {
		t.Fatalf("problem %+v, want an internal 503 to retry", p)
	}
	// Any other failure of a cut request keeps its own status.
	if p := Classify(req, accounts.ErrNotFound); p.Status != http.StatusNotFound {
		t.Fatalf("not found on a cut request: %d", p.Status)
	}
}
