//go:build linux

package local

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ekairos/terraform-provider-sandbox/internal/backend"
)

// newBwrap returns a bubblewrap engine over a fresh root, skipping the test where bubblewrap is missing.
func newBwrap(t testing.TB) *Engine {
	t.Helper()
	if _, err := exec.LookPath("bwrap"); err != nil {
		t.Skip("bubblewrap is not installed")
	}
	e, err := New(Config{Root: t.TempDir()})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return e
}

func newNone(t testing.TB) *Engine {
	t.Helper()
	e, err := New(Config{Root: t.TempDir(), Isolation: IsolationNone})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return e
}

func create(t testing.TB, e *Engine, spec backend.SandboxSpec) *backend.Sandbox {
	t.Helper()
	if spec.RecordID == "" {
		spec.RecordID = backend.NewID()
	}
	sb, err := e.CreateSandbox(context.Background(), spec)
	if err != nil {
		t.Fatalf("CreateSandbox: %v", err)
	}
	t.Cleanup(func() {
		if err := e.DeleteSandbox(context.Background(), sb.ExternalID); err != nil {
			t.Errorf("DeleteSandbox: %v", err)
		}
	})
	return sb
}

func execIn(t testing.TB, e *Engine, ext string, req backend.ExecRequest) *backend.ExecResult {
	t.Helper()
	res, err := e.Exec(context.Background(), ext, req)
	if err != nil {
		t.Fatalf("Exec(%q): %v", req.Argv, err)
	}
	return res
}

// sh runs a shell script in the sandbox and returns its result.
func sh(t testing.TB, e *Engine, ext, script string) *backend.ExecResult {
	t.Helper()
	return execIn(t, e, ext, backend.ExecRequest{Argv: []string{"sh", "-c", script}, Timeout: 20 * time.Second})
}

// metaString returns a string from a sandbox's Metadata.
func metaString(t testing.TB, sb *backend.Sandbox, key string) string {
	t.Helper()
	s, ok := sb.Metadata[key].(string)
	if !ok {
		t.Fatalf("Metadata[%q] = %#v, want a string", key, sb.Metadata[key])
	}
	return s
}

func TestNewMissingBwrap(t *testing.T) {
	_, err := New(Config{Root: t.TempDir(), BwrapPath: filepath.Join(t.TempDir(), "no-such-bwrap")})
	if !errors.Is(err, ErrBwrapNotInstalled) {
		t.Fatalf("New with a missing bwrap path = %v, want ErrBwrapNotInstalled", err)
	}
	for _, want := range []string{"bubblewrap (bwrap) is not installed", `apt-get install bubblewrap`, `dnf install bubblewrap`, `isolation = "none"`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}

	t.Setenv("PATH", t.TempDir()) // no bwrap in PATH
	if _, err := New(Config{Root: t.TempDir()}); !errors.Is(err, ErrBwrapNotInstalled) {
		t.Errorf("New without bwrap in PATH = %v, want ErrBwrapNotInstalled", err)
	}
	// Without isolation bubblewrap is not needed.
	if _, err := New(Config{Root: t.TempDir(), Isolation: IsolationNone}); err != nil {
		t.Errorf("New with isolation none and no bwrap: %v", err)
	}
	if _, err := New(Config{Root: t.TempDir(), Isolation: "chroot"}); err == nil {
		t.Errorf("New with an unknown isolation = nil error")
	}
}

func TestDefaultRoot(t *testing.T) {
	t.Setenv("XDG_DATA_HOME", "/xdg/data")
	if got, err := DefaultRoot(); err != nil || got != "/xdg/data/terraform-provider-sandbox/local" {
		t.Errorf("DefaultRoot with XDG_DATA_HOME = %q, %v", got, err)
	}
	t.Setenv("XDG_DATA_HOME", "")
	t.Setenv("HOME", "/home/someone")
	if got, err := DefaultRoot(); err != nil || got != "/home/someone/.local/share/terraform-provider-sandbox/local" {
		t.Errorf("DefaultRoot without XDG_DATA_HOME = %q, %v", got, err)
	}
}

// TestSeesOnlyItsHome: a command sees its own home, not another sandbox's, nor the host's /root, /home, /work,
// nor the sandbox directory that holds env.json.
func TestSeesOnlyItsHome(t *testing.T) {
	e := newBwrap(t)
	a := create(t, e, backend.SandboxSpec{})
	b := create(t, e, backend.SandboxSpec{Env: map[string]string{"TOKEN": "b-secret"}})
	ctx := context.Background()
	if err := e.WriteFile(ctx, a.ExternalID, "mine.txt", []byte("a")); err != nil {
		t.Fatal(err)
	}
	if err := e.WriteFile(ctx, b.ExternalID, "theirs.txt", []byte("b")); err != nil {
		t.Fatal(err)
	}
	bHome := metaString(t, b, "home")
	bDir := metaString(t, b, "dir")

	res := sh(t, e, a.ExternalID, `echo "$HOME"; pwd; ls -A /home; ls -A "$HOME"`)
	if got, want := string(res.Stdout), "/home/sandbox\n/home/sandbox\nsandbox\nmine.txt\n"; got != want {
		t.Errorf("home listing = %q, want %q (stderr %q)", got, want, res.Stderr)
	}
	for _, p := range []string{filepath.Join(bHome, "theirs.txt"), filepath.Join(bDir, envFile), "/root", "/work", "/var", "/etc/shadow", "/etc/ssl/private", "/run", "/sys/class/net", e.root} {
		res := execIn(t, e, a.ExternalID, backend.ExecRequest{Argv: []string{"ls", "-d", p}})
		if res.ExitCode == 0 {
			t.Errorf("the sandbox sees the host's %s: %q", p, res.Stdout)
		}
	}
}

// TestHostFilesInvisible: files the test writes under the host's /tmp and /root cannot be read.
func TestHostFilesInvisible(t *testing.T) {
	e := newBwrap(t)
	sb := create(t, e, backend.SandboxSpec{})
	var paths []string
	tmpSecret := filepath.Join(t.TempDir(), "secret") // under the host's /tmp (or $TMPDIR)
	if err := os.WriteFile(tmpSecret, []byte("tmp secret"), 0o644); err != nil {
		t.Fatal(err)
	}
	paths = append(paths, tmpSecret)
	if f, err := os.CreateTemp("/root", ".local-engine-test-"); err == nil {
		rootSecret := f.Name()
		t.Cleanup(func() { _ = os.Remove(rootSecret) })
		if _, err := f.WriteString("root secret"); err != nil {
			t.Fatal(err)
		}
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, rootSecret)
	} else {
		t.Logf("not checking /root: %v", err)
	}
	for _, p := range paths {
		res := execIn(t, e, sb.ExternalID, backend.ExecRequest{Argv: []string{"cat", p}})
		if res.ExitCode == 0 || bytes.Contains(res.Stdout, []byte("secret")) {
			t.Errorf("cat %s in the sandbox: exit %d, stdout %q; want a failure", p, res.ExitCode, res.Stdout)
		}
	}
	// The system is read-only.
	for _, p := range []string{"/usr/sandbox-test", "/etc/sandbox-test", "/proc/sys/kernel/hostname"} {
		res := execIn(t, e, sb.ExternalID, backend.ExecRequest{Argv: []string{"sh", "-c", "echo x > " + p}})
		if res.ExitCode == 0 {
			t.Errorf("writing %s in the sandbox succeeded", p)
		}
	}
	// /tmp is the sandbox's own, writable and empty.
	res := sh(t, e, sb.ExternalID, `touch /tmp/x && ls -A /tmp`)
	if string(res.Stdout) != "x\n" {
		t.Errorf("/tmp in the sandbox: %q (stderr %q), want only x", res.Stdout, res.Stderr)
	}
}

// TestNoNetwork: only a loopback interface, and a server on the host's loopback is unreachable, while the same
// probe reaches it without isolation.
func TestNoNetwork(t *testing.T) {
	e := newBwrap(t)
	sb := create(t, e, backend.SandboxSpec{})
	res := sh(t, e, sb.ExternalID, `tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' '`)
	if got := strings.Fields(string(res.Stdout)); len(got) != 1 || got[0] != "lo" {
		t.Errorf("network interfaces in the sandbox: %q (stderr %q), want only lo", res.Stdout, res.Stderr)
	}
	if _, err := exec.LookPath("ip"); err == nil {
		res := execIn(t, e, sb.ExternalID, backend.ExecRequest{Argv: []string{"ip", "-o", "link"}})
		if res.ExitCode != 0 || strings.Count(string(res.Stdout), "\n") != 1 || !strings.Contains(string(res.Stdout), "lo:") {
			t.Errorf("ip -o link in the sandbox: exit %d, %q, want only lo", res.ExitCode, res.Stdout)
		}
	}

	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte("reached"))
	}))
	t.Cleanup(srv.Close)
	_, port, err := net.SplitHostPort(srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	var probe []string
	switch {
	case lookable("curl"):
		probe = []string{"curl", "-sS", "--max-time", "3", "http://127.0.0.1:" + port + "/"}
	case lookable("bash"):
		probe = []string{"bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/" + port + " && printf 'GET / HTTP/1.0\\r\\n\\r\\n' >&3 && cat <&3"}
	default:
		t.Skip("neither curl nor bash to probe the network with")
	}
	res = execIn(t, e, sb.ExternalID, backend.ExecRequest{Argv: probe, Timeout: 10 * time.Second})
	if res.ExitCode == 0 || bytes.Contains(res.Stdout, []byte("reached")) {
		t.Errorf("%q in the sandbox reached the host: exit %d, %q", probe, res.ExitCode, res.Stdout)
	}
	// Control: the same probe works without isolation, so the failure above is the sandbox's doing.
	n := newNone(t)
	nsb := create(t, n, backend.SandboxSpec{})
	res = execIn(t, n, nsb.ExternalID, backend.ExecRequest{Argv: probe, Timeout: 10 * time.Second})
	if res.ExitCode != 0 || !bytes.Contains(res.Stdout, []byte("reached")) {
		t.Errorf("control %q without isolation: exit %d, %q, %q", probe, res.ExitCode, res.Stdout, res.Stderr)
	}
}

func lookable(name string) bool {
	_, err := exec.LookPath(name)
	return err == nil
}

// TestHostProcessesInvisible: /proc shows only the sandbox's own few processes.
func TestHostProcessesInvisible(t *testing.T) {
	e := newBwrap(t)
	sb := create(t, e, backend.SandboxSpec{})
	res := execIn(t, e, sb.ExternalID, backend.ExecRequest{Argv: []string{"ls", "/proc"}})
	var pids []int
	for _, f := range strings.Fields(string(res.Stdout)) {
		if n, err := strconv.Atoi(f); err == nil {
			pids = append(pids, n)
		}
	}
	if len(pids) == 0 || len(pids) > 3 {
		t.Errorf("pids in the sandbox: %v, want its own 1 to 3", pids)
	}
	for _, p := range pids {
		if p == os.Getpid() && p > 3 {
			t.Errorf("the sandbox sees the test's pid %d", p)
		}
	}
	res = execIn(t, e, sb.ExternalID, backend.ExecRequest{Argv: []string{"cat", "/proc/1/comm"}})
	if strings.TrimSpace(string(res.Stdout)) != spawnerName {
		t.Errorf("pid 1 in the sandbox is %q, want the spawner", res.Stdout)
	}
	if lookable("ps") {
		res = execIn(t, e, sb.ExternalID, backend.ExecRequest{Argv: []string{"ps", "-e", "-o", "pid=,comm="}})
		if lines := strings.Split(strings.TrimSpace(string(res.Stdout)), "\n"); len(lines) > 3 {
			t.Errorf("ps -e in the sandbox lists %d processes: %q", len(lines), res.Stdout)
		}
	}
}

// hostProcs returns the pids of host processes whose command line is exactly argv.
func hostProcs(argv ...string) []int {
	want := []byte(strings.Join(argv, "\x00") + "\x00")
	ents, _ := os.ReadDir("/proc")
	var out []int
	for _, ent := range ents {
		pid, err := strconv.Atoi(ent.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + ent.Name() + "/cmdline")
		if err == nil && bytes.Equal(b, want) {
			if _, zombie, ok := startTime(pid); ok && !zombie {
				out = append(out, pid)
			}
		}
	}
	return out
}

// waitNoHostProcs waits until no host process runs argv, failing the test after a generous minute (a loaded
// machine or an emulated VM, scripts/vm-cgroup2-test.sh, must not fail it).
func waitNoHostProcs(t *testing.T, argv ...string) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		left := hostProcs(argv...)
		if len(left) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Errorf("%q still runs on the host: pids %v", argv, left)
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestTimeoutKillsTree: a command and its background children are killed at the timeout, and Exec returns then,
// not when the children would have ended. Only behaviour is asserted, with generous bounds (a loaded machine
// must not fail it); timings belong to make bench.
func TestTimeoutKillsTree(t *testing.T) {
	for name, newEngine := range map[string]func(testing.TB) *Engine{"bwrap": newBwrap, "none": newNone} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			e := newEngine(t)
			sb := create(t, e, backend.SandboxSpec{})
			secs := strconv.Itoa(3000 + os.Getpid()%1000 + len(name))
			start := time.Now()
			res := execIn(t, e, sb.ExternalID, backend.ExecRequest{
				Argv:    []string{"sh", "-c", "sleep " + secs + " & sleep " + secs + "; wait"},
				Timeout: time.Second,
			})
			took := time.Since(start)
			if !res.TimedOut || res.ExitCode != -1 {
				t.Errorf("result %+v, want TimedOut and exit code -1", res)
			}
			// The children sleep for ~an hour: returning within a minute shows Exec did not wait for them.
			if took < time.Second || took > time.Minute {
				t.Errorf("Exec took %s with a 1s timeout and children sleeping %ss", took, secs)
			}
			waitNoHostProcs(t, "sleep", secs)
		})
	}
}

// TestBackgroundChildDoesNotHang: a command that leaves a child holding its output returns when it exits (not
// at its timeout, not when the child would end), and the child is gone. No wall-clock upper bound beyond that.
func TestBackgroundChildDoesNotHang(t *testing.T) {
	for name, newEngine := range map[string]func(testing.TB) *Engine{"bwrap": newBwrap, "none": newNone} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			e := newEngine(t)
			sb := create(t, e, backend.SandboxSpec{})
			secs := strconv.Itoa(4000 + os.Getpid()%1000 + len(name))
			res := execIn(t, e, sb.ExternalID, backend.ExecRequest{Argv: []string{"sh", "-c", "sleep " + secs + " & echo started"}, Timeout: 2 * time.Minute})
			// Not TimedOut: Exec returned when the command exited, before its timeout, with the child detached.
			if res.ExitCode != 0 || res.TimedOut || string(res.Stdout) != "started\n" {
				t.Errorf("result %+v (stdout %q), want exit 0 and started", res, res.Stdout)
			}
			waitNoHostProcs(t, "sleep", secs)
		})
	}
}

// TestStopKillsRunningCommands: StopSandbox kills a running command (from any process, through run/) and
// Exec refuses new ones until StartSandbox.
func TestStopKillsRunningCommands(t *testing.T) {
	e := newBwrap(t)
	sb := create(t, e, backend.SandboxSpec{})
	type out struct {
		res *backend.ExecResult
		err error
	}
	secs := strconv.Itoa(5000 + os.Getpid()%1000)
	done := make(chan out, 1)
	go func() {
		res, err := e.Exec(context.Background(), sb.ExternalID, backend.ExecRequest{Argv: []string{"sleep", secs}})
		done <- out{res, err}
	}()
	// Wait until the command is recorded with its sandbox init.
	runDirPath := filepath.Join(metaString(t, sb, "dir"), runDir)
	deadline := time.Now().Add(time.Minute)
	for recorded := false; !recorded; {
		ents, _ := os.ReadDir(runDirPath)
		for _, ent := range ents {
			if strings.HasSuffix(ent.Name(), ".json") && !strings.HasPrefix(ent.Name(), ".") {
				b, err := os.ReadFile(filepath.Join(runDirPath, ent.Name()))
				recorded = err == nil && bytes.Contains(b, []byte(`"init"`))
			}
		}
		select {
		case o := <-done:
			t.Fatalf("the command ended before StopSandbox: %+v, %v", o.res, o.err)
		default:
		}
		if time.Now().After(deadline) {
			var seen []string
			for _, ent := range ents {
				b, _ := os.ReadFile(filepath.Join(runDirPath, ent.Name()))
				seen = append(seen, ent.Name()+": "+string(b))
			}
			t.Fatalf("the command never showed up under run/ with its init: %q", seen)
		}
		time.Sleep(10 * time.Millisecond)
	}
	start := time.Now()
	if err := e.StopSandbox(context.Background(), sb.ExternalID); err != nil {
		t.Fatalf("StopSandbox: %v", err)
	}
	select {
	case o := <-done:
		if o.err != nil {
			t.Fatalf("Exec: %v", o.err)
		}
		if o.res.ExitCode != 128+9 || o.res.TimedOut {
			t.Errorf("killed command: %+v, want exit code 137", o.res)
		}
	case <-time.After(time.Minute):
		t.Fatalf("the command still runs %s after StopSandbox", time.Since(start).Round(time.Second))
	}
	waitNoHostProcs(t, "sleep", secs)
	_, err := e.Exec(context.Background(), sb.ExternalID, backend.ExecRequest{Argv: []string{"true"}})
	if err == nil || !strings.Contains(err.Error(), "stopped") {
		t.Errorf("Exec in a stopped sandbox = %v, want an error saying it is stopped", err)
	}
	if err := e.StartSandbox(context.Background(), sb.ExternalID); err != nil {
		t.Fatal(err)
	}
	if res := execIn(t, e, sb.ExternalID, backend.ExecRequest{Argv: []string{"true"}}); res.ExitCode != 0 {
		t.Errorf("true after start: %+v", res)
	}
}

// TestPathsRefused: file paths that leave the home, lexically or through symlinks a command made, are refused
// and nothing is written outside.
func TestPathsRefused(t *testing.T) {
	e := newBwrap(t)
	sb := create(t, e, backend.SandboxSpec{})
	ctx := context.Background()
	outside := t.TempDir()
	target := filepath.Join(outside, "target")
	if err := os.WriteFile(target, []byte("outside"), 0o644); err != nil {
		t.Fatal(err)
	}
	home := metaString(t, sb, "home")
	// Symlinks as a command could make them (made here on the host, pointing at host paths).
	for name, dest := range map[string]string{"up": "..", "abs": outside, "file": target} {
		if err := os.Symlink(dest, filepath.Join(home, name)); err != nil {
			t.Fatal(err)
		}
	}
	for _, p := range []string{"../x", "a/../../x", "/etc/x", "/home/sandbox/../x", "/home/other/x", "up/x", "abs/x", "file", "abs/target", "/home/sandbox/up/sandbox.json"} {
		if err := e.WriteFile(ctx, sb.ExternalID, p, []byte("pwned")); err == nil {
			t.Errorf("WriteFile(%q) = nil, want an error", p)
		}
	}
	for _, p := range []string{"../sandbox.json", "../env.json", "/etc/passwd", "up/sandbox.json", "abs/target", "file"} {
		if b, err := e.ReadFile(ctx, sb.ExternalID, p); err == nil {
			t.Errorf("ReadFile(%q) = %q, want an error", p, b)
		}
	}
	if b, err := os.ReadFile(target); err != nil || string(b) != "outside" {
		t.Errorf("the file outside the home is now %q, %v", b, err)
	}
	if _, err := os.Stat(filepath.Join(filepath.Dir(home), "x")); err == nil {
		t.Errorf("a file was written next to the home")
	}
	// Absolute paths inside the home work, in either spelling.
	for _, p := range []string{"/home/sandbox/abs.txt", filepath.Join(home, "host.txt")} {
		if err := e.WriteFile(ctx, sb.ExternalID, p, []byte("ok")); err != nil {
			t.Errorf("WriteFile(%q): %v", p, err)
		}
	}
	// Working directories follow the same rules.
	for _, cwd := range []string{"..", "/etc", "/home", "up", "no-such-dir"} {
		if _, err := e.Exec(ctx, sb.ExternalID, backend.ExecRequest{Argv: []string{"true"}, Cwd: cwd}); err == nil {
			t.Errorf("Exec with cwd %q = nil error", cwd)
		}
	}
	res := execIn(t, e, sb.ExternalID, backend.ExecRequest{Argv: []string{"pwd"}, Cwd: "/home/sandbox"})
	if string(res.Stdout) != "/home/sandbox\n" {
		t.Errorf("pwd with cwd /home/sandbox: %q", res.Stdout)
	}
}

// TestFIFORefused: a FIFO a command made is neither written nor read (either would hang).
func TestFIFORefused(t *testing.T) {
	e := newBwrap(t)
	sb := create(t, e, backend.SandboxSpec{})
	if res := sh(t, e, sb.ExternalID, "mkfifo fifo"); res.ExitCode != 0 {
		t.Skipf("mkfifo: %q", res.Stderr)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := e.WriteFile(ctx, sb.ExternalID, "fifo", []byte("x")); err == nil {
		t.Errorf("WriteFile on a FIFO = nil error")
	}
	if _, err := e.ReadFile(ctx, sb.ExternalID, "fifo"); err == nil {
		t.Errorf("ReadFile on a FIFO = nil error")
	}
}

// TestIsolationNone: without bubblewrap commands run on the host, in the sandbox home, and the engine says so.
func TestIsolationNone(t *testing.T) {
	e := newNone(t)
	sb := create(t, e, backend.SandboxSpec{Env: map[string]string{"FOO": "bar"}})
	if sb.Metadata["isolation"] != IsolationNone || sb.Metadata["network"] != "host" {
		t.Errorf("Metadata = %v, want isolation none and network host", sb.Metadata)
	}
	c := e.Capabilities()
	if c.Volumes || len(c.NetworkPolicies) != 1 || c.NetworkPolicies[0] != "allow_all" {
		t.Errorf("Capabilities = %+v, want no volumes and allow_all", c)
	}
	home := metaString(t, sb, "home")
	t.Setenv("HOST_ONLY_VAR", "leak")
	res := sh(t, e, sb.ExternalID, `echo "$HOME|$(pwd)|$FOO|$HOST_ONLY_VAR|$LANG|$TERM"`)
	if want := home + "|" + home + "|bar||C.UTF-8|dumb\n"; string(res.Stdout) != want {
		t.Errorf("environment = %q, want %q", res.Stdout, want)
	}
	res = execIn(t, e, sb.ExternalID, backend.ExecRequest{Argv: []string{"no-such-command-xyz"}})
	if res.ExitCode != 127 {
		t.Errorf("a missing command: %+v, want exit code 127", res)
	}
	err := e.ValidateSpec(backend.SandboxSpec{Volumes: []backend.VolumeMount{{VolumeID: "v", ExternalID: t.TempDir(), MountPath: "/data"}}})
	if err == nil {
		t.Errorf("ValidateSpec with a volume and isolation none = nil")
	}
}

// TestVolumes: a host directory is mounted read-write at its mount path and can be the working directory.
func TestVolumes(t *testing.T) {
	e := newBwrap(t)
	vol := t.TempDir()
	if err := os.WriteFile(filepath.Join(vol, "in.txt"), []byte("from host"), 0o644); err != nil {
		t.Fatal(err)
	}
	// A host directory is mounted as it is: writable to the sandbox user, as its owner makes it.
	if err := os.Chown(vol, e.sandboxUIDOrSelf(), e.sandboxGIDOrSelf()); err != nil {
		t.Fatal(err)
	}
	sb := create(t, e, backend.SandboxSpec{Volumes: []backend.VolumeMount{{VolumeID: "v1", ExternalID: vol, MountPath: "/data"}}})
	res := execIn(t, e, sb.ExternalID, backend.ExecRequest{Argv: []string{"sh", "-c", "cat in.txt; printf back > out.txt"}, Cwd: "/data"})
	if res.ExitCode != 0 || string(res.Stdout) != "from host" {
		t.Errorf("volume: %+v, stdout %q, stderr %q", res, res.Stdout, res.Stderr)
	}
	if b, err := os.ReadFile(filepath.Join(vol, "out.txt")); err != nil || string(b) != "back" {
		t.Errorf("file written in the volume: %q, %v", b, err)
	}
	if _, err := e.Exec(context.Background(), sb.ExternalID, backend.ExecRequest{Argv: []string{"true"}, Cwd: "/data/../etc"}); err == nil {
		t.Errorf("cwd /data/../etc = nil error")
	}
}

// forkMany starts 40 background processes at once.
const forkMany = `i=0; while [ $i -lt 40 ]; do sleep 1 & i=$((i+1)); done; wait; echo done`

// TestLimits: max_processes holds for the sandbox's commands, as root (cgroups) and unprivileged (cgroups, or
// RLIMIT_NPROC in the sandbox's user namespace); memory_mb bounds the sandbox where the host can enforce it and
// is refused where it cannot; core dumps are off.
func TestLimits(t *testing.T) {
	e := newBwrap(t)
	if err := checkEnforceable(limits{maxProcesses: 16}, IsolationBwrap); err != nil {
		t.Skipf("max_processes cannot be enforced here (TestLimitsRefused checks the refusal): %v", err)
	}
	sb := create(t, e, backend.SandboxSpec{Options: map[string]any{OptionMaxProcesses: 16}})
	checkLimits(t, e, sb.ExternalID, map[string]string{"Max core file size": "0"})
	res := sh(t, e, sb.ExternalID, forkMany)
	if !bytes.Contains(res.Stderr, []byte("fork")) {
		t.Errorf("40 processes with max_processes 16: exit %d, stderr %q; want fork failures", res.ExitCode, res.Stderr)
	}
	// The default limit leaves room for ordinary work.
	def := create(t, e, backend.SandboxSpec{})
	if res := sh(t, e, def.ExternalID, forkMany); res.ExitCode != 0 || len(res.Stderr) != 0 {
		t.Errorf("40 processes with the default max_processes: %+v (stderr %q)", res, res.Stderr)
	}
	if checkEnforceable(limits{memoryMB: 512}, IsolationBwrap) != nil {
		t.Log("memory_mb cannot be enforced here: TestLimitsRefused checks the refusal")
		return
	}
	// A 600 MB buffer (dd's, filled from /dev/zero) does not fit in 512 MiB: the process is killed, rather than
	// the command running into its timeout (which a slow sort of 600 MB did on an emulated VM).
	mem := create(t, e, backend.SandboxSpec{Options: map[string]any{OptionMemoryMB: float64(512)}})
	res = execIn(t, e, mem.ExternalID, backend.ExecRequest{Argv: []string{"sh", "-c", `dd if=/dev/zero bs=600000000 count=1 of=/dev/null 2>/dev/null; echo "rc=$?"`}, Timeout: 2 * time.Minute})
	if string(res.Stdout) != "rc=137\n" {
		t.Errorf("a 600 MB buffer with memory_mb 512: %q (stderr %q, %+v), want the process killed (rc=137)", res.Stdout, res.Stderr, res)
	}
}

// checkLimits compares soft limits from /proc/self/limits in the sandbox.
func checkLimits(t *testing.T, e *Engine, ext string, want map[string]string) {
	t.Helper()
	res := execIn(t, e, ext, backend.ExecRequest{Argv: []string{"cat", "/proc/self/limits"}})
	got := map[string]string{}
	for _, line := range strings.Split(string(res.Stdout), "\n") {
		for name := range want {
			if rest, ok := strings.CutPrefix(line, name); ok && len(rest) > 0 && rest[0] == ' ' {
				if f := strings.Fields(rest); len(f) > 0 {
					got[name] = f[0]
				}
			}
		}
	}
	for name, w := range want {
		if got[name] != w {
			t.Errorf("%s = %q, want %q (/proc/self/limits: %s)", name, got[name], w, res.Stdout)
		}
	}
}

func TestValidateSpecLocal(t *testing.T) {
	e := newBwrap(t)
	vol := func(mp string) []backend.VolumeMount {
		return []backend.VolumeMount{{VolumeID: "v", ExternalID: "/srv/vol", MountPath: mp}}
	}
	good := []backend.SandboxSpec{
		{},
		{Ports: []int{1, 65535}, VCPUs: 2, Options: map[string]any{}},
		{Options: map[string]any{OptionMemoryMB: int64(256), OptionMaxProcesses: 100.0}},
		{Options: map[string]any{OptionMemoryMB: nil}},
		{Volumes: vol("/data")},
		{Volumes: vol("/home/sandbox/data")},
	}
	for _, s := range good {
		if err := e.ValidateSpec(s); err != nil {
			t.Errorf("ValidateSpec(%+v) = %v", s, err)
		}
	}
	bad := map[string]backend.SandboxSpec{
		"unknown option":     {Options: map[string]any{"isolation": "none"}},
		"negative memory":    {Options: map[string]any{OptionMemoryMB: -1}},
		"fractional procs":   {Options: map[string]any{OptionMaxProcesses: 1.5}},
		"string memory":      {Options: map[string]any{OptionMemoryMB: "1G"}},
		"negative vcpus":     {VCPUs: -1},
		"port 0":             {Ports: []int{0}},
		"port 70000":         {Ports: []int{70000}},
		"duplicate port":     {Ports: []int{80, 80}},
		"negative timeout":   {Timeout: -time.Second},
		"env name with =":    {Env: map[string]string{"A=B": "x"}},
		"relative mount":     {Volumes: vol("data")},
		"mount on /usr/x":    {Volumes: vol("/usr/x")},
		"mount on /":         {Volumes: vol("/")},
		"mount on home":      {Volumes: vol("/home/sandbox")},
		"unclean mount":      {Volumes: vol("/data/../etc")},
		"relative host path": {Volumes: []backend.VolumeMount{{VolumeID: "v", ExternalID: "vol", MountPath: "/data"}}},
		"same mount twice":   {Volumes: append(vol("/data"), vol("/data")...)},
	}
	for name, s := range bad {
		if err := e.ValidateSpec(s); err == nil {
			t.Errorf("ValidateSpec with %s = nil, want an error", name)
		}
	}
}

// TestEnvStorage: the env is kept in env.json (0600), never in sandbox.json, Metadata or a command line.
func TestEnvStorage(t *testing.T) {
	e := newBwrap(t)
	secret := "value-" + backend.NewID()
	sb := create(t, e, backend.SandboxSpec{Env: map[string]string{"TOKEN": secret}})
	dir := metaString(t, sb, "dir")
	fi, err := os.Stat(filepath.Join(dir, envFile))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("env.json mode %v, want 0600", fi.Mode().Perm())
	}
	if b, err := os.ReadFile(filepath.Join(dir, metaFile)); err != nil || bytes.Contains(b, []byte(secret)) {
		t.Errorf("sandbox.json holds the env value (or cannot be read: %v)", err)
	}
	if d, err := os.Stat(dir); err != nil || d.Mode().Perm() != 0o700 {
		t.Errorf("sandbox directory mode: %v, %v; want 0700", d.Mode().Perm(), err)
	}
	// While a command runs, no process on the host has the value on its command line.
	done := make(chan struct{})
	go func() {
		defer close(done)
		execIn(t, e, sb.ExternalID, backend.ExecRequest{Argv: []string{"sh", "-c", "sleep 1; echo $TOKEN"}})
	}()
	time.Sleep(400 * time.Millisecond)
	ents, _ := os.ReadDir("/proc")
	for _, ent := range ents {
		if b, err := os.ReadFile("/proc/" + ent.Name() + "/cmdline"); err == nil && bytes.Contains(b, []byte(secret)) {
			t.Errorf("process %s has the env value on its command line: %q", ent.Name(), b)
		}
	}
	<-done
}

// TestHalfMade: a sandbox interrupted after its metadata was written is found by its record id, can be
// completed by StartSandbox, and deleted.
func TestHalfMade(t *testing.T) {
	e := newBwrap(t)
	id := backend.NewID()
	ext := externalID(id)
	dir := e.dir(ext)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	m := &meta{Version: 1, RecordID: id, ExternalID: ext, State: backend.StateStarting, CreatedAt: time.Now()}
	if err := writeMeta(dir, m); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	sb, err := e.FindSandbox(ctx, id)
	if err != nil || sb.ExternalID != ext || sb.State != backend.StateStarting {
		t.Fatalf("FindSandbox of a half-made sandbox = %+v, %v", sb, err)
	}
	if err := e.StartSandbox(ctx, ext); err != nil {
		t.Fatalf("StartSandbox: %v", err)
	}
	if res := execIn(t, e, ext, backend.ExecRequest{Argv: []string{"true"}}); res.ExitCode != 0 {
		t.Errorf("true in a completed sandbox: %+v", res)
	}
	if err := e.DeleteSandbox(ctx, ext); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("directory after delete: %v", err)
	}
}

func TestCreateTwiceConflicts(t *testing.T) {
	e := newBwrap(t)
	sb := create(t, e, backend.SandboxSpec{})
	_, err := e.CreateSandbox(context.Background(), backend.SandboxSpec{RecordID: sb.RecordID})
	if !errors.Is(err, backend.ErrConflict) {
		t.Errorf("second CreateSandbox for record %s = %v, want ErrConflict", sb.RecordID, err)
	}
	if _, err := e.CreateSandbox(context.Background(), backend.SandboxSpec{RecordID: "../evil"}); err == nil {
		t.Errorf("CreateSandbox with record id ../evil = nil error")
	}
	if sb.ExternalID == sb.RecordID {
		t.Errorf("external id equals the record id")
	}
}

// TestDeleteRemovesReadOnlyTrees: a command can make directories read-only; delete still removes them.
func TestDeleteRemovesReadOnlyTrees(t *testing.T) {
	e := newBwrap(t)
	sb, err := e.CreateSandbox(context.Background(), backend.SandboxSpec{RecordID: backend.NewID()})
	if err != nil {
		t.Fatal(err)
	}
	sh(t, e, sb.ExternalID, "mkdir -p a/b && touch a/b/f && chmod 0 a/b a")
	if err := e.DeleteSandbox(context.Background(), sb.ExternalID); err != nil {
		t.Fatalf("DeleteSandbox: %v", err)
	}
	ents, err := os.ReadDir(e.sandboxesDir())
	if err != nil || len(ents) != 0 {
		t.Errorf("left in sandboxes/: %v, %v", ents, err)
	}
}

// TestTwoEnginesShareRoot: two engines over one root (as two provider processes) see and stop each other's
// sandboxes and commands.
func TestTwoEnginesShareRoot(t *testing.T) {
	a := newBwrap(t)
	b, err := New(Config{Root: a.Root()})
	if err != nil {
		t.Fatal(err)
	}
	sb := create(t, a, backend.SandboxSpec{})
	var wg sync.WaitGroup
	wg.Add(1)
	var res *backend.ExecResult
	go func() {
		defer wg.Done()
		res, _ = a.Exec(context.Background(), sb.ExternalID, backend.ExecRequest{Argv: []string{"sleep", "20"}})
	}()
	time.Sleep(300 * time.Millisecond)
	if err := b.StopSandbox(context.Background(), sb.ExternalID); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	if res == nil || res.ExitCode != 137 {
		t.Errorf("command stopped by the other engine: %+v", res)
	}
	got, err := a.GetSandbox(context.Background(), sb.ExternalID)
	if err != nil || got.State != backend.StateStopped {
		t.Errorf("state seen by the first engine: %+v, %v", got, err)
	}
}

// BenchmarkExecTrue runs `true` in a running sandbox, against a bare `sh -c true` (fork and exec of /bin/sh) in
// the same run: bare_sh runs first, and the others report their time per command as a multiple of it (x_sh).
// One command before the timer starts the sandbox's init and builds the /etc view, which happen once per
// sandbox and engine root.
//
//	go test -run '^$' -bench ExecTrue -benchtime=300x ./internal/backend/engine/local/
func BenchmarkExecTrue(b *testing.B) {
	var sh time.Duration
	bench := func(b *testing.B, e *Engine) {
		sb := create(b, e, backend.SandboxSpec{})
		ctx := context.Background()
		if res, err := e.Exec(ctx, sb.ExternalID, backend.ExecRequest{Argv: []string{"true"}}); err != nil || res.ExitCode != 0 {
			b.Fatalf("warm-up true: %+v, %v", res, err)
		}
		b.ResetTimer()
		for b.Loop() {
			res, err := e.Exec(ctx, sb.ExternalID, backend.ExecRequest{Argv: []string{"true"}})
			if err != nil || res.ExitCode != 0 {
				b.Fatalf("true: %+v, %v", res, err)
			}
		}
		if sh > 0 {
			b.ReportMetric(float64(b.Elapsed()/time.Duration(b.N))/float64(sh), "x_sh")
		}
	}
	b.Run("bare_sh", func(b *testing.B) {
		for b.Loop() {
			if err := exec.Command("sh", "-c", "true").Run(); err != nil {
				b.Fatal(err)
			}
		}
		sh = b.Elapsed() / time.Duration(b.N)
	})
	b.Run("local_bwrap", func(b *testing.B) { bench(b, newBwrap(b)) })
	b.Run("local_none", func(b *testing.B) { bench(b, newNone(b)) })
}

func ExampleNew() {
	e, err := New(Config{Root: os.TempDir() + "/local-engine-example", Isolation: IsolationNone})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(e.Name(), e.Isolation())
	// Output: local none
}

// unprivilegedTests are the tests TestUnprivileged runs again as an unprivileged user;
// LOCAL_ENGINE_TEST_UNPRIVILEGED_RUN replaces them (scripts/vm-cgroup2-test.sh runs only the cgroup tests).
const unprivilegedTests = "^(TestNoInheritedDescriptors|TestVolumeOptionsRefused|TestVolumeDiskLimit|TestWorkspaceDiskLimit|TestConformanceBwrap|TestLimits|TestForkBomb|TestSandboxMemory|TestTmpLimit|TestLimitsRefused|TestDiskLimit|TestInitUntouchable|TestSeesOnlyItsHome|TestHostFilesInvisible|TestNoNetwork|TestHostProcessesInvisible|TestTimeoutKillsTree|TestStopKillsRunningCommands|TestPathsRefused|TestVolumes|TestDeleteRemovesReadOnlyTrees|TestVolumeLifecycle|TestSandboxFromSetup|TestWorkspace|TestPolicyAllowList|TestInitSurvivesNewEngine|TestInitTimeoutKillsTreeNotInit|TestInitIsolation|TestCgroupRemoved)$"

// TestUnprivileged runs the isolation tests again as user nobody (65534) when the tests run as root, since a
// provider usually runs as an ordinary user: bubblewrap then works unprivileged, and max_processes is enforced.
// "plain" runs them in the test's own cgroup, which nobody cannot write: memory_mb is refused there
// (TestLimitsRefused) and max_processes holds by RLIMIT_NPROC. "delegated" runs them in a cgroup v2 subtree
// delegated to nobody (as systemd's Delegate=yes makes one), on a host whose unified hierarchy has the pids and
// memory controllers: every limit then holds by cgroups, and the sandboxes' cgroups are gone afterwards.
func TestUnprivileged(t *testing.T) {
	if os.Getenv("LOCAL_ENGINE_TEST_UNPRIVILEGED") != "" {
		t.Skip("already the unprivileged run")
	}
	t.Parallel() // a process of its own: it may run beside the other parallel tests
	if os.Geteuid() != 0 {
		t.Skip("not root: the other tests already run unprivileged")
	}
	if testing.Short() {
		t.Skip("short mode")
	}
	newBwrap(t) // skips without bubblewrap
	const nobody = 65534
	dir := t.TempDir()
	// The test's temporary directories are made traversable; the directories above them must already be.
	for _, p := range []string{dir, filepath.Dir(dir)} {
		if err := os.Chmod(p, 0o711); err != nil {
			t.Fatal(err)
		}
	}
	for p := filepath.Dir(filepath.Dir(dir)); ; p = filepath.Dir(p) {
		if fi, err := os.Stat(p); err != nil || fi.Mode().Perm()&0o001 == 0 {
			t.Skipf("%s is not traversable by other users: cannot run the tests unprivileged", p)
		}
		if p == "/" {
			break
		}
	}
	bin := filepath.Join(dir, "local.test")
	self, err := os.ReadFile(os.Args[0])
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, self, 0o755); err != nil {
		t.Fatal(err)
	}
	tests := unprivilegedTests
	if r := os.Getenv("LOCAL_ENGINE_TEST_UNPRIVILEGED_RUN"); r != "" {
		tests = r
	}
	selected := regexp.MustCompile(tests)
	// run runs the tests as nobody, in the cgroup cgroupFD when it is not -1, and checks that those of want that
	// were selected passed.
	run := func(t *testing.T, cgroupFD int, want ...string) {
		tmp := filepath.Join(dir, "tmp-"+nonce())
		if err := os.Mkdir(tmp, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.Chown(tmp, nobody, nobody); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, bin, "-test.run", tests, "-test.count=1", "-test.v")
		cmd.Dir = tmp
		cmd.Env = []string{"PATH=" + sandboxPATH, "HOME=" + tmp, "TMPDIR=" + tmp, "LOCAL_ENGINE_TEST_UNPRIVILEGED=1"}
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: nobody, Gid: nobody}}
		if cgroupFD >= 0 {
			cmd.SysProcAttr.UseCgroupFD, cmd.SysProcAttr.CgroupFD = true, cgroupFD
		}
		out, err := cmd.CombinedOutput()
		for _, line := range strings.Split(string(out), "\n") {
			if strings.HasPrefix(line, "--- ") || strings.HasPrefix(line, "ok") || strings.HasPrefix(line, "FAIL") {
				t.Log(line)
			}
		}
		if err != nil {
			t.Fatalf("the unprivileged run failed (%v):\n%s", err, out)
		}
		for _, name := range want {
			if selected.MatchString(name) && !bytes.Contains(out, []byte("--- PASS: "+name+" ")) {
				t.Errorf("the unprivileged run did not pass %s:\n%s", name, out)
			}
		}
	}
	t.Run("plain", func(t *testing.T) {
		run(t, -1, "TestLimits", "TestForkBomb", "TestTmpLimit", "TestLimitsRefused", "TestSandboxFromSetup", "TestWorkspace", "TestPolicyAllowList", "TestNoInheritedDescriptors", "TestVolumeOptionsRefused")
	})
	t.Run("delegated", func(t *testing.T) {
		leaf, check := delegatedCgroup(t, nobody)
		run(t, int(leaf.Fd()), "TestLimits", "TestForkBomb", "TestSandboxMemory", "TestLimitsRefused", "TestCommandEntersCmdsCgroup", "TestCgroupRemoved")
		check()
	})
}

// TestEtcView: the sandbox's /etc is the allow-listed copy of the host's, shared by engines on one root.
func TestEtcView(t *testing.T) {
	a := newBwrap(t)
	sb := create(t, a, backend.SandboxSpec{})
	res := sh(t, a, sb.ExternalID, `test -r /etc/passwd && test -r /etc/hosts && test -r /etc/nsswitch.conf && ! test -e /etc/shadow && ! test -e /etc/ssh && echo ok`)
	if string(res.Stdout) != "ok\n" {
		t.Errorf("/etc in the sandbox: %q, stderr %q", res.Stdout, res.Stderr)
	}
	host, err := os.ReadFile("/etc/passwd")
	if err != nil {
		t.Fatal(err)
	}
	res = execIn(t, a, sb.ExternalID, backend.ExecRequest{Argv: []string{"cat", "/etc/passwd"}})
	if !bytes.Equal(res.Stdout, host) {
		t.Errorf("/etc/passwd in the sandbox differs from the host's")
	}
	b, err := New(Config{Root: a.Root()})
	if err != nil {
		t.Fatal(err)
	}
	sb2 := create(t, b, backend.SandboxSpec{})
	execIn(t, b, sb2.ExternalID, backend.ExecRequest{Argv: []string{"true"}})
	if a.etcDir == "" || a.etcDir != b.etcDir {
		t.Errorf("two engines on one root use /etc views %q and %q, want one", a.etcDir, b.etcDir)
	}
	views, err := filepath.Glob(filepath.Join(a.Root(), "system", "*etc-*"))
	if err != nil || len(views) != 1 {
		t.Errorf("views under system/: %v, %v; want one", views, err)
	}
}
