package main

import (
	"encoding/json"
	"fmt"
)

// scope is the account, region and name prefix every policy is cut to.
type scope struct {
	Partition, Region, AccountID, Project string
}

// arn builds an ARN in the scope's account; region "" for global services.
func (s scope) arn(service, region, resource string) string {
	return fmt.Sprintf("arn:%s:%s:%s:%s:%s", s.Partition, service, region, s.AccountID, resource)
}

// regional is arn in the scope's region.
func (s scope) regional(service, resource string) string { return s.arn(service, s.Region, resource) }

// releaseRecords are the stacks' release records (release.Parameter).
func (s scope) releaseRecords() string { return s.regional("ssm", "parameter/"+s.Project+"/*") }

// EnvironmentSubjects are the OIDC subjects of jobs that run in the given
// GitHub environments of one repository (deploy.yml's `up` job).
func EnvironmentSubjects(repo string, environments []string) []string {
	out := make([]string, len(environments))
	for i, e := range environments {
		out[i] = "repo:" + repo + ":environment:" + e
	}
	return out
}

// PullRequestSubject is the OIDC subject of pull-request jobs of one repository.
func PullRequestSubject(repo string) string { return "repo:" + repo + ":pull_request" }

// GitHubTrustPolicy lets GitHub Actions jobs with exactly these subjects,
// and an STS audience, assume a role; no wildcard subject.
func GitHubTrustPolicy(providerArn string, subjects []string) (string, error) {
	return document(statement{
		"Effect":    "Allow",
		"Principal": map[string]any{"Federated": providerArn},
		"Action":    "sts:AssumeRoleWithWebIdentity",
		"Condition": map[string]any{"StringEquals": map[string]any{
			GitHubOIDCHost + ":aud": "sts.amazonaws.com",
			GitHubOIDCHost + ":sub": subjects,
		}},
	})
}

type statement map[string]any

func document(sts ...statement) (string, error) {
	b, err := json.Marshal(map[string]any{"Version": "2012-10-17", "Statement": sts})
	if err != nil {
		return "", fmt.Errorf("bootstrap: policy document: %w", err)
	}
	return string(b), nil
}

// projectTag is the default tag every resource of the stacks carries
// (aws:defaultTags in Pulumi.<stack>.yaml).
const projectTag = "Project"

// ec2Writes are the EC2 changes the stacks make. Each is allowed on a
// resource being created with the project tag, or on one that carries it.
var ec2Writes = []string{
	"ec2:CreateVpc", "ec2:DeleteVpc", "ec2:ModifyVpcAttribute",
	"ec2:CreateSubnet", "ec2:DeleteSubnet", "ec2:ModifySubnetAttribute",
	"ec2:CreateInternetGateway", "ec2:DeleteInternetGateway", "ec2:AttachInternetGateway", "ec2:DetachInternetGateway",
	"ec2:CreateRouteTable", "ec2:DeleteRouteTable", "ec2:CreateRoute", "ec2:DeleteRoute", "ec2:ReplaceRoute",
	"ec2:AssociateRouteTable", "ec2:DisassociateRouteTable",
	"ec2:AllocateAddress", "ec2:ReleaseAddress", "ec2:DisassociateAddress",
	"ec2:CreateNatGateway", "ec2:DeleteNatGateway",
	"ec2:CreateSecurityGroup", "ec2:DeleteSecurityGroup",
	"ec2:AuthorizeSecurityGroupIngress", "ec2:AuthorizeSecurityGroupEgress",
	"ec2:RevokeSecurityGroupIngress", "ec2:RevokeSecurityGroupEgress",
	"ec2:CreateLaunchTemplate", "ec2:CreateLaunchTemplateVersion", "ec2:ModifyLaunchTemplate", "ec2:DeleteLaunchTemplate",
	"ec2:CreateFlowLogs", "ec2:DeleteFlowLogs", "ec2:DeleteTags",
	"ec2:CreateVpcEndpoint", "ec2:ModifyVpcEndpoint", "ec2:DeleteVpcEndpoints",
}

// readActions are the descriptive calls a deploy (refresh, diff) makes; they
// reveal configuration, not data.
var readActions = []string{
	"ec2:Describe*", "eks:Describe*", "eks:List*", "rds:Describe*", "rds:ListTagsForResource",
	"iam:GetRole", "iam:GetRolePolicy", "iam:ListRolePolicies", "iam:ListAttachedRolePolicies", "iam:ListInstanceProfilesForRole",
	"iam:GetOpenIDConnectProvider", "kms:DescribeKey", "kms:GetKeyPolicy", "kms:GetKeyRotationStatus", "kms:ListResourceTags",
	"kms:ListAliases", "logs:DescribeLogGroups", "logs:ListTagsForResource", "logs:ListTagsLogGroup",
	"ecr:DescribeRepositories", "ecr:DescribeImages", "ecr:ListImages", "ecr:ListTagsForResource", "codebuild:BatchGetProjects",
	"secretsmanager:DescribeSecret",
}

// DeployPolicy is the deploy role's permissions: read-only calls anywhere in
// the region, and changes only to what the stacks own (names starting with
// the project prefix, or resources tagged Project=<project>), with roles
// passed only to the services that use them and nothing outside the region.
func DeployPolicy(s scope, repositoryArn, stateBucketArn string) (string, error) {
	p := s.Project + "-*"
	tagged := map[string]any{"StringEquals": map[string]string{"aws:ResourceTag/" + projectTag: s.Project}}
	requested := map[string]any{"StringEquals": map[string]string{"aws:RequestTag/" + projectTag: s.Project}}
	sts := []statement{
		{"Sid": "Read", "Effect": "Allow", "Action": readActions, "Resource": "*"},
		{"Sid": "Ec2CreateTagged", "Effect": "Allow", "Action": ec2Writes, "Resource": "*", "Condition": requested},
		{"Sid": "Ec2ChangeTagged", "Effect": "Allow", "Action": ec2Writes, "Resource": "*", "Condition": tagged},
		{
			// Tags on create, and the project tag on what the stack adopts
			// (the VPC's default security group).
			"Sid": "Ec2Tag", "Effect": "Allow", "Action": "ec2:CreateTags", "Resource": "*", "Condition": requested,
		},
		{
			// The CI runner's rule on the security group EKS made for the cluster.
			"Sid": "ClusterSecurityGroupRules", "Effect": "Allow",
			"Action":    []string{"ec2:AuthorizeSecurityGroupIngress", "ec2:RevokeSecurityGroupIngress"},
			"Resource":  s.regional("ec2", "security-group/*"),
			"Condition": map[string]any{"StringLike": map[string]string{"aws:ResourceTag/aws:eks:cluster-name": p}},
		},
		{
			"Sid": "Eks", "Effect": "Allow",
			"Action": []string{
				"eks:CreateCluster", "eks:DeleteCluster", "eks:UpdateClusterConfig", "eks:UpdateClusterVersion",
				"eks:CreateNodegroup", "eks:DeleteNodegroup", "eks:UpdateNodegroupConfig", "eks:UpdateNodegroupVersion",
				"eks:CreateAddon", "eks:DeleteAddon", "eks:UpdateAddon",
				"eks:CreateAccessEntry", "eks:DeleteAccessEntry", "eks:UpdateAccessEntry",
				"eks:AssociateAccessPolicy", "eks:DisassociateAccessPolicy", "eks:TagResource", "eks:UntagResource",
			},
			"Resource": []string{
				s.regional("eks", "cluster/"+p), s.regional("eks", "nodegroup/"+p+"/*/*"),
				s.regional("eks", "addon/"+p+"/*/*"), s.regional("eks", "access-entry/"+p+"/*"),
			},
		},
		{
			"Sid": "IamRolesOfTheStacks", "Effect": "Allow",
			"Action": []string{
				"iam:CreateRole", "iam:DeleteRole", "iam:TagRole", "iam:UntagRole", "iam:UpdateRole",
				"iam:UpdateRoleDescription", "iam:UpdateAssumeRolePolicy", "iam:PutRolePolicy", "iam:DeleteRolePolicy",
				"iam:DetachRolePolicy",
			},
			"Resource": s.arn("iam", "", "role/"+p),
		},
		{
			"Sid": "ManagedPoliciesTheStacksAttach", "Effect": "Allow", "Action": "iam:AttachRolePolicy",
			"Resource": s.arn("iam", "", "role/"+p),
			"Condition": map[string]any{"ArnEquals": map[string]any{"iam:PolicyARN": []string{
				"arn:" + s.Partition + ":iam::aws:policy/AmazonEKSClusterPolicy",
				"arn:" + s.Partition + ":iam::aws:policy/AmazonEKSWorkerNodePolicy",
				"arn:" + s.Partition + ":iam::aws:policy/AmazonEKS_CNI_Policy",
				"arn:" + s.Partition + ":iam::aws:policy/AmazonEC2ContainerRegistryReadOnly",
			}}},
		},
		{
			"Sid": "PassRolesToTheirServices", "Effect": "Allow", "Action": "iam:PassRole",
			"Resource": s.arn("iam", "", "role/"+p),
			"Condition": map[string]any{"StringEquals": map[string]any{"iam:PassedToService": []string{
				"eks.amazonaws.com", "ec2.amazonaws.com", "vpc-flow-logs.amazonaws.com", "codebuild.amazonaws.com",
			}}},
		},
		{
			"Sid": "ClusterOidcProviders", "Effect": "Allow",
			"Action": []string{
				"iam:CreateOpenIDConnectProvider", "iam:DeleteOpenIDConnectProvider", "iam:TagOpenIDConnectProvider",
				"iam:UntagOpenIDConnectProvider", "iam:UpdateOpenIDConnectProviderThumbprint",
			},
			"Resource": s.arn("iam", "", "oidc-provider/oidc.eks."+s.Region+".amazonaws.com/id/*"),
		},
		{
			"Sid": "ServiceLinkedRoles", "Effect": "Allow", "Action": "iam:CreateServiceLinkedRole", "Resource": "*",
			"Condition": map[string]any{"StringEquals": map[string]any{"iam:AWSServiceName": []string{
				"eks.amazonaws.com", "eks-nodegroup.amazonaws.com", "rds.amazonaws.com",
				"elasticloadbalancing.amazonaws.com", "autoscaling.amazonaws.com",
			}}},
		},
		{"Sid": "KmsCreateTagged", "Effect": "Allow", "Action": []string{"kms:CreateKey", "kms:TagResource"}, "Resource": "*", "Condition": requested},
		{
			"Sid": "KmsKeysOfTheStacks", "Effect": "Allow",
			"Action": []string{
				"kms:EnableKeyRotation", "kms:ScheduleKeyDeletion", "kms:PutKeyPolicy", "kms:UpdateKeyDescription",
				"kms:TagResource", "kms:UntagResource", "kms:CreateGrant",
			},
			"Resource": s.regional("kms", "key/*"), "Condition": tagged,
		},
		{
			// RDS keeps the master password in Secrets Manager with the
			// caller's forwarded credentials.
			"Sid": "KmsThroughSecretsManagerAndRds", "Effect": "Allow",
			"Action":   []string{"kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey", "kms:CreateGrant", "kms:DescribeKey"},
			"Resource": s.regional("kms", "key/*"),
			"Condition": map[string]any{"StringEquals": map[string]any{"kms:ViaService": []string{
				"secretsmanager." + s.Region + ".amazonaws.com", "rds." + s.Region + ".amazonaws.com",
			}}},
		},
		{
			"Sid": "RdsManagedMasterSecret", "Effect": "Allow",
			"Action": []string{
				"secretsmanager:CreateSecret", "secretsmanager:TagResource", "secretsmanager:RotateSecret",
				"secretsmanager:DeleteSecret", "secretsmanager:PutSecretValue", "secretsmanager:UpdateSecret",
			},
			"Resource": s.regional("secretsmanager", "secret:rds!*"),
		},
		{
			"Sid": "LogGroupsOfTheStacks", "Effect": "Allow",
			"Action": []string{
				"logs:CreateLogGroup", "logs:DeleteLogGroup", "logs:PutRetentionPolicy", "logs:DeleteRetentionPolicy",
				"logs:TagResource", "logs:UntagResource", "logs:TagLogGroup",
			},
			"Resource": []string{
				s.regional("logs", "log-group:/aws/eks/"+p), s.regional("logs", "log-group:/aws/vpc/flow-logs/"+p),
				s.regional("logs", "log-group:/aws/codebuild/"+p), s.regional("logs", "log-group:/aws/rds/instance/"+p),
			},
		},
		{
			// Flow logs to S3 are created through a log delivery, an action
			// without resource-level permissions.
			"Sid": "FlowLogDeliveryToS3", "Effect": "Allow",
			"Action":    []string{"logs:CreateLogDelivery", "logs:DeleteLogDelivery"},
			"Resource":  "*",
			"Condition": map[string]any{"StringEquals": map[string]string{"aws:RequestedRegion": s.Region}},
		},
		{
			"Sid": "Rds", "Effect": "Allow",
			"Action": []string{
				"rds:CreateDBInstance", "rds:ModifyDBInstance", "rds:DeleteDBInstance", "rds:RebootDBInstance",
				"rds:AddTagsToResource", "rds:RemoveTagsFromResource",
				"rds:CreateDBSubnetGroup", "rds:ModifyDBSubnetGroup", "rds:DeleteDBSubnetGroup",
				"rds:CreateDBParameterGroup", "rds:ModifyDBParameterGroup", "rds:DeleteDBParameterGroup",
				"rds:CreateDBSnapshot",
			},
			"Resource": []string{
				s.regional("rds", "db:"+p), s.regional("rds", "subgrp:"+p), s.regional("rds", "pg:"+p),
				s.regional("rds", "snapshot:"+p), s.regional("rds", "og:default:*"),
			},
		},
		{
			"Sid": "BucketsOfTheStacks", "Effect": "Allow",
			"Action": []string{
				"s3:CreateBucket", "s3:DeleteBucket", "s3:ListBucket", "s3:ListBucketVersions", "s3:GetBucket*",
				"s3:PutBucket*", "s3:DeleteBucketPolicy", "s3:GetEncryptionConfiguration", "s3:PutEncryptionConfiguration",
				"s3:GetLifecycleConfiguration", "s3:PutLifecycleConfiguration", "s3:GetAccelerateConfiguration",
				"s3:GetReplicationConfiguration", "s3:GetBucketObjectLockConfiguration",
			},
			"Resource": "arn:" + s.Partition + ":s3:::" + p,
		},
		{
			// forceDestroy empties a dev bucket before deleting it.
			"Sid": "EmptyBucketsOfTheStacks", "Effect": "Allow",
			"Action":   []string{"s3:DeleteObject", "s3:DeleteObjectVersion"},
			"Resource": "arn:" + s.Partition + ":s3:::" + p + "/*",
		},
		{
			"Sid": "CiRunner", "Effect": "Allow",
			"Action": []string{
				"codebuild:CreateProject", "codebuild:UpdateProject", "codebuild:DeleteProject",
				"codebuild:CreateWebhook", "codebuild:UpdateWebhook", "codebuild:DeleteWebhook",
			},
			"Resource": s.regional("codebuild", "project/"+p),
		},
		{
			"Sid": "CiRunnerConnection", "Effect": "Allow",
			"Action":   []string{"codeconnections:UseConnection", "codeconnections:PassConnection", "codeconnections:GetConnection"},
			"Resource": s.regional("codeconnections", "connection/*"),
		},
		{"Sid": "EcrLogin", "Effect": "Allow", "Action": "ecr:GetAuthorizationToken", "Resource": "*"},
		{
			// deploy.yml mirrors the release into ECR and moves the stack's
			// tag; the live suite removes its throwaway stack's tag.
			"Sid": "MirrorReleases", "Effect": "Allow",
			"Action": []string{
				"ecr:BatchCheckLayerAvailability", "ecr:InitiateLayerUpload", "ecr:UploadLayerPart",
				"ecr:CompleteLayerUpload", "ecr:PutImage", "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer",
				"ecr:BatchDeleteImage",
			},
			"Resource": repositoryArn,
		},
		{
			// deploy.yml records what a stack runs once its rollout
			// succeeded; the live suite removes its throwaway stack's record.
			"Sid": "ReleaseRecords", "Effect": "Allow",
			"Action":   []string{"ssm:GetParameter", "ssm:PutParameter", "ssm:DeleteParameter"},
			"Resource": s.releaseRecords(),
		},
		{
			"Sid": "OnlyThisRegion", "Effect": "Deny",
			"NotAction": []string{"iam:*", "sts:*", "s3:*"},
			"Resource":  "*",
			"Condition": map[string]any{"StringNotEquals": map[string]string{"aws:RequestedRegion": s.Region}},
		},
	}
	if stateBucketArn != "" {
		sts = append(sts, stateBucketAccess(stateBucketArn, true))
	}
	return document(sts...)
}

// PreviewPolicy is the preview role's permissions: the lookups the program
// makes (zones, caller, ECR tag), the cluster's endpoint, and reading state.
// It can change nothing.
func PreviewPolicy(s scope, repositoryArn, stateBucketArn string) (string, error) {
	sts := []statement{
		{"Sid": "Lookups", "Effect": "Allow", "Action": []string{"ec2:DescribeAvailabilityZones"}, "Resource": "*"},
		{
			"Sid": "ReleaseTags", "Effect": "Allow",
			// The program's ECR lookups (the repository data source also reads its tags).
			"Action":   []string{"ecr:DescribeRepositories", "ecr:DescribeImages", "ecr:ListTagsForResource"},
			"Resource": repositoryArn,
		},
		{
			// The program reads the stack's release record.
			"Sid": "ReleaseRecords", "Effect": "Allow", "Action": "ssm:GetParameter",
			"Resource": s.releaseRecords(),
		},
		{
			"Sid": "Clusters", "Effect": "Allow", "Action": "eks:DescribeCluster",
			"Resource": s.regional("eks", "cluster/"+s.Project+"-*"),
		},
	}
	if stateBucketArn != "" {
		sts = append(sts, stateBucketAccess(stateBucketArn, false))
	}
	return document(sts...)
}

// stateBucketAccess reads (and, for the deploy role, writes) Pulumi state.
func stateBucketAccess(bucketArn string, write bool) statement {
	actions := []string{"s3:GetObject", "s3:ListBucket", "s3:GetBucketLocation"}
	if write {
		actions = append(actions, "s3:PutObject", "s3:DeleteObject")
	}
	return statement{"Sid": "PulumiState", "Effect": "Allow", "Action": actions, "Resource": []string{bucketArn, bucketArn + "/*"}}
}

// driftReads are the calls a refresh of the stacks makes: each provider
// reads back every resource it manages (configuration and tags, never data:
// no object, secret value or decryption).
var driftReads = []string{
	"ec2:Describe*",
	"eks:Describe*", "eks:List*",
	"rds:Describe*", "rds:ListTagsForResource",
	"iam:GetRole", "iam:GetRolePolicy", "iam:ListRolePolicies", "iam:ListAttachedRolePolicies",
	"iam:ListInstanceProfilesForRole", "iam:GetOpenIDConnectProvider", "iam:ListOpenIDConnectProviderTags",
	"kms:DescribeKey", "kms:GetKeyPolicy", "kms:GetKeyRotationStatus", "kms:ListResourceTags", "kms:ListAliases",
	"logs:DescribeLogGroups", "logs:ListTagsForResource", "logs:ListTagsLogGroup",
	"codebuild:BatchGetProjects", "codebuild:ListSourceCredentials",
	"secretsmanager:DescribeSecret",
}

// DriftPolicy is the drift role's permissions: what a refresh preview of the
// stacks reads (every resource's configuration, the clusters' endpoints for
// the Kubernetes provider, the state), and nothing that writes or reveals
// data. Its cluster access is view-only (an EKS access entry of the stacks).
func DriftPolicy(s scope, stateBucketArn string) (string, error) {
	buckets := "arn:" + s.Partition + ":s3:::" + s.Project + "-*"
	sts := []statement{
		{"Sid": "RefreshReads", "Effect": "Allow", "Action": driftReads, "Resource": "*"},
		{
			"Sid": "RefreshBuckets", "Effect": "Allow",
			"Action": []string{
				"s3:ListBucket", "s3:GetBucket*", "s3:GetEncryptionConfiguration", "s3:GetLifecycleConfiguration",
				"s3:GetAccelerateConfiguration", "s3:GetReplicationConfiguration",
			},
			"Resource": buckets,
		},
		{
			"Sid": "OnlyThisRegion", "Effect": "Deny",
			"NotAction": []string{"iam:*", "sts:*", "s3:*"},
			"Resource":  "*",
			"Condition": map[string]any{"StringNotEquals": map[string]string{"aws:RequestedRegion": s.Region}},
		},
	}
	if stateBucketArn != "" {
		sts = append(sts, stateBucketAccess(stateBucketArn, false))
	}
	return document(sts...)
}

// StacksProject is the Pulumi project of the gopherops stacks (the name in
// the repository's Pulumi.yaml): the state backend keys its stacks under it.
const StacksProject = "gopherops"

// PRStackPrefix begins the name of every pull-request stack (pr-<number>).
const PRStackPrefix = "pr-"

// PRStateKeys are the keys a pull-request stack's state may take in a Pulumi
// DIY backend (pkg/backend/diy): the checkpoint (pr-N.json, .json.gz,
// .json.bak) and its tags, the update history, the backups, the journal of
// an update in progress, and the lock, which is kept under the stack's
// fully qualified name (organization/<project>/<stack>).
func PRStateKeys(project string) []string {
	stack := PRStackPrefix + "*"
	return []string{
		".pulumi/stacks/" + project + "/" + stack,
		".pulumi/history/" + project + "/" + stack,
		".pulumi/backups/" + project + "/" + stack,
		".pulumi/journal/" + project + "/" + stack,
		".pulumi/locks/organization/" + project + "/" + stack,
	}
}

// prStacksPush are the calls `docker push` makes to put an image into an
// ECR repository.
var prStacksPush = []string{
	"ecr:BatchCheckLayerAvailability", "ecr:InitiateLayerUpload", "ecr:UploadLayerPart",
	"ecr:CompleteLayerUpload", "ecr:PutImage", "ecr:BatchGetImage",
}

// PRStacksPolicy is the pull-request stacks' role's permissions, for
// preview-env.yml and its reaper, which run in an environment any branch
// may use: the endpoint of the one cluster the stacks run on (their
// namespaces there come from its access entry, not from IAM), pushing
// images into their own repository (ECR has no condition key for an
// image's tag, so a role that could push into the release mirror could
// crowd a stack's releases out of its lifecycle rule), and their own
// state backend, only under the pr-* stacks' keys. No IAM, EC2, RDS, KMS,
// SSM or Secrets Manager call, and no other bucket or repository.
func PRStacksPolicy(s scope, cluster, repositoryArn, backendBucketArn string) (string, error) {
	sts := []statement{
		{
			// aws eks update-kubeconfig; the token is a presigned
			// sts:GetCallerIdentity, which needs no permission.
			"Sid": "DevClusterEndpoint", "Effect": "Allow", "Action": "eks:DescribeCluster",
			"Resource": s.regional("eks", "cluster/"+cluster),
		},
		{"Sid": "EcrLogin", "Effect": "Allow", "Action": "ecr:GetAuthorizationToken", "Resource": "*"},
		{"Sid": "PushPullRequestImages", "Effect": "Allow", "Action": prStacksPush, "Resource": repositoryArn},
		{
			"Sid": "OnlyThisRegion", "Effect": "Deny",
			"NotAction": []string{"iam:*", "sts:*", "s3:*"},
			"Resource":  "*",
			"Condition": map[string]any{"StringNotEquals": map[string]string{"aws:RequestedRegion": s.Region}},
		},
	}
	if backendBucketArn != "" {
		objects := []string{backendBucketArn + "/.pulumi/meta.yaml"}
		for _, k := range PRStateKeys(StacksProject) {
			objects = append(objects, backendBucketArn+"/"+k)
		}
		sts = append(sts,
			statement{
				// The backend lists its stacks (admission, the reaper) and
				// tells a missing key from a forbidden one by listing; the
				// bucket holds nothing but pull-request stacks.
				"Sid": "PullRequestStateList", "Effect": "Allow",
				"Action":   []string{"s3:ListBucket", "s3:GetBucketLocation"},
				"Resource": backendBucketArn,
			},
			statement{
				// The backend's version marker (written on first use) and
				// the pr-* stacks' keys, nothing else.
				"Sid": "PullRequestState", "Effect": "Allow",
				"Action":   []string{"s3:GetObject", "s3:PutObject", "s3:DeleteObject"},
				"Resource": objects,
			},
		)
	}
	return document(sts...)
}
