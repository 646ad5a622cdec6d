//go:build !unix

package toolchain

import "os/exec"

// interruptGroupOnCancel kills cmd when its context ends: without process
// groups there is no interrupting go together with its compilers.
func interruptGroupOnCancel(cmd *exec.Cmd) {
	cmd.Cancel = func() error { return cmd.Process.Kill() }
}
