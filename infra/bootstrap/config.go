package main

import (
	"errors"
	"fmt"
	"regexp"
	"slices"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	pulumiconfig "github.com/pulumi/pulumi/sdk/v3/go/pulumi/config"
)

// Settings of the bootstrap stack (keys under gopherops-bootstrap:).
type bootstrapConfig struct {
	// Region is aws:region: the deploy role may act in this region only.
	Region string
	// Project prefixes every name the gopherops stacks create (gopherops-dev-...),
	// which is what the deploy role's resource patterns match.
	Project string
	// GitHubRepository is owner/name of the repository whose workflows assume the roles.
	GitHubRepository string
	// Environments are the GitHub environments whose jobs may assume the
	// deploy role: the stacks' (dev, prod), nightly's live suite, and preview
	// (the pull-request stacks' workflows, docs/environments.md).
	Environments []string
	// CreateOIDCProvider is false when the account already has GitHub's provider.
	CreateOIDCProvider bool
	// ECRRepository is the mirror's name (gopherops:ecrRepository of the stacks).
	ECRRepository string
	// StateBucket creates an S3 bucket for `pulumi login s3://...`.
	StateBucket bool
	// DeployRoleName and PreviewRoleName are fixed so the stacks can name them.
	DeployRoleName  string
	PreviewRoleName string
}

var (
	repoPattern    = regexp.MustCompile(`^[A-Za-z0-9-]{1,39}/[A-Za-z0-9._-]{1,100}$`)
	namePattern    = regexp.MustCompile(`^[a-z][a-z0-9-]{1,30}$`)
	envPattern     = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)
	regionPattern  = regexp.MustCompile(`^[a-z]{2}(-gov)?-[a-z]+-[0-9]$`)
	ecrRepoPattern = regexp.MustCompile(`^[a-z0-9]+([._-][a-z0-9]+)*$`)
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
	}
	if v, err := c.TryBool("createOidcProvider"); err == nil {
		cfg.CreateOIDCProvider = v
	}
	if err := c.TryObject("environments", &cfg.Environments); err != nil {
		cfg.Environments = nil
	}
	cfg.defaults()
	return cfg, cfg.validate()
}

func (c *bootstrapConfig) defaults() {
	if c.Project == "" {
		c.Project = "gopherops"
	}
	if c.ECRRepository == "" {
		c.ECRRepository = c.Project
	}
	if len(c.Environments) == 0 {
		c.Environments = []string{"dev", "prod", "nightly", "preview"}
	}
	if c.DeployRoleName == "" {
		c.DeployRoleName = c.Project + "-deploy"
	}
	if c.PreviewRoleName == "" {
		c.PreviewRoleName = c.Project + "-preview"
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
	for _, e := range c.Environments {
		if !envPattern.MatchString(e) {
			fail("environments", "%q is not a GitHub environment name", e)
		}
	}
	if slices.Contains(c.Environments, "*") {
		fail("environments", "must list environments, not a wildcard")
	}
	if c.DeployRoleName == c.PreviewRoleName {
		fail("previewRoleName", "must differ from deployRoleName")
	}
	if len(errs) > 0 {
		return fmt.Errorf("invalid bootstrap configuration:\n%w", errors.Join(errs...))
	}
	return nil
}
