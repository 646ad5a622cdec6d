package ui

import (
	"errors"
	"net/http"
	"strconv"

	"github.com/gin-gonic/gin"

	"github.com/gopherops/gopherops/service/internal/accounts"
	"github.com/gopherops/gopherops/service/internal/web"
)

// sessionPages are the pages anyone may see, and signing in and out.
type sessionPages struct{ r *responder }

func (sessionPages) home(*gin.Context) (result, error) {
	return page{Name: "index", Title: "Home"}, nil
}

func (sessionPages) about(*gin.Context) (result, error) {
	return page{Name: "about", Title: "About"}, nil
}

func (s sessionPages) loginPage(c *gin.Context) (result, error) {
	if _, ok := web.Actor(c); ok {
		return redirect{To: "/dashboard"}, nil
	}
	cfg := s.r.deps.Config
	return page{Name: "login", Title: "Sign in", Data: loginData{SSO: cfg.OIDC.Enabled(), Passwords: cfg.PasswordSignIn}}, nil
}

// loginData is the sign-in page's view model: which ways to sign in it offers.
type loginData struct {
	SSO, Passwords bool
}

func (s sessionPages) login(c *gin.Context) (result, error) {
	login := c.PostForm("login")
	u, err := s.r.deps.Accounts.Login(c.Request.Context(), accounts.LoginInput{
		Login: login, Password: c.PostForm("password"), ClientIP: web.ClientIP(c), RequestID: web.RequestID(c),
		UserAgent: c.Request.UserAgent(),
	})
	web.CountLogin(s.r.deps.Metrics, err)
	if err != nil {
		return loginError(c, err, login)
	}
	secret, _, err := s.r.deps.Accounts.StartSession(c.Request.Context(), u, accounts.SessionInput{
		Kind: accounts.KindSession, UserAgent: c.Request.UserAgent(), ClientIP: web.ClientIP(c)})
	if err != nil {
		return nil, err
	}
	s.r.auth.SetCookie(c, s.r.auth.SessionCookieName(), secret, 0)
	// A fresh anonymous CSRF cookie for the next visitor of this browser.
	s.r.auth.SetCookie(c, s.r.auth.CSRFCookieName(), "", -1)
	if u.ForcePasswordChange {
		return redirect{To: "/users/" + strconv.FormatInt(u.ID, 10) + "#password"}, nil
	}
	return redirect{To: "/dashboard"}, nil
}

// loginError sends a refused sign-in back to the form with one message
// (which never says whether the account exists) and the login kept; the
// password field, the one to type again, gets the focus.
func loginError(c *gin.Context, err error, login string) (result, error) {
	if databaseDown(err) {
		return nil, err
	}
	p := web.Classify(c.Request.Context(), err)
	switch {
	case p.Status == http.StatusUnauthorized, p.Status == http.StatusTooManyRequests,
		p.Status == http.StatusUnprocessableEntity, p.Status == http.StatusBadRequest:
	// Told only after the right password; and where passwords are off.
	case errors.Is(err, accounts.ErrAccountDisabled), errors.Is(err, accounts.ErrPasswordsOff):
	default:
		return nil, err
	}
	msg := sentence(p.Detail)
	if len(p.Errors) > 0 {
		msg = fieldMessage(p.Errors[0].Field, p.Errors[0].Message)
	}
	return redirect{To: "/login", Flash: &pageFlash{Form: "login", Error: msg, Values: map[string]string{"login": login}}}, nil
}

func (s sessionPages) logout(c *gin.Context) (result, error) {
	if a, ok := web.Actor(c); ok {
		if err := s.r.deps.Accounts.Logout(c.Request.Context(), a); err != nil {
			return nil, err
		}
	}
	s.r.auth.ClearSessionCookie(c)
	return redirect{To: "/login?msg=signed-out"}, nil
}
