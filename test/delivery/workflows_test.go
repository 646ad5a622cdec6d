package delivery_test

import (
	"bytes"
	"fmt"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/rhysd/actionlint"

	"github.com/gopherops/gopherops/infra/release"
	"github.com/gopherops/gopherops/test/internal/toolchain"
)

// workflowFiles are the workflows the delivery pipeline consists of.
var workflowFiles = []string{"ci.yml", "release.yml", "deploy.yml", "nightly.yml", "ghcr-cleanup.yml", "preview-env.yml", "preview-env-reaper.yml", "drift.yml"}

// allWorkflows lists every workflow file of the repository, whoever added
// it, failing when one of the delivery pipeline's own is missing.
func allWorkflows(t *testing.T) []string {
	t.Helper()
	root := repoRoot(t)
	files, err := filepath.Glob(filepath.Join(root, ".github", "workflows", "*.y*ml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range workflowFiles {
		if !slices.Contains(files, filepath.Join(root, ".github", "workflows", want)) {
			t.Errorf("workflow %s is missing", want)
		}
	}
	return files
}

// TestWorkflowsLintClean runs actionlint, as a library, over every workflow
// in .github/workflows, with shellcheck on every run: script, and fails on
// any finding. shellcheck is Debian's package (.ci/run installs it; GitHub's
// runners have it): without it the scripts would go unchecked, so its
// absence fails the test instead of passing it quietly.
func TestWorkflowsLintClean(t *testing.T) {
	root := repoRoot(t)
	files := allWorkflows(t)
	shellcheck, err := exec.LookPath("shellcheck")
	if err != nil {
		t.Fatal("shellcheck is not installed (apt-get install shellcheck): the workflows' run: scripts cannot be checked")
	}
	opts := &actionlint.LinterOptions{Shellcheck: shellcheck}
	var out bytes.Buffer
	linter, err := actionlint.NewLinter(&out, opts)
	if err != nil {
		t.Fatalf("new linter: %v", err)
	}
	project, err := actionlint.NewProjects().At(root)
	if err != nil {
		t.Fatalf("actionlint project: %v", err)
	}
	errs, err := linter.LintFiles(files, project)
	if err != nil {
		t.Fatalf("lint: %v", err)
	}
	for _, e := range errs {
		t.Errorf("%s:%d:%d: %s [%s]", filepath.Base(e.Filepath), e.Line, e.Column, e.Message, e.Kind)
	}
}

var (
	usesLine   = regexp.MustCompile(`^\s*(?:-\s+)?uses:\s*(\S+)\s*(?:#\s*(.*))?$`)
	pinnedRef  = regexp.MustCompile(`^[A-Za-z0-9_.-]+/[A-Za-z0-9_./-]+@[0-9a-f]{40}$`)
	versionTag = regexp.MustCompile(`^v?\d+(\.\d+)*\b`)
)

// TestActionsPinnedToCommits requires every third-party action to be pinned to a
// full commit SHA with its version in a comment, so a moved tag cannot change
// what runs (as happened to trivy-action's tags in March 2026).
func TestActionsPinnedToCommits(t *testing.T) {
	for _, file := range allWorkflows(t) {
		name := filepath.Base(file)
		t.Run(name, func(t *testing.T) {
			src := string(readFile(t, filepath.Join(".github", "workflows", name)))
			uses := 0
			for i, line := range strings.Split(src, "\n") {
				m := usesLine.FindStringSubmatch(line)
				if m == nil {
					continue
				}
				uses++
				ref, comment := m[1], strings.TrimSpace(m[2])
				if strings.HasPrefix(ref, "./") {
					continue // a workflow or action of this repository
				}
				if !pinnedRef.MatchString(ref) {
					t.Errorf("line %d: %q is not pinned to a 40-hex commit SHA", i+1, ref)
				}
				if !versionTag.MatchString(comment) {
					t.Errorf("line %d: %q has no version comment (got %q)", i+1, ref, comment)
				}
			}
			if uses == 0 {
				t.Error("no uses: lines found")
			}
		})
	}
}

// workflowFacts is what one workflow must contain to be wired to the real commands.
type workflowFacts struct {
	file        string
	events      []string
	runs        []string // substrings some run: script must contain
	uses        []string // action repositories some step must use
	idToken     bool     // whether some job may mint OIDC tokens
	environment bool     // whether some job runs in a GitHub environment
}

// TestWorkflowsWiring parses each workflow and checks its triggers, the make
// targets and tools it calls, least-privilege permissions and concurrency.
func TestWorkflowsWiring(t *testing.T) {
	cases := []workflowFacts{
		{
			file:   "ci.yml",
			events: []string{"pull_request", "push"},
			runs: []string{"make build", "make vet", "make lint", "make vuln", "make test", "make actionlint", "apt-get install -y --no-install-recommends postgresql",
				// The kind job: the official CLI deploys the local stack onto a
				// real cluster, then the platform suite runs there.
				"kind create cluster", "kind load docker-image", "pulumi up --stack local", "make test-platform", "pulumi destroy --stack local"},
			uses: []string{"actions/setup-go", "docker/build-push-action", "pulumi/actions"},
		},
		{
			file:    "release.yml",
			events:  []string{"push"},
			runs:    []string{"make compose-up", "make test-compose", "make compose-down", "cosign sign", "cosign attest --yes --type spdxjson"},
			uses:    []string{"docker/metadata-action", "docker/build-push-action", "docker/login-action", "aquasecurity/trivy-action", "sigstore/cosign-installer"},
			idToken: true,
		},
		{
			file:   "deploy.yml",
			events: []string{"pull_request", "workflow_call", "workflow_dispatch"},
			runs: []string{"crane copy", "crane digest", "aws ecr get-login-password", "cosign verify", "cosign verify-attestation --type spdxjson",
				"aws ssm put-parameter"},
			uses:        []string{"pulumi/actions", "aws-actions/configure-aws-credentials", "sigstore/cosign-installer"},
			idToken:     true,
			environment: true,
		},
		{
			file:        "nightly.yml",
			events:      []string{"schedule", "workflow_dispatch"},
			runs:        []string{"make test-live", "pulumi destroy", "make mutation"},
			uses:        []string{"aws-actions/configure-aws-credentials", "actions/upload-artifact"},
			idToken:     true,
			environment: true,
		},
		{
			file:        "drift.yml",
			events:      []string{"schedule", "workflow_dispatch"},
			runs:        []string{"go build -o bin/drift ./infra/cmd/drift", "bin/drift -stack", "gh issue create", "gh issue edit", "gh issue close"},
			uses:        []string{"aws-actions/configure-aws-credentials", "pulumi/actions"},
			idToken:     true,
			environment: true,
		},
		{
			file:   "ghcr-cleanup.yml",
			events: []string{"schedule", "workflow_dispatch"},
			uses:   []string{"dataaxiom/ghcr-cleanup-action"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.file, func(t *testing.T) {
			src := readFile(t, filepath.Join(".github", "workflows", tc.file))
			w, errs := actionlint.Parse(src)
			if len(errs) > 0 {
				t.Fatalf("parse: %v", errs[0])
			}
			var events []string
			for _, e := range w.On {
				events = append(events, e.EventName())
			}
			for _, want := range tc.events {
				if !slices.Contains(events, want) {
					t.Errorf("not triggered by %s (triggers: %v)", want, events)
				}
			}

			if w.Permissions == nil {
				t.Error("no top-level permissions: the token would get the repository default")
			} else if w.Permissions.All != nil && w.Permissions.All.Value != "read-all" {
				t.Errorf("top-level permissions %q", w.Permissions.All.Value)
			} else {
				for name, scope := range w.Permissions.Scopes {
					if scope.Value.Value != "read" && scope.Value.Value != "none" {
						t.Errorf("top-level permission %s: %s; grant writes per job", name, scope.Value.Value)
					}
				}
			}

			var scripts, uses []string
			idToken, environment := false, false
			for id, job := range w.Jobs {
				if w.Concurrency == nil && job.Concurrency == nil {
					t.Errorf("job %s: no concurrency group at workflow or job level", id)
				}
				if job.Environment != nil {
					environment = true
				}
				if job.Permissions != nil {
					if job.Permissions.All != nil {
						t.Errorf("job %s: permissions %q instead of named scopes", id, job.Permissions.All.Value)
					}
					if s, ok := job.Permissions.Scopes["id-token"]; ok && s.Value.Value == "write" {
						idToken = true
					}
				}
				if job.WorkflowCall != nil {
					uses = append(uses, job.WorkflowCall.Uses.Value)
				}
				for _, step := range job.Steps {
					switch exec := step.Exec.(type) {
					case *actionlint.ExecRun:
						scripts = append(scripts, exec.Run.Value)
					case *actionlint.ExecAction:
						uses = append(uses, exec.Uses.Value)
					}
				}
			}
			all := strings.Join(scripts, "\n")
			for _, want := range tc.runs {
				// The command must end where the text says: "make vuln" is not "make vulnx".
				if !regexp.MustCompile(regexp.QuoteMeta(want) + `(?:[^\w-]|$)`).MatchString(all) {
					t.Errorf("no run: step contains %q", want)
				}
			}
			for _, want := range tc.uses {
				if !slices.ContainsFunc(uses, func(u string) bool { return strings.HasPrefix(u, want+"@") }) {
					t.Errorf("no step uses %s", want)
				}
			}
			if idToken != tc.idToken {
				t.Errorf("id-token: write granted = %v, want %v", idToken, tc.idToken)
			}
			if environment != tc.environment {
				t.Errorf("runs in a GitHub environment = %v, want %v", environment, tc.environment)
			}
			for _, static := range []string{"aws-access-key-id", "AWS_ACCESS_KEY_ID", "aws-secret-access-key", "AWS_SECRET_ACCESS_KEY"} {
				if bytes.Contains(src, []byte(static)) {
					t.Errorf("mentions %s: AWS access must come from OIDC, not static keys", static)
				}
			}
		})
	}
}

// TestKindJobUsesThePinnedEngine: the kind job installs the Pulumi CLI at the
// version `make tools` builds, so both paths run the same engine.
func TestKindJobUsesThePinnedEngine(t *testing.T) {
	w, errs := actionlint.Parse(readFile(t, filepath.Join(".github", "workflows", "ci.yml")))
	if len(errs) > 0 {
		t.Fatalf("parse: %v", errs[0])
	}
	job, ok := w.Jobs["kind"]
	if !ok {
		t.Fatal("ci.yml has no kind job")
	}
	found := false
	for _, step := range job.Steps {
		action, ok := step.Exec.(*actionlint.ExecAction)
		if !ok || !strings.HasPrefix(action.Uses.Value, "pulumi/actions@") {
			continue
		}
		found = true
		in, ok := action.Inputs["pulumi-version"]
		if !ok || in.Value == nil {
			t.Fatal("the kind job installs the Pulumi CLI without pinning pulumi-version")
		}
		if want := strings.TrimPrefix(toolchain.PulumiVersion, "v"); in.Value.Value != want {
			t.Errorf("kind job pulumi-version = %q, want %q (toolchain.PulumiVersion)", in.Value.Value, want)
		}
	}
	if !found {
		t.Error("the kind job does not install the Pulumi CLI with pulumi/actions")
	}
}

// TestWorkflowsUseThePinnedEngine: every pulumi/actions step of every
// workflow installs the Pulumi CLI at the version `make tools` builds, so a
// prod `up`, a drift check and a pull request's stack run the engine the
// suites tested, not whatever version the action found newest that day.
func TestWorkflowsUseThePinnedEngine(t *testing.T) {
	want := strings.TrimPrefix(toolchain.PulumiVersion, "v")
	steps := 0
	for _, file := range allWorkflows(t) {
		w, errs := actionlint.Parse(readFile(t, filepath.Join(".github", "workflows", filepath.Base(file))))
		if len(errs) > 0 {
			t.Fatalf("%s: parse: %v", file, errs[0])
		}
		for id, job := range w.Jobs {
			for i, step := range job.Steps {
				action, ok := step.Exec.(*actionlint.ExecAction)
				if !ok || !strings.HasPrefix(action.Uses.Value, "pulumi/actions@") {
					continue
				}
				steps++
				where := fmt.Sprintf("%s job %s step %d", filepath.Base(file), id, i+1)
				in, ok := action.Inputs["pulumi-version"]
				switch {
				case !ok || in.Value == nil:
					t.Errorf("%s installs the Pulumi CLI without pulumi-version: the newest release, untested", where)
				case in.Value.Value != want:
					t.Errorf("%s: pulumi-version %q, want %q (toolchain.PulumiVersion)", where, in.Value.Value, want)
				}
			}
		}
	}
	if steps == 0 {
		t.Fatal("no workflow step uses pulumi/actions")
	}
}

// TestReleaseCallsDeploy checks the hand-over from release.yml to deploy.yml: dev
// from main and prod from version tags, each with the pushed image's digest.
func TestReleaseCallsDeploy(t *testing.T) {
	w, errs := actionlint.Parse(readFile(t, filepath.Join(".github", "workflows", "release.yml")))
	if len(errs) > 0 {
		t.Fatalf("parse: %v", errs[0])
	}
	publish, ok := w.Jobs["publish"]
	if !ok {
		t.Fatal("release.yml has no publish job")
	}
	if out, ok := publish.Outputs["digest"]; !ok || !strings.Contains(out.Value.Value, "steps.build.outputs.digest") {
		t.Error("publish does not output the digest of the build step")
	}
	cases := []struct {
		job, stack, condition string
	}{
		{job: "deploy-dev", stack: "dev", condition: "refs/heads/main"},
		{job: "deploy-prod", stack: "prod", condition: "refs/tags/v"},
	}
	for _, tc := range cases {
		t.Run(tc.job, func(t *testing.T) {
			job, ok := w.Jobs[tc.job]
			if !ok || job.WorkflowCall == nil {
				t.Fatalf("no job %s calling a workflow", tc.job)
			}
			if got := job.WorkflowCall.Uses.Value; got != "./.github/workflows/deploy.yml" {
				t.Errorf("calls %s", got)
			}
			if !needsPublish(job) {
				t.Error("does not wait for publish")
			}
			if job.If == nil || !strings.Contains(job.If.Value, tc.condition) {
				t.Errorf("condition does not restrict it to %s", tc.condition)
			}
			if in, ok := job.WorkflowCall.Inputs["stack"]; !ok || in.Value.Value != tc.stack {
				t.Errorf("stack input is not %s", tc.stack)
			}
			if in, ok := job.WorkflowCall.Inputs["image-digest"]; !ok || !strings.Contains(in.Value.Value, "needs.publish.outputs.digest") {
				t.Error("image-digest input is not the published digest")
			}
		})
	}
}

// needsPublish reports whether a job lists publish in needs:.
func needsPublish(job *actionlint.Job) bool {
	for _, n := range job.Needs {
		if n.Value == "publish" {
			return true
		}
	}
	return false
}

// TestDeployRollsOutOnlySignedReleasesAndRecordsSuccess: deploy.yml
// verifies the release's keyless signature and SBOM attestations (this
// repository's release.yml, prod from v* tags only) before it mirrors the
// image; the mirror's tag is the release's own (release.Tag), so nothing a
// later up reads moves before `pulumi up`; the up gets the release through
// release.DigestEnv; and the stack's record (release.Parameter) is written
// only after the up succeeded. deploy.yml once moved the stack's tag first,
// so a failed up left the next laptop `pulumi up` rolling out what failed.
// Prod and dev jobs run on their in-VPC runners, previews as the read-only
// role, and no job sets stack config on the runner.
func TestDeployRollsOutOnlySignedReleasesAndRecordsSuccess(t *testing.T) {
	w, errs := actionlint.Parse(readFile(t, filepath.Join(".github", "workflows", "deploy.yml")))
	if len(errs) > 0 {
		t.Fatalf("parse: %v", errs[0])
	}
	for _, id := range []string{"up", "preview"} {
		job, ok := w.Jobs[id]
		if !ok {
			t.Fatalf("deploy.yml has no %s job", id)
		}
		for _, stack := range []string{"prod", "dev"} {
			if job.RunsOn == nil || job.RunsOn.LabelsExpr == nil || !strings.Contains(job.RunsOn.LabelsExpr.Value, "codebuild-") ||
				!strings.Contains(job.RunsOn.LabelsExpr.Value, "'"+stack+"'") {
				t.Errorf("%s: %s does not run on its in-VPC CodeBuild runner", id, stack)
			}
		}
		for _, step := range job.Steps {
			if run, ok := step.Exec.(*actionlint.ExecRun); ok && strings.Contains(run.Run.Value, "pulumi config set") {
				t.Errorf("%s sets stack config on the runner, where the next pulumi up never sees it", id)
			}
			action, ok := step.Exec.(*actionlint.ExecAction)
			if !ok || !strings.HasPrefix(action.Uses.Value, "aws-actions/configure-aws-credentials@") {
				continue
			}
			want := map[string]string{"up": "vars.AWS_ROLE_ARN", "preview": "vars.AWS_PREVIEW_ROLE_ARN"}[id]
			if in, ok := action.Inputs["role-to-assume"]; !ok || !strings.Contains(in.Value.Value, want) {
				t.Errorf("%s assumes %v, want %s", id, in, want)
			}
		}
	}

	up := w.Jobs["up"]
	if s, ok := up.Permissions.Scopes["packages"]; !ok || s.Value.Value != "read" {
		t.Error("the up job cannot read the GHCR package it mirrors")
	}
	project := pulumiProject(t)
	// The strings the workflow's shell must build, from the functions the
	// program and the live suite use, given the shell's variables.
	wantTag := `"${ECR_REPOSITORY}:` + release.Tag("${STACK}", "sha256:${IMAGE_DIGEST#sha256:}") + `"`
	wantRecord := `--name "` + release.Parameter(project, "${STACK}") + `"`
	steps := map[string]int{}
	script := func(i int) string {
		if run, ok := up.Steps[i].Exec.(*actionlint.ExecRun); ok {
			return run.Run.Value
		}
		return ""
	}
	for i, step := range up.Steps {
		run := script(i)
		switch {
		case strings.Contains(run, "cosign verify "):
			steps["verify"] = i
		case strings.Contains(run, "crane copy"):
			steps["mirror"] = i
			if !strings.Contains(run, wantTag) {
				t.Errorf("the mirror step does not copy to the release's own tag %s:\n%s", wantTag, run)
			}
		case strings.Contains(run, "aws ssm put-parameter"):
			steps["record"] = i
			if !strings.Contains(run, wantRecord) {
				t.Errorf("the record step does not write %s:\n%s", wantRecord, run)
			}
			if step.If != nil && step.If.Value != "success()" {
				t.Errorf("the record step runs if %q: it must run only after a successful up", step.If.Value)
			}
		}
		if action, ok := step.Exec.(*actionlint.ExecAction); ok && strings.HasPrefix(action.Uses.Value, "pulumi/actions@") {
			if in, ok := action.Inputs["command"]; ok && in.Value.Value == "up" {
				steps["up"] = i
				var v *actionlint.EnvVar
				if step.Env != nil {
					v = step.Env.Vars[strings.ToLower(release.DigestEnv)]
				}
				if v == nil || !strings.Contains(v.Value.Value, "inputs.image-digest") {
					t.Errorf("pulumi up is not handed the release through %s", release.DigestEnv)
				}
			}
		}
	}
	for _, name := range []string{"verify", "mirror", "up", "record"} {
		if _, ok := steps[name]; !ok {
			t.Fatalf("the up job has no %s step", name)
		}
	}
	if steps["verify"] >= steps["mirror"] || steps["mirror"] >= steps["up"] || steps["up"] >= steps["record"] {
		t.Errorf("steps run verify %d, mirror %d, up %d, record %d: want them in that order", steps["verify"], steps["mirror"], steps["up"], steps["record"])
	}
	for i := range steps["up"] {
		if run := script(i); strings.Contains(run, "ssm put-parameter") || strings.Contains(run, "crane tag") {
			t.Errorf("step %d moves what later ups read before pulumi up:\n%s", i, run)
		}
	}

	verify := script(steps["verify"])
	for _, want := range []string{
		"--certificate-oidc-issuer \"$issuer\"", "issuer=https://token.actions.githubusercontent.com",
		"--certificate-identity-regexp \"$identity\"", `/\.github/workflows/release\.yml@${refs}`, "${GITHUB_REPOSITORY",
		"cosign verify-attestation --type spdxjson",
	} {
		if !strings.Contains(verify, want) {
			t.Errorf("the verify step lacks %q:\n%s", want, verify)
		}
	}
	// prod takes images built from version tags only.
	prodRefs := regexp.MustCompile(`prod\) refs='([^']*)'`).FindStringSubmatch(verify)
	if prodRefs == nil || prodRefs[1] != "refs/tags/v[^/]+" {
		t.Errorf("prod's accepted refs = %v, want refs/tags/v[^/]+ only", prodRefs)
	}
}

// pulumiProject is the Pulumi project's name (Pulumi.yaml).
func pulumiProject(t *testing.T) string {
	t.Helper()
	m := regexp.MustCompile(`(?m)^name:\s*(\S+)`).FindSubmatch(readFile(t, "Pulumi.yaml"))
	if m == nil {
		t.Fatal("Pulumi.yaml has no name")
	}
	return string(m[1])
}
