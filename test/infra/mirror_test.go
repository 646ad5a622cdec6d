//go:build live

package infra

import (
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"strings"
	"testing"

	"github.com/gruntwork-io/terratest/modules/logger"
	"github.com/stretchr/testify/require"
)

// releaseSourceTag is the mirror's tag a run reuses when it is given no
// release: what the dev stack runs.
const releaseSourceTag = "dev"

// mirrorRelease tags a release in the ECR mirror with the stack's name, which
// is what the program deploys, so the run proves the chosen image route
// (nodes pulling ECR with IAM). With GOPHEROPS_LIVE_IMAGE_DIGEST the release
// is copied from GHCR byte for byte, as deploy.yml does; otherwise the dev
// tag's image is retagged within ECR.
func mirrorRelease(ctx context.Context, t *testing.T, env liveEnv, stackName string) {
	t.Helper()
	if env.ImageDigest == "" {
		retag(ctx, t, releaseSourceTag, stackName)
		return
	}
	registry := strings.SplitN(env.ecrRepository(), "/", 2)[0]
	login := exec.CommandContext(ctx, "sh", "-c",
		`aws ecr get-login-password --region "$1" | crane auth login "$2" -u AWS --password-stdin`, "sh", env.Region, registry)
	out, err := login.CombinedOutput()
	require.NoError(t, err, "log crane in to ECR: %s", out)

	dest := env.ecrRepository() + ":" + stackName
	out, err = exec.CommandContext(ctx, "crane", "copy", env.ImageSource+"@"+env.ImageDigest, dest).CombinedOutput()
	require.NoError(t, err, "crane copy %s@%s %s (the bootstrap project's ECR repository must exist): %s", env.ImageSource, env.ImageDigest, dest, out)
	got, err := exec.CommandContext(ctx, "crane", "digest", dest).Output()
	require.NoError(t, err, "crane digest %s", dest)
	require.Equal(t, env.ImageDigest, strings.TrimSpace(string(got)), "the mirrored image keeps its digest")
	logger.Default.Logf(t, "mirrored %s@%s to %s", env.ImageSource, env.ImageDigest, dest)
}

// retag points the stack's tag at the image another tag points at, with the
// AWS CLI only (the manifest is put again under the new tag).
func retag(ctx context.Context, t *testing.T, from, to string) {
	t.Helper()
	out, err := exec.CommandContext(ctx, "aws", "ecr", "batch-get-image", "--repository-name", ecrRepository,
		"--image-ids", "imageTag="+from, "--output", "json").Output()
	require.NoError(t, err, "read the %s release from ECR repository %s (release to dev first, or set GOPHEROPS_LIVE_IMAGE_DIGEST)", from, ecrRepository)
	var res struct {
		Images []struct {
			ImageManifest          string `json:"imageManifest"`
			ImageManifestMediaType string `json:"imageManifestMediaType"`
			ImageID                struct {
				ImageDigest string `json:"imageDigest"`
			} `json:"imageId"`
		} `json:"images"`
	}
	require.NoError(t, json.Unmarshal(out, &res))
	require.Len(t, res.Images, 1, "ECR repository %s has no image tagged %s", ecrRepository, from)
	img := res.Images[0]
	args := []string{"ecr", "put-image", "--repository-name", ecrRepository, "--image-tag", to, "--image-manifest", img.ImageManifest}
	if img.ImageManifestMediaType != "" {
		args = append(args, "--image-manifest-media-type", img.ImageManifestMediaType)
	}
	if out, err := exec.CommandContext(ctx, "aws", args...).CombinedOutput(); err != nil && !strings.Contains(string(out), "ImageAlreadyExistsException") {
		require.NoError(t, err, "tag %s@%s as %s: %s", ecrRepository, img.ImageID.ImageDigest, to, out)
	}
	logger.Default.Logf(t, "tagged %s@%s as %s", ecrRepository, img.ImageID.ImageDigest, to)
}

// taggedDigest is the digest a tag of the mirror points at.
func taggedDigest(ctx context.Context, tag string) (string, error) {
	out, err := exec.CommandContext(ctx, "aws", "ecr", "describe-images", "--repository-name", ecrRepository,
		"--image-ids", "imageTag="+tag, "--query", "imageDetails[0].imageDigest", "--output", "text").Output()
	if err != nil {
		return "", fmt.Errorf("describe %s:%s: %w", ecrRepository, tag, err)
	}
	return strings.TrimSpace(string(out)), nil
}

// untagRelease removes the throwaway stack's tag from the mirror (the image
// itself expires by the repository's lifecycle policy).
func untagRelease(ctx context.Context, t *testing.T, stackName string) {
	t.Helper()
	out, err := exec.CommandContext(ctx, "aws", "ecr", "batch-delete-image", "--repository-name", ecrRepository,
		"--image-ids", "imageTag="+stackName).CombinedOutput()
	if err != nil {
		t.Errorf("untag %s in ECR repository %s: %v: %s", stackName, ecrRepository, err, out)
	}
}
