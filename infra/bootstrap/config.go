package main

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	pulumiconfig "github.com/pulumi/pulumi/sdk/v3/go/pulumi/config"
)

// MaxReviewers is GitHub's limit of required reviewers (users and teams)
// on one environment.
const MaxReviewers = 6

// Settings of the bootstrap stack (keys under gopherops-bootstrap:).
type bootstrapConfig struct {
	// Region is aws:region: the deploy role may act in this region only.
	Region string
	// Project prefixes every name the gopherops stacks create (gopherops-dev-...),
	// which is what the deploy role's resource patterns match.
	Project string
	// GitHubRepository is owner/name of the repository whose workflows assume the roles.
	GitHubRepository string
	// CreateOIDCProvider is false when the account already has GitHub's provider.
	CreateOIDCProvider bool
	// ECRRepository is the mirror's name (gopherops:ecrRepository of the stacks).
	ECRRepository string
	// StateBucket creates an S3 bucket for `pulumi login s3://...`.
	StateBucket bool
	// DeployRoleName and PreviewRoleName are fixed so the stacks can name them.
	DeployRoleName  string
	PreviewRoleName string
	// DriftRoleName is the read-only role of the scheduled drift check
	// (drift.yml); the stacks grant it view access to their clusters.
	DriftRoleName string
	// PRStacksRoleName is the role of the pull-request stacks
	// (preview-env.yml); the dev stack grants it its namespaces only.
	PRStacksRoleName string
	// PRStacksCluster is the cluster the pull-request stacks run on (the
	// dev stack's, DEV_CLUSTER_NAME of the workflows): the only one whose
	// endpoint their role may read.
	PRStacksCluster string
	// GitHubProtection makes the bootstrap manage the repository's GitHub
	// side of the tie (environments, branch protection, the release tag
	// ruleset, the role variables). Off for every bootstrap stack but one
	// when several accounts serve one repository.
	GitHubProtection bool
	// ProdReviewers approve every prod deployment: GitHub user names, or
	// teams as <owner>/<team-slug>; at most six, as GitHub allows.
	ProdReviewers []string
	// MainApprovals is how many approving reviews a pull request into main
	// needs (0 to 6).
	MainApprovals int
}

var (
	repoPattern    = regexp.MustCompile(`^[A-Za-z0-9-]{1,39}/[A-Za-z0-9._-]{1,100}$`)
	namePattern    = regexp.MustCompile(`^[a-z][a-z0-9-]{1,30}$`)
	userPattern    = regexp.MustCompile(`^[A-Za-z0-9](?:[A-Za-z0-9-]{0,37}[A-Za-z0-9])?$`)
	teamPattern    = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,99}$`)
	regionPattern  = regexp.MustCompile(`^[a-z]{2}(-gov)?-[a-z]+-[0-9]$`)
	ecrRepoPattern = regexp.MustCompile(`^[a-z0-9]+([._-][a-z0-9]+)*$`)
	clusterPattern = regexp.MustCompile(`^[0-9A-Za-z][A-Za-z0-9_-]{0,99}$`)
)

// loadConfig reads and validates the bootstrap stack's settings.
func loadConfig(ctx *pulumi.Context) (bootstrapConfig, error) {
	c := pulumiconfig.New(ctx, "")
	region, _ := ctx.GetConfig("aws:region")
	cfg := bootstrapConfig{
		Region:             region,
		Project:            c.Get("project"),
		GitHubRepository:   c.Get("githubRepository"),
		CreateOIDCProvider: true,
		ECRRepository:      c.Get("ecrRepository"),
		StateBucket:        c.GetBool("stateBucket"),
		DeployRoleName:     c.Get("deployRoleName"),
		PreviewRoleName:    c.Get("previewRoleName"),
		DriftRoleName:      c.Get("driftRoleName"),
		PRStacksRoleName:   c.Get("prStacksRoleName"),
		PRStacksCluster:    c.Get("prStacksCluster"),
		GitHubProtection:   true,
		MainApprovals:      1,
	}
	var errs []error
	if v, err := c.TryBool("createOidcProvider"); err == nil {
		cfg.CreateOIDCProvider = v
	}
	if v, err := c.TryBool("githubProtection"); err == nil {
		cfg.GitHubProtection = v
	} else if c.Get("githubProtection") != "" {
		errs = append(errs, fmt.Errorf("gopherops-bootstrap:githubProtection: %w", err))
	}
	if v, err := c.TryInt("mainApprovals"); err == nil {
		cfg.MainApprovals = v
	} else if c.Get("mainApprovals") != "" {
		errs = append(errs, fmt.Errorf("gopherops-bootstrap:mainApprovals: %w", err))
	}
	// A list (`--path 'prodReviewers[0]'`), or names separated by commas.
	if v := strings.TrimSpace(c.Get("prodReviewers")); strings.HasPrefix(v, "[") {
		if err := c.TryObject("prodReviewers", &cfg.ProdReviewers); err != nil {
			errs = append(errs, fmt.Errorf("gopherops-bootstrap:prodReviewers: must be a list of GitHub users or <owner>/<team>: %w", err))
		}
	} else {
		for _, name := range strings.Split(v, ",") {
			if name = strings.TrimSpace(name); name != "" {
				cfg.ProdReviewers = append(cfg.ProdReviewers, name)
			}
		}
	}
	// The environments and their roles are one table in code
	// (environments.go) that the workflows are tested against; a setting
	// could only make the two disagree.
	for _, gone := range []string{"environments", "driftEnvironment"} {
		if c.Get(gone) != "" {
			errs = append(errs, fmt.Errorf("gopherops-bootstrap:%s: no longer a setting; the environments are those the workflows name (infra/bootstrap/environments.go): remove it", gone))
		}
	}
	cfg.defaults()
	if err := cfg.validate(); err != nil {
		errs = append(errs, err)
	}
	if len(errs) > 0 {
		return cfg, errors.Join(errs...)
	}
	return cfg, nil
}

func (c *bootstrapConfig) defaults() {
	if c.Project == "" {
		c.Project = "gopherops"
	}
	if c.ECRRepository == "" {
		c.ECRRepository = c.Project
	}
	if c.DeployRoleName == "" {
		c.DeployRoleName = c.Project + "-deploy"
	}
	if c.PreviewRoleName == "" {
		c.PreviewRoleName = c.Project + "-preview"
	}
	if c.DriftRoleName == "" {
		c.DriftRoleName = c.Project + "-drift"
	}
	if c.PRStacksRoleName == "" {
		c.PRStacksRoleName = c.Project + "-pr-stacks"
	}
	if c.PRStacksCluster == "" {
		c.PRStacksCluster = c.Project + "-dev"
	}
}

func (c bootstrapConfig) validate() error {
	var errs []error
	fail := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("gopherops-bootstrap:%s: %s", key, fmt.Sprintf(format, args...)))
	}
	if !regionPattern.MatchString(c.Region) {
		errs = append(errs, fmt.Errorf("aws:region: %q is not an AWS region", c.Region))
	}
	if !repoPattern.MatchString(c.GitHubRepository) {
		fail("githubRepository", "%q must be owner/name of the GitHub repository whose workflows deploy", c.GitHubRepository)
	}
	if !namePattern.MatchString(c.Project) {
		fail("project", "%q must be a short lower-case name (the stacks' name prefix)", c.Project)
	}
	if !ecrRepoPattern.MatchString(c.ECRRepository) {
		fail("ecrRepository", "%q is not an ECR repository name", c.ECRRepository)
	}
	if c.DeployRoleName == c.PreviewRoleName {
		fail("previewRoleName", "must differ from deployRoleName")
	}
	if c.DriftRoleName == c.DeployRoleName || c.DriftRoleName == c.PreviewRoleName {
		fail("driftRoleName", "must differ from deployRoleName and previewRoleName")
	}
	if slices.Contains([]string{c.DeployRoleName, c.PreviewRoleName, c.DriftRoleName}, c.PRStacksRoleName) {
		fail("prStacksRoleName", "must differ from deployRoleName, previewRoleName and driftRoleName")
	}
	if !clusterPattern.MatchString(c.PRStacksCluster) {
		fail("prStacksCluster", "%q is not an EKS cluster name", c.PRStacksCluster)
	}
	if c.GitHubProtection {
		owner, _, _ := strings.Cut(c.GitHubRepository, "/")
		if len(c.ProdReviewers) == 0 {
			fail("prodReviewers", "prod needs at least one required reviewer (a GitHub user, or <owner>/<team>)")
		}
		if len(c.ProdReviewers) > MaxReviewers {
			fail("prodReviewers", "%d reviewers; GitHub allows at most %d users and teams per environment", len(c.ProdReviewers), MaxReviewers)
		}
		seen := map[string]bool{}
		for _, r := range c.ProdReviewers {
			org, team, isTeam := strings.Cut(r, "/")
			switch {
			case seen[strings.ToLower(r)]:
				fail("prodReviewers", "%q is listed twice", r)
			case isTeam && !teamPattern.MatchString(team):
				fail("prodReviewers", "%q: %q is not a team slug", r, team)
			case isTeam && !strings.EqualFold(org, owner):
				fail("prodReviewers", "%q: a team must belong to the repository's owner %q", r, owner)
			case !isTeam && !userPattern.MatchString(r):
				fail("prodReviewers", "%q is not a GitHub user name", r)
			}
			seen[strings.ToLower(r)] = true
		}
		if c.MainApprovals < 0 || c.MainApprovals > MaxReviewers {
			fail("mainApprovals", "%d must be between 0 and %d", c.MainApprovals, MaxReviewers)
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("invalid bootstrap configuration:\n%w", errors.Join(errs...))
	}
	return nil
}
