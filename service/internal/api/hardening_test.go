package api_test

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gopherops/gopherops/service/internal/accounts"
	"github.com/gopherops/gopherops/service/internal/apptest"
)

// TestHostileTextIsA400NamingTheField: text PostgreSQL cannot store and
// numbers out of range stop at the edge with a 400 that names the field,
// never a 500, and change nothing.
func TestHostileTextIsA400NamingTheField(t *testing.T) {
	e := apptest.New(t)
	root := e.RootClient()
	u, _ := e.CreateUser("target", accounts.RoleUser)
	id := strconv.FormatInt(u.ID, 10)
	tests := []struct {
		name, method, path string
		body               string
		header             map[string]string
		field              string
	}{
		{"NUL in a login", "POST", "/api/v1/auth/tokens", `{"login":"ro\u0000ot","password":"x"}`, nil, "login"},
		{"NUL in a token name", "POST", "/api/v1/auth/tokens", `{"login":"root","password":"x","name":"a\u0000b"}`, nil, "name"},
		{"invalid UTF-8 in a username", "POST", "/api/v1/users", "{\"username\":\"ab\xffcd\",\"email\":\"x@example.com\",\"password\":\"p\"}", nil, "username"},
		{"NUL in an email", "PATCH", "/api/v1/users/" + id, `{"email":"a@example.com\u0000"}`, map[string]string{"If-Match": `"1"`}, "email"},
		{"audit cursor past int64", "GET", "/api/v1/audit?before=9223372036854775808", "", nil, "before"},
		{"negative audit cursor", "GET", "/api/v1/audit?before=-1", "", nil, "before"},
		{"limit past int64", "GET", "/api/v1/users?limit=99999999999999999999", "", nil, "limit"},
		{"malformed If-Match", "PATCH", "/api/v1/users/" + id, `{"email":"b@example.com"}`, map[string]string{"If-Match": "stale"}, "If-Match"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var body any
			if tt.body != "" {
				body = tt.body
			}
			p := apptest.ExpectProblem(t, root.On(t).Do(tt.method, tt.path, body, tt.header), http.StatusBadRequest)
			errs, _ := p["errors"].([]any)
			if len(errs) != 1 || errs[0].(map[string]any)["field"] != tt.field {
				t.Fatalf("errors %v, want one naming %s", p["errors"], tt.field)
			}
		})
	}
	got, err := e.Svc.GetUser(context.Background(), accounts.Actor{User: e.Root}, u.ID)
	if err != nil || got.Email != u.Email || got.Version != u.Version {
		t.Fatalf("a refused request changed the user: %+v %v", got, err)
	}
	// A cursor past int32 but inside int64 is a valid (empty) page, not a 500.
	if r := root.Do("GET", "/api/v1/audit?before=2147483648", nil, nil); r.Status != http.StatusOK {
		t.Fatalf("before=2^31: %d %s", r.Status, r.Body)
	}
}

// TestBrokenUserAgentIsStored: a User-Agent cut inside a character names a
// browser session; it is stored cleaned, not refused by PostgreSQL with a 500.
func TestBrokenUserAgentIsStored(t *testing.T) {
	e := apptest.New(t)
	c := e.Anon()
	r := c.Do("POST", "/api/v1/auth/tokens", map[string]any{"login": "root", "password": apptest.RootPassword},
		map[string]string{"User-Agent": "Mozilla/5.0 caf\xc3"})
	if r.Status != http.StatusCreated {
		t.Fatalf("status %d: %s", r.Status, r.Body)
	}
	name := strings.Repeat("é", 99) + "\xc3"
	if _, _, err := e.Svc.StartSession(context.Background(), e.Root, accounts.SessionInput{Kind: accounts.KindToken, Name: name}); err != nil {
		t.Fatalf("a name cut inside its last character: %v", err)
	}
	ua := strings.Repeat("é", 250) + "\xc3"
	_, sess, err := e.Svc.StartSession(context.Background(), e.Root, accounts.SessionInput{Kind: accounts.KindSession, UserAgent: ua})
	if err != nil || len([]rune(sess.UserAgent)) != 200 {
		t.Fatalf("a long user agent cut inside a character: %q %v", sess.UserAgent, err)
	}
}

func TestIfMatchFollowsRFC9110(t *testing.T) {
	e := apptest.New(t)
	root := e.RootClient()
	tests := []struct {
		name    string
		ifMatch func(cur int) string
		want    int
	}{
		{"the current tag", func(cur int) string { return `"` + strconv.Itoa(cur) + `"` }, http.StatusOK},
		{"any current representation", func(int) string { return "*" }, http.StatusOK},
		{"a list holding the current tag", func(cur int) string { return `"999", "` + strconv.Itoa(cur) + `"` }, http.StatusOK},
		{"a well-formed tag that is not current", func(int) string { return `"stale-0"` }, http.StatusPreconditionFailed},
		{"an old version", func(cur int) string { return `"` + strconv.Itoa(cur-1) + `"` }, http.StatusPreconditionFailed},
		{"a weak tag never matches strongly", func(cur int) string { return `W/"` + strconv.Itoa(cur) + `"` }, http.StatusPreconditionFailed},
		{"a version past int32", func(int) string { return `"4294967296"` }, http.StatusPreconditionFailed},
		{"a list without the current tag", func(int) string { return `"998", "999"` }, http.StatusPreconditionFailed},
		{"no quotes", func(cur int) string { return strconv.Itoa(cur) }, http.StatusBadRequest},
		{"unterminated", func(int) string { return `"3` }, http.StatusBadRequest},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u, _ := e.CreateUser("etag-user-"+strconv.Itoa(i), accounts.RoleUser)
			if tt.want == http.StatusPreconditionFailed || tt.name == "an old version" {
				// Bump the version so an old one exists.
				email := "bumped-" + strconv.Itoa(i) + "@example.com"
				var err error
				if u, err = e.Svc.UpdateUser(context.Background(), accounts.Actor{User: e.Root}, u.ID, accounts.Version(u.Version), accounts.Patch{Email: &email}); err != nil {
					t.Fatal(err)
				}
			}
			r := root.On(t).Do("PATCH", "/api/v1/users/"+strconv.FormatInt(u.ID, 10),
				map[string]any{"email": "changed-" + strconv.Itoa(i) + "@example.com"},
				map[string]string{"If-Match": tt.ifMatch(u.Version)})
			if r.Status != tt.want {
				t.Fatalf("status %d, want %d: %s", r.Status, tt.want, r.Body)
			}
			if tt.want == http.StatusOK && r.Header.Get("ETag") != `"`+strconv.Itoa(u.Version+1)+`"` {
				t.Fatalf("ETag %q after the write", r.Header.Get("ETag"))
			}
		})
	}
}

// TestHeadAnswersEveryGET: HEAD is GET without the body (RFC 9110 §9.3.2),
// including the ETag the README's `curl -sI` shows.
func TestHeadAnswersEveryGET(t *testing.T) {
	e := apptest.New(t)
	root := e.RootClient()
	hc := &http.Client{Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for _, tt := range []struct {
		path   string
		status int
		etag   bool
	}{
		{"/api/v1/me", http.StatusOK, true},
		{"/api/v1/users/" + strconv.FormatInt(e.Root.ID, 10), http.StatusOK, true},
		{"/healthz", http.StatusOK, false},
		{"/", http.StatusOK, false},
		{"/api/v1/no-such-thing", http.StatusNotFound, false},
	} {
		t.Run(tt.path, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodHead, e.Srv.URL+tt.path, nil)
			req.Header.Set("Authorization", "Bearer "+root.Token)
			resp, err := hc.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			get := root.On(t).Do("GET", tt.path, nil, nil)
			if resp.StatusCode != tt.status || get.Status != tt.status {
				t.Fatalf("HEAD %d, GET %d, want %d", resp.StatusCode, get.Status, tt.status)
			}
			if resp.Header.Get("Content-Type") != get.Header.Get("Content-Type") {
				t.Errorf("Content-Type HEAD %q, GET %q", resp.Header.Get("Content-Type"), get.Header.Get("Content-Type"))
			}
			if tt.etag && (resp.Header.Get("ETag") == "" || resp.Header.Get("ETag") != get.Header.Get("ETag")) {
				t.Errorf("ETag HEAD %q, GET %q", resp.Header.Get("ETag"), get.Header.Get("ETag"))
			}
		})
	}
	// A route without GET keeps refusing HEAD.
	req, _ := http.NewRequest(http.MethodHead, e.Srv.URL+"/api/v1/auth/tokens", nil)
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Fatalf("HEAD on a POST-only route: %d, want 405", resp.StatusCode)
	}
}

// TestInventedMethodsDoNotGrowTheMetrics: net/http accepts any token as a
// method; a client sending a new one per request must not create a metric
// series (and a cache entry) each time.
func TestInventedMethodsDoNotGrowTheMetrics(t *testing.T) {
	e := apptest.New(t)
	for i := range 50 {
		req, err := http.NewRequestWithContext(context.Background(), fmt.Sprintf("BREW%d", i), e.Srv.URL+"/api/v1/me", nil)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode < 400 || resp.StatusCode >= 500 {
			t.Fatalf("method BREW%d: %d, want a 4xx", i, resp.StatusCode)
		}
	}
	mfs, err := e.Metrics.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "http_requests_total" {
			continue
		}
		methods := map[string]bool{}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "method" {
					methods[l.GetValue()] = true
				}
			}
		}
		if len(methods) > 8 || !methods["OTHER"] {
			t.Fatalf("http_requests_total has %d method labels %v: invented methods must count as OTHER", len(methods), methods)
		}
	}
}
