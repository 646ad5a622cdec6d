//go:build unix

package toolchain

import (
	"os/exec"
	"syscall"
)

// interruptGroupOnCancel runs cmd in a process group of its own and makes the
// end of its context interrupt the whole group: go build leaves its compilers
// and linker running when only go itself is interrupted.
func interruptGroupOnCancel(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGINT) }
}
