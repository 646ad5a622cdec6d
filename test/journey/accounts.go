package journey

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Session is one entry of GET /api/v1/users/{id}/sessions.
type Session struct {
	ID         int64     `json:"id"`
	Kind       string    `json:"kind"`
	Name       string    `json:"name"`
	UserAgent  string    `json:"user_agent"`
	ClientIP   string    `json:"client_ip"`
	Scopes     []string  `json:"scopes"`
	CreatedAt  time.Time `json:"created_at"`
	LastUsedAt time.Time `json:"last_used_at"`
	ExpiresAt  time.Time `json:"expires_at"`
	Current    bool      `json:"current"`
}

// ListSessions returns the sign-ins of u as c sees them.
func ListSessions(t testing.TB, c *Client, u User) []Session {
	t.Helper()
	var out struct {
		Sessions []Session `json:"sessions"`
	}
	c.Get(t, u.Path()+"/sessions").ExpectJSON(t, http.StatusOK, &out)
	return out.Sessions
}

// DisableEnable has an admin disable an account, which ends its sign-ins at
// once; it then cannot sign in, and only its right password is told why;
// enabled again, it signs in.
func DisableEnable(t *testing.T, tg *Target) {
	admin := tg.AdminClient(t)
	spec := NewUserSpec("disabled", "user", Bool(false))
	u := CreateUser(t, admin, spec)
	tok := SignIn(t, tg.BaseURL, spec.Credentials())
	user := NewClient(tg.BaseURL).WithBearer(tok.Token, spec.Username)
	user.Get(t, "/api/v1/me").Expect(t, http.StatusOK)

	var got User
	admin.Send(t, http.MethodPost, u.Path()+"/disable", nil).ExpectJSON(t, http.StatusOK, &got)
	assert.True(t, got.Disabled, "disabled")
	require.NotNil(t, got.DisabledAt, "disabled_at")
	user.Get(t, "/api/v1/me").ExpectProblem(t, http.StatusUnauthorized)

	// signIn waits out the sign-in throttle, as a client must.
	_, resp := signIn(t, tg.BaseURL, Credentials{Login: spec.Username, Password: NewPassword()}, nil)
	wrong := resp.ExpectProblem(t, http.StatusUnauthorized)
	assert.NotContains(t, strings.ToLower(wrong.Detail), "disabled", "a wrong password must not learn the account is disabled")
	_, resp = signIn(t, tg.BaseURL, spec.Credentials(), nil)
	right := resp.ExpectProblem(t, http.StatusForbidden)
	assert.Contains(t, right.Detail, "disabled", "the right password learns why")

	root := tg.AdminUser(t)
	admin.Send(t, http.MethodPost, root.Path()+"/disable", nil).ExpectProblem(t, http.StatusForbidden)

	admin.Send(t, http.MethodPost, u.Path()+"/enable", nil).ExpectJSON(t, http.StatusOK, &got)
	assert.False(t, got.Disabled, "enabled")
	again := SignIn(t, tg.BaseURL, spec.Credentials())
	NewClient(tg.BaseURL).WithBearer(again.Token, spec.Username).Get(t, "/api/v1/me").Expect(t, http.StatusOK)
}

// SignIns has a user list their own sign-ins (never a secret), end one and
// then every other; an admin sees and ends another's; another user cannot.
func SignIns(t *testing.T, tg *Target) {
	admin := tg.AdminClient(t)
	spec := NewUserSpec("sessions", "user", Bool(false))
	u := CreateUser(t, admin, spec)
	first := SignIn(t, tg.BaseURL, spec.Credentials())
	second := SignIn(t, tg.BaseURL, spec.Credentials())
	third := SignIn(t, tg.BaseURL, spec.Credentials())
	c1 := NewClient(tg.BaseURL).WithBearer(first.Token, spec.Username+" (1)")
	c2 := NewClient(tg.BaseURL).WithBearer(second.Token, spec.Username+" (2)")
	c3 := NewClient(tg.BaseURL).WithBearer(third.Token, spec.Username+" (3)")

	resp := c1.Get(t, u.Path()+"/sessions")
	resp.Expect(t, http.StatusOK)
	for _, secret := range []string{first.Token, second.Token, third.Token} {
		assert.NotContains(t, string(resp.Body), secret, "the list shows a secret")
	}
	list := ListSessions(t, c1, u)
	require.Len(t, list, 3, "three tokens listed")
	current := 0
	for _, s := range list {
		assert.Equal(t, "token", s.Kind)
		assert.NotEmpty(t, s.ClientIP, "address")
		assert.False(t, s.CreatedAt.IsZero() || s.LastUsedAt.IsZero() || s.ExpiresAt.IsZero(), "times: %+v", s)
		assert.Contains(t, s.Name, "journey", "the token's name")
		if s.Current {
			current++
			assert.Equal(t, first.ID, s.ID, "the caller's own token is current")
		}
	}
	assert.Equal(t, 1, current, "exactly one current")

	// Another user can neither see nor end them.
	otherSpec := NewUserSpec("other", "user", Bool(false))
	CreateUser(t, admin, otherSpec)
	other := NewClient(tg.BaseURL).WithBearer(SignIn(t, tg.BaseURL, otherSpec.Credentials()).Token, otherSpec.Username)
	other.Get(t, u.Path()+"/sessions").ExpectProblem(t, http.StatusForbidden)
	other.Do(t, Request{Method: http.MethodDelete, Path: u.Path() + "/sessions"}).ExpectProblem(t, http.StatusForbidden)

	// End one, then every other.
	c1.Do(t, Request{Method: http.MethodDelete, Path: u.Path() + "/sessions/" + itoa(second.ID)}).Expect(t, http.StatusNoContent)
	c2.Get(t, "/api/v1/me").ExpectProblem(t, http.StatusUnauthorized)
	c3.Get(t, "/api/v1/me").Expect(t, http.StatusOK)
	var ended struct {
		Revoked int `json:"revoked"`
	}
	c1.Do(t, Request{Method: http.MethodDelete, Path: u.Path() + "/sessions"}).ExpectJSON(t, http.StatusOK, &ended)
	assert.Equal(t, 1, ended.Revoked)
	c3.Get(t, "/api/v1/me").ExpectProblem(t, http.StatusUnauthorized)
	c1.Get(t, "/api/v1/me").Expect(t, http.StatusOK)

	// An admin sees the one left, and ends it.
	left := ListSessions(t, admin, u)
	require.Len(t, left, 1)
	assert.False(t, left[0].Current, "the admin's request is not the user's")
	admin.Do(t, Request{Method: http.MethodDelete, Path: u.Path() + "/sessions/" + itoa(left[0].ID)}).Expect(t, http.StatusNoContent)
	c1.Get(t, "/api/v1/me").ExpectProblem(t, http.StatusUnauthorized)
}

// ScopedTokens checks that a read-only token reads and cannot write, and that
// a token without the admin scope keeps an admin to their own account.
func ScopedTokens(t *testing.T, tg *Target) {
	admin := tg.AdminClient(t)
	spec := NewUserSpec("scoped", "user", Bool(false))
	u := CreateUser(t, admin, spec)

	ro := SignInWith(t, tg.BaseURL, spec.Credentials(), map[string]any{"scopes": []string{"read"}})
	assert.Equal(t, []string{"read"}, ro.Scopes)
	read := NewClient(tg.BaseURL).WithBearer(ro.Token, spec.Username+" (read-only)")
	var got User
	read.Get(t, u.Path()).ExpectJSON(t, http.StatusOK, &got)
	resp := read.Do(t, Request{Method: http.MethodPatch, Path: u.Path(), JSON: map[string]string{"email": "x@example.com"},
		Header: map[string]string{"If-Match": ETag(got.Version)}})
	p := resp.ExpectProblem(t, http.StatusForbidden)
	assert.Contains(t, p.Detail, "read-only")
	assert.Contains(t, resp.Header.Get("WWW-Authenticate"), `error="insufficient_scope"`)
	read.Get(t, u.Path()).ExpectJSON(t, http.StatusOK, &got)
	assert.Equal(t, spec.Email, got.Email, "nothing changed")
	// Any token may end itself.
	read.Do(t, Request{Method: http.MethodDelete, Path: "/api/v1/auth/tokens"}).Expect(t, http.StatusNoContent)

	own := SignInWith(t, tg.BaseURL, tg.Admin, map[string]any{"scopes": []string{"read", "write"}})
	ownAdmin := NewClient(tg.BaseURL).WithBearer(own.Token, "admin (own account)")
	ownAdmin.Get(t, "/api/v1/me").Expect(t, http.StatusOK)
	ownAdmin.Get(t, u.Path()).ExpectProblem(t, http.StatusForbidden)
	ownAdmin.Get(t, "/api/v1/users").ExpectProblem(t, http.StatusForbidden)
	ownAdmin.Do(t, Request{Method: http.MethodDelete, Path: "/api/v1/auth/tokens"}).Expect(t, http.StatusNoContent)

	bad := NewClient(tg.BaseURL).Send(t, http.MethodPost, "/api/v1/auth/tokens",
		map[string]any{"login": spec.Username, "password": spec.Password, "scopes": []string{"root"}})
	assert.Equal(t, []string{"scopes"}, bad.ExpectProblem(t, http.StatusUnprocessableEntity).Fields())
}

// TokenExpiry checks that a token asked to live a minute (the shortest
// allowed) says so, works until then, and is refused after.
func TokenExpiry(t *testing.T, tg *Target) {
	admin := tg.AdminClient(t)
	spec := NewUserSpec("expiry", "user", Bool(false))
	CreateUser(t, admin, spec)
	bad := NewClient(tg.BaseURL).Send(t, http.MethodPost, "/api/v1/auth/tokens",
		map[string]any{"login": spec.Username, "password": spec.Password, "expires_in": 10})
	assert.Equal(t, []string{"expires_in"}, bad.ExpectProblem(t, http.StatusUnprocessableEntity).Fields())

	start := time.Now()
	tok := SignInWith(t, tg.BaseURL, spec.Credentials(), map[string]any{"expires_in": 60})
	assert.WithinDuration(t, start.Add(time.Minute), tok.ExpiresAt, 15*time.Second, "expires_at")
	c := NewClient(tg.BaseURL).WithBearer(tok.Token, spec.Username+" (one minute)")
	c.Get(t, "/api/v1/me").Expect(t, http.StatusOK)
	// Past expiry (and the service's two-second authentication cache).
	time.Sleep(time.Until(tok.ExpiresAt) + 3*time.Second)
	c.Get(t, "/api/v1/me").ExpectProblem(t, http.StatusUnauthorized)
}
