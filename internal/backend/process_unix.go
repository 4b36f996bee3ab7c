//go:build !windows

package backend

import (
	"bytes"
	"errors"
	"os"
	"strconv"
	"syscall"
)

// ProcessAlive reports whether a process with this pid runs on this machine. A zombie (a process that has
// exited and that no parent has reaped yet, as happens under an init that does not reap orphans, e.g. in a
// container) counts as exited: a SIGKILLed provider left as a zombie owns no creating record any more.
func ProcessAlive(pid int) bool {
	if pid == os.Getpid() {
		return true
	}
	err := syscall.Kill(pid, 0)
	if err != nil && !errors.Is(err, syscall.EPERM) {
		return false
	}
	return !Zombie(pid)
}

func processAlive(pid int) bool { return ProcessAlive(pid) }

// Zombie reports whether /proc says the process has exited (state Z or X). Without /proc it says no.
func Zombie(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	// pid (comm) state ...: comm may hold spaces and parentheses, so the state follows the last ')'.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 || i+2 >= len(b) {
		return false
	}
	return b[i+2] == 'Z' || b[i+2] == 'X'
}
