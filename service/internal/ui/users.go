package ui

import (
	"fmt"
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

// userPages are the users list, a user's page, and the forms about users.
type userPages struct{ r *responder }

// usersQuery is the state of the users list its address carries: the
// search, the filters, the order and the page.
type usersQuery struct {
	Search string
	Role   accounts.Role
	State  accounts.UserState
	Sort   accounts.SortKey
	Desc   bool
	Page   int
}

// parseUsersQuery reads the list's state from an address's query; what it
// cannot use falls back to the default, named in problem.
func parseUsersQuery(v url.Values) (q usersQuery, problem string) {
	q = usersQuery{Search: strings.TrimSpace(v.Get("q")), Role: accounts.Role(v.Get("role")),
		State: accounts.UserState(v.Get("state")), Sort: accounts.SortKey(v.Get("sort")), Desc: v.Get("dir") == "desc", Page: 1}
	var bad []string
	if !storable(q.Search) || utf8.RuneCountInString(q.Search) > accounts.MaxSearchLength {
		q.Search = ""
		bad = append(bad, "the search")
	}
	if q.Role != "" && !q.Role.Valid() {
		q.Role = ""
		bad = append(bad, "the role")
	}
	if !q.State.Valid() {
		q.State = accounts.StateAny
		bad = append(bad, "the state")
	}
	if q.Sort == "" {
		q.Sort = accounts.SortUsername
	}
	if !q.Sort.Valid() {
		q.Sort = accounts.SortUsername
		bad = append(bad, "the order")
	}
	if p := v.Get("page"); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > accounts.MaxPage {
			bad = append(bad, "the page number")
		} else {
			q.Page = n
		}
	}
	if len(bad) > 0 {
		problem = "This address has a value the list does not know for " + strings.Join(bad, " and ") + "; it was left out."
	}
	return q, problem
}

// Filtered reports whether the list shows only some users.
func (q usersQuery) Filtered() bool { return q.Search != "" || q.Role != "" || q.State != "" }

// values encodes q (page included when past the first), leaving defaults out.
func (q usersQuery) values() url.Values {
	v := url.Values{}
	if q.Search != "" {
		v.Set("q", q.Search)
	}
	if q.Role != "" {
		v.Set("role", string(q.Role))
	}
	if q.State != "" {
		v.Set("state", string(q.State))
	}
	if q.Sort != accounts.SortUsername {
		v.Set("sort", string(q.Sort))
	}
	if q.Desc {
		v.Set("dir", "desc")
	}
	if q.Page > 1 {
		v.Set("page", strconv.Itoa(q.Page))
	}
	return v
}

// Href is the list's address with q's state.
func (q usersQuery) Href() string {
	if v := q.values(); len(v) > 0 {
		return "/users?" + v.Encode()
	}
	return "/users"
}

// AtPage is q on page n.
func (q usersQuery) AtPage(n int) usersQuery { q.Page = n; return q }

func (q usersQuery) accounts(limit int) accounts.UserQuery {
	return accounts.UserQuery{Search: q.Search, Role: q.Role, State: q.State, Sort: q.Sort, Desc: q.Desc, Page: q.Page, Limit: limit}
}

// usersData is the users page's view model.
type usersData struct {
	Query     usersQuery
	Users     []userRow
	Range     string // "21–40 of 63 users"
	Pages     []pageLink
	Prev      string // hrefs, "" when there is no such page
	Next      string
	Columns   []sortColumn
	Roles     []option
	States    []option
	Selection bool // some row can be selected for a bulk action
	Actions   []bulkAction
	Back      string // the list's address, where its forms come back to
	BackQuery string // the same, escaped for a query
}

// userRow is one user of the list with what the viewer may do to them.
type userRow struct {
	accounts.User
	Initial    string
	CanReset   bool
	CanDelete  bool
	Selectable bool // may be part of a bulk action (neither root nor the viewer)
	Highlight  bool // just created or changed
}

// sortColumn is a sortable header: its link toggles the direction when the
// list is already sorted by it, and Aria is its aria-sort value.
type sortColumn struct {
	Key   accounts.SortKey
	Label string
	Href  string
	Aria  string
}

// option is one choice of a select.
type option struct {
	Value, Label string
	Selected     bool
}

// pageLink is one entry of a pager: a page number (Href "" for the
// current page) or, with Gap, the pages left out.
type pageLink struct {
	Number  int
	Href    string
	Current bool
	Gap     bool
}

func (h userPages) list(c *gin.Context) (result, error) {
	q, problem := parseUsersQuery(c.Request.URL.Query())
	a, _ := web.Actor(c)
	list, err := h.r.deps.Accounts.SearchUsers(c.Request.Context(), a, q.accounts(usersPageSize))
	if err != nil {
		return nil, err
	}
	q.Page = list.Page
	highlight, _ := strconv.ParseInt(c.Query("highlight"), 10, 64)
	d := usersData{Query: q, Columns: sortColumns(q), Roles: roleOptions(q.Role), States: stateOptions(q.State),
		Range: rangeText(list.Offset, len(list.Users), list.Total, q.Filtered(), "user"), Back: q.Href(), BackQuery: url.QueryEscape(q.Href()), Actions: bulkActions}
	d.Users = make([]userRow, 0, len(list.Users))
	for _, u := range list.Users {
		row := userRow{User: u, Initial: initial(u.Username),
			CanReset: !u.IsRoot || a.User.IsRoot, CanDelete: !u.IsRoot && u.ID != a.User.ID,
			Selectable: !u.IsRoot && u.ID != a.User.ID, Highlight: u.ID == highlight}
		d.Selection = d.Selection || row.Selectable
		d.Users = append(d.Users, row)
	}
	d.Pages = pageLinks(list.Page, list.Pages, func(n int) string { return q.AtPage(n).Href() })
	if list.Page > 1 {
		d.Prev = q.AtPage(list.Page - 1).Href()
	}
	if list.Page < list.Pages {
		d.Next = q.AtPage(list.Page + 1).Href()
	}
	p := page{Name: "users", Title: "Users", Data: d}
	if problem != "" {
		p.Status, p.Alert = http.StatusBadRequest, problem
	}
	return p, nil
}

// rangeText says which part of the whole a page shows: "21–40 of 63 users".
func rangeText(offset, shown int, total int64, filtered bool, noun string) string {
	nouns := noun + "s"
	if total == 1 {
		nouns = noun
	}
	matching := ""
	if filtered {
		matching = "matching "
	}
	switch {
	case total == 0 && filtered:
		return "No " + noun + " matches these filters."
	case total == 0:
		return "No " + nouns + " yet."
	case int64(shown) == total:
		return fmt.Sprintf("%d %s%s.", total, matching, nouns)
	}
	return fmt.Sprintf("%d–%d of %d %s%s.", offset+1, offset+shown, total, matching, nouns)
}

// pageLinks lists the pages to link: the first and last, and two on either
// side of the current one, with gaps between.
func pageLinks(current, pages int, href func(int) string) []pageLink {
	if pages <= 1 {
		return nil
	}
	var out []pageLink
	for n := 1; n <= pages; n++ {
		if n != 1 && n != pages && (n < current-2 || n > current+2) {
			if len(out) > 0 && !out[len(out)-1].Gap {
				out = append(out, pageLink{Gap: true})
			}
			continue
		}
		l := pageLink{Number: n, Current: n == current}
		if !l.Current {
			l.Href = href(n)
		}
		out = append(out, l)
	}
	return out
}

func sortColumns(q usersQuery) []sortColumn {
	cols := []struct {
		label string
		key   accounts.SortKey
	}{{"User", accounts.SortUsername}, {"Email", accounts.SortEmail}, {"Role", accounts.SortRole}, {"Created", accounts.SortCreated}}
	out := make([]sortColumn, 0, len(cols))
	for _, col := range cols {
		next := q
		next.Sort, next.Desc, next.Page = col.key, false, 1
		sc := sortColumn{Key: col.key, Label: col.label}
		if q.Sort == col.key {
			sc.Aria = "ascending"
			if q.Desc {
				sc.Aria = "descending"
			}
			next.Desc = !q.Desc
		}
		sc.Href = next.Href()
		out = append(out, sc)
	}
	return out
}

func roleOptions(selected accounts.Role) []option {
	return []option{
		{Value: "", Label: "Any role", Selected: selected == ""},
		{Value: string(accounts.RoleAdmin), Label: "Admins", Selected: selected == accounts.RoleAdmin},
		{Value: string(accounts.RoleUser), Label: "Users", Selected: selected == accounts.RoleUser},
	}
}

// stateLabels name the states the list can be filtered by.
var stateLabels = map[accounts.UserState]string{
	accounts.StateActive:     "Active",
	accounts.StateMustChange: "Must change password",
	accounts.StateDisabled:   "Disabled",
}

func stateOptions(selected accounts.UserState) []option {
	out := []option{{Value: "", Label: "Any state", Selected: selected == accounts.StateAny}}
	for _, s := range accounts.UserStates() {
		out = append(out, option{Value: string(s), Label: stateLabels[s], Selected: selected == s})
	}
	return out
}

// initial is the letter shown in place of a missing avatar.
func initial(username string) string {
	r, _ := utf8.DecodeRuneInString(username)
	return string(unicode.ToUpper(r))
}

// listBack is where a form sent from the users list returns: the list with
// the search, filters, order and page it was sent from. Only the list's
// own path and parameters are kept, so the field cannot lead elsewhere.
func listBack(back string) (usersQuery, bool) {
	u, err := url.Parse(back)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || u.Path != "/users" {
		return usersQuery{Sort: accounts.SortUsername, Page: 1}, false
	}
	q, _ := parseUsersQuery(u.Query())
	return q, true
}

// userBack is where a form about user id returns: that user's page when it
// was sent from there, else the list it was sent from.
func userBack(c *gin.Context, id int64) string {
	self := userPath(id)
	back := c.PostForm("back")
	if back == "" {
		back = c.Query("back")
	}
	if back == "user" || back == self {
		return self
	}
	q, _ := listBack(back)
	return q.Href()
}
