package node

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"
)

// sysctls are the kernel settings the node's programs change: the kubelet
// (overcommit, panic settings, key quotas), the bridge CNI plugin
// (forwarding), kube-proxy (localnet routing, conntrack, bridge netfilter).
// Their values are recorded before the node starts and written back after.
func sysctls() []string {
	return []string{
		"vm/overcommit_memory", "vm/panic_on_oom",
		"kernel/panic", "kernel/panic_on_oops",
		"kernel/keys/root_maxkeys", "kernel/keys/root_maxbytes",
		"net/ipv4/ip_forward", "net/ipv4/conf/all/route_localnet",
		"net/ipv6/conf/all/forwarding",
		"net/bridge/bridge-nf-call-iptables", "net/bridge/bridge-nf-call-ip6tables",
		"net/netfilter/nf_conntrack_max",
		"net/netfilter/nf_conntrack_tcp_timeout_established",
		"net/netfilter/nf_conntrack_tcp_timeout_close_wait",
	}
}

// hostPaths are the host directories the runtime, the CNI plugins and the
// kubelet may create outside the node's own directory; the ones that did not
// exist before are removed, and in the others the new entries.
func hostPaths() []string {
	return []string{
		"/run/containerd", "/run/netns", "/var/run/netns", "/var/lib/cni", "/var/lib/kubelet",
		"/var/log/pods", "/var/log/containers", "/etc/kubernetes", "/run/runc",
		"/var/lib/containerd", "/opt/cni",
	}
}

// hostState is what the node found on the machine before it started.
type hostState struct {
	sysctls  map[string]string   // path under /proc/sys -> value
	paths    map[string][]string // existing host path -> its entries; missing paths absent
	chains   map[string]map[string]map[string]bool
	cgroups  map[string]bool // existing kubepods cgroup directories
	procSys  string
	tools    map[string]string // iptables, ip6tables -> path ("" when missing)
	recorded bool
}

// recordHost reads the state the teardown restores.
func recordHost(ctx context.Context) (*hostState, error) {
	h := &hostState{
		sysctls: map[string]string{}, paths: map[string][]string{},
		chains: map[string]map[string]map[string]bool{}, cgroups: map[string]bool{},
		procSys: "/proc/sys", tools: map[string]string{},
	}
	for _, key := range sysctls() {
		b, err := os.ReadFile(filepath.Join(h.procSys, key)) //nolint:gosec // a fixed sysctl path
		if err == nil {
			h.sysctls[key] = strings.TrimSpace(string(b))
		}
	}
	for _, p := range hostPaths() {
		entries, err := os.ReadDir(p)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil && !errors.Is(err, syscall.ENOTDIR) {
			return nil, fmt.Errorf("node: %s: %w", p, err)
		}
		names := make([]string, 0, len(entries))
		for _, e := range entries {
			names = append(names, e.Name())
		}
		h.paths[p] = names
	}
	for _, tool := range []string{"iptables", "ip6tables"} {
		path, err := exec.LookPath(tool)
		if err != nil {
			continue
		}
		h.tools[tool] = path
		chains, err := iptablesChains(ctx, path)
		if err != nil {
			if tool == "ip6tables" {
				h.tools[tool] = "" // no IPv6 netfilter here: nothing to restore
				continue
			}
			return nil, err
		}
		h.chains[tool] = chains
	}
	for _, dir := range kubepodsCgroups() {
		h.cgroups[dir] = true
	}
	h.recorded = true
	return h, nil
}

// restore puts back what the node changed on the host. It tries every step
// and reports every failure.
func (h *hostState) restore(ctx context.Context) error {
	if h == nil || !h.recorded {
		return nil
	}
	var errs []error
	for tool, path := range h.tools {
		if path == "" {
			continue
		}
		if err := removeNewChains(ctx, path, h.chains[tool]); err != nil {
			errs = append(errs, err)
		}
	}
	for _, dir := range kubepodsCgroups() {
		if !h.cgroups[dir] {
			if err := removeCgroupTree(dir); err != nil {
				errs = append(errs, err)
			}
		}
	}
	for _, p := range hostPaths() {
		before, existed := h.paths[p]
		if !existed {
			if _, err := os.Lstat(p); err == nil {
				errs = append(errs, removeTree(p))
			}
			continue
		}
		keep := map[string]bool{}
		for _, name := range before {
			keep[name] = true
		}
		entries, _ := os.ReadDir(p)
		for _, e := range entries {
			if !keep[e.Name()] {
				errs = append(errs, removeTree(filepath.Join(p, e.Name())))
			}
		}
	}
	for key, value := range h.sysctls {
		path := filepath.Join(h.procSys, key)
		cur, err := os.ReadFile(path) //nolint:gosec // a fixed sysctl path
		if err != nil || strings.TrimSpace(string(cur)) == value {
			continue
		}
		if err := os.WriteFile(path, []byte(value+"\n"), 0o644); err != nil { //nolint:gosec // sysctls are written like this
			errs = append(errs, fmt.Errorf("node: restore %s=%s: %w", strings.ReplaceAll(key, "/", "."), value, err))
		}
	}
	return errors.Join(errs...)
}

// changedSysctls lists the recorded settings whose value differs now, as key=before->now.
func (h *hostState) changedSysctls() []string {
	var out []string
	for key, value := range h.sysctls {
		cur, err := os.ReadFile(filepath.Join(h.procSys, key)) //nolint:gosec // a fixed sysctl path
		if err == nil && strings.TrimSpace(string(cur)) != value {
			out = append(out, fmt.Sprintf("%s=%s->%s", strings.ReplaceAll(key, "/", "."), value, strings.TrimSpace(string(cur))))
		}
	}
	sort.Strings(out)
	return out
}

// removeTree unmounts whatever is mounted under p, then removes it.
func removeTree(p string) error {
	if err := unmountUnder(p); err != nil {
		return err
	}
	if err := os.RemoveAll(p); err != nil {
		return fmt.Errorf("node: remove %s: %w", p, err)
	}
	return nil
}

// mountPoints lists the mount points at or under dir, deepest last.
func mountPoints(dir string) ([]string, error) {
	data, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return nil, fmt.Errorf("node: %w", err)
	}
	var points []string
	for line := range strings.Lines(string(data)) {
		f := strings.Fields(line)
		if len(f) <= 4 {
			continue
		}
		p := unescapeMount(f[4])
		if p == dir || strings.HasPrefix(p, strings.TrimSuffix(dir, "/")+"/") {
			points = append(points, p)
		}
	}
	return points, nil
}

// unescapeMount undoes mountinfo's octal escapes (\040 for a space).
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			var v byte
			ok := true
			for _, c := range []byte(s[i+1 : i+4]) {
				if c < '0' || c > '7' {
					ok = false
					break
				}
				v = v*8 + (c - '0')
			}
			if ok {
				b.WriteByte(v)
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// unmountUnder unmounts, deepest first, every mount point at or under dir.
func unmountUnder(dir string) error {
	var errs []error
	for range 3 { // a mount can hide another one under the same point
		points, err := mountPoints(dir)
		if err != nil {
			return err
		}
		if len(points) == 0 {
			return nil
		}
		sort.Slice(points, func(i, j int) bool { return len(points[i]) > len(points[j]) })
		errs = errs[:0]
		for _, p := range points {
			if err := syscall.Unmount(p, syscall.MNT_DETACH); err != nil && !errors.Is(err, syscall.EINVAL) && !errors.Is(err, syscall.ENOENT) {
				errs = append(errs, fmt.Errorf("node: unmount %s: %w", p, err))
			}
		}
	}
	return errors.Join(errs...)
}

// iptablesChains reads the chains of every table, by table.
func iptablesChains(ctx context.Context, tool string) (map[string]map[string]bool, error) {
	out, err := exec.CommandContext(ctx, tool+"-save").Output() //nolint:gosec // iptables-save or ip6tables-save next to the tool found on PATH
	if err != nil {
		return nil, fmt.Errorf("node: %s-save: %w", filepath.Base(tool), err)
	}
	chains := map[string]map[string]bool{}
	table := ""
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "*"):
			table = line[1:]
			chains[table] = map[string]bool{}
		case strings.HasPrefix(line, ":") && table != "":
			chains[table][strings.Fields(line[1:])[0]] = true
		}
	}
	return chains, sc.Err()
}

// iptablesRules reads the "-A chain ..." rules of every table, by table.
func iptablesRules(ctx context.Context, tool string) (map[string][]string, error) {
	out, err := exec.CommandContext(ctx, tool+"-save").Output() //nolint:gosec // as above
	if err != nil {
		return nil, fmt.Errorf("node: %s-save: %w", filepath.Base(tool), err)
	}
	rules := map[string][]string{}
	table := ""
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "*"):
			table = line[1:]
		case strings.HasPrefix(line, "-A ") && table != "":
			rules[table] = append(rules[table], line)
		}
	}
	return rules, sc.Err()
}

// removeNewChains deletes the chains that were not there before (kube-proxy's
// KUBE-*, the kubelet's canaries, the CNI plugins' CNI-*): first the rules of
// older chains that jump to them, then their rules, then the chains.
func removeNewChains(ctx context.Context, tool string, before map[string]map[string]bool) error {
	now, err := iptablesChains(ctx, tool)
	if err != nil {
		return err
	}
	rules, err := iptablesRules(ctx, tool)
	if err != nil {
		return err
	}
	var errs []error
	for table, chains := range now {
		old := before[table]
		added := map[string]bool{}
		for c := range chains {
			if !old[c] {
				added[c] = true
			}
		}
		if len(added) == 0 {
			continue
		}
		for _, rule := range rules[table] {
			f := splitRule(rule)
			if len(f) < 2 || added[f[1]] {
				continue
			}
			if target := jumpTarget(f); added[target] {
				args := append([]string{"-w", "-t", table, "-D"}, f[1:]...)
				if out, err := exec.CommandContext(ctx, tool, args...).CombinedOutput(); err != nil { //nolint:gosec // a rule iptables-save printed, deleted as printed
					errs = append(errs, fmt.Errorf("node: %s %s: %w: %s", filepath.Base(tool), strings.Join(args, " "), err, out))
				}
			}
		}
		names := make([]string, 0, len(added))
		for c := range added {
			names = append(names, c)
		}
		sort.Strings(names)
		for _, op := range []string{"-F", "-X"} {
			for _, c := range names {
				if out, err := exec.CommandContext(ctx, tool, "-w", "-t", table, op, c).CombinedOutput(); err != nil { //nolint:gosec // a chain iptables-save listed
					errs = append(errs, fmt.Errorf("node: %s -t %s %s %s: %w: %s", filepath.Base(tool), table, op, c, err, out))
				}
			}
		}
	}
	return errors.Join(errs...)
}

// splitRule splits a rule as iptables-save prints it into arguments:
// fields separated by spaces, a double-quoted field (a comment) taken
// whole without its quotes, \" and \\ inside it unescaped.
func splitRule(line string) []string {
	var args []string
	var cur strings.Builder
	inQuote, inField := false, false
	for i := 0; i < len(line); i++ {
		c := line[i]
		switch {
		case inQuote && c == '\\' && i+1 < len(line) && (line[i+1] == '"' || line[i+1] == '\\'):
			i++
			cur.WriteByte(line[i])
		case c == '"':
			inQuote, inField = !inQuote, true
		case c == ' ' && !inQuote:
			if inField {
				args = append(args, cur.String())
				cur.Reset()
				inField = false
			}
		default:
			cur.WriteByte(c)
			inField = true
		}
	}
	if inField {
		args = append(args, cur.String())
	}
	return args
}

// jumpTarget is the chain a rule's -j or -g sends packets to.
func jumpTarget(fields []string) string {
	for i := 0; i+1 < len(fields); i++ {
		if fields[i] == "-j" || fields[i] == "-g" {
			return fields[i+1]
		}
	}
	return ""
}

// kubepodsCgroups lists the kubelet's pod cgroup trees in every hierarchy.
func kubepodsCgroups() []string {
	var out []string
	for _, pattern := range []string{"/sys/fs/cgroup/*/kubepods*", "/sys/fs/cgroup/kubepods*"} {
		matches, _ := filepath.Glob(pattern)
		for _, m := range matches {
			if fi, err := os.Stat(m); err == nil && fi.IsDir() {
				out = append(out, m)
			}
		}
	}
	sort.Strings(out)
	return out
}

// removeCgroupTree removes a cgroup directory tree, deepest first; a
// cgroup with processes left in it cannot be removed, which is reported.
func removeCgroupTree(dir string) error {
	var dirs []string
	_ = filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			dirs = append(dirs, p)
		}
		return nil
	})
	sort.Slice(dirs, func(i, j int) bool { return len(dirs[i]) > len(dirs[j]) })
	var errs []error
	for _, d := range dirs {
		var err error
		for range 20 { // a just-killed process leaves its cgroup a moment later
			if err = syscall.Rmdir(d); err == nil || errors.Is(err, syscall.ENOENT) {
				err = nil
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("node: remove cgroup %s: %w", d, err))
		}
	}
	return errors.Join(errs...)
}
