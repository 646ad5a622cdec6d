package accounts

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gopherops/gopherops/service/internal/blob"
	"github.com/gopherops/gopherops/service/internal/imaging"
	"github.com/gopherops/gopherops/service/internal/password"
)

// Hasher hashes and verifies passwords.
type Hasher interface {
	Hash(pw string) (string, error)
	Verify(encoded, pw string) error
	NeedsRehash(encoded string) bool
}

// Limiter rate-limits sign-in attempts per key (a client address).
type Limiter interface {
	// Allow consumes one attempt for key and reports when to retry if none is left.
	Allow(key string) (ok bool, retryAfter time.Duration)
}

// Actor is who performs a request, for authorisation and the audit trail.
type Actor struct {
	User      User
	SessionID int64
	RequestID string
	ClientIP  string
	UserAgent string // the program that sent the request, as it says
	// Scopes are the powers of the sign-in the request came with; zero means
	// all of them (the command line, a browser session).
	Scopes Scopes
}

// Can reports whether the actor's sign-in holds every scope of want.
func (a Actor) Can(want Scopes) bool { return a.Scopes == 0 || a.Scopes.Has(want) }

// IsAdmin reports whether the actor may use the admin role's powers: an
// admin, through a sign-in with the admin scope.
func (a Actor) IsAdmin() bool { return a.User.IsAdmin() && a.Can(ScopeAdmin) }

// Options are the dependencies of a Service.
type Options struct {
	Store         Store
	Hasher        Hasher
	Policy        *password.Policy
	Blobs         blob.Store
	ClientLimiter Limiter
	Logger        *slog.Logger
	Now           func() time.Time
	SessionTTL    time.Duration
	// TokenTTL is an API token's lifetime when its creator asks for none,
	// TokenMaxTTL the longest one may ask for.
	TokenTTL    time.Duration
	TokenMaxTTL time.Duration
	// AuthCacheTTL is how long a successful authentication is reused; 0 means
	// two seconds, negative disables the cache.
	AuthCacheTTL time.Duration
	// OnVerify, when set, is told the outcome of every password hash
	// verification (VerifyMatch, VerifyMismatch, VerifyNoUser): metrics
	// count the expensive work an attacker can cause.
	OnVerify func(outcome string)
	// PasswordsOff refuses every password sign-in (single sign-on only).
	PasswordsOff bool
	// Images bounds the memory avatar decoding takes; nil means the
	// default budget (see avatarDecodeBytes).
	Images *imaging.Budget
}

// Service implements the account use cases.
type Service struct {
	store      Store
	hasher     Hasher
	policy     *password.Policy
	blobs      blob.Store
	limiter    Limiter
	log        *slog.Logger
	now        func() time.Time
	sessionTTL time.Duration
	tokenTTL   time.Duration
	tokenMax   time.Duration
	dummyHash  string
	auth       *authCache
	verified   func(outcome string)
	images     *imaging.Budget
	// passwordsOff refuses password sign-ins.
	passwordsOff bool
}

// NewService wires a Service; zero TTLs get sensible defaults.
func NewService(o Options) (*Service, error) {
	if o.Store == nil || o.Hasher == nil || o.Blobs == nil {
		return nil, errors.New("accounts: Store, Hasher and Blobs are required")
	}
	s := &Service{
		store: o.Store, hasher: o.Hasher, policy: o.Policy, blobs: o.Blobs, limiter: o.ClientLimiter,
		log: o.Logger, now: o.Now, sessionTTL: o.SessionTTL, tokenTTL: o.TokenTTL, tokenMax: o.TokenMaxTTL, verified: o.OnVerify,
		images: o.Images, passwordsOff: o.PasswordsOff,
	}
	if s.images == nil {
		s.images = imaging.NewBudget(avatarDecodeBytes, avatarDecodeInFlight, maxAvatarSide)
	}
	if s.policy == nil {
		s.policy = password.NewPolicy()
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.sessionTTL == 0 {
		s.sessionTTL = 12 * time.Hour
	}
	if s.tokenTTL == 0 {
		s.tokenTTL = DefaultTokenTTL
	}
	if s.tokenMax == 0 {
		s.tokenMax = max(DefaultTokenMaxTTL, s.tokenTTL)
	}
	if s.tokenTTL > s.tokenMax {
		return nil, errors.New("accounts: TokenTTL is longer than TokenMaxTTL")
	}
	switch {
	case o.AuthCacheTTL == 0:
		s.auth = newAuthCache(2*time.Second, 50_000)
	case o.AuthCacheTTL > 0:
		s.auth = newAuthCache(o.AuthCacheTTL, 50_000)
	}
	// Sign-ins for unknown accounts verify against this hash so that response
	// time does not reveal which usernames exist.
	h, err := s.hasher.Hash("gopherops-timing-equaliser")
	if err != nil {
		return nil, fmt.Errorf("accounts: %w", err)
	}
	s.dummyHash = h
	return s, nil
}

// The lifetimes of API tokens when the configuration names none.
const (
	DefaultTokenTTL    = 30 * 24 * time.Hour
	DefaultTokenMaxTTL = 90 * 24 * time.Hour
)

func requireAdmin(a Actor) error {
	switch {
	case !a.User.IsAdmin():
		return ErrForbidden
	case !a.Can(ScopeAdmin):
		return ErrScopeAdmin
	}
	return nil
}

func requireSelfOrAdmin(a Actor, id int64) error {
	if a.User.ID == id {
		return nil
	}
	return requireAdmin(a)
}

func (s *Service) audit(ctx context.Context, st Store, a Actor, action AuditAction, target *User, details map[string]any) error {
	e := AuditEvent{Action: action, RequestID: a.RequestID, ClientIP: a.ClientIP, Details: details, ActorName: a.User.Username,
		UserAgent: truncateBytes(a.UserAgent, maxUserAgent)}
	if a.User.ID != 0 {
		id := a.User.ID
		e.ActorID = &id
	}
	if target != nil {
		id := target.ID
		e.TargetID, e.TargetName = &id, target.Username
	}
	if err := st.AddAuditEvent(ctx, e); err != nil {
		return fmt.Errorf("accounts: audit %s: %w", action, err)
	}
	return nil
}

// maxUserAgent is how much of a user agent the trail keeps.
const maxUserAgent = 256

// truncateBytes returns the longest prefix of s of at most n bytes that
// ends on a character boundary and is valid text for the database.
func truncateBytes(s string, n int) string {
	s = strings.ToValidUTF8(strings.ReplaceAll(s, "\x00", ""), "\uFFFD")
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// newSecret returns a random bearer secret with a recognisable prefix (so
// secret scanners can spot leaked tokens) and its SHA-256, which is what is stored.
func newSecret(prefix string) (string, []byte, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", nil, fmt.Errorf("accounts: random: %w", err)
	}
	secret := prefix + base64.RawURLEncoding.EncodeToString(b)
	sum := hashSecret(secret)
	return secret, sum[:], nil
}

// hashSecret is the stored form of a session or token secret. An array, not
// a slice: the auth cache is keyed by it on every authenticated request, and
// a slice of it would be one more allocation each time. For the same reason a
// secret of up to maxSecretLen bytes (all that Authenticate accepts) is
// copied to the stack first: Go converts a string of more than 32 bytes to
// []byte on the heap even when the bytes do not escape.
func hashSecret(secret string) [32]byte {
	if len(secret) > maxSecretLen {
		return sha256.Sum256([]byte(secret))
	}
	var buf [maxSecretLen]byte
	n := copy(buf[:], secret)
	return sha256.Sum256(buf[:n])
}

// maxSecretLen is the longest session or token secret there is reason to
// look up: the ones this package issues are 47 bytes.
const maxSecretLen = 100

// GeneratePassword returns a random password that satisfies the policy, for
// resets and the development admin.
func GeneratePassword() (string, error) {
	b := make([]byte, 18)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("accounts: random: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}
