package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestParseProcStat(t *testing.T) {
	tests := []struct {
		name    string
		line    string
		want    procStat
		wantErr bool
	}{
		{
			name: "ppid and CPU times in clock ticks",
			line: "4242 (gopherops) S 1 4242 4242 0 -1 4194560 2911 0 0 0 250 70 5 6 20 0 9 0 123 1234567 890 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0",
			want: procStat{ppid: 1, cpu: 3200 * time.Millisecond, childrenCPU: 110 * time.Millisecond},
		},
		{
			name: "command name with spaces and parentheses",
			line: "7 (a (b) c) R 3 7 7 0 -1 0 0 0 0 0 3 4 0 0 20 0 1 0 5 0 0",
			want: procStat{ppid: 3, cpu: 70 * time.Millisecond},
		},
		{name: "no command name", line: "7 gopherops R 1", wantErr: true},
		{name: "too few fields", line: "7 (x) R 1 7 7 0 -1 0 0 0 0 0 3 4 0", wantErr: true},
		{name: "negative time", line: "7 (x) R 1 7 7 0 -1 0 0 0 0 0 -3 4 0 0", wantErr: true},
		{name: "not a number", line: "7 (x) R 1 7 7 0 -1 0 0 0 0 0 3 x 0 0", wantErr: true},
		{name: "empty", line: "", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseProcStat(tt.line)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
			if got != tt.want {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestTreeCPUCountsLiveAndExitedChildren(t *testing.T) {
	// This test process is the root; a child that spins and exits moves its
	// CPU time into our children's time once waited for.
	before, err := treeCPU(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("sh", "-c", "i=0; while [ $i -lt 50000 ]; do i=$((i+1)); done")
	if err := cmd.Run(); err != nil {
		t.Skipf("no sh to spin: %v", err)
	}
	after, err := treeCPU(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	child := cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
	if after-before < child-2*clockTick {
		t.Errorf("tree CPU grew by %v, but the exited child alone used %v", after-before, child)
	}
	if _, err := treeCPU(1 << 30); err == nil {
		t.Error("a process that does not exist has no tree")
	}
}

func TestProcessCPUReadsThisProcess(t *testing.T) {
	before, err := processCPU(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	// Spin until the kernel has accounted a few ticks to this process: the
	// reading must move forward, in whole ticks.
	deadline := time.Now().Add(10 * time.Second)
	var after time.Duration
	for after < before+3*clockTick && time.Now().Before(deadline) {
		for x := 0; x < 1_000_000; x++ {
			_ = x * x
		}
		if after, err = processCPU(os.Getpid()); err != nil {
			t.Fatal(err)
		}
	}
	if after < before+3*clockTick || after%clockTick != 0 {
		t.Errorf("CPU time went from %v to %v after spinning", before, after)
	}
	if _, err := processCPU(1 << 30); err == nil {
		t.Error("a process that does not exist has no CPU time")
	}
}

const exposition = `# HELP go_memstats_mallocs_total Total number of heap objects allocated, both live and gc-ed.
# TYPE go_memstats_mallocs_total counter
go_memstats_mallocs_total 1.234567e+06
# HELP go_memstats_mallocs_total_extra not the same metric
go_memstats_mallocs_total_extra 99
# HELP http_requests_total HTTP requests served, by method, route template and status code.
# TYPE http_requests_total counter
http_requests_total{method="GET",route="/api/v1/users/:id",status="200"} 81234
http_requests_total{method="GET",route="/users",status="303"} 2
http_requests_total{method="POST",route="/api/v1/users",status="201"} 200
http_requests_total{method="GET",route="/odd \"quoted\", {route}",status="500"} 3 1700000000000
`

func TestMetricSum(t *testing.T) {
	not200 := func(l map[string]string) bool { return l["status"] != "200" }
	tests := []struct {
		name    string
		text    string
		metric  string
		keep    func(map[string]string) bool
		want    float64
		wantErr bool
	}{
		{name: "unlabelled counter in exponent notation", text: exposition, metric: "go_memstats_mallocs_total", want: 1234567},
		{name: "labelled counter, every series", text: exposition, metric: "http_requests_total", want: 81234 + 2 + 200 + 3},
		{name: "labelled counter filtered, escaped label and timestamp", text: exposition, metric: "http_requests_total", keep: not200, want: 2 + 200 + 3},
		{name: "filter matching nothing is zero, not an error", text: exposition, metric: "http_requests_total",
			keep: func(map[string]string) bool { return false }, want: 0},
		{name: "metric not exposed", text: exposition, metric: "process_cpu_seconds_total", wantErr: true},
		{name: "bad value", text: "x_total abc\n", metric: "x_total", wantErr: true},
		{name: "unterminated label", text: "x_total{a=\"b} 1\n", metric: "x_total", wantErr: true},
		{name: "label without quotes", text: "x_total{a=b} 1\n", metric: "x_total", wantErr: true},
		{name: "no value", text: "x_total{a=\"b\"}\n", metric: "x_total", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := metricSum(tt.text, tt.metric, tt.keep)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
			if got != tt.want {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestParseLabels(t *testing.T) {
	labels, rest, err := parseLabels(`route="/a\"b\\c\nd",status="200"} 5`)
	if err != nil {
		t.Fatal(err)
	}
	if labels["route"] != "/a\"b\\c\nd" || labels["status"] != "200" || rest != " 5" {
		t.Errorf("got %q, rest %q", labels, rest)
	}
}

func TestErrorLines(t *testing.T) {
	path := filepath.Join(t.TempDir(), "serve.log")
	log := `{"level":"INFO","msg":"request","status":200}
{"level":"ERROR","msg":"request","status":500,"error":"context canceled"}
{"level":"WARN","msg":"slow"}
{"level":"ERROR","msg":"second"}
{"level":"ERROR","msg":"third"}
`
	if err := os.WriteFile(path, []byte(log), 0o600); err != nil {
		t.Fatal(err)
	}
	got := errorLines(path, 2)
	if len(got) != 2 || !strings.Contains(got[0], "context canceled") || !strings.Contains(got[1], "second") {
		t.Errorf("got %q", got)
	}
	if got := errorLines(filepath.Join(t.TempDir(), "missing"), 5); got != nil {
		t.Errorf("missing log: got %q", got)
	}
}
