package enginetest

import (
	"context"
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ekairos/terraform-provider-sandbox/internal/backend"
)

// The parts beyond the base Engine: each runs when the declared capabilities say the engine offers it, and
// then the engine must implement the part's interface (backend.VolumeEngine, SetupEngine, WorkspaceEngine,
// WorkspaceCheckpointer). The commands they run are the suite's (see the package documentation) plus:
//
//	sh -c 'printf made > made.txt'        (in a workspace and in a setup builder)
//	sh -c 'printf shared > /mnt/et/shared.txt'   cat /mnt/et/shared.txt   (with Options.VolumeByExec)
//	sh -c 'printf one > state.txt'        sh -c 'printf two > state.txt'
//	cat made.txt                          cat state.txt

// declared reads the declared capabilities of a part.
func (s *suite) declared(t *testing.T, what string) {
	t.Helper()
	c := s.caps
	ok := map[string]bool{
		"exec": c.Exec, "files": c.Files && c.Exec, "stopstart": c.StopStart, "nostop": !c.StopStart,
		"volumes": c.Volumes, "setups": c.Setups, "workspaces": c.Workspaces, "checkpoints": c.Workspaces && c.WorkspaceCheckpoints,
	}[what]
	if !ok {
		t.Skipf("the engine does not declare %s", what)
	}
}

// testCapabilities: the engine says what it was declared to do (so that plan-time refusals made from the
// declaration and what the engine does agree), and it implements the interface of every part it declares.
func (s *suite) testCapabilities(t *testing.T) {
	eng := s.newEngine(t)
	if got := eng.Capabilities(); !reflect.DeepEqual(got, s.caps) {
		t.Errorf("Capabilities() = %+v, declared %+v", got, s.caps)
	}
	if _, ok := eng.(backend.VolumeEngine); s.caps.Volumes && !ok {
		t.Errorf("declares Volumes but does not implement backend.VolumeEngine")
	}
	if _, ok := eng.(backend.SetupEngine); s.caps.Setups && !ok {
		t.Errorf("declares Setups but does not implement backend.SetupEngine")
	}
	if _, ok := eng.(backend.WorkspaceEngine); s.caps.Workspaces && !ok {
		t.Errorf("declares Workspaces but does not implement backend.WorkspaceEngine")
	}
	if _, ok := eng.(backend.WorkspaceCheckpointer); s.caps.WorkspaceCheckpoints && !ok {
		t.Errorf("declares WorkspaceCheckpoints but does not implement backend.WorkspaceCheckpointer")
	}
	if !s.caps.StopStart && s.caps.NoStop == "" {
		t.Errorf("cannot stop but says nothing of what it does instead (Capabilities.NoStop)")
	}
}

// testNoStop: an engine that cannot stop refuses a stop with an error, and the sandbox still runs.
func (s *suite) testNoStop(t *testing.T) {
	s.declared(t, "nostop")
	eng := s.newEngine(t)
	sb := s.create(t, eng, s.spec(s.opts.recordID()))
	ctx := s.ctx(t)
	if err := eng.StopSandbox(ctx, sb.ExternalID); err == nil {
		t.Errorf("StopSandbox on an engine that cannot stop = nil error")
	}
	if s.caps.Exec {
		argv := []string{"echo", "hello"}
		s.wantOK(t, s.exec(t, eng, sb.ExternalID, backend.ExecRequest{Argv: argv}), argv)
	}
}

// ---- volumes ----

func (s *suite) volumes(t *testing.T) (backend.Engine, backend.VolumeEngine) {
	t.Helper()
	s.declared(t, "volumes")
	eng := s.newEngine(t)
	ve, ok := eng.(backend.VolumeEngine)
	if !ok {
		t.Fatalf("declares Volumes but does not implement backend.VolumeEngine")
	}
	return eng, ve
}

func (s *suite) createVolume(t *testing.T, ve backend.VolumeEngine, recordID string) *backend.Volume {
	t.Helper()
	v, err := ve.CreateVolume(s.ctx(t), backend.VolumeSpec{RecordID: recordID, Name: "et-" + shortID(recordID)})
	if err != nil {
		t.Fatalf("CreateVolume(record %s): %v", recordID, err)
	}
	if v == nil || v.ExternalID == "" {
		t.Fatalf("CreateVolume returned no external id: %+v", v)
	}
	s.removeAtEnd(t, "DeleteVolume", v.ExternalID, ve.DeleteVolume)
	return v
}

// testVolumes: a volume is made ready, labelled with its record, found by it, listed, and gone after its
// delete (a second delete is no error).
func (s *suite) testVolumes(t *testing.T) {
	_, ve := s.volumes(t)
	ctx := s.ctx(t)
	id := s.opts.recordID()
	v := s.createVolume(t, ve, id)
	if v.RecordID != id {
		t.Errorf("CreateVolume: RecordID = %q, want %q", v.RecordID, id)
	}
	got, err := ve.GetVolume(ctx, v.ExternalID)
	if err != nil || got.ExternalID != v.ExternalID || got.RecordID != id {
		t.Errorf("GetVolume = %+v, %v; want the volume of record %s", got, err, id)
	}
	found, err := ve.FindVolume(ctx, id)
	if err != nil || found.ExternalID != v.ExternalID {
		t.Errorf("FindVolume(%s) = %+v, %v; want %s", id, found, err, v.ExternalID)
	}
	if _, err := ve.FindVolume(ctx, s.opts.recordID()); !errors.Is(err, backend.ErrNotFound) {
		t.Errorf("FindVolume of an unknown record = %v, want backend.ErrNotFound", err)
	}
	list, err := ve.ListVolumes(ctx)
	if err != nil {
		t.Fatalf("ListVolumes: %v", err)
	}
	if !slices.ContainsFunc(list, func(x *backend.Volume) bool { return x.ExternalID == v.ExternalID && x.RecordID == id }) {
		t.Errorf("ListVolumes does not list %s (record %s)", v.ExternalID, id)
	}
	if err := ve.DeleteVolume(ctx, v.ExternalID); err != nil {
		t.Fatalf("DeleteVolume: %v", err)
	}
	if _, err := ve.GetVolume(ctx, v.ExternalID); !errors.Is(err, backend.ErrNotFound) {
		t.Errorf("GetVolume after delete = %v, want backend.ErrNotFound", err)
	}
	if _, err := ve.FindVolume(ctx, id); !errors.Is(err, backend.ErrNotFound) {
		t.Errorf("FindVolume after delete = %v, want backend.ErrNotFound", err)
	}
	if err := ve.DeleteVolume(ctx, v.ExternalID); err != nil && !errors.Is(err, backend.ErrNotFound) {
		t.Errorf("DeleteVolume of a deleted volume = %v, want nil", err)
	}
}

// testVolumeShared: what one sandbox writes to a mounted volume another sandbox reads, and a volume that a
// sandbox still mounts is not deleted (ErrInUse).
func (s *suite) testVolumeShared(t *testing.T) {
	eng, ve := s.volumes(t)
	s.declared(t, "exec")
	if !s.opts.VolumeByExec {
		s.declared(t, "files")
	}
	ctx := s.ctx(t)
	v := s.createVolume(t, ve, s.opts.recordID())
	mount := s.opts.VolumeMountPath
	if mount == "" {
		mount = "/mnt/et"
	}
	mountSpec := func() backend.SandboxSpec {
		spec := s.spec(s.opts.recordID())
		spec.Volumes = []backend.VolumeMount{{VolumeID: v.RecordID, ExternalID: v.ExternalID, MountPath: mount}}
		return spec
	}
	a := s.create(t, eng, mountSpec())
	b := s.create(t, eng, mountSpec())
	if s.opts.VolumeByExec {
		argv := []string{"sh", "-c", "printf shared > " + mount + "/shared.txt"}
		s.wantOK(t, s.exec(t, eng, a.ExternalID, backend.ExecRequest{Argv: argv}), argv)
		argv = []string{"cat", mount + "/shared.txt"}
		res := s.exec(t, eng, b.ExternalID, backend.ExecRequest{Argv: argv})
		s.wantOK(t, res, argv)
		if string(res.Stdout) != "shared" {
			t.Errorf("a second sandbox reads the volume's shared.txt = %q, want %q", res.Stdout, "shared")
		}
	} else {
		if err := eng.WriteFile(ctx, a.ExternalID, mount+"/shared.txt", []byte("shared")); err != nil {
			t.Fatalf("WriteFile on the volume: %v", err)
		}
		if got, err := eng.ReadFile(ctx, b.ExternalID, mount+"/shared.txt"); err != nil || string(got) != "shared" {
			t.Errorf("ReadFile of the volume from a second sandbox = %q, %v; want %q", got, err, "shared")
		}
	}
	if err := ve.DeleteVolume(ctx, v.ExternalID); !errors.Is(err, backend.ErrInUse) {
		t.Errorf("DeleteVolume of a mounted volume = %v, want backend.ErrInUse", err)
	}
}

// ---- setups ----

func (s *suite) setups(t *testing.T) (backend.Engine, backend.SetupEngine) {
	t.Helper()
	s.declared(t, "setups")
	s.declared(t, "exec")
	eng := s.newEngine(t)
	se, ok := eng.(backend.SetupEngine)
	if !ok {
		t.Fatalf("declares Setups but does not implement backend.SetupEngine")
	}
	return eng, se
}

// setupSpec is a setup that writes made.txt in its home.
func (s *suite) setupSpec(recordID string, argv ...string) backend.SetupSpec {
	if len(argv) == 0 {
		argv = []string{"sh", "-c", "printf made > made.txt"}
	}
	return backend.SetupSpec{RecordID: recordID, Fingerprint: "et" + shortID(s.opts.recordID()), Argv: argv,
		Runtime: s.opts.Runtime, Timeout: s.opts.scaled(2 * time.Minute), Options: s.opts.SpecOptions}
}

func (s *suite) buildSetup(t *testing.T, se backend.SetupEngine, spec backend.SetupSpec) *backend.SetupArtifact {
	t.Helper()
	art, res, err := se.BuildSetup(s.ctx(t), spec)
	if err != nil {
		t.Fatalf("BuildSetup: %v (result %+v)", err, res)
	}
	if art == nil || art.ExternalID == "" {
		t.Fatalf("BuildSetup returned no artifact id: %+v", art)
	}
	s.removeAtEnd(t, "DeleteSetup", art.ExternalID, se.DeleteSetup)
	return art
}

// testSetups: a setup is built once and found by its fingerprint; a sandbox made from it starts with what
// the setup command wrote; after its delete it is gone (a second delete is no error).
func (s *suite) testSetups(t *testing.T) {
	eng, se := s.setups(t)
	ctx := s.ctx(t)
	spec := s.setupSpec(s.opts.recordID())
	if _, err := se.FindSetup(ctx, spec.Fingerprint); !errors.Is(err, backend.ErrNotFound) {
		t.Fatalf("FindSetup before the build = %v, want backend.ErrNotFound", err)
	}
	art := s.buildSetup(t, se, spec)
	if art.Fingerprint != spec.Fingerprint {
		t.Errorf("BuildSetup: Fingerprint = %q, want %q", art.Fingerprint, spec.Fingerprint)
	}
	found, err := se.FindSetup(ctx, spec.Fingerprint)
	if err != nil || found.ExternalID != art.ExternalID {
		t.Errorf("FindSetup(%s) = %+v, %v; want %s", spec.Fingerprint, found, err, art.ExternalID)
	}
	if got, err := se.GetSetup(ctx, art.ExternalID); err != nil || got.ExternalID != art.ExternalID {
		t.Errorf("GetSetup = %+v, %v", got, err)
	}
	sbSpec := s.spec(s.opts.recordID())
	sbSpec.Setup = art.ExternalID
	sb := s.create(t, eng, sbSpec)
	argv := []string{"cat", "made.txt"}
	res := s.exec(t, eng, sb.ExternalID, backend.ExecRequest{Argv: argv})
	s.wantOK(t, res, argv)
	if string(res.Stdout) != "made" {
		t.Errorf("a sandbox from the setup reads made.txt = %q, want %q", res.Stdout, "made")
	}
	if err := se.DeleteSetup(ctx, art.ExternalID); err != nil {
		t.Fatalf("DeleteSetup: %v", err)
	}
	if _, err := se.GetSetup(ctx, art.ExternalID); !errors.Is(err, backend.ErrNotFound) {
		t.Errorf("GetSetup after delete = %v, want backend.ErrNotFound", err)
	}
	if _, err := se.FindSetup(ctx, spec.Fingerprint); !errors.Is(err, backend.ErrNotFound) {
		t.Errorf("FindSetup after delete = %v, want backend.ErrNotFound", err)
	}
	if err := se.DeleteSetup(ctx, art.ExternalID); err != nil && !errors.Is(err, backend.ErrNotFound) {
		t.Errorf("DeleteSetup of a deleted setup = %v, want nil", err)
	}
}

// testSetupFails: a setup command that exits non-zero keeps nothing and says so with ErrSetupFailed and the
// command's result.
func (s *suite) testSetupFails(t *testing.T) {
	_, se := s.setups(t)
	ctx := s.ctx(t)
	spec := s.setupSpec(s.opts.recordID(), "sh", "-c", "echo out; echo err >&2; exit 3")
	art, res, err := se.BuildSetup(ctx, spec)
	if art != nil {
		t.Cleanup(func() { _ = se.DeleteSetup(context.Background(), art.ExternalID) })
	}
	if !errors.Is(err, backend.ErrSetupFailed) {
		t.Fatalf("BuildSetup of a failing command = %+v, %v; want an error wrapping backend.ErrSetupFailed", art, err)
	}
	if res == nil || res.ExitCode != 3 || !strings.Contains(string(res.Stderr)+string(res.Stdout), "err") {
		t.Errorf("BuildSetup result = %+v, want exit code 3 with the command's output", res)
	}
	if found, err := se.FindSetup(ctx, spec.Fingerprint); !errors.Is(err, backend.ErrNotFound) {
		t.Errorf("FindSetup after a failed build = %+v, %v; want backend.ErrNotFound", found, err)
	}
}

// ---- workspaces ----

func (s *suite) workspaces(t *testing.T) (backend.Engine, backend.WorkspaceEngine) {
	t.Helper()
	s.declared(t, "workspaces")
	eng := s.newEngine(t)
	we, ok := eng.(backend.WorkspaceEngine)
	if !ok {
		t.Fatalf("declares Workspaces but does not implement backend.WorkspaceEngine")
	}
	return eng, we
}

func (s *suite) createWorkspace(t *testing.T, we backend.WorkspaceEngine, spec backend.WorkspaceSpec) *backend.Workspace {
	t.Helper()
	w, err := we.CreateWorkspace(s.ctx(t), spec)
	if err != nil {
		t.Fatalf("CreateWorkspace(record %s): %v", spec.RecordID, err)
	}
	if w == nil || w.ExternalID == "" {
		t.Fatalf("CreateWorkspace returned no external id: %+v", w)
	}
	s.removeAtEnd(t, "DeleteWorkspace", w.ExternalID, we.DeleteWorkspace)
	return w
}

func (s *suite) workspaceSpec(recordID string) backend.WorkspaceSpec {
	return backend.WorkspaceSpec{RecordID: recordID, Name: "et-" + shortID(recordID), Options: s.opts.WorkspaceOptions}
}

func (s *suite) execWorkspace(t *testing.T, we backend.WorkspaceEngine, ext string, argv ...string) string {
	t.Helper()
	res, err := we.ExecWorkspace(s.ctx(t), ext, backend.ExecRequest{Argv: argv})
	if err != nil {
		t.Fatalf("ExecWorkspace(%q): %v", argv, err)
	}
	s.wantOK(t, res, argv)
	return string(res.Stdout)
}

// testWorkspaces: a workspace is labelled with its record, found by it, listed; what a command writes in it
// persists to the next command; an in-place update keeps its files; after its delete it is gone.
func (s *suite) testWorkspaces(t *testing.T) {
	_, we := s.workspaces(t)
	ctx := s.ctx(t)
	id := s.opts.recordID()
	spec := s.workspaceSpec(id)
	w := s.createWorkspace(t, we, spec)
	if w.RecordID != id {
		t.Errorf("CreateWorkspace: RecordID = %q, want %q", w.RecordID, id)
	}
	if got, err := we.GetWorkspace(ctx, w.ExternalID); err != nil || got.ExternalID != w.ExternalID || got.RecordID != id {
		t.Errorf("GetWorkspace = %+v, %v; want the workspace of record %s", got, err, id)
	}
	if found, err := we.FindWorkspace(ctx, id); err != nil || found.ExternalID != w.ExternalID {
		t.Errorf("FindWorkspace(%s) = %+v, %v; want %s", id, found, err, w.ExternalID)
	}
	if _, err := we.FindWorkspace(ctx, s.opts.recordID()); !errors.Is(err, backend.ErrNotFound) {
		t.Errorf("FindWorkspace of an unknown record = %v, want backend.ErrNotFound", err)
	}
	list, err := we.ListWorkspaces(ctx)
	if err != nil {
		t.Fatalf("ListWorkspaces: %v", err)
	}
	if !slices.ContainsFunc(list, func(x *backend.Workspace) bool { return x.ExternalID == w.ExternalID && x.RecordID == id }) {
		t.Errorf("ListWorkspaces does not list %s (record %s)", w.ExternalID, id)
	}
	if s.caps.Exec {
		s.execWorkspace(t, we, w.ExternalID, "sh", "-c", "printf made > made.txt")
		if out := s.execWorkspace(t, we, w.ExternalID, "cat", "made.txt"); out != "made" {
			t.Errorf("a second command in the workspace reads made.txt = %q, want %q", out, "made")
		}
	}
	spec.Timeout = 10 * time.Minute
	if _, err := we.UpdateWorkspace(ctx, w.ExternalID, spec); err != nil {
		t.Fatalf("UpdateWorkspace (timeout): %v", err)
	}
	if s.caps.Exec {
		if out := s.execWorkspace(t, we, w.ExternalID, "cat", "made.txt"); out != "made" {
			t.Errorf("after an in-place update the workspace reads made.txt = %q, want %q", out, "made")
		}
	}
	if err := we.DeleteWorkspace(ctx, w.ExternalID); err != nil {
		t.Fatalf("DeleteWorkspace: %v", err)
	}
	if _, err := we.GetWorkspace(ctx, w.ExternalID); !errors.Is(err, backend.ErrNotFound) {
		t.Errorf("GetWorkspace after delete = %v, want backend.ErrNotFound", err)
	}
	if _, err := we.FindWorkspace(ctx, id); !errors.Is(err, backend.ErrNotFound) {
		t.Errorf("FindWorkspace after delete = %v, want backend.ErrNotFound", err)
	}
	if err := we.DeleteWorkspace(ctx, w.ExternalID); err != nil && !errors.Is(err, backend.ErrNotFound) {
		t.Errorf("DeleteWorkspace of a deleted workspace = %v, want nil", err)
	}
}

// testWorkspaceFromSetup: a workspace made from a setup starts with what the setup command wrote.
func (s *suite) testWorkspaceFromSetup(t *testing.T) {
	s.declared(t, "setups")
	s.declared(t, "exec")
	eng, we := s.workspaces(t)
	se, ok := eng.(backend.SetupEngine)
	if !ok {
		t.Fatalf("declares Setups but does not implement backend.SetupEngine")
	}
	art := s.buildSetup(t, se, s.setupSpec(s.opts.recordID()))
	spec := s.workspaceSpec(s.opts.recordID())
	spec.Setup = art.ExternalID
	w := s.createWorkspace(t, we, spec)
	if out := s.execWorkspace(t, we, w.ExternalID, "cat", "made.txt"); out != "made" {
		t.Errorf("a workspace from the setup reads made.txt = %q, want %q", out, "made")
	}
}

// ---- checkpoints ----

// testCheckpoints: a checkpoint keeps the workspace's files as they were; a restore brings them back and
// keeps the workspace; the workspace lists its checkpoints; an unknown checkpoint is ErrNotFound.
func (s *suite) testCheckpoints(t *testing.T) {
	s.declared(t, "checkpoints")
	s.declared(t, "exec")
	eng, we := s.workspaces(t)
	wc, ok := eng.(backend.WorkspaceCheckpointer)
	if !ok {
		t.Fatalf("declares WorkspaceCheckpoints but does not implement backend.WorkspaceCheckpointer")
	}
	ctx := s.ctx(t)
	w := s.createWorkspace(t, we, s.workspaceSpec(s.opts.recordID()))
	s.execWorkspace(t, we, w.ExternalID, "sh", "-c", "printf one > state.txt")
	cp, err := wc.CheckpointWorkspace(ctx, w.ExternalID, "enginetest")
	if err != nil || cp == "" {
		t.Fatalf("CheckpointWorkspace = %q, %v", cp, err)
	}
	s.execWorkspace(t, we, w.ExternalID, "sh", "-c", "printf two > state.txt")
	if got, err := we.GetWorkspace(ctx, w.ExternalID); err != nil || !slices.Contains(got.Checkpoints, cp) {
		t.Errorf("GetWorkspace after a checkpoint = %+v, %v; want its checkpoints to list %s", got, err, cp)
	}
	if err := wc.RestoreWorkspace(ctx, w.ExternalID, cp); err != nil {
		t.Fatalf("RestoreWorkspace(%s): %v", cp, err)
	}
	if out := s.execWorkspace(t, we, w.ExternalID, "cat", "state.txt"); out != "one" {
		t.Errorf("after the restore state.txt = %q, want %q", out, "one")
	}
	if got, err := we.GetWorkspace(ctx, w.ExternalID); err != nil || got.ExternalID != w.ExternalID {
		t.Errorf("GetWorkspace after the restore = %+v, %v; want the same workspace", got, err)
	}
	if err := wc.RestoreWorkspace(ctx, w.ExternalID, "no-such-checkpoint"); !errors.Is(err, backend.ErrNotFound) {
		t.Errorf("RestoreWorkspace to an unknown checkpoint = %v, want backend.ErrNotFound", err)
	}
}

// removeAtEnd removes an object the test made when it ends (a missing one is fine).
func (s *suite) removeAtEnd(t *testing.T, what, id string, remove func(ctx context.Context, id string) error) {
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), s.opts.scaled(60*time.Second))
		defer cancel()
		if err := remove(ctx, id); err != nil && !errors.Is(err, backend.ErrNotFound) {
			t.Errorf("cleanup: %s(%s): %v", what, id, err)
		}
	})
}

// shortID is a record id's last 12 characters, for names that engines bound.
func shortID(id string) string {
	id = strings.ReplaceAll(id, "-", "")
	if len(id) > 12 {
		id = id[len(id)-12:]
	}
	return strings.ToLower(id)
}
