package ui_test

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"html"
	"io"
	"mime/multipart"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/gopherops/gopherops/service/internal/accounts"
	"github.com/gopherops/gopherops/service/internal/apptest"
	"github.com/gopherops/gopherops/service/internal/config"
)

// expectSeeOther asserts a POST-redirect-GET answer to location.
func expectSeeOther(t *testing.T, r apptest.Response, location string) {
	t.Helper()
	if r.Status != http.StatusSeeOther || r.Header.Get("Location") != location {
		t.Fatalf("got %d to %q, want 303 to %q: %s", r.Status, r.Header.Get("Location"), location, r.Body)
	}
}

// countText counts how often text appears in a page, HTML-unescaped.
func countText(body []byte, text string) int {
	return strings.Count(html.UnescapeString(string(body)), text)
}

var tempPassword = regexp.MustCompile(`<code id="temp-password">([^<]+)</code>`)

func TestBrowserJourneyWithoutJavaScript(t *testing.T) {
	e := apptest.New(t)
	admin := e.BrowserLogin("root", apptest.RootPassword)
	r := admin.Page("/users")
	if r.Status != 200 || !strings.Contains(string(r.Body), "root@example.com") {
		t.Fatalf("users page: %d", r.Status)
	}

	// An invalid form comes back after a redirect: field errors by their
	// fields, the first one focused, each shown once, no generic alert.
	r = admin.Form("/users", url.Values{"username": {"x"}, "email": {"bad"}, "password": {"short"}, "password_confirm": {"short"}})
	expectSeeOther(t, r, "/users")
	r = admin.Page("/users")
	body := string(r.Body)
	for _, want := range []string{
		`id="create-username-error"`, `aria-invalid="true"`, `create-username-hint create-username-error`,
		`value="bad"`, `<details class="dialog" data-dialog open>`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("invalid create form: page lacks %s", want)
		}
	}
	if n := countText(r.Body, "Username must be 3 to 50 characters"); n != 1 {
		t.Errorf("username error shown %d times, want once", n)
	}
	if strings.Contains(body, "some fields are not valid") || strings.Contains(body, `role="alert"`) {
		t.Error("a generic alert repeats the field errors")
	}
	if m := regexp.MustCompile(`<input[^>]*autofocus[^>]*>`).FindAllString(body, -1); len(m) != 1 || !strings.Contains(m[0], `id="create-username"`) {
		t.Errorf("autofocus on %q, want only the username field", m)
	}
	if r := admin.Page("/users"); strings.Contains(string(r.Body), "create-username-error") {
		t.Error("the errors are shown again after a reload")
	}

	r = admin.Form("/users", url.Values{"username": {"carol"}, "email": {"carol@example.com"}, "password": {"granite-willow-spark-19"}, "password_confirm": {"granite-willow-spark-19"}, "role": {"user"}})
	carol, err := e.Svc.ListUsers(t.Context(), accounts.Actor{User: e.Root}, "", 10)
	if err != nil || len(carol.Users) != 2 {
		t.Fatalf("carol not created: %v", err)
	}
	id := carol.Users[1].ID
	// The list opens on carol's page with her row marked, and the notice
	// names her and links to her.
	expectSeeOther(t, r, fmt.Sprintf("/users?highlight=%d#user-%d", id, id))
	r = admin.Page(fmt.Sprintf("/users?highlight=%d", id))
	if !strings.Contains(string(r.Body), fmt.Sprintf(`User <a href="/users/%d">carol</a> created.`, id)) ||
		!strings.Contains(string(r.Body), fmt.Sprintf(`<tr id="user-%d" class="highlight">`, id)) {
		t.Fatalf("after create: no notice naming carol, or her row is not marked:\n%s", r.Body)
	}

	// A duplicate is one message, by the field, with what was typed kept.
	admin.Page("/users")
	expectSeeOther(t, admin.Form("/users", url.Values{"username": {"Carol"}, "email": {"c2@example.com"}, "password": {"granite-willow-spark-19"}, "password_confirm": {"granite-willow-spark-19"}}), "/users")
	r = admin.Page("/users")
	if n := countText(r.Body, "already taken"); n != 1 || !strings.Contains(string(r.Body), "Username is already taken.") {
		t.Errorf("duplicate username: %d messages", n)
	}
	if !strings.Contains(string(r.Body), `value="c2@example.com"`) {
		t.Error("the email typed was not kept")
	}

	// Reset without a password: a redirect, then the generated one, once.
	r = admin.Form(fmt.Sprintf("/users/%d/reset-password", id), url.Values{"back": {"user"}})
	expectSeeOther(t, r, fmt.Sprintf("/users/%d", id))
	r = admin.Page(fmt.Sprintf("/users/%d", id))
	m := tempPassword.FindSubmatch(r.Body)
	if r.Status != 200 || m == nil || !strings.Contains(string(r.Body), `data-copy="temp-password"`) {
		t.Fatalf("reset: %d, no temporary password with a copy button", r.Status)
	}
	tmp := html.UnescapeString(string(m[1]))
	if r := admin.Page(fmt.Sprintf("/users/%d", id)); tempPassword.Match(r.Body) {
		t.Fatal("the temporary password is shown again after a reload")
	}

	// Carol signs in, is sent to change her password, changes it.
	cc := e.Anon()
	cc.Page("/login")
	r = cc.Form("/login", url.Values{"login": {"carol@example.com"}, "password": {"wrong-password-entirely"}})
	expectSeeOther(t, r, "/login")
	if r := cc.Page("/login"); !strings.Contains(string(r.Body), `value="carol@example.com"`) || countText(r.Body, "Wrong username/email or password.") != 1 {
		t.Fatalf("failed sign-in: login not kept or message not shown once:\n%s", r.Body)
	}
	r = cc.Form("/login", url.Values{"login": {"carol@example.com"}, "password": {tmp}})
	if r.Status != http.StatusSeeOther || !strings.HasPrefix(r.Header.Get("Location"), fmt.Sprintf("/users/%d", id)) {
		t.Fatalf("login with temporary password: %d %s", r.Status, r.Header.Get("Location"))
	}
	if r := cc.Page("/dashboard"); r.Status != http.StatusSeeOther {
		t.Fatalf("dashboard reachable before the forced change: %d", r.Status)
	}
	r = cc.Page(fmt.Sprintf("/users/%d", id))
	if !strings.Contains(string(r.Body), "At least 15 characters, not a common password") {
		t.Error("the password rule is not shown before the form is sent")
	}
	expectSeeOther(t, cc.Form(fmt.Sprintf("/users/%d/password", id), url.Values{"current_password": {"not-it-at-all-nope"}, "new_password": {"pebble-thistle-orbit-58"}, "new_password_confirm": {"pebble-thistle-orbit-58"}}),
		fmt.Sprintf("/users/%d#password", id))
	r = cc.Page(fmt.Sprintf("/users/%d", id))
	if !strings.Contains(string(r.Body), `id="pw-current-error"`) || !regexp.MustCompile(`id="pw-current"[^>]*aria-invalid="true"[^>]*autofocus`).Match(r.Body) {
		t.Errorf("a wrong current password is not marked and focused:\n%s", r.Body)
	}
	r = cc.Form(fmt.Sprintf("/users/%d/password", id), url.Values{"current_password": {tmp}, "new_password": {"pebble-thistle-orbit-58"}, "new_password_confirm": {"pebble-thistle-orbit-58"}})
	expectSeeOther(t, r, fmt.Sprintf("/users/%d", id))
	if r := cc.Page(fmt.Sprintf("/users/%d", id)); !strings.Contains(string(r.Body), "Password changed.") {
		t.Error("no notice after the password change")
	}
	if r := cc.Page("/dashboard"); r.Status != 200 {
		t.Fatalf("dashboard after change: %d", r.Status)
	}

	// Edit with a stale version is refused, changes nothing, and says why.
	cc.Page(fmt.Sprintf("/users/%d", id))
	expectSeeOther(t, cc.Form(fmt.Sprintf("/users/%d", id), url.Values{"version": {"1"}, "username": {"carol"}, "email": {"c@example.com"}}),
		fmt.Sprintf("/users/%d", id))
	if r := cc.Page(fmt.Sprintf("/users/%d", id)); !strings.Contains(string(r.Body), "Someone else changed this user") {
		t.Error("a stale edit does not say why it failed")
	}

	// Avatar upload: a redirect (a reload never uploads again), then shown.
	var mbody bytes.Buffer
	mw := multipart.NewWriter(&mbody)
	_ = mw.WriteField("csrf_token", cc.CSRF)
	fw, _ := mw.CreateFormFile("avatar", "me.png")
	_, _ = fw.Write(apptest.PNG(t, 16, 16))
	_ = mw.Close()
	r = cc.Do("POST", fmt.Sprintf("/users/%d/avatar", id), mbody.Bytes(), map[string]string{"Content-Type": mw.FormDataContentType()})
	expectSeeOther(t, r, fmt.Sprintf("/users/%d", id))
	if r := cc.Page(fmt.Sprintf("/users/%d", id)); !strings.Contains(string(r.Body), "/avatar?v=") {
		t.Fatal("profile does not show the avatar")
	}
	if r := admin.Page("/users"); !strings.Contains(string(r.Body), fmt.Sprintf(`<img class="avatar small" src="/api/v1/users/%d/avatar?v=`, id)) {
		t.Fatal("the users list does not show the avatar")
	}

	// Delete: the user's page links to a confirmation page (which the
	// script shows in a dialog), never the browser's confirm().
	r = admin.Page(fmt.Sprintf("/users/%d", id))
	if !strings.Contains(string(r.Body), fmt.Sprintf(`href="/users/%d/delete?back=user" data-confirm`, id)) {
		t.Fatal("the user's page has no link to delete")
	}
	r = admin.Page(fmt.Sprintf("/users/%d/delete?back=user", id))
	if !strings.Contains(string(r.Body), fmt.Sprintf(`action="/users/%d/delete"`, id)) || !strings.Contains(string(r.Body), "Delete carol?") {
		t.Fatal("no delete confirmation")
	}
	expectSeeOther(t, admin.Form(fmt.Sprintf("/users/%d/delete", id), url.Values{"back": {"user"}}), "/users")
	if r := admin.Page("/users"); !strings.Contains(string(r.Body), fmt.Sprintf(`User <a href="/audit?user=%d">carol</a> deleted.`, id)) {
		t.Fatal("the deletion's notice does not name carol and link to her history")
	}
	admin.Page("/dashboard")
	expectSeeOther(t, admin.Form("/logout", nil), "/login?msg=signed-out")
	if r := admin.Page("/dashboard"); r.Status != http.StatusSeeOther {
		t.Fatalf("dashboard after logout: %d", r.Status)
	}
}

// TestRefusedFormsComeBackToTheirField covers the forms inside dialogs and
// the upload: each refusal is a redirect to the form, open, with its field
// marked, described and focused.
func TestRefusedFormsComeBackToTheirField(t *testing.T) {
	e := apptest.New(t)
	victim, _ := e.CreateUser("victim", accounts.RoleUser)
	admin := e.BrowserLogin("root", apptest.RootPassword)

	form := fmt.Sprintf("/users/%d/reset-password?back=%%2Fusers%%3Fq%%3Dvic", victim.ID)
	admin.Page(form)
	expectSeeOther(t, admin.Form(fmt.Sprintf("/users/%d/reset-password", victim.ID), url.Values{"password": {"short"}, "back": {"/users?q=vic"}}), form)
	r := admin.Page(form)
	body := string(r.Body)
	errID := fmt.Sprintf("reset-%d-error", victim.ID)
	if !strings.Contains(body, `name="back" value="/users?q=vic"`) || !strings.Contains(body, `id="`+errID+`"`) ||
		!regexp.MustCompile(`aria-describedby="reset-\d+-hint reset-\d+-error" aria-invalid="true" autofocus`).MatchString(body) {
		t.Fatalf("a refused reset does not come back to its open dialog:\n%s", body)
	}
	if n := countText(r.Body, "Password must be at least 15 characters"); n != 1 {
		t.Fatalf("the reset error is shown %d times", n)
	}

	var mbody bytes.Buffer
	mw := multipart.NewWriter(&mbody)
	_ = mw.WriteField("csrf_token", admin.CSRF)
	fw, _ := mw.CreateFormFile("avatar", "not-an-image.png")
	_, _ = fw.Write([]byte("GIF89a, or rather plain text"))
	_ = mw.Close()
	r = admin.Do("POST", fmt.Sprintf("/users/%d/avatar", victim.ID), mbody.Bytes(), map[string]string{"Content-Type": mw.FormDataContentType()})
	expectSeeOther(t, r, fmt.Sprintf("/users/%d", victim.ID))
	r = admin.Page(fmt.Sprintf("/users/%d", victim.ID))
	if !regexp.MustCompile(`id="avatar-file"[^>]*aria-describedby="avatar-hint avatar-error" aria-invalid="true" autofocus`).Match(r.Body) ||
		countText(r.Body, `id="avatar-error">Avatar `) != 1 || countText(r.Body, "PNG or JPEG image.") != 1 {
		t.Fatalf("a refused avatar is not marked by its field:\n%s", r.Body)
	}
	if r := admin.Page(fmt.Sprintf("/users/%d", victim.ID)); strings.Contains(string(r.Body), `aria-invalid="true"`) {
		t.Fatal("the avatar error survives a reload")
	}
}

func TestFormsReturnOnlyToLocalPages(t *testing.T) {
	e := apptest.New(t)
	victim, _ := e.CreateUser("victim", accounts.RoleUser)
	admin := e.BrowserLogin("root", apptest.RootPassword)
	path := fmt.Sprintf("/users/%d/reset-password", victim.ID)
	for back, want := range map[string]string{
		"/users?q=vic&sort=email&msg=created": "/users?q=vic&sort=email",
		fmt.Sprintf("/users/%d", victim.ID):   fmt.Sprintf("/users/%d", victim.ID),
		"user":                                fmt.Sprintf("/users/%d", victim.ID),
		"//evil.example/users":                "/users",
		"https://evil.example/users?q=x":      "/users",
		"/users/1/../../logout":               "/users",
		"/dashboard":                          "/users",
		"":                                    "/users",
	} {
		admin.Page("/users")
		if r := admin.Form(path, url.Values{"back": {back}}); r.Header.Get("Location") != want {
			t.Errorf("back %q: redirected to %q, want %q", back, r.Header.Get("Location"), want)
		}
	}
}

func TestUsersListSearchSortAndPages(t *testing.T) {
	e := apptest.New(t)
	for i := range 24 {
		if _, err := e.Svc.CreateUser(t.Context(), accounts.Actor{User: e.Root}, accounts.NewUser{
			Username: fmt.Sprintf("user%d", i), Email: fmt.Sprintf("u%02d@%s.example.com", i, []string{"red", "blue"}[i%2]),
			Password: apptest.UserPassword,
		}); err != nil {
			t.Fatal(err)
		}
	}
	admin := e.BrowserLogin("root", apptest.RootPassword)
	rows := regexp.MustCompile(`<td data-label="User" class="user-cell">`)

	r := admin.Page("/users")
	if n := len(rows.FindAll(r.Body, -1)); n != 20 || !strings.Contains(string(r.Body), "1–20 of 25 users.") {
		t.Fatalf("first page: %d rows", n)
	}
	// Natural order: user2 before user10.
	if i, j := strings.Index(string(r.Body), ">user2<"), strings.Index(string(r.Body), ">user10<"); i < 0 || j < 0 || i > j {
		t.Error("names are not in natural order")
	}
	if !strings.Contains(string(r.Body), `<span aria-current="page"><span class="visually-hidden">Page </span>1</span>`) ||
		!strings.Contains(string(r.Body), `<a href="/users?page=2"><span class="visually-hidden">Page </span>2</a>`) {
		t.Error("no page numbers")
	}
	next := regexp.MustCompile(`href="([^"]+)" rel="next"`).FindSubmatch(r.Body)
	if next == nil || strings.Contains(string(r.Body), `rel="prev"`) {
		t.Fatal("first page: want a next link and no previous link")
	}
	r = admin.Page(html.UnescapeString(string(next[1])))
	prev := regexp.MustCompile(`href="([^"]+)" rel="prev"`).FindSubmatch(r.Body)
	if n := len(rows.FindAll(r.Body, -1)); n != 5 || prev == nil || !strings.Contains(string(r.Body), "21–25 of 25 users.") {
		t.Fatalf("second page: %d rows, prev link %v", n, prev != nil)
	}
	if r := admin.Page(html.UnescapeString(string(prev[1]))); len(rows.FindAll(r.Body, -1)) != 20 || !strings.Contains(string(r.Body), ">user0<") {
		t.Fatal("the previous page is not the first page")
	}

	r = admin.Page("/users?q=BLUE")
	if n := len(rows.FindAll(r.Body, -1)); n != 12 || !strings.Contains(string(r.Body), "12 matching users.") {
		t.Fatalf("search: %d rows", n)
	}
	r = admin.Page("/users?sort=email&dir=desc")
	body := string(r.Body)
	if !strings.Contains(body, `aria-sort="descending"><a href="/users?sort=email"`) {
		t.Error("the sorted column has no aria-sort or its link does not flip the order")
	}
	if i, j := strings.Index(body, "u23@blue"), strings.Index(body, "u06@red"); i < 0 || j < 0 || i > j {
		t.Error("not sorted by email, descending")
	}
	// Emails never break: cut with an ellipsis, the whole address in the title.
	if !strings.Contains(body, `<span class="truncate" title="u23@blue.example.com">u23@blue.example.com</span>`) {
		t.Error("the email is not in a truncating span with its title")
	}
	for path, want := range map[string]int{
		"/users?page=forged":                   http.StatusBadRequest,
		"/users?page=99":                       http.StatusOK, // past the last: the last
		"/users?sort=password":                 http.StatusBadRequest,
		"/users?state=asleep":                  http.StatusBadRequest,
		"/users?q=" + strings.Repeat("a", 300): http.StatusBadRequest,
	} {
		if r := admin.Page(path); r.Status != want || len(rows.FindAll(r.Body, -1)) == 0 {
			t.Errorf("%s: %d with %d rows, want %d and a page of users", path, r.Status, len(rows.FindAll(r.Body, -1)), want)
		}
	}
}

func TestFormsRefuseTextTheDatabaseCannotStore(t *testing.T) {
	e := apptest.New(t)
	admin := e.BrowserLogin("root", apptest.RootPassword)
	before, _ := e.Svc.CountUsers(t.Context())
	cases := []struct {
		name, path string
		fields     url.Values
		label      string
	}{
		{"NUL in a username", "/users", url.Values{"username": {"ev\x00il"}, "email": {"e@example.com"}, "password": {apptest.UserPassword}}, "Username"},
		{"invalid UTF-8 in an email", "/users", url.Values{"username": {"evil"}, "email": {"e\xff@example.com"}, "password": {apptest.UserPassword}}, "Email"},
		{"NUL in an edit", fmt.Sprintf("/users/%d", e.Root.ID), url.Values{"version": {"1"}, "username": {"root"}, "email": {"r\x00@example.com"}}, "Email"},
		{"NUL in a temporary password", fmt.Sprintf("/users/%d/reset-password", e.Root.ID), url.Values{"password": {"a\x00b"}}, "Password"},
		{"NUL in a field name", "/users", url.Values{"x\x00y": {"1"}}, "A field"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			admin.Page("/users")
			r := admin.Form(tc.path, tc.fields)
			if r.Status != http.StatusBadRequest || !strings.Contains(string(r.Body), tc.label+" contains a character that cannot be stored") {
				t.Fatalf("got %d, want a 400 naming %s:\n%s", r.Status, tc.label, r.Body)
			}
		})
	}
	after, _ := e.Svc.CountUsers(t.Context())
	root, _ := e.Svc.GetUser(t.Context(), accounts.Actor{User: e.Root}, e.Root.ID)
	if after != before || root.Version != e.Root.Version {
		t.Fatalf("a refused form changed data: %d users (was %d), root version %d", after, before, root.Version)
	}
	anon := e.Anon()
	anon.Page("/login")
	if r := anon.Form("/login", url.Values{"login": {"ro\x00ot"}, "password": {apptest.RootPassword}}); r.Status != http.StatusBadRequest {
		t.Fatalf("sign-in with NUL: %d", r.Status)
	}
	if r := admin.Page("/users?q=a%00b"); r.Status != http.StatusBadRequest || !strings.Contains(string(r.Body), "a value the list does not know for the search") {
		t.Fatalf("search with NUL: %d", r.Status)
	}
}

func TestNavigation(t *testing.T) {
	e := apptest.New(t)
	admin := e.BrowserLogin("root", apptest.RootPassword)

	r := admin.Page("/no-such-page")
	if r.Status != http.StatusNotFound || !strings.Contains(string(r.Body), "Sign out") || !strings.Contains(string(r.Body), `href="/users"`) {
		t.Fatalf("404 for a signed-in admin: %d, no signed-in navigation", r.Status)
	}
	if r := e.Anon().Page("/no-such-page"); r.Status != http.StatusNotFound || strings.Contains(string(r.Body), "Sign out") {
		t.Fatalf("404 for a visitor: %d", r.Status)
	}
	for path, current := range map[string]string{"/users": `href="/users" aria-current="page"`, "/dashboard": `href="/dashboard" aria-current="page"`,
		fmt.Sprintf("/users/%d", e.Root.ID): fmt.Sprintf(`href="/users/%d" aria-current="page"`, e.Root.ID)} {
		r := admin.Page(path)
		if !strings.Contains(string(r.Body), `<a class="skip" href="#main">`) || !strings.Contains(string(r.Body), `<main id="main"`) {
			t.Errorf("%s: no skip link to the main content", path)
		}
		if strings.Count(string(r.Body), `aria-current="page"`) != 1 || !strings.Contains(string(r.Body), current) {
			t.Errorf("%s: want exactly %s", path, current)
		}
	}
}

func TestDashboardLiveFragment(t *testing.T) {
	e := apptest.New(t)
	admin := e.BrowserLogin("root", apptest.RootPassword)
	page := admin.Page("/dashboard")
	live := admin.Page("/dashboard/live")
	if live.Status != 200 || strings.Contains(string(live.Body), "<html") {
		t.Fatalf("live fragment: %d", live.Status)
	}
	body := string(live.Body)
	if n := strings.Count(body, `<svg viewBox="0 0 600 150" preserveAspectRatio="none" role="img"`); n != 4 {
		t.Errorf("%d charts, want 4", n)
	}
	for _, want := range []string{"Requests", "p95 latency", "Server errors", "Database latency", `class="line"`,
		"Created user", "Signed in", " UTC</time>", "<dt>Schema</dt><dd>", "data-relative>just now</time>",
		`<span>0 ms</span>`, "requests per second", "Values<span"} {
		if !strings.Contains(body, want) {
			t.Errorf("live fragment lacks %q", want)
		}
	}
	if strings.Contains(body, "user.created") {
		t.Error("an audit action is shown by its code")
	}
	if !strings.Contains(string(page.Body), `data-live="/dashboard/live"`) || !strings.Contains(string(page.Body), "data-stale hidden") {
		t.Error("the dashboard page does not wire its refresh")
	}
	_, user := e.CreateUser("plain", accounts.RoleUser)
	_ = user
	pc := e.BrowserLogin("plain", apptest.UserPassword)
	if r := pc.Page("/dashboard/live"); r.Status != 200 || strings.Contains(string(r.Body), "Recent activity") {
		t.Errorf("a plain user's dashboard: %d, audit shown", r.Status)
	}
	if r := e.Anon().Page("/dashboard/live"); r.Status != http.StatusSeeOther {
		t.Errorf("anonymous live fragment: %d", r.Status)
	}
}

func TestFlashCannotBeReplayedElsewhere(t *testing.T) {
	e := apptest.New(t)
	a := e.BrowserLogin("root", apptest.RootPassword)
	victim, _ := e.CreateUser("victim", accounts.RoleUser)
	a.Page("/users")
	r := a.Form(fmt.Sprintf("/users/%d/reset-password", victim.ID), nil)
	var flash *http.Cookie
	for _, ck := range (&http.Response{Header: r.Header}).Cookies() {
		if strings.HasSuffix(ck.Name, "gopherops_flash") {
			flash = ck
		}
	}
	if flash == nil || strings.Contains(flash.Value, "victim") {
		t.Fatalf("no sealed flash cookie: %v", flash)
	}
	if raw, _ := base64.RawURLEncoding.DecodeString(flash.Value); bytes.Contains(raw, []byte("victim")) {
		t.Fatal("the flash cookie is readable")
	}
	other := e.BrowserLogin("root", apptest.RootPassword)
	rr := other.Do("GET", "/users", nil, map[string]string{"Accept": "text/html", "Cookie": flash.Name + "=" + flash.Value})
	if tempPassword.Match(rr.Body) {
		t.Fatal("another session opened the flash")
	}
}

// dbProxy forwards TCP connections to PostgreSQL until cut, when it closes
// every connection and refuses new ones: the database gone, as a browser
// user would meet it.
type dbProxy struct {
	ln    net.Listener
	mu    sync.Mutex
	conns []net.Conn
	cut   bool
}

func startDBProxy(t *testing.T, dbURL string) (*dbProxy, string) {
	t.Helper()
	u, err := url.Parse(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &dbProxy{ln: ln}
	target := u.Host
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			up, err := net.Dial("tcp", target)
			p.mu.Lock()
			if err != nil || p.cut {
				p.mu.Unlock()
				c.Close()
				if up != nil {
					up.Close()
				}
				continue
			}
			p.conns = append(p.conns, c, up)
			p.mu.Unlock()
			go func() { _, _ = io.Copy(up, c); up.Close() }()
			go func() { _, _ = io.Copy(c, up); c.Close() }()
		}
	}()
	t.Cleanup(func() { p.cutOff(); ln.Close() })
	u.Host = ln.Addr().String()
	return p, u.String()
}

// cutOff drops every connection and refuses new ones.
func (p *dbProxy) cutOff() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cut = true
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

// TestDatabaseOutagePage loses the database under a signed-in browser and
// under a sign-in: friendly 503 pages that the browser may retry, not 500s.
func TestDatabaseOutagePage(t *testing.T) {
	var proxy *dbProxy
	e := apptest.New(t, apptest.Options{NoAuthCache: true, DatabaseURL: func(u string) string {
		p, url := startDBProxy(t, u)
		proxy = p
		return url
	}})
	signedIn := e.Anon()
	signedIn.Page("/login")
	expectSeeOther(t, signedIn.Form("/login", url.Values{"login": {"root"}, "password": {apptest.RootPassword}}), "/dashboard")
	anon := e.Anon()
	anon.Page("/login")

	proxy.cutOff()
	isOutagePage := func(what string, r apptest.Response) {
		t.Helper()
		if r.Status != http.StatusServiceUnavailable || r.Header.Get("Retry-After") == "" ||
			!strings.Contains(string(r.Body), "Temporarily unavailable") || !strings.Contains(r.Header.Get("Content-Type"), "text/html") {
			t.Fatalf("%s during an outage: %d %q %q:\n%s", what, r.Status, r.Header.Get("Retry-After"), r.Header.Get("Content-Type"), r.Body)
		}
	}
	isOutagePage("sign-in", anon.Form("/login", url.Values{"login": {"root"}, "password": {apptest.RootPassword}}))
	isOutagePage("the users page", signedIn.Page("/users"))
}

func TestCSRF(t *testing.T) {
	e := apptest.New(t)
	victim, _ := e.CreateUser("victim", accounts.RoleUser)
	admin := e.BrowserLogin("root", apptest.RootPassword)
	del := fmt.Sprintf("/users/%d/delete", victim.ID)

	for name, token := range map[string]string{"missing": "", "forged": "AAAA", "from another session": e.BrowserLogin("root", apptest.RootPassword).CSRF} {
		t.Run(name, func(t *testing.T) {
			fields := url.Values{}
			if token != "" {
				fields.Set("csrf_token", token)
			}
			saved := admin.CSRF
			admin.CSRF = ""
			r := admin.Do("POST", del, fields, map[string]string{"Accept": "text/html"})
			admin.CSRF = saved
			if r.Status != http.StatusForbidden {
				t.Fatalf("form with %s token: %d", name, r.Status)
			}
		})
	}
	// The login form is protected too (login CSRF).
	anon := e.Anon()
	if r := anon.Do("POST", "/login", url.Values{"login": {"root"}, "password": {apptest.RootPassword}}, nil); r.Status != http.StatusForbidden {
		t.Fatalf("login without token: %d", r.Status)
	}
	// Cookie-authenticated API writes need the X-CSRF-Token header.
	r := admin.Do("DELETE", "/api/v1/users/"+fmt.Sprint(victim.ID), nil, nil)
	apptest.ExpectProblem(t, r, http.StatusForbidden)
	// A cross-site browser request is stopped before any handler.
	r = admin.Do("POST", del, url.Values{"csrf_token": {admin.CSRF}}, map[string]string{"Sec-Fetch-Site": "cross-site"})
	if r.Status != http.StatusForbidden {
		t.Fatalf("cross-site post: %d", r.Status)
	}
	if _, err := e.Svc.GetUser(t.Context(), accounts.Actor{User: e.Root}, victim.ID); err != nil {
		t.Fatalf("victim deleted by a forged request: %v", err)
	}
	// With the right token and header the same requests work.
	if r := admin.Do("DELETE", "/api/v1/users/"+fmt.Sprint(victim.ID), nil, map[string]string{"X-CSRF-Token": admin.CSRF}); r.Status != 204 {
		t.Fatalf("API delete with CSRF header: %d %s", r.Status, r.Body)
	}
}

func TestSecurityHeaders(t *testing.T) {
	e := apptest.New(t, apptest.Options{Config: func(c *config.Config) { c.Env = "production"; c.SecureCookies = true }})
	r := e.Anon().Page("/login")
	for h, want := range map[string]string{
		"Content-Security-Policy":   "script-src 'self'",
		"X-Content-Type-Options":    "nosniff",
		"Referrer-Policy":           "same-origin",
		"Strict-Transport-Security": "max-age=",
		"X-Frame-Options":           "DENY",
	} {
		if !strings.Contains(r.Header.Get(h), want) {
			t.Errorf("%s = %q, want it to contain %q", h, r.Header.Get(h), want)
		}
	}
	if !strings.Contains(r.Header.Get("Content-Security-Policy"), "frame-ancestors 'none'") {
		t.Error("CSP lacks frame-ancestors")
	}
	if strings.Contains(string(r.Body), "<script>") || strings.Contains(string(r.Body), " onclick=") || strings.Contains(string(r.Body), " style=") {
		t.Error("page carries inline script or style")
	}
	ck := r.Header.Get("Set-Cookie")
	if !strings.Contains(ck, "__Host-") || !strings.Contains(ck, "Secure") || !strings.Contains(ck, "HttpOnly") || !strings.Contains(ck, "SameSite=Lax") {
		t.Errorf("cookie not hardened in production: %q", ck)
	}
}

// TestOversizedFormIsAPage: a browser posting more than a form may carry
// (an avatar past the limit, without JavaScript to refuse it first) gets
// an HTML page, not the API's JSON problem.
func TestOversizedFormIsAPage(t *testing.T) {
	e := apptest.New(t)
	admin := e.BrowserLogin("root", apptest.RootPassword)
	r := admin.Do("POST", fmt.Sprintf("/users/%d/avatar", e.Root.ID), make([]byte, 3<<20),
		map[string]string{"Accept": "text/html", "Content-Type": "multipart/form-data; boundary=x"})
	if r.Status != http.StatusRequestEntityTooLarge || !strings.HasPrefix(r.Header.Get("Content-Type"), "text/html") {
		t.Fatalf("oversized form: %d %s", r.Status, r.Header.Get("Content-Type"))
	}
}
