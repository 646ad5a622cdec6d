package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

// repoRoot is the repository root, two levels above infra/bootstrap.
const repoRoot = "../.."

// workflowJob is the part of a GitHub Actions job these tests read.
type workflowJob struct {
	Name           string         `yaml:"name"`
	Environment    any            `yaml:"environment"`
	Strategy       any            `yaml:"strategy"`
	Uses           string         `yaml:"uses"`
	TimeoutMinutes any            `yaml:"timeout-minutes"`
	Steps          []workflowStep `yaml:"steps"`
}

// workflowStep is one step of a job.
type workflowStep struct {
	Uses string            `yaml:"uses"`
	Run  string            `yaml:"run"`
	With map[string]string `yaml:"with"`
}

// readWorkflows parses every workflow of the repository by file name.
func readWorkflows(t *testing.T) map[string]map[string]workflowJob {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(repoRoot, ".github", "workflows", "*.y*ml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no workflows found (%v)", err)
	}
	out := map[string]map[string]workflowJob{}
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var w struct {
			Jobs map[string]workflowJob `yaml:"jobs"`
		}
		if err := yaml.Unmarshal(raw, &w); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		out[filepath.Base(f)] = w.Jobs
	}
	return out
}

// roleVariable is the repository variable that carries a role's ARN in a
// role-to-assume expression ("${{ vars.AWS_ROLE_ARN }}" → AWS_ROLE_ARN).
var roleVariable = regexp.MustCompile(`vars\.([A-Z0-9_]+)`)

// roleByVariable is the bootstrap role whose ARN the Actions variable holds.
func roleByVariable(variable string) (Role, bool) {
	for _, r := range Roles {
		if r.Variable == variable {
			return r, true
		}
	}
	return Role{}, false
}

// TestJobsKeepTheirCredentials: every job that assumes a bootstrap role asks
// for a session no longer than the role allows (IAM refuses the request
// otherwise: nightly asked for 3 hours of a 2-hour role) and at least as
// long as the job may run (a `pulumi up` outliving its credentials leaves
// pending operations in the state: deploy asked for none, so 1 hour, in a
// 90-minute job).
func TestJobsKeepTheirCredentials(t *testing.T) {
	assumed := 0
	for file, jobs := range readWorkflows(t) {
		for id, job := range jobs {
			for _, step := range job.Steps {
				if !strings.HasPrefix(step.Uses, "aws-actions/configure-aws-credentials@") {
					continue
				}
				assumed++
				where := file + " job " + id
				m := roleVariable.FindStringSubmatch(step.With["role-to-assume"])
				if m == nil {
					t.Errorf("%s: role-to-assume %q names no repository variable", where, step.With["role-to-assume"])
					continue
				}
				role, ok := roleByVariable(m[1])
				if !ok {
					t.Errorf("%s: role-to-assume reads %s, which holds no bootstrap role's ARN", where, m[1])
					continue
				}
				limit := role.MaxSession
				requested := time.Hour // the action's default
				if v, ok := step.With["role-duration-seconds"]; ok {
					n, err := strconv.Atoi(v)
					if err != nil {
						t.Errorf("%s: role-duration-seconds %q is not a number of seconds", where, v)
						continue
					}
					requested = time.Duration(n) * time.Second
				}
				if requested > limit {
					t.Errorf("%s: asks for a %s session of %s, whose MaxSessionDuration is %s: IAM refuses it", where, requested, m[1], limit)
				}
				timeout, err := jobTimeout(job)
				if err != nil {
					t.Errorf("%s: %v", where, err)
					continue
				}
				if timeout > requested {
					t.Errorf("%s: may run %s but its credentials last %s: set role-duration-seconds to at least %d",
						where, timeout, requested, int(timeout.Seconds()))
				}
			}
		}
	}
	if assumed == 0 {
		t.Fatal("no workflow assumes an AWS role")
	}
}

// jobTimeout is a job's timeout-minutes; GitHub's default is 6 hours.
func jobTimeout(job workflowJob) (time.Duration, error) {
	switch v := job.TimeoutMinutes.(type) {
	case nil:
		return 6 * time.Hour, nil
	case int:
		return time.Duration(v) * time.Minute, nil
	default:
		return 0, fmt.Errorf("timeout-minutes %v is not a number of minutes", v)
	}
}

// AWS CLI calls: in shell text ("aws ecr put-image") and, in Go, in argument
// lists ("aws", "ecr", "batch-delete-image") and raw-string scripts.
var (
	shellAWSCall = regexp.MustCompile(`\baws\s+([a-z0-9-]+)\s+([a-z][a-z0-9-]+)`)
	goAWSCall    = regexp.MustCompile(`"aws",\s*"([a-z0-9-]+)",\s*"([a-z][a-z0-9-]+)"`)
	goRawString  = regexp.MustCompile("`[^`]*`")
)

// cliActions are the calls whose IAM action is not the command's name, or
// that need none.
var cliActions = map[string]string{
	"ecr get-login-password":  "ecr:GetAuthorizationToken",
	"sts get-caller-identity": "",
	"eks get-token":           "", // presigns sts:GetCallerIdentity
	"eks update-kubeconfig":   "eks:DescribeCluster",
}

// TestDeployRoleAllowsWhatItsJobsRun: every AWS CLI call made by a job that
// runs as the deploy role (deploy.yml, nightly.yml and the live suite it
// runs, test/infra) is allowed by the deploy policy, on the mirror when it
// is an ECR repository call and on a stack's release record when it is SSM. The live suite's clean-up removes its tag with
// ecr:BatchDeleteImage, which the policy once lacked.
func TestDeployRoleAllowsWhatItsJobsRun(t *testing.T) {
	s := scope{Partition: "aws", Region: "us-east-1", AccountID: "123456789012", Project: "gopherops"}
	mirror := s.regional("ecr", "repository/gopherops")
	doc, err := DeployPolicy(s, mirror, "")
	if err != nil {
		t.Fatal(err)
	}
	policy := parsePolicy(t, doc)

	calls := map[string]string{} // call → where
	for file, jobs := range readWorkflows(t) {
		for id, job := range jobs {
			deployRole := slices.ContainsFunc(job.Steps, func(st workflowStep) bool {
				return strings.Contains(st.With["role-to-assume"], "vars.AWS_ROLE_ARN")
			})
			if !deployRole {
				continue
			}
			for _, step := range job.Steps {
				for _, m := range shellAWSCall.FindAllStringSubmatch(step.Run, -1) {
					calls[m[1]+" "+m[2]] = file + " job " + id
				}
			}
		}
	}
	live, err := filepath.Glob(filepath.Join(repoRoot, "test", "infra", "*.go"))
	if err != nil || len(live) == 0 {
		t.Fatalf("no live suite found (%v)", err)
	}
	for _, f := range live {
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range goAWSCall.FindAllStringSubmatch(string(src), -1) {
			calls[m[1]+" "+m[2]] = filepath.Base(f)
		}
		for _, script := range goRawString.FindAllString(string(src), -1) {
			for _, m := range shellAWSCall.FindAllStringSubmatch(script, -1) {
				calls[m[1]+" "+m[2]] = filepath.Base(f)
			}
		}
	}
	if len(calls) == 0 {
		t.Fatal("found no AWS CLI call to check")
	}
	for call, where := range calls {
		action := iamAction(call)
		if action == "" {
			continue
		}
		resource := "*"
		switch {
		case strings.HasPrefix(action, "ecr:") && action != "ecr:GetAuthorizationToken":
			resource = mirror
		case strings.HasPrefix(action, "ssm:"):
			resource = s.regional("ssm", "parameter/gopherops/test-stack/release")
		}
		if !policy.allows(action, resource) {
			t.Errorf("%s runs `aws %s` as the deploy role, but its policy does not allow %s on %s", where, call, action, resource)
		}
	}
}

// pascal turns a CLI command into its API action: batch-delete-image → BatchDeleteImage.
func pascal(cmd string) string {
	var b strings.Builder
	for _, part := range strings.Split(cmd, "-") {
		if part != "" {
			b.WriteString(strings.ToUpper(part[:1]) + part[1:])
		}
	}
	return b.String()
}

// iamPolicy is a parsed policy document, for evaluating Allow statements.
type iamPolicy []map[string]any

func parsePolicy(t *testing.T, doc string) iamPolicy {
	t.Helper()
	var d struct{ Statement []map[string]any }
	if err := json.Unmarshal([]byte(doc), &d); err != nil {
		t.Fatalf("policy: %v", err)
	}
	return d.Statement
}

// allows reports whether some Allow statement grants action on resource
// (wildcards as IAM matches them), and no Deny statement without a
// condition refuses it.
func (p iamPolicy) allows(action, resource string) bool {
	match := func(patterns []string, v string) bool {
		return slices.ContainsFunc(patterns, func(pat string) bool { return iamGlob(pat).MatchString(v) })
	}
	allowed := false
	for _, st := range p {
		if !match(list(st["Action"]), action) || !match(list(st["Resource"]), resource) {
			continue
		}
		switch st["Effect"] {
		case "Deny":
			if st["Condition"] == nil {
				return false
			}
		case "Allow":
			allowed = true
		}
	}
	return allowed
}

// iamGlob is an IAM pattern as a regular expression: * and ? match any
// characters, slashes and colons included.
func iamGlob(pattern string) *regexp.Regexp {
	q := regexp.QuoteMeta(pattern)
	q = strings.ReplaceAll(q, `\*`, ".*")
	q = strings.ReplaceAll(q, `\?`, ".")
	return regexp.MustCompile("^" + q + "$")
}

// workflowFile is the part of a workflow file the protection tests read:
// its triggers and jobs.
type workflowFile struct {
	On   map[string]any         `yaml:"on"`
	Jobs map[string]workflowJob `yaml:"jobs"`
}

// readWorkflowFiles parses every workflow of the repository by file name.
func readWorkflowFiles(t *testing.T) map[string]workflowFile {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(repoRoot, ".github", "workflows", "*.y*ml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no workflows found (%v)", err)
	}
	out := map[string]workflowFile{}
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var w workflowFile
		if err := yaml.Unmarshal(raw, &w); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		out[filepath.Base(f)] = w
	}
	return out
}

// inputExpression is an environment named by a workflow input: ${{ inputs.stack }}.
var inputExpression = regexp.MustCompile(`^\$\{\{\s*inputs\.([A-Za-z0-9_-]+)\s*\}\}$`)

// environmentNames are the environments a job may run in: its literal
// environment, or each option of the workflow_dispatch choice input that
// names it. ok is false when the workflow does not pin the names down.
func environmentNames(w workflowFile, job workflowJob) (names []string, ok bool) {
	var name string
	switch e := job.Environment.(type) {
	case nil:
		return nil, true
	case string:
		name = e
	case map[string]any:
		name, _ = e["name"].(string)
	}
	m := inputExpression.FindStringSubmatch(name)
	if m == nil {
		return []string{name}, !strings.Contains(name, "${{")
	}
	dispatch, _ := w.On["workflow_dispatch"].(map[string]any)
	inputs, _ := dispatch["inputs"].(map[string]any)
	input, _ := inputs[m[1]].(map[string]any)
	if input["type"] != "choice" {
		return nil, false
	}
	names = append(names, list(input["options"])...)
	return names, len(names) > 0
}

// environmentByName is the table row of a GitHub environment.
func environmentByName(name string) (Environment, bool) {
	for _, e := range Environments {
		if e.Name == name {
			return e, true
		}
	}
	return Environment{}, false
}

// TestWorkflowEnvironmentsAreManaged: every environment a workflow job runs
// in is one the bootstrap manages, and the job assumes the role that
// environment is for (so the role's trust names it); a job that assumes a
// role outside any environment assumes the pull-request role; and every
// managed environment is used by some job.
func TestWorkflowEnvironmentsAreManaged(t *testing.T) {
	used := map[string]bool{}
	for file, w := range readWorkflowFiles(t) {
		for id, job := range w.Jobs {
			where := file + " job " + id
			names, ok := environmentNames(w, job)
			if !ok {
				t.Errorf("%s: environment %v is not a name or a workflow_dispatch choice: which environment it runs in cannot be checked", where, job.Environment)
				continue
			}
			var assumed []string
			for _, step := range job.Steps {
				if m := roleVariable.FindStringSubmatch(step.With["role-to-assume"]); m != nil {
					assumed = append(assumed, m[1])
				}
			}
			if len(names) == 0 {
				for _, v := range assumed {
					if r, ok := roleByVariable(v); !ok || !r.PullRequests {
						t.Errorf("%s: assumes %s outside any environment; only the pull-request role is trusted there", where, v)
					}
				}
				continue
			}
			for _, name := range names {
				env, ok := environmentByName(name)
				if !ok {
					t.Errorf("%s: runs in environment %q, which the bootstrap does not manage (infra/bootstrap/environments.go)", where, name)
					continue
				}
				used[name] = true
				for _, v := range assumed {
					if v != env.Role.Variable {
						t.Errorf("%s: assumes %s in environment %s, whose role's ARN is %s", where, v, name, env.Role.Variable)
					}
				}
			}
		}
	}
	for _, e := range Environments {
		if !used[e.Name] {
			t.Errorf("environment %s is managed but no workflow job runs in it", e.Name)
		}
	}
}

// ciWorkflow is the workflow whose jobs gate every pull request.
const ciWorkflow = "ci.yml"

// TestRequiredChecksAreJobs: main's required checks are exactly the jobs of
// ci.yml, under the names GitHub reports them by (a job's name, else its
// id), and ci.yml runs on every pull request: a check no job reports would
// block every merge, and a job left out would gate nothing.
func TestRequiredChecksAreJobs(t *testing.T) {
	w, ok := readWorkflowFiles(t)[ciWorkflow]
	if !ok {
		t.Fatalf("no %s", ciWorkflow)
	}
	pr, ok := w.On["pull_request"]
	if !ok {
		t.Fatalf("%s does not run on pull requests", ciWorkflow)
	}
	if filters, _ := pr.(map[string]any); len(filters) > 0 {
		t.Errorf("%s runs on some pull requests only (%v): its checks would never report on the others", ciWorkflow, filters)
	}
	var jobs []string
	for id, job := range w.Jobs {
		name := job.Name
		if name == "" {
			name = id
		}
		switch {
		case strings.Contains(name, "${{"):
			t.Errorf("%s job %s: the name %q is an expression, so no fixed check name matches it", ciWorkflow, id, name)
		case job.Strategy != nil:
			t.Errorf("%s job %s: a matrix job reports under its matrix values, not %q", ciWorkflow, id, name)
		case job.Uses != "":
			t.Errorf("%s job %s: a reusable workflow reports its own jobs' names", ciWorkflow, id)
		}
		jobs = append(jobs, name)
	}
	got := slices.Clone(RequiredChecks)
	slices.Sort(got)
	slices.Sort(jobs)
	if !slices.Equal(got, jobs) {
		t.Errorf("required checks %v, but %s's jobs are %v", got, ciWorkflow, jobs)
	}
}

// TestPRStacksRoleAllowsWhatItsJobsRun: every AWS CLI call of a job that
// runs as the pull-request stacks' role (preview-env.yml, its reaper) is
// allowed by that role's policy, on the dev cluster and on the role's own
// repository; and no job in the preview environment, which any branch may
// use, names another role.
func TestPRStacksRoleAllowsWhatItsJobsRun(t *testing.T) {
	s := scope{Partition: "aws", Region: "us-east-1", AccountID: "123456789012", Project: "gopherops"}
	repo := s.regional("ecr", "repository/gopherops-pr-stacks")
	cluster := s.regional("eks", "cluster/gopherops-dev")
	doc, err := PRStacksPolicy(s, "gopherops-dev", repo, "arn:aws:s3:::gopherops-pulumi-pr-stacks")
	if err != nil {
		t.Fatal(err)
	}
	policy := parsePolicy(t, doc)
	calls := map[string]string{}
	for file, w := range readWorkflowFiles(t) {
		for id, job := range w.Jobs {
			names, _ := environmentNames(w, job)
			for _, step := range job.Steps {
				v := step.With["role-to-assume"]
				if slices.Contains(names, "preview") && v != "" && !strings.Contains(v, "vars."+PRStacksRole.Variable) {
					t.Errorf("%s job %s runs in preview, which any branch may use, but assumes %s", file, id, v)
				}
			}
			if !slices.ContainsFunc(job.Steps, func(st workflowStep) bool {
				return strings.Contains(st.With["role-to-assume"], "vars."+PRStacksRole.Variable)
			}) {
				continue
			}
			for _, step := range job.Steps {
				for _, m := range shellAWSCall.FindAllStringSubmatch(step.Run, -1) {
					calls[m[1]+" "+m[2]] = file + " job " + id
				}
			}
		}
	}
	if len(calls) == 0 {
		t.Fatal("found no AWS CLI call of the pull-request stacks' jobs")
	}
	for call, where := range calls {
		action := iamAction(call)
		if action == "" {
			continue
		}
		resource := "*"
		switch {
		case strings.HasPrefix(action, "eks:"):
			resource = cluster
		case strings.HasPrefix(action, "ecr:") && action != "ecr:GetAuthorizationToken":
			resource = repo
		}
		if !policy.allows(action, resource) {
			t.Errorf("%s runs `aws %s` as the pull-request stacks' role, but its policy does not allow %s on %s", where, call, action, resource)
		}
	}
}

// iamAction is the IAM action an AWS CLI call ("ecr get-login-password")
// needs: cliActions' when it names one ("" for none), else the service and
// the command in IAM's form.
func iamAction(call string) string {
	if action, special := cliActions[call]; special {
		return action
	}
	svc, cmd, _ := strings.Cut(call, " ")
	return svc + ":" + pascal(cmd)
}
