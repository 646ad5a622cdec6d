package accounts

import (
	"bytes"
	"context"
	"errors"
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
			}
		})
	}
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
	var nilCache *authCache
	nilCache.put(k(1), User{}, s, now) // a disabled cache is a no-op
	if _, _, ok := nilCache.get(k(1), now); ok {
		t.Fatal("disabled cache returned an entry")
	}
}
