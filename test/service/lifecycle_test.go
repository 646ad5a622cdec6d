package service

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/gruntwork-io/terratest/modules/retry"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gopherops/gopherops/service/pglocal"
	"github.com/gopherops/gopherops/service/pglocal/pgtest"

	"github.com/gopherops/gopherops/test/internal/gopherops"
	"github.com/gopherops/gopherops/test/journey"
)

// burst is a load of authenticated API requests from several workers, stopped
// the way a load balancer stops sending traffic: when /readyz fails.
type burst struct {
	ok      atomic.Int64
	afterOK atomic.Int64 // successes that started after SIGTERM
	mu      sync.Mutex
	lost    []string // every request that did not end in 200
	stopped chan struct{}
	wg      sync.WaitGroup
	termed  atomic.Bool
}

// startBurst runs workers that GET path with the bearer token until stop
// is closed.
func startBurst(base, token, path string, workers int) *burst {
	b := &burst{stopped: make(chan struct{})}
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: workers}}
	for range workers {
		b.wg.Add(1)
		go func() {
			defer b.wg.Done()
			for {
				select {
				case <-b.stopped:
					return
				default:
				}
				after := b.termed.Load()
				status, err := get(client, base+path, token)
				switch {
				case err != nil:
					b.lose(fmt.Sprintf("GET %s: %v", path, err))
				case status != http.StatusOK:
					b.lose(fmt.Sprintf("GET %s: status %d", path, status))
				default:
					b.ok.Add(1)
					if after {
						b.afterOK.Add(1)
					}
				}
			}
		}()
	}
	return b
}

func (b *burst) lose(what string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.lost = append(b.lost, what)
}

// stop ends the burst and waits for the workers' last requests.
func (b *burst) stop() {
	select {
	case <-b.stopped:
	default:
		close(b.stopped)
	}
	b.wg.Wait()
}

func get(client *http.Client, url, token string) (int, error) {
	req, err := http.NewRequestWithContext(context.Background(), http.MethodGet, url, nil)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		return 0, fmt.Errorf("read body: %w", err)
	}
	return resp.StatusCode, nil
}

// slowUpload is an avatar upload whose body is held back: the server's
// handler is running and reading it (the client got 100 Continue) until
// finish sends the rest.
type slowUpload struct {
	reading chan struct{} // closed when the handler asked for the body
	release chan struct{}
	done    chan struct{}
	status  int
	err     error
}

func startSlowUpload(t *testing.T, base, token string, userID int64, img []byte) *slowUpload {
	t.Helper()
	u := &slowUpload{reading: make(chan struct{}), release: make(chan struct{}), done: make(chan struct{})}
	pr, pw := io.Pipe()
	go func() {
		<-u.release
		_, _ = pw.Write(img)
		_ = pw.Close()
	}()
	var once sync.Once
	trace := &httptrace.ClientTrace{Got100Continue: func() { once.Do(func() { close(u.reading) }) }}
	req, err := http.NewRequestWithContext(httptrace.WithClientTrace(context.Background(), trace),
		http.MethodPut, base+"/api/v1/users/"+strconv.FormatInt(userID, 10)+"/avatar", pr)
	require.NoError(t, err)
	req.ContentLength = int64(len(img))
	req.Header.Set("Content-Type", "image/png")
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Expect", "100-continue")
	client := &http.Client{Timeout: time.Minute, Transport: &http.Transport{ExpectContinueTimeout: time.Minute}}
	go func() {
		defer close(u.done)
		resp, err := client.Do(req)
		if err != nil {
			u.err = err
			return
		}
		defer resp.Body.Close()
		_, _ = io.Copy(io.Discard, resp.Body)
		u.status = resp.StatusCode
	}()
	return u
}

// TestSIGTERMLosesNoRequests sends SIGTERM to the server in the middle of a
// burst of requests and while an upload is half sent. Readiness must fail at
// once; requests keep being served during SHUTDOWN_DELAY; then the listeners
// close, the upload in flight still completes, and the process exits 0.
// Not one request may fail.
func TestSIGTERMLosesNoRequests(t *testing.T) {
	bin := gopherops.Build(t)
	env := serviceEnv(t, pgtest.NewDatabase(t))
	attachPostgresLog(t, pgtest.ServerLog())
	admin := createAdmin(t, bin, env)
	srv := bin.Serve(t, env)
	tok := journey.SignIn(t, srv.BaseURL, admin)

	load := startBurst(srv.BaseURL, tok.Token, "/api/v1/me", 8)
	defer load.stop()
	waitFor(t, "the burst is under way", func() bool { return load.ok.Load() >= 200 })

	upload := startSlowUpload(t, srv.BaseURL, tok.Token, tok.User.ID, journey.PNG(t, 256, 256))
	select {
	case <-upload.reading:
	case <-upload.done:
		t.Fatalf("the upload ended before the server read its body: status %d, %v", upload.status, upload.err)
	case <-time.After(30 * time.Second):
		t.Fatal("the server never asked for the upload's body (no 100 Continue)")
	}

	// SIGTERM, and watch /readyz as a load balancer would.
	terminated := time.Now()
	load.termed.Store(true)
	srv.Signal(t, syscall.SIGTERM)
	probe := &http.Client{Timeout: time.Second}
	var unready time.Duration
	waitFor(t, "/readyz fails after SIGTERM", func() bool {
		resp, err := probe.Get(srv.BaseURL + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		if resp.StatusCode == http.StatusServiceUnavailable {
			unready = time.Since(terminated)
			return true
		}
		return false
	})
	// A balancer notices a failing instance only after a probe interval or
	// two, so traffic goes on a little longer, well within SHUTDOWN_DELAY.
	waitFor(t, "requests are served after SIGTERM", func() bool {
		return load.afterOK.Load() >= 50 || time.Since(terminated) > 500*time.Millisecond
	})
	load.stop() // the balancer has taken this instance out of rotation
	assert.Less(t, unready, time.Second, "readiness must fail before SHUTDOWN_DELAY (1s) ends")
	assert.Positive(t, load.afterOK.Load(), "requests keep being served after SIGTERM while traffic drains")

	// Then the listeners close, while the upload is still in flight.
	waitFor(t, "the listener closes", func() bool {
		c, err := net.DialTimeout("tcp", srv.HTTPAddr, time.Second)
		if err != nil {
			return true
		}
		c.Close()
		return false
	})
	require.False(t, srv.Exited(), "the process waits for the request in flight")
	close(upload.release)
	<-upload.done
	require.NoError(t, upload.err, "the upload in flight at shutdown")
	assert.Equal(t, http.StatusOK, upload.status, "the upload in flight at shutdown completes")

	assert.Equal(t, 0, srv.Wait(t, 15*time.Second), "serve exits 0 after a clean drain")
	load.mu.Lock()
	defer load.mu.Unlock()
	assert.Empty(t, load.lost, "requests lost to the shutdown (of %d served)", load.ok.Load())
	t.Logf("%d requests served, %d of them after SIGTERM; readiness failed %s after SIGTERM",
		load.ok.Load(), load.afterOK.Load(), unready.Round(time.Millisecond))
}

// TestReadinessFollowsDatabase stops PostgreSQL under a running server:
// /readyz turns 503 while /healthz stays 200 (no restart wanted), and once the
// database is back the same process is ready again and serves with the
// tokens it had.
func TestReadinessFollowsDatabase(t *testing.T) {
	bin := gopherops.Build(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	pg, err := pglocal.Start(ctx, pglocal.Options{})
	require.NoError(t, err)
	t.Cleanup(func() { _ = pg.Close() })
	attachPostgresLog(t, pg.LogPath())
	require.NoError(t, pg.CreateDatabase(ctx, "gopherops", ""))

	env := serviceEnv(t, pg.URL("gopherops"))
	bin.MustRun(t, env, "", "migrate", "up")
	admin := createAdmin(t, bin, env)
	srv := bin.Serve(t, env)
	pid := srv.Pid()
	tok := journey.SignIn(t, srv.BaseURL, admin)
	client := journey.NewClient(srv.BaseURL)
	user := client.WithBearer(tok.Token, "admin")

	require.NoError(t, pg.Stop())
	srv.WaitStatus(t, "/readyz", http.StatusServiceUnavailable, 30*time.Second)
	var body struct {
		Status string `json:"status"`
		Reason string `json:"reason"`
	}
	client.Get(t, "/readyz").ExpectJSON(t, http.StatusServiceUnavailable, &body)
	assert.Equal(t, "unavailable", body.Status)
	assert.Contains(t, body.Reason, "database")
	client.Get(t, "/healthz").Expect(t, http.StatusOK) // liveness must not restart it for this
	resp := user.Get(t, "/api/v1/me")
	assert.GreaterOrEqual(t, resp.Status, 500, "with the database down an authenticated request cannot succeed:\n%s", resp)
	resp.ExpectProblem(t, resp.Status)

	require.NoError(t, pg.Start(ctx))
	srv.WaitStatus(t, "/readyz", http.StatusOK, time.Minute)
	user.Get(t, "/api/v1/me").Expect(t, http.StatusOK)
	assert.Equal(t, pid, srv.Pid(), "the same process recovered")
	assert.False(t, srv.Exited(), "the server never exited")
}

// waitFor polls cond every 25 ms for up to 30 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	_, err := retry.DoWithRetryContextE(t, context.Background(), what, 1200, 25*time.Millisecond, func() (string, error) {
		if cond() {
			return "", nil
		}
		return "", errors.New("not yet")
	})
	require.NoError(t, err, what)
}
