package api_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/gopherops/gopherops/service/internal/accounts"
	"github.com/gopherops/gopherops/service/internal/apptest"
)

func TestHealthAndDocs(t *testing.T) {
	e := apptest.New(t)
	c := e.Anon()
	if r := c.Do("GET", "/healthz", nil, nil); r.Status != 200 {
		t.Fatalf("healthz %d", r.Status)
	}
	if r := c.Do("GET", "/readyz", nil, nil); r.Status != 200 || r.JSON()["status"] != "ready" {
		t.Fatalf("readyz %d %s", r.Status, r.Body)
	}
	r := c.Do("GET", "/api/v1/openapi.json", nil, nil)
	if r.Status != 200 || r.JSON()["openapi"] != "3.0.3" {
		t.Fatalf("openapi.json %d", r.Status)
	}
	if r := c.Do("GET", "/ready", nil, nil); r.Status != http.StatusPermanentRedirect || r.Header.Get("Location") != "/readyz" {
		t.Fatalf("/ready should redirect to /readyz, got %d", r.Status)
	}
	if r := c.Do("GET", "/static/app.js", nil, nil); r.Status != 200 || !strings.Contains(r.Header.Get("Content-Type"), "javascript") {
		t.Fatalf("static script: %d %s", r.Status, r.Header.Get("Content-Type"))
	}
	if r := c.Do("GET", "/static/", nil, nil); r.Status != http.StatusNotFound {
		t.Fatalf("static directory listing: %d", r.Status)
	}
	e.Ready.Drain()
	if r := c.Do("GET", "/readyz", nil, nil); r.Status != 503 {
		t.Fatalf("readyz while draining: %d", r.Status)
	}
}

func TestUserLifecycleThroughAPI(t *testing.T) {
	e := apptest.New(t)
	admin := e.RootClient()

	// Create: new users must change the password the admin typed.
	r := admin.Do("POST", "/api/v1/users", map[string]any{
		"username": "alice", "email": "Alice@Example.com", "password": "violet-canyon-drift-42", "role": "user",
	}, nil)
	if r.Status != http.StatusCreated {
		t.Fatalf("create: %d %s", r.Status, r.Body)
	}
	alice := r.JSON()
	id := int64(alice["id"].(float64))
	if alice["email"] != "alice@example.com" || alice["force_password_change"] != true || r.Header.Get("Location") == "" {
		t.Fatalf("unexpected created user: %s", r.Body)
	}

	// Duplicate username (any case) and email are conflicts naming the field.
	for _, dup := range []map[string]any{
		{"username": "ALICE", "email": "other@example.com", "password": "violet-canyon-drift-42"},
		{"username": "alice2", "email": "alice@example.com", "password": "violet-canyon-drift-42"},
	} {
		p := apptest.ExpectProblem(t, admin.Do("POST", "/api/v1/users", dup, nil), http.StatusConflict)
		if len(p["errors"].([]any)) != 1 {
			t.Fatalf("conflict without field: %v", p)
		}
	}

	// The user signs in, is held to changing the password, then can work.
	alc := e.Login("alice", "violet-canyon-drift-42")
	apptest.ExpectProblem(t, alc.Do("GET", fmt.Sprintf("/api/v1/users/%d", id), nil, nil), http.StatusForbidden)
	if r := alc.Do("GET", "/api/v1/me", nil, nil); r.Status != 200 {
		t.Fatalf("me during forced change: %d", r.Status)
	}
	p := apptest.ExpectProblem(t, alc.Do("PUT", fmt.Sprintf("/api/v1/users/%d/password", id),
		map[string]any{"current_password": "wrong-wrong-wrong-wrong", "new_password": "amber-falcon-meadow-77"}, nil), 422)
	if !strings.Contains(string(mustJSON(p["errors"])), "current_password") {
		t.Fatalf("wrong current password not reported on its field: %v", p)
	}
	if r := alc.Do("PUT", fmt.Sprintf("/api/v1/users/%d/password", id),
		map[string]any{"current_password": "violet-canyon-drift-42", "new_password": "amber-falcon-meadow-77"}, nil); r.Status != 200 {
		t.Fatalf("change password: %d %s", r.Status, r.Body)
	}
	alc = e.Login("alice", "amber-falcon-meadow-77")

	// Get with ETag, patch with If-Match; a stale ETag is 412, none is 428.
	r = alc.Do("GET", fmt.Sprintf("/api/v1/users/%d", id), nil, nil)
	tag := r.Header.Get("ETag")
	if r.Status != 200 || tag == "" {
		t.Fatalf("get: %d etag=%q", r.Status, tag)
	}
	r = alc.Do("PATCH", fmt.Sprintf("/api/v1/users/%d", id), map[string]any{"email": "alice@new.example.com"}, map[string]string{"If-Match": tag})
	if r.Status != 200 || r.JSON()["email"] != "alice@new.example.com" || r.Header.Get("ETag") == tag {
		t.Fatalf("patch: %d %s", r.Status, r.Body)
	}
	apptest.ExpectProblem(t, admin.Do("PATCH", fmt.Sprintf("/api/v1/users/%d", id), map[string]any{"role": "admin"}, map[string]string{"If-Match": tag}), http.StatusPreconditionFailed)
	apptest.ExpectProblem(t, admin.Do("PATCH", fmt.Sprintf("/api/v1/users/%d", id), map[string]any{"role": "admin"}, nil), http.StatusPreconditionRequired)
	// A user cannot promote themself.
	r = alc.Do("GET", "/api/v1/me", nil, nil)
	apptest.ExpectProblem(t, alc.Do("PATCH", fmt.Sprintf("/api/v1/users/%d", id), map[string]any{"role": "admin"}, map[string]string{"If-Match": r.Header.Get("ETag")}), http.StatusForbidden)

	// Avatar: PNG accepted and served back; text refused by content, whatever its name.
	img := apptest.PNG(t, 32, 32)
	r = alc.Do("PUT", fmt.Sprintf("/api/v1/users/%d/avatar", id), img, map[string]string{"Content-Type": "image/png"})
	if r.Status != 200 || r.JSON()["avatar_url"] == nil {
		t.Fatalf("avatar upload: %d %s", r.Status, r.Body)
	}
	r = alc.Do("GET", fmt.Sprintf("/api/v1/users/%d/avatar", id), nil, nil)
	if r.Status != 200 || r.Header.Get("Content-Type") != "image/png" || !bytes.Equal(r.Body, img) {
		t.Fatalf("avatar download: %d %s", r.Status, r.Header.Get("Content-Type"))
	}
	apptest.ExpectProblem(t, alc.Do("PUT", fmt.Sprintf("/api/v1/users/%d/avatar", id), []byte("<svg onload=alert(1)>"), map[string]string{"Content-Type": "image/png"}), 422)
	apptest.ExpectProblem(t, alc.Do("PUT", fmt.Sprintf("/api/v1/users/%d/avatar", id), bytes.Repeat([]byte{0x89}, 2<<20), nil), http.StatusRequestEntityTooLarge)
	if r := alc.Do("GET", fmt.Sprintf("/api/v1/users/%d/avatar", id), nil, nil); !bytes.Equal(r.Body, img) {
		t.Fatal("a refused upload replaced the stored avatar")
	}

	// Admin reset: generated temporary password, sessions revoked, change forced.
	r = admin.Do("POST", fmt.Sprintf("/api/v1/users/%d/password-reset", id), nil, nil)
	if r.Status != 200 {
		t.Fatalf("reset: %d %s", r.Status, r.Body)
	}
	temp, _ := r.JSON()["temporary_password"].(string)
	if temp == "" {
		t.Fatalf("reset returned no temporary password: %s", r.Body)
	}
	apptest.ExpectProblem(t, alc.Do("GET", "/api/v1/me", nil, nil), http.StatusUnauthorized)
	again := e.Login("alice", temp)
	if r := again.Do("GET", "/api/v1/me", nil, nil); r.JSON()["force_password_change"] != true {
		t.Fatalf("reset did not force a change: %s", r.Body)
	}

	// Delete: refused for root and for oneself, then done.
	apptest.ExpectProblem(t, admin.Do("DELETE", fmt.Sprintf("/api/v1/users/%d", e.Root.ID), nil, nil), http.StatusForbidden)
	if r := admin.Do("DELETE", fmt.Sprintf("/api/v1/users/%d", id), nil, nil); r.Status != http.StatusNoContent {
		t.Fatalf("delete: %d %s", r.Status, r.Body)
	}
	apptest.ExpectProblem(t, admin.Do("GET", fmt.Sprintf("/api/v1/users/%d", id), nil, nil), http.StatusNotFound)
	apptest.ExpectProblem(t, admin.Do("DELETE", fmt.Sprintf("/api/v1/users/%d", id), nil, nil), http.StatusNotFound)

	// Every change is in the audit trail, newest first.
	r = admin.Do("GET", "/api/v1/audit?limit=100", nil, nil)
	var actions []string
	for _, ev := range r.JSON()["events"].([]any) {
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
	e := apptest.New(t)
	_, other := e.CreateUser("second-admin", accounts.RoleAdmin)
	rootPath := fmt.Sprintf("/api/v1/users/%d", e.Root.ID)
	tag := other.Do("GET", rootPath, nil, nil).Header.Get("ETag")
	apptest.ExpectProblem(t, other.Do("PATCH", rootPath, map[string]any{"role": "user"}, map[string]string{"If-Match": tag}), http.StatusForbidden)
	apptest.ExpectProblem(t, other.Do("DELETE", rootPath, nil, nil), http.StatusForbidden)
	apptest.ExpectProblem(t, other.Do("POST", rootPath+"/password-reset", nil, nil), http.StatusForbidden)
	if r := e.RootClient().Do("GET", "/api/v1/me", nil, nil); r.JSON()["role"] != "admin" || r.JSON()["is_root"] != true {
		t.Fatalf("root changed: %s", r.Body)
	}
}

func TestListPagination(t *testing.T) {
	e := apptest.New(t)
	for i := 0; i < 7; i++ {
		e.CreateUser(fmt.Sprintf("user%02d", i), accounts.RoleUser)
	}
	admin := e.RootClient()
	seen := map[float64]bool{}
	cursor, pages := "", 0
	for {
		r := admin.Do("GET", "/api/v1/users?limit=3&cursor="+cursor, nil, nil)
		if r.Status != 200 {
			t.Fatalf("list: %d %s", r.Status, r.Body)
		}
		body := r.JSON()
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
	// A page size is an integer from 1 to 100, whatever else is sent: one
	// 400 naming the parameter and its rule.
	for _, q := range []string{"limit=0", "limit=101", "limit=-1", "limit=abc", "limit=", "limit=2147483648", "limit=9223372036854775807", "limit=99999999999999999999"} {
		for _, path := range []string{"/api/v1/users?", "/api/v1/audit?"} {
			r := admin.Do("GET", path+q, nil, nil)
			if r.Status != 400 || !strings.Contains(string(r.Body), "must be an integer from 1 to 100") || !strings.Contains(string(r.Body), `"field":"limit"`) {
				t.Errorf("%s%s: %d %s, want a 400 naming limit and its rule", path, q, r.Status, r.Body)
			}
		}
	}
	if r := admin.Do("GET", "/api/v1/users?cursor=%21%21", nil, nil); r.Status != 400 && r.Status != 422 {
		t.Errorf("a malformed cursor: %d, want a 4xx problem", r.Status)
	}
}

func TestBadInputGetsProblemDetails(t *testing.T) {
	e := apptest.New(t)
	admin := e.RootClient()
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
		{"bad If-Match", "PATCH", fmt.Sprintf("/api/v1/users/%d", e.Root.ID), map[string]any{"email": "x@example.com"}, 400, ""},
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
			r := admin.Do(tt.method, tt.path, tt.body, hdr)
			p := apptest.ExpectProblem(t, r, tt.status)
			if tt.field != "" && !strings.Contains(string(mustJSON(p["errors"])), `"field":"`+tt.field+`"`) {
				t.Fatalf("problem does not name field %s: %s", tt.field, r.Body)
			}
			for _, leak := range []string{"pgx", "SQLSTATE", "goroutine", "runtime/", "json: "} {
				if strings.Contains(string(r.Body), leak) {
					t.Fatalf("problem leaks internals (%s): %s", leak, r.Body)
				}
			}
		})
	}
	// Nothing was created or changed by the failed requests.
	if n, _ := e.Svc.CountUsers(t.Context()); n != 1 {
		t.Fatalf("failed requests left %d users, want 1", n)
	}
}

func TestTokensAndStatus(t *testing.T) {
	e := apptest.New(t)
	admin := e.RootClient()
	r := admin.Do("GET", "/api/v1/status", nil, nil)
	s := r.JSON()
	db := s["database"].(map[string]any)
	if r.Status != 200 || db["up"] != true || s["user_count"] != float64(1) || db["migration_version"] != db["migration_latest"] || s["pod"] != "test-pod" {
		t.Fatalf("status: %d %s", r.Status, r.Body)
	}
	if len(s["recent_audit"].([]any)) == 0 {
		t.Fatal("admin status lacks recent audit events")
	}
	_, user := e.CreateUser("plain", accounts.RoleUser)
	if r := user.Do("GET", "/api/v1/status", nil, nil); len(r.JSON()["recent_audit"].([]any)) != 0 {
		t.Fatal("a non-admin sees the audit trail in the status")
	}

	// A second token, revoked by id; the first one keeps working.
	second := e.RootClient()
	me := second.Do("GET", "/api/v1/me", nil, nil)
	if me.Status != 200 {
		t.Fatal(me.Status)
	}
	tok := e.Anon().Do("POST", "/api/v1/auth/tokens", map[string]any{"login": "root@example.com", "password": apptest.RootPassword}, nil)
	if tok.Status != 201 {
		t.Fatalf("login by email: %d %s", tok.Status, tok.Body)
	}
	tokID := int64(tok.JSON()["id"].(float64))
	apptest.ExpectProblem(t, user.Do("DELETE", "/api/v1/auth/tokens/"+strconv.FormatInt(tokID, 10), nil, nil), http.StatusNotFound)
	if r := admin.Do("DELETE", "/api/v1/auth/tokens/"+strconv.FormatInt(tokID, 10), nil, nil); r.Status != 204 {
		t.Fatalf("revoke by id: %d %s", r.Status, r.Body)
	}
	byID := e.Anon()
	byID.Token = tok.JSON()["token"].(string)
	apptest.ExpectProblem(t, byID.Do("GET", "/api/v1/me", nil, nil), http.StatusUnauthorized)

	if r := second.Do("DELETE", "/api/v1/auth/tokens", nil, nil); r.Status != 204 {
		t.Fatalf("revoke current: %d", r.Status)
	}
	apptest.ExpectProblem(t, second.Do("GET", "/api/v1/me", nil, nil), http.StatusUnauthorized)
	if r := admin.Do("GET", "/api/v1/me", nil, nil); r.Status != 200 {
		t.Fatal("revoking one token revoked another")
	}
	// Malformed credentials are refused, never treated as anonymous.
	bad := e.Anon()
	apptest.ExpectProblem(t, bad.Do("GET", "/api/v1/me", nil, map[string]string{"Authorization": "Basic cm9vdDp4"}), 401)
	apptest.ExpectProblem(t, bad.Do("GET", "/api/v1/me", nil, map[string]string{"Authorization": "Bearer gpt_forged"}), 401)
	apptest.ExpectProblem(t, e.Anon().Do("POST", "/api/v1/auth/tokens", map[string]any{"login": "root", "password": "not-the-password-at-all"}, nil), 401)
	apptest.ExpectProblem(t, e.Anon().Do("POST", "/api/v1/auth/tokens", map[string]any{"login": "nobody", "password": "not-the-password-at-all"}, nil), 401)
}

func mustJSON(v any) []byte {
	b, _ := json.Marshal(v)
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
