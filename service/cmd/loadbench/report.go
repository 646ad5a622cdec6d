package main

import (
	"context"
	"fmt"
	"io"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// target is one HTTP scenario: the requests a generator sends and the reply
// every one of them must get.
type target struct {
	key, label string
	method     string
	base       string   // scheme://host:port
	paths      []string // rotated, one per request
	header     http.Header
	want       int
	body       func(n int64) io.Reader // request body of the n-th request (Go generator only)
}

// sample is what one measured window produced.
type sample struct {
	rps            float64
	p50, p99, mean time.Duration
	requests       int64 // answered or failed
	errors         int64
	firstErr       error
	server         bool    // cpuUS and allocs were measured
	cpuUS, allocs  float64 // per request, in the server process
	pg             bool    // pgUS was measured
	pgUS           float64 // PostgreSQL's CPU time per request
}

// generator sends a target's requests from conns connections for d.
type generator interface {
	name() string
	load(ctx context.Context, t target, conns int, d time.Duration) (sample, error)
}

// median of xs: the mean of the middle two for an even count, 0 for none.
func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// summary is the median of each figure over the rounds, and the errors of all of them.
type summary struct {
	rps, cpuUS, allocs float64
	pgUS               float64
	pg                 bool
	p50, p99, mean     time.Duration
	errors             int64
	server             bool
	rounds             int
}

func summarise(ss []sample) summary {
	var out summary
	pick := func(f func(sample) float64) float64 {
		xs := make([]float64, len(ss))
		for i, s := range ss {
			xs[i] = f(s)
		}
		return median(xs)
	}
	out.rps = pick(func(s sample) float64 { return s.rps })
	out.p50 = time.Duration(pick(func(s sample) float64 { return float64(s.p50) }))
	out.p99 = time.Duration(pick(func(s sample) float64 { return float64(s.p99) }))
	out.mean = time.Duration(pick(func(s sample) float64 { return float64(s.mean) }))
	out.cpuUS = pick(func(s sample) float64 { return s.cpuUS })
	out.allocs = pick(func(s sample) float64 { return s.allocs })
	out.pgUS = pick(func(s sample) float64 { return s.pgUS })
	for _, s := range ss {
		out.errors += s.errors
		out.server = out.server || s.server
		out.pg = out.pg || s.pg
	}
	out.rounds = len(ss)
	return out
}

// pairedRatio is the median over rounds of num/den taken within each round,
// so that both sides of every ratio ran back to back.
func pairedRatio(num, den []sample) float64 {
	return median(pairedRatios(num, den, throughput))
}

// throughput is a window's requests per second.
func throughput(s sample) float64 { return s.rps }

// pairedRatios are num/den of figure f taken within each round, for the
// rounds where both sides have it (f is NaN where a window did not measure
// it) and den is positive.
func pairedRatios(num, den []sample, f func(sample) float64) []float64 {
	var rs []float64
	for i := range min(len(num), len(den)) {
		if n, d := f(num[i]), f(den[i]); !math.IsNaN(n) && d > 0 {
			rs = append(rs, n/d)
		}
	}
	return rs
}

// spread says how far the rounds of a ratio went, so that a reader can tell
// a verdict from this run's noise: a target inside the range was met in some
// rounds and missed in others.
func spread(rs []float64, format func(float64) string) string {
	if len(rs) < 2 {
		return ""
	}
	return fmt.Sprintf("; rounds %s to %s (%d)", format(slices.Min(rs)), format(slices.Max(rs)), len(rs))
}

// serverCPU is a window's server CPU per request, NaN when not measured.
func serverCPU(s sample) float64 {
	if !s.server {
		return math.NaN()
	}
	return s.cpuUS
}

// thousands formats n with a space between groups of three digits.
func thousands(n float64) string {
	s := strconv.FormatInt(int64(n+0.5), 10)
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(' ')
		}
		b.WriteRune(c)
	}
	return b.String()
}

// latency formats d with two or three significant digits.
func latency(d time.Duration) string {
	switch {
	case d <= 0:
		return "—"
	case d < time.Millisecond:
		return fmt.Sprintf("%d µs", d.Microseconds())
	case d < 10*time.Millisecond:
		return fmt.Sprintf("%.2f ms", float64(d)/float64(time.Millisecond))
	case d < time.Second:
		return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond))
	default:
		return fmt.Sprintf("%.2f s", d.Seconds())
	}
}

// row is one line of the results table in Markdown.
func row(label string, s summary) string {
	cpu, allocs, pg := "—", "—", "—"
	if s.server {
		cpu, allocs = fmt.Sprintf("%.1f", s.cpuUS), fmt.Sprintf("%.0f", s.allocs)
	}
	if s.pg {
		pg = fmt.Sprintf("%.1f", s.pgUS)
	}
	return fmt.Sprintf("| %s | %s | %s | %s | %d | %s | %s | %s |", label, thousands(s.rps), latency(s.p50), latency(s.p99), s.errors, cpu, allocs, pg)
}

const tableHead = "| scenario | req/s | p50 | p99 | errors | server CPU µs/req | allocs/req | PostgreSQL CPU µs/req |\n|---|---|---|---|---|---|---|---|"

// verdict says whether a figure meets its target.
func verdict(ok bool) string {
	if ok {
		return "met"
	}
	return "MISSED"
}

// Targets of issue 10, checked in the same run.
const (
	targetFullOverBare    = 0.95
	targetFullOverPgbench = 0.5
	targetCPUMicros       = 55.0
	targetPageRPS         = 2000.0
	targetPageConns       = 64
)

// report prints, per connection count, the medians table and the ratios and
// figures that issue 10 sets targets for.
func (b *bench) report(w io.Writer, targets []target) {
	fmt.Fprintf(w, "\n## Results: medians of %d round(s)\n", b.o.rounds)
	for _, c := range b.o.conns {
		res := b.results[c]
		fmt.Fprintf(w, "\n### %d connections\n\n%s\n", c, tableHead)
		for _, t := range targets {
			fmt.Fprintln(w, row(t.label, summarise(res[t.key])))
		}
		if b.pgb != nil {
			fmt.Fprintln(w, row("pgbench -S -M prepared (tps)", summarise(res["pgbench"])))
		} else {
			fmt.Fprintln(w, "| pgbench -S -M prepared | pgbench not installed | | | | | | |")
		}
		full := summarise(res["full"])
		rounds := pairedRatios(res["full"], res["bare"], throughput)
		fullBare := median(rounds)
		two := func(x float64) string { return fmt.Sprintf("%.2f", x) }
		fmt.Fprintf(w, "\n- full/bare: %.2f (target >= %.2f: %s)%s\n", fullBare, targetFullOverBare, verdict(fullBare >= targetFullOverBare),
			spread(rounds, two))
		// What the route adds to the server's work, the steadier figure
		// when the machine is shared: the throughput ratio also moves with
		// what PostgreSQL and the load generator get of the cores.
		if extra := pairedRatios(res["full"], res["bare"], serverCPU); len(extra) > 0 {
			percent := func(x float64) string { return fmt.Sprintf("%+.1f %%", 100*(x-1)) }
			fmt.Fprintf(w, "- the full route's server CPU per request over the bare handler's: %s%s\n", percent(median(extra)), spread(extra, percent))
		}
		if b.pgb != nil {
			fp := pairedRatio(res["full"], res["pgbench"])
			fmt.Fprintf(w, "- full/pgbench: %.2f (target >= %.2f: %s)\n", fp, targetFullOverPgbench, verdict(fp >= targetFullOverPgbench))
		} else {
			fmt.Fprintf(w, "- full/pgbench: pgbench not installed (target >= %.2f)\n", targetFullOverPgbench)
		}
		fmt.Fprintf(w, "- server CPU, full GET: %.1f µs/request (target <= %.0f: %s)\n", full.cpuUS, targetCPUMicros, verdict(full.cpuUS <= targetCPUMicros))
		if c == targetPageConns {
			page := summarise(res["page"])
			fmt.Fprintf(w, "- HTML users page: %s req/s (target >= %s at %d connections: %s)\n",
				thousands(page.rps), thousands(targetPageRPS), targetPageConns, verdict(page.rps >= targetPageRPS))
		}
		var errs int64
		for _, ss := range res {
			errs += summarise(ss).errors
		}
		fmt.Fprintf(w, "- errors: %d (target 0: %s)\n", errs, verdict(errs == 0))
	}
	fmt.Fprintln(w, "\nRatios are the median of the per-round ratios (both sides ran back to back); server CPU is utime+stime of the gopherops process over the window, allocations are go_memstats_mallocs_total, PostgreSQL CPU is that of the postmaster and its children (backends, live or exited); each divided by the requests (pgbench: transactions) of the window.")
}
