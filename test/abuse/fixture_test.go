package abuse

import (
	"encoding/json"
	"fmt"
	"mime"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/gopherops/gopherops/service/pglocal/pgtest"

	"github.com/gopherops/gopherops/test/internal/fakes3"
	"github.com/gopherops/gopherops/test/internal/gopherops"
	"github.com/gopherops/gopherops/test/journey"
)

// avatarBucket is the bucket of BLOB_STORE.
const avatarBucket = "avatars"

// podEnv is the production pod's runtime setting (infra/app/pod.go): one
// core's worth of Go scheduler and a soft memory limit under the 512Mi
// container limit. Every attack runs against a server started with it.
var podEnv = map[string]string{"GOMAXPROCS": "1", "GOMEMLIMIT": "460MiB"}

// podMemoryLimit is the container's memory limit: the kernel kills the pod
// above it.
const podMemoryLimit = 512 << 20

// stack is one deployment under attack: the real binary on its own database
// and fake S3, and its root admin signed in.
type stack struct {
	// dbURL is the deployment's database, for what only SQL can see.
	dbURL string
	bin   *gopherops.Binary
	env   gopherops.Env
	srv   *gopherops.Server
	s3    *fakes3.Server
	admin journey.Credentials
	// root is the root admin's API client (bearer token) and account.
	root     *caller
	rootUser journey.User
}

// newStack starts a server with the pod's settings on a fresh database.
func newStack(t *testing.T) *stack {
	t.Helper()
	db := pgtest.NewDatabase(t)
	attachPostgresLog(t, pgtest.ServerLog())
	return newStackOn(t, db)
}

// newStackOn starts a server with the pod's settings on the migrated
// database at dbURL, creates the root admin and signs it in.
func newStackOn(t *testing.T, dbURL string) *stack {
	t.Helper()
	st := &stack{dbURL: dbURL, bin: gopherops.Build(t)}
	st.env, st.s3 = serviceEnv(t, dbURL)
	st.admin = createAdmin(t, st.bin, st.env)
	st.srv = st.bin.Serve(t, st.env)
	tok := st.signIn(t, st.from(t), st.admin)
	st.root, st.rootUser = st.from(t).withBearer(tok.Token), tok.User
	require.True(t, st.rootUser.IsRoot, "the first admin is root")
	return st
}

// serviceEnv is the environment of a deployment on dbURL with the pod's
// memory settings, avatars in a fake S3 on loopback and no trusted proxy.
func serviceEnv(t *testing.T, dbURL string) (gopherops.Env, *fakes3.Server) {
	t.Helper()
	env, s3 := gopherops.TestEnv(t, dbURL, avatarBucket)
	return env.With(podEnv), s3
}

// createAdmin creates the first admin as an operator would.
func createAdmin(t *testing.T, bin *gopherops.Binary, env gopherops.Env) journey.Credentials {
	t.Helper()
	admin, _ := bin.CreateAdmin(t, env)
	return admin
}

// attachPostgresLog prints the end of the PostgreSQL server log when the test fails.
func attachPostgresLog(t *testing.T, path string) {
	t.Helper()
	if path == "" {
		return
	}
	t.Cleanup(func() {
		if !t.Failed() {
			return
		}
		if b, err := readTail(path, 100); err == nil {
			t.Logf("PostgreSQL log (%s):\n%s", path, b)
		}
	})
}

// lastAddr numbers the loopback source addresses handed out; Linux routes
// all of 127.0.0.0/8 to the loopback interface, so each is a distinct client
// as far as the server can tell.
var lastAddr atomic.Uint32

// nextAddr returns a loopback address no other caller of this process uses:
// 127.0.0.2, 127.0.0.3, … (127.0.0.1 stays the address of everyone else).
func nextAddr() string {
	n := lastAddr.Add(1) // 1, 2, …
	return fmt.Sprintf("127.%d.%d.%d", (n/250/250)%250, (n/250)%250, n%250+1)
}

// caller is one client of the deployment at one source address, with its own
// cookie jar (a browser) or a bearer token (an API client).
type caller struct {
	*journey.Client
	addr  string
	token string
}

// from returns an anonymous browser-like client at a fresh source address.
func (st *stack) from(t testing.TB) *caller {
	t.Helper()
	return newCaller(t, st.srv.BaseURL, nextAddr())
}

// newCaller returns a client of base that connects from the loopback address addr.
func newCaller(t testing.TB, base, addr string) *caller {
	t.Helper()
	jar, err := cookiejar.New(nil)
	require.NoError(t, err)
	dialer := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(addr)}, Timeout: 5 * time.Second}
	return &caller{addr: addr, Client: journey.NewClientWith(base, &http.Client{
		Jar:       jar,
		Timeout:   2 * time.Minute, // a burst of uploads queues behind one core
		Transport: &http.Transport{DialContext: dialer.DialContext, MaxIdleConnsPerHost: 64},
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	})}
}

// withBearer returns a client at the same address that sends token and no cookies.
func (c *caller) withBearer(token string) *caller {
	return &caller{Client: c.WithBearer(token, c.addr), addr: c.addr, token: token}
}

// do sends req and fails t when no response arrives.
func (c *caller) do(t testing.TB, req journey.Request) *journey.Response {
	t.Helper()
	resp, err := c.DoE(req)
	require.NoError(t, err, "%s %s from %s", req.Method, req.Path, c.addr)
	t.Logf("%s: %s %s → %d", c.addr, req.Method, logPath(req.Path), resp.Status)
	return resp
}

// logPath keeps hostile bytes out of the test log.
func logPath(p string) string { return fmt.Sprintf("%.120q", p) }

// get is do for a GET.
func (c *caller) get(t testing.TB, path string) *journey.Response {
	t.Helper()
	return c.do(t, journey.Request{Method: http.MethodGet, Path: path})
}

// send is do with a JSON body.
func (c *caller) send(t testing.TB, method, path string, body any) *journey.Response {
	t.Helper()
	return c.do(t, journey.Request{Method: method, Path: path, JSON: body})
}

// tokenRequest is the body of POST /api/v1/auth/tokens.
func tokenRequest(cr journey.Credentials) map[string]string {
	return map[string]string{"login": cr.Login, "password": cr.Password, "name": "abuse suite"}
}

// trySignIn asks for an API token from c's address and returns the response
// as it is (201, 401, 429…).
func (c *caller) trySignIn(t testing.TB, cr journey.Credentials) *journey.Response {
	t.Helper()
	return c.send(t, http.MethodPost, "/api/v1/auth/tokens", tokenRequest(cr))
}

// signIn creates an API token from c's address, failing t unless it is issued.
func (st *stack) signIn(t testing.TB, c *caller, cr journey.Credentials) journey.Token {
	t.Helper()
	var tok journey.Token
	c.trySignIn(t, cr).ExpectJSON(t, http.StatusCreated, &tok)
	return tok
}

// member is an account created for a test and its API client.
type member struct {
	cred journey.Credentials
	user journey.User
	api  *caller
}

// newMember creates an account of role (no password change required) as
// root, then signs it in from a fresh address.
func (st *stack) newMember(t testing.TB, label, role string) member {
	t.Helper()
	spec := journey.NewUserSpec(label, role, journey.Bool(false))
	return st.newMemberWith(t, spec)
}

// newMemberWith creates the account spec as root and signs it in from a
// fresh address.
func (st *stack) newMemberWith(t testing.TB, spec journey.NewUser) member {
	t.Helper()
	var u journey.User
	st.root.send(t, http.MethodPost, "/api/v1/users", spec).ExpectJSON(t, http.StatusCreated, &u)
	c := st.from(t)
	tok := st.signIn(t, c, spec.Credentials())
	return member{cred: spec.Credentials(), user: u, api: c.withBearer(tok.Token)}
}

// browserSignIn signs in through the HTML form from a fresh address as a
// browser does (GET the form for its CSRF token, POST it) and returns the
// browser with its session cookie.
func (st *stack) browserSignIn(t testing.TB, cr journey.Credentials, header map[string]string) *caller {
	t.Helper()
	b := st.from(t)
	resp := b.postLogin(t, url.Values{"login": {cr.Login}, "password": {cr.Password}}, header)
	resp.ExpectRedirect(t, http.StatusSeeOther, "/dashboard")
	return b
}

// postLogin submits the sign-in form with the given fields (and a valid CSRF
// token) and returns the answer.
func (c *caller) postLogin(t testing.TB, form url.Values, header map[string]string) *journey.Response {
	t.Helper()
	page := c.do(t, journey.Request{Method: http.MethodGet, Path: "/login", Header: map[string]string{"Accept": "text/html"}})
	page.ExpectHTML(t, http.StatusOK)
	form.Set("csrf_token", journey.CSRFToken(t, page.Body, "/login"))
	h := map[string]string{"Accept": "text/html"}
	for k, v := range header {
		h[k] = v
	}
	return c.do(t, journey.Request{Method: http.MethodPost, Path: "/login", Form: form, Header: h})
}

// isProblem reports whether the response is an RFC 9457 problem document.
func isProblem(r *journey.Response) bool {
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	return mt == journey.ProblemContentType
}

// problemOf decodes the problem document of r, failing t when it is none.
func problemOf(t testing.TB, r *journey.Response) journey.Problem {
	t.Helper()
	require.True(t, isProblem(r), "expected a problem document:\n%s", r)
	var p journey.Problem
	require.NoError(t, json.Unmarshal(r.Body, &p), "decode problem:\n%s", r)
	return p
}

// namesField reports whether the problem lists field among its field errors,
// where a client (or a form) can find it.
func namesField(p journey.Problem, field string) bool {
	for _, f := range p.Fields() {
		if f == field {
			return true
		}
	}
	return false
}

// retryAfter returns the positive number of seconds of the Retry-After
// header, failing t when it is missing or malformed.
func retryAfter(t testing.TB, r *journey.Response) int {
	t.Helper()
	v := r.Header.Get("Retry-After")
	require.NotEmpty(t, v, "a %d must say when to retry (Retry-After):\n%s", r.Status, r)
	var secs int
	_, err := fmt.Sscanf(v, "%d", &secs)
	require.NoError(t, err, "Retry-After must be delay-seconds:\n%s", r)
	require.Positive(t, secs, "Retry-After:\n%s", r)
	return secs
}
