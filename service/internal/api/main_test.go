package api_test

import (
	"os"
	"testing"

	"github.com/gopherops/gopherops/service/internal/apptest"
)

// TestMain stops the throwaway PostgreSQL and fails the run when a documented
// operation went unexercised.
func TestMain(m *testing.M) { os.Exit(apptest.Main(m, true)) }
