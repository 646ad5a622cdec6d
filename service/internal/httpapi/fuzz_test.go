package httpapi_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
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
