package main

import (
	"net/http"
	"os"
	"strings"
	"testing"
	"time"
)

func TestParseWrkSummary(t *testing.T) {
	const banner = "Running 10s test @ http://127.0.0.1:8080\n  2 threads and 16 connections\n"
	tests := []struct {
		name    string
		out     string
		want    sample
		wantErr bool
	}{
		{
			name: "clean run",
			out:  banner + "loadbench requests=76900 duration_us=10000000 p50_us=1840 p99_us=6120 connect=0 read=0 write=0 status=0 timeout=0\n",
			want: sample{requests: 76900, rps: 7690, p50: 1840 * time.Microsecond, p99: 6120 * time.Microsecond},
		},
		{
			name: "error replies are errors, not throughput",
			out:  "loadbench requests=1000 duration_us=2000000 p50_us=900 p99_us=3000 connect=1 read=2 write=3 status=100 timeout=4\n",
			want: sample{requests: 1000, rps: 450, p50: 900 * time.Microsecond, p99: 3 * time.Millisecond, errors: 110},
		},
		{name: "no summary line (script not loaded)", out: banner + "Requests/sec: 7690.00\n", wantErr: true},
		{name: "field missing", out: "loadbench requests=1 duration_us=1 p50_us=1 p99_us=1 connect=0 read=0 write=0 status=0\n", wantErr: true},
		{name: "bad number", out: "loadbench requests=x duration_us=1 p50_us=1 p99_us=1 connect=0 read=0 write=0 status=0 timeout=0\n", wantErr: true},
		{name: "zero duration", out: "loadbench requests=1 duration_us=0 p50_us=1 p99_us=1 connect=0 read=0 write=0 status=0 timeout=0\n", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseWrkSummary(tt.out)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
			if got != tt.want {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestLuaQuote(t *testing.T) {
	tests := []struct{ in, want string }{
		{"/api/v1/users/42", `"/api/v1/users/42"`},
		{`Bearer a"b\c`, `"Bearer a\034b\092c"`},
		{"x\ny\x00é", `"x\010y\000\195\169"`},
		{"", `""`},
	}
	for _, tt := range tests {
		if got := luaQuote(tt.in); got != tt.want {
			t.Errorf("luaQuote(%q) = %s, want %s", tt.in, got, tt.want)
		}
	}
}

func TestWriteWrkScript(t *testing.T) {
	dir := t.TempDir()
	path, err := writeWrkScript(dir, target{key: "full", paths: []string{"/a/1", "/a/2"},
		header: http.Header{"Authorization": {"Bearer t"}, "Cookie": {"s=1"}}})
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	script := string(b)
	for _, want := range []string{
		`local paths = {"/a/1", "/a/2"}`,
		`wrk.headers["Authorization"] = "Bearer t"`,
		`wrk.headers["Cookie"] = "s=1"`,
		`paths[(n % #paths) + 1]`,
		`latency:percentile(99)`,
	} {
		if !strings.Contains(script, want) {
			t.Errorf("script lacks %q:\n%s", want, script)
		}
	}
	if strings.Contains(script, "%!") {
		t.Errorf("formatting error in script:\n%s", script)
	}
}
