// Package ssotest is an OpenID provider in the test process: discovery,
// keys, an authorization endpoint that approves at once, and a token
// endpoint that checks the client, the redirect, the PKCE verifier and that
// a code is used only once. Tests choose the identity it vouches for and
// can spoil the ID token (issuer, audience, nonce, expiry) to see it refused.
package ssotest

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
)

// Grant is what the next authorization vouches for.
type Grant struct {
	Subject       string
	Email         string
	EmailVerified bool
	// Spoil edits the ID token's claims before they are signed.
	Spoil func(claims map[string]any)
}

// Provider is a running OpenID provider.
type Provider struct {
	// URL is the issuer.
	URL                    string
	ClientID, ClientSecret string
	// RedirectURL is the one redirect the client may use.
	RedirectURL string

	t      testing.TB
	signer jose.Signer
	jwks   jose.JSONWebKeySet

	mu    sync.Mutex
	next  Grant
	codes map[string]issued
	used  map[string]bool
}

type issued struct {
	grant       Grant
	nonce       string
	challenge   string
	redirectURI string
}

// Start serves a provider until t ends.
func Start(t testing.TB) *Provider {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	jwk := jose.JSONWebKey{Key: key, KeyID: "test-key", Algorithm: string(jose.RS256), Use: "sig"}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: jwk}, (&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		t.Fatal(err)
	}
	p := &Provider{t: t, signer: signer, ClientID: "gopherops-test", ClientSecret: "provider-secret-" + rand.Text(),
		jwks: jose.JSONWebKeySet{Keys: []jose.JSONWebKey{jwk.Public()}}, codes: map[string]issued{}, used: map[string]bool{}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/openid-configuration", p.discovery)
	mux.HandleFunc("GET /jwks", func(w http.ResponseWriter, _ *http.Request) { writeJSON(w, http.StatusOK, p.jwks) })
	mux.HandleFunc("GET /authorize", p.authorize)
	mux.HandleFunc("POST /token", p.token)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	p.URL = srv.URL
	return p
}

// Next sets what the next authorization vouches for.
func (p *Provider) Next(g Grant) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.next = g
}

func (p *Provider) discovery(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{
		"issuer": p.URL, "authorization_endpoint": p.URL + "/authorize", "token_endpoint": p.URL + "/token",
		"jwks_uri": p.URL + "/jwks", "response_types_supported": []string{"code"},
		"subject_types_supported": []string{"public"}, "id_token_signing_alg_values_supported": []string{"RS256"},
		"code_challenge_methods_supported": []string{"S256"},
	})
}

// authorize approves at once: the code is bound to the nonce, the PKCE
// challenge and the redirect of the request.
func (p *Provider) authorize(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	switch {
	case q.Get("client_id") != p.ClientID:
		http.Error(w, "unknown client", http.StatusBadRequest)
		return
	case p.RedirectURL == "" || q.Get("redirect_uri") != p.RedirectURL:
		http.Error(w, "redirect_uri not registered", http.StatusBadRequest)
		return
	case q.Get("response_type") != "code" || q.Get("code_challenge_method") != "S256" || q.Get("code_challenge") == "":
		http.Error(w, "authorization code with PKCE (S256) only", http.StatusBadRequest)
		return
	}
	code := rand.Text()
	p.mu.Lock()
	p.codes[code] = issued{grant: p.next, nonce: q.Get("nonce"), challenge: q.Get("code_challenge"), redirectURI: q.Get("redirect_uri")}
	p.mu.Unlock()
	// Back to the registered redirect (the request's was checked equal to
	// it above), never to an address the request alone names.
	back, err := url.Parse(p.RedirectURL)
	if err != nil {
		http.Error(w, "registered redirect is not a URL", http.StatusInternalServerError)
		return
	}
	v := back.Query()
	v.Set("code", code)
	v.Set("state", q.Get("state"))
	back.RawQuery = v.Encode()
	http.Redirect(w, r, back.String(), http.StatusFound)
}

// token exchanges a code once, for the client that proves its secret and
// the verifier of the code's challenge.
func (p *Provider) token(w http.ResponseWriter, r *http.Request) {
	id, secret, ok := r.BasicAuth()
	if !ok {
		id, secret = r.PostFormValue("client_id"), r.PostFormValue("client_secret")
	}
	if id != p.ClientID || secret != p.ClientSecret {
		oauthError(w, http.StatusUnauthorized, "invalid_client", "unknown client or wrong secret")
		return
	}
	code := r.PostFormValue("code")
	p.mu.Lock()
	is, found := p.codes[code]
	replay := p.used[code]
	delete(p.codes, code)
	p.used[code] = true
	p.mu.Unlock()
	switch {
	case replay:
		oauthError(w, http.StatusBadRequest, "invalid_grant", "code already used")
		return
	case !found:
		oauthError(w, http.StatusBadRequest, "invalid_grant", "unknown code")
		return
	case r.PostFormValue("redirect_uri") != is.redirectURI:
		oauthError(w, http.StatusBadRequest, "invalid_grant", "redirect_uri differs from the authorization's")
		return
	}
	sum := sha256.Sum256([]byte(r.PostFormValue("code_verifier")))
	if base64.RawURLEncoding.EncodeToString(sum[:]) != is.challenge {
		oauthError(w, http.StatusBadRequest, "invalid_grant", "PKCE verifier does not match the challenge")
		return
	}
	now := time.Now()
	claims := map[string]any{
		"iss": p.URL, "sub": is.grant.Subject, "aud": p.ClientID, "iat": now.Unix(), "exp": now.Add(5 * time.Minute).Unix(),
		"nonce": is.nonce, "email": is.grant.Email, "email_verified": is.grant.EmailVerified,
	}
	if is.grant.Spoil != nil {
		is.grant.Spoil(claims)
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		p.t.Errorf("ssotest: claims: %v", err)
		return
	}
	jws, err := p.signer.Sign(payload)
	if err != nil {
		p.t.Errorf("ssotest: sign: %v", err)
		return
	}
	idToken, err := jws.CompactSerialize()
	if err != nil {
		p.t.Errorf("ssotest: serialize: %v", err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"access_token": rand.Text(), "token_type": "Bearer", "expires_in": 300, "id_token": idToken})
}

func oauthError(w http.ResponseWriter, status int, code, desc string) {
	writeJSON(w, status, map[string]string{"error": code, "error_description": desc})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
