package accounts_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/gopherops/gopherops/service/internal/accounts"
)

// revokeWorld is the world with a second user, bob, and some sign-ins:
// alice's browser sessions s1 and s2 and her token t3, bob's token and a
// session of the second admin.
type revokeWorld struct {
	*world
	bob     accounts.User
	secrets map[string]string
	ids     map[string]int64
	kinds   map[string]accounts.SessionKind
}

func newRevokeWorld(t *testing.T) *revokeWorld {
	t.Helper()
	ctx := context.Background()
	w := &revokeWorld{world: newWorld(t), secrets: map[string]string{}, ids: map[string]int64{}, kinds: map[string]accounts.SessionKind{}}
	bob, err := w.svc.CreateUser(ctx, accounts.Actor{User: w.admin}, accounts.NewUser{
		Username: "bob", Email: "bob@example.com", Password: "a perfectly long new password"})
	if err != nil {
		t.Fatal(err)
	}
	w.bob = bob
	for _, s := range []struct {
		name string
		u    accounts.User
		kind accounts.SessionKind
	}{
		{"s1", w.alice, accounts.KindSession}, {"s2", w.alice, accounts.KindSession}, {"t3", w.alice, accounts.KindToken},
		{"bob's token", bob, accounts.KindToken}, {"admin's session", w.admin, accounts.KindSession},
	} {
		secret, sess, err := w.svc.StartSession(ctx, s.u, accounts.SessionInput{Kind: s.kind, Name: s.name})
		if err != nil {
			t.Fatal(err)
		}
		w.secrets[s.name], w.ids[s.name], w.kinds[s.name] = secret, sess.ID, s.kind
	}
	return w
}

// alive lists which of the named sign-ins still authenticate.
func (w *revokeWorld) alive(t *testing.T) map[string]bool {
	t.Helper()
	out := map[string]bool{}
	for name, secret := range w.secrets {
		_, _, err := w.svc.Authenticate(context.Background(), secret, w.kinds[name], "")
		switch {
		case err == nil:
			out[name] = true
		case !errors.Is(err, accounts.ErrUnauthenticated):
			t.Fatalf("authenticating %s: %v", name, err)
		}
	}
	return out
}

// ended is every sign-in alive but those named.
func ended(names ...string) map[string]bool {
	out := map[string]bool{"s1": true, "s2": true, "t3": true, "bob's token": true, "admin's session": true}
	for _, n := range names {
		delete(out, n)
	}
	return out
}

// checkAfter checks what a revocation left: the sign-ins alive, and either
// the one event it wrote or, when action is "", none since before.
func (w *revokeWorld) checkAfter(t *testing.T, before accounts.AuditEvent, alive map[string]bool, action accounts.AuditAction, by, about int64, details map[string]any) {
	t.Helper()
	if got := w.alive(t); fmt.Sprint(got) != fmt.Sprint(alive) {
		t.Fatalf("alive %v, want %v", got, alive)
	}
	events, err := w.svc.AuditTrail(context.Background(), accounts.Actor{User: w.root}, 0, 2)
	if err != nil {
		t.Fatal(err)
	}
	if action == "" {
		if events[0].ID != before.ID {
			t.Fatalf("audited %+v, want nothing", events[0])
		}
		return
	}
	e := events[0]
	if events[1].ID != before.ID || e.Action != action || e.ActorID == nil || *e.ActorID != by ||
		(about == 0) != (e.TargetID == nil) || about != 0 && *e.TargetID != about || fmt.Sprint(e.Details) != fmt.Sprint(details) {
		t.Fatalf("audited %+v (after %d), want one %s by %d about %d with %v", e, events[1].ID, action, by, about, details)
	}
}

// TestRevokeToken: a token's owner or an admin (with the admin's power)
// revokes it, which is audited with its owner; anyone else, a browser
// session's ID or an ID that is no token at all are told it does not exist.
func TestRevokeToken(t *testing.T) {
	tests := []struct {
		name  string
		actor func(w *revokeWorld) accounts.Actor
		token string // a name of the world's, or "" for an ID that does not exist
		err   error
	}{
		{"the owner revokes their token", func(w *revokeWorld) accounts.Actor { return accounts.Actor{User: w.alice} }, "t3", nil},
		{"an admin revokes a user's token", func(w *revokeWorld) accounts.Actor { return accounts.Actor{User: w.admin} }, "t3", nil},
		{"another user cannot, and learns nothing", func(w *revokeWorld) accounts.Actor { return accounts.Actor{User: w.bob} }, "t3", accounts.ErrNotFound},
		{"nor an admin's token without the admin scope", func(w *revokeWorld) accounts.Actor {
			return accounts.Actor{User: w.admin, Scopes: accounts.ScopeRead | accounts.ScopeWrite}
		}, "t3", accounts.ErrNotFound},
		{"a browser session is no token, even one's own", func(w *revokeWorld) accounts.Actor { return accounts.Actor{User: w.alice} }, "s1", accounts.ErrNotFound},
		{"a browser session is no token, even to an admin", func(w *revokeWorld) accounts.Actor { return accounts.Actor{User: w.admin} }, "s1", accounts.ErrNotFound},
		{"a token that does not exist", func(w *revokeWorld) accounts.Actor { return accounts.Actor{User: w.alice} }, "", accounts.ErrNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newRevokeWorld(t)
			a := tt.actor(w)
			id := int64(1 << 40)
			if tt.token != "" {
				id = w.ids[tt.token]
			}
			before := w.lastEvent(t)
			if err := w.svc.RevokeToken(context.Background(), a, id); !errors.Is(err, tt.err) {
				t.Fatalf("err = %v, want %v", err, tt.err)
			}
			if tt.err != nil {
				w.checkAfter(t, before, ended(), "", 0, 0, nil)
				return
			}
			w.checkAfter(t, before, ended(tt.token), accounts.ActionTokenRevoked, a.User.ID, 0,
				map[string]any{"owner_id": float64(w.alice.ID), "token_id": float64(id)})
		})
	}
}

// TestRevokeSession: a user or an admin ends one session or token of that
// user, audited with its kind; another user may not, and a session of
// someone else, or one that does not exist, is not found.
func TestRevokeSession(t *testing.T) {
	tests := []struct {
		name    string
		actor   func(w *revokeWorld) accounts.Actor
		user    func(w *revokeWorld) int64
		session string // a name of the world's, or "" for an ID that does not exist
		err     error
	}{
		{"a user ends one of their sessions", func(w *revokeWorld) accounts.Actor { return accounts.Actor{User: w.alice} },
			func(w *revokeWorld) int64 { return w.alice.ID }, "s2", nil},
		{"or one of their tokens", func(w *revokeWorld) accounts.Actor { return accounts.Actor{User: w.alice} },
			func(w *revokeWorld) int64 { return w.alice.ID }, "t3", nil},
		{"an admin ends a user's session", func(w *revokeWorld) accounts.Actor { return accounts.Actor{User: w.admin} },
			func(w *revokeWorld) int64 { return w.alice.ID }, "s1", nil},
		{"another user may not", func(w *revokeWorld) accounts.Actor { return accounts.Actor{User: w.bob} },
			func(w *revokeWorld) int64 { return w.alice.ID }, "s1", accounts.ErrForbidden},
		{"a session of someone else is not found", func(w *revokeWorld) accounts.Actor { return accounts.Actor{User: w.alice} },
			func(w *revokeWorld) int64 { return w.alice.ID }, "bob's token", accounts.ErrNotFound},
		{"a session that does not exist", func(w *revokeWorld) accounts.Actor { return accounts.Actor{User: w.alice} },
			func(w *revokeWorld) int64 { return w.alice.ID }, "", accounts.ErrNotFound},
		{"a user that does not exist", func(w *revokeWorld) accounts.Actor { return accounts.Actor{User: w.admin} },
			func(*revokeWorld) int64 { return 1 << 40 }, "s1", accounts.ErrNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newRevokeWorld(t)
			a, user := tt.actor(w), tt.user(w)
			id := int64(1 << 40)
			if tt.session != "" {
				id = w.ids[tt.session]
			}
			before := w.lastEvent(t)
			if err := w.svc.RevokeSession(context.Background(), a, user, id); !errors.Is(err, tt.err) {
				t.Fatalf("err = %v, want %v", err, tt.err)
			}
			if tt.err != nil {
				w.checkAfter(t, before, ended(), "", 0, 0, nil)
				return
			}
			w.checkAfter(t, before, ended(tt.session), accounts.ActionSessionRevoked, a.User.ID, user,
				map[string]any{"kind": string(w.kinds[tt.session]), "session_id": float64(id)})
		})
	}
}

// TestRevokeOtherSessions: a user ends every session and token of theirs
// but the one they came with, an admin ends all of a user's; each is
// audited with the count and whether one was kept. Another user may not,
// and a user that does not exist is not found.
func TestRevokeOtherSessions(t *testing.T) {
	tests := []struct {
		name  string
		actor func(w *revokeWorld) accounts.Actor
		user  func(w *revokeWorld) int64
		n     int64
		kept  bool
		alive []string // besides the others' sign-ins
		err   error
	}{
		{"a user ends all but the current one", func(w *revokeWorld) accounts.Actor {
			return accounts.Actor{User: w.alice, SessionID: w.ids["s1"]}
		}, func(w *revokeWorld) int64 { return w.alice.ID }, 2, true, []string{"s1"}, nil},
		{"a user signed in without a session ends them all", func(w *revokeWorld) accounts.Actor {
			return accounts.Actor{User: w.alice}
		}, func(w *revokeWorld) int64 { return w.alice.ID }, 3, false, nil, nil},
		{"an admin ends all of a user's, keeping their own", func(w *revokeWorld) accounts.Actor {
			return accounts.Actor{User: w.admin, SessionID: w.ids["admin's session"]}
		}, func(w *revokeWorld) int64 { return w.alice.ID }, 3, false, nil, nil},
		{"another user may not", func(w *revokeWorld) accounts.Actor {
			return accounts.Actor{User: w.bob, SessionID: w.ids["bob's token"]}
		}, func(w *revokeWorld) int64 { return w.alice.ID }, 0, false, []string{"s1", "s2", "t3"}, accounts.ErrForbidden},
		{"a user that does not exist", func(w *revokeWorld) accounts.Actor {
			return accounts.Actor{User: w.admin, SessionID: w.ids["admin's session"]}
		}, func(*revokeWorld) int64 { return 1 << 40 }, 0, false, []string{"s1", "s2", "t3"}, accounts.ErrNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newRevokeWorld(t)
			a, user := tt.actor(w), tt.user(w)
			before := w.lastEvent(t)
			n, err := w.svc.RevokeOtherSessions(context.Background(), a, user)
			if !errors.Is(err, tt.err) || n != tt.n {
				t.Fatalf("%d ended, err %v; want %d, %v", n, err, tt.n, tt.err)
			}
			alive := ended("s1", "s2", "t3")
			for _, name := range tt.alive {
				alive[name] = true
			}
			if tt.err != nil {
				w.checkAfter(t, before, alive, "", 0, 0, nil)
				return
			}
			w.checkAfter(t, before, alive, accounts.ActionSessionsRevoked, a.User.ID, user,
				map[string]any{"count": float64(tt.n), "kept_current": tt.kept})
		})
	}
}
