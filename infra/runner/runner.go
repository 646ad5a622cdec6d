// Package runner provisions the route by which CI reaches a private EKS API
// endpoint: an AWS CodeBuild project that runs GitHub Actions jobs as an
// ephemeral, AWS-managed runner inside the VPC's private subnets. A job that
// says `runs-on: codebuild-<project>-${{ github.run_id }}-${{ github.run_attempt }}`
// starts a fresh build container there; it still assumes the bootstrap
// project's deploy role through GitHub OIDC, so the runner's own role can do
// nothing but run.
package runner

import (
	"encoding/json"
	"fmt"

	"github.com/gopherops/gopherops/infra/config"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/cloudwatch"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/codebuild"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/ec2"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/iam"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// Image is the CodeBuild-managed build image jobs run in (Amazon Linux 2023
// with Docker, Go and the AWS CLI; CodeBuild patches it).
const Image = "aws/codebuild/amazonlinux-x86_64-standard:5.0"

// Args configures the Runner component.
type Args struct {
	// ProjectName is the CodeBuild project, and so the runner label's middle.
	ProjectName      string
	VpcID            pulumi.StringInput
	PrivateSubnetIDs pulumi.StringArrayInput
	// ClusterSecurityGroupID admits the runner on 443 (the private API endpoint).
	ClusterSecurityGroupID pulumi.StringInput
	// Runner is the stack's runner settings as configured: GitHubRepository
	// (owner/name) and ConnectionArn, its CodeConnections connection. That
	// the runner is Enabled is the caller's decision to create it.
	config.Runner
	Partition        string
	Region           string
	AccountID        string
	LogRetentionDays int
}

// Runner is the CodeBuild project, its webhook, role and security group.
type Runner struct {
	pulumi.ResourceState

	SecurityGroup *ec2.SecurityGroup
	APIAccess     *ec2.SecurityGroupRule
	LogGroup      *cloudwatch.LogGroup
	Role          *iam.Role
	Project       *codebuild.Project
	Webhook       *codebuild.Webhook

	// Label is what a workflow's runs-on names, without the run suffix.
	Label string
}

// New creates the Runner component and its children.
func New(ctx *pulumi.Context, name string, args Args, opts ...pulumi.ResourceOption) (*Runner, error) {
	r := &Runner{Label: "codebuild-" + args.ProjectName}
	if err := ctx.RegisterComponentResource("gopherops:infra:Runner", name, r, opts...); err != nil {
		return nil, fmt.Errorf("runner: register component: %w", err)
	}
	parent := pulumi.Parent(r)
	var err error

	// HTTPS out only: GitHub, the Pulumi backend, AWS APIs, module and chart
	// downloads. DNS goes to the VPC resolver, which security groups do not filter.
	r.SecurityGroup, err = ec2.NewSecurityGroup(ctx, name, &ec2.SecurityGroupArgs{
		VpcId:       args.VpcID,
		Description: pulumi.String("GopherOps CI runner (CodeBuild): HTTPS out only"),
		Egress: ec2.SecurityGroupEgressArray{
			ec2.SecurityGroupEgressArgs{
				Description: pulumi.String("HTTPS to GitHub, AWS APIs and the Kubernetes API"),
				Protocol:    pulumi.String("tcp"),
				FromPort:    pulumi.Int(443),
				ToPort:      pulumi.Int(443),
				CidrBlocks:  pulumi.StringArray{pulumi.String("0.0.0.0/0")},
			},
		},
		Tags: pulumi.StringMap{"Name": pulumi.String(name)},
	}, parent)
	if err != nil {
		return nil, fmt.Errorf("runner: security group: %w", err)
	}
	r.APIAccess, err = ec2.NewSecurityGroupRule(ctx, name+"-api", &ec2.SecurityGroupRuleArgs{
		Type:                  pulumi.String("ingress"),
		Description:           pulumi.String("Kubernetes API from the CI runner"),
		SecurityGroupId:       args.ClusterSecurityGroupID,
		SourceSecurityGroupId: r.SecurityGroup.ID(),
		Protocol:              pulumi.String("tcp"),
		FromPort:              pulumi.Int(443),
		ToPort:                pulumi.Int(443),
	}, parent)
	if err != nil {
		return nil, fmt.Errorf("runner: api access rule: %w", err)
	}

	logGroupName := "/aws/codebuild/" + args.ProjectName
	r.LogGroup, err = cloudwatch.NewLogGroup(ctx, name, &cloudwatch.LogGroupArgs{
		Name:            pulumi.String(logGroupName),
		RetentionInDays: pulumi.Int(args.LogRetentionDays),
	}, parent)
	if err != nil {
		return nil, fmt.Errorf("runner: log group: %w", err)
	}

	trust, err := TrustPolicy(args.Partition, args.Region, args.AccountID, args.ProjectName)
	if err != nil {
		return nil, err
	}
	r.Role, err = iam.NewRole(ctx, name, &iam.RoleArgs{
		Description:      pulumi.String("CodeBuild service role of the GopherOps CI runner " + args.ProjectName),
		AssumeRolePolicy: pulumi.String(trust),
	}, parent)
	if err != nil {
		return nil, fmt.Errorf("runner: role: %w", err)
	}
	policy, err := iam.NewRolePolicy(ctx, name, &iam.RolePolicyArgs{
		Role: r.Role.Name,
		Policy: pulumi.All(r.LogGroup.Arn, args.PrivateSubnetIDs).ApplyT(func(v []any) (string, error) {
			return ServicePolicy(args.Partition, args.Region, args.AccountID, v[0].(string), args.ConnectionArn, v[1].([]string))
		}).(pulumi.StringOutput),
	}, parent)
	if err != nil {
		return nil, fmt.Errorf("runner: policy: %w", err)
	}

	r.Project, err = codebuild.NewProject(ctx, name, &codebuild.ProjectArgs{
		Name:         pulumi.String(args.ProjectName),
		Description:  pulumi.String("GitHub Actions runner for " + args.GitHubRepository + " inside the VPC"),
		ServiceRole:  r.Role.Arn,
		BuildTimeout: pulumi.Int(90),
		Source: codebuild.ProjectSourceArgs{
			Type:     pulumi.String("GITHUB"),
			Location: pulumi.String("https://github.com/" + args.GitHubRepository + ".git"),
			Auth: codebuild.ProjectSourceAuthArgs{
				Type:     pulumi.String("CODECONNECTIONS"),
				Resource: pulumi.String(args.ConnectionArn),
			},
		},
		Artifacts: codebuild.ProjectArtifactsArgs{Type: pulumi.String("NO_ARTIFACTS")},
		Environment: codebuild.ProjectEnvironmentArgs{
			Type:        pulumi.String("LINUX_CONTAINER"),
			ComputeType: pulumi.String("BUILD_GENERAL1_MEDIUM"),
			Image:       pulumi.String(Image),
		},
		VpcConfig: codebuild.ProjectVpcConfigArgs{
			VpcId:            args.VpcID,
			Subnets:          args.PrivateSubnetIDs,
			SecurityGroupIds: pulumi.StringArray{r.SecurityGroup.ID()},
		},
		LogsConfig: codebuild.ProjectLogsConfigArgs{
			CloudwatchLogs: codebuild.ProjectLogsConfigCloudwatchLogsArgs{
				Status:    pulumi.String("ENABLED"),
				GroupName: r.LogGroup.Name,
			},
		},
	}, parent, pulumi.DependsOn([]pulumi.Resource{policy}))
	if err != nil {
		return nil, fmt.Errorf("runner: project: %w", err)
	}

	// Every queued workflow job of the repository reaches CodeBuild; only
	// those whose runs-on names this project start a build.
	r.Webhook, err = codebuild.NewWebhook(ctx, name, &codebuild.WebhookArgs{
		ProjectName: r.Project.Name,
		BuildType:   pulumi.String("BUILD"),
		FilterGroups: codebuild.WebhookFilterGroupArray{
			codebuild.WebhookFilterGroupArgs{
				Filters: codebuild.WebhookFilterGroupFilterArray{
					codebuild.WebhookFilterGroupFilterArgs{Type: pulumi.String("EVENT"), Pattern: pulumi.String("WORKFLOW_JOB_QUEUED")},
				},
			},
		},
	}, parent)
	if err != nil {
		return nil, fmt.Errorf("runner: webhook: %w", err)
	}

	if err := ctx.RegisterResourceOutputs(r, pulumi.Map{
		"project": r.Project.Name,
		"label":   pulumi.String(r.Label),
	}); err != nil {
		return nil, fmt.Errorf("runner: register outputs: %w", err)
	}
	return r, nil
}

// TrustPolicy lets only CodeBuild, building this project in this account,
// assume the service role.
func TrustPolicy(partition, region, accountID, project string) (string, error) {
	return marshal(map[string]any{
		"Version": "2012-10-17",
		"Statement": []map[string]any{{
			"Effect":    "Allow",
			"Principal": map[string]any{"Service": "codebuild.amazonaws.com"},
			"Action":    "sts:AssumeRole",
			"Condition": map[string]any{
				"StringEquals": map[string]string{"aws:SourceAccount": accountID},
				"ArnLike":      map[string]string{"aws:SourceArn": fmt.Sprintf("arn:%s:codebuild:%s:%s:project/%s", partition, region, accountID, project)},
			},
		}},
	})
}

// ServicePolicy is what CodeBuild needs to run a job in the VPC and nothing
// else: its own log group, the network interfaces of a build in the
// runner's subnets, and the GitHub connection.
func ServicePolicy(partition, region, accountID, logGroupArn, connectionArn string, subnetIDs []string) (string, error) {
	subnets := make([]string, len(subnetIDs))
	for i, id := range subnetIDs {
		subnets[i] = fmt.Sprintf("arn:%s:ec2:%s:%s:subnet/%s", partition, region, accountID, id)
	}
	return marshal(map[string]any{
		"Version": "2012-10-17",
		"Statement": []map[string]any{
			{
				"Sid":      "Logs",
				"Effect":   "Allow",
				"Action":   []string{"logs:CreateLogStream", "logs:PutLogEvents"},
				"Resource": []string{logGroupArn, logGroupArn + ":*"},
			},
			{
				"Sid":    "VpcNetworking",
				"Effect": "Allow",
				"Action": []string{
					"ec2:CreateNetworkInterface", "ec2:DescribeDhcpOptions", "ec2:DescribeNetworkInterfaces",
					"ec2:DeleteNetworkInterface", "ec2:DescribeSubnets", "ec2:DescribeSecurityGroups", "ec2:DescribeVpcs",
				},
				"Resource": "*",
			},
			{
				"Sid":      "NetworkInterfacesInRunnerSubnets",
				"Effect":   "Allow",
				"Action":   "ec2:CreateNetworkInterfacePermission",
				"Resource": fmt.Sprintf("arn:%s:ec2:%s:%s:network-interface/*", partition, region, accountID),
				"Condition": map[string]any{
					"StringEquals": map[string]string{"ec2:AuthorizedService": "codebuild.amazonaws.com"},
					"ArnEquals":    map[string]any{"ec2:Subnet": subnets},
				},
			},
			{
				"Sid":      "GitHubConnection",
				"Effect":   "Allow",
				"Action":   []string{"codeconnections:GetConnectionToken", "codeconnections:GetConnection", "codeconnections:UseConnection", "codestar-connections:GetConnectionToken", "codestar-connections:GetConnection", "codestar-connections:UseConnection"},
				"Resource": connectionArn,
			},
		},
	})
}

func marshal(doc map[string]any) (string, error) {
	b, err := json.Marshal(doc)
	if err != nil {
		return "", fmt.Errorf("runner: policy document: %w", err)
	}
	return string(b), nil
}
