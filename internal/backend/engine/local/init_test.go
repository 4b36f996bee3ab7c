//go:build linux

package local

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ekairos/terraform-provider-sandbox/internal/backend"
)

// readInit returns a sandbox's run/init.json, failing the test without one.
// startedInit runs a first command, which starts the sandbox's init (creating a sandbox does not: an idle
// sandbox costs no process), and returns the init's record.
func startedInit(t *testing.T, e *Engine, sb *backend.Sandbox) initRecord {
	t.Helper()
	if res := execIn(t, e, sb.ExternalID, backend.ExecRequest{Argv: []string{"true"}}); res.ExitCode != 0 {
		t.Fatalf("true: %+v", res)
	}
	return readInit(t, sb)
}

func readInit(t *testing.T, sb *backend.Sandbox) initRecord {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(metaString(t, sb, "dir"), runDir, initRecordFile))
	if err != nil {
		t.Fatalf("the sandbox's init record: %v", err)
	}
	var rec initRecord
	if err := json.Unmarshal(b, &rec); err != nil || rec.Init == nil {
		t.Fatalf("init record %s: %v", b, err)
	}
	return rec
}

// initProcs returns the processes of an init: bubblewrap (on the host) and the spawner, the sandbox's pid 1
// (bubblewrap --as-pid-1), both alive.
func initProcs(t *testing.T, rec initRecord) []proc {
	t.Helper()
	procs := []proc{rec.Group, *rec.Init}
	for _, p := range procs {
		if !p.alive() {
			t.Fatalf("process %d of the init is not running", p.PID)
		}
	}
	return procs
}

func checkGone(t *testing.T, what string, procs []proc) {
	t.Helper()
	deadline := time.Now().Add(time.Minute) // generous: a loaded machine or an emulated VM must not fail it
	for {
		var left []int
		for _, p := range procs {
			if p.alive() {
				left = append(left, p.PID)
			}
		}
		if len(left) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Errorf("after %s, processes of the init still run: %v", what, left)
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestInitSurvivesNewEngine: the init started for a sandbox outlives the engine that started it (a provider
// process) in a session of its own, and a new engine on the same root (the next provider process) runs its
// commands in the same init.
func TestInitSurvivesNewEngine(t *testing.T) {
	a := newBwrap(t)
	sb := create(t, a, backend.SandboxSpec{})
	if _, err := os.Stat(filepath.Join(metaString(t, sb, "dir"), runDir, initRecordFile)); !os.IsNotExist(err) {
		t.Errorf("an init was started before any command (stat: %v): an idle sandbox must cost no process", err)
	}
	first := startedInit(t, a, sb) // started by the first command
	if sid := sessionOf(first.Group.PID); sid != first.Group.PID {
		t.Errorf("bubblewrap of the init is in session %d, want its own (%d)", sid, first.Group.PID)
	}
	if res := execIn(t, a, sb.ExternalID, backend.ExecRequest{Argv: []string{"true"}}); res.ExitCode != 0 {
		t.Fatalf("true: %+v", res)
	}
	b, err := New(Config{Root: a.Root()})
	if err != nil {
		t.Fatal(err)
	}
	res := execIn(t, b, sb.ExternalID, backend.ExecRequest{Argv: []string{"cat", "/proc/1/comm"}})
	if strings.TrimSpace(string(res.Stdout)) != spawnerName {
		t.Errorf("pid 1 of the sandbox through a new engine: %q", res.Stdout)
	}
	again := readInit(t, sb)
	if again.Init.PID != first.Init.PID || !again.Init.alive() {
		t.Errorf("a new engine replaced the init: %+v, then %+v", first.Init, again.Init)
	}
	// Files a command left in /tmp are seen by the next one: they share the init's /tmp.
	sh(t, b, sb.ExternalID, `echo kept > /tmp/kept`)
	if res := sh(t, a, sb.ExternalID, `cat /tmp/kept`); string(res.Stdout) != "kept\n" {
		t.Errorf("/tmp across commands: %q", res.Stdout)
	}
	// Nothing is left under run/ but the init.
	ents, _ := os.ReadDir(filepath.Join(metaString(t, sb, "dir"), runDir))
	for _, ent := range ents {
		if n := ent.Name(); n != initRecordFile && n != initSockFile && !strings.HasPrefix(n, ".") {
			t.Errorf("left under run/: %s", n)
		}
	}
}

func sessionOf(pid int) int {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return -1
	}
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
	sid, _ := strconv.Atoi(f[3]) // field 6
	return sid
}

// TestInitRestartedAfterKill: a killed init (or one gone with a reboot) is started again by the next command.
func TestInitRestartedAfterKill(t *testing.T) {
	e := newBwrap(t)
	sb := create(t, e, backend.SandboxSpec{})
	old := startedInit(t, e, sb)
	procs := initProcs(t, old)
	if err := syscall.Kill(old.Init.PID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	checkGone(t, "killing the init", procs)
	if res := sh(t, e, sb.ExternalID, `echo ok`); res.ExitCode != 0 || string(res.Stdout) != "ok\n" {
		t.Fatalf("a command after the init was killed: %+v (stdout %q, stderr %q)", res, res.Stdout, res.Stderr)
	}
	now := readInit(t, sb)
	if now.Init.PID == old.Init.PID || !now.Init.alive() {
		t.Errorf("init after a kill: %+v, before %+v", now.Init, old.Init)
	}
}

// TestStopDeleteLeaveNoProcess: stop and delete end the init, bubblewrap and the spawner; start and the next
// command make a new one.
func TestStopDeleteLeaveNoProcess(t *testing.T) {
	e := newBwrap(t)
	ctx := context.Background()
	sb, err := e.CreateSandbox(ctx, backend.SandboxSpec{RecordID: backend.NewID()})
	if err != nil {
		t.Fatal(err)
	}
	procs := initProcs(t, startedInit(t, e, sb))
	if err := e.StopSandbox(ctx, sb.ExternalID); err != nil {
		t.Fatal(err)
	}
	checkGone(t, "StopSandbox", procs)
	if err := e.StartSandbox(ctx, sb.ExternalID); err != nil {
		t.Fatal(err)
	}
	execIn(t, e, sb.ExternalID, backend.ExecRequest{Argv: []string{"true"}})
	rec := readInit(t, sb)
	procs = initProcs(t, rec)
	if procs[1].PID == 0 || !rec.Init.alive() {
		t.Fatalf("no init after start: %+v", rec)
	}
	dir := metaString(t, sb, "dir")
	if err := e.DeleteSandbox(ctx, sb.ExternalID); err != nil {
		t.Fatal(err)
	}
	checkGone(t, "DeleteSandbox", procs)
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("the sandbox's directory after delete: %v", err)
	}
}

// TestInitTimeoutKillsTreeNotInit: a command's timeout kills its whole process tree, a daemon that left its
// process group ends once no command runs, and the init lives on for the next command.
func TestInitTimeoutKillsTreeNotInit(t *testing.T) {
	e := newBwrap(t)
	sb := create(t, e, backend.SandboxSpec{})
	before := startedInit(t, e, sb)
	secs := strconv.Itoa(6000 + os.Getpid()%1000)
	res := execIn(t, e, sb.ExternalID, backend.ExecRequest{
		Argv:    []string{"sh", "-c", "sleep " + secs + " & sh -c 'sleep " + secs + "' & wait"},
		Timeout: time.Second,
	})
	if !res.TimedOut || res.ExitCode != -1 {
		t.Errorf("result %+v, want TimedOut", res)
	}
	waitNoHostProcs(t, "sleep", secs)
	daemon := strconv.Itoa(7000 + os.Getpid()%1000)
	if lookable("setsid") {
		res = sh(t, e, sb.ExternalID, `setsid sleep `+daemon+` > /dev/null 2>&1 < /dev/null & echo started`)
		if string(res.Stdout) != "started\n" {
			t.Errorf("starting a daemon: %+v", res)
		}
		waitNoHostProcs(t, "sleep", daemon)
	}
	after := readInit(t, sb)
	if after.Init.PID != before.Init.PID || !after.Init.alive() {
		t.Errorf("the init after a timeout: %+v, before %+v", after.Init, before.Init)
	}
	if res := execIn(t, e, sb.ExternalID, backend.ExecRequest{Argv: []string{"true"}}); res.ExitCode != 0 {
		t.Errorf("true after a timeout: %+v", res)
	}
}

// TestInitIsolation: commands run through the init keep every isolation property of a bubblewrap of their
// own.
func TestInitIsolation(t *testing.T) {
	e := newBwrap(t)
	sb := create(t, e, backend.SandboxSpec{Env: map[string]string{"FROM_SANDBOX": "1"}})
	t.Setenv("HOST_ONLY_VARIABLE", "leak")
	checks := map[string]string{
		"pid 1":          `cat /proc/1/comm`,
		"processes":      `ls /proc > /tmp/ps && grep -c '^[0-9]' /tmp/ps`,
		"network":        `tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' '`,
		"read-only /usr": `touch /usr/x 2>/dev/null && echo writable || echo read-only`,
		"capabilities":   `grep CapEff /proc/self/status | tr -d '\t'`,
		"no new privs":   `grep NoNewPrivs /proc/self/status | tr -d '\t'`,
		"env":            `env | cut -d= -f1 | sort | tr '\n' ' '`,
		"cwd":            `pwd`,
		"hostname":       `cat /proc/sys/kernel/hostname`,
	}
	want := map[string]string{
		"pid 1":          spawnerName,
		"processes":      "3", // the spawner (pid 1), this shell and ls
		"network":        "lo",
		"read-only /usr": "read-only",
		"capabilities":   "CapEff:0000000000000000",
		"no new privs":   "NoNewPrivs:1",
		"env":            "FROM_REQUEST FROM_SANDBOX HOME LANG PATH PWD TERM",
		"cwd":            SandboxHome,
		"hostname":       "sandbox",
	}
	for name, script := range checks {
		res := execIn(t, e, sb.ExternalID, backend.ExecRequest{Argv: []string{"sh", "-c", script}, Env: map[string]string{"FROM_REQUEST": "1"}})
		if got := strings.TrimSpace(string(res.Stdout)); got != want[name] {
			t.Errorf("%s: %q (stderr %q), want %q", name, got, res.Stderr, want[name])
		}
	}
	if lookable("unshare") {
		if res := execIn(t, e, sb.ExternalID, backend.ExecRequest{Argv: []string{"unshare", "-U", "true"}}); res.ExitCode == 0 {
			t.Errorf("a command made a user namespace")
		}
	}
	if res := execIn(t, e, sb.ExternalID, backend.ExecRequest{Argv: []string{"no-such-command-xyz"}}); res.ExitCode != 127 {
		t.Errorf("missing command: %+v", res)
	}
	if res := execIn(t, e, sb.ExternalID, backend.ExecRequest{Argv: []string{"cat"}, Stdin: []byte("in")}); string(res.Stdout) != "in" {
		t.Errorf("stdin: %q", res.Stdout)
	}
}

// TestInitReplacedOnUpdate: a change of what the init is made from (here the network policy) gives the next
// command a new init.
func TestInitReplacedOnUpdate(t *testing.T) {
	e := newBwrap(t)
	sb := create(t, e, backend.SandboxSpec{})
	old := startedInit(t, e, sb)
	procs := initProcs(t, old)
	if _, err := e.UpdateSandbox(context.Background(), sb.ExternalID, backend.SandboxSpec{RecordID: sb.RecordID, Policy: &backend.NetworkPolicy{Mode: backend.PolicyAllowAll}}); err != nil {
		t.Fatal(err)
	}
	res := sh(t, e, sb.ExternalID, `tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' ' | sort | tr '\n' ' '`)
	host, _ := os.ReadFile("/proc/net/dev")
	if strings.Count(string(host), "\n")-2 > 1 && strings.TrimSpace(string(res.Stdout)) == "lo" {
		t.Errorf("allow_all after an update still sees only lo")
	}
	checkGone(t, "replacing the init", procs)
	if now := readInit(t, sb); now.Init.PID == old.Init.PID {
		t.Errorf("the init was not replaced")
	}
}

// TestInitExitsWhenIdle: an init ends on its own once no command has run for InitIdle (so that sandboxes that
// ran a command once keep no processes), never while a command runs, and the next command starts a new one.
func TestInitExitsWhenIdle(t *testing.T) {
	e := newBwrapCfg(t, Config{InitIdle: 400 * time.Millisecond})
	sb := create(t, e, backend.SandboxSpec{})
	// A command longer than the idle time is not cut short.
	res := execIn(t, e, sb.ExternalID, backend.ExecRequest{Argv: []string{"sh", "-c", "sleep 1; echo done"}})
	if res.ExitCode != 0 || string(res.Stdout) != "done\n" {
		t.Fatalf("a command longer than the idle time: %+v", res)
	}
	first := readInit(t, sb)
	checkGone(t, "the idle time (and a bit)", initProcs(t, first))
	second := startedInit(t, e, sb)
	if second.Init.PID == first.Init.PID {
		t.Errorf("the next command reused the ended init %d", first.Init.PID)
	}
	// Commands in a row keep it alive.
	for i := 0; i < 4; i++ {
		execIn(t, e, sb.ExternalID, backend.ExecRequest{Argv: []string{"true"}})
		time.Sleep(150 * time.Millisecond)
	}
	if now := readInit(t, sb); now.Init.PID != second.Init.PID {
		t.Errorf("an init in use was replaced: %d, then %d", second.Init.PID, now.Init.PID)
	}
}

// TestInitIdleNeverWithNegative: InitIdle < 0 keeps the init until the sandbox stops.
func TestInitIdleNeverWithNegative(t *testing.T) {
	e := newBwrapCfg(t, Config{InitIdle: -1})
	sb := create(t, e, backend.SandboxSpec{})
	rec := startedInit(t, e, sb)
	time.Sleep(300 * time.Millisecond)
	for _, p := range initProcs(t, rec) {
		if !p.alive() {
			t.Errorf("process %d of the init ended although InitIdle < 0", p.PID)
		}
	}
}

// TestInitKeptWhileCommandsRun: an update that needs a new init (here the network policy) does not kill the
// running init while a command runs in it, whichever engine (provider process) started that command: the next
// command runs in a bubblewrap of its own, the running one goes on, and once it ended the next command replaces
// the init.
func TestInitKeptWhileCommandsRun(t *testing.T) {
	e := newBwrap(t)
	sb := create(t, e, backend.SandboxSpec{})
	old := startedInit(t, e, sb)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	long := make(chan *backend.ExecResult, 1)
	go func() {
		res, _ := e.Exec(ctx, sb.ExternalID, backend.ExecRequest{Argv: []string{"sh", "-c", "touch started; sleep 60"}, Timeout: 2 * time.Minute})
		long <- res
	}()
	home := metaString(t, sb, "home")
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if _, err := os.Stat(filepath.Join(home, "started")); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the long command did not start")
		}
	}
	// Another provider process updates the sandbox and runs a command.
	other, err := New(Config{Root: e.root})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := other.UpdateSandbox(context.Background(), sb.ExternalID, backend.SandboxSpec{RecordID: sb.RecordID, Policy: &backend.NetworkPolicy{Mode: backend.PolicyAllowAll}}); err != nil {
		t.Fatal(err)
	}
	if res := sh(t, other, sb.ExternalID, "echo next"); string(res.Stdout) != "next\n" {
		t.Fatalf("a command while the old init is busy: %+v", res)
	}
	if !old.Init.alive() {
		t.Fatal("the init was killed while a command ran in it")
	}
	select {
	case res := <-long:
		t.Fatalf("the running command ended: %+v", res)
	default:
	}
	cancel()
	<-long
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if res := sh(t, other, sb.ExternalID, "true"); res.ExitCode != 0 {
			t.Fatalf("true: %+v", res)
		}
		if now := readInit(t, sb); now.Init.PID != old.Init.PID {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the init was not replaced once its command ended")
		}
	}
	checkGone(t, "replacing the init", []proc{old.Group, *old.Init})
}
