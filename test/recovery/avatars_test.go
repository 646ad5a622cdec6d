package recovery

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/url"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/gopherops/gopherops/service/s3local/s3test"
	"github.com/gopherops/gopherops/test/journey"
)

// TestAvatarRecoveredFromVersioning does docs/recovery.md's avatar runbook
// against a real S3 server (SeaweedFS, the server compose runs) with the
// calls the aws CLI commands of the runbook make: on a versioned bucket an
// overwritten avatar comes back by copying its old version over it, and a
// deleted one by removing the delete marker.
func TestAvatarRecoveredFromVersioning(t *testing.T) {
	const bucket = "gopherops-avatars"
	srv := s3test.Start(t, bucket)
	c := srv.Client()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, err := c.PutBucketVersioning(ctx, &s3.PutBucketVersioningInput{
		Bucket:                  aws.String(bucket),
		VersioningConfiguration: &types.VersioningConfiguration{Status: types.BucketVersioningStatusEnabled},
	})
	if err != nil {
		t.Fatalf("enable versioning (the stacks' bucket has it): %v", err)
	}

	key := "avatars/42/0a1b2c3d4e5f.png"
	good, bad := journey.PNG(t, 32, 32), journey.PNG(t, 8, 8)
	put := func(body []byte) {
		t.Helper()
		if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key),
			Body: bytes.NewReader(body), ContentType: aws.String("image/png")}); err != nil {
			t.Fatalf("put: %v", err)
		}
	}
	get := func() ([]byte, error) {
		t.Helper()
		out, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
		if err != nil {
			return nil, err
		}
		defer out.Body.Close()
		return io.ReadAll(out.Body)
	}
	// versions is `aws s3api list-object-versions --prefix $KEY`.
	versions := func() (kept []types.ObjectVersion, markers []types.DeleteMarkerEntry) {
		t.Helper()
		out, err := c.ListObjectVersions(ctx, &s3.ListObjectVersionsInput{Bucket: aws.String(bucket), Prefix: aws.String(key)})
		if err != nil {
			t.Fatalf("list versions: %v", err)
		}
		return out.Versions, out.DeleteMarkers
	}
	current := func(want []byte, what string) {
		t.Helper()
		got, err := get()
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("%s: the current object is %d bytes (%v), want the %d-byte good avatar", what, len(got), err, len(want))
		}
	}

	// Overwritten: the good bytes are a noncurrent version.
	put(good)
	put(bad)
	kept, _ := versions()
	var goodVersion string
	for _, v := range kept {
		if !aws.ToBool(v.IsLatest) {
			goodVersion = aws.ToString(v.VersionId)
		}
	}
	if len(kept) != 2 || goodVersion == "" {
		t.Fatalf("after an overwrite: %d versions, the old one %q; want two, one noncurrent", len(kept), goodVersion)
	}
	// `aws s3api copy-object --copy-source "$BUCKET/$KEY?versionId=<good>"`
	if _, err := c.CopyObject(ctx, &s3.CopyObjectInput{Bucket: aws.String(bucket), Key: aws.String(key),
		CopySource: aws.String(bucket + "/" + url.PathEscape(key) + "?versionId=" + url.QueryEscape(goodVersion))}); err != nil {
		t.Fatalf("copy the old version over: %v", err)
	}
	current(good, "after copying the old version over")

	// Deleted: a delete marker hides it.
	if _, err := c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)}); err != nil {
		t.Fatalf("delete: %v", err)
	}
	var missing *types.NoSuchKey
	if _, err := get(); !errors.As(err, &missing) {
		t.Fatalf("after the delete, get = %v, want NoSuchKey", err)
	}
	_, markers := versions()
	if len(markers) != 1 || !aws.ToBool(markers[0].IsLatest) {
		t.Fatalf("after the delete: %d delete markers, want one, the latest", len(markers))
	}
	// `aws s3api delete-object --version-id <the delete marker's VersionId>`
	if _, err := c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(bucket), Key: aws.String(key),
		VersionId: markers[0].VersionId}); err != nil {
		t.Fatalf("remove the delete marker: %v", err)
	}
	current(good, "after removing the delete marker")
}
