package vercel

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/ekairos/terraform-provider-sandbox/internal/backend"
	"github.com/ekairos/terraform-provider-sandbox/internal/backend/engine/vercel/vercelfake"
)

func TestSetupBuildFindUse(t *testing.T) {
	f := startFake(t, vercelfake.Config{})
	e := newTestEngine(t, f)
	ctx := ctxFor(t, 20*time.Second)
	const fp = "fp-0123abcd"
	spec := backend.SetupSpec{
		RecordID: backend.NewID(), Fingerprint: fp, Runtime: "node22",
		Argv:   []string{"sh", "-c", `mkdir -p tools && printf '%s' "$SETUP_SECRET" | wc -c > tools/len.txt && echo built > setup.txt && echo done`},
		Env:    map[string]string{"SETUP_SECRET": "s3cret"},
		Policy: &backend.NetworkPolicy{Mode: backend.PolicyAllowList, Presets: []string{"npm"}},
	}
	if _, err := e.FindSetup(ctx, fp); !errors.Is(err, backend.ErrNotFound) {
		t.Fatalf("FindSetup before any build = %v, want ErrNotFound", err)
	}
	art, res, err := e.BuildSetup(ctx, spec)
	if err != nil {
		t.Fatalf("BuildSetup: %v", err)
	}
	if res == nil || res.ExitCode != 0 || string(res.Stdout) != "done\n" {
		t.Errorf("setup result = %+v", res)
	}
	if !strings.HasPrefix(art.ExternalID, "snap_") || art.Fingerprint != fp || art.State != "ready" {
		t.Errorf("artifact = %+v", art)
	}
	builder := SetupName(fp)
	if st := f.SandboxStatus(builder); st != "stopped" {
		t.Errorf("the builder is %q after the snapshot, want stopped (a snapshot stops its session)", st)
	}
	if recs := f.NetworkPolicies(builder); len(recs) != 1 || !strings.Contains(string(recs[0].Body), "registry.npmjs.org") {
		t.Errorf("the builder ran under %+v, want the setup's policy", recs)
	}

	found, err := e.FindSetup(ctx, fp)
	if err != nil || found.ExternalID != art.ExternalID {
		t.Fatalf("FindSetup = %+v, %v; want %s", found, err, art.ExternalID)
	}
	got, err := e.GetSetup(ctx, art.ExternalID)
	if err != nil || got.Fingerprint != fp || got.ExternalID != art.ExternalID {
		t.Fatalf("GetSetup = %+v, %v", got, err)
	}

	// The same definition is not built twice.
	creates := f.Requests("POST /v2/sandboxes")
	again, res, err := e.BuildSetup(ctx, spec)
	if err != nil || again.ExternalID != art.ExternalID || res != nil || f.Requests("POST /v2/sandboxes") != creates {
		t.Errorf("second BuildSetup = %+v, %+v, %v; want the same snapshot, no run", again, res, err)
	}

	// A sandbox starts from it (and a workspace: workspace_test.go).
	sb := createSandbox(t, e, backend.SandboxSpec{Setup: art.ExternalID, Runtime: "node22"})
	out, err := e.Exec(ctx, sb.ExternalID, backend.ExecRequest{Argv: []string{"cat", "setup.txt", "tools/len.txt"}})
	if err != nil || string(out.Stdout) != "built\n6\n" {
		t.Errorf("cat in a sandbox from the setup = %+v, %v", out, err)
	}
	if _, ok := sb.Metadata["runtime"]; ok {
		t.Errorf("a sandbox from a snapshot reports a runtime: %v", sb.Metadata)
	}

	if err := e.DeleteSetup(ctx, art.ExternalID); err != nil {
		t.Fatalf("DeleteSetup: %v", err)
	}
	if _, err := e.GetSetup(ctx, art.ExternalID); !errors.Is(err, backend.ErrNotFound) {
		t.Errorf("GetSetup after delete = %v, want ErrNotFound", err)
	}
	if st := f.SandboxStatus(builder); st != "" {
		t.Errorf("the builder is still there (%s) after DeleteSetup", st)
	}
	if err := e.DeleteSetup(ctx, art.ExternalID); err != nil {
		t.Errorf("DeleteSetup of a deleted setup = %v, want nil", err)
	}
}

func TestSetupFailureKeepsNothing(t *testing.T) {
	f := startFake(t, vercelfake.Config{})
	e := newTestEngine(t, f)
	ctx := ctxFor(t, 20*time.Second)
	spec := backend.SetupSpec{Fingerprint: "fp-fails", Argv: []string{"sh", "-c", "echo nope >&2; exit 3"}}
	art, res, err := e.BuildSetup(ctx, spec)
	if !errors.Is(err, backend.ErrSetupFailed) || art != nil {
		t.Fatalf("BuildSetup of a failing command = %+v, %v; want ErrSetupFailed", art, err)
	}
	if res == nil || res.ExitCode != 3 || string(res.Stderr) != "nope\n" {
		t.Errorf("result = %+v", res)
	}
	if st := f.SandboxStatus(SetupName("fp-fails")); st != "" {
		t.Errorf("the failed builder is kept (%s)", st)
	}
	if len(f.Snapshots("")) != 0 {
		t.Errorf("snapshots after a failed setup: %v", f.Snapshots(""))
	}
	if _, err := e.FindSetup(ctx, "fp-fails"); !errors.Is(err, backend.ErrNotFound) {
		t.Errorf("FindSetup after a failure = %v", err)
	}
	// A timeout is a failure too.
	_, res, err = e.BuildSetup(ctx, backend.SetupSpec{Fingerprint: "fp-slow", Argv: []string{"sleep", "30"}, Timeout: time.Second})
	if !errors.Is(err, backend.ErrSetupFailed) || res == nil || !res.TimedOut {
		t.Errorf("BuildSetup past its timeout = %+v, %v", res, err)
	}
}

func TestSetupExpired(t *testing.T) {
	f := startFake(t, vercelfake.Config{})
	e := newTestEngine(t, f)
	ctx := ctxFor(t, 20*time.Second)
	spec := backend.SetupSpec{Fingerprint: "fp-expiring", Argv: []string{"true"}, Options: map[string]any{"expiration": "48h"}}
	art, _, err := e.BuildSetup(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	snap, err := e.Client().GetSnapshot(ctx, art.ExternalID)
	if err != nil || snap.ExpiresAt == 0 {
		t.Fatalf("snapshot = %+v, %v; want an expiry 48h away", snap, err)
	}
	if d := time.Until(time.UnixMilli(snap.ExpiresAt)); d < 47*time.Hour || d > 49*time.Hour {
		t.Errorf("expires in %s, want 48h", d)
	}
	f.ExpireSnapshot(art.ExternalID)
	if _, err := e.GetSetup(ctx, art.ExternalID); !errors.Is(err, backend.ErrNotFound) {
		t.Errorf("GetSetup of an expired snapshot = %v, want ErrNotFound", err)
	}
	if _, err := e.FindSetup(ctx, "fp-expiring"); !errors.Is(err, backend.ErrNotFound) {
		t.Errorf("FindSetup of an expired snapshot = %v, want ErrNotFound", err)
	}
	// Building again replaces the stale builder.
	again, res, err := e.BuildSetup(ctx, spec)
	if err != nil || res == nil || again.ExternalID == art.ExternalID {
		t.Fatalf("rebuild = %+v, %+v, %v", again, res, err)
	}
	if got, err := e.FindSetup(ctx, "fp-expiring"); err != nil || got.ExternalID != again.ExternalID {
		t.Errorf("FindSetup after the rebuild = %+v, %v", got, err)
	}
}

func TestSetupNeverExpiresByDefaultAndLongFingerprint(t *testing.T) {
	f := startFake(t, vercelfake.Config{})
	e := newTestEngine(t, f)
	ctx := ctxFor(t, 20*time.Second)
	fp := strings.Repeat("a1b2", 40) + "+/=" // too long and not a name: hashed into the builder's name
	art, _, err := e.BuildSetup(ctx, backend.SetupSpec{Fingerprint: fp, Argv: []string{"true"}})
	if err != nil {
		t.Fatal(err)
	}
	if name := SetupName(fp); len(name) > 128 || !strings.HasPrefix(name, "setup-h") {
		t.Errorf("SetupName = %s", name)
	}
	snap, err := e.Client().GetSnapshot(ctx, art.ExternalID)
	if err != nil || snap.ExpiresAt != 0 {
		t.Errorf("snapshot = %+v, %v; want no expiry", snap, err)
	}
	got, err := e.GetSetup(ctx, art.ExternalID)
	if err != nil || got.Fingerprint != fp {
		t.Errorf("GetSetup = %+v, %v; want the fingerprint back from the builder's tag", got, err)
	}
	if found, err := e.FindSetup(ctx, fp); err != nil || found.ExternalID != art.ExternalID {
		t.Errorf("FindSetup = %+v, %v", found, err)
	}
}

func TestSetupValidation(t *testing.T) {
	e := newTestEngine(t, startFake(t, vercelfake.Config{}))
	ctx := ctxFor(t, 5*time.Second)
	for name, spec := range map[string]backend.SetupSpec{
		"no fingerprint": {Argv: []string{"true"}},
		"no command":     {Fingerprint: "x"},
		"runtime":        {Fingerprint: "x", Argv: []string{"true"}, Runtime: "go"},
		"option":         {Fingerprint: "x", Argv: []string{"true"}, Options: map[string]any{"persistent": true}},
		"expiration":     {Fingerprint: "x", Argv: []string{"true"}, Options: map[string]any{"expiration": "2h"}},
	} {
		if _, _, err := e.BuildSetup(ctx, spec); err == nil {
			t.Errorf("%s: BuildSetup = nil error", name)
		}
	}
}

// TestSetupLeftoverBuilders: a builder running for another record is another apply's build (refused); one left
// by this record's interrupted build is replaced.
func TestSetupLeftoverBuilders(t *testing.T) {
	f := startFake(t, vercelfake.Config{})
	e := newTestEngine(t, f)
	ctx := ctxFor(t, 20*time.Second)
	const fp = "fp-leftover"
	name := SetupName(fp)
	mine := backend.NewID()
	// A build of another record is running.
	if _, err := e.Client().CreateSandbox(ctx, CreateSandboxRequest{Name: name, Tags: map[string]string{"setupId": "other-record"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.waitRunning(ctx, name); err != nil {
		t.Fatal(err)
	}
	_, _, err := e.BuildSetup(ctx, backend.SetupSpec{RecordID: mine, Fingerprint: fp, Argv: []string{"true"}})
	if err == nil || !strings.Contains(err.Error(), "in progress") {
		t.Fatalf("BuildSetup while another build runs = %v, want an error saying a build is in progress", err)
	}
	if st := f.SandboxStatus(name); st != "running" {
		t.Errorf("the other build's builder is %q: it must be left alone", st)
	}
	// The same builder, made by this record (an interrupted build of ours), is replaced.
	if err := e.DeleteSandbox(ctx, name); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Client().CreateSandbox(ctx, CreateSandboxRequest{Name: name, Tags: map[string]string{"setupId": mine}}); err != nil {
		t.Fatal(err)
	}
	art, res, err := e.BuildSetup(ctx, backend.SetupSpec{RecordID: mine, Fingerprint: fp, Argv: []string{"true"}})
	if err != nil || res == nil || art == nil {
		t.Fatalf("BuildSetup over our own interrupted build = %+v, %+v, %v", art, res, err)
	}
}
