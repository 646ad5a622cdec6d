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

// TestDisabledAccountSignIn: a disabled account answers a wrong password as
// any account does, and says it is disabled only to someone who gave its
// right password; that attempt is audited.
func TestDisabledAccountSignIn(t *testing.T) {
	w := newWorld(t)
	if _, err := w.svc.SetDisabled(context.Background(), accounts.Actor{User: w.admin}, w.alice.ID, true); err != nil {
		t.Fatal(err)
	}
	if err := w.login("alice", "not the password at all", "192.0.2.90"); !errors.Is(err, accounts.ErrBadCredentials) {
		t.Fatalf("a wrong password for a disabled account: %v, want the answer any account gives", err)
	}
	if err := w.login("alice", alicePW, "192.0.2.90"); !errors.Is(err, accounts.ErrAccountDisabled) {
		t.Fatalf("the right password for a disabled account: %v, want ErrAccountDisabled", err)
	}
	if e := w.lastEvent(t); e.Action != accounts.ActionLoginDisabled || e.TargetID == nil || *e.TargetID != w.alice.ID {
		t.Fatalf("audited %+v, want the refused sign-in to alice", e)
	}
}

// TestSignInRehashes: a password stored with parameters older than the
// hasher's is stored again with the current ones at its next sign-in, and
// still signs in.
func TestSignInRehashes(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	stronger := password.Params{Memory: 2048, Time: 1, Threads: 1}
	svc := w.replica(t, func(o *accounts.Options) { o.Hasher = password.NewHasher(stronger) })
	in := accounts.LoginInput{Login: "alice", Password: alicePW, ClientIP: "192.0.2.91"}
	if _, err := svc.Login(ctx, in); err != nil {
		t.Fatal(err)
	}
	cred, err := w.base.Store.CredentialByLogin(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(cred.PasswordHash, "m=2048,") {
		t.Fatalf("stored hash %q after the sign-in, want it rehashed with m=2048", cred.PasswordHash[:30])
	}
	if _, err := svc.Login(ctx, in); err != nil {
		t.Fatalf("the rehashed password: %v", err)
	}
}

// TestPruneAttempts: the periodic sweep deletes counters whose window (an
// hour) is over, and none younger.
func TestPruneAttempts(t *testing.T) {
	ctx := context.Background()
	c := newClock()
	w := newWorld(t, func(o *accounts.Options) { o.Now = c.now })
	_ = w.login("alice", "not the password at all", "192.0.2.92") // a source and an account counter
	c.advance(time.Hour - time.Second)
	if n, err := w.svc.PruneAttempts(ctx); err != nil || n != 0 {
		t.Fatalf("within the hour: pruned %d, %v; want none", n, err)
	}
	c.advance(2 * time.Second)
	if n, err := w.svc.PruneAttempts(ctx); err != nil || n != 2 {
		t.Fatalf("after the hour: pruned %d, %v; want both counters", n, err)
	}
}
