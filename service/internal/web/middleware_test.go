package web

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"
)

// countingReader is a request body that records how much of it was read.
type countingReader struct {
	r    io.Reader
	read int
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.read += n
	return n, err
}

// TestLimitBody: a body over the limit is refused with 413, and one that
// declares its length over the limit is refused before a byte of it is read
// or a handler runs: a client cannot make the server read a gigabyte to
// learn that it was too much.
func TestLimitBody(t *testing.T) {
	gin.SetMode(gin.TestMode)
	const limit = 64
	tests := []struct {
		name    string
		size    int
		length  int64 // the declared Content-Length; -1 for none
		chunked bool  // Transfer-Encoding: chunked
		status  int   // the answer
		handled bool  // whether the handler ran
		maxRead int   // at most this many body bytes are read
	}{
		{"declared at the limit", limit, limit, false, http.StatusOK, true, limit},
		{"declared one over: refused up front", limit + 1, limit + 1, false, http.StatusRequestEntityTooLarge, false, 0},
		{"declared a gigabyte: refused up front", 1 << 20, 1 << 30, false, http.StatusRequestEntityTooLarge, false, 0},
		{"chunked within the limit", limit, -1, true, http.StatusOK, true, limit},
		{"chunked past the limit: reading stops at it", 1 << 20, -1, true, http.StatusRequestEntityTooLarge, true, limit + 1},
		{"no length (HTTP/2 stream) past the limit", 1 << 20, -1, false, http.StatusRequestEntityTooLarge, true, limit + 1},
		{"empty", 0, 0, false, http.StatusOK, true, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			handled := false
			r := gin.New()
			r.POST("/upload", LimitBody(limit, Fail), func(c *gin.Context) {
				handled = true
				b, err := io.ReadAll(c.Request.Body)
				if err != nil {
					Fail(c, err)
					return
				}
				c.String(http.StatusOK, "%d", len(b))
			})
			body := &countingReader{r: strings.NewReader(strings.Repeat("x", tt.size))}
			req := httptest.NewRequest(http.MethodPost, "/upload", body)
			req.ContentLength = tt.length
			if tt.chunked {
				req.TransferEncoding = []string{"chunked"}
			}
			w := httptest.NewRecorder()
			r.ServeHTTP(w, req)

			if w.Code != tt.status || handled != tt.handled {
				t.Fatalf("status %d, handler ran %v; want %d, %v", w.Code, handled, tt.status, tt.handled)
			}
			// io.ReadAll asks for more than the limit; MaxBytesReader
			// reads at most one byte past it to tell that the body is over.
			if body.read > tt.maxRead {
				t.Fatalf("read %d bytes of the body, want at most %d", body.read, tt.maxRead)
			}
			if tt.status == http.StatusOK {
				if got := w.Body.String(); got != strconv.Itoa(tt.size) {
					t.Fatalf("the handler read %s bytes, want %d", got, tt.size)
				}
				return
			}
			var p Problem
			if err := json.Unmarshal(w.Body.Bytes(), &p); err != nil || w.Header().Get("Content-Type") != ProblemContentType {
				t.Fatalf("not a problem document (%s): %s", w.Header().Get("Content-Type"), w.Body)
			}
			if p.Type != ProblemType("too-large") || !strings.Contains(p.Detail, "at most 64 bytes") {
				t.Fatalf("problem %+v, want too-large naming the limit", p)
			}
		})
	}
}

// TestLimitBodyFail: the refusal goes through the caller's fail (the UI
// answers with a page), carrying the limit.
func TestLimitBodyFail(t *testing.T) {
	gin.SetMode(gin.TestMode)
	var got error
	r := gin.New()
	r.POST("/form", LimitBody(10, func(c *gin.Context, err error) {
		got = err
		c.AbortWithStatus(http.StatusTeapot)
	}), func(c *gin.Context) { t.Error("the handler ran after the refusal") })
	req := httptest.NewRequest(http.MethodPost, "/form", strings.NewReader(strings.Repeat("x", 11)))
	w := httptest.NewRecorder()
	r.ServeHTTP(w, req)
	var tooBig *http.MaxBytesError
	if w.Code != http.StatusTeapot || !errors.As(got, &tooBig) || tooBig.Limit != 10 {
		t.Fatalf("status %d, fail given %v; want the caller's answer and a MaxBytesError of 10", w.Code, got)
	}
}

// TestHeadAsGet: HEAD answers as GET does, status and headers, without the
// content (RFC 9110 §9.3.2); other methods pass through unchanged, and a
// route without GET does not gain HEAD.
func TestHeadAsGet(t *testing.T) {
	gin.SetMode(gin.TestMode)
	r := gin.New()
	r.HandleMethodNotAllowed = true
	var methods []string
	r.GET("/page", func(c *gin.Context) {
		methods = append(methods, c.Request.Method)
		c.Header("ETag", `"7"`)
		c.String(http.StatusOK, "hello")
	})
	r.GET("/missing", func(c *gin.Context) { c.String(http.StatusNotFound, "no such page") })
	r.POST("/form", func(c *gin.Context) {
		methods = append(methods, c.Request.Method)
		c.String(http.StatusOK, "posted")
	})
	h := HeadAsGet(r)
	tests := []struct {
		method, path string
		status       int
		body         string
		etag         string
		seen         string // the method the handler saw; "" when none ran
	}{
		{http.MethodHead, "/page", http.StatusOK, "", `"7"`, http.MethodGet},
		{http.MethodGet, "/page", http.StatusOK, "hello", `"7"`, http.MethodGet},
		{http.MethodHead, "/missing", http.StatusNotFound, "", "", ""},
		{http.MethodPost, "/form", http.StatusOK, "posted", "", http.MethodPost},
		{http.MethodHead, "/form", http.StatusMethodNotAllowed, "", "", ""},
		{http.MethodHead, "/nowhere", http.StatusNotFound, "", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			methods = nil
			req := httptest.NewRequest(tt.method, tt.path, nil)
			w := httptest.NewRecorder()
			h.ServeHTTP(w, req)
			if w.Code != tt.status || w.Body.String() != tt.body || w.Header().Get("ETag") != tt.etag {
				t.Fatalf("%d %q ETag %q; want %d %q ETag %q", w.Code, w.Body, w.Header().Get("ETag"), tt.status, tt.body, tt.etag)
			}
			if seen := strings.Join(methods, ","); seen != tt.seen {
				t.Fatalf("the handler saw %q, want %q", seen, tt.seen)
			}
			if req.Method != tt.method {
				t.Fatalf("the caller's request became %s", req.Method)
			}
		})
	}
}

// TestHeadWriterUnwraps: a handler answering HEAD can still reach the
// connection's writer through http.ResponseController (to flush, or set a
// deadline), while what it writes is dropped.
func TestHeadWriterUnwraps(t *testing.T) {
	w := httptest.NewRecorder()
	HeadAsGet(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if n, err := w.Write([]byte("content")); n != len("content") || err != nil {
			t.Errorf("write = %d, %v; a HEAD handler must see its writes succeed", n, err)
		}
		if err := http.NewResponseController(w).Flush(); err != nil {
			t.Errorf("flush through the HEAD writer: %v", err)
		}
	})).ServeHTTP(w, httptest.NewRequest(http.MethodHead, "/", nil))
	if !w.Flushed || w.Body.Len() != 0 {
		t.Fatalf("flushed %v, body %q; want flushed and empty", w.Flushed, w.Body)
	}
}
