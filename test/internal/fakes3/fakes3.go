// Package fakes3 serves an in-memory S3-protocol endpoint on loopback
// (gofakes3), so the real binary can store avatars through the same AWS SDK
// code path it uses against Amazon S3 or MinIO.
package fakes3

import (
	"io"
	"net/http/httptest"
	"testing"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
)

// Server is a running fake S3 endpoint.
type Server struct {
	// URL is the endpoint, for AWS_ENDPOINT_URL_S3 (path-style addressing).
	URL string

	backend *s3mem.Backend
}

// Start serves an S3 endpoint with the given buckets until the test ends.
func Start(t testing.TB, buckets ...string) *Server {
	t.Helper()
	backend := s3mem.New()
	for _, b := range buckets {
		if err := backend.CreateBucket(b); err != nil {
			t.Fatalf("fakes3: create bucket %s: %v", b, err)
		}
	}
	srv := httptest.NewServer(gofakes3.New(backend).Server())
	t.Cleanup(srv.Close)
	return &Server{URL: srv.URL, backend: backend}
}

// Objects returns every object of the bucket, key to content, as the
// service stored them.
func (s *Server) Objects(t testing.TB, bucket string) map[string][]byte {
	t.Helper()
	list, err := s.backend.ListBucket(bucket, nil, gofakes3.ListBucketPage{})
	if err != nil {
		t.Fatalf("fakes3: list %s: %v", bucket, err)
	}
	out := map[string][]byte{}
	for _, c := range list.Contents {
		obj, err := s.backend.GetObject(bucket, c.Key, nil)
		if err != nil {
			t.Fatalf("fakes3: get %s/%s: %v", bucket, c.Key, err)
		}
		b, err := io.ReadAll(obj.Contents)
		obj.Contents.Close()
		if err != nil {
			t.Fatalf("fakes3: read %s/%s: %v", bucket, c.Key, err)
		}
		out[c.Key] = b
	}
	return out
}

// Env is the environment that points an AWS SDK client at this endpoint with
// throwaway credentials, and keeps it from reading the developer's ~/.aws.
func (s *Server) Env() map[string]string {
	return map[string]string{ //nolint:gosec // throwaway credentials that only the in-process fake accepts
		"AWS_ENDPOINT_URL_S3":         s.URL,
		"AWS_ACCESS_KEY_ID":           "gopherops-test",
		"AWS_SECRET_ACCESS_KEY":       "gopherops-test-secret",
		"AWS_REGION":                  "us-east-1",
		"AWS_CONFIG_FILE":             "/dev/null",
		"AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
		"AWS_EC2_METADATA_DISABLED":   "true",
	}
}
