package api

import (
	"net/http"
	"strconv"

	"github.com/gin-gonic/gin"

	"github.com/gopherops/gopherops/service/contract"
	"github.com/gopherops/gopherops/service/internal/accounts"
	"github.com/gopherops/gopherops/service/internal/web"
)

// toUserResponse converts a domain user to its wire form.
func toUserResponse(u accounts.User) contract.User {
	r := contract.User{
		ID: u.ID, Username: u.Username, Email: u.Email, Role: string(u.Role), IsRoot: u.IsRoot,
		ForcePasswordChange: u.ForcePasswordChange, Version: u.Version,
		CreatedAt: u.CreatedAt.UTC(), UpdatedAt: u.UpdatedAt.UTC(), LastLoginAt: u.LastLoginAt,
		Disabled: u.Disabled(), DisabledAt: u.DisabledAt,
	}
	if u.AvatarKey != "" {
		url := "/api/v1/users/" + strconv.FormatInt(u.ID, 10) + "/avatar?v=" + strconv.Itoa(u.Version)
		r.AvatarURL = &url
	}
	return r
}

// userBody answers with u, its ETag set.
func userBody(c *gin.Context, status int, u accounts.User) (int, any, error) {
	web.SetETag(c, u.Version)
	return status, toUserResponse(u), nil
}

func (h *handlers) me(c *gin.Context) (int, any, error) {
	a, _ := web.Actor(c)
	return userBody(c, http.StatusOK, a.User)
}

type listResponse struct {
	Users      []contract.User `json:"users"`
	NextCursor *string         `json:"next_cursor"`
}

func (h *handlers) listUsers(c *gin.Context) (int, any, error) {
	limit, err := web.QueryLimit(c, "limit", accounts.DefaultListLimit, accounts.MaxListLimit)
	if err != nil {
		return noBody(err)
	}
	a, _ := web.Actor(c)
	page, err := h.Accounts.ListUsers(c.Request.Context(), a, c.Query("cursor"), limit)
	if err != nil {
		return noBody(err)
	}
	resp := listResponse{Users: make([]contract.User, 0, len(page.Users))}
	for _, u := range page.Users {
		resp.Users = append(resp.Users, toUserResponse(u))
	}
	if page.NextCursor != "" {
		resp.NextCursor = &page.NextCursor
	}
	return http.StatusOK, resp, nil
}

type createUserRequest struct {
	Username            string `json:"username"`
	Email               string `json:"email"`
	Password            string `json:"password"`
	Role                string `json:"role"`
	ForcePasswordChange *bool  `json:"force_password_change"`
}

// toNewUser converts a create request into the domain's input.
func (r createUserRequest) toNewUser() accounts.NewUser {
	force := true // the admin typed this password, so it is not the user's secret
	if r.ForcePasswordChange != nil {
		force = *r.ForcePasswordChange
	}
	return accounts.NewUser{Username: r.Username, Email: r.Email, Password: r.Password,
		Role: accounts.Role(r.Role), ForcePasswordChange: force}
}

func (h *handlers) createUser(c *gin.Context) (int, any, error) {
	var req createUserRequest
	if err := web.DecodeJSON(c, &req); err != nil {
		return noBody(err)
	}
	a, _ := web.Actor(c)
	u, err := h.Accounts.CreateUser(c.Request.Context(), a, req.toNewUser())
	if err != nil {
		return noBody(err)
	}
	c.Header("Location", "/api/v1/users/"+strconv.FormatInt(u.ID, 10))
	return userBody(c, http.StatusCreated, u)
}

func (h *handlers) getUser(c *gin.Context) (int, any, error) {
	id, err := web.PathID(c)
	if err != nil {
		return noBody(err)
	}
	a, _ := web.Actor(c)
	u, err := h.Accounts.GetUser(c.Request.Context(), a, id)
	if err != nil {
		return noBody(err)
	}
	return userBody(c, http.StatusOK, u)
}

type patchUserRequest struct {
	Username *string `json:"username"`
	Email    *string `json:"email"`
	Role     *string `json:"role"`
}

func (r patchUserRequest) toPatch() accounts.Patch {
	p := accounts.Patch{Username: r.Username, Email: r.Email}
	if r.Role != nil {
		role := accounts.Role(*r.Role)
		p.Role = &role
	}
	return p
}

func (h *handlers) patchUser(c *gin.Context) (int, any, error) {
	id, err := web.PathID(c)
	if err != nil {
		return noBody(err)
	}
	a, _ := web.Actor(c)
	m, err := web.IfMatchHeader(c)
	if err != nil {
		return noBody(err)
	}
	var req patchUserRequest
	if err := web.DecodeJSON(c, &req); err != nil {
		return noBody(err)
	}
	u, err := h.Accounts.UpdateUser(c.Request.Context(), a, id, m, req.toPatch())
	if err != nil {
		return noBody(err)
	}
	return userBody(c, http.StatusOK, u)
}

func (h *handlers) deleteUser(c *gin.Context) (int, any, error) {
	id, err := web.PathID(c)
	if err != nil {
		return noBody(err)
	}
	a, _ := web.Actor(c)
	if err := h.Accounts.DeleteUser(c.Request.Context(), a, id); err != nil {
		return noBody(err)
	}
	return http.StatusNoContent, nil, nil
}

type changePasswordRequest struct {
	CurrentPassword string `json:"current_password"`
	NewPassword     string `json:"new_password"`
}

func (h *handlers) changePassword(c *gin.Context) (int, any, error) {
	id, err := web.PathID(c)
	if err != nil {
		return noBody(err)
	}
	var req changePasswordRequest
	if err := web.DecodeJSON(c, &req); err != nil {
		return noBody(err)
	}
	a, _ := web.Actor(c)
	u, err := h.Accounts.ChangePassword(c.Request.Context(), a, id, req.CurrentPassword, req.NewPassword)
	if err != nil {
		return noBody(err)
	}
	return userBody(c, http.StatusOK, u)
}

type resetPasswordRequest struct {
	Password string `json:"password"`
}

type resetPasswordResponse struct {
	User              contract.User `json:"user"`
	TemporaryPassword *string       `json:"temporary_password"`
}

func (h *handlers) resetPassword(c *gin.Context) (int, any, error) {
	id, err := web.PathID(c)
	if err != nil {
		return noBody(err)
	}
	var req resetPasswordRequest
	if c.Request.ContentLength != 0 {
		if err := web.DecodeJSON(c, &req); err != nil {
			return noBody(err)
		}
	}
	a, _ := web.Actor(c)
	u, generated, err := h.Accounts.ResetPassword(c.Request.Context(), a, id, req.Password)
	if err != nil {
		return noBody(err)
	}
	resp := resetPasswordResponse{User: toUserResponse(u)}
	if generated != "" {
		resp.TemporaryPassword = &generated
	}
	web.SetETag(c, u.Version)
	return http.StatusOK, resp, nil
}
