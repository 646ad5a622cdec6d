// Command loadbench is `make bench`: a closed-loop load run against the real
// gopherops binary and a real PostgreSQL. It measures GET a user by id (bearer
// token), the HTML users list page and user creation, and, in the same run,
// the same GET-by-id query through a bare net/http handler in the same server
// process on the same pool (no router, middleware or auth), so full/bare shows
// what they cost.
package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gopherops/gopherops/service/pglocal"
)

type options struct {
	conns    int
	duration time.Duration
	warmup   time.Duration
	binary   string
	poolSize int
	profile  string
}

func main() {
	var o options
	flag.IntVar(&o.conns, "c", 64, "concurrent connections")
	flag.DurationVar(&o.duration, "d", 10*time.Second, "measured duration of each scenario")
	flag.DurationVar(&o.warmup, "warmup", 2*time.Second, "unmeasured warm-up of each scenario")
	flag.StringVar(&o.binary, "bin", "", "gopherops binary (default: build one)")
	flag.IntVar(&o.poolSize, "pool", 8, "DATABASE_MAX_CONNS for the service and the bare handler")
	flag.StringVar(&o.profile, "cpuprofile", "", "write the server's CPU profile during the full-stack GET scenario to this file")
	flag.Parse()
	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, "loadbench:", err)
		os.Exit(1)
	}
}

func run(o options) error {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	work, err := os.MkdirTemp("", "loadbench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)

	dbURL := os.Getenv("DATABASE_URL")
	if dbURL == "" {
		srv, err := pglocal.Start(ctx, pglocal.Options{})
		if err != nil {
			return err
		}
		defer srv.Close()
		if err := srv.CreateDatabase(ctx, "bench", ""); err != nil {
			return err
		}
		dbURL = srv.URL("bench")
	}
	bin := o.binary
	if bin == "" {
		bin = filepath.Join(work, "gopherops")
		fmt.Println("building gopherops...")
		build := exec.Command("go", "build", "-o", bin, "github.com/gopherops/gopherops/service/cmd/gopherops")
		build.Stdout, build.Stderr = os.Stdout, os.Stderr
		if err := build.Run(); err != nil {
			return fmt.Errorf("build: %w", err)
		}
	}
	httpPort, adminPort := freePort(), freePort()
	env := append(os.Environ(),
		"APP_ENV=test", "DATABASE_URL="+dbURL, "HTTP_ADDR=127.0.0.1:"+strconv.Itoa(httpPort),
		"ADMIN_ADDR=127.0.0.1:"+strconv.Itoa(adminPort), "BLOB_STORE=file://"+filepath.Join(work, "blobs"),
		"SESSION_KEY="+base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{9}, 32)),
		"DATABASE_MAX_CONNS="+strconv.Itoa(o.poolSize), "LOG_FORMAT=json", "MIGRATE_ON_START=false")
	must := func(args ...string) error {
		cmd := exec.Command(bin, args...)
		cmd.Env = append(env, "ADMIN_PASSWORD=long-admin-password-for-load")
		out, err := cmd.CombinedOutput()
		if err != nil {
			return fmt.Errorf("gopherops %v: %w: %s", args, err, out)
		}
		return nil
	}
	if err := must("migrate", "up"); err != nil {
		return err
	}
	if err := must("admin", "create", "--username", "bench", "--email", "bench@example.com"); err != nil {
		return err
	}
	logFile, err := os.Create(filepath.Join(work, "serve.log"))
	if err != nil {
		return err
	}
	serve := exec.Command(bin, "serve")
	serve.Env, serve.Stdout, serve.Stderr = env, logFile, logFile
	if err := serve.Start(); err != nil {
		return err
	}
	defer func() { _ = serve.Process.Signal(os.Interrupt); _ = serve.Wait() }()
	base := "http://127.0.0.1:" + strconv.Itoa(httpPort)
	if err := waitReady(base + "/readyz"); err != nil {
		return err
	}

	client := newClient(o.conns)
	token, err := login(client, base)
	if err != nil {
		return err
	}
	ids, err := seedUsers(client, base, token, 200)
	if err != nil {
		return err
	}
	cookies, err := browserSession(base)
	if err != nil {
		return err
	}

	// The bare baseline runs inside the same server process on the same pool:
	// the admin listener's /debug/bare/users/{id} (APP_ENV=test only).
	adminBase := "http://127.0.0.1:" + strconv.Itoa(adminPort)

	var seq atomic.Int64
	pick := func() int64 { return ids[int(seq.Add(1))%len(ids)] }
	scenarios := []scenario{
		{name: "GET /api/v1/users/{id} (bearer, full stack)", want: 200, c: client, req: func() *http.Request {
			r, _ := http.NewRequest("GET", fmt.Sprintf("%s/api/v1/users/%d", base, pick()), nil)
			r.Header.Set("Authorization", "Bearer "+token)
			return r
		}},
		{name: "GET user by id (bare handler, same pool)", want: 200, c: client, req: func() *http.Request {
			r, _ := http.NewRequest("GET", fmt.Sprintf("%s/debug/bare/users/%d", adminBase, pick()), nil)
			return r
		}},
		{name: "GET /users (HTML list page, session)", want: 200, c: client, req: func() *http.Request {
			r, _ := http.NewRequest("GET", base+"/users", nil)
			for _, ck := range cookies {
				r.AddCookie(ck)
			}
			return r
		}},
		{name: "POST /api/v1/users (create, argon2id)", want: 201, c: client, req: func() *http.Request {
			n := seq.Add(1)
			body := fmt.Sprintf(`{"username":"load%d","email":"load%d@example.com","password":"bench-password-%d-long"}`, n, n, n)
			r, _ := http.NewRequest("POST", base+"/api/v1/users", bytes.NewBufferString(body))
			r.Header.Set("Authorization", "Bearer "+token)
			r.Header.Set("Content-Type", "application/json")
			return r
		}},
	}
	fmt.Printf("\n%d connections, %s per scenario after %s warm-up, pool %d, GOMAXPROCS of the server: default\n\n", o.conns, o.duration, o.warmup, o.poolSize)
	fmt.Printf("%-46s %10s %9s %9s %9s %7s\n", "scenario", "req/s", "p50", "p99", "max", "errors")
	results := map[string]result{}
	failed := false
	for i, s := range scenarios {
		s.load(o.conns, o.warmup) // warm-up, discarded
		var profiled chan error
		if i == 0 && o.profile != "" {
			profiled = make(chan error, 1)
			go func() { profiled <- fetchProfile(adminBase, o.profile, o.duration-time.Second) }()
		}
		r := s.load(o.conns, o.duration)
		if profiled != nil {
			if err := <-profiled; err != nil {
				fmt.Fprintln(os.Stderr, "loadbench: profile:", err)
			}
		}
		results[s.name] = r
		fmt.Printf("%-46s %10.0f %9s %9s %9s %7d\n", s.name, r.rps, r.p50.Round(10*time.Microsecond), r.p99.Round(10*time.Microsecond), r.max.Round(10*time.Microsecond), r.errors)
		if r.errors > 0 {
			failed = true
			fmt.Printf("    first error: %s\n", r.firstErr)
		}
	}
	full, bareR := results[scenarios[0].name], results[scenarios[1].name]
	fmt.Printf("\nfull/bare throughput ratio for GET by id: %.2f (target >= 0.80)\n", full.rps/bareR.rps)
	if failed {
		return errors.New("requests failed: zero errors is required")
	}
	return nil
}

// fetchProfile saves the server's CPU profile over d from its pprof endpoint.
func fetchProfile(adminBase, path string, d time.Duration) error {
	resp, err := http.Get(fmt.Sprintf("%s/debug/pprof/profile?seconds=%d", adminBase, max(1, int(d.Seconds()))))
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = io.Copy(f, resp.Body)
	return err
}

type scenario struct {
	name string
	want int
	c    *http.Client
	req  func() *http.Request
}

type result struct {
	rps           float64
	p50, p99, max time.Duration
	errors        int
	firstErr      string
}

// load runs conns closed-loop workers for d and summarises their latencies.
func (s scenario) load(conns int, d time.Duration) result {
	var (
		mu       sync.Mutex
		lat      = make([]time.Duration, 0, 100_000)
		errs     int
		firstErr string
		wg       sync.WaitGroup
	)
	deadline := time.Now().Add(d)
	start := time.Now()
	for i := 0; i < conns; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			local := make([]time.Duration, 0, 4096)
			for time.Now().Before(deadline) {
				t0 := time.Now()
				resp, err := s.c.Do(s.req())
				el := time.Since(t0)
				if err == nil {
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
				if err != nil || resp.StatusCode != s.want {
					mu.Lock()
					errs++
					if firstErr == "" {
						if err != nil {
							firstErr = err.Error()
						} else {
							firstErr = resp.Status
						}
					}
					mu.Unlock()
					continue
				}
				local = append(local, el)
			}
			mu.Lock()
			lat = append(lat, local...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	slices.Sort(lat)
	r := result{errors: errs, firstErr: firstErr}
	if n := len(lat); n > 0 {
		r.rps = float64(n) / elapsed.Seconds()
		r.p50, r.p99, r.max = lat[n/2], lat[n*99/100], lat[n-1]
	}
	return r
}

func newClient(conns int) *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConns, tr.MaxIdleConnsPerHost, tr.MaxConnsPerHost = conns*2, conns, conns
	return &http.Client{Transport: tr, Timeout: 30 * time.Second}
}

func freePort() int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func waitReady(url string) error {
	for i := 0; i < 300; i++ {
		if resp, err := http.Get(url); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return nil
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	return errors.New("server not ready after 30s")
}

func login(c *http.Client, base string) (string, error) {
	resp, err := c.Post(base+"/api/v1/auth/tokens", "application/json",
		bytes.NewBufferString(`{"login":"bench","password":"long-admin-password-for-load","name":"loadbench"}`))
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var out struct{ Token string }
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || out.Token == "" {
		return "", fmt.Errorf("login: %s", resp.Status)
	}
	return out.Token, nil
}

func seedUsers(c *http.Client, base, token string, n int) ([]int64, error) {
	ids := make([]int64, 0, n)
	for i := 0; i < n; i++ {
		body := fmt.Sprintf(`{"username":"seed%d","email":"seed%d@example.com","password":"seed-password-%d-long"}`, i, i, i)
		req, _ := http.NewRequest("POST", base+"/api/v1/users", bytes.NewBufferString(body))
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Content-Type", "application/json")
		resp, err := c.Do(req)
		if err != nil {
			return nil, err
		}
		var u struct{ ID int64 }
		err = json.NewDecoder(resp.Body).Decode(&u)
		resp.Body.Close()
		if err != nil || resp.StatusCode != 201 {
			return nil, fmt.Errorf("seed user %d: %s", i, resp.Status)
		}
		ids = append(ids, u.ID)
	}
	return ids, nil
}

var csrfRe = regexp.MustCompile(`name="csrf_token" value="([^"]+)"`)

// browserSession signs in through the HTML form, as a browser would.
func browserSession(base string) ([]*http.Cookie, error) {
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Get(base + "/login")
	if err != nil {
		return nil, err
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	m := csrfRe.FindSubmatch(page)
	if m == nil {
		return nil, errors.New("no CSRF token on the login page")
	}
	resp, err = c.PostForm(base+"/login", url.Values{"login": {"bench"}, "password": {"long-admin-password-for-load"}, "csrf_token": {string(m[1])}})
	if err != nil {
		return nil, err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		return nil, fmt.Errorf("form login: %s", resp.Status)
	}
	u, _ := url.Parse(base)
	return jar.Cookies(u), nil
}
