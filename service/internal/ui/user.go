package ui

import (
	"errors"
	"strconv"

	"github.com/gin-gonic/gin"

	"github.com/gopherops/gopherops/service/internal/accounts"
	"github.com/gopherops/gopherops/service/internal/web"
)

// userData is the user page's view model.
type userData struct {
	User        accounts.User
	IsSelf      bool
	MustChange  bool
	CanEditRole bool
	CanReset    bool
	CanDelete   bool
	// CanDisable offers disabling (or enabling) the account.
	CanDisable bool
	History    *accounts.AuditPage // the latest events by or about the user, for an admin
	// Sessions are the account's sign-ins; Current is the one of this request.
	Sessions []accounts.Session
	Current  int64
}

// historyLength is how many events a user's page shows.
const historyLength = 5

// actor is who sends the request; anonymous when nobody is signed in.
func actor(c *gin.Context) accounts.Actor {
	if a, ok := web.Actor(c); ok {
		return a
	}
	return web.AnonymousActor(c)
}

// userPath is the address of user id's page.
func userPath(id int64) string { return "/users/" + strconv.FormatInt(id, 10) }

func (h userPages) show(c *gin.Context) (result, error) {
	id, err := web.PathID(c)
	if err != nil {
		return nil, err
	}
	a, _ := web.Actor(c)
	if a.User.ForcePasswordChange && id != a.User.ID {
		return redirect{To: userPath(a.User.ID) + "#password"}, nil
	}
	u, err := h.r.deps.Accounts.GetUser(c.Request.Context(), a, id)
	if err != nil {
		return nil, err
	}
	self := u.ID == a.User.ID
	admin := a.User.IsAdmin() && !a.User.ForcePasswordChange
	d := userData{User: u, IsSelf: self, MustChange: a.User.ForcePasswordChange,
		CanEditRole: admin && !u.IsRoot && !self,
		CanReset:    admin && !self && (!u.IsRoot || a.User.IsRoot),
		CanDelete:   admin && !self && !u.IsRoot,
		CanDisable:  admin && !self && !u.IsRoot,
		Current:     a.SessionID}
	if !a.User.ForcePasswordChange || self {
		if d.Sessions, err = h.r.deps.Accounts.ListSessions(c.Request.Context(), a, id); err != nil {
			return nil, err
		}
	}
	if admin {
		h, err := h.r.deps.Accounts.SearchAudit(c.Request.Context(), a,
			accounts.AuditQuery{AuditFilter: accounts.AuditFilter{User: u.ID}, Limit: historyLength})
		if err != nil {
			return nil, err
		}
		d.History = &h
	}
	return page{Name: "user", Title: u.Username, Data: d}, nil
}

func (h userPages) edit(c *gin.Context) (result, error) {
	id, err := web.PathID(c)
	if err != nil {
		return nil, err
	}
	back := userPath(id)
	version, err := strconv.Atoi(c.PostForm("version"))
	if err != nil || version < 1 {
		return redirect{To: back, Flash: &pageFlash{
			Error: "The form was missing the user's version; it has been reloaded, so make your change again."}}, nil
	}
	username, email := c.PostForm("username"), c.PostForm("email")
	p := accounts.Patch{Username: &username, Email: &email}
	values := map[string]string{"username": username, "email": email}
	if role, ok := c.GetPostForm("role"); ok {
		r := accounts.Role(role)
		p.Role = &r
		values["role"] = role
	}
	u, err := h.r.deps.Accounts.UpdateUser(c.Request.Context(), actor(c), id, accounts.Version(version), p)
	if err != nil {
		if errors.Is(err, accounts.ErrVersionMismatch) {
			values = nil // show the other person's version
		}
		return formError(c, err, "edit", back, values)
	}
	return redirect{To: back, Flash: &pageFlash{Notice: &notice{Before: "Changes to ", Name: u.Username, After: " saved."}}}, nil
}

func (h userPages) password(c *gin.Context) (result, error) {
	id, err := web.PathID(c)
	if err != nil {
		return nil, err
	}
	back := userPath(id)
	next := c.PostForm("new_password")
	if c.PostForm("new_password_confirm") != next {
		// The current password is not checked here: a check counts
		// against the sign-in limits, and this form goes back anyway.
		v := &accounts.ValidationError{Fields: map[string]string{"new_password_confirm": "does not match the new password"}}
		if a, ok := web.Actor(c); ok && a.User.ID == id {
			if reason := h.r.deps.Accounts.CheckNewPassword(a.User, next); reason != "" {
				v.Fields["new_password"] = reason
			}
		}
		return formError(c, v, "password", back+"#password", nil)
	}
	_, err = h.r.deps.Accounts.ChangePassword(c.Request.Context(), actor(c), id, c.PostForm("current_password"), next)
	if err != nil {
		return formError(c, err, "password", back+"#password", nil)
	}
	return redirect{To: back, Flash: &pageFlash{Notice: plainNotice("Password changed. Your other sessions and tokens were signed out.")}}, nil
}

func (h userPages) avatar(c *gin.Context) (result, error) {
	id, err := web.PathID(c)
	if err != nil {
		return nil, err
	}
	back := userPath(id)
	data, err := formFile(c, "avatar", accounts.MaxAvatarBytes)
	var u accounts.User
	if err == nil {
		u, err = h.r.deps.Accounts.SetAvatar(c.Request.Context(), actor(c), id, data)
	}
	if err != nil {
		return formError(c, err, "avatar", back, nil)
	}
	return redirect{To: back, Flash: &pageFlash{Notice: &notice{Before: "Avatar of ", Name: u.Username, After: " updated."}}}, nil
}

func (h userPages) disable(c *gin.Context) (result, error) { return h.setDisabled(c, true) }

func (h userPages) enable(c *gin.Context) (result, error) { return h.setDisabled(c, false) }

func (h userPages) setDisabled(c *gin.Context, disabled bool) (result, error) {
	id, err := web.PathID(c)
	if err != nil {
		return nil, err
	}
	if _, err := h.r.deps.Accounts.SetDisabled(c.Request.Context(), actor(c), id, disabled); err != nil {
		return formError(c, err, "", userPath(id), nil)
	}
	msg := "Account enabled: it can sign in again."
	if disabled {
		msg = "Account disabled: its sessions and API tokens were ended, and it cannot sign in."
	}
	return redirect{To: userPath(id), Flash: &pageFlash{Notice: plainNotice(msg)}}, nil
}

func (h userPages) endSession(c *gin.Context) (result, error) {
	id, err := web.PathID(c)
	if err != nil {
		return nil, err
	}
	sid, err := strconv.ParseInt(c.Param("sid"), 10, 64)
	if err != nil || sid <= 0 {
		return nil, web.BadRequest("the session id in the path must be a positive integer")
	}
	a := actor(c)
	if err := h.r.deps.Accounts.RevokeSession(c.Request.Context(), a, id, sid); err != nil {
		return formError(c, err, "", userPath(id)+"#sessions", nil)
	}
	if sid == a.SessionID {
		// The browser ended its own session: it is signed out now.
		h.r.auth.ClearSessionCookie(c)
		return redirect{To: "/login?msg=signed-out"}, nil
	}
	return redirect{To: userPath(id) + "#sessions", Flash: &pageFlash{Notice: plainNotice("Sign-in ended.")}}, nil
}

func (h userPages) endOtherSessions(c *gin.Context) (result, error) {
	id, err := web.PathID(c)
	if err != nil {
		return nil, err
	}
	if _, err := h.r.deps.Accounts.RevokeOtherSessions(c.Request.Context(), actor(c), id); err != nil {
		return formError(c, err, "", userPath(id)+"#sessions", nil)
	}
	return redirect{To: userPath(id) + "#sessions", Flash: &pageFlash{Notice: plainNotice("Every other sign-in was ended.")}}, nil
}
