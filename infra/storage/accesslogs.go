package storage

import (
	"encoding/json"
	"fmt"

	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/s3"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// AccessLogPrefix is where the avatar bucket's access logs land in the log bucket.
const AccessLogPrefix = "s3-access/"

// LogNoncurrentDays is how long an overwritten, deleted or expired access
// log stays recoverable in the versioned log bucket.
const LogNoncurrentDays = 30

// accessLogs creates the log bucket (private, SSE-S3 as S3 log delivery
// requires, TLS only, versioned so that a deleted log can be recovered (AWS
// FSBP S3.14), writable only by S3 log delivery for this bucket and account,
// expiring) and points the avatar bucket's server access logging at it.
func (s *Storage) accessLogs(ctx *pulumi.Context, name string, args Args, parent pulumi.ResourceOption) error {
	logs := name + "-access-logs"
	var err error
	s.LogBucket, err = s3.NewBucketV2(ctx, logs, &s3.BucketV2Args{
		ForceDestroy: pulumi.Bool(args.ForceDestroy),
	}, parent, pulumi.Protect(args.Protect))
	if err != nil {
		return fmt.Errorf("storage: log bucket: %w", err)
	}
	pab, err := s3.NewBucketPublicAccessBlock(ctx, logs, &s3.BucketPublicAccessBlockArgs{
		Bucket:                s.LogBucket.ID(),
		BlockPublicAcls:       pulumi.Bool(true),
		BlockPublicPolicy:     pulumi.Bool(true),
		IgnorePublicAcls:      pulumi.Bool(true),
		RestrictPublicBuckets: pulumi.Bool(true),
	}, parent)
	if err != nil {
		return fmt.Errorf("storage: log bucket public access block: %w", err)
	}
	if _, err := s3.NewBucketOwnershipControls(ctx, logs, &s3.BucketOwnershipControlsArgs{
		Bucket: s.LogBucket.ID(),
		Rule:   s3.BucketOwnershipControlsRuleArgs{ObjectOwnership: pulumi.String("BucketOwnerEnforced")},
	}, parent); err != nil {
		return fmt.Errorf("storage: log bucket ownership: %w", err)
	}
	if _, err := s3.NewBucketServerSideEncryptionConfigurationV2(ctx, logs, &s3.BucketServerSideEncryptionConfigurationV2Args{
		Bucket: s.LogBucket.ID(),
		Rules: s3.BucketServerSideEncryptionConfigurationV2RuleArray{
			s3.BucketServerSideEncryptionConfigurationV2RuleArgs{
				ApplyServerSideEncryptionByDefault: s3.BucketServerSideEncryptionConfigurationV2RuleApplyServerSideEncryptionByDefaultArgs{
					SseAlgorithm: pulumi.String("AES256"),
				},
			},
		},
	}, parent); err != nil {
		return fmt.Errorf("storage: log bucket encryption: %w", err)
	}
	versioning, err := s3.NewBucketVersioningV2(ctx, logs, &s3.BucketVersioningV2Args{
		Bucket:                  s.LogBucket.ID(),
		VersioningConfiguration: s3.BucketVersioningV2VersioningConfigurationArgs{Status: pulumi.String("Enabled")},
	}, parent)
	if err != nil {
		return fmt.Errorf("storage: log bucket versioning: %w", err)
	}
	if _, err := s3.NewBucketLifecycleConfigurationV2(ctx, logs, &s3.BucketLifecycleConfigurationV2Args{
		Bucket: s.LogBucket.ID(),
		Rules: s3.BucketLifecycleConfigurationV2RuleArray{
			s3.BucketLifecycleConfigurationV2RuleArgs{
				Id:         pulumi.String("expire-access-logs"),
				Status:     pulumi.String("Enabled"),
				Filter:     s3.BucketLifecycleConfigurationV2RuleFilterArgs{Prefix: pulumi.String(AccessLogPrefix)},
				Expiration: s3.BucketLifecycleConfigurationV2RuleExpirationArgs{Days: pulumi.Int(args.AccessLogDays)},
				// An expired (or deleted) log stays recoverable this long.
				NoncurrentVersionExpiration: s3.BucketLifecycleConfigurationV2RuleNoncurrentVersionExpirationArgs{
					NoncurrentDays: pulumi.Int(LogNoncurrentDays),
				},
			},
		},
	}, parent, pulumi.DependsOn([]pulumi.Resource{versioning})); err != nil {
		return fmt.Errorf("storage: log bucket lifecycle: %w", err)
	}
	policy, err := s3.NewBucketPolicy(ctx, logs, &s3.BucketPolicyArgs{
		Bucket: s.LogBucket.ID(),
		Policy: pulumi.All(s.LogBucket.Arn, s.Bucket.Arn).ApplyT(func(v []any) (string, error) {
			return AccessLogPolicy(v[0].(string), v[1].(string), args.AccountID)
		}).(pulumi.StringOutput),
	}, parent, pulumi.DependsOn([]pulumi.Resource{pab}))
	if err != nil {
		return fmt.Errorf("storage: log bucket policy: %w", err)
	}
	s.Logging, err = s3.NewBucketLoggingV2(ctx, name, &s3.BucketLoggingV2Args{
		Bucket:       s.Bucket.ID(),
		TargetBucket: s.LogBucket.ID(),
		TargetPrefix: pulumi.String(AccessLogPrefix),
	}, parent, pulumi.DependsOn([]pulumi.Resource{policy}))
	if err != nil {
		return fmt.Errorf("storage: access logging: %w", err)
	}
	return nil
}

// AccessLogPolicy admits S3 log delivery writing the source bucket's logs
// under AccessLogPrefix for this account, and denies anything not over TLS.
func AccessLogPolicy(logBucketArn, sourceBucketArn, accountID string) (string, error) {
	tlsOnly, err := tlsOnlyStatement(logBucketArn)
	if err != nil {
		return "", err
	}
	doc := map[string]any{
		"Version": "2012-10-17",
		"Statement": []map[string]any{
			tlsOnly,
			{
				"Sid":       "S3ServerAccessLogDelivery",
				"Effect":    "Allow",
				"Principal": map[string]any{"Service": "logging.s3.amazonaws.com"},
				"Action":    "s3:PutObject",
				"Resource":  logBucketArn + "/" + AccessLogPrefix + "*",
				"Condition": map[string]any{
					"ArnLike":      map[string]string{"aws:SourceArn": sourceBucketArn},
					"StringEquals": map[string]string{"aws:SourceAccount": accountID},
				},
			},
		},
	}
	b, err := json.Marshal(doc)
	if err != nil {
		return "", fmt.Errorf("storage: access log policy: %w", err)
	}
	return string(b), nil
}
