package ui_test

import (
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/gopherops/gopherops/service/internal/accounts"
	"github.com/gopherops/gopherops/service/internal/apptest"
)

// TestSignInsPage: a user's page lists their sign-ins (this browser marked),
// ends one, ends every other, and never shows a secret.
func TestSignInsPage(t *testing.T) {
	e := apptest.New(t)
	alice, api := e.CreateUser("alice", accounts.RoleUser)
	b := e.BrowserLogin("alice", apptest.UserPassword)
	other := e.BrowserLogin("alice", apptest.UserPassword)
	path := fmt.Sprintf("/users/%d", alice.ID)

	r := b.Page(path)
	body := string(r.Body)
	if r.Status != http.StatusOK || !strings.Contains(body, "Sign-ins") || strings.Count(body, "/sessions/") < 3 ||
		!strings.Contains(body, "this one") || strings.Contains(body, api.Token) {
		t.Fatalf("sign-ins card: %d\n%s", r.Status, body)
	}
	// One end button a sign-in; this browser's says it signs out.
	if n := len(regexp.MustCompile(`/users/\d+/sessions/\d+/end`).FindAllString(body, -1)); n != 3 || strings.Count(body, `small">Sign out</button>`) != 1 {
		t.Fatalf("%d end buttons:\n%s", n, body)
	}
	if r := b.Form(path+"/sessions/end-others", nil); r.Status != http.StatusSeeOther || r.Header.Get("Location") != path+"#sessions" {
		t.Fatalf("end others: %d %s", r.Status, r.Header.Get("Location"))
	}
	if r := api.Do("GET", "/api/v1/me", nil, nil); r.Status != http.StatusUnauthorized {
		t.Fatalf("the API token survived: %d", r.Status)
	}
	if r := other.Page("/dashboard"); r.Status != http.StatusSeeOther {
		t.Fatalf("the other browser survived: %d", r.Status)
	}
	if r := b.Page(path); r.Status != http.StatusOK || !strings.Contains(string(r.Body), "Every other sign-in was ended.") {
		t.Fatalf("after ending others: %d", r.Status)
	}
	// Ending its own session signs the browser out.
	own := regexp.MustCompile(`/users/\d+/sessions/(\d+)/end`).FindStringSubmatch(string(b.Page(path).Body))
	if r := b.Form(own[0], nil); r.Status != http.StatusSeeOther || r.Header.Get("Location") != "/login?msg=signed-out" {
		t.Fatalf("end own: %d %s", r.Status, r.Header.Get("Location"))
	}
	if r := b.Page("/dashboard"); r.Status != http.StatusSeeOther {
		t.Fatalf("still signed in: %d", r.Status)
	}
	// Another user's sign-ins are not theirs to end: refused, nothing ended.
	fresh := e.Login("alice", apptest.UserPassword)
	_, _ = e.CreateUser("bob", accounts.RoleUser)
	bob := e.BrowserLogin("bob", apptest.UserPassword)
	bob.Page("/dashboard")
	bob.Form(path+"/sessions/end-others", nil)
	if r := fresh.Do("GET", "/api/v1/me", nil, nil); r.Status != http.StatusOK {
		t.Fatalf("bob ended alice's sign-ins: %d", r.Status)
	}
}

// TestDisablePage: an admin disables an account from its page (its browser
// is signed out, the sign-in form says why to the right password only) and
// enables it again; the users table marks it.
func TestDisablePage(t *testing.T) {
	e := apptest.New(t)
	alice, _ := e.CreateUser("alice", accounts.RoleUser)
	victim := e.BrowserLogin("alice", apptest.UserPassword)
	admin := e.BrowserLogin("root", apptest.RootPassword)
	path := fmt.Sprintf("/users/%d", alice.ID)

	if r := admin.Page(path); !strings.Contains(string(r.Body), "Disable account") {
		t.Fatalf("no disable button:\n%s", r.Body)
	}
	if r := admin.Page(fmt.Sprintf("/users/%d", e.Root.ID)); strings.Contains(string(r.Body), "Disable account") {
		t.Fatal("root's page offers to disable root")
	}
	admin.Page(path)
	if r := admin.Form(path+"/disable", nil); r.Status != http.StatusSeeOther || r.Header.Get("Location") != path {
		t.Fatalf("disable: %d %s", r.Status, r.Header.Get("Location"))
	}
	if r := admin.Page(path); !strings.Contains(string(r.Body), "Account disabled") || !strings.Contains(string(r.Body), "Enable account") {
		t.Fatalf("after disabling:\n%s", r.Body)
	}
	if r := victim.Page("/dashboard"); r.Status != http.StatusSeeOther {
		t.Fatalf("the disabled user's browser is still signed in: %d", r.Status)
	}
	if r := admin.Page("/users"); !strings.Contains(string(r.Body), `<span class="tag warn">disabled</span>`) {
		t.Fatal("the users table does not mark alice disabled")
	}
	c := e.Anon()
	c.Page("/login")
	c.Form("/login", map[string][]string{"login": {"alice"}, "password": {apptest.UserPassword}})
	if r := c.Page("/login"); !strings.Contains(string(r.Body), "This account is disabled") {
		t.Fatalf("the right password is not told why:\n%s", r.Body)
	}
	admin.Page(path)
	if r := admin.Form(path+"/enable", nil); r.Status != http.StatusSeeOther || r.Header.Get("Location") != path {
		t.Fatalf("enable: %d %s", r.Status, r.Header.Get("Location"))
	}
	e.BrowserLogin("alice", apptest.UserPassword)
}
