package ui

import (
	"bytes"
	"io"
	"net/http"
	"strconv"
	"sync"

	"github.com/gin-gonic/gin"

	"github.com/gopherops/gopherops/service/internal/web"
)

// handlerFunc is a page handler: it returns what to answer, or an error for
// the adapter to classify. It never writes to the response itself, so a
// test can call it and look at what it decided.
type handlerFunc func(c *gin.Context) (result, error)

// result is a handler's answer; the adapter writes it.
type result interface {
	write(r *responder, c *gin.Context)
}

// page is a template rendered in the layout.
type page struct {
	Status int
	Name   string // the view, a key of views
	Title  string
	Alert  string // a sentence for the page's alert; "" for none
	Data   any    // the page's view model
	// Header holds extra response headers (Retry-After on a 503).
	Header map[string]string
}

// redirect answers with 303 See Other, carrying a flash to the page it
// leads to (POST-redirect-GET), so reloading a page never sends a form again.
type redirect struct {
	To    string
	Flash *pageFlash
}

// fragment is one part of a page rendered alone: the part of the
// dashboard its script fetches and swaps in.
type fragment struct {
	Name  string // the page
	Block string // the part of it, a key of fragments with the page
	Data  any
}

// download is a file the browser saves rather than shows.
type download struct {
	Filename    string
	ContentType string
	Body        []byte
}

// stream is a file the browser saves, written as it is produced: an export
// too large to hold in memory. Nothing is sent before Write writes, so an
// error it returns first is still answered as a page.
type stream struct {
	Filename    string
	ContentType string
	Write       func(w io.Writer) error
}

// handle adapts a handlerFunc: an error becomes the page (or redirect) that
// failure classifies it as; otherwise the result is written.
func (r *responder) handle(h handlerFunc) gin.HandlerFunc {
	return func(c *gin.Context) {
		res, err := h(c)
		if err != nil {
			res = r.failure(c, err)
		}
		res.write(r, c)
	}
}

// abort writes res and stops the chain: how middleware refuses a request.
func (r *responder) abort(c *gin.Context, res result) {
	res.write(r, c)
	c.Abort()
}

// pageBuffers recycles the buffers pages are rendered into.
var pageBuffers = sync.Pool{New: func() any { return new(bytes.Buffer) }}

func (p page) write(r *responder, c *gin.Context) {
	buf := pageBuffers.Get().(*bytes.Buffer)
	buf.Reset()
	defer pageBuffers.Put(buf)
	if err := r.renderPage(c, p, buf); err != nil {
		r.log.ErrorContext(c.Request.Context(), "render page", "page", p.Name, "request_id", web.RequestID(c), "err", err)
		c.String(http.StatusInternalServerError, "Something went wrong on our side. Request id: %s", web.RequestID(c))
		return
	}
	for k, v := range p.Header {
		c.Header(k, v)
	}
	c.Header("Cache-Control", "no-store")
	status := p.Status
	if status == 0 {
		status = http.StatusOK
	}
	c.Data(status, "text/html; charset=utf-8", buf.Bytes())
}

func (rd redirect) write(r *responder, c *gin.Context) {
	if rd.Flash != nil {
		r.setFlash(c, *rd.Flash)
	}
	c.Redirect(http.StatusSeeOther, rd.To)
}

func (f fragment) write(r *responder, c *gin.Context) {
	// Not pageData: a poll must not take the flash meant for the page the
	// browser is about to load after a form.
	pd := pageData{Data: f.Data}
	if a, ok := web.Actor(c); ok {
		u := a.User
		pd.Actor = &u
	}
	var buf bytes.Buffer
	view, ok := fragments[f.Name+"/"+f.Block]
	if !ok {
		r.log.ErrorContext(c.Request.Context(), "no such fragment", "page", f.Name, "block", f.Block)
		c.String(http.StatusInternalServerError, "render failed")
		return
	}
	if err := view(pd).Render(c.Request.Context(), &buf); err != nil {
		r.log.ErrorContext(c.Request.Context(), "render fragment", "page", f.Name, "request_id", web.RequestID(c), "err", err)
		c.String(http.StatusInternalServerError, "render failed")
		return
	}
	c.Header("Cache-Control", "no-store")
	c.Data(http.StatusOK, "text/html; charset=utf-8", buf.Bytes())
}

func (d download) write(_ *responder, c *gin.Context) {
	c.Header("Cache-Control", "no-store")
	c.Header("Content-Disposition", `attachment; filename="`+d.Filename+`"`)
	c.Header("Content-Length", strconv.Itoa(len(d.Body)))
	c.Data(http.StatusOK, d.ContentType, d.Body)
}

func (s stream) write(r *responder, c *gin.Context) {
	w := &lazyWriter{c: c, start: func() {
		c.Header("Cache-Control", "no-store")
		c.Header("Content-Type", s.ContentType)
		c.Header("Content-Disposition", `attachment; filename="`+s.Filename+`"`)
		c.Status(http.StatusOK)
	}}
	err := s.Write(w)
	switch {
	case err == nil && !w.started:
		w.start()
		c.Writer.WriteHeaderNow()
	case err != nil && !w.started:
		r.failure(c, err).write(r, c)
	case err != nil:
		// Half a file must not look like a whole one: break the connection
		// so the browser reports a failed download.
		r.log.ErrorContext(c.Request.Context(), "download cut short", "file", s.Filename, "request_id", web.RequestID(c), "err", err)
		panic(http.ErrAbortHandler)
	}
}

// lazyWriter sends the response's headers with its first bytes.
type lazyWriter struct {
	c       *gin.Context
	start   func()
	started bool
}

func (w *lazyWriter) Write(p []byte) (int, error) {
	if !w.started {
		w.started = true
		w.start()
	}
	return w.c.Writer.Write(p)
}
