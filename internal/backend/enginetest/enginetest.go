// Package enginetest is the conformance suite of the engines: every engine runs it (from a file named
// conformance_test.go in its package), the real ones and the fakes of hosted APIs alike, and an engine is done
// when it passes. The base backend.Engine parts always run; the parts of volumes, setups, workspaces,
// checkpoints and stop run when the capabilities the engine declares say it offers them. Reading Run's
// subtests is the quickest way to learn what an engine must do.
//
// The suite runs these commands, which a fake that does not start a real shell must recognise:
//
//	echo hello
//	cat                                   (echoes its stdin)
//	cat <path>
//	sh -c 'echo out; echo err >&2; exit 3'
//	sh -c 'printf "%s|%s|%s" "$SPEC_ONLY" "$REQ_ONLY" "$BOTH"'
//	sh -c 'printf made > made.txt'
//	sleep 30                              (must be killed at the request's timeout)
package enginetest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ekairos/terraform-provider-sandbox/internal/backend"
)

// Options adapts the suite to an engine.
type Options struct {
	// Runtime is put in every spec (e.g. "node22" for Vercel); "" = the engine's default.
	Runtime string
	// SpecOptions is put in every spec's Options (the engine-specific block); nil = none.
	SpecOptions map[string]any
	// ExecTimeout is the timeout of the command that must time out; default 1s.
	ExecTimeout time.Duration
	// TimeoutScale multiplies every wait of the suite (for slow engines); default 1.
	TimeoutScale float64
	// NewRecordID makes record ids; default backend.NewID.
	NewRecordID func() string
	// Serial runs the subtests one after the other instead of in parallel.
	Serial bool
	// VolumeMountPath is where a volume is mounted; "" = /mnt/et.
	VolumeMountPath string
	// VolumeByExec writes and reads a mounted volume with commands instead of the files API (for an engine
	// whose files API does not reach its mounts).
	VolumeByExec bool
	// WorkspaceOptions is put in every workspace spec's Options; nil = none.
	WorkspaceOptions map[string]any
}

func (o Options) scaled(d time.Duration) time.Duration {
	s := o.TimeoutScale
	if s <= 0 {
		s = 1
	}
	return time.Duration(float64(d) * s)
}

func (o Options) execTimeout() time.Duration {
	if o.ExecTimeout > 0 {
		return o.ExecTimeout
	}
	return time.Second
}

func (o Options) recordID() string {
	if o.NewRecordID != nil {
		return o.NewRecordID()
	}
	return backend.NewID()
}

// Run runs the conformance suite against the capabilities an engine declares (its package's Capabilities,
// to be its descriptor's): the engine must report them, and every part they name runs (volumes, setups,
// workspaces, checkpoints, stop and start, or the refusal of a stop); the parts they do not name are skipped.
// newEngine is called once per subtest, with the subtest's t, and returns an engine ready to use (e.g. over a
// t.TempDir() root, or a client of an httptest fake).
func Run(t *testing.T, declared backend.Capabilities, newEngine func(t *testing.T) backend.Engine, opts Options) {
	s := &suite{newEngine: newEngine, opts: opts, caps: declared}
	tests := []struct {
		name string
		fn   func(t *testing.T)
	}{
		{"Identity", s.testIdentity},
		{"ValidateSpec", s.testValidateSpec},
		{"CreateGetFindList", s.testCreateGetFindList},
		{"FindUnknownRecord", s.testFindUnknownRecord},
		{"ExecOutputAndExitCode", s.testExecOutputAndExitCode},
		{"ExecStdin", s.testExecStdin},
		{"ExecEnv", s.testExecEnv},
		{"ExecTimeout", s.testExecTimeout},
		{"Files", s.testFiles},
		{"FilesRefuseEscape", s.testFilesRefuseEscape},
		{"StopStart", s.testStopStart},
		{"Update", s.testUpdate},
		{"Delete", s.testDelete},
		{"Concurrent", s.testConcurrent},
		{"ListForRefresh", s.testListForRefresh},
		{"Capabilities", s.testCapabilities},
		{"NoStop", s.testNoStop},
		{"Volumes", s.testVolumes},
		{"VolumeShared", s.testVolumeShared},
		{"Setups", s.testSetups},
		{"SetupFails", s.testSetupFails},
		{"Workspaces", s.testWorkspaces},
		{"WorkspaceFromSetup", s.testWorkspaceFromSetup},
		{"Checkpoints", s.testCheckpoints},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if !opts.Serial {
				t.Parallel()
			}
			tc.fn(t)
		})
	}
}

type suite struct {
	newEngine func(t *testing.T) backend.Engine
	opts      Options
	caps      backend.Capabilities // as declared
}

func (s *suite) ctx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), s.opts.scaled(60*time.Second))
	t.Cleanup(cancel)
	return ctx
}

func (s *suite) spec(recordID string) backend.SandboxSpec {
	return backend.SandboxSpec{
		RecordID: recordID,
		Runtime:  s.opts.Runtime,
		Purpose:  "enginetest",
		Options:  s.opts.SpecOptions,
	}
}

// create makes a sandbox and deletes it when the test ends.
func (s *suite) create(t *testing.T, eng backend.Engine, spec backend.SandboxSpec) *backend.Sandbox {
	t.Helper()
	sb, err := eng.CreateSandbox(s.ctx(t), spec)
	if err != nil {
		t.Fatalf("CreateSandbox(record %s): %v", spec.RecordID, err)
	}
	if sb == nil || sb.ExternalID == "" {
		t.Fatalf("CreateSandbox(record %s) returned no external id: %+v", spec.RecordID, sb)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), s.opts.scaled(30*time.Second))
		defer cancel()
		if err := eng.DeleteSandbox(ctx, sb.ExternalID); err != nil {
			t.Errorf("cleanup: DeleteSandbox(%s): %v", sb.ExternalID, err)
		}
	})
	return sb
}

func (s *suite) need(t *testing.T, _ backend.Engine, what string) {
	t.Helper()
	s.declared(t, what)
}

func (s *suite) exec(t *testing.T, eng backend.Engine, ext string, req backend.ExecRequest) *backend.ExecResult {
	t.Helper()
	res, err := eng.Exec(s.ctx(t), ext, req)
	if err != nil {
		t.Fatalf("Exec(%q): %v", req.Argv, err)
	}
	if res == nil {
		t.Fatalf("Exec(%q) returned a nil result", req.Argv)
	}
	return res
}

func (s *suite) wantOK(t *testing.T, res *backend.ExecResult, argv []string) {
	t.Helper()
	if res.ExitCode != 0 || res.TimedOut {
		t.Fatalf("%q: exit code %d (timed out: %v), stdout %q, stderr %q", argv, res.ExitCode, res.TimedOut, res.Stdout, res.Stderr)
	}
}

func (s *suite) testIdentity(t *testing.T) {
	eng := s.newEngine(t)
	if eng.Name() == "" {
		t.Errorf("Name() is empty: it names the engine's descriptor, records' provider field and params.<engine>")
	}
	c := eng.Capabilities()
	if c.MaxPorts < 0 || c.MaxVCPUs < 0 {
		t.Errorf("Capabilities() has negative limits: %+v", c)
	}
	for _, p := range c.NetworkPolicies {
		if p != "deny_all" && p != "allow_all" && p != "allow_list" {
			t.Errorf("Capabilities().NetworkPolicies has unknown mode %q", p)
		}
	}
}

func (s *suite) testValidateSpec(t *testing.T) {
	eng := s.newEngine(t)
	good := s.spec("")
	good.Ports = []int{3000}
	if err := eng.ValidateSpec(good); err != nil {
		t.Fatalf("ValidateSpec(%+v) = %v, want nil", good, err)
	}
	for name, mutate := range map[string]func(*backend.SandboxSpec){
		"port 0":        func(sp *backend.SandboxSpec) { sp.Ports = []int{0} },
		"port 65536":    func(sp *backend.SandboxSpec) { sp.Ports = []int{65536} },
		"negative vcpu": func(sp *backend.SandboxSpec) { sp.VCPUs = -1 },
		"unknown option": func(sp *backend.SandboxSpec) {
			sp.Options = map[string]any{"no_such_option_enginetest": true}
		},
	} {
		bad := s.spec("")
		mutate(&bad)
		if err := eng.ValidateSpec(bad); err == nil {
			t.Errorf("ValidateSpec with %s = nil, want an error", name)
		}
	}
}

func (s *suite) testCreateGetFindList(t *testing.T) {
	eng := s.newEngine(t)
	id := s.opts.recordID()
	sb := s.create(t, eng, s.spec(id))
	if sb.RecordID != id {
		t.Errorf("CreateSandbox: RecordID = %q, want %q", sb.RecordID, id)
	}
	if sb.State != backend.StateRunning {
		t.Errorf("CreateSandbox: State = %q, want %q", sb.State, backend.StateRunning)
	}
	checkMetadata(t, "CreateSandbox", sb)
	ctx := s.ctx(t)

	got, err := eng.GetSandbox(ctx, sb.ExternalID)
	if err != nil {
		t.Fatalf("GetSandbox(%s): %v", sb.ExternalID, err)
	}
	if got.ExternalID != sb.ExternalID || got.RecordID != id || got.State != backend.StateRunning {
		t.Errorf("GetSandbox = %+v, want external id %s, record id %s, running", got, sb.ExternalID, id)
	}

	found, err := eng.FindSandbox(ctx, id)
	if err != nil {
		t.Fatalf("FindSandbox(%s): %v", id, err)
	}
	if found.ExternalID != sb.ExternalID || found.RecordID != id {
		t.Errorf("FindSandbox = %+v, want external id %s", found, sb.ExternalID)
	}

	list, err := eng.ListSandboxes(ctx)
	if err != nil {
		t.Fatalf("ListSandboxes: %v", err)
	}
	if !containsSandbox(list, sb.ExternalID, id) {
		t.Errorf("ListSandboxes does not list %s (record %s)", sb.ExternalID, id)
	}
}

func containsSandbox(list []*backend.Sandbox, ext, recordID string) bool {
	for _, l := range list {
		if l != nil && l.ExternalID == ext && l.RecordID == recordID {
			return true
		}
	}
	return false
}

func (s *suite) testFindUnknownRecord(t *testing.T) {
	eng := s.newEngine(t)
	_, err := eng.FindSandbox(s.ctx(t), s.opts.recordID())
	if !errors.Is(err, backend.ErrNotFound) {
		t.Fatalf("FindSandbox(unknown record) = %v, want an error wrapping backend.ErrNotFound", err)
	}
}

func (s *suite) testExecOutputAndExitCode(t *testing.T) {
	eng := s.newEngine(t)
	s.need(t, eng, "exec")
	sb := s.create(t, eng, s.spec(s.opts.recordID()))

	argv := []string{"echo", "hello"}
	res := s.exec(t, eng, sb.ExternalID, backend.ExecRequest{Argv: argv})
	s.wantOK(t, res, argv)
	if string(res.Stdout) != "hello\n" || len(res.Stderr) != 0 {
		t.Errorf("%q: stdout %q, stderr %q; want %q and nothing", argv, res.Stdout, res.Stderr, "hello\n")
	}

	argv = []string{"sh", "-c", "echo out; echo err >&2; exit 3"}
	res = s.exec(t, eng, sb.ExternalID, backend.ExecRequest{Argv: argv})
	if res.ExitCode != 3 || res.TimedOut {
		t.Errorf("%q: exit code %d (timed out %v), want 3", argv, res.ExitCode, res.TimedOut)
	}
	if string(res.Stdout) != "out\n" || string(res.Stderr) != "err\n" {
		t.Errorf("%q: stdout %q, stderr %q; want %q and %q", argv, res.Stdout, res.Stderr, "out\n", "err\n")
	}
}

func (s *suite) testExecStdin(t *testing.T) {
	eng := s.newEngine(t)
	s.need(t, eng, "exec")
	sb := s.create(t, eng, s.spec(s.opts.recordID()))
	in := []byte("line one\nline two\n")
	argv := []string{"cat"}
	res := s.exec(t, eng, sb.ExternalID, backend.ExecRequest{Argv: argv, Stdin: in})
	s.wantOK(t, res, argv)
	if !bytes.Equal(res.Stdout, in) {
		t.Errorf("cat with stdin %q: stdout %q", in, res.Stdout)
	}
}

func (s *suite) testExecEnv(t *testing.T) {
	eng := s.newEngine(t)
	s.need(t, eng, "exec")
	spec := s.spec(s.opts.recordID())
	secret := "s3cr3t-" + s.opts.recordID()
	spec.Env = map[string]string{"SPEC_ONLY": secret, "BOTH": "from-spec"}
	sb := s.create(t, eng, spec)
	checkNoSecret(t, "CreateSandbox", sb, secret)

	argv := []string{"sh", "-c", `printf "%s|%s|%s" "$SPEC_ONLY" "$REQ_ONLY" "$BOTH"`}
	res := s.exec(t, eng, sb.ExternalID, backend.ExecRequest{Argv: argv, Env: map[string]string{"REQ_ONLY": "req", "BOTH": "from-request"}})
	s.wantOK(t, res, argv)
	if want := secret + "|req|from-request"; string(res.Stdout) != want {
		t.Errorf("env: stdout %q, want %q (spec env, request env, request wins)", res.Stdout, want)
	}

	got, err := eng.GetSandbox(s.ctx(t), sb.ExternalID)
	if err != nil {
		t.Fatalf("GetSandbox: %v", err)
	}
	checkNoSecret(t, "GetSandbox", got, secret)
}

func (s *suite) testExecTimeout(t *testing.T) {
	eng := s.newEngine(t)
	s.need(t, eng, "exec")
	sb := s.create(t, eng, s.spec(s.opts.recordID()))
	timeout := s.opts.execTimeout()
	argv := []string{"sleep", "30"}
	start := time.Now()
	res := s.exec(t, eng, sb.ExternalID, backend.ExecRequest{Argv: argv, Timeout: timeout})
	took := time.Since(start)
	if !res.TimedOut {
		t.Errorf("%q with timeout %s: TimedOut = false (exit code %d)", argv, timeout, res.ExitCode)
	}
	if res.ExitCode == 0 {
		t.Errorf("%q timed out with exit code 0", argv)
	}
	if limit := timeout + s.opts.scaled(5*time.Second); took > limit {
		t.Errorf("%q with timeout %s took %s, want at most %s", argv, timeout, took, limit)
	}
	// The sandbox still runs commands after a timeout.
	res = s.exec(t, eng, sb.ExternalID, backend.ExecRequest{Argv: []string{"echo", "hello"}})
	s.wantOK(t, res, []string{"echo", "hello"})
}

func (s *suite) testFiles(t *testing.T) {
	eng := s.newEngine(t)
	s.need(t, eng, "files")
	sb := s.create(t, eng, s.spec(s.opts.recordID()))
	ctx := s.ctx(t)

	data := []byte("hello\x00binary\xff\n")
	if err := eng.WriteFile(ctx, sb.ExternalID, "notes/hello.txt", data); err != nil {
		t.Fatalf("WriteFile(notes/hello.txt): %v", err)
	}
	argv := []string{"cat", "notes/hello.txt"}
	res := s.exec(t, eng, sb.ExternalID, backend.ExecRequest{Argv: argv})
	s.wantOK(t, res, argv)
	if !bytes.Equal(res.Stdout, data) {
		t.Errorf("%q: stdout %q, want %q", argv, res.Stdout, data)
	}
	back, err := eng.ReadFile(ctx, sb.ExternalID, "notes/hello.txt")
	if err != nil {
		t.Fatalf("ReadFile(notes/hello.txt): %v", err)
	}
	if !bytes.Equal(back, data) {
		t.Errorf("ReadFile(notes/hello.txt) = %q, want %q", back, data)
	}

	// Overwrite with shorter content: nothing of the old content stays.
	if err := eng.WriteFile(ctx, sb.ExternalID, "notes/hello.txt", []byte("hi")); err != nil {
		t.Fatalf("WriteFile again: %v", err)
	}
	if back, err := eng.ReadFile(ctx, sb.ExternalID, "notes/hello.txt"); err != nil || string(back) != "hi" {
		t.Errorf("ReadFile after overwrite = %q, %v; want %q", back, err, "hi")
	}

	// A working directory relative to the home.
	argv = []string{"cat", "hello.txt"}
	res = s.exec(t, eng, sb.ExternalID, backend.ExecRequest{Argv: argv, Cwd: "notes"})
	s.wantOK(t, res, argv)
	if string(res.Stdout) != "hi" {
		t.Errorf("%q in notes: stdout %q, want %q", argv, res.Stdout, "hi")
	}

	// A file a command writes can be read back.
	argv = []string{"sh", "-c", "printf made > made.txt"}
	s.wantOK(t, s.exec(t, eng, sb.ExternalID, backend.ExecRequest{Argv: argv}), argv)
	if back, err := eng.ReadFile(ctx, sb.ExternalID, "made.txt"); err != nil || string(back) != "made" {
		t.Errorf("ReadFile(made.txt) = %q, %v; want %q", back, err, "made")
	}

	if _, err := eng.ReadFile(ctx, sb.ExternalID, "no/such/file"); err == nil {
		t.Errorf("ReadFile(no/such/file) = nil error")
	} else if errors.Is(err, backend.ErrNotFound) {
		t.Errorf("ReadFile(no/such/file) = %v: a missing file must not read as a missing sandbox (backend.ErrNotFound)", err)
	}
}

func (s *suite) testFilesRefuseEscape(t *testing.T) {
	eng := s.newEngine(t)
	s.need(t, eng, "files")
	sb := s.create(t, eng, s.spec(s.opts.recordID()))
	ctx := s.ctx(t)
	for _, p := range []string{"../escape.txt", "a/../../escape.txt", "../../../../../../tmp/escape.txt"} {
		if err := eng.WriteFile(ctx, sb.ExternalID, p, []byte("x")); err == nil {
			t.Errorf("WriteFile(%q) = nil, want an error", p)
		}
	}
	for _, p := range []string{"../../../../../../etc/passwd", "../" + sb.ExternalID} {
		if _, err := eng.ReadFile(ctx, sb.ExternalID, p); err == nil {
			t.Errorf("ReadFile(%q) = nil error, want an error", p)
		}
	}
	// A ".." that stays inside the home is fine.
	if err := eng.WriteFile(ctx, sb.ExternalID, "a/../inside.txt", []byte("in")); err != nil {
		t.Errorf("WriteFile(a/../inside.txt): %v", err)
	}
}

func (s *suite) testStopStart(t *testing.T) {
	eng := s.newEngine(t)
	s.need(t, eng, "stopstart")
	sb := s.create(t, eng, s.spec(s.opts.recordID()))
	ctx := s.ctx(t)
	canFiles := s.caps.Files
	if canFiles {
		if err := eng.WriteFile(ctx, sb.ExternalID, "kept.txt", []byte("kept")); err != nil {
			t.Fatalf("WriteFile: %v", err)
		}
	}

	if err := eng.StopSandbox(ctx, sb.ExternalID); err != nil {
		t.Fatalf("StopSandbox: %v", err)
	}
	got, err := eng.GetSandbox(ctx, sb.ExternalID)
	if err != nil {
		t.Fatalf("GetSandbox after stop: %v", err)
	}
	if got.State != backend.StateStopped {
		t.Errorf("state after StopSandbox = %q, want %q", got.State, backend.StateStopped)
	}
	if s.caps.Exec {
		if _, err := eng.Exec(ctx, sb.ExternalID, backend.ExecRequest{Argv: []string{"echo", "hello"}}); err == nil {
			t.Errorf("Exec in a stopped sandbox = nil error, want an error")
		}
	}
	if found, err := eng.FindSandbox(ctx, sb.RecordID); err != nil || found.State != backend.StateStopped {
		t.Errorf("FindSandbox of a stopped sandbox = %+v, %v; want it, stopped", found, err)
	}

	if err := eng.StartSandbox(ctx, sb.ExternalID); err != nil {
		t.Fatalf("StartSandbox: %v", err)
	}
	got, err = eng.GetSandbox(ctx, sb.ExternalID)
	if err != nil {
		t.Fatalf("GetSandbox after start: %v", err)
	}
	if got.State != backend.StateRunning {
		t.Errorf("state after StartSandbox = %q, want %q", got.State, backend.StateRunning)
	}
	if got.ExternalID != sb.ExternalID || got.RecordID != sb.RecordID {
		t.Errorf("StartSandbox changed the sandbox's ids: %+v", got)
	}
	if s.caps.Exec {
		argv := []string{"echo", "hello"}
		s.wantOK(t, s.exec(t, eng, sb.ExternalID, backend.ExecRequest{Argv: argv}), argv)
	}
	if canFiles {
		if b, err := eng.ReadFile(ctx, sb.ExternalID, "kept.txt"); err != nil || string(b) != "kept" {
			t.Errorf("ReadFile(kept.txt) after stop and start = %q, %v; want %q", b, err, "kept")
		}
	}
	// Stop and start are idempotent.
	if err := eng.StartSandbox(ctx, sb.ExternalID); err != nil {
		t.Errorf("StartSandbox of a running sandbox: %v", err)
	}
}

func (s *suite) testUpdate(t *testing.T) {
	eng := s.newEngine(t)
	spec := s.spec(s.opts.recordID())
	spec.Env = map[string]string{"GREETING": "before"}
	spec.Timeout = 10 * time.Minute
	sb := s.create(t, eng, spec)
	ctx := s.ctx(t)

	after := "after-" + s.opts.recordID()
	spec.Env = map[string]string{"GREETING": after}
	spec.Timeout = 20 * time.Minute
	upd, err := eng.UpdateSandbox(ctx, sb.ExternalID, spec)
	if err != nil {
		t.Fatalf("UpdateSandbox: %v", err)
	}
	if upd.ExternalID != sb.ExternalID || upd.RecordID != sb.RecordID {
		t.Errorf("UpdateSandbox = %+v, want the same sandbox %s (record %s)", upd, sb.ExternalID, sb.RecordID)
	}
	got, err := eng.GetSandbox(ctx, sb.ExternalID)
	if err != nil {
		t.Fatalf("GetSandbox after update: %v", err)
	}
	if got.State != backend.StateRunning || got.RecordID != sb.RecordID {
		t.Errorf("GetSandbox after update = %+v, want it running with record %s", got, sb.RecordID)
	}
	checkNoSecret(t, "UpdateSandbox", upd, after)
	if s.caps.Exec {
		argv := []string{"sh", "-c", `printf "%s" "$GREETING"`}
		res := s.exec(t, eng, sb.ExternalID, backend.ExecRequest{Argv: argv})
		s.wantOK(t, res, argv)
		if string(res.Stdout) != after {
			t.Errorf("env after UpdateSandbox: %q, want %q", res.Stdout, after)
		}
	}
}

func (s *suite) testDelete(t *testing.T) {
	eng := s.newEngine(t)
	id := s.opts.recordID()
	sb, err := eng.CreateSandbox(s.ctx(t), s.spec(id))
	if err != nil {
		t.Fatalf("CreateSandbox: %v", err)
	}
	ctx := s.ctx(t)
	if err := eng.DeleteSandbox(ctx, sb.ExternalID); err != nil {
		t.Fatalf("DeleteSandbox: %v", err)
	}
	if _, err := eng.GetSandbox(ctx, sb.ExternalID); !errors.Is(err, backend.ErrNotFound) {
		t.Errorf("GetSandbox after delete = %v, want an error wrapping backend.ErrNotFound", err)
	}
	if _, err := eng.FindSandbox(ctx, id); !errors.Is(err, backend.ErrNotFound) {
		t.Errorf("FindSandbox after delete = %v, want an error wrapping backend.ErrNotFound", err)
	}
	if s.caps.Exec {
		if _, err := eng.Exec(ctx, sb.ExternalID, backend.ExecRequest{Argv: []string{"echo"}}); !errors.Is(err, backend.ErrNotFound) {
			t.Errorf("Exec after delete = %v, want an error wrapping backend.ErrNotFound", err)
		}
	}
	list, err := eng.ListSandboxes(ctx)
	if err != nil {
		t.Fatalf("ListSandboxes: %v", err)
	}
	if containsSandbox(list, sb.ExternalID, id) {
		t.Errorf("ListSandboxes still lists the deleted %s", sb.ExternalID)
	}
	if err := eng.DeleteSandbox(ctx, sb.ExternalID); err != nil {
		t.Errorf("DeleteSandbox of a deleted sandbox = %v, want nil", err)
	}
}

// testConcurrent creates sandboxes from several goroutines and runs commands in one of them concurrently.
func (s *suite) testConcurrent(t *testing.T) {
	eng := s.newEngine(t)
	const n = 4
	sbs := make([]*backend.Sandbox, n)
	var wg sync.WaitGroup
	errs := make(chan error, 4*n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sb, err := eng.CreateSandbox(s.ctx(t), s.spec(s.opts.recordID()))
			if err != nil {
				errs <- fmt.Errorf("CreateSandbox #%d: %w", i, err)
				return
			}
			sbs[i] = sb
		}()
	}
	wg.Wait()
	t.Cleanup(func() {
		for _, sb := range sbs {
			if sb != nil {
				if err := eng.DeleteSandbox(context.Background(), sb.ExternalID); err != nil {
					t.Errorf("cleanup: DeleteSandbox(%s): %v", sb.ExternalID, err)
				}
			}
		}
	})
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, sb := range sbs {
		if seen[sb.ExternalID] {
			t.Fatalf("two concurrent creates returned the same external id %s", sb.ExternalID)
		}
		seen[sb.ExternalID] = true
	}
	if !s.caps.Exec {
		return
	}
	errs = make(chan error, 4*n)
	for i := range 4 * n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			word := fmt.Sprintf("word-%d", i)
			res, err := eng.Exec(s.ctx(t), sbs[0].ExternalID, backend.ExecRequest{Argv: []string{"echo", word}})
			switch {
			case err != nil:
				errs <- fmt.Errorf("concurrent Exec #%d: %w", i, err)
			case res.ExitCode != 0 || strings.TrimSpace(string(res.Stdout)) != word:
				errs <- fmt.Errorf("concurrent Exec #%d: exit %d, stdout %q, want %q", i, res.ExitCode, res.Stdout, word)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// checkMetadata checks that Metadata can go into a JSON record field.
func checkMetadata(t *testing.T, what string, sb *backend.Sandbox) {
	t.Helper()
	if _, err := json.Marshal(sb.Metadata); err != nil {
		t.Errorf("%s: Metadata cannot be encoded as JSON: %v", what, err)
	}
}

// checkNoSecret fails if an env value shows in what the engine returns for the record.
func checkNoSecret(t *testing.T, what string, sb *backend.Sandbox, secret string) {
	t.Helper()
	b, err := json.Marshal(sb)
	if err != nil {
		t.Fatalf("%s: encoding the sandbox: %v", what, err)
	}
	if bytes.Contains(b, []byte(secret)) {
		t.Errorf("%s: an env value shows in the sandbox view (%s); env may hold secrets and never goes to records", what, b)
	}
}

// testListForRefresh: an engine that serves refreshes from its list (backend.RefreshLister) lists every sandbox
// it shows exactly as GetSandbox gives it (what a plan shows must not depend on which of the two answered), a
// stopped one included, and no longer shows a deleted one.
func (s *suite) testListForRefresh(t *testing.T) {
	eng := s.newEngine(t)
	lister, ok := eng.(backend.RefreshLister)
	if !ok {
		t.Skip("the engine has no list for refreshes")
	}
	ctx := s.ctx(t)
	a := s.create(t, eng, s.spec(s.opts.recordID()))
	b := s.create(t, eng, s.spec(s.opts.recordID()))
	if s.caps.StopStart {
		if err := eng.StopSandbox(ctx, b.ExternalID); err != nil {
			t.Fatalf("StopSandbox: %v", err)
		}
	}
	listed, err := lister.ListForRefresh(ctx)
	if err != nil {
		t.Fatalf("ListForRefresh: %v", err)
	}
	for _, sb := range []*backend.Sandbox{a, b} {
		got, err := eng.GetSandbox(ctx, sb.ExternalID)
		if err != nil {
			t.Fatalf("GetSandbox: %v", err)
		}
		l, ok := listed[sb.ExternalID]
		if !ok {
			t.Errorf("ListForRefresh does not show %s (listed: %d sandboxes)", sb.ExternalID, len(listed))
			continue
		}
		if l.ExternalID != got.ExternalID || l.RecordID != got.RecordID || l.State != got.State || l.URL != got.URL ||
			fmt.Sprint(l.URLs) != fmt.Sprint(got.URLs) || fmt.Sprint(l.URLTokens) != fmt.Sprint(got.URLTokens) {
			t.Errorf("ListForRefresh gives %+v, GetSandbox %+v", l, got)
		}
	}
	if err := eng.DeleteSandbox(ctx, a.ExternalID); err != nil {
		t.Fatalf("DeleteSandbox: %v", err)
	}
	if listed, err = lister.ListForRefresh(ctx); err != nil {
		t.Fatalf("ListForRefresh after a delete: %v", err)
	}
	if _, ok := listed[a.ExternalID]; ok {
		t.Errorf("ListForRefresh still shows the deleted sandbox %s", a.ExternalID)
	}
}
