package abuse

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/gopherops/gopherops/test/journey"
)

// verificationsMetric counts every real password hash verification the server
// performs (sign-in, change-password, any other path that checks a password).
const verificationsMetric = "gopherops_password_verifications_total"

// verifications returns the server's count of password hash verifications,
// summed over all series, failing t when the server does not export it.
func (st *stack) verifications(t testing.TB) float64 {
	t.Helper()
	scrape := journey.ScrapeMetrics(t, []string{st.srv.AdminURL})
	exported := false
	for _, fams := range scrape {
		if _, ok := fams[verificationsMetric]; ok {
			exported = true
		}
	}
	require.True(t, exported, "the admin listener's /metrics must export %s (every password hash verification)", verificationsMetric)
	return scrape.Sum(verificationsMetric, nil)
}

// memory is what /proc/<pid>/status says of a process's resident memory.
type memory struct {
	// Peak is VmHWM, the most the process ever had resident.
	Peak int64
	// Now is VmRSS.
	Now int64
}

func (m memory) String() string {
	return fmt.Sprintf("peak %s, now %s", mib(m.Peak), mib(m.Now))
}

// mib formats bytes in MiB.
func mib(b int64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }

// residentMemory reads the server process's resident memory.
func (st *stack) residentMemory(t testing.TB) memory {
	t.Helper()
	m, err := readMemory(st.srv.Pid())
	require.NoError(t, err)
	return m
}

// readMemory parses VmHWM and VmRSS from /proc/<pid>/status.
func readMemory(pid int) (memory, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return memory{}, fmt.Errorf("read the server's memory: %w", err)
	}
	defer f.Close()
	var m memory
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		key, val, ok := strings.Cut(sc.Text(), ":")
		if !ok || (key != "VmHWM" && key != "VmRSS") {
			continue
		}
		fields := strings.Fields(val)
		if len(fields) != 2 || fields[1] != "kB" {
			return memory{}, fmt.Errorf("/proc/%d/status: unexpected %s line %q", pid, key, sc.Text())
		}
		kb, err := strconv.ParseInt(fields[0], 10, 64)
		if err != nil {
			return memory{}, fmt.Errorf("/proc/%d/status: %s: %w", pid, key, err)
		}
		if key == "VmHWM" {
			m.Peak = kb << 10
		} else {
			m.Now = kb << 10
		}
	}
	if err := sc.Err(); err != nil {
		return memory{}, fmt.Errorf("/proc/%d/status: %w", pid, err)
	}
	if m.Peak == 0 || m.Now == 0 {
		return memory{}, fmt.Errorf("/proc/%d/status has no VmHWM/VmRSS", pid)
	}
	return m, nil
}

// readTail returns the last n lines of the file at path.
func readTail(path string, n int) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n"), nil
}
