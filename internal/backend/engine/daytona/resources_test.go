package daytona

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ekairos/terraform-provider-sandbox/internal/backend"
)

func TestVolumes(t *testing.T) {
	f := newFake(t)
	e := newEngine(t, f)
	ctx := ctxFor(t, 30*time.Second)
	rid := backend.NewID()
	v, err := e.CreateVolume(ctx, backend.VolumeSpec{RecordID: rid, Name: "data set/1"})
	if err != nil {
		t.Fatalf("CreateVolume: %v", err)
	}
	if v.State != "ready" || v.RecordID != rid || v.Name != "data-set-1-ekairos-vol-"+rid {
		t.Errorf("CreateVolume = %+v; want it ready (waited), named after the record", v)
	}
	if f.VolumeState(v.ExternalID) != "ready" {
		t.Errorf("the fake says %s", f.VolumeState(v.ExternalID))
	}
	if found, err := e.FindVolume(ctx, rid); err != nil || found.ExternalID != v.ExternalID {
		t.Errorf("FindVolume = %+v, %v", found, err)
	}
	if list, err := e.ListVolumes(ctx); err != nil || len(list) != 1 {
		t.Errorf("ListVolumes = %v, %v", list, err)
	}
	// Create again for the same record (an apply retried after a lost answer): the same volume.
	again, err := e.CreateVolume(ctx, backend.VolumeSpec{RecordID: rid, Name: "data set/1"})
	if err != nil || again.ExternalID != v.ExternalID {
		t.Errorf("CreateVolume again = %+v, %v; want the same volume", again, err)
	}

	// Two sandboxes mount it: what one writes, the other reads.
	mnt := []backend.VolumeMount{{VolumeID: rid, ExternalID: v.ExternalID, MountPath: "/home/daytona/data"}}
	a := mustCreate(t, e, backend.SandboxSpec{Volumes: mnt})
	if err := e.WriteFile(ctx, a.ExternalID, "data/shared.txt", []byte("on the volume")); err != nil {
		t.Fatal(err)
	}
	b := mustCreate(t, e, backend.SandboxSpec{Volumes: mnt})
	res, err := e.Exec(ctx, b.ExternalID, backend.ExecRequest{Argv: []string{"cat", "shared.txt"}, Cwd: "/home/daytona/data"})
	if err != nil || string(res.Stdout) != "on the volume" {
		t.Errorf("the second sandbox reads %v, %v", res, err)
	}

	// In use: 409, wrapped as ErrInUse with the API's message.
	err = e.DeleteVolume(ctx, v.ExternalID)
	if !errors.Is(err, backend.ErrInUse) || !strings.Contains(err.Error(), "in use by one or more sandboxes") {
		t.Fatalf("DeleteVolume of a mounted volume = %v; want ErrInUse with Daytona's message", err)
	}
	for _, sb := range []*backend.Sandbox{a, b} {
		if err := e.DeleteSandbox(ctx, sb.ExternalID); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.DeleteVolume(ctx, v.ExternalID); err != nil {
		t.Fatalf("DeleteVolume once unmounted: %v", err)
	}
	// Deleted volumes stay readable by id on Daytona; the engine says they are gone.
	if f.VolumeState(v.ExternalID) != "deleted" {
		t.Errorf("the fake says %q, want deleted", f.VolumeState(v.ExternalID))
	}
	if _, err := e.GetVolume(ctx, v.ExternalID); !errors.Is(err, backend.ErrNotFound) {
		t.Errorf("GetVolume of a deleted volume = %v, want ErrNotFound", err)
	}
	if _, err := e.FindVolume(ctx, rid); !errors.Is(err, backend.ErrNotFound) {
		t.Errorf("FindVolume of a deleted volume = %v, want ErrNotFound", err)
	}
	if err := e.DeleteVolume(ctx, v.ExternalID); err != nil {
		t.Errorf("DeleteVolume of a deleted volume = %v, want nil", err)
	}
}

func TestVolumeNotReadyIsWaitedBeforeMount(t *testing.T) {
	f := newFake(t)
	e := newEngine(t, f)
	ctx := ctxFor(t, 30*time.Second)
	// Made behind the engine's back, not waited: the sandbox create waits for it.
	var v volumeDTO
	if err := e.c.do(ctx, request{method: "POST", path: "/volumes", body: map[string]string{"name": "raw"}, idempotent: true, out: &v}); err != nil {
		t.Fatal(err)
	}
	if v.State == volReady {
		t.Fatalf("the fake made a volume ready at once")
	}
	mustCreate(t, e, backend.SandboxSpec{Volumes: []backend.VolumeMount{{VolumeID: "r", ExternalID: v.ID, MountPath: "/mnt/raw"}}})
}

func TestSetupBuiltOnceAndReused(t *testing.T) {
	f := newFake(t)
	e := newEngine(t, f)
	ctx := ctxFor(t, 30*time.Second)
	fp := strings.Repeat("ab", 32)
	if _, err := e.FindSetup(ctx, fp); !errors.Is(err, backend.ErrNotFound) {
		t.Fatalf("FindSetup before any build = %v, want ErrNotFound", err)
	}
	spec := backend.SetupSpec{RecordID: backend.NewID(), Fingerprint: fp, Env: map[string]string{"TOKEN": "setup-secret-1"},
		Argv: []string{"sh", "-c", `mkdir -p tools && printf built > tools/marker && printf "%s" "$TOKEN" | wc -c`}}
	art, res, err := e.BuildSetup(ctx, spec)
	if err != nil {
		t.Fatalf("BuildSetup: %v", err)
	}
	if res == nil || res.ExitCode != 0 || strings.TrimSpace(string(res.Stdout)) != "14" {
		t.Errorf("setup result %+v; the command must see its env", res)
	}
	if art.State != "ready" || art.Fingerprint != fp || art.Metadata["snapshotName"] != SnapshotName(fp) {
		t.Errorf("artifact %+v", art)
	}
	if n := f.SnapshotBuilds(); n != 1 {
		t.Errorf("%d snapshot builds, want 1", n)
	}
	// The builder is gone.
	list, err := e.listSandboxes(ctx, map[string]string{LabelKind: KindSetupBuilder})
	if err != nil || len(list) != 0 {
		t.Errorf("builder sandboxes left: %d, %v", len(list), err)
	}

	// Another record with the same definition finds it: no second build.
	found, err := e.FindSetup(ctx, fp)
	if err != nil || found.ExternalID != art.ExternalID {
		t.Fatalf("FindSetup = %+v, %v", found, err)
	}
	again, _, err := e.BuildSetup(ctx, backend.SetupSpec{RecordID: backend.NewID(), Fingerprint: fp, Argv: []string{"false"}})
	if err != nil || again.ExternalID != art.ExternalID {
		t.Errorf("BuildSetup of an already built fingerprint = %+v, %v; want the existing artifact", again, err)
	}
	if n := f.SnapshotBuilds(); n != 1 {
		t.Errorf("%d snapshot builds after reuse, want 1", n)
	}

	// Sandboxes and workspaces start from it.
	sb := mustCreate(t, e, backend.SandboxSpec{Setup: art.ExternalID})
	r, err := e.Exec(ctx, sb.ExternalID, backend.ExecRequest{Argv: []string{"cat", "tools/marker"}})
	if err != nil || string(r.Stdout) != "built" {
		t.Errorf("a sandbox from the setup reads %v, %v", r, err)
	}
	if err := e.ValidateSpec(backend.SandboxSpec{Setup: art.ExternalID, Options: map[string]any{"image": "python:3.12"}}); err == nil {
		t.Errorf("ValidateSpec with a setup and an image = nil")
	}

	// Deleted behind the engine's back: GetSetup says gone.
	if g, err := e.GetSetup(ctx, art.ExternalID); err != nil || g.State != "ready" {
		t.Errorf("GetSetup = %+v, %v", g, err)
	}
	if !f.DeleteSnapshotOutOfBand(art.ExternalID) {
		t.Fatal("the fake did not find the snapshot")
	}
	if _, err := e.GetSetup(ctx, art.ExternalID); !errors.Is(err, backend.ErrNotFound) {
		t.Errorf("GetSetup of a deleted snapshot = %v, want ErrNotFound", err)
	}
	if err := e.DeleteSetup(ctx, art.ExternalID); err != nil {
		t.Errorf("DeleteSetup of a deleted snapshot = %v, want nil", err)
	}
}

func TestSetupFailureKeepsNothing(t *testing.T) {
	f := newFake(t)
	e := newEngine(t, f)
	ctx := ctxFor(t, 30*time.Second)
	before := f.Snapshots()
	_, res, err := e.BuildSetup(ctx, backend.SetupSpec{RecordID: backend.NewID(), Fingerprint: "fp-fail",
		Argv: []string{"sh", "-c", "echo trying; echo broken >&2; exit 7"}})
	if !errors.Is(err, backend.ErrSetupFailed) {
		t.Fatalf("BuildSetup of a failing command = %v, want ErrSetupFailed", err)
	}
	if res == nil || res.ExitCode != 7 || string(res.Stdout) != "trying\n" || string(res.Stderr) != "broken\n" {
		t.Errorf("result %+v", res)
	}
	if after := f.Snapshots(); !slices.Equal(before, after) {
		t.Errorf("snapshots %v after a failed setup, want %v", after, before)
	}
	if list, _ := e.listSandboxes(ctx, map[string]string{LabelKind: KindSetupBuilder}); len(list) != 0 {
		t.Errorf("builder left behind")
	}
	if _, err := e.FindSetup(ctx, "fp-fail"); !errors.Is(err, backend.ErrNotFound) {
		t.Errorf("FindSetup after a failure = %v", err)
	}
	// A setup that times out fails the same way.
	_, res, err = e.BuildSetup(ctx, backend.SetupSpec{RecordID: backend.NewID(), Fingerprint: "fp-slow",
		Argv: []string{"sleep", "30"}, Timeout: time.Second})
	if !errors.Is(err, backend.ErrSetupFailed) || res == nil || !res.TimedOut {
		t.Errorf("BuildSetup of a command past its timeout = %+v, %v", res, err)
	}
}

func TestWorkspaceFilesPersist(t *testing.T) {
	f := newFake(t)
	e := newEngine(t, f)
	ctx := ctxFor(t, 30*time.Second)
	art, _, err := e.BuildSetup(ctx, backend.SetupSpec{RecordID: backend.NewID(), Fingerprint: "ws-setup",
		Argv: []string{"sh", "-c", "printf from-setup > setup.txt"}})
	if err != nil {
		t.Fatal(err)
	}
	rid := backend.NewID()
	ws, err := e.CreateWorkspace(ctx, backend.WorkspaceSpec{RecordID: rid, Name: "agent", Setup: art.ExternalID,
		Env: map[string]string{"WS_SECRET": "ws-secret-value"}, Ports: []int{3000}})
	if err != nil {
		t.Fatalf("CreateWorkspace: %v", err)
	}
	t.Cleanup(func() { _ = e.DeleteWorkspace(context.Background(), ws.ExternalID) })
	if ws.State != backend.WorkspaceActive || ws.RecordID != rid {
		t.Errorf("workspace %+v", ws)
	}
	run := func(argv ...string) string {
		t.Helper()
		res, err := e.ExecWorkspace(ctx, ws.ExternalID, backend.ExecRequest{Argv: argv})
		if err != nil || res.ExitCode != 0 {
			t.Fatalf("ExecWorkspace(%q) = %+v, %v", argv, res, err)
		}
		return string(res.Stdout)
	}
	run("sh", "-c", "printf one > notes.txt")
	// The setup's files are where the workspace's commands run (as on Vercel and Sprites), not only in $HOME.
	if got := run("sh", "-c", `cat notes.txt; printf "|%s|" "$WS_SECRET"; cat setup.txt`); got != "one|ws-secret-value|from-setup" {
		t.Errorf("second exec sees %q", got)
	}
	// Stopped (auto-stop): ExecWorkspace starts it again and the files are there.
	sbID, _ := ws.Metadata["sandboxId"].(string)
	if err := e.StopSandbox(ctx, sbID); err != nil {
		t.Fatal(err)
	}
	if g, err := e.GetWorkspace(ctx, ws.ExternalID); err != nil || g.State != backend.WorkspaceInactive || g.Name != "agent" {
		t.Errorf("GetWorkspace of a stopped workspace = %+v, %v", g, err)
	}
	if got := run("cat", "notes.txt"); got != "one" {
		t.Errorf("after stop and start: %q", got)
	}
	// The sandbox deleted behind the provider's back: the files on the volume survive; an update re-creates it.
	if !f.DeleteSandboxOutOfBand(sbID) {
		t.Fatal("the fake did not find the workspace sandbox")
	}
	if _, err := e.ExecWorkspace(ctx, ws.ExternalID, backend.ExecRequest{Argv: []string{"true"}}); err == nil || !strings.Contains(err.Error(), "deleted outside Terraform") {
		t.Errorf("ExecWorkspace without its sandbox = %v", err)
	}
	if _, err := e.UpdateWorkspace(ctx, ws.ExternalID, backend.WorkspaceSpec{RecordID: rid, Setup: art.ExternalID}); err != nil {
		t.Fatalf("UpdateWorkspace re-creating the sandbox: %v", err)
	}
	if got := run("cat", "notes.txt"); got != "one" {
		t.Errorf("after re-creation: %q", got)
	}
	if found, err := e.FindWorkspace(ctx, rid); err != nil || found.ExternalID != ws.ExternalID {
		t.Errorf("FindWorkspace = %+v, %v", found, err)
	}
	if list, err := e.ListWorkspaces(ctx); err != nil || len(list) != 1 {
		t.Errorf("ListWorkspaces = %v, %v", list, err)
	}
	// A sandbox whose spec names the workspace works on the same files.
	sb := mustCreate(t, e, backend.SandboxSpec{Workspace: ws.ExternalID})
	res, err := e.Exec(ctx, sb.ExternalID, backend.ExecRequest{Argv: []string{"cat", "notes.txt"}, Cwd: WorkspaceMountPath})
	if err != nil || string(res.Stdout) != "one" {
		t.Errorf("a sandbox on the workspace reads %v, %v", res, err)
	}
	if err := e.DeleteSandbox(ctx, sb.ExternalID); err != nil {
		t.Fatal(err)
	}
	if err := e.DeleteWorkspace(ctx, ws.ExternalID); err != nil {
		t.Fatalf("DeleteWorkspace: %v", err)
	}
	if _, err := e.GetWorkspace(ctx, ws.ExternalID); !errors.Is(err, backend.ErrNotFound) {
		t.Errorf("GetWorkspace after delete = %v", err)
	}
	if err := e.DeleteWorkspace(ctx, ws.ExternalID); err != nil {
		t.Errorf("DeleteWorkspace again = %v", err)
	}
}
