package main

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestGoGeneratorCountsRepliesAndErrors(t *testing.T) {
	var mu sync.Mutex
	seen := map[string]int{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		seen[r.URL.Path]++
		mu.Unlock()
		switch {
		case r.Header.Get("Authorization") != "Bearer t":
			w.WriteHeader(http.StatusUnauthorized)
		case strings.HasSuffix(r.URL.Path, "/bad"):
			w.WriteHeader(http.StatusInternalServerError)
		case r.Method == http.MethodPost && !strings.HasPrefix(string(body), "n="):
			w.WriteHeader(http.StatusBadRequest)
		}
	}))
	defer srv.Close()
	gen := &goGenerator{client: newClient(4)}
	auth := http.Header{"Authorization": {"Bearer t"}}
	tests := []struct {
		name       string
		t          target
		wantErrors bool
	}{
		{name: "every reply as wanted", t: target{method: http.MethodGet, paths: []string{"/a", "/b"}, header: auth, want: 200}},
		{name: "bodies per request", t: target{method: http.MethodPost, paths: []string{"/c"}, header: auth, want: 200,
			body: func(n int64) io.Reader { return strings.NewReader("n=" + time.Duration(n).String()) }}},
		{name: "other statuses are errors", t: target{method: http.MethodGet, paths: []string{"/a", "/bad"}, header: auth, want: 200}, wantErrors: true},
		{name: "missing header is an error", t: target{method: http.MethodGet, paths: []string{"/a"}, want: 200}, wantErrors: true},
		{name: "refused connection is an error", t: target{method: http.MethodGet, base: "http://127.0.0.1:1", paths: []string{"/a"}, want: 200}, wantErrors: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.t.base == "" {
				tt.t.base = srv.URL
			}
			s, err := gen.load(context.Background(), tt.t, 4, 200*time.Millisecond)
			if err != nil {
				t.Fatal(err)
			}
			if s.requests == 0 {
				t.Fatal("no requests sent")
			}
			if gotErrors := s.errors > 0; gotErrors != tt.wantErrors {
				t.Fatalf("errors = %d (first %v), want errors: %v", s.errors, s.firstErr, tt.wantErrors)
			}
			if !tt.wantErrors && (s.rps <= 0 || s.p50 <= 0 || s.p99 < s.p50) {
				t.Errorf("implausible figures: %+v", s)
			}
		})
	}
	if seen["/a"] == 0 || seen["/b"] == 0 {
		t.Errorf("paths not rotated: %v", seen)
	}
}
