//go:build live

package infra

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/gruntwork-io/terratest/modules/k8s"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/gopherops/gopherops/test/internal/kube"
)

// Names fixed by the app component (infra/app, infra/platform).
const (
	appName       = "gopherops" // Deployment, Service, ServiceAccount, container
	adminPort     = 9090
	serverPods    = "app.kubernetes.io/name=gopherops,app.kubernetes.io/component=server"
	migrationPods = "app.kubernetes.io/name=gopherops,app.kubernetes.io/component=migrate"
	irsaKey       = "eks.amazonaws.com/role-arn"
)

// cluster is a connection to the stack's namespace.
type cluster = kube.Cluster

// connect writes the kubeconfig output to a private file and connects to
// the stack's namespace with it.
func connect(t *testing.T, out outputs) *cluster {
	t.Helper()
	path := filepath.Join(t.TempDir(), "kubeconfig")
	require.NoError(t, os.WriteFile(path, []byte(out.Kubeconfig), 0o600))
	return kube.Connect(t, path, out.Namespace)
}

// validateWorkload checks what runs on the cluster: the migration Job
// succeeded, the Deployment is available with ready, hardened pods, the
// Service has ready endpoints, and the namespace is locked down.
func validateWorkload(ctx context.Context, t *testing.T, c *cluster, out outputs) []corev1.Pod {
	ns := out.Namespace
	namespace, err := c.Client.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, "restricted", namespace.Labels["pod-security.kubernetes.io/enforce"], "the namespace enforces Pod Security restricted")

	jobs, err := k8s.ListJobsContextE(t, ctx, c.Opts, metav1.ListOptions{LabelSelector: migrationPods})
	require.NoError(t, err)
	succeeded := 0
	for _, j := range jobs {
		succeeded += int(j.Status.Succeeded)
	}
	assert.Positive(t, succeeded, "a migration Job ran `gopherops migrate up` to completion (%d jobs)", len(jobs))

	require.NoError(t, k8s.WaitUntilDeploymentAvailableContextE(t, ctx, c.Opts, appName, 60, 10*time.Second), "Deployment %s becomes available", appName)
	ready := kube.ReadyPods(ctx, t, c, serverPods)
	require.GreaterOrEqual(t, len(ready), minReplicas, "ready server pods")
	for _, p := range ready {
		t.Run("pod "+p.Name+" is hardened", func(t *testing.T) { kube.CheckPodSecurity(t, p) })
	}

	sa, err := k8s.GetServiceAccountContextE(t, ctx, c.Opts, appName)
	require.NoError(t, err)
	assert.False(t, sa.AutomountServiceAccountToken == nil || *sa.AutomountServiceAccountToken, "the service never talks to the Kubernetes API: no token mounted")

	require.NoError(t, k8s.WaitUntilServiceAvailableContextE(t, ctx, c.Opts, appName, 60, 10*time.Second), "Service %s gets its load balancer", appName)
	slices, err := c.Client.DiscoveryV1().EndpointSlices(ns).List(ctx, metav1.ListOptions{LabelSelector: "kubernetes.io/service-name=" + appName})
	require.NoError(t, err)
	readyEndpoints := 0
	for _, s := range slices.Items {
		for _, e := range s.Endpoints {
			if e.Conditions.Ready != nil && *e.Conditions.Ready {
				readyEndpoints++
			}
		}
	}
	assert.GreaterOrEqual(t, readyEndpoints, minReplicas, "the Service has a ready endpoint per pod")

	hpa, err := c.Client.AutoscalingV2().HorizontalPodAutoscalers(ns).Get(ctx, appName, metav1.GetOptions{})
	if assert.NoError(t, err, "HorizontalPodAutoscaler") {
		assert.Equal(t, int32(minReplicas), *hpa.Spec.MinReplicas)
	}
	_, err = c.Client.PolicyV1().PodDisruptionBudgets(ns).Get(ctx, appName, metav1.GetOptions{})
	assert.NoError(t, err, "PodDisruptionBudget")
	return ready
}

// validateNetworkPolicies checks the namespace denies all traffic by default
// and that the app's policy admits HTTP on 8080 and keeps the admin port to
// the monitoring namespace.
func validateNetworkPolicies(ctx context.Context, t *testing.T, c *cluster) {
	deny, err := k8s.GetNetworkPolicyContextE(t, ctx, c.Opts, "default-deny")
	require.NoError(t, err, "NetworkPolicy default-deny")
	assert.Empty(t, deny.Spec.PodSelector.MatchLabels, "default-deny selects every pod")
	assert.ElementsMatch(t, []networkingv1.PolicyType{networkingv1.PolicyTypeIngress, networkingv1.PolicyTypeEgress}, deny.Spec.PolicyTypes)
	assert.Empty(t, deny.Spec.Ingress, "default-deny admits nothing")
	assert.Empty(t, deny.Spec.Egress, "default-deny lets nothing out")

	np, err := k8s.GetNetworkPolicyContextE(t, ctx, c.Opts, appName)
	require.NoError(t, err, "NetworkPolicy %s", appName)
	assert.Equal(t, appName, np.Spec.PodSelector.MatchLabels["app.kubernetes.io/name"], "the policy selects the app's pods")
	ports := map[int32][]networkingv1.NetworkPolicyPeer{}
	for _, rule := range np.Spec.Ingress {
		for _, p := range rule.Ports {
			if p.Port != nil {
				ports[p.Port.IntVal] = rule.From
			}
		}
	}
	require.Contains(t, ports, int32(8080), "HTTP is admitted")
	from, ok := ports[adminPort]
	require.True(t, ok, "the admin port has its own rule")
	require.NotEmpty(t, from, "the admin port is not open to everyone")
	for _, peer := range from {
		assert.NotNil(t, peer.NamespaceSelector, "the admin port admits a namespace (monitoring), not arbitrary sources")
	}
}

// metricsTunnels forwards a local port to the admin port of every pod, so the
// metrics journey can read /metrics, which the NetworkPolicy keeps inside
// the cluster.
func metricsTunnels(t *testing.T, c *cluster, pods []corev1.Pod) []string {
	t.Helper()
	var urls []string
	for _, p := range pods {
		tunnel := k8s.NewTunnel(c.Opts, k8s.ResourceTypePod, p.Name, 0, adminPort)
		require.NoError(t, tunnel.ForwardPortE(t), "port-forward to %s:%d", p.Name, adminPort)
		t.Cleanup(tunnel.Close)
		urls = append(urls, "http://"+tunnel.Endpoint())
	}
	return urls
}
