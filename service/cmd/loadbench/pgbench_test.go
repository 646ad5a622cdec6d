package main

import (
	"bufio"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

const pgbench15 = `pgbench (15.18 (Debian 15.18-0+deb12u1))
transaction type: <builtin: select only>
scaling factor: 1
query mode: prepared
number of clients: 16
number of threads: 2
maximum number of tries: 1
duration: 10 s
number of transactions actually processed: 249801
number of failed transactions: 0 (0.000%)
latency average = 0.640 ms
initial connection time = 12.851 ms
tps = 24980.123456 (without initial connection time)
`

func TestParsePgbench(t *testing.T) {
	tests := []struct {
		name    string
		out     string
		want    sample
		wantErr bool
	}{
		{name: "PostgreSQL 15 report", out: pgbench15,
			want: sample{rps: 24980.123456, requests: 249801, mean: 640 * time.Microsecond}},
		{name: "failed transactions", out: strings.Replace(pgbench15, "failed transactions: 0 (0.000%)", "failed transactions: 7 (0.003%)", 1),
			want: sample{rps: 24980.123456, requests: 249801, errors: 7, mean: 640 * time.Microsecond}},
		{name: "aborted run", out: pgbench15 + "pgbench: error: Run was aborted; the above results are incomplete.\n",
			want: sample{rps: 24980.123456, requests: 249801, errors: 1, mean: 640 * time.Microsecond}},
		{name: "older report without the failure line",
			out:  "number of transactions actually processed: 10\nlatency average = 1.000 ms\ntps = 10.0 (without initial connection time)\n",
			want: sample{rps: 10, requests: 10, mean: time.Millisecond}},
		{name: "no tps", out: "number of transactions actually processed: 10\n", wantErr: true},
		{name: "too short to connect every client",
			out:  "number of transactions actually processed: 0\nnumber of failed transactions: 0 (NaN%)\n",
			want: sample{}},
		{name: "no transaction count", out: "tps = 10.0 (without initial connection time)\n", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parsePgbench(tt.out)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
			if got != tt.want {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestParsePgbenchLog(t *testing.T) {
	tests := []struct {
		name    string
		log     string
		want    []time.Duration
		wantErr bool
	}{
		{name: "latencies in µs", log: "0 1 640 0 1700000000 123456\n1 1 1210 0 1700000000 123999\n",
			want: []time.Duration{640 * time.Microsecond, 1210 * time.Microsecond}},
		{name: "failed and skipped transactions are not served", log: "0 1 failed 0 1700000000 1\n0 2 skipped 0 1700000000 2\n0 3 90 0 1700000000 3\n\n",
			want: []time.Duration{90 * time.Microsecond}},
		{name: "empty log", log: "", want: nil},
		{name: "short line", log: "0 1 640\n", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parsePgbenchLog(bufio.NewScanner(strings.NewReader(tt.log)))
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestLibpqEnv(t *testing.T) {
	tests := []struct {
		name    string
		url     string
		want    []string
		wantErr bool
	}{
		{name: "pglocal URL", url: "postgres://postgres:s3cr%2Ft@127.0.0.1:5433/bench?sslmode=disable",
			want: []string{"PGDATABASE=other", "PGHOST=127.0.0.1", "PGPORT=5433", "PGUSER=postgres", "PGPASSWORD=s3cr/t", "PGSSLMODE=disable"}},
		{name: "no port, user or options", url: "postgresql://db.internal/app",
			want: []string{"PGDATABASE=other", "PGHOST=db.internal"}},
		{name: "not postgres", url: "mysql://x/y", wantErr: true},
		{name: "unparsable", url: "postgres://%zz", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := libpqEnv(tt.url, "other")
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestFindPgbench(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("PATH", t.TempDir()) // nothing on PATH
	noDir := func() (string, error) { return "", errors.New("no PostgreSQL") }
	if _, ok := findPgbench(noDir); ok {
		t.Fatal("found pgbench with an empty PATH and no server binaries")
	}
	fake := filepath.Join(dir, "pgbench")
	if err := os.WriteFile(fake, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if got, ok := findPgbench(func() (string, error) { return dir, nil }); !ok || got != fake {
		t.Errorf("findPgbench = %q, %v; want %q beside the server binaries", got, ok, fake)
	}
}

func TestPercentiles(t *testing.T) {
	lat := make([]time.Duration, 0, 200)
	for i := 200; i >= 1; i-- {
		lat = append(lat, time.Duration(i)*time.Microsecond)
	}
	p50, p99 := percentiles(lat)
	if p50 != 101*time.Microsecond || p99 != 199*time.Microsecond {
		t.Errorf("p50 %v, p99 %v; want 101µs, 199µs", p50, p99)
	}
	if p50, p99 := percentiles(nil); p50 != 0 || p99 != 0 {
		t.Errorf("empty: %v %v", p50, p99)
	}
}
