package accounts

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// Errors of a sign-in through an identity provider, told to the person who
// just proved who they are there.
var (
	ErrEmailUnverified = errors.New("the identity provider has not verified your email address")
	ErrNoAccount       = errors.New("no account has this email address; ask an administrator for one")
	// ErrPasswordsOff refuses a password sign-in where only single sign-on is allowed.
	ErrPasswordsOff = errors.New("sign-in with a password is turned off; use single sign-on")
)

// ExternalSignIn is an identity an OpenID provider vouched for, with the
// request it came with.
type ExternalSignIn struct {
	Issuer, Subject string
	Email           string
	EmailVerified   bool
	// AllowSignup creates an account (role user) for a verified email that
	// has none.
	AllowSignup bool
	ClientIP    string
	RequestID   string
}

// Identity links a provider's subject to an account.
type Identity struct {
	Issuer, Subject string
	UserID          int64
	Email           string
}

// SignInExternal resolves a provider's identity to an account: the one it is
// linked to, else the one with its verified email (linked from now on), else
// a new one with the least role when signup is allowed. A disabled account
// is refused, and so is an email the provider has not verified: an address
// anyone can claim there must never open an account here.
func (s *Service) SignInExternal(ctx context.Context, in ExternalSignIn) (User, error) {
	actor := Actor{RequestID: in.RequestID, ClientIP: in.ClientIP}
	email := NormalizeEmail(in.Email)
	var u User
	err := s.store.InTx(ctx, func(st Store) error {
		var err error
		u, err = st.UserByIdentity(ctx, in.Issuer, in.Subject)
		switch {
		case err == nil:
		case !errors.Is(err, ErrNotFound):
			return err
		case !in.EmailVerified:
			return ErrEmailUnverified
		default:
			if u, err = s.linkByEmail(ctx, st, actor, in, email); err != nil {
				return err
			}
		}
		if u.Disabled() {
			return ErrAccountDisabled
		}
		if err := st.RecordLoginSuccess(ctx, u.ID, s.now(), ""); err != nil {
			return err
		}
		actor.User = u
		return s.audit(ctx, st, actor, ActionLoginSSO, &u, map[string]any{"issuer": in.Issuer})
	})
	if errors.Is(err, ErrAccountDisabled) {
		if aerr := s.audit(ctx, s.store, actor, ActionLoginDisabled, &u, map[string]any{"issuer": in.Issuer}); aerr != nil {
			return User{}, aerr
		}
	}
	if err != nil {
		return User{}, err
	}
	return u, nil
}

// linkByEmail links the identity to the account with its email, or to a new
// account when signup is allowed.
func (s *Service) linkByEmail(ctx context.Context, st Store, actor Actor, in ExternalSignIn, email string) (User, error) {
	v := &ValidationError{}
	checkEmail(v, email)
	if v.orNil() != nil {
		return User{}, ErrEmailUnverified
	}
	u, err := st.UserByEmail(ctx, email)
	switch {
	case errors.Is(err, ErrNotFound) && in.AllowSignup:
		if u, err = s.signUp(ctx, st, actor, email, in.Issuer); err != nil {
			return User{}, err
		}
	case errors.Is(err, ErrNotFound):
		return User{}, ErrNoAccount
	case err != nil:
		return User{}, err
	}
	if err := st.LinkIdentity(ctx, Identity{Issuer: in.Issuer, Subject: in.Subject, UserID: u.ID, Email: email}); err != nil {
		return User{}, err
	}
	actor.User = u
	return u, s.audit(ctx, st, actor, ActionIdentityLinked, &u, map[string]any{"issuer": in.Issuer})
}

var usernameJunk = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

// signUp creates an account with the least role for email, named after its
// local part (made unique), with a random password nobody knows: it signs
// in through its provider until an admin resets the password.
func (s *Service) signUp(ctx context.Context, st Store, actor Actor, email, issuer string) (User, error) {
	base := usernameJunk.ReplaceAllString(emailLocal(email), "")
	base = strings.Trim(base, ".-_")
	if len(base) > 40 {
		base = base[:40]
	}
	for len(base) < 3 {
		base += "_"
	}
	pw, err := GeneratePassword()
	if err != nil {
		return User{}, err
	}
	hash, err := s.hasher.Hash(pw)
	if err != nil {
		return User{}, fmt.Errorf("accounts: hash: %w", err)
	}
	for i := 0; i < 20; i++ {
		name := base
		if i > 0 {
			name = base + "-" + strconv.Itoa(i+1)
		}
		// Taken names are skipped before the insert: inside the sign-in's
		// transaction a failed insert would abort it.
		if _, err := st.CredentialByLogin(ctx, name); err == nil {
			continue
		} else if !errors.Is(err, ErrNotFound) {
			return User{}, err
		}
		u, err := st.CreateUser(ctx, NewUserRecord{Username: name, Email: email, PasswordHash: hash, Role: RoleUser})
		if err != nil {
			return User{}, err
		}
		actor.User = u
		return u, s.audit(ctx, st, actor, ActionUserCreated, &u, map[string]any{"role": string(u.Role), "via": "sso", "issuer": issuer})
	}
	return User{}, fmt.Errorf("accounts: no free username for %s after 20 tries", base)
}
