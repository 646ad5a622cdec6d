// Command drift checks one stack for drift: it runs a refresh preview (no
// state is written), prints which resources and properties differ from what
// the stack declares, and writes the same as JSON and Markdown.
//
//	drift -stack dev [-dir .] [-json drift-dev.json] [-markdown drift-dev.md]
//
// Exit status: 0 no drift, 1 drift, 2 the check itself failed (no stack, no
// credentials, engine error). `make drift STACK=<stack>` runs it.
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
	"syscall"

	"github.com/gopherops/gopherops/infra/drift"
)

// Exit statuses.
const (
	exitClean = 0
	exitDrift = 1
	exitError = 2
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run is the command with its arguments and streams, returning the exit status.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("drift", flag.ContinueOnError)
	fs.SetOutput(stderr)
	stack := fs.String("stack", "", "the stack to check (required)")
	dir := fs.String("dir", ".", "the project directory (holds Pulumi.yaml)")
	jsonPath := fs.String("json", "", "also write the report as JSON to this file")
	mdPath := fs.String("markdown", "", "also write the report as Markdown to this file")
	verbose := fs.Bool("v", false, "stream the engine's progress to stderr")
	if err := fs.Parse(args); err != nil {
		return exitError
	}
	log := slog.New(slog.NewTextHandler(stderr, nil))
	if *stack == "" || fs.NArg() > 0 {
		fmt.Fprintln(stderr, "usage: drift -stack <stack> [-dir <project dir>] [-json <file>] [-markdown <file>] [-v]")
		return exitError
	}
	abs, err := filepath.Abs(*dir)
	if err != nil {
		log.Error("drift check failed", "stack", *stack, "err", err)
		return exitError
	}
	opts := drift.Options{Stack: *stack, WorkDir: abs}
	if *verbose {
		opts.Progress = stderr
	}
	log.Info("checking for drift (refresh preview, no state written)", "stack", *stack, "dir", abs)
	report, err := drift.Check(ctx, opts)
	if err != nil {
		log.Error("drift check failed", "stack", *stack, "err", err)
		return exitError
	}
	if err := write(report, *jsonPath, *mdPath, stdout); err != nil {
		log.Error("drift check: write the report", "err", err)
		return exitError
	}
	if report.Drifted {
		log.Warn("drift found", "stack", *stack, "resources", len(report.Resources), "duration", report.Duration)
		return exitDrift
	}
	log.Info("no drift", "stack", *stack, "duration", report.Duration)
	return exitClean
}

// write prints the Markdown report to stdout and writes the requested files.
func write(r *drift.Report, jsonPath, mdPath string, stdout io.Writer) error {
	if err := r.WriteMarkdown(stdout); err != nil {
		return err
	}
	for _, out := range []struct {
		path  string
		write func(io.Writer) error
	}{{jsonPath, r.WriteJSON}, {mdPath, r.WriteMarkdown}} {
		if out.path == "" {
			continue
		}
		f, err := os.Create(filepath.Clean(out.path))
		if err != nil {
			return fmt.Errorf("create %s: %w", out.path, err)
		}
		werr := out.write(f)
		if cerr := f.Close(); werr == nil && cerr != nil {
			werr = fmt.Errorf("close %s: %w", out.path, cerr)
		}
		if werr != nil {
			return werr
		}
	}
	return nil
}
