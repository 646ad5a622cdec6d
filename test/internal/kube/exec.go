//go:build live || platform

package kube

import (
	"bytes"
	"context"
	"io"
	"testing"

	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/remotecommand"
	"k8s.io/streaming/pkg/httpstream"
)

// Exec runs command in a container of a running pod, as `kubectl exec`
// does, and returns what it printed; a failed command fails t.
func Exec(ctx context.Context, t *testing.T, c *Cluster, pod corev1.Pod, container string, stdin io.Reader, command ...string) string {
	t.Helper()
	stdout, stderr, err := ExecE(ctx, c, pod, container, stdin, command...)
	require.NoError(t, err, "exec %v in %s/%s\nstdout:\n%s\nstderr:\n%s", command, pod.Name, container, stdout, stderr)
	return stdout
}

// ExecE is Exec returning the error and both outputs instead of failing.
func ExecE(ctx context.Context, c *Cluster, pod corev1.Pod, container string, stdin io.Reader, command ...string) (stdout, stderr string, err error) {
	req := c.Client.CoreV1().RESTClient().Post().Resource("pods").Namespace(pod.Namespace).Name(pod.Name).SubResource("exec").
		VersionedParams(&corev1.PodExecOptions{
			Container: container, Command: command,
			Stdin: stdin != nil, Stdout: true, Stderr: true,
		}, scheme.ParameterCodec)
	ws, err := remotecommand.NewWebSocketExecutor(c.Rest, "GET", req.URL().String())
	if err != nil {
		return "", "", err
	}
	spdy, err := remotecommand.NewSPDYExecutor(c.Rest, "POST", req.URL())
	if err != nil {
		return "", "", err
	}
	exec, err := remotecommand.NewFallbackExecutor(ws, spdy, func(err error) bool {
		return httpstream.IsUpgradeFailure(err) || httpstream.IsHTTPSProxyError(err)
	})
	if err != nil {
		return "", "", err
	}
	var out, errOut bytes.Buffer
	err = exec.StreamWithContext(ctx, remotecommand.StreamOptions{Stdin: stdin, Stdout: &out, Stderr: &errOut})
	return out.String(), errOut.String(), err
}
