package vercel

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/ekairos/terraform-provider-sandbox/internal/backend"
	"github.com/ekairos/terraform-provider-sandbox/internal/backend/engine/vercel/vercelfake"
)

func TestWorkspaceResumeRunStop(t *testing.T) {
	f := startFake(t, vercelfake.Config{})
	e := newTestEngine(t, f)
	ctx := ctxFor(t, 30*time.Second)
	art, _, err := e.BuildSetup(ctx, backend.SetupSpec{Fingerprint: "fp-ws", Runtime: "node24", Argv: []string{"sh", "-c", "echo from-setup > setup.txt"}})
	if err != nil {
		t.Fatal(err)
	}
	id := backend.NewID()
	ws, err := e.CreateWorkspace(ctx, backend.WorkspaceSpec{
		RecordID: id, Name: "agent-main", Setup: art.ExternalID, Ports: []int{3000},
		Env:    map[string]string{"WS_SECRET": "ws-secret-value"},
		Policy: &backend.NetworkPolicy{Mode: backend.PolicyAllowList, Hosts: []string{"example.com"}},
	})
	if err != nil {
		t.Fatalf("CreateWorkspace: %v", err)
	}
	t.Cleanup(func() {
		if err := e.DeleteWorkspace(context.Background(), ws.ExternalID); err != nil {
			t.Errorf("cleanup: %v", err)
		}
	})
	if ws.ExternalID != "wks-"+id || ws.RecordID != id || ws.Name != "agent-main" || ws.State != "active" {
		t.Errorf("workspace = %+v", ws)
	}
	if st := f.SandboxStatus(ws.ExternalID); st != "stopped" {
		t.Errorf("a new workspace is %s, want stopped (it does not run between commands)", st)
	}
	if ws.Metadata["snapshotExpirationMs"] != int64(0) || ws.Metadata["keepLastSnapshots"] != 2 || ws.Metadata["persistent"] != true {
		t.Errorf("metadata = %v", ws.Metadata)
	}

	res, err := e.ExecWorkspace(ctx, ws.ExternalID, backend.ExecRequest{Argv: []string{"sh", "-c", `cat setup.txt; echo one >> log.txt; printf %s "$WS_SECRET"`}})
	if err != nil || res.ExitCode != 0 || string(res.Stdout) != "from-setup\nws-secret-value" {
		t.Fatalf("first ExecWorkspace = %+v, %v", res, err)
	}
	if st := f.SandboxStatus(ws.ExternalID); st != "stopped" {
		t.Errorf("after ExecWorkspace the workspace is %s, want stopped again", st)
	}
	for range 3 {
		res, err = e.ExecWorkspace(ctx, ws.ExternalID, backend.ExecRequest{Argv: []string{"sh", "-c", "echo more >> log.txt; cat log.txt"}})
		if err != nil || res.ExitCode != 0 {
			t.Fatalf("ExecWorkspace = %+v, %v", res, err)
		}
	}
	if got := string(res.Stdout); got != "one\nmore\nmore\nmore\n" {
		t.Errorf("log.txt after four commands = %q: the files must persist from one command to the next", got)
	}
	if n := f.Resumes(); n != 4 {
		t.Errorf("resumed %d times, want 4", n)
	}
	if snaps := f.Snapshots(ws.ExternalID); len(snaps) > 2 {
		t.Errorf("%d snapshots kept, want at most 2 (keep_last_snapshots)", len(snaps))
	}
	// A non-zero exit is a result, not an error.
	res, err = e.ExecWorkspace(ctx, ws.ExternalID, backend.ExecRequest{Argv: []string{"sh", "-c", "exit 4"}})
	if err != nil || res.ExitCode != 4 {
		t.Errorf("ExecWorkspace(exit 4) = %+v, %v", res, err)
	}

	found, err := e.FindWorkspace(ctx, id)
	if err != nil || found.ExternalID != ws.ExternalID {
		t.Errorf("FindWorkspace = %+v, %v", found, err)
	}
	list, err := e.ListWorkspaces(ctx)
	if err != nil || len(list) != 1 || list[0].RecordID != id {
		t.Errorf("ListWorkspaces = %+v, %v", list, err)
	}
	if sbs, _ := e.ListSandboxes(ctx); len(sbs) != 0 {
		t.Errorf("ListSandboxes lists workspaces or builders: %+v", sbs)
	}

	upd, err := e.UpdateWorkspace(ctx, ws.ExternalID, backend.WorkspaceSpec{RecordID: id, Name: "agent-main", Ports: []int{3000, 4000}, Policy: &backend.NetworkPolicy{Mode: backend.PolicyAllowAll}})
	if err != nil {
		t.Fatalf("UpdateWorkspace: %v", err)
	}
	if ports, _ := upd.Metadata["ports"].([]int); len(ports) != 2 {
		t.Errorf("ports after update = %v", upd.Metadata["ports"])
	}
	recs := f.NetworkPolicies(ws.ExternalID)
	if last := recs[len(recs)-1]; last.Via != "update" || string(last.Body) != `{"mode":"allow-all"}` {
		t.Errorf("last policy = %+v", last)
	}
	if strings.Contains(fmt.Sprint(upd.Metadata), "secret") {
		t.Errorf("metadata = %v", upd.Metadata)
	}

	if err := e.DeleteWorkspace(ctx, ws.ExternalID); err != nil {
		t.Fatal(err)
	}
	if _, err := e.GetWorkspace(ctx, ws.ExternalID); !errors.Is(err, backend.ErrNotFound) {
		t.Errorf("GetWorkspace after delete = %v", err)
	}
	if _, err := e.ExecWorkspace(ctx, ws.ExternalID, backend.ExecRequest{Argv: []string{"true"}}); !errors.Is(err, backend.ErrNotFound) {
		t.Errorf("ExecWorkspace after delete = %v", err)
	}
	if snaps := f.Snapshots(ws.ExternalID); len(snaps) != 0 {
		t.Errorf("the workspace's snapshots outlive it: %v", snaps)
	}
	// The setup the workspace started from is untouched.
	if _, err := e.GetSetup(ctx, art.ExternalID); err != nil {
		t.Errorf("the setup is gone with the workspace: %v", err)
	}
}

func TestWorkspaceRunningIsLeftRunning(t *testing.T) {
	f := startFake(t, vercelfake.Config{})
	e := newTestEngine(t, f)
	ctx := ctxFor(t, 20*time.Second)
	ws, err := e.CreateWorkspace(ctx, backend.WorkspaceSpec{RecordID: backend.NewID(), Options: map[string]any{"runtime": "python3.13", "keep_last_snapshots": 0}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = e.DeleteWorkspace(context.Background(), ws.ExternalID) })
	if err := e.StartSandbox(ctx, ws.ExternalID); err != nil {
		t.Fatal(err)
	}
	if _, err := e.ExecWorkspace(ctx, ws.ExternalID, backend.ExecRequest{Argv: []string{"true"}}); err != nil {
		t.Fatal(err)
	}
	if st := f.SandboxStatus(ws.ExternalID); st != "running" {
		t.Errorf("a workspace someone started is %s after ExecWorkspace, want running", st)
	}
	if _, ok := ws.Metadata["keepLastSnapshots"]; ok || ws.Metadata["runtime"] != "python3.13" {
		t.Errorf("metadata = %v", ws.Metadata)
	}
}

func TestWorkspaceValidation(t *testing.T) {
	e := newTestEngine(t, startFake(t, vercelfake.Config{}))
	ctx := ctxFor(t, 5*time.Second)
	for name, spec := range map[string]backend.WorkspaceSpec{
		"no record":       {},
		"runtime + setup": {RecordID: backend.NewID(), Setup: "snap_x", Options: map[string]any{"runtime": "node22"}},
		"keep last":       {RecordID: backend.NewID(), Options: map[string]any{"keep_last_snapshots": 11}},
		"unknown option":  {RecordID: backend.NewID(), Options: map[string]any{"source": map[string]any{}}},
		"port":            {RecordID: backend.NewID(), Ports: []int{22}},
	} {
		if _, err := e.CreateWorkspace(ctx, spec); err == nil {
			t.Errorf("%s: CreateWorkspace = nil error", name)
		}
	}
}
