package ui_test

import (
	"errors"
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
	if p.Name != "users" || p.Status != 0 && p.Status != http.StatusOK || !ok || d.Total != 1 || len(d.Users) != 1 || d.Users[0].ID != bob.ID {
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
		url.Values{"username": {"x"}, "email": {"not-an-email"}, "password": {"short"}}))
	if r.To != "/users" || r.Flash == nil || r.Flash.Form != "create" {
		t.Fatalf("invalid create: %+v", r)
	}
	for _, field := range []string{"username", "email", "password"} {
		if r.Flash.Fields[field] == "" {
			t.Errorf("invalid create: no error for %s in %+v", field, r.Flash.Fields)
		}
	}
	if r.Flash.Values["email"] != "not-an-email" || r.Flash.Values["password"] != "" {
		t.Errorf("invalid create keeps %+v: the email and never the password", r.Flash.Values)
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
