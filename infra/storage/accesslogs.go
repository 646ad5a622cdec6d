package storage

import (
	"encoding/json"
	"fmt"

	"github.com/gopherops/gopherops/infra/logbucket"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/s3"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// AccessLogPrefix is where the avatar bucket's access logs land in the log bucket.
const AccessLogPrefix = "s3-access/"

// accessLogs creates the log bucket (a logbucket: private, encrypted,
// versioned, expiring its logs under AccessLogPrefix after AccessLogDays,
// writable only by S3 log delivery for the avatar bucket and this account,
// TLS only) and points the avatar bucket's server access logging at it.
func (s *Storage) accessLogs(ctx *pulumi.Context, name string, args Args, parent pulumi.ResourceOption) error {
	logs, err := logbucket.New(ctx, name+"-access-logs", logbucket.Args{
		RuleID: "expire-access-logs", Prefix: AccessLogPrefix, ExpireDays: args.AccessLogDays,
		Policy: func(arn pulumi.StringOutput) pulumi.StringOutput {
			return pulumi.All(arn, s.Bucket.Arn).ApplyT(func(v []any) (string, error) {
				return AccessLogPolicy(v[0].(string), v[1].(string), args.AccountID)
			}).(pulumi.StringOutput)
		},
		ForceDestroy: args.ForceDestroy, Protect: args.Protect,
	}, parent)
	if err != nil {
		return fmt.Errorf("storage: log bucket: %w", err)
	}
	s.LogBucket = logs.Bucket
	policy := logs.Policy
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
