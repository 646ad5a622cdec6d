package cluster

import (
	"fmt"

	"gopkg.in/yaml.v3"
)

// Kubeconfig renders a kubeconfig for an EKS cluster that authenticates with
// `aws eks get-token`, so it holds no long-lived credential: whoever uses it
// needs AWS credentials with access to the cluster.
func Kubeconfig(clusterName, endpoint, caData, region string) (string, error) {
	doc := map[string]any{
		"apiVersion":      "v1",
		"kind":            "Config",
		"current-context": clusterName,
		"clusters": []any{map[string]any{
			"name": clusterName,
			"cluster": map[string]any{
				"server":                     endpoint,
				"certificate-authority-data": caData,
			},
		}},
		"contexts": []any{map[string]any{
			"name":    clusterName,
			"context": map[string]any{"cluster": clusterName, "user": clusterName},
		}},
		"users": []any{map[string]any{
			"name": clusterName,
			"user": map[string]any{
				"exec": map[string]any{
					"apiVersion":      "client.authentication.k8s.io/v1beta1",
					"command":         "aws",
					"args":            []string{"eks", "get-token", "--cluster-name", clusterName, "--region", region, "--output", "json"},
					"interactiveMode": "Never",
				},
			},
		}},
	}
	b, err := yaml.Marshal(doc)
	if err != nil {
		return "", fmt.Errorf("kubeconfig: %w", err)
	}
	return string(b), nil
}
