package images

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// References of the images built here; the gopherops.local domain is no
// registry, so nothing ever tries to pull them.
const (
	// GopherOpsRepository is the repository of the GopherOps image's tags.
	GopherOpsRepository = "gopherops.local/gopherops"
	// PostgresRepository is the repository of the PostgreSQL image.
	PostgresRepository = "gopherops.local/postgres"
	// PauseRef is the pods' sandbox image (containerd's sandbox_image).
	PauseRef = "gopherops.local/pause:1"
)

// CachedPostgres returns the archive and reference of the PostgreSQL image
// in dir, building it first (minutes: debootstrap) when it is not there. The
// archive is named for the Debian suite, so a new release builds anew.
func CachedPostgres(ctx context.Context, dir string, o PostgresOptions) (archive, ref string, err error) {
	if o.Suite == "" {
		o.Suite = PostgresSuite
	}
	archive = filepath.Join(dir, "postgres-"+o.Suite+".tar")
	refFile := archive + ".ref"
	if b, err := os.ReadFile(refFile); err == nil { //nolint:gosec // a file this package wrote
		if _, err := os.Stat(archive); err == nil {
			return archive, strings.TrimSpace(string(b)), nil
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return "", "", fmt.Errorf("images: %w", err)
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return "", "", fmt.Errorf("images: %w", err)
	}
	if o.WorkDir == "" {
		o.WorkDir = dir
	}
	img, major, err := Postgres(ctx, o)
	if err != nil {
		return "", "", err
	}
	defer func() {
		for _, l := range img.Layers {
			l.Remove()
		}
	}()
	ref = PostgresRepository + ":" + major + "-" + o.Suite
	if _, err := WriteArchiveFile(archive, img, ref); err != nil {
		return "", "", err
	}
	if err := os.WriteFile(refFile, []byte(ref+"\n"), 0o600); err != nil { //nolint:gosec // a path under the tool cache this package chose
		return "", "", fmt.Errorf("images: %w", err)
	}
	return archive, ref, nil
}

// GopherOpsArchive builds the gopherops binary and writes the image tagged
// GopherOpsRepository:tag to dir/gopherops-<tag>.tar. The version label and
// buildinfo carry the tag, so two tags are two different images (a rollout
// between them changes the image, not only its name).
func GopherOpsArchive(ctx context.Context, o BuildOptions, tag, dir, workDir string) (archive, ref string, err error) {
	bin := filepath.Join(workDir, "gopherops-"+tag)
	o.Version = tag
	if err := BuildGopherOps(ctx, o, bin); err != nil {
		return "", "", err
	}
	img, err := GopherOps(bin, o.Version, o.Commit, o.Created, workDir)
	if err != nil {
		return "", "", err
	}
	defer func() {
		for _, l := range img.Layers {
			l.Remove()
		}
	}()
	ref = GopherOpsRepository + ":" + tag
	archive = filepath.Join(dir, "gopherops-"+tag+".tar")
	if _, err := WriteArchiveFile(archive, img, ref); err != nil {
		return "", "", err
	}
	return archive, ref, nil
}

// PauseArchive builds the pause image into dir/pause.tar.
func PauseArchive(ctx context.Context, o BuildOptions, dir, workDir string) (string, error) {
	bin := filepath.Join(workDir, "pause")
	if err := BuildPause(ctx, o, bin); err != nil {
		return "", err
	}
	img, err := Pause(bin, o.Created, workDir)
	if err != nil {
		return "", err
	}
	defer func() {
		for _, l := range img.Layers {
			l.Remove()
		}
	}()
	archive := filepath.Join(dir, "pause.tar")
	if _, err := WriteArchiveFile(archive, img, PauseRef); err != nil {
		return "", err
	}
	return archive, nil
}
