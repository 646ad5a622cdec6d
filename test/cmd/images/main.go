// Command images builds the platform suite's container images without a
// registry or a Docker engine, as `docker save` archives that
// `ctr -n k8s.io images import` loads:
//
//	go run ./test/cmd/images -gopherops v1,v2   the GopherOps image (Dockerfile's binary and contract), one archive per tag
//	go run ./test/cmd/images -pause             the pods' sandbox image
//	sudo go run ./test/cmd/images -postgres     PostgreSQL from Debian's packages (debootstrap; minutes; root), kept
//
// The archives go to -out, by default the images directory of the tools
// cache (where the platform suite looks for the PostgreSQL image). It
// fetches nothing but Go modules and Debian packages.
package main

import (
	"context"
	"errors"
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

	"github.com/gopherops/gopherops/test/internal/images"
	"github.com/gopherops/gopherops/test/internal/toolchain"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stderr))
}

func run(args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("images", flag.ContinueOnError)
	fs.SetOutput(stderr)
	out := fs.String("out", "", "directory of the archives (default: <tools cache>/images)")
	tags := fs.String("gopherops", "", "comma-separated tags of "+images.GopherOpsRepository+" to build, one archive each")
	pause := fs.Bool("pause", false, "build "+images.PauseRef)
	postgres := fs.Bool("postgres", false, "build "+images.PostgresRepository+" with debootstrap (root, minutes)")
	repo := fs.String("repo", ".", "the repository's root")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 || (*tags == "" && !*pause && !*postgres) {
		fmt.Fprintln(stderr, "usage: go run ./test/cmd/images [-out DIR] [-gopherops tag,...] [-pause] [-postgres]")
		return 2
	}
	if *out == "" {
		dir, err := toolchain.CacheDir()
		if err != nil {
			fmt.Fprintln(stderr, err)
			return 1
		}
		*out = filepath.Join(dir, "images")
	}
	log := slog.New(slog.NewTextHandler(stderr, nil))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := build(ctx, log, *repo, *out, *tags, *pause, *postgres); err != nil {
		log.Error("images", "err", err)
		return 1
	}
	return 0
}

func build(ctx context.Context, log *slog.Logger, repo, out, tags string, pause, postgres bool) error {
	root, err := filepath.Abs(repo)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(out, 0o750); err != nil {
		return err
	}
	work, err := os.MkdirTemp(out, ".work-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	o := images.BuildOptions{RepoRoot: root, Version: "platform", Commit: "local", Created: time.Now()}
	for tag := range strings.SplitSeq(tags, ",") {
		if tag = strings.TrimSpace(tag); tag == "" {
			continue
		}
		start := time.Now()
		archive, ref, err := images.GopherOpsArchive(ctx, o, tag, out, work)
		if err != nil {
			return err
		}
		log.Info("built", "image", ref, "archive", archive, "took", time.Since(start).Round(time.Millisecond))
	}
	if pause {
		start := time.Now()
		archive, err := images.PauseArchive(ctx, o, out, work)
		if err != nil {
			return err
		}
		log.Info("built", "image", images.PauseRef, "archive", archive, "took", time.Since(start).Round(time.Millisecond))
	}
	if postgres {
		start := time.Now()
		archive, ref, err := images.CachedPostgres(ctx, out, images.PostgresOptions{WorkDir: work, Log: os.Stderr})
		if err != nil {
			return err
		}
		log.Info("built", "image", ref, "archive", archive, "took", time.Since(start).Round(time.Millisecond))
	}
	return nil
}
