// Command gopherops is the GopherOps service: the HTTP server and the
// operational subcommands that manage its database and first admin.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/gopherops/gopherops/service/internal/app"
	"github.com/gopherops/gopherops/service/internal/config"
	"github.com/gopherops/gopherops/service/internal/observability"
)

const usage = `usage: gopherops [command]

commands:
  serve                        run the HTTP server (default)
  migrate up|down N|version|force V
                               manage the database schema
  admin create --username U --email E [--role admin|user]
                               create an account; the password comes from
                               ADMIN_PASSWORD or stdin; the first admin is root
  healthcheck                  exit 0 when the local server is ready
  version                      print version, commit and build date

Configuration comes from environment variables; see the README.
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	cmd := "serve"
	if len(args) > 0 {
		cmd, args = args[0], args[1:]
	}
	switch cmd {
	case "version", "--version", "-v":
		app.Version(stdout)
		return 0
	case "help", "--help", "-h":
		fmt.Fprint(stdout, usage)
		return 0
	}

	cfg, err := config.Load(os.Getenv)
	if err != nil {
		fmt.Fprintln(stderr, "gopherops:", err)
		return 2
	}
	log := observability.NewLogger(stderr, cfg.LogLevel, cfg.LogFormat)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	switch cmd {
	case "serve":
		err = app.Serve(ctx, cfg, log, app.Listeners{}, app.Options{})
	case "migrate":
		err = app.MigrateCommand(ctx, cfg, log, args, stdout)
	case "admin":
		err = app.AdminCommand(ctx, cfg, log, args, stdin, stdout)
	case "healthcheck":
		err = app.Healthcheck(ctx, cfg)
	default:
		fmt.Fprintf(stderr, "gopherops: unknown command %q\n\n%s", cmd, usage)
		return 2
	}
	if err != nil {
		fmt.Fprintln(stderr, "gopherops:", err)
		if app.IsUsage(err) {
			return 2
		}
		return 1
	}
	return 0
}
