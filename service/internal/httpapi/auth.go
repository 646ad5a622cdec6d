package httpapi

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/gopherops/gopherops/service/internal/accounts"
)

const (
	ctxActor      = "gopherops.actor"
	ctxSessionRaw = "gopherops.session_raw"
)

var errCSRF = errors.New("the form has expired or did not come from this site; reload the page and try again")

// actorFrom returns the signed-in actor, if any.
func actorFrom(c *gin.Context) (accounts.Actor, bool) {
	v, ok := c.Get(ctxActor)
	if !ok {
		return accounts.Actor{}, false
	}
	return v.(accounts.Actor), true
}

func anonymousActor(c *gin.Context) accounts.Actor {
	return accounts.Actor{RequestID: requestID(c), ClientIP: c.ClientIP()}
}

func (s *server) sessionCookieName() string {
	if s.deps.Config.SecureCookies {
		// __Host- cookies cannot be set by a sibling subdomain or over HTTP.
		return "__Host-gopherops_session"
	}
	return "gopherops_session"
}

func (s *server) csrfCookieName() string {
	if s.deps.Config.SecureCookies {
		return "__Host-gopherops_csrf"
	}
	return "gopherops_csrf"
}

// authenticate resolves a bearer token or a session cookie to the actor. It
// never refuses a request: routes decide with requireUser / requireAdmin.
func (s *server) authenticate() gin.HandlerFunc {
	return func(c *gin.Context) {
		var (
			secret string
			kind   accounts.SessionKind
		)
		if h := c.GetHeader("Authorization"); h != "" {
			scheme, token, ok := strings.Cut(h, " ")
			if !ok || !strings.EqualFold(scheme, "Bearer") || token == "" {
				fail(c, accounts.ErrUnauthenticated)
				return
			}
			secret, kind = strings.TrimSpace(token), accounts.KindToken
		} else if ck, err := c.Cookie(s.sessionCookieName()); err == nil && ck != "" {
			secret, kind = ck, accounts.KindSession
		}
		if secret != "" {
			u, sess, err := s.deps.Accounts.Authenticate(c.Request.Context(), secret, kind)
			switch {
			case err == nil:
				c.Set(ctxActor, accounts.Actor{User: u, SessionID: sess.ID, RequestID: requestID(c), ClientIP: c.ClientIP()})
				if kind == accounts.KindSession {
					c.Set(ctxSessionRaw, secret)
				}
			case errors.Is(err, accounts.ErrUnauthenticated):
				if kind == accounts.KindToken {
					fail(c, err) // a bad token is an error, not an anonymous request
					return
				}
				s.clearSessionCookie(c)
			default:
				if wantsHTML(c) {
					s.pageFail(c, err) // a page, such as the 503 page while the database is down
					return
				}
				fail(c, err)
				return
			}
		}
		c.Next()
	}
}

// requireUser refuses anonymous requests, and requests from users who must
// first change their password (except the routes that let them do so).
func (s *server) requireUser(allowPendingChange bool) gin.HandlerFunc {
	return func(c *gin.Context) {
		a, ok := actorFrom(c)
		if !ok {
			fail(c, accounts.ErrUnauthenticated)
			return
		}
		if a.User.ForcePasswordChange && !allowPendingChange {
			fail(c, accounts.ErrPasswordChange)
			return
		}
		c.Next()
	}
}

// requireAdmin refuses everyone but signed-in admins.
func (s *server) requireAdmin() gin.HandlerFunc {
	return func(c *gin.Context) {
		a, ok := actorFrom(c)
		switch {
		case !ok:
			fail(c, accounts.ErrUnauthenticated)
		case a.User.ForcePasswordChange:
			fail(c, accounts.ErrPasswordChange)
		case !a.User.IsAdmin():
			fail(c, accounts.ErrForbidden)
		default:
			c.Next()
		}
	}
}

// csrfToken returns the token that forms (and cookie-authenticated API calls)
// must echo. It is an HMAC of the session secret when signed in, else of a
// random per-browser cookie, keyed with SESSION_KEY: another site can neither
// read nor forge it.
func (s *server) csrfToken(c *gin.Context) string {
	binding := ""
	if secret, ok := c.Get(ctxSessionRaw); ok {
		binding = "s:" + secret.(string)
	} else {
		ck, err := c.Cookie(s.csrfCookieName())
		if err != nil || len(ck) < 16 {
			var b [24]byte
			_, _ = rand.Read(b[:])
			ck = base64.RawURLEncoding.EncodeToString(b[:])
			s.setCookie(c, s.csrfCookieName(), ck, 0)
			// Make the new value visible to a check later in this request.
			c.Request.AddCookie(&http.Cookie{Name: s.csrfCookieName(), Value: ck}) //nolint:gosec // request-side copy, never sent
		}
		binding = "a:" + ck
	}
	mac := hmac.New(sha256.New, s.deps.Config.SessionKey)
	mac.Write([]byte(binding))
	return base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
}

// checkCSRF verifies the token of a state-changing request made with cookies.
// Bearer-token requests carry no ambient credentials and need none.
func (s *server) checkCSRF(c *gin.Context) error {
	if strings.HasPrefix(c.GetHeader("Authorization"), "Bearer ") {
		return nil
	}
	got := c.GetHeader("X-CSRF-Token")
	if got == "" {
		got = c.PostForm("csrf_token")
	}
	if _, hasSession := c.Get(ctxSessionRaw); !hasSession {
		if ck, err := c.Cookie(s.csrfCookieName()); err != nil || ck == "" {
			return errCSRF
		}
	}
	want := s.csrfToken(c)
	if got == "" || !hmac.Equal([]byte(got), []byte(want)) {
		return errCSRF
	}
	return nil
}

// requireCSRF is checkCSRF as middleware for JSON routes.
func (s *server) requireCSRF() gin.HandlerFunc {
	return func(c *gin.Context) {
		if err := s.checkCSRF(c); err != nil {
			fail(c, err)
			return
		}
		c.Next()
	}
}

func (s *server) setCookie(c *gin.Context, name, value string, maxAge int) {
	// Secure follows COOKIE_SECURE, which production forces on.
	http.SetCookie(c.Writer, &http.Cookie{ //nolint:gosec // attributes set below
		Name: name, Value: value, Path: "/", MaxAge: maxAge,
		HttpOnly: true, Secure: s.deps.Config.SecureCookies, SameSite: http.SameSiteLaxMode,
	})
}

func (s *server) clearSessionCookie(c *gin.Context) {
	s.setCookie(c, s.sessionCookieName(), "", -1)
}
