//go:build linux

package local

import (
	"math"
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// Descriptors: a child started with os/exec gets its Stdin, Stdout, Stderr and ExtraFiles (duplicated into 0, 1,
// 2, 3, ..., which clears close-on-exec on the copies), and also every other descriptor of this process that is
// not close-on-exec. Go opens its own with close-on-exec, but the provider's parent (terraform, a test harness)
// and libraries may leave some without it (fds 10 and 251 were seen inside sandbox commands), and bubblewrap and
// the spawner pass on what they get. markCloseOnExec runs before the engine starts any process that leads into
// a sandbox (an init, a one-shot bubblewrap, a command with isolation none), so that a sandbox never inherits a
// file, socket or pipe of the provider.

// markCloseOnExec sets close-on-exec on every descriptor of this process from 3 up: one close_range call (Linux
// 5.11), else each descriptor listed in /proc/self/fd.
func markCloseOnExec() {
	if err := unix.CloseRange(3, math.MaxUint32, unix.CLOSE_RANGE_CLOEXEC); err == nil {
		return
	}
	markCloseOnExecByProc()
}

// markCloseOnExecByProc sets close-on-exec on each descriptor from 3 up listed in /proc/self/fd.
func markCloseOnExecByProc() {
	d, err := os.Open("/proc/self/fd")
	if err != nil {
		return
	}
	names, _ := d.Readdirnames(-1)
	_ = d.Close()
	for _, name := range names {
		fd, err := strconv.Atoi(name)
		if err != nil || fd < 3 {
			continue
		}
		if flags, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0); err == nil && flags&unix.FD_CLOEXEC == 0 {
			_, _ = unix.FcntlInt(uintptr(fd), unix.F_SETFD, flags|unix.FD_CLOEXEC)
		}
	}
}
