//go:build !windows

package backend

import (
	"errors"
	"os"
	"syscall"
)

// processAlive reports whether a process with this pid runs on this machine.
func processAlive(pid int) bool {
	if pid == os.Getpid() {
		return true
	}
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}
