//go:build !unix

package vercelfake

import (
	"os"
	"os/exec"
)

func setProcessGroup(*exec.Cmd) {}

func killGroup(p *os.Process) {
	if p != nil {
		_ = p.Kill()
	}
}

func signalGroup(p *os.Process, _ int) { killGroup(p) }

func exitCode(ps *os.ProcessState, _ error) int {
	if ps == nil {
		return 1
	}
	return ps.ExitCode()
}
