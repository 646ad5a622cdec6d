// Command axe installs axe-core, the browser suite's accessibility engine,
// into the tool cache with npm (once; later runs find it there) and prints
// where it is. .ci/run runs it before make test; the suite installs it on
// its own too when it is missing.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"

	"github.com/gopherops/gopherops/test/internal/axe"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if _, err := axe.Script(ctx); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	dir, err := axe.Dir()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Printf("axe-core %s is in %s\n", axe.Version, dir)
}
