package api

import (
	"errors"
	"maps"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/gopherops/gopherops/service/contract"
	"github.com/gopherops/gopherops/service/internal/accounts"
	"github.com/gopherops/gopherops/service/internal/web"
)

type tokenRequest struct {
	Login    string   `json:"login"`
	Password string   `json:"password"`
	Name     string   `json:"name"`
	Scopes   []string `json:"scopes"`
	// ExpiresIn is the token's lifetime in seconds; nil means the default.
	ExpiresIn *int64 `json:"expires_in"`
}

type tokenResponse struct {
	ID        int64         `json:"id"`
	Token     string        `json:"token"`
	TokenType string        `json:"token_type"`
	Name      string        `json:"name"`
	Scopes    []string      `json:"scopes"`
	ExpiresAt time.Time     `json:"expires_at"`
	User      contract.User `json:"user"`
}

// sessionInput checks the token's own fields before any password is
// verified, so a request that cannot succeed costs no hash.
func (r tokenRequest) sessionInput(c *gin.Context, v *accounts.ValidationError) accounts.SessionInput {
	in := accounts.SessionInput{Kind: accounts.KindToken, Name: r.Name, UserAgent: c.Request.UserAgent(), ClientIP: web.ClientIP(c)}
	scopes, err := accounts.ParseScopes(r.Scopes)
	var sv *accounts.ValidationError
	if errors.As(err, &sv) {
		maps.Copy(v.Fields, sv.Fields)
	}
	in.Scopes = scopes
	if r.ExpiresIn != nil {
		// Bounded before the multiplication, so it cannot overflow.
		if secs := *r.ExpiresIn; secs > 0 && secs <= maxExpiresIn {
			in.TTL = time.Duration(secs) * time.Second
		} else {
			v.Fields["expires_in"] = "must be a positive number of seconds within the maximum lifetime"
		}
	}
	return in
}

// maxExpiresIn bounds expires_in before the domain checks it against the
// configured maximum: ten years in seconds.
const maxExpiresIn = 10 * 366 * 24 * 3600

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
	in := req.sessionInput(c, v)
	var sv *accounts.ValidationError
	if err := h.Accounts.CheckSession(in); errors.As(err, &sv) {
		maps.Copy(v.Fields, sv.Fields)
	}
	if len(v.Fields) > 0 {
		return noBody(v)
	}
	ctx := c.Request.Context()
	u, err := h.Accounts.Login(ctx, accounts.LoginInput{
		Login: req.Login, Password: req.Password, ClientIP: web.ClientIP(c), RequestID: web.RequestID(c),
		UserAgent: c.Request.UserAgent(),
	})
	web.CountLogin(h.Metrics, err)
	if err != nil {
		return noBody(err)
	}
	secret, sess, err := h.Accounts.StartSession(ctx, u, in)
	if err != nil {
		return noBody(err)
	}
	return http.StatusCreated, tokenResponse{ID: sess.ID, Token: secret, TokenType: "Bearer", Name: sess.Name,
		Scopes: sess.Scopes.Names(), ExpiresAt: sess.ExpiresAt.UTC(), User: toUserResponse(u)}, nil
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
