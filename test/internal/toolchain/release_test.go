package toolchain

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
)

// tarEntry is one entry of a test archive.
type tarEntry struct {
	name, body, link string
	typ              byte
}

// tarGz builds a gzipped tar archive.
func tarGz(t *testing.T, entries ...tarEntry) []byte {
	t.Helper()
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	for _, e := range entries {
		typ := e.typ
		if typ == 0 {
			typ = tar.TypeReg
		}
		hdr := &tar.Header{Name: e.name, Mode: 0o755, Typeflag: typ, Linkname: e.link}
		if typ == tar.TypeReg {
			hdr.Size = int64(len(e.body))
		}
		if err := tw.WriteHeader(hdr); err != nil {
			t.Fatal(err)
		}
		if typ == tar.TypeReg {
			if _, err := tw.Write([]byte(e.body)); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := gz.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func sum(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// releaseServer serves files by path and counts the requests.
type releaseServer struct {
	*httptest.Server
	requests atomic.Int32
}

func serveReleases(t *testing.T, files map[string][]byte) *releaseServer {
	t.Helper()
	rs := &releaseServer{}
	rs.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rs.requests.Add(1)
		b, ok := files[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		_, _ = w.Write(b)
	}))
	t.Cleanup(rs.Close)
	return rs
}

const etcdScript = "#!/bin/sh\necho 'etcd Version: 3.6.4'\n"

// Every tool but etcd is on PATH; etcd has a release, and a build (the fake
// go) is the fallback. Each case says where etcd must come from.
func TestEnsureDownloadsOrFallsBack(t *testing.T) {
	good := tarGz(t, tarEntry{name: "controller-tools/envtest/etcd", body: etcdScript})
	noMember := tarGz(t, tarEntry{name: "controller-tools/envtest/kubectl", body: etcdScript})
	symlink := tarGz(t, tarEntry{name: "controller-tools/envtest/etcd", typ: tar.TypeSymlink, link: "/bin/sh"})
	wrongVersion := tarGz(t, tarEntry{name: "controller-tools/envtest/etcd", body: "#!/bin/sh\necho 'etcd Version: 0.0.1'\n"})
	rs := serveReleases(t, map[string][]byte{
		"/good.tar.gz":          good,
		"/no-member.tar.gz":     noMember,
		"/symlink.tar.gz":       symlink,
		"/wrong-version.tar.gz": wrongVersion,
		"/not-gzip.tar.gz":      []byte("<html>a captive portal</html>"),
	})
	down := httptest.NewServer(http.NotFoundHandler())
	downURL := down.URL
	down.Close() // nothing listens there any more: connection refused

	cases := []struct {
		name       string
		rel        Release
		wantSource string
		wantInLog  string // a line of the progress output
		noRequest  bool   // the archive must not even be asked for
	}{
		{name: "verified download", rel: Release{URL: rs.URL + "/good.tar.gz", SHA256: sum(good), Member: "controller-tools/envtest/etcd", Version: "3.6.4"},
			wantSource: SourceDownloaded, wantInLog: "etcd 3.6.4: downloaded and verified in "},
		{name: "version asked from the binary", rel: Release{URL: rs.URL + "/good.tar.gz", SHA256: sum(good), Member: "controller-tools/envtest/etcd"},
			wantSource: SourceDownloaded, wantInLog: "etcd 3.6.4: downloaded and verified in "},
		{name: "wrong sum is refused", rel: Release{URL: rs.URL + "/good.tar.gz", SHA256: sum([]byte("another archive")), Member: "controller-tools/envtest/etcd"},
			wantSource: SourceBuilt, wantInLog: "refused: SHA-256 " + sum(good) + ", pinned " + sum([]byte("another archive"))},
		{name: "no pinned sum is refused without a request", rel: Release{URL: rs.URL + "/good.tar.gz", Member: "controller-tools/envtest/etcd"},
			wantSource: SourceBuilt, wantInLog: "refused: no pinned SHA-256", noRequest: true},
		{name: "malformed pinned sum is refused", rel: Release{URL: rs.URL + "/good.tar.gz", SHA256: "abc", Member: "controller-tools/envtest/etcd"},
			wantSource: SourceBuilt, wantInLog: "is not 64 hex digits", noRequest: true},
		{name: "unreachable host falls back", rel: Release{URL: downURL + "/good.tar.gz", SHA256: sum(good), Member: "controller-tools/envtest/etcd"},
			wantSource: SourceBuilt, wantInLog: "connection refused"},
		{name: "missing archive falls back", rel: Release{URL: rs.URL + "/gone.tar.gz", SHA256: sum(good), Member: "controller-tools/envtest/etcd"},
			wantSource: SourceBuilt, wantInLog: "404 Not Found"},
		{name: "archive without the member", rel: Release{URL: rs.URL + "/no-member.tar.gz", SHA256: sum(noMember), Member: "controller-tools/envtest/etcd"},
			wantSource: SourceBuilt, wantInLog: "no controller-tools/envtest/etcd in the archive"},
		{name: "member that is a symlink", rel: Release{URL: rs.URL + "/symlink.tar.gz", SHA256: sum(symlink), Member: "controller-tools/envtest/etcd"},
			wantSource: SourceBuilt, wantInLog: "is not a regular file"},
		{name: "binary of another version", rel: Release{URL: rs.URL + "/wrong-version.tar.gz", SHA256: sum(wrongVersion), Member: "controller-tools/envtest/etcd", Version: "3.6.4"},
			wantSource: SourceBuilt, wantInLog: `reports version "0.0.1", want 3.6.4`},
		{name: "verified archive that is not gzip", rel: Release{URL: rs.URL + "/not-gzip.tar.gz", SHA256: sum([]byte("<html>a captive portal</html>")), Member: "controller-tools/envtest/etcd"},
			wantSource: SourceBuilt, wantInLog: "not gzip"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			pathDir, cacheDir := t.TempDir(), t.TempDir()
			for _, name := range allBut(Etcd) {
				writeExe(t, filepath.Join(pathDir, name), "echo v1")
			}
			f := Finder{
				CacheDir: cacheDir, LookPath: lookIn(pathDir), Go: fakeGo(t, strings.TrimPrefix(EtcdVersion, "v")),
				Releases: map[string]Release{Etcd: tc.rel},
			}
			before := rs.requests.Load()
			var progress bytes.Buffer
			locs, err := f.Ensure(context.Background(), &progress)
			if err != nil {
				t.Fatalf("Ensure: %v\n%s", err, progress.String())
			}
			if got := locs[Etcd].Source; got != tc.wantSource {
				t.Errorf("etcd source = %s, want %s\n%s", got, tc.wantSource, progress.String())
			}
			if !strings.Contains(progress.String(), tc.wantInLog) {
				t.Errorf("progress lacks %q:\n%s", tc.wantInLog, progress.String())
			}
			if tc.noRequest && rs.requests.Load() != before {
				t.Errorf("a release without a usable pinned sum was requested")
			}
			dlDir := filepath.Join(cacheDir, tc.rel.downloadDir())
			if tc.wantSource != SourceDownloaded {
				// Nothing unverified stays behind.
				if entries, _ := os.ReadDir(dlDir); len(entries) != 0 {
					t.Errorf("a refused download left %v in %s", entries, dlDir)
				}
				return
			}
			if want := filepath.Join(dlDir, Etcd); locs[Etcd].Path != want {
				t.Errorf("etcd path = %s, want %s", locs[Etcd].Path, want)
			}
			if entries, _ := os.ReadDir(filepath.Join(cacheDir, "src")); len(entries) != 0 {
				t.Errorf("a verified download still ran a build: %v", entries)
			}
			// Found again from the cache, with the version it reports.
			loc, err := f.Find(Etcd)
			if err != nil || loc.Source != SourceCache || loc.Version != "3.6.4" {
				t.Errorf("Find after the download = %+v, %v", loc, err)
			}
			if leftovers, _ := filepath.Glob(filepath.Join(cacheDir, ".downloads-*")); len(leftovers) != 0 {
				t.Errorf("downloaded archives left behind: %v", leftovers)
			}
		})
	}
}

// kube-apiserver and etcd come from one envtest archive: it is fetched once.
func TestEnsureFetchesAnArchiveOnce(t *testing.T) {
	archive := tarGz(t,
		tarEntry{name: "controller-tools/envtest/etcd", body: etcdScript},
		tarEntry{name: "controller-tools/envtest/kube-apiserver", body: "#!/bin/sh\necho 'Kubernetes v1.34.1'\n"},
	)
	rs := serveReleases(t, map[string][]byte{"/envtest.tar.gz": archive})
	pathDir := t.TempDir()
	for _, name := range Names() {
		if name != Etcd && name != KubeAPIServer {
			writeExe(t, filepath.Join(pathDir, name), "echo v1")
		}
	}
	url := rs.URL + "/envtest.tar.gz"
	f := Finder{
		CacheDir: t.TempDir(), LookPath: lookIn(pathDir), Go: filepath.Join(pathDir, "no-go-here"),
		Releases: map[string]Release{
			Etcd:          {URL: url, SHA256: sum(archive), Member: "controller-tools/envtest/etcd"},
			KubeAPIServer: {URL: url, SHA256: sum(archive), Member: "controller-tools/envtest/kube-apiserver", Version: "v1.34.1"},
		},
	}
	var progress bytes.Buffer
	locs, err := f.Ensure(context.Background(), &progress)
	if err != nil {
		t.Fatalf("Ensure: %v\n%s", err, progress.String())
	}
	for _, name := range []string{Etcd, KubeAPIServer} {
		if locs[name].Source != SourceDownloaded {
			t.Errorf("%s = %+v, want downloaded", name, locs[name])
		}
	}
	if n := rs.requests.Load(); n != 1 {
		t.Errorf("the archive was requested %d times, want once", n)
	}
}

// An archive bigger than the limit is refused before it fills the disk.
func TestDownloadRefusesOversizedArchive(t *testing.T) {
	rs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Length", "1073741824")
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(rs.Close)
	f := Finder{CacheDir: t.TempDir()}
	fe := f.newFetcher(f.CacheDir)
	defer fe.close()
	_, err := fe.archive(context.Background(), Release{URL: rs.URL + "/big.tar.gz", SHA256: sum(nil), Member: "x"})
	if err == nil || !strings.Contains(err.Error(), "more than the") {
		t.Fatalf("archive error = %v, want a size refusal", err)
	}
}

// The production releases are well formed, and none is used without a sum.
func TestPinnedReleases(t *testing.T) {
	for _, platform := range [][2]string{{"linux", "amd64"}, {"linux", "arm64"}, {"darwin", "arm64"}} {
		rels := releases(platform[0], platform[1])
		for name, r := range rels {
			if _, ok := lookupTool(name); !ok {
				t.Errorf("%v: release for unknown tool %s", platform, name)
			}
			if !strings.HasPrefix(r.URL, "https://") || !strings.HasSuffix(r.URL, ".tar.gz") || !strings.Contains(r.URL, platform[0]) {
				t.Errorf("%v: %s URL %s", platform, name, r.URL)
			}
			if r.Member == "" {
				t.Errorf("%v: %s has no member", platform, name)
			}
			if r.SHA256 != "" {
				if b, err := hex.DecodeString(r.SHA256); err != nil || len(b) != sha256.Size {
					t.Errorf("%v: %s pins a malformed SHA-256 %q", platform, name, r.SHA256)
				}
			}
		}
	}
	if rels := releases("windows", "amd64"); rels != nil {
		t.Errorf("releases for windows: %v", rels)
	}
}
