//go:build linux

package local

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
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
			procs, err := cg.openProcs(name, cgCmds)
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
