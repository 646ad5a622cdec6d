package images

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// readArchive returns the entries of a tar stream by name.
func readArchive(t *testing.T, r io.Reader) (map[string][]byte, map[string]*tar.Header) {
	t.Helper()
	files, headers := map[string][]byte{}, map[string]*tar.Header{}
	tr := tar.NewReader(r)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return files, headers
		}
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		files[hdr.Name], headers[hdr.Name] = b, hdr
	}
}

// The archive is what `docker save` writes: manifest.json naming the tags,
// the configuration file named by its digest, and layers whose digests are
// the configuration's diff_ids.
func TestWriteArchive(t *testing.T) {
	l, err := NewLayer(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer l.Remove()
	if err := l.File("usr/local/bin/app", []byte("#!/bin/true\n"), 0o755, 0, 0); err != nil {
		t.Fatal(err)
	}
	if err := l.Dir("tmp", 0o777|os.ModeSticky, 0, 0); err != nil {
		t.Fatal(err)
	}
	created := time.Date(2026, 11, 30, 0, 0, 0, 0, time.UTC)
	img := Image{Created: created, Layers: []*Layer{l}, Config: Config{User: "65532:65532", Entrypoint: []string{"/usr/local/bin/app"}}}
	var buf bytes.Buffer
	id, err := WriteArchive(&buf, img, "gopherops.local/app:1", "gopherops.local/app:latest")
	if err != nil {
		t.Fatal(err)
	}
	files, _ := readArchive(t, &buf)
	var manifest []manifestEntry
	if err := json.Unmarshal(files["manifest.json"], &manifest); err != nil {
		t.Fatalf("manifest.json: %v", err)
	}
	if len(manifest) != 1 || len(manifest[0].RepoTags) != 2 || manifest[0].RepoTags[0] != "gopherops.local/app:1" {
		t.Fatalf("manifest = %+v", manifest)
	}
	cfgData := files[manifest[0].Config]
	sum := sha256.Sum256(cfgData)
	if "sha256:"+hex.EncodeToString(sum[:]) != id || manifest[0].Config != hex.EncodeToString(sum[:])+".json" {
		t.Errorf("image ID %s does not name the configuration %s", id, manifest[0].Config)
	}
	var cfg imageConfig
	if err := json.Unmarshal(cfgData, &cfg); err != nil {
		t.Fatal(err)
	}
	if cfg.OS != "linux" || cfg.Config.User != "65532:65532" || !cfg.Created.Equal(created) {
		t.Errorf("config = %+v", cfg)
	}
	layer := files[manifest[0].Layers[0]]
	lsum := sha256.Sum256(layer)
	if len(cfg.RootFS.DiffIDs) != 1 || cfg.RootFS.DiffIDs[0] != "sha256:"+hex.EncodeToString(lsum[:]) {
		t.Errorf("diff_ids %v do not match the layer", cfg.RootFS.DiffIDs)
	}
	entries, headers := readArchive(t, bytes.NewReader(layer))
	if string(entries["usr/local/bin/app"]) != "#!/bin/true\n" || headers["usr/local/bin/app"].Mode != 0o755 {
		t.Errorf("layer file = %q %o", entries["usr/local/bin/app"], headers["usr/local/bin/app"].Mode)
	}
	for _, parent := range []string{"usr/", "usr/local/", "usr/local/bin/"} {
		if headers[parent] == nil || headers[parent].Typeflag != tar.TypeDir {
			t.Errorf("layer lacks the parent directory %s", parent)
		}
	}
	if h := headers["tmp/"]; h == nil || h.Mode != 0o1777 {
		t.Errorf("tmp = %+v, want a sticky 1777 directory", h)
	}
	if _, err := WriteArchive(io.Discard, img); err == nil {
		t.Error("an archive without a tag was written")
	}
}

// A tree keeps symlinks as links (never followed), hard links as links,
// and remaps owners.
func TestLayerTree(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("remapping owners is shown with files owned by another user, which needs root")
	}
	root := t.TempDir()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.MkdirAll(filepath.Join(root, "var/lib/db"), 0o700))
	must(os.WriteFile(filepath.Join(root, "var/lib/db/data"), []byte("rows"), 0o600))
	must(os.Link(filepath.Join(root, "var/lib/db/data"), filepath.Join(root, "var/lib/db/hard")))
	must(os.Symlink("/run", filepath.Join(root, "var/run")))
	must(os.Chown(filepath.Join(root, "var/lib/db"), 101, 104))
	l, err := NewLayer(t.TempDir())
	must(err)
	defer l.Remove()
	must(l.Tree(root, map[int]int{101: 999, 104: 999}))
	_, err = l.DiffID()
	must(err)
	_, err = l.file.Seek(0, io.SeekStart)
	must(err)
	files, headers := readArchive(t, l.file)
	if h := headers["var/run"]; h == nil || h.Typeflag != tar.TypeSymlink || h.Linkname != "/run" {
		t.Errorf("var/run = %+v, want a symlink to /run", h)
	}
	if h := headers["var/lib/db/"]; h == nil || h.Uid != 999 || h.Gid != 999 || h.Mode != 0o700 {
		t.Errorf("var/lib/db = %+v, want 999:999 0700", h)
	}
	first, second := headers["var/lib/db/data"], headers["var/lib/db/hard"]
	if first == nil || second == nil || first.Typeflag != tar.TypeReg || second.Typeflag != tar.TypeLink || second.Linkname != "var/lib/db/data" || string(files["var/lib/db/data"]) != "rows" {
		t.Errorf("hard link: %+v %+v", first, second)
	}
}

func TestRequireStatic(t *testing.T) {
	// /bin/sh is linked against libc on every Debian machine.
	if _, err := os.Stat("/bin/sh"); err != nil {
		t.Skip("no /bin/sh")
	}
	if err := requireStatic("/bin/sh"); err == nil || !strings.Contains(err.Error(), "dynamically linked") {
		t.Errorf("requireStatic(/bin/sh) = %v, want a refusal", err)
	}
}

func TestRenumber(t *testing.T) {
	cases := []struct {
		name, passwd, want, err string
		old                     int
	}{
		{name: "postgres renumbered", passwd: "root:x:0:0::/root:/bin/sh\npostgres:x:101:104:PostgreSQL:/var/lib/postgresql:/bin/bash\n",
			want: "root:x:0:0::/root:/bin/sh\npostgres:x:999:999:PostgreSQL:/var/lib/postgresql:/bin/bash\n", old: 101},
		{name: "id taken", passwd: "other:x:999:999::/:/bin/sh\npostgres:x:101:104::/:/bin/sh\n", err: "already has id 999"},
		{name: "no such user", passwd: "root:x:0:0::/root:/bin/sh\n", err: "no postgres"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.MkdirAll(filepath.Join(dir, "etc"), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, "etc/passwd"), []byte(tc.passwd), 0o644); err != nil {
				t.Fatal(err)
			}
			root, err := os.OpenRoot(dir)
			if err != nil {
				t.Fatal(err)
			}
			defer root.Close()
			old, err := renumber(root, "etc/passwd", "postgres", 999, true)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil || old != tc.old {
				t.Fatalf("renumber = %d, %v", old, err)
			}
			if got, _ := os.ReadFile(filepath.Join(dir, "etc/passwd")); string(got) != tc.want {
				t.Errorf("passwd:\n%s\nwant:\n%s", got, tc.want)
			}
		})
	}
}

func TestAptMirror(t *testing.T) {
	cases := []struct {
		name, list, sources, want string
	}{
		{name: "deb822 stanza", sources: "Types: deb\nURIs: http://mirror.example/debian\nSuites: bookworm bookworm-updates\nComponents: main\n\nTypes: deb\nURIs: http://mirror.example/debian-security\nSuites: bookworm-security\nComponents: main\n",
			want: "http://mirror.example/debian"},
		{name: "one-line entry with options", list: "# comment\ndeb [arch=amd64 signed-by=/k.gpg] http://mirror.example/debian bookworm main contrib\n",
			want: "http://mirror.example/debian"},
		{name: "only another suite", list: "deb http://mirror.example/debian trixie main\n"},
		{name: "source packages only", list: "deb-src http://mirror.example/debian bookworm main\n"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			list := filepath.Join(dir, "sources.list")
			if err := os.WriteFile(list, []byte(tc.list), 0o644); err != nil {
				t.Fatal(err)
			}
			if tc.sources != "" {
				if err := os.WriteFile(filepath.Join(dir, "debian.sources"), []byte(tc.sources), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			got, err := aptMirror("bookworm", list, dir)
			if tc.want == "" {
				if err == nil {
					t.Fatalf("aptMirror = %q, want an error", got)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Errorf("aptMirror = %q, %v, want %q", got, err, tc.want)
			}
		})
	}
}

func TestHostSuite(t *testing.T) {
	p := filepath.Join(t.TempDir(), "os-release")
	if err := os.WriteFile(p, []byte("PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nVERSION_CODENAME=bookworm\nID=debian\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if got, err := hostSuite(p); err != nil || got != "bookworm" {
		t.Errorf("hostSuite = %q, %v", got, err)
	}
	if err := os.WriteFile(p, []byte("ID=alpine\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := hostSuite(p); err == nil {
		t.Error("a release without a codename was accepted")
	}
}
