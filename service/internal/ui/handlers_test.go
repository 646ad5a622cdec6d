package ui_test

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/gopherops/gopherops/service/internal/accounts"
	"github.com/gopherops/gopherops/service/internal/apptest"
	"github.com/gopherops/gopherops/service/internal/status"
	"github.com/gopherops/gopherops/service/internal/ui"
	"github.com/gopherops/gopherops/service/internal/web"
)

// handlerEnv is a UI over a real database, whose handlers the tests call
// directly with a request of their making.
type handlerEnv struct {
	*apptest.Env
	ui *ui.UI
}

func newHandlerEnv(t *testing.T) handlerEnv {
	t.Helper()
	e := apptest.New(t)
	key := make([]byte, 32)
	u, err := ui.New(ui.Deps{Accounts: e.Svc, Status: status.NewReporter(e.Pool, e.Svc, time.Now(), "test"),
		Metrics: e.Metrics, Auth: web.NewAuth(e.Svc, false, key)})
	if err != nil {
		t.Fatal(err)
	}
	return handlerEnv{Env: e, ui: u}
}

// call runs the route table's handler for method and pattern as actor (a
// zero actor: nobody signed in), with target as the request's address and
// form as its body; params are the path's parameters.
func (h handlerEnv) call(t *testing.T, actor accounts.Actor, method, pattern, target string, form url.Values) answer {
	t.Helper()
	handler := h.ui.Handler(method, pattern)
	if handler == nil {
		t.Fatalf("no route %s %s", method, pattern)
	}
	c, _ := gin.CreateTestContext(httptest.NewRecorder())
	c.Request = httptest.NewRequestWithContext(t.Context(), method, target, strings.NewReader(form.Encode()))
	if form != nil {
		c.Request.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if id, ok := strings.CutPrefix(target, "/users/"); ok {
		id, _, _ = strings.Cut(id, "/")
		c.Params = gin.Params{{Key: "id", Value: id}}
	}
	if actor.User.ID != 0 {
		web.SetActor(c, actor)
	}
	v, err := handler(c)
	return answer{v, err}
}

// answer is what a handler returned.
type answer struct {
	v   any
	err error
}

// as is the handler's result as a T, failing the test on an error or a
// result of another kind.
func as[T any](t *testing.T, a answer) T {
	t.Helper()
	if a.err != nil {
		t.Fatalf("handler error: %v", a.err)
	}
	r, ok := a.v.(T)
	if !ok {
		t.Fatalf("handler returned %T %+v, want %T", a.v, a.v, *new(T))
	}
	return r
}

func TestHandlersReturnPages(t *testing.T) {
	h := newHandlerEnv(t)
	root := accounts.Actor{User: h.Root}
	bob, _ := h.CreateUser("bob", accounts.RoleUser)

	p := as[ui.Page](t, h.call(t, root, http.MethodGet, "/users", "/users?q=bo", nil))
	d, ok := p.Data.(ui.UsersData)
	if p.Name != "users" || p.Status != 0 && p.Status != http.StatusOK || !ok || d.Range != "1 matching user." || len(d.Users) != 1 || d.Users[0].ID != bob.ID {
		t.Fatalf("users page: %+v", p)
	}

	p = as[ui.Page](t, h.call(t, root, http.MethodGet, "/users/:id", "/users/"+strconv.FormatInt(bob.ID, 10), nil))
	ud, ok := p.Data.(ui.UserData)
	if p.Name != "user" || p.Title != "bob" || !ok || !ud.CanDelete || !ud.CanReset || ud.IsSelf {
		t.Fatalf("bob's page for root: %+v", p)
	}
	// Bob on his own page may neither delete nor reset himself.
	p = as[ui.Page](t, h.call(t, accounts.Actor{User: bob}, http.MethodGet, "/users/:id", "/users/"+strconv.FormatInt(bob.ID, 10), nil))
	if ud := p.Data.(ui.UserData); !ud.IsSelf || ud.CanDelete || ud.CanReset || ud.CanEditRole {
		t.Fatalf("bob's own page: %+v", ud)
	}

	p = as[ui.Page](t, h.call(t, root, http.MethodGet, "/dashboard", "/dashboard", nil))
	if dd, ok := p.Data.(ui.DashboardData); !ok || len(dd.Charts) != 4 || len(dd.Audit) == 0 {
		t.Fatalf("dashboard: %+v", p)
	}
	f := as[ui.Fragment](t, h.call(t, root, http.MethodGet, "/dashboard/live", "/dashboard/live", nil))
	if f.Block != "live" {
		t.Fatalf("live part: %+v", f)
	}
}

func TestHandlersReturnFormErrorsAsRedirects(t *testing.T) {
	h := newHandlerEnv(t)
	root := accounts.Actor{User: h.Root}

	// Every invalid field comes back at once, by its field, with what was typed.
	r := as[ui.Redirect](t, h.call(t, root, http.MethodPost, "/users", "/users",
		url.Values{"username": {"x"}, "email": {"not-an-email"}, "password": {"short"}, "password_confirm": {"other"}}))
	if r.To != "/users" || r.Flash == nil || r.Flash.Form != "create" {
		t.Fatalf("invalid create: %+v", r)
	}
	for _, field := range []string{"username", "email", "password", "password_confirm"} {
		if r.Flash.Fields[field] == "" {
			t.Errorf("invalid create: no error for %s in %+v", field, r.Flash.Fields)
		}
	}
	if r.Flash.Values["email"] != "not-an-email" || r.Flash.Values["password"] != "" {
		t.Errorf("invalid create keeps %+v: the email and never the password", r.Flash.Values)
	}

	// A new password typed differently twice: the confirmation and the
	// policy both say what is wrong, and the current password is not tried.
	bob, _ := h.CreateUser("bob", accounts.RoleUser)
	r = as[ui.Redirect](t, h.call(t, accounts.Actor{User: bob}, http.MethodPost, "/users/:id/password", "/users/"+strconv.FormatInt(bob.ID, 10)+"/password",
		url.Values{"current_password": {"whatever"}, "new_password": {"bob"}, "new_password_confirm": {"bobb"}}))
	if r.Flash == nil || r.Flash.Form != "password" || r.Flash.Fields["new_password_confirm"] == "" || r.Flash.Fields["new_password"] == "" ||
		r.Flash.Fields["current_password"] != "" {
		t.Fatalf("mismatched new password: %+v", r.Flash)
	}

	// A wrong password sends the sign-in back to its form, the login kept.
	r = as[ui.Redirect](t, h.call(t, accounts.Actor{}, http.MethodPost, "/login", "/login",
		url.Values{"login": {"root"}, "password": {"not-the-password-at-all"}}))
	if r.To != "/login" || r.Flash == nil || r.Flash.Form != "login" || r.Flash.Values["login"] != "root" ||
		!strings.Contains(r.Flash.Error, "Wrong username/email or password") {
		t.Fatalf("failed sign-in: %+v %+v", r, r.Flash)
	}
}

func TestHandlerErrorsBecomePages(t *testing.T) {
	h := newHandlerEnv(t)
	root := accounts.Actor{User: h.Root}

	a := h.call(t, root, http.MethodGet, "/users/:id", "/users/999999", nil)
	err := a.err
	if !errors.Is(err, accounts.ErrNotFound) || a.v != nil {
		t.Fatalf("missing user: %v, %v; want accounts.ErrNotFound", a.v, err)
	}
	c, _ := gin.CreateTestContext(httptest.NewRecorder())
	c.Request = httptest.NewRequestWithContext(t.Context(), http.MethodGet, "/users/999999", nil)
	p, ok := h.ui.Failure(c, err).(ui.Page)
	if !ok || p.Status != http.StatusNotFound || p.Name != "error" {
		t.Fatalf("a missing user is shown as %+v", p)
	}
	if d := p.Data.(ui.ErrorData); d.Message == "" || d.Next == "" {
		t.Fatalf("the error page says what happened and what to do: %+v", d)
	}

	p, ok = h.ui.Failure(c, errors.New("boom")).(ui.Page)
	if !ok || p.Status != http.StatusInternalServerError || strings.Contains(p.Data.(ui.ErrorData).Message, "boom") {
		t.Fatalf("an internal error is shown as %+v", p)
	}
	if r, ok := h.ui.Failure(c, accounts.ErrUnauthenticated).(ui.Redirect); !ok || r.To != "/login" {
		t.Fatalf("a missing session is answered with %+v", r)
	}
}

func TestUsersListPagesFiltersAndHighlights(t *testing.T) {
	h := newHandlerEnv(t)
	root := accounts.Actor{User: h.Root}
	// 44 users and root: in natural order gunnar9 comes before gunnar10.
	for i := 1; i <= 44; i++ {
		name := fmt.Sprintf("gunnar%d", i)
		role := accounts.RoleUser
		if i%10 == 0 {
			role = accounts.RoleAdmin
		}
		if _, err := h.Svc.CreateUser(t.Context(), root, accounts.NewUser{Username: name, Email: name + "@example.com",
			Password: apptest.UserPassword, Role: role, ForcePasswordChange: i%2 == 0}); err != nil {
			t.Fatal(err)
		}
	}
	p := as[ui.Page](t, h.call(t, root, http.MethodGet, "/users", "/users?page=2", nil))
	d := p.Data.(ui.UsersData)
	if d.Range != "21–40 of 45 users." || len(d.Users) != 20 || d.Users[0].Username != "gunnar21" || d.Users[19].Username != "gunnar40" {
		t.Fatalf("page 2: %q, %d users from %s", d.Range, len(d.Users), d.Users[0].Username)
	}
	if len(d.Pages) != 3 || !d.Pages[1].Current || d.Prev != "/users" || d.Next != "/users?page=3" {
		t.Fatalf("pager: %+v prev %q next %q", d.Pages, d.Prev, d.Next)
	}
	p = as[ui.Page](t, h.call(t, root, http.MethodGet, "/users", "/users?role=admin&state=must_change_password", nil))
	d = p.Data.(ui.UsersData)
	if d.Range != "4 matching users." || d.Users[0].Username != "gunnar10" || d.Users[3].Username != "gunnar40" {
		t.Fatalf("admins who must change their password: %q %v", d.Range, d.Users)
	}
	p = as[ui.Page](t, h.call(t, root, http.MethodGet, "/users", "/users?role=root&page=x", nil))
	if p.Status != http.StatusBadRequest || !strings.Contains(p.Alert, "the role and the page number") || len(p.Data.(ui.UsersData).Users) != 20 {
		t.Fatalf("an edited address: %d %q", p.Status, p.Alert)
	}

	// A user created from page 1 of the admins is not an admin: the list
	// opens on the page of the whole list that holds them, their row marked.
	r := as[ui.Redirect](t, h.call(t, root, http.MethodPost, "/users", "/users", url.Values{"username": {"gunnar41b"},
		"email": {"g41b@example.com"}, "password": {"granite-willow-spark-19"}, "password_confirm": {"granite-willow-spark-19"},
		"back": {"/users?role=admin"}}))
	created, err := h.Svc.SearchUsers(t.Context(), root, accounts.UserQuery{Search: "gunnar41b"})
	if err != nil || len(created.Users) != 1 {
		t.Fatal(err)
	}
	id := strconv.FormatInt(created.Users[0].ID, 10)
	if r.To != "/users?highlight="+id+"&page=3#user-"+id || r.Flash == nil || r.Flash.Notice == nil ||
		r.Flash.Notice.Name != "gunnar41b" || r.Flash.Notice.Href != "/users/"+id {
		t.Fatalf("after create: %+v %+v", r, r.Flash.Notice)
	}
	p = as[ui.Page](t, h.call(t, root, http.MethodGet, "/users", "/users?page=3&highlight="+id, nil))
	highlighted := 0
	for _, u := range p.Data.(ui.UsersData).Users {
		if u.Highlight {
			highlighted++
			if u.Username != "gunnar41b" {
				t.Fatalf("highlighted %s", u.Username)
			}
		}
	}
	if highlighted != 1 {
		t.Fatalf("%d rows highlighted", highlighted)
	}
}

func TestBulkActionsConfirmThenApply(t *testing.T) {
	h := newHandlerEnv(t)
	root := accounts.Actor{User: h.Root}
	a, _ := h.CreateUser("anna", accounts.RoleUser)
	b, _ := h.CreateUser("bert", accounts.RoleUser)
	ids := []string{strconv.FormatInt(a.ID, 10), strconv.FormatInt(b.ID, 10), strconv.FormatInt(h.Root.ID, 10)}
	form := url.Values{"action": {"make-admin"}, "id": ids, "back": {"/users?q=e"}}

	// The first post only asks: nothing changes.
	p := as[ui.Page](t, h.call(t, root, http.MethodPost, "/users/bulk", "/users/bulk", form))
	c := p.Data.(ui.ConfirmData)
	if p.Name != "confirm" || c.Heading != "Give 3 users the admin role?" || strings.Join(c.Names, ",") != "anna,bert,root" || c.Cancel != "/users?q=e" {
		t.Fatalf("confirmation: %+v", c)
	}
	if u, _ := h.Svc.GetUser(t.Context(), root, a.ID); u.Role != accounts.RoleUser {
		t.Fatal("asking changed a role")
	}
	// Confirmed: done for whom it can be, said for whom it cannot.
	form.Set("confirm", "yes")
	r := as[ui.Redirect](t, h.call(t, root, http.MethodPost, "/users/bulk", "/users/bulk", form))
	if r.To != "/users?q=e" || r.Flash.Notice == nil || r.Flash.Notice.After != "Made admin 2 users: anna and bert. Already admin: root." || r.Flash.Error != "" {
		t.Fatalf("make admin: %+v %+v", r, r.Flash)
	}
	form.Set("action", "delete")
	r = as[ui.Redirect](t, h.call(t, root, http.MethodPost, "/users/bulk", "/users/bulk", form))
	if r.Flash.Notice.After != "Deleted 2 users: anna and bert." || !strings.HasPrefix(r.Flash.Error, "Not done for root (") {
		t.Fatalf("delete: %+v", r.Flash)
	}
	if _, err := h.Svc.GetUser(t.Context(), root, b.ID); !errors.Is(err, accounts.ErrNotFound) {
		t.Fatalf("bert after the bulk delete: %v", err)
	}
	// Nothing selected, or an unknown action: back to the list, saying so.
	r = as[ui.Redirect](t, h.call(t, root, http.MethodPost, "/users/bulk", "/users/bulk", url.Values{"action": {"delete"}}))
	if r.Flash.Error != "Select at least one user first." {
		t.Fatalf("empty selection: %+v", r.Flash)
	}
	if a := h.call(t, root, http.MethodPost, "/users/bulk", "/users/bulk", url.Values{"action": {"delete"}, "id": {"x"}}); a.err == nil {
		t.Fatalf("a forged id: %+v", a.v)
	}
}

func TestAuditPageAndExport(t *testing.T) {
	h := newHandlerEnv(t)
	root := accounts.Actor{User: h.Root, ClientIP: "192.0.2.9", UserAgent: "=cmd|' /C calc'!A0"}
	carol, err := h.Svc.CreateUser(t.Context(), root, accounts.NewUser{Username: "carol", Email: "carol@example.com", Password: apptest.UserPassword})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := h.Svc.ResetPassword(t.Context(), root, carol.ID, ""); err != nil {
		t.Fatal(err)
	}
	p := as[ui.Page](t, h.call(t, root, http.MethodGet, "/audit", "/audit?action=user.password_reset", nil))
	d := p.Data.(ui.AuditData)
	if p.Name != "audit" || len(d.Events) != 1 || d.Events[0].TargetName != "carol" || d.Events[0].UserAgent == "" || d.Range != "1 matching event." {
		t.Fatalf("audit page: %+v", d)
	}
	p = as[ui.Page](t, h.call(t, root, http.MethodGet, "/audit", "/audit?user="+strconv.FormatInt(carol.ID, 10), nil))
	if d := p.Data.(ui.AuditData); p.Title != "History of carol" || len(d.Events) != 2 {
		t.Fatalf("carol's history: %q, %d events", p.Title, len(d.Events))
	}
	// A range typed in a zone two hours east of UTC, ending before now: nothing.
	p = as[ui.Page](t, h.call(t, root, http.MethodGet, "/audit", "/audit?from=2020-01-01T00:00&to=2020-01-02T00:00&tzo=120", nil))
	if d := p.Data.(ui.AuditData); len(d.Events) != 0 || d.Range != "No event matches these filters." {
		t.Fatalf("an old range: %+v", d)
	}
	p = as[ui.Page](t, h.call(t, root, http.MethodGet, "/audit", "/audit?from=2021-01-01T00:00&to=2020-01-01T00:00&action=nope", nil))
	if p.Status != http.StatusBadRequest || !strings.Contains(p.Alert, "the action") || !strings.Contains(p.Alert, "before its start") {
		t.Fatalf("a bad range: %d %q", p.Status, p.Alert)
	}

	s := as[ui.Stream](t, h.call(t, root, http.MethodGet, "/audit.csv", "/audit.csv?target=carol", nil))
	var buf strings.Builder
	if err := s.Write(&buf); err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(strings.NewReader(buf.String())).ReadAll()
	if err != nil || len(rows) != 3 || strings.Join(rows[0], ",") != "id,time_utc,actor_id,actor,action,description,target_id,target,client_ip,user_agent,request_id,details" {
		t.Fatalf("export: %v\n%s", err, buf.String())
	}
	if rows[1][4] != "user.password_reset" || rows[1][7] != "carol" || rows[1][8] != "192.0.2.9" || !strings.HasPrefix(rows[1][9], "'=") {
		t.Fatalf("the newest row: %q", rows[1])
	}
	if !strings.HasSuffix(s.Filename, ".csv") || s.ContentType != "text/csv; charset=utf-8" {
		t.Fatalf("export file: %q %q", s.Filename, s.ContentType)
	}
	// Users may not read the trail.
	bob, _ := h.CreateUser("bob", accounts.RoleUser)
	s = as[ui.Stream](t, h.call(t, accounts.Actor{User: bob}, http.MethodGet, "/audit.csv", "/audit.csv", nil))
	if err := s.Write(io.Discard); !errors.Is(err, accounts.ErrForbidden) {
		t.Fatalf("a user exported the trail: %v", err)
	}
}
