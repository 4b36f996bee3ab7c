package backend_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/ekairos/terraform-provider-sandbox/internal/backend"
)

// A command whose sandbox or workspace id names no record fails with a message naming the attribute, the
// entity and the store (and still wraps ErrNotFound), not a raw "sqlite: ... not found".
func TestRunCommandMissingTargetSaysWhat(t *testing.T) {
	lc, _ := newLifecycle(t)
	const id = "6f1c2d3e-8a9b-4c5d-9e0f-1a2b3c4d5e6f"
	_, err := lc.RunCommand(context.Background(), backend.CommandRequest{SandboxID: id, Argv: []string{"true"}})
	if err == nil || !errors.Is(err, backend.ErrNotFound) ||
		!strings.Contains(err.Error(), "sandbox_id "+id+" names no record in sandbox_sandboxes of the sqlite store") {
		t.Fatalf("err = %v", err)
	}
	_, err = lc.RunCommand(context.Background(), backend.CommandRequest{WorkspaceID: id, Argv: []string{"true"}})
	if err == nil || !errors.Is(err, backend.ErrNotFound) ||
		!strings.Contains(err.Error(), "workspace_id "+id+" names no record in sandbox_workspaces of the sqlite store") {
		t.Fatalf("err = %v", err)
	}
}

// Bookkeeping reaches params.terraform at create, survives an in-place update merged with the old keys, and
// SetBookkeeping replaces keys without touching the others.
func TestSandboxBookkeeping(t *testing.T) {
	lc, _ := newLifecycle(t)
	ctx := context.Background()
	req := backend.SandboxRequest{Backend: "local", Bookkeeping: map[string]any{"timeout": "90s", "options": []any{"memory_mb"}}}
	res, err := lc.CreateSandbox(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	tf, _ := res.Record.JSONMap("params")[backend.ParamsTerraform].(map[string]any)
	if tf["timeout"] != "90s" {
		t.Fatalf("params.terraform after create = %v", tf)
	}
	req.Bookkeeping = map[string]any{"timeout": "2m"}
	res, err = lc.UpdateSandbox(ctx, res.ID(), req)
	if err != nil {
		t.Fatal(err)
	}
	tf, _ = res.Record.JSONMap("params")[backend.ParamsTerraform].(map[string]any)
	if tf["timeout"] != "2m" || tf["options"] == nil {
		t.Fatalf("params.terraform after update = %v", tf)
	}
	if err := lc.SetBookkeeping(ctx, backend.EntitySandboxes, res.ID(), map[string]any{"timeouts": map[string]any{"create": "1m"}}); err != nil {
		t.Fatal(err)
	}
	rec, err := lc.Store.Get(ctx, backend.EntitySandboxes, res.ID())
	if err != nil {
		t.Fatal(err)
	}
	tf, _ = rec.JSONMap("params")[backend.ParamsTerraform].(map[string]any)
	if tf["timeout"] != "2m" || tf["timeouts"] == nil {
		t.Fatalf("params.terraform after SetBookkeeping = %v", tf)
	}
}
