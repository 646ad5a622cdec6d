package ui

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/gopherops/gopherops/service/internal/web"
)

// pageFlash is what a form's POST hands to the GET it redirects to
// (POST-redirect-GET), so that reloading a page never submits a form again:
// a notice, an error, the field errors of one form with the values to show
// again, or a temporary password to show once. It travels in a short-lived
// cookie sealed with AES-GCM under a key derived from SESSION_KEY and bound
// to the browser's session (or, before sign-in, its CSRF cookie): it can be
// neither read nor forged, nor replayed into another browser.
type pageFlash struct {
	Notice *notice            `json:"n,omitempty"`
	Error  string             `json:"e,omitempty"` // a sentence for the page's alert
	Form   string             `json:"f,omitempty"` // the form the field errors belong to
	Fields map[string]string  `json:"x,omitempty"` // field name → message
	Values map[string]string  `json:"v,omitempty"` // field name → value to show again (never a password)
	Temp   *temporaryPassword `json:"t,omitempty"`
}

// notice is the message a form leaves for the page it leads to, naming
// what it acted on and, while that exists, linking to it: "User <carol>
// created." It is text: the template escapes every part.
type notice struct {
	Before string `json:"b,omitempty"`
	Name   string `json:"m,omitempty"`
	Href   string `json:"h,omitempty"`
	After  string `json:"a,omitempty"`
}

// plainNotice is a notice without a name.
func plainNotice(text string) *notice { return &notice{After: text} }

// temporaryPassword is a generated password the admin must pass on; it is
// shown once, after the redirect that follows the reset.
type temporaryPassword struct {
	Username string `json:"u"`
	Password string `json:"p"`
}

// flashMaxAge bounds how long a flash waits for its GET: a redirect follows at once.
const flashMaxAge = 120

// maxFlashValue bounds each value shown again, so the cookie stays far
// below the 4 KB that browsers keep.
const maxFlashValue = 254

// flashSealer seals flashes into their cookie and opens them again.
type flashSealer struct {
	aead   cipher.AEAD
	secure bool // Secure cookies with the __Host- prefix (production)
	auth   *web.Auth
}

func newFlashSealer(sessionKey []byte, secure bool, auth *web.Auth) (flashSealer, error) {
	mac := hmac.New(sha256.New, sessionKey)
	mac.Write([]byte("gopherops flash cookie v1"))
	block, err := aes.NewCipher(mac.Sum(nil))
	if err != nil {
		return flashSealer{}, fmt.Errorf("ui: flash key: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return flashSealer{}, fmt.Errorf("ui: flash key: %w", err)
	}
	return flashSealer{aead: aead, secure: secure, auth: auth}, nil
}

func (fs flashSealer) cookieName() string {
	if fs.secure {
		return "__Host-gopherops_flash"
	}
	return "gopherops_flash"
}

// binding ties a flash to this browser: its session when signed in, else
// its CSRF cookie.
func (fs flashSealer) binding(c *gin.Context) []byte {
	if secret, ok := web.SessionSecret(c); ok {
		return []byte("s:" + secret)
	}
	if fs.auth == nil {
		return nil
	}
	if ck, err := c.Cookie(fs.auth.CSRFCookieName()); err == nil && ck != "" {
		return []byte("a:" + ck)
	}
	return nil
}

// set seals f into the flash cookie of the response; a browser with
// nothing to bind it to gets none.
func (fs flashSealer) set(c *gin.Context, f pageFlash) {
	for k, v := range f.Values {
		f.Values[k] = truncate(v, maxFlashValue)
	}
	if sealed, ok := fs.seal(c, f); ok {
		fs.setCookie(c, sealed, flashMaxAge)
	}
}

func (fs flashSealer) seal(c *gin.Context, f pageFlash) (string, bool) {
	binding := fs.binding(c)
	if binding == nil {
		return "", false
	}
	raw, err := json.Marshal(f)
	if err != nil {
		return "", false
	}
	nonce := make([]byte, fs.aead.NonceSize(), fs.aead.NonceSize()+len(raw)+fs.aead.Overhead())
	_, _ = rand.Read(nonce)
	return base64.RawURLEncoding.EncodeToString(fs.aead.Seal(nonce, nonce, raw, binding)), true
}

// take returns the flash this browser carries, once: it is cleared as it
// is read. A flash that does not open (forged, another key, another
// session's) is dropped.
func (fs flashSealer) take(c *gin.Context) pageFlash {
	ck, err := c.Cookie(fs.cookieName())
	if err != nil || ck == "" {
		return pageFlash{}
	}
	fs.setCookie(c, "", -1)
	sealed, err := base64.RawURLEncoding.DecodeString(ck)
	binding := fs.binding(c)
	if err != nil || binding == nil || len(sealed) < fs.aead.NonceSize() {
		return pageFlash{}
	}
	n := fs.aead.NonceSize()
	raw, err := fs.aead.Open(nil, sealed[:n], sealed[n:], binding)
	var f pageFlash
	if err != nil || json.Unmarshal(raw, &f) != nil {
		return pageFlash{}
	}
	return f
}

func (fs flashSealer) setCookie(c *gin.Context, value string, maxAge int) {
	http.SetCookie(c.Writer, &http.Cookie{ //nolint:gosec // attributes set below
		Name: fs.cookieName(), Value: value, Path: "/", MaxAge: maxAge,
		HttpOnly: true, Secure: fs.secure, SameSite: http.SameSiteStrictMode,
	})
}

// setFlash and takeFlash are the responder's side of the flash.
func (r *responder) setFlash(c *gin.Context, f pageFlash) { r.flash.set(c, f) }

func (r *responder) takeFlash(c *gin.Context) pageFlash { return r.flash.take(c) }
