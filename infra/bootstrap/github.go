package main

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/pulumi/pulumi-github/sdk/v6/go/github"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// repositoryAdminRole is the actor id of the built-in repository admin role
// in GitHub rulesets (actor type RepositoryRole).
const repositoryAdminRole = 5

// Repository-level Actions variables the workflows read outside any
// environment (deploy.yml's pull-request preview and the image pushes).
const (
	variableECRRepository = "ECR_REPOSITORY"
	variableRegion        = "AWS_REGION"
)

// protection is the repository's GitHub side of the tie, for tests.
type protection struct {
	Environments map[string]*github.RepositoryEnvironment
	Main         *github.BranchProtection
	ReleaseTags  *github.RepositoryRuleset
}

// protectRepository manages what GitHub enforces for the workflows: an
// environment per row of Environments (required reviewers, the refs that
// may deploy, the ARN of its role as a variable), branch protection on main
// with RequiredChecks, and a ruleset that leaves release tags to the
// repository's administrators. roleVariables are further variables set in
// every environment of a role, by role name. The provider authenticates with
// GITHUB_TOKEN from the environment, never with a stack setting.
func protectRepository(ctx *pulumi.Context, cfg bootstrapConfig, roleArns map[string]pulumi.StringOutput,
	roleVariables map[string]map[string]pulumi.StringInput, mirrorURL pulumi.StringOutput,
) (*protection, error) {
	owner, repo, _ := strings.Cut(cfg.GitHubRepository, "/")
	provider, err := github.NewProvider(ctx, "github", &github.ProviderArgs{Owner: pulumi.String(owner)})
	if err != nil {
		return nil, fmt.Errorf("bootstrap: github provider: %w", err)
	}
	opts := []pulumi.ResourceOption{pulumi.Provider(provider)}
	reviewers := lookupReviewers(ctx, cfg.ProdReviewers, pulumi.Provider(provider))

	p := &protection{Environments: map[string]*github.RepositoryEnvironment{}}
	for _, e := range Environments {
		args := &github.RepositoryEnvironmentArgs{
			Repository:  pulumi.String(repo),
			Environment: pulumi.String(e.Name),
			// An administrator's bypass would make "reviewed" advisory.
			CanAdminsBypass: pulumi.Bool(false),
		}
		if e.Reviewed {
			args.Reviewers = reviewers
			args.PreventSelfReview = pulumi.Bool(preventSelfReview(cfg.ProdReviewers))
		}
		custom := len(e.Branches)+len(e.Tags) > 0
		if custom {
			args.DeploymentBranchPolicy = github.RepositoryEnvironmentDeploymentBranchPolicyArgs{
				ProtectedBranches: pulumi.Bool(false), CustomBranchPolicies: pulumi.Bool(true),
			}
		}
		env, err := github.NewRepositoryEnvironment(ctx, e.Name, args, opts...)
		if err != nil {
			return nil, fmt.Errorf("bootstrap: github environment %s: %w", e.Name, err)
		}
		p.Environments[e.Name] = env
		envOpts := append(opts, pulumi.Parent(env))
		for _, b := range e.Branches {
			if _, err := github.NewRepositoryEnvironmentDeploymentPolicy(ctx, e.Name+"-branch-"+b, &github.RepositoryEnvironmentDeploymentPolicyArgs{
				Repository: pulumi.String(repo), Environment: env.Environment, BranchPattern: pulumi.String(b),
			}, envOpts...); err != nil {
				return nil, fmt.Errorf("bootstrap: github environment %s branch %s: %w", e.Name, b, err)
			}
		}
		for _, t := range e.Tags {
			if _, err := github.NewRepositoryEnvironmentDeploymentPolicy(ctx, e.Name+"-tag-"+t, &github.RepositoryEnvironmentDeploymentPolicyArgs{
				Repository: pulumi.String(repo), Environment: env.Environment, TagPattern: pulumi.String(t),
			}, envOpts...); err != nil {
				return nil, fmt.Errorf("bootstrap: github environment %s tag %s: %w", e.Name, t, err)
			}
		}
		arn, ok := roleArns[e.Role.Name]
		if !ok {
			return nil, fmt.Errorf("bootstrap: github environment %s: no role %q", e.Name, e.Role.Name)
		}
		if _, err := github.NewActionsEnvironmentVariable(ctx, e.Name+"-"+e.Role.Variable, &github.ActionsEnvironmentVariableArgs{
			Repository: pulumi.String(repo), Environment: env.Environment,
			VariableName: pulumi.String(e.Role.Variable), Value: arn,
		}, envOpts...); err != nil {
			return nil, fmt.Errorf("bootstrap: github environment %s variable: %w", e.Name, err)
		}
		extra := roleVariables[e.Role.Name]
		for _, name := range sortedKeys(extra) {
			if _, err := github.NewActionsEnvironmentVariable(ctx, e.Name+"-"+name, &github.ActionsEnvironmentVariableArgs{
				Repository: pulumi.String(repo), Environment: env.Environment,
				VariableName: pulumi.String(name), Value: extra[name],
			}, envOpts...); err != nil {
				return nil, fmt.Errorf("bootstrap: github environment %s variable %s: %w", e.Name, name, err)
			}
		}
	}

	// Variables jobs read outside environments: the pull-request role's
	// ARN (it has no environment), the mirror and the region.
	repoVars := map[string]pulumi.StringInput{variableECRRepository: mirrorURL, variableRegion: pulumi.String(cfg.Region)}
	for _, r := range Roles {
		if r.PullRequests {
			repoVars[r.Variable] = roleArns[r.Name]
		}
	}
	for _, name := range sortedKeys(repoVars) {
		if _, err := github.NewActionsVariable(ctx, name, &github.ActionsVariableArgs{
			Repository: pulumi.String(repo), VariableName: pulumi.String(name), Value: repoVars[name],
		}, opts...); err != nil {
			return nil, fmt.Errorf("bootstrap: github variable %s: %w", name, err)
		}
	}

	p.Main, err = github.NewBranchProtection(ctx, MainBranch, &github.BranchProtectionArgs{
		RepositoryId: pulumi.String(repo),
		Pattern:      pulumi.String(MainBranch),
		// Administrators merge through the same checks as everyone.
		EnforceAdmins: pulumi.Bool(true),
		RequiredStatusChecks: github.BranchProtectionRequiredStatusCheckArray{github.BranchProtectionRequiredStatusCheckArgs{
			// Checked against main as it is now, not as the branch left it.
			Strict:   pulumi.Bool(true),
			Contexts: pulumi.ToStringArray(RequiredChecks),
		}},
		RequiredPullRequestReviews: github.BranchProtectionRequiredPullRequestReviewArray{github.BranchProtectionRequiredPullRequestReviewArgs{
			RequiredApprovingReviewCount: pulumi.Int(cfg.MainApprovals),
			DismissStaleReviews:          pulumi.Bool(true),
			RequireLastPushApproval:      pulumi.Bool(cfg.MainApprovals > 0),
		}},
		AllowsForcePushes: pulumi.Bool(false),
		AllowsDeletions:   pulumi.Bool(false),
	}, opts...)
	if err != nil {
		return nil, fmt.Errorf("bootstrap: github branch protection: %w", err)
	}

	p.ReleaseTags, err = github.NewRepositoryRuleset(ctx, "release-tags", &github.RepositoryRulesetArgs{
		Repository:  pulumi.String(repo),
		Name:        pulumi.String("release tags"),
		Target:      pulumi.String("tag"),
		Enforcement: pulumi.String("active"),
		Conditions: github.RepositoryRulesetConditionsArgs{RefName: github.RepositoryRulesetConditionsRefNameArgs{
			Includes: pulumi.StringArray{pulumi.String("refs/tags/" + ReleaseTagPattern)},
			Excludes: pulumi.StringArray{},
		}},
		// A release tag is created by an administrator and never moves or
		// disappears: what prod ran stays reproducible.
		Rules: github.RepositoryRulesetRulesArgs{
			Creation: pulumi.Bool(true), Update: pulumi.Bool(true), Deletion: pulumi.Bool(true),
		},
		BypassActors: github.RepositoryRulesetBypassActorArray{github.RepositoryRulesetBypassActorArgs{
			ActorId: pulumi.Int(repositoryAdminRole), ActorType: pulumi.String("RepositoryRole"), BypassMode: pulumi.String("always"),
		}},
	}, opts...)
	if err != nil {
		return nil, fmt.Errorf("bootstrap: github release tag ruleset: %w", err)
	}
	return p, nil
}

// preventSelfReview is whether whoever started a deployment may not approve
// it: always, except when the one reviewer is one person, who would
// otherwise never get a release of their own approved.
func preventSelfReview(reviewers []string) bool {
	return len(reviewers) > 1 || strings.Contains(strings.Join(reviewers, ","), "/")
}

// lookupReviewers resolves reviewer names (users, or <owner>/<team> teams)
// to the numeric ids GitHub's environments take; an unknown name fails the
// update naming it.
func lookupReviewers(ctx *pulumi.Context, names []string, provider pulumi.InvokeOption) github.RepositoryEnvironmentReviewerArray {
	var users, teams pulumi.IntArray
	for _, name := range names {
		if _, slug, isTeam := strings.Cut(name, "/"); isTeam {
			team := github.LookupTeamOutput(ctx, github.LookupTeamOutputArgs{Slug: pulumi.String(slug), SummaryOnly: pulumi.Bool(true)}, provider)
			teams = append(teams, numericID(name, team.Id()))
		} else {
			user := github.GetUserOutput(ctx, github.GetUserOutputArgs{Username: pulumi.String(name)}, provider)
			users = append(users, numericID(name, user.Id()))
		}
	}
	return github.RepositoryEnvironmentReviewerArray{github.RepositoryEnvironmentReviewerArgs{Users: users, Teams: teams}}
}

// numericID is a GitHub id as the number it is.
func numericID(name string, id pulumi.StringOutput) pulumi.IntOutput {
	return id.ApplyT(func(s string) (int, error) {
		n, err := strconv.Atoi(s)
		if err != nil {
			return 0, fmt.Errorf("bootstrap: reviewer %s: GitHub id %q is not a number: %w", name, s, err)
		}
		return n, nil
	}).(pulumi.IntOutput)
}

// sortedKeys are m's keys in order, so resources register deterministically.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
