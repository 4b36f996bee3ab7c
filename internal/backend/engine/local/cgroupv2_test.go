//go:build linux

package local

import (
	"bufio"
	"context"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ekairos/terraform-provider-sandbox/internal/backend"
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
		if _, err := setupV2(mount, "/proc/self/cgroup", func(*cgroupSys) error { return nil }); err == nil || !strings.Contains(err.Error(), "not pids and memory") {
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
		// As setupV2 does: the controllers are enabled in the root for the base, then in the base.
		for _, d := range []string{mount, base} {
			if err := enableControllers(d); err != nil {
				t.Fatal(err)
			}
		}
		if err := c.prepare(name, 256<<20, 32); err != nil {
			t.Fatal(err)
		}
		checkBusyRefused(t, filepath.Join(base, name, "busy"))
		for f, want := range map[string]string{"memory.max": strconv.Itoa(256 << 20), cgCmds + "/pids.max": "32", cgInit + "/pids.max": strconv.Itoa(initPids)} {
			if b, err := os.ReadFile(filepath.Join(base, name, f)); err != nil || strings.TrimSpace(string(b)) != want {
				t.Errorf("%s = %q, %v; want %s", f, b, err, want)
			}
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

// delegatedCgroup makes a cgroup v2 subtree delegated to uid as systemd's Delegate=yes does (the cgroup's
// directory and its cgroup.procs, cgroup.subtree_control and cgroup.threads are the user's), beside the base of
// root's sandboxes, with a leaf for the user's process, opened for clone3's CLONE_INTO_CGROUP: an engine run in
// the leaf makes its sandboxes' cgroups under the subtree (setupV2's second candidate). It skips unless root's
// sandboxes get cgroup v2 limits here. check, called after the run, fails the test if the run left cgroups of
// sandboxes in the subtree (stop and delete remove them).
func delegatedCgroup(t *testing.T, uid int) (leaf *os.File, check func()) {
	t.Helper()
	cg := hostCgroups()
	if cg.err != nil || !cg.v2 {
		why := "the pids and memory controllers are on cgroup v1"
		if cg.err != nil {
			why = cg.err.Error()
		}
		t.Skipf("no cgroup v2 hierarchy with the pids and memory controllers to delegate here (%s): scripts/vm-cgroup2-test.sh runs this on one, in a VM", why)
	}
	deleg := filepath.Join(filepath.Dir(cg.bases[0]), cgroupBaseName+"-delegated-"+nonce())
	leafDir := filepath.Join(deleg, "provider")
	if err := os.Mkdir(deleg, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { removeCgroupTree(t, deleg) })
	for _, f := range []string{"", "cgroup.procs", "cgroup.subtree_control", "cgroup.threads"} {
		if err := os.Chown(filepath.Join(deleg, f), uid, uid); err != nil {
			t.Fatal(err)
		}
	}
	if ctl, err := os.ReadFile(filepath.Join(deleg, "cgroup.controllers")); err != nil || !hasWords(string(ctl), "pids", "memory") {
		t.Fatalf("the delegated cgroup has the controllers %q (%v), want pids and memory", ctl, err)
	}
	if err := os.Mkdir(leafDir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"", "cgroup.procs"} {
		if err := os.Chown(filepath.Join(leafDir, f), uid, uid); err != nil {
			t.Fatal(err)
		}
	}
	leaf, err := os.Open(leafDir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = leaf.Close() })
	base := filepath.Join(deleg, cgroupBaseName)
	return leaf, func() {
		t.Helper()
		if _, err := os.Stat(base); err != nil {
			t.Errorf("the unprivileged run made no cgroups in its delegated subtree: %v", err)
			return
		}
		var left []string
		_ = filepath.WalkDir(deleg, func(p string, d fs.DirEntry, err error) error {
			if err == nil && d.IsDir() && p != deleg && p != leafDir && p != base {
				left = append(left, strings.TrimPrefix(p, deleg+"/"))
			}
			return nil
		})
		if len(left) > 0 {
			t.Errorf("the unprivileged run left cgroups in its delegated subtree: %q", left)
		}
	}
}

// removeCgroupTree kills what runs in the cgroup tree at dir and removes it, deepest first.
func removeCgroupTree(t *testing.T, dir string) {
	var dirs []string
	_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			dirs = append(dirs, p)
		}
		return nil
	})
	for i := len(dirs) - 1; i >= 0; i-- {
		var err error
		for try := 0; try < 100; try++ {
			killCgroup(dirs[i])
			if err = syscall.Rmdir(dirs[i]); err == nil || errors.Is(err, syscall.ENOENT) {
				err = nil
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		if err != nil {
			t.Errorf("removing the test's cgroup %s: %v", dirs[i], err)
		}
	}
}

// TestCgroupRemoved: a sandbox's cgroups (in each hierarchy: v2, or v1's pids and memory) hold its running
// command, and stop and delete remove them once what ran in them is gone; a start and the next command make
// them again.
func TestCgroupRemoved(t *testing.T) {
	e := newBwrap(t)
	cg := hostCgroups()
	if cg.err != nil {
		t.Skipf("no cgroups for sandboxes here (TestLimitsRefused checks the refusal): %v", cg.err)
	}
	ctx := context.Background()
	sb, err := e.CreateSandbox(ctx, backend.SandboxSpec{RecordID: backend.NewID(), Options: map[string]any{OptionMaxProcesses: 64, OptionMemoryMB: 256}})
	if err != nil {
		t.Fatal(err)
	}
	name := cgroupName(e.dir(sb.ExternalID))
	present := func() (have, missing []string) {
		for _, b := range cg.bases {
			if _, err := os.Stat(filepath.Join(b, name)); err == nil {
				have = append(have, filepath.Join(b, name))
			} else {
				missing = append(missing, filepath.Join(b, name))
			}
		}
		return have, missing
	}
	secs := strconv.Itoa(8000 + os.Getpid()%1000)
	type out struct {
		res *backend.ExecResult
		err error
	}
	done := make(chan out, 1)
	go func() {
		res, err := e.Exec(ctx, sb.ExternalID, backend.ExecRequest{Argv: []string{"sh", "-c", "sleep " + secs + " & sleep " + secs + "; wait"}})
		done <- out{res, err}
	}()
	// The command and its child are in cmds/ of every hierarchy.
	for _, b := range cg.bases {
		procs := filepath.Join(b, name, cgCmds, "cgroup.procs")
		var got []string
		for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
			bs, _ := os.ReadFile(procs)
			if got = strings.Fields(string(bs)); len(got) >= 3 {
				break
			}
		}
		if len(got) < 3 {
			t.Fatalf("%s holds %q while the command runs, want the shell and its two sleeps", procs, got)
		}
	}
	if err := e.StopSandbox(ctx, sb.ExternalID); err != nil {
		t.Fatal(err)
	}
	select {
	case o := <-done:
		if o.err != nil || o.res.ExitCode != 128+9 {
			t.Errorf("the command running at the stop: %+v, %v; want it killed", o.res, o.err)
		}
	case <-time.After(time.Minute):
		t.Fatal("the command still runs a minute after StopSandbox")
	}
	waitNoHostProcs(t, "sleep", secs)
	if have, _ := present(); len(have) > 0 {
		t.Errorf("the sandbox's cgroups after a stop: %q", have)
	}
	if err := e.StartSandbox(ctx, sb.ExternalID); err != nil {
		t.Fatal(err)
	}
	if res := sh(t, e, sb.ExternalID, "true"); res.ExitCode != 0 {
		t.Fatalf("true after a start: %+v", res)
	}
	if _, missing := present(); len(missing) > 0 {
		t.Errorf("the sandbox's cgroups after a start and a command: %q missing", missing)
	}
	if err := e.DeleteSandbox(ctx, sb.ExternalID); err != nil {
		t.Fatal(err)
	}
	if have, _ := present(); len(have) > 0 {
		t.Errorf("the sandbox's cgroups after a delete: %q", have)
	}
}

// checkBusyRefused: the controllers cannot be enabled for the children of a cgroup that holds a process (a
// container's root cgroup, as its provider sees it): the refusal says why.
func checkBusyRefused(t *testing.T, dir string) {
	t.Helper()
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	defer removeCgroupTree(t, dir)
	f, err := os.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	cmd := exec.Command("sleep", "300")
	cmd.SysProcAttr = &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: int(f.Fd())}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	err = enableControllers(dir)
	if !errors.Is(err, syscall.EBUSY) || !strings.Contains(err.Error(), "holds processes of its own") {
		t.Errorf("enabling the controllers under a cgroup with a process: %v, want EBUSY and the reason", err)
	}
}
