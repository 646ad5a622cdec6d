package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// serverState is what the server process has used and served so far.
type serverState struct {
	cpu     time.Duration
	pgCPU   time.Duration // PostgreSQL's, when it runs on this machine
	mallocs float64
	// replies other than 200 or 201 through the router, by "METHOD route status"
	failed map[string]float64
}

func (b *bench) snapshot(ctx context.Context) (serverState, error) {
	cpu, err := processCPU(b.pid)
	if err != nil {
		return serverState{}, err
	}
	text, err := scrape(ctx, b.probe, b.admin+"/metrics")
	if err != nil {
		return serverState{}, err
	}
	st := serverState{cpu: cpu, failed: map[string]float64{}}
	if b.postmaster > 0 {
		if st.pgCPU, err = treeCPU(b.postmaster); err != nil {
			return serverState{}, fmt.Errorf("PostgreSQL CPU: %w", err)
		}
	}
	if st.mallocs, err = metricSum(text, "go_memstats_mallocs_total", nil); err != nil {
		return serverState{}, err
	}
	all, err := metricSeries(text, "http_requests_total")
	if err != nil {
		return serverState{}, err
	}
	for _, s := range all {
		if l := s.labels; l["status"] != "200" && l["status"] != "201" {
			st.failed[l["method"]+" "+l["route"]+" "+l["status"]] += s.value
		}
	}
	return st, nil
}

// endMargin is how long before the end of a window the server's failure
// counts are read. wrk abandons the requests it has in flight when it stops,
// and the server records each of those as failed (500, "context canceled");
// they are the load generator's doing, not failed requests, so they are left
// out.
const endMargin = 250 * time.Millisecond

// served fills in what the server spent per request of s between before and
// after, and counts the replies it failed between before and mid as errors.
// The client's count and the server's overlap (a 500 is both) and either alone
// may miss some (a reset connection; a 303 to the login page), so s keeps the
// larger.
func (s *sample) served(before, mid, after serverState) {
	if s.requests > 0 {
		s.server = true
		s.cpuUS = float64((after.cpu - before.cpu).Microseconds()) / float64(s.requests)
		s.allocs = (after.mallocs - before.mallocs) / float64(s.requests)
		if after.pgCPU > 0 {
			s.pg = true
			s.pgUS = float64((after.pgCPU - before.pgCPU).Microseconds()) / float64(s.requests)
		}
	}
	var failed int64
	var what []string
	for k, v := range mid.failed {
		if n := int64(v - before.failed[k]); n > 0 {
			failed += n
			what = append(what, fmt.Sprintf("%s ×%d", k, n))
		}
	}
	if failed > 0 {
		slices.Sort(what)
		s.errors = max(s.errors, failed)
		s.firstErr = errors.Join(s.firstErr, fmt.Errorf("server replied %s", strings.Join(what, ", ")))
	}
}

// measure runs gen's window of d and reads the server's state before it,
// endMargin before its end, and after it.
func (b *bench) measure(ctx context.Context, d time.Duration, load func() (sample, error)) (sample, error) {
	if err := b.waitIdle(ctx); err != nil {
		return sample{}, err
	}
	before, err := b.snapshot(ctx)
	if err != nil {
		return sample{}, err
	}
	type snap struct {
		st  serverState
		err error
	}
	midc := make(chan snap, 1)
	timer := time.AfterFunc(max(d-endMargin, d/2), func() {
		st, err := b.snapshot(ctx)
		midc <- snap{st, err}
	})
	s, err := load()
	if err != nil {
		timer.Stop()
		return sample{}, err
	}
	mid := <-midc
	if mid.err != nil {
		return sample{}, mid.err
	}
	if err := b.waitIdle(ctx); err != nil {
		return sample{}, err
	}
	// Let PostgreSQL reap the backends of connections that just closed
	// (pgbench's), so that their time is in the postmaster's children's time.
	time.Sleep(100 * time.Millisecond)
	after, err := b.snapshot(ctx)
	if err != nil {
		return sample{}, err
	}
	s.served(before, mid.st, after)
	return s, nil
}

// waitIdle waits until the server has finished the requests a load generator
// abandoned when it stopped (a slow page can take a second under load), so
// that neither their work nor their failure lands in the next window.
func (b *bench) waitIdle(ctx context.Context) error {
	deadline := time.Now().Add(30 * time.Second)
	for {
		text, err := scrape(ctx, b.probe, b.admin+"/metrics")
		if err != nil {
			return err
		}
		n, err := metricSum(text, "http_requests_in_flight", nil)
		if err != nil {
			return err
		}
		if n == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("server still has %.0f requests in flight 30 s after the load stopped", n)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// postmasterPID finds the PostgreSQL server's main process when it runs on this
// machine: the parent of the backend serving a connection. It returns 0 when
// the server is elsewhere or its processes cannot be read.
func postmasterPID(ctx context.Context, dbURL string) int {
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		return 0
	}
	defer conn.Close(ctx)
	var backend int
	if err := conn.QueryRow(ctx, "SELECT pg_backend_pid()").Scan(&backend); err != nil {
		return 0
	}
	st, err := readProcStat(backend)
	if err != nil || st.ppid <= 1 {
		return 0
	}
	comm, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", st.ppid))
	if err != nil || !strings.HasPrefix(string(comm), "postgres") {
		return 0
	}
	return st.ppid
}
