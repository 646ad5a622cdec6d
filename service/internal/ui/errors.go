package ui

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/gopherops/gopherops/service/internal/web"
)

// errorData is the error page's view model: what happened, what to do
// about it, and where to go from here.
type errorData struct {
	Message string
	Next    string // what the visitor can do now
	Back    string // a link back to the form, when the error is about one
}

// errorPage is an error page with its status.
func errorPage(status int, title, message, next string) page {
	return page{Status: status, Name: "error", Title: title, Data: errorData{Message: message, Next: next}}
}

// notFoundPage answers an address that leads nowhere.
func notFoundPage() page {
	return errorPage(http.StatusNotFound, "Page not found",
		"There is nothing at this address: the link may be old, or the page was deleted.",
		"Check the address, or start again from one of the links below.")
}

// unavailablePage is shown while the database cannot be reached: a 503
// the browser may retry, never a 500.
func unavailablePage() page {
	p := errorPage(http.StatusServiceUnavailable, "Temporarily unavailable",
		"The database cannot be reached right now, so nothing was changed.",
		"Wait a few seconds and try again; if this lasts, tell whoever runs this service.")
	p.Header = map[string]string{"Retry-After": "5"}
	return p
}

// failure turns an error a handler returned into what the visitor sees:
// the sign-in page for a missing session, a 503 page while the database is
// down, and otherwise a page that says what went wrong in the domain's
// words; internals stay in the log.
func (r *responder) failure(c *gin.Context, err error) result {
	if databaseDown(err) {
		return unavailablePage()
	}
	p := web.Classify(c.Request.Context(), err)
	switch p.Status {
	case http.StatusUnauthorized:
		return redirect{To: "/login"}
	case http.StatusServiceUnavailable:
		return unavailablePage()
	case http.StatusInternalServerError:
		return errorPage(p.Status, "Something went wrong", "The error has been logged with the request id below.",
			"Try again in a moment; if it keeps happening, pass the request id on to whoever runs this service.")
	case http.StatusNotFound:
		return errorPage(p.Status, "Not found", sentence(p.Detail),
			"It may have been deleted by someone else. Go back to the list and look for it there.")
	case http.StatusForbidden:
		return errorPage(p.Status, "Not allowed", sentence(p.Detail),
			"Ask an administrator if you need this.")
	}
	return errorPage(p.Status, errorTitle(p.Status), sentence(p.Detail), "Go back, correct the request and try again.")
}

// errorTitle is an error page's heading, in sentence case.
func errorTitle(code int) string {
	switch code {
	case http.StatusBadRequest:
		return "Request not accepted"
	case http.StatusConflict:
		return "Conflict"
	case http.StatusTooManyRequests:
		return "Too many attempts"
	}
	return sentenceCase(strings.ToLower(http.StatusText(code)))
}

// databaseDown reports whether err means the database could not be
// reached or is shutting down (as opposed to a query it refused).
func databaseDown(err error) bool {
	if err == nil {
		return false
	}
	var (
		connErr *pgconn.ConnectError
		netErr  net.Error
		pgErr   *pgconn.PgError
	)
	switch {
	case errors.As(err, &connErr), errors.As(err, &netErr), pgconn.Timeout(err),
		errors.Is(err, context.DeadlineExceeded), errors.Is(err, io.ErrUnexpectedEOF):
		return true
	case errors.As(err, &pgErr):
		// Class 08: connection exceptions; 57P0x: the server is shutting
		// down or starting; 53300: too many connections.
		return strings.HasPrefix(pgErr.Code, "08") || strings.HasPrefix(pgErr.Code, "57P0") || pgErr.Code == "53300"
	}
	return false
}
