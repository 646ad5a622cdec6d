// Command tools finds the external programs of the tests (weed, the S3
// server of the service's object-store tests; for the Kubernetes platform
// test pulumi, pulumi-resource-kubernetes, etcd, kube-apiserver,
// kube-controller-manager, kube-scheduler, kubelet, kube-proxy and coredns)
// on PATH or in the cache, installs the missing ones from an official
// release verified against a pinned SHA-256 where one is pinned and
// reachable, builds the others from the Go module proxy (the Kubernetes
// programs in one go build), and prints where they are. `make tools` runs it.
//
//	go run ./test/cmd/tools              find, build what is missing, print the table
//	go run ./test/cmd/tools -check       only look; exit 1 listing what is missing
//	go run ./test/cmd/tools -platform    only the platform suite's programs (weed left for later)
//	go run ./test/cmd/tools -print-path  print the directories to prepend to PATH
//	go run ./test/cmd/tools -force etcd  rebuild tools into the cache even when found
//
// The versions and download sums are pinned in test/internal/toolchain/versions.go; the cache is
// $GOPHEROPS_TOOLS_DIR, by default the user cache directory's gopherops-tools.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"text/tabwriter"

	"github.com/gopherops/gopherops/test/internal/toolchain"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("tools", flag.ContinueOnError)
	fs.SetOutput(stderr)
	check := fs.Bool("check", false, "only look for the tools: exit 1 listing the missing ones and what building them costs")
	printPath := fs.Bool("print-path", false, "print the colon-separated directories to prepend to PATH (empty when every tool is on PATH); exit 1 if a tool is missing")
	platformOnly := fs.Bool("platform", false, "find or build only the platform suite's programs (not weed): what `make tools` does first")
	force := fs.String("force", "", "comma-separated tools (or all) to build into the cache even when found, for example to refresh a cache entry")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: go run ./test/cmd/tools [-check | -print-path | -force name,...]\n\n"+
			"Finds %s on PATH or in the cache (%s),\ndownloads the missing ones where a verified release is pinned, builds the others\nfrom the Go module proxy and prints where they are.\n\n",
			strings.Join(toolchain.Names(), ", "), cacheDirHint())
		fs.PrintDefaults()
		fmt.Fprintf(stderr, "\nFor a shell: d=$(go run ./test/cmd/tools -print-path) && export PATH=\"$d${d:+:}$PATH\"\n")
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 || countTrue(*check, *printPath, *force != "", *platformOnly) > 1 {
		fs.Usage()
		return 2
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var finder toolchain.Finder

	switch {
	case *printPath:
		locs, missing, err := finder.FindAll()
		if err != nil {
			fmt.Fprintln(stderr, err)
			return 1
		}
		if platform := platformMissing(missing); len(platform) > 0 {
			fmt.Fprintf(stderr, "tools: missing %s; run `make tools`\n", strings.Join(platform, ", "))
			return 1
		}
		fmt.Fprintln(stdout, strings.Join(toolchain.PathDirs(locs), ":"))
		return 0

	case *check:
		locs, missing, err := finder.FindAll()
		if err != nil {
			fmt.Fprintln(stderr, err)
			return 1
		}
		printTable(stdout, locs)
		if len(missing) == 0 {
			return 0
		}
		fmt.Fprintln(stderr, "tools: missing; `make tools` builds them from the Go module proxy:")
		for _, name := range missing {
			note := ""
			if !toolchain.PlatformTool(name) {
				note = "; not the platform suite's: without it the service's S3 tests skip"
			}
			fmt.Fprintf(stderr, "  %s %s (%s%s)\n", name, toolchain.PinnedVersion(name), toolchain.BuildCost(name), note)
		}
		// Ready means the platform suite can run.
		if len(platformMissing(missing)) == 0 {
			return 0
		}
		return 1

	default:
		var locs map[string]toolchain.Location
		var err error
		switch {
		case *force != "":
			locs, err = finder.Build(ctx, forceNames(*force), stderr)
		case *platformOnly:
			locs, err = finder.EnsurePlatform(ctx, stderr)
		default:
			locs, err = finder.Ensure(ctx, stderr)
		}
		if err != nil {
			if errors.Is(err, context.Canceled) {
				fmt.Fprintln(stderr, "tools: interrupted")
				return 130
			}
			fmt.Fprintln(stderr, err)
			return 1
		}
		printTable(stdout, locs)
		if dirs := toolchain.PathDirs(locs); len(dirs) > 0 {
			fmt.Fprintf(stdout, "\nexport PATH=%s:$PATH\n", strings.Join(dirs, ":"))
		} else {
			fmt.Fprintln(stdout, "\nEvery tool is on PATH.")
		}
		return 0
	}
}

// platformMissing are the missing tools the platform suite needs.
func platformMissing(missing []string) []string {
	var out []string
	for _, name := range missing {
		if toolchain.PlatformTool(name) {
			out = append(out, name)
		}
	}
	return out
}

// printTable writes name, version, source and path of the tools found, in build order.
func printTable(w io.Writer, locs map[string]toolchain.Location) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tVERSION\tSOURCE\tPATH")
	for _, name := range toolchain.Names() {
		loc, ok := locs[name]
		if !ok {
			continue
		}
		version := loc.Version
		if version == "" {
			version = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", name, version, loc.Source, loc.Path)
	}
	_ = tw.Flush()
}

// forceNames splits the -force value; "all" is every tool.
func forceNames(value string) []string {
	if value == "all" {
		return toolchain.Names()
	}
	var names []string
	for name := range strings.SplitSeq(value, ",") {
		if name = strings.TrimSpace(name); name != "" {
			names = append(names, name)
		}
	}
	return names
}

func cacheDirHint() string {
	dir, err := toolchain.CacheDir()
	if err != nil {
		return "$" + toolchain.EnvCacheDir
	}
	return dir
}

func countTrue(bs ...bool) int {
	n := 0
	for _, b := range bs {
		if b {
			n++
		}
	}
	return n
}
