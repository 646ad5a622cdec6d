package httpapi_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/gopherops/gopherops/service/internal/accounts"
)

// TestRoleMatrix sends every API route as an anonymous caller, a plain user
// and an admin, and checks who is let through. "ok" means any 2xx/4xx that is
// not an authorisation refusal (the request itself may be invalid).
func TestRoleMatrix(t *testing.T) {
	e := newEnv(t)
	victim, _ := e.createUser("victim", accounts.RoleUser)
	self, user := e.createUser("plain", accounts.RoleUser)
	admin := e.rootClient()
	anon := e.anon()

	type want struct{ anon, user, admin int }
	const ok = 0 // allowed: not 401/403
	other := fmt.Sprintf("/api/v1/users/%d", victim.ID)
	own := fmt.Sprintf("/api/v1/users/%d", self.ID)
	routes := []struct {
		method, path string
		body         any
		want         want
	}{
		{"GET", "/api/v1/openapi.json", nil, want{ok, ok, ok}},
		{"GET", "/api/v1/me", nil, want{401, ok, ok}},
		{"GET", "/api/v1/status", nil, want{401, ok, ok}},
		{"GET", "/api/v1/audit", nil, want{401, 403, ok}},
		{"GET", "/api/v1/users", nil, want{401, 403, ok}},
		{"POST", "/api/v1/users", map[string]any{"username": "x"}, want{401, 403, ok}},
		{"GET", other, nil, want{401, 403, ok}},
		{"GET", own, nil, want{401, ok, ok}},
		{"PATCH", other, map[string]any{"email": "v@example.com"}, want{401, 403, ok}},
		{"DELETE", other + "0", nil, want{401, 403, ok}},
		{"PUT", other + "/password", map[string]any{"current_password": "a", "new_password": "b"}, want{401, 403, 403}},
		{"POST", other + "/password-reset", map[string]any{"password": "x"}, want{401, 403, ok}},
		{"PUT", other + "/avatar", []byte("x"), want{401, 403, ok}},
		{"GET", other + "/avatar", nil, want{401, 403, ok}},
		{"DELETE", "/api/v1/auth/tokens/999999", nil, want{401, ok, ok}},
	}
	for _, rt := range routes {
		for _, who := range []struct {
			name string
			c    *client
			want int
		}{{"anonymous", anon, rt.want.anon}, {"user", user, rt.want.user}, {"admin", admin, rt.want.admin}} {
			t.Run(who.name+" "+rt.method+" "+strings.ReplaceAll(rt.path, "/", "_"), func(t *testing.T) {
				hdr := map[string]string{}
				if rt.method == "PATCH" {
					hdr["If-Match"] = `"1"`
				}
				r := who.c.do(rt.method, rt.path, rt.body, hdr)
				switch {
				case who.want == ok && (r.status == 401 || r.status == 403 || r.status >= 500):
					t.Fatalf("refused or failed: %d %s", r.status, r.body)
				case who.want != ok && r.status != who.want:
					t.Fatalf("status %d, want %d: %s", r.status, who.want, r.body)
				}
			})
		}
	}
	// Only the admin's PATCH went through; every other write was refused or invalid.
	got, err := e.svc.GetUser(t.Context(), accounts.Actor{User: e.root}, victim.ID)
	if err != nil || got.Version != victim.Version+1 || got.Email != "v@example.com" {
		t.Fatalf("victim changed by the matrix: %+v %v", got, err)
	}
}

// TestPagesByRole checks the HTML pages: anonymous visitors are sent to the
// sign-in page, users cannot open the admin table.
func TestPagesByRole(t *testing.T) {
	e := newEnv(t)
	u, _ := e.createUser("plain", accounts.RoleUser)
	anon := e.anon()
	for _, p := range []string{"/dashboard", "/users", fmt.Sprintf("/users/%d", u.ID)} {
		r := anon.page(p)
		if r.status != http.StatusSeeOther || r.header.Get("Location") != "/login" {
			t.Errorf("anonymous %s: %d to %q, want 303 to /login", p, r.status, r.header.Get("Location"))
		}
	}
	for _, p := range []string{"/", "/about", "/login"} {
		if r := anon.page(p); r.status != 200 {
			t.Errorf("anonymous %s: %d", p, r.status)
		}
	}
	user := e.browserLogin("plain", userPassword)
	if r := user.page("/users"); r.status != http.StatusForbidden {
		t.Errorf("user opened the admin table: %d", r.status)
	}
	if r := user.page(fmt.Sprintf("/users/%d", e.root.ID)); r.status != http.StatusForbidden {
		t.Errorf("user opened root's profile: %d", r.status)
	}
	if r := user.page("/dashboard"); r.status != 200 || !strings.Contains(string(r.body), "Database") || !strings.Contains(string(r.body), " MiB") {
		t.Errorf("user dashboard: %d", r.status)
	}
	if r := user.form(fmt.Sprintf("/users/%d/delete", e.root.ID), nil); r.status != http.StatusForbidden {
		t.Errorf("user delete form: %d", r.status)
	}
}
