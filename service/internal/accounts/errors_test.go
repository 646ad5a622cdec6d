package accounts_test

import (
	"testing"
	"time"

	"github.com/gopherops/gopherops/service/internal/accounts"
)

// TestErrorTexts: what each error says to the person who made the request:
// a validation error lists every field with its problem, in field order.
func TestErrorTexts(t *testing.T) {
	tests := []struct {
		err  error
		want string
	}{
		{&accounts.ValidationError{Fields: map[string]string{"page": "must be a page number from 1", "limit": "must be between 1 and 100"}},
			"invalid input: limit must be between 1 and 100; page must be a page number from 1"},
		{&accounts.ValidationError{Fields: map[string]string{"q": "must be plain text"}}, "invalid input: q must be plain text"},
		{&accounts.ConflictError{Field: "email"}, "email is already taken"},
		{&accounts.ThrottledError{RetryAfter: 90*time.Second + 400*time.Millisecond}, "too many failed sign-in attempts; try again in 1m30s"},
	}
	for _, tt := range tests {
		if got := tt.err.Error(); got != tt.want {
			t.Errorf("%T says %q, want %q", tt.err, got, tt.want)
		}
	}
}
