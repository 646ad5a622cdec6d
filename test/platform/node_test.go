//go:build platform

package platform

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gruntwork-io/terratest/modules/k8s"
	"github.com/gruntwork-io/terratest/modules/logger"
	"github.com/gruntwork-io/terratest/modules/random"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/gopherops/gopherops/infra/app"
	"github.com/gopherops/gopherops/test/internal/controlplane"
	imagebuild "github.com/gopherops/gopherops/test/internal/images"
	"github.com/gopherops/gopherops/test/internal/kube"
	"github.com/gopherops/gopherops/test/internal/node"
	"github.com/gopherops/gopherops/test/internal/toolchain"
	"github.com/gopherops/gopherops/test/journey"
)

// localImages are the images built here and imported into the suite's node.
type localImages struct {
	repository, tag, updateTag string
	postgres                   string
}

// buildOptions are the image builds' options: this repository, stamped for the suite.
func buildOptions(t *testing.T) imagebuild.BuildOptions {
	t.Helper()
	root := repoRoot(t)
	return imagebuild.BuildOptions{RepoRoot: root, Version: "platform", Commit: "local", Created: time.Now()}
}

// buildPause builds the pause binary into dir: the node's preflight runs it
// with runc, and the pause image packs it.
func buildPause(ctx context.Context, t *testing.T, dir string) string {
	t.Helper()
	bin := filepath.Join(dir, "pause")
	require.NoError(t, imagebuild.BuildPause(ctx, buildOptions(t), bin), "build the pause binary")
	return bin
}

// startNode builds and imports the images (the pause image, two tags of
// the GopherOps image, the PostgreSQL image, cached across runs because
// debootstrap takes minutes) and starts the node next to cp. The node is
// stopped, and its teardown checked, before the control plane stops.
func startNode(ctx context.Context, t *testing.T, cp *controlplane.ControlPlane, locs map[string]toolchain.Location, pauseBin string) (*node.Node, localImages) {
	t.Helper()
	work := t.TempDir()
	o := buildOptions(t)
	start := time.Now()
	pauseImg, err := imagebuild.Pause(pauseBin, o.Created, work)
	require.NoError(t, err)
	pauseArchive := filepath.Join(work, "pause.tar")
	_, err = imagebuild.WriteArchiveFile(pauseArchive, pauseImg, imagebuild.PauseRef)
	for _, l := range pauseImg.Layers {
		l.Remove()
	}
	require.NoError(t, err)

	imgs := localImages{repository: imagebuild.GopherOpsRepository, tag: "platform-1", updateTag: "platform-2"}
	var archives []string
	for _, tag := range []string{imgs.tag, imgs.updateTag} {
		archive, ref, err := imagebuild.GopherOpsArchive(ctx, o, tag, work, work)
		require.NoError(t, err, "build the GopherOps image %s", tag)
		logger.Default.Logf(t, "built %s (%s)", ref, time.Since(start).Round(time.Millisecond))
		archives = append(archives, archive)
	}
	cache, err := toolchain.CacheDir()
	require.NoError(t, err)
	pgStart := time.Now()
	pgArchive, pgRef, err := imagebuild.CachedPostgres(ctx, filepath.Join(cache, "images"), imagebuild.PostgresOptions{WorkDir: work})
	require.NoError(t, err, "the PostgreSQL image (debootstrap from this machine's Debian mirror)")
	logger.Default.Logf(t, "PostgreSQL image %s (%s)", pgRef, time.Since(pgStart).Round(time.Millisecond))
	imgs.postgres = pgRef
	archives = append(archives, pgArchive)

	dir, err := os.MkdirTemp("", "gopherops-node-")
	require.NoError(t, err)
	n, err := node.Start(ctx, node.Options{
		Binaries: node.Binaries{
			Kubelet:   locs[toolchain.Kubelet].Path,
			KubeProxy: locs[toolchain.KubeProxy].Path,
			CoreDNS:   locs[toolchain.CoreDNS].Path,
		},
		Dir:    dir,
		Server: cp.Server, CACert: cp.CACert, Token: cp.Token, Kubeconfig: cp.Kubeconfig,
		ServiceCIDR:  cp.ServiceCIDR,
		PauseArchive: pauseArchive, PauseRef: imagebuild.PauseRef,
		Logf:           func(format string, args ...any) { logger.Default.Logf(t, format, args...) },
		AfterInterrupt: cp.Stop,
	})
	require.NoError(t, err, "start the node")
	t.Cleanup(func() {
		if t.Failed() {
			for _, name := range []string{"kubelet", "containerd", "kube-proxy", "coredns"} {
				logger.Default.Logf(t, "--- last lines of %s.log ---\n%s", name, n.LogTail(name, 40))
			}
		}
		stopStart := time.Now()
		if err := n.Stop(); err != nil {
			t.Errorf("node teardown: %v", err)
			return
		}
		logger.Default.Logf(t, "node torn down in %s: bridge, mounts, iptables chains, cgroups, sysctls and files restored", time.Since(stopStart).Round(time.Millisecond))
	})
	for _, a := range archives {
		require.NoError(t, n.Import(ctx, a))
	}
	logger.Default.Logf(t, "node ready with its images in %s", time.Since(start).Round(time.Millisecond))
	return n, imgs
}

// serverURLs are the ways to the app's HTTP and admin listeners: through
// port-forwards to one ready pod, and through the ClusterIP Services
// (kube-proxy's rules on this host).
type serverURLs struct {
	forwardBase, forwardAdmin string
	serviceBase, serviceAdmin string
}

func reachServer(ctx context.Context, t *testing.T, c *kube.Cluster, pod corev1.Pod) serverURLs {
	t.Helper()
	forward := func(port int) string {
		tunnel := k8s.NewTunnel(c.Opts, k8s.ResourceTypePod, pod.Name, 0, port)
		require.NoError(t, tunnel.ForwardPortE(t), "port-forward to %s:%d", pod.Name, port)
		t.Cleanup(tunnel.Close)
		return "http://" + tunnel.Endpoint()
	}
	clusterIP := func(name string) string {
		svc, err := c.Client.CoreV1().Services(c.Opts.Namespace).Get(ctx, name, metav1.GetOptions{})
		require.NoError(t, err)
		require.NotEmpty(t, svc.Spec.ClusterIP)
		return svc.Spec.ClusterIP
	}
	return serverURLs{
		forwardBase:  forward(app.HTTPPort),
		forwardAdmin: forward(app.AdminPort),
		serviceBase:  "http://" + clusterIP(appName),
		serviceAdmin: fmt.Sprintf("http://%s:%d", clusterIP(metricsName), app.AdminPort),
	}
}

// walkJourneys creates the stack's root admin in a server pod and walks
// the service journeys through a port-forward, then through the ClusterIP
// Service. It returns the admin for later requests.
func walkJourneys(ctx context.Context, t *testing.T, c *kube.Cluster, urls serverURLs, pod corev1.Pod, version string) journey.Credentials {
	t.Helper()
	admin := journey.Credentials{Login: "root-" + random.UniqueID(), Password: journey.NewPassword()}
	kube.CreateAdmin(ctx, t, c, pod, app.ContainerName, admin)
	for _, way := range []struct{ name, base, admin string }{
		{"through a port-forward", urls.forwardBase, urls.forwardAdmin},
		{"through the ClusterIP Service", urls.serviceBase, urls.serviceAdmin},
	} {
		t.Run("journeys "+way.name, func(t *testing.T) {
			journey.WaitReady(t, way.base, time.Minute)
			journey.All(t, &journey.Target{BaseURL: way.base, AdminURLs: []string{way.admin}, Admin: admin, Version: version})
		})
	}
	return admin
}

// requestLoop sends an authenticated API request (GET /api/v1/me: a
// session lookup in PostgreSQL) through the ClusterIP Service every 50ms
// until stop is called, and returns the counts. A request fails on a
// transport error or any status but 200.
type requestLoop struct {
	ok, failed atomic.Int64
	mu         sync.Mutex
	failures   []string
	stop       context.CancelFunc
	done       chan struct{}
}

func startRequestLoop(t *testing.T, baseURL, token string) *requestLoop {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	l := &requestLoop{stop: cancel, done: make(chan struct{})}
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	go func() {
		defer close(l.done)
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, baseURL+"/api/v1/me", nil)
			if err != nil {
				l.fail(err.Error())
				continue
			}
			req.Header.Set("Authorization", "Bearer "+token)
			resp, err := client.Do(req)
			switch {
			case ctx.Err() != nil:
				return
			case err != nil:
				l.fail(err.Error())
			case resp.StatusCode != http.StatusOK:
				_ = resp.Body.Close()
				l.fail(resp.Status)
			default:
				_ = resp.Body.Close()
				l.ok.Add(1)
			}
		}
	}()
	return l
}

func (l *requestLoop) fail(what string) {
	l.failed.Add(1)
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.failures) < 20 {
		l.failures = append(l.failures, time.Now().Format("15:04:05.000")+" "+what)
	}
}

// finish stops the loop and returns the successes, failures and the first failures.
func (l *requestLoop) finish() (ok, failed int64, first []string) {
	l.stop()
	<-l.done
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.ok.Load(), l.failed.Load(), append([]string(nil), l.failures...)
}
