package postgres

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/puddle/v2"

	"github.com/gopherops/gopherops/service/internal/accounts"
)

// TestMapError: what each database failure means to the domain: a missing
// row, a value taken, a rule of the schema broken (naming the field), root
// protected, a database that cannot answer now (worth retrying: a 503), or
// anything else (a bug or bad input: a 500).
func TestMapError(t *testing.T) {
	pg := func(code, constraint string) error {
		return fmt.Errorf("exec: %w", &pgconn.PgError{Code: code, ConstraintName: constraint})
	}
	tests := []struct {
		name string
		err  error
		// want is the domain error, field the validation error's field,
		// conflict the conflicting field; unavailable whether it is ErrUnavailable.
		want        error
		field       string
		conflict    string
		unavailable bool
	}{
		{"no row", fmt.Errorf("scan: %w", pgx.ErrNoRows), accounts.ErrNotFound, "", "", false},
		{"a username taken", pg("23505", "users_username_key"), nil, "", "username", false},
		{"an email taken", pg("23505", "users_email_key"), nil, "", "email", false},
		{"another unique value", pg("23505", "sessions_secret_hash_key"), nil, "", "", false},
		{"root protected", pg("GOP01", ""), accounts.ErrRootProtected, "", "", false},
		{"root protected (2)", pg("GOP02", ""), accounts.ErrRootProtected, "", "", false},
		{"a bad username", pg("23514", "users_username_format"), nil, "username", "", false},
		{"an email not lower-case", pg("23514", "users_email_lower"), nil, "email", "", false},
		{"a bad email", pg("23514", "users_email_format"), nil, "email", "", false},
		{"a bad role", pg("23514", "users_role_valid"), nil, "role", "", false},
		{"root not admin", pg("23514", "users_root_is_admin"), nil, "role", "", false},
		{"a long token name", pg("23514", "sessions_name_len"), nil, "name", "", false},
		{"bad scopes", pg("23514", "sessions_scopes_valid"), nil, "scopes", "", false},
		{"root disabled", pg("23514", "users_root_never_disabled"), nil, "disabled", "", false},
		{"another check", pg("23514", "something_else"), nil, "body", "", false},
		{"connection failure (class 08)", pg("08006", ""), nil, "", "", true},
		{"admin shutdown", pg("57P01", ""), nil, "", "", true},
		{"crash shutdown", pg("57P02", ""), nil, "", "", true},
		{"cannot connect now", pg("57P03", ""), nil, "", "", true},
		{"too many connections", pg("53300", ""), nil, "", "", true},
		{"a query canceled by the server", pg("57014", ""), nil, "", "", false},
		{"a syntax error", pg("42601", ""), nil, "", "", false},
		{"the connection closed", fmt.Errorf("read: %w", io.EOF), nil, "", "", true},
		{"the connection cut", io.ErrUnexpectedEOF, nil, "", "", true},
		{"refused", fmt.Errorf("dial: %w", syscall.ECONNREFUSED), nil, "", "", true},
		{"reset", fmt.Errorf("read: %w", syscall.ECONNRESET), nil, "", "", true},
		{"a broken pipe", fmt.Errorf("write: %w", syscall.EPIPE), nil, "", "", true},
		{"a network error", &net.OpError{Op: "read", Net: "tcp", Err: errors.New("no route")}, nil, "", "", true},
		{"the pool closed (this replica stopping)", fmt.Errorf("acquire: %w", puddle.ErrClosedPool), nil, "", "", true},
		{"the client went away", errors.Join(context.Canceled, io.EOF), nil, "", "", false},
		{"anything else", errors.New("boom"), nil, "", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := mapError(tt.err)
			if tt.want != nil && !errors.Is(got, tt.want) {
				t.Fatalf("%v, want %v", got, tt.want)
			}
			var verr *accounts.ValidationError
			if errors.As(got, &verr) != (tt.field != "") || tt.field != "" && verr.Fields[tt.field] == "" {
				t.Fatalf("%v, want a problem with field %q", got, tt.field)
			}
			var conflict *accounts.ConflictError
			if errors.As(got, &conflict) != (tt.conflict != "") || tt.conflict != "" && conflict.Field != tt.conflict {
				t.Fatalf("%v, want a conflict on %q", got, tt.conflict)
			}
			if errors.Is(got, accounts.ErrUnavailable) != tt.unavailable {
				t.Fatalf("%v: unavailable %v, want %v", got, !tt.unavailable, tt.unavailable)
			}
		})
	}
}
