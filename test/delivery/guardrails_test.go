package delivery_test

import (
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/rhysd/actionlint"
)

// policyPack is the pack every engine run of a workflow uses.
const policyPack = "infra/policy"

// engineRun matches a `pulumi up` or `pulumi preview` command in a script.
var engineRun = regexp.MustCompile(`\bpulumi\s+(up|preview)\b[^\n]*`)

// TestEveryEngineRunUsesThePolicyPack: each `pulumi up` and `pulumi
// preview` the workflows run, in a script or through pulumi/actions, runs
// the policy pack; and in every job that updates a stack, a preview with the
// pack comes first (`pulumi up` previews itself unless told to skip it;
// pulumi/actions skips it), so a violation stops the job before any change.
func TestEveryEngineRunUsesThePolicyPack(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(repoRoot(t), ".github", "workflows", "*.y*ml"))
	if err != nil {
		t.Fatal(err)
	}
	runs := 0
	for _, file := range files {
		w, errs := actionlint.Parse(readFile(t, filepath.Join(".github", "workflows", filepath.Base(file))))
		if len(errs) > 0 {
			t.Fatalf("%s: parse: %v", filepath.Base(file), errs[0])
		}
		for id, job := range w.Jobs {
			where := filepath.Base(file) + " job " + id
			previewed := false
			for _, step := range job.Steps {
				switch exec := step.Exec.(type) {
				case *actionlint.ExecRun:
					for _, cmd := range engineRun.FindAllString(exec.Run.Value, -1) {
						runs++
						if !strings.Contains(cmd, "--policy-pack "+policyPack) {
							t.Errorf("%s: %q runs without --policy-pack %s", where, cmd, policyPack)
						}
						if strings.HasPrefix(strings.Fields(cmd)[1], "up") && strings.Contains(cmd, "--skip-preview") && !previewed {
							t.Errorf("%s: %q skips the preview that would stop a violation before any change", where, cmd)
						}
						previewed = previewed || strings.Fields(cmd)[1] == "preview"
					}
				case *actionlint.ExecAction:
					if !strings.HasPrefix(exec.Uses.Value, "pulumi/actions@") {
						continue
					}
					cmd, ok := exec.Inputs["command"]
					if !ok || cmd.Value == nil || !slices.Contains([]string{"up", "preview"}, cmd.Value.Value) {
						continue
					}
					runs++
					if packs, ok := exec.Inputs["policypacks"]; !ok || packs.Value == nil || strings.TrimSpace(packs.Value.Value) != policyPack {
						t.Errorf("%s: pulumi/actions %s runs without policyPacks: %s", where, cmd.Value.Value, policyPack)
					}
					if cmd.Value.Value == "up" && !previewed {
						t.Errorf("%s: pulumi/actions up (which skips its preview) is not preceded by a preview with the pack", where)
					}
					previewed = previewed || cmd.Value.Value == "preview"
				}
			}
		}
	}
	if runs < 4 {
		t.Errorf("found %d engine runs in the workflows: the test is not looking at them", runs)
	}
}

// TestDriftWorkflow: dev is checked daily and prod hourly, as the read-only
// drift role in the drift environment, by the drift command itself (whose
// exit status tells drift from failure), and the issue follows the result.
func TestDriftWorkflow(t *testing.T) {
	w, errs := actionlint.Parse(readFile(t, filepath.Join(".github", "workflows", "drift.yml")))
	if len(errs) > 0 {
		t.Fatalf("parse: %v", errs[0])
	}
	var crons []string
	for _, e := range w.On {
		if s, ok := e.(*actionlint.ScheduledEvent); ok {
			for _, c := range s.Cron {
				crons = append(crons, c.Value)
			}
		}
	}
	daily, hourly := "", ""
	for _, c := range crons {
		f := strings.Fields(c)
		switch {
		case len(f) == 5 && f[1] == "*" && f[2] == "*":
			hourly = c
		case len(f) == 5 && f[2] == "*" && f[3] == "*" && f[4] == "*":
			daily = c
		}
	}
	if daily == "" || hourly == "" {
		t.Fatalf("schedules %v: want one daily and one hourly", crons)
	}
	job, ok := w.Jobs["check"]
	if !ok || job.Strategy == nil || job.Strategy.Matrix == nil {
		t.Fatal("drift.yml has no check job with a stack matrix")
	}
	stack := job.Strategy.Matrix.Rows["stack"]
	if stack == nil || stack.Expression == nil && len(stack.Values) != 1 {
		t.Fatal("the check job's matrix has no single stack")
	}
	src := string(readFile(t, filepath.Join(".github", "workflows", "drift.yml")))
	for _, want := range []string{"'" + daily + "' && 'dev' || 'prod'", "vars.AWS_DRIFT_ROLE_ARN", "issues: write"} {
		if !strings.Contains(src, want) {
			t.Errorf("drift.yml does not contain %q", want)
		}
	}
	if job.Environment == nil || job.Environment.Name == nil || job.Environment.Name.Value != "drift" {
		t.Error("the check job does not run in the drift environment the drift role trusts")
	}
	if s, ok := job.Permissions.Scopes["contents"]; !ok || s.Value.Value != "read" {
		t.Error("the check job may write the repository")
	}
}
