// Command loadbench is `make bench`: load against the real gopherops binary and
// a real PostgreSQL, reported against the targets of issue 10.
//
// For each connection count it measures, in interleaved rounds, GET a user by
// id through the full stack (bearer token), the same query through a bare
// net/http handler in the same server process on the same pool, the HTML users
// page (session cookie), and `pgbench -S -M prepared` on the same PostgreSQL
// server. It prints the medians of req/s, p50, p99, errors, the server's CPU
// time and allocations per request, and the ratios full/bare and full/pgbench
// next to their targets. It exits non-zero when any request failed; a missed
// target is printed, not a failure.
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gopherops/gopherops/service/pglocal"
)

type options struct {
	conns    []int
	rounds   int
	duration time.Duration
	warmup   time.Duration
	create   time.Duration
	binary   string
	poolSize int
	profile  string
	gen      string
}

func main() {
	var o options
	connList := flag.String("c", "16,64", "comma-separated connection counts")
	flag.IntVar(&o.rounds, "rounds", 3, "interleaved rounds; the report shows their medians")
	flag.DurationVar(&o.duration, "d", 10*time.Second, "measured duration of each window")
	flag.DurationVar(&o.warmup, "warmup", 2*time.Second, "unmeasured warm-up before each window")
	flag.DurationVar(&o.create, "create", 5*time.Second, "duration of the user-creation scenario per connection count (0 skips it)")
	flag.StringVar(&o.binary, "bin", "", "gopherops binary (default: build one)")
	flag.IntVar(&o.poolSize, "pool", 8, "DATABASE_MAX_CONNS of the server (shared by the full and bare handlers)")
	flag.StringVar(&o.gen, "gen", "auto", "load generator: wrk, go (the built-in closed loop) or auto (wrk when it is on PATH)")
	flag.StringVar(&o.profile, "cpuprofile", "", "save the server's CPU profile during an extra full-stack GET window at the highest connection count, and the bare handler's beside it (FILE.bare.prof for FILE.prof)")
	flag.Parse()
	var err error
	if o.conns, err = parseConns(*connList); err != nil {
		fmt.Fprintln(os.Stderr, "loadbench: -c:", err)
		os.Exit(2)
	}
	if o.gen != "auto" && o.gen != "wrk" && o.gen != "go" {
		fmt.Fprintln(os.Stderr, "loadbench: -gen must be auto, wrk or go")
		os.Exit(2)
	}
	if o.rounds < 1 || o.duration < time.Second || o.warmup < 0 {
		fmt.Fprintln(os.Stderr, "loadbench: -rounds must be >= 1, -d >= 1s and -warmup >= 0")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, o); err != nil {
		fmt.Fprintln(os.Stderr, "loadbench:", err)
		os.Exit(1)
	}
}

// parseConns reads "16,64" into ascending, distinct connection counts.
func parseConns(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 || n > 10_000 {
			return nil, fmt.Errorf("bad connection count %q", f)
		}
		out = append(out, n)
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}

// bench holds what the measured windows share.
type bench struct {
	o   options
	gen generator
	pgb *pgbench // nil when pgbench is not installed
	pid int      // the gopherops server process
	// PostgreSQL's main process, 0 when it does not run on this machine
	postmaster int
	admin      string // base URL of the server's admin listener
	probe      *http.Client
	results    map[int]map[string][]sample // conns -> target key -> one sample per round
	failures   []string
}

func run(ctx context.Context, o options) error {
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
	srv, err := startServer(ctx, o, work, dbURL)
	if err != nil {
		return err
	}
	defer srv.stop()
	base := srv.base

	maxConns := slices.Max(o.conns)
	client := newClient(maxConns)
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
	b := &bench{o: o, pid: srv.pid, admin: srv.admin, postmaster: postmasterPID(ctx, dbURL),
		probe: &http.Client{Timeout: 30 * time.Second}, results: map[int]map[string][]sample{}}
	wrk, err := exec.LookPath("wrk")
	switch {
	case o.gen == "go" || (o.gen == "auto" && err != nil):
		b.gen = &goGenerator{client: client}
	case err != nil:
		return fmt.Errorf("-gen wrk: %w", err)
	default:
		b.gen = &wrkGenerator{path: wrk, scripts: map[string]string{}}
	}
	targets := httpTargets(base, b.admin, token, cookies, ids)
	if g, ok := b.gen.(*wrkGenerator); ok {
		for _, t := range targets {
			if g.scripts[t.key], err = writeWrkScript(work, t); err != nil {
				return err
			}
		}
	}
	pgbenchNote := "pgbench not installed"
	if path, ok := findPgbench(pglocal.BinDir); ok {
		fmt.Println("initialising pgbench's database...")
		if b.pgb, err = setupPgbench(ctx, path, dbURL, work); err != nil {
			return err
		}
		defer func() { _ = b.pgb.drop(context.WithoutCancel(ctx), dbURL) }()
		pgbenchNote = "pgbench -S -M prepared -j2 (" + path + "), scale 1, its own database on the same server"
	}

	fmt.Printf("\nload generator: %s\n%s\n", b.gen.name(), pgbenchNote)
	fmt.Printf("%d interleaved rounds; each window %s after %s warm-up; server pool %d; connections %v\n\n",
		o.rounds, o.duration, o.warmup, o.poolSize, o.conns)
	for round := 1; round <= o.rounds; round++ {
		for _, c := range o.conns {
			for _, t := range targets {
				if err := b.window(ctx, round, c, t); err != nil {
					return err
				}
			}
			if b.pgb != nil {
				if err := b.pgbenchWindow(ctx, round, c); err != nil {
					return err
				}
			}
		}
	}
	b.report(os.Stdout, targets)

	if o.create > 0 {
		if err := b.createUsers(ctx, client, base, token); err != nil {
			return err
		}
	}
	if o.profile != "" {
		if err := b.profile(ctx, targets[0], maxConns, o.profile); err != nil {
			return err
		}
		if err := b.profile(ctx, targets[1], maxConns, bareProfile(o.profile)); err != nil {
			return err
		}
	}
	if len(b.failures) > 0 {
		if lines := errorLines(srv.log, 5); len(lines) > 0 {
			fmt.Fprintf(os.Stderr, "\nfirst error lines of the server's log:\n%s\n", strings.Join(lines, "\n"))
		}
		return fmt.Errorf("requests failed (zero errors is required):\n  %s", strings.Join(b.failures, "\n  "))
	}
	return nil
}

// httpTargets are the HTTP scenarios of every round, the full-stack GET first.
func httpTargets(base, admin, token string, cookies []*http.Cookie, ids []int64) []target {
	api, bare := make([]string, len(ids)), make([]string, len(ids))
	for i, id := range ids {
		api[i] = fmt.Sprintf("/api/v1/users/%d", id)
		bare[i] = fmt.Sprintf("/debug/bare/users/%d", id)
	}
	var jar []string
	for _, c := range cookies {
		jar = append(jar, c.Name+"="+c.Value)
	}
	return []target{
		{key: "full", label: "GET /api/v1/users/{id} (bearer, full stack)", method: http.MethodGet, base: base, paths: api,
			header: http.Header{"Authorization": {"Bearer " + token}}, want: http.StatusOK},
		{key: "bare", label: "GET /debug/bare/users/{id} (bare handler, same pool)", method: http.MethodGet, base: admin, paths: bare,
			want: http.StatusOK},
		{key: "page", label: "GET /users (HTML page: first 20 of 200 users, session)", method: http.MethodGet, base: base, paths: []string{"/users"},
			header: http.Header{"Cookie": {strings.Join(jar, "; ")}}, want: http.StatusOK},
	}
}

// window warms up, then measures one target at conns connections, with the
// server's CPU time and allocations read around the measured part.
func (b *bench) window(ctx context.Context, round, conns int, t target) error {
	var warm sample
	if b.o.warmup > 0 {
		var err error
		if warm, err = b.gen.load(ctx, t, conns, b.o.warmup); err != nil {
			return fmt.Errorf("%s warm-up: %w", t.key, err)
		}
	}
	s, err := b.measure(ctx, b.o.duration, func() (sample, error) { return b.gen.load(ctx, t, conns, b.o.duration) })
	if err != nil {
		return fmt.Errorf("%s: %w", t.key, err)
	}
	s.errors += warm.errors
	b.record(round, conns, t.key, t.label, s)
	return nil
}

func (b *bench) pgbenchWindow(ctx context.Context, round, conns int) error {
	if b.o.warmup > 0 {
		if _, err := b.pgb.run(ctx, conns, b.o.warmup, false); err != nil {
			return err
		}
	}
	s, err := b.measure(ctx, b.o.duration, func() (sample, error) { return b.pgb.run(ctx, conns, b.o.duration, true) })
	if err != nil {
		return err
	}
	s.server = false // gopherops is idle; only PostgreSQL's CPU is pgbench's
	b.record(round, conns, "pgbench", "pgbench -S -M prepared", s)
	return nil
}

func (b *bench) record(round, conns int, key, label string, s sample) {
	if b.results[conns] == nil {
		b.results[conns] = map[string][]sample{}
	}
	b.results[conns][key] = append(b.results[conns][key], s)
	cpu := ""
	if s.server {
		cpu = fmt.Sprintf("  %5.1f µs CPU  %4.0f allocs", s.cpuUS, s.allocs)
	}
	if s.pg {
		cpu += fmt.Sprintf("  PostgreSQL %5.1f µs CPU", s.pgUS)
	}
	fmt.Printf("round %d  c=%-3d %-52s %8s req/s  p50 %-9s p99 %-9s errors %d%s\n",
		round, conns, label, thousands(s.rps), latency(s.p50), latency(s.p99), s.errors, cpu)
	if s.errors > 0 {
		msg := fmt.Sprintf("round %d, %d connections, %s: %d errors", round, conns, label, s.errors)
		if s.firstErr != nil {
			msg += " (" + s.firstErr.Error() + ")"
		}
		fmt.Println("    " + msg)
		b.failures = append(b.failures, msg)
	}
}

// createUsers is the separate, short user-creation scenario (argon2id): one
// window per connection count, with the Go generator.
func (b *bench) createUsers(ctx context.Context, client *http.Client, base, token string) error {
	fmt.Fprintf(os.Stdout, "\n## User creation (argon2id; Go generator, %s per connection count)\n\n%s\n", b.o.create, tableHead)
	gen := &goGenerator{client: client}
	for _, c := range b.o.conns {
		t := target{key: "create", label: fmt.Sprintf("POST /api/v1/users, %d connections", c), method: http.MethodPost, base: base,
			paths: []string{"/api/v1/users"}, want: http.StatusCreated,
			header: http.Header{"Authorization": {"Bearer " + token}, "Content-Type": {"application/json"}},
			body: func(n int64) io.Reader {
				return strings.NewReader(fmt.Sprintf(`{"username":"load%d-%d","email":"load%d-%d@example.com","password":"bench-password-%d-long"}`, c, n, c, n, n))
			}}
		s, err := b.measure(ctx, b.o.create, func() (sample, error) { return gen.load(ctx, t, c, b.o.create) })
		if err != nil {
			return err
		}
		fmt.Println(row(t.label, summarise([]sample{s})))
		if s.errors > 0 {
			b.failures = append(b.failures, fmt.Sprintf("%s: %d errors (first: %v)", t.label, s.errors, s.firstErr))
		}
	}
	return nil
}

// bareProfile is where the bare handler's profile goes beside the full
// route's: full.prof gives full.bare.prof.
func bareProfile(path string) string {
	ext := filepath.Ext(path)
	return strings.TrimSuffix(path, ext) + ".bare" + ext
}

// profile saves the server's CPU profile (pprof on the admin listener)
// over an extra window of t, kept out of the reported figures, so that the
// full route's and the bare handler's can be compared (go tool pprof -diff_base).
func (b *bench) profile(ctx context.Context, t target, conns int, path string) error {
	secs := max(1, int(b.o.duration.Seconds())-1)
	done := make(chan error, 1)
	go func() { done <- fetchProfile(ctx, b.admin, path, secs) }()
	s, err := b.gen.load(ctx, t, conns, b.o.duration)
	if err != nil {
		return err
	}
	if err := <-done; err != nil {
		return fmt.Errorf("cpu profile: %w", err)
	}
	fmt.Printf("\nCPU profile of the server over %d s of %s at %d connections (%s req/s, unreported): %s\n", secs, t.label, conns, thousands(s.rps), path)
	return nil
}

// fetchProfile saves the server's CPU profile over secs seconds.
func fetchProfile(ctx context.Context, admin, path string, secs int) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("%s/debug/pprof/profile?seconds=%d", admin, secs), nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req) // no timeout: the profile takes secs
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return errors.New(resp.Status)
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// errorLines returns up to n lines of the server's JSON log at level ERROR.
func errorLines(path string, n int) []string {
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64*1024), 1<<20)
	for sc.Scan() && len(out) < n {
		if strings.Contains(sc.Text(), `"level":"ERROR"`) {
			out = append(out, sc.Text())
		}
	}
	return out
}
