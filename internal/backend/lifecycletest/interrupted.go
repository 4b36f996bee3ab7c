// Package lifecycletest holds test helpers for the record-first lifecycle. Only tests import it, so none of
// it is linked into the provider binary.
package lifecycletest

import (
	"context"
	"fmt"
	"os"

	"github.com/ekairos/terraform-provider-sandbox/internal/backend"
)

// SimulateInterruptedCreate leaves behind exactly what an apply killed during step (2) of CreateSandbox
// leaves: a creating record owned by the process ownerPID on this host, and a half-made engine object labelled
// with the record id. Tests and the kill-test tooling use it; the provider never calls it.
func SimulateInterruptedCreate(ctx context.Context, l *backend.Lifecycle, req backend.SandboxRequest, ownerPID int) (string, error) {
	if ownerPID == os.Getpid() {
		return "", fmt.Errorf("owner pid %d is this process: the record would never be adopted", ownerPID)
	}
	eng, err := l.Engines.Engine(req.Backend)
	if err != nil {
		return "", err
	}
	rec, err := l.Store.Create(ctx, backend.EntitySandboxes, backend.NewID(), l.CreatingRecord(req, ownerPID))
	if err != nil {
		return "", err
	}
	spec := req.Spec
	spec.RecordID = rec.ID
	if _, err := eng.CreateSandbox(ctx, spec); err != nil {
		return "", fmt.Errorf("half-made engine object: %w", err)
	}
	return rec.ID, nil
}
