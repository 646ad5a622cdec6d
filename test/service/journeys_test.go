package service

import (
	"testing"

	"github.com/gopherops/gopherops/service/pglocal/pgtest"

	"github.com/gopherops/gopherops/test/internal/gopherops"
	"github.com/gopherops/gopherops/test/journey"
)

// TestJourneys provisions a fresh deployment from an empty database exactly
// as an operator would (migrate up, admin create, serve) and walks every
// journey against it over HTTP.
func TestJourneys(t *testing.T) {
	bin := gopherops.Build(t)
	env := serviceEnv(t, pgtest.NewEmptyDatabase(t))
	attachPostgresLog(t, pgtest.ServerLog())

	bin.MustRun(t, env, "", "migrate", "up")
	admin := createAdmin(t, bin, env)
	srv := bin.Serve(t, env)

	journey.All(t, &journey.Target{
		BaseURL:   srv.BaseURL,
		AdminURLs: []string{srv.AdminURL},
		Admin:     admin,
		Version:   bin.Version,
	})
}
