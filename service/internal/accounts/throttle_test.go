package accounts_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/gopherops/gopherops/service/internal/accounts"
)

// outcome names what a sign-in answered, as a client sees it.
func outcome(err error) string {
	switch {
	case err == nil:
		return "ok"
	case errors.Is(err, accounts.ErrBadCredentials):
		return "bad"
	case isThrottled(err):
		return "throttled"
	default:
		return "error: " + err.Error()
	}
}

// TestUnknownLoginsAnswerLikeRealOnes: the answers to a run of wrong
// passwords never tell whether the login names an account, from one address
// or from many (issue 19, item 2).
func TestUnknownLoginsAnswerLikeRealOnes(t *testing.T) {
	tests := []struct {
		name string
		// addr is the client address of the i-th attempt.
		addr     func(i int) string
		attempts int
	}{
		{"one address", func(int) string { return "203.0.113.7" }, 7},
		{"many addresses (the account-wide limit)", func(i int) string { return fmt.Sprintf("198.51.100.%d", i/4+1) }, 22},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newWorld(t)
			run := func(login string) []string {
				var got []string
				for i := range tt.attempts {
					got = append(got, outcome(w.login(login, "not the password at all", tt.addr(i))))
				}
				return got
			}
			real, unknown := run("alice"), run("nobody-here")
			if fmt.Sprint(real) != fmt.Sprint(unknown) {
				t.Fatalf("answers differ:\n real    %v\n unknown %v", real, unknown)
			}
			if real[len(real)-1] != "throttled" {
				t.Fatalf("the run must end throttled: %v", real)
			}
			// Case does not make a new subject: accounts are found whatever
			// the case, so unknown logins are counted whatever the case too.
			if got := outcome(w.login("NOBODY-HERE", "not the password at all", tt.addr(tt.attempts))); got != "throttled" {
				t.Fatalf("an unknown login in other case after its run: %s, want throttled as for a real one", got)
			}
		})
	}
}

// TestUnknownLoginsCostTheSameWork: a sign-in for a login that names no
// account verifies a password hash once, as a wrong password for a real one
// does, so the time it takes does not tell them apart (issue 22, item 3).
func TestUnknownLoginsCostTheSameWork(t *testing.T) {
	w := newWorld(t)
	for _, tt := range []struct{ login, ip string }{{"alice", "192.0.2.10"}, {"nobody-here", "192.0.2.11"}, {"nobody@example.com", "192.0.2.12"}} {
		before := w.hashed.Load()
		if err := w.login(tt.login, "not the password at all", tt.ip); !errors.Is(err, accounts.ErrBadCredentials) {
			t.Fatalf("%s: %v", tt.login, err)
		}
		if got := w.hashed.Load() - before; got != 1 {
			t.Fatalf("a wrong sign-in as %s verified %d password hashes, want exactly 1", tt.login, got)
		}
	}
	// Both leave the same trace in the audit trail.
	events, err := w.svc.AuditTrail(context.Background(), accounts.Actor{User: w.root}, 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	failed := 0
	for _, e := range events {
		if e.Action == accounts.ActionLoginFailed {
			failed++
		}
	}
	if failed != 3 {
		t.Fatalf("%d failed sign-ins audited, want 3 (one real login, two unknown)", failed)
	}
}

// TestAccountWideLimit: an account is slowed once 20 failures have come
// from all addresses together within the hour, however few each address
// sent; the 20th is still checked, the 21st waits, even with the right
// password (issue 22, item 1).
func TestAccountWideLimit(t *testing.T) {
	w := newWorld(t)
	for i := range 20 {
		ip := fmt.Sprintf("198.51.100.%d", i/4+1) // 4 each: no address reaches its own limit
		if err := w.login("alice", "not the password at all", ip); !errors.Is(err, accounts.ErrBadCredentials) {
			t.Fatalf("failure %d from %s: %v, want it checked", i+1, ip, err)
		}
	}
	var thr *accounts.ThrottledError
	if err := w.login("alice", alicePW, "192.0.2.200"); !errors.As(err, &thr) || thr.RetryAfter <= 0 || thr.RetryAfter > 3*time.Second {
		t.Fatalf("after 20 failures from 5 addresses, a 21st check from a 6th: %v, want throttled for at most 3 s", err)
	}
}

// TestCorrectSignInsAreNotFailures: signing in with the right password, from
// as many addresses as one likes, never counts towards the account-wide
// limit (issue 19, item 3).
func TestCorrectSignInsAreNotFailures(t *testing.T) {
	w := newWorld(t)
	for i := range 25 {
		if err := w.login("alice", alicePW, fmt.Sprintf("192.0.2.%d", i+1)); err != nil {
			t.Fatalf("correct sign-in %d: %v", i+1, err)
		}
	}
	// Failures still count: 20 of them after the 25 successes slow it.
	for i := range 20 {
		_ = w.login("alice", "not the password at all", fmt.Sprintf("198.51.100.%d", i/4+1))
	}
	if err := w.login("alice", alicePW, "203.0.113.1"); !isThrottled(err) {
		t.Fatalf("20 failures after the successes: %v, want throttled", err)
	}
}

// TestIPv6ClientsCountedPerSlash64: a client usually owns a whole /64, so
// attempts from any address inside one count together; another /64 is
// another client (issue 22, item 2).
func TestIPv6ClientsCountedPerSlash64(t *testing.T) {
	w := newWorld(t)
	for i := range 5 {
		ip := fmt.Sprintf("2001:db8:1:2::%x", i+1)
		if err := w.login("alice", "not the password at all", ip); !errors.Is(err, accounts.ErrBadCredentials) {
			t.Fatalf("failure %d from %s: %v", i+1, ip, err)
		}
	}
	if err := w.login("alice", alicePW, "2001:db8:1:2:ffff:ffff:ffff:fff0"); !isThrottled(err) {
		t.Fatalf("a sixth address in the same /64: %v, want throttled", err)
	}
	if err := w.login("alice", alicePW, "2001:db8:1:3::1"); err != nil {
		t.Fatalf("the next /64 is another client: %v", err)
	}
	// An IPv4 address mapped into IPv6 is that IPv4 address.
	for range 5 {
		_ = w.login("alice", "not the password at all", "192.0.2.77")
	}
	if err := w.login("alice", alicePW, "::ffff:192.0.2.77"); !isThrottled(err) {
		t.Fatalf("the mapped form of a locked IPv4 address: %v, want throttled", err)
	}
}

// TestLockoutDoublesToFifteenMinutes: an address is locked out of an
// account for a minute at its 5th failure, and each failure after a
// lock-out ends doubles it, up to 15 minutes; the account as a whole is
// slowed to one check every 3 seconds.
func TestLockoutDoublesToFifteenMinutes(t *testing.T) {
	c := newClock()
	w := newWorld(t, func(o *accounts.Options) { o.Now = c.now })
	const ip = "203.0.113.9"
	for i := range 5 {
		if err := w.login("alice", "not the password at all", ip); !errors.Is(err, accounts.ErrBadCredentials) {
			t.Fatalf("failure %d: %v", i+1, err)
		}
	}
	for _, want := range []time.Duration{time.Minute, 2 * time.Minute, 4 * time.Minute, 8 * time.Minute, 15 * time.Minute, 15 * time.Minute} {
		var thr *accounts.ThrottledError
		if err := w.login("alice", alicePW, ip); !errors.As(err, &thr) || thr.RetryAfter != want {
			t.Fatalf("locked out: %v, want a retry after %s", err, want)
		}
		c.advance(want)
		if err := w.login("alice", "not the password at all", ip); !errors.Is(err, accounts.ErrBadCredentials) {
			t.Fatalf("once the %s are over: %v, want the guess checked", want, err)
		}
	}
}
