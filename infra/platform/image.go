package platform

import (
	"fmt"

	"github.com/gopherops/gopherops/infra/config"
	"github.com/gopherops/gopherops/infra/release"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/ecr"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/ssm"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// WithRelease rolls out the release with this digest instead of the one
// the stack's record names: what deploy.yml and the live suite hand the
// program (release.DigestEnv) while they roll a release out. They move the
// record only once `pulumi up` has succeeded.
func WithRelease(digest string) Option {
	return func(o *options) { o.release = digest }
}

// resolveImage returns the by-digest reference of the image the stack runs:
// gopherops:imageDigest when set (an emergency pin); else the release being
// rolled out (WithRelease); else the stack's record, the digest its last
// successful rollout left in SSM. Whichever it is must be in the ECR mirror,
// which nodes pull from with their IAM role: no registry credential exists.
func resolveImage(ctx *pulumi.Context, cfg *config.Config, rollout string) (string, error) {
	pin := cfg.App.ImageDigest
	if rollout != "" && !release.ValidDigest(rollout) {
		return "", fmt.Errorf("platform: %s=%q is not an image digest (sha256:<64 hex digits>)", release.DigestEnv, rollout)
	}
	if pin != "" && rollout != "" && pin != rollout {
		return "", fmt.Errorf("platform: gopherops:imageDigest pins %s, but this rollout is of %s: "+
			"remove the pin (pulumi config rm gopherops:imageDigest) to release again", pin, rollout)
	}
	repo, err := ecr.LookupRepository(ctx, &ecr.LookupRepositoryArgs{Name: cfg.App.ECRRepository})
	if err != nil {
		return "", fmt.Errorf("platform: ECR repository %s (gopherops:ecrRepository; the bootstrap project creates it): %w", cfg.App.ECRRepository, err)
	}
	digest := pin
	if digest == "" {
		digest = rollout
	}
	if digest == "" {
		name := release.Parameter(cfg.Project, cfg.Stack)
		rec, err := ssm.LookupParameter(ctx, &ssm.LookupParameterArgs{Name: name})
		if err != nil {
			return "", fmt.Errorf("platform: no release recorded for stack %s (SSM parameter %s): "+
				"roll one out with deploy.yml (or pin gopherops:imageDigest): %w", cfg.Stack, name, err)
		}
		if !release.ValidDigest(rec.Value) {
			return "", fmt.Errorf("platform: SSM parameter %s holds %q, not an image digest", name, rec.Value)
		}
		digest = rec.Value
	}
	if _, err := ecr.GetImage(ctx, &ecr.GetImageArgs{RepositoryName: cfg.App.ECRRepository, ImageDigest: &digest}); err != nil {
		return "", fmt.Errorf("platform: %s is not in ECR repository %s: deploy.yml mirrors a release there before it rolls it out: %w",
			digest, cfg.App.ECRRepository, err)
	}
	return repo.RepositoryUrl + "@" + digest, nil
}
