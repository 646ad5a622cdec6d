package browser

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
	"github.com/gruntwork-io/terratest/modules/random"
	"github.com/stretchr/testify/require"

	"github.com/gopherops/gopherops/service/pglocal/pgtest"

	"github.com/gopherops/gopherops/test/internal/gopherops"
	"github.com/gopherops/gopherops/test/journey"
)

// deployment is a running gopherops with its first admin.
type deployment struct {
	base  string
	admin journey.Credentials
	// create adds a user through the JSON API (an avatar when hue > 0)
	// and returns its id.
	create func(t *testing.T, name, role string, hue uint8) int64
}

// start provisions the real binary as an operator would: a migrated
// database, `admin create`, `serve`; avatars in a directory.
func start(t *testing.T) deployment {
	t.Helper()
	bin := gopherops.Build(t)
	key := make([]byte, 32)
	_, err := rand.Read(key)
	require.NoError(t, err)
	env := gopherops.Env{
		"APP_ENV":          "test",
		"DATABASE_URL":     pgtest.NewDatabase(t),
		"MIGRATE_ON_START": "false",
		"BLOB_STORE":       "file://" + t.TempDir(),
		"SESSION_KEY":      base64.StdEncoding.EncodeToString(key),
		"SHUTDOWN_TIMEOUT": "5s",
		"SHUTDOWN_DELAY":   "0s",
		"LOG_FORMAT":       "json",
	}
	admin := journey.Credentials{Login: "root-" + strings.ToLower(random.UniqueID()), Password: journey.NewPassword()}
	bin.MustRun(t, env.With(map[string]string{"ADMIN_PASSWORD": admin.Password}), "",
		"admin", "create", "--username", admin.Login, "--email", admin.Login+"@example.com", "--role", "admin")
	srv := bin.Serve(t, env)
	dep := deployment{base: srv.BaseURL, admin: admin, create: apiCreator(t, srv.BaseURL, admin)}
	for _, u := range demoUsers {
		dep.create(t, u.name, u.role, u.hue)
	}
	return dep
}

// demoUsers fill the list the way a small team would, so the screenshots
// show a real list: names, roles, some with avatars.
var demoUsers = []struct {
	name, role string
	hue        uint8
}{
	{"ada.lovelace", "admin", 200}, {"grace-hopper", "user", 30}, {"katherine_j", "user", 0},
	{"linus", "user", 120}, {"margaret.h", "admin", 0}, {"dennis", "user", 80},
}

// apiCreator signs in to the JSON API with a token and returns a func that
// creates users as an operator's script would.
func apiCreator(t *testing.T, base string, admin journey.Credentials) func(t *testing.T, name, role string, hue uint8) int64 {
	t.Helper()
	call := func(method, path, token, contentType string, body []byte, want int) []byte {
		t.Helper()
		req, err := http.NewRequestWithContext(t.Context(), method, base+path, bytes.NewReader(body))
		require.NoError(t, err)
		req.Header.Set("Content-Type", contentType)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		out, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		require.Equal(t, want, resp.StatusCode, "%s %s: %s", method, path, out)
		return out
	}
	asJSON := func(v any) []byte {
		b, err := json.Marshal(v)
		require.NoError(t, err)
		return b
	}
	var tok struct {
		Token string `json:"token"`
	}
	require.NoError(t, json.Unmarshal(call(http.MethodPost, "/api/v1/auth/tokens", "", "application/json",
		asJSON(map[string]string{"login": admin.Login, "password": admin.Password, "name": "seed"}), http.StatusCreated), &tok))
	return func(t *testing.T, name, role string, hue uint8) int64 {
		t.Helper()
		var created struct {
			ID int64 `json:"id"`
		}
		require.NoError(t, json.Unmarshal(call(http.MethodPost, "/api/v1/users", tok.Token, "application/json",
			asJSON(map[string]any{"username": name, "email": strings.NewReplacer("_", ".", "-", ".").Replace(name) + "@example.com",
				"password": journey.NewPassword(), "role": role, "force_password_change": false}), http.StatusCreated), &created))
		if hue > 0 {
			call(http.MethodPut, fmt.Sprintf("/api/v1/users/%d/avatar", created.ID), tok.Token, "image/png", pngAvatar(t, hue), http.StatusOK)
		}
		return created.ID
	}
}

// TestWalk walks every journey of the web UI at a desktop and a phone
// viewport, one after the other in one browser.
func TestWalk(t *testing.T) {
	alloc := newBrowser(t) // skips without a browser
	needAxe(t)             // skips without axe-core and npm
	dep := start(t)
	seedTeam(t, dep)
	sh := newShots(t)
	for _, vp := range []viewport{desktop, phone} {
		t.Run(vp.name, func(t *testing.T) { walk(alloc, t, dep, vp, sh) })
	}
}

func walk(alloc context.Context, t *testing.T, dep deployment, vp viewport, sh *shots) {
	admin := newTab(alloc, t, dep.base, vp, sh)
	name := vp.name + "-" + strings.ToLower(random.UniqueID())
	email := name + "@example.com"

	// Sign in.
	admin.do("sign-in page", chromedp.Navigate(dep.base+"/login"), chromedp.WaitVisible(chromedp.CSS("#login-login")))
	admin.check("sign-in")
	admin.do("sign in",
		chromedp.SendKeys(chromedp.CSS("#login-login"), dep.admin.Login),
		chromedp.SendKeys(chromedp.CSS("#login-password"), dep.admin.Password),
		chromedp.Click(chromedp.CSS("main form button[type=submit]")),
		chromedp.WaitVisible(chromedp.CSS("#dashboard .charts")),
	)

	// The users list.
	admin.do("users page", chromedp.Navigate(dep.base+"/users"), chromedp.WaitVisible(chromedp.CSS("table.users")))
	require.Equal(t, "page", eval[string](admin, "aria-current", `document.querySelector('header a[href="/users"]').getAttribute("aria-current")`))
	admin.check("users")
	// The longest username allowed (50 characters) fits the list and its page.
	long := (vp.name + "_has_a_remarkably_long_username_that_wraps" + strings.Repeat("x", 50))[:50]
	dep.create(t, long, "user", 0)
	admin.do("a long name", chromedp.Navigate(dep.base+"/users?q="+long), chromedp.WaitVisible(chromedp.CSS("table.users")))
	admin.check("users-long-name")
	// Its address never breaks mid-word: one line, cut with an ellipsis, the
	// whole of it in the title.
	require.Equal(t, strings.NewReplacer("_", ".", "-", ".").Replace(long)+"@example.com",
		eval[string](admin, "email title", `document.querySelector("td.email .truncate").title`))
	require.True(t, eval[bool](admin, "email on one line", `(() => { const e = document.querySelector("td.email .truncate");
	  return e.getClientRects().length === 1 && e.offsetHeight < 2 * parseFloat(getComputedStyle(e).lineHeight); })()`))
	admin.do("its page", chromedp.Click(chromedp.CSS("table.users td.user-cell a")), chromedp.WaitVisible(chromedp.CSS("#edit-email")))
	admin.check("user-long-name")
	admin.do("back to the list", chromedp.Navigate(dep.base+"/users"), chromedp.WaitVisible(chromedp.CSS("table.users")))

	// Create: a weak password first, refused by its field, focused, once.
	admin.do("open the create dialog",
		chromedp.Click(chromedp.CSS(".page-head button[aria-haspopup=dialog]")),
		chromedp.WaitVisible(chromedp.CSS("dialog[open] #create-username")),
	)
	admin.check("create-dialog")
	admin.do("create with a weak password",
		chromedp.SendKeys(chromedp.CSS("#create-username"), name),
		chromedp.SendKeys(chromedp.CSS("#create-email"), email),
		chromedp.SendKeys(chromedp.CSS("#create-password"), "password1234567"),
		chromedp.SendKeys(chromedp.CSS("#create-password-confirm"), "password1234567"),
		chromedp.Click(chromedp.CSS("dialog[open] button[type=submit]")),
		chromedp.WaitVisible(chromedp.CSS("dialog[open] #create-password-error")),
	)
	require.Equal(t, "create-password", eval[string](admin, "focus", `document.activeElement.id`), "the invalid field has the focus")
	require.Equal(t, "true", eval[string](admin, "aria-invalid", `document.activeElement.getAttribute("aria-invalid")`))
	require.Contains(t, eval[string](admin, "aria-describedby", `document.activeElement.getAttribute("aria-describedby")`), "create-password-error")
	require.Equal(t, email, eval[string](admin, "kept email", `document.querySelector("#create-email").value`), "what was typed is kept")
	require.Equal(t, 1, eval[int](admin, "messages", `document.body.innerText.split("Password is").length - 1`), "the message is shown once")
	require.False(t, eval[bool](admin, "alert", `!!document.querySelector("[role=alert]")`), "no second, generic alert")
	admin.check("create-error")
	password := journey.NewPassword()
	admin.do("create",
		chromedp.SendKeys(chromedp.CSS("#create-password"), password),
		chromedp.SendKeys(chromedp.CSS("#create-password-confirm"), password),
		chromedp.Click(chromedp.CSS("dialog[open] button[type=submit]")),
		chromedp.WaitVisible(chromedp.CSS("p.flash")),
	)
	require.Contains(t, admin.text("p.flash"), "User "+name+" created.")
	require.Equal(t, name, admin.text("tr.highlight td.user-cell a"), "the new user's row is marked")

	// Search finds it; its row links to its page.
	admin.do("search",
		chromedp.SendKeys(chromedp.CSS("#users-q"), strings.ToUpper(name)+"\n"),
		chromedp.WaitVisible(chromedp.CSS(`.filters a[href="/users"]`)),
	)
	require.Equal(t, 1, eval[int](admin, "rows", `document.querySelectorAll("table.users tbody tr").length`))
	admin.check("users-search")
	admin.do("open the user", chromedp.Click(chromedp.CSS("table.users td.user-cell a")), chromedp.WaitVisible(chromedp.CSS("#edit-email")))
	admin.check("user")

	// Edit the email.
	admin.do("edit",
		chromedp.SetValue(chromedp.CSS("#edit-email"), "new-"+email),
		chromedp.Click(chromedp.CSS(`section[aria-labelledby=edit-title] button[type=submit]`)),
		chromedp.WaitVisible(chromedp.CSS("p.flash")),
	)
	require.Equal(t, "Changes to "+name+" saved.", admin.text("p.flash"))
	require.Equal(t, "new-"+email, admin.text("dd.email"))

	// Avatar.
	avatar := filepath.Join(t.TempDir(), "avatar.png")
	require.NoError(t, os.WriteFile(avatar, pngAvatar(t, 60), 0o644))
	admin.do("avatar",
		chromedp.SetUploadFiles(chromedp.CSS("#avatar-file"), []string{avatar}),
		chromedp.Click(chromedp.CSS(".avatar-form button[type=submit]")),
		chromedp.WaitVisible(chromedp.CSS("h1 img.avatar")),
	)
	require.Equal(t, "Avatar of "+name+" updated.", admin.text("p.flash"))
	admin.waitFor("the avatar has loaded", `document.querySelector("h1 img.avatar").naturalWidth > 0`, stepTimeout)

	// Reset: a generated password, shown once, with a copy button.
	admin.do("open the reset dialog",
		chromedp.Click(chromedp.CSS(".page-head a.secondary[aria-haspopup=dialog]")),
		chromedp.WaitVisible(chromedp.CSS("dialog[open] input[name=password]")),
	)
	admin.check("reset-dialog")
	admin.do("reset", chromedp.Click(chromedp.CSS("dialog[open] button[type=submit]")), chromedp.WaitVisible(chromedp.CSS("#temp-password")))
	temp := admin.text("#temp-password")
	require.Len(t, temp, 24, "a generated password")
	admin.do("copy", chromedp.Click(chromedp.CSS("button[data-copy]")))
	admin.waitFor("the copy button answers", `/Copied|Selected/.test(document.querySelector("button[data-copy]").textContent)`, stepTimeout)
	admin.check("reset-done")

	// The user signs in with it in another browser profile and must choose a new one.
	user := newTab(alloc, t, dep.base, vp, sh)
	user.do("user signs in",
		chromedp.Navigate(dep.base+"/login"),
		chromedp.SendKeys(chromedp.CSS("#login-login"), "new-"+email),
		chromedp.SendKeys(chromedp.CSS("#login-password"), temp),
		chromedp.Click(chromedp.CSS("main form button[type=submit]")),
		chromedp.WaitVisible(chromedp.CSS("#pw-new")),
	)
	user.waitFor("the forced change starts in its form", `document.activeElement.id === "pw-current"`, 5*time.Second)
	require.Contains(t, user.text("#pw-new-hint"), "At least 15 characters", "the rule is shown before it is broken")
	user.check("forced-change")
	newPassword := journey.NewPassword()
	user.do("change password",
		chromedp.SendKeys(chromedp.CSS("#pw-current"), temp),
		chromedp.SendKeys(chromedp.CSS("#pw-new"), newPassword),
		chromedp.SendKeys(chromedp.CSS("#pw-confirm"), newPassword),
		chromedp.Click(chromedp.CSS("#password button[type=submit]")),
		chromedp.WaitVisible(chromedp.CSS("p.flash")),
	)
	require.Contains(t, user.text("p.flash"), "Password changed.")
	user.do("user dashboard", chromedp.Navigate(dep.base+"/dashboard"), chromedp.WaitVisible(chromedp.CSS("#dashboard .charts")))
	require.False(t, eval[bool](user, "audit", `!!document.querySelector("table.audit")`), "a user does not see the audit trail")
	user.do("user signs out", chromedp.Click(chromedp.CSS("header button.link")), chromedp.WaitVisible(chromedp.CSS("#login-login")))

	// Delete, confirmed in the page's own dialog (any browser dialog fails the test).
	admin.do("find the user", chromedp.Navigate(dep.base+"/users?q="+name), chromedp.WaitVisible(chromedp.CSS("table.users")))
	require.Equal(t, 1, eval[int](admin, "rows", `document.querySelectorAll("table.users tbody tr").length`))
	admin.waitFor("the avatar shows in the list", `(() => { const i = document.querySelector("table.users img.avatar"); return !!i && i.complete && i.naturalWidth > 0; })()`, stepTimeout)
	admin.do("open the delete dialog",
		chromedp.Click(chromedp.CSS("td.actions details.menu > summary")),
		chromedp.Click(chromedp.CSS("td.actions a.danger-link[aria-haspopup=dialog]")),
		chromedp.WaitVisible(chromedp.CSS("dialog[open] button.danger[type=submit]")),
	)
	require.Contains(t, admin.text("dialog[open] .dialog-title"), "Delete "+name+"?")
	admin.check("delete-dialog")
	admin.do("delete", chromedp.Click(chromedp.CSS("dialog[open] button.danger[type=submit]")), chromedp.WaitVisible(chromedp.CSS("p.flash")))
	require.Contains(t, admin.text("p.flash"), "User "+name+" deleted.")

	// The dashboard refreshes itself, keeps its formats, and says when it is stale.
	admin.do("dashboard", chromedp.Navigate(dep.base+"/dashboard"), chromedp.WaitVisible(chromedp.CSS("#dashboard .charts")))
	first := admin.text("[data-updated]")
	require.Equal(t, 4, eval[int](admin, "charts", `document.querySelectorAll("#dashboard svg[role=img]").length`), "four charts")
	require.Regexp(t, `^\d\d:\d\d:\d\d \S+$`, first, "the browser's local time and zone")
	admin.waitFor("four charts with data", `document.querySelectorAll("#dashboard svg path.line").length === 4`, 25*time.Second)
	// Each chart labels its y axis with units, says its value under the
	// pointer, and has its values in a table.
	require.Equal(t, 3, eval[int](admin, "ticks", `document.querySelectorAll("#chart-p95 .y-axis span").length`))
	require.Regexp(t, `ms$`, admin.text("#chart-p95 .y-axis span:first-child"))
	require.True(t, eval[bool](admin, "hover", `(() => { const s = document.querySelector("#chart-requests svg"), r = s.getBoundingClientRect();
	  s.dispatchEvent(new MouseEvent("mousemove", { clientX: r.right - 3, clientY: r.top + 10, bubbles: true }));
	  const o = document.querySelector("#chart-requests .readout"); return !o.hidden && /\/s$/.test(o.textContent); })()`),
		"the value under the pointer")
	require.Positive(t, eval[int](admin, "values", `document.querySelectorAll("#chart-requests .chart-data tbody tr").length`))
	require.Contains(t, admin.text("table.audit"), "Deleted user", "audit actions in words")
	admin.waitFor("a refresh", fmt.Sprintf(`document.querySelector("[data-updated]").textContent !== %q`, first), 15*time.Second)
	require.Regexp(t, `^\d\d:\d\d:\d\d \S+$`, admin.text("[data-updated]"), "the same format after a refresh")
	admin.check("dashboard")

	admin.quietNetwork.Store(true)
	admin.do("the status poll fails", blockURLs(dep.base+"/dashboard/live"))
	admin.waitFor("the stale notice", `!document.querySelector("[data-stale]").hidden`, 15*time.Second)
	require.Contains(t, admin.text("[data-stale]"), "Stale")
	admin.check("dashboard-stale")
	admin.do("the status poll works again", blockURLs())
	admin.waitFor("the stale notice goes", `document.querySelector("[data-stale]").hidden`, 15*time.Second)
	admin.quietNetwork.Store(false)

	// A signed-in visitor keeps the navigation on a missing page.
	admin.quietNetwork.Store(true) // the browser logs the 404 it is asked to load
	admin.do("not found", chromedp.Navigate(dep.base+"/no-such-page"), chromedp.WaitVisible(chromedp.CSS("header button.link")))
	admin.check("not-found")
	admin.quietNetwork.Store(false)

	operatorLists(t, admin, dep, vp)

	// Sign out.
	admin.do("sign out", chromedp.Click(chromedp.CSS("header button.link")), chromedp.WaitVisible(chromedp.CSS("p.flash")))
	require.Equal(t, "You are signed out.", admin.text("p.flash"))
}

// blockURLs makes the browser fail requests to the given URLs (none: unblock).
func blockURLs(urls ...string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		if _, err := cdp.Call(ctx, tg, network.Enable, network.EnableParams{}); err != nil {
			return err
		}
		patterns := make([]*network.BlockPattern, 0, len(urls))
		for _, u := range urls {
			patterns = append(patterns, &network.BlockPattern{URLPattern: u + "*", Block: true})
		}
		_, err := cdp.Call(ctx, tg, network.SetBlockedURLs, network.SetBlockedURLsParams{URLPatterns: patterns})
		return err
	})
}

// pngAvatar is a small gradient PNG tinted by hue.
func pngAvatar(t *testing.T, hue uint8) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, 96, 96))
	for y := range 96 {
		for x := range 96 {
			img.Set(x, y, color.RGBA{R: uint8(x*2) + hue, G: 117 + hue/2, B: uint8(143 + y), A: 255})
		}
	}
	var buf bytes.Buffer
	require.NoError(t, png.Encode(&buf, img))
	return buf.Bytes()
}

// operatorLists walks the users list's pages, filters, row menu and
// selection, and the audit trail, with JavaScript.
func operatorLists(t *testing.T, admin *tab, dep deployment, vp viewport) {
	// Numbered pages with their range; names in natural order.
	admin.do("page 2", chromedp.Navigate(dep.base+"/users?page=2"), chromedp.WaitVisible(chromedp.CSS("table.users")))
	require.Regexp(t, `^21–\d+ of \d+ users\.$`, admin.text("#users-range"))
	require.Equal(t, "Page 2", eval[string](admin, "current page", `document.querySelector(".pager [aria-current=page]").textContent`))
	admin.check("users-page-2")
	admin.do("the team", chromedp.Navigate(dep.base+"/users?q=oncall"), chromedp.WaitVisible(chromedp.CSS("table.users")))
	names := eval[[]string](admin, "names", `Array.from(document.querySelectorAll("td.user-cell a")).map(a => a.textContent)`)
	want := make([]string, 0, 18)
	for i := 1; i <= 18; i++ {
		want = append(want, fmt.Sprintf("oncall%d", i))
	}
	require.Equal(t, want, names, "natural order: oncall2 before oncall10")

	// Filters: the admins among them.
	admin.do("filter admins",
		chromedp.SetValue(chromedp.CSS("#users-role"), "admin"),
		chromedp.Click(chromedp.CSS(".filters button[type=submit]")),
	)
	admin.waitFor("the filtered list", `location.search.includes("role=admin") && document.readyState === "complete"`, stepTimeout)
	require.Regexp(t, `^\d+ matching users?\.$`, admin.text("#users-range"))
	require.Empty(t, eval[[]string](admin, "roles", `Array.from(document.querySelectorAll('td[data-label="Role"]')).map(td => td.textContent.trim()).filter(r => r !== "admin")`))
	admin.check("users-filtered")

	// The row menu: compact, closed by Escape.
	admin.do("the team again", chromedp.Navigate(dep.base+"/users?q=oncall"), chromedp.WaitVisible(chromedp.CSS("table.users")))
	admin.do("open a row's menu", chromedp.Click(chromedp.CSS("tbody tr:first-child details.menu > summary")), chromedp.WaitVisible(chromedp.CSS("tbody tr:first-child .menu-items")))
	admin.check("row-menu")
	admin.do("Escape", chromedp.KeyEvent(kb.Escape))
	admin.waitFor("the menu closes", `!document.querySelector("details.menu[open]")`, stepTimeout)

	// A bulk action on two users, behind one confirmation in a dialog.
	first, second := "oncall1", "oncall2"
	if vp.mobile {
		first, second = "oncall3", "oncall4"
	}
	admin.do("select two",
		chromedp.Click(chromedp.CSS(`input[aria-label="Select `+first+`"]`)),
		chromedp.Click(chromedp.CSS(`input[aria-label="Select `+second+`"]`)),
		chromedp.SetValue(chromedp.CSS("#bulk-action"), "make-admin"),
	)
	require.Equal(t, "Apply to 2 selected…", admin.text("form[data-bulk] button[type=submit]"))
	admin.do("apply", chromedp.Click(chromedp.CSS("form[data-bulk] button[type=submit]")), chromedp.WaitVisible(chromedp.CSS("dialog[open] form.confirm-form")))
	require.Equal(t, []string{first, second}, eval[[]string](admin, "names to confirm", `Array.from(document.querySelectorAll("dialog[open] .confirm-list li")).map(li => li.textContent)`))
	admin.check("bulk-confirm")
	admin.do("confirm", chromedp.Click(chromedp.CSS("dialog[open] button[type=submit]")), chromedp.WaitVisible(chromedp.CSS("p.flash")))
	require.Equal(t, "Made admin 2 users: "+first+" and "+second+".", admin.text("p.flash"))

	// The audit trail: who, from where, with which program; exported as CSV.
	admin.do("audit", chromedp.Navigate(dep.base+"/audit?action=user.updated"), chromedp.WaitVisible(chromedp.CSS("table.audit")))
	require.Contains(t, admin.text("table.audit tbody tr:first-child"), second)
	require.Contains(t, admin.text("table.audit tbody tr:first-child"), "127.0.0.1")
	require.Contains(t, eval[string](admin, "agent", `document.querySelector("table.audit .agent").title`), "Chrome")
	require.NotEmpty(t, eval[string](admin, "exact time", `document.querySelector("table.audit time").title`), "the exact time on hover")
	admin.check("audit")
	csv := evalAsync[string](admin, "export", `fetch(document.querySelector("a[download]").href).then(r => r.text().then(b => r.headers.get("Content-Type") + "\n" + b))`)
	require.True(t, strings.HasPrefix(csv, "text/csv; charset=utf-8\nid,time_utc,actor_id,actor,action,"), "export: %.200s", csv)
	require.Contains(t, csv, ","+second+",", "the export holds the change")
}
