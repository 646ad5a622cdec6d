package api

import (
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/gopherops/gopherops/service/contract"
	"github.com/gopherops/gopherops/service/internal/accounts"
	"github.com/gopherops/gopherops/service/internal/web"
)

type tokenRequest struct {
	Login    string `json:"login"`
	Password string `json:"password"`
	Name     string `json:"name"`
}

type tokenResponse struct {
	ID        int64         `json:"id"`
	Token     string        `json:"token"`
	TokenType string        `json:"token_type"`
	ExpiresAt time.Time     `json:"expires_at"`
	User      contract.User `json:"user"`
}

func (h *handlers) createToken(c *gin.Context) (int, any, error) {
	var req tokenRequest
	if err := web.DecodeJSON(c, &req); err != nil {
		return noBody(err)
	}
	v := &accounts.ValidationError{Fields: map[string]string{}}
	if req.Login == "" {
		v.Fields["login"] = "is required (username or email)"
	}
	if req.Password == "" {
		v.Fields["password"] = "is required"
	}
	if len(v.Fields) > 0 {
		return noBody(v)
	}
	ctx := c.Request.Context()
	u, err := h.Accounts.Login(ctx, accounts.LoginInput{
		Login: req.Login, Password: req.Password, ClientIP: c.ClientIP(), RequestID: web.RequestID(c),
		UserAgent: c.Request.UserAgent(),
	})
	web.CountLogin(h.Metrics, err)
	if err != nil {
		return noBody(err)
	}
	secret, sess, err := h.Accounts.StartSession(ctx, u, accounts.KindToken, req.Name)
	if err != nil {
		return noBody(err)
	}
	return http.StatusCreated, tokenResponse{ID: sess.ID, Token: secret, TokenType: "Bearer",
		ExpiresAt: sess.ExpiresAt.UTC(), User: toUserResponse(u)}, nil
}

func (h *handlers) revokeCurrentToken(c *gin.Context) (int, any, error) {
	a, _ := web.Actor(c)
	if _, viaCookie := web.SessionSecret(c); viaCookie {
		return noBody(web.BadRequest("this endpoint revokes the bearer token it is called with; sign out with POST /logout"))
	}
	if err := h.Accounts.Logout(c.Request.Context(), a); err != nil {
		return noBody(err)
	}
	return http.StatusNoContent, nil, nil
}

func (h *handlers) revokeToken(c *gin.Context) (int, any, error) {
	id, err := web.PathID(c)
	if err != nil {
		return noBody(err)
	}
	a, _ := web.Actor(c)
	if err := h.Accounts.RevokeToken(c.Request.Context(), a, id); err != nil {
		return noBody(err)
	}
	return http.StatusNoContent, nil, nil
}
