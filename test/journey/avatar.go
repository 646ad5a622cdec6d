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
	get := func(c *Client, want []byte, contentType string) {
		t.Helper()
		resp := c.Get(t, u.Path()+"/avatar").Expect(t, http.StatusOK)
		assert.Equal(t, contentType, resp.Header.Get("Content-Type"))
		assert.Equal(t, "nosniff", resp.Header.Get("X-Content-Type-Options"))
		assert.Contains(t, resp.Header.Get("Content-Security-Policy"), "sandbox", "avatars are served sandboxed")
		assert.True(t, bytes.Equal(want, resp.Body), "the avatar comes back byte for byte (%d bytes sent, %d received)", len(want), len(resp.Body))
	}

	t.Run("the user uploads a PNG", func(t *testing.T) {
		img := PNG(t, 64, 64)
		var got User
		put(self, img, "image/png").ExpectJSON(t, http.StatusOK, &got)
		require.NotNil(t, got.AvatarURL, "avatar_url after an upload")
		get(self, img, "image/png")
		get(admin, img, "image/png")
		resp := self.Get(t, *got.AvatarURL).Expect(t, http.StatusOK)
		assert.True(t, bytes.Equal(img, resp.Body), "avatar_url serves the avatar")
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
