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

// TestUnicodeNormalisation: one password, whichever way its accents were typed,
// on every path that hashes or verifies (NIST SP 800-63B asks for NFC).
func TestUnicodeNormalisation(t *testing.T) {
	const (
		nfc = "caf\u00e9 cr\u00e8me br\u00fbl\u00e9e au four"     // é, è, û as single code points
		nfd = "cafe\u0301 cre\u0300me bru\u0302le\u0301e au four" // base letters plus combining accents
	)
	if nfc == nfd || Normalize(nfd) != nfc {
		t.Fatal("the fixtures must differ as bytes and agree in NFC")
	}
	h := NewHasher(FastParams)
	tests := []struct {
		name          string
		hashed, typed string
	}{
		{"created NFC, typed NFC", nfc, nfc},
		{"created NFC, typed NFD", nfc, nfd},
		{"created NFD, typed NFC", nfd, nfc},
		{"created NFD, typed NFD", nfd, nfd},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			enc, err := h.Hash(tt.hashed)
			if err != nil {
				t.Fatal(err)
			}
			if err := h.Verify(enc, tt.typed); err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if err := h.Verify(enc, tt.typed+"x"); !errors.Is(err, ErrMismatch) {
				t.Fatalf("a different password: %v, want ErrMismatch", err)
			}
		})
	}
	// A hash stored before normalisation holds the NFD bytes as typed; the
	// same keyboard must still sign in.
	p := FastParams
	salt := []byte("0123456789abcdef")
	legacy := encode(p, salt, h.key(nfd, salt, p, keyLen))
	if err := h.Verify(legacy, nfd); err != nil {
		t.Fatalf("legacy NFD hash, typed NFD: %v", err)
	}
}
