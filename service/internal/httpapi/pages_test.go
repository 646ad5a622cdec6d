package httpapi_test

import (
	"bytes"
	"fmt"
	"mime/multipart"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/gopherops/gopherops/service/internal/accounts"
)

func TestBrowserJourneyWithoutJavaScript(t *testing.T) {
	e := newEnv(t)
	admin := e.browserLogin("root", rootPassword)
	r := admin.page("/users")
	if r.status != 200 || !strings.Contains(string(r.body), "root@example.com") {
		t.Fatalf("users page: %d", r.status)
	}

	// Create through the form; an invalid form re-renders with field errors.
	r = admin.form("/users", url.Values{"username": {"x"}, "email": {"bad"}, "password": {"short"}})
	if r.status != http.StatusUnprocessableEntity || !strings.Contains(string(r.body), "field-error") {
		t.Fatalf("invalid create form: %d", r.status)
	}
	admin.page("/users")
	r = admin.form("/users", url.Values{"username": {"carol"}, "email": {"carol@example.com"}, "password": {"granite-willow-spark-19"}, "role": {"user"}})
	if r.status != http.StatusSeeOther {
		t.Fatalf("create form: %d %s", r.status, r.body)
	}
	carol, err := e.svc.ListUsers(t.Context(), accounts.Actor{User: e.root}, "", 10)
	if err != nil || len(carol.Users) != 2 {
		t.Fatalf("carol not created: %v", err)
	}
	id := carol.Users[1].ID

	// Reset without a password shows a generated one, once.
	admin.page("/users")
	r = admin.form(fmt.Sprintf("/users/%d/reset-password", id), url.Values{})
	if r.status != 200 || !strings.Contains(string(r.body), "Temporary password for") {
		t.Fatalf("reset form: %d", r.status)
	}

	// Carol signs in, is sent to change her password, changes it.
	tmp := string(bytes.Split(bytes.Split(r.body, []byte("<code>"))[1], []byte("</code>"))[0])
	cc := e.anon()
	cc.page("/login")
	r = cc.form("/login", url.Values{"login": {"carol@example.com"}, "password": {tmp}})
	if r.status != http.StatusSeeOther || !strings.HasPrefix(r.header.Get("Location"), fmt.Sprintf("/users/%d", id)) {
		t.Fatalf("login with temporary password: %d %s", r.status, r.header.Get("Location"))
	}
	if r := cc.page("/dashboard"); r.status != http.StatusSeeOther {
		t.Fatalf("dashboard reachable before the forced change: %d", r.status)
	}
	cc.page(fmt.Sprintf("/users/%d", id))
	r = cc.form(fmt.Sprintf("/users/%d/password", id), url.Values{"current_password": {tmp}, "new_password": {"pebble-thistle-orbit-58"}})
	if r.status != http.StatusSeeOther {
		t.Fatalf("change password form: %d %s", r.status, r.body)
	}
	if r := cc.page("/dashboard"); r.status != 200 {
		t.Fatalf("dashboard after change: %d", r.status)
	}

	// Edit with a stale version is refused and changes nothing.
	cc.page(fmt.Sprintf("/users/%d", id))
	r = cc.form(fmt.Sprintf("/users/%d", id), url.Values{"version": {"1"}, "username": {"carol"}, "email": {"c@example.com"}})
	if r.status != http.StatusPreconditionFailed {
		t.Fatalf("stale edit: %d", r.status)
	}

	// Avatar upload through a multipart form.
	cc.page(fmt.Sprintf("/users/%d", id))
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	_ = mw.WriteField("csrf_token", cc.csrf)
	fw, _ := mw.CreateFormFile("avatar", "me.png")
	_, _ = fw.Write(pngBytes(t, 16, 16))
	_ = mw.Close()
	r = cc.do("POST", fmt.Sprintf("/users/%d/avatar", id), body.Bytes(), map[string]string{"Content-Type": mw.FormDataContentType()})
	if r.status != http.StatusSeeOther {
		t.Fatalf("avatar form: %d %s", r.status, r.body)
	}
	if r := cc.page(fmt.Sprintf("/users/%d", id)); !strings.Contains(string(r.body), "/avatar?v=") {
		t.Fatal("profile does not show the avatar")
	}

	// Delete through the form, then sign out.
	admin.page("/users")
	if r := admin.form(fmt.Sprintf("/users/%d/delete", id), nil); r.status != http.StatusSeeOther {
		t.Fatalf("delete form: %d", r.status)
	}
	admin.page("/dashboard")
	if r := admin.form("/logout", nil); r.status != http.StatusSeeOther {
		t.Fatalf("logout: %d", r.status)
	}
	if r := admin.page("/dashboard"); r.status != http.StatusSeeOther {
		t.Fatalf("dashboard after logout: %d", r.status)
	}
}

func TestCSRF(t *testing.T) {
	e := newEnv(t)
	victim, _ := e.createUser("victim", accounts.RoleUser)
	admin := e.browserLogin("root", rootPassword)
	del := fmt.Sprintf("/users/%d/delete", victim.ID)

	for name, token := range map[string]string{"missing": "", "forged": "AAAA", "from another session": e.browserLogin("root", rootPassword).csrf} {
		t.Run(name, func(t *testing.T) {
			fields := url.Values{}
			if token != "" {
				fields.Set("csrf_token", token)
			}
			saved := admin.csrf
			admin.csrf = ""
			r := admin.do("POST", del, fields, map[string]string{"Accept": "text/html"})
			admin.csrf = saved
			if r.status != http.StatusForbidden {
				t.Fatalf("form with %s token: %d", name, r.status)
			}
		})
	}
	// The login form is protected too (login CSRF).
	anon := e.anon()
	if r := anon.do("POST", "/login", url.Values{"login": {"root"}, "password": {rootPassword}}, nil); r.status != http.StatusForbidden {
		t.Fatalf("login without token: %d", r.status)
	}
	// Cookie-authenticated API writes need the X-CSRF-Token header.
	r := admin.do("DELETE", "/api/v1/users/"+fmt.Sprint(victim.ID), nil, nil)
	expectProblem(t, r, http.StatusForbidden)
	// A cross-site browser request is stopped before any handler.
	r = admin.do("POST", del, url.Values{"csrf_token": {admin.csrf}}, map[string]string{"Sec-Fetch-Site": "cross-site"})
	if r.status != http.StatusForbidden {
		t.Fatalf("cross-site post: %d", r.status)
	}
	if _, err := e.svc.GetUser(t.Context(), accounts.Actor{User: e.root}, victim.ID); err != nil {
		t.Fatalf("victim deleted by a forged request: %v", err)
	}
	// With the right token and header the same requests work.
	if r := admin.do("DELETE", "/api/v1/users/"+fmt.Sprint(victim.ID), nil, map[string]string{"X-CSRF-Token": admin.csrf}); r.status != 204 {
		t.Fatalf("API delete with CSRF header: %d %s", r.status, r.body)
	}
}

func TestSecurityHeaders(t *testing.T) {
	e := newEnv(t, envOptions{cfg: func(c *configT) { c.Env = "production"; c.SecureCookies = true }})
	r := e.anon().page("/login")
	for h, want := range map[string]string{
		"Content-Security-Policy":   "script-src 'self'",
		"X-Content-Type-Options":    "nosniff",
		"Referrer-Policy":           "same-origin",
		"Strict-Transport-Security": "max-age=",
		"X-Frame-Options":           "DENY",
	} {
		if !strings.Contains(r.header.Get(h), want) {
			t.Errorf("%s = %q, want it to contain %q", h, r.header.Get(h), want)
		}
	}
	if !strings.Contains(r.header.Get("Content-Security-Policy"), "frame-ancestors 'none'") {
		t.Error("CSP lacks frame-ancestors")
	}
	if strings.Contains(string(r.body), "<script>") || strings.Contains(string(r.body), " onclick=") {
		t.Error("page carries inline script")
	}
	ck := r.header.Get("Set-Cookie")
	if !strings.Contains(ck, "__Host-") || !strings.Contains(ck, "Secure") || !strings.Contains(ck, "HttpOnly") || !strings.Contains(ck, "SameSite=Lax") {
		t.Errorf("cookie not hardened in production: %q", ck)
	}
}
