// Package sso signs browsers in through an OpenID Connect provider: the
// authorization code flow with PKCE, its state and nonce bound to the
// browser by a signed cookie, the ID token's issuer, audience, expiry and
// signature verified by go-oidc. Which account the identity opens is the
// accounts package's rule; this package only proves the identity.
package sso

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
)

// Config is what a Provider needs.
type Config struct {
	Issuer, ClientID, ClientSecret, RedirectURL string
	// StateKey signs the pending sign-in cookie (SESSION_KEY).
	StateKey []byte
	// HTTPClient talks to the provider; nil means one with a 10 s timeout.
	HTTPClient *http.Client
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Identity is what the provider vouched for.
type Identity struct {
	Issuer, Subject string
	Email           string
	EmailVerified   bool
}

// Pending is a sign-in between the redirect to the provider and its
// answer: kept in the browser (signed), bound to it.
type Pending struct {
	State    string `json:"s"`
	Nonce    string `json:"n"`
	Verifier string `json:"v"`
	Expires  int64  `json:"e"`
}

// pendingTTL is how long the browser has to come back from the provider.
const pendingTTL = 10 * time.Minute

// Errors of Finish, for the log; the browser is told only that the sign-in failed.
var (
	ErrState       = errors.New("sso: the state does not match this browser's pending sign-in")
	ErrNoPending   = errors.New("sso: no pending sign-in in this browser (expired, or already used)")
	ErrNonce       = errors.New("sso: the ID token's nonce is not this sign-in's")
	ErrUnavailable = errors.New("sso: the identity provider cannot be reached")
)

// Provider is one OpenID provider, discovered on first use (a provider that
// is down at start does not stop the service).
type Provider struct {
	cfg Config

	mu       sync.Mutex
	oauth    *oauth2.Config
	verifier *oidc.IDTokenVerifier
}

// New returns a Provider for cfg; nothing is fetched yet.
func New(cfg Config) (*Provider, error) {
	if cfg.Issuer == "" || cfg.ClientID == "" || cfg.RedirectURL == "" || len(cfg.StateKey) < 32 {
		return nil, errors.New("sso: Issuer, ClientID, RedirectURL and a 32-byte StateKey are required")
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Timeout: 10 * time.Second}
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Provider{cfg: cfg}, nil
}

// discover fetches the provider's metadata and keys location once.
func (p *Provider) discover(ctx context.Context) (*oauth2.Config, *oidc.IDTokenVerifier, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.oauth != nil {
		return p.oauth, p.verifier, nil
	}
	prov, err := oidc.NewProvider(oidc.ClientContext(ctx, p.cfg.HTTPClient), p.cfg.Issuer)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	p.oauth = &oauth2.Config{
		ClientID: p.cfg.ClientID, ClientSecret: p.cfg.ClientSecret, RedirectURL: p.cfg.RedirectURL,
		Endpoint: prov.Endpoint(), Scopes: []string{oidc.ScopeOpenID, "email", "profile"},
	}
	p.verifier = prov.Verifier(&oidc.Config{ClientID: p.cfg.ClientID, Now: p.cfg.Now})
	return p.oauth, p.verifier, nil
}

// Start begins a sign-in: where to send the browser, and the pending sign-in
// to keep in it.
func (p *Provider) Start(ctx context.Context) (string, Pending, error) {
	conf, _, err := p.discover(ctx)
	if err != nil {
		return "", Pending{}, err
	}
	pend := Pending{State: random(), Nonce: random(), Verifier: oauth2.GenerateVerifier(),
		Expires: p.cfg.Now().Add(pendingTTL).Unix()}
	url := conf.AuthCodeURL(pend.State, oidc.Nonce(pend.Nonce), oauth2.S256ChallengeOption(pend.Verifier))
	return url, pend, nil
}

// Finish completes a sign-in from the provider's answer (state and code)
// and the browser's pending sign-in: the state must be the browser's, the
// code is exchanged with the PKCE verifier, and the ID token must come from
// the issuer, for this client, unexpired, signed with the provider's keys
// and carry this sign-in's nonce.
func (p *Provider) Finish(ctx context.Context, pend Pending, state, code string) (Identity, error) {
	if pend.State == "" || p.cfg.Now().Unix() > pend.Expires {
		return Identity{}, ErrNoPending
	}
	if !hmac.Equal([]byte(state), []byte(pend.State)) {
		return Identity{}, ErrState
	}
	conf, verifier, err := p.discover(ctx)
	if err != nil {
		return Identity{}, err
	}
	ctx = oidc.ClientContext(ctx, p.cfg.HTTPClient)
	tok, err := conf.Exchange(ctx, code, oauth2.VerifierOption(pend.Verifier))
	if err != nil {
		return Identity{}, fmt.Errorf("sso: exchange the code: %w", err)
	}
	raw, ok := tok.Extra("id_token").(string)
	if !ok || raw == "" {
		return Identity{}, errors.New("sso: the token response has no ID token")
	}
	idt, err := verifier.Verify(ctx, raw)
	if err != nil {
		return Identity{}, fmt.Errorf("sso: verify the ID token: %w", err)
	}
	if !hmac.Equal([]byte(idt.Nonce), []byte(pend.Nonce)) {
		return Identity{}, ErrNonce
	}
	var claims struct {
		Email         string   `json:"email"`
		EmailVerified flexBool `json:"email_verified"`
	}
	if err := idt.Claims(&claims); err != nil {
		return Identity{}, fmt.Errorf("sso: read the ID token's claims: %w", err)
	}
	return Identity{Issuer: idt.Issuer, Subject: idt.Subject, Email: claims.Email, EmailVerified: bool(claims.EmailVerified)}, nil
}

// flexBool reads a claim that some providers send as "true" instead of true.
type flexBool bool

func (b *flexBool) UnmarshalJSON(data []byte) error {
	s := strings.Trim(string(data), `"`)
	v, err := strconv.ParseBool(s)
	if err != nil {
		return fmt.Errorf("sso: email_verified is %s, not a boolean", data)
	}
	*b = flexBool(v)
	return nil
}

// Seal encodes pend for its cookie, signed with the state key.
func (p *Provider) Seal(pend Pending) string {
	raw, _ := json.Marshal(pend)
	body := base64.RawURLEncoding.EncodeToString(raw)
	return body + "." + p.mac(body)
}

// Open decodes a cookie Seal made; anything else is ErrNoPending.
func (p *Provider) Open(v string) (Pending, error) {
	body, sig, ok := strings.Cut(v, ".")
	if !ok || !hmac.Equal([]byte(sig), []byte(p.mac(body))) {
		return Pending{}, ErrNoPending
	}
	raw, err := base64.RawURLEncoding.DecodeString(body)
	if err != nil {
		return Pending{}, ErrNoPending
	}
	var pend Pending
	if err := json.Unmarshal(raw, &pend); err != nil {
		return Pending{}, ErrNoPending
	}
	return pend, nil
}

func (p *Provider) mac(body string) string {
	m := hmac.New(sha256.New, p.cfg.StateKey)
	m.Write([]byte("gopherops sso pending\x00"))
	m.Write([]byte(body))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

func random() string {
	b := make([]byte, 24)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}
