package main

import (
	"path"
	"slices"
	"strings"
	"testing"

	"github.com/gopherops/gopherops/infra/internal/stacktest"
)

// refreshReads are, per AWS type the stacks create, the calls the
// provider's read makes when `pulumi refresh` reads the resource back.
var refreshReads = map[string][]string{
	"aws:cloudwatch/logGroup:LogGroup":                                     {"logs:DescribeLogGroups", "logs:ListTagsForResource"},
	"aws:codebuild/project:Project":                                        {"codebuild:BatchGetProjects"},
	"aws:codebuild/sourceCredential:SourceCredential":                      {"codebuild:ListSourceCredentials"},
	"aws:codebuild/webhook:Webhook":                                        {"codebuild:BatchGetProjects"},
	"aws:ec2/defaultSecurityGroup:DefaultSecurityGroup":                    {"ec2:DescribeSecurityGroups"},
	"aws:ec2/eip:Eip":                                                      {"ec2:DescribeAddresses"},
	"aws:ec2/flowLog:FlowLog":                                              {"ec2:DescribeFlowLogs"},
	"aws:ec2/internetGateway:InternetGateway":                              {"ec2:DescribeInternetGateways"},
	"aws:ec2/launchTemplate:LaunchTemplate":                                {"ec2:DescribeLaunchTemplates", "ec2:DescribeLaunchTemplateVersions"},
	"aws:ec2/natGateway:NatGateway":                                        {"ec2:DescribeNatGateways"},
	"aws:ec2/routeTable:RouteTable":                                        {"ec2:DescribeRouteTables"},
	"aws:ec2/routeTableAssociation:RouteTableAssociation":                  {"ec2:DescribeRouteTables"},
	"aws:ec2/securityGroup:SecurityGroup":                                  {"ec2:DescribeSecurityGroups", "ec2:DescribeSecurityGroupRules"},
	"aws:ec2/securityGroupRule:SecurityGroupRule":                          {"ec2:DescribeSecurityGroups", "ec2:DescribeSecurityGroupRules"},
	"aws:ec2/subnet:Subnet":                                                {"ec2:DescribeSubnets"},
	"aws:ec2/vpc:Vpc":                                                      {"ec2:DescribeVpcs", "ec2:DescribeVpcAttribute"},
	"aws:ec2/vpcEndpoint:VpcEndpoint":                                      {"ec2:DescribeVpcEndpoints", "ec2:DescribePrefixLists"},
	"aws:eks/accessEntry:AccessEntry":                                      {"eks:DescribeAccessEntry"},
	"aws:eks/accessPolicyAssociation:AccessPolicyAssociation":              {"eks:ListAssociatedAccessPolicies"},
	"aws:eks/addon:Addon":                                                  {"eks:DescribeAddon"},
	"aws:eks/cluster:Cluster":                                              {"eks:DescribeCluster"},
	"aws:eks/nodeGroup:NodeGroup":                                          {"eks:DescribeNodegroup"},
	"aws:eks/podIdentityAssociation:PodIdentityAssociation":                {"eks:DescribePodIdentityAssociation"},
	"aws:iam/openIdConnectProvider:OpenIdConnectProvider":                  {"iam:GetOpenIDConnectProvider"},
	"aws:iam/role:Role":                                                    {"iam:GetRole", "iam:ListRolePolicies", "iam:ListAttachedRolePolicies"},
	"aws:iam/rolePolicy:RolePolicy":                                        {"iam:GetRolePolicy"},
	"aws:iam/rolePolicyAttachment:RolePolicyAttachment":                    {"iam:ListAttachedRolePolicies"},
	"aws:kms/alias:Alias":                                                  {"kms:ListAliases"},
	"aws:kms/key:Key":                                                      {"kms:DescribeKey", "kms:GetKeyPolicy", "kms:GetKeyRotationStatus", "kms:ListResourceTags"},
	"aws:rds/instance:Instance":                                            {"rds:DescribeDBInstances", "rds:ListTagsForResource"},
	"aws:rds/parameterGroup:ParameterGroup":                                {"rds:DescribeDBParameterGroups", "rds:DescribeDBParameters"},
	"aws:rds/subnetGroup:SubnetGroup":                                      {"rds:DescribeDBSubnetGroups"},
	"aws:s3/bucketLifecycleConfigurationV2:BucketLifecycleConfigurationV2": {"s3:GetLifecycleConfiguration"},
	"aws:s3/bucketLoggingV2:BucketLoggingV2":                               {"s3:GetBucketLogging"},
	"aws:s3/bucketOwnershipControls:BucketOwnershipControls":               {"s3:GetBucketOwnershipControls"},
	"aws:s3/bucketPolicy:BucketPolicy":                                     {"s3:GetBucketPolicy"},
	"aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock":               {"s3:GetBucketPublicAccessBlock"},
	"aws:s3/bucketServerSideEncryptionConfigurationV2:BucketServerSideEncryptionConfigurationV2": {"s3:GetEncryptionConfiguration"},
	"aws:s3/bucketV2:BucketV2":                     {"s3:ListBucket", "s3:GetBucketTagging", "s3:GetBucketPolicy", "s3:GetBucketAcl"},
	"aws:s3/bucketVersioningV2:BucketVersioningV2": {"s3:GetBucketVersioning"},
}

// dataReads are reads that reveal data rather than configuration.
var dataReads = []string{"s3:GetObject", "secretsmanager:GetSecretValue", "kms:Decrypt", "ssm:GetParameter", "logs:GetLogEvents", "logs:FilterLogEvents"}

// allows reports whether the statements allow action on a resource of the
// project (the names the stacks create start with the project's prefix).
func allows(sts []map[string]any, action string) bool {
	for _, st := range sts {
		if st["Effect"] != "Allow" {
			continue
		}
		for _, a := range list(st["Action"]) {
			if ok, _ := path.Match(strings.ToLower(a), strings.ToLower(action)); ok {
				return true
			}
		}
	}
	return false
}

// TestDriftPolicyReadsWhatRefreshNeeds: the drift role can read back every
// AWS resource the dev and prod stacks create, and the state.
func TestDriftPolicyReadsWhatRefreshNeeds(t *testing.T) {
	mon := run(t, testConfig())
	sts := doc(t, mon.Get("aws:iam/rolePolicy:RolePolicy", "drift"), "policy")
	for _, stack := range []string{"dev", "prod"} {
		res, err := stacktest.Run(stack, nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, reg := range res.Monitor.All() {
			if !strings.HasPrefix(reg.Type, "aws:") {
				continue
			}
			needs, ok := refreshReads[reg.Type]
			if !ok {
				t.Errorf("%s creates %s: add the calls its refresh makes to refreshReads (and to the drift role if missing)", stack, reg.Type)
				continue
			}
			for _, a := range needs {
				if !allows(sts, a) {
					t.Errorf("the drift role cannot %s, which refreshing %s needs", a, reg.Type)
				}
			}
		}
	}
	for _, a := range []string{"s3:GetObject", "s3:ListBucket", "eks:DescribeCluster"} {
		if !allows(sts, a) {
			t.Errorf("the drift role cannot %s (state, cluster endpoint)", a)
		}
	}
}

// TestDriftPolicyIsReadOnly: the drift role changes nothing and reads no
// data: only Describe, Get, List and BatchGet calls, none of them a data
// read, and the one object read is confined to the state bucket.
func TestDriftPolicyIsReadOnly(t *testing.T) {
	mon := run(t, testConfig())
	for _, st := range doc(t, mon.Get("aws:iam/rolePolicy:RolePolicy", "drift"), "policy") {
		if st["Effect"] == "Deny" {
			continue
		}
		for _, a := range list(st["Action"]) {
			verb := a[strings.Index(a, ":")+1:]
			read := false
			for _, prefix := range []string{"Describe", "Get", "List", "BatchGet"} {
				read = read || strings.HasPrefix(verb, prefix)
			}
			if !read {
				t.Errorf("%v: the drift role may %s", st["Sid"], a)
			}
			for _, data := range dataReads {
				if ok, _ := path.Match(strings.ToLower(a), strings.ToLower(data)); ok && st["Sid"] != "PulumiState" {
					t.Errorf("%v: the drift role may %s, which reads data", st["Sid"], a)
				}
			}
		}
		if st["Sid"] == "PulumiState" && !slices.Equal(list(st["Resource"]), []string{
			"arn:aws:s3:::gopherops-pulumi-state-4f3e2d1", "arn:aws:s3:::gopherops-pulumi-state-4f3e2d1/*"}) {
			t.Errorf("state access reaches %v", st["Resource"])
		}
	}
}
