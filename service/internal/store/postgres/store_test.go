package postgres_test

import (
	"context"
	"errors"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/gopherops/gopherops/service/internal/accounts"
	"github.com/gopherops/gopherops/service/internal/store/postgres"
	"github.com/gopherops/gopherops/service/pglocal/pgtest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

func newStore(t *testing.T) (*postgres.Store, *pgxpool.Pool) {
	t.Helper()
	pool, err := pgxpool.New(context.Background(), pgtest.NewDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return postgres.New(pool), pool
}

func rec(name string) accounts.NewUserRecord {
	return accounts.NewUserRecord{Username: name, Email: name + "@example.com", PasswordHash: "$argon2id$x", Role: accounts.RoleUser}
}

func TestUsersCRUDAndConflicts(t *testing.T) {
	ctx := context.Background()
	st, _ := newStore(t)
	u, err := st.CreateUser(ctx, rec("alice"))
	if err != nil || u.ID == 0 || u.Version != 1 {
		t.Fatalf("create: %+v %v", u, err)
	}
	var conflict *accounts.ConflictError
	upper := rec("ALICE")
	upper.Email = "alice2@example.com"
	if _, err := st.CreateUser(ctx, upper); !errors.As(err, &conflict) || conflict.Field != "username" {
		t.Fatalf("duplicate username in another case: %v", err)
	}
	r := rec("bob")
	r.Email = "alice@example.com"
	if _, err := st.CreateUser(ctx, r); !errors.As(err, &conflict) || conflict.Field != "email" {
		t.Fatalf("duplicate email: %v", err)
	}
	c, err := st.CredentialByLogin(ctx, "Alice@Example.com")
	if err != nil || c.ID != u.ID || c.PasswordHash != "$argon2id$x" {
		t.Fatalf("login by email in another case: %+v %v", c, err)
	}
	if _, err := st.UserByID(ctx, 424242); !errors.Is(err, accounts.ErrNotFound) {
		t.Fatalf("missing user: %v", err)
	}
	if err := st.DeleteUser(ctx, 424242); !errors.Is(err, accounts.ErrNotFound) {
		t.Fatalf("delete missing user: %v", err)
	}
	// The conflicting inserts added nothing.
	if n, err := st.CountUsers(ctx); err != nil || n != 1 {
		t.Fatalf("count: %d, %v; want 1", n, err)
	}
}

func TestOptimisticLocking(t *testing.T) {
	ctx := context.Background()
	st, _ := newStore(t)
	u, _ := st.CreateUser(ctx, rec("carol"))
	email := "carol@new.example.com"
	up, err := st.UpdateUser(ctx, u.ID, u.Version, accounts.UserChanges{Email: &email})
	if err != nil || up.Version != u.Version+1 || up.Email != email {
		t.Fatalf("update: %+v %v", up, err)
	}
	other := "carol@stale.example.com"
	if _, err := st.UpdateUser(ctx, u.ID, u.Version, accounts.UserChanges{Email: &other}); !errors.Is(err, accounts.ErrVersionMismatch) {
		t.Fatalf("stale update: %v, want ErrVersionMismatch", err)
	}
	if got, _ := st.UserByID(ctx, u.ID); got.Email != email {
		t.Fatalf("stale update changed the row: %s", got.Email)
	}
	if _, err := st.UpdateUser(ctx, 999999, 1, accounts.UserChanges{Email: &other}); !errors.Is(err, accounts.ErrNotFound) {
		t.Fatalf("update of a missing user: %v", err)
	}
	key := "avatars/1/x.png"
	up, _ = st.UpdateUser(ctx, u.ID, up.Version, accounts.UserChanges{AvatarKey: &key})
	empty := ""
	up, _ = st.UpdateUser(ctx, u.ID, up.Version, accounts.UserChanges{AvatarKey: &empty})
	if up.AvatarKey != "" {
		t.Fatalf("avatar key not cleared: %q", up.AvatarKey)
	}
}

func TestDatabaseEnforcesTheRules(t *testing.T) {
	ctx := context.Background()
	st, pool := newStore(t)
	root, err := st.CreateFirstAdmin(ctx, rec("root"))
	if err != nil || !root.IsRoot || root.Role != accounts.RoleAdmin {
		t.Fatalf("first admin: %+v %v", root, err)
	}
	second, err := st.CreateFirstAdmin(ctx, rec("second"))
	if err != nil || second.IsRoot {
		t.Fatalf("second admin must not be root: %+v %v", second, err)
	}
	// Straight SQL, bypassing Go entirely, still cannot break the invariants.
	bad := []struct {
		name string
		sql  string
	}{
		{"delete root", `DELETE FROM users WHERE is_root`},
		{"demote root", `UPDATE users SET role = 'user' WHERE is_root`},
		{"second root", `UPDATE users SET is_root = true WHERE username = 'second'`},
		{"upper-case email", `INSERT INTO users (username, email, password_hash) VALUES ('dave', 'Dave@example.com', 'h')`},
		{"bad username", `INSERT INTO users (username, email, password_hash) VALUES ('d a', 'd@example.com', 'h')`},
		{"unknown role", `INSERT INTO users (username, email, password_hash, role) VALUES ('dave', 'd@example.com', 'h', 'god')`},
		{"empty hash", `INSERT INTO users (username, email, password_hash) VALUES ('dave', 'd@example.com', '')`},
		{"short session hash", `INSERT INTO sessions (secret_hash, user_id, kind, expires_at) VALUES ('\x01', 1, 'session', now() + interval '1h')`},
		{"bad audit action", `INSERT INTO audit_events (action) VALUES ('DROP TABLE')`},
		{"disable root", `UPDATE users SET disabled_at = now() WHERE is_root`},
		{"unknown scope", `INSERT INTO sessions (secret_hash, user_id, kind, expires_at, scopes) VALUES (decode(repeat('ab', 32), 'hex'), (SELECT id FROM users WHERE is_root), 'token', now() + interval '1h', ARRAY['read', 'root'])`},
		{"no scope", `INSERT INTO sessions (secret_hash, user_id, kind, expires_at, scopes) VALUES (decode(repeat('ab', 32), 'hex'), (SELECT id FROM users WHERE is_root), 'token', now() + interval '1h', ARRAY[]::text[])`},
	}
	for _, tt := range bad {
		if _, err := pool.Exec(ctx, tt.sql); err == nil {
			t.Errorf("%s: the database accepted it", tt.name)
		}
	}
	if err := st.DeleteUser(ctx, root.ID); !errors.Is(err, accounts.ErrRootProtected) {
		t.Fatalf("store delete of root: %v, want ErrRootProtected", err)
	}
}

func TestSessions(t *testing.T) {
	ctx := context.Background()
	st, _ := newStore(t)
	u, _ := st.CreateUser(ctx, rec("erin"))
	now := time.Now()
	hash := make([]byte, 32)
	hash[0] = 1
	if _, err := st.CreateSession(ctx, accounts.Session{UserID: u.ID, Kind: accounts.KindToken, CreatedAt: now, ExpiresAt: now.Add(time.Hour), LastUsedAt: now}, hash); err == nil {
		t.Fatal("a session without scopes was stored")
	}
	s, err := st.CreateSession(ctx, accounts.Session{UserID: u.ID, Kind: accounts.KindToken, Name: "ci", CreatedAt: now,
		ExpiresAt: now.Add(time.Hour), LastUsedAt: now, UserAgent: "curl/8", ClientIP: "192.0.2.1", Scopes: accounts.ScopeRead}, hash)
	if err != nil {
		t.Fatal(err)
	}
	got, gu, err := st.SessionBySecret(ctx, hash, now)
	if err != nil || got.ID != s.ID || gu.ID != u.ID || got.Kind != accounts.KindToken || got.Scopes != accounts.ScopeRead ||
		got.UserAgent != "curl/8" || got.ClientIP != "192.0.2.1" {
		t.Fatalf("lookup: %+v %+v %v", got, gu, err)
	}
	if err := st.TouchSession(ctx, s.ID, now.Add(time.Minute), "198.51.100.7"); err != nil {
		t.Fatal(err)
	}
	list, err := st.ListUserSessions(ctx, u.ID, now)
	if err != nil || len(list) != 1 || list[0].ClientIP != "198.51.100.7" || !list[0].LastUsedAt.Equal(now.Add(time.Minute).Truncate(time.Microsecond)) {
		t.Fatalf("list after touch: %+v %v", list, err)
	}
	// A disabled account's sessions are refused, whatever is left of them.
	on, off := true, false
	du, err := st.UpdateUser(ctx, u.ID, u.Version, accounts.UserChanges{Disabled: &on})
	if err != nil || du.DisabledAt == nil {
		t.Fatalf("disable: %+v %v", du, err)
	}
	if _, _, err := st.SessionBySecret(ctx, hash, now); !errors.Is(err, accounts.ErrNotFound) {
		t.Fatalf("session of a disabled user: %v", err)
	}
	if du, err = st.UpdateUser(ctx, u.ID, du.Version, accounts.UserChanges{Disabled: &off}); err != nil || du.DisabledAt != nil {
		t.Fatalf("enable: %+v %v", du, err)
	}
	if _, _, err := st.SessionBySecret(ctx, hash, now); err != nil {
		t.Fatalf("session after enabling: %v", err)
	}
	if _, _, err := st.SessionBySecret(ctx, hash, now.Add(2*time.Hour)); !errors.Is(err, accounts.ErrNotFound) {
		t.Fatalf("expired session still valid: %v", err)
	}
	if n, err := st.DeleteExpiredSessions(ctx, now.Add(2*time.Hour)); err != nil || n != 1 {
		t.Fatalf("prune: %d %v", n, err)
	}
	// Deleting a user removes their sessions.
	hash[0] = 2
	for i := range 3 {
		hash[0] = byte(2 + i)
		if _, err := st.CreateSession(ctx, accounts.Session{UserID: u.ID, Kind: accounts.KindSession, CreatedAt: now, ExpiresAt: now.Add(time.Hour), LastUsedAt: now, Scopes: accounts.ScopesAll}, hash); err != nil {
			t.Fatal(err)
		}
	}
	list, _ = st.ListUserSessions(ctx, u.ID, now)
	if len(list) != 3 || list[0].ID < list[1].ID {
		t.Fatalf("sessions, newest first: %+v", list)
	}
	if n, err := st.DeleteUserSessions(ctx, u.ID, list[0].ID); err != nil || n != 2 {
		t.Fatalf("delete all but one: %d %v", n, err)
	}
	if err := st.DeleteUser(ctx, u.ID); err != nil {
		t.Fatal(err)
	}
	if _, _, err := st.SessionBySecret(ctx, hash, now); !errors.Is(err, accounts.ErrNotFound) {
		t.Fatalf("session of a deleted user: %v", err)
	}
}

func TestTransactionsRollBack(t *testing.T) {
	ctx := context.Background()
	st, _ := newStore(t)
	boom := errors.New("boom")
	err := st.InTx(ctx, func(tx accounts.Store) error {
		if _, err := tx.CreateUser(ctx, rec("frank")); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("InTx: %v", err)
	}
	if n, _ := st.CountUsers(ctx); n != 0 {
		t.Fatalf("a failed transaction left %d users", n)
	}
}

func TestAuditTrailPaging(t *testing.T) {
	ctx := context.Background()
	st, _ := newStore(t)
	for i := 0; i < 5; i++ {
		if err := st.AddAuditEvent(ctx, accounts.AuditEvent{Action: "user.updated", Details: map[string]any{"i": i}}); err != nil {
			t.Fatal(err)
		}
	}
	first, err := st.ListAuditEvents(ctx, 0, 3)
	if err != nil || len(first) != 3 || first[0].ID < first[1].ID {
		t.Fatalf("first page: %+v %v", first, err)
	}
	rest, _ := st.ListAuditEvents(ctx, first[2].ID, 10)
	if len(rest) != 2 || rest[0].Details["i"] != float64(1) {
		t.Fatalf("second page: %+v", rest)
	}
}

// TestClosedPoolIsUnavailable: a request that reaches the store after this
// replica closed its pool (while stopping) is told to retry, a 503 like a
// database that is down, not a 500.
func TestClosedPoolIsUnavailable(t *testing.T) {
	store, pool := newStore(t)
	pool.Close()
	_, err := store.UserByID(context.Background(), 1)
	if !errors.Is(err, accounts.ErrUnavailable) {
		t.Fatalf("a read on a closed pool: %v, want ErrUnavailable", err)
	}
}
