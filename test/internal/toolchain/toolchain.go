// Package toolchain finds the external programs of the tests (SeaweedFS's
// weed, the S3 server of the service's object-store tests, and those of the
// Kubernetes platform test: the Pulumi engine, its Kubernetes provider plugin,
// etcd, the Kubernetes control plane and node programs, CoreDNS) on PATH or in a cache
// outside the repository. It installs the missing ones from an official
// release download verified against a pinned SHA-256 where one is pinned and
// reachable, and otherwise builds them from the Go module proxy.
//
// The versions and download sums are pinned in versions.go. A program found
// on PATH is used whatever its version (the official pulumi CLI in CI,
// Debian's etcd); the cache holds builds and downloads of the pinned versions:
//
//	<cache>/pulumi-<v>/pulumi
//	<cache>/pulumi-kubernetes-<v>/pulumi-resource-kubernetes
//	<cache>/kubernetes-<v>/kube-apiserver, kube-controller-manager,
//	                       kube-scheduler, kubelet, kube-proxy
//	<cache>/coredns-<v>/coredns
//	<cache>/etcd-<v>/etcd
//	<cache>/seaweedfs-<v>/weed            (where service/s3local finds it)
//	<cache>/download-<archive>/<tool>   a verified release download
//	<cache>/src/<group>/   the wrapper modules the builds run in
package toolchain

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/gopherops/gopherops/service/s3local"
)

// Names of the tools, as their executables are called.
const (
	// Pulumi is the Pulumi engine CLI.
	Pulumi = "pulumi"
	// KubernetesProvider is the Pulumi Kubernetes provider plugin, which the engine looks up on PATH.
	KubernetesProvider = "pulumi-resource-kubernetes"
	// KubeAPIServer is the Kubernetes API server.
	KubeAPIServer = "kube-apiserver"
	// KubeControllerManager is the Kubernetes controller manager.
	KubeControllerManager = "kube-controller-manager"
	// Etcd is the etcd server kube-apiserver stores its objects in.
	Etcd = "etcd"
	// KubeScheduler is the scheduler that binds the platform suite's pods to its node.
	KubeScheduler = "kube-scheduler"
	// Kubelet is the node agent that runs the pods through containerd.
	Kubelet = "kubelet"
	// KubeProxy programs the node's iptables rules for Services.
	KubeProxy = "kube-proxy"
	// CoreDNS is the cluster DNS server the node's pods resolve Service names with.
	CoreDNS = "coredns"
	// Weed is SeaweedFS, the S3 server of the service's object-store tests (service/s3local).
	Weed = s3local.Binary
)

// Sources of a Location.
const (
	// SourcePATH marks a tool found on PATH.
	SourcePATH = "PATH"
	// SourceCache marks a tool found in the cache.
	SourceCache = "cache"
	// SourceBuilt marks a tool this process has just built into the cache.
	SourceBuilt = "built"
	// SourceDownloaded marks a tool this process has just installed from a verified release download.
	SourceDownloaded = "downloaded"
)

// EnvCacheDir names the environment variable that overrides the cache directory.
const EnvCacheDir = "GOPHEROPS_TOOLS_DIR"

// versionTimeout bounds running a tool found on PATH for its version.
const versionTimeout = 10 * time.Second

// ErrNotFound is wrapped by the errors for a tool neither on PATH nor in the cache.
var ErrNotFound = errors.New("tool not found")

// Location is where a tool was found or built.
type Location struct {
	// Name is the tool's name, one of Names().
	Name string
	// Path is the absolute path of the executable.
	Path string
	// Version is the version the executable reports, or the pinned version of a
	// cached build; empty when unknown.
	Version string
	// Source is SourcePATH, SourceCache or SourceBuilt.
	Source string
}

// Names lists the tools in build order, cheapest first: etcd, the Kubernetes
// programs (built together), coredns, pulumi, pulumi-resource-kubernetes.
func Names() []string {
	ts := tools()
	names := make([]string, len(ts))
	for i, t := range ts {
		names[i] = t.name
	}
	return names
}

// PlatformTool reports whether the platform suite needs name (weed, for one,
// only the service's S3 tests).
func PlatformTool(name string) bool {
	t, ok := lookupTool(name)
	return ok && !t.optional
}

// PinnedVersion is the version of name that a build produces; empty for an unknown name.
func PinnedVersion(name string) string {
	t, _ := lookupTool(name)
	return t.version
}

// BuildCost describes what building name from a cold Go build cache costs; empty for an unknown name.
func BuildCost(name string) string {
	t, _ := lookupTool(name)
	return t.cost
}

// CacheDir is the cache root: $GOPHEROPS_TOOLS_DIR if set, else
// os.UserCacheDir()/gopherops-tools. It is always absolute.
func CacheDir() (string, error) {
	if dir := os.Getenv(EnvCacheDir); dir != "" {
		abs, err := filepath.Abs(dir)
		if err != nil {
			return "", fmt.Errorf("toolchain: %s: %w", EnvCacheDir, err)
		}
		return abs, nil
	}
	base, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("toolchain: cache directory (set %s): %w", EnvCacheDir, err)
	}
	return filepath.Join(base, "gopherops-tools"), nil
}

// Find looks name up on PATH, then in the cache (see Finder.Find).
func Find(name string) (Location, error) {
	var f Finder
	return f.Find(name)
}

// FindAll looks every tool up (see Finder.FindAll).
func FindAll() (map[string]Location, []string, error) {
	var f Finder
	return f.FindAll()
}

// Ensure finds every tool and builds the missing ones (see Finder.Ensure).
func Ensure(ctx context.Context, progress io.Writer) (map[string]Location, error) {
	var f Finder
	return f.Ensure(ctx, progress)
}

// PathDirs lists, in Names() order and without repeats, the directories of the
// tools not found on PATH: prepended to PATH, they let child processes (the
// Pulumi engine looks its provider plugin up on PATH) find every tool. Tools
// already on PATH add nothing, so that the order of PATH stays as it was.
func PathDirs(locs map[string]Location) []string {
	var dirs []string
	seen := map[string]bool{}
	for _, name := range Names() {
		loc, ok := locs[name]
		if !ok || loc.Path == "" || loc.Source == SourcePATH {
			continue
		}
		dir := filepath.Dir(loc.Path)
		if !seen[dir] {
			seen[dir] = true
			dirs = append(dirs, dir)
		}
	}
	return dirs
}

// Finder finds and builds the tools. The zero value looks on the real PATH and
// in CacheDir(); tests set the fields.
type Finder struct {
	// CacheDir is the cache root; empty means CacheDir().
	CacheDir string
	// LookPath finds an executable on PATH; nil means exec.LookPath.
	LookPath func(file string) (string, error)
	// Go is the go command the builds run; empty means "go" from PATH.
	Go string
	// Heartbeat is the interval of the "still building" progress lines; zero means 30s.
	Heartbeat time.Duration
	// Releases are the downloads tried before a build, by tool; nil means
	// the ones pinned in versions.go, an empty map none.
	Releases map[string]Release
	// HTTPClient fetches the releases; nil means one with connect timeouts.
	HTTPClient *http.Client
}

// Find looks name up on PATH first, then in the cache. The version of a tool on
// PATH is asked from the tool when that is cheap (never for the provider
// plugin, which has no version flag); a cached build has its pinned version.
// A tool in neither place is an error wrapping ErrNotFound.
func (f *Finder) Find(name string) (Location, error) {
	return f.find(context.Background(), name)
}

// FindAll looks every tool up: the ones found, and the names of the missing
// ones in Names() order. The error is for failures other than a missing tool.
func (f *Finder) FindAll() (map[string]Location, []string, error) {
	return f.findAll(context.Background())
}

func (f *Finder) findAll(ctx context.Context) (map[string]Location, []string, error) {
	locs := map[string]Location{}
	var missing []string
	for _, name := range Names() {
		loc, err := f.find(ctx, name)
		switch {
		case errors.Is(err, ErrNotFound):
			missing = append(missing, name)
		case err != nil:
			return nil, nil, err
		default:
			locs[name] = loc
		}
	}
	return locs, missing, nil
}

func (f *Finder) find(ctx context.Context, name string) (Location, error) {
	t, ok := lookupTool(name)
	if !ok {
		return Location{}, fmt.Errorf("toolchain: unknown tool %q (known: %s)", name, strings.Join(Names(), ", "))
	}
	if path, err := f.lookPath(name); err == nil {
		if abs, err := filepath.Abs(path); err == nil {
			path = abs
		}
		return Location{Name: name, Path: path, Version: probeVersion(ctx, path, t.versionArgs), Source: SourcePATH}, nil
	}
	path, err := f.cachePath(t)
	if err != nil {
		return Location{}, err
	}
	ok, err = isExecutable(path)
	if err != nil {
		return Location{}, fmt.Errorf("toolchain: %s: %w", name, err)
	}
	if ok {
		return Location{Name: name, Path: path, Version: t.version, Source: SourceCache}, nil
	}
	// A verified download of the tool's release, in its own directory.
	if r, hasRelease := f.release(name); hasRelease {
		root, err := f.cacheRoot()
		if err != nil {
			return Location{}, err
		}
		dl := filepath.Join(root, r.downloadDir(), name)
		if ok, err := isExecutable(dl); err != nil {
			return Location{}, fmt.Errorf("toolchain: %s: %w", name, err)
		} else if ok {
			version := r.Version
			if version == "" {
				version = probeVersion(ctx, dl, t.versionArgs)
			}
			return Location{Name: name, Path: dl, Version: version, Source: SourceCache}, nil
		}
	}
	return Location{}, fmt.Errorf("toolchain: %s is neither on PATH nor at %s; run `make tools` to build it: %w", name, path, ErrNotFound)
}

func (f *Finder) lookPath(name string) (string, error) {
	if f.LookPath != nil {
		return f.LookPath(name)
	}
	return exec.LookPath(name)
}

func (f *Finder) cacheRoot() (string, error) {
	if f.CacheDir != "" {
		return filepath.Abs(f.CacheDir)
	}
	return CacheDir()
}

// cachePath is where the cached build of t lives.
func (f *Finder) cachePath(t tool) (string, error) {
	root, err := f.cacheRoot()
	if err != nil {
		return "", err
	}
	return filepath.Join(root, t.dir, t.name), nil
}

func lookupTool(name string) (tool, bool) {
	for _, t := range tools() {
		if t.name == name {
			return t, true
		}
	}
	return tool{}, false
}

// isExecutable reports whether path is a regular file with an execute bit; a
// missing file is false without an error.
func isExecutable(path string) (bool, error) {
	fi, err := os.Stat(path)
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("stat: %w", err)
	}
	return fi.Mode().IsRegular() && fi.Mode().Perm()&0o111 != 0, nil
}

// probeVersion runs path with args and parses the version it prints; empty
// when args is nil or the run fails: a version is informative, never required.
func probeVersion(ctx context.Context, path string, args []string) string {
	if args == nil {
		return ""
	}
	out, err := runVersion(ctx, path, args)
	if err != nil {
		return ""
	}
	return parseVersion(out)
}

// runVersion runs path with args and returns its standard output.
func runVersion(ctx context.Context, path string, args []string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, versionTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, path, args...) //nolint:gosec // a tool this package found or built, with its version flag
	// pulumi would otherwise ask the network for a newer release.
	cmd.Env = append(os.Environ(), "PULUMI_SKIP_UPDATE_CHECK=true")
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("%s %s: %w", path, strings.Join(args, " "), err)
	}
	return string(out), nil
}

// isDottedNumber reports whether s is digits with at least one dot between them (4.53).
func isDottedNumber(s string) bool {
	dots := 0
	for i, r := range s {
		switch {
		case r == '.' && i > 0 && i < len(s)-1 && s[i-1] != '.':
			dots++
		case r < '0' || r > '9':
			return false
		}
	}
	return dots > 0
}

// parseVersion picks the version out of `etcd --version` ("etcd Version:
// 3.4.23"), `kube-apiserver --version` ("Kubernetes v1.34.3"), `coredns
// -version` ("CoreDNS-1.14.7") or `pulumi version` ("v3.274.1"), `weed version` ("version 30GB 4.53 linux amd64"): the first
// line otherwise.
func parseVersion(out string) string {
	first := ""
	for line := range strings.Lines(out) {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		for _, prefix := range []string{"etcd Version:", "Kubernetes ", "CoreDNS-"} {
			if v, ok := strings.CutPrefix(line, prefix); ok {
				return strings.TrimSpace(v)
			}
		}
		// weed: "version 30GB 4.53 <commit> linux amd64"; the first field
		// that is a dotted number.
		if rest, ok := strings.CutPrefix(line, "version "); ok {
			for f := range strings.FieldsSeq(rest) {
				if isDottedNumber(f) {
					return f
				}
			}
		}
		if first == "" {
			first = line
		}
	}
	return first
}
