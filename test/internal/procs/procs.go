// Package procs supervises the long-running programs a test starts (a
// Kubernetes control plane, a node): each in a process group of its own,
// logging to <dir>/<name>.log, stopped with SIGTERM and then SIGKILL; and
// the loopback ports they are given.
package procs

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// Group is the programs started into one directory, in start order.
type Group struct {
	dir   string
	grace time.Duration
	procs []*process
}

type process struct {
	name string
	cmd  *exec.Cmd
	done chan struct{}
	err  error
}

// NewGroup starts programs that log into dir and get grace between SIGTERM
// and SIGKILL (also when their context ends).
func NewGroup(dir string, grace time.Duration) *Group {
	return &Group{dir: dir, grace: grace}
}

// Start runs path with args as name, its output in name's log. Its own
// process group keeps a terminal's interrupt from reaching it before the
// test's teardown, and lets a stop reach its children too.
func (g *Group) Start(ctx context.Context, name, path string, args ...string) error {
	f, err := os.OpenFile(g.logPath(name), os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600) //nolint:gosec // under the group's own directory
	if err != nil {
		return fmt.Errorf("procs: %w", err)
	}
	cmd := exec.CommandContext(ctx, path, args...) //nolint:gosec // programs from the pinned toolchain and Debian's packages
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = g.grace
	if err := cmd.Start(); err != nil {
		_ = f.Close()
		return fmt.Errorf("procs: start %s: %w", name, err)
	}
	p := &process{name: name, cmd: cmd, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		_ = f.Close()
		close(p.done)
	}()
	g.procs = append(g.procs, p)
	return nil
}

// ExitError reports a program that stopped while it should run.
type ExitError struct {
	Name string
	Err  error // how it ended (nil: exit status 0)
}

func (e *ExitError) Error() string { return fmt.Sprintf("%s exited: %v", e.Name, e.Err) }

// Unwrap returns how the program ended.
func (e *ExitError) Unwrap() error { return e.Err }

// Exited returns an *ExitError for the first program that stopped, or nil
// while all run.
func (g *Group) Exited() error {
	for _, p := range g.procs {
		select {
		case <-p.done:
			return &ExitError{Name: p.name, Err: p.err}
		default:
		}
	}
	return nil
}

// Running reports whether name was started and is still running.
func (g *Group) Running(name string) bool {
	for _, p := range g.procs {
		if p.name == name {
			select {
			case <-p.done:
				return false
			default:
				return true
			}
		}
	}
	return false
}

// Stop ends name: SIGTERM to its process group, SIGKILL after the grace.
func (g *Group) Stop(name string) {
	for _, p := range g.procs {
		if p.name == name {
			g.stop(p)
		}
	}
}

// StopAll ends every program, the last started first.
func (g *Group) StopAll() {
	for i := len(g.procs) - 1; i >= 0; i-- {
		g.stop(g.procs[i])
	}
	g.procs = nil
}

func (g *Group) stop(p *process) {
	select {
	case <-p.done:
		return
	default:
	}
	_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(g.grace):
		_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
		<-p.done
	}
}

// LogTail returns the last n lines of name's log, for failure reports.
func (g *Group) LogTail(name string, n int) string {
	b, err := os.ReadFile(g.logPath(name))
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

func (g *Group) logPath(name string) string { return filepath.Join(g.dir, name+".log") }

// FreePorts reserves n distinct loopback ports and releases them for the
// programs to bind.
func FreePorts(n int) ([]int, error) {
	var ports []int
	var listeners []net.Listener
	defer func() {
		for _, l := range listeners {
			_ = l.Close()
		}
	}()
	var lc net.ListenConfig
	for range n {
		l, err := lc.Listen(context.Background(), "tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("procs: free port: %w", err)
		}
		listeners = append(listeners, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}
