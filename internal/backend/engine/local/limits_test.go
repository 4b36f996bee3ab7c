//go:build linux

package local

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ekairos/terraform-provider-sandbox/internal/backend"
)

// sandboxProcs counts the host's processes in the pid namespace of the sandbox whose init is recorded under dir.
func sandboxProcs(t *testing.T, dir string) int {
	t.Helper()
	rec := readInitRecord(filepath.Join(dir, runDir))
	if rec == nil {
		return -1
	}
	ns, err := os.Readlink("/proc/" + strconv.Itoa(rec.Init.PID) + "/ns/pid")
	if err != nil {
		return -1
	}
	ents, _ := os.ReadDir("/proc")
	n := 0
	for _, ent := range ents {
		if _, err := strconv.Atoi(ent.Name()); err != nil {
			continue
		}
		if l, err := os.Readlink("/proc/" + ent.Name() + "/ns/pid"); err == nil && l == ns {
			n++
		}
	}
	return n
}

// TestForkBomb: with max_processes = 64, a fork bomb in the sandbox never has more than 64 processes (the
// sandbox's init and spawner apart), as root and (TestUnprivileged) as an unprivileged user, and the host and
// another sandbox keep working meanwhile. The bomb is bounded (at most 2^9 processes, cancelled once measured,
// killed at 2 minutes at the latest) so that a failure of the limit cannot take the machine down.
func TestForkBomb(t *testing.T) {
	e := newBwrap(t)
	if err := checkEnforceable(limits{maxProcesses: 64}, IsolationBwrap); err != nil {
		t.Skipf("max_processes cannot be enforced here (TestLimitsRefused checks the refusal): %v", err)
	}
	sb := create(t, e, backend.SandboxSpec{Options: map[string]any{OptionMaxProcesses: 64}})
	other := create(t, e, backend.SandboxSpec{})
	dir := e.dir(sb.ExternalID)
	sh(t, e, sb.ExternalID, "true") // starts the init
	const bomb = `b() { if [ "$1" -gt 0 ]; then b $(($1-1)) & b $(($1-1)) & wait; else sleep 300; fi; }; b 8 2>/dev/null`
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		res, err := e.Exec(ctx, sb.ExternalID, backend.ExecRequest{Argv: []string{"sh", "-c", bomb}, Timeout: 2 * time.Minute})
		if err == nil {
			t.Logf("the fork bomb ended before it was cancelled: %+v, stderr %q", res, res.Stderr)
		}
		done <- err
	}()
	// Sampled for 8 s, and longer while the bomb still grows (an emulated VM or a loaded machine forks slowly):
	// until no new maximum for 3 s, at most 90 s. No wall-clock bound on how fast it grows.
	most := 0
	start, grew := time.Now(), time.Now()
	for time.Since(start) < 8*time.Second || (time.Since(grew) < 3*time.Second && time.Since(start) < 90*time.Second) {
		if n := sandboxProcs(t, dir); n > most {
			most, grew = n, time.Now()
		}
		time.Sleep(20 * time.Millisecond)
	}
	// The host and another sandbox still work while the bomb sits at its limit.
	if out, err := exec.Command("sh", "-c", "echo host").Output(); err != nil || string(out) != "host\n" {
		t.Errorf("the host could not run a command during the fork bomb: %q, %v", out, err)
	}
	if res := sh(t, e, other.ExternalID, "echo other"); string(res.Stdout) != "other\n" {
		t.Errorf("another sandbox during the fork bomb: %+v", res)
	}
	// The init and the spawner are the sandbox's own two processes besides the command's.
	if most > 64+2 {
		t.Errorf("the fork bomb reached %d processes in the sandbox with max_processes = 64", most)
	}
	// Without cgroups (an unprivileged provider: RLIMIT_NPROC) the limit counts every thread of the provider's
	// user on the host (the test binary's and the other sandbox's spawner's included), so the bomb reaches less,
	// and a shell whose fork is refused exits (dash's and busybox's "can't fork"), the bomb's top one included.
	cg := hostCgroups()
	if floor := map[bool]int{true: 48, false: 24}[cg.err == nil]; most < floor {
		t.Errorf("the fork bomb reached only %d processes: it did not run up to its limit", most)
	}
	// With cgroups, it is the sandbox's pids controller that refused its forks.
	if cg.err == nil {
		ev := filepath.Join(cg.bases[0], cgroupName(dir), cgCmds, "pids.events")
		b, err := os.ReadFile(ev)
		if f := strings.Fields(string(b)); err != nil || len(f) < 2 || f[0] != "max" || f[1] == "0" {
			t.Errorf("%s = %q, %v; want forks refused at pids.max", ev, b, err)
		}
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) && (cg.err == nil || err != nil) {
		t.Errorf("Exec of the fork bomb, cancelled: %v", err)
	}
	t.Logf("most processes seen in the sandbox: %d", most)
}

// TestSandboxMemory: memory_mb bounds the sandbox's processes together: four processes of 60 MB each, at the
// same time, do not all fit in 128 MiB (one is killed), while each alone fits; with 512 MiB all four live. Each
// holds its 60 MB as dd's buffer, filled from /dev/zero and blocked writing it into a pipe whose reader sleeps
// (a cheap hog for an emulated VM too: scripts/vm-cgroup2-test.sh), and reports dd's exit status.
func TestSandboxMemory(t *testing.T) {
	e := newBwrap(t)
	if err := checkEnforceable(limits{memoryMB: 128}, IsolationBwrap); err != nil {
		t.Skipf("memory_mb cannot be enforced here (TestLimitsRefused checks the refusal): %v", err)
	}
	hog := func(secs string) string {
		return `{ (dd if=/dev/zero bs=60000000 count=1 2>/dev/null; echo "rc=$?" >&3) | (sleep ` + secs + `; cat >/dev/null); } 3>&1`
	}
	four := `for i in 1 2 3 4; do ` + hog("3") + ` & done; wait`
	run := func(ext, script string) *backend.ExecResult {
		return execIn(t, e, ext, backend.ExecRequest{Argv: []string{"sh", "-c", script}, Timeout: 2 * time.Minute})
	}
	small := create(t, e, backend.SandboxSpec{Options: map[string]any{OptionMemoryMB: 128}})
	res := run(small.ExternalID, four)
	if n := strings.Count(string(res.Stdout), "rc=0"); n == 4 || !strings.Contains(string(res.Stdout), "rc=137") {
		t.Errorf("four 60 MB processes under memory_mb = 128: %q (stderr %q, %+v), want at least one killed", res.Stdout, res.Stderr, res)
	}
	// It was the sandbox's memory cgroup that killed (cgroup v2: memory.events, which counts the sub-cgroups'
	// kills; v1: memory.oom_control of cmds/, where the killed process was).
	cg := hostCgroups()
	events := filepath.Join(cg.bases[0], cgroupName(e.dir(small.ExternalID)), "memory.events")
	if !cg.v2 {
		events = filepath.Join(cg.bases[1], cgroupName(e.dir(small.ExternalID)), cgCmds, "memory.oom_control")
	}
	if b, err := os.ReadFile(events); err != nil || !regexp.MustCompile(`(?m)^oom_kill [1-9]`).Match(b) {
		t.Errorf("%s = %q, %v; want an oom_kill counted", events, b, err)
	}
	res = run(small.ExternalID, hog("1"))
	if string(res.Stdout) != "rc=0\n" {
		t.Errorf("one 60 MB process under memory_mb = 128: %q (stderr %q, %+v), want it to fit", res.Stdout, res.Stderr, res)
	}
	big := create(t, e, backend.SandboxSpec{Options: map[string]any{OptionMemoryMB: 512}})
	res = run(big.ExternalID, four)
	if n := strings.Count(string(res.Stdout), "rc=0"); n != 4 {
		t.Errorf("four 60 MB processes under memory_mb = 512: %q (stderr %q, %+v), want all four to live", res.Stdout, res.Stderr, res)
	}
}

// TestTmpLimit: writing past tmp_mb fails inside the sandbox with ENOSPC; what fits is written, and the host's
// own /tmp is untouched.
func TestTmpLimit(t *testing.T) {
	e := newBwrap(t)
	sb := create(t, e, backend.SandboxSpec{Options: map[string]any{OptionTmpMB: 16}})
	res := sh(t, e, sb.ExternalID, `head -c 8000000 /dev/zero > /tmp/a && echo fits; head -c 32000000 /dev/zero > /tmp/b; echo "rc=$?"; df -k /tmp | tail -n1`)
	out := string(res.Stdout)
	if !strings.Contains(out, "fits\n") || strings.Contains(out, "rc=0") || !strings.Contains(string(res.Stderr), "No space left") {
		t.Errorf("writing 8 MB then 32 MB into a 16 MiB /tmp: stdout %q, stderr %q; want the first to fit and the second to fail with ENOSPC", out, res.Stderr)
	}
	if f := strings.Fields(out[strings.LastIndex(strings.TrimSpace(out), "\n")+1:]); len(f) < 2 || f[1] != strconv.Itoa(16<<10) {
		t.Errorf("df of /tmp: %q, want a size of %d KiB", out, 16<<10)
	}
	def := create(t, e, backend.SandboxSpec{})
	res = sh(t, e, def.ExternalID, `df -k /tmp | tail -n1`)
	if f := strings.Fields(string(res.Stdout)); len(f) < 2 || f[1] != strconv.Itoa(DefaultTmpMB<<10) {
		t.Errorf("df of /tmp without tmp_mb: %q, want %d KiB", res.Stdout, DefaultTmpMB<<10)
	}
	// The host's own temporary directory is not the sandbox's.
	if err := os.WriteFile(filepath.Join(t.TempDir(), "host"), []byte("x"), 0o600); err != nil {
		t.Errorf("writing on the host after the sandbox filled its /tmp: %v", err)
	}
}

// TestLimitsRefused: a limit the host cannot enforce is refused on its option, with the reason; with isolation
// "none" every limit is refused.
func TestLimitsRefused(t *testing.T) {
	none := newNone(t)
	for _, opt := range []string{OptionMaxProcesses, OptionMemoryMB, OptionTmpMB} {
		err := none.ValidateSpec(backend.SandboxSpec{Options: map[string]any{opt: 64}})
		var oe *OptionError
		if !errors.As(err, &oe) || oe.Option != opt || !strings.Contains(err.Error(), `isolation = "none"`) {
			t.Errorf("isolation none with %s: %v, want an OptionError on it", opt, err)
		}
	}
	e := newBwrap(t)
	cg := hostCgroups()
	err := e.ValidateSpec(backend.SandboxSpec{Options: map[string]any{OptionMemoryMB: 64}})
	var oe *OptionError
	switch {
	case cg.err == nil && err != nil:
		t.Errorf("memory_mb with cgroups: %v", err)
	case cg.err != nil && (!errors.As(err, &oe) || oe.Option != OptionMemoryMB || !strings.Contains(err.Error(), "cgroup")):
		t.Errorf("memory_mb without cgroups (%v): %v, want a refusal on memory_mb", cg.err, err)
	case cg.err != nil:
		if _, cerr := e.CreateSandbox(context.Background(), backend.SandboxSpec{RecordID: backend.NewID(), Options: map[string]any{OptionMemoryMB: 64}}); cerr == nil {
			t.Errorf("CreateSandbox with an unenforceable memory_mb succeeded")
		}
	}
	var ae *backend.AttrError
	if err := e.ValidateSpec(backend.SandboxSpec{Options: map[string]any{OptionMemoryMB: 1}}); !errors.As(err, &ae) || strings.Join(ae.Path, ".") != "local.memory_mb" {
		t.Errorf("ValidateSpec(memory_mb = 1) = %v; want an AttrError on local.memory_mb", err)
	}
}

// TestCgroupDetection: detectCgroups reads mountinfo: a cgroup2 mount without the controllers and no v1
// hierarchies is refused with the reason.
func TestCgroupDetection(t *testing.T) {
	dir := t.TempDir()
	v2 := filepath.Join(dir, "unified")
	if err := os.MkdirAll(v2, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(v2, "cgroup.controllers"), []byte("hugetlb\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	mi := filepath.Join(dir, "mountinfo")
	if err := os.WriteFile(mi, []byte("40 30 0:37 / "+v2+" rw,relatime - cgroup2 cgroup2 rw\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	self := filepath.Join(dir, "cgroup")
	if err := os.WriteFile(self, []byte("0::/\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	c := detectCgroups(mi, self, false)
	if c.err == nil || !errors.Is(c.err, errNoCgroups) || !strings.Contains(c.err.Error(), "hugetlb") {
		t.Errorf("cgroup2 with only hugetlb: %v, want errNoCgroups naming what it has", c.err)
	}
	// A writable unified hierarchy with pids and memory (as a fake directory tree) is used.
	if err := os.WriteFile(filepath.Join(v2, "cgroup.controllers"), []byte("cpu memory pids\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(v2, "cgroup.subtree_control"), []byte(""), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(v2, cgroupBaseName), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(v2, cgroupBaseName, "cgroup.subtree_control"), []byte(""), 0o644); err != nil {
		t.Fatal(err)
	}
	c = detectCgroups(mi, self, false)
	if c.err != nil || !c.v2 || len(c.bases) != 1 || c.bases[0] != filepath.Join(v2, cgroupBaseName) {
		t.Fatalf("cgroup2 with pids and memory: %+v", c)
	}
	if b, _ := os.ReadFile(filepath.Join(v2, "cgroup.subtree_control")); string(b) != "+pids +memory" {
		t.Errorf("the root's subtree_control = %q, want the controllers enabled", b)
	}
}

// TestInitUntouchable: a command can neither trace nor signal the sandbox's pid 1 (the spawner), nor reach a
// host file through its descriptors; what a command writes never becomes the provider's own error message.
func TestInitUntouchable(t *testing.T) {
	e := newBwrap(t)
	sb := create(t, e, backend.SandboxSpec{})
	res := sh(t, e, sb.ExternalID, `ls -l /proc/1/fd/ >/dev/null 2>&1 && echo fds-readable; echo x 2>/dev/null >/proc/1/fd/1 && echo wrote-fd1; echo x 2>/dev/null >/proc/1/fd/2 && echo wrote-fd2; kill -TERM 1 2>/dev/null; kill -KILL 1 2>/dev/null; sleep 0.2; echo alive`)
	if out := string(res.Stdout); out != "alive\n" {
		t.Errorf("a command touching pid 1: %q (stderr %q), want only alive", out, res.Stderr)
	}
	if res := sh(t, e, sb.ExternalID, `echo still`); string(res.Stdout) != "still\n" {
		t.Errorf("the sandbox after a command signalled its pid 1: %+v", res)
	}
	if lookable("perl") && runtime.GOARCH == "amd64" {
		// ptrace(PTRACE_ATTACH = 16, 1): syscall 101 on x86_64.
		res := sh(t, e, sb.ExternalID, `perl -e 'my $r = syscall(101, 16, 1, 0, 0); print "$r\n"'`)
		if string(res.Stdout) != "-1\n" {
			t.Errorf("PTRACE_ATTACH to pid 1: %q (stderr %q), want -1", res.Stdout, res.Stderr)
		}
	}
	// No host file is open in the init but its lock (which the sandbox cannot reach: the init is not dumpable,
	// so its descriptors are not open to the sandbox, as the first command showed).
	rec := readInitRecord(filepath.Join(e.dir(sb.ExternalID), runDir))
	if rec == nil {
		t.Fatal("no init record")
	}
	ents, _ := os.ReadDir("/proc/" + strconv.Itoa(rec.Init.PID) + "/fd")
	for _, ent := range ents {
		l, _ := os.Readlink("/proc/" + strconv.Itoa(rec.Init.PID) + "/fd/" + ent.Name())
		if strings.HasPrefix(l, e.Root()) && filepath.Base(l) != initLockFile {
			t.Errorf("the init holds %s open", l)
		}
	}
	// A one-shot sandbox (a setup builder) whose command prints what looks like a bubblewrap error and exits 1
	// is a failed command, never an engine error quoting it.
	art, r, err := e.BuildSetup(context.Background(), backend.SetupSpec{RecordID: backend.NewID(), Fingerprint: strings.Repeat("ab", 32),
		Argv: []string{"sh", "-c", "echo 'bwrap: planted message' >&2; exit 1"}})
	if err == nil || art != nil || r == nil || r.ExitCode != 1 || strings.Contains(err.Error(), "bubblewrap could not start") {
		t.Errorf("a setup command faking a bubblewrap error: %v, %+v, want a setup failure with exit code 1", err, r)
	}
}

// TestSetIDStripped: a setup that leaves set-user-id and set-group-id files gives sandboxes (by overlay or copy)
// none: the artifact and every copy have the bits cleared.
func TestSetIDStripped(t *testing.T) {
	for _, method := range []string{"", CopyPlain} {
		t.Run("copy="+method, func(t *testing.T) {
			e := newBwrapCfg(t, Config{SetupCopy: method})
			art, res, err := e.BuildSetup(context.Background(), backend.SetupSpec{RecordID: backend.NewID(), Fingerprint: strings.Repeat("cd", 32),
				Argv: []string{"sh", "-c", "cp /bin/sh suid-sh && chmod 4755 suid-sh && cp /bin/sh sgid-sh && chmod 2755 sgid-sh && mkdir d && chmod 2775 d && stat -c %a suid-sh"}})
			if err != nil {
				t.Fatalf("BuildSetup: %v (%+v)", err, res)
			}
			if string(res.Stdout) != "4755\n" {
				t.Fatalf("the setup command could not make a set-uid file (%q, stderr %q): nothing to check", res.Stdout, res.Stderr)
			}
			home, _ := art.Metadata["home"].(string)
			for _, f := range []string{"suid-sh", "sgid-sh"} {
				fi, err := os.Stat(filepath.Join(home, f))
				if err != nil || fi.Mode()&(os.ModeSetuid|os.ModeSetgid) != 0 {
					t.Errorf("artifact file %s: %v, %v; want no set-id bits", f, fi.Mode(), err)
				}
			}
			sb := create(t, e, backend.SandboxSpec{Setup: art.ExternalID})
			res = sh(t, e, sb.ExternalID, `stat -c %a suid-sh sgid-sh`)
			if string(res.Stdout) != "755\n755\n" {
				t.Errorf("set-id files in a sandbox from the setup: %q (stderr %q), want 755 755", res.Stdout, res.Stderr)
			}
		})
	}
	src, dst := t.TempDir(), filepath.Join(t.TempDir(), "copy")
	if err := os.WriteFile(filepath.Join(src, "f"), []byte("x"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(filepath.Join(src, "f"), 0o755|os.ModeSetuid|os.ModeSetgid); err != nil {
		t.Fatal(err)
	}
	if err := copyTree(src, dst, false); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(filepath.Join(dst, "f")); err != nil || fi.Mode() != 0o755 {
		t.Errorf("copyTree of a set-id file: %v, %v; want 0755", fi.Mode(), err)
	}
}

// TestCgroupPrepareV2: on a (fake) unified hierarchy, a sandbox's cgroup gets its memory limit on the sandbox,
// no swap, pids.max on cmds (max_processes) and init, the controllers enabled for its children, and "max" for
// an unknown memory size.
func TestCgroupPrepareV2(t *testing.T) {
	base := t.TempDir()
	c := &cgroupSys{v2: true, swap: true, bases: []string{base}}
	name := "local-x-0123456789ab"
	for _, d := range []string{name, filepath.Join(name, cgInit), filepath.Join(name, cgCmds)} {
		if err := os.MkdirAll(filepath.Join(base, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(base, name, "cgroup.subtree_control"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := c.prepare(name, 128<<20, 64); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		filepath.Join(name, "cgroup.subtree_control"): "+pids +memory",
		filepath.Join(name, "memory.max"):             strconv.Itoa(128 << 20),
		filepath.Join(name, "memory.swap.max"):        "0",
		filepath.Join(name, cgCmds, "pids.max"):       "64",
		filepath.Join(name, cgInit, "pids.max"):       strconv.Itoa(initPids),
	}
	for f, w := range want {
		if b, err := os.ReadFile(filepath.Join(base, f)); err != nil || string(b) != w {
			t.Errorf("%s = %q, %v; want %q", f, b, err, w)
		}
	}
	if err := c.prepare(name, -1, 64); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(base, name, "memory.max")); string(b) != "max" {
		t.Errorf("memory.max without a known RAM size = %q, want max", b)
	}
}

// TestDiskLimit: with disk_mb the home is a file system of that size: writing past it fails with ENOSPC inside
// the sandbox (the host's disk is untouched), what fits is kept across a stop and a start, and deleting the
// sandbox unmounts and removes it.
func TestDiskLimit(t *testing.T) {
	e := newBwrap(t)
	if err := checkEnforceable(limits{diskMB: 32}, IsolationBwrap); err != nil {
		var oe *OptionError
		if !errors.As(err, &oe) || oe.Option != OptionDiskMB {
			t.Errorf("refusal of disk_mb: %v, want an OptionError on disk_mb", err)
		}
		if _, cerr := e.CreateSandbox(context.Background(), backend.SandboxSpec{RecordID: backend.NewID(), Options: map[string]any{OptionDiskMB: 32}}); cerr == nil {
			t.Errorf("CreateSandbox with an unenforceable disk_mb succeeded")
		}
		t.Skipf("disk_mb cannot be enforced here: %v", err)
	}
	ctx := context.Background()
	sb, err := e.CreateSandbox(ctx, backend.SandboxSpec{RecordID: backend.NewID(), Options: map[string]any{OptionDiskMB: 32}})
	if err != nil {
		t.Fatal(err)
	}
	dir := e.dir(sb.ExternalID)
	res := sh(t, e, sb.ExternalID, `head -c 8000000 /dev/zero > small && echo fits; head -c 64000000 /dev/zero > big; echo "rc=$?"; rm -f big; df -k . | tail -n1`)
	out := string(res.Stdout)
	if !strings.Contains(out, "fits\n") || strings.Contains(out, "rc=0") || !strings.Contains(string(res.Stderr), "No space left") {
		t.Errorf("8 MB then 64 MB into a 32 MiB home: %q (stderr %q), want the first to fit and the second to fail with ENOSPC", out, res.Stderr)
	}
	if err := e.StopSandbox(ctx, sb.ExternalID); err != nil {
		t.Fatal(err)
	}
	if homeMounted(dir) {
		t.Errorf("the disk image is still mounted after a stop")
	}
	if err := e.StartSandbox(ctx, sb.ExternalID); err != nil {
		t.Fatal(err)
	}
	if res := sh(t, e, sb.ExternalID, `wc -c < small`); string(res.Stdout) != "8000000\n" {
		t.Errorf("the file after a stop and a start: %q (stderr %q)", res.Stdout, res.Stderr)
	}
	if b, err := e.ReadFile(ctx, sb.ExternalID, "small"); err != nil || len(b) != 8000000 {
		t.Errorf("ReadFile from the disk home: %d bytes, %v", len(b), err)
	}
	if err := e.DeleteSandbox(ctx, sb.ExternalID); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("the sandbox directory after delete: %v", err)
	}
	if err := e.ValidateSpec(backend.SandboxSpec{Workspace: "ws-x", Options: map[string]any{OptionDiskMB: 32}}); err == nil {
		t.Errorf("disk_mb on a workspace's files accepted")
	}
}

// TestDiskLimitFromSetup: a sandbox from a setup with disk_mb has the setup's files in its own file system of
// that size; writing past it fails inside the sandbox only (the host holds no more than the image's size), and
// a setup larger than the disk fails the create with the reason.
func TestDiskLimitFromSetup(t *testing.T) {
	e := newBwrap(t)
	if err := checkEnforceable(limits{diskMB: 32}, IsolationBwrap); err != nil {
		t.Skipf("disk_mb cannot be enforced here: %v", err)
	}
	ctx := context.Background()
	art := buildProject(t, e)
	sb := create(t, e, backend.SandboxSpec{Setup: art.ExternalID, Options: map[string]any{OptionDiskMB: 32}})
	if sb.Metadata["setup_copy"] != CopyPlain {
		t.Errorf("setup_copy = %v, want %s (a copy into the disk)", sb.Metadata["setup_copy"], CopyPlain)
	}
	dir := e.dir(sb.ExternalID)
	res := sh(t, e, sb.ExternalID, `cat proj/version proj/deep/er/file && proj/bin/tool && head -c 8000000 /dev/zero > small && echo fits; head -c 64000000 /dev/zero > big; echo "rc=$?"; rm -f big`)
	out := string(res.Stdout)
	if !strings.HasPrefix(out, "v1deep\ntool\nfits\n") || strings.Contains(out, "rc=0") || !strings.Contains(string(res.Stderr), "No space left") {
		t.Errorf("the setup's files, then 8 MB and 64 MB into a 32 MiB home: %q (stderr %q)", out, res.Stderr)
	}
	var st syscall.Stat_t
	if err := syscall.Stat(filepath.Join(dir, diskImageFile), &st); err != nil {
		t.Fatal(err)
	}
	if used := st.Blocks * 512; used > 33<<20 {
		t.Errorf("the disk image takes %d bytes on the host, more than its 32 MiB", used)
	}
	if err := e.StopSandbox(ctx, sb.ExternalID); err != nil {
		t.Fatal(err)
	}
	if err := e.StartSandbox(ctx, sb.ExternalID); err != nil {
		t.Fatal(err)
	}
	if res := sh(t, e, sb.ExternalID, `cat proj/version; wc -c < small`); string(res.Stdout) != "v1"+"8000000\n" {
		t.Errorf("after a stop: %q (stderr %q)", res.Stdout, res.Stderr)
	}

	// A setup larger than the disk.
	big, res2, err := e.BuildSetup(ctx, backend.SetupSpec{RecordID: backend.NewID(), Fingerprint: newFingerprint(),
		Argv: []string{"sh", "-c", "head -c 40000000 /dev/zero > big"}, Timeout: 30 * time.Second})
	if err != nil {
		t.Fatalf("BuildSetup: %v (%+v)", err, res2)
	}
	_, err = e.CreateSandbox(ctx, backend.SandboxSpec{RecordID: backend.NewID(), Setup: big.ExternalID, Options: map[string]any{OptionDiskMB: 16}})
	if err == nil || !strings.Contains(err.Error(), "disk_mb") || !strings.Contains(err.Error(), "no space left") {
		t.Errorf("a 40 MB setup into a 16 MiB disk: %v, want a failure naming disk_mb and ENOSPC", err)
	}
}

// TestOrphansReaped: processes orphaned in the sandbox (their parent exited) are reaped by its pid 1, the
// spawner: none is left a zombie.
func TestOrphansReaped(t *testing.T) {
	e := newBwrap(t)
	sb := create(t, e, backend.SandboxSpec{})
	// A daemon-like grandchild outlives its parent while a second command keeps the sandbox busy.
	res := sh(t, e, sb.ExternalID, `sh -c '(sleep 0.3; exit 3) & exit 0'; sleep 1; for s in /proc/[0-9]*/stat; do cut -d' ' -f3 "$s"; done 2>/dev/null | grep -c Z || true`)
	if got := strings.TrimSpace(string(res.Stdout)); got != "0" {
		t.Errorf("zombies in the sandbox after an orphan exited: %q (stderr %q), want 0", got, res.Stderr)
	}
}

// TestCommandEntersCmdsCgroup: a command runs in its sandbox's cmds cgroup (the spawner writes it there while it
// is stopped right after its exec), with its arguments intact (argv[0] as given), no cgroup descriptor left
// open, and no longer traced by the spawner.
func TestCommandEntersCmdsCgroup(t *testing.T) {
	e := newBwrap(t)
	// Not checkEnforceable: an unprivileged provider without cgroups enforces max_processes by RLIMIT_NPROC.
	if cg := hostCgroups(); cg.err != nil {
		t.Skipf("no cgroups here: %v", cg.err)
	}
	sb := create(t, e, backend.SandboxSpec{Options: map[string]any{OptionMaxProcesses: 64}})
	for i := range 2 { // the first command starts the init, the second is served by it
		res, err := e.Exec(context.Background(), sb.ExternalID, backend.ExecRequest{
			Argv: []string{"sh", "-c", `grep -c '/cmds$' /proc/self/cgroup; ls -l /proc/self/fd | grep -c cgroup; printf '%s|' "$@"; echo; grep TracerPid /proc/$$/status; tr '\0' ' ' </proc/$$/cmdline; echo`, "zero", "a b", ""}, // echo last: a shell may exec its last command (busybox's does)
		})
		if err != nil || res.ExitCode != 0 {
			t.Fatalf("exec %d: %+v, %v", i, res, err)
		}
		lines := strings.Split(string(res.Stdout), "\n")
		if len(lines) < 5 || strings.TrimSpace(lines[0]) == "0" {
			t.Fatalf("exec %d: the command is not in a cmds cgroup: %q", i, res.Stdout)
		}
		// No cgroup.procs descriptor is left open in the command.
		if strings.TrimSpace(lines[1]) != "0" {
			out, _ := e.Exec(context.Background(), sb.ExternalID, backend.ExecRequest{Argv: []string{"ls", "-l", "/proc/self/fd"}})
			t.Errorf("exec %d: cgroup descriptors left open in the command: %s", i, out.Stdout)
		}
		if lines[2] != "a b||" {
			t.Errorf("exec %d: arguments: %q, want %q", i, lines[2], "a b||")
		}
		if f := strings.Fields(lines[3]); len(f) != 2 || f[1] != "0" {
			t.Errorf("exec %d: the command is still traced: %q", i, lines[3])
		}
		if !strings.HasPrefix(lines[4], "sh -c ") {
			t.Errorf("exec %d: the command line is %q, want argv[0] as given (sh)", i, lines[4])
		}
	}
}

// TestCgroupLimitsFollowChanges: the limits a command runs under are the sandbox's current ones, although the
// engine writes a box's cgroup limits only when they (or its metadata) changed: after an update of
// max_processes and memory_mb the next command runs under the new ones, and after the box's cgroups were
// removed (as a stop in another provider process does) the next command makes them again.
func TestCgroupLimitsFollowChanges(t *testing.T) {
	e := newBwrap(t)
	cg := hostCgroups()
	if cg.err != nil {
		t.Skipf("no cgroups here: %v", cg.err)
	}
	sb := create(t, e, backend.SandboxSpec{Options: map[string]any{OptionMaxProcesses: 64, OptionMemoryMB: 256}})
	name := cgroupName(e.dir(sb.ExternalID))
	pidsMax := func() string {
		b, err := os.ReadFile(filepath.Join(cg.bases[0], name, cgCmds, "pids.max"))
		if err != nil {
			t.Fatal(err)
		}
		return strings.TrimSpace(string(b))
	}
	memMax := func() string {
		f := filepath.Join(cg.bases[0], name, "memory.max")
		if !cg.v2 {
			f = filepath.Join(cg.bases[1], name, "memory.limit_in_bytes")
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		return strings.TrimSpace(string(b))
	}
	for i := 0; i < 2; i++ {
		if res := sh(t, e, sb.ExternalID, "true"); res.ExitCode != 0 {
			t.Fatalf("true: %+v", res)
		}
	}
	if got := pidsMax(); got != "64" {
		t.Errorf("pids.max of cmds: %s, want 64", got)
	}
	if got := memMax(); got != strconv.Itoa(256<<20) {
		t.Errorf("memory limit: %s, want %d", got, 256<<20)
	}
	if _, err := e.UpdateSandbox(context.Background(), sb.ExternalID, backend.SandboxSpec{RecordID: sb.RecordID,
		Options: map[string]any{OptionMaxProcesses: 32, OptionMemoryMB: 128}}); err != nil {
		t.Fatal(err)
	}
	if res := sh(t, e, sb.ExternalID, "true"); res.ExitCode != 0 {
		t.Fatalf("true after the update: %+v", res)
	}
	if got := pidsMax(); got != "32" {
		t.Errorf("pids.max of cmds after max_processes = 32: %s", got)
	}
	if got := memMax(); got != strconv.Itoa(128<<20) {
		t.Errorf("memory limit after memory_mb = 128: %s, want %d", got, 128<<20)
	}
	// Another process stops the sandbox's processes and removes its cgroups.
	if err := cg.remove(name); err != nil {
		t.Fatal(err)
	}
	res := sh(t, e, sb.ExternalID, `grep -c '/cmds$' /proc/self/cgroup`)
	if res.ExitCode != 0 || strings.TrimSpace(string(res.Stdout)) == "0" {
		t.Errorf("a command after the cgroups were removed: %+v, want it in cmds", res)
	}
	if got := pidsMax(); got != "32" {
		t.Errorf("pids.max of the cgroup made again: %s, want 32", got)
	}
}
