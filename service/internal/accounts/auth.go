package accounts

import (
	"context"
	"errors"
	"net/netip"
	"strings"
	"time"

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
	if s.passwordsOff {
		return User{}, ErrPasswordsOff
	}
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
	if cred.Disabled() {
		// Only now, after the right password: to anyone else the account
		// answered as any does to a wrong one.
		if err := s.audit(ctx, s.store, actor, ActionLoginDisabled, &cred.User, nil); err != nil {
			return User{}, err
		}
		return User{}, ErrAccountDisabled
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
