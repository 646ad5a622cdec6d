// Package accounts holds the rules of GopherOps user accounts: who may create,
// see, change and delete which user, how passwords and sign-ins work, and what
// is written to the audit trail. It knows nothing of HTTP or SQL: it talks to
// storage through the Store interface and to object storage through blob.Store.
package accounts

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"strings"
	"time"
)

// Role is what a user may do.
type Role string

// The roles. Admins manage users; users manage themselves.
const (
	RoleAdmin Role = "admin"
	RoleUser  Role = "user"
)

// Valid reports whether r is a known role.
func (r Role) Valid() bool { return r == RoleAdmin || r == RoleUser }

// User is an account as the domain sees it (never with its password hash).
type User struct {
	ID                  int64
	Username            string
	Email               string
	Role                Role
	IsRoot              bool
	ForcePasswordChange bool
	AvatarKey           string
	Version             int
	CreatedAt           time.Time
	UpdatedAt           time.Time
	LastLoginAt         *time.Time
	// DisabledAt is when an admin disabled the account; nil while enabled.
	DisabledAt *time.Time
}

// IsAdmin reports whether u has the admin role.
func (u User) IsAdmin() bool { return u.Role == RoleAdmin }

// Disabled reports whether u may not sign in.
func (u User) Disabled() bool { return u.DisabledAt != nil }

// Credential is a user with the secret material needed to check a sign-in.
type Credential struct {
	User
	PasswordHash string
}

// SessionKind tells browser sessions and API tokens apart.
type SessionKind string

// The kinds of session.
const (
	KindSession SessionKind = "session"
	KindToken   SessionKind = "token"
)

// Session is a server-side sign-in: a browser session or an API token.
type Session struct {
	ID         int64
	UserID     int64
	Kind       SessionKind
	Name       string // a token's name
	UserAgent  string // the browser or client that created it
	ClientIP   string // the address it was last used from
	Scopes     Scopes
	CreatedAt  time.Time
	ExpiresAt  time.Time
	LastUsedAt time.Time
}

// Scopes are the powers of a sign-in, a set: an API token may hold fewer
// than its account has; a browser session holds them all.
type Scopes uint8

// The scopes. Every token can read; write is any method but GET and HEAD;
// admin is the admin role's power over accounts other than the token's own.
const (
	ScopeRead Scopes = 1 << iota
	ScopeWrite
	ScopeAdmin
	// ScopesAll is what a browser session, and a token created without
	// scopes, holds.
	ScopesAll = ScopeRead | ScopeWrite | ScopeAdmin
)

var scopeNames = []struct {
	s    Scopes
	name string
}{{ScopeRead, "read"}, {ScopeWrite, "write"}, {ScopeAdmin, "admin"}}

// Has reports whether every scope of want is in s.
func (s Scopes) Has(want Scopes) bool { return s&want == want }

// Names lists the scopes of s in a fixed order (read, write, admin).
func (s Scopes) Names() []string {
	out := make([]string, 0, 3)
	for _, n := range scopeNames {
		if s.Has(n.s) {
			out = append(out, n.name)
		}
	}
	return out
}

// String is the scopes as a space-separated list.
func (s Scopes) String() string { return strings.Join(s.Names(), " ") }

// ParseScopes reads scope names; none means ScopesAll. An unknown name, or a
// set without read, is an error naming it.
func ParseScopes(names []string) (Scopes, error) {
	if len(names) == 0 {
		return ScopesAll, nil
	}
	var s Scopes
	for _, name := range names {
		found := false
		for _, n := range scopeNames {
			if n.name == name {
				s |= n.s
				found = true
			}
		}
		if !found {
			return 0, &ValidationError{Fields: map[string]string{"scopes": "each must be read, write or admin"}}
		}
	}
	if !s.Has(ScopeRead) {
		return 0, &ValidationError{Fields: map[string]string{"scopes": "must include read: a token that cannot read cannot even see its own account"}}
	}
	return s, nil
}

// AuditEvent is one entry of the audit trail.
type AuditEvent struct {
	ID         int64
	OccurredAt time.Time
	ActorID    *int64
	ActorName  string
	Action     AuditAction
	TargetID   *int64
	TargetName string
	RequestID  string
	ClientIP   string
	UserAgent  string
	Details    map[string]any
}

// NewUserRecord is what the store needs to insert a user.
type NewUserRecord struct {
	Username            string
	Email               string
	PasswordHash        string
	Role                Role
	IsRoot              bool
	ForcePasswordChange bool
}

// UserChanges are the optional column updates of an optimistic update.
type UserChanges struct {
	Username            *string
	Email               *string
	Role                *Role
	PasswordHash        *string
	ForcePasswordChange *bool
	AvatarKey           *string // "" clears it
	Disabled            *bool
}

// Store persists accounts. Implementations translate their own errors to
// ErrNotFound, ErrVersionMismatch, ErrRootProtected and *ConflictError.
type Store interface {
	// InTx runs fn with a Store bound to one transaction, committed when fn returns nil.
	InTx(ctx context.Context, fn func(Store) error) error

	CreateUser(ctx context.Context, rec NewUserRecord) (User, error)
	// CreateFirstAdmin inserts rec as root when no root exists yet, as a plain admin otherwise.
	CreateFirstAdmin(ctx context.Context, rec NewUserRecord) (User, error)
	UserByID(ctx context.Context, id int64) (User, error)
	// UserForUpdate reads a user and locks its row to the end of the
	// transaction it must run in, so a read-modify-write cannot race.
	UserForUpdate(ctx context.Context, id int64) (User, error)
	CredentialByLogin(ctx context.Context, usernameOrEmail string) (Credential, error)
	CredentialByID(ctx context.Context, id int64) (Credential, error)
	// UserByEmail returns the account with this (normalized) email.
	UserByEmail(ctx context.Context, email string) (User, error)
	// UserByIdentity returns the account a provider's subject is linked to.
	UserByIdentity(ctx context.Context, issuer, subject string) (User, error)
	// LinkIdentity links a provider's subject to an account.
	LinkIdentity(ctx context.Context, id Identity) error
	// ListUsers returns up to limit users with ID > afterID, by ID.
	ListUsers(ctx context.Context, afterID int64, limit int) ([]User, error)
	// UpdateUser applies ch when the stored version is version, bumping it.
	UpdateUser(ctx context.Context, id int64, version int, ch UserChanges) (User, error)
	DeleteUser(ctx context.Context, id int64) error
	CountUsers(ctx context.Context) (int64, error)

	// ReserveAttempt counts one password check of subject from source
	// against limit, atomically, before the password is verified. It
	// returns 0 when the check may go ahead, else how long until one may;
	// a refused attempt is not counted. Inside InTx, several reservations
	// stand or fall together.
	ReserveAttempt(ctx context.Context, subject AttemptSubject, source string, now time.Time, limit AttemptLimit) (retryAfter time.Duration, err error)
	// ReleaseAttempt takes back one reservation of subject from source (a
	// check that turned out right is not a failure), lifting a lock-out
	// that reservation started under limit.
	ReleaseAttempt(ctx context.Context, subject AttemptSubject, source string, limit AttemptLimit) error
	// ClearAttempts forgets the failures of subject from source; with
	// source AllSources, every failure of the subject.
	ClearAttempts(ctx context.Context, subject AttemptSubject, source string) error
	// PruneAttempts deletes up to limit (0: all) counters last changed
	// before the given time and not locked out any more.
	PruneAttempts(ctx context.Context, before, now time.Time, limit int) (int64, error)
	RecordLoginSuccess(ctx context.Context, id int64, now time.Time, newHash string) error

	CreateSession(ctx context.Context, s Session, secretHash []byte) (Session, error)
	// SessionBySecret returns the unexpired session with this secret hash and its user.
	SessionBySecret(ctx context.Context, secretHash []byte, now time.Time) (Session, User, error)
	// TouchSession records that a session was used at now from clientIP.
	TouchSession(ctx context.Context, id int64, now time.Time, clientIP string) error
	DeleteSession(ctx context.Context, id int64) error
	SessionByID(ctx context.Context, id int64) (Session, error)
	// ListUserSessions returns the sessions of userID unexpired at now, newest first.
	ListUserSessions(ctx context.Context, userID int64, now time.Time) ([]Session, error)
	// DeleteUserSessions removes every session of userID except keepID (0
	// keeps none) and reports how many it removed.
	DeleteUserSessions(ctx context.Context, userID, keepID int64) (int64, error)
	DeleteExpiredSessions(ctx context.Context, now time.Time) (int64, error)

	AddAuditEvent(ctx context.Context, e AuditEvent) error
	// ListAuditEvents returns up to limit events with ID < beforeID (0: newest), newest first.
	ListAuditEvents(ctx context.Context, beforeID int64, limit int) ([]AuditEvent, error)
}

// AttemptLimit is how many password checks a key may fail before it is locked
// out, and for how long: Base at the Threshold-th failure, doubling with each
// further one up to Cap. Failures older than Window are forgotten.
type AttemptLimit struct {
	Threshold int
	Base      time.Duration
	Cap       time.Duration
	Window    time.Duration
}

// Precondition is what a write requires of the version it replaces (an
// HTTP If-Match: one version, any, or a list of them). It is checked inside
// the write's transaction with the row locked, so a concurrent change is
// caught and a precondition every version meets never fails for a race.
type Precondition interface {
	Matches(version int) bool
}

// Version is the precondition of exactly one version.
type Version int

// Matches reports whether version is v.
func (v Version) Matches(version int) bool { return int(v) == version }

// AllSources is ClearAttempts' source for every failure of a subject.
const AllSources = "*"

// AttemptSubject is what password checks are counted against: an account,
// or a login that names none (so both are throttled alike).
type AttemptSubject string

// AccountSubject is the attempts subject of an account.
func AccountSubject(id int64) AttemptSubject {
	return AttemptSubject("user:" + strconv.FormatInt(id, 10))
}

// loginSubject is the attempts subject of a login that names no account:
// a digest of its lower-case form (as accounts are looked up), so the table
// never holds the text an attacker chose and every key has the same size.
func loginSubject(login string) AttemptSubject {
	sum := sha256.Sum256([]byte(strings.ToLower(login)))
	return AttemptSubject("login:" + hex.EncodeToString(sum[:]))
}
