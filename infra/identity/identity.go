// Package identity provisions the IAM role the GopherOps ServiceAccount assumes
// through IRSA: trusted only by that one ServiceAccount via the cluster's OIDC
// provider, and allowed only the avatar objects and the database secret.
package identity

import (
	"encoding/json"
	"fmt"

	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/iam"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// Args configures the Identity component.
type Args struct {
	// OIDCProviderArn is the cluster's IAM OIDC provider.
	OIDCProviderArn pulumi.StringInput
	// OIDCIssuer is the provider's issuer without "https://".
	OIDCIssuer pulumi.StringInput
	// Namespace and ServiceAccount name the only identity allowed to assume the role.
	Namespace      string
	ServiceAccount string
	// BucketArn and Prefix scope the object permissions.
	BucketArn pulumi.StringInput
	Prefix    string
	// DatabaseSecretArn is the one secret the service may read.
	DatabaseSecretArn pulumi.StringInput
}

// Identity is the service's IRSA role and its inline policy.
type Identity struct {
	pulumi.ResourceState

	Role   *iam.Role
	Policy *iam.RolePolicy

	// RoleArn goes into the ServiceAccount's eks.amazonaws.com/role-arn annotation.
	RoleArn pulumi.StringOutput
}

// New creates the Identity component and its children.
func New(ctx *pulumi.Context, name string, args Args, opts ...pulumi.ResourceOption) (*Identity, error) {
	id := &Identity{}
	if err := ctx.RegisterComponentResource("gopherops:infra:Identity", name, id, opts...); err != nil {
		return nil, fmt.Errorf("identity: register component: %w", err)
	}
	parent := pulumi.Parent(id)
	var err error

	trust := pulumi.All(args.OIDCProviderArn, args.OIDCIssuer).ApplyT(func(v []any) (string, error) {
		return TrustPolicy(v[0].(string), v[1].(string), args.Namespace, args.ServiceAccount)
	}).(pulumi.StringOutput)
	id.Role, err = iam.NewRole(ctx, name, &iam.RoleArgs{
		Description:      pulumi.String(fmt.Sprintf("IRSA role of %s/%s", args.Namespace, args.ServiceAccount)),
		AssumeRolePolicy: trust,
	}, parent)
	if err != nil {
		return nil, fmt.Errorf("identity: role: %w", err)
	}

	policy := pulumi.All(args.BucketArn, args.DatabaseSecretArn).ApplyT(func(v []any) (string, error) {
		return AccessPolicy(v[0].(string), args.Prefix, v[1].(string))
	}).(pulumi.StringOutput)
	id.Policy, err = iam.NewRolePolicy(ctx, name, &iam.RolePolicyArgs{
		Role:   id.Role.Name,
		Policy: policy,
	}, parent)
	if err != nil {
		return nil, fmt.Errorf("identity: policy: %w", err)
	}

	id.RoleArn = id.Role.Arn
	if err := ctx.RegisterResourceOutputs(id, pulumi.Map{"roleArn": id.RoleArn}); err != nil {
		return nil, fmt.Errorf("identity: register outputs: %w", err)
	}
	return id, nil
}

// TrustPolicy lets exactly one ServiceAccount assume the role with a token
// whose audience is STS.
func TrustPolicy(providerArn, issuer, namespace, serviceAccount string) (string, error) {
	return marshal(map[string]any{
		"Version": "2012-10-17",
		"Statement": []map[string]any{{
			"Effect":    "Allow",
			"Principal": map[string]any{"Federated": providerArn},
			"Action":    "sts:AssumeRoleWithWebIdentity",
			"Condition": map[string]any{
				"StringEquals": map[string]string{
					issuer + ":sub": "system:serviceaccount:" + namespace + ":" + serviceAccount,
					issuer + ":aud": "sts.amazonaws.com",
				},
			},
		}},
	})
}

// AccessPolicy allows the object actions under one bucket prefix, listing of
// that prefix only, and reading of one secret.
func AccessPolicy(bucketArn, prefix, secretArn string) (string, error) {
	return marshal(map[string]any{
		"Version": "2012-10-17",
		"Statement": []map[string]any{
			{
				"Sid":      "AvatarObjects",
				"Effect":   "Allow",
				"Action":   []string{"s3:GetObject", "s3:PutObject", "s3:DeleteObject"},
				"Resource": bucketArn + "/" + prefix + "/*",
			},
			{
				"Sid":       "ListAvatarPrefix",
				"Effect":    "Allow",
				"Action":    "s3:ListBucket",
				"Resource":  bucketArn,
				"Condition": map[string]any{"StringLike": map[string]any{"s3:prefix": []string{prefix + "/*"}}},
			},
			{
				"Sid":      "DatabaseCredentials",
				"Effect":   "Allow",
				"Action":   []string{"secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"},
				"Resource": secretArn,
			},
		},
	})
}

func marshal(doc map[string]any) (string, error) {
	b, err := json.Marshal(doc)
	if err != nil {
		return "", fmt.Errorf("identity: policy document: %w", err)
	}
	return string(b), nil
}
