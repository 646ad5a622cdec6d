package main

import "time"

// Role is one of the bootstrap project's IAM roles as the workflows know it:
// the Actions variable its ARN is read from, and how long its sessions last.
type Role struct {
	// Name is the role's logical name (its Pulumi resource and name suffix).
	Name string
	// Variable is the Actions variable whose value is the role's ARN
	// (`role-to-assume: ${{ vars.<Variable> }}`); the bootstrap sets it in
	// each of the role's environments, or in the repository for a role
	// without one.
	Variable string
	// MaxSession is the role's MaxSessionDuration: every job assuming it
	// asks for at most this, and for at least as long as the job may run.
	MaxSession time.Duration
	// PullRequests is true for the role pull-request jobs assume: they run
	// in no environment, so their OIDC subject is the pull_request one.
	PullRequests bool
}

// Actions variables the bootstrap sets in the environments of the
// pull-request stacks' role: where its jobs push images and keep state, the
// only repository and state backend its policy lets it write.
const (
	// VariablePRStacksRepository is the URL of the pull-request stacks'
	// own ECR repository.
	VariablePRStacksRepository = "PR_STACKS_ECR_REPOSITORY"
	// VariablePRStacksBackend is the pull-request stacks' own Pulumi state
	// backend (s3://<bucket>), when the bootstrap manages state buckets.
	VariablePRStacksBackend = "PR_STACKS_BACKEND_URL"
)

// The bootstrap roles.
var (
	// DeployRole runs `pulumi up` of the AWS stacks: deploy.yml and
	// nightly's live suite. Its longest job is nightly's (180 minutes).
	DeployRole = Role{Name: "deploy", Variable: "AWS_ROLE_ARN", MaxSession: 3 * time.Hour}
	// PRStacksRole runs the pull-request stacks (preview-env.yml and its
	// reaper): their images, their state and their namespaces on the dev
	// cluster, nothing of dev's or prod's. Its longest job is the reaper's
	// (60 minutes).
	PRStacksRole = Role{Name: "pr-stacks", Variable: "AWS_PR_STACKS_ROLE_ARN", MaxSession: time.Hour}
	// PreviewRole runs the read-only `pulumi preview` of pull requests
	// (30 minutes).
	PreviewRole = Role{Name: "preview", Variable: "AWS_PREVIEW_ROLE_ARN", MaxSession: time.Hour, PullRequests: true}
	// DriftRole runs the scheduled, read-only drift check (30 minutes).
	DriftRole = Role{Name: "drift", Variable: "AWS_DRIFT_ROLE_ARN", MaxSession: time.Hour}
)

// Roles are the bootstrap roles, in the order the program creates them.
var Roles = []Role{DeployRole, PRStacksRole, PreviewRole, DriftRole}

// Environment is one GitHub environment the workflows run jobs in, with
// what guards it. One table drives both sides of the tie: the environments
// the bootstrap manages in GitHub (reviewers, deployment refs, the role's
// ARN as a variable) and the OIDC subjects each IAM role trusts, so a job
// can hold a role only inside an environment GitHub guards for it.
type Environment struct {
	// Name is the environment's name, as the workflows' `environment:` say.
	Name string
	// Role is the bootstrap role its jobs assume.
	Role Role
	// Branches and Tags are the patterns of the refs whose runs may use the
	// environment (GitHub's custom deployment policies); both empty: any
	// ref of the repository (fork pull requests never run such jobs).
	Branches, Tags []string
	// Reviewed environments hold every job for one of the required
	// reviewers (gopherops-bootstrap:prodReviewers) to approve.
	Reviewed bool
}

// Environments are the repository's GitHub environments. prod takes release
// tags only, after a reviewer approves; dev, the live suite and the drift
// check run from main (a release, a schedule, or by hand on main); preview
// serves pull requests from the repository's own branches, so any branch
// may use it, and its role can reach nothing but the pull-request stacks.
var Environments = []Environment{
	{Name: "dev", Role: DeployRole, Branches: []string{MainBranch}},
	{Name: "prod", Role: DeployRole, Tags: []string{ReleaseTagPattern}, Reviewed: true},
	{Name: "nightly", Role: DeployRole, Branches: []string{MainBranch}},
	{Name: "preview", Role: PRStacksRole},
	{Name: "drift", Role: DriftRole, Branches: []string{MainBranch}},
}

// MainBranch is the protected default branch releases are built from.
const MainBranch = "main"

// ReleaseTagPattern matches the tags a prod release is built from; only
// repository administrators may create, move or delete them (the
// bootstrap's tag ruleset), so "prod only from v* tags" is not a
// convention anyone with write access could sidestep.
const ReleaseTagPattern = "v*"

// RequiredChecks are the checks a pull request must pass before it merges
// into main: the jobs of ci.yml, by the names GitHub reports them under
// (each job's name). The bootstrap test holds the list to the workflow.
var RequiredChecks = []string{
	"Build and vet", "golangci-lint", "govulncheck", "actionlint", "make test",
	"Container image (no push)", "Local stack on kind",
}

// EnvironmentsOf are the names of the environments whose jobs assume role.
func EnvironmentsOf(role Role) []string {
	var out []string
	for _, e := range Environments {
		if e.Role.Name == role.Name {
			out = append(out, e.Name)
		}
	}
	return out
}

// Subjects are the OIDC subjects role trusts in repo: the subject of each
// of its environments, or, for the pull-request role, the pull_request one.
func Subjects(repo string, role Role) []string {
	if role.PullRequests {
		return []string{PullRequestSubject(repo)}
	}
	return EnvironmentSubjects(repo, EnvironmentsOf(role))
}
