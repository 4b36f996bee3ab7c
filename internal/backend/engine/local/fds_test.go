//go:build linux

package local

import (
	"context"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ekairos/terraform-provider-sandbox/internal/backend"
)

// leakFDs opens descriptors in this process that a child would inherit (no close-on-exec), as a provider's
// parent (terraform, a test harness) or a library may leave them: a file, a duplicate and a pipe.
func leakFDs(t *testing.T) []int {
	t.Helper()
	f, err := syscall.Open("/etc/hostname", syscall.O_RDONLY, 0) // no O_CLOEXEC
	if err != nil {
		t.Fatal(err)
	}
	d, err := syscall.Dup(f) // a duplicate is never close-on-exec
	if err != nil {
		t.Fatal(err)
	}
	var p [2]int
	if err := syscall.Pipe(p[:]); err != nil { // no O_CLOEXEC
		t.Fatal(err)
	}
	fds := []int{f, d, p[0], p[1]}
	t.Cleanup(func() {
		for _, fd := range fds {
			_ = syscall.Close(fd)
		}
	})
	return fds
}

// fdScript lists a command's descriptors: ls's own directory descriptor is the one past 0, 1 and 2.
const fdScript = `ls /proc/self/fd | tr '\n' ' '`

const onlyStdio = "0 1 2 3 "

// TestNoInheritedDescriptors: descriptors of the provider's process that are not close-on-exec never reach a
// sandbox's commands, on every path that starts one: a sandbox's command through its init and spawner (as root:
// through the launcher too), a second command in the same init, a workspace's command, a setup's builder (a
// one-shot bubblewrap) and isolation none; the commands see 0, 1 and 2 only.
func TestNoInheritedDescriptors(t *testing.T) {
	e := newBwrap(t)
	ctx := context.Background()
	fds := leakFDs(t)
	sb := create(t, e, backend.SandboxSpec{})
	for i := 0; i < 2; i++ {
		if res := sh(t, e, sb.ExternalID, fdScript); string(res.Stdout) != onlyStdio {
			t.Errorf("sandbox command %d sees descriptors %q (stderr %q), want %q (leaked into the provider: %v)", i, res.Stdout, res.Stderr, onlyStdio, fds)
		}
	}
	// A descriptor leaked after the init started reaches no later command either.
	leakFDs(t)
	if res := sh(t, e, sb.ExternalID, fdScript); string(res.Stdout) != onlyStdio {
		t.Errorf("a command after a new leak sees %q, want %q", res.Stdout, onlyStdio)
	}
	ws, err := e.CreateWorkspace(ctx, backend.WorkspaceSpec{RecordID: backend.NewID(), Name: "fds"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = e.DeleteWorkspace(context.Background(), ws.ExternalID) })
	if res := wsExec(t, e, ws.ExternalID, fdScript); string(res.Stdout) != onlyStdio {
		t.Errorf("workspace command sees %q (stderr %q), want %q", res.Stdout, res.Stderr, onlyStdio)
	}
	_, res, err := e.BuildSetup(ctx, backend.SetupSpec{RecordID: backend.NewID(), Fingerprint: newFingerprint(),
		Argv: []string{"sh", "-c", fdScript}, Timeout: 30 * time.Second})
	if err != nil {
		t.Fatalf("BuildSetup: %v (%+v)", err, res)
	}
	if string(res.Stdout) != onlyStdio {
		t.Errorf("setup builder sees %q (stderr %q), want %q", res.Stdout, res.Stderr, onlyStdio)
	}
	none := newNone(t)
	nsb := create(t, none, backend.SandboxSpec{})
	if res := sh(t, none, nsb.ExternalID, fdScript); string(res.Stdout) != onlyStdio {
		t.Errorf("isolation none command sees %q (stderr %q), want %q", res.Stdout, res.Stderr, onlyStdio)
	}
}

// TestMarkCloseOnExecByProc: the fallback for kernels without close_range marks every descriptor from 3 up.
func TestMarkCloseOnExecByProc(t *testing.T) {
	fds := leakFDs(t)
	markCloseOnExecByProc()
	for _, fd := range fds {
		flags, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0)
		if err != nil || flags&unix.FD_CLOEXEC == 0 {
			t.Errorf("fd %d: flags %#x, %v; want close-on-exec", fd, flags, err)
		}
	}
	for fd := 0; fd < 3; fd++ {
		if flags, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0); err == nil && flags&unix.FD_CLOEXEC != 0 {
			t.Errorf("fd %d (stdio) was made close-on-exec", fd)
		}
	}
}
