package password

import (
	"errors"
	"strings"
	"testing"
)

func TestHashVerify(t *testing.T) {
	h := NewHasher(FastParams)
	enc, err := h.Hash("granite-willow-spark-19")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(enc, "$argon2id$v=19$m=1024,t=1,p=1$") {
		t.Fatalf("not a PHC argon2id string: %s", enc)
	}
	if err := h.Verify(enc, "granite-willow-spark-19"); err != nil {
		t.Fatalf("verify: %v", err)
	}
	if err := h.Verify(enc, "granite-willow-spark-20"); !errors.Is(err, ErrMismatch) {
		t.Fatalf("wrong password: %v", err)
	}
	if again, _ := h.Hash("granite-willow-spark-19"); again == enc {
		t.Fatal("two hashes of one password are equal: no salt")
	}
	// Hashes made with other parameters still verify, and ask for a rehash.
	strong := NewHasher(DefaultParams)
	if err := strong.Verify(enc, "granite-willow-spark-19"); err != nil || !strong.NeedsRehash(enc) {
		t.Fatalf("old parameters: verify %v, rehash %v", err, strong.NeedsRehash(enc))
	}
	for _, bad := range []string{"", "plain", "$2a$10$bcrypt", "$argon2id$v=19$m=x$a$b"} {
		if err := h.Verify(bad, "x"); err == nil || errors.Is(err, ErrMismatch) {
			t.Errorf("Verify(%q) = %v, want a format error", bad, err)
		}
	}
}

func TestPolicy(t *testing.T) {
	p := NewPolicy()
	tests := []struct {
		pw   string
		ok   bool
		why  string
		ctxt []string
	}{
		{"granite-willow-spark-19", true, "", nil},
		{"correct horse battery", true, "", nil},
		{"ünïcödé-pässwörd-okay", true, "", nil},
		{"short", false, "at least 15", nil},
		{strings.Repeat("x", 257), false, "at most 256", nil},
		{"passwordpassword", false, "commonly used", nil},
		{"Password123456789", false, "commonly used", nil},
		{"qwertyuiop123456", false, "commonly used", nil},
		{"aaaaaaaaaaaaaaaaaa", false, "repeated", nil},
		{"abcabcabcabcabcabc", false, "repeated", nil},
		{"123456789012345678", false, "", nil},
		{"alice-in-wonderland-1865", false, "username", []string{"alice"}},
		{"tab\there-is-not-allowed", false, "control", nil},
		{"NoDigitsOrSymbolsButLong", true, "", nil}, // no composition rules
	}
	for _, tt := range tests {
		got := p.Check(tt.pw, tt.ctxt...)
		if tt.ok && got != "" {
			t.Errorf("Check(%q) refused: %s", tt.pw, got)
		}
		if !tt.ok && (got == "" || !strings.Contains(got, tt.why)) {
			t.Errorf("Check(%q) = %q, want a refusal mentioning %q", tt.pw, got, tt.why)
		}
	}
}
