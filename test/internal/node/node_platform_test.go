//go:build platform

package node

import (
	"context"
	"errors"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/gopherops/gopherops/test/internal/controlplane"
	"github.com/gopherops/gopherops/test/internal/images"
	"github.com/gopherops/gopherops/test/internal/toolchain"
)

// TestNodeRunsAPodAndLeavesNothing starts the control plane and a node,
// runs a pod of the pause image to Ready, and checks that the teardown
// restores the machine (Stop fails on any leftover).
func TestNodeRunsAPodAndLeavesNothing(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	locs := map[string]string{}
	for _, name := range []string{toolchain.Etcd, toolchain.KubeAPIServer, toolchain.KubeControllerManager, toolchain.KubeScheduler, toolchain.Kubelet, toolchain.KubeProxy, toolchain.CoreDNS} {
		loc, err := toolchain.Find(name)
		if err != nil {
			t.Fatalf("%v (run `make tools`)", err)
		}
		locs[name] = loc.Path
	}
	work := t.TempDir()
	root, err := filepath.Abs(filepath.Join("..", "..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	o := images.BuildOptions{RepoRoot: root, Created: time.Now()}
	pauseArchive, err := images.PauseArchive(ctx, o, work, work)
	if err != nil {
		t.Fatal(err)
	}
	pauseBin := filepath.Join(work, "pause-bin")
	if err := images.BuildPause(ctx, o, pauseBin); err != nil {
		t.Fatal(err)
	}
	if err := Check(ctx, pauseBin); err != nil {
		if errors.Is(err, ErrUnsupported) {
			t.Skip(err)
		}
		t.Fatal(err)
	}

	cp, err := controlplane.Start(ctx, controlplane.Options{
		Binaries: controlplane.Binaries{Etcd: locs[toolchain.Etcd], APIServer: locs[toolchain.KubeAPIServer],
			ControllerManager: locs[toolchain.KubeControllerManager], Scheduler: locs[toolchain.KubeScheduler]},
		Dir: filepath.Join(work, "cp"), Logf: t.Logf,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer cp.Stop()

	dir, err := os.MkdirTemp("", "gopherops-node-")
	if err != nil {
		t.Fatal(err)
	}
	n, err := Start(ctx, Options{
		Binaries: Binaries{Kubelet: locs[toolchain.Kubelet], KubeProxy: locs[toolchain.KubeProxy], CoreDNS: locs[toolchain.CoreDNS]},
		Dir:      dir, Server: cp.Server, CACert: cp.CACert, Token: cp.Token, Kubeconfig: cp.Kubeconfig,
		ServiceCIDR: cp.ServiceCIDR, PauseArchive: pauseArchive, PauseRef: images.PauseRef,
		Logf: t.Logf, AfterInterrupt: cp.Stop,
	})
	if err != nil {
		t.Fatal(err)
	}
	stopped := false
	defer func() {
		if !stopped {
			if err := n.Stop(); err != nil {
				t.Errorf("teardown: %v", err)
			}
		}
	}()

	pod := map[string]any{
		"apiVersion": "v1", "kind": "Pod",
		"metadata": map[string]any{"name": "pause", "namespace": "default"},
		"spec": map[string]any{
			"automountServiceAccountToken": false,
			"containers": []map[string]any{{
				"name": "pause", "image": images.PauseRef, "imagePullPolicy": "Never",
				"securityContext": map[string]any{
					"runAsNonRoot": true, "allowPrivilegeEscalation": false, "readOnlyRootFilesystem": true,
					"capabilities": map[string]any{"drop": []string{"ALL"}}, "seccompProfile": map[string]string{"type": "RuntimeDefault"},
				},
			}},
		},
	}
	if err := n.api.create(ctx, "/api/v1/namespaces/default/pods", pod); err != nil {
		t.Fatal(err)
	}
	var status struct {
		Status struct {
			Phase      string
			PodIP      string
			Conditions []struct{ Type, Status, Reason, Message string }
		}
	}
	deadline := time.Now().Add(2 * time.Minute)
	ready := false
	for !ready && time.Now().Before(deadline) {
		if err := n.api.do(ctx, http.MethodGet, "/api/v1/namespaces/default/pods/pause", nil, &status); err != nil {
			t.Fatal(err)
		}
		for _, c := range status.Status.Conditions {
			ready = ready || (c.Type == "Ready" && c.Status == "True")
		}
		if !ready {
			time.Sleep(500 * time.Millisecond)
		}
	}
	if !ready {
		t.Fatalf("the pod is not Ready: %+v\n--- kubelet ---\n%s\n--- kube-scheduler ---\n%s", status.Status, n.LogTail("kubelet", 30), cp.LogTail("kube-scheduler", 30))
	}
	_, podNet, _ := net.ParseCIDR(PodCIDR)
	if ip := net.ParseIP(status.Status.PodIP); ip == nil || !podNet.Contains(ip) {
		t.Errorf("pod IP %q is not in %s", status.Status.PodIP, PodCIDR)
	}
	t.Logf("pod Running at %s", status.Status.PodIP)

	stopped = true
	start := time.Now()
	if err := n.Stop(); err != nil {
		t.Fatalf("teardown: %v", err)
	}
	t.Logf("teardown clean in %s", time.Since(start).Round(time.Millisecond))
	if _, err := net.InterfaceByName(BridgeName); err == nil {
		t.Errorf("bridge %s still exists", BridgeName)
	}
}
