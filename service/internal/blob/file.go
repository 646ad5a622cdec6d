package blob

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// FileStore keeps objects as files under a root directory. Writes go to a
// temporary file renamed into place, so a reader never sees half an object.
type FileStore struct {
	root *os.Root
	dir  string
}

// NewFileStore opens (creating if needed) the directory dir as a store.
func NewFileStore(dir string) (*FileStore, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("blob: create %s: %w", dir, err)
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("blob: open %s: %w", dir, err)
	}
	return &FileStore{root: root, dir: dir}, nil
}

// contentTypeSuffix stores the content type beside the object.
const contentTypeSuffix = ".content-type"

// Put implements Store.
func (s *FileStore) Put(_ context.Context, key string, r io.Reader, size int64, contentType string) error {
	if !ValidKey(key) {
		return fmt.Errorf("blob: invalid key %q", key)
	}
	if d := filepath.Dir(key); d != "." {
		if err := s.root.MkdirAll(d, 0o750); err != nil {
			return fmt.Errorf("blob: mkdir: %w", err)
		}
	}
	tmp := key + ".tmp-" + randomSuffix()
	f, err := s.root.OpenFile(tmp, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o640)
	if err != nil {
		return fmt.Errorf("blob: create: %w", err)
	}
	n, err := io.Copy(f, io.LimitReader(r, size+1))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil && n != size {
		err = fmt.Errorf("blob: got %d bytes, want %d", n, size)
	}
	if err == nil {
		err = s.root.WriteFile(key+contentTypeSuffix, []byte(contentType), 0o640)
	}
	if err == nil {
		err = s.root.Rename(tmp, key)
	}
	if err != nil {
		_ = s.root.Remove(tmp)
		return fmt.Errorf("blob: put %s: %w", key, err)
	}
	return nil
}

// Get implements Store.
func (s *FileStore) Get(_ context.Context, key string) (io.ReadCloser, Info, error) {
	if !ValidKey(key) {
		return nil, Info{}, ErrNotFound
	}
	f, err := s.root.Open(key)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, Info{}, ErrNotFound
	}
	if err != nil {
		return nil, Info{}, fmt.Errorf("blob: get %s: %w", key, err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, Info{}, fmt.Errorf("blob: stat %s: %w", key, err)
	}
	ct, _ := s.root.ReadFile(key + contentTypeSuffix)
	return f, Info{Size: fi.Size(), ContentType: strings.TrimSpace(string(ct))}, nil
}

// Delete implements Store.
func (s *FileStore) Delete(_ context.Context, key string) error {
	if !ValidKey(key) {
		return nil
	}
	if err := s.root.Remove(key); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("blob: delete %s: %w", key, err)
	}
	_ = s.root.Remove(key + contentTypeSuffix)
	return nil
}

// Check implements Store by writing and removing a probe file.
func (s *FileStore) Check(_ context.Context) error {
	name := ".probe-" + randomSuffix()
	if err := s.root.WriteFile(name, nil, 0o640); err != nil {
		return fmt.Errorf("blob: %s is not writable: %w", s.dir, err)
	}
	return s.root.Remove(name)
}

// Close releases the directory handle.
func (s *FileStore) Close() error { return s.root.Close() }
