package abuse

import (
	"fmt"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gopherops/gopherops/test/journey"
)

// Expected answers of an attack besides an exact status.
const (
	any4xx  = 0  // any 4xx
	not5xx  = -1 // anything but a 5xx (the input is legitimate, if odd)
	nul     = "\x00"
	badUTF8 = "\xff\xfe\xc3" // two bytes that never occur in UTF-8 and a lead byte with no continuation
)

// attack is one hostile request and what the server must answer.
type attack struct {
	name string
	send func(t *testing.T) *journey.Response
	// want is the exact status, or any4xx, or not5xx.
	want int
	// field, when set, is the input a 400 must name.
	field string
	// html marks a page request: the answer is an HTML page, not a problem.
	html bool
}

// rawJSON is a request with a JSON body written byte by byte, so it can
// carry what encoding/json would never produce (invalid UTF-8).
func rawJSON(method, path, body string) journey.Request {
	return journey.Request{Method: method, Path: path, Body: []byte(body), ContentType: "application/json"}
}

// userSnapshot is what a refused request must leave as it was.
type userSnapshot struct {
	ID          int64
	Username    string
	Email       string
	Role        string
	Version     int
	Avatar      string
	LastLoginAt string
}

// snapshot lists every account as root sees it, and the stored objects.
func (st *stack) snapshot(t *testing.T) ([]userSnapshot, int) {
	t.Helper()
	var page struct {
		Users []journey.User `json:"users"`
	}
	st.root.get(t, "/api/v1/users?limit=100").ExpectJSON(t, http.StatusOK, &page)
	out := make([]userSnapshot, 0, len(page.Users))
	for _, u := range page.Users {
		s := userSnapshot{ID: u.ID, Username: u.Username, Email: u.Email, Role: u.Role, Version: u.Version}
		if u.AvatarURL != nil {
			s.Avatar = *u.AvatarURL
		}
		if u.LastLoginAt != nil {
			s.LastLoginAt = u.LastLoginAt.String()
		}
		out = append(out, s)
	}
	return out, len(st.s3.Objects(t, avatarBucket))
}

// TestHostileInputNeverFails sends a corpus of hostile text and numbers to
// every route that takes them: NUL characters and invalid UTF-8 in JSON
// bodies and forms, out-of-range and malformed integers in queries and
// paths, broken headers. None may answer 5xx; bad text in a body is a 400
// naming the field; and nothing stored changes.
func TestHostileInputNeverFails(t *testing.T) {
	st := newStack(t)
	target := st.newMember(t, "target", "user")
	rootBrowser := st.browserSignIn(t, st.admin, nil)
	anon := func(req journey.Request) func(*testing.T) *journey.Response {
		return func(t *testing.T) *journey.Response { return st.from(t).do(t, req) }
	}
	asRoot := func(req journey.Request) func(*testing.T) *journey.Response {
		return func(t *testing.T) *journey.Response { return st.root.do(t, req) }
	}
	asTarget := func(req journey.Request) func(*testing.T) *journey.Response {
		return func(t *testing.T) *journey.Response { return target.api.do(t, req) }
	}
	page := func(path string) func(*testing.T) *journey.Response {
		return func(t *testing.T) *journey.Response {
			return rootBrowser.do(t, journey.Request{Method: http.MethodGet, Path: path, Header: map[string]string{"Accept": "text/html"}})
		}
	}
	loginForm := func(login, password string) func(*testing.T) *journey.Response {
		return func(t *testing.T) *journey.Response {
			return st.from(t).postLogin(t, url.Values{"login": {login}, "password": {password}}, nil)
		}
	}
	adminForm := func(path string, fields url.Values) func(*testing.T) *journey.Response {
		return func(t *testing.T) *journey.Response {
			list := rootBrowser.do(t, journey.Request{Method: http.MethodGet, Path: "/users", Header: map[string]string{"Accept": "text/html"}})
			list.ExpectHTML(t, http.StatusOK)
			form := url.Values{"csrf_token": {journey.CSRFToken(t, list.Body, "/users")}}
			for k, v := range fields {
				form[k] = v
			}
			return rootBrowser.do(t, journey.Request{Method: http.MethodPost, Path: path, Form: form, Header: map[string]string{"Accept": "text/html"}})
		}
	}
	withHeader := func(path, name, value string) func(*testing.T) *journey.Response {
		return func(t *testing.T) *journey.Response {
			return st.root.do(t, journey.Request{Method: http.MethodGet, Path: path, Header: map[string]string{name: value}})
		}
	}
	patch := func(field, value string) func(*testing.T) *journey.Response {
		return func(t *testing.T) *journey.Response {
			// The current tag, so that only the body can be the reason for a refusal.
			etag := st.root.get(t, target.user.Path()).Header.Get("ETag")
			return st.root.do(t, journey.Request{Method: http.MethodPatch, Path: target.user.Path(),
				Body: []byte(fmt.Sprintf(`{%q:"%s"}`, field, value)), ContentType: "application/json",
				Header: map[string]string{"If-Match": etag}})
		}
	}
	newUser := func(username, email string) string {
		return fmt.Sprintf(`{"username":"%s","email":"%s","password":%q,"role":"user"}`, username, email, journey.NewPassword())
	}
	// Each attack gets names of its own, so that one the server wrongly
	// accepts cannot make the next fail for another reason (a taken name).
	seq := 0
	okName := func() string { seq++; return fmt.Sprintf("hostile-%d", seq) }
	okEmail := func() string { seq++; return fmt.Sprintf("hostile-%d@example.com", seq) }
	local := func() string { seq++; return fmt.Sprintf("h%d-", seq) }
	tokens, users, audit := "/api/v1/auth/tokens", "/api/v1/users", "/api/v1/audit"
	pw := journey.NewPassword()
	targetPage := "/users/" + strconv.FormatInt(target.user.ID, 10)
	login, right := target.cred.Login, target.cred.Password
	const (
		two31 = "2147483648"          // 2^31: past a 32-bit integer
		two63 = "9223372036854775808" // 2^63: past a 64-bit integer
		max63 = "9223372036854775807" // 2^63-1: the largest bigint
	)

	corpus := []attack{
		// Sign-in (JSON): the login reaches the account lookup.
		{name: "token: NUL in login", send: anon(rawJSON(http.MethodPost, tokens, `{"login":"ro\u0000ot","password":"`+pw+`","name":"n"}`)), want: 400, field: "login"},
		{name: "token: invalid UTF-8 in login", send: anon(rawJSON(http.MethodPost, tokens, `{"login":"`+badUTF8+`","password":"`+pw+`","name":"n"}`)), want: 400, field: "login"},
		{name: "token: invalid UTF-8 in password", send: anon(rawJSON(http.MethodPost, tokens, `{"login":"`+login+`","password":"`+badUTF8+`","name":"n"}`)), want: 400, field: "password"},
		{name: "token: NUL in name, right password", send: anon(rawJSON(http.MethodPost, tokens, `{"login":"`+login+`","password":"`+right+`","name":"to\u0000ken"}`)), want: 400, field: "name"},
		{name: "token: invalid UTF-8 in name, right password", send: anon(rawJSON(http.MethodPost, tokens, `{"login":"`+login+`","password":"`+right+`","name":"`+badUTF8+`"}`)), want: 400, field: "name"},
		// Sign-in (HTML form).
		{name: "login form: NUL in login", send: loginForm("ro"+nul+"ot", pw), want: 400, html: true},
		{name: "login form: invalid UTF-8 in login", send: loginForm(badUTF8, pw), want: 400, html: true},
		{name: "login form: invalid UTF-8 in password", send: loginForm(login, badUTF8), want: 400, html: true},
		// Account administration (HTML forms).
		{name: "users form: NUL in username", send: adminForm("/users", url.Values{"username": {"ev" + nul + "il"}, "email": {okEmail()}, "password": {pw}, "role": {"user"}}), want: 400, html: true},
		{name: "users form: invalid UTF-8 in email", send: adminForm("/users", url.Values{"username": {okName()}, "email": {local() + badUTF8 + "@example.com"}, "password": {pw}, "role": {"user"}}), want: 400, html: true},
		{name: "user form: NUL in email", send: adminForm(targetPage, url.Values{"version": {strconv.Itoa(target.user.Version)},
			"username": {target.user.Username}, "email": {local() + nul + "@example.com"}}), want: 400, html: true},
		{name: "reset form: NUL in temporary password", send: adminForm(targetPage+"/reset-password", url.Values{"password": {pw + nul}}), want: 400, html: true},
		// Account administration (JSON).
		{name: "create user: NUL in username", send: asRoot(rawJSON(http.MethodPost, users, newUser(`ab\u0000cd`, okEmail()))), want: 400, field: "username"},
		{name: "create user: invalid UTF-8 in username", send: asRoot(rawJSON(http.MethodPost, users, newUser("ab"+badUTF8, okEmail()))), want: 400, field: "username"},
		{name: "create user: NUL in email", send: asRoot(rawJSON(http.MethodPost, users, newUser(okName(), local()+`a\u0000b@example.com`))), want: 400, field: "email"},
		{name: "create user: invalid UTF-8 in email", send: asRoot(rawJSON(http.MethodPost, users, newUser(okName(), local()+"a"+badUTF8+"@example.com"))), want: 400, field: "email"},
		{name: "create user: NUL in password", send: asRoot(rawJSON(http.MethodPost, users,
			`{"username":"`+okName()+`","email":"`+okEmail()+`","password":"`+pw+`\u0000x","role":"user"}`)), want: any4xx},
		{name: "patch user: NUL in username", send: patch("username", `ab\u0000cd`), want: 400, field: "username"},
		{name: "patch user: invalid UTF-8 in username", send: patch("username", "ab"+badUTF8), want: 400, field: "username"},
		{name: "patch user: NUL in email", send: patch("email", local()+`a\u0000b@example.com`), want: 400, field: "email"},
		{name: "patch user: invalid UTF-8 in email", send: patch("email", local()+"a"+badUTF8+"@example.com"), want: 400, field: "email"},
		{name: "change password: invalid UTF-8 in current_password", send: asTarget(rawJSON(http.MethodPut, target.user.Path()+"/password",
			`{"current_password":"`+badUTF8+`","new_password":"`+pw+`"}`)), want: 400, field: "current_password"},
		{name: "change password: invalid UTF-8 in new_password", send: asTarget(rawJSON(http.MethodPut, target.user.Path()+"/password",
			`{"current_password":"`+right+`","new_password":"`+pw+badUTF8+`"}`)), want: 400, field: "new_password"},
		// Last of the bodies: were it accepted, a reset would revoke the target's token.
		{name: "reset password: invalid UTF-8 in password", send: asRoot(rawJSON(http.MethodPost, target.user.Path()+"/password-reset",
			`{"password":"`+pw+badUTF8+`"}`)), want: 400, field: "password"},
		// Numbers: the audit trail's cursor (the handler reads ?before=) and limits.
		{name: "audit: before=2^31", send: asRoot(journey.Request{Method: http.MethodGet, Path: audit + "?before=" + two31}), want: not5xx},
		{name: "audit: before=2^63", send: asRoot(journey.Request{Method: http.MethodGet, Path: audit + "?before=" + two63}), want: any4xx},
		{name: "audit: before=-1", send: asRoot(journey.Request{Method: http.MethodGet, Path: audit + "?before=-1"}), want: any4xx},
		{name: "audit: before=invalid UTF-8", send: asRoot(journey.Request{Method: http.MethodGet, Path: audit + "?before=%FF%FE"}), want: any4xx},
		{name: "audit: limit=2^31", send: asRoot(journey.Request{Method: http.MethodGet, Path: audit + "?limit=" + two31}), want: any4xx},
		{name: "audit: limit=2^63", send: asRoot(journey.Request{Method: http.MethodGet, Path: audit + "?limit=" + two63}), want: any4xx},
		{name: "audit: limit=-1", send: asRoot(journey.Request{Method: http.MethodGet, Path: audit + "?limit=-1"}), want: any4xx},
		{name: "users: limit=2^31", send: asRoot(journey.Request{Method: http.MethodGet, Path: users + "?limit=" + two31}), want: any4xx},
		{name: "users: limit=2^63", send: asRoot(journey.Request{Method: http.MethodGet, Path: users + "?limit=" + two63}), want: any4xx},
		{name: "users: limit=-1", send: asRoot(journey.Request{Method: http.MethodGet, Path: users + "?limit=-1"}), want: any4xx},
		{name: "users: cursor past int64", send: asRoot(journey.Request{Method: http.MethodGet, Path: users + "?cursor=zzzzzzzzzzzzzzzz"}), want: any4xx},
		{name: "users: cursor at the largest bigint", send: asRoot(journey.Request{Method: http.MethodGet, Path: users + "?cursor=" + strconv.FormatInt(1<<63-1, 36)}), want: not5xx},
		{name: "users: NUL cursor", send: asRoot(journey.Request{Method: http.MethodGet, Path: users + "?cursor=%00"}), want: any4xx},
		{name: "users: invalid UTF-8 cursor", send: asRoot(journey.Request{Method: http.MethodGet, Path: users + "?cursor=%FF%FE"}), want: any4xx},
		{name: "user id 2^31", send: asRoot(journey.Request{Method: http.MethodGet, Path: users + "/" + two31}), want: http.StatusNotFound},
		{name: "user id 2^63-1", send: asRoot(journey.Request{Method: http.MethodGet, Path: users + "/" + max63}), want: http.StatusNotFound},
		{name: "user id 2^63", send: asRoot(journey.Request{Method: http.MethodGet, Path: users + "/" + two63}), want: any4xx},
		{name: "user id -1", send: asRoot(journey.Request{Method: http.MethodGet, Path: users + "/-1"}), want: any4xx},
		{name: "token id 2^63", send: asRoot(journey.Request{Method: http.MethodDelete, Path: tokens + "/" + two63}), want: any4xx},
		{name: "token id 2^63-1", send: asRoot(journey.Request{Method: http.MethodDelete, Path: tokens + "/" + max63}), want: http.StatusNotFound},
		// The pages number their pages (?page=), where the API pages by cursor.
		{name: "users page: NUL page number", send: page("/users?page=%00"), want: any4xx, html: true},
		{name: "users page: invalid UTF-8 page number", send: page("/users?page=%FF%FE"), want: any4xx, html: true},
		{name: "users page: page number past int64", send: page("/users?page=99999999999999999999"), want: any4xx, html: true},
		{name: "users page: page number zero", send: page("/users?page=0"), want: any4xx, html: true},
		{name: "users page: role of invalid UTF-8", send: page("/users?role=%FF%FE"), want: any4xx, html: true},
		{name: "audit page: page number past int64", send: page("/audit?page=99999999999999999999"), want: any4xx, html: true},
		{name: "audit page: NUL in the time range", send: page("/audit?from=%00"), want: any4xx, html: true},
		{name: "audit export: page number past int64", send: page("/audit.csv?page=99999999999999999999"), want: any4xx, html: true},
		// Headers.
		{name: "bearer token of invalid UTF-8", send: anon(journey.Request{Method: http.MethodGet, Path: "/api/v1/me",
			Header: map[string]string{"Authorization": "Bearer gpt_" + badUTF8}}), want: http.StatusUnauthorized},
		{name: "request id of invalid UTF-8", send: withHeader("/api/v1/me", "X-Request-ID", badUTF8), want: http.StatusOK},
		{name: "user agent of invalid UTF-8", send: withHeader("/api/v1/me", "User-Agent", badUTF8), want: http.StatusOK},
	}

	beforeUsers, beforeObjects := st.snapshot(t)
	for _, a := range corpus {
		t.Run(a.name, func(t *testing.T) {
			r := a.send(t)
			require.Less(t, r.Status, 500, "a hostile input must never cost a 5xx:\n%s", r)
			switch a.want {
			case not5xx:
			case any4xx:
				assert.True(t, r.Status >= 400 && r.Status < 500, "want a 4xx:\n%s", r)
			default:
				assert.Equal(t, a.want, r.Status, "status:\n%s", r)
			}
			if r.Status < 400 {
				return
			}
			if a.html {
				mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
				assert.Equal(t, "text/html", mt, "a page answers with a page:\n%s", r)
				return
			}
			p := problemOf(t, r)
			if a.field != "" && r.Status == http.StatusBadRequest {
				assert.True(t, namesField(p, a.field), "the 400 must name the field %q:\n%s", a.field, r)
			}
		})
	}
	afterUsers, afterObjects := st.snapshot(t)
	assert.Equal(t, beforeUsers, afterUsers, "refused requests change no account")
	assert.Equal(t, beforeObjects, afterObjects, "refused requests store no object")
}

// TestUserAgentCutInACharacter signs in through the browser form with a
// User-Agent whose 100th byte falls inside a two-byte character (the session
// is named after the User-Agent, cut to 100 bytes): the sign-in works. A
// User-Agent of invalid UTF-8 never costs a 5xx either.
func TestUserAgentCutInACharacter(t *testing.T) {
	st := newStack(t)
	m := st.newMember(t, "agent", "user")
	cut := strings.Repeat("a", 99) + eAcuteNFC + " Mozilla/5.0 (ünïcödé)"
	require.False(t, utf8.ValidString(cut[:100]), "the 100th byte splits the é")

	browser := st.from(t)
	r := browser.postLogin(t, url.Values{"login": {m.cred.Login}, "password": {m.cred.Password}}, map[string]string{"User-Agent": cut})
	require.Less(t, r.Status, 500, "a User-Agent cut in a character must not cost a 5xx:\n%s", r)
	r.ExpectRedirect(t, http.StatusSeeOther, "/dashboard")
	browser.get(t, "/api/v1/me").Expect(t, http.StatusOK)

	for _, ua := range []string{badUTF8, strings.Repeat("é", 60), strings.Repeat("a", 99) + "\xe2\x82\xac"} {
		r := st.from(t).postLogin(t, url.Values{"login": {m.cred.Login}, "password": {m.cred.Password}}, map[string]string{"User-Agent": ua})
		assert.Less(t, r.Status, 500, "User-Agent %q:\n%s", ua, r)
		r = st.from(t).do(t, journey.Request{Method: http.MethodPost, Path: "/api/v1/auth/tokens", JSON: tokenRequest(m.cred),
			Header: map[string]string{"User-Agent": ua}})
		assert.Less(t, r.Status, 500, "User-Agent %q:\n%s", ua, r)
	}
}
