package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/gopherops/gopherops/infra/config"
	"github.com/gopherops/gopherops/infra/internal/mocks"
	"github.com/gopherops/gopherops/infra/internal/stacktest"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"gopkg.in/yaml.v3"
)

func testConfig() bootstrapConfig {
	c := bootstrapConfig{
		Region: "us-east-1", GitHubRepository: "gopherops/gopherops", CreateOIDCProvider: true, StateBucket: true,
		GitHubProtection: true, ProdReviewers: []string{"alice", "gopherops/platform"}, MainApprovals: 1,
	}
	c.defaults()
	return c
}

// GitHub ids of the reviewers testConfig names, as the mocked GitHub has them.
const (
	aliceID    = 1001
	platformID = 2002
)

// monitor is a mock monitor whose GitHub knows testConfig's reviewers.
func monitor() *mocks.Monitor {
	mon := mocks.New()
	mon.GitHubUsers["alice"] = aliceID
	mon.GitHubTeams["platform"] = platformID
	return mon
}

// run deploys the bootstrap program under the mock monitor.
func run(t *testing.T, cfg bootstrapConfig) *mocks.Monitor {
	t.Helper()
	mon := monitor()
	if err := runOn(mon, cfg); err != nil {
		t.Fatalf("deploy: %v", err)
	}
	return mon
}

// runOn deploys the bootstrap program under mon.
func runOn(mon *mocks.Monitor, cfg bootstrapConfig) error {
	return pulumi.RunErr(func(ctx *pulumi.Context) error {
		_, err := deploy(ctx, cfg)
		return err
	}, pulumi.WithMocks("gopherops-bootstrap", "account", mon))
}

func doc(t *testing.T, reg *mocks.Registration, key string) []map[string]any {
	t.Helper()
	var d struct {
		Statement []map[string]any
	}
	if reg == nil {
		t.Fatalf("missing registration for %s", key)
	}
	if err := json.Unmarshal([]byte(reg.Str(key)), &d); err != nil {
		t.Fatalf("%s %s: %v", reg, key, err)
	}
	return d.Statement
}

func list(v any) []string {
	switch x := v.(type) {
	case string:
		return []string{x}
	case []any:
		out := make([]string, 0, len(x))
		for _, e := range x {
			s, _ := e.(string)
			out = append(out, s)
		}
		return out
	}
	return nil
}

// TestRolesTrustOnlyTheirJobs: the deploy role is assumable only by jobs in
// the repository's deploy environments (never preview, which any branch may
// use), the pull-request stacks' role only in preview, the preview role
// only by its pull requests, all through GitHub's OIDC provider with the
// STS audience.
func TestRolesTrustOnlyTheirJobs(t *testing.T) {
	mon := run(t, testConfig())
	provider := mon.Get("aws:iam/openIdConnectProvider:OpenIdConnectProvider", "github-actions")
	if provider == nil || provider.Str("url") != "https://"+GitHubOIDCHost || !provider.Protect {
		t.Fatalf("GitHub OIDC provider = %v", provider)
	}
	cases := map[string][]string{
		// Not preview: any branch may run a job there (issue 18's hole).
		"deploy": {"repo:gopherops/gopherops:environment:dev", "repo:gopherops/gopherops:environment:prod",
			"repo:gopherops/gopherops:environment:nightly"},
		"pr-stacks": {"repo:gopherops/gopherops:environment:preview"},
		"preview":   {"repo:gopherops/gopherops:pull_request"},
		"drift":     {"repo:gopherops/gopherops:environment:drift"},
	}
	for name, subjects := range cases {
		role := mon.Get("aws:iam/role:Role", name)
		if role == nil || role.Str("name") != "gopherops-"+name {
			t.Fatalf("role %s = %v, want the fixed name the stacks use", name, role)
		}
		sts := doc(t, role, "assumeRolePolicy")
		if len(sts) != 1 {
			t.Fatalf("%s trust has %d statements", name, len(sts))
		}
		fed, _ := mocks.Walk(sts[0], "Principal.Federated")
		if fed != provider.Outputs["arn"].StringValue() || sts[0]["Action"] != "sts:AssumeRoleWithWebIdentity" {
			t.Errorf("%s trust = %v", name, sts[0])
		}
		eq, _ := mocks.Walk(sts[0], "Condition.StringEquals")
		m, _ := eq.(map[string]any)
		if got := list(m[GitHubOIDCHost+":sub"]); !slices.Equal(got, subjects) || m[GitHubOIDCHost+":aud"] != "sts.amazonaws.com" {
			t.Errorf("%s trust conditions = %v, want subjects %v", name, m, subjects)
		}
		if c, _ := sts[0]["Condition"].(map[string]any); len(c) != 1 {
			t.Errorf("%s trust has wildcard operators: %v", name, c)
		}
	}
}

// TestDeployPolicyIsScoped: every write is limited to the project's names,
// tags, repository or region; roles are passed only to the services that use
// them; the RDS-managed secret and PassRole, missing from the old prose
// list, are there.
func TestDeployPolicyIsScoped(t *testing.T) {
	mon := run(t, testConfig())
	sts := doc(t, mon.Get("aws:iam/rolePolicy:RolePolicy", "deploy"), "policy")
	actions := map[string]bool{}
	for _, st := range sts {
		if st["Effect"] == "Deny" {
			continue
		}
		res := list(st["Resource"])
		for _, a := range list(st["Action"]) {
			actions[a] = true
			if a == "*" || strings.HasSuffix(a, ":*") {
				t.Errorf("%v allows every action of a service: %s", st["Sid"], a)
			}
			read := strings.Contains(a, ":Describe") || strings.Contains(a, ":List") || strings.Contains(a, ":Get") ||
				a == "ecr:GetAuthorizationToken" || a == "codebuild:BatchGetProjects"
			if !read && slices.Contains(res, "*") && st["Condition"] == nil {
				t.Errorf("%v allows %s on every resource without a condition", st["Sid"], a)
			}
		}
		for _, r := range res {
			if r != "*" && !strings.Contains(r, "gopherops") && !strings.Contains(r, ":123456789012:") {
				t.Errorf("%v reaches %s outside the project", st["Sid"], r)
			}
		}
		if slices.Contains(list(st["Action"]), "iam:PassRole") {
			svc, _ := mocks.Walk(st, "Condition.StringEquals")
			if !strings.Contains(list(st["Resource"])[0], "role/gopherops-") || svc == nil {
				t.Errorf("PassRole is not scoped: %v", st)
			}
		}
	}
	for _, need := range []string{"iam:PassRole", "secretsmanager:CreateSecret", "secretsmanager:TagResource", "eks:CreateAccessEntry",
		"eks:AssociateAccessPolicy", "ecr:PutImage", "logs:PutRetentionPolicy", "ec2:CreateFlowLogs", "codebuild:CreateWebhook", "s3:PutObject"} {
		if !actions[need] {
			t.Errorf("the deploy role lacks %s", need)
		}
	}
	deny := false
	for _, st := range sts {
		if st["Effect"] == "Deny" && strings.Contains(fmtAny(st["Condition"]), "aws:RequestedRegion") {
			deny = true
		}
	}
	if !deny {
		t.Error("the deploy role may act in every region")
	}
}

// TestPreviewPolicyIsReadOnly: the preview role changes nothing.
func TestPreviewPolicyIsReadOnly(t *testing.T) {
	mon := run(t, testConfig())
	for _, st := range doc(t, mon.Get("aws:iam/rolePolicy:RolePolicy", "preview"), "policy") {
		for _, a := range list(st["Action"]) {
			verb := a[strings.Index(a, ":")+1:]
			if !strings.HasPrefix(verb, "Describe") && !strings.HasPrefix(verb, "Get") && !strings.HasPrefix(verb, "List") {
				t.Errorf("preview may %s", a)
			}
		}
	}
}

// TestMirrorAndState: the ECR mirror scans and encrypts, and is protected;
// the optional state bucket is private, versioned, TLS-only and protected.
func TestMirrorAndState(t *testing.T) {
	mon := run(t, testConfig())
	repo := mon.Get("aws:ecr/repository:Repository", "mirror")
	if repo == nil || !repo.Protect || repo.Str("name") != "gopherops" {
		t.Fatalf("ECR mirror = %v", repo)
	}
	if v, _ := repo.Get("imageScanningConfiguration.scanOnPush"); v != true {
		t.Error("the mirror does not scan on push")
	}
	if v := repo.Str("imageTagMutability"); v != "IMMUTABLE" {
		t.Errorf("the mirror's tags are %s: a moved tag can swap what a stack runs (AWS FSBP ECR.2)", v)
	}
	bucket := mon.Get("aws:s3/bucketV2:BucketV2", "gopherops-pulumi-state")
	if bucket == nil || !bucket.Protect {
		t.Fatalf("state bucket = %v", bucket)
	}
	if mon.Get("aws:s3/bucketVersioningV2:BucketVersioningV2", "gopherops-pulumi-state") == nil ||
		mon.Get("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock", "gopherops-pulumi-state") == nil ||
		!strings.Contains(mon.Get("aws:s3/bucketPolicy:BucketPolicy", "gopherops-pulumi-state").Str("policy"), "aws:SecureTransport") {
		t.Error("state bucket lacks versioning, its public access block or the TLS-only policy")
	}

	cfg := testConfig()
	cfg.StateBucket, cfg.CreateOIDCProvider = false, false
	mon = run(t, cfg)
	if len(mon.ByType("aws:s3/bucketV2:BucketV2")) != 0 || len(mon.ByType("aws:iam/openIdConnectProvider:OpenIdConnectProvider")) != 0 {
		t.Error("state bucket or OIDC provider created although switched off")
	}
}

func TestConfigValidation(t *testing.T) {
	cases := map[string]func(*bootstrapConfig){
		"githubRepository": func(c *bootstrapConfig) { c.GitHubRepository = "not a repo" },
		"prodReviewers":    func(c *bootstrapConfig) { c.ProdReviewers = nil },
		"mainApprovals":    func(c *bootstrapConfig) { c.MainApprovals = 7 },
		"previewRoleName":  func(c *bootstrapConfig) { c.PreviewRoleName = c.DeployRoleName },
		"driftRoleName":    func(c *bootstrapConfig) { c.DriftRoleName = c.PreviewRoleName },
		"prStacksRoleName": func(c *bootstrapConfig) { c.PRStacksRoleName = c.DeployRoleName },
		"prStacksCluster":  func(c *bootstrapConfig) { c.PRStacksCluster = "dev cluster" },
		"aws:region":       func(c *bootstrapConfig) { c.Region = "" },
	}
	for key, mutate := range cases {
		t.Run(key, func(t *testing.T) {
			c := testConfig()
			mutate(&c)
			if err := c.validate(); err == nil || !strings.Contains(err.Error(), key) {
				t.Errorf("err = %v, want one naming %s", err, key)
			}
		})
	}
	if err := testConfig().validate(); err != nil {
		t.Errorf("valid config refused: %v", err)
	}
}

func fmtAny(v any) string { b, _ := json.Marshal(v); return string(b) }

// TestMirrorKeepsWhatStacksRun: the lifecycle policy gives each stack's
// releases (<stack>-<digest> tags) a rule of their own, ahead of the rule
// that expires everything else, so a busy dev never expires prod's release
// and a stack's current release is among its most recent.
func TestMirrorKeepsWhatStacksRun(t *testing.T) {
	mon := run(t, testConfig())
	pol := mon.Get("aws:ecr/lifecyclePolicy:LifecyclePolicy", "mirror")
	if pol == nil {
		t.Fatal("no lifecycle policy on the mirror")
	}
	var doc struct {
		Rules []struct {
			RulePriority int
			Selection    struct {
				TagStatus     string
				TagPrefixList []string
				CountType     string
				CountNumber   int
			}
			Action struct{ Type string }
		}
	}
	if err := json.Unmarshal([]byte(pol.Str("policy")), &doc); err != nil {
		t.Fatal(err)
	}
	stacks := EnvironmentsOf(DeployRole)
	if len(doc.Rules) != len(stacks)+1 {
		t.Fatalf("%d rules, want one per stack and one for the rest", len(doc.Rules))
	}
	last := doc.Rules[len(doc.Rules)-1]
	for i, env := range stacks {
		r := doc.Rules[i]
		if r.Selection.TagStatus != "tagged" || !slices.Equal(r.Selection.TagPrefixList, []string{env + "-"}) ||
			r.Selection.CountType != "imageCountMoreThan" || r.Selection.CountNumber != KeptReleases {
			t.Errorf("rule %d = %+v, want the %d most recent %s- releases kept", i, r, KeptReleases, env)
		}
		if r.RulePriority >= last.RulePriority {
			t.Errorf("the %s rule (priority %d) does not come before the catch-all (%d)", env, r.RulePriority, last.RulePriority)
		}
	}
	if last.Selection.TagStatus != "any" || last.Selection.CountType != "sinceImagePushed" || last.Action.Type != "expire" {
		t.Errorf("catch-all rule = %+v", last)
	}
}

// TestStacksNameWhatTheBootstrapMakes: the role and mirror names the
// committed stacks use by default are the ones the bootstrap creates by
// default. Each side has its own default (the stacks read them as
// settings); this keeps the two from drifting apart.
func TestStacksNameWhatTheBootstrapMakes(t *testing.T) {
	boot := testConfig()
	for _, stack := range []string{"dev", "prod"} {
		values, _, err := stacktest.StackConfig(stack, nil)
		if err != nil {
			t.Fatal(err)
		}
		cfg, err := config.Parse(config.FromMap(values), "gopherops", stack)
		if err != nil {
			t.Fatalf("%s: %v", stack, err)
		}
		for _, c := range []struct{ setting, stacks, bootstrap string }{
			{"deployRoleName", cfg.Access.DeployRoleName, boot.DeployRoleName},
			{"previewRoleName", cfg.Access.PreviewRoleName, boot.PreviewRoleName},
			{"driftRoleName", cfg.Access.DriftRoleName, boot.DriftRoleName},
			{"prStacksRoleName", cfg.Access.PRStacksRoleName, boot.PRStacksRoleName},
			{"ecrRepository", cfg.App.ECRRepository, boot.ECRRepository},
		} {
			if c.stacks != c.bootstrap {
				t.Errorf("%s: %s is %q, the bootstrap's %q", stack, c.setting, c.stacks, c.bootstrap)
			}
		}
	}
}

// TestPRStacksPolicy: the role any branch's pull request can hold reaches
// the pull-request stacks and nothing else: the dev cluster's endpoint
// only, pushes to its own repository only, and state only under the pr-*
// stacks' keys of its own bucket; no IAM, no other service's writes.
func TestPRStacksPolicy(t *testing.T) {
	mon := run(t, testConfig())
	reg := mon.Get("aws:iam/rolePolicy:RolePolicy", PRStacksRole.Name)
	if reg == nil {
		t.Fatal("no policy on the pull-request stacks' role")
	}
	policy := iamPolicy(doc(t, reg, "policy"))
	repo := mon.Get("aws:ecr/repository:Repository", "pr-stacks").Outputs["arn"].StringValue()
	mirror := mon.Get("aws:ecr/repository:Repository", "mirror").Outputs["arn"].StringValue()
	bucket := "arn:aws:s3:::" + mon.Get("aws:s3/bucketV2:BucketV2", "gopherops-pulumi-pr-stacks").Outputs["bucket"].StringValue()
	shared := "arn:aws:s3:::" + mon.Get("aws:s3/bucketV2:BucketV2", "gopherops-pulumi-state").Outputs["bucket"].StringValue()
	eks := func(r string) string { return "arn:aws:eks:us-east-1:" + mocks.AccountID + ":" + r }
	cases := []struct {
		name, action, resource string
		allowed                bool
	}{
		{"the dev cluster's endpoint", "eks:DescribeCluster", eks("cluster/gopherops-dev"), true},
		{"not prod's endpoint", "eks:DescribeCluster", eks("cluster/gopherops-prod"), false},
		{"no access entry of its own making", "eks:CreateAccessEntry", eks("cluster/gopherops-dev"), false},
		{"no cluster change", "eks:UpdateClusterConfig", eks("cluster/gopherops-dev"), false},
		{"ECR login", "ecr:GetAuthorizationToken", "*", true},
		{"push to its repository", "ecr:PutImage", repo, true},
		{"upload layers to its repository", "ecr:UploadLayerPart", repo, true},
		{"no push into the release mirror", "ecr:PutImage", mirror, false},
		{"no upload into the release mirror", "ecr:InitiateLayerUpload", mirror, false},
		{"no image deleted", "ecr:BatchDeleteImage", repo, false},
		{"its backend's version marker", "s3:GetObject", bucket + "/.pulumi/meta.yaml", true},
		{"a pr stack's checkpoint", "s3:PutObject", bucket + "/.pulumi/stacks/gopherops/pr-12.json", true},
		{"a pr stack's gzipped checkpoint", "s3:GetObject", bucket + "/.pulumi/stacks/gopherops/pr-12.json.gz", true},
		{"a pr stack's history", "s3:PutObject", bucket + "/.pulumi/history/gopherops/pr-12/pr-12-1700000000.history.json", true},
		{"a pr stack's backup", "s3:PutObject", bucket + "/.pulumi/backups/gopherops/pr-12/pr-12.1700000000.json", true},
		{"a pr stack's lock", "s3:DeleteObject", bucket + "/.pulumi/locks/organization/gopherops/pr-12/abc.json", true},
		{"listing its backend", "s3:ListBucket", bucket, true},
		{"not a dev stack in its backend", "s3:PutObject", bucket + "/.pulumi/stacks/gopherops/dev.json", false},
		{"not prod's lock in its backend", "s3:PutObject", bucket + "/.pulumi/locks/organization/gopherops/prod/x.json", false},
		{"not prod's state", "s3:GetObject", shared + "/.pulumi/stacks/gopherops/prod.json", false},
		{"not dev's state", "s3:PutObject", shared + "/.pulumi/stacks/gopherops/dev.json", false},
		{"not even a pr stack in the shared backend", "s3:GetObject", shared + "/.pulumi/stacks/gopherops/pr-12.json", false},
		{"not the shared backend's listing", "s3:ListBucket", shared, false},
		{"no release record", "ssm:GetParameter", "arn:aws:ssm:us-east-1:" + mocks.AccountID + ":parameter/gopherops/prod/release", false},
		{"no release record written", "ssm:PutParameter", "arn:aws:ssm:us-east-1:" + mocks.AccountID + ":parameter/gopherops/dev/release", false},
		{"no role", "iam:CreateRole", "arn:aws:iam::" + mocks.AccountID + ":role/gopherops-x", false},
		{"no policy on itself", "iam:PutRolePolicy", "arn:aws:iam::" + mocks.AccountID + ":role/gopherops-pr-stacks", false},
		{"no role passed", "iam:PassRole", "arn:aws:iam::" + mocks.AccountID + ":role/gopherops-dev-app", false},
		{"no database", "rds:DeleteDBInstance", "arn:aws:rds:us-east-1:" + mocks.AccountID + ":db:gopherops-prod", false},
		{"no network change", "ec2:AuthorizeSecurityGroupIngress", "*", false},
		{"no secret", "secretsmanager:GetSecretValue", "*", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := policy.allows(c.action, c.resource); got != c.allowed {
				t.Errorf("%s on %s: allowed %v, want %v", c.action, c.resource, got, c.allowed)
			}
		})
	}
	for _, st := range policy {
		if st["Effect"] != "Allow" {
			continue
		}
		for _, a := range list(st["Action"]) {
			if strings.HasPrefix(a, "iam:") || a == "*" || strings.HasSuffix(a, ":*") {
				t.Errorf("%v allows %s", st["Sid"], a)
			}
			if slices.Contains(list(st["Resource"]), "*") && a != "ecr:GetAuthorizationToken" {
				t.Errorf("%v allows %s on every resource", st["Sid"], a)
			}
		}
		for _, r := range list(st["Resource"]) {
			if strings.Contains(r, ":cluster/") && r != eks("cluster/gopherops-dev") {
				t.Errorf("%v reaches cluster %s, not only the dev cluster", st["Sid"], r)
			}
			if strings.HasPrefix(r, "arn:aws:s3:::") && !strings.HasPrefix(r, bucket) {
				t.Errorf("%v reaches bucket %s, not only the pull-request stacks' own", st["Sid"], r)
			}
			if k, ok := strings.CutPrefix(r, bucket+"/"); ok && k != ".pulumi/meta.yaml" &&
				!slices.ContainsFunc(PRStateKeys(StacksProject), func(p string) bool { return k == p }) {
				t.Errorf("%v reaches state key %s, no pr-* stack's", st["Sid"], k)
			}
		}
	}
}

// TestPRStateKeysAreThoseOfTheStacksProject: the state keys the role may
// write are under the Pulumi project the stacks belong to (Pulumi.yaml's
// name), or the role could write none of the pull-request stacks' state.
func TestPRStateKeysAreThoseOfTheStacksProject(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join(repoRoot, "Pulumi.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var project struct{ Name string }
	if err := yaml.Unmarshal(raw, &project); err != nil {
		t.Fatal(err)
	}
	if project.Name != StacksProject {
		t.Errorf("Pulumi.yaml names project %q, the role's state keys are under %q", project.Name, StacksProject)
	}
}

// TestPRStacksOwnRepositoryAndBackend: the pull-request stacks get their
// own repository, whose images all expire, and their own protected,
// private, versioned state bucket; without state buckets, the role gets no
// S3 access at all.
func TestPRStacksOwnRepositoryAndBackend(t *testing.T) {
	mon := run(t, testConfig())
	repo := mon.Get("aws:ecr/repository:Repository", "pr-stacks")
	if repo == nil || repo.Str("name") != "gopherops-pr-stacks" || repo.Str("imageTagMutability") != "IMMUTABLE" {
		t.Fatalf("pull-request stacks' repository = %v", repo)
	}
	var lifecycle struct {
		Rules []struct {
			Selection struct {
				TagStatus, CountType string
				CountNumber          int
			}
		}
	}
	if err := json.Unmarshal([]byte(mon.Get("aws:ecr/lifecyclePolicy:LifecyclePolicy", "pr-stacks").Str("policy")), &lifecycle); err != nil {
		t.Fatal(err)
	}
	if len(lifecycle.Rules) != 1 || lifecycle.Rules[0].Selection.TagStatus != "any" ||
		lifecycle.Rules[0].Selection.CountType != "sinceImagePushed" || lifecycle.Rules[0].Selection.CountNumber != PRImageDays {
		t.Errorf("pull-request images do not all expire after %d days: %+v", PRImageDays, lifecycle.Rules)
	}
	bucket := mon.Get("aws:s3/bucketV2:BucketV2", "gopherops-pulumi-pr-stacks")
	if bucket == nil || !bucket.Protect ||
		mon.Get("aws:s3/bucketVersioningV2:BucketVersioningV2", "gopherops-pulumi-pr-stacks") == nil ||
		mon.Get("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock", "gopherops-pulumi-pr-stacks") == nil {
		t.Errorf("pull-request stacks' state bucket = %v, want a protected, versioned, private one", bucket)
	}

	cfg := testConfig()
	cfg.StateBucket = false
	mon = run(t, cfg)
	for _, st := range doc(t, mon.Get("aws:iam/rolePolicy:RolePolicy", PRStacksRole.Name), "policy") {
		for _, a := range list(st["Action"]) {
			if strings.HasPrefix(a, "s3:") && st["Effect"] == "Allow" {
				t.Errorf("without a state bucket the role still may %s", a)
			}
		}
	}
	if mon.Get("github:index/actionsEnvironmentVariable:ActionsEnvironmentVariable", "preview-"+VariablePRStacksBackend) != nil {
		t.Error("the preview environment names a state bucket the bootstrap does not make")
	}
}
