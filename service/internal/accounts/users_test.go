package accounts_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	"image/png"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/gopherops/gopherops/service/internal/accounts"
	"github.com/gopherops/gopherops/service/internal/blob"
	"github.com/gopherops/gopherops/service/internal/password"
	"github.com/gopherops/gopherops/service/internal/store/postgres"
)

// lastEvent is the newest event of the audit trail.
func (w *world) lastEvent(t *testing.T) accounts.AuditEvent {
	t.Helper()
	events, err := w.svc.AuditTrail(context.Background(), accounts.Actor{User: w.root}, 0, 1)
	if err != nil || len(events) != 1 {
		t.Fatalf("the newest audit event: %v %v", events, err)
	}
	return events[0]
}

// field is the message of a validation error about one field ("" when
// err is not a validation error or says nothing about it).
func field(err error, name string) string {
	var v *accounts.ValidationError
	if !errors.As(err, &v) {
		return ""
	}
	return v.Fields[name]
}

// TestSignInSucceeds: the right password answers with the account, records
// the sign-in on it and in the audit trail, by that user.
func TestSignInSucceeds(t *testing.T) {
	w := newWorld(t)
	u, err := w.svc.Login(context.Background(), accounts.LoginInput{Login: "alice@example.com", Password: alicePW, ClientIP: "192.0.2.9"})
	if err != nil {
		t.Fatal(err)
	}
	if u.ID != w.alice.ID || u.Username != "alice" {
		t.Fatalf("signed in as %+v, want alice", u)
	}
	got, err := w.svc.GetUser(context.Background(), accounts.Actor{User: w.alice}, w.alice.ID)
	if err != nil || got.LastLoginAt == nil {
		t.Fatalf("the sign-in is not recorded on the account: %+v %v", got, err)
	}
	e := w.lastEvent(t)
	if e.Action != accounts.ActionLogin || e.ActorID == nil || *e.ActorID != w.alice.ID || e.ClientIP != "192.0.2.9" {
		t.Fatalf("audited %+v, want alice's sign-in from 192.0.2.9", e)
	}
}

// TestAuditNamesTheActor: an event done by a signed-in user names them; one
// done at the command line has no actor account.
func TestAuditNamesTheActor(t *testing.T) {
	w := newWorld(t)
	e := w.lastEvent(t) // alice, created by the command line
	if e.ActorID != nil || e.ActorName != "cli" || e.TargetID == nil || *e.TargetID != w.alice.ID {
		t.Fatalf("the command line's event: %+v", e)
	}
	if _, err := w.svc.CreateUser(context.Background(), accounts.Actor{User: w.admin}, accounts.NewUser{
		Username: "bob", Email: "bob@example.com", Password: "a perfectly long new password"}); err != nil {
		t.Fatal(err)
	}
	e = w.lastEvent(t)
	if e.ActorID == nil || *e.ActorID != w.admin.ID || e.Action != accounts.ActionUserCreated || e.Details["role"] != "user" {
		t.Fatalf("an admin's event: %+v", e)
	}
}

// TestUpdateUser: who may change what, and the audit trail lists exactly
// the fields whose value changed.
func TestUpdateUser(t *testing.T) {
	ctx := context.Background()
	str := func(s string) *string { return &s }
	role := func(r accounts.Role) *accounts.Role { return &r }
	tests := []struct {
		name   string
		actor  func(w *world) accounts.Actor
		target func(w *world) accounts.User
		patch  accounts.Patch
		err    error
		field  string   // a validation error about this field
		fields []string // audited as changed
	}{
		{"a user renames themselves", func(w *world) accounts.Actor { return accounts.Actor{User: w.alice} },
			func(w *world) accounts.User { return w.alice }, accounts.Patch{Username: str("alice2")}, nil, "", []string{"username"}},
		{"the same name and a new address", func(w *world) accounts.Actor { return accounts.Actor{User: w.alice} },
			func(w *world) accounts.User { return w.alice }, accounts.Patch{Username: str("alice"), Email: str(" Alice2@Example.com ")}, nil, "", []string{"email"}},
		{"the same values change nothing", func(w *world) accounts.Actor { return accounts.Actor{User: w.alice} },
			func(w *world) accounts.User { return w.alice }, accounts.Patch{Username: str("alice"), Email: str("alice@example.com")}, nil, "", []string{}},
		{"an admin promotes a user", func(w *world) accounts.Actor { return accounts.Actor{User: w.admin} },
			func(w *world) accounts.User { return w.alice }, accounts.Patch{Role: role(accounts.RoleAdmin)}, nil, "", []string{"role"}},
		{"root keeps the admin role it has", func(w *world) accounts.Actor { return accounts.Actor{User: w.root} },
			func(w *world) accounts.User { return w.root }, accounts.Patch{Role: role(accounts.RoleAdmin)}, nil, "", []string{}},
		{"a user cannot change their role", func(w *world) accounts.Actor { return accounts.Actor{User: w.alice} },
			func(w *world) accounts.User { return w.alice }, accounts.Patch{Role: role(accounts.RoleAdmin)}, accounts.ErrForbidden, "", nil},
		{"a user cannot change another", func(w *world) accounts.Actor { return accounts.Actor{User: w.alice} },
			func(w *world) accounts.User { return w.admin }, accounts.Patch{Username: str("mine-now")}, accounts.ErrForbidden, "", nil},
		{"an empty change", func(w *world) accounts.Actor { return accounts.Actor{User: w.admin} },
			func(w *world) accounts.User { return w.alice }, accounts.Patch{}, nil, "body", nil},
		{"an unknown role", func(w *world) accounts.Actor { return accounts.Actor{User: w.admin} },
			func(w *world) accounts.User { return w.alice }, accounts.Patch{Role: role("owner")}, nil, "role", nil},
		{"a bad address", func(w *world) accounts.Actor { return accounts.Actor{User: w.alice} },
			func(w *world) accounts.User { return w.alice }, accounts.Patch{Email: str("alice at example")}, nil, "email", nil},
		{"a bad name", func(w *world) accounts.Actor { return accounts.Actor{User: w.alice} },
			func(w *world) accounts.User { return w.alice }, accounts.Patch{Username: str("a")}, nil, "username", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel() // each on a database of its own
			w := newWorld(t)
			target := tt.target(w)
			events := w.auditCount(t)
			u, err := w.svc.UpdateUser(ctx, tt.actor(w), target.ID, accounts.Version(target.Version), tt.patch)
			switch {
			case tt.err != nil || tt.field != "":
				if tt.err != nil && !errors.Is(err, tt.err) || tt.field != "" && field(err, tt.field) == "" {
					t.Fatalf("err = %v, want %v / a problem with %q", err, tt.err, tt.field)
				}
				if got := w.auditCount(t); got != events {
					t.Fatalf("a refused change was audited")
				}
				return
			case err != nil:
				t.Fatal(err)
			}
			if u.Version != target.Version+1 {
				t.Fatalf("version %d after the change, want %d", u.Version, target.Version+1)
			}
			e := w.lastEvent(t)
			if e.Action != accounts.ActionUserUpdated || fmt.Sprint(e.Details["fields"]) != fmt.Sprint(tt.fields) {
				t.Fatalf("audited %s %v, want fields %v", e.Action, e.Details["fields"], tt.fields)
			}
		})
	}
}

// TestDeleteUser: admins delete accounts, never their own; users delete none.
func TestDeleteUser(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	if err := w.svc.DeleteUser(ctx, accounts.Actor{User: w.admin}, w.admin.ID); !errors.Is(err, accounts.ErrSelfDelete) {
		t.Fatalf("an admin deleting themselves: %v", err)
	}
	if err := w.svc.DeleteUser(ctx, accounts.Actor{User: w.alice}, w.admin.ID); !errors.Is(err, accounts.ErrForbidden) {
		t.Fatalf("a user deleting an admin: %v", err)
	}
	if err := w.svc.DeleteUser(ctx, accounts.Actor{User: w.admin}, w.alice.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := w.svc.GetUser(ctx, accounts.Actor{User: w.admin}, w.alice.ID); !errors.Is(err, accounts.ErrNotFound) {
		t.Fatalf("the deleted account: %v", err)
	}
	if e := w.lastEvent(t); e.Action != accounts.ActionUserDeleted || e.TargetName != "alice" {
		t.Fatalf("audited %+v", e)
	}
}

// TestChangePassword: only the owner changes a password, proving the
// current one (never more than any password can be: refused before any
// work); the new one must pass the policy and differ; the change ends the
// owner's other sessions and the old password.
func TestChangePassword(t *testing.T) {
	ctx := context.Background()
	const next = "an entirely different long phrase"
	longest := strings.Repeat("\U0001F600", password.MaxLength) // 1024 bytes
	tests := []struct {
		name, current, next string
		other               bool // as another user
		err                 error
		field               string
		verified            int64
	}{
		{"another user's password", alicePW, next, true, accounts.ErrForbidden, "", 0},
		{"a current password longer than any", longest + "x", next, false, nil, "current_password", 0},
		{"a wrong current password of the longest length", longest, next, false, nil, "current_password", 1},
		{"a wrong current password", "not the current one at all", next, false, nil, "current_password", 1},
		{"a new password the policy refuses", alicePW, "short", false, nil, "new_password", 1},
		{"the same password again", alicePW, alicePW, false, nil, "new_password", 1},
		{"a good change", alicePW, next, false, nil, "", 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel() // each on a database of its own
			w := newWorld(t)
			_, kept, err := w.svc.StartSession(ctx, w.alice, accounts.SessionInput{Kind: accounts.KindSession})
			if err != nil {
				t.Fatal(err)
			}
			other, _, err := w.svc.StartSession(ctx, w.alice, accounts.SessionInput{Kind: accounts.KindToken})
			if err != nil {
				t.Fatal(err)
			}
			a := accounts.Actor{User: w.alice, SessionID: kept.ID, ClientIP: "192.0.2.70"}
			if tt.other {
				a = accounts.Actor{User: w.admin, ClientIP: "192.0.2.70"}
			}
			before := w.hashed.Load()
			_, err = w.svc.ChangePassword(ctx, a, w.alice.ID, tt.current, tt.next)
			if got := w.hashed.Load() - before; got != tt.verified {
				t.Errorf("verified %d hashes, want %d", got, tt.verified)
			}
			if tt.err != nil || tt.field != "" {
				if tt.err != nil && !errors.Is(err, tt.err) || tt.field != "" && field(err, tt.field) == "" {
					t.Fatalf("err = %v, want %v / a problem with %q", err, tt.err, tt.field)
				}
				if err := w.login("alice", alicePW, "192.0.2.71"); err != nil {
					t.Fatalf("the old password after a refused change: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if e := w.lastEvent(t); e.Action != accounts.ActionUserPasswordChanged || e.ActorID == nil || *e.ActorID != w.alice.ID ||
				e.TargetID == nil || *e.TargetID != w.alice.ID {
				t.Fatalf("audited %+v, want alice's password change", e)
			}
			if err := w.login("alice", alicePW, "192.0.2.71"); !errors.Is(err, accounts.ErrBadCredentials) {
				t.Fatalf("the old password after the change: %v", err)
			}
			if err := w.login("alice", next, "192.0.2.71"); err != nil {
				t.Fatalf("the new password: %v", err)
			}
			if _, _, err := w.svc.Authenticate(ctx, other, accounts.KindToken, ""); !errors.Is(err, accounts.ErrUnauthenticated) {
				t.Fatalf("another session after the change: %v, want it ended", err)
			}
			sessions, err := w.svc.ListSessions(ctx, a, w.alice.ID)
			if err != nil || len(sessions) != 1 || sessions[0].ID != kept.ID {
				t.Fatalf("sessions after the change: %+v %v, want only the one it came from", sessions, err)
			}
		})
	}
}

// TestResetPassword: an admin sets a temporary password (chosen, and then
// held to the policy, or generated and returned) that must be changed at
// the next sign-in; every session of the account ends.
func TestResetPassword(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name, temporary string
		actor           func(w *world) accounts.User
		err             error
		field           string
	}{
		{"another admin chooses one", "a chosen temporary phrase", func(w *world) accounts.User { return w.admin }, nil, ""},
		{"root has one generated", "", func(w *world) accounts.User { return w.root }, nil, ""},
		{"a chosen one the policy refuses", "password", func(w *world) accounts.User { return w.admin }, nil, "password"},
		{"a user resets nobody", "a chosen temporary phrase", func(w *world) accounts.User { return w.alice }, accounts.ErrForbidden, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel() // each on a database of its own
			w := newWorld(t)
			secret, _, err := w.svc.StartSession(ctx, w.alice, accounts.SessionInput{Kind: accounts.KindSession})
			if err != nil {
				t.Fatal(err)
			}
			u, generated, err := w.svc.ResetPassword(ctx, accounts.Actor{User: tt.actor(w)}, w.alice.ID, tt.temporary)
			if tt.err != nil || tt.field != "" {
				if tt.err != nil && !errors.Is(err, tt.err) || tt.field != "" && field(err, tt.field) == "" {
					t.Fatalf("err = %v, want %v / a problem with %q", err, tt.err, tt.field)
				}
				if _, _, err := w.svc.Authenticate(ctx, secret, accounts.KindSession, ""); err != nil {
					t.Fatalf("the session after a refused reset: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			temp := tt.temporary
			if temp == "" {
				if len(generated) < password.MinLength {
					t.Fatalf("generated %q", generated)
				}
				temp = generated
			} else if generated != "" {
				t.Fatalf("a chosen password came back as generated: %q", generated)
			}
			if !u.ForcePasswordChange {
				t.Fatal("the temporary password need not be changed")
			}
			if e := w.lastEvent(t); e.Action != accounts.ActionUserPasswordReset || e.ActorID == nil || *e.ActorID != tt.actor(w).ID ||
				e.TargetID == nil || *e.TargetID != w.alice.ID {
				t.Fatalf("audited %+v, want the reset of alice's password", e)
			}
			if err := w.login("alice", temp, "192.0.2.80"); err != nil {
				t.Fatalf("the temporary password: %v", err)
			}
			if _, _, err := w.svc.Authenticate(ctx, secret, accounts.KindSession, ""); !errors.Is(err, accounts.ErrUnauthenticated) {
				t.Fatalf("a session after the reset: %v, want it ended", err)
			}
		})
	}
}

// TestAdminPowerNeedsTheAdminScope: an admin's power over other accounts
// goes only through a sign-in holding the admin scope; their own account
// they reach with any.
func TestAdminPowerNeedsTheAdminScope(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	for _, tt := range []struct {
		name   string
		scopes accounts.Scopes
		err    error
	}{
		{"a browser session (all)", 0, nil},
		{"a token with every scope", accounts.ScopesAll, nil},
		{"a token without admin", accounts.ScopeRead | accounts.ScopeWrite, accounts.ErrScopeAdmin},
	} {
		t.Run(tt.name, func(t *testing.T) {
			a := accounts.Actor{User: w.admin, Scopes: tt.scopes}
			if _, err := w.svc.GetUser(ctx, a, w.alice.ID); !errors.Is(err, tt.err) {
				t.Fatalf("another's account: %v, want %v", err, tt.err)
			}
			if _, err := w.svc.ListUsers(ctx, a, "", 0); !errors.Is(err, tt.err) {
				t.Fatalf("the list: %v, want %v", err, tt.err)
			}
			if _, err := w.svc.GetUser(ctx, a, w.admin.ID); err != nil {
				t.Fatalf("their own account: %v", err)
			}
		})
	}
}

// TestAuditTrailPages: a page holds 1 to 100 events, 20 when no size is
// asked for, newest first.
func TestAuditTrailPages(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	for i := range 22 { // 3 creations + 22 failed sign-ins
		_ = w.login(fmt.Sprintf("nobody-%d", i), "not the password at all", fmt.Sprintf("192.0.2.%d", i+1))
	}
	root := accounts.Actor{User: w.root}
	for _, tt := range []struct {
		name        string
		before      int64
		limit, want int
		invalid     bool
	}{
		{"the default page", 0, 0, 20, false},
		{"one", 0, 1, 1, false},
		{"the largest page", 0, 100, 25, false},
		{"none", 0, -1, 0, true},
		{"over the largest", 0, 101, 0, true},
		{"before no event", -1, 10, 0, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			events, err := w.svc.AuditTrail(ctx, root, tt.before, tt.limit)
			if tt.invalid {
				if field(err, "limit") == "" {
					t.Fatalf("err = %v, want a problem with the limit", err)
				}
				return
			}
			if err != nil || len(events) != tt.want {
				t.Fatalf("%d events, %v; want %d", len(events), err, tt.want)
			}
			for i := 1; i < len(events); i++ {
				if events[i].ID >= events[i-1].ID {
					t.Fatal("not newest first")
				}
			}
		})
	}
	if _, err := w.svc.AuditTrail(ctx, accounts.Actor{User: w.alice}, 0, 0); !errors.Is(err, accounts.ErrForbidden) {
		t.Fatalf("a user reads the trail: %v", err)
	}
}

// TestNewService: the store, hasher and object store are required, and a
// token's default lifetime may not exceed the longest one allowed.
func TestNewService(t *testing.T) {
	pool, err := pgxpool.New(context.Background(), "postgres://unused.invalid/x")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	blobs, err := blob.NewFileStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	store, hasher := postgres.New(pool), password.NewHasher(password.FastParams)
	for _, tt := range []struct {
		name string
		o    accounts.Options
		ok   bool
	}{
		{"everything", accounts.Options{Store: store, Hasher: hasher, Blobs: blobs}, true},
		{"no store", accounts.Options{Hasher: hasher, Blobs: blobs}, false},
		{"no hasher", accounts.Options{Store: store, Blobs: blobs}, false},
		{"no object store", accounts.Options{Store: store, Hasher: hasher}, false},
		{"a default lifetime as long as the longest", accounts.Options{Store: store, Hasher: hasher, Blobs: blobs,
			TokenTTL: time.Hour, TokenMaxTTL: time.Hour}, true},
		{"a default lifetime over the longest", accounts.Options{Store: store, Hasher: hasher, Blobs: blobs,
			TokenTTL: time.Hour + time.Second, TokenMaxTTL: time.Hour}, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := accounts.NewService(tt.o)
			if (err == nil) != tt.ok {
				t.Fatalf("err = %v, want ok %v", err, tt.ok)
			}
		})
	}
}

// TestListUsersPages: pages of 1 to 100 users (20 when no size is asked
// for) in ID order, each with the cursor of the next until the last; a
// cursor this server did not issue is refused, but for 0 (no user has an
// ID before 1), which is the start.
func TestListUsersPages(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t) // root, second-admin, alice
	a := accounts.Actor{User: w.admin}
	names := func(p accounts.Page) string {
		var out []string
		for _, u := range p.Users {
			out = append(out, u.Username)
		}
		return strings.Join(out, ",") + "|" + fmt.Sprint(p.NextCursor != "")
	}
	first, err := w.svc.ListUsers(ctx, a, "", 2)
	if err != nil || names(first) != "root,second-admin|true" {
		t.Fatalf("the first page of 2: %s %v", names(first), err)
	}
	next, err := w.svc.ListUsers(ctx, a, first.NextCursor, 2)
	if err != nil || names(next) != "alice|false" {
		t.Fatalf("the page after it: %s %v", names(next), err)
	}
	for _, tt := range []struct {
		name, cursor string
		limit        int
		want, field  string
	}{
		{"exactly all", "", 3, "root,second-admin,alice|false", ""},
		{"the default size", "", 0, "root,second-admin,alice|false", ""},
		{"one", "", 1, "root|true", ""},
		{"the largest size", "", 100, "root,second-admin,alice|false", ""},
		{"over the largest", "", 101, "", "limit"},
		{"a negative size", "", -1, "", "limit"},
		{"a cursor not in base 36", "!!", 2, "", "cursor"},
		{"a negative cursor", "-1", 2, "", "cursor"},
		{"a zero cursor is the start", "0", 2, "root,second-admin|true", ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p, err := w.svc.ListUsers(ctx, a, tt.cursor, tt.limit)
			if tt.field != "" {
				if field(err, tt.field) == "" {
					t.Fatalf("err = %v, want a problem with %q", err, tt.field)
				}
				return
			}
			if err != nil || names(p) != tt.want {
				t.Fatalf("%s %v, want %s", names(p), err, tt.want)
			}
		})
	}
}

// TestCheckNewUser: a form learns every problem of a new account at once,
// before anything is created; a good one has none.
func TestCheckNewUser(t *testing.T) {
	w := newWorld(t)
	v := w.svc.CheckNewUser(accounts.NewUser{Username: "x", Email: "not an address", Password: "short", Role: "owner"})
	if v == nil || len(v.Fields) != 4 {
		t.Fatalf("problems %+v, want username, email, password and role", v)
	}
	if v := w.svc.CheckNewUser(accounts.NewUser{Username: "bob", Email: "bob@example.com", Password: "a perfectly long new password"}); v != nil {
		t.Fatalf("a good account: %+v", v)
	}
}

// TestSetDisabled: an admin disables an account, which ends each of its
// sessions at once and is audited with how many; enabling it is audited
// too; setting the state it already has changes nothing and audits
// nothing. Nobody disables root or themselves, and users disable nobody.
func TestSetDisabled(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	admin := accounts.Actor{User: w.admin}
	secrets := make([]string, 2)
	for i := range secrets {
		secret, _, err := w.svc.StartSession(ctx, w.alice, accounts.SessionInput{Kind: accounts.KindSession})
		if err != nil {
			t.Fatal(err)
		}
		secrets[i] = secret
	}
	steps := []struct {
		name     string
		a        accounts.Actor
		id       int64
		disabled bool
		err      error
		event    accounts.AuditAction // "": no new event
		details  map[string]any
	}{
		{"a user disables nobody", accounts.Actor{User: w.alice}, w.admin.ID, true, accounts.ErrForbidden, "", nil},
		{"an admin does not disable themselves", admin, w.admin.ID, true, accounts.ErrSelfDisable, "", nil},
		{"nobody disables root", admin, w.root.ID, true, accounts.ErrRootProtected, "", nil},
		{"enabling an enabled account changes nothing", admin, w.alice.ID, false, nil, "", nil},
		{"an admin disables alice", admin, w.alice.ID, true, nil, accounts.ActionUserDisabled, map[string]any{"sessions_ended": float64(2)}},
		{"disabling her again changes nothing", admin, w.alice.ID, true, nil, "", nil},
		{"an admin enables her", admin, w.alice.ID, false, nil, accounts.ActionUserEnabled, map[string]any{}},
	}
	for _, st := range steps {
		before := w.lastEvent(t)
		u, err := w.svc.SetDisabled(ctx, st.a, st.id, st.disabled)
		if !errors.Is(err, st.err) {
			t.Fatalf("%s: %v, want %v", st.name, err, st.err)
		}
		e := w.lastEvent(t)
		if st.event == "" {
			if e.ID != before.ID {
				t.Fatalf("%s: audited %+v, want nothing", st.name, e)
			}
		} else if e.Action != st.event || e.ActorID == nil || *e.ActorID != st.a.User.ID || e.TargetID == nil || *e.TargetID != st.id ||
			fmt.Sprint(e.Details) != fmt.Sprint(st.details) {
			t.Fatalf("%s: audited %+v, want %s of %d by %d with %v", st.name, e, st.event, st.id, st.a.User.ID, st.details)
		}
		if st.err != nil {
			continue
		}
		got, err := w.svc.GetUser(ctx, admin, st.id)
		if err != nil || u.ID != st.id || u.Disabled() != st.disabled || got.Disabled() != st.disabled {
			t.Fatalf("%s: answered %+v, stored %+v (%v); want disabled %v", st.name, u, got, err, st.disabled)
		}
	}
	for i, secret := range secrets {
		if _, _, err := w.svc.Authenticate(ctx, secret, accounts.KindSession, ""); !errors.Is(err, accounts.ErrUnauthenticated) {
			t.Fatalf("session %d after the account was disabled and enabled: %v, want it ended", i+1, err)
		}
	}
	if err := w.login("alice", alicePW, "192.0.2.70"); err != nil {
		t.Fatalf("signing in once enabled again: %v", err)
	}
}

// TestSetAvatarReplaces: an upload stores the re-encoded image, answers
// with the account pointing at it, is audited with what was stored, and
// deletes the avatar it replaces.
func TestSetAvatarReplaces(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	me := accounts.Actor{User: w.alice}
	upload := func(width, height int) accounts.User {
		t.Helper()
		var buf bytes.Buffer
		if err := png.Encode(&buf, image.NewGray(image.Rect(0, 0, width, height))); err != nil {
			t.Fatal(err)
		}
		u, err := w.svc.SetAvatar(ctx, me, w.alice.ID, buf.Bytes())
		if err != nil {
			t.Fatal(err)
		}
		if u.ID != w.alice.ID || u.AvatarKey == "" {
			t.Fatalf("answered %+v, want alice with her avatar", u)
		}
		e := w.lastEvent(t)
		if e.Action != accounts.ActionUserAvatarChanged || e.TargetID == nil || *e.TargetID != w.alice.ID ||
			e.Details["width"] != float64(width) || e.Details["height"] != float64(height) || e.Details["content_type"] != "image/png" ||
			e.Details["uploaded_bytes"] != float64(buf.Len()) {
			t.Fatalf("audited %+v, want alice's %dx%d PNG of %d bytes", e, width, height, buf.Len())
		}
		rc, info, err := w.svc.Avatar(ctx, me, w.alice.ID)
		if err != nil {
			t.Fatal(err)
		}
		defer rc.Close()
		img, err := png.Decode(rc)
		if err != nil || info.ContentType != "image/png" || img.Bounds().Dx() != width || img.Bounds().Dy() != height {
			t.Fatalf("read back %v (%+v, %v), want the %dx%d PNG", img.Bounds(), info, err, width, height)
		}
		return u
	}
	first := upload(4, 4)
	second := upload(6, 3)
	if second.AvatarKey == first.AvatarKey {
		t.Fatal("the new avatar has the old one's key")
	}
	if _, _, err := w.base.Blobs.Get(ctx, first.AvatarKey); !errors.Is(err, blob.ErrNotFound) {
		t.Fatalf("the replaced avatar's object: %v, want it deleted", err)
	}
}
