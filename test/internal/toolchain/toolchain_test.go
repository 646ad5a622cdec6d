package toolchain

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gopherops/gopherops/service/s3local"
)

// writeExe writes an executable shell script.
func writeExe(t *testing.T, path, script string) {
	t.Helper()
	if runtime.GOOS == "windows" {
		t.Skip("fake executables are shell scripts")
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte("#!/bin/sh\n"+script), 0o700); err != nil { //nolint:gosec // a test's fake executable
		t.Fatal(err)
	}
}

// lookIn is a LookPath over the single directory dir.
func lookIn(dir string) func(string) (string, error) {
	return func(name string) (string, error) {
		path := filepath.Join(dir, name)
		if ok, _ := isExecutable(path); ok {
			return path, nil
		}
		return "", exec.ErrNotFound
	}
}

func TestNamesBuildOrder(t *testing.T) {
	want := []string{Etcd, KubeAPIServer, KubeControllerManager, KubeScheduler, Kubelet, KubeProxy, CoreDNS, Pulumi, KubernetesProvider, Weed}
	if got := Names(); !slices.Equal(got, want) {
		t.Fatalf("Names() = %v, want %v", got, want)
	}
	for _, name := range want {
		if PinnedVersion(name) == "" || BuildCost(name) == "" {
			t.Errorf("%s: no pinned version or build cost", name)
		}
	}
}

// The layout must match caches built before this package existed.
func TestCacheLayout(t *testing.T) {
	root := t.TempDir()
	f := Finder{CacheDir: root}
	want := map[string]string{
		Pulumi:                "pulumi-" + PulumiVersion + "/pulumi",
		KubernetesProvider:    "pulumi-kubernetes-" + KubernetesProviderVersion + "/pulumi-resource-kubernetes",
		KubeAPIServer:         "kubernetes-" + KubernetesVersion + "/kube-apiserver",
		KubeControllerManager: "kubernetes-" + KubernetesVersion + "/kube-controller-manager",
		KubeScheduler:         "kubernetes-" + KubernetesVersion + "/kube-scheduler",
		Kubelet:               "kubernetes-" + KubernetesVersion + "/kubelet",
		KubeProxy:             "kubernetes-" + KubernetesVersion + "/kube-proxy",
		CoreDNS:               "coredns-" + CoreDNSVersion + "/coredns",
		Etcd:                  "etcd-" + EtcdVersion + "/etcd",
		Weed:                  "seaweedfs-" + SeaweedFSVersion + "/weed",
	}
	for name, rel := range want {
		t.Run(name, func(t *testing.T) {
			tl, ok := lookupTool(name)
			if !ok {
				t.Fatal("unknown tool")
			}
			got, err := f.cachePath(tl)
			if err != nil {
				t.Fatal(err)
			}
			if want := filepath.Join(root, filepath.FromSlash(rel)); got != want {
				t.Errorf("cache path = %s, want %s", got, want)
			}
		})
	}
}

func TestCacheDir(t *testing.T) {
	t.Run("environment", func(t *testing.T) {
		dir := t.TempDir()
		t.Chdir(dir)
		t.Setenv(EnvCacheDir, "rel/tools")
		got, err := CacheDir()
		if err != nil {
			t.Fatal(err)
		}
		if want := filepath.Join(dir, "rel", "tools"); got != want {
			t.Errorf("CacheDir() = %s, want %s", got, want)
		}
	})
	t.Run("default", func(t *testing.T) {
		t.Setenv(EnvCacheDir, "")
		base, err := os.UserCacheDir()
		if err != nil {
			t.Skip("no user cache directory:", err)
		}
		got, err := CacheDir()
		if err != nil {
			t.Fatal(err)
		}
		if want := filepath.Join(base, "gopherops-tools"); got != want {
			t.Errorf("CacheDir() = %s, want %s", got, want)
		}
	})
}

func TestFind(t *testing.T) {
	cases := []struct {
		name        string
		tool        string
		onPath      string // script of the fake on PATH; empty: none
		inCache     string // script of the fake in the cache; empty: none
		cacheMode   os.FileMode
		wantSource  string // empty: not found
		wantVersion string
	}{
		{name: "PATH before cache", tool: Etcd, onPath: "echo 'etcd Version: 3.4.23'; echo 'Git SHA: x'", inCache: "exit 0",
			wantSource: SourcePATH, wantVersion: "3.4.23"},
		{name: "PATH pulumi of another version is accepted", tool: Pulumi, onPath: "echo v3.200.0",
			wantSource: SourcePATH, wantVersion: "v3.200.0"},
		{name: "PATH kube-apiserver", tool: KubeAPIServer, onPath: "echo 'Kubernetes v1.33.1'",
			wantSource: SourcePATH, wantVersion: "v1.33.1"},
		{name: "PATH tool whose version flag fails", tool: KubeControllerManager, onPath: "exit 3",
			wantSource: SourcePATH, wantVersion: ""},
		{name: "provider plugin is never run", tool: KubernetesProvider, onPath: "echo ran > \"$0.ran\"",
			wantSource: SourcePATH, wantVersion: ""},
		{name: "cache has the pinned version", tool: Pulumi, inCache: "exit 1",
			wantSource: SourceCache, wantVersion: PulumiVersion},
		{name: "cache file without execute bit", tool: KubeAPIServer, inCache: "exit 0", cacheMode: 0o600},
		{name: "missing everywhere", tool: KubernetesProvider},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			pathDir, cacheDir := t.TempDir(), t.TempDir()
			f := Finder{CacheDir: cacheDir, LookPath: lookIn(pathDir)}
			if tc.onPath != "" {
				writeExe(t, filepath.Join(pathDir, tc.tool), tc.onPath)
			}
			tl, _ := lookupTool(tc.tool)
			cached := filepath.Join(cacheDir, tl.dir, tl.name)
			if tc.inCache != "" {
				writeExe(t, cached, tc.inCache)
				if tc.cacheMode != 0 {
					if err := os.Chmod(cached, tc.cacheMode); err != nil {
						t.Fatal(err)
					}
				}
			}

			loc, err := f.Find(tc.tool)
			if tc.wantSource == "" {
				if !errors.Is(err, ErrNotFound) {
					t.Fatalf("Find error = %v, want ErrNotFound", err)
				}
				if !strings.Contains(err.Error(), "make tools") || !strings.Contains(err.Error(), cached) {
					t.Errorf("error %q should name the cache path and `make tools`", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			want := Location{Name: tc.tool, Path: cached, Version: tc.wantVersion, Source: tc.wantSource}
			if tc.wantSource == SourcePATH {
				want.Path = filepath.Join(pathDir, tc.tool)
			}
			if loc != want {
				t.Errorf("Find = %+v, want %+v", loc, want)
			}
			if _, err := os.Stat(filepath.Join(pathDir, tc.tool+".ran")); err == nil {
				t.Errorf("%s was executed", tc.tool)
			}
		})
	}
}

func TestFindUnknownTool(t *testing.T) {
	f := Finder{CacheDir: t.TempDir(), LookPath: lookIn(t.TempDir())}
	if _, err := f.Find("kubectl"); err == nil || errors.Is(err, ErrNotFound) {
		t.Fatalf("Find(kubectl) error = %v, want an unknown-tool error", err)
	}
	if _, err := f.Build(context.Background(), []string{"kubectl"}, nil); err == nil {
		t.Fatal("Build(kubectl) succeeded")
	}
}

func TestFindAllAndPathDirs(t *testing.T) {
	pathDir, cacheDir := t.TempDir(), t.TempDir()
	f := Finder{CacheDir: cacheDir, LookPath: lookIn(pathDir)}
	writeExe(t, filepath.Join(pathDir, Etcd), "echo 'etcd Version: 3.4.23'")
	writeExe(t, filepath.Join(pathDir, Weed), "echo 'version 30GB 4.53  linux amd64'")
	for _, name := range []string{KubeAPIServer, KubeControllerManager, KubeScheduler, Kubelet, KubeProxy, CoreDNS, KubernetesProvider} {
		tl, _ := lookupTool(name)
		writeExe(t, filepath.Join(cacheDir, tl.dir, name), "exit 0")
	}

	locs, missing, err := f.FindAll()
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(missing, []string{Pulumi}) {
		t.Errorf("missing = %v, want [pulumi]", missing)
	}
	if len(locs) != 9 {
		t.Errorf("found %d tools, want 9: %v", len(locs), locs)
	}
	if locs[Weed].Version != "4.53" {
		t.Errorf("weed on PATH reports version %q, want 4.53", locs[Weed].Version)
	}
	// The kube tools share a directory; etcd and weed are on PATH already.
	want := []string{
		filepath.Join(cacheDir, "kubernetes-"+KubernetesVersion),
		filepath.Join(cacheDir, "coredns-"+CoreDNSVersion),
		filepath.Join(cacheDir, "pulumi-kubernetes-"+KubernetesProviderVersion),
	}
	if got := PathDirs(locs); !slices.Equal(got, want) {
		t.Errorf("PathDirs = %v, want %v", got, want)
	}
}

func TestParseVersion(t *testing.T) {
	cases := []struct{ out, want string }{
		{"etcd Version: 3.4.23\nGit SHA: Not provided\nGo Version: go1.19.8\n", "3.4.23"},
		{"Kubernetes v1.34.3\n", "v1.34.3"},
		{"version 30GB 4.53  linux amd64\n\nFor enterprise users...\n", "4.53"},
		{"version 8000GB 4.53 7506e5f linux amd64\n", "4.53"},
		{"CoreDNS-1.14.7\nlinux/amd64, go1.26.8, \n", "1.14.7"},
		{"v3.274.1\n", "v3.274.1"},
		{"\n  v3.1.0  \nwarning: something\n", "v3.1.0"},
		{"", ""},
	}
	for _, tc := range cases {
		if got := parseVersion(tc.out); got != tc.want {
			t.Errorf("parseVersion(%q) = %q, want %q", tc.out, got, tc.want)
		}
	}
}

// A cut of k8s.io/kubernetes's go.mod: staging replacements in a block,
// comments, a godebug line and a replacement that is not staging.
const sampleKubernetesGoMod = `// This is a generated file. Do not edit directly.

module k8s.io/kubernetes

go 1.24.0

godebug default=go1.24

require (
	k8s.io/api v0.0.0
	k8s.io/apiserver v0.0.0 // a comment
)

replace (
	k8s.io/api => ./staging/src/k8s.io/api
	k8s.io/apiserver => ./staging/src/k8s.io/apiserver // staging
	k8s.io/other => ./elsewhere/k8s.io/other
)

replace github.com/example/fork v1.0.0 => github.com/example/fixed v1.0.1
`

func TestKubeWrapperGoMod(t *testing.T) {
	replaces, godebug := parseGoMod([]byte(sampleKubernetesGoMod))
	mod := goModFile{
		Module:  "gopherops.local/tools/kube",
		Go:      "1.26.0",
		Require: kubernetesModule + " v1.34.3",
		Godebug: godebug,
		Replace: wrapperOf(groupKube).replaces(replaces),
	}
	want := `// Generated by gopherops test/internal/toolchain; rewritten on every build.

module gopherops.local/tools/kube

go 1.26.0

godebug default=go1.24

require k8s.io/kubernetes v1.34.3

replace (
	k8s.io/api => k8s.io/api ` + stagingVersion(KubernetesVersion) + `
	k8s.io/apiserver => k8s.io/apiserver ` + stagingVersion(KubernetesVersion) + `
	github.com/example/fork v1.0.0 => github.com/example/fixed v1.0.1
)
`
	if got := string(mod.bytes()); got != want {
		t.Errorf("go.mod:\n%s\nwant:\n%s", got, want)
	}
}

func TestVersionedReplaces(t *testing.T) {
	// The pulumi/pkg go.mod: its sdk replacement is a directory of the pulumi
	// repository, the clipboard fork a module the wrapper must keep.
	gomod := "module github.com/pulumi/pulumi/pkg/v3\n\ngo 1.26.6\n\n" +
		"replace github.com/pulumi/pulumi/sdk/v3 => ../sdk\n\n" +
		"replace github.com/atotto/clipboard => github.com/tgummerer/clipboard v0.0.0-20241001131231-d02d263e614e\n"
	replaces, godebug := parseGoMod([]byte(gomod))
	want := []replacement{{Old: "github.com/atotto/clipboard", New: "github.com/tgummerer/clipboard v0.0.0-20241001131231-d02d263e614e"}}
	if got := versionedReplaces(replaces); !slices.Equal(got, want) {
		t.Errorf("versionedReplaces = %v, want %v", got, want)
	}
	if len(godebug) != 0 {
		t.Errorf("godebug = %v, want none", godebug)
	}
}

func TestStagingVersion(t *testing.T) {
	for in, want := range map[string]string{"v1.34.3": "v0.34.3", "v1.30.0": "v0.30.0"} {
		if got := stagingVersion(in); got != want {
			t.Errorf("stagingVersion(%s) = %s, want %s", in, got, want)
		}
	}
}

func TestStampSchemaVersion(t *testing.T) {
	cases := []struct {
		name, in, want string
		wantErr        bool
	}{
		{name: "added at the end, order kept, compacted",
			in:   "{\n  \"name\": \"kubernetes\",\n  \"description\": \"<b> & more\",\n  \"config\": { \"a\": [1, 2] }\n}\n",
			want: `{"name":"kubernetes","description":"<b> & more","config":{"a":[1,2]},"version":"4.32.0"}`},
		{name: "replaced in place",
			in:   `{"name": "k", "version": "0.0.0-dev", "types": {}}`,
			want: `{"name":"k","version":"4.32.0","types":{}}`},
		{name: "empty object", in: `{}`, want: `{"version":"4.32.0"}`},
		{name: "not an object", in: `["version"]`, wantErr: true},
		{name: "invalid", in: `{"name": }`, wantErr: true},
		{name: "trailing data", in: `{} {}`, wantErr: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := stampSchemaVersion([]byte(tc.in), "4.32.0")
			if tc.wantErr {
				if err == nil {
					t.Fatalf("no error; got %s", got)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tc.want {
				t.Errorf("got  %s\nwant %s", got, tc.want)
			}
			if !json.Valid(got) {
				t.Error("output is not valid JSON")
			}
		})
	}
}

func TestGoDirective(t *testing.T) {
	cases := []struct{ in, want string }{
		{"go1.26.8", "1.26.0"},
		{"go1.27rc1", "1.27.0"},
		{"go1.26", "1.26.0"},
		{"devel +abc", ""},
		{"", ""},
	}
	for _, tc := range cases {
		got, err := goDirective(tc.in)
		if tc.want == "" {
			if err == nil {
				t.Errorf("goDirective(%q) = %q, want an error", tc.in, got)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("goDirective(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
}

func TestBuildEnv(t *testing.T) {
	cases := []struct{ goflags, want string }{
		{"", "-mod=mod"},
		{"-buildvcs=false", "-buildvcs=false -mod=mod"},
		{"-mod=vendor -tags=x", "-tags=x -mod=mod"},
	}
	for _, tc := range cases {
		if got := withModMod(tc.goflags); got != tc.want {
			t.Errorf("withModMod(%q) = %q, want %q", tc.goflags, got, tc.want)
		}
	}
	env := buildEnv([]string{"HOME=/h", "GOWORK=/w/go.work", "GOFLAGS=-x", "GOTOOLCHAIN=auto"}, "-mod=mod")
	want := []string{"HOME=/h", "GOWORK=off", "GOFLAGS=-mod=mod", "GOTOOLCHAIN=local"}
	if !slices.Equal(env, want) {
		t.Errorf("buildEnv = %v, want %v", env, want)
	}
}

func TestBuildArgs(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	ld := kubeLDFlags(now)
	for _, want := range []string{
		"-X k8s.io/component-base/version.gitVersion=" + KubernetesVersion,
		"-X k8s.io/component-base/version.gitMajor=1 ",
		"-X k8s.io/component-base/version.gitMinor=34 ",
		"-X k8s.io/component-base/version.gitTreeState=clean",
		"-X k8s.io/component-base/version.buildDate=2026-01-02T03:04:05Z",
	} {
		if !strings.Contains(ld+" ", want) {
			t.Errorf("kube ldflags %q lack %q", ld, want)
		}
	}
	if got := buildArgs(KubeControllerManager, now); got[len(got)-1] != "k8s.io/kubernetes/cmd/kube-controller-manager" {
		t.Errorf("kube-controller-manager builds %s", got[len(got)-1])
	}
	if got := buildArgs(Pulumi, now); !slices.Equal(got, []string{"-ldflags", "-X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=" + PulumiVersion, "github.com/pulumi/pulumi/pkg/v3/cmd/pulumi"}) {
		t.Errorf("pulumi build args = %v", got)
	}
	if got := buildArgs(KubernetesProvider, now); !slices.Equal(got, []string{"-ldflags", "-X github.com/pulumi/pulumi-kubernetes/provider/v4/pkg/version.Version=" + KubernetesProviderVersion, "."}) {
		t.Errorf("provider build args = %v", got)
	}
}

func TestEnsureFindsWithoutBuilding(t *testing.T) {
	pathDir, cacheDir := t.TempDir(), t.TempDir()
	for _, name := range Names() {
		writeExe(t, filepath.Join(pathDir, name), "echo v9.9.9")
	}
	f := Finder{CacheDir: cacheDir, LookPath: lookIn(pathDir), Go: filepath.Join(pathDir, "no-go-here")}
	var progress bytes.Buffer
	locs, err := f.Ensure(context.Background(), &progress)
	if err != nil {
		t.Fatal(err)
	}
	if len(locs) != len(Names()) {
		t.Errorf("Ensure found %d tools, want %d", len(locs), len(Names()))
	}
	if !strings.HasPrefix(progress.String(), "[1/10] etcd v9.9.9: found on PATH: ") {
		t.Errorf("progress:\n%s", progress.String())
	}
}

// TestEnsurePlatformLeavesOutTheOptional: the platform suite's programs are
// all found and weed, which only the service's S3 tests use, is neither
// looked at nor built (the go command given cannot run at all).
func TestEnsurePlatformLeavesOutTheOptional(t *testing.T) {
	pathDir, cacheDir := t.TempDir(), t.TempDir()
	var platform []string
	for _, name := range Names() {
		if PlatformTool(name) {
			platform = append(platform, name)
			writeExe(t, filepath.Join(pathDir, name), "echo v9.9.9")
		}
	}
	if len(platform) == len(Names()) || len(platform) == 0 {
		t.Fatalf("platform tools %v of %v: nothing optional to leave out", platform, Names())
	}
	f := Finder{CacheDir: cacheDir, LookPath: lookIn(pathDir), Go: filepath.Join(pathDir, "no-go-here")}
	var progress bytes.Buffer
	locs, err := f.EnsurePlatform(context.Background(), &progress)
	if err != nil {
		t.Fatalf("EnsurePlatform: %v\n%s", err, progress.String())
	}
	for _, name := range Names() {
		_, got := locs[name]
		if got != PlatformTool(name) {
			t.Errorf("%s in the result: %v, want %v", name, got, PlatformTool(name))
		}
	}
	if want := fmt.Sprintf("[%d/%d] ", len(platform), len(platform)); !strings.Contains(progress.String(), want) {
		t.Errorf("progress counts other than the %d platform tools:\n%s", len(platform), progress.String())
	}
}

// fakeGo is a go command that answers go env, and for the etcd wrapper
// go mod download (a fake module), go mod tidy (records the environment) and
// go build -o (writes a fake etcd that prints etcdVersion).
func fakeGo(t *testing.T, etcdVersion string) string {
	dir := t.TempDir()
	module := filepath.Join(dir, "module")
	if err := os.MkdirAll(module, 0o750); err != nil {
		t.Fatal(err)
	}
	gomod := filepath.Join(dir, "upstream.mod")
	if err := os.WriteFile(gomod, []byte("module go.etcd.io/etcd/server/v3\n\nreplace go.etcd.io/etcd/api/v3 => ../api\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	goCmd := filepath.Join(dir, "go")
	writeExe(t, goCmd, `case "$1" in
env) printf 'go1.26.8\n-buildvcs=false\n' ;;
mod)
	case "$2" in
	download) printf '{"Path":"%s","Dir":"`+module+`","GoMod":"`+gomod+`"}\n' "$4" ;;
	tidy) echo "$GOWORK $GOFLAGS $GOTOOLCHAIN" > env.txt; echo 'go: finding module for package' ;;
	esac ;;
build) printf '#!/bin/sh\necho "etcd Version: `+etcdVersion+`"\n' > "$3"; chmod +x "$3" ;;
esac
`)
	return goCmd
}

// allBut is every tool except those named.
func allBut(names ...string) []string {
	var out []string
	for _, n := range Names() {
		if !slices.Contains(names, n) {
			out = append(out, n)
		}
	}
	return out
}

// The weed the toolchain builds is where service/s3local looks for it.
func TestWeedWhereS3LocalFindsIt(t *testing.T) {
	root := t.TempDir()
	f := Finder{CacheDir: root}
	tl, _ := lookupTool(Weed)
	got, err := f.cachePath(tl)
	if err != nil {
		t.Fatal(err)
	}
	if want := s3local.BinaryIn(root); got != want {
		t.Errorf("toolchain caches weed at %s, s3local looks at %s", got, want)
	}
	if got := buildArgs(Weed, time.Now()); !slices.Equal(got, []string{s3local.Package}) {
		t.Errorf("weed build args = %v", got)
	}
	if PlatformTool(Weed) || !PlatformTool(Etcd) {
		t.Error("weed must not hold the platform suite back; etcd must")
	}
}

func TestEnsureBuildsMissing(t *testing.T) {
	pathDir, cacheDir := t.TempDir(), t.TempDir()
	for _, name := range allBut(Etcd) {
		writeExe(t, filepath.Join(pathDir, name), "echo v1")
	}
	f := Finder{CacheDir: cacheDir, LookPath: lookIn(pathDir), Go: fakeGo(t, strings.TrimPrefix(EtcdVersion, "v"))}
	var progress bytes.Buffer
	locs, err := f.Ensure(context.Background(), &progress)
	if err != nil {
		t.Fatalf("%v\nprogress:\n%s", err, progress.String())
	}
	want := Location{Name: Etcd, Path: filepath.Join(cacheDir, "etcd-"+EtcdVersion, "etcd"), Version: EtcdVersion, Source: SourceBuilt}
	if locs[Etcd] != want {
		t.Errorf("etcd = %+v, want %+v", locs[Etcd], want)
	}
	for _, line := range []string{"[1/10] etcd " + EtcdVersion + ": building etcd (", "[1/10] etcd " + EtcdVersion + ": done in "} {
		if !strings.Contains(progress.String(), line) {
			t.Errorf("progress lacks %q:\n%s", line, progress.String())
		}
	}

	src := filepath.Join(cacheDir, "src", "etcd")
	gomod, err := os.ReadFile(filepath.Join(src, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"module gopherops.local/tools/etcd\n", "go 1.26.0\n", "require go.etcd.io/etcd/server/v3 " + EtcdVersion + "\n"} {
		if !strings.Contains(string(gomod), want) {
			t.Errorf("go.mod lacks %q:\n%s", want, gomod)
		}
	}
	if strings.Contains(string(gomod), "replace") {
		t.Errorf("go.mod copies a directory replacement:\n%s", gomod)
	}
	if main, err := os.ReadFile(filepath.Join(src, "main.go")); err != nil || !strings.Contains(string(main), "etcdmain.Main(os.Args)") {
		t.Errorf("main.go = %q, %v", main, err)
	}
	if env, err := os.ReadFile(filepath.Join(src, "env.txt")); err != nil || string(env) != "off -buildvcs=false -mod=mod local\n" {
		t.Errorf("go mod tidy ran with GOWORK GOFLAGS GOTOOLCHAIN = %q, %v", env, err)
	}
	entries, err := os.ReadDir(filepath.Dir(want.Path))
	if err != nil || len(entries) != 1 {
		t.Errorf("cache directory holds %v (%v), want only etcd", entries, err)
	}

	// Now cached: found without a build, with the pinned version.
	if loc, err := f.Find(Etcd); err != nil || loc.Source != SourceCache {
		t.Errorf("Find after the build = %+v, %v", loc, err)
	}
}

func TestBuildRejectsWrongVersion(t *testing.T) {
	cacheDir := t.TempDir()
	f := Finder{CacheDir: cacheDir, LookPath: lookIn(t.TempDir()), Go: fakeGo(t, "0.0.1")}
	_, err := f.Build(context.Background(), []string{Etcd}, nil)
	if err == nil || !strings.Contains(err.Error(), "reports version") {
		t.Fatalf("Build error = %v, want a version mismatch", err)
	}
	if _, err := f.Find(Etcd); !errors.Is(err, ErrNotFound) {
		t.Errorf("a rejected build was installed: Find error = %v", err)
	}
}

func TestBuildFailureCarriesOutputTail(t *testing.T) {
	goCmd := filepath.Join(t.TempDir(), "go")
	writeExe(t, goCmd, `case "$1" in
env) printf 'go1.26.8\n\n' ;;
*) sleep 0.3; echo 'go: module go.etcd.io/etcd/server/v3: simulated proxy failure' >&2; echo '{"Error":"simulated"}'; exit 1 ;;
esac
`)
	pathDir := t.TempDir()
	writeExe(t, filepath.Join(pathDir, Weed), "echo v1")
	f := Finder{CacheDir: t.TempDir(), LookPath: lookIn(pathDir), Go: goCmd, Heartbeat: 50 * time.Millisecond}
	var progress bytes.Buffer
	_, err := f.Ensure(context.Background(), &progress)
	var be *BuildError
	if !errors.As(err, &be) {
		t.Fatalf("Ensure error = %v, want a BuildError", err)
	}
	if !strings.Contains(be.Tail, "simulated proxy failure") || !strings.Contains(err.Error(), "simulated proxy failure") {
		t.Errorf("error lacks the output tail: %v", err)
	}
	if be.Tool != Etcd || !strings.HasPrefix(be.Command, "go mod download") {
		t.Errorf("BuildError = %+v", be)
	}
	for _, want := range []string{"etcd: still building, ", "[1/10] etcd " + EtcdVersion + ": failed after "} {
		if !strings.Contains(progress.String(), want) {
			t.Errorf("progress lacks %q:\n%s", want, progress.String())
		}
	}
}

func TestBuildCancelled(t *testing.T) {
	goCmd := filepath.Join(t.TempDir(), "go")
	writeExe(t, goCmd, `case "$1" in
env) printf 'go1.26.8\n\n' ;;
*) sleep 60; echo unreachable ;;
esac
`)
	// The sleep is a child of the fake go holding its output open, as go
	// build's compilers do: the build ends quickly only if it is stopped too.
	f := Finder{CacheDir: t.TempDir(), LookPath: lookIn(t.TempDir()), Go: goCmd}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := f.Build(ctx, []string{Etcd}, nil)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Build error = %v, want the context's", err)
	}
	if elapsed := time.Since(start); elapsed > 5*time.Second {
		t.Errorf("cancelled build took %s", elapsed)
	}
}

// The Kubernetes programs still missing are built in one go build, so the
// packages they share compile once; each lands in the shared directory.
func TestKubeToolsBuildTogether(t *testing.T) {
	pathDir, cacheDir := t.TempDir(), t.TempDir()
	missing := []string{KubeControllerManager, KubeScheduler, Kubelet, KubeProxy}
	for _, name := range Names() {
		if !slices.Contains(missing, name) {
			writeExe(t, filepath.Join(pathDir, name), "echo v1")
		}
	}
	dir := t.TempDir()
	upstream := filepath.Join(dir, "upstream.mod")
	if err := os.WriteFile(upstream, []byte("module k8s.io/kubernetes\n\nreplace k8s.io/api => ./staging/src/k8s.io/api\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	builds := filepath.Join(dir, "builds.txt")
	goCmd := filepath.Join(dir, "go")
	// go build -o DIR/ -ldflags FLAGS pkg...: one fake binary per package.
	writeExe(t, goCmd, `case "$1" in
env) printf 'go1.26.8\n\n' ;;
mod)
	case "$2" in
	download) printf '{"Dir":"`+dir+`","GoMod":"`+upstream+`"}\n' ;;
	esac ;;
build)
	echo "$*" >> `+builds+`
	out=$3; shift 5
	for pkg in "$@"; do
		printf '#!/bin/sh\necho "Kubernetes `+KubernetesVersion+`"\n' > "$out${pkg##*/}"; chmod +x "$out${pkg##*/}"
	done ;;
esac
`)
	f := Finder{CacheDir: cacheDir, LookPath: lookIn(pathDir), Go: goCmd, Releases: map[string]Release{}}
	var progress bytes.Buffer
	locs, err := f.Ensure(context.Background(), &progress)
	if err != nil {
		t.Fatalf("Ensure: %v\n%s", err, progress.String())
	}
	log, err := os.ReadFile(builds)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(log)), "\n")
	if len(lines) != 1 {
		t.Fatalf("go build ran %d times, want once:\n%s", len(lines), log)
	}
	for _, name := range missing {
		if !strings.Contains(lines[0], " k8s.io/kubernetes/cmd/"+name) {
			t.Errorf("the build lacks %s: %s", name, lines[0])
		}
		want := Location{Name: name, Path: filepath.Join(cacheDir, "kubernetes-"+KubernetesVersion, name), Version: KubernetesVersion, Source: SourceBuilt}
		if locs[name] != want {
			t.Errorf("%s = %+v, want %+v", name, locs[name], want)
		}
	}
	if !strings.Contains(progress.String(), "building kube-controller-manager + kube-scheduler + kubelet + kube-proxy (") {
		t.Errorf("progress:\n%s", progress.String())
	}
	gomodData, err := os.ReadFile(filepath.Join(cacheDir, "src", "kube", "tools.go"))
	if err != nil || !strings.Contains(string(gomodData), `_ "k8s.io/kubernetes/cmd/kubelet"`) {
		t.Errorf("tools.go = %s, %v", gomodData, err)
	}
}
