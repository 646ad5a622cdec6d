package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"
)

// clockTick is USER_HZ, the unit of utime and stime in /proc/<pid>/stat. The
// kernel fixes it at 100 for user space on every architecture Go supports.
const clockTick = 10 * time.Millisecond

// procStat is what /proc/<pid>/stat says of a process's parent and CPU time.
type procStat struct {
	ppid int
	// CPU time of the process itself, and of its children it has waited for.
	cpu, childrenCPU time.Duration
}

func readProcStat(pid int) (procStat, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return procStat{}, fmt.Errorf("process CPU: %w", err)
	}
	return parseProcStat(string(b))
}

// processCPU is the CPU time (user + system) that process pid has used so far.
func processCPU(pid int) (time.Duration, error) {
	st, err := readProcStat(pid)
	return st.cpu, err
}

// parseProcStat reads ppid (field 4), utime and stime (14, 15) and cutime and
// cstime (16, 17) from a /proc/<pid>/stat line. The command name (field 2) is
// in parentheses and may itself hold spaces and parentheses, so the fields
// are counted from the last ')'.
func parseProcStat(line string) (procStat, error) {
	end := strings.LastIndexByte(line, ')')
	if end < 0 {
		return procStat{}, errors.New("proc stat: no command name")
	}
	f := strings.Fields(line[end+1:])
	// f[0] is field 3 (state), so field n is f[n-3].
	if len(f) < 15 {
		return procStat{}, fmt.Errorf("proc stat: %d fields after the command name, want at least 15", len(f))
	}
	var n [5]int64
	for i, k := range []int{1, 11, 12, 13, 14} {
		v, err := strconv.ParseInt(f[k], 10, 64)
		if err != nil || v < 0 {
			return procStat{}, fmt.Errorf("proc stat: bad field %d %q", k+3, f[k])
		}
		n[i] = v
	}
	return procStat{
		ppid:        int(n[0]),
		cpu:         time.Duration(n[1]+n[2]) * clockTick,
		childrenCPU: time.Duration(n[3]+n[4]) * clockTick,
	}, nil
}

// treeCPU is the CPU time of process root and of all its children, live or
// exited: PostgreSQL's whole server when root is the postmaster, whose
// backends come and go with their connections. Grandchildren are not counted
// (the postmaster has none).
func treeCPU(root int) (time.Duration, error) {
	st, err := readProcStat(root)
	if err != nil {
		return 0, err
	}
	total := st.cpu + st.childrenCPU
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return 0, err
	}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == root {
			continue
		}
		child, err := readProcStat(pid)
		if err != nil {
			continue // exited since the listing
		}
		if child.ppid == root {
			total += child.cpu
		}
	}
	return total, nil
}

// scrape fetches the Prometheus text exposition from the server's admin listener.
func scrape(ctx context.Context, c *http.Client, url string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return "", err
	}
	resp, err := c.Do(req)
	if err != nil {
		return "", fmt.Errorf("scrape metrics: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("scrape metrics: %s", resp.Status)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if err != nil {
		return "", fmt.Errorf("scrape metrics: %w", err)
	}
	return string(b), nil
}

// series is one sample of a metric: its labels and value.
type series struct {
	labels map[string]string
	value  float64
}

// metricSum adds up the samples of metric name (a counter or a gauge) in Prometheus text exposition
// whose labels keep accepts (nil keeps all). It fails when the metric is not
// exposed at all, so a renamed metric is an error rather than a silent zero.
func metricSum(text, name string, keep func(labels map[string]string) bool) (float64, error) {
	all, err := metricSeries(text, name)
	if err != nil {
		return 0, err
	}
	var sum float64
	for _, s := range all {
		if keep == nil || keep(s.labels) {
			sum += s.value
		}
	}
	return sum, nil
}

// metricSeries reads every sample of metric name from Prometheus text exposition.
func metricSeries(text, name string) ([]series, error) {
	var out []series
	sc := bufio.NewScanner(strings.NewReader(text))
	sc.Buffer(make([]byte, 0, 64*1024), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, name) {
			continue
		}
		rest := line[len(name):]
		labels := map[string]string{}
		if strings.HasPrefix(rest, "{") {
			var err error
			labels, rest, err = parseLabels(rest[1:])
			if err != nil {
				return nil, fmt.Errorf("metric %s: %w", name, err)
			}
		} else if !strings.HasPrefix(rest, " ") {
			continue // another metric whose name starts with this one
		}
		f := strings.Fields(rest)
		if len(f) == 0 {
			return nil, fmt.Errorf("metric %s: no value in %q", name, line)
		}
		v, err := strconv.ParseFloat(f[0], 64)
		if err != nil {
			return nil, fmt.Errorf("metric %s: %w", name, err)
		}
		out = append(out, series{labels: labels, value: v})
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("metric %s not exposed", name)
	}
	return out, nil
}

// parseLabels reads `k="v",...}` (the text after '{') and returns the labels
// and what follows the closing brace. Values may hold \", \\ and \n escapes.
func parseLabels(s string) (map[string]string, string, error) {
	labels := map[string]string{}
	for {
		s = strings.TrimLeft(s, " ,")
		if strings.HasPrefix(s, "}") {
			return labels, s[1:], nil
		}
		eq := strings.IndexByte(s, '=')
		if eq <= 0 || len(s) < eq+2 || s[eq+1] != '"' {
			return nil, "", fmt.Errorf("bad label set near %q", s)
		}
		key := strings.TrimSpace(s[:eq])
		s = s[eq+2:]
		var val strings.Builder
		closed := false
		for i := 0; i < len(s); i++ {
			switch c := s[i]; {
			case c == '\\' && i+1 < len(s):
				i++
				if s[i] == 'n' {
					val.WriteByte('\n')
				} else {
					val.WriteByte(s[i])
				}
			case c == '"':
				s, closed = s[i+1:], true
			default:
				val.WriteByte(c)
			}
			if closed {
				break
			}
		}
		if !closed {
			return nil, "", fmt.Errorf("unterminated label value for %q", key)
		}
		labels[key] = val.String()
	}
}
