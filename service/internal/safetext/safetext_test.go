package safetext

import (
	"testing"
	"unicode/utf8"
)

func TestProblem(t *testing.T) {
	tests := []struct {
		in, want string
	}{
		{"alice", ""},
		{"café ☕", ""},
		{"a\x00b", "must not contain a NUL character"},
		{"\x00admin", "must not contain a NUL character"}, // at the very start
		{"\xff\xfe", "must be valid UTF-8 text"},
		{"caf\xc3", "must be valid UTF-8 text"}, // é cut after its first byte
	}
	for _, tt := range tests {
		if got := Problem(tt.in); got != tt.want {
			t.Errorf("Problem(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestClean(t *testing.T) {
	tests := []struct{ in, want string }{
		{"Mozilla/5.0 (X11)", "Mozilla/5.0 (X11)"},
		{"curl/8\x00.1", "curl/8.1"},
		{"caf\xc3", "caf\uFFFD"},
		{"tab\tand\nnewline", "tabandnewline"},
	}
	for _, tt := range tests {
		got := Clean(tt.in)
		if got != tt.want || Problem(got) != "" {
			t.Errorf("Clean(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestTruncate(t *testing.T) {
	tests := []struct {
		name       string
		in         string
		n          int
		runes, byt string
	}{
		{"short", "abc", 5, "abc", "abc"},
		{"ascii", "abcdef", 3, "abc", "abc"},
		{"multibyte at the cut", "ééé", 2, "éé", "é"},
		{"cut inside a character", "aé", 2, "aé", "a"},
		{"emoji", "☕☕", 1, "☕", ""},
		{"zero", "abc", 0, "", ""},
		{"exactly n bytes", "aé", 3, "aé", "aé"},
		{"negative", "abc", -1, "", ""},
		// Bytes that continue a character with none begun: nothing is a
		// whole character, and nothing is read before the string.
		{"only continuation bytes", "\x80\x80\x80", 2, "\x80\x80", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := TruncateRunes(tt.in, tt.n); got != tt.runes {
				t.Errorf("TruncateRunes = %q, want %q", got, tt.runes)
			}
			if got := TruncateBytes(tt.in, tt.n); got != tt.byt || !utf8.ValidString(got) {
				t.Errorf("TruncateBytes = %q, want %q", got, tt.byt)
			}
		})
	}
}

func FuzzTruncate(f *testing.F) {
	f.Add("ééé☕a\x00\xff", 3)
	f.Fuzz(func(t *testing.T, s string, n int) {
		n %= 300
		c := Clean(s)
		if Problem(c) != "" {
			t.Fatalf("Clean(%q) = %q still has a problem", s, c)
		}
		r := TruncateRunes(c, n)
		if utf8.RuneCountInString(r) > max(n, 0) || !utf8.ValidString(r) {
			t.Fatalf("TruncateRunes(%q, %d) = %q", c, n, r)
		}
		b := TruncateBytes(c, n)
		if len(b) > max(n, 0) || !utf8.ValidString(b) {
			t.Fatalf("TruncateBytes(%q, %d) = %q", c, n, b)
		}
	})
}
