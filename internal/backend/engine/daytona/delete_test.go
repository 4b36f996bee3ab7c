package daytona

import (
	"strings"
	"testing"
	"time"

	"github.com/ekairos/terraform-provider-sandbox/internal/backend"
	"github.com/ekairos/terraform-provider-sandbox/internal/backend/engine/daytona/daytonafake"
)

// DeleteSetup returns only once the snapshot is gone from the service: a snapshot in state "removing" is still
// listed, so someone listing what is left right after terraform destroy would see it.
func TestDeleteSetupWaitsUntilGone(t *testing.T) {
	f := daytonafake.New(daytonafake.Options{APIKey: testKey, StepDelay: 200 * time.Millisecond, Root: t.TempDir()})
	t.Cleanup(f.Close)
	e := newEngine(t, f)
	ctx := ctxFor(t, 60*time.Second)
	fp := strings.Repeat("cd", 32)
	art, _, err := e.BuildSetup(ctx, backend.SetupSpec{RecordID: backend.NewID(), Fingerprint: fp, Argv: []string{"true"}})
	if err != nil {
		t.Fatalf("BuildSetup: %v", err)
	}
	if !f.HasSnapshot(art.ExternalID) {
		t.Fatalf("no snapshot %s on the fake", art.ExternalID)
	}
	if err := e.DeleteSetup(ctx, art.ExternalID); err != nil {
		t.Fatalf("DeleteSetup: %v", err)
	}
	if f.HasSnapshot(art.ExternalID) {
		t.Errorf("DeleteSetup returned while the snapshot is still on the service: %v", f.Snapshots())
	}
	for _, sb := range f.LiveSandboxes() {
		t.Errorf("sandbox left after a setup build: %+v", sb)
	}
}
