//go:build linux

package local

import (
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

// startOnHost runs `sh -c script` through the spawner's start on the host (as the spawner does in a sandbox),
// with the cgroup.procs descriptors procs, and returns its stdout, its wait status and start's error.
func startOnHost(t *testing.T, s *spawner, script string, procs []*os.File) (string, syscall.WaitStatus, error) {
	t.Helper()
	null, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	defer null.Close()
	or, ow, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer or.Close()
	files := []*os.File{null, ow, ow}
	req := &spawnRequest{Argv: []string{"sh", "-c", script}, Env: []string{"PATH=/usr/bin:/bin"}, Dir: "/"}
	for _, f := range procs {
		req.Cgroup = append(req.Cgroup, len(files))
		files = append(files, f)
	}
	file, found := lookPath("sh", "/usr/bin:/bin", "/")
	if !found {
		t.Skip("no sh")
	}
	pid, pidfd, err := s.start(req, files, file)
	_ = ow.Close()
	if err != nil {
		return "", 0, err
	}
	if pidfd >= 0 {
		_ = syscall.Close(pidfd)
	}
	out := new(strings.Builder)
	buf := make([]byte, 4096)
	for {
		n, rerr := or.Read(buf)
		out.Write(buf[:n])
		if rerr != nil {
			break
		}
	}
	var ws syscall.WaitStatus
	if _, err := syscall.Wait4(pid, &ws, 0, nil); err != nil {
		t.Fatal(err)
	}
	s.mu.Lock()
	delete(s.commands, pid)
	s.running--
	s.mu.Unlock()
	return out.String(), ws, nil
}

// TestSpawnerStartEntersCgroup: the spawner puts a command into the cgroups of the request before the command
// runs any code, and hands it none of their descriptors: by tracing it to its exec, and, where tracing is
// refused, through the /bin/sh shim. A command whose cgroup cannot be entered never runs.
func TestSpawnerStartEntersCgroup(t *testing.T) {
	cg := hostCgroups()
	if cg.err != nil {
		t.Skipf("no cgroups here: %v", cg.err)
	}
	name := "spawner-test-" + strconv.Itoa(os.Getpid())
	if err := cg.prepare(name, 256<<20, 32); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cg.remove(name) })
	const script = `cat /proc/self/cgroup; echo fds $(ls -l /proc/self/fd | grep -c cgroup); grep TracerPid /proc/self/status`
	for _, mode := range []string{"traced", "shim"} {
		t.Run(mode, func(t *testing.T) {
			if mode == "shim" && shellShim == "" {
				t.Skip("no /bin/sh")
			}
			s := &spawner{commands: map[int]bool{}}
			s.noTrace.Store(mode == "shim")
			procs, err := openCmdsProcs(cg, name)
			if err != nil {
				t.Fatal(err)
			}
			defer closeAll(procs...)
			out, ws, err := startOnHost(t, s, script, procs)
			if err != nil || ws.ExitStatus() != 0 {
				t.Fatalf("start: %v, status %v, output %q", err, ws, out)
			}
			if want := "/" + name + "/" + cgCmds + "\n"; strings.Count(out, want) != len(cg.bases) {
				t.Errorf("the command is not in the cmds cgroup of every hierarchy (%d): %q", len(cg.bases), out)
			}
			if !strings.Contains(out, "fds 0\n") {
				t.Errorf("cgroup descriptors left open in the command: %q", out)
			}
			if !strings.Contains(out, "TracerPid:\t0\n") {
				t.Errorf("the command is still traced: %q", out)
			}
			if s.running != 0 || s.noTrace.Load() != (mode == "shim") {
				t.Errorf("after the command: running %d, noTrace %v", s.running, s.noTrace.Load())
			}
		})
	}
	t.Run("refused", func(t *testing.T) {
		// A descriptor that cannot be written: the command must never run.
		ro, err := os.Open(filepath.Join(cg.bases[0], name, cgCmds, "cgroup.procs"))
		if err != nil {
			t.Fatal(err)
		}
		defer ro.Close()
		marker := filepath.Join(t.TempDir(), "ran")
		s := &spawner{commands: map[int]bool{}}
		out, _, err := startOnHost(t, s, "touch "+marker, []*os.File{ro})
		if err == nil || !strings.Contains(err.Error(), "cgroup") {
			t.Errorf("start with a read-only cgroup.procs: %v (output %q), want an error about the cgroup", err, out)
		}
		if _, serr := os.Stat(marker); !errors.Is(serr, os.ErrNotExist) {
			t.Errorf("the command ran although its cgroup could not be entered (%v)", serr)
		}
		if s.running != 0 || len(s.commands) != 0 {
			t.Errorf("after a refused start: running %d, commands %v", s.running, s.commands)
		}
	})
}

// TestSpawnerFallsBackWhenTracingRefused: where the kernel refuses PTRACE_TRACEME (a seccomp filter here; Yama's
// ptrace_scope 2 or 3 elsewhere), the command still starts, in its cgroup, through the /bin/sh shim, and the
// spawner stops trying to trace.
func TestSpawnerFallsBackWhenTracingRefused(t *testing.T) {
	cg := hostCgroups()
	if cg.err != nil {
		t.Skipf("no cgroups here: %v", cg.err)
	}
	if shellShim == "" {
		t.Skip("no /bin/sh")
	}
	name := "spawner-notrace-" + strconv.Itoa(os.Getpid())
	if err := cg.prepare(name, 256<<20, 32); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cg.remove(name) })
	procs, err := openCmdsProcs(cg, name)
	if err != nil {
		t.Fatal(err)
	}
	defer closeAll(procs...)
	type result struct {
		out string
		ws  syscall.WaitStatus
		err error
	}
	done := make(chan result, 1)
	s := &spawner{commands: map[int]bool{}}
	go func() {
		// This thread (and what it forks) gets ptrace refused with EPERM; it is never unlocked, so the thread
		// ends with the goroutine.
		runtime.LockOSThread()
		if err := refusePtrace(); err != nil {
			done <- result{err: err}
			return
		}
		out, ws, err := startOnHost(t, s, `cat /proc/self/cgroup`, procs)
		done <- result{out, ws, err}
	}()
	r := <-done
	if r.err != nil || r.ws.ExitStatus() != 0 {
		t.Fatalf("start with tracing refused: %v, status %v, output %q", r.err, r.ws, r.out)
	}
	if want := "/" + name + "/" + cgCmds + "\n"; strings.Count(r.out, want) != len(cg.bases) {
		t.Errorf("the command is not in the cmds cgroup of every hierarchy: %q", r.out)
	}
	if !s.noTrace.Load() {
		t.Error("the spawner still tries to trace after a refusal")
	}
}

// refusePtrace installs on the calling thread a seccomp filter that fails ptrace(2) with EPERM.
func refusePtrace() error {
	filter := []unix.SockFilter{
		{Code: unix.BPF_LD | unix.BPF_W | unix.BPF_ABS, K: 0}, // seccomp_data.nr
		{Code: unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K, Jt: 0, Jf: 1, K: unix.SYS_PTRACE},
		{Code: unix.BPF_RET | unix.BPF_K, K: unix.SECCOMP_RET_ERRNO | uint32(unix.EPERM)},
		{Code: unix.BPF_RET | unix.BPF_K, K: unix.SECCOMP_RET_ALLOW},
	}
	prog := unix.SockFprog{Len: uint16(len(filter)), Filter: &filter[0]}
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		return err
	}
	return unix.Prctl(unix.PR_SET_SECCOMP, unix.SECCOMP_MODE_FILTER, uintptr(unsafe.Pointer(&prog)), 0, 0)
}

// openCmdsProcs opens the cgroup.procs files of the box's cmds cgroups for writing, as the engine does for a
// command.
func openCmdsProcs(cg *cgroupSys, name string) ([]*os.File, error) {
	var fs []*os.File
	for _, b := range cg.bases {
		f, err := os.OpenFile(filepath.Join(b, name, cgCmds, "cgroup.procs"), os.O_WRONLY, 0)
		if err != nil {
			closeAll(fs...)
			return nil, err
		}
		fs = append(fs, f)
	}
	return fs, nil
}
