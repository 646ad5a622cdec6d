// Package s3test starts the real S3 server of service/s3local for one test:
// skipped, saying how to build it, only when weed is not built.
package s3test

import (
	"context"
	"errors"
	"testing"

	"github.com/gopherops/gopherops/service/s3local"
)

// Start runs a SeaweedFS with buckets until t ends, or skips t when weed is
// not built (`make tools` builds it). Any other failure fails t.
func Start(t testing.TB, buckets ...string) *s3local.Server {
	t.Helper()
	bin, err := s3local.Find()
	if errors.Is(err, s3local.ErrNotBuilt) {
		t.Skipf("the real S3 server is not built, so this test cannot run: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	srv, err := s3local.Start(context.Background(), s3local.Options{Binary: bin, Buckets: buckets, Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := srv.Close(); err != nil {
			t.Errorf("stop weed: %v", err)
		}
		if t.Failed() {
			t.Logf("weed log (last lines):\n%s", srv.LogTail(40))
		}
	})
	return srv
}
