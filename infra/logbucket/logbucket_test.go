package logbucket_test

import (
	"strings"
	"testing"

	"github.com/gopherops/gopherops/infra/internal/mocks"
	"github.com/gopherops/gopherops/infra/logbucket"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

const (
	tBucket     = "aws:s3/bucketV2:BucketV2"
	tPAB        = "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock"
	tOwnership  = "aws:s3/bucketOwnershipControls:BucketOwnershipControls"
	tSSE        = "aws:s3/bucketServerSideEncryptionConfigurationV2:BucketServerSideEncryptionConfigurationV2"
	tVersioning = "aws:s3/bucketVersioningV2:BucketVersioningV2"
	tLifecycle  = "aws:s3/bucketLifecycleConfigurationV2:BucketLifecycleConfigurationV2"
	tPolicy     = "aws:s3/bucketPolicy:BucketPolicy"
)

// run creates one log bucket under mocks.
func run(t *testing.T, args logbucket.Args) (*mocks.Monitor, error) {
	t.Helper()
	mon := mocks.New()
	err := pulumi.RunErr(func(ctx *pulumi.Context) error {
		_, err := logbucket.New(ctx, "logs", args)
		return err
	}, pulumi.WithMocks("gopherops", "dev", mon))
	return mon, err
}

// policyOf is a bucket policy naming the bucket it was given.
func policyOf(arn pulumi.StringOutput) pulumi.StringOutput {
	return arn.ApplyT(func(a string) string { return `{"Resource":"` + a + `"}` }).(pulumi.StringOutput)
}

// TestLogBucket: every guarantee of a log bucket, for a whole-bucket and a
// prefixed rule, protected or not.
func TestLogBucket(t *testing.T) {
	tests := []struct {
		name string
		args logbucket.Args
	}{
		{"flow logs: the whole bucket, a dev stack", logbucket.Args{RuleID: "expire-flow-logs", ExpireDays: 90, Policy: policyOf, ForceDestroy: true}},
		{"access logs: under a prefix, protected", logbucket.Args{RuleID: "expire-access-logs", Prefix: "s3-access/", ExpireDays: 365, Policy: policyOf, Protect: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mon, err := run(t, tt.args)
			if err != nil {
				t.Fatal(err)
			}
			bucket := mon.Get(tBucket, "logs")
			if bucket == nil {
				t.Fatal("no bucket")
			}
			if v, _ := bucket.Get("forceDestroy"); v != tt.args.ForceDestroy || bucket.Protect != tt.args.Protect {
				t.Errorf("bucket forceDestroy=%v protect=%v, want %v and %v", v, bucket.Protect, tt.args.ForceDestroy, tt.args.Protect)
			}
			pab := mon.Get(tPAB, "logs")
			for _, k := range []string{"blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets"} {
				if v, _ := pab.Get(k); v != true {
					t.Errorf("public access block %s = %v", k, v)
				}
			}
			if got := mon.Get(tOwnership, "logs").Str("rule.objectOwnership"); got != "BucketOwnerEnforced" {
				t.Errorf("ownership %q", got)
			}
			// S3 log delivery writes only into SSE-S3 buckets, not SSE-KMS.
			if got := mon.Get(tSSE, "logs").Str("rules[0].applyServerSideEncryptionByDefault.sseAlgorithm"); got != "AES256" {
				t.Errorf("encryption %q, want AES256", got)
			}
			if got := mon.Get(tVersioning, "logs").Str("versioningConfiguration.status"); got != "Enabled" {
				t.Errorf("versioning %q", got)
			}
			lc := mon.Get(tLifecycle, "logs")
			rule := map[string]any{}
			if v, ok := lc.Get("rules[0]"); ok {
				rule = v.(map[string]any)
			}
			if rule["id"] != tt.args.RuleID || rule["status"] != "Enabled" {
				t.Errorf("lifecycle rule %v", rule)
			}
			if got := lc.Str("rules[0].filter.prefix"); got != tt.args.Prefix {
				t.Errorf("lifecycle prefix %q, want %q", got, tt.args.Prefix)
			}
			if d, _ := lc.Get("rules[0].expiration.days"); d != float64(tt.args.ExpireDays) {
				t.Errorf("expires after %v days, want %d", d, tt.args.ExpireDays)
			}
			if d, _ := lc.Get("rules[0].noncurrentVersionExpiration.noncurrentDays"); d != float64(logbucket.NoncurrentDays) {
				t.Errorf("noncurrent versions kept %v days, want %d", d, logbucket.NoncurrentDays)
			}
			if !lc.ExplicitlyDependsOn(tVersioning, "logs") {
				t.Error("the lifecycle (with a noncurrent-version rule) does not wait for versioning")
			}
			policy := mon.Get(tPolicy, "logs")
			if !strings.Contains(policy.Str("policy"), bucket.Outputs["arn"].StringValue()) {
				t.Errorf("policy %s is not the caller's for the bucket's ARN", policy.Str("policy"))
			}
			if !policy.ExplicitlyDependsOn(tPAB, "logs") {
				t.Error("the bucket policy does not wait for the public access block")
			}
			for _, typ := range []string{tPAB, tOwnership, tSSE, tVersioning, tLifecycle, tPolicy} {
				if r := mon.Get(typ, "logs"); r == nil || !r.DependsOn(tBucket, "logs") || r.Protect {
					t.Errorf("%s: missing, not on the bucket, or protected: %v", typ, r)
				}
			}
		})
	}
}

// TestLogBucketRefusesIncompleteArgs: no bucket without a policy (log
// delivery would be refused, or anyone admitted) or without an expiry.
func TestLogBucketRefusesIncompleteArgs(t *testing.T) {
	for name, args := range map[string]logbucket.Args{
		"no policy":     {RuleID: "x", ExpireDays: 30},
		"expiry 0 days": {RuleID: "x", ExpireDays: 0, Policy: policyOf},
	} {
		t.Run(name, func(t *testing.T) {
			mon, err := run(t, args)
			if err == nil {
				t.Fatal("accepted")
			}
			if len(mon.All()) != 0 {
				t.Errorf("%d resources created before the refusal", len(mon.All()))
			}
		})
	}
}

// TestLogBucketKeepsTheCallersOptions: the caller's parent applies to every
// resource, and its options slice is not written into.
func TestLogBucketKeepsTheCallersOptions(t *testing.T) {
	mon := mocks.New()
	err := pulumi.RunErr(func(ctx *pulumi.Context) error {
		var parent struct{ pulumi.ResourceState }
		if err := ctx.RegisterComponentResource("test:index:Parent", "p", &parent); err != nil {
			return err
		}
		opts := make([]pulumi.ResourceOption, 1, 4)
		opts[0] = pulumi.Parent(&parent)
		if _, err := logbucket.New(ctx, "logs", logbucket.Args{RuleID: "x", ExpireDays: 1, Policy: policyOf}, opts...); err != nil {
			return err
		}
		if spare := opts[:cap(opts)]; spare[1] != nil {
			t.Error("New wrote into the caller's options slice")
		}
		return nil
	}, pulumi.WithMocks("gopherops", "dev", mon))
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range mon.All() {
		if r.Type != "test:index:Parent" && !strings.HasSuffix(r.Parent, "test:index:Parent::p") {
			t.Errorf("%s %s: parent %q", r.Type, r.Name, r.Parent)
		}
	}
}
