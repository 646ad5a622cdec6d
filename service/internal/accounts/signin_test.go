package accounts_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/gopherops/gopherops/service/internal/accounts"
	"github.com/gopherops/gopherops/service/internal/password"
	"github.com/gopherops/gopherops/service/internal/throttle"
)

// auditCount is how many events the audit trail holds (up to a page).
func (w *world) auditCount(t *testing.T) int {
	t.Helper()
	events, err := w.svc.AuditTrail(context.Background(), accounts.Actor{User: w.root}, 0, accounts.MaxListLimit)
	if err != nil {
		t.Fatal(err)
	}
	return len(events)
}

// TestSignInRefusedBeforeAnyWork: a sign-in with nothing to check, or with
// more than any login or password can be, is a wrong sign-in answered at
// once: no password hash is computed (a megabyte password costs the server
// nothing) and no attempt is counted or audited. At the edges (a 254-byte
// login, a password of 4×256 bytes, the most 256 characters can take) the
// sign-in is checked as any other.
func TestSignInRefusedBeforeAnyWork(t *testing.T) {
	longest := strings.Repeat("\U0001F600", password.MaxLength) // 4×256 = 1024 bytes
	tests := []struct {
		name, login, pw string
		checked         bool
	}{
		{"no login", "", alicePW, false},
		{"a login of blanks", "   ", alicePW, false},
		{"no password", "alice", "", false},
		{"a login of 255 bytes", strings.Repeat("a", 255), alicePW, false},
		{"a password of 1025 bytes", "alice", longest + "x", false},
		{"a login of 254 bytes is looked up", strings.Repeat("a", 254), alicePW, true},
		{"a password of 1024 bytes is verified", "alice", longest, true},
		{"blanks around a login are trimmed", "  alice  ", "not the password at all", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel() // each on a database of its own
			w := newWorld(t)
			events, hashed := w.auditCount(t), w.hashed.Load()
			err := w.login(tt.login, tt.pw, "192.0.2.50")
			if !errors.Is(err, accounts.ErrBadCredentials) {
				t.Fatalf("err = %v, want ErrBadCredentials", err)
			}
			gotHashed, gotAudited := w.hashed.Load()-hashed, w.auditCount(t)-events
			if tt.checked {
				if gotHashed != 1 || gotAudited != 1 {
					t.Fatalf("verified %d hashes and audited %d events, want the 1 and 1 of a checked sign-in", gotHashed, gotAudited)
				}
				return
			}
			if gotHashed != 0 || gotAudited != 0 {
				t.Fatalf("verified %d hashes and audited %d events, want none", gotHashed, gotAudited)
			}
		})
	}
}

// TestClientLimiterComesFirst: the per-address limiter (the configured
// SIGNIN rate) refuses an address that used up its sign-ins before anything
// else is done, even with the right password; other addresses go on.
func TestClientLimiterComesFirst(t *testing.T) {
	lim := throttle.New(time.Hour, 2)
	w := newWorld(t, func(o *accounts.Options) { o.ClientLimiter = lim })
	for i := range 2 {
		if err := w.login("alice", alicePW, "192.0.2.60"); err != nil {
			t.Fatalf("sign-in %d: %v", i+1, err)
		}
	}
	hashed := w.hashed.Load()
	err := w.login("alice", alicePW, "192.0.2.60")
	var thr *accounts.ThrottledError
	if !errors.As(err, &thr) || thr.RetryAfter <= 0 {
		t.Fatalf("a third sign-in from the address: %v, want throttled with a retry time", err)
	}
	if got := w.hashed.Load() - hashed; got != 0 {
		t.Fatalf("the refused sign-in verified %d hashes, want none", got)
	}
	if err := w.login("alice", alicePW, "192.0.2.61"); err != nil {
		t.Fatalf("another address: %v", err)
	}
}
