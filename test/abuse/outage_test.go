package abuse

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"mime"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gopherops/gopherops/service/pglocal"

	"github.com/gopherops/gopherops/test/internal/gopherops"
	"github.com/gopherops/gopherops/test/journey"
)

// recoveryBound is how soon after PostgreSQL is back a request must succeed.
const recoveryBound = 5 * time.Second

// TestDatabaseOutageIs503 stops PostgreSQL under a running server: API
// requests that need it answer 503 problem+json with Retry-After (the
// service is unavailable, not broken), a page answers 503 with an HTML page,
// readiness is 503; and once PostgreSQL is back, a request succeeds within
// 5 s, from the same process.
func TestDatabaseOutageIs503(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	pg, err := pglocal.Start(ctx, pglocal.Options{})
	require.NoError(t, err)
	t.Cleanup(func() { _ = pg.Close() })
	attachPostgresLog(t, pg.LogPath())
	require.NoError(t, pg.CreateDatabase(ctx, "gopherops", ""))
	dbURL := pg.URL("gopherops")
	gopherops.Build(t).MustRun(t, gopherops.Env{"APP_ENV": "test", "DATABASE_URL": dbURL}, "", "migrate", "up")

	st := newStackOn(t, dbURL)
	pid := st.srv.Pid()
	browser := st.browserSignIn(t, st.admin, nil)
	browser.do(t, journey.Request{Method: http.MethodGet, Path: "/users", Header: map[string]string{"Accept": "text/html"}}).
		ExpectHTML(t, http.StatusOK)
	st.root.get(t, "/api/v1/users").Expect(t, http.StatusOK)

	require.NoError(t, pg.Stop())
	st.srv.WaitStatus(t, "/readyz", http.StatusServiceUnavailable, 30*time.Second)

	var unknown [16]byte
	_, _ = rand.Read(unknown[:])
	stranger := st.from(t).withBearer("gpt_" + hex.EncodeToString(unknown[:]))
	for _, c := range []struct {
		name string
		send func() *journey.Response
	}{
		{"list users", func() *journey.Response { return st.root.get(t, "/api/v1/users") }},
		{"get a user", func() *journey.Response { return st.root.get(t, st.rootUser.Path()) }},
		{"sign in", func() *journey.Response { return st.from(t).trySignIn(t, st.admin) }},
		{"a token that must be looked up", func() *journey.Response { return stranger.get(t, "/api/v1/me") }},
		{"audit trail", func() *journey.Response { return st.root.get(t, "/api/v1/audit") }},
	} {
		r := c.send()
		if assert.Equal(t, http.StatusServiceUnavailable, r.Status, "%s with the database down:\n%s", c.name, r) {
			problemOf(t, r)
			retryAfter(t, r)
		}
	}

	r := browser.do(t, journey.Request{Method: http.MethodGet, Path: "/users", Header: map[string]string{"Accept": "text/html"}})
	assert.Equal(t, http.StatusServiceUnavailable, r.Status, "the users page with the database down:\n%s", r)
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	assert.Equal(t, "text/html", mt, "a page answers with an HTML page:\n%s", r)
	assert.Equal(t, http.StatusServiceUnavailable, st.from(t).get(t, "/readyz").Status, "readiness")
	assert.Equal(t, http.StatusOK, st.from(t).get(t, "/healthz").Status, "liveness does not ask for a restart")

	require.NoError(t, pg.Start(ctx))
	back := time.Now()
	var last *journey.Response
	for time.Since(back) < recoveryBound {
		last = st.root.get(t, "/api/v1/users")
		if last.Status == http.StatusOK {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	recovered := time.Since(back)
	require.Equal(t, http.StatusOK, last.Status, "a request succeeds within %s of PostgreSQL's return:\n%s", recoveryBound, last)
	t.Logf("first 200 %s after PostgreSQL was back", recovered.Round(time.Millisecond))
	assert.Equal(t, pid, st.srv.Pid(), "the same process recovered")
	assert.False(t, st.srv.Exited(), "the server never exited")
}
