package journey

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gruntwork-io/terratest/modules/random"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Health checks the probes, the OpenAPI document and the security headers
// every page carries.
func Health(t *testing.T, tg *Target) {
	c := NewClient(tg.BaseURL)

	var health, ready map[string]any
	c.Get(t, "/healthz").ExpectJSON(t, http.StatusOK, &health)
	assert.Equal(t, "ok", health["status"])
	c.Get(t, "/readyz").ExpectJSON(t, http.StatusOK, &ready)
	assert.Equal(t, "ready", ready["status"])
	c.Get(t, "/ready").ExpectRedirect(t, http.StatusPermanentRedirect, "/readyz")

	var doc struct {
		OpenAPI string         `json:"openapi"`
		Paths   map[string]any `json:"paths"`
	}
	c.Get(t, "/api/v1/openapi.json").ExpectJSON(t, http.StatusOK, &doc)
	assert.True(t, strings.HasPrefix(doc.OpenAPI, "3."), "openapi version %q", doc.OpenAPI)
	for _, p := range []string{"/auth/tokens", "/me", "/users", "/users/{id}", "/status"} {
		_, inRoot := doc.Paths[p]
		_, inAPI := doc.Paths["/api/v1"+p]
		assert.True(t, inRoot || inAPI, "the OpenAPI document must describe %s", p)
	}

	home := c.GetHTML(t, "/")
	home.ExpectHTML(t, http.StatusOK)
	assert.Equal(t, "nosniff", home.Header.Get("X-Content-Type-Options"), "X-Content-Type-Options")
	csp := home.Header.Get("Content-Security-Policy")
	assert.Contains(t, csp, "default-src", "a Content-Security-Policy on pages")
	assert.NotContains(t, csp, "unsafe-inline", "the CSP must not allow inline scripts")
}

// AnonymousRefused checks that nothing but the public pages answers without
// credentials, and that bad credentials are refused rather than ignored.
func AnonymousRefused(t *testing.T, tg *Target) {
	c := NewClient(tg.BaseURL)
	root := "/api/v1/users/1"
	for _, tc := range []struct{ method, path string }{
		{http.MethodGet, "/api/v1/me"},
		{http.MethodGet, "/api/v1/users"},
		{http.MethodPost, "/api/v1/users"},
		{http.MethodGet, root},
		{http.MethodPatch, root},
		{http.MethodDelete, root},
		{http.MethodPost, root + "/password-reset"},
		{http.MethodPut, root + "/avatar"},
		{http.MethodGet, root + "/avatar"},
		{http.MethodGet, "/api/v1/status"},
		{http.MethodGet, "/api/v1/audit"},
		{http.MethodDelete, "/api/v1/auth/tokens"},
	} {
		t.Run(tc.method+" "+tc.path, func(t *testing.T) {
			resp := c.Do(t, Request{Method: tc.method, Path: tc.path, JSON: map[string]any{}})
			resp.ExpectProblem(t, http.StatusUnauthorized)
			assert.Contains(t, resp.Header.Get("WWW-Authenticate"), "Bearer", "a 401 must say how to authenticate")
		})
	}

	for _, tc := range []struct{ name, header string }{
		{"unknown bearer token", "Bearer gpt_" + strings.Repeat("0", 40)},
		{"session secret used as a token", "Bearer gos_" + strings.Repeat("0", 40)},
		{"not a bearer scheme", "Basic YWRtaW46YWRtaW4="},
		{"empty bearer", "Bearer "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c.Do(t, Request{Method: http.MethodGet, Path: "/api/v1/me", Header: map[string]string{"Authorization": tc.header}}).
				ExpectProblem(t, http.StatusUnauthorized)
		})
	}

	t.Run("signed-in pages send a browser to the sign-in page", func(t *testing.T) {
		for _, p := range []string{"/dashboard", "/users", "/users/1"} {
			c.GetHTML(t, p).ExpectRedirect(t, http.StatusSeeOther, "/login")
		}
	})

	t.Run("anonymous pages carry no host details", func(t *testing.T) {
		body := c.GetHTML(t, "/").ExpectHTML(t, http.StatusOK)
		// The dashboard data is what the old app leaked; it needs a sign-in now.
		c.Get(t, "/api/v1/status").ExpectProblem(t, http.StatusUnauthorized)
		for _, detail := range []string{"heap_alloc", "gomaxprocs", "hostname"} {
			assert.NotContains(t, body, detail, "the landing page must not show host or runtime details")
		}
	})
}

// TokenAPI signs in through the token API, uses and revokes tokens, and
// checks that wrong credentials get a problem, not a token.
func TokenAPI(t *testing.T, tg *Target) {
	admin := tg.AdminClient(t)
	me := tg.AdminUser(t)

	var got User
	admin.Get(t, "/api/v1/me").ExpectJSON(t, http.StatusOK, &got)
	assert.Equal(t, me.ID, got.ID)
	assert.Equal(t, "admin", got.Role)
	assert.True(t, got.IsRoot, "the first admin is root")

	// A second token for the same account, then revoked by itself.
	tok := SignIn(t, tg.BaseURL, tg.Admin)
	assert.Equal(t, "Bearer", tok.TokenType)
	assert.True(t, strings.HasPrefix(tok.Token, "gpt_"), "token prefix")
	assert.WithinDuration(t, time.Now().Add(24*time.Hour), tok.ExpiresAt, 90*24*time.Hour, "a token expires, within 90 days")
	assert.True(t, tok.ExpiresAt.After(time.Now()), "the token expires in the future")
	assert.Equal(t, me.ID, tok.User.ID)
	second := NewClient(tg.BaseURL).WithBearer(tok.Token, "admin (second token)")
	second.Get(t, "/api/v1/me").Expect(t, http.StatusOK)
	second.Do(t, Request{Method: http.MethodDelete, Path: "/api/v1/auth/tokens"}).Expect(t, http.StatusNoContent)
	second.Get(t, "/api/v1/me").ExpectProblem(t, http.StatusUnauthorized)
	// Revoking one token leaves the others alone.
	admin.Get(t, "/api/v1/me").Expect(t, http.StatusOK)

	t.Run("unknown account", func(t *testing.T) {
		_, resp := signIn(t, tg.BaseURL, Credentials{Login: "nobody-" + random.UniqueID(), Password: NewPassword()}, nil)
		p := resp.ExpectProblem(t, http.StatusUnauthorized)
		assert.NotContains(t, strings.ToLower(p.Detail), "not found", "must not reveal whether the account exists")
	})
	t.Run("missing fields", func(t *testing.T) {
		resp := NewClient(tg.BaseURL).Send(t, http.MethodPost, "/api/v1/auth/tokens", map[string]string{})
		p := resp.ExpectProblem(t, http.StatusUnprocessableEntity)
		assert.ElementsMatch(t, []string{"login", "password"}, p.Fields())
	})
}

// BrowserSession signs the admin in through the HTML form (with its CSRF
// token), manages a user through the pages, and signs out; forms without a
// token and cross-site posts are refused.
func BrowserSession(t *testing.T, tg *Target) {
	b := NewClient(tg.BaseURL)
	admin := tg.AdminClient(t)
	me := tg.AdminUser(t)

	login := b.GetHTML(t, "/login")
	login.ExpectHTML(t, http.StatusOK)
	skipIfCookiesCannotReturn(t, tg, login)
	loginCSRF := CSRFToken(t, login.Body, "/login")

	t.Run("a form without its token is refused", func(t *testing.T) {
		b.PostForm(t, "/login", url.Values{"login": {tg.Admin.Login}, "password": {tg.Admin.Password}}).
			ExpectHTML(t, http.StatusForbidden)
	})
	t.Run("a cross-site post is refused", func(t *testing.T) {
		b.Do(t, Request{Method: http.MethodPost, Path: "/login",
			Form:   url.Values{"login": {tg.Admin.Login}, "password": {tg.Admin.Password}, "csrf_token": {loginCSRF}},
			Header: map[string]string{"Sec-Fetch-Site": "cross-site", "Origin": "https://evil.example"}}).
			Expect(t, http.StatusForbidden)
	})

	resp := b.PostForm(t, "/login", url.Values{"login": {tg.Admin.Login}, "password": {tg.Admin.Password}, "csrf_token": {loginCSRF}})
	resp.ExpectRedirect(t, http.StatusSeeOther, "/dashboard")
	session := sessionCookie(t, resp)
	assert.True(t, session.HttpOnly, "the session cookie must be HttpOnly")
	assert.Equal(t, http.SameSiteLaxMode, session.SameSite, "the session cookie must be SameSite=Lax")

	dash := b.GetHTML(t, "/dashboard")
	dashHTML := dash.ExpectHTML(t, http.StatusOK)
	assert.Contains(t, dashHTML, me.Username, "the dashboard names who is signed in")
	b.GetHTML(t, "/login").ExpectRedirect(t, http.StatusSeeOther, "/dashboard")

	t.Run("the session also works for reads of the JSON API", func(t *testing.T) {
		var u User
		b.Get(t, "/api/v1/me").ExpectJSON(t, http.StatusOK, &u)
		assert.Equal(t, me.ID, u.ID)
	})

	// Create a user through the users page.
	users := b.GetHTML(t, "/users")
	assert.Contains(t, users.ExpectHTML(t, http.StatusOK), me.Username, "the users page lists the admin")
	create := FindForm(t, users.Body, "/users")
	spec := NewUserSpec("web", "user", nil)
	create.Values.Set("username", spec.Username)
	create.Values.Set("email", spec.Email)
	create.Values.Set("password", spec.Password)
	create.Values.Set("password_confirm", spec.Password)
	create.Values.Set("role", "user")

	t.Run("the create form without its token is refused", func(t *testing.T) {
		noToken := url.Values{}
		for k, v := range create.Values {
			if k != "csrf_token" {
				noToken[k] = v
			}
		}
		b.PostForm(t, "/users", noToken).ExpectHTML(t, http.StatusForbidden)
	})
	t.Run("a cookie-authenticated API write without X-CSRF-Token is refused", func(t *testing.T) {
		p := b.Send(t, http.MethodPost, "/api/v1/users", spec).ExpectProblem(t, http.StatusForbidden)
		assert.Contains(t, p.Type, "csrf")
	})

	done := b.PostForm(t, "/users", create.Values)
	done.Expect(t, http.StatusSeeOther)
	created := findUser(t, admin, spec.Username)
	deleteAtCleanup(t, admin, created)
	// The list opens on the page that holds the new user, their row marked.
	loc, err := url.Parse(done.Header.Get("Location"))
	require.NoError(t, err)
	assert.Equal(t, "/users", loc.Path, "after create:\n%s", done)
	assert.Equal(t, itoa(created.ID), loc.Query().Get("highlight"), "after create:\n%s", done)
	assert.Equal(t, "user-"+itoa(created.ID), loc.Fragment, "after create:\n%s", done)
	assert.Equal(t, "user", created.Role)
	assert.True(t, created.ForcePasswordChange, "a user created by an admin must change the admin-chosen password")

	// Delete it through the confirmation its row's menu links to.
	confirm := b.GetHTML(t, "/users/"+itoa(created.ID)+"/delete?back=%2Fusers")
	confirm.ExpectHTML(t, http.StatusOK)
	del := FindForm(t, confirm.Body, "/users/"+itoa(created.ID)+"/delete")
	b.PostForm(t, del.Action, del.Values).ExpectRedirect(t, http.StatusSeeOther, "/users")
	admin.Get(t, created.Path()).ExpectProblem(t, http.StatusNotFound)

	// Sign out; the old session cookie no longer works anywhere.
	logout := CSRFToken(t, dash.Body, "/logout")
	b.PostForm(t, "/logout", url.Values{"csrf_token": {logout}}).ExpectRedirect(t, http.StatusSeeOther, "/login?msg=signed-out")
	b.GetHTML(t, "/dashboard").ExpectRedirect(t, http.StatusSeeOther, "/login")
	replay := NewClient(tg.BaseURL)
	replay.Do(t, Request{Method: http.MethodGet, Path: "/dashboard",
		Header: map[string]string{"Accept": "text/html", "Cookie": session.Name + "=" + session.Value}}).
		ExpectRedirect(t, http.StatusSeeOther, "/login")
}

// skipIfCookiesCannotReturn skips the browser journey when the deployment
// sets Secure cookies but is reached over plain HTTP: no browser sends such
// cookies back, so signing in through the pages cannot work there at all.
func skipIfCookiesCannotReturn(t *testing.T, tg *Target, resp *Response) {
	t.Helper()
	u, err := url.Parse(tg.BaseURL)
	require.NoError(t, err)
	if u.Scheme == "https" {
		return
	}
	for _, ck := range (&http.Response{Header: resp.Header}).Cookies() {
		if ck.Secure {
			t.Skipf("%s is plain HTTP but the service sets Secure cookies (%s; APP_ENV=production), which browsers only return over HTTPS: "+
				"sign-in through the pages cannot work at this address. Serve it over HTTPS (on a live stack: set gopherops:domainName and gopherops:certificateArn) to run this journey",
				tg.BaseURL, ck.Name)
		}
	}
}

// sessionCookie returns the session cookie a sign-in set.
func sessionCookie(t testing.TB, resp *Response) *http.Cookie {
	t.Helper()
	for _, ck := range (&http.Response{Header: resp.Header}).Cookies() {
		if strings.HasSuffix(ck.Name, "gopherops_session") && ck.Value != "" {
			return ck
		}
	}
	require.FailNow(t, "no session cookie", "signing in set no gopherops_session cookie:\n%s", resp)
	return nil
}

// findUser pages through the user list for a username.
func findUser(t testing.TB, admin *Client, username string) User {
	t.Helper()
	for _, u := range ListUsers(t, admin, 100) {
		if u.Username == username {
			return u
		}
	}
	require.FailNow(t, "user not found", "no user %q in the list", username)
	return User{}
}

// ListUsers follows the cursor through every page of the user list, checking
// each page's size and order.
func ListUsers(t testing.TB, admin *Client, limit int) []User {
	t.Helper()
	var all []User
	cursor := ""
	for page := 0; ; page++ {
		require.Less(t, page, 10000, "the cursor never ends")
		path := "/api/v1/users?limit=" + strconv.Itoa(limit)
		if cursor != "" {
			path += "&cursor=" + url.QueryEscape(cursor)
		}
		var body struct {
			Users      []User          `json:"users"`
			NextCursor json.RawMessage `json:"next_cursor"`
		}
		admin.Get(t, path).ExpectJSON(t, http.StatusOK, &body)
		require.LessOrEqual(t, len(body.Users), limit, "a page holds at most limit users")
		for _, u := range body.Users {
			if n := len(all); n > 0 {
				require.Greater(t, u.ID, all[n-1].ID, "users are listed in ID order, each once")
			}
			all = append(all, u)
		}
		if string(body.NextCursor) == "null" {
			return all
		}
		require.NoError(t, json.Unmarshal(body.NextCursor, &cursor), "next_cursor is null or a string")
		require.NotEmpty(t, cursor, "next_cursor is null or a non-empty string")
		require.NotEmpty(t, body.Users, "a page with a next cursor is not empty")
	}
}
