// Package logbucket creates the buckets AWS log delivery writes into (VPC
// flow logs, S3 server access logs): private, encrypted with SSE-S3 (which
// S3 log delivery requires), owner-enforced, versioned so that a deleted log
// can be recovered (AWS FSBP S3.14), expiring, and with a bucket policy of
// the caller's that admits its one delivery service. One place, so the two
// log buckets of a stack cannot drift apart in what they guarantee.
package logbucket

import (
	"fmt"
	"slices"

	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/s3"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// NoncurrentDays is how long an overwritten, deleted or expired log stays
// recoverable in a log bucket.
const NoncurrentDays = 30

// Args are what differs between the log buckets.
type Args struct {
	// RuleID names the lifecycle rule that expires the logs under Prefix
	// ("" for the whole bucket) after ExpireDays.
	RuleID, Prefix string
	ExpireDays     int
	// Policy is the bucket policy, given the bucket's ARN: it must admit
	// the log delivery service and deny anything not over TLS.
	Policy func(bucketArn pulumi.StringOutput) pulumi.StringOutput
	// ForceDestroy lets `pulumi destroy` delete a non-empty bucket;
	// Protect sets Pulumi's protect on it.
	ForceDestroy, Protect bool
}

// Bucket is a log bucket: log delivery may be pointed at Bucket once Policy
// exists (depend on it, or delivery's first write is refused).
type Bucket struct {
	Bucket *s3.BucketV2
	Policy *s3.BucketPolicy
}

// New creates the log bucket name and its settings, each a resource of that
// name with opts (the caller's parent), so the URNs are the caller's own.
func New(ctx *pulumi.Context, name string, args Args, opts ...pulumi.ResourceOption) (*Bucket, error) {
	if args.Policy == nil {
		return nil, fmt.Errorf("logbucket %s: no bucket policy", name)
	}
	if args.ExpireDays < 1 {
		return nil, fmt.Errorf("logbucket %s: logs must expire after at least a day, got %d", name, args.ExpireDays)
	}
	// with adds options to the caller's without writing into its slice.
	with := func(more ...pulumi.ResourceOption) []pulumi.ResourceOption { return append(slices.Clip(opts), more...) }
	b := &Bucket{}
	var err error
	b.Bucket, err = s3.NewBucketV2(ctx, name, &s3.BucketV2Args{
		ForceDestroy: pulumi.Bool(args.ForceDestroy),
	}, with(pulumi.Protect(args.Protect))...)
	if err != nil {
		return nil, fmt.Errorf("logbucket %s: bucket: %w", name, err)
	}
	pab, err := s3.NewBucketPublicAccessBlock(ctx, name, &s3.BucketPublicAccessBlockArgs{
		Bucket:                b.Bucket.ID(),
		BlockPublicAcls:       pulumi.Bool(true),
		BlockPublicPolicy:     pulumi.Bool(true),
		IgnorePublicAcls:      pulumi.Bool(true),
		RestrictPublicBuckets: pulumi.Bool(true),
	}, opts...)
	if err != nil {
		return nil, fmt.Errorf("logbucket %s: public access block: %w", name, err)
	}
	if _, err := s3.NewBucketOwnershipControls(ctx, name, &s3.BucketOwnershipControlsArgs{
		Bucket: b.Bucket.ID(),
		Rule:   s3.BucketOwnershipControlsRuleArgs{ObjectOwnership: pulumi.String("BucketOwnerEnforced")},
	}, opts...); err != nil {
		return nil, fmt.Errorf("logbucket %s: ownership: %w", name, err)
	}
	if _, err := s3.NewBucketServerSideEncryptionConfigurationV2(ctx, name, &s3.BucketServerSideEncryptionConfigurationV2Args{
		Bucket: b.Bucket.ID(),
		Rules: s3.BucketServerSideEncryptionConfigurationV2RuleArray{
			s3.BucketServerSideEncryptionConfigurationV2RuleArgs{
				ApplyServerSideEncryptionByDefault: s3.BucketServerSideEncryptionConfigurationV2RuleApplyServerSideEncryptionByDefaultArgs{
					SseAlgorithm: pulumi.String("AES256"),
				},
			},
		},
	}, opts...); err != nil {
		return nil, fmt.Errorf("logbucket %s: encryption: %w", name, err)
	}
	versioning, err := s3.NewBucketVersioningV2(ctx, name, &s3.BucketVersioningV2Args{
		Bucket:                  b.Bucket.ID(),
		VersioningConfiguration: s3.BucketVersioningV2VersioningConfigurationArgs{Status: pulumi.String("Enabled")},
	}, opts...)
	if err != nil {
		return nil, fmt.Errorf("logbucket %s: versioning: %w", name, err)
	}
	// The noncurrent-version rule needs versioning on first.
	if _, err := s3.NewBucketLifecycleConfigurationV2(ctx, name, &s3.BucketLifecycleConfigurationV2Args{
		Bucket: b.Bucket.ID(),
		Rules: s3.BucketLifecycleConfigurationV2RuleArray{
			s3.BucketLifecycleConfigurationV2RuleArgs{
				Id:         pulumi.String(args.RuleID),
				Status:     pulumi.String("Enabled"),
				Filter:     s3.BucketLifecycleConfigurationV2RuleFilterArgs{Prefix: pulumi.String(args.Prefix)},
				Expiration: s3.BucketLifecycleConfigurationV2RuleExpirationArgs{Days: pulumi.Int(args.ExpireDays)},
				NoncurrentVersionExpiration: s3.BucketLifecycleConfigurationV2RuleNoncurrentVersionExpirationArgs{
					NoncurrentDays: pulumi.Int(NoncurrentDays),
				},
			},
		},
	}, with(pulumi.DependsOn([]pulumi.Resource{versioning}))...); err != nil {
		return nil, fmt.Errorf("logbucket %s: lifecycle: %w", name, err)
	}
	// A bucket policy is refused while the public access block is being
	// set up, so it waits for it.
	b.Policy, err = s3.NewBucketPolicy(ctx, name, &s3.BucketPolicyArgs{
		Bucket: b.Bucket.ID(),
		Policy: args.Policy(b.Bucket.Arn),
	}, with(pulumi.DependsOn([]pulumi.Resource{pab}))...)
	if err != nil {
		return nil, fmt.Errorf("logbucket %s: policy: %w", name, err)
	}
	return b, nil
}
