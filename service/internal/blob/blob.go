// Package blob stores opaque objects (avatars) by key, on the local filesystem
// or in S3 (or any S3-compatible server), chosen by the BLOB_STORE URL.
package blob

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"path"
	"regexp"
	"strings"
)

// ErrNotFound is returned by Get and Delete-tolerant callers when a key has no object.
var ErrNotFound = errors.New("blob: not found")

// ErrUnavailable wraps a failure of the object store that is not the
// request's fault (unreachable, or answering 5xx): retrying soon may work.
var ErrUnavailable = errors.New("blob: object store unavailable")

// Info describes a stored object.
type Info struct {
	Size        int64
	ContentType string
}

// Store is an object store. Keys are slash-separated relative paths
// (see ValidKey); implementations must reject anything else.
type Store interface {
	// Put stores size bytes from r under key, replacing any previous object.
	Put(ctx context.Context, key string, r io.Reader, size int64, contentType string) error
	// Get opens the object under key; the caller closes it. A missing key is ErrNotFound.
	Get(ctx context.Context, key string) (io.ReadCloser, Info, error)
	// Delete removes key; deleting a missing key is not an error.
	Delete(ctx context.Context, key string) error
	// Check verifies the store is reachable and writable enough to serve.
	Check(ctx context.Context) error
}

var keyPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]*(/[a-z0-9][a-z0-9._-]*)*$`)

// ValidKey reports whether key is a safe object key: lower-case segments of
// [a-z0-9._-], no empty, "." or ".." segments, so it can never escape a root.
func ValidKey(key string) bool {
	if len(key) == 0 || len(key) > 200 || !keyPattern.MatchString(key) {
		return false
	}
	for _, seg := range strings.Split(key, "/") {
		if seg == "." || seg == ".." {
			return false
		}
	}
	return path.Clean(key) == key
}

// S3Options carry what an S3 store needs besides the URL.
type S3Options struct {
	// Endpoint is an S3-compatible endpoint (AWS_ENDPOINT_URL_S3); when set,
	// path-style addressing is used, as SeaweedFS and most fakes expect.
	Endpoint string
	// Region overrides the region from the default AWS configuration.
	Region string
}

// Open returns the store named by rawURL: file:///abs/path, file://./rel/path
// or s3://bucket/prefix.
func Open(ctx context.Context, rawURL string, s3opts S3Options) (Store, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("blob: parse %q: %w", rawURL, err)
	}
	switch u.Scheme {
	case "file":
		dir := u.Host + u.Path // file://./data/blobs keeps "." as the host
		if dir == "" {
			return nil, fmt.Errorf("blob: %q names no directory", rawURL)
		}
		return NewFileStore(dir)
	case "s3":
		if u.Host == "" {
			return nil, fmt.Errorf("blob: %q names no bucket", rawURL)
		}
		return NewS3Store(ctx, u.Host, strings.Trim(u.Path, "/"), s3opts)
	default:
		return nil, fmt.Errorf("blob: unsupported scheme %q (want file:// or s3://)", u.Scheme)
	}
}
