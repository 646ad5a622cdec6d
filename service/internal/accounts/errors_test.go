package accounts_test

import (
	"context"
	"testing"

	"github.com/gopherops/gopherops/service/internal/accounts"
)

// TestValidationErrorText: the text names each field with its problem, the
// fields in name order so the same input always reads the same.
func TestValidationErrorText(t *testing.T) {
	tests := []struct {
		name   string
		fields map[string]string
		want   string
	}{
		{"no field", nil, "invalid input: "},
		{"one field", map[string]string{"email": "is required"}, "invalid input: email is required"},
		{"fields in name order", map[string]string{"username": "is taken", "email": "is required", "role": "is unknown"},
			"invalid input: email is required; role is unknown; username is taken"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := (&accounts.ValidationError{Fields: tt.fields}).Error(); got != tt.want {
				t.Fatalf("Error() = %q, want %q", got, tt.want)
			}
		})
	}

	t.Run("as the service reports it", func(t *testing.T) {
		w := newWorld(t)
		_, err := w.svc.SearchUsers(context.Background(), accounts.Actor{User: w.admin},
			accounts.UserQuery{Sort: "password_hash", Limit: -1, Page: -1})
		const want = "invalid input: limit must be between 1 and 100; page must be a page number from 1; " +
			"sort must be username, email, role or created"
		if err == nil || err.Error() != want {
			t.Fatalf("err = %v, want %q", err, want)
		}
	})
}
