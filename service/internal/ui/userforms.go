package ui

import (
	"context"
	"errors"
	"maps"
	"net/url"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/gopherops/gopherops/service/internal/accounts"
	"github.com/gopherops/gopherops/service/internal/web"
)

// confirmData is the view model of a confirmation page: what is about to
// happen, to whom, and the form that does it. With a script, the users
// list shows the same form in a dialog.
type confirmData struct {
	Heading  string
	Message  string
	Names    []string // who it applies to, when several
	Action   string   // where the form posts
	Fields   []hiddenField
	Submit   string
	Danger   bool
	Password string // the id of an optional temporary-password field (reset), "" for none
	Form     string // the form's name, for its field errors
	Cancel   string
}

// hiddenField is a field a confirmation form carries.
type hiddenField struct{ Name, Value string }

func (h userPages) create(c *gin.Context) (result, error) {
	// The admin typed this password, so it is not the user's secret: they
	// choose their own at first sign-in.
	in := accounts.NewUser{Username: c.PostForm("username"), Email: c.PostForm("email"),
		Password: c.PostForm("password"), Role: accounts.Role(c.DefaultPostForm("role", "user")), ForcePasswordChange: true}
	values := map[string]string{"username": in.Username, "email": in.Email, "role": string(in.Role)}
	list, _ := listBack(c.PostForm("back"))
	if c.PostForm("password_confirm") != in.Password {
		// Every problem at once: the confirmation's and the domain's.
		v := &accounts.ValidationError{Fields: map[string]string{"password_confirm": "does not match the password"}}
		if dv := h.r.deps.Accounts.CheckNewUser(in); dv != nil {
			maps.Copy(v.Fields, dv.Fields)
		}
		return formError(c, v, "create", list.Href(), values)
	}
	a, _ := web.Actor(c)
	u, err := h.r.deps.Accounts.CreateUser(c.Request.Context(), a, in)
	if err != nil {
		return formError(c, err, "create", list.Href(), values)
	}
	return redirect{To: h.showUser(c.Request.Context(), a, list, u.ID), Flash: &pageFlash{Notice: &notice{
		Before: "User ", Name: u.Username, Href: userPath(u.ID),
		After: " created. They must choose a new password at their first sign-in."}}}, nil
}

// showUser is the address of the list page that holds user id, with the
// row highlighted: in the list the form came from when the user is in it,
// else in the whole list in the same order.
func (h userPages) showUser(ctx context.Context, a accounts.Actor, list usersQuery, id int64) string {
	page, found, err := h.r.deps.Accounts.PageOf(ctx, a, list.accounts(usersPageSize), id)
	if err == nil && !found {
		list = usersQuery{Sort: list.Sort, Desc: list.Desc}
		page, found, err = h.r.deps.Accounts.PageOf(ctx, a, list.accounts(usersPageSize), id)
	}
	if err != nil || !found {
		return userPath(id) // the page of the user itself never misses
	}
	v := list.AtPage(page).values()
	v.Set("highlight", strconv.FormatInt(id, 10))
	return "/users?" + v.Encode() + "#user-" + strconv.FormatInt(id, 10)
}

func (h userPages) deleteForm(c *gin.Context) (result, error) {
	u, err := h.target(c)
	if err != nil {
		return nil, err
	}
	back := userBack(c, u.ID)
	return page{Name: "confirm", Title: "Delete " + u.Username, Data: confirmData{
		Heading: "Delete " + u.Username + "?",
		Message: "The account, its sessions, API tokens and avatar are removed. This cannot be undone.",
		Action:  userPath(u.ID) + "/delete", Fields: []hiddenField{{"back", back}},
		Submit: "Delete " + u.Username, Danger: true, Cancel: back,
	}}, nil
}

func (h userPages) delete(c *gin.Context) (result, error) {
	id, err := web.PathID(c)
	if err != nil {
		return nil, err
	}
	a := actor(c)
	u, err := h.r.deps.Accounts.GetUser(c.Request.Context(), a, id)
	if err == nil {
		err = h.r.deps.Accounts.DeleteUser(c.Request.Context(), a, id)
	}
	if err != nil {
		return formError(c, err, "delete:"+strconv.FormatInt(id, 10), userBack(c, id), nil)
	}
	back := userBack(c, id)
	if back == userPath(id) {
		back = "/users" // that page is gone
	}
	return redirect{To: back, Flash: &pageFlash{Notice: &notice{Before: "User ", Name: u.Username,
		Href: "/audit?user=" + strconv.FormatInt(id, 10), After: " deleted. The name links to their history in the audit trail."}}}, nil
}

func (h userPages) resetForm(c *gin.Context) (result, error) {
	u, err := h.target(c)
	if err != nil {
		return nil, err
	}
	back := userBack(c, u.ID)
	return page{Name: "confirm", Title: "Reset the password of " + u.Username, Data: confirmData{
		Heading: "Reset the password of " + u.Username,
		Message: "Their sessions and API tokens end now. Leave the field empty to generate a password you can copy.",
		Action:  userPath(u.ID) + "/reset-password", Fields: []hiddenField{{"back", back}},
		Submit: "Reset password", Password: "reset-" + strconv.FormatInt(u.ID, 10),
		Form: "reset:" + strconv.FormatInt(u.ID, 10), Cancel: back,
	}}, nil
}

func (h userPages) reset(c *gin.Context) (result, error) {
	id, err := web.PathID(c)
	if err != nil {
		return nil, err
	}
	back := userBack(c, id)
	u, generated, err := h.r.deps.Accounts.ResetPassword(c.Request.Context(), actor(c), id, c.PostForm("password"))
	if err != nil {
		// Back to the form, which keeps where it came from.
		return formError(c, err, "reset:"+strconv.FormatInt(id, 10), userPath(id)+"/reset-password?back="+url.QueryEscape(back), nil)
	}
	f := pageFlash{Notice: &notice{Before: "Password of ", Name: u.Username, Href: userPath(u.ID),
		After: " reset. They must choose a new one at their next sign-in."}}
	if generated != "" {
		f = pageFlash{Temp: &temporaryPassword{Username: u.Username, Password: generated}}
	}
	return redirect{To: back, Flash: &f}, nil
}

// target is the user a confirmation page is about.
func (h userPages) target(c *gin.Context) (accounts.User, error) {
	id, err := web.PathID(c)
	if err != nil {
		return accounts.User{}, err
	}
	return h.r.deps.Accounts.GetUser(c.Request.Context(), actor(c), id)
}

// bulkAction is what the list's bulk form does to every selected user.
type bulkAction struct {
	Key     string
	Label   string // in the action's menu
	Confirm string // the confirmation's heading, given how many
	Submit  string // its button, given how many
	Done    string // the notice's verb, after
	Danger  bool
	role    accounts.Role // for a role change
}

// bulkActions are the actions of the users list's selection, in menu order.
var bulkActions = []bulkAction{
	{Key: "delete", Label: "Delete", Confirm: "Delete %s?", Submit: "Delete %s", Done: "Deleted", Danger: true},
	{Key: "make-admin", Label: "Make admin", Confirm: "Give %s the admin role?", Submit: "Give %s the admin role",
		Done: "Made admin", role: accounts.RoleAdmin},
	{Key: "make-user", Label: "Make user", Confirm: "Take the admin role from %s?", Submit: "Take the admin role from %s",
		Done: "Made user", role: accounts.RoleUser},
}

func findBulkAction(key string) (bulkAction, bool) {
	for _, b := range bulkActions {
		if b.Key == key {
			return b, true
		}
	}
	return bulkAction{}, false
}

// maxBulk bounds one bulk action: at most a page of the list at its largest.
const maxBulk = accounts.MaxListLimit

// bulk confirms, then applies, an action to the users selected in the
// list. The first post (without confirm) answers with the confirmation
// page; the second does it, user by user, and says what was done and what
// could not be.
func (h userPages) bulk(c *gin.Context) (result, error) {
	list, _ := listBack(c.PostForm("back"))
	action, ok := findBulkAction(c.PostForm("action"))
	ids, bad := parseIDs(c.PostFormArray("id"))
	switch {
	case !ok:
		return redirect{To: list.Href(), Flash: &pageFlash{Error: "Choose what to do with the selected users."}}, nil
	case bad || len(ids) > maxBulk:
		return nil, web.BadRequest("the selection must be at most %d user ids", maxBulk)
	case len(ids) == 0:
		return redirect{To: list.Href(), Flash: &pageFlash{Error: "Select at least one user first."}}, nil
	}
	a := actor(c)
	ctx := c.Request.Context()
	users := make([]accounts.User, 0, len(ids))
	for _, id := range ids {
		u, err := h.r.deps.Accounts.GetUser(ctx, a, id)
		if errors.Is(err, accounts.ErrNotFound) {
			continue // deleted meanwhile: nothing left to do
		}
		if err != nil {
			return nil, err
		}
		users = append(users, u)
	}
	if c.PostForm("confirm") != "yes" {
		fields := []hiddenField{{"back", list.Href()}, {"action", action.Key}, {"confirm", "yes"}}
		names := make([]string, 0, len(users))
		for _, u := range users {
			fields = append(fields, hiddenField{"id", strconv.FormatInt(u.ID, 10)})
			names = append(names, u.Username)
		}
		who := countNoun(len(users), "user")
		return page{Name: "confirm", Title: action.Label + " " + who, Data: confirmData{
			Heading: strings.Replace(action.Confirm, "%s", who, 1), Names: names,
			Message: bulkMessage(action), Action: "/users/bulk", Fields: fields,
			Submit: strings.Replace(action.Submit, "%s", who, 1), Danger: action.Danger, Cancel: list.Href(),
		}}, nil
	}
	var done, already, failed []string
	for _, u := range users {
		var err error
		switch {
		case action.role == "":
			err = h.r.deps.Accounts.DeleteUser(ctx, a, u.ID)
		case u.Role == action.role:
			already = append(already, u.Username)
			continue
		default:
			role := action.role
			_, err = h.r.deps.Accounts.UpdateUser(ctx, a, u.ID, accounts.Version(u.Version), accounts.Patch{Role: &role})
		}
		if databaseDown(err) {
			return nil, err
		}
		if err != nil {
			failed = append(failed, u.Username+" ("+web.Classify(ctx, err).Detail+")")
			continue
		}
		done = append(done, u.Username)
	}
	f := pageFlash{}
	var said []string
	if len(done) > 0 {
		said = append(said, action.Done+" "+countNoun(len(done), "user")+": "+joinNames(done)+".")
	}
	if len(already) > 0 {
		said = append(said, "Already "+string(action.role)+": "+joinNames(already)+".")
	}
	if len(said) > 0 {
		f.Notice = plainNotice(strings.Join(said, " "))
	}
	if len(failed) > 0 {
		f.Error = sentence("Not done for " + joinNames(failed))
	}
	return redirect{To: list.Href(), Flash: &f}, nil
}

func bulkMessage(a bulkAction) string {
	switch {
	case a.Danger:
		return "Their accounts, sessions, API tokens and avatars are removed. This cannot be undone."
	case a.role == accounts.RoleAdmin:
		return "Admins manage every user, and see the audit trail."
	}
	return "They keep their accounts, and manage only their own from now on."
}

// parseIDs reads user ids; bad reports one that is not a positive integer.
func parseIDs(raw []string) (ids []int64, bad bool) {
	seen := map[int64]bool{}
	for _, s := range raw {
		id, err := strconv.ParseInt(s, 10, 64)
		if err != nil || id < 1 {
			return nil, true
		}
		if !seen[id] {
			seen[id] = true
			ids = append(ids, id)
		}
	}
	return ids, false
}

// countNoun says "1 user", "3 users".
func countNoun(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return strconv.Itoa(n) + " " + noun + "s"
}

// joinNames lists names as a sentence does: "a, b and c".
func joinNames(names []string) string {
	if len(names) < 2 {
		return strings.Join(names, "")
	}
	return strings.Join(names[:len(names)-1], ", ") + " and " + names[len(names)-1]
}
