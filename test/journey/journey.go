// Package journey holds the GopherOps user journeys, written once and run
// over real HTTP against any deployment: the binary started by the service
// suite, the compose stack, or a live stack's load balancer. Each journey is a
// function taking a *testing.T and the Target; All runs them in order.
//
// Every response to a documented path (/api/..., /healthz, /readyz) that a
// journey receives through Client.Do is also checked against the OpenAPI
// document the deployment itself serves at /api/v1/openapi.json.
//
// Journeys clean up the accounts they create (deleting them with the admin's
// token), so they can run again and again against a long-lived deployment.
// The service throttles sign-ins per client address (ten at once, then one
// every six seconds), so a Target signs its admin in once and reuses the
// token, and sign-ins honour Retry-After when throttled anyway.
package journey

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gruntwork-io/terratest/modules/random"
	"github.com/stretchr/testify/require"

	"github.com/gopherops/gopherops/service/contract"
)

// Credentials sign a user in: login is the username or the email.
type Credentials struct {
	Login    string `json:"login"`
	Password string `json:"password"`
}

// Target is one running deployment of GopherOps.
type Target struct {
	// BaseURL is the public listener, e.g. http://127.0.0.1:8080.
	BaseURL string
	// AdminURLs are the admin listeners (/metrics) of every instance serving
	// BaseURL. Empty skips the metrics journey, saying why.
	AdminURLs []string
	// Admin is the root admin, created with `gopherops admin create`.
	Admin Credentials
	// Version is the build version the deployment must report; empty skips
	// the version checks.
	Version string

	mu        sync.Mutex
	adminTok  string
	adminUser User
}

// User is the API's view of an account, as the service's contract defines
// it: the journeys decode users into the one struct the service encodes.
type User = contract.User

// Token is the answer to POST /api/v1/auth/tokens.
type Token struct {
	ID        int64     `json:"id"`
	Token     string    `json:"token"`
	TokenType string    `json:"token_type"`
	Name      string    `json:"name"`
	Scopes    []string  `json:"scopes"`
	ExpiresAt time.Time `json:"expires_at"`
	User      User      `json:"user"`
}

// All runs every journey against tg, in an order where later journeys can
// rely on what earlier ones proved (the metrics journey counts the requests
// the others made).
func All(t *testing.T, tg *Target) {
	t.Helper()
	journeys := []struct {
		name string
		run  func(*testing.T, *Target)
	}{
		{"health", Health},
		{"anonymous access is refused", AnonymousRefused},
		{"token API", TokenAPI},
		{"browser session", BrowserSession},
		{"user administration", UserAdministration},
		{"normal user", NormalUser},
		{"avatar", Avatar},
		{"disable and enable", DisableEnable},
		{"sign-ins listed and revoked", SignIns},
		{"scoped tokens", ScopedTokens},
		{"token expiry", TokenExpiry},
		{"dashboard data", Dashboard},
		{"bad inputs", BadInputs},
		{"metrics", Metrics},
	}
	for _, j := range journeys {
		t.Run(j.name, func(t *testing.T) { j.run(t, tg) })
	}
}

// AdminClient returns a client carrying the root admin's bearer token,
// signing in on first use.
func (tg *Target) AdminClient(t testing.TB) *Client {
	t.Helper()
	tg.mu.Lock()
	defer tg.mu.Unlock()
	if tg.adminTok == "" {
		tok := SignIn(t, tg.BaseURL, tg.Admin)
		require.True(t, tok.User.IsRoot, "the target's admin credential must be the root admin (the first created with `gopherops admin create`), got %+v", tok.User)
		tg.adminTok, tg.adminUser = tok.Token, tok.User
	}
	return NewClient(tg.BaseURL).WithBearer(tg.adminTok, "admin")
}

// AdminUser returns the root admin's account.
func (tg *Target) AdminUser(t testing.TB) User {
	t.Helper()
	tg.AdminClient(t)
	tg.mu.Lock()
	defer tg.mu.Unlock()
	return tg.adminUser
}

// maxThrottleWait bounds how long SignIn waits out the sign-in throttle.
const maxThrottleWait = 2 * time.Minute

// SignIn creates an API token with the credentials. When the service
// throttles sign-ins (429) it waits as long as Retry-After says, as a
// well-behaved client must, up to a bound.
func SignIn(t testing.TB, baseURL string, cr Credentials) Token {
	t.Helper()
	return SignInWith(t, baseURL, cr, nil)
}

// SignInWith is SignIn asking for a token with the extra fields (scopes,
// expires_in).
func SignInWith(t testing.TB, baseURL string, cr Credentials, extra map[string]any) Token {
	t.Helper()
	tok, resp := signIn(t, baseURL, cr, extra)
	require.NotNil(t, tok, "sign in as %s:\n%s", cr.Login, resp)
	return *tok
}

// signIn returns the token, or nil and the response when the service
// answered anything but 201 (after waiting out any throttling).
func signIn(t testing.TB, baseURL string, cr Credentials, extra map[string]any) (*Token, *Response) {
	t.Helper()
	c := NewClient(baseURL)
	deadline := time.Now().Add(maxThrottleWait)
	body := map[string]any{"login": cr.Login, "password": cr.Password, "name": tokenName(t)}
	for k, v := range extra {
		body[k] = v
	}
	for {
		resp := c.Send(t, http.MethodPost, "/api/v1/auth/tokens", body)
		if resp.Status == http.StatusTooManyRequests {
			wait, err := strconv.Atoi(resp.Header.Get("Retry-After"))
			require.NoError(t, err, "a 429 must say when to retry:\n%s", resp)
			if time.Now().Add(time.Duration(wait) * time.Second).Before(deadline) {
				t.Logf("sign-in throttled; waiting %ds as Retry-After asks", wait)
				time.Sleep(time.Duration(wait) * time.Second)
				continue
			}
		}
		if resp.Status != http.StatusCreated {
			return nil, resp
		}
		var tok Token
		resp.ExpectJSON(t, http.StatusCreated, &tok)
		return &tok, resp
	}
}

// tokenName names a token after the test that made it, within the API's 100 characters.
func tokenName(t testing.TB) string {
	name := "journey " + t.Name()
	if len(name) > 100 {
		name = name[:100]
	}
	return name
}

// NewUser describes an account a journey creates.
type NewUser struct {
	Username            string `json:"username"`
	Email               string `json:"email"`
	Password            string `json:"password"`
	Role                string `json:"role"`
	ForcePasswordChange *bool  `json:"force_password_change,omitempty"`
}

// Credentials are the new user's sign-in credentials.
func (n NewUser) Credentials() Credentials {
	return Credentials{Login: n.Username, Password: n.Password}
}

// NewUserSpec returns a unique account of the given role whose password must
// (force) or need not be changed at first sign-in; nil force leaves the
// service's default.
func NewUserSpec(label, role string, force *bool) NewUser {
	name := "j-" + label + "-" + random.UniqueID()
	return NewUser{
		Username:            name,
		Email:               strings.ToLower(name) + "@example.com",
		Password:            NewPassword(),
		Role:                role,
		ForcePasswordChange: force,
	}
}

// NewPassword returns a fresh password that satisfies the service's policy.
func NewPassword() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return "jp-" + hex.EncodeToString(b[:])
}

// Bool returns a pointer to b, for optional request fields.
func Bool(b bool) *bool { return &b }

// CreateUser creates the account with the admin client and deletes it when
// the test ends (a 404 then means the journey already deleted it).
func CreateUser(t testing.TB, admin *Client, n NewUser) User {
	t.Helper()
	resp := admin.Send(t, http.MethodPost, "/api/v1/users", n)
	var u User
	resp.ExpectJSON(t, http.StatusCreated, &u)
	require.Equal(t, u.Path(), resp.Header.Get("Location"), "Location of the new user:\n%s", resp)
	require.Equal(t, ETag(u.Version), resp.Header.Get("ETag"), "ETag of the new user:\n%s", resp)
	deleteAtCleanup(t, admin, u)
	return u
}

// deleteAtCleanup deletes the user with the admin client when the test ends;
// a 404 then means the journey already deleted it.
func deleteAtCleanup(t testing.TB, admin *Client, u User) {
	t.Cleanup(func() {
		resp, err := admin.DoE(Request{Method: http.MethodDelete, Path: u.Path()})
		switch {
		case err != nil:
			t.Errorf("clean up user %s: %v", u.Username, err)
		case resp.Status != http.StatusNoContent && resp.Status != http.StatusNotFound:
			t.Errorf("clean up user %s:\n%s", u.Username, resp)
		}
	})
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// ETag is the entity tag the API gives a user version.
func ETag(version int) string { return fmt.Sprintf("%q", strconv.Itoa(version)) }
