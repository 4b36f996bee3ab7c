//go:build linux

package local

import (
	"bufio"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// cgroup2Mount returns where the unified hierarchy is mounted, "" when it is not.
func cgroup2Mount(t *testing.T) string {
	t.Helper()
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		pre, post, ok := strings.Cut(sc.Text(), " - ")
		if pf, qf := strings.Fields(pre), strings.Fields(post); ok && len(pf) >= 5 && len(qf) >= 1 && qf[0] == "cgroup2" {
			return unescapeMount(pf[4])
		}
	}
	return ""
}

// TestCgroupV2Real goes through what the engine does on a real cgroup v2 hierarchy that it can write, as far as
// the host allows without taking controllers from others (on a host whose pids and memory controllers are bound
// to cgroup v1, as here, the unified hierarchy has neither, so limits cannot be written there): detection refuses
// a v2 hierarchy without pids and memory (the engine then uses v1), the init enters init/ from the host, a
// command writes itself into cmds/ through a descriptor opened by the engine (the shim's way), and removing the
// sandbox's cgroups kills what still runs in them (cgroup.kill) and removes them.
func TestCgroupV2Real(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("not root: no writable cgroup v2 hierarchy to test on")
	}
	mount := cgroup2Mount(t)
	if mount == "" {
		t.Skip("cgroup v2 is not mounted")
	}
	ctl, err := os.ReadFile(filepath.Join(mount, "cgroup.controllers"))
	if err != nil {
		t.Fatal(err)
	}
	hasLimits := hasWords(string(ctl), "pids", "memory")
	if !hasLimits {
		if _, err := setupV2(mount, "/proc/self/cgroup"); err == nil || !strings.Contains(err.Error(), "not pids and memory") {
			t.Errorf("setupV2 on a unified hierarchy without pids and memory: %v, want a refusal naming them", err)
		}
	}
	base := filepath.Join(mount, cgroupBaseName+"-test-"+nonce())
	if err := os.Mkdir(base, 0o755); err != nil {
		t.Skipf("cannot make a cgroup under %s: %v", mount, err)
	}
	t.Cleanup(func() { _ = syscall.Rmdir(base) })
	c := &cgroupSys{v2: true, bases: []string{base}}
	name := "local-v2test-0123456789ab"
	if hasLimits {
		if err := enableControllers(base); err != nil {
			t.Fatal(err)
		}
		if err := c.prepare(name, 256<<20, 32); err != nil {
			t.Fatal(err)
		}
	} else {
		for _, d := range []string{name, filepath.Join(name, cgInit), filepath.Join(name, cgCmds)} {
			if err := os.Mkdir(filepath.Join(base, d), 0o755); err != nil {
				t.Fatal(err)
			}
		}
	}
	initCmd := exec.Command("sleep", "300")
	if err := initCmd.Start(); err != nil {
		t.Fatal(err)
	}
	initDone := make(chan error, 1)
	go func() { initDone <- initCmd.Wait() }()
	if err := c.enter(name, cgInit, initCmd.Process.Pid); err != nil {
		t.Fatal(err)
	}
	procs, err := c.openProcs(name, cgCmds)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("/bin/sh", "-c", "echo 0 >&3 && exec sleep 300")
	cmd.ExtraFiles = procs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	closeAll(procs...)
	cmdDone := make(chan error, 1)
	go func() { cmdDone <- cmd.Wait() }()
	rel := strings.TrimPrefix(base, mount)
	for _, w := range []struct {
		pid int
		sub string
	}{{initCmd.Process.Pid, cgInit}, {cmd.Process.Pid, cgCmds}} {
		want := "0::" + rel + "/" + name + "/" + w.sub
		var got string
		for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
			b, _ := os.ReadFile(filepath.Join("/proc", strconv.Itoa(w.pid), "cgroup"))
			if got = string(b); strings.Contains(got, want+"\n") {
				break
			}
		}
		if !strings.Contains(got, want+"\n") {
			t.Errorf("process %d is in %q, want %s", w.pid, got, want)
		}
	}
	if err := c.remove(name); err != nil {
		t.Errorf("removing the sandbox's cgroups: %v", err)
	}
	for _, done := range []chan error{initDone, cmdDone} {
		select {
		case err := <-done:
			var ee *exec.ExitError
			if st, ok := exitStatus(err, &ee); !ok || st.Signal() != syscall.SIGKILL {
				t.Errorf("a process of the removed cgroup ended with %v, want SIGKILL", err)
			}
		case <-time.After(time.Minute):
			t.Fatal("a process of the removed cgroup still runs")
		}
	}
	if _, err := os.Stat(filepath.Join(base, name)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the sandbox's cgroup after remove: %v", err)
	}
}

// exitStatus is the wait status of a process that ended with err.
func exitStatus(err error, ee **exec.ExitError) (syscall.WaitStatus, bool) {
	if !errors.As(err, ee) {
		return 0, false
	}
	st, ok := (*ee).Sys().(syscall.WaitStatus)
	return st, ok
}
