package app_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/gopherops/gopherops/service/internal/app"
	"github.com/gopherops/gopherops/service/internal/apptest"
	"github.com/gopherops/gopherops/service/pglocal/pgtest"
)

var devPassword = regexp.MustCompile(`(?m)^\s*password: (\S+)$`)

// TestServeCreatesTheDevelopmentAdminOnce is compose's first sign-in: serve
// with CREATE_DEV_ADMIN prints a working password on the first start and
// never again.
func TestServeCreatesTheDevelopmentAdminOnce(t *testing.T) {
	dbURL := pgtest.NewEmptyDatabase(t)
	env := map[string]string{"APP_ENV": "development", "DATABASE_URL": dbURL, "CREATE_DEV_ADMIN": "true"}

	var password string
	t.Run("first start prints the password once", func(t *testing.T) {
		var out apptest.SyncBuffer
		r := serveWith(t, env, app.Options{Stdout: &out})
		m := devPassword.FindAllStringSubmatch(out.String(), -1)
		if len(m) != 1 {
			t.Fatalf("want the password printed exactly once, got %d times in:\n%s", len(m), out.String())
		}
		password = m[0][1]
		body, _ := json.Marshal(map[string]string{"login": "admin", "password": password})
		resp, err := http.Post(r.base+"/api/v1/auth/tokens", "application/json", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusCreated {
			t.Fatalf("sign-in with the printed password: %d, want 201", resp.StatusCode)
		}
	})
	t.Run("a restart prints no password", func(t *testing.T) {
		var out apptest.SyncBuffer
		serveWith(t, env, app.Options{Stdout: &out})
		if devPassword.MatchString(out.String()) || (password != "" && strings.Contains(out.String(), password)) {
			t.Fatalf("a restart printed a password:\n%s", out.String())
		}
		if !strings.Contains(out.String(), "Users already exist") {
			t.Fatalf("a restart should say the admin exists, printed:\n%s", out.String())
		}
	})
}
