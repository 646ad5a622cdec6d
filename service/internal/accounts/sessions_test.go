package accounts_test

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gopherops/gopherops/service/internal/accounts"
)

// clock is a time that tests move by hand.
type clock struct{ ns atomic.Int64 }

func newClock() *clock {
	c := &clock{}
	c.ns.Store(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC).UnixNano())
	return c
}

func (c *clock) now() time.Time          { return time.Unix(0, c.ns.Load()).UTC() }
func (c *clock) advance(d time.Duration) { c.ns.Add(int64(d)) }

// TestSessionLifetimes: a browser session lasts 12 hours, an API token 30
// days unless it asks for a lifetime between a minute and the longest
// allowed (90 days); a name is at most 100 characters. Each is refused
// before anything is stored.
func TestSessionLifetimes(t *testing.T) {
	ctx := context.Background()
	c := newClock()
	w := newWorld(t, func(o *accounts.Options) { o.Now = c.now })
	day := 24 * time.Hour
	tests := []struct {
		name  string
		in    accounts.SessionInput
		life  time.Duration
		field string
	}{
		{"a browser session", accounts.SessionInput{Kind: accounts.KindSession}, 12 * time.Hour, ""},
		{"a browser session ignores a lifetime", accounts.SessionInput{Kind: accounts.KindSession, TTL: time.Hour}, 12 * time.Hour, ""},
		{"a token by default", accounts.SessionInput{Kind: accounts.KindToken}, 30 * day, ""},
		{"a token of one minute", accounts.SessionInput{Kind: accounts.KindToken, TTL: time.Minute}, time.Minute, ""},
		{"a token of 90 days", accounts.SessionInput{Kind: accounts.KindToken, TTL: 90 * day}, 90 * day, ""},
		{"a token under a minute", accounts.SessionInput{Kind: accounts.KindToken, TTL: time.Minute - time.Second}, 0, "expires_in"},
		{"a token over 90 days", accounts.SessionInput{Kind: accounts.KindToken, TTL: 90*day + time.Second}, 0, "expires_in"},
		{"a name of 100 characters", accounts.SessionInput{Kind: accounts.KindToken, Name: strings.Repeat("é", 100)}, 30 * day, ""},
		{"a name of 101 characters", accounts.SessionInput{Kind: accounts.KindToken, Name: strings.Repeat("é", 101)}, 0, "name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			secret, s, err := w.svc.StartSession(ctx, w.alice, tt.in)
			if tt.field != "" {
				if field(err, tt.field) == "" {
					t.Fatalf("err = %v, want a problem with %q", err, tt.field)
				}
				if msg := field(err, "expires_in"); msg != "" && msg != "must be between 60 and 7776000 seconds" {
					t.Fatalf("the lifetime's problem says %q, want the bounds in seconds (60 and 90 days)", msg)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := s.ExpiresAt.Sub(c.now()); got != tt.life {
				t.Fatalf("lasts %s, want %s", got, tt.life)
			}
			prefix := map[accounts.SessionKind]string{accounts.KindSession: "gos_", accounts.KindToken: "gpt_"}[tt.in.Kind]
			if !strings.HasPrefix(secret, prefix) || s.Scopes != accounts.ScopesAll {
				t.Fatalf("secret %q, scopes %v: want the prefix %s and every scope", secret[:4], s.Scopes, prefix)
			}
		})
	}
}

// TestAuthenticate: a secret answers for its own kind only, until it
// expires or is ended; its use is recorded at most once a minute.
func TestAuthenticate(t *testing.T) {
	ctx := context.Background()
	c := newClock()
	w := newWorld(t, func(o *accounts.Options) { o.Now = c.now })
	secret, s, err := w.svc.StartSession(ctx, w.alice, accounts.SessionInput{Kind: accounts.KindToken, TTL: time.Hour,
		Scopes: accounts.ScopeRead, Name: "ci", ClientIP: "192.0.2.1"})
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name, secret string
		kind         accounts.SessionKind
		ok           bool
	}{
		{"the token", secret, accounts.KindToken, true},
		{"the token as a session", secret, accounts.KindSession, false},
		{"the token's secret as a session's", "gos_" + strings.TrimPrefix(secret, "gpt_"), accounts.KindSession, false},
		{"another secret", "gpt_" + strings.Repeat("A", 43), accounts.KindToken, false},
		{"too long to be one", secret + strings.Repeat("A", 101-len(secret)), accounts.KindToken, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			u, got, err := w.svc.Authenticate(ctx, tt.secret, tt.kind, "192.0.2.2")
			if !tt.ok {
				if !errors.Is(err, accounts.ErrUnauthenticated) {
					t.Fatalf("err = %v, want ErrUnauthenticated", err)
				}
				return
			}
			if err != nil || u.ID != w.alice.ID || got.ID != s.ID || got.Scopes != accounts.ScopeRead {
				t.Fatalf("%+v %+v %v", u, got, err)
			}
		})
	}
	lastUsed := func() (time.Time, string) {
		t.Helper()
		list, err := w.svc.ListSessions(ctx, accounts.Actor{User: w.alice}, w.alice.ID)
		if err != nil || len(list) != 1 {
			t.Fatalf("sessions: %+v %v", list, err)
		}
		return list[0].LastUsedAt, list[0].ClientIP
	}
	c.advance(time.Minute)
	if _, _, err := w.svc.Authenticate(ctx, secret, accounts.KindToken, "192.0.2.3"); err != nil {
		t.Fatal(err)
	}
	if at, ip := lastUsed(); !at.Equal(s.CreatedAt) || ip != "192.0.2.1" {
		t.Fatalf("a use a minute later was recorded (%s from %s): once a minute at most", at, ip)
	}
	c.advance(time.Second)
	if _, got, err := w.svc.Authenticate(ctx, secret, accounts.KindToken, "192.0.2.4"); err != nil || !got.LastUsedAt.Equal(c.now()) || got.ClientIP != "192.0.2.4" {
		t.Fatalf("the session answered: last used %s from %s, %v; want now from 192.0.2.4", got.LastUsedAt, got.ClientIP, err)
	}
	if at, ip := lastUsed(); !at.Equal(c.now()) || ip != "192.0.2.4" {
		t.Fatalf("last used %s from %s, want now from 192.0.2.4", at, ip)
	}
	c.advance(time.Hour)
	if _, _, err := w.svc.Authenticate(ctx, secret, accounts.KindToken, ""); !errors.Is(err, accounts.ErrUnauthenticated) {
		t.Fatalf("an expired token: %v", err)
	}
}

// TestAuthCacheHoldsTwoSeconds: by default a successful authentication is
// reused for two seconds (a revocation by another replica shows within
// them), and a revocation by this one shows at once.
func TestAuthCacheHoldsTwoSeconds(t *testing.T) {
	ctx := context.Background()
	c := newClock()
	w := newWorld(t, func(o *accounts.Options) { o.Now, o.AuthCacheTTL = c.now, 0 })
	// Another replica: the same database, its own cache.
	other := w.replica(t, func(o *accounts.Options) { o.Now = c.now })
	secret, s, err := w.svc.StartSession(ctx, w.alice, accounts.SessionInput{Kind: accounts.KindSession})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := w.svc.Authenticate(ctx, secret, accounts.KindSession, ""); err != nil {
		t.Fatal(err)
	}
	if err := other.Logout(ctx, accounts.Actor{User: w.alice, SessionID: s.ID}); err != nil {
		t.Fatal(err)
	}
	c.advance(2 * time.Second)
	if _, _, err := w.svc.Authenticate(ctx, secret, accounts.KindSession, ""); err != nil {
		t.Fatalf("within the two seconds: %v, want the cached answer", err)
	}
	c.advance(time.Millisecond)
	if _, _, err := w.svc.Authenticate(ctx, secret, accounts.KindSession, ""); !errors.Is(err, accounts.ErrUnauthenticated) {
		t.Fatalf("after the two seconds: %v, want the revocation seen", err)
	}

	secret, s, err = w.svc.StartSession(ctx, w.alice, accounts.SessionInput{Kind: accounts.KindSession})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := w.svc.Authenticate(ctx, secret, accounts.KindSession, ""); err != nil {
		t.Fatal(err)
	}
	if err := w.svc.Logout(ctx, accounts.Actor{User: w.alice, SessionID: s.ID}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := w.svc.Authenticate(ctx, secret, accounts.KindSession, ""); !errors.Is(err, accounts.ErrUnauthenticated) {
		t.Fatalf("signed out here: %v, want it seen at once", err)
	}
}

// TestAuthCacheTTL: a positive AuthCacheTTL is how long an authentication
// is reused, for every session at once; a negative one reuses none, so a
// revocation by another replica shows at once.
func TestAuthCacheTTL(t *testing.T) {
	tests := []struct {
		name string
		ttl  time.Duration
		hold time.Duration // how long a revocation elsewhere goes unseen
	}{
		{"a minute", time.Minute, time.Minute},
		{"none", -1, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			c := newClock()
			w := newWorld(t, func(o *accounts.Options) { o.Now, o.AuthCacheTTL = c.now, tt.ttl })
			other := w.replica(t, func(o *accounts.Options) { o.Now = c.now })
			// Two sessions authenticated here, then both revoked by the other replica.
			secrets, ids := make([]string, 2), make([]int64, 2)
			for i := range secrets {
				secret, s, err := w.svc.StartSession(ctx, w.alice, accounts.SessionInput{Kind: accounts.KindSession})
				if err != nil {
					t.Fatal(err)
				}
				if _, _, err := w.svc.Authenticate(ctx, secret, accounts.KindSession, ""); err != nil {
					t.Fatal(err)
				}
				secrets[i], ids[i] = secret, s.ID
			}
			for _, id := range ids {
				if err := other.Logout(ctx, accounts.Actor{User: w.alice, SessionID: id}); err != nil {
					t.Fatal(err)
				}
			}
			c.advance(tt.hold)
			for i, secret := range secrets {
				_, _, err := w.svc.Authenticate(ctx, secret, accounts.KindSession, "")
				if tt.hold > 0 && err != nil {
					t.Fatalf("session %d, %s after its revocation elsewhere: %v, want the cached answer", i+1, tt.hold, err)
				}
				if tt.hold == 0 && !errors.Is(err, accounts.ErrUnauthenticated) {
					t.Fatalf("session %d, at once, without a cache: %v, want the revocation seen", i+1, err)
				}
			}
			c.advance(time.Millisecond)
			for i, secret := range secrets {
				if _, _, err := w.svc.Authenticate(ctx, secret, accounts.KindSession, ""); !errors.Is(err, accounts.ErrUnauthenticated) {
					t.Fatalf("session %d, after %s: %v, want the revocation seen", i+1, tt.hold+time.Millisecond, err)
				}
			}
		})
	}
}
