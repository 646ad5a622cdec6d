//go:build live || platform

// Package kube holds what the suites that talk to a real cluster share: a
// client from a kubeconfig, running `gopherops admin create` in a pod, a
// hardening check on what the API server stored, and the diagnostics a
// failed run prints. It carries the suites' build tags, so `make test`
// never compiles client-go and Terratest's k8s module for it.
package kube

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/gruntwork-io/terratest/modules/k8s"
	"github.com/gruntwork-io/terratest/modules/logger"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/remotecommand"
	"k8s.io/streaming/pkg/httpstream"

	"github.com/gopherops/gopherops/test/journey"
)

// BinaryPath is where the image keeps the gopherops binary.
const BinaryPath = "/usr/local/bin/gopherops"

// Cluster is a connection to one namespace of a cluster.
type Cluster struct {
	Opts   *k8s.KubectlOptions
	Rest   *rest.Config
	Client *kubernetes.Clientset
}

// Connect builds a client for the kubeconfig at path (its current context)
// scoped to namespace.
func Connect(t *testing.T, path, namespace string) *Cluster {
	t.Helper()
	restCfg, err := k8s.LoadAPIClientConfigE(path, "")
	require.NoError(t, err, "REST config from %s", path)
	client, err := kubernetes.NewForConfig(restCfg)
	require.NoError(t, err)
	return &Cluster{Opts: k8s.NewKubectlOptions("", path, namespace), Rest: restCfg, Client: client}
}

// CreateAdmin runs `gopherops admin create` in a server pod, the password on
// stdin (the image has no shell to set ADMIN_PASSWORD with).
func CreateAdmin(ctx context.Context, t *testing.T, c *Cluster, pod corev1.Pod, container string, cr journey.Credentials) {
	t.Helper()
	req := c.Client.CoreV1().RESTClient().Post().Resource("pods").Namespace(pod.Namespace).Name(pod.Name).SubResource("exec").
		VersionedParams(&corev1.PodExecOptions{
			Container: container,
			Command:   []string{BinaryPath, "admin", "create", "--username", cr.Login, "--email", strings.ToLower(cr.Login) + "@example.com", "--role", "admin"},
			Stdin:     true, Stdout: true, Stderr: true,
		}, scheme.ParameterCodec)
	// WebSockets first (what kubectl uses today), SPDY where they are refused.
	ws, err := remotecommand.NewWebSocketExecutor(c.Rest, "GET", req.URL().String())
	require.NoError(t, err)
	spdy, err := remotecommand.NewSPDYExecutor(c.Rest, "POST", req.URL())
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

// CheckPodSpecHardening asserts, on a pod spec as the API server stored it,
// that every container runs as a non-root user with a read-only root
// filesystem, no privilege escalation, no capabilities, the RuntimeDefault
// seccomp profile, a memory limit and probes.
func CheckPodSpecHardening(t *testing.T, what string, spec corev1.PodSpec) {
	t.Helper()
	podSC := spec.SecurityContext
	assert.False(t, spec.AutomountServiceAccountToken == nil || *spec.AutomountServiceAccountToken, "%s: no API token is mounted", what)
	for _, c := range spec.Containers {
		sc := c.SecurityContext
		if !assert.NotNil(t, sc, "%s: container %s has a security context", what, c.Name) {
			continue
		}
		nonRoot := (sc.RunAsNonRoot != nil && *sc.RunAsNonRoot) || (podSC != nil && podSC.RunAsNonRoot != nil && *podSC.RunAsNonRoot)
		assert.True(t, nonRoot, "%s: container %s runs as non-root", what, c.Name)
		uid := sc.RunAsUser
		if uid == nil && podSC != nil {
			uid = podSC.RunAsUser
		}
		assert.True(t, uid != nil && *uid != 0, "%s: container %s has a non-zero UID", what, c.Name)
		assert.True(t, sc.ReadOnlyRootFilesystem != nil && *sc.ReadOnlyRootFilesystem, "%s: container %s has a read-only root filesystem", what, c.Name)
		assert.True(t, sc.AllowPrivilegeEscalation != nil && !*sc.AllowPrivilegeEscalation, "%s: container %s cannot escalate privileges", what, c.Name)
		seccomp := sc.SeccompProfile
		if seccomp == nil && podSC != nil {
			seccomp = podSC.SeccompProfile
		}
		assert.True(t, seccomp != nil && seccomp.Type == corev1.SeccompProfileTypeRuntimeDefault, "%s: container %s uses the RuntimeDefault seccomp profile", what, c.Name)
		dropsAll := false
		if sc.Capabilities != nil {
			for _, d := range sc.Capabilities.Drop {
				dropsAll = dropsAll || d == "ALL"
			}
			assert.Empty(t, sc.Capabilities.Add, "%s: container %s adds no capabilities", what, c.Name)
		}
		assert.True(t, dropsAll, "%s: container %s drops ALL capabilities", what, c.Name)
		assert.False(t, c.Resources.Limits.Memory().IsZero(), "%s: container %s has a memory limit", what, c.Name)
		assert.False(t, c.Resources.Limits.Cpu().IsZero(), "%s: container %s has a CPU limit", what, c.Name)
	}
}

// CheckPodSecurity is CheckPodSpecHardening on a running pod, plus probes
// and readiness of every container.
func CheckPodSecurity(t *testing.T, p corev1.Pod) {
	t.Helper()
	CheckPodSpecHardening(t, "pod "+p.Name, p.Spec)
	for _, c := range p.Spec.Containers {
		assert.NotNil(t, c.ReadinessProbe, "container %s has a readiness probe", c.Name)
		assert.NotNil(t, c.LivenessProbe, "container %s has a liveness probe", c.Name)
	}
	for _, s := range p.Status.ContainerStatuses {
		assert.True(t, s.Ready, "container %s is ready", s.Name)
	}
}

// Diagnose prints what a reader of a failed run needs: the Deployment's
// state, recent events and the logs of every pod in the namespace.
func Diagnose(ctx context.Context, t *testing.T, c *Cluster, deployment string) {
	t.Helper()
	if dep, err := k8s.GetDeploymentContextE(t, ctx, c.Opts, deployment); err == nil {
		logger.Default.Logf(t, "Deployment %s: %d/%d ready, %d updated, conditions %+v", deployment,
			dep.Status.ReadyReplicas, dep.Status.Replicas, dep.Status.UpdatedReplicas, dep.Status.Conditions)
	} else {
		logger.Default.Logf(t, "Deployment %s: %v", deployment, err)
	}
	if events, err := k8s.ListEventsContextE(t, ctx, c.Opts, metav1.ListOptions{}); err == nil {
		for _, e := range events {
			logger.Default.Logf(t, "event %s %s/%s: %s: %s", e.LastTimestamp.Format(time.RFC3339), e.InvolvedObject.Kind, e.InvolvedObject.Name, e.Reason, e.Message)
		}
	}
	pods, err := k8s.ListPodsContextE(t, ctx, c.Opts, metav1.ListOptions{})
	if err != nil {
		logger.Default.Logf(t, "list pods: %v", err)
		return
	}
	for i := range pods {
		p := &pods[i]
		logger.Default.Logf(t, "pod %s: phase %s, statuses %s", p.Name, p.Status.Phase, ContainerStates(p))
		if p.Spec.NodeName == "" {
			continue // never scheduled: no logs to read
		}
		for _, ctr := range p.Spec.Containers {
			logs, err := k8s.GetPodLogsContextE(t, ctx, c.Opts, p, ctr.Name)
			if err != nil {
				logs = err.Error()
			}
			logger.Default.Logf(t, "logs of %s/%s:\n%s", p.Name, ctr.Name, logs)
		}
	}
}

// ReadyPods lists the pods matching selector that are available and not
// terminating.
func ReadyPods(ctx context.Context, t *testing.T, c *Cluster, selector string) []corev1.Pod {
	t.Helper()
	pods, err := k8s.ListPodsContextE(t, ctx, c.Opts, metav1.ListOptions{LabelSelector: selector})
	require.NoError(t, err)
	var ready []corev1.Pod
	for _, p := range pods {
		if p.DeletionTimestamp == nil && k8s.IsPodAvailable(&p) {
			ready = append(ready, p)
		}
	}
	return ready
}

// ContainerStates summarises a pod's container statuses on one line.
func ContainerStates(p *corev1.Pod) string {
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
