package httpapi_test

import (
	"net/http"
	"strings"
	"testing"
)

// TestInternalErrorsAreOpaqueAndLogged breaks the database under a signed-in
// client: the client gets a generic 500 problem, the log gets the cause with
// the same request id.
func TestInternalErrorsAreOpaqueAndLogged(t *testing.T) {
	e := newEnv(t)
	admin := e.rootClient()
	admin.do("GET", "/api/v1/me", nil, nil) // authenticated once, so the auth cache holds the token
	e.pool.Close()

	r := admin.do("GET", "/api/v1/users", nil, nil)
	p := expectProblem(t, r, http.StatusInternalServerError)
	for _, leak := range []string{"pool", "closed", "pgx", "postgres", "sql"} {
		if strings.Contains(strings.ToLower(p["detail"].(string)), leak) {
			t.Fatalf("500 detail leaks %q: %s", leak, r.body)
		}
	}
	id := p["request_id"].(string)
	logs := e.logs.String()
	var line string
	for _, l := range strings.Split(logs, "\n") {
		if strings.Contains(l, id) && strings.Contains(l, `"status":500`) {
			line = l
		}
	}
	if line == "" || !strings.Contains(line, `"level":"ERROR"`) || !strings.Contains(line, `"error":`) {
		t.Fatalf("no error log line with request id %s and its cause:\n%s", id, logs)
	}

	// HTML pages show a friendly page, not the error.
	browser := e.anon()
	r = browser.do("GET", "/nowhere", nil, map[string]string{"Accept": "text/html"})
	if r.status != http.StatusNotFound || !strings.Contains(string(r.body), "Page not found") {
		t.Fatalf("HTML 404: %d", r.status)
	}
}
