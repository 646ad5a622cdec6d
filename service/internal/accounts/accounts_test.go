package accounts

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"image"
	"image/jpeg"
	"image/png"
	"strings"
	"testing"
	"time"

	"github.com/gopherops/gopherops/service/internal/imaging"
)

func TestInputChecks(t *testing.T) {
	tests := []struct {
		name  string
		check func(*ValidationError)
		field string // "" when valid
	}{
		{"plain username", func(v *ValidationError) { checkUsername(v, "alice.b_c-1") }, ""},
		{"short username", func(v *ValidationError) { checkUsername(v, "ab") }, "username"},
		{"long username", func(v *ValidationError) { checkUsername(v, string(bytes.Repeat([]byte("a"), 51))) }, "username"},
		{"username with space", func(v *ValidationError) { checkUsername(v, "al ice") }, "username"},
		{"unicode username", func(v *ValidationError) { checkUsername(v, "ålice") }, "username"},
		{"plain email", func(v *ValidationError) { checkEmail(v, "a@example.com") }, ""},
		{"email with display name", func(v *ValidationError) { checkEmail(v, "A <a@example.com>") }, "email"},
		{"email without domain dot", func(v *ValidationError) { checkEmail(v, "a@localhost") }, "email"},
		{"email of 254 characters", func(v *ValidationError) { checkEmail(v, addressOf(254)) }, ""},
		{"email of 255 characters", func(v *ValidationError) { checkEmail(v, addressOf(255)) }, "email"},
		{"empty email", func(v *ValidationError) { checkEmail(v, "") }, "email"},
		{"two ats", func(v *ValidationError) { checkEmail(v, "a@b@example.com") }, "email"},
		{"admin role", func(v *ValidationError) { checkRole(v, RoleAdmin) }, ""},
		{"unknown role", func(v *ValidationError) { checkRole(v, "root") }, "role"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := &ValidationError{}
			tt.check(v)
			err := v.orNil()
			if tt.field == "" && err != nil {
				t.Fatalf("refused: %v", err)
			}
			if tt.field != "" && (err == nil || v.Fields[tt.field] == "") {
				t.Fatalf("accepted, or wrong field: %v", err)
			}
		})
	}
}

// addressOf is a plain address of n characters (n from 200 to 256): a local
// part of 64, domain labels of at most 63.
func addressOf(n int) string {
	return strings.Repeat("a", 64) + "@" + strings.Repeat("b", 63) + "." + strings.Repeat("c", 63) + "." +
		strings.Repeat("d", n-64-1-63-1-63-1-4) + ".com"
}

func TestAvatarImage(t *testing.T) {
	s := &Service{images: imaging.NewBudget(avatarDecodeBytes, avatarDecodeInFlight, maxAvatarSide)}
	img := image.NewRGBA(image.Rect(0, 0, 8, 8))
	var p, j bytes.Buffer
	_ = png.Encode(&p, img)
	_ = jpeg.Encode(&j, img, nil)
	huge := image.NewGray(image.Rect(0, 0, 2049, 1))
	var h bytes.Buffer
	_ = png.Encode(&h, huge)
	// 1×50,000 costs 100 KB to decode: only the side bound refuses it.
	var tall bytes.Buffer
	_ = png.Encode(&tall, image.NewGray(image.Rect(0, 0, 1, 50_000)))
	var deep bytes.Buffer
	_ = png.Encode(&deep, image.NewNRGBA64(image.Rect(0, 0, 2048, 2048)))
	tests := []struct {
		name string
		data []byte
		ct   string
	}{
		{"png", p.Bytes(), "image/png"},
		{"jpeg", j.Bytes(), "image/jpeg"},
		{"empty", nil, ""},
		{"svg", []byte(`<svg xmlns="http://www.w3.org/2000/svg"/>`), ""},
		{"gif", []byte("GIF89a\x01\x00\x01\x00\x00\x00\x00;"), ""},
		{"png magic, broken body", append([]byte("\x89PNG\r\n\x1a\n"), bytes.Repeat([]byte{0}, 64)...), ""},
		{"too wide", h.Bytes(), ""},
		{"too tall (1×50,000)", tall.Bytes(), ""},
		{"png cut after its header", p.Bytes()[:40], ""},
		{"jpeg cut in half", j.Bytes()[:len(j.Bytes())/2], ""},
		{"too big", append(p.Bytes(), make([]byte, MaxAvatarBytes)...), ""},
		{"exactly 1 MiB", pngOfSize(t, MaxAvatarBytes), "image/png"},
		{"one byte over 1 MiB", pngOfSize(t, MaxAvatarBytes+1), ""},
		{"16-bit RGBA 2048² (32 KB, 64 MiB to decode)", deep.Bytes(), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			img, err := s.avatarImage(context.Background(), tt.data)
			ct := img.ContentType
			var verr *ValidationError
			switch {
			case tt.ct != "" && (err != nil || ct != tt.ct):
				t.Fatalf("got %q %v, want %s", ct, err, tt.ct)
			case tt.ct == "" && !errors.As(err, &verr):
				t.Fatalf("accepted as %q (%v)", ct, err)
			case tt.ct == "" && len(tt.data) > MaxAvatarBytes && verr.Fields["avatar"] != "must be at most 1 MiB":
				t.Fatalf("refused for %q, want for its size", verr.Fields["avatar"])
			}
		})
	}
}

// pngOfSize is a valid 8x8 PNG of exactly n bytes: a text chunk, which
// decoders skip, makes up the difference.
func pngOfSize(t *testing.T, n int) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := png.Encode(&b, image.NewGray(image.Rect(0, 0, 8, 8))); err != nil {
		t.Fatal(err)
	}
	src := b.Bytes()
	iend := len(src) - 12 // IEND is the last chunk: length, type and CRC, no data
	text := append([]byte("Comment\x00"), bytes.Repeat([]byte("x"), n-len(src)-12-len("Comment\x00"))...)
	chunk := binary.BigEndian.AppendUint32(nil, uint32(len(text)))
	chunk = append(append(chunk, "tEXt"...), text...)
	chunk = binary.BigEndian.AppendUint32(chunk, crc32.ChecksumIEEE(chunk[4:]))
	out := append(append(append([]byte{}, src[:iend]...), chunk...), src[iend:]...)
	if len(out) != n {
		t.Fatalf("made a PNG of %d bytes, want %d", len(out), n)
	}
	return out
}

// TestAvatarSideBound: an avatar is at most 2048 pixels on each side, width
// and height alike. A strip one pixel wide costs next to nothing to decode,
// so nothing but the side bound stands between it and the store.
func TestAvatarSideBound(t *testing.T) {
	s := &Service{images: imaging.NewBudget(avatarDecodeBytes, avatarDecodeInFlight, maxAvatarSide)}
	tests := []struct {
		name     string
		w, h     int
		accepted bool
	}{
		{"2048 wide", 2048, 1, true},
		{"2048 tall", 1, 2048, true},
		{"2049 wide", 2049, 1, false},
		{"2049 tall", 1, 2049, false},
		{"50,000 tall", 1, 50_000, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := png.Encode(&buf, image.NewGray(image.Rect(0, 0, tt.w, tt.h))); err != nil {
				t.Fatal(err)
			}
			img, err := s.avatarImage(context.Background(), buf.Bytes())
			if tt.accepted {
				if err != nil || img.Width != tt.w || img.Height != tt.h {
					t.Fatalf("refused or resized: %d×%d %v", img.Width, img.Height, err)
				}
				return
			}
			var verr *ValidationError
			if !errors.As(err, &verr) || !strings.Contains(verr.Fields["avatar"], "at most 2048 on each side") {
				t.Fatalf("got %v, want the avatar refused for its side", err)
			}
		})
	}
}

func TestAuthCache(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	c := newAuthCache(2*time.Second, 3)
	k := func(b byte) [32]byte { return [32]byte{b} }
	s := Session{ID: 10, ExpiresAt: now.Add(time.Hour)}
	c.put(k(1), User{ID: 1}, s, now)
	if _, _, ok := c.get(k(1), now.Add(time.Second)); !ok {
		t.Fatal("fresh entry missed")
	}
	if _, _, ok := c.get(k(1), now.Add(3*time.Second)); ok {
		t.Fatal("entry outlived its TTL")
	}
	c.put(k(2), User{ID: 2}, Session{ID: 20, ExpiresAt: now.Add(time.Hour)}, now)
	c.forgetUser(2)
	if _, _, ok := c.get(k(2), now); ok {
		t.Fatal("forgetUser kept the entry")
	}
	c.put(k(3), User{ID: 3}, Session{ID: 30, ExpiresAt: now.Add(time.Hour)}, now)
	c.forgetSession(30)
	if _, _, ok := c.get(k(3), now); ok {
		t.Fatal("forgetSession kept the entry")
	}
	c.put(k(4), User{ID: 4}, Session{ID: 40, ExpiresAt: now.Add(time.Second)}, now)
	if _, _, ok := c.get(k(4), now.Add(1500*time.Millisecond)); ok {
		t.Fatal("entry outlived its session")
	}
	for i := byte(10); i < 20; i++ {
		c.put(k(i), User{ID: int64(i)}, s, now)
	}
	if len(c.entries) > 3 {
		t.Fatalf("cache grew to %d entries, limit 3", len(c.entries))
	}
	// A cache holds up to its limit; the put that finds it full starts over.
	c = newAuthCache(2*time.Second, 3)
	for i := byte(1); i <= 3; i++ {
		c.put(k(i), User{ID: int64(i)}, s, now)
	}
	for i := byte(1); i <= 3; i++ {
		if u, _, ok := c.get(k(i), now); !ok || u.ID != int64(i) {
			t.Fatalf("entry %d of 3 missed in a cache of 3: %+v %v", i, u, ok)
		}
	}
	c.put(k(4), User{ID: 4}, s, now)
	for i := byte(1); i <= 3; i++ {
		if _, _, ok := c.get(k(i), now); ok {
			t.Fatalf("entry %d outlived the put that found the cache full", i)
		}
	}
	if u, _, ok := c.get(k(4), now); !ok || u.ID != 4 {
		t.Fatalf("the put that started over was not kept: %+v %v", u, ok)
	}
	var nilCache *authCache
	nilCache.put(k(1), User{}, s, now) // a disabled cache is a no-op
	if _, _, ok := nilCache.get(k(1), now); ok {
		t.Fatal("disabled cache returned an entry")
	}
}

// TestTruncateBytes: the audit trail keeps at most n bytes of a user agent,
// cut on a character boundary, as valid text without NULs.
func TestTruncateBytes(t *testing.T) {
	tests := []struct {
		name string
		s    string
		n    int
		want string
	}{
		{"shorter than n", "curl/8.5", 10, "curl/8.5"},
		{"exactly n bytes", "abcdefghij", 10, "abcdefghij"},
		{"one byte over", "abcdefghijk", 10, "abcdefghij"},
		{"a character across the cut", "abcdefghié", 10, "abcdefghi"},
		{"a character ending at the cut", "abcdefghéz", 10, "abcdefghé"},
		{"a four-byte character across the cut", "abcdefgh😀", 10, "abcdefgh"},
		{"nothing kept", "abc", 0, ""},
		{"NULs dropped before measuring", "ab\x00\x00cd", 4, "abcd"},
		{"bytes that are not UTF-8 replaced", "ab\xffcd", 10, "ab\uFFFDcd"},
		{"a replacement across the cut", "abcdefghi\xff", 10, "abcdefghi"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := truncateBytes(tt.s, tt.n); got != tt.want {
				t.Fatalf("truncateBytes(%+q, %d) = %+q, want %+q", tt.s, tt.n, got, tt.want)
			}
		})
	}
}

// TestHashSecret: the stored form of a secret is its SHA-256 whatever its
// length, on either side of the stack buffer's size, and hashing one that
// Authenticate accepts allocates nothing.
func TestHashSecret(t *testing.T) {
	for _, n := range []int{0, 1, 32, 33, 47, maxSecretLen - 1, maxSecretLen, maxSecretLen + 1, 1000} {
		secret := strings.Repeat("s", n)
		if got, want := hashSecret(secret), sha256.Sum256([]byte(secret)); got != want {
			t.Errorf("hashSecret of %d bytes = %x, want %x", n, got, want)
		}
	}
	secret := "gpt_" + strings.Repeat("x", 43)
	if a := testing.AllocsPerRun(100, func() { _ = hashSecret(secret) }); a != 0 {
		t.Errorf("hashing a %d-byte secret allocates %.0f times, want 0", len(secret), a)
	}
}
