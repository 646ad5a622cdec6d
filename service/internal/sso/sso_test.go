package sso_test

import (
	"context"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gopherops/gopherops/service/internal/accounts"
	"github.com/gopherops/gopherops/service/internal/apptest"
	"github.com/gopherops/gopherops/service/internal/config"
	"github.com/gopherops/gopherops/service/internal/sso"
	"github.com/gopherops/gopherops/service/internal/sso/ssotest"
)

func TestMain(m *testing.M) { os.Exit(apptest.Main(m, false)) }

// env is the service configured for single sign-on with an in-process provider.
func env(t *testing.T, signup, passwords bool) (*apptest.Env, *ssotest.Provider) {
	t.Helper()
	idp := ssotest.Start(t)
	e := apptest.New(t, apptest.Options{ConfigURL: func(c *config.Config, serverURL string) {
		idp.RedirectURL = serverURL + sso.CallbackPath
		c.OIDC = config.OIDC{Issuer: idp.URL, ClientID: idp.ClientID, ClientSecret: idp.ClientSecret,
			RedirectURL: idp.RedirectURL, AllowSignup: signup}
		c.PasswordSignIn = passwords
	}})
	return e, idp
}

// providerAnswer starts a sign-in in browser b and returns the URL the
// provider sends the browser back to (the callback with code and state).
func providerAnswer(t *testing.T, b *apptest.Client) *url.URL {
	t.Helper()
	r := b.Do("GET", sso.StartPath, nil, nil)
	if r.Status != http.StatusSeeOther {
		t.Fatalf("start: %d %s", r.Status, r.Body)
	}
	req, err := http.NewRequestWithContext(context.Background(), http.MethodGet, r.Header.Get("Location"), nil)
	if err != nil {
		t.Fatal(err)
	}
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := noFollow.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("authorize: %d", resp.StatusCode)
	}
	back, err := url.Parse(resp.Header.Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	return back
}

// callback delivers the provider's answer to the service as browser b.
func callback(b *apptest.Client, back *url.URL) apptest.Response {
	return b.Do("GET", back.RequestURI(), nil, nil)
}

// signedIn reports whether b's session opens the dashboard.
func signedIn(b *apptest.Client) bool {
	return b.Page("/dashboard").Status == http.StatusOK
}

func TestFullSignIn(t *testing.T) {
	e, idp := env(t, false, true)
	alice, _ := e.CreateUser("alice", accounts.RoleUser)
	if page := string(e.Anon().Page("/login").Body); !strings.Contains(page, `href="/login/sso"`) || !strings.Contains(page, `name="password"`) {
		t.Fatalf("the sign-in page offers single sign-on and passwords:\n%s", page)
	}

	// The first sign-in links the provider's subject to the account with its email.
	idp.Next(ssotest.Grant{Subject: "idp-alice", Email: "Alice@Example.com", EmailVerified: true})
	b := e.Anon()
	r := callback(b, providerAnswer(t, b))
	if r.Status != http.StatusSeeOther || r.Header.Get("Location") != "/dashboard" || !signedIn(b) {
		t.Fatalf("sign-in: %d %s %s", r.Status, r.Header.Get("Location"), e.Logs.String())
	}
	me := b.Page("/users/" + itoa(alice.ID))
	if me.Status != http.StatusOK {
		t.Fatalf("alice's own page: %d", me.Status)
	}
	// Later sign-ins go by the subject, whatever the email says now.
	idp.Next(ssotest.Grant{Subject: "idp-alice", Email: "changed@example.org", EmailVerified: false})
	b2 := e.Anon()
	if r := callback(b2, providerAnswer(t, b2)); r.Header.Get("Location") != "/dashboard" || !signedIn(b2) {
		t.Fatalf("second sign-in by subject: %d %s", r.Status, r.Header.Get("Location"))
	}
	// The sign-in is a session alice sees in her list, and is audited.
	list := e.Login("alice", apptest.UserPassword).Do("GET", "/api/v1/users/"+itoa(alice.ID)+"/sessions", nil, nil)
	if strings.Count(string(list.Body), `"kind":"session"`) != 2 {
		t.Fatalf("alice's sessions: %s", list.Body)
	}
	audit := string(e.RootClient().Do("GET", "/api/v1/audit?limit=100", nil, nil).Body)
	for _, want := range []string{`"action":"auth.identity_linked"`, `"action":"auth.login_sso"`} {
		if !strings.Contains(audit, want) {
			t.Errorf("audit trail lacks %s", want)
		}
	}
}

// TestRefusals: each thing an attacker (or a broken provider) can get wrong
// is refused, sends the browser to the sign-in page, and signs nobody in.
func TestRefusals(t *testing.T) {
	e, idp := env(t, true, true)
	e.CreateUser("alice", accounts.RoleUser)
	good := ssotest.Grant{Subject: "idp-alice", Email: "alice@example.com", EmailVerified: true}
	spoil := func(f func(map[string]any)) ssotest.Grant { g := good; g.Spoil = f; return g }
	tests := []struct {
		name   string
		grant  ssotest.Grant
		tamper func(t *testing.T, b *apptest.Client, back *url.URL) *url.URL
		msg    string // where the browser is sent: /login?msg=...
		reason string // what the log says
	}{
		{"forged state", good, func(_ *testing.T, _ *apptest.Client, back *url.URL) *url.URL {
			q := back.Query()
			q.Set("state", "attacker-chosen")
			back.RawQuery = q.Encode()
			return back
		}, "sso-failed", "state does not match"},
		{"replayed code", good, func(t *testing.T, b *apptest.Client, back *url.URL) *url.URL {
			// The code is used once, then sent again with a fresh pending
			// sign-in of the same browser (its state, so only the code is stale).
			if r := callback(b, back); r.Header.Get("Location") != "/dashboard" {
				t.Fatalf("first use: %s", r.Header.Get("Location"))
			}
			b.Page("/dashboard")
			if r := b.Form("/logout", nil); r.Status != http.StatusSeeOther {
				t.Fatalf("logout: %d", r.Status)
			}
			fresh := providerAnswer(t, b)
			q := back.Query()
			q.Set("state", fresh.Query().Get("state"))
			back.RawQuery = q.Encode()
			return back
		}, "sso-failed", "code already used"},
		{"wrong issuer", spoil(func(c map[string]any) { c["iss"] = "https://evil.example" }), nil, "sso-failed", "issued by a different provider"},
		{"wrong audience", spoil(func(c map[string]any) { c["aud"] = "another-client" }), nil, "sso-failed", "expected audience"},
		{"wrong nonce", spoil(func(c map[string]any) { c["nonce"] = "replayed-nonce" }), nil, "sso-failed", "nonce is not this sign-in's"},
		{"expired ID token", spoil(func(c map[string]any) {
			c["iat"], c["exp"] = time.Now().Add(-2*time.Hour).Unix(), time.Now().Add(-time.Hour).Unix()
		}), nil, "sso-failed", "token is expired"},
		{"unverified email", ssotest.Grant{Subject: "idp-mallory", Email: "alice@example.com", EmailVerified: false}, nil, "sso-unverified", "not verified your email"},
		{"no pending sign-in", good, func(_ *testing.T, b *apptest.Client, back *url.URL) *url.URL {
			clearCookie(b, e)
			return back
		}, "sso-failed", "no pending sign-in"},
		{"provider error", good, func(_ *testing.T, _ *apptest.Client, back *url.URL) *url.URL {
			back.RawQuery = url.Values{"error": {"access_denied"}, "state": {back.Query().Get("state")}}.Encode()
			return back
		}, "sso-failed", "the provider answered access_denied"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			idp.Next(tt.grant)
			logged := len(e.Logs.String())
			b := e.Anon()
			back := providerAnswer(t, b)
			if tt.tamper != nil {
				back = tt.tamper(t, b, back)
			}
			r := callback(b, back)
			if r.Status != http.StatusSeeOther || r.Header.Get("Location") != "/login?msg="+tt.msg {
				t.Fatalf("answer: %d to %q, want /login?msg=%s", r.Status, r.Header.Get("Location"), tt.msg)
			}
			if signedIn(b) {
				t.Fatal("the browser is signed in")
			}
			if log := e.Logs.String()[logged:]; !strings.Contains(log, tt.reason) {
				t.Fatalf("the log does not give the reason %q:\n%s", tt.reason, log)
			}
		})
	}
}

// clearCookie drops b's pending sign-in cookie, as a browser whose cookie
// expired (or an attacker's browser replaying a victim's callback URL) would.
func clearCookie(b *apptest.Client, e *apptest.Env) {
	u, _ := url.Parse(e.Srv.URL)
	b.Jar().SetCookies(u, []*http.Cookie{{Name: "gopherops_sso", Value: "", Path: "/", MaxAge: -1}})
}

func TestAccountRules(t *testing.T) {
	t.Run("signup allowed: a new account with the least role", func(t *testing.T) {
		e, idp := env(t, true, true)
		idp.Next(ssotest.Grant{Subject: "idp-new", Email: "new.person+tag@example.com", EmailVerified: true})
		b := e.Anon()
		if r := callback(b, providerAnswer(t, b)); r.Header.Get("Location") != "/dashboard" {
			t.Fatalf("signup: %s\n%s", r.Header.Get("Location"), e.Logs.String())
		}
		users := e.RootClient().Do("GET", "/api/v1/users", nil, nil)
		if !strings.Contains(string(users.Body), `"username":"new.persontag","email":"new.person+tag@example.com","role":"user"`) {
			t.Fatalf("new account: %s", users.Body)
		}
	})
	t.Run("signup not allowed: no account", func(t *testing.T) {
		e, idp := env(t, false, true)
		idp.Next(ssotest.Grant{Subject: "idp-new", Email: "stranger@example.com", EmailVerified: true})
		b := e.Anon()
		if r := callback(b, providerAnswer(t, b)); r.Header.Get("Location") != "/login?msg=sso-no-account" {
			t.Fatalf("answer: %s", r.Header.Get("Location"))
		}
		if n, _ := e.Svc.CountUsers(context.Background()); n != 1 {
			t.Fatalf("%d accounts, want only root", n)
		}
	})
	t.Run("disabled account", func(t *testing.T) {
		e, idp := env(t, false, true)
		alice, _ := e.CreateUser("alice", accounts.RoleUser)
		if _, err := e.Svc.SetDisabled(context.Background(), accounts.Actor{User: e.Root}, alice.ID, true); err != nil {
			t.Fatal(err)
		}
		idp.Next(ssotest.Grant{Subject: "idp-alice", Email: "alice@example.com", EmailVerified: true})
		b := e.Anon()
		if r := callback(b, providerAnswer(t, b)); r.Header.Get("Location") != "/login?msg=sso-disabled" || signedIn(b) {
			t.Fatalf("answer: %s", r.Header.Get("Location"))
		}
	})
	t.Run("passwords turned off", func(t *testing.T) {
		e, idp := env(t, false, false)
		if page := string(e.Anon().Page("/login").Body); !strings.Contains(page, `href="/login/sso"`) || strings.Contains(page, `name="password"`) {
			t.Fatalf("with passwords off the sign-in page offers only single sign-on:\n%s", page)
		}
		p := apptest.ExpectProblem(t, e.Anon().Do("POST", "/api/v1/auth/tokens",
			map[string]any{"login": "root", "password": apptest.RootPassword}, nil), http.StatusForbidden)
		if !strings.Contains(p["detail"].(string), "single sign-on") {
			t.Fatalf("problem: %v", p)
		}
		idp.Next(ssotest.Grant{Subject: "idp-root", Email: "root@example.com", EmailVerified: true})
		b := e.Anon()
		if r := callback(b, providerAnswer(t, b)); r.Header.Get("Location") != "/dashboard" || !signedIn(b) {
			t.Fatalf("root through the provider: %s", r.Header.Get("Location"))
		}
	})
	t.Run("provider down", func(t *testing.T) {
		e := apptest.New(t, apptest.Options{ConfigURL: func(c *config.Config, serverURL string) {
			c.OIDC = config.OIDC{Issuer: "http://127.0.0.1:1", ClientID: "c", RedirectURL: serverURL + sso.CallbackPath}
		}})
		r := e.Anon().Do("GET", sso.StartPath, nil, nil)
		if r.Status != http.StatusSeeOther || r.Header.Get("Location") != "/login?msg=sso-unavailable" {
			t.Fatalf("start with the provider down: %d %s", r.Status, r.Header.Get("Location"))
		}
		// Passwords still work.
		e.RootClient()
	})
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
