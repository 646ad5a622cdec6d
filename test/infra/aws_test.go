//go:build live

package infra

import (
	"context"
	"encoding/json"
	"net/url"
	"strings"
	"testing"

	awssdk "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/gruntwork-io/terratest/modules/aws"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// validateDatabase checks the RDS instance behind dbEndpoint: PostgreSQL 17,
// encrypted, not publicly accessible, its master password kept by AWS in the
// secret the stack exports.
func validateDatabase(ctx context.Context, t *testing.T, region string, out outputs) {
	id, _, _ := strings.Cut(out.DBEndpoint, ".") // <identifier>.<hash>.<region>.rds.amazonaws.com
	db, err := aws.GetRdsInstanceDetailsContextE(t, ctx, id, region)
	require.NoError(t, err, "describe RDS instance %s", id)

	assert.Equal(t, "postgres", awssdk.ToString(db.Engine))
	assert.True(t, strings.HasPrefix(awssdk.ToString(db.EngineVersion), "17"), "engine version %s", awssdk.ToString(db.EngineVersion))
	assert.True(t, awssdk.ToBool(db.StorageEncrypted), "RDS storage is encrypted")
	assert.False(t, awssdk.ToBool(db.PubliclyAccessible), "RDS is not publicly accessible")
	assert.False(t, awssdk.ToBool(db.DeletionProtection), "a dev stack's database is deletable")
	require.NotNil(t, db.MasterUserSecret, "the master password is managed by AWS in Secrets Manager")
	assert.Equal(t, out.DBSecretArn, awssdk.ToString(db.MasterUserSecret.SecretArn), "dbSecretArn is the RDS-managed secret")

	sm, err := aws.NewSecretsManagerClientContextE(t, ctx, region)
	require.NoError(t, err)
	secret, err := sm.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: awssdk.String(out.DBSecretArn)})
	require.NoError(t, err, "describe the database secret")
	assert.Equal(t, "rds", awssdk.ToString(secret.OwningService), "the secret is owned by RDS, which rotates it")
}

// validateBucket checks the avatar bucket: versioned, encrypted with KMS,
// every public access blocked, owner-enforced, TLS-only.
func validateBucket(ctx context.Context, t *testing.T, region string, out outputs) {
	versioning, err := aws.GetS3BucketVersioningContextE(t, ctx, region, out.BucketName)
	require.NoError(t, err)
	assert.Equal(t, "Enabled", versioning, "bucket versioning")

	assert.NoError(t, aws.AssertS3BucketServerSideEncryptionContextE(t, ctx, region, out.BucketName, s3types.ServerSideEncryptionAwsKms),
		"bucket default encryption is aws:kms")

	client, err := aws.NewS3ClientContextE(t, ctx, region)
	require.NoError(t, err)
	pab, err := client.GetPublicAccessBlock(ctx, &s3.GetPublicAccessBlockInput{Bucket: awssdk.String(out.BucketName)})
	require.NoError(t, err, "the bucket has a public access block")
	c := pab.PublicAccessBlockConfiguration
	require.NotNil(t, c)
	assert.True(t, awssdk.ToBool(c.BlockPublicAcls), "BlockPublicAcls")
	assert.True(t, awssdk.ToBool(c.BlockPublicPolicy), "BlockPublicPolicy")
	assert.True(t, awssdk.ToBool(c.IgnorePublicAcls), "IgnorePublicAcls")
	assert.True(t, awssdk.ToBool(c.RestrictPublicBuckets), "RestrictPublicBuckets")

	ownership, err := aws.GetS3BucketOwnershipControlsContextE(t, ctx, region, out.BucketName)
	require.NoError(t, err)
	assert.Contains(t, ownership, "BucketOwnerEnforced", "ACLs are disabled")

	policy, err := aws.GetS3BucketPolicyContextE(t, ctx, region, out.BucketName)
	require.NoError(t, err, "the bucket has a policy")
	assert.True(t, deniesInsecureTransport(t, policy), "the bucket policy denies requests without TLS:\n%s", policy)
}

// policyDoc is an IAM or bucket policy document.
type policyDoc struct {
	Statement []struct {
		Effect    string         `json:"Effect"`
		Principal any            `json:"Principal"`
		Action    any            `json:"Action"`
		Condition map[string]any `json:"Condition"`
	} `json:"Statement"`
}

func deniesInsecureTransport(t *testing.T, policy string) bool {
	var doc policyDoc
	require.NoError(t, json.Unmarshal([]byte(policy), &doc), "parse the bucket policy")
	for _, s := range doc.Statement {
		if s.Effect != "Deny" {
			continue
		}
		if b, ok := s.Condition["Bool"].(map[string]any); ok && b["aws:SecureTransport"] == "false" {
			return true
		}
	}
	return false
}

// validateIRSA checks the IAM role the ServiceAccount is annotated with: only
// that ServiceAccount of that namespace, through the cluster's OIDC provider
// and for STS, may assume it.
func validateIRSA(ctx context.Context, t *testing.T, region, namespace, roleArn string) {
	require.NotEmpty(t, roleArn, "the ServiceAccount carries eks.amazonaws.com/role-arn")
	name := roleArn[strings.LastIndex(roleArn, "/")+1:]
	client, err := aws.NewIamClientContextE(t, ctx, region)
	require.NoError(t, err)
	role, err := client.GetRole(ctx, &iam.GetRoleInput{RoleName: awssdk.String(name)})
	require.NoError(t, err, "get role %s", name)
	raw, err := url.QueryUnescape(awssdk.ToString(role.Role.AssumeRolePolicyDocument))
	require.NoError(t, err)

	var doc policyDoc
	require.NoError(t, json.Unmarshal([]byte(raw), &doc), "parse the trust policy")
	require.Len(t, doc.Statement, 1, "one trust statement:\n%s", raw)
	s := doc.Statement[0]
	assert.Equal(t, "Allow", s.Effect)
	assert.Equal(t, "sts:AssumeRoleWithWebIdentity", s.Action, "only web identity (IRSA) may assume the role")
	principal, _ := s.Principal.(map[string]any)
	federated, _ := principal["Federated"].(string)
	assert.Contains(t, federated, ":oidc-provider/", "the principal is the cluster's OIDC provider:\n%s", raw)
	assert.Len(t, principal, 1, "no principal but the OIDC provider:\n%s", raw)

	equals, _ := s.Condition["StringEquals"].(map[string]any)
	var sub, aud any
	for k, v := range equals {
		switch {
		case strings.HasSuffix(k, ":sub"):
			sub = v
		case strings.HasSuffix(k, ":aud"):
			aud = v
		}
	}
	assert.Equal(t, "system:serviceaccount:"+namespace+":"+appName, sub, "only the app's ServiceAccount may assume the role:\n%s", raw)
	assert.Equal(t, "sts.amazonaws.com", aud, "the token audience is STS:\n%s", raw)
}
