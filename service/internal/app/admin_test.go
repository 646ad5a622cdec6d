package app_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gopherops/gopherops/service/internal/api"
	"github.com/gopherops/gopherops/service/internal/app"
	"github.com/gopherops/gopherops/service/internal/apptest"
	"github.com/gopherops/gopherops/service/internal/store/postgres"
)

func TestAdminListener(t *testing.T) {
	e := apptest.New(t)
	e.RootClient().Do("GET", "/api/v1/me", nil, nil)

	get := func(h http.Handler, path string) (int, string) {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
		b, _ := io.ReadAll(rec.Body)
		return rec.Code, string(b)
	}
	withBare := app.NewAdminHandler(e.Metrics, api.BareUserHandler(postgres.New(e.Pool)))
	code, body := get(withBare, "/metrics")
	for _, want := range []string{"gopherops_build_info", `http_requests_total{method="GET",route="/api/v1/me",status="200"} 1`, "gopherops_db_pool_max_conns", "go_goroutines"} {
		if code != 200 || !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	if code, _ := get(withBare, "/debug/pprof/"); code != 200 {
		t.Errorf("pprof index: %d", code)
	}
	code, body = get(withBare, fmt.Sprintf("/debug/bare/users/%d", e.Root.ID))
	var u map[string]any
	if code != 200 || json.Unmarshal([]byte(body), &u) != nil || u["username"] != "root" {
		t.Fatalf("bare handler: %d %s", code, body)
	}
	// Without the baseline (every environment but test) the route does not exist.
	if code, _ := get(app.NewAdminHandler(e.Metrics, nil), fmt.Sprintf("/debug/bare/users/%d", e.Root.ID)); code != http.StatusNotFound {
		t.Fatalf("bare handler mounted when disabled: %d", code)
	}
}
