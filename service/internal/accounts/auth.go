package accounts

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/gopherops/gopherops/service/internal/password"
)

// lockThreshold is how many consecutive failures lock an account.
const lockThreshold = 5

// lockFor doubles the lock-out from one minute per failure past the
// threshold, capped at fifteen minutes: slow for a guesser, short for a typo.
func lockFor(failures int) time.Duration {
	if failures < lockThreshold {
		return 0
	}
	d := time.Minute << min(failures-lockThreshold, 4)
	return min(d, 15*time.Minute)
}

// LoginInput is a sign-in attempt.
type LoginInput struct {
	Login     string // username or email
	Password  string
	ClientIP  string
	RequestID string
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
	now := s.now()
	cred, err := s.store.CredentialByLogin(ctx, login)
	if errors.Is(err, ErrNotFound) {
		_ = s.hasher.Verify(s.dummyHash, in.Password)
		return User{}, ErrBadCredentials
	}
	if err != nil {
		return User{}, err
	}
	if cred.LockedUntil != nil && cred.LockedUntil.After(now) {
		return User{}, &ThrottledError{RetryAfter: cred.LockedUntil.Sub(now)}
	}
	pw := password.Normalize(in.Password)
	if err := s.hasher.Verify(cred.PasswordHash, pw); err != nil {
		if !errors.Is(err, password.ErrMismatch) {
			s.log.ErrorContext(ctx, "stored password hash unreadable", "user_id", cred.ID, "err", err)
		}
		ferr := s.store.InTx(ctx, func(st Store) error {
			if err := st.RecordLoginFailure(ctx, cred.ID, now, lockFor); err != nil {
				return err
			}
			return s.audit(ctx, st, Actor{RequestID: in.RequestID, ClientIP: in.ClientIP}, "auth.login_failed", &cred.User, nil)
		})
		if ferr != nil {
			return User{}, ferr
		}
		return User{}, ErrBadCredentials
	}
	newHash := ""
	if s.hasher.NeedsRehash(cred.PasswordHash) {
		if h, err := s.hasher.Hash(pw); err == nil {
			newHash = h
		}
	}
	err = s.store.InTx(ctx, func(st Store) error {
		if err := st.RecordLoginSuccess(ctx, cred.ID, now, newHash); err != nil {
			return err
		}
		return s.audit(ctx, st, Actor{User: cred.User, RequestID: in.RequestID, ClientIP: in.ClientIP}, "auth.login", &cred.User, nil)
	})
	if err != nil {
		return User{}, err
	}
	return cred.User, nil
}

// StartSession creates a browser session or API token for u and returns its
// secret, which is shown once and never stored.
func (s *Service) StartSession(ctx context.Context, u User, kind SessionKind, name string) (string, Session, error) {
	prefix, ttl := "gos_", s.sessionTTL
	if kind == KindToken {
		prefix, ttl = "gpt_", s.tokenTTL
	}
	if len(name) > 100 {
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
		return s.audit(ctx, st, a, "auth.token_revoked", nil, map[string]any{"token_id": id, "owner_id": sess.UserID})
	})
}

// PruneSessions deletes expired sessions and tokens.
func (s *Service) PruneSessions(ctx context.Context) (int64, error) {
	return s.store.DeleteExpiredSessions(ctx, s.now())
}
