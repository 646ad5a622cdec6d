package web

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/gin-gonic/gin"

	"github.com/gopherops/gopherops/service/internal/accounts"
)

// seen is what a handler read of its request's record.
type seen struct {
	id, session, clientIP string
	signedIn              bool
	userID                int64
	keys                  int
}

// recordRouter answers GET /in (signs in as the user named by the X-User
// header, with a session) and GET /out (anonymous), reporting what each
// handler saw, so a test can tell whether a recycled record carries
// anything from the request before it.
func recordRouter(t *testing.T, front ...gin.HandlerFunc) (*gin.Engine, chan seen) {
	t.Helper()
	gin.SetMode(gin.TestMode)
	out := make(chan seen, 1024)
	look := func(c *gin.Context) {
		s := seen{id: RequestID(c), clientIP: ClientIP(c), keys: len(c.Keys)}
		s.session, _ = SessionSecret(c)
		if a, ok := Actor(c); ok {
			s.signedIn, s.userID = true, a.User.ID
		}
		out <- s
		c.Status(http.StatusNoContent)
	}
	r := gin.New()
	r.Use(front...)
	r.Use(WithRequestID())
	r.GET("/in", func(c *gin.Context) {
		var id int64
		_, _ = fmt.Sscan(c.GetHeader("X-User"), &id)
		SetActor(c, accounts.Actor{User: accounts.User{ID: id}, ClientIP: ClientIP(c)})
		SetSession(c, fmt.Sprintf("secret-of-%d", id))
		c.Set("extra", id) // a key of gin's own beside the record
		look(c)
	})
	r.GET("/out", look)
	return r, out
}

func get(r http.Handler, path, id, user string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodGet, path, nil)
	if id != "" {
		req.Header.Set("X-Request-ID", id)
	}
	if user != "" {
		req.Header.Set("X-User", user)
	}
	w := httptest.NewRecorder()
	r.ServeHTTP(w, req)
	return w
}

// TestRequestRecordRecycled: WithRequestID reuses its records and their
// maps, so a request must never see the signed-in actor, the session secret,
// the id or the context keys of a request before it, and every response
// echoes its own request's id even while records are handed from request to
// request concurrently (net/http writes the header after the record has
// gone back).
func TestRequestRecordRecycled(t *testing.T) {
	r, out := recordRouter(t)

	// Sequential: a signed-in request, then anonymous ones on the same
	// goroutine, where the pool hands back the record just returned.
	for i := range 50 {
		user := fmt.Sprint(i + 1)
		if w := get(r, "/in", "in-"+user, user); w.Header().Get("X-Request-Id") != "in-"+user {
			t.Fatalf("signed-in request %d echoed id %q", i, w.Header().Get("X-Request-Id"))
		}
		if s := <-out; !s.signedIn || s.userID != int64(i+1) || s.session != "secret-of-"+user || s.keys != 2 {
			t.Fatalf("signed-in request %d saw %+v", i, s)
		}
		w := get(r, "/out", "", "")
		s := <-out
		if s.signedIn || s.userID != 0 || s.session != "" || s.id == "" || s.id == "in-"+user || s.keys != 1 {
			t.Fatalf("anonymous request after user %s saw %+v", user, s)
		}
		if got := w.Header().Get("X-Request-Id"); got != s.id {
			t.Fatalf("anonymous request echoed id %q, its handler saw %q", got, s.id)
		}
	}

	// Concurrent: 8 goroutines alternating signed-in and anonymous
	// requests, each checking its own answer.
	var wg sync.WaitGroup
	errs := make(chan error, 8+8*200)
	for g := range 8 {
		wg.Go(func() {
			for i := range 200 {
				id := fmt.Sprintf("g%d-%d", g, i)
				path, user := "/out", ""
				if i%2 == 0 {
					path, user = "/in", fmt.Sprint(g*1000+i+1)
				}
				if got := get(r, path, id, user).Header().Get("X-Request-Id"); got != id {
					errs <- fmt.Errorf("request %s echoed %q", id, got)
					return
				}
			}
		})
	}
	collected := make(chan struct{})
	go func() {
		defer close(collected)
		for s := range out {
			switch {
			case s.signedIn && s.session != fmt.Sprintf("secret-of-%d", s.userID):
				errs <- fmt.Errorf("user %d saw session %q", s.userID, s.session)
			case !s.signedIn && (s.session != "" || s.userID != 0 || s.keys != 1):
				errs <- fmt.Errorf("anonymous request saw %+v", s)
			}
		}
	}()
	wg.Wait()
	close(out)
	<-collected
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// TestRequestRecordKeepsEarlierKeys: a middleware in front of
// WithRequestID that set a key keeps it; the record then joins the
// context's own map instead of lending its own.
func TestRequestRecordKeepsEarlierKeys(t *testing.T) {
	r, out := recordRouter(t, func(c *gin.Context) { c.Set("front", true); c.Next() })
	for range 3 {
		get(r, "/in", "k1", "7")
		if s := <-out; !s.signedIn || s.userID != 7 || s.session != "secret-of-7" || s.keys != 3 {
			t.Fatalf("signed-in request saw %+v", s)
		}
		get(r, "/out", "k2", "")
		if s := <-out; s.signedIn || s.session != "" || s.id != "k2" || s.keys != 2 {
			t.Fatalf("anonymous request saw %+v", s)
		}
	}
}
