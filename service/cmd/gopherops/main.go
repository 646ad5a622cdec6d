// Command gopherops is the GopherOps service: the HTTP server and the
// operational subcommands that manage its database and first admin.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/gopherops/gopherops/service/internal/app"
	"github.com/gopherops/gopherops/service/internal/config"
	"github.com/gopherops/gopherops/service/internal/observability"
)

// Exit codes: 0 success (and help), 1 the command failed, 2 the command line
// or the configuration is wrong.
const (
	exitFailure = 1
	exitUsage   = 2
)

func main() {
	os.Exit(run(os.Args[1:], os.Getenv, os.Stdin, os.Stdout, os.Stderr))
}

// run is the whole program as a function of its arguments, environment and
// streams, so tests can run it in-process; it returns the exit code.
func run(args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) int {
	inv, err := app.ParseArgs(args)
	if err != nil {
		return fail(stderr, err)
	}
	if inv.Help != "" {
		fmt.Fprint(stdout, inv.Help)
		return 0
	}
	env := app.Env{Getenv: getenv, Stdin: stdin, Stdout: stdout}
	if inv.NeedsConfig {
		cfg, err := config.Load(getenv)
		if err != nil {
			fmt.Fprintln(stderr, "gopherops:", err)
			fmt.Fprintln(stderr, "The environment variables are described in docs/configuration.md.")
			return exitUsage
		}
		env.Config = cfg
		env.Log = observability.NewLogger(stderr, cfg.LogLevel, cfg.LogFormat,
			observability.BatchAccessLines(observability.AccessLineDelay))
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	err = inv.Run(ctx, env)
	// The access lines still waiting are written before anything else
	// is, whatever the command's outcome.
	_ = observability.Flush(env.Log)
	if err != nil {
		return fail(stderr, err)
	}
	return 0
}

// fail prints err, and for a usage error the one line of advice, and returns
// the exit code.
func fail(stderr io.Writer, err error) int {
	fmt.Fprintln(stderr, "gopherops:", err)
	if !app.IsUsage(err) {
		return exitFailure
	}
	var usage *app.UsageError
	if errors.As(err, &usage) {
		fmt.Fprintln(stderr, usage.Advice())
	}
	return exitUsage
}
