package accounts_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/gopherops/gopherops/service/internal/accounts"
)

const issuer = "https://id.example.com"

// sso signs in through the identity provider as subject, with email.
func (w *world) sso(subject, email string, verified, signup bool) (accounts.User, error) {
	return w.svc.SignInExternal(context.Background(), accounts.ExternalSignIn{Issuer: issuer, Subject: subject,
		Email: email, EmailVerified: verified, AllowSignup: signup, ClientIP: "192.0.2.7", RequestID: "req-1"})
}

// eventsSince are the actions of the trail after event id, oldest first,
// each with its target's name.
func (w *world) eventsSince(t *testing.T, id int64) []string {
	t.Helper()
	events, err := w.svc.AuditTrail(context.Background(), accounts.Actor{User: w.root}, 0, accounts.MaxListLimit)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range events {
		if e.ID <= id {
			break
		}
		if e.Details["issuer"] != issuer {
			t.Errorf("event %+v does not name the issuer", e)
		}
		out = append(out, string(e.Action)+" "+e.TargetName)
	}
	slices.Reverse(out)
	return out
}

// TestSignInExternal: an identity signs in to the account it is linked to,
// else links to the account with its verified email, else (when signup is
// allowed) to a new account with the least role; an unverified email, no
// account without signup and a disabled account are refused. Each step
// is audited, naming the issuer.
func TestSignInExternal(t *testing.T) {
	tests := []struct {
		name    string
		setup   func(t *testing.T, w *world)
		subject string
		email   string
		unver   bool // the provider has not verified the email
		signup  bool
		err     error
		user    string // who signs in
		role    accounts.Role
		events  []string
	}{
		{name: "a verified email links its account", subject: "s-alice", email: " Alice@Example.com ",
			user: "alice", role: accounts.RoleUser, events: []string{"auth.identity_linked alice", "auth.login_sso alice"}},
		{name: "a linked identity signs in whatever its email", setup: func(t *testing.T, w *world) {
			if _, err := w.sso("s-alice", "alice@example.com", true, false); err != nil {
				t.Fatal(err)
			}
		}, subject: "s-alice", email: "someone-else@example.com", unver: true,
			user: "alice", role: accounts.RoleUser, events: []string{"auth.login_sso alice"}},
		{name: "an admin's verified email links the admin", subject: "s-admin", email: "second-admin@example.com",
			user: "second-admin", role: accounts.RoleAdmin, events: []string{"auth.identity_linked second-admin", "auth.login_sso second-admin"}},
		{name: "signup allowed, an email with an account links that account", subject: "s-alice", email: "alice@example.com", signup: true,
			user: "alice", role: accounts.RoleUser, events: []string{"auth.identity_linked alice", "auth.login_sso alice"}},
		{name: "an email the provider has not verified", subject: "s-alice", email: "alice@example.com", unver: true, signup: true,
			err: accounts.ErrEmailUnverified},
		{name: "a verified email that is no address", subject: "s-x", email: "not an address", signup: true,
			err: accounts.ErrEmailUnverified},
		{name: "no account, and no signup", subject: "s-new", email: "new@example.com", err: accounts.ErrNoAccount},
		{name: "a disabled account", setup: func(t *testing.T, w *world) {
			if _, err := w.svc.SetDisabled(context.Background(), accounts.Actor{User: w.admin}, w.alice.ID, true); err != nil {
				t.Fatal(err)
			}
		}, subject: "s-alice", email: "alice@example.com", err: accounts.ErrAccountDisabled,
			events: []string{"auth.login_disabled alice"}},
		{name: "signup makes a user named after the email", subject: "s-new", email: "New.Person+tag@example.com", signup: true,
			user: "new.persontag", role: accounts.RoleUser,
			events: []string{"user.created new.persontag", "auth.identity_linked new.persontag", "auth.login_sso new.persontag"}},
		{name: "a name of three characters is kept", subject: "s-new", email: "bob@example.com", signup: true,
			user: "bob", role: accounts.RoleUser, events: []string{"user.created bob", "auth.identity_linked bob", "auth.login_sso bob"}},
		{name: "a shorter name is filled up to three", subject: "s-new", email: "x-@example.com", signup: true,
			user: "x__", role: accounts.RoleUser, events: []string{"user.created x__", "auth.identity_linked x__", "auth.login_sso x__"}},
		{name: "a longer name is cut to 40", subject: "s-new", email: strings.Repeat("a", 41) + "@example.com", signup: true,
			user: strings.Repeat("a", 40), role: accounts.RoleUser, events: []string{"user.created " + strings.Repeat("a", 40),
				"auth.identity_linked " + strings.Repeat("a", 40), "auth.login_sso " + strings.Repeat("a", 40)}},
		{name: "a name of exactly 40 is kept", subject: "s-new", email: strings.Repeat("b", 40) + "@example.com", signup: true,
			user: strings.Repeat("b", 40), role: accounts.RoleUser, events: []string{"user.created " + strings.Repeat("b", 40),
				"auth.identity_linked " + strings.Repeat("b", 40), "auth.login_sso " + strings.Repeat("b", 40)}},
		{name: "a name taken gets the next free number", setup: func(t *testing.T, w *world) {
			w.mkUsers(t, "carol", "carol-2")
		}, subject: "s-new", email: "carol@elsewhere.example", signup: true,
			user: "carol-3", role: accounts.RoleUser, events: []string{"user.created carol-3", "auth.identity_linked carol-3", "auth.login_sso carol-3"}},
		{name: "the twentieth name is the last tried", setup: func(t *testing.T, w *world) {
			w.mkUsers(t, append([]string{"dave"}, names("dave", 2, 19)...)...)
		}, subject: "s-new", email: "dave@elsewhere.example", signup: true,
			user: "dave-20", role: accounts.RoleUser, events: []string{"user.created dave-20", "auth.identity_linked dave-20", "auth.login_sso dave-20"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newWorld(t)
			if tt.setup != nil {
				tt.setup(t, w)
			}
			before := w.lastEvent(t)
			u, err := w.sso(tt.subject, tt.email, !tt.unver, tt.signup)
			if !errors.Is(err, tt.err) {
				t.Fatalf("err = %v, want %v", err, tt.err)
			}
			if got := w.eventsSince(t, before.ID); !slices.Equal(got, tt.events) {
				t.Fatalf("audited %q, want %q", got, tt.events)
			}
			if tt.err != nil {
				if u.ID != 0 {
					t.Fatalf("refused, yet answered %+v", u)
				}
				return
			}
			stored, err := w.svc.GetUser(context.Background(), accounts.Actor{User: w.root}, u.ID)
			if err != nil || u.Username != tt.user || stored.Username != tt.user || stored.Role != tt.role || stored.LastLoginAt == nil {
				t.Fatalf("signed in as %+v, stored %+v (%v); want %s (%s) with the sign-in recorded", u, stored, err, tt.user, tt.role)
			}
			// The identity is linked from now on: it signs in again without its email.
			again, err := w.sso(tt.subject, "", false, false)
			if err != nil || again.ID != u.ID {
				t.Fatalf("signing in again with the linked identity: %+v %v, want %s", again, err, tt.user)
			}
		})
	}
}

// TestSignUpRunsOutOfNames: after 20 names taken the sign-up gives up,
// creating nothing.
func TestSignUpRunsOutOfNames(t *testing.T) {
	w := newWorld(t)
	w.mkUsers(t, append([]string{"erin"}, names("erin", 2, 20)...)...)
	before := w.lastEvent(t)
	if u, err := w.sso("s-new", "erin@elsewhere.example", true, true); err == nil || !strings.Contains(err.Error(), "no free username") {
		t.Fatalf("signed up as %+v (%v), want no free username", u, err)
	}
	if got := w.eventsSince(t, before.ID); len(got) != 0 {
		t.Fatalf("audited %q, want nothing", got)
	}
}

// names are base-from to base-to.
func names(base string, from, to int) []string {
	var out []string
	for i := from; i <= to; i++ {
		out = append(out, fmt.Sprintf("%s-%d", base, i))
	}
	return out
}

// mkUsers creates users with these names.
func (w *world) mkUsers(t *testing.T, names ...string) {
	t.Helper()
	for _, n := range names {
		if _, err := w.svc.CreateUser(context.Background(), accounts.Actor{User: w.admin}, accounts.NewUser{
			Username: n, Email: n + "@example.com", Password: "a perfectly long new password"}); err != nil {
			t.Fatal(err)
		}
	}
}
