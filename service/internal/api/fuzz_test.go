package api_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/gopherops/gopherops/service/internal/apptest"
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
	e := apptest.New(f)
	admin := e.RootClient()
	f.Fuzz(func(t *testing.T, body string) {
		r := admin.On(t).Do("POST", "/api/v1/users", body, nil)
		switch {
		case r.Status == http.StatusCreated:
			var u map[string]any
			if err := json.Unmarshal(r.Body, &u); err != nil {
				t.Fatalf("201 with a body that is not JSON: %q", r.Body)
			}
			name, _ := u["username"].(string)
			email, _ := u["email"].(string)
			if len(name) < 3 || len(name) > 50 || email != strings.ToLower(email) || !strings.Contains(email, "@") {
				t.Fatalf("created a user that breaks the rules: %s", r.Body)
			}
		case r.Status >= 400 && r.Status < 500:
			apptest.ExpectProblem(t, r, r.Status)
		default:
			t.Fatalf("body %q got %d: %s", body, r.Status, r.Body)
		}
	})
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
	e := apptest.New(f)
	admin := e.RootClient()
	target, _ := e.CreateUser("fuzz-target", "user")
	id := strconv.FormatInt(target.ID, 10)
	f.Fuzz(func(t *testing.T, route uint8, body string) {
		c := admin.On(t)
		switch route % 4 {
		case 0:
			apptest.NoServerError(t, "POST tokens "+body, e.Anon().On(t).Do("POST", "/api/v1/auth/tokens", body, nil))
		case 1:
			apptest.NoServerError(t, "PATCH user "+body, c.Do("PATCH", "/api/v1/users/"+id, body, map[string]string{"If-Match": "*"}))
		case 2:
			apptest.NoServerError(t, "PUT password "+body, c.Do("PUT", "/api/v1/users/"+strconv.FormatInt(e.Root.ID, 10)+"/password", body, nil))
		case 3:
			apptest.NoServerError(t, "POST reset "+body, c.Do("POST", "/api/v1/users/"+id+"/password-reset", body, nil))
		}
	})
}

// FuzzQueryAndHeaders throws arbitrary query values and header values at the
// parameters and headers the API reads. Never a 5xx.
func FuzzQueryAndHeaders(f *testing.F) {
	for _, s := range []string{"1", "-1", "2147483648", "9223372036854775808", "abc", "", "\x00", "\xff", `"3"`, "*", "W/\"1\""} {
		f.Add(s)
	}
	e := apptest.New(f)
	admin := e.RootClient()
	f.Fuzz(func(t *testing.T, v string) {
		c := admin.On(t)
		q := url.QueryEscape(v)
		apptest.NoServerError(t, "audit before", c.Do("GET", "/api/v1/audit?before="+q, nil, nil))
		apptest.NoServerError(t, "audit limit", c.Do("GET", "/api/v1/audit?limit="+q, nil, nil))
		apptest.NoServerError(t, "users cursor", c.Do("GET", "/api/v1/users?cursor="+q, nil, nil))
		apptest.NoServerError(t, "users limit", c.Do("GET", "/api/v1/users?limit="+q, nil, nil))
		if !httpguts.ValidHeaderFieldValue(v) {
			return // the client cannot send it; the server would never see it
		}
		id := strconv.FormatInt(e.Root.ID, 10)
		apptest.NoServerError(t, "If-Match", c.Do("PATCH", "/api/v1/users/"+id, `{"email":"root@example.com"}`, map[string]string{"If-Match": v}))
		apptest.NoServerError(t, "User-Agent", e.Anon().On(t).Do("POST", "/api/v1/auth/tokens",
			map[string]any{"login": "root", "password": apptest.RootPassword}, map[string]string{"User-Agent": v}))
		apptest.NoServerError(t, "X-Request-ID", c.Do("GET", "/api/v1/me", nil, map[string]string{"X-Request-ID": v}))
		apptest.NoServerError(t, "Authorization", e.Anon().On(t).Do("GET", "/api/v1/me", nil, map[string]string{"Authorization": v}))
	})
}
