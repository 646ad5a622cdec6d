package browser

import (
	"os"
	"testing"

	"github.com/gopherops/gopherops/service/pglocal/pgtest"

	"github.com/gopherops/gopherops/test/internal/gopherops"
)

func TestMain(m *testing.M) {
	code := pgtest.Main(m)
	gopherops.RemoveBuild()
	os.Exit(code)
}
