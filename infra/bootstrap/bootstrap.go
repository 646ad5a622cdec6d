package main

import (
	"encoding/json"
	"fmt"

	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/ecr"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/iam"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/s3"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// GitHubOIDCHost is GitHub Actions' token issuer.
const GitHubOIDCHost = "token.actions.githubusercontent.com"

// Stack outputs the workflows and the gopherops stacks use.
const (
	OutputDeployRoleArn  = "deployRoleArn"
	OutputPreviewRoleArn = "previewRoleArn"
	OutputDriftRoleArn   = "driftRoleArn"
	OutputECRRepository  = "ecrRepositoryUrl"
	OutputStateBackend   = "stateBackendUrl"
	// The pull-request stacks' role, image repository and state backend.
	OutputPRStacksRoleArn    = "prStacksRoleArn"
	OutputPRStacksRepository = "prStacksEcrRepositoryUrl"
	OutputPRStacksBackend    = "prStacksBackendUrl"
)

// bootstrap is what the program created, for tests.
type bootstrap struct {
	OIDCProviderArn pulumi.StringOutput
	DeployRole      *iam.Role
	PreviewRole     *iam.Role
	DriftRole       *iam.Role
	PRStacksRole    *iam.Role
	Repository      *ecr.Repository
	StateBucket     *s3.BucketV2
	// PRRepository and PRStateBucket are the pull-request stacks' own
	// image repository and state bucket (nil without StateBucket).
	PRRepository  *ecr.Repository
	PRStateBucket *s3.BucketV2
	// GitHub is the repository's protection, when the stack manages it.
	GitHub *protection
}

// deploy creates the account's foundation for cfg and exports its outputs.
func deploy(ctx *pulumi.Context, cfg bootstrapConfig) (*bootstrap, error) {
	caller, err := aws.GetCallerIdentity(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("bootstrap: caller identity: %w", err)
	}
	partition, err := aws.GetPartition(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("bootstrap: partition: %w", err)
	}
	acct := scope{Partition: partition.Partition, Region: cfg.Region, AccountID: caller.AccountId, Project: cfg.Project}
	b := &bootstrap{}
	keep := pulumi.Protect(true)

	providerArn := pulumi.String(acct.arn("iam", "", "oidc-provider/"+GitHubOIDCHost)).ToStringOutput()
	if cfg.CreateOIDCProvider {
		p, err := iam.NewOpenIdConnectProvider(ctx, "github-actions", &iam.OpenIdConnectProviderArgs{
			Url:           pulumi.String("https://" + GitHubOIDCHost),
			ClientIdLists: pulumi.StringArray{pulumi.String("sts.amazonaws.com")},
		}, keep)
		if err != nil {
			return nil, fmt.Errorf("bootstrap: github oidc provider: %w", err)
		}
		providerArn = p.Arn
	}
	b.OIDCProviderArn = providerArn

	b.Repository, err = ecr.NewRepository(ctx, "mirror", &ecr.RepositoryArgs{
		Name: pulumi.String(cfg.ECRRepository),
		// No tag ever moves (AWS FSBP ECR.2): each release is mirrored under
		// a tag of its own (infra/release), and what a stack runs is
		// recorded in SSM after a successful rollout.
		ImageTagMutability:         pulumi.String("IMMUTABLE"),
		ImageScanningConfiguration: ecr.RepositoryImageScanningConfigurationArgs{ScanOnPush: pulumi.Bool(true)},
		EncryptionConfigurations: ecr.RepositoryEncryptionConfigurationArray{
			ecr.RepositoryEncryptionConfigurationArgs{EncryptionType: pulumi.String("KMS")},
		},
	}, keep)
	if err != nil {
		return nil, fmt.Errorf("bootstrap: ecr repository: %w", err)
	}
	lifecycle, err := MirrorLifecycle(EnvironmentsOf(DeployRole))
	if err != nil {
		return nil, err
	}
	if _, err := ecr.NewLifecyclePolicy(ctx, "mirror", &ecr.LifecyclePolicyArgs{
		Repository: b.Repository.Name,
		Policy:     pulumi.String(lifecycle),
	}); err != nil {
		return nil, fmt.Errorf("bootstrap: ecr lifecycle: %w", err)
	}

	b.PRRepository, err = prStacksRepository(ctx, cfg.ECRRepository+"-pr-stacks")
	if err != nil {
		return nil, err
	}

	var stateBucketArn, prStateBucketArn pulumi.StringOutput
	prVariables := map[string]pulumi.StringInput{VariablePRStacksRepository: b.PRRepository.RepositoryUrl}
	if cfg.StateBucket {
		b.StateBucket, err = stateBucket(ctx, cfg.Project+"-pulumi-state", keep)
		if err != nil {
			return nil, err
		}
		stateBucketArn = b.StateBucket.Arn
		ctx.Export(OutputStateBackend, pulumi.Sprintf("s3://%s", b.StateBucket.Bucket))
		// The pull-request stacks keep their state apart: listing the
		// stacks of a backend reads every stack's checkpoint, so a backend
		// shared with dev and prod would need their state readable.
		b.PRStateBucket, err = stateBucket(ctx, cfg.Project+"-pulumi-pr-stacks", keep)
		if err != nil {
			return nil, err
		}
		prStateBucketArn = b.PRStateBucket.Arn
		prBackend := pulumi.Sprintf("s3://%s", b.PRStateBucket.Bucket)
		ctx.Export(OutputPRStacksBackend, prBackend)
		prVariables[VariablePRStacksBackend] = prBackend
	} else {
		stateBucketArn = pulumi.String("").ToStringOutput()
		prStateBucketArn = stateBucketArn
	}

	deployTrust := providerArn.ApplyT(func(arn string) (string, error) {
		return GitHubTrustPolicy(arn, Subjects(cfg.GitHubRepository, DeployRole))
	}).(pulumi.StringOutput)
	b.DeployRole, err = iam.NewRole(ctx, "deploy", &iam.RoleArgs{
		Name:               pulumi.String(cfg.DeployRoleName),
		Description:        pulumi.String("pulumi up of the " + cfg.Project + " stacks from GitHub Actions environments of " + cfg.GitHubRepository),
		AssumeRolePolicy:   deployTrust,
		MaxSessionDuration: pulumi.Int(int(DeployRole.MaxSession.Seconds())),
	})
	if err != nil {
		return nil, fmt.Errorf("bootstrap: deploy role: %w", err)
	}
	if _, err := iam.NewRolePolicy(ctx, "deploy", &iam.RolePolicyArgs{
		Role: b.DeployRole.Name,
		Policy: pulumi.All(b.Repository.Arn, stateBucketArn).ApplyT(func(v []any) (string, error) {
			return DeployPolicy(acct, v[0].(string), v[1].(string))
		}).(pulumi.StringOutput),
	}); err != nil {
		return nil, fmt.Errorf("bootstrap: deploy policy: %w", err)
	}

	previewTrust := providerArn.ApplyT(func(arn string) (string, error) {
		return GitHubTrustPolicy(arn, Subjects(cfg.GitHubRepository, PreviewRole))
	}).(pulumi.StringOutput)
	b.PreviewRole, err = iam.NewRole(ctx, "preview", &iam.RoleArgs{
		Name:               pulumi.String(cfg.PreviewRoleName),
		Description:        pulumi.String("read-only pulumi preview of the " + cfg.Project + " stacks on pull requests of " + cfg.GitHubRepository),
		AssumeRolePolicy:   previewTrust,
		MaxSessionDuration: pulumi.Int(int(PreviewRole.MaxSession.Seconds())),
	})
	if err != nil {
		return nil, fmt.Errorf("bootstrap: preview role: %w", err)
	}
	if _, err := iam.NewRolePolicy(ctx, "preview", &iam.RolePolicyArgs{
		Role: b.PreviewRole.Name,
		Policy: pulumi.All(b.Repository.Arn, stateBucketArn).ApplyT(func(v []any) (string, error) {
			return PreviewPolicy(acct, v[0].(string), v[1].(string))
		}).(pulumi.StringOutput),
	}); err != nil {
		return nil, fmt.Errorf("bootstrap: preview policy: %w", err)
	}

	driftTrust := providerArn.ApplyT(func(arn string) (string, error) {
		return GitHubTrustPolicy(arn, Subjects(cfg.GitHubRepository, DriftRole))
	}).(pulumi.StringOutput)
	b.DriftRole, err = iam.NewRole(ctx, "drift", &iam.RoleArgs{
		Name:               pulumi.String(cfg.DriftRoleName),
		Description:        pulumi.String("read-only scheduled drift check (refresh preview) of the " + cfg.Project + " stacks from " + cfg.GitHubRepository),
		AssumeRolePolicy:   driftTrust,
		MaxSessionDuration: pulumi.Int(int(DriftRole.MaxSession.Seconds())),
	})
	if err != nil {
		return nil, fmt.Errorf("bootstrap: drift role: %w", err)
	}
	if _, err := iam.NewRolePolicy(ctx, "drift", &iam.RolePolicyArgs{
		Role: b.DriftRole.Name,
		Policy: stateBucketArn.ApplyT(func(bucket string) (string, error) {
			return DriftPolicy(acct, bucket)
		}).(pulumi.StringOutput),
	}); err != nil {
		return nil, fmt.Errorf("bootstrap: drift policy: %w", err)
	}

	prTrust := providerArn.ApplyT(func(arn string) (string, error) {
		return GitHubTrustPolicy(arn, Subjects(cfg.GitHubRepository, PRStacksRole))
	}).(pulumi.StringOutput)
	b.PRStacksRole, err = iam.NewRole(ctx, PRStacksRole.Name, &iam.RoleArgs{
		Name:               pulumi.String(cfg.PRStacksRoleName),
		Description:        pulumi.String("pull-request stacks (pr-<number>) of " + cfg.GitHubRepository + " on cluster " + cfg.PRStacksCluster + ", and nothing of the other stacks"),
		AssumeRolePolicy:   prTrust,
		MaxSessionDuration: pulumi.Int(int(PRStacksRole.MaxSession.Seconds())),
	})
	if err != nil {
		return nil, fmt.Errorf("bootstrap: pull-request stacks role: %w", err)
	}
	if _, err := iam.NewRolePolicy(ctx, PRStacksRole.Name, &iam.RolePolicyArgs{
		Role: b.PRStacksRole.Name,
		Policy: pulumi.All(b.PRRepository.Arn, prStateBucketArn).ApplyT(func(v []any) (string, error) {
			return PRStacksPolicy(acct, cfg.PRStacksCluster, v[0].(string), v[1].(string))
		}).(pulumi.StringOutput),
	}); err != nil {
		return nil, fmt.Errorf("bootstrap: pull-request stacks policy: %w", err)
	}

	ctx.Export(OutputDeployRoleArn, b.DeployRole.Arn)
	ctx.Export(OutputPreviewRoleArn, b.PreviewRole.Arn)
	ctx.Export(OutputDriftRoleArn, b.DriftRole.Arn)
	ctx.Export(OutputPRStacksRoleArn, b.PRStacksRole.Arn)
	ctx.Export(OutputECRRepository, b.Repository.RepositoryUrl)
	ctx.Export(OutputPRStacksRepository, b.PRRepository.RepositoryUrl)

	if cfg.GitHubProtection {
		b.GitHub, err = protectRepository(ctx, cfg, map[string]pulumi.StringOutput{
			DeployRole.Name: b.DeployRole.Arn, PreviewRole.Name: b.PreviewRole.Arn, DriftRole.Name: b.DriftRole.Arn,
			PRStacksRole.Name: b.PRStacksRole.Arn,
		}, map[string]map[string]pulumi.StringInput{PRStacksRole.Name: prVariables}, b.Repository.RepositoryUrl)
		if err != nil {
			return nil, err
		}
	}
	return b, nil
}

// PRImageDays is how long the pull-request stacks' repository keeps an
// image: a stack runs the image of its last update, and the reaper
// destroys a stack idle for its TTL (72 hours by default), far less.
const PRImageDays = 14

// prStacksRepository is the pull-request stacks' own image repository, the
// only one their role may push to, with every image expiring after
// PRImageDays. Nodes pull from it with their role, as from the mirror.
func prStacksRepository(ctx *pulumi.Context, name string) (*ecr.Repository, error) {
	repo, err := ecr.NewRepository(ctx, "pr-stacks", &ecr.RepositoryArgs{
		Name: pulumi.String(name),
		// The stacks run an image by the digest pushed; a tag names a
		// pull request's commit once.
		ImageTagMutability:         pulumi.String("IMMUTABLE"),
		ImageScanningConfiguration: ecr.RepositoryImageScanningConfigurationArgs{ScanOnPush: pulumi.Bool(true)},
		EncryptionConfigurations: ecr.RepositoryEncryptionConfigurationArray{
			ecr.RepositoryEncryptionConfigurationArgs{EncryptionType: pulumi.String("KMS")},
		},
		// Nothing in it outlives a pull request for long.
		ForceDelete: pulumi.Bool(true),
	})
	if err != nil {
		return nil, fmt.Errorf("bootstrap: pull-request stacks repository: %w", err)
	}
	policy, err := json.Marshal(map[string]any{"rules": []map[string]any{{
		"rulePriority": 1,
		"description":  fmt.Sprintf("expire every pull request's image %d days after its push", PRImageDays),
		"selection": map[string]any{
			"tagStatus": "any", "countType": "sinceImagePushed", "countUnit": "days", "countNumber": PRImageDays,
		},
		"action": map[string]string{"type": "expire"},
	}}})
	if err != nil {
		return nil, fmt.Errorf("bootstrap: pull-request stacks lifecycle: %w", err)
	}
	if _, err := ecr.NewLifecyclePolicy(ctx, "pr-stacks", &ecr.LifecyclePolicyArgs{
		Repository: repo.Name, Policy: pulumi.String(string(policy)),
	}); err != nil {
		return nil, fmt.Errorf("bootstrap: pull-request stacks lifecycle: %w", err)
	}
	return repo, nil
}

// KeptReleases is how many of its most recent releases the mirror keeps
// for each stack: the rollback window.
const KeptReleases = 30

// StrayReleaseDays is how long the mirror keeps an image no stack's rule
// protects: a throwaway stack's release, or an untagged manifest.
const StrayReleaseDays = 14

// MirrorLifecycle is the mirror's lifecycle policy: for each stack, the
// KeptReleases most recently pushed of its releases (tags <stack>-...) are
// kept, the stack's current one among them; anything else expires after
// StrayReleaseDays. An image a stack's rule matches cannot be expired by a
// rule of lower priority, so the last rule never touches a stack's releases.
func MirrorLifecycle(stacks []string) (string, error) {
	type rule map[string]any
	rules := make([]rule, 0, len(stacks)+1)
	for i, stack := range stacks {
		rules = append(rules, rule{
			"rulePriority": i + 1,
			"description":  fmt.Sprintf("keep the %d most recent releases of stack %s", KeptReleases, stack),
			"selection": map[string]any{
				"tagStatus": "tagged", "tagPrefixList": []string{stack + "-"},
				"countType": "imageCountMoreThan", "countNumber": KeptReleases,
			},
			"action": map[string]string{"type": "expire"},
		})
	}
	rules = append(rules, rule{
		"rulePriority": len(stacks) + 1,
		"description":  fmt.Sprintf("expire what no stack keeps after %d days", StrayReleaseDays),
		"selection": map[string]any{
			"tagStatus": "any", "countType": "sinceImagePushed", "countUnit": "days", "countNumber": StrayReleaseDays,
		},
		"action": map[string]string{"type": "expire"},
	})
	b, err := json.Marshal(map[string]any{"rules": rules})
	if err != nil {
		return "", fmt.Errorf("bootstrap: mirror lifecycle: %w", err)
	}
	return string(b), nil
}

// stateBucket is a versioned, encrypted, private, TLS-only bucket for
// Pulumi state, protected from `pulumi destroy`.
func stateBucket(ctx *pulumi.Context, name string, keep pulumi.ResourceOption) (*s3.BucketV2, error) {
	bucket, err := s3.NewBucketV2(ctx, name, &s3.BucketV2Args{}, keep)
	if err != nil {
		return nil, fmt.Errorf("bootstrap: state bucket: %w", err)
	}
	pab, err := s3.NewBucketPublicAccessBlock(ctx, name, &s3.BucketPublicAccessBlockArgs{
		Bucket: bucket.ID(), BlockPublicAcls: pulumi.Bool(true), BlockPublicPolicy: pulumi.Bool(true),
		IgnorePublicAcls: pulumi.Bool(true), RestrictPublicBuckets: pulumi.Bool(true),
	})
	if err != nil {
		return nil, fmt.Errorf("bootstrap: state bucket public access block: %w", err)
	}
	if _, err := s3.NewBucketVersioningV2(ctx, name, &s3.BucketVersioningV2Args{
		Bucket:                  bucket.ID(),
		VersioningConfiguration: s3.BucketVersioningV2VersioningConfigurationArgs{Status: pulumi.String("Enabled")},
	}); err != nil {
		return nil, fmt.Errorf("bootstrap: state bucket versioning: %w", err)
	}
	if _, err := s3.NewBucketServerSideEncryptionConfigurationV2(ctx, name, &s3.BucketServerSideEncryptionConfigurationV2Args{
		Bucket: bucket.ID(),
		Rules: s3.BucketServerSideEncryptionConfigurationV2RuleArray{
			s3.BucketServerSideEncryptionConfigurationV2RuleArgs{
				ApplyServerSideEncryptionByDefault: s3.BucketServerSideEncryptionConfigurationV2RuleApplyServerSideEncryptionByDefaultArgs{
					SseAlgorithm: pulumi.String("aws:kms"),
				},
				BucketKeyEnabled: pulumi.Bool(true),
			},
		},
	}); err != nil {
		return nil, fmt.Errorf("bootstrap: state bucket encryption: %w", err)
	}
	if _, err := s3.NewBucketPolicy(ctx, name, &s3.BucketPolicyArgs{
		Bucket: bucket.ID(),
		Policy: bucket.Arn.ApplyT(func(arn string) (string, error) {
			b, err := json.Marshal(map[string]any{
				"Version": "2012-10-17",
				"Statement": []map[string]any{{
					"Sid": "DenyInsecureTransport", "Effect": "Deny", "Principal": "*", "Action": "s3:*",
					"Resource":  []string{arn, arn + "/*"},
					"Condition": map[string]any{"Bool": map[string]string{"aws:SecureTransport": "false"}},
				}},
			})
			return string(b), err
		}).(pulumi.StringOutput),
	}, pulumi.DependsOn([]pulumi.Resource{pab})); err != nil {
		return nil, fmt.Errorf("bootstrap: state bucket policy: %w", err)
	}
	return bucket, nil
}
