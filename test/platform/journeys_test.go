//go:build platform

package platform

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/gruntwork-io/terratest/modules/k8s"
	"github.com/gruntwork-io/terratest/modules/random"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"

	"github.com/gopherops/gopherops/infra/app"
	"github.com/gopherops/gopherops/test/internal/kube"
	"github.com/gopherops/gopherops/test/journey"
)

// TestCLIStackJourneys walks the service journeys against a local stack
// that `pulumi up -s local` (the official CLI) deployed into the namespace
// GOPHEROPS_PLATFORM_APP_NAMESPACE, through port-forwards to a ready server
// pod: the kind job in CI sets it after its own `pulumi up`.
func TestCLIStackJourneys(t *testing.T) {
	namespace := os.Getenv(envAppNamespace)
	kubeconfig := os.Getenv("KUBECONFIG")
	if namespace == "" || kubeconfig == "" {
		t.Skipf("%s and KUBECONFIG name a stack deployed with `pulumi up -s local`; the kind job in CI sets both", envAppNamespace)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	c := kube.Connect(t, kubeconfig, namespace)
	defer func() {
		if t.Failed() {
			kube.Diagnose(ctx, t, c, appName)
		}
	}()

	require.NoError(t, k8s.WaitUntilDeploymentAvailableContextE(t, ctx, c.Opts, appName, 60, 5*time.Second))
	ready := kube.ReadyPods(ctx, t, c, serverPods)
	require.NotEmpty(t, ready, "a ready server pod")
	for _, p := range ready {
		kube.CheckPodSecurity(t, p)
	}

	forward := func(pod corev1.Pod, port int) string {
		tunnel := k8s.NewTunnel(c.Opts, k8s.ResourceTypePod, pod.Name, 0, port)
		require.NoError(t, tunnel.ForwardPortE(t), "port-forward to %s:%d", pod.Name, port)
		t.Cleanup(tunnel.Close)
		return "http://" + tunnel.Endpoint()
	}
	baseURL := forward(ready[0], app.HTTPPort)
	var adminURLs []string
	for _, p := range ready[:1] {
		adminURLs = append(adminURLs, forward(p, app.AdminPort))
	}
	admin := journey.Credentials{Login: "root-" + random.UniqueID(), Password: journey.NewPassword()}
	kube.CreateAdmin(ctx, t, c, ready[0], app.ContainerName, admin)
	journey.WaitReady(t, baseURL, time.Minute)
	journey.All(t, &journey.Target{
		BaseURL:   baseURL,
		AdminURLs: adminURLs,
		Admin:     admin,
		Version:   os.Getenv("GOPHEROPS_PLATFORM_VERSION"),
	})
}
