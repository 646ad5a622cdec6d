package main

import (
	"encoding/json"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/gopherops/gopherops/infra/internal/mocks"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// GitHub resource types the bootstrap manages.
const (
	ghEnvironment = "github:index/repositoryEnvironment:RepositoryEnvironment"
	ghEnvPolicy   = "github:index/repositoryEnvironmentDeploymentPolicy:RepositoryEnvironmentDeploymentPolicy"
	ghEnvVariable = "github:index/actionsEnvironmentVariable:ActionsEnvironmentVariable"
	ghVariable    = "github:index/actionsVariable:ActionsVariable"
	ghProtection  = "github:index/branchProtection:BranchProtection"
	ghRuleset     = "github:index/repositoryRuleset:RepositoryRuleset"
)

// numbers is a list input of numbers as ints.
func numbers(v any) []int {
	arr, _ := v.([]any)
	out := make([]int, 0, len(arr))
	for _, e := range arr {
		f, _ := e.(float64)
		out = append(out, int(f))
	}
	return out
}

// TestEnvironmentsGuardTheirRoles: each environment of the table exists in
// the repository with the rules its row gives it (prod: the reviewers,
// nobody approving their own run, v* tags only; dev, nightly and drift:
// main only; preview: any branch of the repository), admins cannot bypass
// any of them, and each holds its role's ARN in the variable its jobs read.
func TestEnvironmentsGuardTheirRoles(t *testing.T) {
	mon := run(t, testConfig())
	envs := mon.ByType(ghEnvironment)
	if len(envs) != len(Environments) {
		t.Fatalf("%d environments, want %d", len(envs), len(Environments))
	}
	policies := map[string][]string{} // environment → "branch main", "tag v*"
	for _, p := range mon.ByType(ghEnvPolicy) {
		if p.Str("repository") != "gopherops" {
			t.Errorf("deployment policy %s is on repository %q", p.Name, p.Str("repository"))
		}
		if b := p.Str("branchPattern"); b != "" {
			policies[p.Str("environment")] = append(policies[p.Str("environment")], "branch "+b)
		}
		if tag := p.Str("tagPattern"); tag != "" {
			policies[p.Str("environment")] = append(policies[p.Str("environment")], "tag "+tag)
		}
	}
	cases := map[string]struct {
		refs      []string
		reviewers bool
		variable  string
		role      string
	}{
		"dev":     {refs: []string{"branch main"}, variable: "AWS_ROLE_ARN", role: "gopherops-deploy"},
		"prod":    {refs: []string{"tag v*"}, reviewers: true, variable: "AWS_ROLE_ARN", role: "gopherops-deploy"},
		"nightly": {refs: []string{"branch main"}, variable: "AWS_ROLE_ARN", role: "gopherops-deploy"},
		"preview": {variable: "AWS_PR_STACKS_ROLE_ARN", role: "gopherops-pr-stacks"},
		"drift":   {refs: []string{"branch main"}, variable: "AWS_DRIFT_ROLE_ARN", role: "gopherops-drift"},
	}
	for name, want := range cases {
		t.Run(name, func(t *testing.T) {
			env := mon.Get(ghEnvironment, name)
			if env == nil {
				t.Fatalf("no environment %s", name)
			}
			if env.Str("repository") != "gopherops" || env.Str("environment") != name {
				t.Errorf("environment = %s in %s", env.Str("environment"), env.Str("repository"))
			}
			if v, _ := env.Get("canAdminsBypass"); v != false {
				t.Errorf("admins may bypass %s (canAdminsBypass %v)", name, v)
			}
			custom, _ := env.Get("deploymentBranchPolicy.customBranchPolicies")
			protected, _ := env.Get("deploymentBranchPolicy.protectedBranches")
			if len(want.refs) > 0 && (custom != true || protected != false) {
				t.Errorf("%s takes any ref: deploymentBranchPolicy = %v/%v", name, custom, protected)
			}
			if len(want.refs) == 0 && custom != nil {
				t.Errorf("%s restricts refs it should not: %v", name, custom)
			}
			if got := policies[name]; !slices.Equal(got, want.refs) {
				t.Errorf("%s deploys from %v, want %v", name, got, want.refs)
			}
			users, _ := env.Get("reviewers[0].users")
			teams, _ := env.Get("reviewers[0].teams")
			self, _ := env.Get("preventSelfReview")
			if want.reviewers {
				if !slices.Equal(numbers(users), []int{aliceID}) || !slices.Equal(numbers(teams), []int{platformID}) || self != true {
					t.Errorf("%s reviewers = users %v teams %v (self-review prevented: %v), want alice and gopherops/platform by id", name, users, teams, self)
				}
			} else if users != nil || teams != nil {
				t.Errorf("%s has reviewers %v %v: scheduled runs would wait for approval", name, users, teams)
			}
			v := mon.Get(ghEnvVariable, name+"-"+want.variable)
			if v == nil || v.Str("environment") != name || v.Str("variableName") != want.variable ||
				v.Str("value") != "arn:aws:iam::"+mocks.AccountID+":role/"+want.role {
				t.Errorf("%s variable %s = %v, want the ARN of %s", name, want.variable, v, want.role)
			}
		})
	}
	// The pull-request stacks' jobs find their own repository and state
	// backend in their environment, next to their role.
	for variable, want := range map[string]string{
		VariablePRStacksRepository: ".amazonaws.com/gopherops-pr-stacks",
		VariablePRStacksBackend:    "s3://gopherops-pulumi-pr-stacks",
	} {
		v := mon.Get(ghEnvVariable, "preview-"+variable)
		if v == nil || v.Str("environment") != "preview" || !strings.Contains(v.Str("value"), want) {
			t.Errorf("preview variable %s = %v, want one holding %s", variable, v, want)
		}
		for _, other := range []string{"dev", "prod", "nightly", "drift"} {
			if mon.Get(ghEnvVariable, other+"-"+variable) != nil {
				t.Errorf("environment %s gets %s, a pull-request stacks' variable", other, variable)
			}
		}
	}
}

// TestTrustMatchesEnvironments: the subjects each role's trust names are
// exactly the environments GitHub hands that role's ARN to, so GitHub's
// rules and IAM's trust cannot name different environments; the
// pull-request role lives outside environments, in a repository variable.
func TestTrustMatchesEnvironments(t *testing.T) {
	mon := run(t, testConfig())
	byArn := map[string][]string{} // role ARN → subjects GitHub hands it to
	for _, v := range mon.ByType(ghEnvVariable) {
		byArn[v.Str("value")] = append(byArn[v.Str("value")], "repo:gopherops/gopherops:environment:"+v.Str("environment"))
	}
	for _, v := range mon.ByType(ghVariable) {
		if strings.HasPrefix(v.Str("value"), "arn:aws:iam::") {
			byArn[v.Str("value")] = append(byArn[v.Str("value")], "repo:gopherops/gopherops:pull_request")
		}
	}
	for _, r := range Roles {
		role := mon.Get("aws:iam/role:Role", r.Name)
		sts := doc(t, role, "assumeRolePolicy")
		eq, _ := mocks.Walk(sts[0], "Condition.StringEquals")
		m, _ := eq.(map[string]any)
		trusted := list(m[GitHubOIDCHost+":sub"])
		handed := byArn[role.Outputs["arn"].StringValue()]
		slices.Sort(trusted)
		slices.Sort(handed)
		if len(trusted) == 0 || !slices.Equal(trusted, handed) {
			t.Errorf("role %s trusts %v, but GitHub hands its ARN to %v", r.Name, trusted, handed)
		}
		if v, _ := role.Get("maxSessionDuration"); v != r.MaxSession.Seconds() {
			t.Errorf("role %s: maxSessionDuration %v, want %v", r.Name, v, r.MaxSession.Seconds())
		}
	}
	mirror := mon.Get(ghVariable, "ECR_REPOSITORY")
	region := mon.Get(ghVariable, "AWS_REGION")
	if mirror == nil || !strings.HasSuffix(mirror.Str("value"), ".amazonaws.com/gopherops") || region == nil || region.Str("value") != "us-east-1" {
		t.Errorf("repository variables ECR_REPOSITORY %v, AWS_REGION %v", mirror, region)
	}
}

// TestMainIsProtected: main takes changes only through pull requests that
// passed every required check against the current main, with the
// configured approvals (stale ones dismissed, the last push approved by
// someone else), for administrators too; it is never force-pushed or deleted.
func TestMainIsProtected(t *testing.T) {
	mon := run(t, testConfig())
	p := mon.Get(ghProtection, "main")
	if p == nil {
		t.Fatal("no branch protection on main")
	}
	if p.Str("pattern") != "main" || p.Str("repositoryId") != "gopherops" {
		t.Errorf("protection of %s in %s", p.Str("pattern"), p.Str("repositoryId"))
	}
	checks, _ := p.Get("requiredStatusChecks[0].contexts")
	strict, _ := p.Get("requiredStatusChecks[0].strict")
	if !slices.Equal(list(checks), RequiredChecks) || strict != true {
		t.Errorf("required checks %v (strict %v), want %v against the current main", checks, strict, RequiredChecks)
	}
	for path, want := range map[string]any{
		"enforceAdmins": true, "allowsForcePushes": false, "allowsDeletions": false,
		"requiredPullRequestReviews[0].requiredApprovingReviewCount": float64(1),
		"requiredPullRequestReviews[0].dismissStaleReviews":          true,
		"requiredPullRequestReviews[0].requireLastPushApproval":      true,
	} {
		if got, _ := p.Get(path); got != want {
			t.Errorf("%s = %v, want %v", path, got, want)
		}
	}

	cfg := testConfig()
	cfg.MainApprovals = 0
	p = run(t, cfg).Get(ghProtection, "main")
	if got, _ := p.Get("requiredPullRequestReviews[0].requiredApprovingReviewCount"); got != float64(0) {
		t.Errorf("mainApprovals 0: %v approvals required", got)
	}
	if got, _ := p.Get("requiredPullRequestReviews[0].requireLastPushApproval"); got != false {
		t.Error("mainApprovals 0 still asks someone to approve the last push")
	}
}

// TestReleaseTagsAreAdminOnly: v* tags (what prod deploys from) can be
// created, moved or deleted by repository administrators only, so write
// access to the repository is not a way around prod's tag rule.
func TestReleaseTagsAreAdminOnly(t *testing.T) {
	mon := run(t, testConfig())
	r := mon.Get(ghRuleset, "release-tags")
	if r == nil {
		t.Fatal("no release tag ruleset")
	}
	include, _ := r.Get("conditions.refName.includes")
	if r.Str("target") != "tag" || r.Str("enforcement") != "active" || !slices.Equal(list(include), []string{"refs/tags/" + ReleaseTagPattern}) {
		t.Errorf("ruleset %s on %s %v", r.Str("enforcement"), r.Str("target"), include)
	}
	for _, rule := range []string{"creation", "update", "deletion"} {
		if v, _ := r.Get("rules." + rule); v != true {
			t.Errorf("rule %s = %v: anyone with write access may do it", rule, v)
		}
	}
	actors, _ := r.Get("bypassActors")
	if a, _ := actors.([]any); len(a) != 1 {
		t.Fatalf("bypass actors %v, want the admin role only", actors)
	}
	if id, _ := r.Get("bypassActors[0].actorId"); id != float64(repositoryAdminRole) {
		t.Errorf("bypass actor %v, want the repository admin role", id)
	}
	if typ, _ := r.Get("bypassActors[0].actorType"); typ != "RepositoryRole" {
		t.Errorf("bypass actor type %v", typ)
	}
}

// TestGitHubThroughItsOwnProvider: every GitHub resource goes through one
// explicit provider for the repository's owner that carries no token (it
// reads GITHUB_TOKEN from the environment, never a stack setting).
func TestGitHubThroughItsOwnProvider(t *testing.T) {
	mon := run(t, testConfig())
	providers := mon.ByType("pulumi:providers:github")
	if len(providers) != 1 {
		t.Fatalf("%d GitHub providers", len(providers))
	}
	gh := providers[0]
	if gh.Str("owner") != "gopherops" {
		t.Errorf("provider owner %q", gh.Str("owner"))
	}
	if _, ok := gh.Get("token"); ok {
		t.Error("the GitHub token is a provider input: it would land in the state")
	}
	n := 0
	for _, r := range mon.All() {
		if !strings.HasPrefix(r.Type, "github:") {
			continue
		}
		n++
		if !strings.Contains(r.Provider, "::pulumi:providers:github::github::") {
			t.Errorf("%s %s uses provider %q", r.Type, r.Name, r.Provider)
		}
	}
	if n == 0 {
		t.Fatal("no GitHub resources")
	}
}

// TestGitHubProtectionSwitch: a second account's bootstrap stack of the
// same repository (githubProtection false) leaves GitHub to the first.
func TestGitHubProtectionSwitch(t *testing.T) {
	cfg := testConfig()
	cfg.GitHubProtection, cfg.ProdReviewers = false, nil
	if err := cfg.validate(); err != nil {
		t.Fatalf("githubProtection false without reviewers refused: %v", err)
	}
	for _, r := range run(t, cfg).All() {
		if strings.HasPrefix(r.Type, "github:") || r.Type == "pulumi:providers:github" {
			t.Errorf("githubProtection false, yet %s %s", r.Type, r.Name)
		}
	}
}

// TestSelfReview: with several reviewers (or a team) whoever started a
// prod deployment cannot approve it too; a lone reviewer can approve their
// own release, or nobody could.
func TestSelfReview(t *testing.T) {
	cases := map[string]struct {
		reviewers []string
		prevent   bool
	}{
		"two people":     {[]string{"alice", "bob"}, true},
		"a team":         {[]string{"gopherops/platform"}, true},
		"a person alone": {[]string{"alice"}, false},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			cfg := testConfig()
			cfg.ProdReviewers = c.reviewers
			mon := monitor()
			mon.GitHubUsers["bob"] = 1002
			if err := runOn(mon, cfg); err != nil {
				t.Fatal(err)
			}
			if got, _ := mon.Get(ghEnvironment, "prod").Get("preventSelfReview"); got != c.prevent {
				t.Errorf("preventSelfReview = %v, want %v", got, c.prevent)
			}
		})
	}
}

// TestUnknownReviewerFails: a reviewer GitHub does not know stops the
// update, naming the reviewer, instead of leaving prod unreviewed.
func TestUnknownReviewerFails(t *testing.T) {
	cfg := testConfig()
	cfg.ProdReviewers = []string{"alice", "mallory"}
	err := runOn(monitor(), cfg)
	if err == nil || !strings.Contains(err.Error(), "mallory") {
		t.Fatalf("err = %v, want one naming mallory", err)
	}
}

// TestReviewerValidation: reviewer names are GitHub users or teams of the
// repository's owner, at most six, none twice.
func TestReviewerValidation(t *testing.T) {
	cases := map[string][]string{
		"not a user name":       {"-alice"},
		"another owner's team":  {"acme/platform"},
		"not a team slug":       {"gopherops/Platform Team"},
		"listed twice":          {"alice", "Alice"},
		"more than GitHub lets": {"a1", "a2", "a3", "a4", "a5", "a6", "a7"},
	}
	for name, reviewers := range cases {
		t.Run(name, func(t *testing.T) {
			c := testConfig()
			c.ProdReviewers = reviewers
			if err := c.validate(); err == nil || !strings.Contains(err.Error(), "prodReviewers") {
				t.Errorf("%v: err = %v", reviewers, err)
			}
		})
	}
}

// loadWith runs loadConfig on the settings as the engine hands them over
// (full keys, values as strings).
func loadWith(t *testing.T, settings map[string]string) (bootstrapConfig, error) {
	t.Helper()
	conf, err := json.Marshal(settings)
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv(pulumi.EnvConfig, string(conf))
	var cfg bootstrapConfig
	var loadErr error
	if err := pulumi.RunErr(func(ctx *pulumi.Context) error {
		cfg, loadErr = loadConfig(ctx)
		return nil
	}, pulumi.WithMocks("gopherops-bootstrap", "account", monitor())); err != nil {
		t.Fatal(err)
	}
	return cfg, loadErr
}

// TestLoadConfig: the stack's settings as `pulumi config set` leaves them:
// protection on by default with one approval on main, reviewers read as a
// list, and every bad or retired setting refused by name.
func TestLoadConfig(t *testing.T) {
	base := map[string]string{
		"aws:region":                           "us-east-1",
		"gopherops-bootstrap:githubRepository": "gopherops/gopherops",
		"gopherops-bootstrap:prodReviewers":    `["alice","gopherops/platform"]`,
	}
	cfg, err := loadWith(t, base)
	if err != nil {
		t.Fatalf("valid settings refused: %v", err)
	}
	if !cfg.GitHubProtection || cfg.MainApprovals != 1 || !slices.Equal(cfg.ProdReviewers, []string{"alice", "gopherops/platform"}) {
		t.Errorf("loaded %+v", cfg)
	}

	off := maps.Clone(base)
	delete(off, "gopherops-bootstrap:prodReviewers")
	off["gopherops-bootstrap:githubProtection"] = "false"
	if cfg, err := loadWith(t, off); err != nil || cfg.GitHubProtection {
		t.Errorf("githubProtection false: %+v, %v", cfg, err)
	}

	cases := map[string]map[string]string{
		"prodReviewers":    {"gopherops-bootstrap:prodReviewers": `[{"user":"alice"}]`},
		"mainApprovals":    {"gopherops-bootstrap:mainApprovals": "two"},
		"githubProtection": {"gopherops-bootstrap:githubProtection": "maybe"},
		"environments":     {"gopherops-bootstrap:environments": `["dev","prod"]`},
		"driftEnvironment": {"gopherops-bootstrap:driftEnvironment": "drift"},
	}
	for key, bad := range cases {
		t.Run(key, func(t *testing.T) {
			settings := maps.Clone(base)
			maps.Copy(settings, bad)
			if _, err := loadWith(t, settings); err == nil || !strings.Contains(err.Error(), "gopherops-bootstrap:"+key) {
				t.Errorf("err = %v, want one naming %s", err, key)
			}
		})
	}
	plain := maps.Clone(base)
	plain["gopherops-bootstrap:prodReviewers"] = "alice, gopherops/platform"
	if cfg, err := loadWith(t, plain); err != nil || !slices.Equal(cfg.ProdReviewers, []string{"alice", "gopherops/platform"}) {
		t.Errorf("reviewers as a plain value: %v, %v", cfg.ProdReviewers, err)
	}
	missing := maps.Clone(base)
	delete(missing, "gopherops-bootstrap:prodReviewers")
	if _, err := loadWith(t, missing); err == nil || !strings.Contains(err.Error(), "prodReviewers") {
		t.Errorf("no reviewers: err = %v", err)
	}
}
