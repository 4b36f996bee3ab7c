package sprites_test

import (
	"errors"
	"io/fs"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/ekairos/terraform-provider-sandbox/internal/backend"
	"github.com/ekairos/terraform-provider-sandbox/internal/backend/engine/sprites"
	"github.com/ekairos/terraform-provider-sandbox/internal/backend/engine/sprites/spritesfake"
	"github.com/ekairos/terraform-provider-sandbox/internal/testfakes/harness"
)

// setupArgv appends a line to marker.txt and records whether the setup saw its own env and the sandbox's.
var setupArgv = []string{"sh", "-c", `echo ran >> marker.txt; printf "%s|%s" "$SETUP_ONLY" "$SANDBOX_ONLY" > setup-env.txt`}

func buildSetup(t *testing.T, e *sprites.Engine, fp string) *backend.SetupArtifact {
	t.Helper()
	a, res, err := e.BuildSetup(t.Context(), backend.SetupSpec{
		RecordID: backend.NewID(), Fingerprint: fp, Argv: setupArgv,
		Env:    map[string]string{"SETUP_ONLY": "setup-secret"},
		Policy: &backend.NetworkPolicy{Mode: backend.PolicyAllowList, Presets: []string{"npm"}},
	})
	if err != nil {
		t.Fatalf("BuildSetup: %v", err)
	}
	if res == nil || res.ExitCode != 0 {
		t.Fatalf("BuildSetup result = %+v", res)
	}
	return a
}

func countRuns(f *spritesfake.Fake, name string) int {
	n := 0
	for _, r := range f.ExecLog(name) {
		if reflect.DeepEqual(r.Argv, setupArgv) {
			n++
		}
	}
	return n
}

// TestSetupRerunsInEachSprite checks the setup semantics: the artifact is the builder with the recipe; every
// sandbox made from it runs the setup once in its own sprite and is checkpointed right after, and a restore
// to that checkpoint returns it to the set-up state (with its env intact); deleting the setup leaves the
// sandboxes working.
func TestSetupRerunsInEachSprite(t *testing.T) {
	f := spritesfake.Start(t, spritesfake.Options{})
	e := newEngine(t, f)
	ctx := t.Context()
	fp := "fp-" + backend.NewID()
	a := buildSetup(t, e, fp)

	builder := sprites.SetupName(fp)
	if a.ExternalID != builder || a.Fingerprint != fp || a.State != "ready" || a.Metadata["semantics"] != sprites.SetupSemantics {
		t.Errorf("artifact = %+v", a)
	}
	if n := countRuns(f, builder); n != 1 {
		t.Errorf("the setup ran %d times in the builder; want 1", n)
	}
	info, _ := f.Sprite(builder)
	if len(info.Checkpoints) != 0 || !slices.Contains(info.Labels, "tfsandbox-kind-setup") {
		t.Errorf("builder: checkpoints %v, labels %v", info.Checkpoints, info.Labels)
	}
	for _, get := range []func() (*backend.SetupArtifact, error){
		func() (*backend.SetupArtifact, error) { return e.FindSetup(ctx, fp) },
		func() (*backend.SetupArtifact, error) { return e.GetSetup(ctx, builder) },
	} {
		if got, err := get(); err != nil || got.ExternalID != builder || got.Fingerprint != fp {
			t.Errorf("FindSetup/GetSetup = %+v, %v", got, err)
		}
	}
	if _, err := e.FindSetup(ctx, "fp-other"); !errors.Is(err, backend.ErrNotFound) {
		t.Errorf("FindSetup of another fingerprint = %v", err)
	}
	// Building again reuses the artifact without running anything.
	again, res, err := e.BuildSetup(ctx, backend.SetupSpec{Fingerprint: fp, Argv: setupArgv})
	if err != nil || again.ExternalID != builder || res != nil || countRuns(f, builder) != 1 {
		t.Errorf("BuildSetup again = %+v, %+v, %v (runs %d)", again, res, err, countRuns(f, builder))
	}

	sandboxEnv := map[string]string{"SANDBOX_ONLY": "sandbox-secret"}
	var sbs []*backend.Sandbox
	for range 2 {
		sbs = append(sbs, createSandbox(t, e, backend.SandboxSpec{Setup: builder, Env: sandboxEnv}))
	}
	for _, sb := range sbs {
		if n := countRuns(f, sb.ExternalID); n != 1 {
			t.Errorf("%s: the setup ran %d times in the sandbox's own sprite; want 1", sb.ExternalID, n)
		}
		// Ran in this sprite, not copied from the builder: one line.
		if b, err := e.ReadFile(ctx, sb.ExternalID, "marker.txt"); err != nil || string(b) != "ran\n" {
			t.Errorf("%s: marker.txt = %q, %v", sb.ExternalID, b, err)
		}
		// The setup saw its env, not the sandbox's.
		if b, _ := e.ReadFile(ctx, sb.ExternalID, "setup-env.txt"); string(b) != "setup-secret|" {
			t.Errorf("%s: the setup's env = %q, want its own env only", sb.ExternalID, b)
		}
		info, _ := f.Sprite(sb.ExternalID)
		if len(info.Checkpoints) != 1 || info.Checkpoints[0].Comment != "terraform-provider-sandbox setup "+builder {
			t.Fatalf("%s: checkpoints %+v; want one, taken after the setup", sb.ExternalID, info.Checkpoints)
		}
		cp := info.Checkpoints[0].ID
		if sb.Metadata["setupCheckpointId"] != cp {
			t.Errorf("%s: Metadata = %v, want setupCheckpointId %s", sb.ExternalID, sb.Metadata, cp)
		}
		if got, _ := e.GetSandbox(ctx, sb.ExternalID); got.Metadata["setupCheckpointId"] != cp {
			t.Errorf("%s: GetSandbox Metadata = %v", sb.ExternalID, got.Metadata)
		}
		// After the setup, the sandbox's policy (deny_all) replaced the setup's (allow npm).
		if want := []map[string]string{{"domain": "*", "action": "deny"}}; !reflect.DeepEqual(info.Policy, want) {
			t.Errorf("%s: policy %v, want the sandbox's %v", sb.ExternalID, info.Policy, want)
		}
		// Commands get the sandbox's env, not the setup's.
		res, err := e.Exec(ctx, sb.ExternalID, backend.ExecRequest{Argv: []string{"sh", "-c", `printf "%s|%s" "$SETUP_ONLY" "$SANDBOX_ONLY"`}})
		if err != nil || string(res.Stdout) != "|sandbox-secret" {
			t.Errorf("%s: env = %q, %v", sb.ExternalID, res.Stdout, err)
		}
		// Restore returns to the set-up state; the configuration (env) survives.
		if err := e.WriteFile(ctx, sb.ExternalID, "junk.txt", []byte("junk")); err != nil {
			t.Fatal(err)
		}
		if err := e.WriteFile(ctx, sb.ExternalID, "marker.txt", []byte("changed")); err != nil {
			t.Fatal(err)
		}
		if err := e.Restore(ctx, sb.ExternalID, cp); err != nil {
			t.Fatalf("Restore: %v", err)
		}
		if _, err := e.ReadFile(ctx, sb.ExternalID, "junk.txt"); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s: junk.txt after restore: %v", sb.ExternalID, err)
		}
		if b, _ := e.ReadFile(ctx, sb.ExternalID, "marker.txt"); string(b) != "ran\n" {
			t.Errorf("%s: marker.txt after restore = %q", sb.ExternalID, b)
		}
		res, err = e.Exec(ctx, sb.ExternalID, backend.ExecRequest{Argv: []string{"sh", "-c", `printf "%s" "$SANDBOX_ONLY"`}})
		if err != nil || string(res.Stdout) != "sandbox-secret" {
			t.Errorf("%s: env after restore = %q, %v", sb.ExternalID, res.Stdout, err)
		}
		// An update keeps the setup (and does not run it again).
		if _, err := e.UpdateSandbox(ctx, sb.ExternalID, backend.SandboxSpec{RecordID: sb.RecordID, Setup: builder, Env: sandboxEnv}); err != nil {
			t.Errorf("UpdateSandbox: %v", err)
		}
		if n := countRuns(f, sb.ExternalID); n != 1 {
			t.Errorf("%s: the setup ran %d times after an update", sb.ExternalID, n)
		}
		// The lifecycle's in-place update names no setup (setup_id replaces): the sprite keeps its own.
		if _, err := e.UpdateSandbox(ctx, sb.ExternalID, backend.SandboxSpec{RecordID: sb.RecordID, Env: sandboxEnv}); err != nil {
			t.Errorf("UpdateSandbox without a setup (as the lifecycle sends it): %v", err)
		}
		if got, _ := e.GetSandbox(ctx, sb.ExternalID); got.Metadata["setupCheckpointId"] != cp || countRuns(f, sb.ExternalID) != 1 {
			t.Errorf("%s: after an update without a setup: Metadata %v, setup runs %d", sb.ExternalID, got.Metadata, countRuns(f, sb.ExternalID))
		}
		if _, err := e.UpdateSandbox(ctx, sb.ExternalID, backend.SandboxSpec{RecordID: sb.RecordID, Setup: "ekairos-setup-other"}); err == nil {
			t.Errorf("UpdateSandbox to another setup = nil error; a setup cannot change in place")
		}
	}

	// Deleting the setup deletes the builder only.
	if err := e.DeleteSetup(ctx, builder); err != nil {
		t.Fatal(err)
	}
	if _, ok := f.Sprite(builder); ok {
		t.Error("the builder is still there")
	}
	if _, err := e.FindSetup(ctx, fp); !errors.Is(err, backend.ErrNotFound) {
		t.Errorf("FindSetup after DeleteSetup = %v", err)
	}
	if err := e.DeleteSetup(ctx, builder); err != nil {
		t.Errorf("DeleteSetup again = %v", err)
	}
	for _, sb := range sbs {
		cp, _ := sb.Metadata["setupCheckpointId"].(string)
		if err := e.Restore(ctx, sb.ExternalID, cp); err != nil {
			t.Errorf("%s: Restore after the setup was deleted: %v", sb.ExternalID, err)
		}
	}
	if _, err := e.CreateSandbox(ctx, backend.SandboxSpec{RecordID: backend.NewID(), Setup: builder}); !errors.Is(err, backend.ErrNotFound) {
		t.Errorf("CreateSandbox from a deleted setup = %v; want ErrNotFound", err)
	}
}

func TestSetupFailureKeepsNothing(t *testing.T) {
	f := spritesfake.Start(t, spritesfake.Options{})
	e := newEngine(t, f)
	fp := "fp-fail-" + backend.NewID()
	a, res, err := e.BuildSetup(t.Context(), backend.SetupSpec{Fingerprint: fp, Argv: []string{"sh", "-c", "echo nope >&2; exit 7"}})
	if !errors.Is(err, backend.ErrSetupFailed) || a != nil {
		t.Fatalf("BuildSetup of a failing setup = %+v, %v; want ErrSetupFailed", a, err)
	}
	if res == nil || res.ExitCode != 7 || string(res.Stderr) != "nope\n" {
		t.Errorf("result = %+v", res)
	}
	if names := f.Names(); len(names) != 0 {
		t.Errorf("sprites left after a failed setup: %v", names)
	}
	for _, opts := range []map[string]any{{"name": "x"}, {"url_auth": "public"}, {"nope": 1}} {
		if _, _, err := e.BuildSetup(t.Context(), backend.SetupSpec{Fingerprint: fp, Argv: []string{"true"}, Options: opts}); err == nil {
			t.Errorf("BuildSetup with options %v = nil error", opts)
		}
	}
	if _, err := e.FindSetup(t.Context(), fp); !errors.Is(err, backend.ErrNotFound) {
		t.Errorf("FindSetup after a failed build = %v", err)
	}
}

func TestSetupHalfMadeBuilderIsRebuilt(t *testing.T) {
	f := spritesfake.Start(t, spritesfake.Options{})
	e := newEngine(t, f)
	fp := "fp-half-" + backend.NewID()
	name := sprites.SetupName(fp)
	// What a build killed before it wrote the recipe leaves.
	if _, err := e.Client().CreateSprite(t.Context(), sprites.CreateSpriteRequest{Name: name, Labels: []string{"tfsandbox", "tfsandbox-kind-setup", "tfsandbox-record-x"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.FindSetup(t.Context(), fp); !errors.Is(err, backend.ErrNotFound) {
		t.Errorf("FindSetup of a half-made builder = %v; want ErrNotFound", err)
	}
	if _, err := e.CreateSandbox(t.Context(), backend.SandboxSpec{RecordID: backend.NewID(), Setup: name}); !errors.Is(err, backend.ErrNotFound) || !strings.Contains(err.Error(), "never completed") {
		t.Errorf("CreateSandbox from a half-made setup = %v", err)
	}
	a := buildSetup(t, e, fp)
	if a.ExternalID != name || countRuns(f, name) != 1 {
		t.Errorf("rebuilt artifact %+v, runs %d", a, countRuns(f, name))
	}
	// A stranger with the builder's name is refused, not deleted.
	fp2 := "fp-stranger-" + backend.NewID()
	if _, err := e.Client().CreateSprite(t.Context(), sprites.CreateSpriteRequest{Name: sprites.SetupName(fp2)}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := e.BuildSetup(t.Context(), backend.SetupSpec{Fingerprint: fp2, Argv: []string{"true"}}); err == nil {
		t.Error("BuildSetup over a stranger's sprite = nil error")
	}
	if _, ok := f.Sprite(sprites.SetupName(fp2)); !ok {
		t.Error("the stranger's sprite was deleted")
	}
	if err := e.DeleteSetup(t.Context(), sprites.SetupName(fp2)); err == nil {
		t.Error("DeleteSetup of a stranger's sprite = nil error")
	}
}

func TestSetupFailureInSandbox(t *testing.T) {
	f := spritesfake.Start(t, spritesfake.Options{})
	e := newEngine(t, f)
	ctx := t.Context()
	// The setup passes in the builder and fails in a sandbox (the fake runs it under the sprite's host
	// directory, whose name tells them apart), printing its secret env.
	a, _, err := e.BuildSetup(ctx, backend.SetupSpec{Fingerprint: "fp-flaky-" + backend.NewID(),
		Argv: []string{"sh", "-c", `case "$PWD" in *ekairos-setup-*) exit 0;; esac; echo "SECRET_VAL=$SECRET_VAL" >&2; exit 5`},
		Env:  map[string]string{"SECRET_VAL": "do-not-leak"}})
	if err != nil {
		t.Fatalf("BuildSetup: %v", err)
	}
	id := backend.NewID()
	_, err = e.CreateSandbox(ctx, backend.SandboxSpec{RecordID: id, Setup: a.ExternalID})
	if !errors.Is(err, backend.ErrSetupFailed) || !strings.Contains(err.Error(), "exited with 5") {
		t.Fatalf("CreateSandbox whose setup fails = %v; want ErrSetupFailed", err)
	}
	if strings.Contains(err.Error(), "do-not-leak") {
		t.Errorf("the setup's output (and its secret) shows in the error: %v", err)
	}
	// The half-made sandbox is findable by its record, so that the lifecycle destroys it, and has no
	// checkpoint.
	found, err := e.FindSandbox(ctx, id)
	if err != nil {
		t.Fatalf("FindSandbox of the half-made sandbox: %v", err)
	}
	if info, _ := f.Sprite(found.ExternalID); len(info.Checkpoints) != 0 {
		t.Errorf("a failed setup was checkpointed: %+v", info.Checkpoints)
	}
	if err := e.DeleteSandbox(ctx, found.ExternalID); err != nil {
		t.Error(err)
	}
	// A dropped exec during the setup is an error too (never taken for success).
	f.Faults().Add(harness.Fault{Route: "WS /v1/sprites/{name}/exec", Extra: spritesfake.DropExec{}})
	_, err = e.CreateSandbox(ctx, backend.SandboxSpec{RecordID: backend.NewID(), Setup: a.ExternalID})
	f.Faults().Clear()
	if !errors.Is(err, sprites.ErrExecInterrupted) {
		t.Errorf("CreateSandbox whose setup's exec dropped = %v; want ErrExecInterrupted", err)
	}
}
