// Package password hashes passwords with argon2id and checks new passwords
// against a policy in the spirit of NIST SP 800-63B: length, not composition,
// and never a well-known password.
package password

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"runtime"
	"strings"

	"golang.org/x/crypto/argon2"
)

// Params are argon2id cost parameters.
type Params struct {
	Memory  uint32 // KiB
	Time    uint32
	Threads uint8
}

// DefaultParams follow OWASP's argon2id baseline (19 MiB, 2 passes, 1 lane):
// strong enough for a web login, cheap enough for a 2-core pod under load.
var DefaultParams = Params{Memory: 19 * 1024, Time: 2, Threads: 1}

// FastParams are for tests only: correct hashes at a fraction of the cost.
var FastParams = Params{Memory: 1024, Time: 1, Threads: 1}

// ErrMismatch is returned when a password does not match its hash.
var ErrMismatch = errors.New("password: mismatch")

// Hasher hashes and verifies passwords in PHC string format.
type Hasher struct {
	p Params
	// slots bounds concurrent hashes to the number of cores: argon2id is
	// memory-hard, so a burst of sign-ins would otherwise hold Memory per
	// request at once (64 × 19 MiB) and thrash caches, which measured three
	// times slower than taking turns.
	slots chan struct{}
}

// NewHasher returns a hasher that hashes new passwords with p.
func NewHasher(p Params) *Hasher {
	return &Hasher{p: p, slots: make(chan struct{}, max(1, runtime.GOMAXPROCS(0)))}
}

func (h *Hasher) key(pw string, salt []byte, p Params, n uint32) []byte {
	h.slots <- struct{}{}
	defer func() { <-h.slots }()
	return argon2.IDKey([]byte(pw), salt, p.Time, p.Memory, p.Threads, n)
}

const saltLen, keyLen = 16, 32

// Hash returns the PHC-encoded argon2id hash of pw with a fresh salt. pw is
// hashed in Unicode NFC (NIST SP 800-63B), so "é" typed as one code point or
// as "e" plus a combining accent (as macOS keyboards produce) is one password.
func (h *Hasher) Hash(pw string) (string, error) {
	pw = Normalize(pw)
	salt := make([]byte, saltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("password: salt: %w", err)
	}
	return encode(h.p, salt, h.key(pw, salt, h.p, keyLen)), nil
}

// encode writes a hash in the PHC string format decode reads.
func encode(p Params, salt, key []byte) string {
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, p.Memory, p.Time, p.Threads, b64.EncodeToString(salt), b64.EncodeToString(key))
}

// Verify reports nil when pw matches encoded, ErrMismatch when it does not, and
// another error when encoded is not a hash this package understands. The
// parameters are read from the hash, so old hashes keep working after a change.
// pw is compared in NFC, as Hash stores it; a hash made before passwords were
// normalised holds the raw bytes, so a non-NFC pw that fails in NFC is tried
// once as typed.
func (h *Hasher) Verify(encoded, pw string) error {
	p, salt, want, err := decode(encoded)
	if err != nil {
		return err
	}
	nfc := Normalize(pw)
	if subtle.ConstantTimeCompare(h.key(nfc, salt, p, uint32(len(want))), want) == 1 {
		return nil
	}
	if nfc != pw && subtle.ConstantTimeCompare(h.key(pw, salt, p, uint32(len(want))), want) == 1 {
		return nil
	}
	return ErrMismatch
}

// NeedsRehash reports whether encoded was made with other parameters than h's.
func (h *Hasher) NeedsRehash(encoded string) bool {
	p, _, _, err := decode(encoded)
	return err != nil || p != h.p
}

func decode(encoded string) (Params, []byte, []byte, error) {
	parts := strings.Split(encoded, "$")
	if len(parts) != 6 || parts[1] != "argon2id" {
		return Params{}, nil, nil, errors.New("password: not an argon2id hash")
	}
	var version int
	if _, err := fmt.Sscanf(parts[2], "v=%d", &version); err != nil || version != argon2.Version {
		return Params{}, nil, nil, errors.New("password: unsupported argon2 version")
	}
	var p Params
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &p.Memory, &p.Time, &p.Threads); err != nil {
		return Params{}, nil, nil, fmt.Errorf("password: bad parameters: %w", err)
	}
	b64 := base64.RawStdEncoding
	salt, err := b64.DecodeString(parts[4])
	if err != nil {
		return Params{}, nil, nil, fmt.Errorf("password: bad salt: %w", err)
	}
	key, err := b64.DecodeString(parts[5])
	if err != nil || len(key) == 0 {
		return Params{}, nil, nil, errors.New("password: bad key")
	}
	return p, salt, key, nil
}
