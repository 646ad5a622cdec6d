package api_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/gopherops/gopherops/service/internal/accounts"
	"github.com/gopherops/gopherops/service/internal/apptest"
)

// TestRoleMatrix sends every API route as each kind of caller and checks
// who is let through: anonymous, a plain user and an admin with full tokens,
// then tokens with fewer scopes (an admin's read-only one, an admin's limited
// to their own account, a user's read-only one). "ok" means any 2xx/4xx that
// is not an authorisation refusal (the request itself may be invalid).
func TestRoleMatrix(t *testing.T) {
	e := apptest.New(t)
	victim, _ := e.CreateUser("victim", accounts.RoleUser)
	self, user := e.CreateUser("plain", accounts.RoleUser)
	admin := e.RootClient()
	anon := e.Anon()
	adminRead := e.Login("root", apptest.RootPassword, "read", "admin")
	adminOwn := e.Login("root", apptest.RootPassword, "read", "write")
	userRead := e.Login("plain", apptest.UserPassword, "read")

	// Who: anonymous, user, admin, admin read-only, admin own account, user read-only.
	type want struct{ anon, user, admin, adminRead, adminOwn, userRead int }
	const ok = 0 // allowed: not 401/403
	other := fmt.Sprintf("/api/v1/users/%d", victim.ID)
	own := fmt.Sprintf("/api/v1/users/%d", self.ID)
	routes := []struct {
		method, path string
		body         any
		want         want
	}{
		{"GET", "/api/v1/openapi.json", nil, want{ok, ok, ok, ok, ok, ok}},
		{"GET", "/api/v1/me", nil, want{401, ok, ok, ok, ok, ok}},
		{"GET", "/api/v1/status", nil, want{401, ok, ok, ok, ok, ok}},
		{"GET", "/api/v1/audit", nil, want{401, 403, ok, ok, 403, 403}},
		{"GET", "/api/v1/users", nil, want{401, 403, ok, ok, 403, 403}},
		{"POST", "/api/v1/users", map[string]any{"username": "x"}, want{401, 403, ok, 403, 403, 403}},
		{"GET", other, nil, want{401, 403, ok, ok, 403, 403}},
		{"GET", own, nil, want{401, ok, ok, ok, 403, ok}},
		{"PATCH", other, map[string]any{"email": "v@example.com"}, want{401, 403, ok, 403, 403, 403}},
		{"DELETE", other + "0", nil, want{401, 403, ok, 403, 403, 403}},
		{"PUT", other + "/password", map[string]any{"current_password": "a", "new_password": "b"}, want{401, 403, 403, 403, 403, 403}},
		{"POST", other + "/password-reset", map[string]any{"password": "x"}, want{401, 403, ok, 403, 403, 403}},
		{"PUT", other + "/avatar", []byte("x"), want{401, 403, ok, 403, 403, 403}},
		{"GET", other + "/avatar", nil, want{401, 403, ok, ok, 403, 403}},
		{"POST", "/api/v1/users/999999/disable", nil, want{401, 403, ok, 403, 403, 403}},
		{"POST", "/api/v1/users/999999/enable", nil, want{401, 403, ok, 403, 403, 403}},
		{"GET", other + "/sessions", nil, want{401, 403, ok, ok, 403, 403}},
		{"GET", own + "/sessions", nil, want{401, ok, ok, ok, 403, ok}},
		{"DELETE", other + "/sessions/999999", nil, want{401, 403, ok, 403, 403, 403}},
		{"DELETE", own + "/sessions/999999", nil, want{401, ok, ok, 403, 403, 403}},
		{"DELETE", "/api/v1/users/999999/sessions", nil, want{401, 403, ok, 403, 403, 403}},
		{"DELETE", "/api/v1/auth/tokens/999999", nil, want{401, ok, ok, 403, ok, 403}},
	}
	for _, rt := range routes {
		for _, who := range []struct {
			name string
			c    *apptest.Client
			want int
			full int // what the same account's full token gets; -1 for a full token
		}{{"anonymous", anon, rt.want.anon, -1}, {"user", user, rt.want.user, -1}, {"admin", admin, rt.want.admin, -1},
			{"admin read-only", adminRead, rt.want.adminRead, rt.want.admin},
			{"admin own account", adminOwn, rt.want.adminOwn, rt.want.admin},
			{"user read-only", userRead, rt.want.userRead, rt.want.user}} {
			t.Run(who.name+" "+rt.method+" "+strings.ReplaceAll(rt.path, "/", "_"), func(t *testing.T) {
				hdr := map[string]string{}
				if rt.method == "PATCH" {
					hdr["If-Match"] = `"1"`
				}
				r := who.c.Do(rt.method, rt.path, rt.body, hdr)
				switch {
				case who.want == ok && (r.Status == 401 || r.Status == 403 || r.Status >= 500):
					t.Fatalf("refused or failed: %d %s", r.Status, r.Body)
				case who.want != ok && r.Status != who.want:
					t.Fatalf("status %d, want %d: %s", r.Status, who.want, r.Body)
				case who.full == ok && r.Status == 403 && !strings.Contains(r.Header.Get("WWW-Authenticate"), `error="insufficient_scope"`):
					t.Fatalf("a refusal for the token's scopes does not say so: %v %s", r.Header, r.Body)
				}
			})
		}
	}
	// Only the admin's PATCH went through; every other write was refused or invalid.
	got, err := e.Svc.GetUser(t.Context(), accounts.Actor{User: e.Root}, victim.ID)
	if err != nil || got.Version != victim.Version+1 || got.Email != "v@example.com" {
		t.Fatalf("victim changed by the matrix: %+v %v", got, err)
	}
	// Any token, whatever its scopes, may end itself.
	if r := userRead.Do("DELETE", "/api/v1/auth/tokens", nil, nil); r.Status != http.StatusNoContent {
		t.Fatalf("a read-only token could not sign out: %d %s", r.Status, r.Body)
	}
	apptest.ExpectProblem(t, userRead.Do("GET", "/api/v1/me", nil, nil), http.StatusUnauthorized)
}

// TestPagesByRole checks the HTML pages: anonymous visitors are sent to the
// sign-in page, users cannot open the admin table.
func TestPagesByRole(t *testing.T) {
	e := apptest.New(t)
	u, _ := e.CreateUser("plain", accounts.RoleUser)
	anon := e.Anon()
	for _, p := range []string{"/dashboard", "/users", fmt.Sprintf("/users/%d", u.ID)} {
		r := anon.Page(p)
		if r.Status != http.StatusSeeOther || r.Header.Get("Location") != "/login" {
			t.Errorf("anonymous %s: %d to %q, want 303 to /login", p, r.Status, r.Header.Get("Location"))
		}
	}
	for _, p := range []string{"/", "/about", "/login"} {
		if r := anon.Page(p); r.Status != 200 {
			t.Errorf("anonymous %s: %d", p, r.Status)
		}
	}
	user := e.BrowserLogin("plain", apptest.UserPassword)
	if r := user.Page("/users"); r.Status != http.StatusForbidden {
		t.Errorf("user opened the admin table: %d", r.Status)
	}
	if r := user.Page(fmt.Sprintf("/users/%d", e.Root.ID)); r.Status != http.StatusForbidden {
		t.Errorf("user opened root's profile: %d", r.Status)
	}
	if r := user.Page("/dashboard"); r.Status != 200 || !strings.Contains(string(r.Body), "Database") || !strings.Contains(string(r.Body), " MiB") {
		t.Errorf("user dashboard: %d", r.Status)
	}
	if r := user.Form(fmt.Sprintf("/users/%d/delete", e.Root.ID), nil); r.Status != http.StatusForbidden {
		t.Errorf("user delete form: %d", r.Status)
	}
}
