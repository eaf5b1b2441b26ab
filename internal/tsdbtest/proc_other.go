//go:build !linux

package tsdbtest

import "syscall"

// sysProcAttr has no parent-death signal to ask for outside Linux: a test
// binary that dies without running t.Cleanup may leave the server running.
func sysProcAttr() *syscall.SysProcAttr { return nil }
