package web

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"

	"github.com/gopherops/gopherops/service/internal/accounts"
)

// testKey is the SESSION_KEY of the tests' Auth.
var testKey = bytes.Repeat([]byte{7}, 32)

// csrfFor is the CSRF token of binding ("s:" and a session secret, or "a:"
// and an anonymous browser's cookie) under key, computed here from the
// documented rule rather than by the code under test.
func csrfFor(key []byte, binding string) string {
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(binding))
	return base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
}

// readProblem decodes a problem answer.
func readProblem(t *testing.T, w *httptest.ResponseRecorder) Problem {
	t.Helper()
	var p Problem
	if w.Header().Get("Content-Type") != ProblemContentType {
		t.Fatalf("answer %d %q is not a problem: %s", w.Code, w.Header().Get("Content-Type"), w.Body)
	}
	if err := json.Unmarshal(w.Body.Bytes(), &p); err != nil {
		t.Fatal(err)
	}
	return p
}

// setCookies parses the response's Set-Cookie lines by name.
func setCookies(t *testing.T, w *httptest.ResponseRecorder) map[string]*http.Cookie {
	t.Helper()
	out := map[string]*http.Cookie{}
	for _, line := range w.Header().Values("Set-Cookie") {
		ck, err := http.ParseSetCookie(line)
		if err != nil {
			t.Fatalf("Set-Cookie %q: %v", line, err)
		}
		if _, dup := out[ck.Name]; dup {
			t.Fatalf("cookie %s set twice", ck.Name)
		}
		out[ck.Name] = ck
	}
	return out
}

// TestCookieNames: with secure cookies each name has the __Host- prefix, so
// a sibling subdomain or a plain-HTTP page cannot plant or overwrite it.
func TestCookieNames(t *testing.T) {
	for _, secure := range []bool{false, true} {
		a := NewAuth(nil, secure, testKey)
		prefix := ""
		if secure {
			prefix = "__Host-"
		}
		got := []string{a.SessionCookieName(), a.CSRFCookieName(), a.SSOCookieName()}
		want := []string{prefix + "gopherops_session", prefix + "gopherops_csrf", prefix + "gopherops_sso"}
		if strings.Join(got, " ") != strings.Join(want, " ") {
			t.Errorf("secure %v: names %q, want %q", secure, got, want)
		}
	}
}

// TestSetCookie: every cookie is HttpOnly, SameSite=Lax, for the whole
// site, Secure exactly when configured (as a __Host- cookie must be), with
// the lifetime asked; clearing the session expires it at once.
func TestSetCookie(t *testing.T) {
	for _, secure := range []bool{false, true} {
		a := NewAuth(nil, secure, testKey)
		tests := []struct {
			name     string
			set      func(c *gin.Context)
			cookie   string
			value    string
			maxAge   int // as parsed: -1 for Max-Age=0
			rawAgeOK string
		}{
			{"a session", func(c *gin.Context) { a.SetCookie(c, a.SessionCookieName(), "gos_abc", 3600) }, a.SessionCookieName(), "gos_abc", 3600, "Max-Age=3600"},
			{"a browser session cookie", func(c *gin.Context) { a.SetCookie(c, a.CSRFCookieName(), "v", 0) }, a.CSRFCookieName(), "v", 0, ""},
			{"sign-out", a.ClearSessionCookie, a.SessionCookieName(), "", -1, "Max-Age=0"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				c, w := testContext(t, httptest.NewRequest(http.MethodGet, "/", nil))
				tt.set(c)
				cks := setCookies(t, w)
				ck := cks[tt.cookie]
				if len(cks) != 1 || ck == nil {
					t.Fatalf("cookies %v, want only %s", w.Header().Values("Set-Cookie"), tt.cookie)
				}
				if ck.Value != tt.value || ck.Path != "/" || ck.Domain != "" || ck.MaxAge != tt.maxAge ||
					!ck.HttpOnly || ck.Secure != secure || ck.SameSite != http.SameSiteLaxMode {
					t.Fatalf("secure %v: cookie %q", secure, w.Header().Get("Set-Cookie"))
				}
				if raw := w.Header().Get("Set-Cookie"); (tt.rawAgeOK == "") == strings.Contains(raw, "Max-Age") ||
					(tt.rawAgeOK != "" && !strings.Contains(raw, tt.rawAgeOK)) {
					t.Fatalf("cookie %q, want %q", raw, tt.rawAgeOK)
				}
			})
		}
	}
}

// TestMethodScope: reads need the read scope, every other method changes
// something and needs write.
func TestMethodScope(t *testing.T) {
	for method, want := range map[string]accounts.Scopes{
		http.MethodGet: accounts.ScopeRead, http.MethodHead: accounts.ScopeRead,
		http.MethodPost: accounts.ScopeWrite, http.MethodPut: accounts.ScopeWrite, http.MethodPatch: accounts.ScopeWrite,
		http.MethodDelete: accounts.ScopeWrite, http.MethodOptions: accounts.ScopeWrite, "get": accounts.ScopeWrite,
		"PURGE": accounts.ScopeWrite,
	} {
		if got := methodScope(method); got != want {
			t.Errorf("methodScope(%s) = %s, want %s", method, got, want)
		}
	}
}

// Actors of the access tests.
var (
	plainUser   = accounts.User{ID: 2, Role: accounts.RoleUser}
	adminUser   = accounts.User{ID: 1, Role: accounts.RoleAdmin}
	pendingUser = accounts.User{ID: 3, Role: accounts.RoleUser, ForcePasswordChange: true}
	pendingRoot = accounts.User{ID: 1, Role: accounts.RoleAdmin, ForcePasswordChange: true}
)

// signedIn is an actor through a sign-in with scopes (0: a browser
// session's, all of them).
func signedIn(u accounts.User, scopes accounts.Scopes) *accounts.Actor {
	return &accounts.Actor{User: u, SessionID: 5, Scopes: scopes}
}

// accessCase is one request through a guard: who makes it, how, and what
// the guard answers (0: it lets the request through).
type accessCase struct {
	name   string
	actor  *accounts.Actor // nil: anonymous
	method string
	status int
	slug   string
	detail string
	scope  string // the scope a 403 insufficient-scope challenge names
}

// runAccess sends each case through guard and checks the answer.
func runAccess(t *testing.T, guard gin.HandlerFunc, tests []accessCase) {
	t.Helper()
	gin.SetMode(gin.TestMode)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reached := false
			r := gin.New()
			r.Handle(tt.method, "/r", func(c *gin.Context) {
				if tt.actor != nil {
					SetActor(c, *tt.actor)
				}
			}, guard, func(c *gin.Context) { reached = true; c.Status(http.StatusNoContent) })
			w := httptest.NewRecorder()
			r.ServeHTTP(w, httptest.NewRequest(tt.method, "/r", nil))
			if tt.status == 0 {
				if !reached || w.Code != http.StatusNoContent {
					t.Fatalf("refused with %d: %s", w.Code, w.Body)
				}
				return
			}
			if reached {
				t.Fatal("the handler ran after the refusal")
			}
			p := readProblem(t, w)
			if w.Code != tt.status || p.Type != ProblemType(tt.slug) || p.Detail != tt.detail {
				t.Fatalf("answer %d %s %q, want %d %s %q", w.Code, p.Type, p.Detail, tt.status, ProblemType(tt.slug), tt.detail)
			}
			challenge := w.Header().Get("WWW-Authenticate")
			switch {
			case tt.status == http.StatusUnauthorized && challenge != `Bearer realm="gopherops"`,
				tt.scope != "" && challenge != `Bearer realm="gopherops", error="insufficient_scope", scope="`+tt.scope+`"`,
				tt.status == http.StatusForbidden && tt.scope == "" && challenge != "":
				t.Fatalf("WWW-Authenticate %q", challenge)
			}
		})
	}
}

var (
	unauthenticated = "sign in or send a bearer token"
	read            = accounts.ScopeRead
	readWrite       = accounts.ScopeRead | accounts.ScopeWrite
	readAdmin       = accounts.ScopeRead | accounts.ScopeAdmin
)

// TestRequireUser: anonymous requests are 401; a user who must change
// their password is refused everything but the routes that let them; a
// read-only token reads and changes nothing.
func TestRequireUser(t *testing.T) {
	a := NewAuth(nil, false, testKey)
	t.Run("strict", func(t *testing.T) {
		runAccess(t, a.RequireUser(false), []accessCase{
			{name: "anonymous", method: "GET", status: 401, slug: "unauthenticated", detail: unauthenticated},
			{name: "anonymous change", method: "POST", status: 401, slug: "unauthenticated", detail: unauthenticated},
			{name: "a user reads", actor: signedIn(plainUser, 0), method: "GET"},
			{name: "a user changes", actor: signedIn(plainUser, accounts.ScopesAll), method: "PATCH"},
			{name: "an admin", actor: signedIn(adminUser, 0), method: "DELETE"},
			{name: "a password to change first", actor: signedIn(pendingUser, 0), method: "GET", status: 403, slug: "forbidden",
				detail: accounts.ErrPasswordChange.Error()},
			{name: "a read-only token reads", actor: signedIn(plainUser, read), method: "GET"},
			{name: "a read-only token asks for the headers", actor: signedIn(plainUser, read), method: "HEAD"},
			{name: "a read-only token posts", actor: signedIn(plainUser, read), method: "POST", status: 403, slug: "insufficient-scope",
				detail: accounts.ErrReadOnly.Error(), scope: "write"},
			{name: "a read-only token puts", actor: signedIn(plainUser, read), method: "PUT", status: 403, slug: "insufficient-scope",
				detail: accounts.ErrReadOnly.Error(), scope: "write"},
			{name: "a read-only token patches", actor: signedIn(plainUser, read), method: "PATCH", status: 403, slug: "insufficient-scope",
				detail: accounts.ErrReadOnly.Error(), scope: "write"},
			{name: "a read-only token deletes", actor: signedIn(plainUser, read), method: "DELETE", status: 403, slug: "insufficient-scope",
				detail: accounts.ErrReadOnly.Error(), scope: "write"},
			{name: "a read-write token changes", actor: signedIn(plainUser, readWrite), method: "DELETE"},
		})
	})
	t.Run("pending change allowed", func(t *testing.T) {
		runAccess(t, a.RequireUser(true), []accessCase{
			{name: "anonymous", method: "PUT", status: 401, slug: "unauthenticated", detail: unauthenticated},
			{name: "a password to change", actor: signedIn(pendingUser, 0), method: "PUT"},
			{name: "a password to change, read-only", actor: signedIn(pendingUser, read), method: "PUT", status: 403,
				slug: "insufficient-scope", detail: accounts.ErrReadOnly.Error(), scope: "write"},
			{name: "a user", actor: signedIn(plainUser, 0), method: "GET"},
		})
	})
}

// TestRequireSignedIn: only anonymous requests are refused; any sign-in,
// whatever its scopes or pending password change, may end itself.
func TestRequireSignedIn(t *testing.T) {
	a := NewAuth(nil, false, testKey)
	runAccess(t, a.RequireSignedIn(), []accessCase{
		{name: "anonymous", method: "DELETE", status: 401, slug: "unauthenticated", detail: unauthenticated},
		{name: "a read-only token", actor: signedIn(plainUser, read), method: "DELETE"},
		{name: "a password to change", actor: signedIn(pendingUser, 0), method: "DELETE"},
		{name: "an admin", actor: signedIn(adminUser, 0), method: "DELETE"},
	})
}

// TestRequireAdmin: only admins, through a sign-in with the admin scope,
// and the write scope for a change; a user is forbidden whatever the token
// says.
func TestRequireAdmin(t *testing.T) {
	a := NewAuth(nil, false, testKey)
	runAccess(t, a.RequireAdmin(), []accessCase{
		{name: "anonymous", method: "GET", status: 401, slug: "unauthenticated", detail: unauthenticated},
		{name: "a user", actor: signedIn(plainUser, 0), method: "GET", status: 403, slug: "forbidden", detail: accounts.ErrForbidden.Error()},
		{name: "a user with an all-scopes token", actor: signedIn(plainUser, accounts.ScopesAll), method: "GET", status: 403,
			slug: "forbidden", detail: accounts.ErrForbidden.Error()},
		{name: "an admin whose password must change", actor: signedIn(pendingRoot, 0), method: "GET", status: 403, slug: "forbidden",
			detail: accounts.ErrPasswordChange.Error()},
		{name: "an admin", actor: signedIn(adminUser, 0), method: "GET"},
		{name: "an admin changes", actor: signedIn(adminUser, accounts.ScopesAll), method: "POST"},
		{name: "an admin's token without admin", actor: signedIn(adminUser, readWrite), method: "GET", status: 403,
			slug: "insufficient-scope", detail: accounts.ErrScopeAdmin.Error(), scope: "admin"},
		{name: "an admin's read-only admin token reads", actor: signedIn(adminUser, readAdmin), method: "GET"},
		{name: "an admin's read-only admin token changes", actor: signedIn(adminUser, readAdmin), method: "DELETE", status: 403,
			slug: "insufficient-scope", detail: accounts.ErrReadOnly.Error(), scope: "write"},
		{name: "an admin's read-only token without admin changes", actor: signedIn(adminUser, read), method: "DELETE", status: 403,
			slug: "insufficient-scope", detail: accounts.ErrScopeAdmin.Error(), scope: "admin"},
	})
}

// csrfRequest is a POST with the given credentials and token.
type csrfRequest struct {
	authorization string
	session       string // the raw session secret Authenticate found; "" for none
	cookie        *string
	header, form  string
}

// newCSRFRequest is the HTTP request of r.
func newCSRFRequest(a *Auth, r csrfRequest) *http.Request {
	body := ""
	if r.form != "" {
		body = url.Values{"csrf_token": {r.form}, "name": {"x"}}.Encode()
	}
	req := httptest.NewRequest(http.MethodPost, "/users", strings.NewReader(body))
	if r.form != "" {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if r.authorization != "" {
		req.Header.Set("Authorization", r.authorization)
	}
	if r.header != "" {
		req.Header.Set("X-CSRF-Token", r.header)
	}
	if r.cookie != nil {
		req.AddCookie(&http.Cookie{Name: a.CSRFCookieName(), Value: *r.cookie})
	}
	return req
}

// newCSRFContext builds the context of r as Authenticate leaves it.
func newCSRFContext(t *testing.T, a *Auth, r csrfRequest) (*gin.Context, *httptest.ResponseRecorder) {
	t.Helper()
	c, w := testContext(t, newCSRFRequest(a, r))
	if r.session != "" {
		SetSession(c, r.session)
	}
	return c, w
}

func ptr(s string) *string { return &s }

// TestCheckCSRF: a cookie-authenticated change must echo the HMAC of its
// session secret (signed in) or of the browser's CSRF cookie (anonymous),
// in the X-CSRF-Token header or the csrf_token field; a bearer-token
// request carries no ambient credential and needs none.
func TestCheckCSRF(t *testing.T) {
	const session, other = "gos_session-of-alice", "gos_session-of-mallory"
	anon := "anonymous-browser-cookie-0123456789"
	sixteen := "0123456789abcdef"
	short := "0123456789abcde" // 15: replaced, so no token can match it
	for _, secure := range []bool{false, true} {
		a := NewAuth(nil, secure, testKey)
		tests := []struct {
			name string
			req  csrfRequest
			ok   bool
		}{
			{"a bearer token needs none", csrfRequest{authorization: "Bearer gpt_x"}, true},
			{"the scheme in any case", csrfRequest{authorization: "bearer gpt_x"}, true},
			{"a bearer token beside a session", csrfRequest{authorization: "Bearer gpt_x", session: session}, true},
			{"another scheme is no exemption", csrfRequest{authorization: "Basic cm9vdDp4", session: session}, false},
			{"a scheme without a token is no exemption", csrfRequest{authorization: "Bearer  ", session: session}, false},
			{"session, header", csrfRequest{session: session, header: csrfFor(testKey, "s:"+session)}, true},
			{"session, form field", csrfRequest{session: session, form: csrfFor(testKey, "s:"+session)}, true},
			{"session, the header wins over the field", csrfRequest{session: session, header: "forged", form: csrfFor(testKey, "s:"+session)}, false},
			{"session, none", csrfRequest{session: session}, false},
			{"session, forged", csrfRequest{session: session, header: "AAAA"}, false},
			{"session, another session's", csrfRequest{session: session, header: csrfFor(testKey, "s:"+other)}, false},
			{"session, under another key", csrfRequest{session: session, header: csrfFor(bytes.Repeat([]byte{8}, 32), "s:"+session)}, false},
			{"session, the anonymous binding of the same text", csrfRequest{session: session, cookie: ptr(session), header: csrfFor(testKey, "a:"+session)}, false},
			{"session, the browser cookie's token", csrfRequest{session: session, cookie: ptr(anon), header: csrfFor(testKey, "a:"+anon)}, false},
			{"session, a truncated token", csrfRequest{session: session, header: csrfFor(testKey, "s:"+session)[:42]}, false},
			{"anonymous, cookie and header", csrfRequest{cookie: ptr(anon), header: csrfFor(testKey, "a:"+anon)}, true},
			{"anonymous, cookie and field", csrfRequest{cookie: ptr(anon), form: csrfFor(testKey, "a:"+anon)}, true},
			{"anonymous, a 16-character cookie", csrfRequest{cookie: ptr(sixteen), header: csrfFor(testKey, "a:"+sixteen)}, true},
			{"anonymous, a 15-character cookie", csrfRequest{cookie: ptr(short), header: csrfFor(testKey, "a:"+short)}, false},
			{"anonymous, no cookie", csrfRequest{header: csrfFor(testKey, "a:")}, false},
			{"anonymous, an empty cookie", csrfRequest{cookie: ptr(""), header: csrfFor(testKey, "a:")}, false},
			{"anonymous, the session binding of the cookie", csrfRequest{cookie: ptr(anon), header: csrfFor(testKey, "s:"+anon)}, false},
			{"anonymous, no token", csrfRequest{cookie: ptr(anon)}, false},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				c, w := newCSRFContext(t, a, tt.req)
				err := a.CheckCSRF(c)
				if (err == nil) != tt.ok {
					t.Fatalf("secure %v: CheckCSRF = %v, want ok %v", secure, err, tt.ok)
				}
				if err != nil && !errors.Is(err, ErrCSRF) {
					t.Fatalf("error %v, want ErrCSRF", err)
				}
				// A refused browser without a usable cookie gets one, for
				// the next form; no other answer sets one.
				cks := setCookies(t, w)
				if tt.name == "anonymous, a 15-character cookie" {
					if ck := cks[a.CSRFCookieName()]; ck == nil || len(ck.Value) != 32 || ck.Value == short {
						t.Fatalf("the short cookie was not replaced: %v", w.Header().Values("Set-Cookie"))
					}
				} else if len(cks) != 0 {
					t.Fatalf("cookies set: %v", w.Header().Values("Set-Cookie"))
				}
			})
		}
	}
}

// TestCSRFToken: the token of a signed-in browser is bound to its session;
// an anonymous browser is given a random cookie (once, visible to a check
// later in the same request) and its token is bound to that.
func TestCSRFToken(t *testing.T) {
	for _, secure := range []bool{false, true} {
		a := NewAuth(nil, secure, testKey)
		t.Run("signed in", func(t *testing.T) {
			c, w := newCSRFContext(t, a, csrfRequest{session: "gos_s1"})
			if got := a.CSRFToken(c); got != csrfFor(testKey, "s:gos_s1") {
				t.Fatalf("token %q", got)
			}
			if len(setCookies(t, w)) != 0 {
				t.Fatal("a signed-in browser was given a CSRF cookie")
			}
		})
		t.Run("anonymous, first visit", func(t *testing.T) {
			c, w := newCSRFContext(t, a, csrfRequest{})
			tok := a.CSRFToken(c)
			ck := setCookies(t, w)[a.CSRFCookieName()]
			if ck == nil {
				t.Fatalf("no %s cookie: %v", a.CSRFCookieName(), w.Header().Values("Set-Cookie"))
			}
			raw, err := base64.RawURLEncoding.DecodeString(ck.Value)
			if err != nil || len(raw) != 24 || ck.MaxAge != 0 || !ck.HttpOnly || ck.Secure != secure || ck.SameSite != http.SameSiteLaxMode {
				t.Fatalf("cookie %q: want 24 random bytes, a browser-session, HttpOnly, Lax cookie", w.Header().Get("Set-Cookie"))
			}
			if tok != csrfFor(testKey, "a:"+ck.Value) {
				t.Fatal("the token is not bound to the cookie set")
			}
			// The same request asks again (a page with two forms), then
			// checks it: one cookie, one token.
			if again := a.CSRFToken(c); again != tok {
				t.Fatal("a second call in the same request made another token")
			}
			if n := len(w.Header().Values("Set-Cookie")); n != 1 {
				t.Fatalf("%d cookies set", n)
			}
			c.Request.Header.Set("X-CSRF-Token", tok)
			if err := a.CheckCSRF(c); err != nil {
				t.Fatalf("its own token refused: %v", err)
			}
		})
		t.Run("anonymous, returning", func(t *testing.T) {
			c, w := newCSRFContext(t, a, csrfRequest{cookie: ptr("returning-browser-cookie")})
			if got := a.CSRFToken(c); got != csrfFor(testKey, "a:returning-browser-cookie") {
				t.Fatal("the token is not bound to the browser's cookie")
			}
			if len(setCookies(t, w)) != 0 {
				t.Fatal("a browser with a cookie was given another")
			}
		})
		t.Run("two browsers", func(t *testing.T) {
			c1, w1 := newCSRFContext(t, a, csrfRequest{})
			c2, w2 := newCSRFContext(t, a, csrfRequest{})
			if a.CSRFToken(c1) == a.CSRFToken(c2) || w1.Header().Get("Set-Cookie") == w2.Header().Get("Set-Cookie") {
				t.Fatal("two browsers share a cookie or a token")
			}
		})
	}
}

// TestRequireCSRF: a JSON change without a good token is a 403 csrf
// problem and reaches no handler.
func TestRequireCSRF(t *testing.T) {
	a := NewAuth(nil, false, testKey)
	tests := []struct {
		name   string
		req    csrfRequest
		status int
	}{
		{"a good token", csrfRequest{session: "gos_s", header: csrfFor(testKey, "s:gos_s")}, http.StatusNoContent},
		{"a bearer token", csrfRequest{authorization: "Bearer gpt_x"}, http.StatusNoContent},
		{"no token", csrfRequest{session: "gos_s"}, http.StatusForbidden},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reached := false
			r := gin.New()
			r.POST("/users", func(c *gin.Context) {
				if tt.req.session != "" {
					SetSession(c, tt.req.session)
				}
			}, a.RequireCSRF(), func(c *gin.Context) { reached = true; c.Status(http.StatusNoContent) })
			w := httptest.NewRecorder()
			r.ServeHTTP(w, newCSRFRequest(a, tt.req))
			if w.Code != tt.status || reached != (tt.status == http.StatusNoContent) {
				t.Fatalf("status %d, handler ran %v", w.Code, reached)
			}
			if tt.status == http.StatusForbidden {
				if p := readProblem(t, w); p.Type != ProblemType("csrf") || p.Detail != ErrCSRF.Error() {
					t.Fatalf("problem %+v", p)
				}
			}
		})
	}
}
