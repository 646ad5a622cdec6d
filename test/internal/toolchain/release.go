package toolchain

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"strings"
	"time"
)

// Limits of a release download: what the worst answer of a release host
// (or of whoever sits in its place) can cost.
const (
	// maxArchiveBytes bounds an archive; the largest (envtest) is ~80 MiB.
	maxArchiveBytes = 512 << 20
	// maxMemberBytes bounds the executable taken out of an archive.
	maxMemberBytes = 512 << 20
	// downloadTimeout bounds one archive's download.
	downloadTimeout = 10 * time.Minute
	// connectTimeout bounds reaching the host, so that a machine without
	// internet falls back to the build at once.
	connectTimeout = 15 * time.Second
)

// ErrNoPinnedSum is wrapped by the error of a release that has no pinned
// SHA-256: it is never downloaded, since nothing could verify it.
var ErrNoPinnedSum = errors.New("no pinned SHA-256")

// Release is an official release archive a tool is installed from instead
// of built, when the archive is reachable and matches its pinned sum.
type Release struct {
	// URL is the address of the .tar.gz archive.
	URL string
	// SHA256 is the archive's pinned sum in hex; empty refuses the download.
	SHA256 string
	// Member is the slash-separated path of the executable in the archive.
	Member string
	// Version is the version the executable must report; empty: whatever it
	// reports is recorded.
	Version string
}

// archiveName is the last element of the URL's path.
func (r Release) archiveName() string {
	name := path.Base(r.URL)
	if i := strings.IndexAny(name, "?#"); i >= 0 {
		name = name[:i]
	}
	return name
}

// downloadDir is the cache directory of the tools from r's archive.
func (r Release) downloadDir() string {
	return "download-" + strings.TrimSuffix(strings.TrimSuffix(r.archiveName(), ".tar.gz"), ".tgz")
}

// release is name's download, from Finder.Releases or the pinned ones.
func (f *Finder) release(name string) (Release, bool) {
	rels := f.Releases
	if rels == nil {
		rels = releases(runtime.GOOS, runtime.GOARCH)
	}
	r, ok := rels[name]
	return r, ok && r.URL != ""
}

// fetcher downloads and verifies the release archives of one Ensure call,
// each archive once however many tools it holds.
type fetcher struct {
	client   *http.Client
	root     string
	archives map[string]string // URL -> verified archive on disk
	failed   map[string]error  // URL -> why it cannot be used
	tmpDir   string
}

func (f *Finder) newFetcher(root string) *fetcher {
	client := f.HTTPClient
	if client == nil {
		transport := http.DefaultTransport.(*http.Transport).Clone()
		transport.DialContext = (&net.Dialer{Timeout: connectTimeout}).DialContext
		transport.TLSHandshakeTimeout = connectTimeout
		transport.ResponseHeaderTimeout = time.Minute
		client = &http.Client{Transport: transport}
	}
	return &fetcher{client: client, root: root, archives: map[string]string{}, failed: map[string]error{}}
}

// close removes the downloaded archives.
func (fe *fetcher) close() {
	if fe.tmpDir != "" {
		_ = os.RemoveAll(fe.tmpDir)
	}
}

// install puts t's executable from r's archive into the cache, after
// checking the archive against r.SHA256 and the executable's version.
func (fe *fetcher) install(ctx context.Context, t tool, r Release) (Location, error) {
	archive, err := fe.archive(ctx, r)
	if err != nil {
		return Location{}, err
	}
	dir := filepath.Join(fe.root, r.downloadDir())
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return Location{}, fmt.Errorf("toolchain: download %s: %w", t.name, err)
	}
	final := filepath.Join(dir, t.name)
	tmp := filepath.Join(dir, fmt.Sprintf(".%s.tmp-%d", t.name, os.Getpid()))
	defer func() { _ = os.Remove(tmp) }()
	if err := extractMember(archive, r.Member, tmp); err != nil {
		return Location{}, fmt.Errorf("toolchain: download %s: %s: %w", t.name, r.archiveName(), err)
	}
	version := r.Version
	if t.versionArgs != nil {
		out, err := runVersion(ctx, tmp, t.versionArgs)
		if err != nil {
			return Location{}, fmt.Errorf("toolchain: download %s: the downloaded binary does not run: %w", t.name, err)
		}
		got := parseVersion(out)
		if r.Version != "" && strings.TrimPrefix(got, "v") != strings.TrimPrefix(r.Version, "v") {
			return Location{}, fmt.Errorf("toolchain: download %s: the downloaded binary reports version %q, want %s", t.name, got, r.Version)
		}
		version = got
	}
	if err := os.Rename(tmp, final); err != nil {
		return Location{}, fmt.Errorf("toolchain: download %s: install: %w", t.name, err)
	}
	return Location{Name: t.name, Path: final, Version: version, Source: SourceDownloaded}, nil
}

// archive returns the path of r's verified archive, downloading it on the
// first call. A failure is remembered: the archive is not asked for again.
func (fe *fetcher) archive(ctx context.Context, r Release) (string, error) {
	if p, ok := fe.archives[r.URL]; ok {
		return p, nil
	}
	if err, ok := fe.failed[r.URL]; ok {
		return "", err
	}
	p, err := fe.fetch(ctx, r)
	if err != nil {
		fe.failed[r.URL] = err
		return "", err
	}
	fe.archives[r.URL] = p
	return p, nil
}

// fetch downloads r's archive into a temporary file and keeps it only when
// its SHA-256 is the pinned one.
func (fe *fetcher) fetch(ctx context.Context, r Release) (string, error) {
	want, err := hex.DecodeString(r.SHA256)
	if r.SHA256 == "" {
		return "", fmt.Errorf("toolchain: download %s: refused: %w in versions.go (nothing could verify it)", r.URL, ErrNoPinnedSum)
	}
	if err != nil || len(want) != sha256.Size {
		return "", fmt.Errorf("toolchain: download %s: refused: the pinned SHA-256 %q is not 64 hex digits", r.URL, r.SHA256)
	}
	if fe.tmpDir == "" {
		if err := os.MkdirAll(fe.root, 0o750); err != nil {
			return "", fmt.Errorf("toolchain: download: %w", err)
		}
		if fe.tmpDir, err = os.MkdirTemp(fe.root, ".downloads-"); err != nil {
			return "", fmt.Errorf("toolchain: download: %w", err)
		}
	}
	ctx, cancel := context.WithTimeout(ctx, downloadTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, r.URL, nil)
	if err != nil {
		return "", fmt.Errorf("toolchain: download %s: %w", r.URL, err)
	}
	resp, err := fe.client.Do(req)
	if err != nil {
		return "", fmt.Errorf("toolchain: download %s: %w", r.URL, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("toolchain: download %s: %s", r.URL, resp.Status)
	}
	if resp.ContentLength > maxArchiveBytes {
		return "", fmt.Errorf("toolchain: download %s: refused: %d bytes is more than the %d an archive may have", r.URL, resp.ContentLength, maxArchiveBytes)
	}
	out, err := os.CreateTemp(fe.tmpDir, "archive-")
	if err != nil {
		return "", fmt.Errorf("toolchain: download %s: %w", r.URL, err)
	}
	keep := false
	defer func() {
		_ = out.Close()
		if !keep {
			_ = os.Remove(out.Name())
		}
	}()
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(out, h), io.LimitReader(resp.Body, maxArchiveBytes+1))
	if err != nil {
		return "", fmt.Errorf("toolchain: download %s: %w", r.URL, err)
	}
	if n > maxArchiveBytes {
		return "", fmt.Errorf("toolchain: download %s: refused: more than the %d bytes an archive may have", r.URL, maxArchiveBytes)
	}
	if got := h.Sum(nil); !bytes.Equal(got, want) {
		return "", fmt.Errorf("toolchain: download %s: refused: SHA-256 %x, pinned %s: the archive is not the release versions.go names", r.URL, got, r.SHA256)
	}
	if err := out.Close(); err != nil {
		return "", fmt.Errorf("toolchain: download %s: %w", r.URL, err)
	}
	keep = true
	return out.Name(), nil
}

// extractMember writes the regular file member of the gzipped tar archive
// to dst as an executable. Only that one entry is written, to a path this
// package chose: names in the archive never become paths.
func extractMember(archive, member, dst string) error {
	f, err := os.Open(archive) //nolint:gosec // a verified archive this package downloaded
	if err != nil {
		return err
	}
	defer f.Close()
	gz, err := gzip.NewReader(f)
	if err != nil {
		return fmt.Errorf("not gzip: %w", err)
	}
	defer gz.Close()
	tr := tar.NewReader(gz)
	want := path.Clean(member)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return fmt.Errorf("no %s in the archive", member)
		}
		if err != nil {
			return fmt.Errorf("read archive: %w", err)
		}
		if path.Clean(strings.TrimPrefix(hdr.Name, "./")) != want {
			continue
		}
		if hdr.Typeflag != tar.TypeReg {
			return fmt.Errorf("%s is not a regular file in the archive", member)
		}
		if hdr.Size > maxMemberBytes {
			return fmt.Errorf("%s is %d bytes, more than the %d allowed", member, hdr.Size, maxMemberBytes)
		}
		_ = os.Remove(dst)
		out, err := os.OpenFile(dst, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o700) //nolint:gosec // a path in the cache this package chose
		if err != nil {
			return err
		}
		if _, err := io.Copy(out, io.LimitReader(tr, maxMemberBytes)); err != nil {
			_ = out.Close()
			return fmt.Errorf("extract %s: %w", member, err)
		}
		if err := out.Close(); err != nil {
			return err
		}
		return os.Chmod(dst, 0o755) //nolint:gosec // an executable in the user's own cache
	}
}
