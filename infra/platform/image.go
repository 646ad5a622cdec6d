package platform

import (
	"fmt"

	"github.com/gopherops/gopherops/infra/config"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/ecr"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// ReleaseTag is the ECR tag that records which image a stack runs: deploy.yml
// mirrors a release from GHCR into ECR and moves the tag named after the
// stack onto it, then runs `pulumi up`. Every later `pulumi up`, from CI or a
// laptop, reads the same tag, so nothing rolls the stack back to a stale pin.
func ReleaseTag(stack string) string { return stack }

// resolveImage returns the by-digest reference of the image the stack runs:
// gopherops:imageDigest when set (an emergency pin), else the digest the
// stack's release tag points at in the ECR mirror. Nodes pull it with their
// IAM role; there is no registry credential anywhere.
func resolveImage(ctx *pulumi.Context, cfg *config.Config) (string, error) {
	repo, err := ecr.LookupRepository(ctx, &ecr.LookupRepositoryArgs{Name: cfg.App.ECRRepository})
	if err != nil {
		return "", fmt.Errorf("platform: ECR repository %s (gopherops:ecrRepository; the bootstrap project creates it): %w", cfg.App.ECRRepository, err)
	}
	digest := cfg.App.ImageDigest
	if digest == "" {
		tag := ReleaseTag(cfg.Stack)
		img, err := ecr.GetImage(ctx, &ecr.GetImageArgs{RepositoryName: cfg.App.ECRRepository, ImageTag: &tag})
		if err != nil {
			return "", fmt.Errorf("platform: no image tagged %q in ECR repository %s: release one with deploy.yml "+
				"(or pin gopherops:imageDigest): %w", tag, cfg.App.ECRRepository, err)
		}
		digest = img.ImageDigest
	}
	return repo.RepositoryUrl + "@" + digest, nil
}
