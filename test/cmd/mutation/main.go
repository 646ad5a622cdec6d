// Command mutation runs mutation testing over the packages that hold the
// project's promises: the mutation tool (gremlins) changes one operator at a
// time in a package's code and runs that package's own tests against each
// change; a change every test survives is a promise no test of the owning
// package protects. `make mutation` runs it.
//
//	go run ./test/cmd/mutation -gremlins PATH [-packages a,b] [-floor 90] [-workers N] [-report DIR]
//
// It prints the kill rate of each package and every survivor with its file,
// line and code, writes the same and every mutant's fate to the report
// directory, and exits 1 when a package's kill rate is under the floor.
//
// The tool copies the Go module it mutates (the directory of the go.mod
// nearest to the package) into a scratch directory per worker and runs
// each mutant's tests there. A workspace module alone has lost what its
// tests need beside it: the service its migrations module (a replace
// directive to ../migrations), infra the stack files and docs at the
// repository's root; every test would fail to even start, and every mutant
// would count as killed. So for each package this command stages a copy of
// the repository in which the package's module is hoisted to the root
// (its go.mod, under the module path "github.com/gopherops/gopherops", so
// every import path stays what it is, and its go.sum), and hands the tool
// that: each worker's copy is then the whole repository. Tests that need
// PostgreSQL share one throwaway server (TEST_DATABASE_URL), each test
// still getting its own database, instead of starting a server per mutant.
// The tool tries only mutants inside the blocks of Go's coverage profile,
// which has none for a switch's case expressions; a shim in front of the go
// command (shim.go) adds them, or `case n > limit:` would never be tried.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/gopherops/gopherops/service/pglocal"
	"github.com/gopherops/gopherops/test/internal/mutation"
	"github.com/gopherops/gopherops/test/internal/repo"
)

// defaultPackages hold the promises: who may sign in and how often, what a
// password must be, what an upload may cost, what a request may carry, what
// text is stored, what the database enforces, and what the infrastructure
// grants, exposes and protects.
var defaultPackages = []string{
	"service/internal/accounts",
	"service/internal/password",
	"service/internal/imaging",
	"service/internal/web",
	"service/internal/safetext",
	"service/internal/store/postgres",
	"infra/config",
	"infra/cluster",
	"infra/network",
	"infra/platform",
}

// rootModule is the module path of the staged copy's root: the prefix of
// every workspace module, so the tool names each package by its real
// import path.
const rootModule = "github.com/gopherops/gopherops"

func main() {
	if filepath.Base(os.Args[0]) == "go" {
		os.Exit(shim(os.Args[1:]))
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

type options struct {
	gremlins    string
	packages    []string
	floor       float64
	workers     int
	coefficient int
	report      string
	// files, when set, are the only files (base names) mutated in each
	// package: a partial run, for iterating on one file or for a package
	// whose full run does not fit the time there is. The report says so.
	files []string
	// list prints the packages as a JSON array and runs nothing: the
	// nightly workflow's matrix, one job per package, from this one list.
	list bool
}

func parse(args []string, stderr io.Writer) (options, error) {
	fs := flag.NewFlagSet("mutation", flag.ContinueOnError)
	fs.SetOutput(stderr)
	o := options{}
	fs.StringVar(&o.gremlins, "gremlins", "", "path of the gremlins binary (make mutation installs the pinned version)")
	pkgs := fs.String("packages", strings.Join(defaultPackages, ","), "comma-separated package directories, relative to the repository root")
	fs.Float64Var(&o.floor, "floor", 90, "the lowest kill rate, in percent, each package may have")
	fs.IntVar(&o.workers, "workers", runtime.NumCPU(), "mutants tested at once")
	fs.IntVar(&o.coefficient, "timeout-coefficient", 10,
		"a mutant's tests time out after this many times the package's unmutated test run (compiling included)")
	fs.StringVar(&o.report, "report", "", "directory for the report (default: a new temporary directory)")
	fs.BoolVar(&o.list, "list", false, "print the packages (-packages, or every promise package) as a JSON array and run nothing")
	files := fs.String("files", "", "comma-separated file names: mutate only these files of each package (a partial run, and the report says so)")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if (o.gremlins == "" && !o.list) || fs.NArg() > 0 || o.workers < 1 || o.coefficient < 1 || o.floor < 0 || o.floor > 100 {
		fs.Usage()
		return o, errors.New("mutation: -gremlins is required; -workers and -timeout-coefficient are at least 1, -floor is a percentage")
	}
	for _, f := range strings.Split(*files, ",") {
		if f = strings.TrimSpace(f); f != "" {
			if f != filepath.Base(f) || !strings.HasSuffix(f, ".go") || strings.HasSuffix(f, "_test.go") {
				return o, fmt.Errorf("mutation: -files takes the names of a package's Go source files, not %q", f)
			}
			o.files = append(o.files, f)
		}
	}
	for _, p := range strings.Split(*pkgs, ",") {
		if p = strings.Trim(strings.TrimSpace(p), "/"); p != "" {
			o.packages = append(o.packages, filepath.ToSlash(p))
		}
	}
	return o, nil
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	o, err := parse(args, stderr)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		fmt.Fprintln(stderr, err)
		return 2
	}
	if o.list {
		if err := json.NewEncoder(stdout).Encode(o.packages); err != nil {
			fmt.Fprintln(stderr, err)
			return 1
		}
		return 0
	}
	summary, err := mutate(ctx, o, stdout)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	if low := summary.BelowFloor(o.floor); len(low) > 0 {
		for _, t := range low {
			fmt.Fprintf(stderr, "mutation: %s kills %.1f%% of its mutants, under the floor of %.0f%%\n", t.Package, t.KillRate(), o.floor)
		}
		return 1
	}
	fmt.Fprintf(stdout, "every package kills at least %.0f%% of its mutants\n", o.floor)
	return 0
}

// mutate stages the repository, runs the tool over each package and writes
// the report.
func mutate(ctx context.Context, o options, stdout io.Writer) (mutation.Summary, error) {
	start := time.Now()
	root, err := repo.Root()
	if err != nil {
		return mutation.Summary{}, err
	}
	gremlins, err := filepath.Abs(o.gremlins)
	if err != nil {
		return mutation.Summary{}, fmt.Errorf("mutation: %w", err)
	}
	if o.report == "" {
		if o.report, err = os.MkdirTemp("", "gopherops-mutation-report-"); err != nil {
			return mutation.Summary{}, fmt.Errorf("mutation: report directory: %w", err)
		}
	} else if err := os.MkdirAll(o.report, 0o755); err != nil { //nolint:gosec // a report for people to read
		return mutation.Summary{}, fmt.Errorf("mutation: report directory: %w", err)
	}
	scratch, err := os.MkdirTemp("", "gopherops-mutation-")
	if err != nil {
		return mutation.Summary{}, fmt.Errorf("mutation: scratch directory: %w", err)
	}
	defer func() { _ = os.RemoveAll(scratch) }()

	env, closeDB, err := environment(ctx, scratch)
	if err != nil {
		return mutation.Summary{}, err
	}
	defer closeDB()
	bin := filepath.Join(scratch, "bin")
	if err := os.MkdirAll(bin, 0o755); err != nil { //nolint:gosec // holds the go shim
		return mutation.Summary{}, fmt.Errorf("mutation: %w", err)
	}
	if env, err = installShim(bin, env); err != nil {
		return mutation.Summary{}, err
	}

	var all []mutation.Mutant
	for i, pkg := range o.packages {
		if _, err := os.Stat(filepath.Join(root, pkg)); err != nil {
			return mutation.Summary{}, fmt.Errorf("mutation: package %s: %w", pkg, err)
		}
		began := time.Now()
		fmt.Fprintf(stdout, "== %s\n", pkg)
		staged := filepath.Join(scratch, fmt.Sprintf("repo-%d", i))
		if err := stage(ctx, root, staged, pkg); err != nil {
			return mutation.Summary{}, err
		}
		mutants, err := mutatePackage(ctx, o, gremlins, staged, pkg, append(env, envRoot+"="+staged))
		_ = os.RemoveAll(staged)
		if err != nil {
			return mutation.Summary{}, err
		}
		t := mutation.Tally{Package: pkg}
		for _, m := range mutants {
			t.Add(m)
		}
		fmt.Fprintf(stdout, "   %d mutants: %d killed, %d lived, %d timed out, %d not covered, %d not viable (%s)\n",
			len(mutants), t.Killed, t.Lived, t.TimedOut, t.NotCovered, t.NotViable, time.Since(began).Round(time.Second))
		all = append(all, mutants...)
	}
	if err := mutation.MarkEquivalent(all, equivalentsIn(o.packages, o.files)); err != nil {
		return mutation.Summary{}, err
	}
	summary := mutation.Summarize(o.packages, all)
	elapsed := time.Since(start).Round(time.Second)

	var text bytes.Buffer
	if err := summary.WriteText(&text); err != nil {
		return mutation.Summary{}, err
	}
	fmt.Fprintf(&text, "\n%d packages in %s, %d workers, floor %.0f%% per package\n", len(o.packages), elapsed, o.workers, o.floor)
	if len(o.files) > 0 {
		fmt.Fprintf(&text, "PARTIAL RUN: only %s of each package mutated; these are not the packages' figures\n", strings.Join(o.files, ", "))
	}
	if _, err := stdout.Write(text.Bytes()); err != nil {
		return mutation.Summary{}, err
	}
	if err := writeReport(o.report, text.Bytes(), summary, all, elapsed); err != nil {
		return mutation.Summary{}, err
	}
	fmt.Fprintf(stdout, "report: %s\n", o.report)
	return summary, nil
}

// mutatePackage runs the tool over one package of the staged copy and reads
// its report.
func mutatePackage(ctx context.Context, o options, gremlins, staged, pkg string, env []string) ([]mutation.Mutant, error) {
	name := strings.ReplaceAll(pkg, "/", "-")
	out := filepath.Join(o.report, name+".json")
	logFile, err := os.Create(filepath.Join(o.report, name+".log")) //nolint:gosec // the report directory
	if err != nil {
		return nil, fmt.Errorf("mutation: %w", err)
	}
	defer func() { _ = logFile.Close() }()
	dir := filepath.Join(staged, filepath.FromSlash(pkg))
	args := []string{"unleash",
		// Beyond the tool's defaults (arithmetic, comparisons and their
		// boundaries, ++/--, negation): && against || and break against
		// continue, the mistakes that open a check up.
		"--invert-logical", "--invert-loopctrl",
		"--workers", fmt.Sprint(o.workers),
		"--timeout-coefficient", fmt.Sprint(o.coefficient),
		"--output", out,
	}
	excl, err := excludeOthers(dir, o.files)
	if err != nil {
		return nil, err
	}
	args = append(append(args, excl...), dir)
	cmd := exec.CommandContext(ctx, gremlins, args...) //nolint:gosec // the pinned tool, with arguments built here
	cmd.Dir = dir
	cmd.Env = env
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = time.Minute
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("mutation: %s: gremlins: %w (its output: %s)", pkg, err, logFile.Name())
	}
	f, err := os.Open(out) //nolint:gosec // written by the tool just now
	if err != nil {
		return nil, fmt.Errorf("mutation: %s: gremlins wrote no report: %w (its output: %s)", pkg, err, logFile.Name())
	}
	defer func() { _ = f.Close() }()
	return mutation.ReadReport(f, staged, pkg)
}

// excludeOthers is the tool's arguments that leave out every Go source file
// of the package in dir but files (none when files is empty); a named file
// the package does not have is an error, so a typo cannot empty the run.
func excludeOthers(dir string, files []string) ([]string, error) {
	if len(files) == 0 {
		return nil, nil
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("mutation: %w", err)
	}
	var args []string
	found := 0
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || !strings.HasSuffix(name, ".go") || strings.HasSuffix(name, "_test.go") {
			continue
		}
		if slices.Contains(files, name) {
			found++
			continue
		}
		args = append(args, "--exclude-files", "(^|/)"+regexp.QuoteMeta(name)+"$")
	}
	if found != len(files) {
		return nil, fmt.Errorf("mutation: -files %s: not all are source files of %s", strings.Join(files, ","), dir)
	}
	return args, nil
}

// stage copies the repository's files (tracked and untracked, not ignored:
// what `go test` sees) to dst, and hoists the module that holds pkg to dst's
// root, so that the tool's copy of "the module" is the whole repository.
func stage(ctx context.Context, root, dst, pkg string) error {
	cmd := exec.CommandContext(ctx, "git", "ls-files", "-z", "--cached", "--others", "--exclude-standard")
	cmd.Dir = root
	cmd.Stderr = os.Stderr
	list, err := cmd.Output()
	if err != nil {
		return fmt.Errorf("mutation: list the repository's files: %w", err)
	}
	for _, name := range strings.Split(strings.TrimRight(string(list), "\x00"), "\x00") {
		if name == "" {
			continue
		}
		if err := copyFile(filepath.Join(root, name), filepath.Join(dst, name)); err != nil {
			return fmt.Errorf("mutation: stage %s: %w", name, err)
		}
	}
	return hoist(dst, pkg)
}

// hoist moves the go.mod (and go.sum) of the module holding pkg, a
// directory relative to dst, to dst itself, renamed to rootModule and with
// its relative replace directives made relative to the root; the
// workspace file goes, as the tool's copies run outside any workspace. It
// then checks that the module the tool will find for pkg is the root.
func hoist(dst, pkg string) error {
	modDir := ""
	for dir := path.Clean(pkg); dir != "." && dir != "/"; dir = path.Dir(dir) {
		if _, err := os.Stat(filepath.Join(dst, filepath.FromSlash(dir), "go.mod")); err == nil {
			modDir = dir
			break
		}
	}
	if modDir == "" {
		return fmt.Errorf("mutation: package %s is in no module of the repository", pkg)
	}
	src := filepath.Join(dst, filepath.FromSlash(modDir))
	gomod, err := os.ReadFile(filepath.Join(src, "go.mod")) //nolint:gosec // the staged copy's go.mod
	if err != nil {
		return fmt.Errorf("mutation: stage: %w", err)
	}
	hoisted, err := hoistGoMod(gomod, modDir)
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dst, "go.mod"), hoisted, 0o644); err != nil { //nolint:gosec // source, as in the repository
		return fmt.Errorf("mutation: stage go.mod: %w", err)
	}
	if err := os.Rename(filepath.Join(src, "go.sum"), filepath.Join(dst, "go.sum")); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("mutation: stage go.sum: %w", err)
	}
	for _, f := range []string{filepath.Join(src, "go.mod"), filepath.Join(dst, "go.work"), filepath.Join(dst, "go.work.sum")} {
		if err := os.Remove(f); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("mutation: stage: %w", err)
		}
	}
	if got := moduleRoot(filepath.Join(dst, filepath.FromSlash(pkg))); got != dst {
		return fmt.Errorf("mutation: stage: the tool would copy %s, not the staged repository %s", got, dst)
	}
	return nil
}

// hoistGoMod rewrites the go.mod of the module in directory modDir as the
// root module's: the module path becomes rootModule (rootModule/modDir/x
// is still the path of modDir/x) and a replacement by a relative directory
// is made relative to the root.
func hoistGoMod(gomod []byte, modDir string) ([]byte, error) {
	lines := strings.Split(string(gomod), "\n")
	want := rootModule + "/" + modDir
	found := false
	for i, l := range lines {
		f := strings.Fields(l)
		switch {
		case len(f) == 2 && f[0] == "module":
			if strings.Trim(f[1], `"`) != want {
				return nil, fmt.Errorf("mutation: %s/go.mod declares module %s, want %s", modDir, f[1], want)
			}
			lines[i], found = "module "+rootModule, true
		case len(f) >= 3 && f[len(f)-2] == "=>" && (strings.HasPrefix(f[len(f)-1], "./") || strings.HasPrefix(f[len(f)-1], "../")):
			target := path.Join(modDir, f[len(f)-1])
			if target == ".." || strings.HasPrefix(target, "../") {
				return nil, fmt.Errorf("mutation: %s/go.mod replaces with %s, outside the repository", modDir, f[len(f)-1])
			}
			f[len(f)-1] = "./" + target
			lines[i] = l[:len(l)-len(strings.TrimLeft(l, " \t"))] + strings.Join(f, " ")
		}
	}
	if !found {
		return nil, fmt.Errorf("mutation: %s/go.mod has no module line", modDir)
	}
	return []byte(strings.Join(lines, "\n")), nil
}

// moduleRoot is the directory of the go.mod nearest to dir, as the tool
// finds the module to copy.
func moduleRoot(dir string) string {
	for d := filepath.Clean(dir); ; d = filepath.Dir(d) {
		if fi, err := os.Stat(filepath.Join(d, "go.mod")); err == nil && !fi.IsDir() {
			return d
		}
		if filepath.Dir(d) == d {
			return ""
		}
	}
}

// copyFile copies a regular file with its mode; a file the listing names
// but the work tree no longer has (deleted, not yet committed) is skipped.
func copyFile(src, dst string) error {
	info, err := os.Lstat(src)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if !info.Mode().IsRegular() {
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil { //nolint:gosec // a copy of the source tree
		return err
	}
	in, err := os.Open(src) //nolint:gosec // a file of the repository
	if err != nil {
		return err
	}
	defer func() { _ = in.Close() }()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, info.Mode().Perm()) //nolint:gosec // a copy of the source tree
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		_ = out.Close()
		return err
	}
	return out.Close()
}

// environment is the tool's environment: its scratch copies under scratch,
// and one PostgreSQL server for every test process (TEST_DATABASE_URL, or a
// throwaway server started here when it is not set).
func environment(ctx context.Context, scratch string) ([]string, func(), error) {
	tmp := filepath.Join(scratch, "tmp")
	if err := os.MkdirAll(tmp, 0o700); err != nil {
		return nil, nil, fmt.Errorf("mutation: %w", err)
	}
	env := append(os.Environ(), "TMPDIR="+tmp)
	if os.Getenv("TEST_DATABASE_URL") != "" {
		return env, func() {}, nil
	}
	srv, err := pglocal.Start(ctx, pglocal.Options{})
	if err != nil {
		return nil, nil, fmt.Errorf("mutation: start a throwaway PostgreSQL for the tests (or set TEST_DATABASE_URL): %w", err)
	}
	env = append(env, "TEST_DATABASE_URL="+srv.URL("postgres"))
	return env, func() { _ = srv.Close() }, nil
}

// writeReport writes the summary as text and JSON, with every mutant.
func writeReport(dir string, text []byte, s mutation.Summary, all []mutation.Mutant, elapsed time.Duration) error {
	if err := os.WriteFile(filepath.Join(dir, "summary.txt"), text, 0o644); err != nil { //nolint:gosec // a report for people to read
		return fmt.Errorf("mutation: %w", err)
	}
	doc := struct {
		mutation.Summary
		Seconds int               `json:"seconds"`
		Mutants []mutation.Mutant `json:"mutants"`
	}{s, int(elapsed.Seconds()), all}
	b, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return fmt.Errorf("mutation: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "mutants.json"), b, 0o644); err != nil { //nolint:gosec // a report for people to read
		return fmt.Errorf("mutation: %w", err)
	}
	return nil
}

// equivalentsIn is the documented equivalents of the packages run (of
// their files run, when the run is partial).
func equivalentsIn(pkgs, files []string) []mutation.Equivalent {
	var out []mutation.Equivalent
	for _, e := range equivalents {
		if slices.Contains(pkgs, path.Dir(e.File)) && (len(files) == 0 || slices.Contains(files, path.Base(e.File))) {
			out = append(out, e)
		}
	}
	return out
}
