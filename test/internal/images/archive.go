// Package images builds the container images of the platform suite's node
// without a registry or a Docker engine: the GopherOps image (the same
// static binary and runtime contract as the Dockerfile), a PostgreSQL image
// from Debian's packages (debootstrap), and the pause image of the pods'
// sandboxes. Each is written as a `docker save` archive, which
// `ctr -n k8s.io images import` loads into containerd.
//
// Nothing is fetched but Go modules (the go command) and Debian packages
// (debootstrap, from the mirror the machine's apt already uses).
package images

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"syscall"
	"time"
)

// Config is the runtime part of an image configuration (the OCI/Docker
// "config" object): what a container of the image runs, as whom.
type Config struct {
	User         string              `json:"User,omitempty"`
	Env          []string            `json:"Env,omitempty"`
	Entrypoint   []string            `json:"Entrypoint,omitempty"`
	Cmd          []string            `json:"Cmd,omitempty"`
	WorkingDir   string              `json:"WorkingDir,omitempty"`
	ExposedPorts map[string]struct{} `json:"ExposedPorts,omitempty"`
	Labels       map[string]string   `json:"Labels,omitempty"`
	Healthcheck  *Healthcheck        `json:"Healthcheck,omitempty"`
	StopSignal   string              `json:"StopSignal,omitempty"`
}

// Healthcheck is the Dockerfile HEALTHCHECK of an image (durations in nanoseconds, as Docker stores them).
type Healthcheck struct {
	Test        []string      `json:"Test"`
	Interval    time.Duration `json:"Interval,omitempty"`
	Timeout     time.Duration `json:"Timeout,omitempty"`
	StartPeriod time.Duration `json:"StartPeriod,omitempty"`
	Retries     int           `json:"Retries,omitempty"`
}

// Image is one image: its configuration and its layers (uncompressed tars), bottom first.
type Image struct {
	Config  Config
	Layers  []*Layer
	Created time.Time
}

// Layer is an uncompressed layer tar, built in a temporary file so that a
// root filesystem of hundreds of megabytes never sits in memory.
type Layer struct {
	file   *os.File
	tw     *tar.Writer
	hash   hashWriter
	size   int64
	closed bool
	dirs   map[string]bool
}

// hashWriter counts and hashes what goes through it.
type hashWriter struct {
	w io.Writer
	h interface {
		io.Writer
		Sum([]byte) []byte
	}
	n int64
}

func (h *hashWriter) Write(p []byte) (int, error) {
	n, err := h.w.Write(p)
	_, _ = h.h.Write(p[:n]) // a hash.Hash never fails to write
	h.n += int64(n)
	return n, err
}

// NewLayer starts a layer in a temporary file under dir (empty: the default temporary directory).
func NewLayer(dir string) (*Layer, error) {
	f, err := os.CreateTemp(dir, "layer-*.tar")
	if err != nil {
		return nil, fmt.Errorf("images: layer: %w", err)
	}
	l := &Layer{file: f, dirs: map[string]bool{}}
	l.hash = hashWriter{w: f, h: sha256.New()}
	l.tw = tar.NewWriter(&l.hash)
	return l, nil
}

// epoch is the modification time of every entry: a layer's digest depends
// only on its content.
var epoch = time.Unix(0, 0).UTC()

// Dir adds a directory (and its missing parents, root-owned 0755).
func (l *Layer) Dir(name string, mode fs.FileMode, uid, gid int) error {
	name = clean(name)
	if err := l.parents(name); err != nil {
		return err
	}
	l.dirs[name] = true
	return l.tw.WriteHeader(&tar.Header{Name: name + "/", Typeflag: tar.TypeDir, Mode: tarMode(mode), Uid: uid, Gid: gid, ModTime: epoch, Format: tar.FormatPAX})
}

// tarMode is mode's permission, setuid, setgid and sticky bits as a tar mode.
func tarMode(mode fs.FileMode) int64 {
	m := int64(mode.Perm())
	if mode&fs.ModeSetuid != 0 {
		m |= 0o4000
	}
	if mode&fs.ModeSetgid != 0 {
		m |= 0o2000
	}
	if mode&fs.ModeSticky != 0 {
		m |= 0o1000
	}
	return m
}

// File adds a regular file with the given content.
func (l *Layer) File(name string, data []byte, mode fs.FileMode, uid, gid int) error {
	name = clean(name)
	if err := l.parents(name); err != nil {
		return err
	}
	if err := l.tw.WriteHeader(&tar.Header{Name: name, Typeflag: tar.TypeReg, Mode: int64(mode.Perm()), Size: int64(len(data)), Uid: uid, Gid: gid, ModTime: epoch, Format: tar.FormatPAX}); err != nil {
		return fmt.Errorf("images: %s: %w", name, err)
	}
	_, err := l.tw.Write(data)
	return err
}

// CopyFile adds the file at src as name, streamed.
func (l *Layer) CopyFile(name, src string, mode fs.FileMode, uid, gid int) error {
	f, err := os.Open(src) //nolint:gosec // a file the caller chose to pack
	if err != nil {
		return fmt.Errorf("images: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("images: %w", err)
	}
	name = clean(name)
	if err := l.parents(name); err != nil {
		return err
	}
	if err := l.tw.WriteHeader(&tar.Header{Name: name, Typeflag: tar.TypeReg, Mode: int64(mode.Perm()), Size: fi.Size(), Uid: uid, Gid: gid, ModTime: epoch, Format: tar.FormatPAX}); err != nil {
		return fmt.Errorf("images: %s: %w", name, err)
	}
	if _, err := io.Copy(l.tw, f); err != nil {
		return fmt.Errorf("images: %s: %w", name, err)
	}
	return nil
}

// Tree adds the directory tree at root as the image's root filesystem:
// directories, regular files (hard links kept), and symlinks, with their
// modes and owners, owners remapped by ids (old id -> new id). Device
// files, sockets and pipes are left out: the runtime provides /dev.
func (l *Layer) Tree(root string, ids map[int]int) error {
	remap := func(id int) int {
		if n, ok := ids[id]; ok {
			return n
		}
		return id
	}
	links := map[[2]uint64]string{} // (device, inode) -> first name
	var paths []string
	err := filepath.WalkDir(root, func(p string, _ fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		paths = append(paths, p)
		return nil
	})
	if err != nil {
		return fmt.Errorf("images: walk %s: %w", root, err)
	}
	sort.Strings(paths)
	for _, p := range paths {
		rel, err := filepath.Rel(root, p)
		if err != nil || rel == "." {
			continue
		}
		name := filepath.ToSlash(rel)
		fi, err := os.Lstat(p)
		if err != nil {
			return fmt.Errorf("images: %w", err)
		}
		st, ok := fi.Sys().(*syscall.Stat_t)
		if !ok {
			return fmt.Errorf("images: %s: no owner information", p)
		}
		hdr := &tar.Header{Name: name, Mode: tarMode(fi.Mode()), Uid: remap(int(st.Uid)), Gid: remap(int(st.Gid)), ModTime: epoch, Format: tar.FormatPAX}
		switch {
		case fi.IsDir():
			hdr.Typeflag, hdr.Name = tar.TypeDir, name+"/"
			l.dirs[name] = true
		case fi.Mode()&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return fmt.Errorf("images: %w", err)
			}
			hdr.Typeflag, hdr.Linkname = tar.TypeSymlink, target
		case fi.Mode().IsRegular():
			key := [2]uint64{uint64(st.Dev), st.Ino} //nolint:unconvert // Dev's type differs between architectures
			if first, seen := links[key]; seen && st.Nlink > 1 {
				hdr.Typeflag, hdr.Linkname = tar.TypeLink, first
				break
			}
			links[key] = name
			hdr.Typeflag, hdr.Size = tar.TypeReg, fi.Size()
		default:
			continue
		}
		if err := l.tw.WriteHeader(hdr); err != nil {
			return fmt.Errorf("images: %s: %w", name, err)
		}
		if hdr.Typeflag == tar.TypeReg {
			if err := copyInto(l.tw, p); err != nil {
				return fmt.Errorf("images: %s: %w", name, err)
			}
		}
	}
	return nil
}

func copyInto(w io.Writer, p string) error {
	f, err := os.Open(p) //nolint:gosec // a file of the tree being packed
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = io.Copy(w, f)
	return err
}

// parents adds the missing parent directories of name.
func (l *Layer) parents(name string) error {
	dir := path.Dir(name)
	if dir == "." || dir == "/" || l.dirs[dir] {
		return nil
	}
	if err := l.parents(dir); err != nil {
		return err
	}
	l.dirs[dir] = true
	return l.tw.WriteHeader(&tar.Header{Name: dir + "/", Typeflag: tar.TypeDir, Mode: 0o755, ModTime: epoch, Format: tar.FormatPAX})
}

// close finishes the tar; the layer's digest is known from then on.
func (l *Layer) close() error {
	if l.closed {
		return nil
	}
	l.closed = true
	if err := l.tw.Close(); err != nil {
		return fmt.Errorf("images: layer: %w", err)
	}
	l.size = l.hash.n
	return nil
}

// DiffID is the layer's "sha256:<hex>" content digest; it finishes the layer.
func (l *Layer) DiffID() (string, error) {
	if err := l.close(); err != nil {
		return "", err
	}
	return "sha256:" + hex.EncodeToString(l.hash.h.Sum(nil)), nil
}

// Remove deletes the layer's temporary file.
func (l *Layer) Remove() {
	_ = l.file.Close()
	_ = os.Remove(l.file.Name())
}

// clean makes name a relative slash path without dot elements.
func clean(name string) string {
	return strings.TrimPrefix(path.Clean("/"+name), "/")
}

// imageConfig is the configuration document of an image.
type imageConfig struct {
	Architecture string    `json:"architecture"`
	OS           string    `json:"os"`
	Created      time.Time `json:"created"`
	Config       Config    `json:"config"`
	RootFS       struct {
		Type    string   `json:"type"`
		DiffIDs []string `json:"diff_ids"`
	} `json:"rootfs"`
}

// manifestEntry is one image of a `docker save` manifest.json.
type manifestEntry struct {
	Config   string
	RepoTags []string
	Layers   []string
}

// WriteArchive writes img tagged with tags as a `docker save` archive
// (manifest.json, the configuration, one tar per layer) to w and returns
// the image ID (the configuration's digest).
func WriteArchive(w io.Writer, img Image, tags ...string) (string, error) {
	if len(tags) == 0 {
		return "", errors.New("images: an archive needs at least one tag")
	}
	cfg := imageConfig{Architecture: runtime.GOARCH, OS: "linux", Created: img.Created.UTC(), Config: img.Config}
	cfg.RootFS.Type = "layers"
	for _, l := range img.Layers {
		id, err := l.DiffID()
		if err != nil {
			return "", err
		}
		cfg.RootFS.DiffIDs = append(cfg.RootFS.DiffIDs, id)
	}
	cfgJSON, err := json.Marshal(cfg)
	if err != nil {
		return "", fmt.Errorf("images: config: %w", err)
	}
	cfgSum := sha256.Sum256(cfgJSON)
	cfgHex := hex.EncodeToString(cfgSum[:])

	tw := tar.NewWriter(w)
	entry := manifestEntry{Config: cfgHex + ".json", RepoTags: tags}
	add := func(name string, size int64, body io.Reader) error {
		if err := tw.WriteHeader(&tar.Header{Name: name, Typeflag: tar.TypeReg, Mode: 0o644, Size: size, ModTime: epoch}); err != nil {
			return fmt.Errorf("images: archive %s: %w", name, err)
		}
		if _, err := io.Copy(tw, body); err != nil {
			return fmt.Errorf("images: archive %s: %w", name, err)
		}
		return nil
	}
	if err := add(entry.Config, int64(len(cfgJSON)), bytes.NewReader(cfgJSON)); err != nil {
		return "", err
	}
	for i, l := range img.Layers {
		name := strings.TrimPrefix(cfg.RootFS.DiffIDs[i], "sha256:") + "/layer.tar"
		if _, err := l.file.Seek(0, io.SeekStart); err != nil {
			return "", fmt.Errorf("images: layer: %w", err)
		}
		if err := add(name, l.size, l.file); err != nil {
			return "", err
		}
		entry.Layers = append(entry.Layers, name)
	}
	manifest, err := json.Marshal([]manifestEntry{entry})
	if err != nil {
		return "", fmt.Errorf("images: manifest: %w", err)
	}
	if err := add("manifest.json", int64(len(manifest)), bytes.NewReader(manifest)); err != nil {
		return "", err
	}
	if err := tw.Close(); err != nil {
		return "", fmt.Errorf("images: archive: %w", err)
	}
	return "sha256:" + cfgHex, nil
}

// WriteArchiveFile writes the archive to path atomically (a temporary file renamed into place).
func WriteArchiveFile(path string, img Image, tags ...string) (string, error) {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".archive-*")
	if err != nil {
		return "", fmt.Errorf("images: %w", err)
	}
	defer func() { _ = os.Remove(tmp.Name()) }()
	id, err := WriteArchive(tmp, img, tags...)
	if cerr := tmp.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("images: %w", cerr)
	}
	if err != nil {
		return "", err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return "", fmt.Errorf("images: %w", err)
	}
	return id, nil
}
