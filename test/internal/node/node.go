// Package node runs a throwaway Kubernetes node next to the loopback control
// plane of test/internal/controlplane, so that the platform suite's pods
// really run: Debian's containerd and runc, the bridge CNI plugin on a bridge
// of its own, the kubelet, kube-proxy (iptables) and CoreDNS, with a default
// StorageClass whose claims each get a hostPath volume, deleted with them. Everything lives under one temporary
// directory; what cannot (sysctls, iptables chains, the bridge, cgroups,
// mounts, files under /run and /var/lib) is recorded before the start and
// restored by Stop, which also runs when the process is interrupted.
//
// Check tells first whether the machine can run a node at all (root,
// cgroups, runc), so that a test skips with the reason where it cannot.
// The bridge CNI plugin enforces no NetworkPolicy, and nothing assigns
// LoadBalancer addresses.
package node

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/gopherops/gopherops/test/internal/procs"
)

// Binaries are the node's programs built by `make tools`; containerd, runc
// and ctr come from PATH (Debian's packages).
type Binaries struct {
	Kubelet   string
	KubeProxy string
	CoreDNS   string
}

// Options configure Start.
type Options struct {
	Binaries Binaries
	// Dir holds everything the node writes; it is removed by Stop.
	Dir string
	// Server, CACert, Token and Kubeconfig reach the control plane as its admin.
	Server, CACert, Token, Kubeconfig string
	// ServiceCIDR is the control plane's ClusterIP range, routed to the bridge.
	ServiceCIDR string
	// PauseArchive is the sandbox image's archive (images.PauseArchive), tagged PauseRef.
	PauseArchive string
	// PauseRef is the sandbox image's reference.
	PauseRef string
	// Logf receives progress lines (e.g. testing.T.Logf).
	Logf func(format string, args ...any)
	// ReadyTimeout bounds the wait for each component (default 2 minutes).
	ReadyTimeout time.Duration
	// AfterInterrupt runs after the node's teardown when the process is
	// interrupted, before the signal ends it (e.g. the control plane's Stop).
	AfterInterrupt func()
}

// StorageClassName is the node's default StorageClass.
const StorageClassName = "gopherops-node-local"

// Node is a running node.
type Node struct {
	o     Options
	p     paths
	api   *api
	host  *hostState
	procs *procs.Group
	log   func(string, ...any)

	lock     *os.File // held while the node exists: one node per machine
	stopOnce sync.Once
	stopErr  error
	signals  chan os.Signal
	done     chan struct{}
}

// Start brings the node up: bridge, containerd (with the pause image),
// volumes, kubelet (until the node is Ready), kube-proxy and CoreDNS. On
// error everything already done is undone. Check should have passed.
func Start(ctx context.Context, o Options) (_ *Node, err error) {
	if o.ReadyTimeout == 0 {
		o.ReadyTimeout = 2 * time.Minute
	}
	if o.Logf == nil {
		o.Logf = func(string, ...any) {}
	}
	if o.Binaries.Kubelet == "" || o.Binaries.KubeProxy == "" || o.Binaries.CoreDNS == "" {
		return nil, errors.New("node: the kubelet, kube-proxy and coredns paths are required")
	}
	if err := os.MkdirAll(o.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("node: %w", err)
	}
	n := &Node{o: o, p: newPaths(o.Dir), log: o.Logf, done: make(chan struct{}), procs: procs.NewGroup(o.Dir, 15*time.Second)}
	if n.api, err = newAPI(o.Server, o.CACert, o.Token); err != nil {
		return nil, err
	}
	// The bridge, the iptables chains and the sysctls are the machine's: a
	// second node (another test process) waits for the first to be gone.
	if n.lock, err = lockMachine(ctx, o.Logf); err != nil {
		return nil, err
	}
	if n.host, err = recordHost(ctx); err != nil {
		_ = n.lock.Close()
		return nil, err
	}
	// From here on, an interrupt tears the node down before the process ends.
	n.signals = make(chan os.Signal, 1)
	signal.Notify(n.signals, os.Interrupt, syscall.SIGTERM)
	go n.onSignal()
	defer func() {
		if err != nil {
			if serr := n.Stop(); serr != nil {
				err = errors.Join(err, serr)
			}
		}
	}()
	start := time.Now()

	if err := n.network(ctx); err != nil {
		return nil, err
	}
	if err := n.writeConfigs(); err != nil {
		return nil, err
	}
	if err := n.procs.Start(ctx, "containerd", "containerd", "--config", n.p.containerdConfig); err != nil {
		return nil, err
	}
	if err := n.waitFor(ctx, "containerd", func() error { return n.ctr(ctx, "version") }); err != nil {
		return nil, err
	}
	if err := n.Import(ctx, o.PauseArchive); err != nil {
		return nil, err
	}
	o.Logf("node: containerd ready with %s (%s)", o.PauseRef, time.Since(start).Round(time.Millisecond))

	if err := n.volumes(ctx); err != nil {
		return nil, err
	}
	ports, err := procs.FreePorts(6)
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(n.p.kubeletConfig, []byte(kubeletConfig(n.p, o.CACert, ports[0], ports[1])), 0o600); err != nil {
		return nil, fmt.Errorf("node: %w", err)
	}
	if err := n.procs.Start(ctx, "kubelet", o.Binaries.Kubelet,
		"--config", n.p.kubeletConfig,
		"--kubeconfig", o.Kubeconfig,
		"--root-dir", n.p.kubeletRoot,
		"--hostname-override", NodeName,
		"--node-ip", NodeIP,
		"--v", "1",
	); err != nil {
		return nil, err
	}
	why := ""
	if err := n.waitFor(ctx, "kubelet", func() error {
		ready, reason, err := n.api.nodeReady(ctx)
		if err != nil {
			return err
		}
		if !ready {
			why = reason
			return fmt.Errorf("node %s not Ready: %s", NodeName, reason)
		}
		return nil
	}); err != nil {
		return nil, fmt.Errorf("%w (last: %s)", err, why)
	}
	o.Logf("node: kubelet registered %s, Ready (%s)", NodeName, time.Since(start).Round(time.Millisecond))

	if err := os.WriteFile(n.p.proxyConfig, []byte(proxyConfig(o.Kubeconfig, ports[2], ports[3])), 0o600); err != nil {
		return nil, fmt.Errorf("node: %w", err)
	}
	if err := n.procs.Start(ctx, "kube-proxy", o.Binaries.KubeProxy, "--config", n.p.proxyConfig); err != nil {
		return nil, err
	}
	if err := n.waitFor(ctx, "kube-proxy", httpOK(ctx, fmt.Sprintf("http://127.0.0.1:%d/healthz", ports[2]))); err != nil {
		return nil, err
	}
	o.Logf("node: kube-proxy ready (%s)", time.Since(start).Round(time.Millisecond))

	if err := os.WriteFile(n.p.corefile, []byte(corefile(o.Kubeconfig, ports[4], ports[5])), 0o600); err != nil {
		return nil, fmt.Errorf("node: %w", err)
	}
	if err := n.procs.Start(ctx, "coredns", o.Binaries.CoreDNS, "-conf", n.p.corefile); err != nil {
		return nil, err
	}
	if err := n.waitFor(ctx, "coredns", httpOK(ctx, fmt.Sprintf("http://127.0.0.1:%d/ready", ports[4]))); err != nil {
		return nil, err
	}
	o.Logf("node: CoreDNS serving %s at %s:53 (%s)", ClusterDomain, NodeIP, time.Since(start).Round(time.Millisecond))
	return n, nil
}

// network makes the bridge with the node's address (removing a leftover of
// a killed run first) and routes the Service range to it.
func (n *Node) network(ctx context.Context) error {
	if _, err := net.InterfaceByName(BridgeName); err == nil {
		n.log("node: removing bridge %s left by an earlier run", BridgeName)
		if err := ip(ctx, "link", "del", BridgeName); err != nil {
			return err
		}
	}
	steps := [][]string{
		{"link", "add", "name", BridgeName, "type", "bridge"},
		{"addr", "add", NodeIP + "/24", "dev", BridgeName},
		{"link", "set", BridgeName, "up"},
	}
	if n.o.ServiceCIDR != "" {
		steps = append(steps, []string{"route", "add", n.o.ServiceCIDR, "dev", BridgeName, "src", NodeIP})
	}
	for _, args := range steps {
		if err := ip(ctx, args...); err != nil {
			return err
		}
	}
	return nil
}

func ip(ctx context.Context, args ...string) error {
	if out, err := exec.CommandContext(ctx, "ip", args...).CombinedOutput(); err != nil { //nolint:gosec // arguments built by this package
		return fmt.Errorf("node: ip %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

// writeConfigs writes containerd's configuration, the CNI network and the
// pods' host resolv.conf.
func (n *Node) writeConfigs() error {
	for _, d := range []string{filepath.Dir(n.p.containerdConfig), n.p.cniConfDir, n.p.cniDataDir, n.p.kubeletRoot, n.p.podLogs, n.p.volumes} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return fmt.Errorf("node: %w", err)
		}
	}
	cni, err := cniConfig(n.p)
	if err != nil {
		return fmt.Errorf("node: CNI configuration: %w", err)
	}
	files := map[string][]byte{
		n.p.containerdConfig: []byte(containerdConfig(n.p, n.o.PauseRef)),
		filepath.Join(n.p.cniConfDir, "10-gopherops.conflist"): cni,
		n.p.resolvConf: []byte("nameserver " + NodeIP + "\n"),
	}
	for path, data := range files {
		if err := os.WriteFile(path, data, 0o600); err != nil {
			return fmt.Errorf("node: %w", err)
		}
	}
	return nil
}

// volumes makes the default StorageClass and starts its provisioner.
func (n *Node) volumes(ctx context.Context) error {
	if err := os.MkdirAll(n.p.volumes, 0o700); err != nil {
		return fmt.Errorf("node: %w", err)
	}
	if err := n.api.create(ctx, "/apis/storage.k8s.io/v1/storageclasses", storageClass(StorageClassName)); err != nil {
		return err
	}
	// The provisioner outlives ctx, which bounds only the node's start: it
	// runs until Stop.
	go n.provision(context.WithoutCancel(ctx))
	return nil
}

// Import loads an image archive (`docker save` format) into containerd's
// k8s.io namespace, where the kubelet finds it.
func (n *Node) Import(ctx context.Context, archive string) error {
	if err := n.ctr(ctx, "-n", "k8s.io", "images", "import", archive); err != nil {
		return fmt.Errorf("node: import %s: %w", filepath.Base(archive), err)
	}
	return nil
}

// ctr runs ctr against the node's containerd.
func (n *Node) ctr(ctx context.Context, args ...string) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, "ctr", append([]string{"--address", n.p.containerdSocket}, args...)...).CombinedOutput() //nolint:gosec // ctr with arguments this package composes
	if err != nil {
		return fmt.Errorf("ctr %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

// ctrList runs a ctr listing with -q and returns its lines.
func (n *Node) ctrList(ctx context.Context, args ...string) ([]string, error) {
	out, err := exec.CommandContext(ctx, "ctr", append([]string{"--address", n.p.containerdSocket, "-n", "k8s.io"}, args...)...).Output() //nolint:gosec // as above
	if err != nil {
		return nil, err
	}
	return strings.Fields(string(out)), nil
}

// waitFor polls check every 250ms until it passes, a component exits or
// ReadyTimeout passes; the error carries the end of name's log.
func (n *Node) waitFor(ctx context.Context, name string, check func() error) error {
	ctx, cancel := context.WithTimeout(ctx, n.o.ReadyTimeout)
	defer cancel()
	var last error
	for {
		var exited *procs.ExitError
		if errors.As(n.procs.Exited(), &exited) {
			return fmt.Errorf("node: %w while waiting for %s\n--- last lines of %s.log ---\n%s", exited, name, exited.Name, n.LogTail(exited.Name, 30))
		}
		if last = check(); last == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("node: %s not ready: %w (last: %w)\n--- last lines of %s.log ---\n%s", name, ctx.Err(), last, name, n.LogTail(name, 30))
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// httpOK is a check that url answers 200.
func httpOK(ctx context.Context, url string) func() error {
	client := &http.Client{Timeout: 5 * time.Second}
	return func() error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("%s answered %s", url, resp.Status)
		}
		return nil
	}
}

// LogTail returns the last n lines of a component's log (containerd,
// kubelet, kube-proxy, coredns), for failure reports.
func (n *Node) LogTail(name string, lines int) string { return n.procs.LogTail(name, lines) }

// onSignal tears the node down on an interrupt, then lets the signal end
// the process as it would have.
func (n *Node) onSignal() {
	select {
	case sig := <-n.signals:
		n.log("node: %v: tearing the node down before exiting", sig)
		if err := n.Stop(); err != nil {
			n.log("node: teardown: %v", err)
		}
		if n.o.AfterInterrupt != nil {
			n.o.AfterInterrupt()
		}
		signal.Reset(sig)
		_ = syscall.Kill(os.Getpid(), sig.(syscall.Signal))
	case <-n.done:
	}
}

// Stop drains the node's pods, stops its programs in order (kubelet before
// containerd, so that the sandboxes' networks are torn down by the CNI
// plugin), removes its volumes, mounts, bridge, iptables chains, cgroups and
// files, and restores the sysctls. It is safe to call more than once; the
// error lists every step that failed and whatever was left behind.
func (n *Node) Stop() error {
	n.stopOnce.Do(func() {
		close(n.done)
		if n.signals != nil {
			signal.Stop(n.signals)
		}
		n.stopErr = n.teardown()
		if n.lock != nil {
			_ = n.lock.Close() // releases the flock
		}
	})
	return n.stopErr
}

func (n *Node) teardown() error {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var errs []error
	keep := func(err error) {
		if err != nil {
			errs = append(errs, err)
		}
	}
	if n.procs.Running("kubelet") {
		keep(n.drain(ctx))
	}
	for _, name := range []string{"coredns", "kube-proxy", "kubelet"} {
		n.procs.Stop(name)
	}
	if n.procs.Running("containerd") {
		keep(n.removeContainers(ctx))
	}
	n.procs.Stop("containerd")
	keep(n.killShims())
	keep(n.removeVolumes(ctx))
	keep(n.api.remove(ctx, "/apis/storage.k8s.io/v1/storageclasses/"+StorageClassName))
	keep(unmountUnder(n.o.Dir))
	if _, err := net.InterfaceByName(BridgeName); err == nil {
		keep(ip(ctx, "link", "del", BridgeName))
	}
	keep(n.host.restore(ctx))
	keep(removeTree(n.o.Dir))
	keep(n.leftovers(ctx))
	return errors.Join(errs...)
}

// drain deletes the pods still bound to the node and waits until the
// kubelet has stopped their containers (it tears their networks down).
func (n *Node) drain(ctx context.Context) error {
	pods, err := n.api.nodePods(ctx)
	if err != nil {
		return err
	}
	for _, p := range pods {
		if err := n.api.deletePod(ctx, p, 0); err != nil {
			return err
		}
	}
	deadline := time.Now().Add(90 * time.Second)
	for time.Now().Before(deadline) {
		tasks, err := n.ctrList(ctx, "tasks", "ls", "-q")
		if err == nil && len(tasks) == 0 {
			return nil
		}
		time.Sleep(500 * time.Millisecond)
	}
	return errors.New("node: drain: containers still running after 90s; they are killed")
}

// removeContainers kills and deletes whatever containers are left.
func (n *Node) removeContainers(ctx context.Context) error {
	tasks, _ := n.ctrList(ctx, "tasks", "ls", "-q")
	for _, t := range tasks {
		_ = n.ctr(ctx, "-n", "k8s.io", "tasks", "kill", "-s", "SIGKILL", t)
	}
	var errs []error
	for _, t := range tasks {
		deadline := time.Now().Add(10 * time.Second)
		var err error
		for time.Now().Before(deadline) {
			if err = n.ctr(ctx, "-n", "k8s.io", "tasks", "delete", "-f", t); err == nil {
				break
			}
			time.Sleep(200 * time.Millisecond)
		}
		if err != nil {
			errs = append(errs, err)
		}
	}
	containers, _ := n.ctrList(ctx, "containers", "ls", "-q")
	for _, c := range containers {
		if err := n.ctr(ctx, "-n", "k8s.io", "containers", "delete", c); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// killShims kills the containerd shims serving this node's containerd
// (their command line names its socket): they outlive containerd by design.
func (n *Node) killShims() error {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return fmt.Errorf("node: %w", err)
	}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		cmdline, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline")) //nolint:gosec // reading /proc
		if err != nil {
			continue
		}
		args := strings.Split(string(cmdline), "\x00")
		if len(args) > 0 && strings.Contains(filepath.Base(args[0]), "containerd-shim") && strings.Contains(string(cmdline), n.p.containerdSocket) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
	return nil
}

// leftovers lists what the teardown failed to undo: the bridge, mounts
// under the node's directory or /run/netns, sysctls not restored.
func (n *Node) leftovers(context.Context) error {
	var left []string
	if _, err := net.InterfaceByName(BridgeName); err == nil {
		left = append(left, "bridge "+BridgeName)
	}
	for _, dir := range []string{n.o.Dir, "/run/netns"} {
		if points, err := mountPoints(dir); err == nil && len(points) > 0 {
			left = append(left, "mounts "+strings.Join(points, ", "))
		}
	}
	if changed := n.host.changedSysctls(); len(changed) > 0 {
		left = append(left, "sysctls "+strings.Join(changed, ", "))
	}
	if _, err := os.Stat(n.o.Dir); err == nil {
		left = append(left, "directory "+n.o.Dir)
	}
	if len(left) > 0 {
		return fmt.Errorf("node: teardown left %s", strings.Join(left, "; "))
	}
	return nil
}

// lockPath is the machine-wide lock of the node.
const lockPath = "/run/gopherops-node.lock"

// lockMachine takes the machine's node lock, waiting while another process
// holds it.
func lockMachine(ctx context.Context, logf func(string, ...any)) (*os.File, error) {
	f, err := os.OpenFile(lockPath, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("node: lock: %w", err)
	}
	waited := false
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return f, nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			_ = f.Close()
			return nil, fmt.Errorf("node: lock %s: %w", lockPath, err)
		}
		if !waited {
			logf("node: another node runs on this machine; waiting for it to stop (%s)", lockPath)
			waited = true
		}
		select {
		case <-ctx.Done():
			_ = f.Close()
			return nil, fmt.Errorf("node: waiting for %s: %w", lockPath, ctx.Err())
		case <-time.After(time.Second):
		}
	}
}
