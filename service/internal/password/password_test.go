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

// TestHashFormat: a stored hash is used only when every part of it is what
// this package writes; one it did not write is refused, never verified.
func TestHashFormat(t *testing.T) {
	h := NewHasher(FastParams)
	enc, err := h.Hash("granite-willow-spark-19")
	if err != nil {
		t.Fatal(err)
	}
	if h.NeedsRehash(enc) {
		t.Fatal("a hash made with the hasher's own parameters asks for a rehash")
	}
	if !h.NeedsRehash("plain") {
		t.Fatal("a value that is not a hash does not ask for a rehash")
	}
	parts := strings.Split(enc, "$")
	tests := map[string]string{
		"another argon2 version": strings.Replace(enc, "$v=19$", "$v=16$", 1),
		// An empty key would compare equal to the empty key derived for
		// it: every password would verify.
		"an empty key":         strings.Join(append(parts[:5:5], ""), "$"),
		"a key not in base64":  strings.Join(append(parts[:5:5], "!!"), "$"),
		"a salt not in base64": strings.Join([]string{"", parts[1], parts[2], parts[3], "!!", parts[5]}, "$"),
	}
	for name, stored := range tests {
		t.Run(name, func(t *testing.T) {
			if err := h.Verify(stored, "granite-willow-spark-19"); err == nil || errors.Is(err, ErrMismatch) {
				t.Fatalf("Verify(%q) = %v, want a format error", stored, err)
			}
		})
	}
}

// TestPolicyEdges: each rule's boundary, and that only what the rule names
// is refused.
func TestPolicyEdges(t *testing.T) {
	p := NewPolicy()
	long := strings.Repeat("granite-willow-spark-", 13)
	tests := []struct {
		name string
		pw   string
		ctxt []string
		why  string // "" when accepted
	}{
		{"15 characters", "violet-canyon-7", nil, ""},
		{"14 characters", "violet-canyon-", nil, "at least 15"},
		{"15 characters, more bytes", "vïölet-cänyon-7", nil, ""},
		{"256 characters", long[:256], nil, ""},
		{"257 characters", long[:257], nil, "at most 256"},
		{"a unit of 4 repeated", "wxyzwxyzwxyzwxyz", nil, "repeated"},
		{"a unit of 8 repeated is not a short pattern", "granite-granite-granite", nil, ""},
		{"an ascending run wraps only from 9 to 0", "3456789123456789", nil, ""},
		{"a descending run wraps from 0 to 9", "8765432109876543", nil, "sequential"},
		{"a descending run wraps only from 0 to 9", "8765432108765432", nil, ""},
		{"a 3-character username", "bob-likes-granite-hills", []string{"Bob"}, "username"},
		{"a 2-character username is too short to matter", "always-granite-hills", []string{"al"}, ""},
		{"context not in the password", "granite-willow-spark-19", []string{"carol", "carol@example.com", ""}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := p.Check(tt.pw, tt.ctxt...)
			if tt.why == "" && got != "" || tt.why != "" && !strings.Contains(got, tt.why) {
				t.Fatalf("Check(%q, %q) = %q, want %q", tt.pw, tt.ctxt, got, tt.why)
			}
		})
	}
}

// TestCommonListComments: the list's comment and blank lines are not
// passwords.
func TestCommonListComments(t *testing.T) {
	p := NewPolicy()
	comments := 0
	for _, line := range strings.Split(commonList, "\n") {
		if line = strings.TrimSpace(line); strings.HasPrefix(line, "#") {
			comments++
			if _, listed := p.common[strings.ToLower(line)]; listed {
				t.Errorf("the comment %q is listed as a password", line)
			}
		}
	}
	if _, listed := p.common[""]; listed || comments == 0 || len(p.common) < 100 {
		t.Fatalf("empty listed %v, %d comments, %d passwords", listed, comments, len(p.common))
	}
}
