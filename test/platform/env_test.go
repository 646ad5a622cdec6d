//go:build platform

package platform

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gruntwork-io/terratest/modules/logger"
	"github.com/stretchr/testify/require"

	"github.com/gopherops/gopherops/test/internal/controlplane"
	"github.com/gopherops/gopherops/test/internal/node"
	"github.com/gopherops/gopherops/test/internal/toolchain"
)

// Environment variables that choose what the suite runs against.
const (
	// envImage and envUpdateImage name two tags of one image repository that
	// the cluster can run; with them the pods run and rollouts are awaited.
	envImage       = "GOPHEROPS_PLATFORM_IMAGE"
	envUpdateImage = "GOPHEROPS_PLATFORM_UPDATE_IMAGE"
	// envAppNamespace names the namespace of a stack deployed by the pulumi
	// CLI (the kind job) whose service the journeys walk.
	envAppNamespace = "GOPHEROPS_PLATFORM_APP_NAMESPACE"
	// envNoNode, set to anything, keeps the suite to its control plane
	// (no pods run), as on a machine that cannot run a node.
	envNoNode = "GOPHEROPS_PLATFORM_NO_NODE"
)

// target is the cluster the suite deploys to and what it can expect there.
type target struct {
	// kubeconfig is the path of a kubeconfig with rights to create namespaces.
	kubeconfig string
	// loopback is true for the suite's own control plane (no kubelet).
	loopback bool
	// pathDirs hold the tools child processes (the pulumi engine) must find.
	pathDirs []string
	// providerOnPath is true when pulumi-resource-kubernetes was found, so
	// the engine must not download plugins.
	providerOnPath bool
	// node is the suite's own node next to the loopback control plane: with
	// it the pods run. Nil with KUBECONFIG, or where the machine cannot run
	// one (noNode says why).
	node   *node.Node
	noNode string
	// images are the images built here and imported into the node.
	images localImages
}

// podsRun reports whether deployed pods really run: the suite's own node,
// or a real cluster and images it can pull.
func (tg target) podsRun() bool {
	return tg.node != nil || (!tg.loopback && os.Getenv(envImage) != "" && os.Getenv(envUpdateImage) != "")
}

// requireTarget finds the tools and the cluster: KUBECONFIG when set,
// otherwise a control plane on loopback, stopped when the test ends. It
// fails (never skips) when a tool is missing: `make test-platform` is only
// run on purpose, and `make tools` provides them.
func requireTarget(t *testing.T) target {
	t.Helper()
	var tg target
	kubeconfig := os.Getenv("KUBECONFIG")
	needed := []string{toolchain.Pulumi}
	if kubeconfig == "" {
		needed = append(needed, toolchain.KubernetesProvider, toolchain.Etcd, toolchain.KubeAPIServer, toolchain.KubeControllerManager,
			toolchain.KubeScheduler, toolchain.Kubelet, toolchain.KubeProxy, toolchain.CoreDNS)
	}
	locs := map[string]toolchain.Location{}
	var missing []string
	for _, name := range needed {
		loc, err := toolchain.Find(name)
		if err != nil {
			missing = append(missing, name)
			continue
		}
		locs[name] = loc
		logger.Default.Logf(t, "tool %s %s (%s): %s", name, loc.Version, loc.Source, loc.Path)
	}
	require.Empty(t, missing, "missing tools %s: run `make tools` (it builds them from the Go module proxy and caches them)", strings.Join(missing, ", "))
	if loc, err := toolchain.Find(toolchain.KubernetesProvider); err == nil {
		locs[toolchain.KubernetesProvider] = loc
		tg.providerOnPath = true
	} else {
		logger.Default.Logf(t, "no %s on PATH or in the cache: the pulumi engine will install the plugin itself", toolchain.KubernetesProvider)
	}
	tg.pathDirs = toolchain.PathDirs(locs)

	if kubeconfig != "" {
		tg.kubeconfig = strings.Split(kubeconfig, string(os.PathListSeparator))[0]
		logger.Default.Logf(t, "KUBECONFIG is set: deploying to its current context (%s)", tg.kubeconfig)
		return tg
	}
	dir, err := os.MkdirTemp("", "gopherops-controlplane-")
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	// Can this machine run a node? The check runs a container with runc.
	pauseBin := buildPause(ctx, t, dir)
	if os.Getenv(envNoNode) != "" {
		tg.noNode = envNoNode + " is set"
		logger.Default.Logf(t, "NO NODE: %s. Pods will be admitted but never run (gopherops:skipAwait on).", tg.noNode)
	} else if err := node.Check(ctx, pauseBin); err != nil {
		require.ErrorIs(t, err, node.ErrUnsupported, "checking whether a node can run here")
		tg.noNode = err.Error()
		logger.Default.Logf(t, "NO NODE: %v. Pods will be admitted but never run (gopherops:skipAwait on).", err)
	}
	start := time.Now()
	cp, err := controlplane.Start(ctx, controlplane.Options{
		Binaries: controlplane.Binaries{
			Etcd:              locs[toolchain.Etcd].Path,
			APIServer:         locs[toolchain.KubeAPIServer].Path,
			ControllerManager: locs[toolchain.KubeControllerManager].Path,
			Scheduler:         locs[toolchain.KubeScheduler].Path,
		},
		Dir:  dir,
		Logf: func(format string, args ...any) { logger.Default.Logf(t, format, args...) },
	})
	if err != nil {
		cancel()
		require.NoError(t, err, "start the loopback control plane")
	}
	t.Cleanup(func() {
		if t.Failed() {
			for _, name := range []string{"kube-apiserver", "kube-controller-manager"} {
				logger.Default.Logf(t, "--- last lines of %s.log ---\n%s", name, cp.LogTail(name, 40))
			}
		}
		cp.Stop()
		cancel()
		_ = os.RemoveAll(dir)
	})
	logger.Default.Logf(t, "control plane on loopback ready in %s", time.Since(start).Round(time.Millisecond))
	tg.kubeconfig = cp.Kubeconfig
	tg.loopback = true
	if tg.noNode == "" {
		tg.node, tg.images = startNode(ctx, t, cp, locs, pauseBin)
	}
	return tg
}

// repoRoot is the repository root (the suite runs in test/platform).
func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	require.NoError(t, err)
	_, err = os.Stat(filepath.Join(root, "Pulumi.local.yaml"))
	require.NoError(t, err, "the local stack file at the repository root")
	return root
}
