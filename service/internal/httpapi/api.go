package httpapi

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/gopherops/gopherops/service/internal/accounts"
	"github.com/gopherops/gopherops/service/internal/blob"
)

// userResponse is the API's view of a user.
type userResponse struct {
	ID                  int64      `json:"id"`
	Username            string     `json:"username"`
	Email               string     `json:"email"`
	Role                string     `json:"role"`
	IsRoot              bool       `json:"is_root"`
	ForcePasswordChange bool       `json:"force_password_change"`
	AvatarURL           *string    `json:"avatar_url"`
	Version             int        `json:"version"`
	CreatedAt           time.Time  `json:"created_at"`
	UpdatedAt           time.Time  `json:"updated_at"`
	LastLoginAt         *time.Time `json:"last_login_at"`
}

func toUserResponse(u accounts.User) userResponse {
	r := userResponse{
		ID: u.ID, Username: u.Username, Email: u.Email, Role: string(u.Role), IsRoot: u.IsRoot,
		ForcePasswordChange: u.ForcePasswordChange, Version: u.Version,
		CreatedAt: u.CreatedAt.UTC(), UpdatedAt: u.UpdatedAt.UTC(), LastLoginAt: u.LastLoginAt,
	}
	if u.AvatarKey != "" {
		url := "/api/v1/users/" + strconv.FormatInt(u.ID, 10) + "/avatar?v=" + strconv.Itoa(u.Version)
		r.AvatarURL = &url
	}
	return r
}

func (s *server) routeAPI(api *gin.RouterGroup) {
	api.GET("/openapi.json", func(c *gin.Context) {
		c.Header("Cache-Control", "public, max-age=300")
		c.Data(http.StatusOK, "application/json", s.openapi)
	})

	api.POST("/auth/tokens", s.createToken)
	api.DELETE("/auth/tokens", s.requireUser(true), s.revokeCurrentToken)
	api.DELETE("/auth/tokens/:id", s.requireUser(true), s.requireCSRF(), s.revokeToken)

	api.GET("/me", s.requireUser(true), s.me)
	api.GET("/status", s.requireUser(false), s.status)
	api.GET("/audit", s.requireAdmin(), s.audit)

	users := api.Group("/users")
	users.GET("", s.requireAdmin(), s.listUsers)
	users.POST("", s.requireAdmin(), s.requireCSRF(), s.createUser)
	users.GET("/:id", s.requireUser(false), s.getUser)
	users.PATCH("/:id", s.requireUser(false), s.requireCSRF(), s.patchUser)
	users.DELETE("/:id", s.requireAdmin(), s.requireCSRF(), s.deleteUser)
	users.PUT("/:id/password", s.requireUser(true), s.requireCSRF(), s.changePassword)
	users.POST("/:id/password-reset", s.requireAdmin(), s.requireCSRF(), s.resetPassword)
	users.GET("/:id/avatar", s.requireUser(false), s.getAvatar)
}

func (s *server) routeAvatarAPI(api *gin.RouterGroup) {
	api.PUT("/users/:id/avatar", s.requireUser(false), s.requireCSRF(), s.putAvatar)
}

type tokenRequest struct {
	Login    string `json:"login"`
	Password string `json:"password"`
	Name     string `json:"name"`
}

type tokenResponse struct {
	ID        int64        `json:"id"`
	Token     string       `json:"token"`
	TokenType string       `json:"token_type"`
	ExpiresAt time.Time    `json:"expires_at"`
	User      userResponse `json:"user"`
}

func (s *server) createToken(c *gin.Context) {
	var req tokenRequest
	if err := decodeJSON(c, &req); err != nil {
		fail(c, err)
		return
	}
	v := &accounts.ValidationError{Fields: map[string]string{}}
	if req.Login == "" {
		v.Fields["login"] = "is required (username or email)"
	}
	if req.Password == "" {
		v.Fields["password"] = "is required"
	}
	if len(v.Fields) > 0 {
		fail(c, v)
		return
	}
	u, err := s.deps.Accounts.Login(c.Request.Context(), accounts.LoginInput{
		Login: req.Login, Password: req.Password, ClientIP: c.ClientIP(), RequestID: requestID(c),
	})
	s.countLogin(err)
	if err != nil {
		fail(c, err)
		return
	}
	secret, sess, err := s.deps.Accounts.StartSession(c.Request.Context(), u, accounts.KindToken, req.Name)
	if err != nil {
		fail(c, err)
		return
	}
	c.JSON(http.StatusCreated, tokenResponse{ID: sess.ID, Token: secret, TokenType: "Bearer",
		ExpiresAt: sess.ExpiresAt.UTC(), User: toUserResponse(u)})
}

func (s *server) countLogin(err error) {
	var thr *accounts.ThrottledError
	switch {
	case err == nil:
		s.deps.Metrics.LoginAttempts.WithLabelValues("success").Inc()
	case errors.As(err, &thr):
		s.deps.Metrics.LoginAttempts.WithLabelValues("throttled").Inc()
	default:
		s.deps.Metrics.LoginAttempts.WithLabelValues("failure").Inc()
	}
}

func (s *server) revokeCurrentToken(c *gin.Context) {
	a, _ := actorFrom(c)
	if _, viaCookie := c.Get(ctxSessionRaw); viaCookie {
		fail(c, badRequest("this endpoint revokes the bearer token it is called with; sign out with POST /logout"))
		return
	}
	if err := s.deps.Accounts.Logout(c.Request.Context(), a); err != nil {
		fail(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}

func (s *server) revokeToken(c *gin.Context) {
	id, err := pathID(c)
	if err != nil {
		fail(c, err)
		return
	}
	a, _ := actorFrom(c)
	if err := s.deps.Accounts.RevokeToken(c.Request.Context(), a, id); err != nil {
		fail(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}

func (s *server) me(c *gin.Context) {
	a, _ := actorFrom(c)
	c.Header("ETag", etag(a.User.Version))
	writeUserJSON(c.Writer, http.StatusOK, toUserResponse(a.User))
}

type listResponse struct {
	Users      []userResponse `json:"users"`
	NextCursor *string        `json:"next_cursor"`
}

func (s *server) listUsers(c *gin.Context) {
	limit, err := queryInt(c, "limit")
	if err != nil {
		fail(c, err)
		return
	}
	a, _ := actorFrom(c)
	page, err := s.deps.Accounts.ListUsers(c.Request.Context(), a, c.Query("cursor"), limit)
	if err != nil {
		fail(c, err)
		return
	}
	resp := listResponse{Users: make([]userResponse, 0, len(page.Users))}
	for _, u := range page.Users {
		resp.Users = append(resp.Users, toUserResponse(u))
	}
	if page.NextCursor != "" {
		resp.NextCursor = &page.NextCursor
	}
	c.JSON(http.StatusOK, resp)
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

func (s *server) createUser(c *gin.Context) {
	var req createUserRequest
	if err := decodeJSON(c, &req); err != nil {
		fail(c, err)
		return
	}
	a, _ := actorFrom(c)
	u, err := s.deps.Accounts.CreateUser(c.Request.Context(), a, req.toNewUser())
	if err != nil {
		fail(c, err)
		return
	}
	c.Header("Location", "/api/v1/users/"+strconv.FormatInt(u.ID, 10))
	c.Header("ETag", etag(u.Version))
	writeUserJSON(c.Writer, http.StatusCreated, toUserResponse(u))
}

func (s *server) getUser(c *gin.Context) {
	id, err := pathID(c)
	if err != nil {
		fail(c, err)
		return
	}
	a, _ := actorFrom(c)
	u, err := s.deps.Accounts.GetUser(c.Request.Context(), a, id)
	if err != nil {
		fail(c, err)
		return
	}
	c.Header("ETag", etag(u.Version))
	writeUserJSON(c.Writer, http.StatusOK, toUserResponse(u))
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

func (s *server) patchUser(c *gin.Context) {
	id, err := pathID(c)
	if err != nil {
		fail(c, err)
		return
	}
	a, _ := actorFrom(c)
	m, err := ifMatchHeader(c)
	if errors.Is(err, errPreconditionRequired) {
		writeProblem(c, Problem{Type: problemType("precondition-required"), Status: http.StatusPreconditionRequired,
			Detail: "send If-Match with the user's ETag (from GET) so concurrent edits cannot overwrite each other"})
		return
	}
	if err != nil {
		fail(c, err)
		return
	}
	var req patchUserRequest
	if err := decodeJSON(c, &req); err != nil {
		fail(c, err)
		return
	}
	ctx := c.Request.Context()
	version, err := versionFor(ctx, m, func(ctx context.Context) (accounts.User, error) {
		return s.deps.Accounts.GetUser(ctx, a, id)
	})
	if err != nil {
		fail(c, err)
		return
	}
	u, err := s.deps.Accounts.UpdateUser(ctx, a, id, version, req.toPatch())
	if err != nil {
		fail(c, err)
		return
	}
	c.Header("ETag", etag(u.Version))
	writeUserJSON(c.Writer, http.StatusOK, toUserResponse(u))
}

func (s *server) deleteUser(c *gin.Context) {
	id, err := pathID(c)
	if err != nil {
		fail(c, err)
		return
	}
	a, _ := actorFrom(c)
	if err := s.deps.Accounts.DeleteUser(c.Request.Context(), a, id); err != nil {
		fail(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}

type changePasswordRequest struct {
	CurrentPassword string `json:"current_password"`
	NewPassword     string `json:"new_password"`
}

func (s *server) changePassword(c *gin.Context) {
	id, err := pathID(c)
	if err != nil {
		fail(c, err)
		return
	}
	var req changePasswordRequest
	if err := decodeJSON(c, &req); err != nil {
		fail(c, err)
		return
	}
	a, _ := actorFrom(c)
	u, err := s.deps.Accounts.ChangePassword(c.Request.Context(), a, id, req.CurrentPassword, req.NewPassword)
	if err != nil {
		fail(c, err)
		return
	}
	c.Header("ETag", etag(u.Version))
	writeUserJSON(c.Writer, http.StatusOK, toUserResponse(u))
}

type resetPasswordRequest struct {
	Password string `json:"password"`
}

type resetPasswordResponse struct {
	User              userResponse `json:"user"`
	TemporaryPassword *string      `json:"temporary_password"`
}

func (s *server) resetPassword(c *gin.Context) {
	id, err := pathID(c)
	if err != nil {
		fail(c, err)
		return
	}
	var req resetPasswordRequest
	if c.Request.ContentLength != 0 {
		if err := decodeJSON(c, &req); err != nil {
			fail(c, err)
			return
		}
	}
	a, _ := actorFrom(c)
	u, generated, err := s.deps.Accounts.ResetPassword(c.Request.Context(), a, id, req.Password)
	if err != nil {
		fail(c, err)
		return
	}
	resp := resetPasswordResponse{User: toUserResponse(u)}
	if generated != "" {
		resp.TemporaryPassword = &generated
	}
	c.Header("ETag", etag(u.Version))
	c.JSON(http.StatusOK, resp)
}

func (s *server) putAvatar(c *gin.Context) {
	id, err := pathID(c)
	if err != nil {
		fail(c, err)
		return
	}
	data, err := io.ReadAll(c.Request.Body)
	if err != nil {
		fail(c, err)
		return
	}
	a, _ := actorFrom(c)
	u, err := s.deps.Accounts.SetAvatar(c.Request.Context(), a, id, data)
	if err != nil {
		fail(c, err)
		return
	}
	c.Header("ETag", etag(u.Version))
	writeUserJSON(c.Writer, http.StatusOK, toUserResponse(u))
}

func (s *server) getAvatar(c *gin.Context) {
	id, err := pathID(c)
	if err != nil {
		fail(c, err)
		return
	}
	a, _ := actorFrom(c)
	rc, info, err := s.deps.Accounts.Avatar(c.Request.Context(), a, id)
	if err != nil {
		fail(c, err)
		return
	}
	defer rc.Close()
	serveBlob(c, rc, info)
}

// serveBlob streams an image we validated on upload; the sandbox CSP and
// nosniff stop a browser from treating it as anything else.
func serveBlob(c *gin.Context, rc io.Reader, info blob.Info) {
	ct := info.ContentType
	if ct != "image/png" && ct != "image/jpeg" {
		ct = "application/octet-stream"
	}
	c.Header("Content-Security-Policy", "default-src 'none'; sandbox")
	c.Header("Cache-Control", "private, max-age=3600")
	c.DataFromReader(http.StatusOK, info.Size, ct, rc, nil)
}

type auditEventResponse struct {
	ID         int64          `json:"id"`
	OccurredAt time.Time      `json:"occurred_at"`
	ActorID    *int64         `json:"actor_id"`
	ActorName  string         `json:"actor_name"`
	Action     string         `json:"action"`
	TargetID   *int64         `json:"target_id"`
	TargetName string         `json:"target_name"`
	RequestID  string         `json:"request_id"`
	ClientIP   string         `json:"client_ip"`
	Details    map[string]any `json:"details"`
}

func toAuditResponse(events []accounts.AuditEvent) []auditEventResponse {
	out := make([]auditEventResponse, 0, len(events))
	for _, e := range events {
		d := e.Details
		if d == nil {
			d = map[string]any{}
		}
		out = append(out, auditEventResponse{ID: e.ID, OccurredAt: e.OccurredAt.UTC(), ActorID: e.ActorID,
			ActorName: e.ActorName, Action: e.Action, TargetID: e.TargetID, TargetName: e.TargetName,
			RequestID: e.RequestID, ClientIP: e.ClientIP, Details: d})
	}
	return out
}

type auditResponse struct {
	Events     []auditEventResponse `json:"events"`
	NextBefore *int64               `json:"next_before"`
}

func (s *server) audit(c *gin.Context) {
	limit, err := queryInt(c, "limit")
	if err != nil {
		fail(c, err)
		return
	}
	before, err := queryInt64(c, "before")
	if err != nil {
		fail(c, err)
		return
	}
	a, _ := actorFrom(c)
	events, err := s.deps.Accounts.AuditTrail(c.Request.Context(), a, before, limit)
	if err != nil {
		fail(c, err)
		return
	}
	resp := auditResponse{Events: toAuditResponse(events)}
	if limit == 0 {
		limit = accounts.DefaultListLimit
	}
	// A full page may have a successor; the client asks with ?before=next_before.
	if n := len(events); n > 0 && n == limit {
		next := events[n-1].ID
		resp.NextBefore = &next
	}
	c.JSON(http.StatusOK, resp)
}

func (s *server) status(c *gin.Context) {
	a, _ := actorFrom(c)
	snap := s.deps.Status.Snapshot(c.Request.Context())
	out := gin.H{
		"build": snap.Build, "hostname": snap.Hostname, "pod": snap.Pod,
		"server_time": snap.ServerTime, "started_at": snap.StartedAt, "uptime_seconds": snap.Uptime,
		"runtime": snap.Runtime, "database": snap.Database, "user_count": snap.Users,
		"ready":        !s.deps.Readiness.Draining() && snap.Database.Up && snap.Database.MigrationVersion == snap.Database.MigrationLatest,
		"recent_audit": []auditEventResponse{},
	}
	// The trail names users and addresses: admins only.
	if a.User.IsAdmin() {
		if events, err := s.deps.Accounts.AuditTrail(c.Request.Context(), a, 0, 10); err == nil {
			out["recent_audit"] = toAuditResponse(events)
		}
	}
	c.JSON(http.StatusOK, out)
}
