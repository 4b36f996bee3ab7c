package backend_test

import (
	"context"
	"os"
	"strings"
	"testing"

	"github.com/ekairos/terraform-provider-sandbox/internal/backend"
)

func TestLabelsRecordedAndUpdated(t *testing.T) {
	ctx := context.Background()
	lc, _ := newLifecycle(t)
	r := req
	r.Spec.Labels = map[string]string{"team": "infra", "env": "dev"}
	r.Params = nil
	res, err := lc.CreateSandbox(ctx, r)
	if err != nil {
		t.Fatal(err)
	}
	if got := backend.LabelsOf(res.Record); !backend.SameLabels(got, r.Spec.Labels) {
		t.Fatalf("params.labels after create: %v", got)
	}
	if backend.ConfigHash(r) == backend.ConfigHash(req) {
		t.Fatal("labels do not enter the configuration hash")
	}
	noLabels := req
	noLabels.Spec.Labels = map[string]string{}
	if backend.ConfigHash(noLabels) != backend.ConfigHash(req) {
		t.Fatal("an empty labels map changed the configuration hash of a configuration without labels")
	}

	r.Spec.Labels = map[string]string{"team": "platform"}
	res, err = lc.UpdateSandbox(ctx, res.ID(), r)
	if err != nil {
		t.Fatal(err)
	}
	if got := backend.LabelsOf(res.Record); !backend.SameLabels(got, r.Spec.Labels) {
		t.Fatalf("params.labels after update: %v", got)
	}
	r.Spec.Labels = nil
	res, err = lc.UpdateSandbox(ctx, res.ID(), r)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := res.Record.JSONMap("params")[backend.ParamsLabels]; ok {
		t.Fatalf("params.labels kept after all labels were removed: %v", res.Record.JSONMap("params"))
	}

	rec, err := lc.SetLabels(ctx, backend.EntitySandboxes, res.ID(), map[string]string{"a": "b"}, map[string]any{"labelKeys": []any{"a"}})
	if err != nil {
		t.Fatal(err)
	}
	if got := backend.LabelsOf(rec); !backend.SameLabels(got, map[string]string{"a": "b"}) {
		t.Fatalf("SetLabels: %v", got)
	}
	if bk, _ := rec.JSONMap("params")[backend.ParamsTerraform].(map[string]any); bk["labelKeys"] == nil || bk[backend.BookScope] == nil {
		t.Fatalf("SetLabels lost or did not write the bookkeeping: %v", bk)
	}

	bad := req
	bad.Params = map[string]any{"labels": map[string]any{"x": "y"}}
	if _, err := lc.CreateSandbox(ctx, bad); err == nil || !strings.Contains(err.Error(), "reserved") {
		t.Fatalf("params.labels set through params: %v", err)
	}
}

func TestRunCommandRecordsLabelsAndGivesOutput(t *testing.T) {
	ctx := context.Background()
	lc, _ := newLifecycle(t)
	res, err := lc.CreateSandbox(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	var got strings.Builder
	run, err := lc.RunCommand(ctx, backend.CommandRequest{SandboxID: res.ID(), Argv: []string{"echo", "ok"},
		Labels: map[string]string{"job": "smoke"}, Output: func(stream string, p []byte) { got.WriteString(stream + ":" + string(p)) }})
	if err != nil {
		t.Fatal(err)
	}
	if l := backend.LabelsOf(run.Record); l["job"] != "smoke" {
		t.Fatalf("metadata.labels: %v", run.Record.JSONMap("metadata"))
	}
	if got.String() != "stdout:ok\n" {
		t.Fatalf("output given to Output: %q", got.String())
	}
}

// A run of an action is confirmed from the start and never taken over: two invocations of the same command are
// two records, even after the first one's provider process is gone.
func TestActionRunsAreRecordsOfTheirOwn(t *testing.T) {
	ctx := context.Background()
	lc, _ := newLifecycle(t)
	res, err := lc.CreateSandbox(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	run := backend.CommandRequest{SandboxID: res.ID(), Argv: []string{"echo", "ok"}, Action: "sandbox_run"}
	first, err := lc.RunCommand(ctx, run)
	if err != nil {
		t.Fatal(err)
	}
	book, _ := first.Record.JSONMap("metadata")[backend.MetadataTerraform].(map[string]any)
	if book[backend.BookConfirmed] != true || book["action"] != "sandbox_run" {
		t.Fatalf("metadata.terraform of an action's run: %v", book)
	}
	// Make the first run look like a sandbox_command run whose provider died before a state held it: adoptable
	// by a sandbox_command, never by an action.
	host, _ := os.Hostname()
	md := first.Record.JSONMap("metadata")
	md[backend.MetadataTerraform] = map[string]any{backend.BookOwner: map[string]any{"host": host, "pid": deadPID(t)},
		backend.BookConfigHash: backend.CommandHash(run), backend.BookScope: ""}
	if _, err := lc.Store.Update(ctx, backend.EntityProcesses, first.Record.ID, backend.Attrs{"metadata": md}); err != nil {
		t.Fatal(err)
	}
	second, err := lc.RunCommand(ctx, run)
	if err != nil {
		t.Fatal(err)
	}
	if second.Record.ID == first.Record.ID {
		t.Fatal("the second invocation took over the first one's record")
	}
}

// A sandbox_command run (with the provider's import bookkeeping, as the resource always sends it) that a killed
// apply left unconfirmed is taken over by the next run of the same command: the bookkeeping sits beside the
// owner and configuration hash, it does not replace them.
func TestRunWithBookkeepingIsAdoptable(t *testing.T) {
	ctx := context.Background()
	lc, _ := newLifecycle(t)
	res, err := lc.CreateSandbox(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	run := backend.CommandRequest{SandboxID: res.ID(), Argv: []string{"echo", "ok"}, Bookkeeping: map[string]any{"timeout": "45s"}}
	first, err := lc.RunCommand(ctx, run)
	if err != nil {
		t.Fatal(err)
	}
	book, _ := first.Record.JSONMap("metadata")[backend.MetadataTerraform].(map[string]any)
	if book[backend.BookConfigHash] != backend.CommandHash(run) || book[backend.BookOwner] == nil || book["timeout"] != "45s" {
		t.Fatalf("metadata.terraform of a run with bookkeeping: %v", book)
	}
	host, _ := os.Hostname()
	md := first.Record.JSONMap("metadata")
	book[backend.BookOwner] = map[string]any{"host": host, "pid": deadPID(t)}
	md[backend.MetadataTerraform] = book
	if _, err := lc.Store.Update(ctx, backend.EntityProcesses, first.Record.ID, backend.Attrs{"metadata": md}); err != nil {
		t.Fatal(err)
	}
	second, err := lc.RunCommand(ctx, run)
	if err != nil {
		t.Fatal(err)
	}
	if second.Record.ID != first.Record.ID {
		t.Fatalf("the run a killed apply left behind was not taken over: %s, then %s", first.Record.ID, second.Record.ID)
	}
}
