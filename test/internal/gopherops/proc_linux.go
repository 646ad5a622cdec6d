package gopherops

import "syscall"

// childAttrs makes the kernel kill the server if the test process dies
// without cleaning up, so a crashed run never leaves it holding its ports.
func childAttrs() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
