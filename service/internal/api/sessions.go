package api

import (
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/gopherops/gopherops/service/internal/accounts"
	"github.com/gopherops/gopherops/service/internal/web"
)

// sessionResponse is the API's view of a sign-in: never its secret, nor
// the secret's hash.
type sessionResponse struct {
	ID         int64     `json:"id"`
	Kind       string    `json:"kind"`
	Name       string    `json:"name"`
	UserAgent  string    `json:"user_agent"`
	ClientIP   string    `json:"client_ip"`
	Scopes     []string  `json:"scopes"`
	CreatedAt  time.Time `json:"created_at"`
	LastUsedAt time.Time `json:"last_used_at"`
	ExpiresAt  time.Time `json:"expires_at"`
	Current    bool      `json:"current"`
}

type sessionsResponse struct {
	Sessions []sessionResponse `json:"sessions"`
}

func toSessionResponse(s accounts.Session, currentID int64) sessionResponse {
	return sessionResponse{ID: s.ID, Kind: string(s.Kind), Name: s.Name, UserAgent: s.UserAgent, ClientIP: s.ClientIP,
		Scopes: s.Scopes.Names(), CreatedAt: s.CreatedAt.UTC(), LastUsedAt: s.LastUsedAt.UTC(),
		ExpiresAt: s.ExpiresAt.UTC(), Current: s.ID == currentID}
}

func (h *handlers) listSessions(c *gin.Context) (int, any, error) {
	id, err := web.PathID(c)
	if err != nil {
		return noBody(err)
	}
	a, _ := web.Actor(c)
	list, err := h.Accounts.ListSessions(c.Request.Context(), a, id)
	if err != nil {
		return noBody(err)
	}
	resp := sessionsResponse{Sessions: make([]sessionResponse, 0, len(list))}
	for _, s := range list {
		resp.Sessions = append(resp.Sessions, toSessionResponse(s, a.SessionID))
	}
	c.Header("Cache-Control", "no-store")
	return http.StatusOK, resp, nil
}

func (h *handlers) revokeSession(c *gin.Context) (int, any, error) {
	id, err := web.PathID(c)
	if err != nil {
		return noBody(err)
	}
	sid, err := strconv.ParseInt(c.Param("sid"), 10, 64)
	if err != nil || sid <= 0 {
		return noBody(web.BadRequest("the session id in the path must be a positive integer"))
	}
	a, _ := web.Actor(c)
	if err := h.Accounts.RevokeSession(c.Request.Context(), a, id, sid); err != nil {
		return noBody(err)
	}
	return http.StatusNoContent, nil, nil
}

type revokedResponse struct {
	Revoked int64 `json:"revoked"`
}

func (h *handlers) revokeOtherSessions(c *gin.Context) (int, any, error) {
	id, err := web.PathID(c)
	if err != nil {
		return noBody(err)
	}
	a, _ := web.Actor(c)
	n, err := h.Accounts.RevokeOtherSessions(c.Request.Context(), a, id)
	if err != nil {
		return noBody(err)
	}
	return http.StatusOK, revokedResponse{Revoked: n}, nil
}

func (h *handlers) disableUser(c *gin.Context) (int, any, error) { return h.setDisabled(c, true) }

func (h *handlers) enableUser(c *gin.Context) (int, any, error) { return h.setDisabled(c, false) }

func (h *handlers) setDisabled(c *gin.Context, disabled bool) (int, any, error) {
	id, err := web.PathID(c)
	if err != nil {
		return noBody(err)
	}
	a, _ := web.Actor(c)
	u, err := h.Accounts.SetDisabled(c.Request.Context(), a, id, disabled)
	if err != nil {
		return noBody(err)
	}
	return userBody(c, http.StatusOK, u)
}
