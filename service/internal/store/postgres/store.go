// Package postgres implements the account store on PostgreSQL with pgx. It
// owns every SQL statement of the service and translates database errors into
// the domain's errors.
package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/puddle/v2"

	"github.com/gopherops/gopherops/service/internal/accounts"
)

// querier is what both a pool and a transaction offer.
type querier interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
	Begin(ctx context.Context) (pgx.Tx, error)
}

// Store is the PostgreSQL account store.
type Store struct {
	q    querier
	inTx bool
}

var _ accounts.Store = (*Store)(nil)

// New returns a store on pool.
func New(pool *pgxpool.Pool) *Store { return &Store{q: pool} }

// InTx implements accounts.Store. Nested calls join the outer transaction.
func (s *Store) InTx(ctx context.Context, fn func(accounts.Store) error) error {
	return s.tx(ctx, func(st *Store) error { return fn(st) })
}

// tx runs fn on a store bound to a transaction (the current one, if any).
func (s *Store) tx(ctx context.Context, fn func(*Store) error) error {
	if s.inTx {
		return fn(s)
	}
	tx, err := s.q.Begin(ctx)
	if err != nil {
		return mapError(fmt.Errorf("postgres: begin: %w", err))
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
	if err := fn(&Store{q: tx, inTx: true}); err != nil {
		return err
	}
	if err := tx.Commit(ctx); err != nil {
		return mapError(fmt.Errorf("postgres: commit: %w", err))
	}
	return nil
}

const userColumns = `id, username, email, role, is_root, force_password_change, coalesce(avatar_key, ''),
	version, created_at, updated_at, last_login_at, disabled_at`

func scanUser(row pgx.Row, extra ...any) (accounts.User, error) {
	var u accounts.User
	var role string
	dest := append([]any{&u.ID, &u.Username, &u.Email, &role, &u.IsRoot, &u.ForcePasswordChange, &u.AvatarKey,
		&u.Version, &u.CreatedAt, &u.UpdatedAt, &u.LastLoginAt, &u.DisabledAt}, extra...)
	if err := row.Scan(dest...); err != nil {
		return accounts.User{}, mapError(err)
	}
	u.Role = accounts.Role(role)
	return u, nil
}

// queryUsers reads the users of a query's rows (room made for limit).
func queryUsers(rows pgx.Rows, err error, limit int) ([]accounts.User, error) {
	if err != nil {
		return nil, mapError(err)
	}
	defer rows.Close()
	users := make([]accounts.User, 0, limit)
	for rows.Next() {
		u, err := scanUser(rows)
		if err != nil {
			return nil, err
		}
		users = append(users, u)
	}
	if err := rows.Err(); err != nil {
		return nil, mapError(err)
	}
	return users, nil
}

// mapError turns driver errors into domain errors; anything else is wrapped.
func mapError(err error) error {
	if errors.Is(err, pgx.ErrNoRows) {
		return accounts.ErrNotFound
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch pgErr.Code {
		case "23505": // unique_violation
			switch pgErr.ConstraintName {
			case "users_username_key":
				return &accounts.ConflictError{Field: "username"}
			case "users_email_key":
				return &accounts.ConflictError{Field: "email"}
			}
		case "GOP01", "GOP02": // root protection trigger
			return accounts.ErrRootProtected
		case "23514": // check_violation: Go validation should have caught it first
			return &accounts.ValidationError{Fields: map[string]string{checkField(pgErr.ConstraintName): "is not valid"}}
		}
	}
	if unavailable(err) {
		return fmt.Errorf("postgres: %w: %w", accounts.ErrUnavailable, err)
	}
	return fmt.Errorf("postgres: %w", err)
}

// unavailable tells a database that cannot answer now (down, restarting,
// unreachable, out of connections) from a query that failed: the first is
// worth retrying shortly, the second is a bug or bad input.
func unavailable(err error) bool {
	if errors.Is(err, context.Canceled) {
		return false // the client went away; the database may be fine
	}
	var (
		connErr *pgconn.ConnectError
		pgErr   *pgconn.PgError
		netErr  net.Error
	)
	switch {
	case errors.Is(err, puddle.ErrClosedPool):
		// This replica is shutting down; another one can answer.
		return true
	case errors.As(err, &connErr):
		return true
	case errors.As(err, &pgErr):
		// Class 08: connection exception; 57P01-03: shutting down or not yet
		// accepting connections; 53300: too many connections.
		return strings.HasPrefix(pgErr.Code, "08") || pgErr.Code == "57P01" || pgErr.Code == "57P02" ||
			pgErr.Code == "57P03" || pgErr.Code == "53300"
	case pgconn.Timeout(err), errors.As(err, &netErr):
		return true
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF),
		errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE):
		return true
	}
	// A query that never reached the server (for one, on a connection the
	// server had closed) can be retried safely: it failed for availability.
	return pgconn.SafeToRetry(err)
}

func checkField(constraint string) string {
	switch constraint {
	case "users_username_format":
		return "username"
	case "users_email_lower", "users_email_format":
		return "email"
	case "users_role_valid", "users_root_is_admin":
		return "role"
	case "sessions_name_len":
		return "name"
	case "sessions_scopes_valid":
		return "scopes"
	case "users_root_never_disabled":
		return "disabled"
	}
	return "body"
}

// CreateUser implements accounts.Store.
func (s *Store) CreateUser(ctx context.Context, r accounts.NewUserRecord) (accounts.User, error) {
	return scanUser(s.q.QueryRow(ctx, `
		INSERT INTO users (username, email, password_hash, role, is_root, force_password_change)
		VALUES ($1, $2, $3, $4, $5, $6)
		RETURNING `+userColumns,
		r.Username, r.Email, r.PasswordHash, string(r.Role), r.IsRoot, r.ForcePasswordChange))
}

// CreateFirstAdmin implements accounts.Store. The single-root unique index
// settles races between concurrent first admins: one wins root, and the
// loser is retried as a plain admin.
func (s *Store) CreateFirstAdmin(ctx context.Context, r accounts.NewUserRecord) (accounts.User, error) {
	var u accounts.User
	err := s.tx(ctx, func(st *Store) error {
		q := st.q
		_, err := q.Exec(ctx, `LOCK TABLE users IN SHARE ROW EXCLUSIVE MODE`)
		if err != nil {
			return mapError(err)
		}
		var rootExists bool
		if err := q.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM users WHERE is_root)`).Scan(&rootExists); err != nil {
			return mapError(err)
		}
		r.IsRoot = !rootExists
		r.Role = accounts.RoleAdmin
		u, err = st.CreateUser(ctx, r)
		return err
	})
	return u, err
}

// UserByID implements accounts.Store.
func (s *Store) UserByID(ctx context.Context, id int64) (accounts.User, error) {
	return scanUser(s.q.QueryRow(ctx, `SELECT `+userColumns+` FROM users WHERE id = $1`, id))
}

// UserForUpdate implements accounts.Store.
func (s *Store) UserForUpdate(ctx context.Context, id int64) (accounts.User, error) {
	if !s.inTx {
		return accounts.User{}, errors.New("postgres: UserForUpdate outside a transaction locks nothing")
	}
	return scanUser(s.q.QueryRow(ctx, `SELECT `+userColumns+` FROM users WHERE id = $1 FOR UPDATE`, id))
}

const credentialColumns = userColumns + `, password_hash`

func scanCredential(row pgx.Row) (accounts.Credential, error) {
	var c accounts.Credential
	u, err := scanUser(row, &c.PasswordHash)
	c.User = u
	return c, err
}

// CredentialByLogin implements accounts.Store; usernames match case-insensitively.
func (s *Store) CredentialByLogin(ctx context.Context, login string) (accounts.Credential, error) {
	return scanCredential(s.q.QueryRow(ctx, `
		SELECT `+credentialColumns+` FROM users
		WHERE lower(username) = lower($1) OR email = lower($1)
		ORDER BY (lower(username) = lower($1)) DESC LIMIT 1`, login))
}

// CredentialByID implements accounts.Store.
func (s *Store) CredentialByID(ctx context.Context, id int64) (accounts.Credential, error) {
	return scanCredential(s.q.QueryRow(ctx, `SELECT `+credentialColumns+` FROM users WHERE id = $1`, id))
}

// UserByEmail implements accounts.Store.
func (s *Store) UserByEmail(ctx context.Context, email string) (accounts.User, error) {
	return scanUser(s.q.QueryRow(ctx, `SELECT `+userColumns+` FROM users WHERE email = lower($1)`, email))
}

// UserByIdentity implements accounts.Store.
func (s *Store) UserByIdentity(ctx context.Context, issuer, subject string) (accounts.User, error) {
	return scanUser(s.q.QueryRow(ctx, `SELECT `+userColumns+` FROM users
		WHERE id = (SELECT user_id FROM identities WHERE issuer = $1 AND subject = $2)`, issuer, subject))
}

// LinkIdentity implements accounts.Store.
func (s *Store) LinkIdentity(ctx context.Context, id accounts.Identity) error {
	_, err := s.q.Exec(ctx, `INSERT INTO identities (issuer, subject, user_id, email) VALUES ($1, $2, $3, $4)`,
		id.Issuer, id.Subject, id.UserID, id.Email)
	return mapExecError(err)
}

// ListUsers implements accounts.Store (keyset pagination on the primary key).
func (s *Store) ListUsers(ctx context.Context, afterID int64, limit int) ([]accounts.User, error) {
	rows, err := s.q.Query(ctx, `SELECT `+userColumns+` FROM users WHERE id > $1 ORDER BY id LIMIT $2`, afterID, limit)
	return queryUsers(rows, err, limit)
}

// UpdateUser implements accounts.Store with a compare-and-set on version.
func (s *Store) UpdateUser(ctx context.Context, id int64, version int, ch accounts.UserChanges) (accounts.User, error) {
	var role *string
	if ch.Role != nil {
		r := string(*ch.Role)
		role = &r
	}
	u, err := scanUser(s.q.QueryRow(ctx, `
		UPDATE users SET
			username = coalesce($3, username),
			email = coalesce($4, email),
			role = coalesce($5, role),
			password_hash = coalesce($6, password_hash),
			force_password_change = coalesce($7, force_password_change),
			avatar_key = CASE WHEN $8::text IS NULL THEN avatar_key ELSE nullif($8, '') END,
			disabled_at = CASE WHEN $9::boolean IS NULL THEN disabled_at
				WHEN $9 THEN coalesce(disabled_at, now()) END,
			version = version + 1,
			updated_at = now()
		WHERE id = $1 AND version = $2
		RETURNING `+userColumns,
		id, version, ch.Username, ch.Email, role, ch.PasswordHash, ch.ForcePasswordChange, ch.AvatarKey, ch.Disabled))
	if errors.Is(err, accounts.ErrNotFound) {
		// Either the user is gone or someone else changed it first.
		var exists bool
		if qerr := s.q.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM users WHERE id = $1)`, id).Scan(&exists); qerr != nil {
			return accounts.User{}, mapError(qerr)
		}
		if exists {
			return accounts.User{}, accounts.ErrVersionMismatch
		}
	}
	return u, err
}

// DeleteUser implements accounts.Store.
func (s *Store) DeleteUser(ctx context.Context, id int64) error {
	tag, err := s.q.Exec(ctx, `DELETE FROM users WHERE id = $1`, id)
	if err != nil {
		return mapError(err)
	}
	if tag.RowsAffected() == 0 {
		return accounts.ErrNotFound
	}
	return nil
}

// CountUsers implements accounts.Store.
func (s *Store) CountUsers(ctx context.Context) (int64, error) {
	var n int64
	if err := s.q.QueryRow(ctx, `SELECT count(*) FROM users`).Scan(&n); err != nil {
		return 0, mapError(err)
	}
	return n, nil
}

// ReserveAttempt implements accounts.Store. The row lock the upsert takes is
// held to the end of the transaction, so setting the lock-out is atomic with
// the count: of N concurrent attempts exactly Threshold are let through.
func (s *Store) ReserveAttempt(ctx context.Context, subject accounts.AttemptSubject, source string, now time.Time, l accounts.AttemptLimit) (time.Duration, error) {
	var retry time.Duration
	err := s.InTx(ctx, func(st accounts.Store) error {
		q := st.(*Store).q
		var failures int
		err := q.QueryRow(ctx, `
			INSERT INTO login_attempts AS a (subject, source, failures, updated_at)
			VALUES ($1, $2, 1, $3)
			ON CONFLICT (subject, source) DO UPDATE SET
				failures = CASE WHEN a.updated_at < $4 THEN 1 ELSE a.failures + 1 END,
				locked_until = NULL,
				updated_at = $3
			WHERE a.locked_until IS NULL OR a.locked_until <= $3
			RETURNING failures`, subject, source, now, now.Add(-l.Window)).Scan(&failures)
		if errors.Is(err, pgx.ErrNoRows) {
			// Locked: the conflicting row failed the WHERE, and nothing was counted.
			var until time.Time
			if err := q.QueryRow(ctx, `SELECT locked_until FROM login_attempts WHERE subject = $1 AND source = $2`,
				subject, source).Scan(&until); err != nil {
				return mapError(err)
			}
			retry = max(until.Sub(now), time.Second)
			return nil
		}
		if err != nil {
			return mapError(err)
		}
		if failures < l.Threshold {
			return nil
		}
		lock := min(l.Base<<min(failures-l.Threshold, 16), l.Cap)
		_, err = q.Exec(ctx, `UPDATE login_attempts SET locked_until = $3 WHERE subject = $1 AND source = $2`,
			subject, source, now.Add(lock))
		return mapExecError(err)
	})
	return retry, err
}

// ReleaseAttempt implements accounts.Store: one failure fewer (the row goes
// at zero), and no lock-out once under the threshold again.
func (s *Store) ReleaseAttempt(ctx context.Context, subject accounts.AttemptSubject, source string, l accounts.AttemptLimit) error {
	_, err := s.q.Exec(ctx, `
		WITH gone AS (
			DELETE FROM login_attempts WHERE subject = $1 AND source = $2 AND failures <= 1
		)
		UPDATE login_attempts SET failures = failures - 1,
			locked_until = CASE WHEN failures - 1 < $3 THEN NULL ELSE locked_until END
		WHERE subject = $1 AND source = $2 AND failures > 1`, subject, source, l.Threshold)
	return mapExecError(err)
}

// ClearAttempts implements accounts.Store.
func (s *Store) ClearAttempts(ctx context.Context, subject accounts.AttemptSubject, source string) error {
	_, err := s.q.Exec(ctx, `DELETE FROM login_attempts WHERE subject = $1 AND ($2 = '*' OR source = $2)`, subject, source)
	return mapExecError(err)
}

// PruneAttempts implements accounts.Store. SKIP LOCKED: a counter another
// check is updating is not stale, and a sweep never waits for a sign-in.
func (s *Store) PruneAttempts(ctx context.Context, before, now time.Time, limit int) (int64, error) {
	if limit <= 0 {
		limit = math.MaxInt32
	}
	tag, err := s.q.Exec(ctx, `
		DELETE FROM login_attempts WHERE (subject, source) IN (
			SELECT subject, source FROM login_attempts
			WHERE updated_at < $1 AND (locked_until IS NULL OR locked_until <= $2)
			ORDER BY updated_at LIMIT $3 FOR UPDATE SKIP LOCKED)`, before, now, limit)
	if err != nil {
		return 0, mapError(err)
	}
	return tag.RowsAffected(), nil
}

// RecordLoginSuccess implements accounts.Store.
func (s *Store) RecordLoginSuccess(ctx context.Context, id int64, now time.Time, newHash string) error {
	_, err := s.q.Exec(ctx, `
		UPDATE users SET last_login_at = $2,
			password_hash = coalesce(nullif($3, ''), password_hash)
		WHERE id = $1`, id, now, newHash)
	return mapExecError(err)
}

func mapExecError(err error) error {
	if err == nil {
		return nil
	}
	return mapError(err)
}

const sessionColumns = `s.id, s.user_id, s.kind, s.name, s.created_at, s.expires_at, s.last_used_at,
	s.user_agent, s.client_ip, s.scopes`

func scanSession(row pgx.Row, extra ...any) (accounts.Session, error) {
	var ss accounts.Session
	var kind string
	var scopes []string
	dest := append([]any{&ss.ID, &ss.UserID, &kind, &ss.Name, &ss.CreatedAt, &ss.ExpiresAt, &ss.LastUsedAt,
		&ss.UserAgent, &ss.ClientIP, &scopes}, extra...)
	if err := row.Scan(dest...); err != nil {
		return accounts.Session{}, mapError(err)
	}
	ss.Kind = accounts.SessionKind(kind)
	sc, err := accounts.ParseScopes(scopes)
	if err != nil {
		return accounts.Session{}, fmt.Errorf("postgres: session %d scopes %v: %w", ss.ID, scopes, err)
	}
	ss.Scopes = sc
	return ss, nil
}

// CreateSession implements accounts.Store.
func (s *Store) CreateSession(ctx context.Context, ss accounts.Session, secretHash []byte) (accounts.Session, error) {
	return scanSession(s.q.QueryRow(ctx, `
		INSERT INTO sessions AS s (secret_hash, user_id, kind, name, created_at, expires_at, last_used_at,
			user_agent, client_ip, scopes)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
		RETURNING `+sessionColumns,
		secretHash, ss.UserID, string(ss.Kind), ss.Name, ss.CreatedAt, ss.ExpiresAt, ss.LastUsedAt,
		ss.UserAgent, ss.ClientIP, ss.Scopes.Names()))
}

// SessionBySecret implements accounts.Store in one round trip. A disabled
// account's sessions are ended when it is disabled; the join refuses them
// anyway, so no session can outlive that, whatever deleted it or not.
func (s *Store) SessionBySecret(ctx context.Context, secretHash []byte, now time.Time) (accounts.Session, accounts.User, error) {
	row := s.q.QueryRow(ctx, `
		SELECT `+sessionColumns+`, u.id, u.username, u.email, u.role, u.is_root, u.force_password_change,
			coalesce(u.avatar_key, ''), u.version, u.created_at, u.updated_at, u.last_login_at, u.disabled_at
		FROM sessions s JOIN users u ON u.id = s.user_id
		WHERE s.secret_hash = $1 AND s.expires_at > $2 AND u.disabled_at IS NULL`, secretHash, now)
	var u accounts.User
	var role string
	ss, err := scanSession(row, &u.ID, &u.Username, &u.Email, &role, &u.IsRoot, &u.ForcePasswordChange,
		&u.AvatarKey, &u.Version, &u.CreatedAt, &u.UpdatedAt, &u.LastLoginAt, &u.DisabledAt)
	if err != nil {
		return accounts.Session{}, accounts.User{}, err
	}
	u.Role = accounts.Role(role)
	return ss, u, nil
}

// TouchSession implements accounts.Store.
func (s *Store) TouchSession(ctx context.Context, id int64, now time.Time, clientIP string) error {
	_, err := s.q.Exec(ctx, `UPDATE sessions SET last_used_at = $2, client_ip = $3 WHERE id = $1`, id, now, clientIP)
	return mapExecError(err)
}

// ListUserSessions implements accounts.Store.
func (s *Store) ListUserSessions(ctx context.Context, userID int64, now time.Time) ([]accounts.Session, error) {
	rows, err := s.q.Query(ctx, `SELECT `+sessionColumns+` FROM sessions s
		WHERE s.user_id = $1 AND s.expires_at > $2 ORDER BY s.id DESC`, userID, now)
	if err != nil {
		return nil, mapError(err)
	}
	defer rows.Close()
	out := []accounts.Session{}
	for rows.Next() {
		ss, err := scanSession(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, ss)
	}
	if err := rows.Err(); err != nil {
		return nil, mapError(err)
	}
	return out, nil
}

// SessionByID implements accounts.Store.
func (s *Store) SessionByID(ctx context.Context, id int64) (accounts.Session, error) {
	return scanSession(s.q.QueryRow(ctx, `SELECT `+sessionColumns+` FROM sessions s WHERE s.id = $1`, id))
}

// DeleteSession implements accounts.Store.
func (s *Store) DeleteSession(ctx context.Context, id int64) error {
	_, err := s.q.Exec(ctx, `DELETE FROM sessions WHERE id = $1`, id)
	return mapExecError(err)
}

// DeleteUserSessions implements accounts.Store.
func (s *Store) DeleteUserSessions(ctx context.Context, userID, keepID int64) (int64, error) {
	tag, err := s.q.Exec(ctx, `DELETE FROM sessions WHERE user_id = $1 AND id <> $2`, userID, keepID)
	if err != nil {
		return 0, mapError(err)
	}
	return tag.RowsAffected(), nil
}

// DeleteExpiredSessions implements accounts.Store.
func (s *Store) DeleteExpiredSessions(ctx context.Context, now time.Time) (int64, error) {
	tag, err := s.q.Exec(ctx, `DELETE FROM sessions WHERE expires_at <= $1`, now)
	if err != nil {
		return 0, mapError(err)
	}
	return tag.RowsAffected(), nil
}

// AddAuditEvent implements accounts.Store.
func (s *Store) AddAuditEvent(ctx context.Context, e accounts.AuditEvent) error {
	details := e.Details
	if details == nil {
		details = map[string]any{}
	}
	raw, err := json.Marshal(details)
	if err != nil {
		return fmt.Errorf("postgres: audit details: %w", err)
	}
	_, err = s.q.Exec(ctx, `
		INSERT INTO audit_events (actor_id, actor_name, action, target_id, target_name, request_id, client_ip, user_agent, details)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
		e.ActorID, e.ActorName, e.Action, e.TargetID, e.TargetName, e.RequestID, e.ClientIP, e.UserAgent, raw)
	return mapExecError(err)
}

// ListAuditEvents implements accounts.Store.
func (s *Store) ListAuditEvents(ctx context.Context, beforeID int64, limit int) ([]accounts.AuditEvent, error) {
	rows, err := s.q.Query(ctx, `
		SELECT `+auditColumns+`
		FROM audit_events
		WHERE $1::bigint = 0 OR id < $1::bigint
		ORDER BY id DESC LIMIT $2`, beforeID, limit)
	if err != nil {
		return nil, mapError(err)
	}
	out := make([]accounts.AuditEvent, 0, limit)
	err = eachAuditRow(rows, func(e accounts.AuditEvent) error {
		out = append(out, e)
		return nil
	})
	return out, err
}

const auditColumns = `id, occurred_at, actor_id, actor_name, action, target_id, target_name, request_id, client_ip, user_agent, details`

// eachAuditRow scans every row of rows (auditColumns) into an event for fn,
// closing rows.
func eachAuditRow(rows pgx.Rows, fn func(accounts.AuditEvent) error) error {
	defer rows.Close()
	for rows.Next() {
		var e accounts.AuditEvent
		var raw []byte
		if err := rows.Scan(&e.ID, &e.OccurredAt, &e.ActorID, &e.ActorName, &e.Action, &e.TargetID,
			&e.TargetName, &e.RequestID, &e.ClientIP, &e.UserAgent, &raw); err != nil {
			return mapError(err)
		}
		if err := json.Unmarshal(raw, &e.Details); err != nil {
			return fmt.Errorf("postgres: audit details: %w", err)
		}
		if err := fn(e); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return mapError(err)
	}
	return nil
}
