//go:build live

package infra

import (
	"context"
	"encoding/json"
	"os/exec"
	"strings"
	"testing"

	"github.com/gruntwork-io/terratest/modules/logger"
	"github.com/stretchr/testify/require"

	"github.com/gopherops/gopherops/infra/release"
)

// project is the Pulumi project (Pulumi.yaml): it names the release records.
const project = "gopherops"

// releaseSourceStack is the stack whose record a run reuses when it is
// given no release: what dev last rolled out.
const releaseSourceStack = "dev"

// mirrorRelease puts a release into the ECR mirror under the throwaway
// stack's own immutable tag (release.Tag), as deploy.yml does, and returns
// its digest, which `pulumi up` is then handed (release.DigestEnv). With
// GOPHEROPS_LIVE_IMAGE_DIGEST the release is copied from GHCR byte for
// byte; otherwise the image of dev's record is tagged for the stack.
func mirrorRelease(ctx context.Context, t *testing.T, env liveEnv, stackName string) string {
	t.Helper()
	if env.ImageDigest == "" {
		digest, err := recordedRelease(ctx, releaseSourceStack)
		require.NoError(t, err, "read what dev runs (roll a release out to dev first, or set GOPHEROPS_LIVE_IMAGE_DIGEST)")
		tagImage(ctx, t, digest, release.Tag(stackName, digest))
		return digest
	}
	registry := strings.SplitN(env.ecrRepository(), "/", 2)[0]
	login := exec.CommandContext(ctx, "sh", "-c",
		`aws ecr get-login-password --region "$1" | crane auth login "$2" -u AWS --password-stdin`, "sh", env.Region, registry)
	out, err := login.CombinedOutput()
	require.NoError(t, err, "log crane in to ECR: %s", out)

	dest := env.ecrRepository() + ":" + release.Tag(stackName, env.ImageDigest)
	out, err = exec.CommandContext(ctx, "crane", "copy", env.ImageSource+"@"+env.ImageDigest, dest).CombinedOutput()
	require.NoError(t, err, "crane copy %s@%s %s (the bootstrap project's ECR repository must exist): %s", env.ImageSource, env.ImageDigest, dest, out)
	got, err := exec.CommandContext(ctx, "crane", "digest", dest).Output()
	require.NoError(t, err, "crane digest %s", dest)
	require.Equal(t, env.ImageDigest, strings.TrimSpace(string(got)), "the mirrored image keeps its digest")
	logger.Default.Logf(t, "mirrored %s@%s to %s", env.ImageSource, env.ImageDigest, dest)
	return env.ImageDigest
}

// tagImage adds an immutable tag to an image of the mirror, with the AWS
// CLI only (its manifest is put again under the new tag).
func tagImage(ctx context.Context, t *testing.T, digest, tag string) {
	t.Helper()
	out, err := exec.CommandContext(ctx, "aws", "ecr", "batch-get-image", "--repository-name", ecrRepository,
		"--image-ids", "imageDigest="+digest, "--output", "json").Output()
	require.NoError(t, err, "read %s from ECR repository %s", digest, ecrRepository)
	var res struct {
		Images []struct {
			ImageManifest          string `json:"imageManifest"`
			ImageManifestMediaType string `json:"imageManifestMediaType"`
		} `json:"images"`
	}
	require.NoError(t, json.Unmarshal(out, &res))
	require.Len(t, res.Images, 1, "ECR repository %s has no image %s", ecrRepository, digest)
	img := res.Images[0]
	args := []string{"ecr", "put-image", "--repository-name", ecrRepository, "--image-tag", tag, "--image-manifest", img.ImageManifest}
	if img.ImageManifestMediaType != "" {
		args = append(args, "--image-manifest-media-type", img.ImageManifestMediaType)
	}
	if out, err := exec.CommandContext(ctx, "aws", args...).CombinedOutput(); err != nil && !strings.Contains(string(out), "ImageAlreadyExistsException") {
		require.NoError(t, err, "tag %s@%s as %s: %s", ecrRepository, digest, tag, out)
	}
	logger.Default.Logf(t, "tagged %s@%s as %s", ecrRepository, digest, tag)
}

// recordedRelease is the digest a stack's record names (release.Parameter).
func recordedRelease(ctx context.Context, stack string) (string, error) {
	out, err := exec.CommandContext(ctx, "aws", "ssm", "get-parameter", "--name", release.Parameter(project, stack),
		"--query", "Parameter.Value", "--output", "text").Output()
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(string(out)), nil
}

// recordRelease writes the stack's record once its `pulumi up` succeeded,
// as deploy.yml does.
func recordRelease(ctx context.Context, t *testing.T, stackName, digest string) {
	t.Helper()
	out, err := exec.CommandContext(ctx, "aws", "ssm", "put-parameter", "--name", release.Parameter(project, stackName),
		"--type", "String", "--overwrite", "--value", digest).CombinedOutput()
	require.NoError(t, err, "record the release of %s: %s", stackName, out)
}

// forgetRelease removes the throwaway stack's tags and record from the
// account, whether or not its up succeeded (the images themselves expire by
// the mirror's lifecycle policy).
func forgetRelease(ctx context.Context, t *testing.T, stackName string) {
	t.Helper()
	out, err := exec.CommandContext(ctx, "aws", "ecr", "list-images", "--repository-name", ecrRepository, "--filter", "tagStatus=TAGGED",
		"--query", "imageIds[?starts_with(imageTag, '"+stackName+"-')].imageTag", "--output", "text").Output()
	if err != nil {
		t.Errorf("list the tags of %s in ECR repository %s: %v", stackName, ecrRepository, err)
	}
	for _, tag := range strings.Fields(string(out)) {
		if out, err := exec.CommandContext(ctx, "aws", "ecr", "batch-delete-image", "--repository-name", ecrRepository,
			"--image-ids", "imageTag="+tag).CombinedOutput(); err != nil {
			t.Errorf("untag %s in ECR repository %s: %v: %s", tag, ecrRepository, err, out)
		}
	}
	out, err = exec.CommandContext(ctx, "aws", "ssm", "delete-parameter", "--name", release.Parameter(project, stackName)).CombinedOutput()
	if err != nil && !strings.Contains(string(out), "ParameterNotFound") {
		t.Errorf("delete the release record of %s: %v: %s", stackName, err, out)
	}
}
