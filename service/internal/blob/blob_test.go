package blob_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"

	"github.com/gopherops/gopherops/service/internal/blob"
	"github.com/gopherops/gopherops/service/s3local"
	"github.com/gopherops/gopherops/service/s3local/s3test"
)

// s3Server runs a real S3-protocol server on loopback and returns a store on it.
func s3Store(t *testing.T) blob.Store {
	t.Helper()
	backend := s3mem.New()
	if err := backend.CreateBucket("avatars"); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(gofakes3.New(backend).Server())
	t.Cleanup(srv.Close)
	t.Setenv("AWS_ACCESS_KEY_ID", "test")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "test")
	t.Setenv("AWS_CONFIG_FILE", "/dev/null")
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
	st, err := blob.Open(context.Background(), "s3://avatars/prefix", blob.S3Options{Endpoint: srv.URL, Region: "us-east-1"})
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// seaweedStore is a store on a real SeaweedFS, the S3 server compose runs
// (skipped, saying why, when `make tools` has not built it).
func seaweedStore(t *testing.T) blob.Store {
	t.Helper()
	srv := s3test.Start(t, "avatars")
	useCredentials(t, srv.AccessKey, srv.SecretKey)
	st, err := blob.Open(context.Background(), "s3://avatars/prefix", blob.S3Options{Endpoint: srv.URL, Region: s3local.Region})
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// useCredentials makes the default AWS chain sign with key and secret only.
func useCredentials(t *testing.T, key, secret string) {
	t.Helper()
	t.Setenv("AWS_ACCESS_KEY_ID", key)
	t.Setenv("AWS_SECRET_ACCESS_KEY", secret)
	t.Setenv("AWS_SESSION_TOKEN", "")
	t.Setenv("AWS_PROFILE", "")
	t.Setenv("AWS_CONFIG_FILE", "/dev/null")
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
}

// TestSeaweedFSRefusesWhatAFakeAccepts: the real server checks signatures
// and buckets, which the in-memory fake does not: a wrong secret or a bucket
// that does not exist is a failure of the request, never "unavailable".
func TestSeaweedFSRefusesWhatAFakeAccepts(t *testing.T) {
	srv := s3test.Start(t, "avatars")
	ctx := context.Background()
	tests := []struct {
		name, bucket, secret string
	}{
		{"wrong secret", "avatars", srv.SecretKey + "x"},
		{"no such bucket", "nothing-here", srv.SecretKey},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			useCredentials(t, srv.AccessKey, tt.secret)
			st, err := blob.Open(ctx, "s3://"+tt.bucket+"/p", blob.S3Options{Endpoint: srv.URL, Region: s3local.Region})
			if err != nil {
				t.Fatal(err)
			}
			if err := st.Check(ctx); err == nil {
				t.Error("check passed")
			}
			err = st.Put(ctx, "avatars/1/a.png", strings.NewReader("x"), 1, "image/png")
			if err == nil || errors.Is(err, blob.ErrUnavailable) {
				t.Errorf("put: %v, want a refusal that is not ErrUnavailable", err)
			}
		})
	}
	// What the right identity stored is there, under the store's prefix.
	useCredentials(t, srv.AccessKey, srv.SecretKey)
	st, err := blob.Open(ctx, "s3://avatars/p", blob.S3Options{Endpoint: srv.URL, Region: s3local.Region})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Put(ctx, "avatars/2/b.png", strings.NewReader("png"), 3, "image/png"); err != nil {
		t.Fatal(err)
	}
	out, err := srv.Client().ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("avatars")})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Contents) != 1 || aws.ToString(out.Contents[0].Key) != "p/avatars/2/b.png" {
		t.Fatalf("bucket holds %+v, want only p/avatars/2/b.png", out.Contents)
	}
}

func fileStore(t *testing.T) blob.Store {
	t.Helper()
	st, err := blob.Open(context.Background(), "file://"+t.TempDir(), blob.S3Options{})
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func TestStores(t *testing.T) {
	stores := map[string]func(*testing.T) blob.Store{"file": fileStore, "s3": s3Store, "seaweedfs": seaweedStore}
	for name, open := range stores {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			st := open(t)
			if err := st.Check(ctx); err != nil {
				t.Fatalf("check: %v", err)
			}
			data := []byte("\x89PNG\r\n\x1a\nnot really an image")
			if err := st.Put(ctx, "avatars/1/a.png", bytes.NewReader(data), int64(len(data)), "image/png"); err != nil {
				t.Fatalf("put: %v", err)
			}
			rc, info, err := st.Get(ctx, "avatars/1/a.png")
			if err != nil {
				t.Fatalf("get: %v", err)
			}
			got, _ := io.ReadAll(rc)
			rc.Close()
			if !bytes.Equal(got, data) || info.ContentType != "image/png" || info.Size != int64(len(data)) {
				t.Fatalf("get returned %q %+v", got, info)
			}
			// Replace, then delete twice: the second delete is not an error.
			if err := st.Put(ctx, "avatars/1/a.png", bytes.NewReader([]byte("v2")), 2, "image/jpeg"); err != nil {
				t.Fatal(err)
			}
			rc, info, err = st.Get(ctx, "avatars/1/a.png")
			if err != nil {
				t.Fatal(err)
			}
			got, _ = io.ReadAll(rc)
			rc.Close()
			if string(got) != "v2" || info.ContentType != "image/jpeg" {
				t.Fatalf("after replace: %q %+v", got, info)
			}
			for i := 0; i < 2; i++ {
				if err := st.Delete(ctx, "avatars/1/a.png"); err != nil {
					t.Fatalf("delete %d: %v", i, err)
				}
			}
			if _, _, err := st.Get(ctx, "avatars/1/a.png"); !errors.Is(err, blob.ErrNotFound) {
				t.Fatalf("get after delete: %v, want ErrNotFound", err)
			}
			if err := st.Put(ctx, "../escape", bytes.NewReader(nil), 0, "text/plain"); err == nil {
				t.Fatal("put accepted a key that escapes the store")
			}
			// A short body is an error, not a truncated object.
			if err := st.Put(ctx, "short", bytes.NewReader([]byte("ab")), 5, "text/plain"); err == nil {
				t.Fatal("put accepted fewer bytes than announced")
			}
		})
	}
}

func TestValidKey(t *testing.T) {
	tests := []struct {
		key  string
		want bool
	}{
		{"avatars/1/abc.png", true},
		{"a", true},
		{"", false},
		{"../etc/passwd", false},
		{"a/../b", false},
		{"/abs", false},
		{"a//b", false},
		{"A/upper", false},
		{"a/./b", false},
		{"trailing/", false},
	}
	for _, tt := range tests {
		if got := blob.ValidKey(tt.key); got != tt.want {
			t.Errorf("ValidKey(%q) = %v, want %v", tt.key, got, tt.want)
		}
	}
}

// TestS3UnavailableIsMarked: an object store that cannot answer (nothing
// listening, or 5xx after the SDK's retries) is ErrUnavailable; one that
// refuses the request (403) is not.
func TestS3UnavailableIsMarked(t *testing.T) {
	t.Setenv("AWS_ACCESS_KEY_ID", "test")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "test")
	t.Setenv("AWS_CONFIG_FILE", "/dev/null")
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
	answering := func(status int) string {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(status) }))
		t.Cleanup(srv.Close)
		return srv.URL
	}
	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close()
	tests := []struct {
		name        string
		endpoint    string
		unavailable bool
	}{
		{"nothing listening", closed.URL, true},
		{"503 from the store", answering(http.StatusServiceUnavailable), true},
		{"403 from the store", answering(http.StatusForbidden), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st, err := blob.Open(context.Background(), "s3://avatars/", blob.S3Options{Endpoint: tt.endpoint, Region: "us-east-1"})
			if err != nil {
				t.Fatal(err)
			}
			err = st.Put(context.Background(), "avatars/1/a.png", strings.NewReader("x"), 1, "image/png")
			if err == nil || errors.Is(err, blob.ErrUnavailable) != tt.unavailable {
				t.Fatalf("Put: %v, want unavailable=%v", err, tt.unavailable)
			}
			_, _, err = st.Get(context.Background(), "avatars/1/a.png")
			if err == nil || errors.Is(err, blob.ErrUnavailable) != tt.unavailable {
				t.Fatalf("Get: %v, want unavailable=%v", err, tt.unavailable)
			}
		})
	}
}
