package httpapi_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"flag"
	"fmt"
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

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/gopherops/gopherops/service/internal/accounts"
	"github.com/gopherops/gopherops/service/internal/blob"
	"github.com/gopherops/gopherops/service/internal/config"
	"github.com/gopherops/gopherops/service/internal/httpapi"
	"github.com/gopherops/gopherops/service/internal/observability"
	"github.com/gopherops/gopherops/service/internal/password"
	"github.com/gopherops/gopherops/service/internal/status"
	"github.com/gopherops/gopherops/service/internal/store/postgres"
	"github.com/gopherops/gopherops/service/internal/throttle"
	"github.com/gopherops/gopherops/service/pglocal/pgtest"
)

func TestMain(m *testing.M) {
	code := pgtest.Main(m)
	if code == 0 {
		code = checkOpenAPICoverage()
	}
	os.Exit(code)
}

const (
	rootPassword = "correct-stable-gopher-orbit"
	userPassword = "quiet-lantern-harbor-maple"
)

// env is one service instance on a fresh database behind a real HTTP server.
type env struct {
	t       testing.TB
	srv     *httptest.Server
	pool    *pgxpool.Pool
	svc     *accounts.Service
	metrics *observability.Metrics
	ready   *httpapi.Readiness
	root    accounts.User
	logs    *bytes.Buffer
}

type envOptions struct {
	limiter accounts.Limiter
	cfg     func(*configT)
}

func newEnv(t testing.TB, opts ...envOptions) *env {
	t.Helper()
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, pgtest.NewDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	blobs, err := blob.NewFileStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	var o envOptions
	if len(opts) > 0 {
		o = opts[0]
	}
	if o.limiter == nil {
		o.limiter = throttle.New(time.Millisecond, 1000)
	}
	logs := &bytes.Buffer{}
	log := slog.New(slog.NewJSONHandler(&lockedWriter{w: logs}, nil))
	svc, err := accounts.NewService(accounts.Options{
		Store: postgres.New(pool), Hasher: password.NewHasher(password.FastParams), Blobs: blobs,
		ClientLimiter: o.limiter, Logger: log,
	})
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(func(k string) string {
		return map[string]string{"APP_ENV": "test", "SESSION_KEY": base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{7}, 32))}[k]
	})
	if err != nil {
		t.Fatal(err)
	}
	if o.cfg != nil {
		o.cfg(&cfg)
	}
	metrics := observability.NewMetrics()
	metrics.RegisterPool(pool)
	ready := httpapi.NewReadiness(pool)
	tracing, _ := observability.NewTracing(ctx, "")
	router, err := httpapi.NewRouter(httpapi.Deps{
		Config: cfg, Accounts: svc, Status: status.NewReporter(pool, svc, time.Now(), "test-pod"),
		Pool: pool, Metrics: metrics, Tracing: tracing, Logger: log, Readiness: ready,
	})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(router)
	t.Cleanup(srv.Close)
	root, err := svc.CreateFromCLI(ctx, accounts.NewUser{Username: "root", Email: "root@example.com", Password: rootPassword, Role: accounts.RoleAdmin})
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, srv: srv, pool: pool, svc: svc, metrics: metrics, ready: ready, root: root, logs: logs}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("service log:\n%s", logs.String())
		}
	})
	return e
}

type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// client is an HTTP client of the test server, with a bearer token or cookies.
type client struct {
	e     *env
	t     testing.TB
	hc    *http.Client
	token string
	csrf  string
}

func (e *env) anon() *client {
	jar, _ := cookiejar.New(nil)
	c := &client{e: e, hc: &http.Client{Jar: jar}}
	return c.on(e.t)
}

// on returns a copy of c that reports failures to t (a subtest or fuzz iteration).
func (c *client) on(t testing.TB) *client {
	cc := *c
	cc.t = t
	cc.hc = &http.Client{
		Jar:           c.hc.Jar,
		Transport:     &validatingTransport{t: t, base: http.DefaultTransport},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	return &cc
}

// login returns a client authenticated with a fresh API token.
func (e *env) login(loginName, pw string) *client {
	e.t.Helper()
	c := e.anon()
	resp := c.do("POST", "/api/v1/auth/tokens", map[string]any{"login": loginName, "password": pw, "name": "test"}, nil)
	if resp.status != http.StatusCreated {
		e.t.Fatalf("login %s: %d %s", loginName, resp.status, resp.body)
	}
	c.token = resp.json()["token"].(string)
	return c
}

func (e *env) rootClient() *client { return e.login("root", rootPassword) }

// createUser creates a user (as root) who needs no password change.
func (e *env) createUser(username string, role accounts.Role) (accounts.User, *client) {
	e.t.Helper()
	root := accounts.Actor{User: e.root}
	u, err := e.svc.CreateUser(context.Background(), root, accounts.NewUser{
		Username: username, Email: username + "@example.com", Password: userPassword, Role: role,
	})
	if err != nil {
		e.t.Fatal(err)
	}
	return u, e.login(username, userPassword)
}

type response struct {
	status int
	header http.Header
	body   []byte
}

func (r response) json() map[string]any {
	var m map[string]any
	_ = json.Unmarshal(r.body, &m)
	return m
}

func (c *client) do(method, path string, body any, header map[string]string) response {
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
	req, err := http.NewRequest(method, c.e.srv.URL+path, rdr)
	if err != nil {
		c.t.Fatal(err)
	}
	if ct != "" {
		req.Header.Set("Content-Type", ct)
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
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
	return response{status: resp.StatusCode, header: resp.Header, body: raw}
}

var csrfInput = regexp.MustCompile(`name="csrf_token" value="([^"]+)"`)

// page GETs an HTML page and remembers its CSRF token for the next form post.
func (c *client) page(path string) response {
	c.t.Helper()
	r := c.do("GET", path, nil, map[string]string{"Accept": "text/html"})
	if m := csrfInput.FindSubmatch(r.body); m != nil {
		c.csrf = string(m[1])
	}
	return r
}

// form posts fields with the remembered CSRF token.
func (c *client) form(path string, fields url.Values) response {
	c.t.Helper()
	if fields == nil {
		fields = url.Values{}
	}
	if fields.Get("csrf_token") == "" && c.csrf != "" {
		fields.Set("csrf_token", c.csrf)
	}
	return c.do("POST", path, fields, map[string]string{"Accept": "text/html"})
}

// browserLogin signs in through the HTML form.
func (e *env) browserLogin(loginName, pw string) *client {
	e.t.Helper()
	c := e.anon()
	c.page("/login")
	r := c.form("/login", url.Values{"login": {loginName}, "password": {pw}})
	if r.status != http.StatusSeeOther {
		e.t.Fatalf("form login %s: %d %s", loginName, r.status, r.body)
	}
	c.page("/dashboard")
	return c
}

func expectProblem(t testing.TB, r response, status int) map[string]any {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %d, want %d: %s", r.status, status, r.body)
	}
	if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/problem+json") {
		t.Fatalf("content type %q, want application/problem+json", ct)
	}
	p := r.json()
	if p["status"] != float64(status) || p["request_id"] == "" || p["title"] == "" {
		t.Fatalf("malformed problem: %s", r.body)
	}
	return p
}

// --- OpenAPI validation of every API response -------------------------------

var openapiState = struct {
	once    sync.Once
	doc     *openapi3.T
	router  routers.Router
	err     error
	mu      sync.Mutex
	covered map[string]bool
}{covered: map[string]bool{}}

func openapiRouter() (routers.Router, error) {
	openapiState.once.Do(func() {
		doc, err := httpapi.OpenAPI()
		if err != nil {
			openapiState.err = err
			return
		}
		doc.Servers = nil // match any host: the test server's port is random
		openapiState.doc = doc
		openapiState.router, openapiState.err = gorillamux.NewRouter(doc)
	})
	return openapiState.router, openapiState.err
}

// validatingTransport checks every request/response pair against the OpenAPI
// document and records which operations the tests exercised.
type validatingTransport struct {
	t    testing.TB
	base http.RoundTripper
}

func (v *validatingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := v.base.RoundTrip(req)
	if err != nil || !isDocumented(req.URL.Path) {
		return resp, err
	}
	router, rerr := openapiRouter()
	if rerr != nil {
		v.t.Errorf("openapi: %v", rerr)
		return resp, err
	}
	route, params, ferr := router.FindRoute(req)
	if ferr != nil {
		// Only the router's own 404/405 problems may answer undocumented paths.
		if (resp.StatusCode != http.StatusNotFound && resp.StatusCode != http.StatusMethodNotAllowed) ||
			!strings.HasPrefix(resp.Header.Get("Content-Type"), "application/problem+json") {
			v.t.Errorf("openapi: %s %s is not documented (%d): %v", req.Method, req.URL.Path, resp.StatusCode, ferr)
		}
		return resp, err
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	resp.Body = io.NopCloser(bytes.NewReader(body))
	in := &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route,
		Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc, ExcludeRequestBody: true}}
	out := &openapi3filter.ResponseValidationInput{RequestValidationInput: in, Status: resp.StatusCode, Header: resp.Header,
		Body: io.NopCloser(bytes.NewReader(body)), Options: &openapi3filter.Options{IncludeResponseStatus: true}}
	if verr := openapi3filter.ValidateResponse(req.Context(), out); verr != nil {
		v.t.Errorf("openapi: response to %s %s (%d) does not match the document: %v\nbody: %.500s",
			req.Method, req.URL.Path, resp.StatusCode, verr, body)
	}
	openapiState.mu.Lock()
	openapiState.covered[req.Method+" "+route.Path] = true
	openapiState.mu.Unlock()
	return resp, err
}

func isDocumented(path string) bool {
	return strings.HasPrefix(path, "/api/") || path == "/healthz" || path == "/readyz"
}

// checkOpenAPICoverage fails the run when a documented operation was never
// exercised, so the document cannot drift from what the tests check.
func checkOpenAPICoverage() int {
	if openapiState.doc == nil || len(openapiState.covered) == 0 {
		return 0 // a filtered run (-run) that made no API call
	}
	if os.Getenv("OPENAPI_COVERAGE") == "off" {
		return 0
	}
	var missing []string
	for path, item := range openapiState.doc.Paths.Map() {
		for method := range item.Operations() {
			if !openapiState.covered[method+" "+path] {
				missing = append(missing, method+" "+path)
			}
		}
	}
	if len(missing) > 0 && flag.Lookup("test.run").Value.String() == "" {
		fmt.Fprintf(os.Stderr, "openapi: operations never exercised by the tests: %v\n", missing)
		return 1
	}
	return 0
}

func jsonMarshal(v any) ([]byte, error) { return json.Marshal(v) }

type configT = config.Config
