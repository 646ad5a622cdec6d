// Package web holds what the JSON API and the HTML UI share: RFC 9457
// problems (classifying an error and writing it are separate), request
// decoding and conditional headers, request ids, the access log and metrics,
// security headers and body limits, and authentication and CSRF.
package web

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/gopherops/gopherops/service/internal/accounts"
)

// ProblemContentType is RFC 9457's media type.
const ProblemContentType = "application/problem+json"

// StatusClientClosedRequest is the status logged and counted for a request
// whose client left before the answer (nginx's 499): not a server error.
const StatusClientClosedRequest = 499

// retryUnavailable is the Retry-After of a 503: about how long a restarting
// database or a failover takes to answer again.
const retryUnavailable = 5 * time.Second

// ErrServerStopping is the cause a stopping server cancels the requests still
// running at its shutdown deadline with: Classify then answers 503 instead
// of taking the cancellation for a client that left.
var ErrServerStopping = errors.New("the server stopped before the answer was ready; retry")

// retryBusy is the Retry-After of a body refused by the BodyBudget: about
// the time an admitted upload takes to arrive or be cut off.
const retryBusy = 5 * time.Second

// Problem is an RFC 9457 problem document.
type Problem struct {
	Type      string       `json:"type"`
	Title     string       `json:"title"`
	Status    int          `json:"status"`
	Detail    string       `json:"detail,omitempty"`
	Instance  string       `json:"instance,omitempty"`
	RequestID string       `json:"request_id,omitempty"`
	Errors    []FieldError `json:"errors,omitempty"`
	// RetryAfter, when not zero, is sent as Retry-After (429, 503).
	RetryAfter time.Duration `json:"-"`
	// Challenge, when set, is sent as WWW-Authenticate (401).
	Challenge string `json:"-"`
	// Internal marks a problem whose cause the server must log (5xx).
	Internal bool `json:"-"`
}

// FieldError says what is wrong with one input field.
type FieldError struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

// ProblemType is the type URI of a problem slug.
func ProblemType(slug string) string { return "urn:gopherops:problem:" + slug }

// ErrCSRF refuses a state-changing request without a valid CSRF token.
var ErrCSRF = errors.New("the form has expired or did not come from this site; reload the page and try again")

// ErrPreconditionRequired refuses a write without If-Match.
var ErrPreconditionRequired = errors.New("send If-Match with the user's ETag (from GET) so concurrent edits cannot overwrite each other")

// badRequestError is input that cannot be processed at all.
type badRequestError struct {
	msg string
	// field and fieldMsg name the part of the request that is wrong, when
	// one is (a JSON field, a query parameter, a header).
	field, fieldMsg string
}

func (e *badRequestError) Error() string { return e.msg }

// BadRequest is a 400 with a message for the client.
func BadRequest(format string, args ...any) error {
	return &badRequestError{msg: fmt.Sprintf(format, args...)}
}

// BadField is a 400 that names the field at fault, for input that cannot be
// processed at all (text PostgreSQL cannot store, a number out of range), as
// opposed to a 422 for a value the rules refuse.
func BadField(field, msg string) error {
	return &badRequestError{msg: field + " " + msg, field: field, fieldMsg: msg}
}

// Classify translates an error from the domain (or from decoding) into a
// problem; ctx is the request's, to tell a client that left from a failure.
// It writes nothing: WriteProblem does. Unknown errors become an opaque 500
// marked Internal, whose cause the caller logs and never sends.
func Classify(ctx context.Context, err error) Problem {
	var (
		verr     *accounts.ValidationError
		conflict *accounts.ConflictError
		thr      *accounts.ThrottledError
		bad      *badRequestError
		tooBig   *http.MaxBytesError
		// sentinel is the domain error matched: its own text is the
		// detail, never that of an error wrapping it, which may name
		// internals (a table, a query, an id).
		sentinel error
	)
	switch {
	case errors.As(err, &bad):
		p := Problem{Type: ProblemType("bad-request"), Status: http.StatusBadRequest, Detail: bad.msg}
		if bad.field != "" {
			p.Errors = []FieldError{{Field: bad.field, Message: bad.fieldMsg}}
		}
		return p
	case errors.As(err, &tooBig):
		return Problem{Type: ProblemType("too-large"), Status: http.StatusRequestEntityTooLarge,
			Detail: fmt.Sprintf("the request body must be at most %d bytes", tooBig.Limit)}
	case errors.As(err, &verr):
		p := Problem{Type: ProblemType("validation"), Title: "Invalid input", Status: http.StatusUnprocessableEntity,
			Detail: "some fields are not valid; see errors"}
		for _, f := range slices.Sorted(maps.Keys(verr.Fields)) {
			p.Errors = append(p.Errors, FieldError{Field: f, Message: verr.Fields[f]})
		}
		return p
	case errors.As(err, &conflict):
		return Problem{Type: ProblemType("conflict"), Status: http.StatusConflict, Detail: conflict.Error(),
			Errors: []FieldError{{Field: conflict.Field, Message: "is already taken"}}}
	case errors.As(err, &thr):
		return Problem{Type: ProblemType("throttled"), Status: http.StatusTooManyRequests, Detail: thr.Error(),
			RetryAfter: thr.RetryAfter}
	case errors.Is(err, accounts.ErrNotFound):
		return Problem{Type: ProblemType("not-found"), Status: http.StatusNotFound, Detail: "no such resource"}
	case errors.Is(err, accounts.ErrUnauthenticated):
		return Problem{Type: ProblemType("unauthenticated"), Status: http.StatusUnauthorized,
			Detail: "sign in or send a bearer token", Challenge: `Bearer realm="gopherops"`}
	case isOne(err, &sentinel, accounts.ErrBadCredentials):
		return Problem{Type: ProblemType("bad-credentials"), Status: http.StatusUnauthorized, Detail: sentinel.Error()}
	case isOne(err, &sentinel, accounts.ErrPasswordsOff, accounts.ErrNoAccount, accounts.ErrEmailUnverified):
		return Problem{Type: ProblemType("forbidden"), Status: http.StatusForbidden, Detail: sentinel.Error()}
	case isOne(err, &sentinel, accounts.ErrAccountDisabled):
		return Problem{Type: ProblemType("account-disabled"), Status: http.StatusForbidden, Detail: sentinel.Error()}
	case isOne(err, &sentinel, accounts.ErrReadOnly):
		// RFC 6750: the token is good, its scope is not enough.
		return Problem{Type: ProblemType("insufficient-scope"), Status: http.StatusForbidden, Detail: sentinel.Error(),
			Challenge: `Bearer realm="gopherops", error="insufficient_scope", scope="write"`}
	case isOne(err, &sentinel, accounts.ErrScopeAdmin):
		return Problem{Type: ProblemType("insufficient-scope"), Status: http.StatusForbidden, Detail: sentinel.Error(),
			Challenge: `Bearer realm="gopherops", error="insufficient_scope", scope="admin"`}
	case isOne(err, &sentinel, accounts.ErrForbidden, accounts.ErrRootProtected, accounts.ErrSelfDelete,
		accounts.ErrSelfDisable, accounts.ErrPasswordChange):
		return Problem{Type: ProblemType("forbidden"), Status: http.StatusForbidden, Detail: sentinel.Error()}
	case isOne(err, &sentinel, accounts.ErrVersionMismatch):
		return Problem{Type: ProblemType("precondition-failed"), Status: http.StatusPreconditionFailed, Detail: sentinel.Error()}
	case isOne(err, &sentinel, ErrPreconditionRequired):
		return Problem{Type: ProblemType("precondition-required"), Status: http.StatusPreconditionRequired, Detail: sentinel.Error()}
	case isOne(err, &sentinel, ErrCSRF):
		return Problem{Type: ProblemType("csrf"), Status: http.StatusForbidden, Detail: sentinel.Error()}
	case errors.Is(err, ErrBusy):
		return Problem{Type: ProblemType("busy"), Status: http.StatusServiceUnavailable, Detail: ErrBusy.Error(),
			RetryAfter: retryBusy}
	case errors.Is(err, ErrBodyTimeout):
		return Problem{Type: ProblemType("body-timeout"), Status: http.StatusRequestTimeout, Detail: ErrBodyTimeout.Error()}
	case errors.Is(context.Cause(ctx), ErrServerStopping) && errors.Is(err, context.Canceled):
		// The server cut the request at its shutdown deadline: its failure,
		// not the client's, and another replica can answer a retry.
		return Problem{Type: ProblemType("unavailable"), Status: http.StatusServiceUnavailable,
			Detail: ErrServerStopping.Error(), RetryAfter: retryUnavailable, Internal: true}
	case ctx.Err() != nil && errors.Is(err, context.Canceled):
		// The client went away (closed the connection, or a proxy gave up):
		// nobody reads this answer, and it is not the server's failure.
		return Problem{Type: ProblemType("client-closed"), Status: StatusClientClosedRequest,
			Title: "Client Closed Request", Detail: "the client closed the request before the answer was ready"}
	case errors.Is(err, accounts.ErrUnavailable):
		// Logged with its cause; the client learns only that a retry soon
		// may work (as readiness tells the load balancer).
		return Problem{Type: ProblemType("unavailable"), Status: http.StatusServiceUnavailable,
			Detail: accounts.ErrUnavailable.Error(), RetryAfter: retryUnavailable, Internal: true}
	default:
		return Problem{Type: ProblemType("internal"), Status: http.StatusInternalServerError, Internal: true,
			Detail: "something went wrong on our side; quote the request id if you report it"}
	}
}

// isOne reports whether err is one of targets, and stores the first that
// matches in matched.
func isOne(err error, matched *error, targets ...error) bool {
	for _, t := range targets {
		if errors.Is(err, t) {
			*matched = t
			return true
		}
	}
	return false
}

// WriteProblem sends p as application/problem+json, filling in the request's
// identity, and aborts the handler chain.
func WriteProblem(c *gin.Context, p Problem) {
	p.Instance = c.Request.URL.Path
	p.RequestID = RequestID(c)
	if p.Type == "" {
		p.Type = "about:blank"
	}
	if p.Title == "" {
		p.Title = http.StatusText(p.Status)
	}
	h := c.Writer.Header()
	h["Content-Type"] = []string{ProblemContentType}
	h["Cache-Control"] = []string{"no-store"}
	if p.RetryAfter > 0 {
		h["Retry-After"] = []string{strconv.Itoa(int(p.RetryAfter.Seconds()) + 1)}
	}
	if p.Challenge != "" {
		h["Www-Authenticate"] = []string{p.Challenge}
	}
	c.AbortWithStatusJSON(p.Status, p)
}

// Fail classifies err and writes its problem; the cause of an internal one
// is attached to the request for the access log.
func Fail(c *gin.Context, err error) {
	p := Classify(c.Request.Context(), err)
	if p.Internal {
		_ = c.Error(err)
	}
	WriteProblem(c, p)
}
