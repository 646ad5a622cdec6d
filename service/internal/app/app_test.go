package app_test

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/gopherops/gopherops/service/internal/app"
	"github.com/gopherops/gopherops/service/internal/apptest"
	"github.com/gopherops/gopherops/service/internal/config"
	"github.com/gopherops/gopherops/service/internal/password"
	"github.com/gopherops/gopherops/service/pglocal"
	"github.com/gopherops/gopherops/service/pglocal/pgtest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

type running struct {
	base   string
	admin  string
	cancel context.CancelFunc
	done   chan error
}

// serve runs app.Serve in-process on loopback listeners, as `gopherops serve` would.
func serve(t *testing.T, dbURL string, delay time.Duration) *running {
	t.Helper()
	return serveWith(t, map[string]string{"APP_ENV": "test", "DATABASE_URL": dbURL, "SHUTDOWN_DELAY": delay.String()}, app.Options{})
}

// serveWith is serve with extra environment (over the test defaults) and options.
func serveWith(t *testing.T, extra map[string]string, o app.Options) *running {
	t.Helper()
	return serveLogging(t, extra, o, io.Discard)
}

// serveLogging is serveWith whose log (JSON lines) goes to logs.
func serveLogging(t *testing.T, extra map[string]string, o app.Options, logs io.Writer) *running {
	t.Helper()
	env := map[string]string{
		"BLOB_STORE":       "file://" + t.TempDir(),
		"SESSION_KEY":      base64.StdEncoding.EncodeToString([]byte("0123456789abcdef0123456789abcdef")),
		"SHUTDOWN_TIMEOUT": "10s", "MIGRATE_ON_START": "true",
	}
	for k, v := range extra {
		env[k] = v
	}
	cfg, err := config.Load(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	httpL, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	adminL, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{base: "http://" + httpL.Addr().String(), admin: "http://" + adminL.Addr().String(), cancel: cancel, done: make(chan error, 1)}
	fast := password.FastParams
	o.PasswordParams = &fast
	log := slog.New(slog.NewJSONHandler(logs, nil))
	go func() {
		r.done <- app.Serve(ctx, cfg, log, app.Listeners{HTTP: httpL, Admin: adminL}, o)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-r.done:
			if err != nil {
				t.Errorf("Serve: %v", err)
			}
		case <-time.After(20 * time.Second):
			t.Error("server did not stop")
		}
	})
	waitStatus(t, r.base+"/readyz", http.StatusOK, 30*time.Second)
	return r
}

func status(url string) int {
	c := http.Client{Timeout: 3 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

// waitStatus polls url until it answers want, within limit.
func waitStatus(t *testing.T, url string, want int, limit time.Duration) {
	t.Helper()
	deadline := time.Now().Add(limit)
	last := 0
	for time.Now().Before(deadline) {
		if last = status(url); last == want {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("%s answered %d, want %d within %s", url, last, want, limit)
}

func TestGracefulShutdownFinishesInFlightRequests(t *testing.T) {
	r := serve(t, pgtest.NewEmptyDatabase(t), 1500*time.Millisecond)

	// A request whose body is still arriving when SIGTERM lands.
	conn, err := net.Dial("tcp", strings.TrimPrefix(r.base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	body := `{"login":"nobody","password":"not-a-real-password"}`
	fmt.Fprintf(conn, "POST /api/v1/auth/tokens HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", len(body), body[:10])

	// A steady burst of requests on keep-alive connections around the signal.
	var wg sync.WaitGroup
	var mu sync.Mutex
	failures := []string{}
	stop := make(chan struct{})
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := http.Client{Timeout: 5 * time.Second}
			for {
				select {
				case <-stop:
					return
				default:
				}
				resp, err := c.Get(r.base + "/healthz")
				if err != nil {
					// Refused connections after the listener closed are not lost
					// requests: they were never accepted.
					if strings.Contains(err.Error(), "connection refused") {
						return
					}
					mu.Lock()
					failures = append(failures, err.Error())
					mu.Unlock()
					return
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					mu.Lock()
					failures = append(failures, resp.Status)
					mu.Unlock()
				}
			}
		}()
	}
	time.Sleep(200 * time.Millisecond)
	r.cancel() // what SIGTERM does through signal.NotifyContext

	// Readiness fails at once, while the listener is still open for the delay.
	waitStatus(t, r.base+"/readyz", http.StatusServiceUnavailable, time.Second)

	// The slow request completes after the listener has closed.
	time.Sleep(1700 * time.Millisecond)
	if _, err := conn.Write([]byte(body[10:])); err != nil {
		t.Fatalf("in-flight request cut off: %v", err)
	}
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("no response to the in-flight request: %v", err)
	}
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("in-flight request answered %d, want 401", resp.StatusCode)
	}
	close(stop)
	wg.Wait()
	if len(failures) > 0 {
		t.Fatalf("%d requests lost during shutdown: %v", len(failures), failures[:min(3, len(failures))])
	}
	select {
	case err := <-r.done:
		if err != nil {
			t.Fatalf("Serve returned %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("Serve did not return after the drain")
	}
	r.done <- nil // for the cleanup
}

// TestShutdownCutsRequestsStuckPastTheDeadline: requests still waiting on
// the database when the drain's deadline passes are cut, so the pool can
// close and the process exits instead of hanging until it is killed.
func TestShutdownCutsRequestsStuckPastTheDeadline(t *testing.T) {
	ctx := context.Background()
	db := pgtest.NewEmptyDatabase(t)
	logs := &apptest.SyncBuffer{}
	r := serveLogging(t, map[string]string{"APP_ENV": "test", "DATABASE_URL": db, "SHUTDOWN_DELAY": "0s",
		"SHUTDOWN_TIMEOUT": "1s"}, app.Options{}, logs)

	// Another session holds the users table, as a long migration or a
	// stuck transaction would; sign-ins wait for it, several at once.
	locker, err := pgx.Connect(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	defer locker.Close(ctx)
	tx, err := locker.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = tx.Rollback(ctx) }()
	if _, err := tx.Exec(ctx, "LOCK TABLE users IN ACCESS EXCLUSIVE MODE"); err != nil {
		t.Fatal(err)
	}
	const stuck = 6
	answered := make(chan error, stuck)
	for range stuck {
		go func() {
			c := http.Client{Timeout: 30 * time.Second}
			resp, err := c.Post(r.base+"/api/v1/auth/tokens", "application/json",
				strings.NewReader(`{"login":"someone","password":"a-password-long-enough"}`))
			if err == nil {
				resp.Body.Close()
			}
			answered <- err
		}()
	}
	// Every sign-in is waiting on the lock.
	deadline := time.Now().Add(10 * time.Second)
	for {
		var waiting int
		if err := locker.QueryRow(ctx, `SELECT count(*) FROM pg_locks
			WHERE NOT granted AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`).Scan(&waiting); err != nil {
			t.Fatal(err)
		}
		if waiting >= stuck {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d sign-ins waited on the lock", waiting, stuck)
		}
		time.Sleep(20 * time.Millisecond)
	}

	started := time.Now()
	r.cancel()
	select {
	case err := <-r.done:
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Serve returned %v, want the drain's deadline", err)
		}
		t.Logf("Serve returned %s after the signal", time.Since(started).Round(time.Millisecond))
	case <-time.After(15 * time.Second):
		_ = tx.Rollback(ctx) // let it finish, so the test can end
		t.Fatal("Serve still running 15s after the signal, with a 1s shutdown timeout: the stuck request holds the pool")
	}
	r.done <- nil // for the cleanup
	for range stuck {
		select {
		case err := <-answered: // cut: an error or an answer, not a wait for the lock
			t.Logf("a stuck request ended with %v", err)
		case <-time.After(5 * time.Second):
			t.Fatal("a stuck request was not cut")
		}
	}
	// The server cut them: their access lines say 503, not a client's 499.
	var lines []map[string]any
	for deadline := time.Now().Add(5 * time.Second); len(lines) < stuck && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		lines = lines[:0]
		for _, l := range strings.Split(logs.String(), "\n") {
			var m map[string]any
			if json.Unmarshal([]byte(l), &m) == nil && m["route"] == "/api/v1/auth/tokens" {
				lines = append(lines, m)
			}
		}
	}
	if len(lines) != stuck {
		t.Fatalf("%d access lines for %d cut requests:\n%s", len(lines), stuck, logs.String())
	}
	for _, line := range lines {
		if line["status"] != float64(http.StatusServiceUnavailable) {
			t.Errorf("a cut request was logged with status %v, want 503: %v", line["status"], line)
		}
	}
}

func TestReadinessFollowsTheDatabase(t *testing.T) {
	ctx := context.Background()
	srv, err := pglocal.Start(ctx, pglocal.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	if err := srv.CreateDatabase(ctx, "app", ""); err != nil {
		t.Fatal(err)
	}
	r := serve(t, srv.URL("app"), 0)

	if err := srv.Stop(); err != nil {
		t.Fatal(err)
	}
	waitStatus(t, r.base+"/readyz", http.StatusServiceUnavailable, 5*time.Second)
	if got := status(r.base + "/healthz"); got != http.StatusOK {
		t.Fatalf("liveness must not depend on the database: %d", got)
	}
	// The API says the outage is temporary (503, Retry-After), not a bug.
	signIn := func() *http.Response {
		resp, err := http.Post(r.base+"/api/v1/auth/tokens", "application/json",
			strings.NewReader(`{"login":"nobody","password":"a long enough wrong password"}`))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	if resp := signIn(); resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" ||
		!strings.HasPrefix(resp.Header.Get("Content-Type"), "application/problem+json") {
		t.Fatalf("sign-in while the database is down: %d, Retry-After %q, %s, want a 503 problem",
			resp.StatusCode, resp.Header.Get("Retry-After"), resp.Header.Get("Content-Type"))
	}
	if err := srv.Start(ctx); err != nil {
		t.Fatal(err)
	}
	back := time.Now()
	for signIn().StatusCode != http.StatusUnauthorized {
		if time.Since(back) > 5*time.Second {
			t.Fatal("the API did not answer from the database within 5 s of its return")
		}
		time.Sleep(100 * time.Millisecond)
	}
	// The same process recovers: the pool reconnects on its own.
	waitStatus(t, r.base+"/readyz", http.StatusOK, 15*time.Second)
	if got := status(r.admin + "/metrics"); got != http.StatusOK {
		t.Fatalf("metrics: %d", got)
	}
}
