package main

import (
	"slices"
	"strings"
	"testing"
	"time"
)

func TestMedian(t *testing.T) {
	tests := []struct {
		name string
		in   []float64
		want float64
	}{
		{"none", nil, 0},
		{"one", []float64{7}, 7},
		{"odd count, unsorted", []float64{9, 1, 5}, 5},
		{"even count is the mean of the middle two", []float64{4, 1, 3, 2}, 2.5},
		{"an outlier does not move it", []float64{100, 101, 5000}, 101},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := slices.Clone(tt.in)
			if got := median(in); got != tt.want {
				t.Errorf("median(%v) = %v, want %v", tt.in, got, tt.want)
			}
			if !slices.Equal(in, tt.in) {
				t.Errorf("median reordered its input: %v", in)
			}
		})
	}
}

func TestSummarise(t *testing.T) {
	s := summarise([]sample{
		{rps: 100, p50: 3 * time.Millisecond, p99: 9 * time.Millisecond, cpuUS: 80, allocs: 120, errors: 1, server: true},
		{rps: 300, p50: 1 * time.Millisecond, p99: 5 * time.Millisecond, cpuUS: 60, allocs: 100, server: true},
		{rps: 200, p50: 2 * time.Millisecond, p99: 7 * time.Millisecond, cpuUS: 70, allocs: 110, errors: 2, server: true},
	})
	want := summary{rps: 200, p50: 2 * time.Millisecond, p99: 7 * time.Millisecond, cpuUS: 70, allocs: 110, errors: 3, server: true, rounds: 3}
	if s != want {
		t.Errorf("got %+v, want %+v", s, want)
	}
}

func TestPairedRatio(t *testing.T) {
	full := []sample{{rps: 90}, {rps: 50}, {rps: 80}}
	bare := []sample{{rps: 100}, {rps: 100}, {rps: 0}}
	// Round 3 has no baseline; the median of 0.9 and 0.5 is 0.7.
	if got := pairedRatio(full, bare); got < 0.6999 || got > 0.7001 {
		t.Errorf("got %v, want 0.7", got)
	}
	if got := pairedRatio(full, nil); got != 0 {
		t.Errorf("no baseline: got %v, want 0", got)
	}
}

// TestPairedRatios: a round counts only when both of its windows measured
// the figure, and the baseline is positive.
func TestPairedRatios(t *testing.T) {
	full := []sample{{cpuUS: 90, server: true}, {cpuUS: 60}, {cpuUS: 80, server: true}, {cpuUS: 70, server: true}}
	bare := []sample{{cpuUS: 60, server: true}, {cpuUS: 60, server: true}, {cpuUS: 50}, {cpuUS: 0, server: true}}
	// Round 2's route and round 3's baseline were not measured; round 4's
	// baseline is 0.
	if got := pairedRatios(full, bare, serverCPU); !slices.Equal(got, []float64{1.5}) {
		t.Errorf("got %v, want [1.5]", got)
	}
	if got := spread([]float64{1.5}, func(x float64) string { return "x" }); got != "" {
		t.Errorf("one round: spread %q, want none", got)
	}
}

func TestThousandsAndLatency(t *testing.T) {
	for in, want := range map[float64]string{0: "0", 999: "999", 1000: "1 000", 7689.6: "7 690", 1234567: "1 234 567"} {
		if got := thousands(in); got != want {
			t.Errorf("thousands(%v) = %q, want %q", in, got, want)
		}
	}
	for in, want := range map[time.Duration]string{
		0: "—", 640 * time.Microsecond: "640 µs", 1840 * time.Microsecond: "1.84 ms",
		116 * time.Millisecond: "116.0 ms", 1090 * time.Millisecond: "1.09 s",
	} {
		if got := latency(in); got != want {
			t.Errorf("latency(%v) = %q, want %q", in, got, want)
		}
	}
}

func TestParseConns(t *testing.T) {
	tests := []struct {
		in      string
		want    []int
		wantErr bool
	}{
		{in: "16,64", want: []int{16, 64}},
		{in: " 64, 16 ,16", want: []int{16, 64}},
		{in: "8", want: []int{8}},
		{in: "", wantErr: true},
		{in: "16,", wantErr: true},
		{in: "0", wantErr: true},
		{in: "-4", wantErr: true},
		{in: "100000", wantErr: true},
	}
	for _, tt := range tests {
		got, err := parseConns(tt.in)
		if (err != nil) != tt.wantErr || !slices.Equal(got, tt.want) {
			t.Errorf("parseConns(%q) = %v, %v; want %v, error %v", tt.in, got, err, tt.want, tt.wantErr)
		}
	}
}

func TestReportMarksTargets(t *testing.T) {
	round := func(full, bare, pg, page, cpu float64) map[string][]sample {
		return map[string][]sample{
			"full":    {{rps: full, cpuUS: cpu, server: true}},
			"bare":    {{rps: bare, server: true}},
			"page":    {{rps: page, server: true}},
			"pgbench": {{rps: pg, pg: true, pgUS: 25}},
		}
	}
	targets := []target{{key: "full", label: "full"}, {key: "bare", label: "bare"}, {key: "page", label: "page"}}
	// Three rounds: full/bare 0.90, 0.96, 0.99; server CPU +10 %, 0 %, +5 %.
	rounds := map[string][]sample{
		"full":    {{rps: 9000, cpuUS: 88, server: true}, {rps: 9600, cpuUS: 80, server: true}, {rps: 9900, cpuUS: 84, server: true}},
		"bare":    {{rps: 10000, cpuUS: 80, server: true}, {rps: 10000, cpuUS: 80, server: true}, {rps: 10000, cpuUS: 80, server: true}},
		"page":    {{rps: 2500, server: true}, {rps: 2500, server: true}, {rps: 2500, server: true}},
		"pgbench": {{rps: 19000, pg: true}, {rps: 19000, pg: true}, {rps: 19000, pg: true}},
	}
	tests := []struct {
		name      string
		pgbench   bool
		results   map[int]map[string][]sample
		want, not []string
	}{
		{
			name:    "every target met",
			pgbench: true,
			results: map[int]map[string][]sample{16: round(9600, 10000, 19000, 100, 50), 64: round(9600, 10000, 19000, 2500, 50)},
			want: []string{"full/bare: 0.96 (target >= 0.95: met)", "full/pgbench: 0.51 (target >= 0.50: met)",
				"50.0 µs/request (target <= 55: met)", "HTML users page: 2 500 req/s (target >= 2 000 at 64 connections: met)"},
			not: []string{"MISSED"},
		},
		{
			name:    "targets missed are marked, the page only at 64",
			pgbench: true,
			results: map[int]map[string][]sample{16: round(6000, 8000, 24000, 100, 86), 64: round(6000, 8000, 24000, 540, 86)},
			want: []string{"full/bare: 0.75 (target >= 0.95: MISSED)", "full/pgbench: 0.25 (target >= 0.50: MISSED)",
				"86.0 µs/request (target <= 55: MISSED)", "HTML users page: 540 req/s (target >= 2 000 at 64 connections: MISSED)"},
			not: []string{"HTML users page: 100 req/s"},
		},
		{
			name:    "one round has no spread",
			pgbench: true,
			results: map[int]map[string][]sample{16: round(9600, 10000, 19000, 100, 50), 64: round(9600, 10000, 19000, 2500, 50)},
			not:     []string{"; rounds", "server CPU per request over"},
		},
		{
			name:    "rounds that disagree show their range, and the route's extra CPU",
			pgbench: true,
			results: map[int]map[string][]sample{16: rounds, 64: rounds},
			want: []string{"full/bare: 0.96 (target >= 0.95: met); rounds 0.90 to 0.99 (3)",
				"the full route's server CPU per request over the bare handler's: +5.0 %; rounds +0.0 % to +10.0 % (3)"},
		},
		{
			name:    "without pgbench",
			results: map[int]map[string][]sample{16: round(9600, 10000, 0, 100, 50), 64: round(9600, 10000, 0, 2500, 50)},
			want:    []string{"| pgbench -S -M prepared | pgbench not installed |", "full/pgbench: pgbench not installed"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := &bench{o: options{conns: []int{16, 64}, rounds: 1}, results: tt.results}
			if tt.pgbench {
				b.pgb = &pgbench{}
			}
			var out strings.Builder
			b.report(&out, targets)
			for _, w := range tt.want {
				if !strings.Contains(out.String(), w) {
					t.Errorf("report lacks %q:\n%s", w, out.String())
				}
			}
			for _, n := range tt.not {
				if strings.Contains(out.String(), n) {
					t.Errorf("report has %q:\n%s", n, out.String())
				}
			}
		})
	}
}

func TestBareProfile(t *testing.T) {
	for in, want := range map[string]string{
		"/tmp/full.prof": "/tmp/full.bare.prof",
		"cpu":            "cpu.bare",
		"a.b/c.pprof":    "a.b/c.bare.pprof",
	} {
		if got := bareProfile(in); got != want {
			t.Errorf("bareProfile(%q) = %q, want %q", in, got, want)
		}
	}
}
