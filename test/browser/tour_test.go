package browser

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"github.com/gopherops/gopherops/test/internal/repo"
)

// seedTeam adds enough accounts for a second page of users, with numbered
// names (natural order: oncall2 before oncall10) and an address long
// enough to be cut, and returns the id of the one the tour opens.
func seedTeam(t *testing.T, dep deployment) int64 {
	t.Helper()
	var id int64
	for i := 1; i <= 18; i++ {
		role := "user"
		if i%7 == 0 {
			role = "admin"
		}
		n := dep.create(t, fmt.Sprintf("oncall%d", i), role, 0)
		if i == 2 {
			id = n
		}
	}
	return id
}

// tourPages are the pages of the tour, each waited for by an element it shows.
func tourPages(target, self int64) []struct{ step, path, ready string } {
	return []struct{ step, path, ready string }{
		{"dashboard", "/dashboard", "#dashboard .charts"},
		{"users", "/users", "table.users"},
		{"users-page-2", "/users?page=2", "table.users"},
		{"users-admins", "/users?role=admin&sort=created&dir=desc", "table.users"},
		{"user", fmt.Sprintf("/users/%d", target), "#edit-email"},
		{"reset", fmt.Sprintf("/users/%d/reset-password", target), "form.confirm-form"},
		{"delete", fmt.Sprintf("/users/%d/delete", target), "form.confirm-form"},
		{"audit", "/audit", "table.audit"},
		{"audit-filtered", "/audit?action=user.created", "table.audit"},
		{"own-page", fmt.Sprintf("/users/%d", self), "#password"},
		{"about", "/about", "main h1"},
		{"home", "/", "main h1"},
	}
}

// TestTour visits every page of the UI at the desktop and the phone
// viewport, in the light and the dark colour scheme, with JavaScript and
// without: each must fit its viewport and have no serious or critical
// accessibility finding (axe-core, contrast included, in the scheme shown).
// GOPHEROPS_DOCS_IMAGES=1 also refreshes the README's screenshots.
func TestTour(t *testing.T) {
	alloc := newBrowser(t) // skips without a browser
	needAxe(t)             // skips without axe-core and npm
	dep := start(t)
	target := seedTeam(t, dep)
	sh := newShots(t)
	for _, vp := range []viewport{desktop, phone, desktop.inDark(), phone.inDark()} {
		for _, scripts := range []bool{true, false} {
			name := vp.name
			if !scripts {
				name += "-nojs"
			}
			t.Run(name, func(t *testing.T) { tour(alloc, t, dep, vp, scripts, target, sh) })
		}
	}
	if os.Getenv("GOPHEROPS_DOCS_IMAGES") != "" && !t.Failed() {
		dir := filepath.Join(repo.MustRoot(t), "docs", "images")
		require.NoError(t, os.MkdirAll(dir, 0o755))
		for name, shot := range map[string]string{
			"users-desktop.png":     "desktop-tour-users",
			"dashboard-desktop.png": "desktop-tour-dashboard",
			"users-phone.png":       "phone-tour-users",
			"dashboard-dark.png":    "desktop-dark-tour-dashboard",
			"audit-dark.png":        "desktop-dark-tour-audit",
		} {
			require.NoError(t, os.WriteFile(filepath.Join(dir, name), sh.get(shot), 0o644))
			t.Logf("wrote %s", filepath.Join(dir, name))
		}
	}
}

func tour(alloc context.Context, t *testing.T, dep deployment, vp viewport, scripts bool, target int64, sh *shots) {
	tb := newTab(alloc, t, dep.base, vp, sh)
	prefix := "tour-"
	if !scripts {
		tb.noScripts()
		prefix = "tour-nojs-"
	}

	// The sign-in page, then as a refused sign-in leaves it: the login
	// kept, the password to type again focused.
	tb.do("sign-in page", chromedp.Navigate(dep.base+"/login"), chromedp.WaitVisible(chromedp.CSS("#login-login")))
	tb.check(prefix + "login")
	tb.do("refused sign-in",
		chromedp.SendKeys(chromedp.CSS("#login-login"), dep.admin.Login),
		chromedp.SendKeys(chromedp.CSS("#login-password"), "not-the-password-at-all"),
		chromedp.Click(chromedp.CSS("main form button[type=submit]")),
		chromedp.WaitVisible(chromedp.CSS("#page-error")),
	)
	require.Equal(t, dep.admin.Login, eval[string](tb, "login kept", `document.querySelector("#login-login").value`))
	if scripts {
		tb.waitFor("the password has the focus", `document.activeElement.id === "login-password"`, stepTimeout)
	}
	tb.check(prefix + "login-refused")
	tb.do("sign in",
		chromedp.SendKeys(chromedp.CSS("#login-password"), dep.admin.Password),
		chromedp.Click(chromedp.CSS("main form button[type=submit]")),
		chromedp.WaitVisible(chromedp.CSS("#dashboard")),
	)
	self := int64(eval[float64](tb, "own id", `Number(document.querySelector('header nav a[href^="/users/"]:not([href="/users"])').getAttribute("href").split("/").pop())`))

	for _, p := range tourPages(target, self) {
		tb.do(p.step, chromedp.Navigate(dep.base+p.path), chromedp.WaitVisible(chromedp.CSS(p.ready)))
		tb.check(prefix + p.step)
	}

	// A page that is not there: what happened, what to do, where to go.
	tb.quietNetwork.Store(true) // the browser logs the 404 it is asked to load
	tb.do("not found", chromedp.Navigate(dep.base+"/users/999999"), chromedp.WaitVisible(chromedp.CSS("ul.next-steps")))
	require.Contains(t, tb.text("main h1"), "Not found")
	tb.check(prefix + "not-found")
	tb.quietNetwork.Store(false)

	// The create form sent back with every error at once.
	tb.do("users", chromedp.Navigate(dep.base+"/users"), chromedp.WaitVisible(chromedp.CSS("table.users")))
	open, submit := ".page-head details > summary", ".page-head form button[type=submit]"
	if scripts {
		open, submit = ".page-head button[aria-haspopup=dialog]", "dialog[open] button[type=submit]"
	}
	tb.do("open the create form", chromedp.Click(chromedp.CSS(open)), chromedp.WaitVisible(chromedp.CSS("#create-username")))
	tb.do("send it wrong",
		chromedp.SendKeys(chromedp.CSS("#create-username"), "x"),
		chromedp.SendKeys(chromedp.CSS("#create-email"), "not-an-email"),
		chromedp.SendKeys(chromedp.CSS("#create-password"), "short"),
		chromedp.SendKeys(chromedp.CSS("#create-password-confirm"), "other"),
		chromedp.Click(chromedp.CSS(submit)),
		chromedp.WaitVisible(chromedp.CSS("#create-password-confirm-error")),
	)
	for _, id := range []string{"create-username-error", "create-email-error", "create-password-error", "create-password-confirm-error"} {
		require.True(t, eval[bool](tb, id, fmt.Sprintf(`!!document.getElementById(%q)`, id)), "every error at once: %s", id)
	}
	if scripts {
		tb.waitFor("the first invalid field has the focus", `document.activeElement.id === "create-username"`, stepTimeout)
	}
	tb.check(prefix + "create-errors")

	if scripts {
		// A chart read with the keyboard: the value of a bucket, said.
		tb.do("dashboard", chromedp.Navigate(dep.base+"/dashboard"), chromedp.WaitVisible(chromedp.CSS("#dashboard svg[data-chart]")))
		tb.do("focus a chart", chromedp.Focus(chromedp.CSS("#chart-requests svg")))
		tb.waitFor("its reading", `!document.querySelector("#chart-requests .readout").hidden`, stepTimeout)
		require.Regexp(t, `^\d\d:\d\d:\d\d \S+: `, tb.text("#chart-requests .readout"))
		tb.check(prefix + "chart-focus")
	}
}
