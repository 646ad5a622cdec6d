package ssotest

import (
	"net/http"
	"net/url"
	"testing"
)

// TestAuthorizeRedirectsOnlyToTheRegisteredURL holds the provider to what a
// real one must do: send the code back only to the client's registered
// redirect, and refuse anything else before issuing a code.
func TestAuthorizeRedirectsOnlyToTheRegisteredURL(t *testing.T) {
	p := Start(t)
	p.RedirectURL = "http://127.0.0.1:9/auth/callback?keep=1"
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	valid := func() url.Values {
		return url.Values{"client_id": {p.ClientID}, "redirect_uri": {p.RedirectURL}, "response_type": {"code"},
			"code_challenge_method": {"S256"}, "code_challenge": {"abc"}, "state": {"st"}, "nonce": {"n"}}
	}
	tests := []struct {
		name       string
		registered string
		edit       func(url.Values)
		status     int
	}{
		{name: "registered redirect", registered: p.RedirectURL, edit: func(url.Values) {}, status: http.StatusFound},
		{name: "another host", registered: p.RedirectURL,
			edit: func(v url.Values) { v.Set("redirect_uri", "https://attacker.example/auth/callback") }, status: http.StatusBadRequest},
		{name: "another path on the same host", registered: p.RedirectURL,
			edit: func(v url.Values) { v.Set("redirect_uri", "http://127.0.0.1:9/elsewhere") }, status: http.StatusBadRequest},
		{name: "no redirect", registered: p.RedirectURL, edit: func(v url.Values) { v.Del("redirect_uri") }, status: http.StatusBadRequest},
		{name: "nothing registered", registered: "", edit: func(v url.Values) { v.Set("redirect_uri", "") }, status: http.StatusBadRequest},
		{name: "unknown client", registered: p.RedirectURL, edit: func(v url.Values) { v.Set("client_id", "other") }, status: http.StatusBadRequest},
		{name: "no PKCE", registered: p.RedirectURL, edit: func(v url.Values) { v.Del("code_challenge") }, status: http.StatusBadRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q := valid()
			tt.edit(q)
			p.RedirectURL = tt.registered
			req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, p.URL+"/authorize?"+q.Encode(), nil)
			if err != nil {
				t.Fatal(err)
			}
			resp, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			_ = resp.Body.Close()
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d", resp.StatusCode, tt.status)
			}
			loc := resp.Header.Get("Location")
			if tt.status != http.StatusFound {
				if loc != "" {
					t.Fatalf("refused, yet redirected to %q", loc)
				}
				return
			}
			back, err := url.Parse(loc)
			if err != nil {
				t.Fatal(err)
			}
			got := back.Query()
			if back.Scheme+"://"+back.Host+back.Path != "http://127.0.0.1:9/auth/callback" || got.Get("keep") != "1" ||
				got.Get("state") != "st" || got.Get("code") == "" {
				t.Fatalf("redirected to %q", loc)
			}
		})
	}
}
