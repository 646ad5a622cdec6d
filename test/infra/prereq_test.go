//go:build live

package infra

import (
	"context"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/gruntwork-io/terratest/modules/aws"
)

// liveEnv is what the environment says about the run.
type liveEnv struct {
	// Region is the AWS region to deploy to.
	Region string
	// Account is the AWS account ID the credentials belong to.
	Account string
	// Principal is the IAM role or user ARN running the suite (it gets an
	// operator access entry on the throwaway cluster).
	Principal string
	// ImageDigest is a GHCR release to mirror into ECR for the stack; empty
	// means the release the dev stack's ECR tag points at.
	ImageDigest string
	// ImageSource is the GHCR repository the release is copied from.
	ImageSource string
}

// Names the bootstrap project (infra/bootstrap) gives what the stacks use.
const (
	deployRole    = "gopherops-deploy"
	previewRole   = "gopherops-preview"
	ecrRepository = "gopherops"
)

// roleArn is a role of the account.
func (e liveEnv) roleArn(name string) string { return "arn:aws:iam::" + e.Account + ":role/" + name }

// ecrRepository is the bootstrap project's mirror in the run's region.
func (e liveEnv) ecrRepository() string {
	return e.Account + ".dkr.ecr." + e.Region + ".amazonaws.com/" + ecrRepository
}

var digestPattern = regexp.MustCompile(`^sha256:[0-9a-f]{64}$`)

// principalArn turns an STS session ARN into the IAM role ARN access entries
// name (arn:aws:sts::1:assumed-role/R/s → arn:aws:iam::1:role/R).
func principalArn(caller string) string {
	parts := strings.SplitN(caller, ":", 6)
	if len(parts) != 6 || parts[2] != "sts" || !strings.HasPrefix(parts[5], "assumed-role/") {
		return caller
	}
	role, _, _ := strings.Cut(strings.TrimPrefix(parts[5], "assumed-role/"), "/")
	return "arn:" + parts[1] + ":iam::" + parts[4] + ":role/" + role
}

// how tells the reader of a skip message how to run the suite.
const how = "export AWS credentials (aws configure, aws sso login, or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY), " +
	"then run `GOPHEROPS_LIVE=1 make test-live`. It deploys a throwaway stack to AWS for about 45 minutes " +
	"(roughly US$0.50, see test/infra/README.md) and destroys it"

// requireLive skips the suite unless GOPHEROPS_LIVE=1 and AWS credentials are
// present; once the user has opted in, a missing tool or an unusable
// credential fails the test instead, so a broken setup never looks green.
func requireLive(t *testing.T) liveEnv {
	t.Helper()
	if os.Getenv("GOPHEROPS_LIVE") != "1" {
		t.Skipf("live suite skipped: GOPHEROPS_LIVE is not 1. To run it, %s", how)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cfg, err := awsconfig.LoadDefaultConfig(ctx)
	if err != nil {
		t.Skipf("live suite skipped: cannot load an AWS configuration (%v). To run it, %s", err, how)
	}
	if _, err := cfg.Credentials.Retrieve(ctx); err != nil {
		t.Skipf("live suite skipped: GOPHEROPS_LIVE=1 but no AWS credentials were found (%v). To run it, %s", err, how)
	}

	for _, tool := range []struct{ name, why string }{
		{"pulumi", "the Automation API drives the Pulumi CLI (https://www.pulumi.com/docs/install/)"},
		{"aws", "the stack's kubeconfig authenticates with `aws eks get-token` (AWS CLI v2)"},
		{"go", "Pulumi builds the Go program in infra/"},
	} {
		if _, err := exec.LookPath(tool.name); err != nil {
			t.Fatalf("live suite: %s is not on PATH: %s", tool.name, tool.why)
		}
	}
	if out, err := exec.CommandContext(ctx, "pulumi", "whoami").CombinedOutput(); err != nil {
		t.Fatalf("live suite: `pulumi whoami` failed (%s): log in to a state backend first: `pulumi login` (Pulumi Cloud, or set PULUMI_ACCESS_TOKEN), "+
			"or `pulumi login s3://<bucket>` / `pulumi login --local` with PULUMI_CONFIG_PASSPHRASE set", strings.TrimSpace(string(out)))
	}

	account, err := aws.GetAccountIDContextE(t, ctx)
	if err != nil {
		t.Fatalf("live suite: the AWS credentials do not work (sts:GetCallerIdentity: %v)", err)
	}
	region := firstNonEmpty(os.Getenv("AWS_REGION"), os.Getenv("AWS_DEFAULT_REGION"), cfg.Region)
	caller, err := exec.CommandContext(ctx, "aws", "sts", "get-caller-identity", "--query", "Arn", "--output", "text").Output()
	if err != nil {
		t.Fatalf("live suite: aws sts get-caller-identity: %v", err)
	}
	digest := os.Getenv("GOPHEROPS_LIVE_IMAGE_DIGEST")
	if digest != "" {
		if !digestPattern.MatchString(digest) {
			t.Fatalf("live suite: GOPHEROPS_LIVE_IMAGE_DIGEST must be the sha256:<64 hex> digest of a release in GHCR, got %q", digest)
		}
		if _, err := exec.LookPath("crane"); err != nil {
			t.Fatalf("live suite: crane is not on PATH: it mirrors GOPHEROPS_LIVE_IMAGE_DIGEST from GHCR into ECR as deploy.yml does " +
				"(go install github.com/google/go-containerregistry/cmd/crane@v0.22.1)")
		}
	}
	return liveEnv{
		Region:      region,
		Account:     account,
		Principal:   principalArn(strings.TrimSpace(string(caller))),
		ImageDigest: digest,
		ImageSource: firstNonEmpty(os.Getenv("GOPHEROPS_LIVE_IMAGE_SOURCE"), "ghcr.io/gopherops/gopherops"),
	}
}

func firstNonEmpty(vals ...string) string {
	for _, v := range vals {
		if v != "" {
			return v
		}
	}
	return ""
}
