package service

import (
	"bytes"
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gopherops/gopherops/service/pglocal/pgtest"

	"github.com/gopherops/gopherops/test/internal/gopherops"
	"github.com/gopherops/gopherops/test/journey"
)

// TestJourneys provisions a fresh deployment from an empty database exactly
// as an operator would (migrate up, admin create, serve) and walks every
// journey against it over HTTP.
func TestJourneys(t *testing.T) {
	bin := gopherops.Build(t)
	env, s3 := serviceEnvS3(t, pgtest.NewEmptyDatabase(t))
	attachPostgresLog(t, pgtest.ServerLog())

	bin.MustRun(t, env, "", "migrate", "up")
	admin := createAdmin(t, bin, env)
	srv := bin.Serve(t, env)

	tg := &journey.Target{
		BaseURL:   srv.BaseURL,
		AdminURLs: []string{srv.AdminURL},
		Admin:     admin,
		Version:   bin.Version,
	}
	journey.All(t, tg)

	t.Run("an avatar is an object in the S3 bucket, gone with its user", func(t *testing.T) {
		admin := tg.AdminClient(t)
		u := journey.CreateUser(t, admin, journey.NewUserSpec("s3", "user", journey.Bool(false)))
		before := s3.Objects(t, avatarBucket)
		img := journey.PNG(t, 40, 30)
		admin.Do(t, journey.Request{Method: http.MethodPut, Path: u.Path() + "/avatar", Body: img, ContentType: "image/png"}).
			Expect(t, http.StatusOK)

		var added []string
		for key, body := range s3.Objects(t, avatarBucket) {
			if _, old := before[key]; !old {
				added = append(added, key)
				assert.True(t, bytes.Equal(img, body), "object %s holds the uploaded bytes", key)
			}
		}
		require.Len(t, added, 1, "the upload stored one object")

		admin.Do(t, journey.Request{Method: http.MethodDelete, Path: u.Path()}).Expect(t, http.StatusNoContent)
		assert.NotContains(t, s3.Objects(t, avatarBucket), added[0], "deleting the user deletes the avatar object")
	})
}
