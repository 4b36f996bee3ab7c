package sweep_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ekairos/terraform-provider-sandbox/internal/backend"
	"github.com/ekairos/terraform-provider-sandbox/internal/backend/engine/local"
	"github.com/ekairos/terraform-provider-sandbox/internal/backend/lifecycletest"
	"github.com/ekairos/terraform-provider-sandbox/internal/backend/store/sqlite"
	"github.com/ekairos/terraform-provider-sandbox/internal/backend/sweep"
)

func openStore(t *testing.T) *sqlite.Store {
	t.Helper()
	st, err := sqlite.Open(filepath.Join(t.TempDir(), "records.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := st.Close(); err != nil {
			t.Error(err)
		}
	})
	return st
}

func newLocal(t *testing.T, root string) *local.Engine {
	t.Helper()
	e, err := local.New(local.Config{Root: root, Isolation: local.IsolationNone})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// deadPID returns the pid of a process that has exited.
func deadPID(t *testing.T) int {
	t.Helper()
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	return cmd.Process.Pid
}

func mustCreate(t *testing.T, lc *backend.Lifecycle, purpose string) *backend.SandboxResult {
	t.Helper()
	res, err := lc.CreateSandbox(t.Context(), backend.SandboxRequest{Backend: "local", Spec: backend.SandboxSpec{Purpose: purpose}})
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func mustUpdate(t *testing.T, st backend.Store, entity, id string, attrs backend.Attrs) {
	t.Helper()
	if _, err := st.Update(t.Context(), entity, id, attrs); err != nil {
		t.Fatal(err)
	}
}

// creatingRecord writes a creating sandbox record made age ago, owned by a provider on another host.
func creatingRecord(t *testing.T, st backend.Store, engine string, age time.Duration) string {
	t.Helper()
	id := backend.NewID()
	created := backend.NowMillis(time.Now().Add(-age))
	_, err := st.Create(t.Context(), backend.EntitySandboxes, id, backend.Attrs{
		"provider": engine, "status": backend.StatusCreating, "createdAt": created, "updatedAt": created,
		"params": map[string]any{"mine": "kept", engine: map[string]any{},
			backend.ParamsTerraform: map[string]any{"owner": map[string]any{"host": "elsewhere", "pid": 1}, "configHash": "x"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func status(t *testing.T, st backend.Store, entity, id string) string {
	t.Helper()
	r, err := st.Get(t.Context(), entity, id)
	if err != nil {
		t.Fatal(err)
	}
	return r.String("status")
}

func listIDs(t *testing.T, e backend.Engine) []string {
	t.Helper()
	sbs, err := e.ListSandboxes(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, sb := range sbs {
		ids = append(ids, sb.RecordID)
	}
	sort.Strings(ids)
	return ids
}

// actionable maps record id -> problem of the actionable findings.
func actionable(rep *sweep.Report) map[string]string {
	out := map[string]string{}
	for _, f := range rep.Actionable() {
		out[f.RecordID] = f.Problem
	}
	return out
}

func run(t *testing.T, st backend.Store, engines backend.EngineMap, opts sweep.Options) *sweep.Report {
	t.Helper()
	rep, err := sweep.Sweep(t.Context(), st, engines, opts)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := rep.WriteTable(&buf); err != nil {
		t.Fatal(err)
	}
	t.Logf("sweep (apply=%v):\n%s", opts.Apply, buf.String())
	return rep
}

// TestSweepLocal covers both orphan directions on SQLite and the local engine: engine objects whose record is
// missing, shutdown or error, abandoned creating records with and without an object (by age and by a dead
// owner), an active record whose object is gone, and a running process record of a gone sandbox; a dry run
// changes nothing, -apply removes exactly those, and leaves a healthy sandbox and a young create alone.
func TestSweepLocal(t *testing.T) {
	ctx := t.Context()
	st := openStore(t)
	eng := newLocal(t, t.TempDir())
	engines := backend.EngineMap{"local": eng}
	lc := &backend.Lifecycle{Store: st, Engines: engines}

	good := mustCreate(t, lc, "good").ID()

	orphan := backend.NewID() // an engine object without any record
	if _, err := eng.CreateSandbox(ctx, backend.SandboxSpec{RecordID: orphan}); err != nil {
		t.Fatal(err)
	}
	shut := mustCreate(t, lc, "shut").ID()
	mustUpdate(t, st, backend.EntitySandboxes, shut, backend.Attrs{"status": backend.StatusShutdown})
	failed := mustCreate(t, lc, "failed").ID()
	mustUpdate(t, st, backend.EntitySandboxes, failed, backend.Attrs{"status": backend.StatusError,
		"params": map[string]any{backend.ParamsError: "boom"}})

	staleNoObject := creatingRecord(t, st, "local", time.Hour)
	staleObject := creatingRecord(t, st, "local", time.Hour)
	if _, err := eng.CreateSandbox(ctx, backend.SandboxSpec{RecordID: staleObject}); err != nil {
		t.Fatal(err)
	}
	young := creatingRecord(t, st, "local", time.Second)
	deadOwner, err := lifecycletest.SimulateInterruptedCreate(ctx, lc, backend.SandboxRequest{Backend: "local", Spec: backend.SandboxSpec{Purpose: "killed"}}, deadPID(t))
	if err != nil {
		t.Fatal(err)
	}
	gone := mustCreate(t, lc, "gone")
	if err := eng.DeleteSandbox(ctx, gone.Sandbox.ExternalID); err != nil {
		t.Fatal(err)
	}
	proc := backend.NewID()
	if _, err := st.Create(ctx, backend.EntityProcesses, proc, backend.Attrs{"sandboxId": shut, "status": backend.ProcessRunning,
		"provider": "local", "command": "sleep", "startedAt": backend.NowMillis(time.Now())}); err != nil {
		t.Fatal(err)
	}
	sweptProc := backend.NewID() // a run in a sandbox that this sweep closes
	if _, err := st.Create(ctx, backend.EntityProcesses, sweptProc, backend.Attrs{"sandboxId": failed, "status": backend.ProcessRunning,
		"provider": "local", "command": "sleep", "startedAt": backend.NowMillis(time.Now())}); err != nil {
		t.Fatal(err)
	}
	liveProc := backend.NewID()
	if _, err := st.Create(ctx, backend.EntityProcesses, liveProc, backend.Attrs{"sandboxId": good, "status": backend.ProcessRunning,
		"provider": "local", "command": "sleep", "startedAt": backend.NowMillis(time.Now())}); err != nil {
		t.Fatal(err)
	}

	want := map[string]string{
		orphan:        sweep.ProblemNoRecord,
		shut:          sweep.ProblemShutdown,
		failed:        sweep.ProblemError,
		staleNoObject: sweep.ProblemStale,
		staleObject:   sweep.ProblemStale,
		deadOwner:     sweep.ProblemStale,
		gone.ID():     sweep.ProblemGone,
		proc:          sweep.ProblemProcess,
		sweptProc:     sweep.ProblemProcess,
	}
	objectsBefore := listIDs(t, eng)

	// Dry run: everything is reported, nothing changes.
	rep := run(t, st, engines, sweep.Options{DeleteUnattributed: true})
	if got := actionable(rep); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("dry run found\n%v\nwant\n%v", got, want)
	}
	if rep.Clean() {
		t.Error("dry run says clean")
	}
	for _, f := range rep.Findings {
		if f.Applied {
			t.Errorf("dry run applied %+v", f)
		}
	}
	if got := listIDs(t, eng); fmt.Sprint(got) != fmt.Sprint(objectsBefore) {
		t.Errorf("dry run changed the engine: %v -> %v", objectsBefore, got)
	}
	for id, st0 := range map[string]string{failed: backend.StatusError, staleNoObject: backend.StatusCreating,
		staleObject: backend.StatusCreating, deadOwner: backend.StatusCreating, gone.ID(): backend.StatusActive} {
		if s := status(t, st, backend.EntitySandboxes, id); s != st0 {
			t.Errorf("dry run changed record %s: %s, want %s", id, s, st0)
		}
	}
	if s := status(t, st, backend.EntityProcesses, proc); s != backend.ProcessRunning {
		t.Errorf("dry run changed the process record: %s", s)
	}
	inProgress := false
	for _, f := range rep.Findings {
		if f.RecordID == young && f.Problem == sweep.ProblemInProgress && !f.Actionable() {
			inProgress = true
		}
	}
	if !inProgress {
		t.Error("the young creating record is not reported as in progress")
	}

	// With the owner check off, the young record of a dead owner is in progress too.
	rep = run(t, st, engines, sweep.Options{DeleteUnattributed: true, IgnoreOwners: true})
	if _, ok := actionable(rep)[deadOwner]; ok {
		t.Error("IgnoreOwners: the dead owner's young record is still swept")
	}

	// Apply.
	rep = run(t, st, engines, sweep.Options{DeleteUnattributed: true, Apply: true})
	if got := actionable(rep); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("apply found\n%v\nwant\n%v", got, want)
	}
	if err := rep.Err(); err != nil {
		t.Fatal(err)
	}
	for _, f := range rep.Actionable() {
		if !f.Applied {
			t.Errorf("not applied: %+v", f)
		}
	}
	if got := listIDs(t, eng); fmt.Sprint(got) != fmt.Sprint([]string{good}) {
		t.Errorf("engine objects after apply: %v, want only %s", got, good)
	}
	for _, id := range []string{failed, staleNoObject, staleObject, deadOwner, gone.ID(), shut} {
		if s := status(t, st, backend.EntitySandboxes, id); s != backend.StatusShutdown {
			t.Errorf("record %s is %s after apply, want shutdown", id, s)
		}
	}
	for _, id := range []string{staleNoObject, staleObject, deadOwner} {
		r, err := st.Get(ctx, backend.EntitySandboxes, id)
		if err != nil {
			t.Fatal(err)
		}
		p := r.JSONMap("params")
		if p[backend.ParamsError] != sweep.SweptError {
			t.Errorf("record %s params.error = %v, want %q", id, p[backend.ParamsError], sweep.SweptError)
		}
		if _, ok := r.Int("shutdownAt"); !ok {
			t.Errorf("record %s has no shutdownAt", id)
		}
		if id != deadOwner && p["mine"] != "kept" {
			t.Errorf("record %s lost the caller's params: %v", id, p)
		}
	}
	if r, _ := st.Get(ctx, backend.EntitySandboxes, failed); r.JSONMap("params")[backend.ParamsError] != "boom" {
		t.Errorf("the error record's own error was overwritten: %v", r.JSONMap("params"))
	}
	for id, want := range map[string]string{good: backend.StatusActive, young: backend.StatusCreating} {
		if s := status(t, st, backend.EntitySandboxes, id); s != want {
			t.Errorf("record %s is %s after apply, want %s (left alone)", id, s, want)
		}
	}
	if s := status(t, st, backend.EntityProcesses, proc); s != backend.ProcessLost {
		t.Errorf("process record is %s after apply, want lost", s)
	}
	if s := status(t, st, backend.EntityProcesses, liveProc); s != backend.ProcessRunning {
		t.Errorf("the live sandbox's process record is %s after apply, want running", s)
	}

	// Nothing is left to do.
	rep = run(t, st, engines, sweep.Options{DeleteUnattributed: true})
	if !rep.Clean() {
		t.Errorf("second sweep is not clean: %v", actionable(rep))
	}
}

// TestManaged: with the record ids of the Terraform state, an active sandbox that no state names (an apply
// killed after the create but before the state was saved) is removed; the managed one stays.
func TestManaged(t *testing.T) {
	st := openStore(t)
	eng := newLocal(t, t.TempDir())
	engines := backend.EngineMap{"local": eng}
	lc := &backend.Lifecycle{Store: st, Engines: engines}
	kept := mustCreate(t, lc, "kept").ID()
	lost := mustCreate(t, lc, "lost").ID()

	if rep := run(t, st, engines, sweep.Options{DeleteUnattributed: true}); !rep.Clean() {
		t.Fatalf("without Managed the unmanaged sandbox is not swept: %v", actionable(rep))
	}
	rep := run(t, st, engines, sweep.Options{DeleteUnattributed: true, Apply: true, Managed: map[string]bool{kept: true}})
	if got := actionable(rep); len(got) != 1 || got[lost] != sweep.ProblemUnmanaged {
		t.Errorf("found %v, want %s unmanaged", got, lost)
	}
	if got := listIDs(t, eng); fmt.Sprint(got) != fmt.Sprint([]string{kept}) {
		t.Errorf("engine objects: %v, want %s", got, kept)
	}
	if s := status(t, st, backend.EntitySandboxes, lost); s != backend.StatusShutdown {
		t.Errorf("unmanaged record is %s", s)
	}
}

// TestScopedSweep: two configurations share one store and one engine. A sweep given configuration A's empty
// state (what a killed first apply leaves) removes A's unmanaged sandbox and leaves B's, which B's state holds,
// reporting them as another configuration's; a record without a scope and an object without a record are
// reported, never removed.
func TestScopedSweep(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	eng := newLocal(t, t.TempDir())
	engines := backend.EngineMap{"local": eng}
	a := &backend.Lifecycle{Store: st, Engines: engines, Scope: "/work/a#default"}
	b := &backend.Lifecycle{Store: st, Engines: engines, Scope: "/work/b#default"}
	legacy := &backend.Lifecycle{Store: st, Engines: engines}
	aLost := mustCreate(t, a, "a").ID()
	bKept := []string{mustCreate(t, b, "b1").ID(), mustCreate(t, b, "b2").ID()}
	noScope := mustCreate(t, legacy, "legacy").ID()
	orphan := mustCreate(t, a, "orphan").ID()
	if err := st.Delete(ctx, backend.EntitySandboxes, orphan); err != nil {
		t.Fatal(err)
	}
	rep := run(t, st, engines, sweep.Options{Apply: true, Managed: map[string]bool{}, Scopes: map[string]bool{"/work/a#default": true}})
	if got := actionable(rep); len(got) != 1 || got[aLost] != sweep.ProblemUnmanaged {
		t.Fatalf("scoped sweep acted on %v; want only %s (A's, unmanaged)", got, aLost)
	}
	reported := map[string]string{}
	for _, f := range rep.Findings {
		if !f.Actionable() {
			reported[f.RecordID] = f.Problem
		}
	}
	for id, want := range map[string]string{bKept[0]: sweep.ProblemOtherScope, bKept[1]: sweep.ProblemOtherScope,
		noScope: sweep.ProblemUnattributed, orphan: sweep.ProblemUnattributed} {
		if reported[id] != want {
			t.Errorf("%s reported as %q, want %q", id, reported[id], want)
		}
	}
	want := append([]string{noScope, orphan}, bKept...)
	sort.Strings(want)
	if got := listIDs(t, eng); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("engine objects after the scoped sweep: %v, want %v", got, want)
	}
	for _, id := range append([]string{noScope}, bKept...) {
		if s := status(t, st, backend.EntitySandboxes, id); s != backend.StatusActive {
			t.Errorf("record %s is %s after the scoped sweep, want active", id, s)
		}
	}
	// Unscoped, without -unattributed, the object without a record is still only reported.
	rep = run(t, st, engines, sweep.Options{Apply: true})
	if got := actionable(rep); len(got) != 0 {
		t.Errorf("an unscoped sweep acted on %v", got)
	}
	if got := listIDs(t, eng); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("engine objects after an unscoped sweep: %v, want %v", got, want)
	}
	// A volume of B's whose record is shutdown: a sweep scoped to A leaves it, one scoped to B removes it. (Local
	// volumes need bubblewrap.)
	if _, err := exec.LookPath("bwrap"); err != nil {
		t.Skip("no bwrap: the volume part needs it")
	}
	veng, err := local.New(local.Config{Root: t.TempDir(), Isolation: local.IsolationBwrap})
	if err != nil {
		t.Fatal(err)
	}
	vengines := backend.EngineMap{"local": veng}
	vrec, err := st.Create(ctx, backend.EntityVolumes, backend.NewID(), backend.Attrs{"name": "b-vol", "provider": "local",
		"status": backend.StatusShutdown, "params": map[string]any{backend.ParamsTerraform: map[string]any{backend.BookScope: "/work/b#default"}}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := veng.CreateVolume(ctx, backend.VolumeSpec{RecordID: vrec.ID, Name: "b-vol"}); err != nil {
		t.Fatal(err)
	}
	rep = run(t, st, vengines, sweep.Options{Apply: true, Scopes: map[string]bool{"/work/a#default": true}})
	for _, f := range rep.Findings {
		if f.RecordID == vrec.ID && (f.Actionable() || f.Problem != sweep.ProblemOtherScope) {
			t.Errorf("B's volume in a sweep scoped to A: %+v", f)
		}
	}
	if vols, _ := veng.ListVolumes(ctx); len(vols) != 1 {
		t.Fatalf("a sweep scoped to A removed B's volume (%d left)", len(vols))
	}
	rep = run(t, st, vengines, sweep.Options{Apply: true, Scopes: map[string]bool{"/work/b#default": true}})
	if got := actionable(rep); got[vrec.ID] != sweep.ProblemShutdown {
		t.Errorf("a sweep scoped to B found %v; want B's shutdown volume", got)
	}
	if vols, _ := veng.ListVolumes(ctx); len(vols) != 0 {
		t.Fatalf("a sweep scoped to B left B's volume")
	}
}

// TestOtherRoot: a sweep given another local root must not close records whose objects live elsewhere.
func TestOtherRoot(t *testing.T) {
	st := openStore(t)
	real := newLocal(t, t.TempDir())
	lc := &backend.Lifecycle{Store: st, Engines: backend.EngineMap{"local": real}}
	id := mustCreate(t, lc, "elsewhere").ID()
	wrong := backend.EngineMap{"local": newLocal(t, t.TempDir())}
	rep := run(t, st, wrong, sweep.Options{DeleteUnattributed: true, Apply: true})
	if !rep.Clean() {
		t.Errorf("sweep with the wrong root acted: %v", actionable(rep))
	}
	if s := status(t, st, backend.EntitySandboxes, id); s != backend.StatusActive {
		t.Errorf("record is %s, want active", s)
	}
}

// scriptEngine is an in-memory engine with volumes and workspaces whose listing can fail.
type scriptEngine struct {
	mu         sync.Mutex
	name       string
	sandboxes  map[string]*backend.Sandbox
	volumes    map[string]*backend.Volume
	workspaces map[string]*backend.Workspace
	listErr    error
	deleteErr  error
	inUse      map[string]bool
}

func newScript(name string) *scriptEngine {
	return &scriptEngine{name: name, sandboxes: map[string]*backend.Sandbox{}, volumes: map[string]*backend.Volume{},
		workspaces: map[string]*backend.Workspace{}, inUse: map[string]bool{}}
}

var (
	_ backend.VolumeEngine    = (*scriptEngine)(nil)
	_ backend.WorkspaceEngine = (*scriptEngine)(nil)
)

func (e *scriptEngine) Name() string { return e.name }
func (e *scriptEngine) Capabilities() backend.Capabilities {
	return backend.Capabilities{Volumes: true, Workspaces: true}
}
func (e *scriptEngine) ValidateSpec(backend.SandboxSpec) error { return nil }
func (e *scriptEngine) CreateSandbox(_ context.Context, spec backend.SandboxSpec) (*backend.Sandbox, error) {
	return e.add("s-"+spec.RecordID, spec.RecordID), nil
}

func (e *scriptEngine) add(ext, recordID string) *backend.Sandbox {
	e.mu.Lock()
	defer e.mu.Unlock()
	sb := &backend.Sandbox{ExternalID: ext, RecordID: recordID, State: backend.StateRunning}
	e.sandboxes[ext] = sb
	c := *sb
	return &c
}

func (e *scriptEngine) GetSandbox(_ context.Context, ext string) (*backend.Sandbox, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	sb, ok := e.sandboxes[ext]
	if !ok {
		return nil, fmt.Errorf("%s: %w", ext, backend.ErrNotFound)
	}
	c := *sb
	return &c, nil
}

func (e *scriptEngine) FindSandbox(_ context.Context, id string) (*backend.Sandbox, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, sb := range e.sandboxes {
		if sb.RecordID == id {
			c := *sb
			return &c, nil
		}
	}
	return nil, fmt.Errorf("record %s: %w", id, backend.ErrNotFound)
}

func (e *scriptEngine) ListSandboxes(context.Context) ([]*backend.Sandbox, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.listErr != nil {
		return nil, e.listErr
	}
	var out []*backend.Sandbox
	for _, sb := range e.sandboxes {
		c := *sb
		out = append(out, &c)
	}
	return out, nil
}

func (e *scriptEngine) UpdateSandbox(ctx context.Context, ext string, _ backend.SandboxSpec) (*backend.Sandbox, error) {
	return e.GetSandbox(ctx, ext)
}
func (e *scriptEngine) StartSandbox(context.Context, string) error { return nil }
func (e *scriptEngine) StopSandbox(context.Context, string) error  { return nil }
func (e *scriptEngine) DeleteSandbox(_ context.Context, ext string) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.deleteErr != nil {
		return e.deleteErr
	}
	delete(e.sandboxes, ext)
	return nil
}
func (e *scriptEngine) Exec(context.Context, string, backend.ExecRequest) (*backend.ExecResult, error) {
	return nil, errors.New("no exec")
}
func (e *scriptEngine) WriteFile(context.Context, string, string, []byte) error {
	return errors.New("no files")
}
func (e *scriptEngine) ReadFile(context.Context, string, string) ([]byte, error) {
	return nil, errors.New("no files")
}

func (e *scriptEngine) CreateVolume(_ context.Context, spec backend.VolumeSpec) (*backend.Volume, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	v := &backend.Volume{ExternalID: "v-" + spec.RecordID, RecordID: spec.RecordID, Name: spec.Name, State: "ready"}
	e.volumes[v.ExternalID] = v
	return v, nil
}
func (e *scriptEngine) GetVolume(_ context.Context, ext string) (*backend.Volume, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if v, ok := e.volumes[ext]; ok {
		return v, nil
	}
	return nil, backend.ErrNotFound
}
func (e *scriptEngine) FindVolume(ctx context.Context, id string) (*backend.Volume, error) {
	return e.GetVolume(ctx, "v-"+id)
}
func (e *scriptEngine) ListVolumes(context.Context) ([]*backend.Volume, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []*backend.Volume
	for _, v := range e.volumes {
		out = append(out, v)
	}
	return out, nil
}
func (e *scriptEngine) DeleteVolume(_ context.Context, ext string) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.inUse[ext] {
		return fmt.Errorf("volume %s: %w", ext, backend.ErrInUse)
	}
	delete(e.volumes, ext)
	return nil
}

func (e *scriptEngine) CreateWorkspace(_ context.Context, spec backend.WorkspaceSpec) (*backend.Workspace, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	w := &backend.Workspace{ExternalID: "w-" + spec.RecordID, RecordID: spec.RecordID, Name: spec.Name, State: "active"}
	e.workspaces[w.ExternalID] = w
	return w, nil
}
func (e *scriptEngine) GetWorkspace(_ context.Context, ext string) (*backend.Workspace, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if w, ok := e.workspaces[ext]; ok {
		return w, nil
	}
	return nil, backend.ErrNotFound
}
func (e *scriptEngine) FindWorkspace(ctx context.Context, id string) (*backend.Workspace, error) {
	return e.GetWorkspace(ctx, "w-"+id)
}
func (e *scriptEngine) ListWorkspaces(context.Context) ([]*backend.Workspace, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []*backend.Workspace
	for _, w := range e.workspaces {
		out = append(out, w)
	}
	return out, nil
}
func (e *scriptEngine) UpdateWorkspace(ctx context.Context, ext string, _ backend.WorkspaceSpec) (*backend.Workspace, error) {
	return e.GetWorkspace(ctx, ext)
}
func (e *scriptEngine) DeleteWorkspace(_ context.Context, ext string) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	delete(e.workspaces, ext)
	return nil
}
func (e *scriptEngine) ExecWorkspace(context.Context, string, backend.ExecRequest) (*backend.ExecResult, error) {
	return nil, errors.New("no exec")
}

// TestScriptedEngine: a second engine next to the local one; duplicates, volumes and workspaces; a failed
// listing leaves that engine's records alone; a failed delete never closes the record.
func TestScriptedEngine(t *testing.T) {
	ctx := t.Context()
	st := openStore(t)
	sc := newScript("script")
	loc := newLocal(t, t.TempDir())
	engines := backend.EngineMap{"script": sc, "local": loc}
	lc := &backend.Lifecycle{Store: st, Engines: engines}

	res, err := lc.CreateSandbox(ctx, backend.SandboxRequest{Backend: "script"})
	if err != nil {
		t.Fatal(err)
	}
	dup := sc.add("s-duplicate", res.ID()) // a second object labelled with an active record's id
	stale := creatingRecord(t, st, "script", time.Hour)
	noEngine := creatingRecord(t, st, "daytona", time.Hour)

	volOrphan, _ := sc.CreateVolume(ctx, backend.VolumeSpec{RecordID: backend.NewID()})
	volInUse, _ := sc.CreateVolume(ctx, backend.VolumeSpec{RecordID: backend.NewID()})
	sc.inUse[volInUse.ExternalID] = true
	volKept := backend.NewID()
	if _, err := st.Create(ctx, backend.EntityVolumes, volKept, backend.Attrs{"provider": "script", "status": "active"}); err != nil {
		t.Fatal(err)
	}
	if _, err := sc.CreateVolume(ctx, backend.VolumeSpec{RecordID: volKept}); err != nil {
		t.Fatal(err)
	}
	volErr, volStale := backend.NewID(), backend.NewID()
	old := backend.NowMillis(time.Now().Add(-time.Hour))
	for id, st0 := range map[string]string{volErr: backend.StatusError, volStale: backend.StatusCreating} {
		if _, err := st.Create(ctx, backend.EntityVolumes, id, backend.Attrs{"provider": "script", "status": st0, "createdAt": old}); err != nil {
			t.Fatal(err)
		}
		if _, err := sc.CreateVolume(ctx, backend.VolumeSpec{RecordID: id}); err != nil {
			t.Fatal(err)
		}
	}
	wsErr := backend.NewID()
	if _, err := st.Create(ctx, backend.EntityWorkspaces, wsErr, backend.Attrs{"provider": "script", "status": backend.WorkspaceArchived}); err != nil {
		t.Fatal(err)
	}
	if _, err := sc.CreateWorkspace(ctx, backend.WorkspaceSpec{RecordID: wsErr}); err != nil {
		t.Fatal(err)
	}
	wsKept := backend.NewID()
	if _, err := st.Create(ctx, backend.EntityWorkspaces, wsKept, backend.Attrs{"provider": "script", "status": backend.WorkspaceInactive}); err != nil {
		t.Fatal(err)
	}
	if _, err := sc.CreateWorkspace(ctx, backend.WorkspaceSpec{RecordID: wsKept}); err != nil {
		t.Fatal(err)
	}

	// A failed listing: nothing of that engine is decided.
	sc.listErr = errors.New("engine down")
	rep := run(t, st, engines, sweep.Options{DeleteUnattributed: true})
	if rep.Err() == nil || !strings.Contains(rep.Err().Error(), "engine down") {
		t.Errorf("the listing error is not reported: %v", rep.Err())
	}
	if p, ok := actionable(rep)[stale]; ok {
		t.Errorf("the stale record of an engine that could not be listed is swept (%s)", p)
	}
	sc.listErr = nil

	// A failed delete: the record stays.
	sc.deleteErr = errors.New("delete refused")
	failedRun := run(t, st, engines, sweep.Options{DeleteUnattributed: true, Apply: true})
	if failedRun.Err() == nil {
		t.Error("the delete error is not reported")
	}
	if _, err := sc.GetSandbox(ctx, dup.ExternalID); err != nil {
		t.Errorf("the duplicate is gone though its delete failed: %v", err)
	}
	sc.deleteErr = nil

	rep = run(t, st, engines, sweep.Options{DeleteUnattributed: true, Apply: true})
	if err := rep.Err(); err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, f := range append(failedRun.Findings, rep.Findings...) {
		key := f.Kind + " " + f.RecordID
		if f.ExternalID == dup.ExternalID {
			key = "duplicate"
		}
		got[key] = f.Problem
	}
	want := map[string]string{
		"duplicate":                    sweep.ProblemDuplicate,
		"sandbox " + stale:             sweep.ProblemStale,
		"sandbox " + noEngine:          sweep.ProblemNoEngine,
		"volume " + volOrphan.RecordID: sweep.ProblemNoRecord,
		"volume " + volInUse.RecordID:  sweep.ProblemInUse,
		"workspace " + wsErr:           sweep.ProblemArchived,
		"volume " + volErr:             sweep.ProblemError,
		"volume " + volStale:           sweep.ProblemStale,
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("findings\n%v\nwant\n%v", got, want)
	}
	if _, err := sc.GetSandbox(ctx, res.Sandbox.ExternalID); err != nil {
		t.Errorf("the record's own object was deleted: %v", err)
	}
	if _, err := sc.GetSandbox(ctx, dup.ExternalID); !errors.Is(err, backend.ErrNotFound) {
		t.Errorf("the duplicate is still there: %v", err)
	}
	vols, _ := sc.ListVolumes(ctx)
	ws, _ := sc.ListWorkspaces(ctx)
	if len(vols) != 2 || len(ws) != 1 {
		t.Errorf("%d volumes (want the kept and the in-use one), %d workspaces (want the inactive one)", len(vols), len(ws))
	}
	for _, id := range []string{volErr, volStale} {
		if s := status(t, st, backend.EntityVolumes, id); s != backend.StatusShutdown {
			t.Errorf("volume record %s is %s, want shutdown", id, s)
		}
	}
	if s := status(t, st, backend.EntitySandboxes, noEngine); s != backend.StatusCreating {
		t.Errorf("a record of an engine sweep does not have was closed: %s", s)
	}
}

// TestForTests: the test sweeper removes leftovers and names them as leaks; afterwards it is quiet.
func TestForTests(t *testing.T) {
	st := openStore(t)
	eng := newLocal(t, t.TempDir())
	engines := backend.EngineMap{"local": eng}
	young := creatingRecord(t, st, "local", 0)
	if _, err := eng.CreateSandbox(t.Context(), backend.SandboxSpec{RecordID: young}); err != nil {
		t.Fatal(err)
	}
	err := sweep.ForTests(t.Context(), st, engines)
	if err == nil || !strings.Contains(err.Error(), young) {
		t.Errorf("ForTests = %v, want a leak naming %s", err, young)
	}
	if got := listIDs(t, eng); len(got) != 0 {
		t.Errorf("objects left: %v", got)
	}
	if err := sweep.ForTests(t.Context(), st, engines); err != nil {
		t.Errorf("second ForTests: %v", err)
	}
	sweeper := sweep.Sweeper(func(context.Context) (backend.Store, backend.EngineMap, error) {
		s, err := sqlite.Open(filepath.Join(t.TempDir(), "other.db"))
		return s, engines, err
	})
	if err := sweeper("any-region"); err != nil {
		t.Errorf("Sweeper: %v", err)
	}
}

// TestWriteTable pins the table's header and verdict lines.
func TestWriteTable(t *testing.T) {
	rep := &sweep.Report{Listed: map[string]int{"local sandboxes": 2}, Records: map[string]int{"active": 1},
		Findings: []sweep.Finding{{Kind: sweep.KindSandbox, Engine: "local", RecordID: "r1", ExternalID: "local-r1",
			Problem: sweep.ProblemNoRecord, Action: sweep.ActionDelete}}}
	var buf bytes.Buffer
	if err := rep.WriteTable(&buf); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	for _, want := range []string{"KIND", "PROBLEM", "local-r1", "(missing)", "dry run", "listed: 2 local sandboxes", "run again with -apply"} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
	rep.Applied = true
	rep.Findings[0].Applied = true
	buf.Reset()
	if err := rep.WriteTable(&buf); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), "swept: 1 finding(s) removed") || !strings.Contains(buf.String(), "done") {
		t.Errorf("applied table:\n%s", buf.String())
	}
}

// TestLocalVolumesAndWorkspaces: when the local engine has volumes and workspaces, sweep removes those whose
// record is missing and leaves the ones with a live record.
func TestLocalVolumesAndWorkspaces(t *testing.T) {
	ctx := t.Context()
	st := openStore(t)
	bw, err := local.New(local.Config{Root: t.TempDir()})
	if errors.Is(err, local.ErrBwrapNotInstalled) {
		t.Skip("local volumes need bubblewrap")
	}
	if err != nil {
		t.Fatal(err)
	}
	var eng backend.Engine = bw
	ve, hasVolumes := eng.(backend.VolumeEngine)
	we, hasWorkspaces := eng.(backend.WorkspaceEngine)
	if !hasVolumes && !hasWorkspaces {
		t.Skip("the local engine has neither volumes nor workspaces")
	}
	engines := backend.EngineMap{"local": eng}
	var orphans, kept []string
	if hasVolumes {
		v, err := ve.CreateVolume(ctx, backend.VolumeSpec{RecordID: backend.NewID(), Name: "orphan"})
		if err != nil {
			t.Fatalf("CreateVolume: %v", err)
		}
		orphans = append(orphans, v.RecordID)
		live := backend.NewID()
		if _, err := st.Create(ctx, backend.EntityVolumes, live, backend.Attrs{"provider": "local", "status": backend.StatusActive}); err != nil {
			t.Fatal(err)
		}
		if _, err := ve.CreateVolume(ctx, backend.VolumeSpec{RecordID: live, Name: "kept"}); err != nil {
			t.Fatal(err)
		}
		kept = append(kept, live)
	}
	if hasWorkspaces {
		w, err := we.CreateWorkspace(ctx, backend.WorkspaceSpec{RecordID: backend.NewID(), Name: "orphan"})
		if err != nil {
			t.Fatalf("CreateWorkspace: %v", err)
		}
		orphans = append(orphans, w.RecordID)
	}
	rep := run(t, st, engines, sweep.Options{DeleteUnattributed: true, Apply: true})
	if err := rep.Err(); err != nil {
		t.Fatal(err)
	}
	got := actionable(rep)
	for _, id := range orphans {
		if got[id] != sweep.ProblemNoRecord {
			t.Errorf("orphan %s: %q, want %q", id, got[id], sweep.ProblemNoRecord)
		}
	}
	for _, id := range kept {
		if _, ok := got[id]; ok {
			t.Errorf("the volume of live record %s was swept", id)
		}
	}
	if hasVolumes {
		vols, err := ve.ListVolumes(ctx)
		if err != nil || len(vols) != len(kept) {
			t.Errorf("volumes after sweep: %d, %v; want %d", len(vols), err, len(kept))
		}
	}
	if hasWorkspaces {
		if ws, err := we.ListWorkspaces(ctx); err != nil || len(ws) != 0 {
			t.Errorf("workspaces after sweep: %d, %v; want 0", len(ws), err)
		}
	}
}
