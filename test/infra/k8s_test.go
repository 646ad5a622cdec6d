//go:build live

package infra

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gruntwork-io/terratest/modules/k8s"
	"github.com/gruntwork-io/terratest/modules/logger"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/remotecommand"
	"k8s.io/streaming/pkg/httpstream"

	"github.com/gopherops/gopherops/test/journey"
)

// Names fixed by the app component (infra/app, infra/platform).
const (
	appName       = "gopherops" // Deployment, Service, ServiceAccount, container
	binaryPath    = "/usr/local/bin/gopherops"
	adminPort     = 9090
	serverPods    = "app.kubernetes.io/name=gopherops,app.kubernetes.io/component=server"
	migrationPods = "app.kubernetes.io/name=gopherops,app.kubernetes.io/component=migrate"
	irsaKey       = "eks.amazonaws.com/role-arn"
)

// cluster is a connection to the stack's cluster through the kubeconfig it exports.
type cluster struct {
	opts   *k8s.KubectlOptions
	rest   *rest.Config
	client *kubernetes.Clientset
}

// connect writes the kubeconfig output to a private file and builds a REST
// config and client from it.
func connect(t *testing.T, out outputs) *cluster {
	t.Helper()
	path := filepath.Join(t.TempDir(), "kubeconfig")
	require.NoError(t, os.WriteFile(path, []byte(out.Kubeconfig), 0o600))
	restCfg, err := k8s.LoadAPIClientConfigE(path, "")
	require.NoError(t, err, "REST config from the kubeconfig output")
	client, err := kubernetes.NewForConfig(restCfg)
	require.NoError(t, err)
	return &cluster{opts: k8s.NewKubectlOptions("", path, out.Namespace), rest: restCfg, client: client}
}

// validateWorkload checks what runs on the cluster: the migration Job
// succeeded, the Deployment is available with ready, hardened pods, the
// Service has ready endpoints, and the namespace is locked down.
func validateWorkload(ctx context.Context, t *testing.T, c *cluster, out outputs) []corev1.Pod {
	ns := out.Namespace
	namespace, err := c.client.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, "restricted", namespace.Labels["pod-security.kubernetes.io/enforce"], "the namespace enforces Pod Security restricted")

	jobs, err := k8s.ListJobsContextE(t, ctx, c.opts, metav1.ListOptions{LabelSelector: migrationPods})
	require.NoError(t, err)
	succeeded := 0
	for _, j := range jobs {
		succeeded += int(j.Status.Succeeded)
	}
	assert.Positive(t, succeeded, "a migration Job ran `gopherops migrate up` to completion (%d jobs)", len(jobs))

	require.NoError(t, k8s.WaitUntilDeploymentAvailableContextE(t, ctx, c.opts, appName, 60, 10*time.Second), "Deployment %s becomes available", appName)
	pods, err := k8s.ListPodsContextE(t, ctx, c.opts, metav1.ListOptions{LabelSelector: serverPods})
	require.NoError(t, err)
	var ready []corev1.Pod
	for _, p := range pods {
		if p.DeletionTimestamp == nil && k8s.IsPodAvailable(&p) {
			ready = append(ready, p)
		}
	}
	require.GreaterOrEqual(t, len(ready), minReplicas, "ready server pods")
	for _, p := range ready {
		t.Run("pod "+p.Name+" is hardened", func(t *testing.T) { checkPodSecurity(t, p) })
	}

	sa, err := k8s.GetServiceAccountContextE(t, ctx, c.opts, appName)
	require.NoError(t, err)
	assert.False(t, sa.AutomountServiceAccountToken == nil || *sa.AutomountServiceAccountToken, "the service never talks to the Kubernetes API: no token mounted")

	require.NoError(t, k8s.WaitUntilServiceAvailableContextE(t, ctx, c.opts, appName, 60, 10*time.Second), "Service %s gets its load balancer", appName)
	slices, err := c.client.DiscoveryV1().EndpointSlices(ns).List(ctx, metav1.ListOptions{LabelSelector: "kubernetes.io/service-name=" + appName})
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

	hpa, err := c.client.AutoscalingV2().HorizontalPodAutoscalers(ns).Get(ctx, appName, metav1.GetOptions{})
	if assert.NoError(t, err, "HorizontalPodAutoscaler") {
		assert.Equal(t, int32(minReplicas), *hpa.Spec.MinReplicas)
	}
	_, err = c.client.PolicyV1().PodDisruptionBudgets(ns).Get(ctx, appName, metav1.GetOptions{})
	assert.NoError(t, err, "PodDisruptionBudget")
	return ready
}

// checkPodSecurity asserts the container runs as a non-root user, with a
// read-only root filesystem, no privilege escalation and no capabilities.
func checkPodSecurity(t *testing.T, p corev1.Pod) {
	podSC := p.Spec.SecurityContext
	for _, c := range p.Spec.Containers {
		sc := c.SecurityContext
		require.NotNil(t, sc, "container %s has a security context", c.Name)
		nonRoot := (sc.RunAsNonRoot != nil && *sc.RunAsNonRoot) || (podSC != nil && podSC.RunAsNonRoot != nil && *podSC.RunAsNonRoot)
		assert.True(t, nonRoot, "container %s must run as non-root", c.Name)
		uid := sc.RunAsUser
		if uid == nil && podSC != nil {
			uid = podSC.RunAsUser
		}
		assert.False(t, uid != nil && *uid == 0, "container %s must not run as UID 0", c.Name)
		assert.True(t, sc.ReadOnlyRootFilesystem != nil && *sc.ReadOnlyRootFilesystem, "container %s has a read-only root filesystem", c.Name)
		assert.True(t, sc.AllowPrivilegeEscalation != nil && !*sc.AllowPrivilegeEscalation, "container %s cannot escalate privileges", c.Name)
		dropsAll := false
		if sc.Capabilities != nil {
			for _, d := range sc.Capabilities.Drop {
				dropsAll = dropsAll || d == "ALL"
			}
			assert.Empty(t, sc.Capabilities.Add, "container %s adds no capabilities", c.Name)
		}
		assert.True(t, dropsAll, "container %s drops ALL capabilities", c.Name)
		assert.NotNil(t, c.Resources.Limits.Memory(), "container %s has a memory limit", c.Name)
		assert.False(t, c.Resources.Limits.Memory().IsZero(), "container %s has a memory limit", c.Name)
		assert.NotNil(t, c.ReadinessProbe, "container %s has a readiness probe", c.Name)
		assert.NotNil(t, c.LivenessProbe, "container %s has a liveness probe", c.Name)
	}
	for _, s := range p.Status.ContainerStatuses {
		assert.True(t, s.Ready, "container %s is ready", s.Name)
	}
}

// validateNetworkPolicies checks the namespace denies all traffic by default
// and that the app's policy admits HTTP on 8080 and keeps the admin port to
// the monitoring namespace.
func validateNetworkPolicies(ctx context.Context, t *testing.T, c *cluster) {
	deny, err := k8s.GetNetworkPolicyContextE(t, ctx, c.opts, "default-deny")
	require.NoError(t, err, "NetworkPolicy default-deny")
	assert.Empty(t, deny.Spec.PodSelector.MatchLabels, "default-deny selects every pod")
	assert.ElementsMatch(t, []networkingv1.PolicyType{networkingv1.PolicyTypeIngress, networkingv1.PolicyTypeEgress}, deny.Spec.PolicyTypes)
	assert.Empty(t, deny.Spec.Ingress, "default-deny admits nothing")
	assert.Empty(t, deny.Spec.Egress, "default-deny lets nothing out")

	np, err := k8s.GetNetworkPolicyContextE(t, ctx, c.opts, appName)
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

// createAdmin runs `gopherops admin create` in a server pod, the password on
// stdin (the image has no shell to set ADMIN_PASSWORD with).
func createAdmin(ctx context.Context, t *testing.T, c *cluster, pod corev1.Pod, cr journey.Credentials) {
	t.Helper()
	req := c.client.CoreV1().RESTClient().Post().Resource("pods").Namespace(pod.Namespace).Name(pod.Name).SubResource("exec").
		VersionedParams(&corev1.PodExecOptions{
			Container: appName,
			Command:   []string{binaryPath, "admin", "create", "--username", cr.Login, "--email", strings.ToLower(cr.Login) + "@example.com", "--role", "admin"},
			Stdin:     true, Stdout: true, Stderr: true,
		}, scheme.ParameterCodec)
	// WebSockets first (what kubectl uses today), SPDY where they are refused.
	ws, err := remotecommand.NewWebSocketExecutor(c.rest, "GET", req.URL().String())
	require.NoError(t, err)
	spdy, err := remotecommand.NewSPDYExecutor(c.rest, "POST", req.URL())
	require.NoError(t, err)
	exec, err := remotecommand.NewFallbackExecutor(ws, spdy, func(err error) bool {
		return httpstream.IsUpgradeFailure(err) || httpstream.IsHTTPSProxyError(err)
	})
	require.NoError(t, err)
	var stdout, stderr bytes.Buffer
	err = exec.StreamWithContext(ctx, remotecommand.StreamOptions{Stdin: strings.NewReader(cr.Password + "\n"), Stdout: &stdout, Stderr: &stderr})
	require.NoError(t, err, "gopherops admin create in pod %s\nstdout:\n%s\nstderr:\n%s", pod.Name, stdout.String(), stderr.String())
	require.Contains(t, stdout.String(), "created root admin", "the first admin of a fresh stack is root\nstderr:\n%s", stderr.String())
}

// metricsTunnels forwards a local port to the admin port of every pod, so the
// metrics journey can read /metrics, which the NetworkPolicy keeps inside
// the cluster.
func metricsTunnels(t *testing.T, c *cluster, pods []corev1.Pod) []string {
	t.Helper()
	var urls []string
	for _, p := range pods {
		tunnel := k8s.NewTunnel(c.opts, k8s.ResourceTypePod, p.Name, 0, adminPort)
		require.NoError(t, tunnel.ForwardPortE(t), "port-forward to %s:%d", p.Name, adminPort)
		t.Cleanup(tunnel.Close)
		urls = append(urls, "http://"+tunnel.Endpoint())
	}
	return urls
}

// diagnose prints what a reader of a failed run needs: the state of the
// workload, recent events and the logs of every pod in the namespace.
func diagnose(ctx context.Context, t *testing.T, c *cluster) {
	t.Helper()
	if dep, err := k8s.GetDeploymentContextE(t, ctx, c.opts, appName); err == nil {
		logger.Default.Logf(t, "Deployment %s: %d/%d ready, %d updated, conditions %+v", appName,
			dep.Status.ReadyReplicas, dep.Status.Replicas, dep.Status.UpdatedReplicas, dep.Status.Conditions)
	} else {
		logger.Default.Logf(t, "Deployment %s: %v", appName, err)
	}
	if events, err := k8s.ListEventsContextE(t, ctx, c.opts, metav1.ListOptions{}); err == nil {
		for _, e := range events {
			logger.Default.Logf(t, "event %s %s/%s: %s: %s", e.LastTimestamp.Format(time.RFC3339), e.InvolvedObject.Kind, e.InvolvedObject.Name, e.Reason, e.Message)
		}
	}
	pods, err := k8s.ListPodsContextE(t, ctx, c.opts, metav1.ListOptions{})
	if err != nil {
		logger.Default.Logf(t, "list pods: %v", err)
		return
	}
	for i := range pods {
		p := &pods[i]
		logger.Default.Logf(t, "pod %s: phase %s, statuses %s", p.Name, p.Status.Phase, containerStates(p))
		for _, ctr := range p.Spec.Containers {
			logs, err := k8s.GetPodLogsContextE(t, ctx, c.opts, p, ctr.Name)
			if err != nil {
				logs = err.Error()
			}
			logger.Default.Logf(t, "logs of %s/%s:\n%s", p.Name, ctr.Name, logs)
		}
	}
}

func containerStates(p *corev1.Pod) string {
	var parts []string
	for _, s := range p.Status.ContainerStatuses {
		state := "running"
		switch {
		case s.State.Waiting != nil:
			state = "waiting: " + s.State.Waiting.Reason
		case s.State.Terminated != nil:
			state = fmt.Sprintf("terminated: %s (exit %d)", s.State.Terminated.Reason, s.State.Terminated.ExitCode)
		}
		parts = append(parts, fmt.Sprintf("%s ready=%v restarts=%d %s", s.Name, s.Ready, s.RestartCount, state))
	}
	return strings.Join(parts, "; ")
}
