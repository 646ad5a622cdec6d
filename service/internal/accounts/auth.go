package accounts

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gopherops/gopherops/service/internal/password"
	"github.com/gopherops/gopherops/service/internal/safetext"
)

// Password checks are limited per account and source address, and per
// account from anywhere (OWASP authentication guidance): an address that
// keeps guessing is locked out of that account (1 minute at the 5th failure,
// doubling to 15), while the account itself is only slowed (beyond 20
// failures an hour from all addresses together, one check every 3 seconds),
// so nobody can lock the owner out from their own address.
var (
	sourceLimit  = AttemptLimit{Threshold: 5, Base: time.Minute, Cap: 15 * time.Minute, Window: time.Hour}
	accountLimit = AttemptLimit{Threshold: 20, Base: 3 * time.Second, Cap: 3 * time.Second, Window: time.Hour}
)

// accountSource is the attempts key of an account as a whole.
const accountSource = ""

// attemptWindow is the longest window of the limits: a counter last changed
// before it counts for nothing and can go.
var attemptWindow = max(sourceLimit.Window, accountLimit.Window)

// Verification outcomes reported to Options.OnVerify.
const (
	VerifyMatch    = "match"
	VerifyMismatch = "mismatch"
	VerifyNoUser   = "no_such_user"
)

// LoginInput is a sign-in attempt.
type LoginInput struct {
	Login     string // username or email
	Password  string
	ClientIP  string
	RequestID string
	UserAgent string
}

// LoginResult reports the outcome of Login for metrics.
type LoginResult string

// Login outcomes.
const (
	LoginOK        LoginResult = "success"
	LoginFailed    LoginResult = "failure"
	LoginThrottled LoginResult = "throttled"
)

// Login checks credentials, throttled per client address and per account.
func (s *Service) Login(ctx context.Context, in LoginInput) (User, error) {
	if s.limiter != nil && in.ClientIP != "" {
		if ok, retry := s.limiter.Allow(in.ClientIP); !ok {
			return User{}, &ThrottledError{RetryAfter: retry}
		}
	}
	login := strings.TrimSpace(in.Login)
	if login == "" || in.Password == "" || len(login) > 254 || len(in.Password) > 4*password.MaxLength {
		return User{}, ErrBadCredentials
	}
	actor := Actor{RequestID: in.RequestID, ClientIP: in.ClientIP, UserAgent: in.UserAgent}
	cred, err := s.store.CredentialByLogin(ctx, login)
	if errors.Is(err, ErrNotFound) {
		return User{}, s.failUnknownLogin(ctx, actor, login, in.Password)
	}
	if err != nil {
		return User{}, err
	}
	if err := s.checkPassword(ctx, cred, in.ClientIP, in.Password); err != nil {
		if errors.Is(err, ErrBadCredentials) {
			if aerr := s.audit(ctx, s.store, actor, ActionLoginFailed, &cred.User, nil); aerr != nil {
				return User{}, aerr
			}
		}
		return User{}, err
	}
	newHash := ""
	if s.hasher.NeedsRehash(cred.PasswordHash) {
		if h, err := s.hasher.Hash(in.Password); err == nil {
			newHash = h
		}
	}
	actor.User = cred.User
	err = s.store.InTx(ctx, func(st Store) error {
		if err := st.RecordLoginSuccess(ctx, cred.ID, s.now(), newHash); err != nil {
			return err
		}
		return s.audit(ctx, st, actor, ActionLogin, &cred.User, nil)
	})
	if err != nil {
		return User{}, err
	}
	return cred.User, nil
}

// failUnknownLogin answers a sign-in whose login names no account with the
// work and the answers a wrong password for a real account gets: the same
// reservations against the same limits (counted against the login), a
// verification (against a dummy hash), an audit event. Neither the status
// sequence nor the timing then tells which logins exist.
func (s *Service) failUnknownLogin(ctx context.Context, actor Actor, login, pw string) error {
	if err := s.reserveCheck(ctx, loginSubject(login), actor.ClientIP); err != nil {
		return err
	}
	_ = s.hasher.Verify(s.dummyHash, pw)
	s.onVerify(VerifyNoUser)
	if err := s.audit(ctx, s.store, actor, ActionLoginFailed, nil,
		map[string]any{"login": safetext.TruncateRunes(safetext.Clean(login), 64)}); err != nil {
		return err
	}
	return ErrBadCredentials
}

// checkPassword verifies pw for cred from clientIP, the one way every path
// (sign-in, token, change of password) checks a password: the database
// first admits the check against the per-source and per-account limits,
// atomically, so a burst of guesses can never be verified past them. A
// match clears the source's failures and takes back the account-wide
// reservation (only failures slow an account down); a mismatch stays counted.
func (s *Service) checkPassword(ctx context.Context, cred Credential, clientIP, pw string) error {
	subject := AccountSubject(cred.ID)
	if err := s.reserveCheck(ctx, subject, clientIP); err != nil {
		return err
	}
	if err := s.hasher.Verify(cred.PasswordHash, pw); err != nil {
		s.onVerify(VerifyMismatch)
		if !errors.Is(err, password.ErrMismatch) {
			s.log.ErrorContext(ctx, "stored password hash unreadable", "user_id", cred.ID, "err", err)
		}
		return ErrBadCredentials
	}
	s.onVerify(VerifyMatch)
	return s.store.InTx(ctx, func(st Store) error {
		if err := st.ClearAttempts(ctx, subject, sourceKey(clientIP)); err != nil {
			return err
		}
		return st.ReleaseAttempt(ctx, subject, accountSource, accountLimit)
	})
}

// staleAttemptsPerCheck is how many expired counters each password check
// deletes on its way: attempts then clean up after themselves, and the table
// holds about one window of them however many addresses an attack uses.
const staleAttemptsPerCheck = 4

// reserveCheck admits one password check of subject from clientIP against
// the per-source and per-subject limits, or says when to retry.
func (s *Service) reserveCheck(ctx context.Context, subject AttemptSubject, clientIP string) error {
	source := sourceKey(clientIP)
	now := s.now()
	return s.store.InTx(ctx, func(st Store) error {
		for _, r := range []struct {
			source string
			limit  AttemptLimit
		}{{source, sourceLimit}, {accountSource, accountLimit}} {
			retry, err := st.ReserveAttempt(ctx, subject, r.source, now, r.limit)
			if err != nil {
				return err
			}
			if retry > 0 {
				// Returning an error rolls back the reservations already made.
				return &ThrottledError{RetryAfter: retry}
			}
		}
		_, err := st.PruneAttempts(ctx, now.Add(-attemptWindow), now, staleAttemptsPerCheck)
		return err
	})
}

// PruneAttempts deletes every attempt counter past its window (the periodic
// sweep; password checks also delete a few as they go).
func (s *Service) PruneAttempts(ctx context.Context) (int64, error) {
	now := s.now()
	return s.store.PruneAttempts(ctx, now.Add(-attemptWindow), now, 0)
}

// sourceKey is the address an attempt is counted against: an IPv4 address,
// or an IPv6 /64, which one client usually owns whole.
func sourceKey(clientIP string) string {
	addr, err := netip.ParseAddr(clientIP)
	switch {
	case err != nil:
		// Not an address (a test, a unix socket): count it as one source,
		// bounded to the column's size.
		return safetext.TruncateRunes(safetext.Clean(clientIP), 64)
	case addr.Is4() || addr.Is4In6():
		return addr.Unmap().String()
	default:
		p, _ := addr.Prefix(64)
		return p.String()
	}
}

func (s *Service) onVerify(outcome string) {
	if s.verified != nil {
		s.verified(outcome)
	}
}

// StartSession creates a browser session or API token for u and returns its
// secret, which is shown once and never stored.
func (s *Service) StartSession(ctx context.Context, u User, kind SessionKind, name string) (string, Session, error) {
	prefix, ttl := "gos_", s.sessionTTL
	if kind == KindToken {
		prefix, ttl = "gpt_", s.tokenTTL
	}
	// Names come from clients (a token's name, a browser's User-Agent):
	// stored as clean text, never as bytes PostgreSQL refuses.
	name = safetext.Clean(name)
	if utf8.RuneCountInString(name) > 100 {
		return "", Session{}, &ValidationError{Fields: map[string]string{"name": "must be at most 100 characters"}}
	}
	secret, hash, err := newSecret(prefix)
	if err != nil {
		return "", Session{}, err
	}
	now := s.now()
	sess, err := s.store.CreateSession(ctx, Session{
		UserID: u.ID, Kind: kind, Name: name, CreatedAt: now, ExpiresAt: now.Add(ttl), LastUsedAt: now,
	}, hash)
	if err != nil {
		return "", Session{}, fmt.Errorf("accounts: create session: %w", err)
	}
	return secret, sess, nil
}

// touchEvery limits last-used bookkeeping to one write a minute per session,
// so authenticated reads do not each cost a write.
const touchEvery = time.Minute

// Authenticate resolves a session or token secret to its user.
func (s *Service) Authenticate(ctx context.Context, secret string, kind SessionKind) (User, Session, error) {
	want := "gos_"
	if kind == KindToken {
		want = "gpt_"
	}
	if !strings.HasPrefix(secret, want) || len(secret) > 100 {
		return User{}, Session{}, ErrUnauthenticated
	}
	now := s.now()
	key := [32]byte(HashSecret(secret))
	if u, sess, ok := s.auth.get(key, now); ok && sess.Kind == kind {
		return u, sess, nil
	}
	sess, u, err := s.store.SessionBySecret(ctx, key[:], now)
	if errors.Is(err, ErrNotFound) {
		return User{}, Session{}, ErrUnauthenticated
	}
	if err != nil {
		return User{}, Session{}, err
	}
	if sess.Kind != kind {
		return User{}, Session{}, ErrUnauthenticated
	}
	if now.Sub(sess.LastUsedAt) > touchEvery {
		if err := s.store.TouchSession(ctx, sess.ID, now); err != nil {
			s.log.WarnContext(ctx, "could not record session use", "err", err)
		}
	}
	s.auth.put(key, u, sess, now)
	return u, sess, nil
}

// Logout ends the actor's own session or token.
func (s *Service) Logout(ctx context.Context, a Actor) error {
	if a.SessionID == 0 {
		return nil
	}
	s.auth.forgetSession(a.SessionID)
	return s.store.DeleteSession(ctx, a.SessionID)
}

// RevokeToken deletes a token by ID: its owner or an admin may.
func (s *Service) RevokeToken(ctx context.Context, a Actor, id int64) error {
	sess, err := s.store.SessionByID(ctx, id)
	if err != nil {
		return err
	}
	if sess.Kind != KindToken {
		return ErrNotFound
	}
	if sess.UserID != a.User.ID && !a.User.IsAdmin() {
		// Do not reveal other users' token IDs.
		return ErrNotFound
	}
	s.auth.forgetSession(id)
	return s.store.InTx(ctx, func(st Store) error {
		if err := st.DeleteSession(ctx, id); err != nil {
			return err
		}
		return s.audit(ctx, st, a, ActionTokenRevoked, nil, map[string]any{"token_id": id, "owner_id": sess.UserID})
	})
}

// PruneSessions deletes expired sessions and tokens.
func (s *Service) PruneSessions(ctx context.Context) (int64, error) {
	return s.store.DeleteExpiredSessions(ctx, s.now())
}
