package abuse

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"sync"
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
// 5 s, from the same process. A client writing all along loses none of the
// writes it was told succeeded.
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

	// A client keeps writing through the outage; every write acknowledged
	// with a 2xx must be there afterwards.
	target := st.newMember(t, "writes", "user")
	w := startWriter(st.root, target.user)
	defer w.halt()
	waitAcked(t, w, 5)

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
	waitAcked(t, w, len(w.snapshot().acked)+5)
	w.halt()
	got := w.snapshot()
	var u journey.User
	st.root.get(t, target.user.Path()).ExpectJSON(t, http.StatusOK, &u)
	t.Logf("writes through the outage: %d attempted, %d acknowledged, %d answered 5xx (%v), %d transport errors; final version %d",
		got.attempts, len(got.acked), got.fivexx, got.statuses, got.errs, u.Version)
	for status, k := range got.statuses {
		assert.False(t, status >= 500 && status != http.StatusServiceUnavailable, "%d writes answered %d during the outage; unavailable is 503", k, status)
	}
	assert.GreaterOrEqual(t, u.Version-1, len(got.acked), "every acknowledged write is stored (one version each)")
	lastAcked := got.acked[len(got.acked)-1]
	n, ok := writeIndex(u.Email)
	require.True(t, ok, "the account holds one of the writer's emails: %s", u.Email)
	assert.GreaterOrEqual(t, n, lastAcked, "the last acknowledged write (or a later one) is what is stored")
	assert.Equal(t, pid, st.srv.Pid(), "the same process recovered")
	assert.False(t, st.srv.Exited(), "the server never exited")
}

// writer changes one account's email over and over, one request at a time,
// as a client would, and records which writes were acknowledged.
type writer struct {
	stop chan struct{}
	done chan struct{}
	once sync.Once

	mu       sync.Mutex
	attempts int
	acked    []int // indexes of the writes answered 2xx, in order
	fivexx   int
	statuses map[int]int
	errs     int
}

// writerEmail is the email of write n.
func writerEmail(n int) string { return fmt.Sprintf("write-%d@example.com", n) }

// writeIndex returns n of writerEmail(n).
func writeIndex(email string) (int, bool) {
	s, ok := strings.CutPrefix(email, "write-")
	if !ok {
		return 0, false
	}
	s, ok = strings.CutSuffix(s, "@example.com")
	if !ok {
		return 0, false
	}
	n, err := strconv.Atoi(s)
	return n, err == nil
}

// startWriter patches u's email with c until halt, with the tag of the
// version it last saw in If-Match. After a write that was not acknowledged
// (it may or may not have been applied) it reads the tag again.
func startWriter(c *caller, u journey.User) *writer {
	w := &writer{stop: make(chan struct{}), done: make(chan struct{}), statuses: map[int]int{}}
	go func() {
		defer close(w.done)
		tag := ""
		for n := 1; ; n++ {
			select {
			case <-w.stop:
				return
			default:
			}
			time.Sleep(20 * time.Millisecond)
			if tag == "" {
				r, err := c.DoE(journey.Request{Method: http.MethodGet, Path: u.Path()})
				if err != nil || r.Status != http.StatusOK {
					continue
				}
				tag = r.Header.Get("ETag")
			}
			r, err := c.DoE(journey.Request{Method: http.MethodPatch, Path: u.Path(),
				JSON: map[string]string{"email": writerEmail(n)}, Header: map[string]string{"If-Match": tag}})
			w.mu.Lock()
			w.attempts++
			tag = ""
			switch {
			case err != nil:
				w.errs++
			default:
				w.statuses[r.Status]++
				if r.Status >= 200 && r.Status < 300 {
					w.acked = append(w.acked, n)
					tag = r.Header.Get("ETag")
				}
				if r.Status >= 500 {
					w.fivexx++
				}
			}
			w.mu.Unlock()
		}
	}()
	return w
}

// halt stops the writer and waits for its last request.
func (w *writer) halt() {
	w.once.Do(func() { close(w.stop) })
	<-w.done
}

// writerState is a copy of a writer's tallies.
type writerState struct {
	attempts, fivexx, errs int
	acked                  []int
	statuses               map[int]int
}

func (w *writer) snapshot() writerState {
	w.mu.Lock()
	defer w.mu.Unlock()
	st := writerState{attempts: w.attempts, fivexx: w.fivexx, errs: w.errs,
		acked: append([]int(nil), w.acked...), statuses: map[int]int{}}
	for k, v := range w.statuses {
		st.statuses[k] = v
	}
	return st
}

// waitAcked waits up to 10 s until the writer has n acknowledged writes.
func waitAcked(t *testing.T, w *writer, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if len(w.snapshot().acked) >= n {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	s := w.snapshot()
	t.Fatalf("the writer got %d of %d writes acknowledged in 10 s (answers %v, %d transport errors)", len(s.acked), n, s.statuses, s.errs)
}
