package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/gopherops/gopherops/test/internal/repo"
)

// TestEquivalentsName: every documented equivalent is in a package the run
// covers by default and says why; a run of some packages checks only
// theirs.
func TestEquivalentsName(t *testing.T) {
	for _, e := range equivalents {
		if !slices.Contains(defaultPackages, path.Dir(e.File)) || e.Why == "" || e.Code == "" || e.Func == "" {
			t.Errorf("equivalent %+v: outside the packages, or without Func, Code or Why", e)
		}
	}
	if got := equivalentsIn([]string{"service/internal/password"}, []string{"hash.go"}); len(got) != 0 {
		t.Errorf("a run of password's hash.go checks %+v", got)
	}
	got := equivalentsIn([]string{"service/internal/password"}, nil)
	if len(got) == 0 {
		t.Fatal("no equivalents for password")
	}
	for _, e := range got {
		if path.Dir(e.File) != "service/internal/password" {
			t.Errorf("a run of password checks %s", e.File)
		}
	}
}

// TestHoistGoMod: the hoisted module keeps every import path and finds its
// replacements from the root; a go.mod that is not the expected module, or
// replaces with a directory outside the repository, is refused.
func TestHoistGoMod(t *testing.T) {
	tests := []struct {
		name, modDir, in, want, err string
	}{
		{"service", "service",
			"module github.com/gopherops/gopherops/service\n\ngo 1.26.0\n\nreplace github.com/gopherops/gopherops/migrations => ../migrations\n",
			"module github.com/gopherops/gopherops\n\ngo 1.26.0\n\nreplace github.com/gopherops/gopherops/migrations => ./migrations\n", ""},
		{"a replace block and a versioned target", "test",
			"module github.com/gopherops/gopherops/test\n\nreplace (\n\tgithub.com/gopherops/gopherops/infra => ../infra\n\texample.com/x v1.0.0 => example.com/y v1.1.0\n)\n",
			"module github.com/gopherops/gopherops\n\nreplace (\n\tgithub.com/gopherops/gopherops/infra => ./infra\n\texample.com/x v1.0.0 => example.com/y v1.1.0\n)\n", ""},
		{"a nested module", "infra/tools",
			"module github.com/gopherops/gopherops/infra/tools\nreplace github.com/gopherops/gopherops/infra => ../\n",
			"module github.com/gopherops/gopherops\nreplace github.com/gopherops/gopherops/infra => ./infra\n", ""},
		{"another module path", "service", "module example.com/service\n", "", "declares module"},
		{"no module line", "service", "go 1.26\n", "", "no module line"},
		{"a replacement outside the repository", "service",
			"module github.com/gopherops/gopherops/service\nreplace example.com/x => ../../x\n", "", "outside the repository"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := hoistGoMod([]byte(tt.in), tt.modDir)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err = %v, want one saying %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tt.want {
				t.Fatalf("got\n%s\nwant\n%s", got, tt.want)
			}
		})
	}
}

// TestStageHoistsThePackagesModule: in the staged copy, the go.mod nearest
// to each package is the root's (the tool copies the whole repository), and
// the package's tests resolve every import outside a workspace, the
// service's migrations and the test helpers included; infra's tests find
// the stack files at the root.
func TestStageHoistsThePackagesModule(t *testing.T) {
	if testing.Short() {
		t.Skip("stages a copy of the repository")
	}
	root := repo.MustRoot(t)
	for _, tt := range []struct{ pkg, file string }{
		{"service/internal/accounts", "migrations/go.mod"},
		{"infra/config", "Pulumi.dev.yaml"},
	} {
		t.Run(tt.pkg, func(t *testing.T) {
			dst := filepath.Join(t.TempDir(), "repo")
			if err := stage(context.Background(), root, dst, tt.pkg); err != nil {
				t.Fatal(err)
			}
			if got := moduleRoot(filepath.Join(dst, tt.pkg)); got != dst {
				t.Fatalf("the tool would copy %s, want the staged root %s", got, dst)
			}
			if _, err := os.Stat(filepath.Join(dst, tt.file)); err != nil {
				t.Fatalf("the copy lacks what the tests read: %v", err)
			}
			cmd := exec.Command("go", "list", "-test", "-deps", "./"+tt.pkg)
			cmd.Dir = dst
			cmd.Env = append(os.Environ(), "GOWORK=off")
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("go list in the staged copy: %v\n%s", err, out)
			}
		})
	}
}

// TestExcludeOthers: a partial run leaves out every other source file of
// the package, never a test file, and refuses a name the package lacks.
func TestExcludeOthers(t *testing.T) {
	dir := t.TempDir()
	for _, f := range []string{"auth.go", "users.go", "users_test.go", "authcache.go"} {
		if err := os.WriteFile(filepath.Join(dir, f), []byte("package x\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if got, err := excludeOthers(dir, nil); err != nil || got != nil {
		t.Fatalf("a full run excludes %v, %v", got, err)
	}
	got, err := excludeOthers(dir, []string{"auth.go"})
	want := []string{"--exclude-files", `(^|/)authcache\.go$`, "--exclude-files", `(^|/)users\.go$`}
	if err != nil || !slices.Equal(got, want) {
		t.Fatalf("got %q, %v; want %q", got, err, want)
	}
	if _, err := excludeOthers(dir, []string{"auth.go", "missing.go"}); err == nil {
		t.Fatal("a file the package lacks was accepted")
	}
}

// TestList: -list prints the packages the nightly matrix runs, one job
// each, without a gremlins binary and without running anything.
func TestList(t *testing.T) {
	tests := []struct {
		args []string
		want []string
	}{
		{[]string{"-list"}, defaultPackages},
		{[]string{"-list", "-packages", "infra/config, /service/internal/web/"}, []string{"infra/config", "service/internal/web"}},
	}
	for _, tt := range tests {
		var out, errs bytes.Buffer
		if code := run(context.Background(), tt.args, &out, &errs); code != 0 {
			t.Fatalf("%v: exit %d: %s", tt.args, code, errs.String())
		}
		var got []string
		if err := json.Unmarshal(out.Bytes(), &got); err != nil || !slices.Equal(got, tt.want) {
			t.Errorf("%v printed %q (%v), want %q", tt.args, out.String(), err, tt.want)
		}
	}
	var errs bytes.Buffer
	if code := run(context.Background(), nil, io.Discard, &errs); code != 2 {
		t.Errorf("without -gremlins or -list: exit %d, want 2", code)
	}
}
