package web

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

// Auth authenticates requests (bearer tokens and session cookies) and
// protects cookie-authenticated state changes with CSRF tokens.
type Auth struct {
	accounts      *accounts.Service
	secureCookies bool
	sessionKey    []byte
}

// NewAuth returns the authentication of accounts, with cookies Secure when
// secureCookies and CSRF tokens keyed with sessionKey.
func NewAuth(svc *accounts.Service, secureCookies bool, sessionKey []byte) *Auth {
	return &Auth{accounts: svc, secureCookies: secureCookies, sessionKey: sessionKey}
}

// Actor returns the signed-in actor, if any.
func Actor(c *gin.Context) (accounts.Actor, bool) {
	r := requestOf(c)
	if r == nil || !r.signedIn {
		return accounts.Actor{}, false
	}
	return r.actor, true
}

// AnonymousActor is who makes a request before signing in.
func AnonymousActor(c *gin.Context) accounts.Actor {
	return accounts.Actor{RequestID: RequestID(c), ClientIP: ClientIP(c), UserAgent: c.Request.UserAgent()}
}

// SessionCookieName is the browser session cookie.
func (s *Auth) SessionCookieName() string {
	if s.secureCookies {
		// __Host- cookies cannot be set by a sibling subdomain or over HTTP.
		return "__Host-gopherops_session"
	}
	return "gopherops_session"
}

// CSRFCookieName is the cookie an anonymous browser's CSRF token is bound to.
func (s *Auth) CSRFCookieName() string {
	if s.secureCookies {
		return "__Host-gopherops_csrf"
	}
	return "gopherops_csrf"
}

// SSOCookieName is the cookie a browser's pending single sign-on is kept in.
func (s *Auth) SSOCookieName() string {
	if s.secureCookies {
		return "__Host-gopherops_sso"
	}
	return "gopherops_sso"
}

// Authenticate resolves a bearer token or a session cookie to the actor. It
// never refuses a request: routes decide with RequireUser / RequireAdmin.
// fail answers a request whose credentials could not be checked.
func (s *Auth) Authenticate(fail func(*gin.Context, error)) gin.HandlerFunc {
	return func(c *gin.Context) {
		var (
			secret string
			kind   accounts.SessionKind
		)
		if h := c.GetHeader("Authorization"); h != "" {
			token, ok := bearerToken(h)
			if !ok {
				Fail(c, accounts.ErrUnauthenticated)
				return
			}
			secret, kind = token, accounts.KindToken
		} else if ck, _ := c.Cookie(s.SessionCookieName()); ck != "" { // "" when there is none
			secret, kind = ck, accounts.KindSession
		}
		if secret != "" {
			ip := ClientIP(c)
			u, sess, err := s.accounts.Authenticate(c.Request.Context(), secret, kind, ip)
			switch {
			case err == nil:
				SetActor(c, accounts.Actor{User: u, SessionID: sess.ID, RequestID: RequestID(c), ClientIP: ip,
					UserAgent: c.Request.UserAgent(), Scopes: sess.Scopes})
				if kind == accounts.KindSession {
					SetSession(c, secret)
				}
			case errors.Is(err, accounts.ErrUnauthenticated):
				if kind == accounts.KindToken {
					Fail(c, err) // a bad token is an error, not an anonymous request
					return
				}
				s.ClearSessionCookie(c)
			default:
				// The surface decides: a problem for the API, a page (such as
				// the 503 page while the database is down) for the UI.
				fail(c, err)
				return
			}
		}
		c.Next()
	}
}

// bearerToken returns the token of an Authorization header of the Bearer
// scheme, whose name is case-insensitive (RFC 9110 §11.1), and whether the
// header is one: a scheme without a token, blanks included, is not.
func bearerToken(h string) (string, bool) {
	scheme, token, ok := strings.Cut(h, " ")
	token = strings.TrimSpace(token)
	if !ok || !strings.EqualFold(scheme, "Bearer") || token == "" {
		return "", false
	}
	return token, true
}

// RequireUser refuses anonymous requests, requests from users who must
// first change their password (except the routes that let them do so), and
// changes through a token without the write scope.
func (s *Auth) RequireUser(allowPendingChange bool) gin.HandlerFunc {
	return func(c *gin.Context) {
		a, ok := Actor(c)
		switch {
		case !ok:
			Fail(c, accounts.ErrUnauthenticated)
		case a.User.ForcePasswordChange && !allowPendingChange:
			Fail(c, accounts.ErrPasswordChange)
		case !a.Can(methodScope(c.Request.Method)):
			Fail(c, accounts.ErrReadOnly)
		default:
			c.Next()
		}
	}
}

// RequireSignedIn refuses only anonymous requests: what any sign-in may do
// whatever its scopes, such as ending itself.
func (s *Auth) RequireSignedIn() gin.HandlerFunc {
	return func(c *gin.Context) {
		if _, ok := Actor(c); !ok {
			Fail(c, accounts.ErrUnauthenticated)
			return
		}
		c.Next()
	}
}

// RequireAdmin refuses everyone but signed-in admins, through a sign-in
// with the admin scope (and the write scope for a change).
func (s *Auth) RequireAdmin() gin.HandlerFunc {
	return func(c *gin.Context) {
		a, ok := Actor(c)
		switch {
		case !ok:
			Fail(c, accounts.ErrUnauthenticated)
		case a.User.ForcePasswordChange:
			Fail(c, accounts.ErrPasswordChange)
		case !a.User.IsAdmin():
			Fail(c, accounts.ErrForbidden)
		case !a.Can(accounts.ScopeAdmin):
			Fail(c, accounts.ErrScopeAdmin)
		case !a.Can(methodScope(c.Request.Method)):
			Fail(c, accounts.ErrReadOnly)
		default:
			c.Next()
		}
	}
}

// methodScope is the scope a request method needs: reads need read, any
// other method changes something.
func methodScope(method string) accounts.Scopes {
	if method == http.MethodGet || method == http.MethodHead {
		return accounts.ScopeRead
	}
	return accounts.ScopeWrite
}

// CSRFToken returns the token that forms (and cookie-authenticated API calls)
// must echo. It is an HMAC of the session secret when signed in, else of a
// random per-browser cookie, keyed with SESSION_KEY: another site can neither
// read nor forge it.
func (s *Auth) CSRFToken(c *gin.Context) string {
	binding := ""
	if secret, ok := SessionSecret(c); ok {
		binding = "s:" + secret
	} else {
		ck, err := c.Cookie(s.CSRFCookieName())
		if err != nil || len(ck) < 16 {
			var b [24]byte
			_, _ = rand.Read(b[:])
			ck = base64.RawURLEncoding.EncodeToString(b[:])
			s.SetCookie(c, s.CSRFCookieName(), ck, 0)
			// Make the new value visible to a check later in this request.
			c.Request.AddCookie(&http.Cookie{Name: s.CSRFCookieName(), Value: ck}) //nolint:gosec // request-side copy, never sent
		}
		binding = "a:" + ck
	}
	mac := hmac.New(sha256.New, s.sessionKey)
	mac.Write([]byte(binding))
	return base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
}

// CheckCSRF verifies the token of a state-changing request made with cookies.
// Bearer-token requests carry no ambient credentials and need none (a
// browser never adds the header to another site's request, and
// Authenticate refuses one whose token is not good).
func (s *Auth) CheckCSRF(c *gin.Context) error {
	if _, ok := bearerToken(c.GetHeader("Authorization")); ok {
		return nil
	}
	got := c.GetHeader("X-CSRF-Token")
	if got == "" {
		got = c.PostForm("csrf_token")
	}
	if _, hasSession := SessionSecret(c); !hasSession {
		if ck, err := c.Cookie(s.CSRFCookieName()); err != nil || ck == "" {
			return ErrCSRF
		}
	}
	want := s.CSRFToken(c)
	if got == "" || !hmac.Equal([]byte(got), []byte(want)) {
		return ErrCSRF
	}
	return nil
}

// RequireCSRF is CheckCSRF as middleware for JSON routes.
func (s *Auth) RequireCSRF() gin.HandlerFunc {
	return func(c *gin.Context) {
		if err := s.CheckCSRF(c); err != nil {
			Fail(c, err)
			return
		}
		c.Next()
	}
}

// SetCookie sets an HttpOnly, SameSite=Lax cookie for the whole site.
func (s *Auth) SetCookie(c *gin.Context, name, value string, maxAge int) {
	// Secure follows COOKIE_SECURE, which production forces on.
	http.SetCookie(c.Writer, &http.Cookie{ //nolint:gosec // attributes set below
		Name: name, Value: value, Path: "/", MaxAge: maxAge,
		HttpOnly: true, Secure: s.secureCookies, SameSite: http.SameSiteLaxMode,
	})
}

// ClearSessionCookie signs the browser out.
func (s *Auth) ClearSessionCookie(c *gin.Context) {
	s.SetCookie(c, s.SessionCookieName(), "", -1)
}

// SessionSecret returns the raw session secret of a cookie-authenticated
// request (what its CSRF token is bound to).
func SessionSecret(c *gin.Context) (string, bool) {
	if r := requestOf(c); r != nil && r.session != "" {
		return r.session, true
	}
	return "", false
}

// SetActor records the signed-in actor of the request.
func SetActor(c *gin.Context, a accounts.Actor) {
	r := recordOf(c, a.ClientIP)
	r.actor, r.signedIn = a, true
}

// SetSession records the raw session secret of a cookie-authenticated request.
func SetSession(c *gin.Context, secret string) { recordOf(c, "").session = secret }

// recordOf is the request's record, started here (with clientIP) on a
// router without WithRequestID, such as a test's.
func recordOf(c *gin.Context, clientIP string) *request {
	r := requestOf(c)
	if r == nil {
		r = newRequest()
		r.clientIP = clientIP
		c.Set(ctxRequest, r)
	}
	return r
}
