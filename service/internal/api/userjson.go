package api

import (
	"net/http"
	"strconv"
	"sync"
)

// jsonBuffers recycles the buffers user bodies are built in.
var jsonBuffers = sync.Pool{New: func() any { b := make([]byte, 0, 512); return &b }}

// writeAppended writes v's JSON as the response body with status.
func writeAppended(w http.ResponseWriter, status int, v jsonAppender) {
	bp := jsonBuffers.Get().(*[]byte)
	b := v.AppendJSON((*bp)[:0])
	h := w.Header()
	h["Content-Type"] = jsonContentType
	h["Content-Length"] = []string{strconv.Itoa(len(b))}
	w.WriteHeader(status)
	_, _ = w.Write(b)
	*bp = b
	jsonBuffers.Put(bp)
}

var jsonContentType = []string{"application/json; charset=utf-8"}
