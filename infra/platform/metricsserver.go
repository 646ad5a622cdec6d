package platform

import (
	"fmt"

	helmv3 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/helm/v3"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// MetricsServerRepo is where the metrics-server chart is published.
const MetricsServerRepo = "https://kubernetes-sigs.github.io/metrics-server/"

// deployMetricsServer installs metrics-server on a local cluster that lacks
// one, so the app's HPA gets CPU metrics there too. It trusts the kubelets'
// self-signed serving certificates, which is what kind's kubelets have; the
// AWS stacks never take this path (they run the EKS add-on).
func deployMetricsServer(ctx *pulumi.Context, name, chartVersion string, provider pulumi.ProviderResource) (*helmv3.Release, error) {
	rel, err := helmv3.NewRelease(ctx, name, &helmv3.ReleaseArgs{
		Name:           pulumi.String("metrics-server"),
		Chart:          pulumi.String("metrics-server"),
		Version:        pulumi.String(chartVersion),
		Namespace:      pulumi.String("kube-system"),
		RepositoryOpts: &helmv3.RepositoryOptsArgs{Repo: pulumi.String(MetricsServerRepo)},
		Atomic:         pulumi.Bool(true),
		Timeout:        pulumi.Int(300),
		Values: pulumi.Map{
			"args": pulumi.StringArray{pulumi.String("--kubelet-insecure-tls")},
		},
	}, pulumi.Provider(provider))
	if err != nil {
		return nil, fmt.Errorf("platform: metrics-server: %w", err)
	}
	return rel, nil
}
