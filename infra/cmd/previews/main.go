// Command previews is what the pull-request workflow runs around
// `pulumi up`: admit checks the stack limit before a pull request gets a
// stack, destroy removes a closed pull request's stack, and reap destroys
// the stacks idle past a time-to-live (the scheduled workflow). It works on
// the Pulumi project in -dir and its backend, as the pulumi CLI there would
// (PULUMI_BACKEND_URL or PULUMI_ACCESS_TOKEN, PULUMI_CONFIG_PASSPHRASE).
//
//	previews admit -stack pr-12     exit 1 when the limit is reached
//	previews destroy -stack pr-12   no error when there is no such stack
//	previews reap -ttl 72h [-dry-run]
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/gopherops/gopherops/infra/config"
	"github.com/gopherops/gopherops/infra/previews"
	"github.com/pulumi/pulumi/sdk/v3/go/auto"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr, workspaceBackend)
	stop()
	os.Exit(code)
}

// newBackend opens the backend of the Pulumi project in dir.
type newBackend func(ctx context.Context, dir string, progress io.Writer) (previews.Backend, error)

func workspaceBackend(ctx context.Context, dir string, progress io.Writer) (previews.Backend, error) {
	ws, err := auto.NewLocalWorkspace(ctx, auto.WorkDir(dir))
	if err != nil {
		return nil, fmt.Errorf("the Pulumi project in %s: %w", dir, err)
	}
	return previews.Workspace{WS: ws, Progress: progress}, nil
}

const usage = `usage:
  previews admit -stack pr-<number> [-dir DIR]
  previews destroy -stack pr-<number> [-dir DIR]
  previews reap -ttl DURATION [-dry-run] [-dir DIR]`

// run is the command with its arguments and outputs: 0 done, 1 refused or
// failed, 2 a usage error.
func run(ctx context.Context, args []string, stdout, stderr io.Writer, open newBackend) int {
	log := slog.New(slog.NewTextHandler(stderr, nil))
	if len(args) == 0 {
		fmt.Fprintln(stderr, usage)
		return 2
	}
	fs := flag.NewFlagSet("previews "+args[0], flag.ContinueOnError)
	fs.SetOutput(stderr)
	dir := fs.String("dir", ".", "the directory of Pulumi.yaml and the stack files")
	stack := fs.String("stack", "", "the pull request's stack, pr-<number> (admit, destroy)")
	ttl := fs.Duration("ttl", 0, "destroy stacks idle this long (reap)")
	dryRun := fs.Bool("dry-run", false, "list what reap would destroy, destroy nothing")
	if err := fs.Parse(args[1:]); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "unexpected arguments %q\n%s\n", fs.Args(), usage)
		return 2
	}
	number, isPR := config.PreviewNumber(*stack)
	switch args[0] {
	case "admit", "destroy":
		if !isPR {
			fmt.Fprintf(stderr, "-stack %q must be pr-<number>\n", *stack)
			return 2
		}
	case "reap":
		if *ttl <= 0 {
			fmt.Fprintf(stderr, "-ttl must be a positive duration such as 72h\n")
			return 2
		}
	default:
		fmt.Fprintf(stderr, "unknown command %q\n%s\n", args[0], usage)
		return 2
	}

	backend, err := open(ctx, *dir, stderr)
	if err != nil {
		log.ErrorContext(ctx, "open the Pulumi backend", "error", err)
		return 1
	}
	switch args[0] {
	case "admit":
		err = admit(ctx, backend, *dir, *stack, number, stdout)
	case "destroy":
		if err = backend.Destroy(ctx, *stack); err == nil {
			fmt.Fprintf(stdout, "%s destroyed, with its namespace %s\n", *stack, config.PreviewNamespace(number))
		}
	case "reap":
		err = reap(ctx, backend, *ttl, *dryRun, log, stdout)
	}
	if err != nil {
		log.ErrorContext(ctx, args[0], "error", err)
		return 1
	}
	return 0
}

// admit reads the stack's limit from its stack file, validated as the
// program validates it, and checks it against the stacks alive.
func admit(ctx context.Context, b previews.Backend, dir, stack string, number int, stdout io.Writer) error {
	sf, err := config.ReadStackFile(filepath.Join(dir, "Pulumi."+stack+".yaml"))
	if err != nil {
		return err
	}
	cfg, err := config.Parse(config.FromMap(sf.Values), config.Namespace, stack)
	if err != nil {
		return err
	}
	if !cfg.IsPR() {
		return fmt.Errorf("stack %s has environment %q, not %q", stack, cfg.Environment, config.EnvPR)
	}
	alive, err := b.Stacks(ctx)
	if err != nil {
		return err
	}
	if err := previews.Admit(alive, number, cfg.Preview.StackLimit); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s admitted: %d pull-request stacks alive, the limit is %d\n", stack, len(alive), cfg.Preview.StackLimit)
	return nil
}

// reap destroys (or, dry, lists) the stacks idle past ttl.
func reap(ctx context.Context, b previews.Backend, ttl time.Duration, dryRun bool, log *slog.Logger, stdout io.Writer) error {
	if dryRun {
		alive, err := b.Stacks(ctx)
		if err != nil {
			return err
		}
		var names []string
		for _, s := range previews.Expired(alive, time.Now(), ttl) {
			names = append(names, s.Name)
		}
		fmt.Fprintf(stdout, "would destroy %d of %d: %s\n", len(names), len(alive), strings.Join(names, " "))
		return nil
	}
	r := &previews.Reaper{Backend: b, TTL: ttl, Now: time.Now, Log: log}
	reaped, err := r.Reap(ctx)
	fmt.Fprintf(stdout, "destroyed %d: %s\n", len(reaped), strings.Join(reaped, " "))
	return err
}
