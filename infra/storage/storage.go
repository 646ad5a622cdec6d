// Package storage provisions the S3 bucket GopherOps keeps avatars in:
// versioned, encrypted, never public, owned by the bucket owner, reachable
// over TLS only, with old versions expired; optionally protected and with
// server access logs written to a second private bucket.
package storage

import (
	"encoding/json"
	"fmt"

	"github.com/gopherops/gopherops/infra/config"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/s3"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// AvatarPrefix is the key prefix the service writes avatars under.
const AvatarPrefix = "avatars"

// Args configures the Storage component.
type Args struct {
	// Storage is the stack's bucket settings as configured:
	// NoncurrentVersionDays (how long overwritten or deleted versions are
	// kept), ForceDestroy (`pulumi destroy` may delete a non-empty bucket,
	// dev only) and AccessLogging (S3 server access logs to a log bucket).
	config.Storage
	// Protect sets Pulumi's protect on the bucket (and the log bucket).
	Protect bool
	// AccountID is the only account whose S3 log delivery may write logs.
	AccountID string
	// AccessLogDays is how long access logs are kept.
	AccessLogDays int
}

// Storage is the avatar bucket and its protective settings.
type Storage struct {
	pulumi.ResourceState

	Bucket            *s3.BucketV2
	Versioning        *s3.BucketVersioningV2
	Encryption        *s3.BucketServerSideEncryptionConfigurationV2
	PublicAccessBlock *s3.BucketPublicAccessBlock
	Ownership         *s3.BucketOwnershipControls
	Policy            *s3.BucketPolicy
	Lifecycle         *s3.BucketLifecycleConfigurationV2
	// LogBucket and Logging are set with Args.AccessLogging.
	LogBucket *s3.BucketV2
	Logging   *s3.BucketLoggingV2

	// BucketName is the bucket's generated name.
	BucketName pulumi.StringOutput
	// BucketArn is the bucket's ARN.
	BucketArn pulumi.StringOutput
}

// New creates the Storage component and its children.
func New(ctx *pulumi.Context, name string, args Args, opts ...pulumi.ResourceOption) (*Storage, error) {
	s := &Storage{}
	if err := ctx.RegisterComponentResource("gopherops:infra:Storage", name, s, opts...); err != nil {
		return nil, fmt.Errorf("storage: register component: %w", err)
	}
	parent := pulumi.Parent(s)
	var err error

	s.Bucket, err = s3.NewBucketV2(ctx, name, &s3.BucketV2Args{
		ForceDestroy: pulumi.Bool(args.ForceDestroy),
	}, parent, pulumi.Protect(args.Protect))
	if err != nil {
		return nil, fmt.Errorf("storage: bucket: %w", err)
	}
	s.BucketName = s.Bucket.Bucket
	s.BucketArn = s.Bucket.Arn

	s.PublicAccessBlock, err = s3.NewBucketPublicAccessBlock(ctx, name, &s3.BucketPublicAccessBlockArgs{
		Bucket:                s.Bucket.ID(),
		BlockPublicAcls:       pulumi.Bool(true),
		BlockPublicPolicy:     pulumi.Bool(true),
		IgnorePublicAcls:      pulumi.Bool(true),
		RestrictPublicBuckets: pulumi.Bool(true),
	}, parent)
	if err != nil {
		return nil, fmt.Errorf("storage: public access block: %w", err)
	}

	s.Ownership, err = s3.NewBucketOwnershipControls(ctx, name, &s3.BucketOwnershipControlsArgs{
		Bucket: s.Bucket.ID(),
		Rule:   s3.BucketOwnershipControlsRuleArgs{ObjectOwnership: pulumi.String("BucketOwnerEnforced")},
	}, parent)
	if err != nil {
		return nil, fmt.Errorf("storage: ownership controls: %w", err)
	}

	s.Versioning, err = s3.NewBucketVersioningV2(ctx, name, &s3.BucketVersioningV2Args{
		Bucket:                  s.Bucket.ID(),
		VersioningConfiguration: s3.BucketVersioningV2VersioningConfigurationArgs{Status: pulumi.String("Enabled")},
	}, parent)
	if err != nil {
		return nil, fmt.Errorf("storage: versioning: %w", err)
	}

	s.Encryption, err = s3.NewBucketServerSideEncryptionConfigurationV2(ctx, name, &s3.BucketServerSideEncryptionConfigurationV2Args{
		Bucket: s.Bucket.ID(),
		Rules: s3.BucketServerSideEncryptionConfigurationV2RuleArray{
			s3.BucketServerSideEncryptionConfigurationV2RuleArgs{
				ApplyServerSideEncryptionByDefault: s3.BucketServerSideEncryptionConfigurationV2RuleApplyServerSideEncryptionByDefaultArgs{
					SseAlgorithm: pulumi.String("aws:kms"),
				},
				BucketKeyEnabled: pulumi.Bool(true),
			},
		},
	}, parent)
	if err != nil {
		return nil, fmt.Errorf("storage: encryption: %w", err)
	}

	// Applied after the public access block so the policy is never judged
	// against a bucket without it.
	s.Policy, err = s3.NewBucketPolicy(ctx, name, &s3.BucketPolicyArgs{
		Bucket: s.Bucket.ID(),
		Policy: s.Bucket.Arn.ApplyT(TLSOnlyPolicy).(pulumi.StringOutput),
	}, parent, pulumi.DependsOn([]pulumi.Resource{s.PublicAccessBlock}))
	if err != nil {
		return nil, fmt.Errorf("storage: bucket policy: %w", err)
	}

	s.Lifecycle, err = s3.NewBucketLifecycleConfigurationV2(ctx, name, &s3.BucketLifecycleConfigurationV2Args{
		Bucket: s.Bucket.ID(),
		Rules: s3.BucketLifecycleConfigurationV2RuleArray{
			s3.BucketLifecycleConfigurationV2RuleArgs{
				Id:     pulumi.String("expire-old-versions"),
				Status: pulumi.String("Enabled"),
				Filter: s3.BucketLifecycleConfigurationV2RuleFilterArgs{Prefix: pulumi.String("")},
				NoncurrentVersionExpiration: s3.BucketLifecycleConfigurationV2RuleNoncurrentVersionExpirationArgs{
					NoncurrentDays: pulumi.Int(args.NoncurrentVersionDays),
				},
				AbortIncompleteMultipartUpload: s3.BucketLifecycleConfigurationV2RuleAbortIncompleteMultipartUploadArgs{
					DaysAfterInitiation: pulumi.Int(7),
				},
			},
		},
	}, parent, pulumi.DependsOn([]pulumi.Resource{s.Versioning}))
	if err != nil {
		return nil, fmt.Errorf("storage: lifecycle: %w", err)
	}

	if args.AccessLogging {
		if err := s.accessLogs(ctx, name, args, parent); err != nil {
			return nil, err
		}
	}

	if err := ctx.RegisterResourceOutputs(s, pulumi.Map{
		"bucketName": s.BucketName,
		"bucketArn":  s.BucketArn,
	}); err != nil {
		return nil, fmt.Errorf("storage: register outputs: %w", err)
	}
	return s, nil
}

// TLSOnlyPolicy is a bucket policy denying every request not made over TLS.
func TLSOnlyPolicy(bucketArn string) (string, error) {
	st, err := tlsOnlyStatement(bucketArn)
	if err != nil {
		return "", err
	}
	doc := map[string]any{
		"Version":   "2012-10-17",
		"Statement": []map[string]any{st},
	}
	b, err := json.Marshal(doc)
	if err != nil {
		return "", fmt.Errorf("storage: tls-only policy: %w", err)
	}
	return string(b), nil
}

// tlsOnlyStatement denies every request to the bucket not made over TLS.
func tlsOnlyStatement(bucketArn string) (map[string]any, error) {
	if bucketArn == "" {
		return nil, fmt.Errorf("storage: tls-only policy: empty bucket ARN")
	}
	return map[string]any{
		"Sid":       "DenyInsecureTransport",
		"Effect":    "Deny",
		"Principal": "*",
		"Action":    "s3:*",
		"Resource":  []string{bucketArn, bucketArn + "/*"},
		"Condition": map[string]any{"Bool": map[string]string{"aws:SecureTransport": "false"}},
	}, nil
}
