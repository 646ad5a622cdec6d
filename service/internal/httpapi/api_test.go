package httpapi_test

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/gopherops/gopherops/service/internal/accounts"
)

func pngBytes(t *testing.T, w, h int) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for x := 0; x < w; x++ {
		img.Set(x, x%h, color.RGBA{R: 200, A: 255})
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestHealthAndDocs(t *testing.T) {
	e := newEnv(t)
	c := e.anon()
	if r := c.do("GET", "/healthz", nil, nil); r.status != 200 {
		t.Fatalf("healthz %d", r.status)
	}
	if r := c.do("GET", "/readyz", nil, nil); r.status != 200 || r.json()["status"] != "ready" {
		t.Fatalf("readyz %d %s", r.status, r.body)
	}
	r := c.do("GET", "/api/v1/openapi.json", nil, nil)
	if r.status != 200 || r.json()["openapi"] != "3.0.3" {
		t.Fatalf("openapi.json %d", r.status)
	}
	if r := c.do("GET", "/ready", nil, nil); r.status != http.StatusPermanentRedirect || r.header.Get("Location") != "/readyz" {
		t.Fatalf("/ready should redirect to /readyz, got %d", r.status)
	}
	if r := c.do("GET", "/static/app.js", nil, nil); r.status != 200 || !strings.Contains(r.header.Get("Content-Type"), "javascript") {
		t.Fatalf("static script: %d %s", r.status, r.header.Get("Content-Type"))
	}
	if r := c.do("GET", "/static/", nil, nil); r.status != http.StatusNotFound {
		t.Fatalf("static directory listing: %d", r.status)
	}
	e.ready.Drain()
	if r := c.do("GET", "/readyz", nil, nil); r.status != 503 {
		t.Fatalf("readyz while draining: %d", r.status)
	}
}

func TestUserLifecycleThroughAPI(t *testing.T) {
	e := newEnv(t)
	admin := e.rootClient()

	// Create: new users must change the password the admin typed.
	r := admin.do("POST", "/api/v1/users", map[string]any{
		"username": "alice", "email": "Alice@Example.com", "password": "violet-canyon-drift-42", "role": "user",
	}, nil)
	if r.status != http.StatusCreated {
		t.Fatalf("create: %d %s", r.status, r.body)
	}
	alice := r.json()
	id := int64(alice["id"].(float64))
	if alice["email"] != "alice@example.com" || alice["force_password_change"] != true || r.header.Get("Location") == "" {
		t.Fatalf("unexpected created user: %s", r.body)
	}

	// Duplicate username (any case) and email are conflicts naming the field.
	for _, dup := range []map[string]any{
		{"username": "ALICE", "email": "other@example.com", "password": "violet-canyon-drift-42"},
		{"username": "alice2", "email": "alice@example.com", "password": "violet-canyon-drift-42"},
	} {
		p := expectProblem(t, admin.do("POST", "/api/v1/users", dup, nil), http.StatusConflict)
		if len(p["errors"].([]any)) != 1 {
			t.Fatalf("conflict without field: %v", p)
		}
	}

	// The user signs in, is held to changing the password, then can work.
	alc := e.login("alice", "violet-canyon-drift-42")
	expectProblem(t, alc.do("GET", fmt.Sprintf("/api/v1/users/%d", id), nil, nil), http.StatusForbidden)
	if r := alc.do("GET", "/api/v1/me", nil, nil); r.status != 200 {
		t.Fatalf("me during forced change: %d", r.status)
	}
	p := expectProblem(t, alc.do("PUT", fmt.Sprintf("/api/v1/users/%d/password", id),
		map[string]any{"current_password": "wrong-wrong-wrong-wrong", "new_password": "amber-falcon-meadow-77"}, nil), 422)
	if !strings.Contains(string(mustJSON(p["errors"])), "current_password") {
		t.Fatalf("wrong current password not reported on its field: %v", p)
	}
	if r := alc.do("PUT", fmt.Sprintf("/api/v1/users/%d/password", id),
		map[string]any{"current_password": "violet-canyon-drift-42", "new_password": "amber-falcon-meadow-77"}, nil); r.status != 200 {
		t.Fatalf("change password: %d %s", r.status, r.body)
	}
	alc = e.login("alice", "amber-falcon-meadow-77")

	// Get with ETag, patch with If-Match; a stale ETag is 412, none is 428.
	r = alc.do("GET", fmt.Sprintf("/api/v1/users/%d", id), nil, nil)
	tag := r.header.Get("ETag")
	if r.status != 200 || tag == "" {
		t.Fatalf("get: %d etag=%q", r.status, tag)
	}
	r = alc.do("PATCH", fmt.Sprintf("/api/v1/users/%d", id), map[string]any{"email": "alice@new.example.com"}, map[string]string{"If-Match": tag})
	if r.status != 200 || r.json()["email"] != "alice@new.example.com" || r.header.Get("ETag") == tag {
		t.Fatalf("patch: %d %s", r.status, r.body)
	}
	expectProblem(t, admin.do("PATCH", fmt.Sprintf("/api/v1/users/%d", id), map[string]any{"role": "admin"}, map[string]string{"If-Match": tag}), http.StatusPreconditionFailed)
	expectProblem(t, admin.do("PATCH", fmt.Sprintf("/api/v1/users/%d", id), map[string]any{"role": "admin"}, nil), http.StatusPreconditionRequired)
	// A user cannot promote themself.
	r = alc.do("GET", "/api/v1/me", nil, nil)
	expectProblem(t, alc.do("PATCH", fmt.Sprintf("/api/v1/users/%d", id), map[string]any{"role": "admin"}, map[string]string{"If-Match": r.header.Get("ETag")}), http.StatusForbidden)

	// Avatar: PNG accepted and served back; text refused by content, whatever its name.
	img := pngBytes(t, 32, 32)
	r = alc.do("PUT", fmt.Sprintf("/api/v1/users/%d/avatar", id), img, map[string]string{"Content-Type": "image/png"})
	if r.status != 200 || r.json()["avatar_url"] == nil {
		t.Fatalf("avatar upload: %d %s", r.status, r.body)
	}
	r = alc.do("GET", fmt.Sprintf("/api/v1/users/%d/avatar", id), nil, nil)
	if r.status != 200 || r.header.Get("Content-Type") != "image/png" || !bytes.Equal(r.body, img) {
		t.Fatalf("avatar download: %d %s", r.status, r.header.Get("Content-Type"))
	}
	expectProblem(t, alc.do("PUT", fmt.Sprintf("/api/v1/users/%d/avatar", id), []byte("<svg onload=alert(1)>"), map[string]string{"Content-Type": "image/png"}), 422)
	expectProblem(t, alc.do("PUT", fmt.Sprintf("/api/v1/users/%d/avatar", id), bytes.Repeat([]byte{0x89}, 2<<20), nil), http.StatusRequestEntityTooLarge)
	if r := alc.do("GET", fmt.Sprintf("/api/v1/users/%d/avatar", id), nil, nil); !bytes.Equal(r.body, img) {
		t.Fatal("a refused upload replaced the stored avatar")
	}

	// Admin reset: generated temporary password, sessions revoked, change forced.
	r = admin.do("POST", fmt.Sprintf("/api/v1/users/%d/password-reset", id), nil, nil)
	if r.status != 200 {
		t.Fatalf("reset: %d %s", r.status, r.body)
	}
	temp, _ := r.json()["temporary_password"].(string)
	if temp == "" {
		t.Fatalf("reset returned no temporary password: %s", r.body)
	}
	expectProblem(t, alc.do("GET", "/api/v1/me", nil, nil), http.StatusUnauthorized)
	again := e.login("alice", temp)
	if r := again.do("GET", "/api/v1/me", nil, nil); r.json()["force_password_change"] != true {
		t.Fatalf("reset did not force a change: %s", r.body)
	}

	// Delete: refused for root and for oneself, then done.
	expectProblem(t, admin.do("DELETE", fmt.Sprintf("/api/v1/users/%d", e.root.ID), nil, nil), http.StatusForbidden)
	if r := admin.do("DELETE", fmt.Sprintf("/api/v1/users/%d", id), nil, nil); r.status != http.StatusNoContent {
		t.Fatalf("delete: %d %s", r.status, r.body)
	}
	expectProblem(t, admin.do("GET", fmt.Sprintf("/api/v1/users/%d", id), nil, nil), http.StatusNotFound)
	expectProblem(t, admin.do("DELETE", fmt.Sprintf("/api/v1/users/%d", id), nil, nil), http.StatusNotFound)

	// Every change is in the audit trail, newest first.
	r = admin.do("GET", "/api/v1/audit?limit=100", nil, nil)
	var actions []string
	for _, ev := range r.json()["events"].([]any) {
		actions = append(actions, ev.(map[string]any)["action"].(string))
	}
	for _, want := range []string{"user.deleted", "user.password_reset", "user.avatar_changed", "user.updated", "user.password_changed", "user.created"} {
		if !contains(actions, want) {
			t.Errorf("audit trail lacks %s: %v", want, actions)
		}
	}
	if actions[0] != "user.deleted" {
		t.Errorf("audit trail not newest first: %v", actions)
	}
}

func TestRootCannotBeDemotedOrDeletedEvenByAnotherAdmin(t *testing.T) {
	e := newEnv(t)
	_, other := e.createUser("second-admin", accounts.RoleAdmin)
	rootPath := fmt.Sprintf("/api/v1/users/%d", e.root.ID)
	tag := other.do("GET", rootPath, nil, nil).header.Get("ETag")
	expectProblem(t, other.do("PATCH", rootPath, map[string]any{"role": "user"}, map[string]string{"If-Match": tag}), http.StatusForbidden)
	expectProblem(t, other.do("DELETE", rootPath, nil, nil), http.StatusForbidden)
	expectProblem(t, other.do("POST", rootPath+"/password-reset", nil, nil), http.StatusForbidden)
	if r := e.rootClient().do("GET", "/api/v1/me", nil, nil); r.json()["role"] != "admin" || r.json()["is_root"] != true {
		t.Fatalf("root changed: %s", r.body)
	}
}

func TestListPagination(t *testing.T) {
	e := newEnv(t)
	for i := 0; i < 7; i++ {
		e.createUser(fmt.Sprintf("user%02d", i), accounts.RoleUser)
	}
	admin := e.rootClient()
	seen := map[float64]bool{}
	cursor, pages := "", 0
	for {
		r := admin.do("GET", "/api/v1/users?limit=3&cursor="+cursor, nil, nil)
		if r.status != 200 {
			t.Fatalf("list: %d %s", r.status, r.body)
		}
		body := r.json()
		for _, u := range body["users"].([]any) {
			id := u.(map[string]any)["id"].(float64)
			if seen[id] {
				t.Fatalf("user %v listed twice", id)
			}
			seen[id] = true
		}
		pages++
		next, _ := body["next_cursor"].(string)
		if next == "" {
			break
		}
		cursor = next
	}
	if len(seen) != 8 || pages != 3 {
		t.Fatalf("listed %d users over %d pages, want 8 over 3", len(seen), pages)
	}
	for _, q := range []string{"limit=0", "limit=101", "limit=-1", "cursor=%21%21", "limit=abc"} {
		r := admin.do("GET", "/api/v1/users?"+q, nil, nil)
		if q == "limit=0" && r.status == 200 {
			continue // 0 means the default page size
		}
		if r.status != 400 && r.status != 422 {
			t.Errorf("list ?%s: %d, want a 4xx problem", q, r.status)
		}
	}
}

func TestBadInputGetsProblemDetails(t *testing.T) {
	e := newEnv(t)
	admin := e.rootClient()
	tests := []struct {
		name   string
		method string
		path   string
		body   any
		status int
		field  string
	}{
		{"malformed JSON", "POST", "/api/v1/users", `{"username": "x",`, 400, ""},
		{"not an object", "POST", "/api/v1/users", `[1,2]`, 400, ""},
		{"unknown field", "POST", "/api/v1/users", `{"username":"bob","is_root":true}`, 400, ""},
		{"wrong type", "POST", "/api/v1/users", `{"username": 12}`, 400, ""},
		{"two objects", "POST", "/api/v1/users", `{} {}`, 400, ""},
		{"empty body", "POST", "/api/v1/users", ``, 400, ""},
		{"bad username", "POST", "/api/v1/users", map[string]any{"username": "a b", "email": "b@example.com", "password": "violet-canyon-drift-42"}, 422, "username"},
		{"bad email", "POST", "/api/v1/users", map[string]any{"username": "bob", "email": "Bob <bob@example.com>", "password": "violet-canyon-drift-42"}, 422, "email"},
		{"short password", "POST", "/api/v1/users", map[string]any{"username": "bob", "email": "bob@example.com", "password": "short"}, 422, "password"},
		{"common password", "POST", "/api/v1/users", map[string]any{"username": "bob", "email": "bob@example.com", "password": "passwordpassword"}, 422, "password"},
		{"password with username", "POST", "/api/v1/users", map[string]any{"username": "bobby", "email": "b@example.com", "password": "bobby-is-the-best-ever"}, 422, "password"},
		{"bad role", "POST", "/api/v1/users", map[string]any{"username": "bob", "email": "bob@example.com", "password": "violet-canyon-drift-42", "role": "root"}, 422, "role"},
		{"huge body", "POST", "/api/v1/users", `{"username":"` + strings.Repeat("a", 70_000) + `"}`, 413, ""},
		{"non-numeric id", "GET", "/api/v1/users/abc", nil, 400, ""},
		{"negative id", "GET", "/api/v1/users/-4", nil, 400, ""},
		{"bad If-Match", "PATCH", fmt.Sprintf("/api/v1/users/%d", e.root.ID), map[string]any{"email": "x@example.com"}, 400, ""},
		{"wrong media type", "POST", "/api/v1/auth/tokens", []byte("login=root"), 400, ""},
		{"missing login", "POST", "/api/v1/auth/tokens", map[string]any{"password": "x"}, 422, "login"},
		{"wrong method", "PUT", "/api/v1/users", map[string]any{}, 405, ""},
		{"no such route", "GET", "/api/v1/nothing", nil, 404, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hdr := map[string]string{}
			if tt.name == "bad If-Match" {
				hdr["If-Match"] = "abc"
			}
			if tt.name == "wrong media type" {
				hdr["Content-Type"] = "application/x-www-form-urlencoded"
			}
			r := admin.do(tt.method, tt.path, tt.body, hdr)
			p := expectProblem(t, r, tt.status)
			if tt.field != "" && !strings.Contains(string(mustJSON(p["errors"])), `"field":"`+tt.field+`"`) {
				t.Fatalf("problem does not name field %s: %s", tt.field, r.body)
			}
			for _, leak := range []string{"pgx", "SQLSTATE", "goroutine", "runtime/", "json: "} {
				if strings.Contains(string(r.body), leak) {
					t.Fatalf("problem leaks internals (%s): %s", leak, r.body)
				}
			}
		})
	}
	// Nothing was created or changed by the failed requests.
	if n, _ := e.svc.CountUsers(t.Context()); n != 1 {
		t.Fatalf("failed requests left %d users, want 1", n)
	}
}

func TestTokensAndStatus(t *testing.T) {
	e := newEnv(t)
	admin := e.rootClient()
	r := admin.do("GET", "/api/v1/status", nil, nil)
	s := r.json()
	db := s["database"].(map[string]any)
	if r.status != 200 || db["up"] != true || s["user_count"] != float64(1) || db["migration_version"] != db["migration_latest"] || s["pod"] != "test-pod" {
		t.Fatalf("status: %d %s", r.status, r.body)
	}
	if len(s["recent_audit"].([]any)) == 0 {
		t.Fatal("admin status lacks recent audit events")
	}
	_, user := e.createUser("plain", accounts.RoleUser)
	if r := user.do("GET", "/api/v1/status", nil, nil); len(r.json()["recent_audit"].([]any)) != 0 {
		t.Fatal("a non-admin sees the audit trail in the status")
	}

	// A second token, revoked by id; the first one keeps working.
	second := e.rootClient()
	me := second.do("GET", "/api/v1/me", nil, nil)
	if me.status != 200 {
		t.Fatal(me.status)
	}
	tok := e.anon().do("POST", "/api/v1/auth/tokens", map[string]any{"login": "root@example.com", "password": rootPassword}, nil)
	if tok.status != 201 {
		t.Fatalf("login by email: %d %s", tok.status, tok.body)
	}
	tokID := int64(tok.json()["id"].(float64))
	expectProblem(t, user.do("DELETE", "/api/v1/auth/tokens/"+strconv.FormatInt(tokID, 10), nil, nil), http.StatusNotFound)
	if r := admin.do("DELETE", "/api/v1/auth/tokens/"+strconv.FormatInt(tokID, 10), nil, nil); r.status != 204 {
		t.Fatalf("revoke by id: %d %s", r.status, r.body)
	}
	byID := e.anon()
	byID.token = tok.json()["token"].(string)
	expectProblem(t, byID.do("GET", "/api/v1/me", nil, nil), http.StatusUnauthorized)

	if r := second.do("DELETE", "/api/v1/auth/tokens", nil, nil); r.status != 204 {
		t.Fatalf("revoke current: %d", r.status)
	}
	expectProblem(t, second.do("GET", "/api/v1/me", nil, nil), http.StatusUnauthorized)
	if r := admin.do("GET", "/api/v1/me", nil, nil); r.status != 200 {
		t.Fatal("revoking one token revoked another")
	}
	// Malformed credentials are refused, never treated as anonymous.
	bad := e.anon()
	expectProblem(t, bad.do("GET", "/api/v1/me", nil, map[string]string{"Authorization": "Basic cm9vdDp4"}), 401)
	expectProblem(t, bad.do("GET", "/api/v1/me", nil, map[string]string{"Authorization": "Bearer gpt_forged"}), 401)
	expectProblem(t, e.anon().do("POST", "/api/v1/auth/tokens", map[string]any{"login": "root", "password": "not-the-password-at-all"}, nil), 401)
	expectProblem(t, e.anon().do("POST", "/api/v1/auth/tokens", map[string]any{"login": "nobody", "password": "not-the-password-at-all"}, nil), 401)
}

func mustJSON(v any) []byte {
	b, _ := jsonMarshal(v)
	return b
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
