package node

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"
)

// ErrUnsupported is wrapped by the errors of a machine that cannot run a
// node (not root, no cgroups, runc refused, programs missing): a test skips
// with the reason instead of failing.
var ErrUnsupported = errors.New("this machine cannot run a Kubernetes node")

func unsupported(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrUnsupported, fmt.Sprintf(format, args...))
}

// hostPrograms are what the node runs or calls from PATH, with the Debian
// package that provides each.
func hostPrograms() map[string]string {
	return map[string]string{
		"containerd": "containerd", "ctr": "containerd", "runc": "runc",
		"ip": "iproute2", "iptables": "iptables", "iptables-save": "iptables",
		"conntrack": "conntrack",
	}
}

// Check tells whether this machine can run a node, without changing it:
// root, Linux, the programs, the CNI plugins, cgroups with a memory
// controller, overlayfs, and runc really starting a container (the static
// pause binary at pauseBinary, run with -v) — some sandboxes refuse it.
func Check(ctx context.Context, pauseBinary string) error {
	if runtime.GOOS != "linux" {
		return unsupported("%s is not Linux", runtime.GOOS)
	}
	if os.Geteuid() != 0 {
		return unsupported("not root (containerd, the kubelet and the CNI plugins need root)")
	}
	var missing []string
	for prog, pkg := range hostPrograms() {
		if _, err := exec.LookPath(prog); err != nil {
			missing = append(missing, prog+" (Debian package "+pkg+")")
		}
	}
	for _, plugin := range []string{"bridge", "host-local", "loopback", "portmap"} {
		if _, err := os.Stat(filepath.Join(cniBinDir, plugin)); err != nil {
			missing = append(missing, cniBinDir+"/"+plugin+" (Debian package containernetworking-plugins)")
		}
	}
	if len(missing) > 0 {
		return unsupported("missing %s; .ci/run installs them", strings.Join(missing, ", "))
	}
	if !hasMemoryCgroup() {
		return unsupported("no cgroup memory controller under /sys/fs/cgroup")
	}
	if fs, err := os.ReadFile("/proc/filesystems"); err != nil || !bytes.Contains(fs, []byte("\toverlay\n")) {
		return unsupported("the kernel offers no overlay filesystem (containerd's snapshotter)")
	}
	return runcWorks(ctx, pauseBinary)
}

func hasMemoryCgroup() bool {
	if fi, err := os.Stat("/sys/fs/cgroup/memory"); err == nil && fi.IsDir() {
		return true
	}
	b, err := os.ReadFile("/sys/fs/cgroup/cgroup.controllers")
	return err == nil && bytes.Contains(append(b, ' '), []byte("memory "))
}

// runcWorks runs the pause binary with -v in a container of runc's default
// specification.
func runcWorks(ctx context.Context, pauseBinary string) error {
	dir, err := os.MkdirTemp("", "gopherops-runc-check-")
	if err != nil {
		return fmt.Errorf("node: %w", err)
	}
	defer os.RemoveAll(dir)
	bundle, state := filepath.Join(dir, "bundle"), filepath.Join(dir, "state")
	if err := os.MkdirAll(filepath.Join(bundle, "rootfs"), 0o755); err != nil { //nolint:gosec // a container's root filesystem
		return fmt.Errorf("node: %w", err)
	}
	bin, err := os.ReadFile(pauseBinary) //nolint:gosec // the pause binary the caller built
	if err != nil {
		return fmt.Errorf("node: %w", err)
	}
	if err := os.WriteFile(filepath.Join(bundle, "rootfs", "pause"), bin, 0o755); err != nil { //nolint:gosec // the container's program
		return fmt.Errorf("node: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if out, err := exec.CommandContext(ctx, "runc", "spec", "--bundle", bundle).CombinedOutput(); err != nil { //nolint:gosec // a bundle directory of our own
		return fmt.Errorf("node: runc spec: %w: %s", err, out)
	}
	specPath := filepath.Join(bundle, "config.json")
	raw, err := os.ReadFile(specPath) //nolint:gosec // the spec runc just wrote
	if err != nil {
		return fmt.Errorf("node: %w", err)
	}
	var spec map[string]any
	if err := json.Unmarshal(raw, &spec); err != nil {
		return fmt.Errorf("node: runc spec: %w", err)
	}
	process, _ := spec["process"].(map[string]any)
	if process == nil {
		return errors.New("node: runc spec has no process")
	}
	process["args"] = []string{"/pause", "-v"}
	process["terminal"] = false
	if raw, err = json.Marshal(spec); err != nil {
		return fmt.Errorf("node: %w", err)
	}
	if err := os.WriteFile(specPath, raw, 0o600); err != nil {
		return fmt.Errorf("node: %w", err)
	}
	id := fmt.Sprintf("gopherops-check-%d", os.Getpid())
	out, err := exec.CommandContext(ctx, "runc", "--root", state, "run", "--bundle", bundle, id).CombinedOutput() //nolint:gosec // our own check container
	_ = exec.CommandContext(context.WithoutCancel(ctx), "runc", "--root", state, "delete", "--force", id).Run()   //nolint:gosec // our own check container
	if err != nil || !bytes.Contains(out, []byte("pause")) {
		return unsupported("runc cannot start a container here: %v: %s", err, bytes.TrimSpace(out))
	}
	return nil
}
