package ui

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
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
	Notice string             `json:"n,omitempty"` // a key of pageNotices
	Error  string             `json:"e,omitempty"` // a sentence for the page's alert
	Form   string             `json:"f,omitempty"` // the form the field errors belong to
	Fields map[string]string  `json:"x,omitempty"` // field name → message
	Values map[string]string  `json:"v,omitempty"` // field name → value to show again (never a password)
	Temp   *temporaryPassword `json:"t,omitempty"`
}

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

func (s *server) flashCookieName() string {
	if s.deps.Config.SecureCookies {
		return "__Host-gopherops_flash"
	}
	return "gopherops_flash"
}

func (s *server) flashAEAD() (cipher.AEAD, error) {
	mac := hmac.New(sha256.New, s.deps.Config.SessionKey)
	mac.Write([]byte("gopherops flash cookie v1"))
	block, err := aes.NewCipher(mac.Sum(nil))
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

// flashBinding ties a flash to this browser: its session when signed in,
// else its CSRF cookie.
func (s *server) flashBinding(c *gin.Context) []byte {
	if secret, ok := web.SessionSecret(c); ok {
		return []byte("s:" + secret)
	}
	if ck, err := c.Cookie(s.auth.CSRFCookieName()); err == nil && ck != "" {
		return []byte("a:" + ck)
	}
	return nil
}

// redirectWith answers a form with 303 See Other to location, carrying f.
func (s *server) redirectWith(c *gin.Context, location string, f pageFlash) {
	for k, v := range f.Values {
		f.Values[k] = pageTruncate(v, maxFlashValue)
	}
	if sealed, ok := s.sealFlash(c, f); ok {
		s.setFlashCookie(c, sealed, flashMaxAge)
	}
	c.Redirect(http.StatusSeeOther, location)
	c.Abort()
}

func (s *server) sealFlash(c *gin.Context, f pageFlash) (string, bool) {
	binding := s.flashBinding(c)
	if binding == nil {
		return "", false
	}
	raw, err := json.Marshal(f)
	if err != nil {
		return "", false
	}
	aead, err := s.flashAEAD()
	if err != nil {
		s.log.ErrorContext(c.Request.Context(), "flash cookie key", "err", err)
		return "", false
	}
	nonce := make([]byte, aead.NonceSize(), aead.NonceSize()+len(raw)+aead.Overhead())
	_, _ = rand.Read(nonce)
	return base64.RawURLEncoding.EncodeToString(aead.Seal(nonce, nonce, raw, binding)), true
}

// takeFlash returns the flash this browser carries, once: it is cleared as
// it is read. A flash that does not open (forged, expired key, another
// session's) is dropped.
func (s *server) takeFlash(c *gin.Context) pageFlash {
	ck, err := c.Cookie(s.flashCookieName())
	if err != nil || ck == "" {
		return pageFlash{}
	}
	s.setFlashCookie(c, "", -1)
	var f pageFlash
	sealed, err := base64.RawURLEncoding.DecodeString(ck)
	binding := s.flashBinding(c)
	aead, aerr := s.flashAEAD()
	if err != nil || binding == nil || aerr != nil || len(sealed) < aead.NonceSize() {
		return f
	}
	raw, err := aead.Open(nil, sealed[:aead.NonceSize()], sealed[aead.NonceSize():], binding)
	if err != nil || json.Unmarshal(raw, &f) != nil {
		return pageFlash{}
	}
	return f
}

func (s *server) setFlashCookie(c *gin.Context, value string, maxAge int) {
	http.SetCookie(c.Writer, &http.Cookie{ //nolint:gosec // attributes set below
		Name: s.flashCookieName(), Value: value, Path: "/", MaxAge: maxAge,
		HttpOnly: true, Secure: s.deps.Config.SecureCookies, SameSite: http.SameSiteStrictMode,
	})
}
