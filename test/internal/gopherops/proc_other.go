//go:build !linux

package gopherops

import "syscall"

// childAttrs needs nothing special where the kernel has no parent-death signal.
func childAttrs() *syscall.SysProcAttr { return &syscall.SysProcAttr{} }
