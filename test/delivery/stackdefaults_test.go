package delivery_test

import (
	"os"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/gopherops/gopherops/infra/config"
)

// committedConfig is what the program makes of a committed stack file, with
// placeholders for what an operator sets per account.
func committedConfig(t *testing.T, file, stack string) (*config.Config, *config.StackFile) {
	t.Helper()
	sf, err := config.ReadStackFile(filepath.Join(repoRoot(t), "Pulumi."+file+".yaml"))
	if err != nil {
		t.Fatal(err)
	}
	values := map[string]string{}
	for k, v := range sf.Values {
		values[k] = v
	}
	if file != "pr" {
		values["gopherops:sessionKey"] = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="
		values["gopherops:grafanaAdminPassword"] = "a-long-enough-password"
	}
	if values["gopherops:ciRunner"] == "true" {
		values["gopherops:githubConnectionArn"] = "arn:aws:codeconnections:us-east-1:123456789012:connection/0a1b2c3d-4e5f-6a7b-8c9d-0e1f2a3b4c5d"
	}
	cfg, err := config.Parse(config.FromMap(values), "gopherops", stack)
	if err != nil {
		t.Fatalf("Pulumi.%s.yaml: %v", file, err)
	}
	return cfg, sf
}

// Fallbacks and names the workflows write down for what the stacks decide.
var (
	clusterFallback = regexp.MustCompile(`vars\.DEV_CLUSTER_NAME \|\| '([^']*)'`)
	regionFallback  = regexp.MustCompile(`vars\.AWS_REGION \|\| '([^']*)'`)
	kubeconfigAlias = regexp.MustCompile(`update-kubeconfig [^\n]*--alias ([^\s"]+)`)
)

// TestWorkflowsAgreeWithTheStacks: what a workflow assumes about the stacks
// when no repository variable says otherwise is what the stacks are: the
// dev cluster's name (the pull-request stacks live there), the region dev
// and prod deploy to, and the kubeconfig context the pull-request template
// names (the workflows create it with `--alias`). The workflows cannot read
// the stacks' configuration, so this test keeps the copies equal.
func TestWorkflowsAgreeWithTheStacks(t *testing.T) {
	dev, devFile := committedConfig(t, "dev", "dev")
	_, prodFile := committedConfig(t, "prod", "prod")
	pr, _ := committedConfig(t, "pr", config.PreviewStackName(1))
	if devFile.Values["aws:region"] != prodFile.Values["aws:region"] {
		t.Fatalf("dev deploys to %s, prod to %s: the workflows have one default region", devFile.Values["aws:region"], prodFile.Values["aws:region"])
	}
	checks := []struct {
		what    string
		pattern *regexp.Regexp
		want    string
	}{
		{"the dev cluster's name", clusterFallback, dev.Cluster.Name},
		{"the stacks' region", regionFallback, devFile.Values["aws:region"]},
		{"Pulumi.pr.yaml's kubeContext", kubeconfigAlias, pr.Local.KubeContext},
	}
	for _, c := range checks {
		found := 0
		for _, file := range allWorkflows(t) {
			raw, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			for _, m := range c.pattern.FindAllStringSubmatch(string(raw), -1) {
				found++
				if m[1] != c.want {
					t.Errorf("%s: %q, but %s is %q", filepath.Base(file), m[0], c.what, c.want)
				}
			}
		}
		if found == 0 {
			t.Errorf("no workflow writes down %s: the pattern %s matches nothing", c.what, c.pattern)
		}
	}
}
