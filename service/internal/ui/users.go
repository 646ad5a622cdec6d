package ui

import (
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/gin-gonic/gin"

	"github.com/gopherops/gopherops/service/internal/accounts"
	"github.com/gopherops/gopherops/service/internal/web"
)

// usersPageSize is how many users one page of the list shows.
const usersPageSize = 20

// usersData is the users page's view model.
type usersData struct {
	Users   []userRow
	Search  string
	Desc    bool
	Total   int64
	Shown   string // "Showing 3 of 12 users"
	Prev    string // hrefs, "" when there is no such page
	Next    string
	Columns []sortColumn
}

// userRow is one user of the list with what the viewer may do to them.
type userRow struct {
	accounts.User
	Initial   string
	CanReset  bool
	CanDelete bool
}

// sortColumn is a sortable header: its link toggles the direction when the
// list is already sorted by it, and Aria is its aria-sort value.
type sortColumn struct {
	Key   accounts.SortKey
	Label string
	Href  string
	Aria  string
}

type listQuery struct {
	search string
	sort   accounts.SortKey
	desc   bool
}

func (q listQuery) href(cursor string) string {
	v := url.Values{}
	if q.search != "" {
		v.Set("q", q.search)
	}
	if q.sort != accounts.SortUsername {
		v.Set("sort", string(q.sort))
	}
	if q.desc {
		v.Set("dir", "desc")
	}
	if cursor != "" {
		v.Set("cursor", cursor)
	}
	if len(v) == 0 {
		return "/users"
	}
	return "/users?" + v.Encode()
}

// userPages are the users list, a user's page, and the forms about users.
type userPages struct{ r *responder }

func (h userPages) list(c *gin.Context) (result, error) {
	q := listQuery{search: c.Query("q"), sort: accounts.SortKey(c.DefaultQuery("sort", string(accounts.SortUsername))),
		desc: c.Query("dir") == "desc"}
	if !q.sort.Valid() {
		q.sort = accounts.SortUsername
	}
	if !storable(q.search) {
		return refuseText("q", "/users"), nil
	}
	a, _ := web.Actor(c)
	list, err := h.r.deps.Accounts.SearchUsers(c.Request.Context(), a, accounts.UserQuery{
		Search: q.search, Sort: q.sort, Desc: q.desc, Cursor: c.Query("cursor"), Limit: usersPageSize,
	})
	code, errMsg := http.StatusOK, ""
	var verr *accounts.ValidationError
	if errors.As(err, &verr) {
		// A stale or edited link: say so and show the first page.
		code, errMsg = http.StatusBadRequest, "That page of the list no longer exists; here is the first page."
		if msg, ok := verr.Fields["q"]; ok {
			errMsg, q.search = fieldMessage("q", msg), ""
		}
		list, err = h.r.deps.Accounts.SearchUsers(c.Request.Context(), a, accounts.UserQuery{Sort: q.sort, Desc: q.desc, Limit: usersPageSize})
	}
	if err != nil {
		return nil, err
	}
	d := usersData{Search: strings.TrimSpace(q.search), Desc: q.desc, Total: list.Total, Columns: sortColumns(q)}
	for _, u := range list.Users {
		d.Users = append(d.Users, userRow{User: u, Initial: initial(u.Username),
			CanReset: !u.IsRoot || a.User.IsRoot, CanDelete: !u.IsRoot && u.ID != a.User.ID})
	}
	if list.Prev != "" {
		d.Prev = q.href(list.Prev)
	}
	if list.Next != "" {
		d.Next = q.href(list.Next)
	}
	d.Shown = shownText(len(d.Users), list.Total, d.Search != "")
	return page{Status: code, Name: "users", Title: "Users", Alert: errMsg, Data: d}, nil
}

func shownText(shown int, total int64, searching bool) string {
	noun := "users"
	if total == 1 {
		noun = "user"
	}
	switch {
	case total == 0 && searching:
		return "No user matches the search."
	case int64(shown) == total:
		if searching {
			return fmt.Sprintf("%d %s match.", total, noun)
		}
		return fmt.Sprintf("%d %s.", total, noun)
	case searching:
		return fmt.Sprintf("Showing %d of %d matching %s.", shown, total, noun)
	}
	return fmt.Sprintf("Showing %d of %d %s.", shown, total, noun)
}

func sortColumns(q listQuery) []sortColumn {
	cols := []struct {
		label string
		key   accounts.SortKey
	}{{"User", accounts.SortUsername}, {"Email", accounts.SortEmail}, {"Role", accounts.SortRole}, {"Created", accounts.SortCreated}}
	out := make([]sortColumn, 0, len(cols))
	for _, col := range cols {
		next := listQuery{search: q.search, sort: col.key}
		sc := sortColumn{Key: col.key, Label: col.label}
		if q.sort == col.key {
			sc.Aria = "ascending"
			if q.desc {
				sc.Aria = "descending"
			}
			next.desc = !q.desc
		}
		sc.Href = next.href("")
		out = append(out, sc)
	}
	return out
}

// initial is the letter shown in place of a missing avatar.
func initial(username string) string {
	r, _ := utf8.DecodeRuneInString(username)
	return string(unicode.ToUpper(r))
}

func (h userPages) create(c *gin.Context) (result, error) {
	// The admin typed this password, so it is not the user's secret: they
	// choose their own at first sign-in.
	in := accounts.NewUser{Username: c.PostForm("username"), Email: c.PostForm("email"),
		Password: c.PostForm("password"), Role: accounts.Role(c.DefaultPostForm("role", "user")), ForcePasswordChange: true}
	values := map[string]string{"username": in.Username, "email": in.Email, "role": string(in.Role)}
	if c.PostForm("password_confirm") != in.Password {
		// Every problem at once: the confirmation's and the domain's.
		v := &accounts.ValidationError{Fields: map[string]string{"password_confirm": "does not match the password"}}
		if dv := h.r.deps.Accounts.CheckNewUser(in); dv != nil {
			maps.Copy(v.Fields, dv.Fields)
		}
		return formError(c, v, "create", "/users", values)
	}
	a, _ := web.Actor(c)
	if _, err := h.r.deps.Accounts.CreateUser(c.Request.Context(), a, in); err != nil {
		return formError(c, err, "create", "/users", values)
	}
	return redirect{To: "/users?msg=created"}, nil
}

// userBack is where a form about user id returns: the page it was sent
// from (that user's page, or the list with its search, order and page), and
// the list when the form does not say. Only these local paths are accepted,
// so the field cannot redirect anywhere else.
func userBack(c *gin.Context, id int64) string {
	self := "/users/" + strconv.FormatInt(id, 10)
	back := c.PostForm("back")
	if back == "user" || back == self {
		return self
	}
	u, err := url.Parse(back)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || u.Path != "/users" {
		return "/users"
	}
	q := u.Query()
	q.Del("msg")
	kept := url.Values{}
	for _, k := range []string{"q", "sort", "dir", "cursor"} {
		if v := q.Get(k); v != "" && storable(v) {
			kept.Set(k, v)
		}
	}
	if len(kept) == 0 {
		return "/users"
	}
	return "/users?" + kept.Encode()
}

func (h userPages) delete(c *gin.Context) (result, error) {
	id, err := web.PathID(c)
	if err != nil {
		return nil, err
	}
	if err := h.r.deps.Accounts.DeleteUser(c.Request.Context(), actor(c), id); err != nil {
		return formError(c, err, "delete:"+strconv.FormatInt(id, 10), userBack(c, id), nil)
	}
	return redirect{To: "/users?msg=deleted"}, nil
}

func (h userPages) reset(c *gin.Context) (result, error) {
	id, err := web.PathID(c)
	if err != nil {
		return nil, err
	}
	back := userBack(c, id)
	u, generated, err := h.r.deps.Accounts.ResetPassword(c.Request.Context(), actor(c), id, c.PostForm("password"))
	if err != nil {
		return formError(c, err, "reset:"+strconv.FormatInt(id, 10), back, nil)
	}
	f := pageFlash{Notice: "Password of " + u.Username + " reset. They must choose a new one at their next sign-in."}
	if generated != "" {
		f = pageFlash{Temp: &temporaryPassword{Username: u.Username, Password: generated}}
	}
	return redirect{To: back, Flash: &f}, nil
}
