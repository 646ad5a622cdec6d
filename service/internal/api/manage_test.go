package api_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gopherops/gopherops/service/internal/accounts"
	"github.com/gopherops/gopherops/service/internal/apptest"
	"github.com/gopherops/gopherops/service/internal/config"
)

// TestDisableAndEnable: disabling ends every sign-in of the account at once;
// the account cannot sign in, and says why only to the right password; root
// and oneself cannot be disabled; enabling lets the password work again.
func TestDisableAndEnable(t *testing.T) {
	e := apptest.New(t)
	admin := e.RootClient()
	alice, aliceAPI := e.CreateUser("alice", accounts.RoleUser)
	aliceBrowser := e.BrowserLogin("alice", apptest.UserPassword)
	path := fmt.Sprintf("/api/v1/users/%d", alice.ID)

	r := admin.Do("POST", path+"/disable", nil, nil)
	if r.Status != http.StatusOK || r.JSON()["disabled"] != true || r.JSON()["disabled_at"] == nil || r.Header.Get("ETag") == "" {
		t.Fatalf("disable: %d %s", r.Status, r.Body)
	}
	// Every sign-in ended at once: the token, and the browser session.
	apptest.ExpectProblem(t, aliceAPI.Do("GET", "/api/v1/me", nil, nil), http.StatusUnauthorized)
	if p := aliceBrowser.Page("/dashboard"); p.Status != http.StatusSeeOther || p.Header.Get("Location") != "/login" {
		t.Fatalf("the disabled user's browser still opens the dashboard: %d", p.Status)
	}
	// A wrong password answers as for any account; the right one says why.
	wrong := apptest.ExpectProblem(t, e.Anon().Do("POST", "/api/v1/auth/tokens",
		map[string]any{"login": "alice", "password": "not-her-password-at-all"}, nil), http.StatusUnauthorized)
	unknown := apptest.ExpectProblem(t, e.Anon().Do("POST", "/api/v1/auth/tokens",
		map[string]any{"login": "nobody-here", "password": "not-her-password-at-all"}, nil), http.StatusUnauthorized)
	if wrong["detail"] != unknown["detail"] || wrong["type"] != unknown["type"] {
		t.Fatalf("a wrong password tells a disabled account from an unknown one: %v vs %v", wrong, unknown)
	}
	right := apptest.ExpectProblem(t, e.Anon().Do("POST", "/api/v1/auth/tokens",
		map[string]any{"login": "alice", "password": apptest.UserPassword}, nil), http.StatusForbidden)
	if !strings.HasSuffix(right["type"].(string), "account-disabled") || !strings.Contains(right["detail"].(string), "disabled") {
		t.Fatalf("the right password is not told why: %v", right)
	}
	// Disabling again changes nothing; the list shows the state.
	if r := admin.Do("POST", path+"/disable", nil, nil); r.Status != http.StatusOK || r.JSON()["disabled"] != true {
		t.Fatalf("disable twice: %d %s", r.Status, r.Body)
	}
	list := admin.Do("GET", "/api/v1/users", nil, nil)
	if !strings.Contains(string(list.Body), `"username":"alice"`) || !strings.Contains(string(list.Body), `"disabled":true`) {
		t.Fatalf("list does not show alice disabled: %s", list.Body)
	}

	// Never root, never oneself, never by a user.
	apptest.ExpectProblem(t, admin.Do("POST", fmt.Sprintf("/api/v1/users/%d/disable", e.Root.ID), nil, nil), http.StatusForbidden)
	other, otherAdmin := e.CreateUser("bob", accounts.RoleAdmin)
	apptest.ExpectProblem(t, otherAdmin.Do("POST", fmt.Sprintf("/api/v1/users/%d/disable", other.ID), nil, nil), http.StatusForbidden)
	apptest.ExpectProblem(t, otherAdmin.Do("POST", fmt.Sprintf("/api/v1/users/%d/disable", e.Root.ID), nil, nil), http.StatusForbidden)
	_, carol := e.CreateUser("carol", accounts.RoleUser)
	apptest.ExpectProblem(t, carol.Do("POST", path+"/enable", nil, nil), http.StatusForbidden)
	apptest.ExpectProblem(t, admin.Do("POST", "/api/v1/users/999999/disable", nil, nil), http.StatusNotFound)

	r = admin.Do("POST", path+"/enable", nil, nil)
	if r.Status != http.StatusOK || r.JSON()["disabled"] != false || r.JSON()["disabled_at"] != nil {
		t.Fatalf("enable: %d %s", r.Status, r.Body)
	}
	if r := e.Login("alice", apptest.UserPassword).Do("GET", "/api/v1/me", nil, nil); r.Status != http.StatusOK {
		t.Fatalf("enabled alice: %d", r.Status)
	}

	// Audited: who did what to whom; the refused sign-in too.
	audit := string(admin.Do("GET", "/api/v1/audit?limit=100", nil, nil).Body)
	for _, action := range []string{`"action":"user.disabled"`, `"action":"user.enabled"`, `"action":"auth.login_disabled"`, `"sessions_ended":2`} {
		if !strings.Contains(audit, action) {
			t.Errorf("audit trail lacks %s", action)
		}
	}
}

// TestSessionsListedAndRevoked: a user sees their own sign-ins (never a
// secret), ends one or all others; an admin does the same for anyone; a
// user cannot see or end another's.
func TestSessionsListedAndRevoked(t *testing.T) {
	e := apptest.New(t)
	admin := e.RootClient()
	alice, first := e.CreateUser("alice", accounts.RoleUser)
	second := e.Login("alice", apptest.UserPassword)
	browser := e.BrowserLogin("alice", apptest.UserPassword)
	sessions := fmt.Sprintf("/api/v1/users/%d/sessions", alice.ID)

	r := first.Do("GET", sessions, nil, map[string]string{"User-Agent": "listing-agent"})
	if r.Status != http.StatusOK || r.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("list: %d %s", r.Status, r.Body)
	}
	list := r.JSON()["sessions"].([]any)
	if len(list) != 3 {
		t.Fatalf("alice has %d sign-ins listed, want 3: %s", len(list), r.Body)
	}
	current := 0
	kinds := map[string]int{}
	for _, it := range list {
		s := it.(map[string]any)
		kinds[s["kind"].(string)]++
		if s["current"] == true {
			current++
		}
		if s["client_ip"] == "" || s["created_at"] == nil || s["last_used_at"] == nil || s["expires_at"] == nil {
			t.Errorf("incomplete entry: %v", s)
		}
	}
	if current != 1 || kinds["token"] != 2 || kinds["session"] != 1 {
		t.Fatalf("current %d, kinds %v: %s", current, kinds, r.Body)
	}
	for _, secret := range []string{first.Token, second.Token, "secret", "hash"} {
		if strings.Contains(string(r.Body), secret) {
			t.Fatalf("the list shows %q: %s", secret, r.Body)
		}
	}

	// Another user can neither list nor end them; an admin can.
	_, bob := e.CreateUser("bob", accounts.RoleUser)
	apptest.ExpectProblem(t, bob.Do("GET", sessions, nil, nil), http.StatusForbidden)
	apptest.ExpectProblem(t, bob.Do("DELETE", sessions, nil, nil), http.StatusForbidden)
	if r := admin.Do("GET", sessions, nil, nil); r.Status != http.StatusOK || len(r.JSON()["sessions"].([]any)) != 3 {
		t.Fatalf("admin list: %d %s", r.Status, r.Body)
	}

	// End one: the second token; a session id of someone else is 404.
	secondID := sessionID(t, first, sessions, func(s map[string]any) bool { return s["kind"] == "token" && s["current"] != true })
	apptest.ExpectProblem(t, first.Do("DELETE", fmt.Sprintf("/api/v1/users/%d/sessions/%d", e.Root.ID, secondID), nil, nil), http.StatusForbidden)
	apptest.ExpectProblem(t, admin.Do("DELETE", fmt.Sprintf("/api/v1/users/%d/sessions/%d", e.Root.ID, secondID), nil, nil), http.StatusNotFound)
	apptest.ExpectProblem(t, first.Do("DELETE", sessions+"/0", nil, nil), http.StatusBadRequest)
	if r := first.Do("DELETE", fmt.Sprintf("%s/%d", sessions, secondID), nil, nil); r.Status != http.StatusNoContent {
		t.Fatalf("revoke one: %d %s", r.Status, r.Body)
	}
	apptest.ExpectProblem(t, second.Do("GET", "/api/v1/me", nil, nil), http.StatusUnauthorized)
	apptest.ExpectProblem(t, first.Do("DELETE", fmt.Sprintf("%s/%d", sessions, secondID), nil, nil), http.StatusNotFound)

	// End all others: the browser goes, the caller stays.
	r = first.Do("DELETE", sessions, nil, nil)
	if r.Status != http.StatusOK || r.JSON()["revoked"] != float64(1) {
		t.Fatalf("revoke others: %d %s", r.Status, r.Body)
	}
	if p := browser.Page("/dashboard"); p.Status != http.StatusSeeOther {
		t.Fatalf("the browser session survived: %d", p.Status)
	}
	if r := first.Do("GET", "/api/v1/me", nil, nil); r.Status != http.StatusOK {
		t.Fatalf("the caller's own token was revoked: %d", r.Status)
	}
	// An admin ending all of alice's ends the caller's too (it is not hers).
	if r := admin.Do("DELETE", sessions, nil, nil); r.Status != http.StatusOK || r.JSON()["revoked"] != float64(1) {
		t.Fatalf("admin revoke all: %d %s", r.Status, r.Body)
	}
	apptest.ExpectProblem(t, first.Do("GET", "/api/v1/me", nil, nil), http.StatusUnauthorized)
	if r := admin.Do("GET", "/api/v1/me", nil, nil); r.Status != http.StatusOK {
		t.Fatalf("the admin lost their own token: %d", r.Status)
	}
	audit := string(admin.Do("GET", "/api/v1/audit?limit=100", nil, nil).Body)
	for _, action := range []string{`"action":"session.revoked"`, `"action":"session.revoked_all"`} {
		if !strings.Contains(audit, action) {
			t.Errorf("audit trail lacks %s", action)
		}
	}
}

// sessionID finds the id of the first listed session that match accepts.
func sessionID(t *testing.T, c *apptest.Client, path string, match func(map[string]any) bool) int64 {
	t.Helper()
	for _, it := range c.Do("GET", path, nil, nil).JSON()["sessions"].([]any) {
		if s := it.(map[string]any); match(s) {
			return int64(s["id"].(float64))
		}
	}
	t.Fatal("no such session listed")
	return 0
}

// TestScopedExpiringTokens: a token holds the scopes it was made with and
// lives as long as asked, within the configured maximum.
func TestScopedExpiringTokens(t *testing.T) {
	e := apptest.New(t, apptest.Options{Config: func(c *config.Config) { c.TokenTTL, c.TokenMaxTTL = time.Hour, 2*time.Hour }})
	anon := e.Anon()
	token := func(body map[string]any) apptest.Response {
		body["login"], body["password"] = "root", apptest.RootPassword
		return anon.Do("POST", "/api/v1/auth/tokens", body, nil)
	}
	r := token(map[string]any{"name": "default"})
	if r.Status != http.StatusCreated || fmt.Sprint(r.JSON()["scopes"]) != "[read write admin]" {
		t.Fatalf("default token: %d %s", r.Status, r.Body)
	}
	if exp, _ := time.Parse(time.RFC3339Nano, r.JSON()["expires_at"].(string)); time.Until(exp) > time.Hour || time.Until(exp) < 59*time.Minute {
		t.Fatalf("default lifetime: expires %s", exp)
	}
	r = token(map[string]any{"name": "short", "scopes": []string{"read"}, "expires_in": 120})
	if r.Status != http.StatusCreated || fmt.Sprint(r.JSON()["scopes"]) != "[read]" || r.JSON()["name"] != "short" {
		t.Fatalf("scoped token: %d %s", r.Status, r.Body)
	}
	if exp, _ := time.Parse(time.RFC3339Nano, r.JSON()["expires_at"].(string)); time.Until(exp) > 2*time.Minute || time.Until(exp) < 110*time.Second {
		t.Fatalf("asked lifetime: expires %s", exp)
	}
	for name, body := range map[string]map[string]any{
		"longer than the maximum": {"expires_in": 3 * 3600},
		"under a minute":          {"expires_in": 30},
		"negative":                {"expires_in": -1},
		"huge":                    {"expires_in": int64(1) << 62},
		"unknown scope":           {"scopes": []string{"read", "root"}},
		"without read":            {"scopes": []string{"write"}},
	} {
		t.Run(name, func(t *testing.T) {
			p := apptest.ExpectProblem(t, token(body), http.StatusUnprocessableEntity)
			if errs, _ := p["errors"].([]any); len(errs) != 1 {
				t.Fatalf("problem names no field: %v", p)
			}
		})
	}
	// A wrong password with bad token fields still costs nothing: 422 first.
	apptest.ExpectProblem(t, anon.Do("POST", "/api/v1/auth/tokens", map[string]any{"login": "root", "password": "x", "expires_in": 1}, nil), http.StatusUnprocessableEntity)
}

// TestTokenExpiry: an expired token is refused.
func TestTokenExpiry(t *testing.T) {
	e := apptest.New(t, apptest.Options{NoAuthCache: true})
	r := e.Anon().Do("POST", "/api/v1/auth/tokens", map[string]any{"login": "root", "password": apptest.RootPassword, "expires_in": 60}, nil)
	if r.Status != http.StatusCreated {
		t.Fatalf("token: %d %s", r.Status, r.Body)
	}
	c := e.Anon()
	c.Token = r.JSON()["token"].(string)
	if r := c.Do("GET", "/api/v1/me", nil, nil); r.Status != http.StatusOK {
		t.Fatalf("fresh token: %d", r.Status)
	}
	// Age it in the database: the next request must be refused.
	if _, err := e.Pool.Exec(t.Context(), `UPDATE sessions SET created_at = now() - interval '2 hours', expires_at = now() - interval '1 second' WHERE kind = 'token' AND expires_at < now() + interval '2 minutes'`); err != nil {
		t.Fatal(err)
	}
	apptest.ExpectProblem(t, c.Do("GET", "/api/v1/me", nil, nil), http.StatusUnauthorized)
}
