package abuse

import (
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gopherops/gopherops/test/journey"
)

// The two Unicode forms of "é": precomposed (NFC, what most keyboards send)
// and decomposed (NFD: "e" and a combining acute accent, what macOS sends).
const (
	eAcuteNFC = "\u00e9"
	eAcuteNFD = "e\u0301"
)

// accented returns a fresh password containing "é", in NFC and NFD forms.
func accented() (nfc, nfd string) {
	pw := "caf" + eAcuteNFC + "-cr" + eAcuteNFC + "me-" + journey.NewPassword()
	return pw, strings.ReplaceAll(pw, eAcuteNFC, eAcuteNFD)
}

// expectSignIn asserts that the password signs the login in from a fresh address.
func (st *stack) expectSignIn(t *testing.T, login, pw, form string) {
	t.Helper()
	r := st.from(t).trySignIn(t, journey.Credentials{Login: login, Password: pw})
	assert.Equal(t, http.StatusCreated, r.Status, "the password typed in %s signs in:\n%s", form, r)
}

// TestPasswordsAreNormalised: a password created, changed or reset in NFD
// signs in with both its NFC and NFD forms (NIST SP 800-63B: normalise
// before hashing and before verifying).
func TestPasswordsAreNormalised(t *testing.T) {
	st := newStack(t)

	t.Run("create", func(t *testing.T) {
		nfc, nfd := accented()
		spec := journey.NewUserSpec("nfd", "user", journey.Bool(false))
		spec.Password = nfd
		var u journey.User
		st.root.send(t, http.MethodPost, "/api/v1/users", spec).ExpectJSON(t, http.StatusCreated, &u)
		st.expectSignIn(t, spec.Username, nfc, "NFC")
		st.expectSignIn(t, spec.Username, nfd, "NFD")
	})

	t.Run("change", func(t *testing.T) {
		m := st.newMember(t, "change", "user")
		nfc, nfd := accented()
		r := m.api.send(t, http.MethodPut, m.user.Path()+"/password", map[string]string{
			"current_password": m.cred.Password, "new_password": nfd,
		})
		require.Equal(t, http.StatusOK, r.Status, "change to an NFD password:\n%s", r)
		st.expectSignIn(t, m.cred.Login, nfc, "NFC")
		st.expectSignIn(t, m.cred.Login, nfd, "NFD")

		// The current password is checked in either form too.
		tok := st.signIn(t, st.from(t), journey.Credentials{Login: m.cred.Login, Password: nfc})
		next := journey.NewPassword()
		r = st.from(t).withBearer(tok.Token).send(t, http.MethodPut, m.user.Path()+"/password", map[string]string{
			"current_password": nfd, "new_password": next,
		})
		assert.Equal(t, http.StatusOK, r.Status, "the current password, typed in NFD, is recognised:\n%s", r)
	})

	t.Run("admin reset", func(t *testing.T) {
		m := st.newMember(t, "reset", "user")
		nfc, nfd := accented()
		r := st.root.send(t, http.MethodPost, m.user.Path()+"/password-reset", map[string]string{"password": nfd})
		require.Equal(t, http.StatusOK, r.Status, "reset to an NFD password:\n%s", r)
		st.expectSignIn(t, m.cred.Login, nfc, "NFC")
		st.expectSignIn(t, m.cred.Login, nfd, "NFD")
	})
}

// TestChangePasswordRevokesOtherSessions: changing your own password revokes
// your other tokens and browser sessions, while the token that made the
// change stays valid.
func TestChangePasswordRevokesOtherSessions(t *testing.T) {
	st := newStack(t)
	m := st.newMember(t, "revoke", "user")
	other := st.from(t).withBearer(st.signIn(t, st.from(t), m.cred).Token)
	browser := st.browserSignIn(t, m.cred, nil)
	other.get(t, "/api/v1/me").Expect(t, http.StatusOK)
	browser.get(t, "/api/v1/me").Expect(t, http.StatusOK)

	next := journey.NewPassword()
	m.api.send(t, http.MethodPut, m.user.Path()+"/password", map[string]string{
		"current_password": m.cred.Password, "new_password": next,
	}).Expect(t, http.StatusOK)

	m.api.get(t, "/api/v1/me").Expect(t, http.StatusOK)
	assert.Equal(t, http.StatusUnauthorized, other.get(t, "/api/v1/me").Status, "the user's other token is revoked")
	assert.Equal(t, http.StatusUnauthorized, browser.get(t, "/api/v1/me").Status, "the user's browser session is revoked")
	page := browser.do(t, journey.Request{Method: http.MethodGet, Path: "/dashboard", Header: map[string]string{"Accept": "text/html"}})
	page.ExpectRedirect(t, http.StatusSeeOther, "/login")
	st.expectSignIn(t, m.cred.Login, next, "its new form")
}
