package httpapi

import (
	"math"
	"strings"
	"testing"
)

func TestFormats(t *testing.T) {
	tests := []struct {
		name string
		got  string
		want string
	}{
		{"uptime under a minute", formatUptime(42.9), "0m 42s"},
		{"uptime in hours", formatUptime(3*3600 + 5), "3h 0m 5s"},
		{"uptime in days keeps zero hours", formatUptime(2*86400 + 61), "2d 0h 1m 1s"},
		{"a domain message becomes a sentence", sentence("username is already taken"), "Username is already taken."},
		{"a sentence stays one", sentence("Try again?"), "Try again?"},
		{"a field message names the field", fieldMessage("new_password", "must be at least 15 characters long"), "New password must be at least 15 characters long."},
		{"an unknown field is quoted", fieldLabel("x-extra"), `The field "x-extra"`},
		{"a hostile field name is not echoed", fieldLabel("a\x00b"), "A field"},
		{"a known audit action", auditLabel("user.password_reset"), "Reset password of"},
		{"an unknown audit action reads as words", auditLabel("auth.token_rotated"), "Token rotated"},
		{"truncation keeps whole characters", pageTruncate("añb", 2), "a"},
		{"truncation of short text", pageTruncate("ab", 5), "ab"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.got != tc.want {
				t.Fatalf("got %q, want %q", tc.got, tc.want)
			}
		})
	}
}

func TestNiceCeil(t *testing.T) {
	for in, want := range map[float64]float64{0: 1, 0.3: 0.5, 1: 1, 1.2: 2, 4.9: 5, 7: 10, 180: 200, 2500: 5000} {
		if got := niceCeil(in); math.Abs(got-want) > 1e-9 {
			t.Errorf("niceCeil(%v) = %v, want %v", in, got, want)
		}
	}
}

func TestNewChart(t *testing.T) {
	nan := math.NaN()
	tests := []struct {
		name      string
		values    []float64
		wantMoves int // one "M" per run of data
		wantEmpty bool
		wantPeak  string
	}{
		{"no data at all", []float64{nan, nan, nan}, 0, true, "1.0 ms"},
		{"one run", []float64{1, 2, 3}, 1, false, "5.0 ms"},
		{"a gap splits the line", []float64{1, nan, nan, 4, 5}, 2, false, "5.0 ms"},
		{"a floor keeps quiet charts flat", []float64{0.01, 0.02}, 1, false, "1.0 ms"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ch := newChart("Database latency", tc.values, 1, formatMillis, 10)
			if ch.Empty != tc.wantEmpty || strings.Count(ch.Path, "M") != tc.wantMoves || ch.Peak != tc.wantPeak {
				t.Fatalf("empty %v, path %q, peak %q", ch.Empty, ch.Path, ch.Peak)
			}
			if !tc.wantEmpty && strings.Count(ch.Area, "Z") != tc.wantMoves {
				t.Fatalf("area %q: want %d closed shapes", ch.Area, tc.wantMoves)
			}
			for _, f := range strings.FieldsFunc(ch.Path, func(r rune) bool { return r == 'M' || r == 'L' || r == ' ' }) {
				if strings.Contains(f, "NaN") || strings.Contains(f, "Inf") {
					t.Fatalf("path %q holds a non-number", ch.Path)
				}
			}
			if !strings.Contains(ch.Summary, "over the last 10 minutes") {
				t.Fatalf("summary %q", ch.Summary)
			}
		})
	}
}
