package journey

import (
	"bytes"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// PNG encodes a w×h test image.
func PNG(t testing.TB, w, h int) []byte {
	t.Helper()
	var buf bytes.Buffer
	require.NoError(t, png.Encode(&buf, testImage(w, h)))
	return buf.Bytes()
}

// JPEG encodes a w×h test image.
func JPEG(t testing.TB, w, h int) []byte {
	t.Helper()
	var buf bytes.Buffer
	require.NoError(t, jpeg.Encode(&buf, testImage(w, h), nil))
	return buf.Bytes()
}

func testImage(w, h int) image.Image {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			img.Set(x, y, color.RGBA{R: uint8(x * 255 / w), G: uint8(y * 255 / h), B: 0x80, A: 0xff})
		}
	}
	return img
}

// Avatar uploads avatars to the object store through the API and reads them
// back; the upload is validated by content and size.
func Avatar(t *testing.T, tg *Target) {
	admin := tg.AdminClient(t)
	spec := NewUserSpec("frank", "user", Bool(false))
	u := CreateUser(t, admin, spec)
	self := NewClient(tg.BaseURL).WithBearer(SignIn(t, tg.BaseURL, spec.Credentials()).Token, "frank")

	self.Get(t, u.Path()+"/avatar").ExpectProblem(t, http.StatusNotFound)

	put := func(c *Client, body []byte, contentType string) *Response {
		return c.Do(t, Request{Method: http.MethodPut, Path: u.Path() + "/avatar", Body: body, ContentType: contentType})
	}
	// The service re-encodes what it stores (8 bits per channel, no
	// metadata), so what comes back is the same picture, not the same bytes.
	get := func(c *Client, sent []byte, contentType string) []byte {
		t.Helper()
		resp := c.Get(t, u.Path()+"/avatar").Expect(t, http.StatusOK)
		assert.Equal(t, contentType, resp.Header.Get("Content-Type"))
		assert.Equal(t, "nosniff", resp.Header.Get("X-Content-Type-Options"))
		assert.Contains(t, resp.Header.Get("Content-Security-Policy"), "sandbox", "avatars are served sandboxed")
		SamePicture(t, sent, resp.Body, contentType == "image/jpeg")
		return resp.Body
	}

	t.Run("the user uploads a PNG", func(t *testing.T) {
		img := PNG(t, 64, 64)
		var got User
		put(self, img, "image/png").ExpectJSON(t, http.StatusOK, &got)
		require.NotNil(t, got.AvatarURL, "avatar_url after an upload")
		stored := get(self, img, "image/png")
		assert.True(t, bytes.Equal(stored, get(admin, img, "image/png")), "the admin sees the same avatar")
		resp := self.Get(t, *got.AvatarURL).Expect(t, http.StatusOK)
		assert.True(t, bytes.Equal(stored, resp.Body), "avatar_url serves the avatar")
	})

	t.Run("an admin replaces it with a JPEG", func(t *testing.T) {
		img := JPEG(t, 48, 32)
		put(admin, img, "image/jpeg").Expect(t, http.StatusOK)
		get(self, img, "image/jpeg")
	})

	t.Run("content decides, not the declared type", func(t *testing.T) {
		for _, tc := range []struct {
			name        string
			body        []byte
			contentType string
		}{
			{"text labelled as PNG", []byte("this is not an image, whatever the header says"), "image/png"},
			{"HTML", []byte("<html><script>alert(1)</script></html>"), "image/png"},
			{"PNG signature only", PNG(t, 16, 16)[:8], "image/png"},
			{"empty", []byte{}, "image/png"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				p := put(self, tc.body, tc.contentType).ExpectProblem(t, http.StatusUnprocessableEntity)
				assert.Equal(t, []string{"avatar"}, p.Fields())
			})
		}
	})

	t.Run("size is limited", func(t *testing.T) {
		over := append(PNG(t, 8, 8), make([]byte, 1<<20)...) // a valid PNG header, 1 MiB too long
		p := put(self, over, "image/png").ExpectProblem(t, http.StatusUnprocessableEntity)
		assert.Equal(t, []string{"avatar"}, p.Fields())
		put(self, make([]byte, 3<<20), "image/png").ExpectProblem(t, http.StatusRequestEntityTooLarge)
	})
}

// SamePicture checks that got decodes to the picture sent: the same size
// and, pixel by pixel, the same colours (within JPEG's re-encoding loss when
// lossy), at 8 bits per channel.
func SamePicture(t testing.TB, sent, got []byte, lossy bool) {
	t.Helper()
	want, _, err := image.Decode(bytes.NewReader(sent))
	require.NoError(t, err, "the picture sent")
	img, _, err := image.Decode(bytes.NewReader(got))
	require.NoError(t, err, "the avatar served does not decode")
	require.Equal(t, want.Bounds(), img.Bounds(), "the avatar's size")
	switch img.ColorModel() {
	case color.RGBA64Model, color.NRGBA64Model, color.Gray16Model, color.Alpha16Model:
		t.Errorf("the avatar is stored at 16 bits per channel (%T): it must be normalised to 8", img)
	}
	tolerance := uint32(0)
	if lossy {
		tolerance = 24 << 8 // JPEG quality 90 on a smooth gradient
	}
	b := want.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r1, g1, b1, a1 := want.At(x, y).RGBA()
			r2, g2, b2, a2 := img.At(x, y).RGBA()
			if diff(r1, r2) > tolerance || diff(g1, g2) > tolerance || diff(b1, b2) > tolerance || diff(a1, a2) > tolerance {
				t.Fatalf("pixel (%d,%d) sent %v, served %v", x, y, want.At(x, y), img.At(x, y))
			}
		}
	}
}

func diff(a, b uint32) uint32 {
	if a > b {
		return a - b
	}
	return b - a
}
