package api

import (
	"io"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/gopherops/gopherops/service/internal/blob"
	"github.com/gopherops/gopherops/service/internal/web"
)

func (h *handlers) putAvatar(c *gin.Context) (int, any, error) {
	id, err := web.PathID(c)
	if err != nil {
		return noBody(err)
	}
	data, err := web.ReadBody(c, maxAvatarBytes)
	if err != nil {
		return noBody(err)
	}
	a, _ := web.Actor(c)
	u, err := h.Accounts.SetAvatar(c.Request.Context(), a, id, data)
	if err != nil {
		return noBody(err)
	}
	return userBody(c, http.StatusOK, u)
}

// getAvatar streams the image rather than returning a body.
func (h *handlers) getAvatar(c *gin.Context) {
	id, err := web.PathID(c)
	if err != nil {
		web.Fail(c, err)
		return
	}
	a, _ := web.Actor(c)
	rc, info, err := h.Accounts.Avatar(c.Request.Context(), a, id)
	if err != nil {
		web.Fail(c, err)
		return
	}
	defer rc.Close()
	serveBlob(c, rc, info)
}

// serveBlob streams an image we validated and re-encoded on upload; the
// sandbox CSP and nosniff stop a browser from treating it as anything else.
func serveBlob(c *gin.Context, rc io.Reader, info blob.Info) {
	ct := info.ContentType
	if ct != "image/png" && ct != "image/jpeg" {
		ct = "application/octet-stream"
	}
	c.Header("Content-Security-Policy", "default-src 'none'; sandbox")
	c.Header("Cache-Control", "private, max-age=3600")
	c.DataFromReader(http.StatusOK, info.Size, ct, rc, nil)
}
