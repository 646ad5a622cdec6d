// Command infra is the GopherOps Pulumi program (Pulumi.yaml: main: infra/):
// it loads the stack configuration and deploys the stack's environment, with
// the shared alert rules and dashboard of infra/observability built in.
package main

import (
	_ "embed"
	"os"

	"github.com/gopherops/gopherops/infra/platform"
	"github.com/gopherops/gopherops/infra/release"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

//go:embed observability/prometheus/rules/gopherops.yml
var alertRules []byte

//go:embed observability/grafana/dashboards/gopherops.json
var dashboard string

func main() {
	pulumi.Run(platform.Program(
		platform.WithObservability(observability()),
		// deploy.yml hands `pulumi up` the release it rolls out; without
		// it, the stack's record.
		platform.WithRelease(os.Getenv(release.DigestEnv)),
	))
}

// observability is what the cluster's monitoring installs next to the chart.
func observability() platform.Observability {
	return platform.Observability{
		AlertRules: alertRules,
		Dashboards: map[string]string{"gopherops.json": dashboard},
	}
}
