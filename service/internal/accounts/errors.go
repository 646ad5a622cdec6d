package accounts

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"
)

// Domain errors. Transport layers map them to status codes; their text is
// written for the person who made the request and never carries internals.
var (
	ErrNotFound        = errors.New("not found")
	ErrForbidden       = errors.New("you are not allowed to do this")
	ErrUnauthenticated = errors.New("sign-in required")
	ErrBadCredentials  = errors.New("wrong username/email or password")
	ErrVersionMismatch = errors.New("the user was changed by someone else; reload and try again")
	ErrRootProtected   = errors.New("the root user cannot be deleted, demoted or disabled, and only root may change its username or email")
	ErrSelfDelete      = errors.New("you cannot delete your own account")
	ErrPasswordChange  = errors.New("you must change your password before doing anything else")
	ErrSelfDisable     = errors.New("you cannot disable your own account")
	// ErrAccountDisabled is told only to someone who gave the account's
	// right password: to anyone else a disabled account answers as any
	// other does to a wrong one.
	ErrAccountDisabled = errors.New("this account is disabled; ask an administrator to enable it")
	// ErrReadOnly refuses a change through a token without the write scope.
	ErrReadOnly = errors.New("this API token is read-only")
	// ErrScopeAdmin refuses an admin's power through a token without the admin scope.
	ErrScopeAdmin = errors.New("this API token is limited to its own account")
	// ErrUnavailable wraps a failure of a dependency (the database) that
	// cannot answer now: retrying shortly may succeed, nothing was changed.
	ErrUnavailable = errors.New("the service is temporarily unavailable; try again shortly")
)

// ValidationError lists what is wrong with each input field.
type ValidationError struct {
	Fields map[string]string
}

func (e *ValidationError) Error() string {
	keys := make([]string, 0, len(e.Fields))
	for k := range e.Fields {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, k+" "+e.Fields[k])
	}
	return "invalid input: " + strings.Join(parts, "; ")
}

// add records a problem with field, keeping the first one reported.
func (e *ValidationError) add(field, msg string) {
	if e.Fields == nil {
		e.Fields = map[string]string{}
	}
	if _, ok := e.Fields[field]; !ok {
		e.Fields[field] = msg
	}
}

// orNil returns e when it holds problems, else nil (as an error interface).
func (e *ValidationError) orNil() error {
	if len(e.Fields) == 0 {
		return nil
	}
	return e
}

// ConflictError reports a unique value already taken.
type ConflictError struct {
	Field string
}

func (e *ConflictError) Error() string { return fmt.Sprintf("%s is already taken", e.Field) }

// ThrottledError reports too many failed sign-ins; retry after RetryAfter.
type ThrottledError struct {
	RetryAfter time.Duration
}

func (e *ThrottledError) Error() string {
	return fmt.Sprintf("too many failed sign-in attempts; try again in %s", e.RetryAfter.Round(time.Second))
}
