package ui_test

import (
	"net/url"
	"strings"
	"testing"

	"github.com/gopherops/gopherops/service/internal/apptest"
)

// FuzzForms posts arbitrary field values through the HTML forms (sign-in and
// create user, with a valid CSRF token). Never a 5xx.
func FuzzForms(f *testing.F) {
	for _, s := range []string{"root", "a\x00b", "\xff", "", strings.Repeat("x", 300)} {
		f.Add(s, s)
	}
	e := apptest.New(f)
	admin := e.BrowserLogin("root", apptest.RootPassword)
	f.Fuzz(func(t *testing.T, a, b string) {
		anon := e.Anon().On(t)
		anon.Page("/login")
		apptest.NoServerError(t, "login form", anon.Form("/login", url.Values{"login": {a}, "password": {b}}))
		c := admin.On(t)
		c.Page("/users")
		apptest.NoServerError(t, "create form", c.Form("/users", url.Values{"username": {a}, "email": {b}, "password": {b}, "password_confirm": {b}, "role": {"user"}}))
	})
}
