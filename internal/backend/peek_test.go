package backend_test

import (
	"context"
	"testing"

	"github.com/ekairos/terraform-provider-sandbox/internal/backend"
)

// TestPeekSandboxWritesNothing: a listing (terraform query) reads the engine's view without confirming the
// record (a killed apply's next create may still adopt it) and, when the object is gone, leaves the sandbox out
// without marking its record shutdown.
func TestPeekSandboxWritesNothing(t *testing.T) {
	ctx := context.Background()
	lc, eng := newLifecycle(t)
	res, err := lc.CreateSandbox(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	got, err := lc.PeekSandbox(ctx, res.Record)
	if err != nil || got == nil || got.Sandbox == nil || got.Sandbox.State != backend.StateRunning {
		t.Fatalf("peek: %v %+v", err, got)
	}
	rec, err := lc.Store.Get(ctx, backend.EntitySandboxes, res.ID())
	if err != nil {
		t.Fatal(err)
	}
	if book, _ := rec.JSONMap("params")[backend.ParamsTerraform].(map[string]any); book[backend.BookConfirmed] != nil {
		t.Errorf("a peek confirmed the record: %v", book)
	}
	eng.mu.Lock()
	delete(eng.sandboxes, rec.String("externalSandboxId"))
	eng.mu.Unlock()
	if got, err := lc.PeekSandbox(ctx, rec); err != nil || got != nil {
		t.Fatalf("peek of a gone sandbox: %v %+v, want nothing", err, got)
	}
	if rec, _ := lc.Store.Get(ctx, backend.EntitySandboxes, res.ID()); rec.String("status") != backend.StatusActive {
		t.Errorf("a peek marked the record %s", rec.String("status"))
	}
}

// TestClaimImported: an imported record becomes the importing configuration's (scope, confirmed), keeping the
// rest of its bookkeeping; an application's record without any gets one.
func TestClaimImported(t *testing.T) {
	ctx := context.Background()
	lc, _ := newLifecycle(t)
	lc.Scope = "a#default"
	res, err := lc.CreateSandbox(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	b := &backend.Lifecycle{Store: lc.Store, Engines: lc.Engines, Scope: "b#default"}
	if err := b.ClaimImported(ctx, backend.EntitySandboxes, res.ID()); err != nil {
		t.Fatal(err)
	}
	rec, _ := lc.Store.Get(ctx, backend.EntitySandboxes, res.ID())
	book, _ := rec.JSONMap("params")[backend.ParamsTerraform].(map[string]any)
	if book[backend.BookScope] != "b#default" || book[backend.BookConfirmed] != true || book[backend.BookConfigHash] == nil {
		t.Errorf("bookkeeping after the claim: %v", book)
	}
	if rec.JSONMap("params")["team"] != "x" {
		t.Errorf("the claim lost the caller's params: %v", rec.JSONMap("params"))
	}
	// An application's record: no bookkeeping at all.
	params := rec.JSONMap("params")
	delete(params, backend.ParamsTerraform)
	if _, err := lc.Store.Update(ctx, backend.EntitySandboxes, rec.ID, backend.Attrs{"params": params}); err != nil {
		t.Fatal(err)
	}
	if err := b.ClaimImported(ctx, backend.EntitySandboxes, rec.ID); err != nil {
		t.Fatal(err)
	}
	rec, _ = lc.Store.Get(ctx, backend.EntitySandboxes, rec.ID)
	if book, _ := rec.JSONMap("params")[backend.ParamsTerraform].(map[string]any); book[backend.BookScope] != "b#default" {
		t.Errorf("an application's record after the claim: %v", book)
	}
}
