package sprites_test

import (
	"context"
	"errors"
	"io/fs"
	"reflect"
	"testing"

	"github.com/ekairos/terraform-provider-sandbox/internal/backend"
	"github.com/ekairos/terraform-provider-sandbox/internal/backend/engine/sprites/spritesfake"
)

func TestWorkspaceCheckpointAndRestore(t *testing.T) {
	f := spritesfake.Start(t, spritesfake.Options{})
	e := newEngine(t, f)
	ctx := t.Context()
	fp := "fp-ws-" + backend.NewID()
	setup := buildSetup(t, e, fp)

	id := backend.NewID()
	ws, err := e.CreateWorkspace(ctx, backend.WorkspaceSpec{RecordID: id, Name: "my-repo", Setup: setup.ExternalID,
		Env: map[string]string{"WS_VAR": "ws-secret"}, Policy: &backend.NetworkPolicy{Mode: backend.PolicyAllowAll}})
	if err != nil {
		t.Fatalf("CreateWorkspace: %v", err)
	}
	t.Cleanup(func() {
		if err := e.DeleteWorkspace(context.Background(), ws.ExternalID); err != nil {
			t.Errorf("cleanup: %v", err)
		}
	})
	if ws.ExternalID != "ekairos-ws-"+id || ws.RecordID != id || ws.Name != "my-repo" || ws.State != "active" {
		t.Errorf("workspace = %+v", ws)
	}
	setupCP, _ := ws.Metadata["setupCheckpointId"].(string)
	if setupCP == "" || !reflect.DeepEqual(ws.Metadata["checkpoints"], []any{setupCP}) || !reflect.DeepEqual(ws.Checkpoints, []string{setupCP}) {
		t.Errorf("Metadata = %v, Checkpoints = %v; want the setup's checkpoint listed", ws.Metadata, ws.Checkpoints)
	}
	if n := countRuns(f, ws.ExternalID); n != 1 {
		t.Errorf("the setup ran %d times in the workspace", n)
	}

	// Commands run in the workspace's sprite, with its env, and what they write stays.
	res, err := e.ExecWorkspace(ctx, ws.ExternalID, backend.ExecRequest{Argv: []string{"sh", "-c", `printf "%s" "$WS_VAR" > work.txt`}})
	if err != nil || res.ExitCode != 0 {
		t.Fatalf("ExecWorkspace = %+v, %v", res, err)
	}
	cp1, err := e.CheckpointWorkspace(ctx, ws.ExternalID, "after work")
	if err != nil {
		t.Fatal(err)
	}
	res, err = e.ExecWorkspace(ctx, ws.ExternalID, backend.ExecRequest{Argv: []string{"sh", "-c", "echo more >> work.txt; rm marker.txt"}})
	if err != nil || res.ExitCode != 0 {
		t.Fatalf("ExecWorkspace = %+v, %v", res, err)
	}
	got, err := e.GetWorkspace(ctx, ws.ExternalID)
	if err != nil {
		t.Fatal(err)
	}
	if want := []any{setupCP, cp1}; !reflect.DeepEqual(got.Metadata["checkpoints"], want) {
		t.Errorf("checkpoints = %v, want %v", got.Metadata["checkpoints"], want)
	}
	if want := []string{setupCP, cp1}; !reflect.DeepEqual(got.Checkpoints, want) {
		t.Errorf("Checkpoints = %v, want %v", got.Checkpoints, want)
	}
	if info, _ := f.Sprite(ws.ExternalID); len(info.Checkpoints) != 2 || info.Checkpoints[1].Comment != "after work" {
		t.Errorf("checkpoints on the fake = %+v", info.Checkpoints)
	}

	if err := e.RestoreWorkspace(ctx, ws.ExternalID, "v404"); !errors.Is(err, backend.ErrNotFound) {
		t.Errorf("RestoreWorkspace to an unknown checkpoint = %v; want ErrNotFound", err)
	}
	if err := e.RestoreWorkspace(ctx, ws.ExternalID, cp1); err != nil {
		t.Fatalf("RestoreWorkspace: %v", err)
	}
	if b, err := e.ReadFile(ctx, ws.ExternalID, "work.txt"); err != nil || string(b) != "ws-secret" {
		t.Errorf("work.txt after restore to %s = %q, %v", cp1, b, err)
	}
	if err := e.RestoreWorkspace(ctx, ws.ExternalID, setupCP); err != nil {
		t.Fatalf("Restore to the setup: %v", err)
	}
	if _, err := e.ReadFile(ctx, ws.ExternalID, "work.txt"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("work.txt after restore to the set-up state: %v", err)
	}
	if b, _ := e.ReadFile(ctx, ws.ExternalID, "marker.txt"); string(b) != "ran\n" {
		t.Errorf("marker.txt after restore to the set-up state = %q", b)
	}
	// The configuration survives restores: env and policy.
	res, err = e.ExecWorkspace(ctx, ws.ExternalID, backend.ExecRequest{Argv: []string{"sh", "-c", `printf "%s" "$WS_VAR"`}})
	if err != nil || string(res.Stdout) != "ws-secret" {
		t.Errorf("env after restores = %q, %v", res.Stdout, err)
	}
	if info, _ := f.Sprite(ws.ExternalID); len(info.Policy) != 0 || !info.PolicySet {
		t.Errorf("policy after restores = %v", info.Policy)
	}

	// Find, list, update.
	if found, err := e.FindWorkspace(ctx, id); err != nil || found.ExternalID != ws.ExternalID {
		t.Errorf("FindWorkspace = %+v, %v", found, err)
	}
	list, err := e.ListWorkspaces(ctx)
	if err != nil || len(list) != 1 || list[0].ExternalID != ws.ExternalID {
		t.Errorf("ListWorkspaces = %+v, %v", list, err)
	}
	// As the lifecycle sends it: no setup (setup_id replaces); the workspace keeps its own.
	if _, err := e.UpdateWorkspace(ctx, ws.ExternalID, backend.WorkspaceSpec{RecordID: id, Env: map[string]string{"WS_VAR": "v2"}}); err != nil {
		t.Fatal(err)
	}
	res, _ = e.ExecWorkspace(ctx, ws.ExternalID, backend.ExecRequest{Argv: []string{"sh", "-c", `printf "%s" "$WS_VAR"`}})
	if string(res.Stdout) != "v2" {
		t.Errorf("env after UpdateWorkspace = %q", res.Stdout)
	}
	if info, _ := f.Sprite(ws.ExternalID); !reflect.DeepEqual(info.Policy, []map[string]string{{"domain": "*", "action": "deny"}}) {
		t.Errorf("policy after an update without one = %v, want deny_all", info.Policy)
	}

	// A sandbox is not a workspace.
	sb := createSandbox(t, e, backend.SandboxSpec{})
	if _, err := e.ExecWorkspace(ctx, sb.ExternalID, backend.ExecRequest{Argv: []string{"true"}}); !errors.Is(err, backend.ErrNotFound) {
		t.Errorf("ExecWorkspace in a sandbox's sprite = %v", err)
	}
	if _, err := e.GetWorkspace(ctx, sb.ExternalID); !errors.Is(err, backend.ErrNotFound) {
		t.Errorf("GetWorkspace of a sandbox's sprite = %v", err)
	}
	if _, err := e.CheckpointWorkspace(ctx, sb.ExternalID, "x"); !errors.Is(err, backend.ErrNotFound) {
		t.Errorf("CheckpointWorkspace of a sandbox's sprite = %v", err)
	}
	if info, _ := f.Sprite(sb.ExternalID); len(info.Checkpoints) != 0 {
		t.Errorf("a sandbox's sprite was checkpointed as a workspace: %+v", info.Checkpoints)
	}

	// Deleted: gone, with its checkpoints.
	if err := e.DeleteWorkspace(ctx, ws.ExternalID); err != nil {
		t.Fatal(err)
	}
	if _, err := e.GetWorkspace(ctx, ws.ExternalID); !errors.Is(err, backend.ErrNotFound) {
		t.Errorf("GetWorkspace after delete = %v", err)
	}
	if _, err := e.FindWorkspace(ctx, id); !errors.Is(err, backend.ErrNotFound) {
		t.Errorf("FindWorkspace after delete = %v", err)
	}
	if _, err := e.CheckpointWorkspace(ctx, ws.ExternalID, "x"); !errors.Is(err, backend.ErrNotFound) {
		t.Errorf("CheckpointWorkspace after delete = %v", err)
	}
	if err := e.RestoreWorkspace(ctx, ws.ExternalID, cp1); !errors.Is(err, backend.ErrNotFound) {
		t.Errorf("RestoreWorkspace after delete = %v", err)
	}
}
