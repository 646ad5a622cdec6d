package toolchain

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/gopherops/gopherops/service/s3local"
)

const (
	// defaultHeartbeat is the interval of the "still building" progress lines.
	defaultHeartbeat = 30 * time.Second
	// tailLines is how many of a failed go command's last lines a BuildError carries.
	tailLines = 30
	// tailKeep bounds the output kept in memory for that tail.
	tailKeep = 64 << 10
	// waitDelay is how long go may take to exit after an interrupt before it is killed.
	waitDelay = 15 * time.Second
)

// BuildError is a go command of a tool build that failed, with the end of its output.
type BuildError struct {
	// Tool is the tool being built.
	Tool string
	// Command is the go command that failed.
	Command string
	// Log is the file holding the whole output of the tool's build.
	Log string
	// Tail is the last lines of the failed command's output.
	Tail string
	// Err is the command's error.
	Err error
}

// Error is the failure on one line (with the log file), then the tail of the output.
func (e *BuildError) Error() string {
	msg := fmt.Sprintf("toolchain: build %s: %s: %v (whole output in %s)", e.Tool, e.Command, e.Err, e.Log)
	if e.Tail != "" {
		msg += "\n" + e.Tail
	}
	return msg
}

// Unwrap returns the command's error.
func (e *BuildError) Unwrap() error { return e.Err }

// Ensure finds every tool and builds the missing ones into the cache, one at a
// time and cheapest first. It writes a line per tool to progress (nil: none),
// and during a build a heartbeat with the elapsed time. It returns the location
// of every tool, or the first build's error.
func (f *Finder) Ensure(ctx context.Context, progress io.Writer) (map[string]Location, error) {
	found, _, err := f.findAll(ctx)
	if err != nil {
		return nil, err
	}
	return f.walk(ctx, progress, Names(), found)
}

// EnsurePlatform is Ensure for the platform suite's programs only (weed
// left out), so a caller on a time budget can put what the suite needs, and
// the node's image after it, before the optional builds.
func (f *Finder) EnsurePlatform(ctx context.Context, progress io.Writer) (map[string]Location, error) {
	found, _, err := f.findAll(ctx)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, name := range Names() {
		if PlatformTool(name) {
			names = append(names, name)
		}
	}
	return f.walk(ctx, progress, names, found)
}

// Build builds the named tools into the cache whether or not they are found
// already (to refresh a cache entry or to try the builds), one at a time in
// Names() order, with the progress of Ensure.
func (f *Finder) Build(ctx context.Context, names []string, progress io.Writer) (map[string]Location, error) {
	want := map[string]bool{}
	for _, name := range names {
		if _, ok := lookupTool(name); !ok {
			return nil, fmt.Errorf("toolchain: unknown tool %q (known: %s)", name, strings.Join(Names(), ", "))
		}
		want[name] = true
	}
	var ordered []string
	for _, name := range Names() {
		if want[name] {
			ordered = append(ordered, name)
		}
	}
	return f.walk(ctx, progress, ordered, nil)
}

// walk reports each of names that is in found and installs the others:
// from a verified release download where one is pinned and reachable, else
// by a build. The Kubernetes programs still missing are built together, in
// one go build, so that the packages they share compile once.
func (f *Finder) walk(ctx context.Context, progress io.Writer, names []string, found map[string]Location) (map[string]Location, error) {
	if progress == nil {
		progress = io.Discard
	}
	out := &lockedWriter{w: progress}
	var b *builder // made by the first build: it asks go for its settings
	root, err := f.cacheRoot()
	if err != nil {
		return nil, err
	}
	fe := f.newFetcher(root)
	defer fe.close()
	locs := map[string]Location{}
	for i, name := range names {
		step := fmt.Sprintf("[%d/%d] %s", i+1, len(names), name)
		if loc, ok := found[name]; ok {
			where := "found on PATH"
			if loc.Source == SourceCache {
				where = "cached"
			}
			fmt.Fprintf(out, "%s %s: %s: %s\n", step, orUnknown(loc.Version), where, loc.Path)
			locs[name] = loc
			continue
		}
		if loc, ok := locs[name]; ok { // built with an earlier tool of its group
			fmt.Fprintf(out, "%s %s: built with its group: %s\n", step, loc.Version, loc.Path)
			continue
		}
		t, _ := lookupTool(name)
		if r, ok := f.release(name); ok {
			start := time.Now()
			loc, err := fe.install(ctx, t, r)
			if err == nil {
				fmt.Fprintf(out, "%s %s: downloaded and verified in %s: %s\n", step, orUnknown(loc.Version), time.Since(start).Round(time.Second), loc.Path)
				locs[name] = loc
				continue
			}
			if ctx.Err() != nil {
				return nil, fmt.Errorf("toolchain: %s: %w", name, ctx.Err())
			}
			fmt.Fprintf(out, "%s: no download (%v); building from the Go module proxy instead\n", step, err)
		}
		batch := []tool{t}
		if t.group == groupKube {
			batch = append(batch, f.batchMates(t, names[i+1:], found)...)
		}
		if b == nil {
			if b, err = f.newBuilder(ctx, out); err != nil {
				return nil, err
			}
		}
		label := batchLabel(batch)
		fmt.Fprintf(out, "%s %s: building %s (%s)...\n", step, t.version, label, t.cost)
		start := time.Now()
		stop := b.startHeartbeat(label, start)
		paths, err := b.build(ctx, batch)
		stop()
		elapsed := time.Since(start).Round(time.Second)
		if err != nil {
			fmt.Fprintf(out, "%s %s: failed after %s\n", step, t.version, elapsed)
			return nil, err
		}
		for _, bt := range batch {
			locs[bt.name] = Location{Name: bt.name, Path: paths[bt.name], Version: bt.version, Source: SourceBuilt}
		}
		fmt.Fprintf(out, "%s %s: done in %s: %s\n", step, t.version, elapsed, strings.Join(sortedPaths(paths, batch), ", "))
	}
	return locs, nil
}

// batchMates are the tools of t's group among rest that are neither found
// nor downloadable: they are built in t's go build.
func (f *Finder) batchMates(t tool, rest []string, found map[string]Location) []tool {
	var mates []tool
	for _, name := range rest {
		other, _ := lookupTool(name)
		if other.group != t.group {
			continue
		}
		if _, ok := found[name]; ok {
			continue
		}
		if _, ok := f.release(name); ok {
			continue
		}
		mates = append(mates, other)
	}
	return mates
}

// batchLabel names the tools of one build.
func batchLabel(batch []tool) string {
	names := make([]string, len(batch))
	for i, t := range batch {
		names[i] = t.name
	}
	return strings.Join(names, " + ")
}

// sortedPaths lists the built paths in batch order.
func sortedPaths(paths map[string]string, batch []tool) []string {
	out := make([]string, 0, len(batch))
	for _, t := range batch {
		out = append(out, paths[t.name])
	}
	return out
}

// builder runs the builds of one Ensure or Build call.
type builder struct {
	goCmd     string
	root      string   // cache root
	env       []string // environment of every go command
	goLine    string   // go directive of the wrapper modules
	out       io.Writer
	heartbeat time.Duration
	prepared  map[string]bool // wrapper groups set up by this builder
}

func (f *Finder) newBuilder(ctx context.Context, out io.Writer) (*builder, error) {
	root, err := f.cacheRoot()
	if err != nil {
		return nil, err
	}
	goCmd := f.Go
	if goCmd == "" {
		goCmd = "go"
	}
	cmd := exec.CommandContext(ctx, goCmd, "env", "GOVERSION", "GOFLAGS") //nolint:gosec // the go command
	cmd.Env = append(os.Environ(), "GOWORK=off", "GOTOOLCHAIN=local")
	stdout, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("toolchain: go env: %w", err)
	}
	lines := strings.Split(string(stdout), "\n")
	if len(lines) < 2 {
		return nil, fmt.Errorf("toolchain: go env GOVERSION GOFLAGS printed %q", stdout)
	}
	goLine, err := goDirective(strings.TrimSpace(lines[0]))
	if err != nil {
		return nil, err
	}
	hb := f.Heartbeat
	if hb <= 0 {
		hb = defaultHeartbeat
	}
	return &builder{
		goCmd:     goCmd,
		root:      root,
		env:       buildEnv(os.Environ(), withModMod(strings.TrimSpace(lines[1]))),
		goLine:    goLine,
		out:       out,
		heartbeat: hb,
		prepared:  map[string]bool{},
	}, nil
}

// build builds the tools of batch (one group, one directory) with one go
// build into a temporary directory next to their cached paths, checks each
// binary's version and renames it into place, so that a cached binary is
// always a whole one.
func (b *builder) build(ctx context.Context, batch []tool) (map[string]string, error) {
	t := batch[0]
	src := filepath.Join(b.root, "src", t.group)
	if err := os.MkdirAll(src, 0o750); err != nil {
		return nil, fmt.Errorf("toolchain: build %s: %w", t.name, err)
	}
	logPath := filepath.Join(src, t.name+".log")
	logFile, err := os.Create(logPath) //nolint:gosec // a file in the cache directory, named after the tool
	if err != nil {
		return nil, fmt.Errorf("toolchain: build %s: %w", t.name, err)
	}
	defer logFile.Close()
	r := run{b: b, tool: batchLabel(batch), dir: src, log: logFile, logPath: logPath}

	if !b.prepared[t.group] {
		if err := r.prepare(ctx, t.group); err != nil {
			return nil, err
		}
		b.prepared[t.group] = true
	}

	dir := filepath.Join(b.root, t.dir)
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("toolchain: build %s: %w", t.name, err)
	}
	// go build refuses to overwrite a file it did not write; a leftover of a
	// killed run is removed, and so is this run's on failure.
	tmpDir := filepath.Join(dir, fmt.Sprintf(".build-%d", os.Getpid()))
	_ = os.RemoveAll(tmpDir)
	if err := os.Mkdir(tmpDir, 0o750); err != nil {
		return nil, fmt.Errorf("toolchain: build %s: %w", t.name, err)
	}
	defer func() { _ = os.RemoveAll(tmpDir) }()

	now := time.Now()
	var args []string
	if len(batch) == 1 {
		args = append([]string{"build", "-o", filepath.Join(tmpDir, t.name)}, buildArgs(t.name, now)...)
	} else {
		// With several packages, -o names a directory: each binary is named
		// after its package's last element, which is the tool's name.
		args = []string{"build", "-o", tmpDir + string(filepath.Separator), "-ldflags", kubeLDFlags(now)}
		for _, bt := range batch {
			args = append(args, kubernetesModule+"/cmd/"+bt.name)
		}
	}
	if err := r.goRun(ctx, args...); err != nil {
		return nil, err
	}
	paths := map[string]string{}
	for _, bt := range batch {
		tmp := filepath.Join(tmpDir, bt.name)
		if ok, err := isExecutable(tmp); err != nil {
			return nil, fmt.Errorf("toolchain: build %s: %w", bt.name, err)
		} else if !ok {
			return nil, fmt.Errorf("toolchain: build %s: go build wrote no executable %s", bt.name, tmp)
		}
		if bt.versionArgs != nil {
			out, err := runVersion(ctx, tmp, bt.versionArgs)
			if err != nil {
				return nil, fmt.Errorf("toolchain: build %s: the new binary does not run: %w", bt.name, err)
			}
			if got := parseVersion(out); strings.TrimPrefix(got, "v") != strings.TrimPrefix(bt.version, "v") {
				return nil, fmt.Errorf("toolchain: build %s: the new binary reports version %q, want %s", bt.name, got, bt.version)
			}
		}
	}
	for _, bt := range batch {
		final := filepath.Join(dir, bt.name)
		if err := os.Rename(filepath.Join(tmpDir, bt.name), final); err != nil {
			return nil, fmt.Errorf("toolchain: build %s: install: %w", bt.name, err)
		}
		paths[bt.name] = final
	}
	return paths, nil
}

// buildArgs are the arguments of go build after -o: flags and package.
func buildArgs(name string, now time.Time) []string {
	switch name {
	case Pulumi:
		return []string{"-ldflags", "-X " + pulumiVersionVar + "=" + PulumiVersion, pulumiPackage}
	case KubernetesProvider:
		return []string{"-ldflags", "-X " + providerVersionVar + "=" + KubernetesProviderVersion, "."}
	case Weed:
		return []string{s3local.Package}
	case KubeAPIServer, KubeControllerManager, KubeScheduler, Kubelet, KubeProxy:
		return []string{"-ldflags", kubeLDFlags(now), kubernetesModule + "/cmd/" + name}
	default: // etcd and coredns: the wrapper's own main package
		return []string{"."}
	}
}

// kubeLDFlags stamps the version kube-apiserver --version prints, as
// Kubernetes' own build does.
func kubeLDFlags(now time.Time) string {
	major, minor := "", ""
	if parts := strings.Split(strings.TrimPrefix(KubernetesVersion, "v"), "."); len(parts) >= 2 {
		major, minor = parts[0], parts[1]
	}
	vars := []string{
		"gitVersion=" + KubernetesVersion,
		"gitMajor=" + major,
		"gitMinor=" + minor,
		"gitTreeState=clean",
		"buildDate=" + now.UTC().Format("2006-01-02T15:04:05Z"),
	}
	flags := make([]string, len(vars))
	for i, v := range vars {
		flags[i] = "-X " + kubeVersionPackage + "." + v
	}
	return strings.Join(flags, " ")
}

// run is the go commands of one tool's build, in its wrapper module.
type run struct {
	b       *builder
	tool    string
	dir     string // the wrapper module
	log     io.Writer
	logPath string
}

// prepare writes the wrapper module of group and tidies it.
func (r run) prepare(ctx context.Context, group string) error {
	w := wrapperOf(group)
	mod := goModFile{Module: w.module, Go: r.b.goLine}
	// A go.mod without requirements first: go mod download must not load the
	// built module's graph (k8s.io/kubernetes needs its replacements for that).
	if err := writeFile(r.dir, "go.mod", mod.bytes()); err != nil {
		return fmt.Errorf("toolchain: build %s: %w", r.tool, err)
	}
	info, err := r.download(ctx, w.require, w.version)
	if err != nil {
		return err
	}
	upstream, err := os.ReadFile(info.GoMod)
	if err != nil {
		return fmt.Errorf("toolchain: build %s: go.mod of %s: %w", r.tool, w.require, err)
	}
	replaces, godebug := parseGoMod(upstream)
	mod.Require = w.require + " " + w.version
	mod.Godebug = godebug
	mod.Replace = w.replaces(replaces)
	files, err := w.files(info.Dir)
	if err != nil {
		return fmt.Errorf("toolchain: build %s: %w", r.tool, err)
	}
	files["go.mod"] = mod.bytes()
	for name, data := range files {
		if err := writeFile(r.dir, name, data); err != nil {
			return fmt.Errorf("toolchain: build %s: %w", r.tool, err)
		}
	}
	return r.goRun(ctx, "mod", "tidy")
}

// moduleInfo is the part of `go mod download -json` the builds use.
type moduleInfo struct {
	Dir   string
	GoMod string
	Error string
}

// download fetches module@version into the module cache.
func (r run) download(ctx context.Context, module, version string) (moduleInfo, error) {
	args := []string{"mod", "download", "-json", module + "@" + version}
	r.progress(args)
	cmd := r.b.command(ctx, r.dir, args...)
	var stdout bytes.Buffer
	tail := &tailBuffer{}
	cmd.Stdout = &stdout
	cmd.Stderr = io.MultiWriter(r.log, tail)
	runErr := cmd.Run()
	var info moduleInfo
	if err := json.Unmarshal(stdout.Bytes(), &info); err == nil && info.Error != "" {
		runErr = errors.Join(runErr, errors.New(info.Error))
	}
	if runErr != nil {
		return moduleInfo{}, r.failure(ctx, args, runErr, tail)
	}
	if info.Dir == "" || info.GoMod == "" {
		return moduleInfo{}, fmt.Errorf("toolchain: build %s: go mod download printed no module directory for %s@%s", r.tool, module, version)
	}
	return info, nil
}

// goRun runs go with args in the wrapper module, its output to the log.
func (r run) goRun(ctx context.Context, args ...string) error {
	r.progress(args)
	cmd := r.b.command(ctx, r.dir, args...)
	tail := &tailBuffer{}
	w := io.MultiWriter(r.log, tail)
	cmd.Stdout = w
	cmd.Stderr = w
	if err := cmd.Run(); err != nil {
		return r.failure(ctx, args, err, tail)
	}
	return nil
}

func (r run) progress(args []string) {
	fmt.Fprintf(r.b.out, "      go %s (in %s)\n", strings.Join(args, " "), r.dir)
}

// failure is the error of a go command that failed: the context's error when
// it was cancelled, else a BuildError with the tail of the output.
func (r run) failure(ctx context.Context, args []string, err error, tail *tailBuffer) error {
	if ctxErr := ctx.Err(); ctxErr != nil {
		return fmt.Errorf("toolchain: build %s: go %s: %w", r.tool, args[0], ctxErr)
	}
	return &BuildError{Tool: r.tool, Command: "go " + strings.Join(args, " "), Log: r.logPath, Tail: tail.last(tailLines), Err: err}
}

// command is go with args in dir, interrupted with its children (then killed)
// when ctx ends.
func (b *builder) command(ctx context.Context, dir string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, b.goCmd, args...) //nolint:gosec // the go command, with arguments this package composes
	cmd.Dir = dir
	cmd.Env = b.env
	// An interrupt lets go remove its work directory; WaitDelay kills go and
	// stops waiting for its output if it does not exit.
	interruptGroupOnCancel(cmd)
	cmd.WaitDelay = waitDelay
	return cmd
}

// startHeartbeat writes a line with the elapsed time every heartbeat interval
// until the returned stop is called.
func (b *builder) startHeartbeat(name string, start time.Time) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		ticker := time.NewTicker(b.heartbeat)
		defer ticker.Stop()
		for {
			select {
			case <-done:
				return
			case <-ticker.C:
				fmt.Fprintf(b.out, "      %s: still building, %s elapsed\n", name, time.Since(start).Round(time.Second))
			}
		}
	})
	return func() {
		close(done)
		wg.Wait()
	}
}

// buildEnv is base with the settings every build runs with: no workspace
// (the wrapper module stands alone), go.mod updated as needed, and the local
// toolchain (no download of another Go).
func buildEnv(base []string, goflags string) []string {
	env := make([]string, 0, len(base)+3)
	for _, kv := range base {
		switch k, _, _ := strings.Cut(kv, "="); k {
		case "GOWORK", "GOFLAGS", "GOTOOLCHAIN":
			continue
		}
		env = append(env, kv)
	}
	return append(env, "GOWORK=off", "GOFLAGS="+goflags, "GOTOOLCHAIN=local")
}

// withModMod is goflags (the user's, kept so the build cache is shared with
// their other builds) with -mod=mod instead of any other -mod.
func withModMod(goflags string) string {
	var flags []string
	for _, f := range strings.Fields(goflags) {
		if strings.HasPrefix(f, "-mod=") || strings.HasPrefix(f, "--mod=") {
			continue
		}
		flags = append(flags, f)
	}
	return strings.Join(append(flags, "-mod=mod"), " ")
}

// goDirective is the go line of the wrapper modules for the toolchain
// version goversion ("go1.26.8" gives "1.26.0"); go mod tidy raises it when
// a dependency needs more.
func goDirective(goversion string) (string, error) {
	v, ok := strings.CutPrefix(goversion, "go")
	major, rest, ok2 := strings.Cut(v, ".")
	minor := rest // "26.8", or "27rc1" for a release candidate
	if i := strings.IndexFunc(minor, func(r rune) bool { return r < '0' || r > '9' }); i >= 0 {
		minor = minor[:i]
	}
	if !ok || !ok2 || major == "" || minor == "" {
		return "", fmt.Errorf("toolchain: cannot tell the Go language version of toolchain %q", goversion)
	}
	return major + "." + minor + ".0", nil
}

// writeFile replaces dir/name with data. The old file is removed first: files
// copied from the module cache earlier are read-only.
func writeFile(dir, name string, data []byte) error {
	path := filepath.Join(dir, name)
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("replace %s: %w", path, err)
	}
	if err := os.WriteFile(path, data, 0o600); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// lockedWriter serialises the progress lines of the build and its heartbeat.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// tailBuffer keeps the end of a command's output.
type tailBuffer struct {
	buf []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.buf = append(t.buf, p...)
	if len(t.buf) > 2*tailKeep {
		t.buf = append(t.buf[:0], t.buf[len(t.buf)-tailKeep:]...)
	}
	return len(p), nil
}

// last is the last n lines written, each indented.
func (t *tailBuffer) last(n int) string {
	s := strings.TrimRight(string(t.buf), "\n")
	if s == "" {
		return ""
	}
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return "    " + strings.Join(lines, "\n    ")
}

func orUnknown(version string) string {
	if version == "" {
		return "(version unknown)"
	}
	return version
}
