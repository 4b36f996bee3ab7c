//go:build unix

package vercelfake

import (
	"errors"
	"os"
	"os/exec"
	"syscall"
)

// setProcessGroup puts a command in its own process group, so that a kill reaches its children too.
func setProcessGroup(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
}

// killGroup kills a command's process group with SIGKILL.
func killGroup(p *os.Process) { signalGroup(p, int(syscall.SIGKILL)) }

// signalGroup sends a signal to a command's process group.
func signalGroup(p *os.Process, sig int) {
	if p == nil {
		return
	}
	if err := syscall.Kill(-p.Pid, syscall.Signal(sig)); err != nil {
		_ = p.Signal(syscall.Signal(sig))
	}
}

// exitCode gives a finished command's exit code, 128 + the signal for a command a signal ended, as shells do.
func exitCode(ps *os.ProcessState, err error) int {
	if ps == nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) && ee.ProcessState != nil {
			ps = ee.ProcessState
		} else {
			return 1
		}
	}
	if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return ps.ExitCode()
}
