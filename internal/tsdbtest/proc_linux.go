package tsdbtest

import "syscall"

// sysProcAttr asks the kernel to kill the server when the test binary dies,
// so that a panic or a -timeout, which skip t.Cleanup, leave no orphan.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
