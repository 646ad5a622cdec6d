package web

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"testing"

	"github.com/gin-gonic/gin"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/gopherops/gopherops/service/internal/accounts"
	"github.com/gopherops/gopherops/service/internal/blob"
	"github.com/gopherops/gopherops/service/internal/password"
	"github.com/gopherops/gopherops/service/internal/store/postgres"
	"github.com/gopherops/gopherops/service/pglocal/pgtest"
)

// TestMain stops the throwaway PostgreSQL the Authenticate tests start
// (only they do; the others never start one).
func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// authWorld is a real accounts service on a database of its own, with a
// user signed in through a browser session and a read-only API token, and
// root through a session of its own.
type authWorld struct {
	svc                  *accounts.Service
	alice, root          accounts.User
	session, rootSession string
	token                string
	sessionID, tokenID   int64
}

func newAuthWorld(t *testing.T) *authWorld {
	t.Helper()
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, pgtest.NewDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	svc := serviceOn(t, pool)
	w := &authWorld{svc: svc}
	mk := func(name string, role accounts.Role) accounts.User {
		u, err := svc.CreateFromCLI(ctx, accounts.NewUser{Username: name, Email: name + "@example.com",
			Password: "granite kettle of the northern harbour", Role: role})
		if err != nil {
			t.Fatal(err)
		}
		return u
	}
	w.root = mk("root", accounts.RoleAdmin)
	w.alice = mk("alice", accounts.RoleUser)
	var sess accounts.Session
	if w.session, sess, err = svc.StartSession(ctx, w.alice, accounts.SessionInput{Kind: accounts.KindSession}); err != nil {
		t.Fatal(err)
	}
	w.sessionID = sess.ID
	if w.token, sess, err = svc.StartSession(ctx, w.alice, accounts.SessionInput{Kind: accounts.KindToken, Name: "ci",
		Scopes: accounts.ScopeRead}); err != nil {
		t.Fatal(err)
	}
	w.tokenID = sess.ID
	if w.rootSession, _, err = svc.StartSession(ctx, w.root, accounts.SessionInput{Kind: accounts.KindSession}); err != nil {
		t.Fatal(err)
	}
	return w
}

// downService is an accounts service whose database refuses every
// connection (a port nothing listens on any more).
func downService(t *testing.T) *accounts.Service {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	_ = l.Close()
	cfg, err := pgxpool.ParseConfig(fmt.Sprintf("postgres://nobody@127.0.0.1:%d/none?connect_timeout=2", port))
	if err != nil {
		t.Fatal(err)
	}
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	return serviceOn(t, pool)
}

// serviceOn is an accounts service on pool (closed when the test ends),
// with fast hashing and no authentication cache, so every request asks the
// database.
func serviceOn(t *testing.T, pool *pgxpool.Pool) *accounts.Service {
	t.Helper()
	t.Cleanup(pool.Close)
	blobs, err := blob.NewFileStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	svc, err := accounts.NewService(accounts.Options{Store: postgres.New(pool), Hasher: password.NewHasher(password.FastParams),
		Blobs: blobs, AuthCacheTTL: -1})
	if err != nil {
		t.Fatal(err)
	}
	return svc
}

// authSeen is what the handler behind Authenticate saw.
type authSeen struct {
	SignedIn  bool   `json:"signed_in"`
	UserID    int64  `json:"user_id"`
	SessionID int64  `json:"session_id"`
	Scopes    string `json:"scopes"`
	Bound     string `json:"bound"` // the session secret CSRF tokens are bound to
	RequestID string `json:"request_id"`
	ActorReq  string `json:"actor_request_id"`
	ClientIP  string `json:"client_ip"`
	UserAgent string `json:"user_agent"`
}

// authRouter serves GET and POST /who behind Authenticate; fail records
// what it was given and answers 503.
func authRouter(t *testing.T, a *Auth, failed *[]error) *gin.Engine {
	t.Helper()
	gin.SetMode(gin.TestMode)
	r := gin.New()
	if err := r.SetTrustedProxies(nil); err != nil {
		t.Fatal(err)
	}
	fail := func(c *gin.Context, err error) {
		*failed = append(*failed, err)
		c.AbortWithStatus(http.StatusServiceUnavailable)
	}
	who := func(c *gin.Context) {
		var s authSeen
		if act, ok := Actor(c); ok {
			s = authSeen{SignedIn: true, UserID: act.User.ID, SessionID: act.SessionID, Scopes: act.Scopes.String(),
				ActorReq: act.RequestID, ClientIP: act.ClientIP, UserAgent: act.UserAgent}
		}
		s.Bound, _ = SessionSecret(c)
		s.RequestID = RequestID(c)
		c.JSON(http.StatusOK, s)
	}
	r.Use(WithRequestID(), a.Authenticate(fail))
	r.GET("/who", who)
	r.POST("/who", who)
	return r
}

// TestAuthenticate: a bearer token or else the session cookie names the
// actor; a malformed or bad Authorization header is a 401, never an
// anonymous request, while a bad session cookie makes the request anonymous
// and clears the cookie; a store that cannot answer goes to the surface's
// fail.
func TestAuthenticate(t *testing.T) {
	w := newAuthWorld(t)
	for _, secure := range []bool{false, true} {
		a := NewAuth(w.svc, secure, testKey)
		other := NewAuth(w.svc, !secure, testKey) // the other cookie names
		tests := []struct {
			name          string
			authorization string
			cookies       map[string]string
			status        int   // 200: the handler ran
			user          int64 // 0: anonymous
			sessionID     int64
			scopes        string
			bound         string // the session secret recorded
			cleared       bool   // the session cookie was cleared
		}{
			{name: "anonymous", status: 200},
			{name: "a bearer token", authorization: "Bearer " + w.token, status: 200, user: w.alice.ID, sessionID: w.tokenID, scopes: "read"},
			{name: "the scheme in lower case", authorization: "bearer " + w.token, status: 200, user: w.alice.ID, sessionID: w.tokenID, scopes: "read"},
			{name: "blanks around the token", authorization: "Bearer  " + w.token + " ", status: 200, user: w.alice.ID, sessionID: w.tokenID, scopes: "read"},
			{name: "a session cookie", cookies: map[string]string{a.SessionCookieName(): w.session}, status: 200,
				user: w.alice.ID, sessionID: w.sessionID, scopes: "read write admin", bound: w.session},
			{name: "a token beats a session cookie", authorization: "Bearer " + w.token,
				cookies: map[string]string{a.SessionCookieName(): w.rootSession}, status: 200, user: w.alice.ID, sessionID: w.tokenID, scopes: "read"},
			{name: "another scheme", authorization: "Basic cm9vdDp4", status: 401},
			{name: "another scheme beside a good cookie", authorization: "Basic cm9vdDp4",
				cookies: map[string]string{a.SessionCookieName(): w.session}, status: 401},
			{name: "a scheme alone", authorization: "Bearer", status: 401},
			{name: "a scheme and a blank", authorization: "Bearer ", status: 401},
			{name: "a scheme and blanks", authorization: "Bearer   ", status: 401},
			{name: "a token alone", authorization: w.token, status: 401},
			{name: "a forged token", authorization: "Bearer gpt_forged", status: 401},
			{name: "a session secret as a token", authorization: "Bearer " + w.session, status: 401},
			{name: "a forged session cookie", cookies: map[string]string{a.SessionCookieName(): "gos_forged"}, status: 200, cleared: true},
			{name: "a token as a session cookie", cookies: map[string]string{a.SessionCookieName(): w.token}, status: 200, cleared: true},
			{name: "an empty session cookie", cookies: map[string]string{a.SessionCookieName(): ""}, status: 200},
			{name: "the cookie under the other name", cookies: map[string]string{other.SessionCookieName(): w.session}, status: 200},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				var failed []error
				r := authRouter(t, a, &failed)
				req := httptest.NewRequest(http.MethodGet, "/who", nil)
				req.RemoteAddr = "192.0.2.10:4242"
				req.Header.Set("User-Agent", "test-agent/1")
				req.Header.Set("X-Request-ID", "rid-1")
				if tt.authorization != "" {
					req.Header.Set("Authorization", tt.authorization)
				}
				for name, v := range tt.cookies {
					req.AddCookie(&http.Cookie{Name: name, Value: v})
				}
				rec := httptest.NewRecorder()
				r.ServeHTTP(rec, req)
				if rec.Code != tt.status || len(failed) != 0 {
					t.Fatalf("secure %v: status %d (fail given %v), want %d: %s", secure, rec.Code, failed, tt.status, rec.Body)
				}
				cks := setCookies(t, rec)
				if ck := cks[a.SessionCookieName()]; tt.cleared != (ck != nil && ck.Value == "" && ck.MaxAge < 0) || len(cks) > 1 {
					t.Fatalf("cookies set %v, want the session cookie cleared: %v", rec.Header().Values("Set-Cookie"), tt.cleared)
				}
				if tt.status != 200 {
					if p := readProblem(t, rec); p.Type != ProblemType("unauthenticated") || rec.Header().Get("WWW-Authenticate") == "" {
						t.Fatalf("problem %+v", p)
					}
					return
				}
				var seen authSeen
				if err := json.Unmarshal(rec.Body.Bytes(), &seen); err != nil {
					t.Fatal(err)
				}
				want := authSeen{RequestID: "rid-1", Bound: tt.bound}
				if tt.user != 0 {
					want = authSeen{SignedIn: true, UserID: tt.user, SessionID: tt.sessionID, Scopes: tt.scopes, Bound: tt.bound,
						RequestID: "rid-1", ActorReq: "rid-1", ClientIP: "192.0.2.10", UserAgent: "test-agent/1"}
				}
				if seen != want {
					t.Fatalf("secure %v: saw %+v\nwant %+v", secure, seen, want)
				}
			})
		}
	}
}

// TestAuthenticateStoreDown: a credential that cannot be checked (the
// database is gone) is neither a 401 nor an anonymous request: the surface's
// fail answers (a 503 problem for the API, a page for the UI).
func TestAuthenticateStoreDown(t *testing.T) {
	w := newAuthWorld(t)
	a := NewAuth(downService(t), false, testKey)
	tests := []struct {
		name          string
		authorization string
		cookie        string
	}{
		{"a bearer token", "Bearer " + w.token, ""},
		{"a session cookie", "", w.session},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var failed []error
			r := authRouter(t, a, &failed)
			req := httptest.NewRequest(http.MethodPost, "/who", nil)
			if tt.authorization != "" {
				req.Header.Set("Authorization", tt.authorization)
			}
			if tt.cookie != "" {
				req.AddCookie(&http.Cookie{Name: a.SessionCookieName(), Value: tt.cookie})
			}
			rec := httptest.NewRecorder()
			r.ServeHTTP(rec, req)
			if rec.Code != http.StatusServiceUnavailable || len(failed) != 1 || errors.Is(failed[0], accounts.ErrUnauthenticated) {
				t.Fatalf("status %d, fail given %v; want fail given the store's error", rec.Code, failed)
			}
			if rec.Header().Get("Set-Cookie") != "" {
				t.Fatal("a session that could not be checked was cleared")
			}
		})
	}
	// With the API's fail, the same is a 503 problem a client may retry.
	t.Run("the API's answer", func(t *testing.T) {
		gin.SetMode(gin.TestMode)
		r := gin.New()
		r.GET("/api/v1/me", a.Authenticate(Fail), func(c *gin.Context) { c.Status(http.StatusNoContent) })
		req := httptest.NewRequest(http.MethodGet, "/api/v1/me", nil)
		req.Header.Set("Authorization", "Bearer "+w.token)
		rec := httptest.NewRecorder()
		r.ServeHTTP(rec, req)
		p := readProblem(t, rec)
		if rec.Code != http.StatusServiceUnavailable || p.Type != ProblemType("unavailable") || rec.Header().Get("Retry-After") == "" {
			t.Fatalf("answer %d %+v", rec.Code, p)
		}
	})
}
