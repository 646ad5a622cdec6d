package ui_test

import (
	"os"
	"testing"

	"github.com/gopherops/gopherops/service/internal/apptest"
)

// TestMain stops the throwaway PostgreSQL.
func TestMain(m *testing.M) { os.Exit(apptest.Main(m, false)) }
