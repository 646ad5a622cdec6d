// Package apptest starts the service as the tests need it: one instance per
// test on a database of its own, built by the same composition root as the
// server (app.NewHandler), behind a real HTTP server, with clients whose
// every API answer is checked against the OpenAPI document.
package apptest

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"flag"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	apicontract "github.com/gopherops/gopherops/service/contract"
	"github.com/gopherops/gopherops/service/internal/accounts"
	"github.com/gopherops/gopherops/service/internal/api"
	"github.com/gopherops/gopherops/service/internal/app"
	"github.com/gopherops/gopherops/service/internal/blob"
	"github.com/gopherops/gopherops/service/internal/config"
	"github.com/gopherops/gopherops/service/internal/observability"
	"github.com/gopherops/gopherops/service/internal/password"
	"github.com/gopherops/gopherops/service/internal/status"
	"github.com/gopherops/gopherops/service/internal/store/postgres"
	"github.com/gopherops/gopherops/service/internal/throttle"
	"github.com/gopherops/gopherops/service/pglocal/pgtest"
)

// Main runs a package's tests and stops the throwaway PostgreSQL; with
// coverage, the run also fails when a documented API operation went
// unexercised (a filtered -run is exempt).
func Main(m *testing.M, coverage bool) int {
	code := pgtest.Main(m)
	if code == 0 && coverage {
		code = checkCoverage()
	}
	return code
}

// Passwords of the root admin every Env has and of the users CreateUser makes.
const (
	RootPassword = "correct-stable-gopher-orbit"
	UserPassword = "quiet-lantern-harbor-maple"
)

// Env is one service instance on a fresh database behind a real HTTP server.
type Env struct {
	T       testing.TB
	Srv     *httptest.Server
	Pool    *pgxpool.Pool
	Svc     *accounts.Service
	Metrics *observability.Metrics
	Ready   *app.Readiness
	Root    accounts.User
	Logs    *SyncBuffer
}

// Options change how New builds the service.
type Options struct {
	// Limiter replaces the generous per-address sign-in limiter.
	Limiter accounts.Limiter
	// Config edits the configuration before the handler is built.
	Config func(*config.Config)
	// ConfigURL edits it too, given the URL the service will answer on (for
	// OIDC_REDIRECT_URL).
	ConfigURL func(cfg *config.Config, serverURL string)
	// DatabaseURL, when set, is given the test database's URL and returns
	// the one to connect to (a proxy the test can cut, for one).
	DatabaseURL func(string) string
	// NoAuthCache makes every request authenticate against the database.
	NoAuthCache bool
}

// New starts a service for t: a migrated database of its own, the root
// admin (RootPassword), and the handler app.NewHandler builds.
func New(t testing.TB, opts ...Options) *Env {
	t.Helper()
	ctx := context.Background()
	var o Options
	if len(opts) > 0 {
		o = opts[0]
	}
	dbURL := pgtest.NewDatabase(t)
	if o.DatabaseURL != nil {
		dbURL = o.DatabaseURL(dbURL)
	}
	pcfg, err := pgxpool.ParseConfig(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	if o.DatabaseURL != nil {
		// A test that cuts the database wants a request to fail in a
		// second, not 30; the others keep the default, so a loaded machine
		// cannot fail them with slow connects.
		pcfg.ConnConfig.ConnectTimeout = time.Second
	}
	pool, err := pgxpool.NewWithConfig(ctx, pcfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	blobs, err := blob.NewFileStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if o.Limiter == nil {
		o.Limiter = throttle.New(time.Millisecond, 1000)
	}
	cfg, err := config.Load(func(k string) string {
		return map[string]string{"APP_ENV": "test", "SESSION_KEY": base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{7}, 32))}[k]
	})
	if err != nil {
		t.Fatal(err)
	}
	// The listener exists before the handler, so the configuration can name
	// the service's own URL.
	srv := httptest.NewUnstartedServer(nil)
	serverURL := "http://" + srv.Listener.Addr().String()
	if o.Config != nil {
		o.Config(&cfg)
	}
	if o.ConfigURL != nil {
		o.ConfigURL(&cfg, serverURL)
	}
	logs := &SyncBuffer{}
	// As the binary writes it: access lines batched.
	log := observability.NewLogger(logs, slog.LevelInfo, "json", observability.BatchAccessLines(observability.AccessLineDelay))
	svc, err := accounts.NewService(accounts.Options{
		Store: postgres.New(pool), Hasher: password.NewHasher(password.FastParams), Blobs: blobs,
		ClientLimiter: o.Limiter, Logger: log, AuthCacheTTL: authCacheTTL(o.NoAuthCache),
		TokenTTL: cfg.TokenTTL, TokenMaxTTL: cfg.TokenMaxTTL, PasswordsOff: !cfg.PasswordSignIn,
	})
	if err != nil {
		t.Fatal(err)
	}
	metrics := observability.NewMetrics()
	metrics.RegisterPool(pool)
	ready := app.NewReadiness(pool)
	tracing, _ := observability.NewTracing(ctx, "")
	router, err := app.NewHandler(cfg, app.HandlerDeps{
		Accounts: svc, Status: status.NewReporter(pool, svc, time.Now(), "test-pod"),
		Pool: pool, Metrics: metrics, Tracing: tracing, Logger: log, Readiness: ready,
	})
	if err != nil {
		t.Fatal(err)
	}
	srv.Config.Handler = router
	srv.Start()
	t.Cleanup(srv.Close)
	root, err := svc.CreateFromCLI(ctx, accounts.NewUser{Username: "root", Email: "root@example.com", Password: RootPassword, Role: accounts.RoleAdmin})
	if err != nil {
		t.Fatal(err)
	}
	e := &Env{T: t, Srv: srv, Pool: pool, Svc: svc, Metrics: metrics, Ready: ready, Root: root, Logs: logs}
	t.Cleanup(func() {
		if t.Failed() {
			_ = observability.Flush(log)
			t.Logf("service log:\n%s", logs.String())
		}
	})
	return e
}

// SyncBuffer is a buffer a server may write (its log, its standard output)
// while the test reads it.
type SyncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

// Write appends p.
func (b *SyncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// String returns what was written so far.
func (b *SyncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// Client is a browser or API client of an Env.
type Client struct {
	e  *Env
	t  testing.TB
	hc *http.Client
	// Token is the bearer token it sends, when signed in through the API.
	Token string
	// CSRF is the token of the last page it loaded, sent with forms.
	CSRF string
}

// Anon is a client with a cookie jar and no credentials.
func (e *Env) Anon() *Client {
	jar, _ := cookiejar.New(nil)
	c := &Client{e: e, hc: &http.Client{Jar: jar}}
	return c.On(e.T)
}

// On returns a copy of c that reports failures to t (a subtest or fuzz iteration).
func (c *Client) On(t testing.TB) *Client {
	cc := *c
	cc.t = t
	cc.hc = &http.Client{
		Jar:           c.hc.Jar,
		Transport:     checkedTransport(t),
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	return &cc
}

// Jar is the client's cookie jar.
func (c *Client) Jar() http.CookieJar { return c.hc.Jar }

// Login returns a client authenticated with a fresh API token; with scopes,
// a token limited to them.
func (e *Env) Login(loginName, pw string, scopes ...string) *Client {
	e.T.Helper()
	c := e.Anon()
	body := map[string]any{"login": loginName, "password": pw, "name": "test"}
	if len(scopes) > 0 {
		body["scopes"] = scopes
	}
	resp := c.Do("POST", "/api/v1/auth/tokens", body, nil)
	if resp.Status != http.StatusCreated {
		e.T.Fatalf("login %s: %d %s", loginName, resp.Status, resp.Body)
	}
	c.Token = resp.JSON()["token"].(string)
	return c
}

// RootClient is the root admin, signed in through the API.
func (e *Env) RootClient() *Client { return e.Login("root", RootPassword) }

// CreateUser creates a user (as root) who needs no password change, and
// signs them in.
func (e *Env) CreateUser(username string, role accounts.Role) (accounts.User, *Client) {
	e.T.Helper()
	root := accounts.Actor{User: e.Root}
	u, err := e.Svc.CreateUser(context.Background(), root, accounts.NewUser{
		Username: username, Email: username + "@example.com", Password: UserPassword, Role: role,
	})
	if err != nil {
		e.T.Fatal(err)
	}
	return u, e.Login(username, UserPassword)
}

// Response is an answer, read whole.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
}

// JSON decodes the body as an object (nil when it is not one).
func (r Response) JSON() map[string]any {
	var m map[string]any
	_ = json.Unmarshal(r.Body, &m)
	return m
}

// Do sends a request: body is nil, []byte, a JSON string, url.Values (a form)
// or any value to marshal as JSON; the token and header are added.
func (c *Client) Do(method, path string, body any, header map[string]string) Response {
	c.t.Helper()
	var rdr io.Reader
	ct := ""
	switch b := body.(type) {
	case nil:
	case []byte:
		rdr = bytes.NewReader(b)
	case string:
		rdr, ct = strings.NewReader(b), "application/json"
	case url.Values:
		rdr, ct = strings.NewReader(b.Encode()), "application/x-www-form-urlencoded"
	default:
		raw, _ := json.Marshal(b)
		rdr, ct = bytes.NewReader(raw), "application/json"
	}
	req, err := http.NewRequestWithContext(context.Background(), method, c.e.Srv.URL+path, rdr)
	if err != nil {
		c.t.Fatal(err)
	}
	if ct != "" {
		req.Header.Set("Content-Type", ct)
	}
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return Response{Status: resp.StatusCode, Header: resp.Header, Body: raw}
}

var csrfInput = regexp.MustCompile(`name="csrf_token" value="([^"]+)"`)

// Page GETs an HTML page and remembers its CSRF token for the next form post.
func (c *Client) Page(path string) Response {
	c.t.Helper()
	r := c.Do("GET", path, nil, map[string]string{"Accept": "text/html"})
	if m := csrfInput.FindSubmatch(r.Body); m != nil {
		c.CSRF = string(m[1])
	}
	return r
}

// Form posts fields with the remembered CSRF token.
func (c *Client) Form(path string, fields url.Values) Response {
	c.t.Helper()
	if fields == nil {
		fields = url.Values{}
	}
	if fields.Get("csrf_token") == "" && c.CSRF != "" {
		fields.Set("csrf_token", c.CSRF)
	}
	return c.Do("POST", path, fields, map[string]string{"Accept": "text/html"})
}

// BrowserLogin signs in through the HTML form.
func (e *Env) BrowserLogin(loginName, pw string) *Client {
	e.T.Helper()
	c := e.Anon()
	c.Page("/login")
	r := c.Form("/login", url.Values{"login": {loginName}, "password": {pw}})
	if r.Status != http.StatusSeeOther {
		e.T.Fatalf("form login %s: %d %s", loginName, r.Status, r.Body)
	}
	c.Page("/dashboard")
	return c
}

// ExpectProblem fails t unless r is a well-formed problem with status, and
// returns it.
func ExpectProblem(t testing.TB, r Response, status int) map[string]any {
	t.Helper()
	if r.Status != status {
		t.Fatalf("status %d, want %d: %s", r.Status, status, r.Body)
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/problem+json") {
		t.Fatalf("content type %q, want application/problem+json", ct)
	}
	p := r.JSON()
	if p["status"] != float64(status) || p["request_id"] == "" || p["title"] == "" {
		t.Fatalf("malformed problem: %s", r.Body)
	}
	return p
}

// contract is the API's OpenAPI document, checked against by every client.
var contract = struct {
	once sync.Once
	c    *apicontract.Contract
	err  error
}{}

func loadContract() (*apicontract.Contract, error) {
	contract.once.Do(func() {
		doc, err := api.OpenAPIJSON()
		if err != nil {
			contract.err = err
			return
		}
		contract.c, contract.err = apicontract.Parse(doc)
	})
	return contract.c, contract.err
}

// checkedTransport checks every answer to a documented path against the
// OpenAPI document, reporting a mismatch to t.
func checkedTransport(t testing.TB) http.RoundTripper {
	c, err := loadContract()
	if err != nil {
		t.Fatalf("openapi: %v", err)
	}
	return c.Transport(http.DefaultTransport, t.Errorf)
}

// checkCoverage fails the run when a documented operation was never
// exercised, so the document cannot drift from what the tests check.
func checkCoverage() int {
	c, err := loadContract()
	if err != nil || !c.Exercised() || os.Getenv("OPENAPI_COVERAGE") == "off" {
		return 0 // a filtered run (-run) that made no API call
	}
	if missing := c.Uncovered(); len(missing) > 0 && flag.Lookup("test.run").Value.String() == "" {
		fmt.Fprintf(os.Stderr, "openapi: operations never exercised by the tests: %v\n", missing)
		return 1
	}
	return 0
}

// NoServerError fails t on a 5xx, or on a 4xx API answer that is not a
// well-formed problem: what fuzz targets require of every input.
func NoServerError(t testing.TB, what string, r Response) {
	t.Helper()
	switch {
	case r.Status >= 500:
		t.Fatalf("%s: %d %s", what, r.Status, r.Body)
	case r.Status >= 400 && strings.HasPrefix(r.Header.Get("Content-Type"), "application/"):
		ExpectProblem(t, r, r.Status)
	}
}

func authCacheTTL(off bool) time.Duration {
	if off {
		return -1
	}
	return 0 // the default
}

// PNG is a w×h test image.
func PNG(t testing.TB, w, h int) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for x := 0; x < w; x++ {
		img.Set(x, x%h, color.RGBA{R: 200, A: 255})
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}
