package api_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/gopherops/gopherops/service/internal/apptest"
)

// TestInternalErrorsAreOpaqueAndLogged breaks the schema under a signed-in
// client (a column the query reads renamed, as a migration gone wrong would):
// the client gets a generic 500 problem, the log gets the cause with the same
// request id. (A closed pool or a database that is down is a 503, not a 500:
// store.TestMapError.)
func TestInternalErrorsAreOpaqueAndLogged(t *testing.T) {
	e := apptest.New(t)
	admin := e.RootClient()
	admin.Do("GET", "/api/v1/me", nil, nil) // authenticated once, so the auth cache holds the token
	if _, err := e.Pool.Exec(context.Background(), `ALTER TABLE users RENAME COLUMN email TO email_renamed`); err != nil {
		t.Fatal(err)
	}

	r := admin.Do("GET", "/api/v1/users", nil, nil)
	p := apptest.ExpectProblem(t, r, http.StatusInternalServerError)
	for _, leak := range []string{"email_renamed", "column", "pgx", "postgres", "sql"} {
		if strings.Contains(strings.ToLower(p["detail"].(string)), leak) {
			t.Fatalf("500 detail leaks %q: %s", leak, r.Body)
		}
	}
	id := p["request_id"].(string)
	logs := e.Logs.String()
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
	browser := e.Anon()
	r = browser.Do("GET", "/nowhere", nil, map[string]string{"Accept": "text/html"})
	if r.Status != http.StatusNotFound || !strings.Contains(string(r.Body), "Page not found") {
		t.Fatalf("HTML 404: %d", r.Status)
	}
}
