package browser

import (
	"context"
	"strings"
	"testing"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"
)

// scripts turns the page's JavaScript on or off in the tab.
func scripts(on bool) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, emulation.SetScriptExecutionDisabled, emulation.SetScriptExecutionDisabledParams{Value: !on})
		return err
	})
}

// noScripts turns JavaScript off in the tab, as a user who blocks it has.
func (tb *tab) noScripts() {
	tb.t.Helper()
	tb.do("scripts off", scripts(false))
	tb.scriptsOff = true
}

// TestWithoutJavaScript: every form still works with scripts off. The
// confirmations are <details> blocks in the page, the temporary password is
// shown (without its copy button), and nothing overflows the phone.
func TestWithoutJavaScript(t *testing.T) {
	browser := newBrowser(t) // skips without a browser
	needAxe(t)               // skips without axe-core and npm
	dep := start(t)
	seedTeam(t, dep)
	sh := newShots(t)
	for _, vp := range []viewport{desktop, phone} {
		t.Run(vp.name, func(t *testing.T) {
			tb := newTab(browser, t, dep.base, vp, sh)
			shot := "nojs-"
			tb.noScripts()
			tb.do("sign in",
				chromedp.Navigate(dep.base+"/login"),
				chromedp.SendKeys(chromedp.CSS("#login-login"), dep.admin.Login),
				chromedp.SendKeys(chromedp.CSS("#login-password"), dep.admin.Password),
				chromedp.Click(chromedp.CSS("main form button[type=submit]")),
				chromedp.WaitVisible(chromedp.CSS(`a[href="/dashboard"]`)),
			)
			require.False(t, eval[bool](tb, "no script ran", `typeof document.querySelector("dialog") === "object" && document.querySelector("dialog") !== null`))

			// Create through the <details> form.
			name := demoUsers[len(demoUsers)-1].name
			if vp == phone {
				// The confirmation names the user: it must wrap for the longest name.
				name = strings.Repeat("z", 50)
				dep.create(t, name, "user", 0)
			}
			tb.do("users", chromedp.Navigate(dep.base+"/users"), chromedp.WaitVisible(chromedp.CSS("table.users")))
			tb.do("open create", chromedp.Click(chromedp.CSS(".page-head details > summary")), chromedp.WaitVisible(chromedp.CSS("#create-username")))
			tb.check(shot + "create")

			// The list's pages, its filters and a bulk action, all as plain
			// links and forms: the confirmation is a page.
			tb.do("the list", chromedp.Navigate(dep.base+"/users"), chromedp.WaitVisible(chromedp.CSS("table.users")))
			tb.do("next page", chromedp.Click(chromedp.CSS(`.pager a[rel=next]`)))
			tb.waitFor("page 2", `location.search.includes("page=2") && document.readyState === "complete"`, stepTimeout)
			require.Regexp(t, `^21–\d+ of \d+ users\.$`, tb.text("#users-range"))
			first, second := "oncall5", "oncall6"
			if vp == phone {
				first, second = "oncall8", "oncall9" // oncall7 is an admin already
			}
			tb.do("filter", chromedp.Navigate(dep.base+"/users?q=oncall"), chromedp.WaitVisible(chromedp.CSS("table.users")),
				chromedp.SetValue(chromedp.CSS("#users-state"), "active"),
				chromedp.Click(chromedp.CSS(".filters button[type=submit]")))
			tb.waitFor("the filtered list", `location.search.includes("state=active") && document.readyState === "complete"`, stepTimeout)
			tb.do("select two",
				chromedp.Click(chromedp.CSS(`input[aria-label="Select `+first+`"]`)),
				chromedp.Click(chromedp.CSS(`input[aria-label="Select `+second+`"]`)),
				chromedp.SetValue(chromedp.CSS("#bulk-action"), "make-admin"),
				chromedp.Click(chromedp.CSS("form[data-bulk] button[type=submit]")),
				chromedp.WaitVisible(chromedp.CSS("form.confirm-form")))
			require.Equal(t, "Give 2 users the admin role?", tb.text("form.confirm-form .dialog-title"))
			tb.check(shot + "bulk-confirm")
			tb.do("confirm", chromedp.Click(chromedp.CSS("form.confirm-form button[type=submit]")), chromedp.WaitVisible(chromedp.CSS("p.flash")))
			require.Equal(t, "Made admin 2 users: "+first+" and "+second+".", tb.text("p.flash"))
			require.Contains(t, eval[string](tb, "url", `location.search`), "state=active", "back on the list as it was filtered")

			// The audit trail's filters.
			tb.do("audit", chromedp.Navigate(dep.base+"/audit"), chromedp.WaitVisible(chromedp.CSS("table.audit")),
				chromedp.SetValue(chromedp.CSS("#audit-action"), "user.updated"),
				chromedp.SendKeys(chromedp.CSS("#audit-target"), first),
				chromedp.Click(chromedp.CSS(".filters button[type=submit]")))
			tb.waitFor("the filtered trail", `location.search.includes("action=") && document.readyState === "complete"`, stepTimeout)
			require.Equal(t, "1 matching event.", tb.text("main p[role=status]"))
			require.Equal(t, "(UTC)", tb.text("[data-tz-label]"), "without a script the range is in UTC, and says so")
			tb.check(shot + "audit-filtered")

			// Reset the last demo user from its row's menu: a page with the
			// form; the generated password is shown, the copy button is not.
			tb.do("find", chromedp.Navigate(dep.base+"/users?q="+name), chromedp.WaitVisible(chromedp.CSS("td.actions")))
			tb.do("open the menu", chromedp.Click(chromedp.CSS("td.actions details.menu > summary")), chromedp.WaitVisible(chromedp.CSS("td.actions .menu-items")))
			tb.check(shot + "menu-open")
			tb.do("open reset", chromedp.Click(chromedp.CSS(`td.actions a[href*="/reset-password"]`)), chromedp.WaitVisible(chromedp.CSS("form.confirm-form button[type=submit]")))
			tb.check(shot + "reset-open")
			tb.do("reset", chromedp.Click(chromedp.CSS("form.confirm-form button[type=submit]")), chromedp.WaitVisible(chromedp.CSS("#temp-password")))
			require.False(t, eval[bool](tb, "copy button", `!document.querySelector("button[data-copy]").hidden`), "the copy button needs a script")
			tb.check(shot + "reset-done")

			// Delete, confirmed on its own page.
			tb.do("open the menu again", chromedp.Click(chromedp.CSS("td.actions details.menu > summary")))
			tb.do("open delete", chromedp.Click(chromedp.CSS("td.actions a.danger-link")), chromedp.WaitVisible(chromedp.CSS("form.confirm-form button.danger[type=submit]")))
			require.Contains(t, tb.text("form.confirm-form .dialog-title"), "Delete "+name+"?")
			tb.check(shot + "delete-open")
			if vp == desktop {
				// Keep the user for the phone: cancel goes back to the list.
				tb.do("cancel", chromedp.Click(chromedp.CSS("form.confirm-form a[data-cancel]")), chromedp.WaitVisible(chromedp.CSS("td.actions")))
				return
			}
			tb.do("delete", chromedp.Click(chromedp.CSS("form.confirm-form button.danger[type=submit]")), chromedp.WaitVisible(chromedp.CSS("p.flash")))
			require.Contains(t, tb.text("p.flash"), "User "+name+" deleted.")
			require.Equal(t, "/users?q="+name, eval[string](tb, "url", `location.pathname + location.search`))

			// The dashboard says how to update it by hand.
			tb.do("dashboard", chromedp.Navigate(dep.base+"/dashboard"), chromedp.WaitVisible(chromedp.CSS("#dashboard")))
			require.Contains(t, tb.text("[data-refresh-note]"), "reload")
			tb.check(shot + "dashboard")
		})
	}
}
