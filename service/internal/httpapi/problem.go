package httpapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strconv"

	"github.com/gin-gonic/gin"

	"github.com/gopherops/gopherops/service/internal/accounts"
)

// problemContentType is RFC 9457's media type.
const problemContentType = "application/problem+json"

// Problem is an RFC 9457 problem document.
type Problem struct {
	Type      string       `json:"type"`
	Title     string       `json:"title"`
	Status    int          `json:"status"`
	Detail    string       `json:"detail,omitempty"`
	Instance  string       `json:"instance,omitempty"`
	RequestID string       `json:"request_id,omitempty"`
	Errors    []FieldError `json:"errors,omitempty"`
}

// FieldError says what is wrong with one input field.
type FieldError struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

func problemType(slug string) string { return "urn:gopherops:problem:" + slug }

// writeProblem sends p, filling in the request's identity.
func writeProblem(c *gin.Context, p Problem) {
	p.Instance = c.Request.URL.Path
	p.RequestID = requestID(c)
	if p.Type == "" {
		p.Type = "about:blank"
	}
	if p.Title == "" {
		p.Title = http.StatusText(p.Status)
	}
	c.Header("Content-Type", problemContentType)
	c.Header("Cache-Control", "no-store")
	c.AbortWithStatusJSON(p.Status, p)
}

// problemFor translates an error from the domain (or from decoding) into a
// problem. Unknown errors become an opaque 500: the cause is attached to the
// request for the access log and never sent to the client.
func problemFor(c *gin.Context, err error) Problem {
	var (
		verr     *accounts.ValidationError
		conflict *accounts.ConflictError
		thr      *accounts.ThrottledError
		bad      *badRequestError
		tooBig   *http.MaxBytesError
	)
	switch {
	case errors.As(err, &bad):
		p := Problem{Type: problemType("bad-request"), Status: http.StatusBadRequest, Detail: bad.msg}
		if bad.field != "" {
			p.Errors = []FieldError{{Field: bad.field, Message: bad.fieldMsg}}
		}
		return p
	case errors.As(err, &tooBig):
		return Problem{Type: problemType("too-large"), Status: http.StatusRequestEntityTooLarge,
			Detail: fmt.Sprintf("the request body must be at most %d bytes", tooBig.Limit)}
	case errors.As(err, &verr):
		p := Problem{Type: problemType("validation"), Title: "Invalid input", Status: http.StatusUnprocessableEntity,
			Detail: "some fields are not valid; see errors"}
		for f, m := range verr.Fields {
			p.Errors = append(p.Errors, FieldError{Field: f, Message: m})
		}
		sort.Slice(p.Errors, func(i, j int) bool { return p.Errors[i].Field < p.Errors[j].Field })
		return p
	case errors.As(err, &conflict):
		return Problem{Type: problemType("conflict"), Status: http.StatusConflict, Detail: conflict.Error(),
			Errors: []FieldError{{Field: conflict.Field, Message: "is already taken"}}}
	case errors.As(err, &thr):
		secs := int(thr.RetryAfter.Seconds()) + 1
		c.Header("Retry-After", strconv.Itoa(secs))
		return Problem{Type: problemType("throttled"), Status: http.StatusTooManyRequests, Detail: thr.Error()}
	case errors.Is(err, accounts.ErrNotFound):
		return Problem{Type: problemType("not-found"), Status: http.StatusNotFound, Detail: "no such resource"}
	case errors.Is(err, accounts.ErrUnauthenticated):
		c.Header("WWW-Authenticate", `Bearer realm="gopherops"`)
		return Problem{Type: problemType("unauthenticated"), Status: http.StatusUnauthorized, Detail: "sign in or send a bearer token"}
	case errors.Is(err, accounts.ErrBadCredentials):
		return Problem{Type: problemType("bad-credentials"), Status: http.StatusUnauthorized, Detail: err.Error()}
	case errors.Is(err, accounts.ErrForbidden), errors.Is(err, accounts.ErrRootProtected),
		errors.Is(err, accounts.ErrSelfDelete), errors.Is(err, accounts.ErrPasswordChange):
		return Problem{Type: problemType("forbidden"), Status: http.StatusForbidden, Detail: err.Error()}
	case errors.Is(err, accounts.ErrVersionMismatch):
		return Problem{Type: problemType("precondition-failed"), Status: http.StatusPreconditionFailed, Detail: err.Error()}
	case errors.Is(err, errCSRF):
		return Problem{Type: problemType("csrf"), Status: http.StatusForbidden, Detail: err.Error()}
	case c.Request.Context().Err() != nil && errors.Is(err, context.Canceled):
		// The client went away (closed the connection, or a proxy gave up):
		// nobody reads this answer, and it is not the server's failure.
		return Problem{Type: problemType("client-closed"), Status: statusClientClosedRequest,
			Title: "Client Closed Request", Detail: "the client closed the request before the answer was ready"}
	case errors.Is(err, accounts.ErrUnavailable):
		// Logged with its cause; the client learns only that a retry soon
		// may work (as readiness tells the load balancer).
		_ = c.Error(err)
		c.Header("Retry-After", strconv.Itoa(retryUnavailableSeconds))
		return Problem{Type: problemType("unavailable"), Status: http.StatusServiceUnavailable,
			Detail: accounts.ErrUnavailable.Error()}
	default:
		_ = c.Error(err)
		return Problem{Type: problemType("internal"), Status: http.StatusInternalServerError,
			Detail: "something went wrong on our side; quote the request id if you report it"}
	}
}

// fail writes the problem for err.
func fail(c *gin.Context, err error) { writeProblem(c, problemFor(c, err)) }

// badRequestError is malformed input that never reached the domain.
type badRequestError struct {
	msg string
	// field and fieldMsg name the part of the request that is wrong, when
	// one is (a JSON field, a query parameter, a header).
	field, fieldMsg string
}

func (e *badRequestError) Error() string { return e.msg }

func badRequest(format string, args ...any) error {
	return &badRequestError{msg: fmt.Sprintf(format, args...)}
}

// badField is a 400 that names the field at fault, for input that cannot be
// processed at all (text PostgreSQL cannot store, a number out of range), as
// opposed to a 422 for a value the rules refuse.
func badField(field, msg string) error {
	return &badRequestError{msg: field + " " + msg, field: field, fieldMsg: msg}
}

// statusClientClosedRequest is the status logged and counted for a request
// whose client left before the answer (nginx's 499): not a server error.
const statusClientClosedRequest = 499

// retryUnavailableSeconds is the Retry-After of a 503: about how long a
// restarting database or a failover takes to answer again.
const retryUnavailableSeconds = 5
