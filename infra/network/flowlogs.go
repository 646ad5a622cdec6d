package network

import (
	"fmt"

	"github.com/gopherops/gopherops/infra/logbucket"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/cloudwatch"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/ec2"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/iam"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// flowLogs records every accepted and rejected flow of the VPC (AWS FSBP
// EC2.6) for FlowLogRetentionDays, in S3 or in CloudWatch Logs.
func (n *Network) flowLogs(ctx *pulumi.Context, name string, args Args, parent pulumi.ResourceOption) error {
	switch args.FlowLogDestination {
	case FlowLogsToS3:
		return n.flowLogsToS3(ctx, name, args, parent)
	case FlowLogsToCloudWatch:
		return n.flowLogsToCloudWatch(ctx, name, args, parent)
	default:
		return fmt.Errorf("network: flow log destination %q is neither %q nor %q", args.FlowLogDestination, FlowLogsToS3, FlowLogsToCloudWatch)
	}
}

// flowLogsToS3 writes the flow logs as hourly Parquet files into a private,
// TLS-only, versioned (AWS FSBP S3.14) bucket of their own that expires
// them, writable only by log delivery for this account: the cheapest destination (S3 ingestion is a
// quarter of CloudWatch's and storage a fifth), and Athena reads it.
func (n *Network) flowLogsToS3(ctx *pulumi.Context, name string, args Args, parent pulumi.ResourceOption) error {
	logs, err := logbucket.New(ctx, name+"-flow-logs", logbucket.Args{
		RuleID: "expire-flow-logs", ExpireDays: args.FlowLogRetentionDays,
		Policy: func(arn pulumi.StringOutput) pulumi.StringOutput {
			return arn.ApplyT(func(arn string) (string, error) {
				return FlowLogBucketPolicy(arn, args.Partition, args.Region, args.AccountID)
			}).(pulumi.StringOutput)
		},
		ForceDestroy: args.ForceDestroy, Protect: args.Protect,
	}, parent)
	if err != nil {
		return fmt.Errorf("network: flow log bucket: %w", err)
	}
	n.FlowLogBucket = logs.Bucket
	policy := logs.Policy
	n.FlowLog, err = ec2.NewFlowLog(ctx, name, &ec2.FlowLogArgs{
		VpcId:              n.Vpc.ID(),
		TrafficType:        pulumi.String("ALL"),
		LogDestinationType: pulumi.String(FlowLogsToS3),
		LogDestination:     n.FlowLogBucket.Arn,
		DestinationOptions: ec2.FlowLogDestinationOptionsArgs{
			FileFormat:       pulumi.String("parquet"),
			PerHourPartition: pulumi.Bool(true),
		},
		MaxAggregationInterval: pulumi.Int(60),
		Tags:                   pulumi.StringMap{"Name": pulumi.String(name)},
	}, parent, pulumi.DependsOn([]pulumi.Resource{policy}))
	if err != nil {
		return fmt.Errorf("network: flow log: %w", err)
	}
	return nil
}

// FlowLogBucketPolicy admits log delivery writing this account's flow logs
// under AWSLogs/<account>/ (and checking the bucket, as it does before),
// and denies anything not over TLS.
func FlowLogBucketPolicy(bucketArn, partition, region, accountID string) (string, error) {
	if bucketArn == "" {
		return "", fmt.Errorf("network: flow log bucket policy: empty bucket ARN")
	}
	source := map[string]any{
		"StringEquals": map[string]string{"aws:SourceAccount": accountID},
		"ArnLike":      map[string]string{"aws:SourceArn": "arn:" + partition + ":logs:" + region + ":" + accountID + ":*"},
	}
	return marshal(map[string]any{
		"Version": "2012-10-17",
		"Statement": []map[string]any{
			{
				"Sid": "DenyInsecureTransport", "Effect": "Deny", "Principal": "*", "Action": "s3:*",
				"Resource":  []string{bucketArn, bucketArn + "/*"},
				"Condition": map[string]any{"Bool": map[string]string{"aws:SecureTransport": "false"}},
			},
			{
				"Sid": "FlowLogDeliveryCheck", "Effect": "Allow",
				"Principal": map[string]any{"Service": "delivery.logs.amazonaws.com"},
				"Action":    []string{"s3:GetBucketAcl", "s3:ListBucket"},
				"Resource":  bucketArn,
				"Condition": source,
			},
			{
				"Sid": "FlowLogDeliveryWrite", "Effect": "Allow",
				"Principal": map[string]any{"Service": "delivery.logs.amazonaws.com"},
				"Action":    "s3:PutObject",
				"Resource":  bucketArn + "/AWSLogs/" + accountID + "/*",
				"Condition": source,
			},
		},
	})
}

// flowLogsToCloudWatch writes the flow logs into a CloudWatch log group
// kept for FlowLogRetentionDays (AWS FSBP CloudWatch.16), delivered by a
// role only VPC Flow Logs of this account can assume and that may write
// only to that group.
func (n *Network) flowLogsToCloudWatch(ctx *pulumi.Context, name string, args Args, parent pulumi.ResourceOption) error {
	var err error
	n.FlowLogGroup, err = cloudwatch.NewLogGroup(ctx, name+"-flow-logs", &cloudwatch.LogGroupArgs{
		Name:            pulumi.String("/aws/vpc/flow-logs/" + name),
		RetentionInDays: pulumi.Int(args.FlowLogRetentionDays),
	}, parent)
	if err != nil {
		return fmt.Errorf("network: flow log group: %w", err)
	}
	trust, err := FlowLogTrustPolicy(args.Partition, args.AccountID)
	if err != nil {
		return err
	}
	n.FlowLogRole, err = iam.NewRole(ctx, name+"-flow-logs", &iam.RoleArgs{
		Description:      pulumi.String("VPC Flow Logs delivery into " + "/aws/vpc/flow-logs/" + name),
		AssumeRolePolicy: pulumi.String(trust),
	}, parent)
	if err != nil {
		return fmt.Errorf("network: flow log role: %w", err)
	}
	policy, err := iam.NewRolePolicy(ctx, name+"-flow-logs", &iam.RolePolicyArgs{
		Role:   n.FlowLogRole.Name,
		Policy: n.FlowLogGroup.Arn.ApplyT(FlowLogDeliveryPolicy).(pulumi.StringOutput),
	}, parent)
	if err != nil {
		return fmt.Errorf("network: flow log policy: %w", err)
	}
	n.FlowLog, err = ec2.NewFlowLog(ctx, name, &ec2.FlowLogArgs{
		VpcId:                  n.Vpc.ID(),
		TrafficType:            pulumi.String("ALL"),
		LogDestinationType:     pulumi.String(FlowLogsToCloudWatch),
		LogDestination:         n.FlowLogGroup.Arn,
		IamRoleArn:             n.FlowLogRole.Arn,
		MaxAggregationInterval: pulumi.Int(60),
		Tags:                   pulumi.StringMap{"Name": pulumi.String(name)},
	}, parent, pulumi.DependsOn([]pulumi.Resource{policy}))
	if err != nil {
		return fmt.Errorf("network: flow log: %w", err)
	}
	return nil
}

// FlowLogTrustPolicy lets only VPC Flow Logs acting for this account assume
// the delivery role (the confused-deputy guard AWS documents).
func FlowLogTrustPolicy(partition, accountID string) (string, error) {
	return marshal(map[string]any{
		"Version": "2012-10-17",
		"Statement": []map[string]any{{
			"Effect":    "Allow",
			"Principal": map[string]any{"Service": "vpc-flow-logs.amazonaws.com"},
			"Action":    "sts:AssumeRole",
			"Condition": map[string]any{
				"StringEquals": map[string]string{"aws:SourceAccount": accountID},
				"ArnLike":      map[string]string{"aws:SourceArn": "arn:" + partition + ":ec2:*:" + accountID + ":vpc-flow-log/*"},
			},
		}},
	})
}

// FlowLogDeliveryPolicy allows writing into one log group and nothing else.
func FlowLogDeliveryPolicy(logGroupArn string) (string, error) {
	return marshal(map[string]any{
		"Version": "2012-10-17",
		"Statement": []map[string]any{{
			"Effect":   "Allow",
			"Action":   []string{"logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"},
			"Resource": []string{logGroupArn, logGroupArn + ":*"},
		}},
	})
}
