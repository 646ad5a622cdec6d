package accounts_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gopherops/gopherops/service/internal/accounts"
)

// The identity providers of these tests, and where their sign-ins come from.
const (
	idpA     = "https://idp.example.com"
	idpB     = "https://other-idp.example.org"
	ssoIP    = "192.0.2.77"
	ssoReqID = "req-sso-1"
)

// ssoSignIn signs in through provider idpA (unless in names another), from
// ssoIP with request ssoReqID, on the world's own service.
func (w *world) ssoSignIn(in accounts.ExternalSignIn) (accounts.User, error) {
	if in.Issuer == "" {
		in.Issuer = idpA
	}
	in.ClientIP, in.RequestID = ssoIP, ssoReqID
	return w.svc.SignInExternal(context.Background(), in)
}

// linked is the username of the account the provider's subject is linked
// to, "" when it is linked to none.
func (w *world) linked(t *testing.T, issuer, subject string) string {
	t.Helper()
	u, err := w.base.Store.UserByIdentity(context.Background(), issuer, subject)
	if errors.Is(err, accounts.ErrNotFound) {
		return ""
	}
	if err != nil {
		t.Fatal(err)
	}
	return u.Username
}

// userNamed is the stored account with this username.
func (w *world) userNamed(t *testing.T, name string) accounts.User {
	t.Helper()
	c, err := w.base.Store.CredentialByLogin(context.Background(), name)
	if err != nil {
		t.Fatalf("account %s: %v", name, err)
	}
	return c.User
}

// newestEvents are the newest n events of the audit trail, oldest first.
func (w *world) newestEvents(t *testing.T, n int) []accounts.AuditEvent {
	t.Helper()
	if n == 0 {
		return nil
	}
	events, err := w.svc.AuditTrail(context.Background(), accounts.Actor{User: w.root}, 0, n)
	if err != nil || len(events) != n {
		t.Fatalf("the newest %d audit events: %d, %v", n, len(events), err)
	}
	slices.Reverse(events)
	return events
}

func actions(events []accounts.AuditEvent) []accounts.AuditAction {
	out := make([]accounts.AuditAction, 0, len(events))
	for _, e := range events {
		out = append(out, e.Action)
	}
	return out
}

// TestSignInExternal: a provider's identity signs in to the account it is
// linked to, else to the account of its verified email (linked from then
// on), else to a new account with the least role where sign-up is allowed;
// every other case is refused, links nothing, creates nothing and signs
// nobody in.
func TestSignInExternal(t *testing.T) {
	ctx := context.Background()
	// linkAlice links subject sub-alice of idpA to alice, by her email.
	linkAlice := func(t *testing.T, w *world) {
		t.Helper()
		if u, err := w.ssoSignIn(accounts.ExternalSignIn{Subject: "sub-alice", Email: "alice@example.com", EmailVerified: true}); err != nil || u.ID != w.alice.ID {
			t.Fatalf("linking alice: %+v %v", u, err)
		}
	}
	disableAlice := func(t *testing.T, w *world) {
		t.Helper()
		if _, err := w.svc.SetDisabled(ctx, accounts.Actor{User: w.root}, w.alice.ID, true); err != nil {
			t.Fatal(err)
		}
	}
	signIn, linkedNow, created := accounts.ActionLoginSSO, accounts.ActionIdentityLinked, accounts.ActionUserCreated
	tests := []struct {
		name  string
		setup []func(*testing.T, *world)
		in    accounts.ExternalSignIn
		err   error  // the refusal; nil when the sign-in succeeds
		user  string // the account signed in, or the one a refusal concerns
		// linked is the account the identity is linked to afterwards ("" none).
		linked string
		users  int64 // accounts afterwards
		events []accounts.AuditAction
	}{
		{"a verified email links its account", nil,
			accounts.ExternalSignIn{Subject: "sub-1", Email: "alice@example.com", EmailVerified: true},
			nil, "alice", "alice", 3, []accounts.AuditAction{linkedNow, signIn}},
		{"the email is matched trimmed and in any case", nil,
			accounts.ExternalSignIn{Subject: "sub-1", Email: "  Alice@Example.COM ", EmailVerified: true},
			nil, "alice", "alice", 3, []accounts.AuditAction{linkedNow, signIn}},
		{"an account with the email is linked, not created, where sign-up is allowed", nil,
			accounts.ExternalSignIn{Subject: "sub-1", Email: "second-admin@example.com", EmailVerified: true, AllowSignup: true},
			nil, "second-admin", "second-admin", 3, []accounts.AuditAction{linkedNow, signIn}},
		{"a linked subject signs in whatever its email says now", []func(*testing.T, *world){linkAlice},
			accounts.ExternalSignIn{Subject: "sub-alice", Email: "mallory@example.net", EmailVerified: false},
			nil, "alice", "alice", 3, []accounts.AuditAction{signIn}},
		{"a linked subject signs in to its account, not to the one with its email", []func(*testing.T, *world){linkAlice},
			accounts.ExternalSignIn{Subject: "sub-alice", Email: "second-admin@example.com", EmailVerified: true, AllowSignup: true},
			nil, "alice", "alice", 3, []accounts.AuditAction{signIn}},
		{"another subject with the same email links to the same account", []func(*testing.T, *world){linkAlice},
			accounts.ExternalSignIn{Subject: "sub-alice-2", Email: "alice@example.com", EmailVerified: true},
			nil, "alice", "alice", 3, []accounts.AuditAction{linkedNow, signIn}},
		{"the same subject from another provider is another identity", []func(*testing.T, *world){linkAlice},
			accounts.ExternalSignIn{Issuer: idpB, Subject: "sub-alice", Email: "second-admin@example.com", EmailVerified: true},
			nil, "second-admin", "second-admin", 3, []accounts.AuditAction{linkedNow, signIn}},
		{"another provider's subject with an unverified email is refused", []func(*testing.T, *world){linkAlice},
			accounts.ExternalSignIn{Issuer: idpB, Subject: "sub-alice", Email: "alice@example.com", EmailVerified: false},
			accounts.ErrEmailUnverified, "", "", 3, nil},
		{"an unverified email is refused", nil,
			accounts.ExternalSignIn{Subject: "sub-1", Email: "alice@example.com", EmailVerified: false},
			accounts.ErrEmailUnverified, "", "", 3, nil},
		{"an unverified email creates nothing where sign-up is allowed", nil,
			accounts.ExternalSignIn{Subject: "sub-1", Email: "newcomer@example.com", EmailVerified: false, AllowSignup: true},
			accounts.ErrEmailUnverified, "", "", 3, nil},
		{"a verified email without an account is refused where sign-up is not allowed", nil,
			accounts.ExternalSignIn{Subject: "sub-1", Email: "newcomer@example.com", EmailVerified: true},
			accounts.ErrNoAccount, "", "", 3, nil},
		{"a verified email without an account gets one where sign-up is allowed", nil,
			accounts.ExternalSignIn{Subject: "sub-1", Email: "New.Comer@Example.com", EmailVerified: true, AllowSignup: true},
			nil, "new.comer", "new.comer", 4, []accounts.AuditAction{created, linkedNow, signIn}},
		{"no email is no verified email", nil,
			accounts.ExternalSignIn{Subject: "sub-1", Email: "", EmailVerified: true, AllowSignup: true},
			accounts.ErrEmailUnverified, "", "", 3, nil},
		{"an email that is no address is no verified email", nil,
			accounts.ExternalSignIn{Subject: "sub-1", Email: "alice", EmailVerified: true, AllowSignup: true},
			accounts.ErrEmailUnverified, "", "", 3, nil},
		{"an address with a display name is no verified email", nil,
			accounts.ExternalSignIn{Subject: "sub-1", Email: "Alice <alice@example.com>", EmailVerified: true, AllowSignup: true},
			accounts.ErrEmailUnverified, "", "", 3, nil},
		{"an address of 255 characters is no verified email", nil,
			accounts.ExternalSignIn{Subject: "sub-1", Email: strings.Repeat("a", 64) + "@" + strings.Repeat("b", 186) + ".com", EmailVerified: true, AllowSignup: true},
			accounts.ErrEmailUnverified, "", "", 3, nil},
		{"a disabled linked account is refused", []func(*testing.T, *world){linkAlice, disableAlice},
			accounts.ExternalSignIn{Subject: "sub-alice", Email: "alice@example.com", EmailVerified: true},
			accounts.ErrAccountDisabled, "alice", "alice", 3, []accounts.AuditAction{accounts.ActionLoginDisabled}},
		{"a disabled account is refused and not linked by its email", []func(*testing.T, *world){disableAlice},
			accounts.ExternalSignIn{Subject: "sub-1", Email: "alice@example.com", EmailVerified: true, AllowSignup: true},
			accounts.ErrAccountDisabled, "alice", "", 3, []accounts.AuditAction{accounts.ActionLoginDisabled}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel() // each on a database of its own
			w := newWorld(t)
			for _, setup := range tt.setup {
				setup(t, w)
			}
			issuer := tt.in.Issuer
			if issuer == "" {
				issuer = idpA
			}
			var lastLogin *time.Time
			if tt.user != "" && tt.err != nil {
				lastLogin = w.userNamed(t, tt.user).LastLoginAt
			}
			events := w.auditCount(t)
			start := time.Now().Truncate(time.Microsecond)
			u, err := w.ssoSignIn(tt.in)

			if tt.err != nil {
				if !errors.Is(err, tt.err) || u != (accounts.User{}) {
					t.Fatalf("signed in %q, err %v; want %v", u.Username, err, tt.err)
				}
			} else {
				if err != nil {
					t.Fatal(err)
				}
				stored := w.userNamed(t, tt.user)
				if u.ID != stored.ID || u.Username != tt.user || u.Email != stored.Email || u.Role != stored.Role {
					t.Fatalf("signed in %+v, want %+v", u, stored)
				}
				if stored.LastLoginAt == nil || stored.LastLoginAt.Before(start) {
					t.Fatalf("the sign-in is not recorded on the account: last sign-in %v, started %v", stored.LastLoginAt, start)
				}
			}
			if tt.user != "" && tt.err != nil {
				if got := w.userNamed(t, tt.user).LastLoginAt; !equalTimes(got, lastLogin) {
					t.Fatalf("a refused sign-in changed the last sign-in from %v to %v", lastLogin, got)
				}
			}
			if got := w.linked(t, issuer, tt.in.Subject); got != tt.linked {
				t.Fatalf("the identity is linked to %q, want %q", got, tt.linked)
			}
			if n, err := w.svc.CountUsers(ctx); err != nil || n != tt.users {
				t.Fatalf("%d accounts (%v), want %d", n, err, tt.users)
			}
			got := w.newestEvents(t, w.auditCount(t)-events)
			if !slices.Equal(actions(got), tt.events) {
				t.Fatalf("audited %v, want %v", actions(got), tt.events)
			}
			for _, e := range got {
				target := w.userNamed(t, tt.user)
				if e.TargetID == nil || *e.TargetID != target.ID || e.TargetName != tt.user ||
					e.ClientIP != ssoIP || e.RequestID != ssoReqID || e.Details["issuer"] != issuer {
					t.Fatalf("event %s: target %v %q, from %q, request %q, details %v; want %s (%d) from %s, request %s, issuer %s",
						e.Action, e.TargetID, e.TargetName, e.ClientIP, e.RequestID, e.Details, tt.user, target.ID, ssoIP, ssoReqID, issuer)
				}
			}
		})
	}
}

func equalTimes(a, b *time.Time) bool {
	return a == nil && b == nil || a != nil && b != nil && a.Equal(*b)
}

// TestSignUpThroughProvider: an account a provider's sign-in creates has the
// least role, the email as the provider gave it (normalized), no password
// change pending (nobody knows its random password), and a username made of
// the email's local part: only the characters a username may hold, no
// separator at either end, at least 3 and at most 40 characters, and a
// number after it when it is taken.
func TestSignUpThroughProvider(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	forty := strings.Repeat("abcdefghij", 4)
	tests := []struct{ email, username string }{
		{"New.Person+Tag@Example.com", "new.persontag"},
		{"-_dash_-@example.com", "dash"},
		{"abc@example.com", "abc"},
		{"ab@example.com", "ab_"},
		{"q@example.com", "q__"},
		{"+++@example.com", "___"},
		{forty + "@example.com", forty},
		{forty + "z@example.com", forty + "-2"},
		{forty + "yx@example.com", forty + "-3"},
		{"alice@example.org", "alice-2"},
		{"Alice@example.net", "alice-3"},
		{"ALICE-2@example.info", "alice-2-2"},
	}
	for i, tt := range tests {
		t.Run(tt.email, func(t *testing.T) {
			subject := fmt.Sprintf("new-%d", i)
			start := time.Now().Truncate(time.Microsecond)
			u, err := w.ssoSignIn(accounts.ExternalSignIn{Subject: subject, Email: tt.email, EmailVerified: true, AllowSignup: true})
			if err != nil {
				t.Fatal(err)
			}
			stored, err := w.svc.GetUser(ctx, accounts.Actor{User: w.root}, u.ID)
			if err != nil {
				t.Fatal(err)
			}
			email := strings.ToLower(tt.email)
			if stored.Username != tt.username || stored.Email != email || stored.Role != accounts.RoleUser ||
				stored.IsRoot || stored.ForcePasswordChange || stored.Disabled() || u.Username != tt.username {
				t.Fatalf("created %+v, want %s <%s>, role user, enabled", stored, tt.username, email)
			}
			if stored.LastLoginAt == nil || stored.LastLoginAt.Before(start) {
				t.Fatalf("the first sign-in is not recorded: %v", stored.LastLoginAt)
			}
			if got := w.linked(t, idpA, subject); got != tt.username {
				t.Fatalf("the identity is linked to %q", got)
			}
			events := w.newestEvents(t, 3)
			if c := events[0]; c.Action != accounts.ActionUserCreated || c.ActorName != tt.username ||
				c.ActorID == nil || *c.ActorID != u.ID || c.Details["role"] != "user" || c.Details["via"] != "sso" || c.Details["issuer"] != idpA {
				t.Fatalf("the creation is audited as %+v", c)
			}
			if got := actions(events); !slices.Equal(got, []accounts.AuditAction{accounts.ActionUserCreated, accounts.ActionIdentityLinked, accounts.ActionLoginSSO}) {
				t.Fatalf("audited %v", got)
			}
			// The next sign-in goes by the subject to the same account.
			again, err := w.ssoSignIn(accounts.ExternalSignIn{Subject: subject, Email: tt.email, EmailVerified: true, AllowSignup: true})
			if err != nil || again.ID != u.ID {
				t.Fatalf("signing in again: %+v %v", again, err)
			}
		})
	}
	if n, err := w.svc.CountUsers(ctx); err != nil || n != int64(3+len(tests)) {
		t.Fatalf("%d accounts (%v), want %d", n, err, 3+len(tests))
	}
}

// TestSignUpTriesTwentyNames: a taken username is followed by name-2 up to
// name-20; when all twenty are taken the sign-in fails and creates nothing.
func TestSignUpTriesTwentyNames(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	take := func(name string) {
		t.Helper()
		if _, err := w.base.Store.CreateUser(ctx, accounts.NewUserRecord{Username: name, Email: strings.ToLower(name) + "@seed.example.com",
			PasswordHash: "$argon2id$seeded", Role: accounts.RoleUser}); err != nil {
			t.Fatal(err)
		}
	}
	// The names are taken whatever their case.
	take("BOB")
	for n := 2; n <= 19; n++ {
		take(fmt.Sprintf("bob-%d", n))
	}
	u, err := w.ssoSignIn(accounts.ExternalSignIn{Subject: "bob-a", Email: "bob@example.com", EmailVerified: true, AllowSignup: true})
	if err != nil || u.Username != "bob-20" {
		t.Fatalf("with bob to bob-19 taken: %q, %v; want bob-20", u.Username, err)
	}

	users, events := int64(3+20), w.auditCount(t)
	u, err = w.ssoSignIn(accounts.ExternalSignIn{Subject: "bob-b", Email: "bob@example.org", EmailVerified: true, AllowSignup: true})
	if err == nil || err.Error() != "accounts: no free username for bob after 20 tries" || u != (accounts.User{}) {
		t.Fatalf("with bob to bob-20 taken: %+v, %v", u, err)
	}
	if n, err := w.svc.CountUsers(ctx); err != nil || n != users {
		t.Fatalf("%d accounts (%v), want %d", n, err, users)
	}
	if got := w.linked(t, idpA, "bob-b"); got != "" || w.auditCount(t) != events {
		t.Fatalf("a failed sign-up linked the identity to %q or was audited", got)
	}
}

// breakingHasher hashes until it is broken, then fails every hash.
type breakingHasher struct {
	accounts.Hasher
	broken *atomic.Bool
}

var errHasherBroken = errors.New("hasher: out of memory")

func (h breakingHasher) Hash(pw string) (string, error) {
	if h.broken.Load() {
		return "", errHasherBroken
	}
	return h.Hasher.Hash(pw)
}

// TestSignUpHasherFails: a sign-up whose password cannot be hashed fails
// with the cause, and creates and links nothing.
func TestSignUpHasherFails(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	var broken atomic.Bool
	svc := w.replica(t, func(o *accounts.Options) { o.Hasher = breakingHasher{o.Hasher, &broken} })
	broken.Store(true)
	events := w.auditCount(t)
	u, err := svc.SignInExternal(ctx, accounts.ExternalSignIn{Issuer: idpA, Subject: "sub-1", Email: "newcomer@example.com",
		EmailVerified: true, AllowSignup: true})
	if !errors.Is(err, errHasherBroken) || !strings.HasPrefix(err.Error(), "accounts: hash: ") || u != (accounts.User{}) {
		t.Fatalf("%+v, %v; want the hasher's error", u, err)
	}
	if n, err := w.svc.CountUsers(ctx); err != nil || n != 3 {
		t.Fatalf("%d accounts (%v), want 3", n, err)
	}
	if got := w.linked(t, idpA, "sub-1"); got != "" || w.auditCount(t) != events {
		t.Fatalf("a failed sign-up linked the identity to %q or was audited", got)
	}
	// An existing account needs no hash: it links as ever.
	if u, err := svc.SignInExternal(ctx, accounts.ExternalSignIn{Issuer: idpA, Subject: "sub-1", Email: "alice@example.com",
		EmailVerified: true, AllowSignup: true}); err != nil || u.ID != w.alice.ID {
		t.Fatalf("alice through the provider: %+v, %v", u, err)
	}
}
