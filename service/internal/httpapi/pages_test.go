package httpapi_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"html"
	"io"
	"mime/multipart"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/gopherops/gopherops/service/internal/accounts"
	"github.com/gopherops/gopherops/service/internal/blob"
	"github.com/gopherops/gopherops/service/internal/config"
	"github.com/gopherops/gopherops/service/internal/httpapi"
	"github.com/gopherops/gopherops/service/internal/observability"
	"github.com/gopherops/gopherops/service/internal/password"
	"github.com/gopherops/gopherops/service/internal/status"
	"github.com/gopherops/gopherops/service/internal/store/postgres"
	"github.com/gopherops/gopherops/service/pglocal/pgtest"
)

// expectSeeOther asserts a POST-redirect-GET answer to location.
func expectSeeOther(t *testing.T, r response, location string) {
	t.Helper()
	if r.status != http.StatusSeeOther || r.header.Get("Location") != location {
		t.Fatalf("got %d to %q, want 303 to %q: %s", r.status, r.header.Get("Location"), location, r.body)
	}
}

// countText counts how often text appears in a page, HTML-unescaped.
func countText(body []byte, text string) int {
	return strings.Count(html.UnescapeString(string(body)), text)
}

var tempPassword = regexp.MustCompile(`<code id="temp-password">([^<]+)</code>`)

func TestBrowserJourneyWithoutJavaScript(t *testing.T) {
	e := newEnv(t)
	admin := e.browserLogin("root", rootPassword)
	r := admin.page("/users")
	if r.status != 200 || !strings.Contains(string(r.body), "root@example.com") {
		t.Fatalf("users page: %d", r.status)
	}

	// An invalid form comes back after a redirect: field errors by their
	// fields, the first one focused, each shown once, no generic alert.
	r = admin.form("/users", url.Values{"username": {"x"}, "email": {"bad"}, "password": {"short"}})
	expectSeeOther(t, r, "/users")
	r = admin.page("/users")
	body := string(r.body)
	for _, want := range []string{
		`id="create-username-error"`, `aria-invalid="true"`, `create-username-hint create-username-error`,
		`value="bad"`, `<details class="dialog" data-dialog open>`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("invalid create form: page lacks %s", want)
		}
	}
	if n := countText(r.body, "Username must be 3 to 50 characters"); n != 1 {
		t.Errorf("username error shown %d times, want once", n)
	}
	if strings.Contains(body, "some fields are not valid") || strings.Contains(body, `role="alert"`) {
		t.Error("a generic alert repeats the field errors")
	}
	if m := regexp.MustCompile(`<input[^>]*autofocus[^>]*>`).FindAllString(body, -1); len(m) != 1 || !strings.Contains(m[0], `id="create-username"`) {
		t.Errorf("autofocus on %q, want only the username field", m)
	}
	if r := admin.page("/users"); strings.Contains(string(r.body), "create-username-error") {
		t.Error("the errors are shown again after a reload")
	}

	r = admin.form("/users", url.Values{"username": {"carol"}, "email": {"carol@example.com"}, "password": {"granite-willow-spark-19"}, "role": {"user"}})
	expectSeeOther(t, r, "/users?msg=created")
	carol, err := e.svc.ListUsers(t.Context(), accounts.Actor{User: e.root}, "", 10)
	if err != nil || len(carol.Users) != 2 {
		t.Fatalf("carol not created: %v", err)
	}
	id := carol.Users[1].ID

	// A duplicate is one message, by the field, with what was typed kept.
	admin.page("/users")
	expectSeeOther(t, admin.form("/users", url.Values{"username": {"Carol"}, "email": {"c2@example.com"}, "password": {"granite-willow-spark-19"}}), "/users")
	r = admin.page("/users")
	if n := countText(r.body, "already taken"); n != 1 || !strings.Contains(string(r.body), "Username is already taken.") {
		t.Errorf("duplicate username: %d messages", n)
	}
	if !strings.Contains(string(r.body), `value="c2@example.com"`) {
		t.Error("the email typed was not kept")
	}

	// Reset without a password: a redirect, then the generated one, once.
	r = admin.form(fmt.Sprintf("/users/%d/reset-password", id), url.Values{"back": {"user"}})
	expectSeeOther(t, r, fmt.Sprintf("/users/%d", id))
	r = admin.page(fmt.Sprintf("/users/%d", id))
	m := tempPassword.FindSubmatch(r.body)
	if r.status != 200 || m == nil || !strings.Contains(string(r.body), `data-copy="temp-password"`) {
		t.Fatalf("reset: %d, no temporary password with a copy button", r.status)
	}
	tmp := html.UnescapeString(string(m[1]))
	if r := admin.page(fmt.Sprintf("/users/%d", id)); tempPassword.Match(r.body) {
		t.Fatal("the temporary password is shown again after a reload")
	}

	// Carol signs in, is sent to change her password, changes it.
	cc := e.anon()
	cc.page("/login")
	r = cc.form("/login", url.Values{"login": {"carol@example.com"}, "password": {"wrong-password-entirely"}})
	expectSeeOther(t, r, "/login")
	if r := cc.page("/login"); !strings.Contains(string(r.body), `value="carol@example.com"`) || countText(r.body, "Wrong username/email or password.") != 1 {
		t.Fatalf("failed sign-in: login not kept or message not shown once:\n%s", r.body)
	}
	r = cc.form("/login", url.Values{"login": {"carol@example.com"}, "password": {tmp}})
	if r.status != http.StatusSeeOther || !strings.HasPrefix(r.header.Get("Location"), fmt.Sprintf("/users/%d", id)) {
		t.Fatalf("login with temporary password: %d %s", r.status, r.header.Get("Location"))
	}
	if r := cc.page("/dashboard"); r.status != http.StatusSeeOther {
		t.Fatalf("dashboard reachable before the forced change: %d", r.status)
	}
	r = cc.page(fmt.Sprintf("/users/%d", id))
	if !strings.Contains(string(r.body), "At least 15 characters, not a common password") {
		t.Error("the password rule is not shown before the form is sent")
	}
	expectSeeOther(t, cc.form(fmt.Sprintf("/users/%d/password", id), url.Values{"current_password": {"not-it-at-all-nope"}, "new_password": {"pebble-thistle-orbit-58"}}),
		fmt.Sprintf("/users/%d#password", id))
	r = cc.page(fmt.Sprintf("/users/%d", id))
	if !strings.Contains(string(r.body), `id="pw-current-error"`) || !regexp.MustCompile(`id="pw-current"[^>]*aria-invalid="true"[^>]*autofocus`).Match(r.body) {
		t.Errorf("a wrong current password is not marked and focused:\n%s", r.body)
	}
	r = cc.form(fmt.Sprintf("/users/%d/password", id), url.Values{"current_password": {tmp}, "new_password": {"pebble-thistle-orbit-58"}})
	expectSeeOther(t, r, fmt.Sprintf("/users/%d?msg=password-changed", id))
	if r := cc.page("/dashboard"); r.status != 200 {
		t.Fatalf("dashboard after change: %d", r.status)
	}

	// Edit with a stale version is refused, changes nothing, and says why.
	cc.page(fmt.Sprintf("/users/%d", id))
	expectSeeOther(t, cc.form(fmt.Sprintf("/users/%d", id), url.Values{"version": {"1"}, "username": {"carol"}, "email": {"c@example.com"}}),
		fmt.Sprintf("/users/%d", id))
	if r := cc.page(fmt.Sprintf("/users/%d", id)); !strings.Contains(string(r.body), "Someone else changed this user") {
		t.Error("a stale edit does not say why it failed")
	}

	// Avatar upload: a redirect (a reload never uploads again), then shown.
	var mbody bytes.Buffer
	mw := multipart.NewWriter(&mbody)
	_ = mw.WriteField("csrf_token", cc.csrf)
	fw, _ := mw.CreateFormFile("avatar", "me.png")
	_, _ = fw.Write(pngBytes(t, 16, 16))
	_ = mw.Close()
	r = cc.do("POST", fmt.Sprintf("/users/%d/avatar", id), mbody.Bytes(), map[string]string{"Content-Type": mw.FormDataContentType()})
	expectSeeOther(t, r, fmt.Sprintf("/users/%d?msg=avatar", id))
	if r := cc.page(fmt.Sprintf("/users/%d", id)); !strings.Contains(string(r.body), "/avatar?v=") {
		t.Fatal("profile does not show the avatar")
	}
	if r := admin.page("/users"); !strings.Contains(string(r.body), fmt.Sprintf(`<img class="avatar small" src="/api/v1/users/%d/avatar?v=`, id)) {
		t.Fatal("the users list does not show the avatar")
	}

	// Delete: the confirmation is part of the page (a <details> that the
	// script turns into a dialog), never the browser's confirm().
	r = admin.page(fmt.Sprintf("/users/%d", id))
	if !strings.Contains(string(r.body), fmt.Sprintf(`action="/users/%d/delete"`, id)) || !strings.Contains(string(r.body), "Delete carol?") {
		t.Fatal("the user's page has no delete confirmation")
	}
	expectSeeOther(t, admin.form(fmt.Sprintf("/users/%d/delete", id), url.Values{"back": {"user"}}), "/users?msg=deleted")
	admin.page("/dashboard")
	expectSeeOther(t, admin.form("/logout", nil), "/login?msg=signed-out")
	if r := admin.page("/dashboard"); r.status != http.StatusSeeOther {
		t.Fatalf("dashboard after logout: %d", r.status)
	}
}

// TestRefusedFormsComeBackToTheirField covers the forms inside dialogs and
// the upload: each refusal is a redirect to the form, open, with its field
// marked, described and focused.
func TestRefusedFormsComeBackToTheirField(t *testing.T) {
	e := newEnv(t)
	victim, _ := e.createUser("victim", accounts.RoleUser)
	admin := e.browserLogin("root", rootPassword)

	admin.page("/users?q=vic")
	expectSeeOther(t, admin.form(fmt.Sprintf("/users/%d/reset-password", victim.ID), url.Values{"password": {"short"}, "back": {"/users?q=vic"}}), "/users?q=vic")
	r := admin.page("/users?q=vic")
	body := string(r.body)
	errID := fmt.Sprintf("reset-%d-error", victim.ID)
	if !strings.Contains(body, `<details class="dialog" data-dialog open>`) || !strings.Contains(body, `id="`+errID+`"`) ||
		!regexp.MustCompile(`aria-describedby="reset-\d+-hint reset-\d+-error" aria-invalid="true" autofocus`).MatchString(body) {
		t.Fatalf("a refused reset does not come back to its open dialog:\n%s", body)
	}
	if n := countText(r.body, "Password must be at least 15 characters"); n != 1 {
		t.Fatalf("the reset error is shown %d times", n)
	}

	var mbody bytes.Buffer
	mw := multipart.NewWriter(&mbody)
	_ = mw.WriteField("csrf_token", admin.csrf)
	fw, _ := mw.CreateFormFile("avatar", "not-an-image.png")
	_, _ = fw.Write([]byte("GIF89a, or rather plain text"))
	_ = mw.Close()
	r = admin.do("POST", fmt.Sprintf("/users/%d/avatar", victim.ID), mbody.Bytes(), map[string]string{"Content-Type": mw.FormDataContentType()})
	expectSeeOther(t, r, fmt.Sprintf("/users/%d", victim.ID))
	r = admin.page(fmt.Sprintf("/users/%d", victim.ID))
	if !regexp.MustCompile(`id="avatar-file"[^>]*aria-describedby="avatar-hint avatar-error" aria-invalid="true" autofocus`).Match(r.body) ||
		countText(r.body, `id="avatar-error">Avatar `) != 1 || countText(r.body, "PNG or JPEG image.") != 1 {
		t.Fatalf("a refused avatar is not marked by its field:\n%s", r.body)
	}
	if r := admin.page(fmt.Sprintf("/users/%d", victim.ID)); strings.Contains(string(r.body), `aria-invalid="true"`) {
		t.Fatal("the avatar error survives a reload")
	}
}

func TestFormsReturnOnlyToLocalPages(t *testing.T) {
	e := newEnv(t)
	victim, _ := e.createUser("victim", accounts.RoleUser)
	admin := e.browserLogin("root", rootPassword)
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
		admin.page("/users")
		if r := admin.form(path, url.Values{"back": {back}}); r.header.Get("Location") != want {
			t.Errorf("back %q: redirected to %q, want %q", back, r.header.Get("Location"), want)
		}
	}
}

func TestUsersListSearchSortAndPages(t *testing.T) {
	e := newEnv(t)
	for i := range 24 {
		if _, err := e.svc.CreateUser(t.Context(), accounts.Actor{User: e.root}, accounts.NewUser{
			Username: fmt.Sprintf("user%02d", i), Email: fmt.Sprintf("u%02d@%s.example.com", i, []string{"red", "blue"}[i%2]),
			Password: userPassword,
		}); err != nil {
			t.Fatal(err)
		}
	}
	admin := e.browserLogin("root", rootPassword)
	rows := regexp.MustCompile(`<td data-label="User" class="user-cell">`)

	r := admin.page("/users")
	if n := len(rows.FindAll(r.body, -1)); n != 20 || !strings.Contains(string(r.body), "Showing 20 of 25 users.") {
		t.Fatalf("first page: %d rows", n)
	}
	next := regexp.MustCompile(`href="([^"]+)" rel="next"`).FindSubmatch(r.body)
	if next == nil || strings.Contains(string(r.body), `rel="prev"`) {
		t.Fatal("first page: want a next link and no previous link")
	}
	r = admin.page(html.UnescapeString(string(next[1])))
	prev := regexp.MustCompile(`href="([^"]+)" rel="prev"`).FindSubmatch(r.body)
	if n := len(rows.FindAll(r.body, -1)); n != 5 || prev == nil {
		t.Fatalf("second page: %d rows, prev link %v", n, prev != nil)
	}
	if r := admin.page(html.UnescapeString(string(prev[1]))); len(rows.FindAll(r.body, -1)) != 20 || !strings.Contains(string(r.body), "user00") {
		t.Fatal("the previous page is not the first page")
	}

	r = admin.page("/users?q=BLUE")
	if n := len(rows.FindAll(r.body, -1)); n != 12 || !strings.Contains(string(r.body), "12 users match.") {
		t.Fatalf("search: %d rows", n)
	}
	r = admin.page("/users?sort=email&dir=desc")
	body := string(r.body)
	if !strings.Contains(body, `aria-sort="descending"><a href="/users?sort=email"`) {
		t.Error("the sorted column has no aria-sort or its link does not flip the order")
	}
	if i, j := strings.Index(body, "u23@blue"), strings.Index(body, "u06@red"); i < 0 || j < 0 || i > j {
		t.Error("not sorted by email, descending")
	}
	for path, want := range map[string]int{
		"/users?cursor=forged":                 http.StatusBadRequest,
		"/users?sort=password":                 http.StatusOK, // an unknown column falls back to usernames
		"/users?q=" + strings.Repeat("a", 300): http.StatusBadRequest,
	} {
		if r := admin.page(path); r.status != want || len(rows.FindAll(r.body, -1)) == 0 {
			t.Errorf("%s: %d with %d rows, want %d and the first page", path, r.status, len(rows.FindAll(r.body, -1)), want)
		}
	}
}

func TestFormsRefuseTextTheDatabaseCannotStore(t *testing.T) {
	e := newEnv(t)
	admin := e.browserLogin("root", rootPassword)
	before, _ := e.svc.CountUsers(t.Context())
	cases := []struct {
		name, path string
		fields     url.Values
		label      string
	}{
		{"NUL in a username", "/users", url.Values{"username": {"ev\x00il"}, "email": {"e@example.com"}, "password": {userPassword}}, "Username"},
		{"invalid UTF-8 in an email", "/users", url.Values{"username": {"evil"}, "email": {"e\xff@example.com"}, "password": {userPassword}}, "Email"},
		{"NUL in an edit", fmt.Sprintf("/users/%d", e.root.ID), url.Values{"version": {"1"}, "username": {"root"}, "email": {"r\x00@example.com"}}, "Email"},
		{"NUL in a temporary password", fmt.Sprintf("/users/%d/reset-password", e.root.ID), url.Values{"password": {"a\x00b"}}, "Password"},
		{"NUL in a field name", "/users", url.Values{"x\x00y": {"1"}}, "A field"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			admin.page("/users")
			r := admin.form(tc.path, tc.fields)
			if r.status != http.StatusBadRequest || !strings.Contains(string(r.body), tc.label+" contains a character that cannot be stored") {
				t.Fatalf("got %d, want a 400 naming %s:\n%s", r.status, tc.label, r.body)
			}
		})
	}
	after, _ := e.svc.CountUsers(t.Context())
	root, _ := e.svc.GetUser(t.Context(), accounts.Actor{User: e.root}, e.root.ID)
	if after != before || root.Version != e.root.Version {
		t.Fatalf("a refused form changed data: %d users (was %d), root version %d", after, before, root.Version)
	}
	anon := e.anon()
	anon.page("/login")
	if r := anon.form("/login", url.Values{"login": {"ro\x00ot"}, "password": {rootPassword}}); r.status != http.StatusBadRequest {
		t.Fatalf("sign-in with NUL: %d", r.status)
	}
	if r := admin.page("/users?q=a%00b"); r.status != http.StatusBadRequest || !strings.Contains(string(r.body), "Search contains") {
		t.Fatalf("search with NUL: %d", r.status)
	}
}

func TestNavigation(t *testing.T) {
	e := newEnv(t)
	admin := e.browserLogin("root", rootPassword)

	r := admin.page("/no-such-page")
	if r.status != http.StatusNotFound || !strings.Contains(string(r.body), "Sign out") || !strings.Contains(string(r.body), `href="/users"`) {
		t.Fatalf("404 for a signed-in admin: %d, no signed-in navigation", r.status)
	}
	if r := e.anon().page("/no-such-page"); r.status != http.StatusNotFound || strings.Contains(string(r.body), "Sign out") {
		t.Fatalf("404 for a visitor: %d", r.status)
	}
	for path, current := range map[string]string{"/users": `href="/users" aria-current="page"`, "/dashboard": `href="/dashboard" aria-current="page"`,
		fmt.Sprintf("/users/%d", e.root.ID): fmt.Sprintf(`href="/users/%d" aria-current="page"`, e.root.ID)} {
		r := admin.page(path)
		if !strings.Contains(string(r.body), `<a class="skip" href="#main">`) || !strings.Contains(string(r.body), `<main id="main"`) {
			t.Errorf("%s: no skip link to the main content", path)
		}
		if strings.Count(string(r.body), `aria-current="page"`) != 1 || !strings.Contains(string(r.body), current) {
			t.Errorf("%s: want exactly %s", path, current)
		}
	}
}

func TestDashboardLiveFragment(t *testing.T) {
	e := newEnv(t)
	admin := e.browserLogin("root", rootPassword)
	page := admin.page("/dashboard")
	live := admin.page("/dashboard/live")
	if live.status != 200 || strings.Contains(string(live.body), "<html") {
		t.Fatalf("live fragment: %d", live.status)
	}
	body := string(live.body)
	if n := strings.Count(body, `<svg viewBox="0 0 300 80" role="img"`); n != 4 {
		t.Errorf("%d charts, want 4", n)
	}
	for _, want := range []string{"Requests", "p95 latency", "Server errors", "Database latency", `class="line"`,
		"Created user", "Signed in", " UTC</time>", "<dt>Schema</dt><dd>"} {
		if !strings.Contains(body, want) {
			t.Errorf("live fragment lacks %q", want)
		}
	}
	if strings.Contains(body, "user.created") {
		t.Error("an audit action is shown by its code")
	}
	if !strings.Contains(string(page.body), `data-live="/dashboard/live"`) || !strings.Contains(string(page.body), "data-stale hidden") {
		t.Error("the dashboard page does not wire its refresh")
	}
	_, user := e.createUser("plain", accounts.RoleUser)
	_ = user
	pc := e.browserLogin("plain", userPassword)
	if r := pc.page("/dashboard/live"); r.status != 200 || strings.Contains(string(r.body), "Recent activity") {
		t.Errorf("a plain user's dashboard: %d, audit shown", r.status)
	}
	if r := e.anon().page("/dashboard/live"); r.status != http.StatusSeeOther {
		t.Errorf("anonymous live fragment: %d", r.status)
	}
}

func TestFlashCannotBeReplayedElsewhere(t *testing.T) {
	e := newEnv(t)
	a := e.browserLogin("root", rootPassword)
	victim, _ := e.createUser("victim", accounts.RoleUser)
	a.page("/users")
	r := a.form(fmt.Sprintf("/users/%d/reset-password", victim.ID), nil)
	var flash *http.Cookie
	for _, ck := range (&http.Response{Header: r.header}).Cookies() {
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
	other := e.browserLogin("root", rootPassword)
	rr := other.do("GET", "/users", nil, map[string]string{"Accept": "text/html", "Cookie": flash.Name + "=" + flash.Value})
	if tempPassword.Match(rr.body) {
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
	proxy, dbURL := startDBProxy(t, pgtest.NewDatabase(t))
	cfgPool, err := pgxpool.ParseConfig(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	cfgPool.ConnConfig.ConnectTimeout = time.Second
	pool, err := pgxpool.NewWithConfig(context.Background(), cfgPool)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	blobs, _ := blob.NewFileStore(t.TempDir())
	svc, err := accounts.NewService(accounts.Options{Store: postgres.New(pool), Hasher: password.NewHasher(password.FastParams),
		Blobs: blobs, AuthCacheTTL: -1})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.CreateFromCLI(context.Background(), accounts.NewUser{Username: "root", Email: "root@example.com",
		Password: rootPassword, Role: accounts.RoleAdmin}); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(func(k string) string {
		return map[string]string{"APP_ENV": "test", "SESSION_KEY": base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{7}, 32))}[k]
	})
	if err != nil {
		t.Fatal(err)
	}
	router, err := httpapi.NewRouter(httpapi.Deps{Config: cfg, Accounts: svc, Pool: pool, Metrics: observability.NewMetrics(),
		Status: status.NewReporter(pool, svc, time.Now(), "test-pod")})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(router)
	t.Cleanup(srv.Close)
	e := &env{t: t, srv: srv}
	signedIn := e.anon()
	signedIn.page("/login")
	expectSeeOther(t, signedIn.form("/login", url.Values{"login": {"root"}, "password": {rootPassword}}), "/dashboard")
	anon := e.anon()
	anon.page("/login")

	proxy.cutOff()
	isOutagePage := func(what string, r response) {
		t.Helper()
		if r.status != http.StatusServiceUnavailable || r.header.Get("Retry-After") == "" ||
			!strings.Contains(string(r.body), "Temporarily unavailable") || !strings.Contains(r.header.Get("Content-Type"), "text/html") {
			t.Fatalf("%s during an outage: %d %q %q:\n%s", what, r.status, r.header.Get("Retry-After"), r.header.Get("Content-Type"), r.body)
		}
	}
	isOutagePage("sign-in", anon.form("/login", url.Values{"login": {"root"}, "password": {rootPassword}}))
	isOutagePage("the users page", signedIn.page("/users"))
}

func TestCSRF(t *testing.T) {
	e := newEnv(t)
	victim, _ := e.createUser("victim", accounts.RoleUser)
	admin := e.browserLogin("root", rootPassword)
	del := fmt.Sprintf("/users/%d/delete", victim.ID)

	for name, token := range map[string]string{"missing": "", "forged": "AAAA", "from another session": e.browserLogin("root", rootPassword).csrf} {
		t.Run(name, func(t *testing.T) {
			fields := url.Values{}
			if token != "" {
				fields.Set("csrf_token", token)
			}
			saved := admin.csrf
			admin.csrf = ""
			r := admin.do("POST", del, fields, map[string]string{"Accept": "text/html"})
			admin.csrf = saved
			if r.status != http.StatusForbidden {
				t.Fatalf("form with %s token: %d", name, r.status)
			}
		})
	}
	// The login form is protected too (login CSRF).
	anon := e.anon()
	if r := anon.do("POST", "/login", url.Values{"login": {"root"}, "password": {rootPassword}}, nil); r.status != http.StatusForbidden {
		t.Fatalf("login without token: %d", r.status)
	}
	// Cookie-authenticated API writes need the X-CSRF-Token header.
	r := admin.do("DELETE", "/api/v1/users/"+fmt.Sprint(victim.ID), nil, nil)
	expectProblem(t, r, http.StatusForbidden)
	// A cross-site browser request is stopped before any handler.
	r = admin.do("POST", del, url.Values{"csrf_token": {admin.csrf}}, map[string]string{"Sec-Fetch-Site": "cross-site"})
	if r.status != http.StatusForbidden {
		t.Fatalf("cross-site post: %d", r.status)
	}
	if _, err := e.svc.GetUser(t.Context(), accounts.Actor{User: e.root}, victim.ID); err != nil {
		t.Fatalf("victim deleted by a forged request: %v", err)
	}
	// With the right token and header the same requests work.
	if r := admin.do("DELETE", "/api/v1/users/"+fmt.Sprint(victim.ID), nil, map[string]string{"X-CSRF-Token": admin.csrf}); r.status != 204 {
		t.Fatalf("API delete with CSRF header: %d %s", r.status, r.body)
	}
}

func TestSecurityHeaders(t *testing.T) {
	e := newEnv(t, envOptions{cfg: func(c *configT) { c.Env = "production"; c.SecureCookies = true }})
	r := e.anon().page("/login")
	for h, want := range map[string]string{
		"Content-Security-Policy":   "script-src 'self'",
		"X-Content-Type-Options":    "nosniff",
		"Referrer-Policy":           "same-origin",
		"Strict-Transport-Security": "max-age=",
		"X-Frame-Options":           "DENY",
	} {
		if !strings.Contains(r.header.Get(h), want) {
			t.Errorf("%s = %q, want it to contain %q", h, r.header.Get(h), want)
		}
	}
	if !strings.Contains(r.header.Get("Content-Security-Policy"), "frame-ancestors 'none'") {
		t.Error("CSP lacks frame-ancestors")
	}
	if strings.Contains(string(r.body), "<script>") || strings.Contains(string(r.body), " onclick=") || strings.Contains(string(r.body), " style=") {
		t.Error("page carries inline script or style")
	}
	ck := r.header.Get("Set-Cookie")
	if !strings.Contains(ck, "__Host-") || !strings.Contains(ck, "Secure") || !strings.Contains(ck, "HttpOnly") || !strings.Contains(ck, "SameSite=Lax") {
		t.Errorf("cookie not hardened in production: %q", ck)
	}
}
