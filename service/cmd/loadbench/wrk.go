package main

import (
	"bytes"
	"context"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// wrkScript is the Lua script wrk runs: it rotates through the paths, sends
// the target's headers, and prints one machine-readable summary line at the
// end (exact microseconds rather than wrk's rounded text).
const wrkScript = `local paths = {%s}
local n = 0
%s
request = function()
  n = n + 1
  return wrk.format(nil, paths[(n %% #paths) + 1])
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("loadbench requests=%%.0f duration_us=%%.0f p50_us=%%.0f p99_us=%%.0f connect=%%.0f read=%%.0f write=%%.0f status=%%.0f timeout=%%.0f\n",
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    e.connect, e.read, e.write, e.status, e.timeout))
end
`

// writeWrkScript writes the Lua script for t into dir and returns its path.
func writeWrkScript(dir string, t target) (string, error) {
	quoted := make([]string, len(t.paths))
	for i, p := range t.paths {
		quoted[i] = luaQuote(p)
	}
	var headers strings.Builder
	for _, k := range slices.Sorted(maps.Keys(t.header)) {
		fmt.Fprintf(&headers, "wrk.headers[%s] = %s\n", luaQuote(k), luaQuote(strings.Join(t.header[k], ", ")))
	}
	path := filepath.Join(dir, fmt.Sprintf("wrk-%s.lua", t.key))
	script := fmt.Sprintf(wrkScript, strings.Join(quoted, ", "), headers.String())
	return path, os.WriteFile(path, []byte(script), 0o600)
}

// luaQuote makes a Lua string literal of s, escaping every byte that is not
// printable ASCII (and the quote and backslash) as \ddd, so that no value can
// end the literal early.
func luaQuote(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c > 0x7e || c == '"' || c == '\\' {
			fmt.Fprintf(&b, "\\%03d", c)
			continue
		}
		b.WriteByte(c)
	}
	b.WriteByte('"')
	return b.String()
}

// wrkGenerator drives wrk (two threads) with a script per target.
type wrkGenerator struct {
	path    string // the wrk executable
	scripts map[string]string
}

func (g *wrkGenerator) name() string { return "wrk -t2 (" + g.path + ")" }

func (g *wrkGenerator) load(ctx context.Context, t target, conns int, d time.Duration) (sample, error) {
	secs := max(1, int((d+time.Second-1)/time.Second))
	cmd := exec.CommandContext(ctx, g.path, "-t2", "-c"+strconv.Itoa(conns), "-d"+strconv.Itoa(secs)+"s",
		"--timeout", "10s", "--latency", "-s", g.scripts[t.key], t.base)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		return sample{}, fmt.Errorf("wrk: %w: %s", err, errOut.String())
	}
	s, err := parseWrkSummary(out.String())
	if err != nil {
		return sample{}, fmt.Errorf("%w\n%s", err, out.String())
	}
	return s, nil
}

// parseWrkSummary reads the line the script's done() prints.
func parseWrkSummary(out string) (sample, error) {
	for _, line := range strings.Split(out, "\n") {
		rest, ok := strings.CutPrefix(strings.TrimSpace(line), "loadbench ")
		if !ok {
			continue
		}
		v := map[string]float64{}
		for _, kv := range strings.Fields(rest) {
			k, val, ok := strings.Cut(kv, "=")
			if !ok {
				return sample{}, fmt.Errorf("wrk summary: bad field %q", kv)
			}
			f, err := strconv.ParseFloat(val, 64)
			if err != nil || f < 0 {
				return sample{}, fmt.Errorf("wrk summary: bad value in %q", kv)
			}
			v[k] = f
		}
		for _, k := range []string{"requests", "duration_us", "p50_us", "p99_us", "connect", "read", "write", "status", "timeout"} {
			if _, ok := v[k]; !ok {
				return sample{}, fmt.Errorf("wrk summary: no %s in %q", k, line)
			}
		}
		if v["duration_us"] == 0 {
			return sample{}, fmt.Errorf("wrk summary: zero duration in %q", line)
		}
		errs := int64(v["connect"] + v["read"] + v["write"] + v["status"] + v["timeout"])
		reqs := int64(v["requests"])
		return sample{
			requests: reqs,
			// wrk counts non-2xx/3xx replies among its requests; they are errors, not throughput.
			rps:    float64(reqs-int64(v["status"])) / (v["duration_us"] / 1e6),
			p50:    time.Duration(v["p50_us"]) * time.Microsecond,
			p99:    time.Duration(v["p99_us"]) * time.Microsecond,
			errors: errs,
		}, nil
	}
	return sample{}, fmt.Errorf("wrk printed no summary line")
}
