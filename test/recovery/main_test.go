package recovery

import (
	"os"
	"testing"

	"github.com/gopherops/gopherops/service/pglocal/pgtest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }
