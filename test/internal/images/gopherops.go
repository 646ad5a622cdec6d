package images

import (
	"bytes"
	"context"
	"debug/elf"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// The GopherOps image's contract, as the Dockerfile states it.
const (
	// BinaryPath is where the image keeps the gopherops binary.
	BinaryPath = "/usr/local/bin/gopherops"
	// NonRootUID is distroless's "nonroot" user, which the Dockerfile runs as.
	NonRootUID = 65532
	// buildinfoPackage receives the version metadata (-X).
	buildinfoPackage = "github.com/gopherops/gopherops/service/internal/buildinfo"
	// caBundle is where Debian (and distroless) keep the CA certificates.
	caBundle = "/etc/ssl/certs/ca-certificates.crt"
)

// BuildOptions configure a go build of one of the repository's programs.
type BuildOptions struct {
	// RepoRoot is the repository's root directory.
	RepoRoot string
	// Go is the go command; empty means "go" from PATH.
	Go string
	// Version and Commit are stamped into the binary (buildinfo).
	Version, Commit string
	// Created is the build date stamped into the binary and the image.
	Created time.Time
}

// BuildGopherOps builds the gopherops binary to out exactly as the
// Dockerfile's build stage does: the service module on its own, static
// (CGO_ENABLED=0), -trimpath, stripped, with the version metadata.
func BuildGopherOps(ctx context.Context, o BuildOptions, out string) error {
	ldflags := strings.Join([]string{
		"-s", "-w",
		"-X " + buildinfoPackage + ".Version=" + o.Version,
		"-X " + buildinfoPackage + ".Commit=" + o.Commit,
		"-X " + buildinfoPackage + ".Date=" + o.Created.UTC().Format(time.RFC3339),
	}, " ")
	env := []string{"CGO_ENABLED=0", "GOWORK=off", "GOFLAGS=-mod=readonly"}
	if err := goBuild(ctx, o, filepath.Join(o.RepoRoot, "service"), env, out, "-trimpath", "-ldflags", ldflags, "./cmd/gopherops"); err != nil {
		return err
	}
	return requireStatic(out)
}

// goBuild runs go build -o out args in dir with env added to the environment.
func goBuild(ctx context.Context, o BuildOptions, dir string, env []string, out string, args ...string) error {
	goCmd := o.Go
	if goCmd == "" {
		goCmd = "go"
	}
	cmd := exec.CommandContext(ctx, goCmd, append([]string{"build", "-o", out}, args...)...) //nolint:gosec // the go command with arguments this package composes
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	var output bytes.Buffer
	cmd.Stdout, cmd.Stderr = &output, &output
	cmd.WaitDelay = 10 * time.Second
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("images: go build %s: %w\n%s", strings.Join(args, " "), err, output.String())
	}
	return nil
}

// requireStatic refuses an executable that needs a dynamic loader: the
// image has no libc.
func requireStatic(path string) error {
	f, err := elf.Open(path)
	if err != nil {
		return fmt.Errorf("images: %s: %w", path, err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return fmt.Errorf("images: %s is dynamically linked: the image has no libc", path)
		}
	}
	return nil
}

// GopherOps is the GopherOps image around the static binary at binary: the
// Dockerfile's runtime stage (distroless static, nonroot) rebuilt from
// files: /etc/passwd and /etc/group with root and nonroot, the CA bundle of
// this machine (when there is one), /tmp, the binary, and the same user,
// environment, ports, healthcheck, entrypoint and command.
func GopherOps(binary, version, commit string, created time.Time, workDir string) (Image, error) {
	if err := requireStatic(binary); err != nil {
		return Image{}, err
	}
	l, err := NewLayer(workDir)
	if err != nil {
		return Image{}, err
	}
	steps := []func() error{
		func() error {
			return l.File("etc/passwd", []byte("root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n"), 0o644, 0, 0)
		},
		func() error { return l.File("etc/group", []byte("root:x:0:\nnonroot:x:65532:\n"), 0o644, 0, 0) },
		func() error { return l.Dir("home/nonroot", 0o700, NonRootUID, NonRootUID) },
		func() error { return l.Dir("tmp", 0o777|os.ModeSticky, 0, 0) },
		func() error {
			if _, err := os.Stat(caBundle); errors.Is(err, os.ErrNotExist) {
				return nil
			}
			return l.CopyFile(caBundle, caBundle, 0o644, 0, 0)
		},
		func() error { return l.CopyFile(BinaryPath, binary, 0o755, 0, 0) },
	}
	for _, step := range steps {
		if err := step(); err != nil {
			l.Remove()
			return Image{}, err
		}
	}
	return Image{
		Created: created,
		Layers:  []*Layer{l},
		Config: Config{
			User: fmt.Sprintf("%d:%d", NonRootUID, NonRootUID),
			Env: []string{
				"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
				"SSL_CERT_FILE=" + caBundle,
				"APP_ENV=production", "HTTP_ADDR=:8080", "ADMIN_ADDR=:9090", "LOG_FORMAT=json",
			},
			Entrypoint:   []string{BinaryPath},
			Cmd:          []string{"serve"},
			ExposedPorts: map[string]struct{}{"8080/tcp": {}, "9090/tcp": {}},
			Healthcheck: &Healthcheck{
				Test:     []string{"CMD", BinaryPath, "healthcheck"},
				Interval: 10 * time.Second, Timeout: 3 * time.Second, StartPeriod: 15 * time.Second, Retries: 3,
			},
			Labels: map[string]string{
				"org.opencontainers.image.title":       "gopherops",
				"org.opencontainers.image.description": "GopherOps: users, dashboard and status service",
				"org.opencontainers.image.source":      "https://github.com/gopherops/gopherops",
				"org.opencontainers.image.revision":    commit,
				"org.opencontainers.image.version":     version,
				"org.opencontainers.image.created":     created.UTC().Format(time.RFC3339),
			},
		},
	}, nil
}
