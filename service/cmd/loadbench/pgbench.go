package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// pgbenchDB is the database pgbench initialises next to the service's, on the
// same PostgreSQL server.
const pgbenchDB = "loadbench_pgbench"

// pgbench runs `pgbench -S -M prepared`, the database path's own limit for a
// one-row read by primary key, against the service's PostgreSQL server.
type pgbench struct {
	path   string   // the pgbench executable
	env    []string // libpq's PG* variables for the server and database
	logDir string   // per-transaction logs, for p50 and p99
	runs   int
}

// findPgbench looks for pgbench on PATH, then beside the PostgreSQL server binaries.
func findPgbench(binDir func() (string, error)) (string, bool) {
	if p, err := exec.LookPath("pgbench"); err == nil {
		return p, true
	}
	if dir, err := binDir(); err == nil {
		p := filepath.Join(dir, "pgbench")
		if st, err := os.Stat(p); err == nil && st.Mode()&0o111 != 0 {
			return p, true
		}
	}
	return "", false
}

// libpqEnv turns a postgres:// URL into the PG* variables libpq reads, naming
// database db instead of the URL's, so the password never appears in argv.
func libpqEnv(dbURL, db string) ([]string, error) {
	u, err := url.Parse(dbURL)
	if err != nil {
		return nil, fmt.Errorf("database URL: %w", err)
	}
	if u.Scheme != "postgres" && u.Scheme != "postgresql" {
		return nil, fmt.Errorf("database URL: scheme %q, want postgres", u.Scheme)
	}
	env := []string{"PGDATABASE=" + db, "PGHOST=" + u.Hostname()}
	if p := u.Port(); p != "" {
		env = append(env, "PGPORT="+p)
	}
	if u.User != nil {
		env = append(env, "PGUSER="+u.User.Username())
		if pw, ok := u.User.Password(); ok {
			env = append(env, "PGPASSWORD="+pw)
		}
	}
	if m := u.Query().Get("sslmode"); m != "" {
		env = append(env, "PGSSLMODE="+m)
	}
	return env, nil
}

// setupPgbench (re)creates pgbench's own database on the server of dbURL and
// initialises it with `pgbench -i` (scale 1: 100 000 accounts).
func setupPgbench(ctx context.Context, path, dbURL, logDir string) (*pgbench, error) {
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		return nil, fmt.Errorf("pgbench database: %w", err)
	}
	defer conn.Close(ctx)
	for _, sql := range []string{"DROP DATABASE IF EXISTS " + pgbenchDB, "CREATE DATABASE " + pgbenchDB} {
		if _, err := conn.Exec(ctx, sql); err != nil {
			return nil, fmt.Errorf("pgbench database: %w", err)
		}
	}
	env, err := libpqEnv(dbURL, pgbenchDB)
	if err != nil {
		return nil, err
	}
	p := &pgbench{path: path, env: env, logDir: logDir}
	if out, err := p.command(ctx, "-i", "-q").CombinedOutput(); err != nil {
		return nil, fmt.Errorf("pgbench -i: %w: %s", err, out)
	}
	return p, nil
}

// drop removes pgbench's database.
func (p *pgbench) drop(ctx context.Context, dbURL string) error {
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, "DROP DATABASE IF EXISTS "+pgbenchDB)
	return err
}

func (p *pgbench) command(ctx context.Context, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, p.path, args...)
	cmd.Env = append(os.Environ(), p.env...)
	return cmd
}

// run is one `pgbench -S -M prepared` window of d (whole seconds) with conns
// clients on two threads. With logged, every transaction's latency goes to a
// log that gives p50 and p99; without, it is a warm-up.
func (p *pgbench) run(ctx context.Context, conns int, d time.Duration, logged bool) (sample, error) {
	secs := max(1, int((d+time.Second-1)/time.Second))
	args := []string{"-S", "-M", "prepared", "-n", "-c", strconv.Itoa(conns), "-j", "2", "-T", strconv.Itoa(secs)}
	var prefix string
	if logged {
		p.runs++
		prefix = filepath.Join(p.logDir, fmt.Sprintf("pgbench-%d", p.runs))
		args = append(args, "-l", "--log-prefix", prefix)
	}
	var out, errOut bytes.Buffer
	cmd := p.command(ctx, args...)
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		return sample{}, fmt.Errorf("pgbench: %w: %s%s", err, out.String(), errOut.String())
	}
	s, err := parsePgbench(out.String())
	if err != nil {
		return sample{}, fmt.Errorf("%w:\n%s%s", err, out.String(), errOut.String())
	}
	if !logged {
		return s, nil
	}
	if s.requests == 0 {
		// pgbench's -T includes connecting its clients, which can take longer
		// than a short window on a loaded machine.
		return sample{}, fmt.Errorf("pgbench processed no transactions in %d s with %d clients (a longer -d helps):\n%s", secs, conns, out.String())
	}
	files, err := filepath.Glob(prefix + ".*")
	if err != nil || len(files) == 0 {
		return sample{}, fmt.Errorf("pgbench wrote no transaction log under %s", prefix)
	}
	var lat []time.Duration
	for _, f := range files {
		l, err := readPgbenchLog(f)
		if err != nil {
			return sample{}, err
		}
		lat = append(lat, l...)
		_ = os.Remove(f)
	}
	s.p50, s.p99 = percentiles(lat)
	return s, nil
}

var (
	pgbenchTPS       = regexp.MustCompile(`(?m)^tps = ([0-9.]+) \(without initial connection time\)`)
	pgbenchProcessed = regexp.MustCompile(`(?m)^number of transactions actually processed: ([0-9]+)`)
	pgbenchFailed    = regexp.MustCompile(`(?m)^number of failed transactions: ([0-9]+)`)
	pgbenchAvg       = regexp.MustCompile(`(?m)^latency average = ([0-9.]+) ms`)
)

// parsePgbench reads tps, the transactions processed and failed, and the mean
// latency from pgbench's report. Versions before 15 print no failure line;
// their failures abort the run instead.
func parsePgbench(out string) (sample, error) {
	m := pgbenchProcessed.FindStringSubmatch(out)
	if m == nil {
		return sample{}, errors.New("pgbench report: no transactions-processed line")
	}
	n, _ := strconv.ParseInt(m[1], 10, 64)
	s := sample{requests: n}
	// A run too short to finish connecting its clients processes nothing
	// and prints no tps.
	if m = pgbenchTPS.FindStringSubmatch(out); m != nil {
		tps, err := strconv.ParseFloat(m[1], 64)
		if err != nil {
			return sample{}, fmt.Errorf("pgbench report: %w", err)
		}
		s.rps = tps
	} else if n > 0 {
		return sample{}, errors.New("pgbench report: no tps line")
	}
	if m = pgbenchFailed.FindStringSubmatch(out); m != nil {
		s.errors, _ = strconv.ParseInt(m[1], 10, 64)
	}
	if m = pgbenchAvg.FindStringSubmatch(out); m != nil {
		ms, _ := strconv.ParseFloat(m[1], 64)
		s.mean = time.Duration(ms * float64(time.Millisecond))
	}
	if strings.Contains(out, "Run was aborted") {
		s.errors = max(s.errors, 1)
	}
	return s, nil
}

// readPgbenchLog reads the latencies (third field, µs) of a pgbench
// per-transaction log: "client_id transaction_no time script_no time_epoch time_us".
func readPgbenchLog(path string) ([]time.Duration, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return parsePgbenchLog(bufio.NewScanner(f))
}

func parsePgbenchLog(sc *bufio.Scanner) ([]time.Duration, error) {
	var lat []time.Duration
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 0 {
			continue
		}
		if len(f) < 6 {
			return nil, fmt.Errorf("pgbench log: short line %q", sc.Text())
		}
		us, err := strconv.ParseInt(f[2], 10, 64)
		if err != nil {
			// "failed" or "skipped" instead of a latency: not a served transaction.
			continue
		}
		lat = append(lat, time.Duration(us)*time.Microsecond)
	}
	return lat, sc.Err()
}

// percentiles returns the 50th and 99th percentiles of lat (sorted in place).
func percentiles(lat []time.Duration) (p50, p99 time.Duration) {
	if len(lat) == 0 {
		return 0, 0
	}
	slices.Sort(lat)
	return lat[len(lat)/2], lat[len(lat)*99/100]
}
