package accounts

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gopherops/gopherops/service/internal/safetext"
)

// MinTokenTTL is the shortest lifetime a token may be given.
const MinTokenTTL = time.Minute

// SessionInput describes a sign-in to start.
type SessionInput struct {
	Kind SessionKind
	// Name is a token's name (at most 100 characters).
	Name string
	// UserAgent and ClientIP are where the sign-in comes from, shown in its
	// owner's list; the user agent is cut to 200 characters.
	UserAgent string
	ClientIP  string
	// Scopes of a token; zero means all. A browser session has them all.
	Scopes Scopes
	// TTL of a token; zero means the default. A browser session lasts the
	// session lifetime.
	TTL time.Duration
}

// StartSession creates a browser session or API token for u and returns its
// secret, which is shown once and never stored.
func (s *Service) StartSession(ctx context.Context, u User, in SessionInput) (string, Session, error) {
	prefix, ttl, scopes := "gos_", s.sessionTTL, ScopesAll
	if in.Kind == KindToken {
		prefix, ttl = "gpt_", s.tokenTTL
		if in.Scopes != 0 {
			scopes = in.Scopes
		}
		if in.TTL != 0 {
			ttl = in.TTL
		}
	}
	if err := s.CheckSession(in); err != nil {
		return "", Session{}, err
	}
	// Names come from clients (a token's name, a browser's User-Agent):
	// stored as clean text, never as bytes PostgreSQL refuses.
	name := safetext.Clean(in.Name)
	secret, hash, err := newSecret(prefix)
	if err != nil {
		return "", Session{}, err
	}
	now := s.now()
	sess, err := s.store.CreateSession(ctx, Session{
		UserID: u.ID, Kind: in.Kind, Name: name, CreatedAt: now, ExpiresAt: now.Add(ttl), LastUsedAt: now,
		UserAgent: safetext.TruncateRunes(safetext.Clean(in.UserAgent), 200),
		ClientIP:  safetext.TruncateRunes(safetext.Clean(in.ClientIP), 64),
		Scopes:    scopes,
	}, hash)
	if err != nil {
		return "", Session{}, fmt.Errorf("accounts: create session: %w", err)
	}
	return secret, sess, nil
}

// CheckSession reports what is wrong with in, so that a client can be told
// before its password is verified: a name over 100 characters, a token
// lifetime outside MinTokenTTL and the configured maximum.
func (s *Service) CheckSession(in SessionInput) error {
	v := &ValidationError{}
	if utf8.RuneCountInString(safetext.Clean(in.Name)) > 100 {
		v.add("name", "must be at most 100 characters")
	}
	if in.Kind == KindToken && in.TTL != 0 && (in.TTL < MinTokenTTL || in.TTL > s.tokenMax) {
		v.add("expires_in", fmt.Sprintf("must be between %d and %d seconds", int64(MinTokenTTL/time.Second), int64(s.tokenMax/time.Second)))
	}
	return v.orNil()
}

// touchEvery limits last-used bookkeeping to one write a minute per session,
// so authenticated reads do not each cost a write.
const touchEvery = time.Minute

// Authenticate resolves a session or token secret, used from clientIP, to
// its user. A disabled account has no sessions: the store never returns one.
func (s *Service) Authenticate(ctx context.Context, secret string, kind SessionKind, clientIP string) (User, Session, error) {
	want := "gos_"
	if kind == KindToken {
		want = "gpt_"
	}
	if !strings.HasPrefix(secret, want) || len(secret) > maxSecretLen {
		return User{}, Session{}, ErrUnauthenticated
	}
	now := s.now()
	key := hashSecret(secret)
	if u, sess, ok := s.auth.get(key, now); ok && sess.Kind == kind {
		return u, sess, nil
	}
	// A copy for the store, so that only a cache miss puts the key on the heap.
	sess, u, err := s.store.SessionBySecret(ctx, slices.Clone(key[:]), now)
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
		ip := safetext.TruncateRunes(safetext.Clean(clientIP), 64)
		if err := s.store.TouchSession(ctx, sess.ID, now, ip); err != nil {
			s.log.WarnContext(ctx, "could not record session use", "err", err)
		} else {
			sess.LastUsedAt, sess.ClientIP = now, ip
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
	if sess.Kind != KindToken || (sess.UserID != a.User.ID && !a.IsAdmin()) {
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

// ListSessions returns the unexpired browser sessions and API tokens of a
// user, newest first, to that user or an admin.
func (s *Service) ListSessions(ctx context.Context, a Actor, userID int64) ([]Session, error) {
	if err := requireSelfOrAdmin(a, userID); err != nil {
		return nil, err
	}
	if _, err := s.store.UserByID(ctx, userID); err != nil {
		return nil, err
	}
	return s.store.ListUserSessions(ctx, userID, s.now())
}

// RevokeSession ends one session or token of a user: the user or an admin may.
func (s *Service) RevokeSession(ctx context.Context, a Actor, userID, sessionID int64) error {
	if err := requireSelfOrAdmin(a, userID); err != nil {
		return err
	}
	return s.store.InTx(ctx, func(st Store) error {
		u, err := st.UserByID(ctx, userID)
		if err != nil {
			return err
		}
		sess, err := st.SessionByID(ctx, sessionID)
		if err != nil {
			return err
		}
		if sess.UserID != userID {
			return ErrNotFound
		}
		if err := st.DeleteSession(ctx, sessionID); err != nil {
			return err
		}
		s.auth.forgetSession(sessionID)
		return s.audit(ctx, st, a, ActionSessionRevoked, &u, map[string]any{"session_id": sessionID, "kind": string(sess.Kind)})
	})
}

// RevokeOtherSessions ends every session and token of a user but the one the
// request came with, and reports how many ended: the user or an admin may.
func (s *Service) RevokeOtherSessions(ctx context.Context, a Actor, userID int64) (int64, error) {
	if err := requireSelfOrAdmin(a, userID); err != nil {
		return 0, err
	}
	keep := int64(0)
	if userID == a.User.ID {
		keep = a.SessionID
	}
	var n int64
	err := s.store.InTx(ctx, func(st Store) error {
		u, err := st.UserByID(ctx, userID)
		if err != nil {
			return err
		}
		if n, err = st.DeleteUserSessions(ctx, userID, keep); err != nil {
			return err
		}
		return s.audit(ctx, st, a, ActionSessionsRevoked, &u, map[string]any{"count": n, "kept_current": keep != 0})
	})
	s.auth.forgetUser(userID)
	return n, err
}

// PruneSessions deletes expired sessions and tokens.
func (s *Service) PruneSessions(ctx context.Context) (int64, error) {
	return s.store.DeleteExpiredSessions(ctx, s.now())
}
