package httpapi_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/net/http/httpguts"
)

// FuzzCreateUserRequest throws arbitrary bodies at POST /api/v1/users through
// the real router and database. Whatever the input, the answer is a 201 for a
// user that satisfies every rule, or a 4xx problem; never a 5xx.
func FuzzCreateUserRequest(f *testing.F) {
	for _, seed := range []string{
		`{"username":"fuzzy","email":"fuzzy@example.com","password":"violet-canyon-drift-42"}`,
		`{"username":"a","email":"b","password":"c","role":"admin"}`,
		`{"username":"ok_name","email":"X@EXAMPLE.COM","password":"` + strings.Repeat("é", 20) + `","force_password_change":false}`,
		`{"username":null}`, `[]`, `{`, `""`, `{"username":"x","username":"y"}`, "{\"email\":\"a@b.c\u0000\"}",
		`{"password":"` + strings.Repeat("x", 300) + `"}`, `{"role":{"$ne":1}}`,
	} {
		f.Add(seed)
	}
	// One service and database for all inputs: creating them per input would
	// make the fuzzer a hundred times slower.
	e := newEnv(f)
	admin := e.rootClient()
	f.Fuzz(func(t *testing.T, body string) {
		r := admin.on(t).do("POST", "/api/v1/users", body, nil)
		switch {
		case r.status == http.StatusCreated:
			var u map[string]any
			if err := json.Unmarshal(r.body, &u); err != nil {
				t.Fatalf("201 with a body that is not JSON: %q", r.body)
			}
			name, _ := u["username"].(string)
			email, _ := u["email"].(string)
			if len(name) < 3 || len(name) > 50 || email != strings.ToLower(email) || !strings.Contains(email, "@") {
				t.Fatalf("created a user that breaks the rules: %s", r.body)
			}
		case r.status >= 400 && r.status < 500:
			expectProblem(t, r, r.status)
		default:
			t.Fatalf("body %q got %d: %s", body, r.status, r.body)
		}
	})
}

// fuzzStatusOK fails a fuzz iteration on a 5xx or a 4xx that is not a problem.
func fuzzStatusOK(t *testing.T, what string, r response) {
	t.Helper()
	switch {
	case r.status >= 500:
		t.Fatalf("%s: %d %s", what, r.status, r.body)
	case r.status >= 400 && strings.HasPrefix(r.header.Get("Content-Type"), "application/"):
		expectProblem(t, r, r.status)
	}
}

// FuzzJSONBodies sends arbitrary bodies to every other JSON endpoint: the
// token, patch, change-password and reset decoders. Never a 5xx.
func FuzzJSONBodies(f *testing.F) {
	seeds := []string{
		`{"login":"root","password":"x","name":"n"}`, `{"login":"r\u0000","password":"p"}`,
		`{"username":"new-name"}`, `{"email":"E@X.COM","role":"admin"}`, `{"role":"root"}`,
		`{"current_password":"a","new_password":"b"}`, `{"password":""}`, "{\"name\":\"\xff\"}",
		`{"login":1}`, `{}`, `null`, `{"a":`,
	}
	for i, s := range seeds {
		f.Add(uint8(i), s)
	}
	e := newEnv(f)
	admin := e.rootClient()
	target, _ := e.createUser("fuzz-target", "user")
	id := strconv.FormatInt(target.ID, 10)
	f.Fuzz(func(t *testing.T, route uint8, body string) {
		c := admin.on(t)
		switch route % 4 {
		case 0:
			fuzzStatusOK(t, "POST tokens "+body, e.anon().on(t).do("POST", "/api/v1/auth/tokens", body, nil))
		case 1:
			fuzzStatusOK(t, "PATCH user "+body, c.do("PATCH", "/api/v1/users/"+id, body, map[string]string{"If-Match": "*"}))
		case 2:
			fuzzStatusOK(t, "PUT password "+body, c.do("PUT", "/api/v1/users/"+strconv.FormatInt(e.root.ID, 10)+"/password", body, nil))
		case 3:
			fuzzStatusOK(t, "POST reset "+body, c.do("POST", "/api/v1/users/"+id+"/password-reset", body, nil))
		}
	})
}

// FuzzQueryAndHeaders throws arbitrary query values and header values at the
// parameters and headers the API reads. Never a 5xx.
func FuzzQueryAndHeaders(f *testing.F) {
	for _, s := range []string{"1", "-1", "2147483648", "9223372036854775808", "abc", "", "\x00", "\xff", `"3"`, "*", "W/\"1\""} {
		f.Add(s)
	}
	e := newEnv(f)
	admin := e.rootClient()
	f.Fuzz(func(t *testing.T, v string) {
		c := admin.on(t)
		q := url.QueryEscape(v)
		fuzzStatusOK(t, "audit before", c.do("GET", "/api/v1/audit?before="+q, nil, nil))
		fuzzStatusOK(t, "audit limit", c.do("GET", "/api/v1/audit?limit="+q, nil, nil))
		fuzzStatusOK(t, "users cursor", c.do("GET", "/api/v1/users?cursor="+q, nil, nil))
		fuzzStatusOK(t, "users limit", c.do("GET", "/api/v1/users?limit="+q, nil, nil))
		if !httpguts.ValidHeaderFieldValue(v) {
			return // the client cannot send it; the server would never see it
		}
		id := strconv.FormatInt(e.root.ID, 10)
		fuzzStatusOK(t, "If-Match", c.do("PATCH", "/api/v1/users/"+id, `{"email":"root@example.com"}`, map[string]string{"If-Match": v}))
		fuzzStatusOK(t, "User-Agent", e.anon().on(t).do("POST", "/api/v1/auth/tokens",
			map[string]any{"login": "root", "password": rootPassword}, map[string]string{"User-Agent": v}))
		fuzzStatusOK(t, "X-Request-ID", c.do("GET", "/api/v1/me", nil, map[string]string{"X-Request-ID": v}))
		fuzzStatusOK(t, "Authorization", e.anon().on(t).do("GET", "/api/v1/me", nil, map[string]string{"Authorization": v}))
	})
}

// FuzzForms posts arbitrary field values through the HTML forms (sign-in and
// create user, with a valid CSRF token). Never a 5xx.
func FuzzForms(f *testing.F) {
	for _, s := range []string{"root", "a\x00b", "\xff", "", strings.Repeat("x", 300)} {
		f.Add(s, s)
	}
	e := newEnv(f)
	admin := e.browserLogin("root", rootPassword)
	f.Fuzz(func(t *testing.T, a, b string) {
		anon := e.anon().on(t)
		anon.page("/login")
		fuzzStatusOK(t, "login form", anon.form("/login", url.Values{"login": {a}, "password": {b}}))
		c := admin.on(t)
		c.page("/users")
		fuzzStatusOK(t, "create form", c.form("/users", url.Values{"username": {a}, "email": {b}, "password": {b}, "role": {"user"}}))
	})
}
