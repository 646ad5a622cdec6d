// Package quantity parses the subset of Kubernetes resource quantities the
// platform accepts for CPU and memory, so that requests, limits and the Go
// runtime settings derived from them (GOMAXPROCS, GOMEMLIMIT) can be checked
// before anything is deployed.
package quantity

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// memorySuffixes maps Kubernetes memory suffixes to their multiplier in bytes.
var memorySuffixes = []struct {
	suffix string
	factor float64
}{
	{"Ki", 1 << 10}, {"Mi", 1 << 20}, {"Gi", 1 << 30}, {"Ti", 1 << 40},
	{"k", 1e3}, {"M", 1e6}, {"G", 1e9}, {"T", 1e12},
}

// CPUMillis parses a CPU quantity such as "250m", "1" or "1.5" into millicores.
func CPUMillis(s string) (int64, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, fmt.Errorf("empty CPU quantity")
	}
	if v, ok := strings.CutSuffix(s, "m"); ok {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n <= 0 {
			return 0, fmt.Errorf("invalid CPU quantity %q: want e.g. 250m or 1", s)
		}
		return n, nil
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || f <= 0 || math.IsInf(f, 0) || math.IsNaN(f) {
		return 0, fmt.Errorf("invalid CPU quantity %q: want e.g. 250m or 1", s)
	}
	return int64(math.Round(f * 1000)), nil
}

// MemoryBytes parses a memory quantity such as "256Mi", "1Gi", "500M" or a
// plain byte count into bytes.
func MemoryBytes(s string) (int64, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, fmt.Errorf("empty memory quantity")
	}
	factor := 1.0
	num := s
	for _, m := range memorySuffixes {
		if v, ok := strings.CutSuffix(s, m.suffix); ok {
			num, factor = v, m.factor
			break
		}
	}
	f, err := strconv.ParseFloat(num, 64)
	if err != nil || f <= 0 || math.IsInf(f, 0) || math.IsNaN(f) {
		return 0, fmt.Errorf("invalid memory quantity %q: want e.g. 256Mi or 1Gi", s)
	}
	return int64(f * factor), nil
}

// GoMemLimit returns a GOMEMLIMIT value of about 90% of the given memory
// limit, expressed in MiB so the Go runtime parses it exactly.
func GoMemLimit(memoryLimit string) (string, error) {
	b, err := MemoryBytes(memoryLimit)
	if err != nil {
		return "", err
	}
	mib := b * 9 / 10 / (1 << 20)
	if mib < 1 {
		return "", fmt.Errorf("memory limit %q is too small for GOMEMLIMIT", memoryLimit)
	}
	return strconv.FormatInt(mib, 10) + "MiB", nil
}
