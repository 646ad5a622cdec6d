package delivery_test

import (
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/rhysd/actionlint"
)

// headRepoCheck is the condition that keeps a job from running for a fork's
// pull request: the head repository must be this one.
const headRepoCheck = "github.event.pull_request.head.repo.full_name == github.repository"

// parseWorkflow parses one workflow of .github/workflows.
func parseWorkflow(t *testing.T, name string) *actionlint.Workflow {
	t.Helper()
	w, errs := actionlint.Parse(readFile(t, filepath.Join(".github", "workflows", name)))
	if len(errs) > 0 {
		t.Fatalf("%s: parse: %v", name, errs[0])
	}
	return w
}

// privileged reports why a job can reach credentials or an environment:
// an OIDC token, a GitHub environment, or a secret in its steps or env.
func privileged(w *actionlint.Workflow, job *actionlint.Job) []string {
	var why []string
	if job.Permissions != nil {
		if s, ok := job.Permissions.Scopes["id-token"]; ok && s.Value.Value == "write" {
			why = append(why, "id-token: write")
		}
		for name, s := range job.Permissions.Scopes {
			if name != "id-token" && s.Value.Value == "write" {
				why = append(why, name+": write")
			}
		}
	}
	if job.Environment != nil {
		why = append(why, "environment")
	}
	for _, step := range job.Steps {
		for _, v := range stepEnv(step) {
			if strings.Contains(v, "secrets.") {
				why = append(why, "a secret in a step")
			}
		}
	}
	if job.Env != nil {
		for _, v := range job.Env.Vars {
			if strings.Contains(v.Value.Value, "secrets.") {
				why = append(why, "a secret in the job's env")
			}
		}
	}
	if w.Env != nil {
		for _, v := range w.Env.Vars {
			if strings.Contains(v.Value.Value, "secrets.") {
				why = append(why, "a secret in the workflow's env")
			}
		}
	}
	return why
}

func stepEnv(step *actionlint.Step) []string {
	var out []string
	if step.Env != nil {
		for _, v := range step.Env.Vars {
			out = append(out, v.Value.Value)
		}
	}
	if a, ok := step.Exec.(*actionlint.ExecAction); ok {
		for _, in := range a.Inputs {
			if in.Value != nil {
				out = append(out, in.Value.Value)
			}
		}
	}
	return out
}

// TestForkPullRequestsGetNothing holds every workflow to the promise of
// docs/environments.md: nothing runs with the base repository's rights for
// a fork's code (no pull_request_target, no workflow_run), and every job a
// pull request can start that could reach a credential, a write scope or an
// environment runs only for pull requests from this repository.
func TestForkPullRequestsGetNothing(t *testing.T) {
	root := repoRoot(t)
	files, err := filepath.Glob(filepath.Join(root, ".github", "workflows", "*.y*ml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no workflows: %v", err)
	}
	for _, file := range files {
		name := filepath.Base(file)
		t.Run(name, func(t *testing.T) {
			w := parseWorkflow(t, name)
			onPR := false
			for _, e := range w.On {
				switch e.EventName() {
				case "pull_request_target", "workflow_run":
					t.Errorf("triggered by %s: it runs with this repository's secrets for a fork's pull request", e.EventName())
				case "pull_request":
					onPR = true
				}
			}
			if !onPR {
				return
			}
			for id, job := range w.Jobs {
				why := privileged(w, job)
				if len(why) == 0 {
					continue
				}
				cond := ""
				if job.If != nil {
					cond = job.If.Value
				}
				if !strings.Contains(cond, headRepoCheck) && !strings.Contains(cond, "github.event_name != 'pull_request'") {
					t.Errorf("job %s (%s) may run for a fork's pull request: its if: %q has neither %q nor excludes pull requests",
						id, strings.Join(slices.Compact(why), ", "), cond, headRepoCheck)
				}
			}
		})
	}
}

// TestPreviewEnvironmentWorkflows: the pull-request environment's life as
// docs/environments.md tells it, in the order it must happen.
func TestPreviewEnvironmentWorkflows(t *testing.T) {
	w := parseWorkflow(t, "preview-env.yml")
	var types []string
	for _, e := range w.On {
		if we, ok := e.(*actionlint.WebhookEvent); ok && we.EventName() == "pull_request" {
			for _, ty := range we.Types {
				types = append(types, ty.Value)
			}
		}
	}
	slices.Sort(types)
	if want := []string{"closed", "opened", "reopened", "synchronize"}; !slices.Equal(types, want) {
		t.Errorf("pull_request types %v, want %v", types, want)
	}
	if w.Concurrency == nil || !strings.Contains(w.Concurrency.Group.Value, "github.event.pull_request.number") ||
		w.Concurrency.CancelInProgress == nil || w.Concurrency.CancelInProgress.Expression != nil || w.Concurrency.CancelInProgress.Value {
		t.Error("updates of one pull request must queue per pull request and never be cancelled half-way")
	}
	for id, job := range w.Jobs {
		if job.If == nil || !strings.Contains(job.If.Value, headRepoCheck) {
			t.Errorf("job %s runs for forks too", id)
		}
		if job.Environment == nil || job.Environment.Name.Value != "preview" {
			t.Errorf("job %s is not in the preview environment (the AWS role trusts it only)", id)
		}
	}
	up, ok := w.Jobs["up"]
	if !ok {
		t.Fatal("no up job")
	}
	if up.Environment.URL == nil || !strings.Contains(up.Environment.URL.Value, "steps.address.outputs.url") {
		t.Error("the deployment does not record the stack's address")
	}
	order(t, up, "previews admit", "make image", "pulumi up", "pulumi stack output appUrl", "TestCLIStackJourneys", "gh pr comment")
	destroy, ok := w.Jobs["destroy"]
	if !ok {
		t.Fatal("no destroy job")
	}
	if destroy.If == nil || !strings.Contains(destroy.If.Value, "github.event.action == 'closed'") {
		t.Error("the destroy job does not run on close")
	}
	order(t, destroy, "previews destroy", "kubectl get namespace", "kubectl get pv")

	reaper := parseWorkflow(t, "preview-env-reaper.yml")
	scheduled := slices.ContainsFunc(reaper.On, func(e actionlint.Event) bool { return e.EventName() == "schedule" })
	if !scheduled {
		t.Error("the reaper is not scheduled")
	}
	for _, job := range reaper.Jobs {
		order(t, job, "previews reap -ttl")
	}
}

// order checks that the job's run: scripts contain each command, in order.
func order(t *testing.T, job *actionlint.Job, commands ...string) {
	t.Helper()
	var script strings.Builder
	for _, step := range job.Steps {
		if r, ok := step.Exec.(*actionlint.ExecRun); ok {
			script.WriteString(r.Run.Value + "\n")
		}
	}
	text := script.String()
	at := 0
	for _, c := range commands {
		i := regexp.MustCompile(regexp.QuoteMeta(c)).FindStringIndex(text[at:])
		if i == nil {
			t.Errorf("job %s: no %q after the previous step's commands", job.ID.Value, c)
			continue
		}
		at += i[1]
	}
}

// TestPreviewEnvironmentHoldsNoDeployRole: the preview environment admits a
// job from any branch of the repository, so whoever can push one can
// rewrite these jobs; none of them may name the deploy role (AWS_ROLE_ARN,
// which can change prod) or the state backend dev and prod share. They
// assume the pull-request stacks' role and use its own backend.
func TestPreviewEnvironmentHoldsNoDeployRole(t *testing.T) {
	root := repoRoot(t)
	files, err := filepath.Glob(filepath.Join(root, ".github", "workflows", "*.y*ml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no workflows: %v", err)
	}
	jobs := 0
	for _, f := range files {
		w := parseWorkflow(t, filepath.Base(f))
		for id, job := range w.Jobs {
			if job.Environment == nil || job.Environment.Name == nil || job.Environment.Name.Value != "preview" {
				continue
			}
			jobs++
			where := filepath.Base(f) + " job " + id
			texts := []string{}
			if job.Env != nil {
				for _, v := range job.Env.Vars {
					texts = append(texts, v.Value.Value)
				}
			}
			roles := 0
			for _, step := range job.Steps {
				texts = append(texts, stepEnv(step)...)
				if r, ok := step.Exec.(*actionlint.ExecRun); ok && r.Run != nil {
					texts = append(texts, r.Run.Value)
				}
				if a, ok := step.Exec.(*actionlint.ExecAction); ok {
					if in, ok := a.Inputs["role-to-assume"]; ok && in.Value != nil {
						roles++
						if !strings.Contains(in.Value.Value, "vars.AWS_PR_STACKS_ROLE_ARN") {
							t.Errorf("%s: assumes %s, not the pull-request stacks' role", where, in.Value.Value)
						}
					}
				}
			}
			if roles == 0 {
				t.Errorf("%s: assumes no role", where)
			}
			for _, v := range texts {
				if strings.Contains(v, "AWS_ROLE_ARN") && !strings.Contains(v, "AWS_PR_STACKS_ROLE_ARN") {
					t.Errorf("%s names the deploy role: %q", where, v)
				}
				if strings.Contains(v, "vars.PULUMI_BACKEND_URL") {
					t.Errorf("%s names the state backend dev and prod share: %q", where, v)
				}
			}
			backend := ""
			if job.Env != nil {
				if v, ok := job.Env.Vars["pulumi_backend_url"]; ok {
					backend = v.Value.Value
				}
			}
			if !strings.Contains(backend, "vars.PR_STACKS_BACKEND_URL") {
				t.Errorf("%s: PULUMI_BACKEND_URL is %q, not the pull-request stacks' own backend", where, backend)
			}
		}
		if w.Env != nil {
			for _, v := range w.Env.Vars {
				if strings.Contains(v.Value.Value, "vars.PULUMI_BACKEND_URL") && slices.ContainsFunc(mapValues(w.Jobs), func(j *actionlint.Job) bool {
					return j.Environment != nil && j.Environment.Name != nil && j.Environment.Name.Value == "preview"
				}) {
					t.Errorf("%s: the workflow's env hands its preview jobs the shared backend", filepath.Base(f))
				}
			}
		}
	}
	if jobs < 3 {
		t.Errorf("found %d jobs in the preview environment, want preview-env.yml's up and destroy and the reaper", jobs)
	}
}

// mapValues are m's values.
func mapValues[K comparable, V any](m map[K]V) []V {
	out := make([]V, 0, len(m))
	for _, v := range m {
		out = append(out, v)
	}
	return out
}
