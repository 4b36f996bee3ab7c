package backend

import (
	"context"
	"fmt"
	"os"
)

// SimulateInterruptedCreate leaves behind exactly what an apply killed during step (2) of CreateSandbox leaves:
// a creating record owned by the process ownerPID on this host, and a half-made engine object labelled with
// the record id. Tests and the kill-test tooling use it; the provider never calls it.
func (l *Lifecycle) SimulateInterruptedCreate(ctx context.Context, req SandboxRequest, ownerPID int) (string, error) {
	eng, err := l.Engines.Engine(req.Backend)
	if err != nil {
		return "", err
	}
	now := NowMillis(l.now())
	attrs, params := l.sandboxAttrs(req)
	attrs["status"] = StatusCreating
	attrs["createdAt"] = now
	attrs["updatedAt"] = now
	params[ParamsTerraform] = mergeMaps(toMap(params[ParamsTerraform]), l.book(ConfigHash(req), ownerPID))
	rec, err := l.Store.Create(ctx, EntitySandboxes, NewID(), attrs)
	if err != nil {
		return "", err
	}
	spec := req.Spec
	spec.RecordID = rec.ID
	if _, err := eng.CreateSandbox(ctx, spec); err != nil {
		return "", fmt.Errorf("half-made engine object: %w", err)
	}
	if ownerPID == os.Getpid() {
		return "", fmt.Errorf("owner pid %d is this process: the record would never be adopted", ownerPID)
	}
	return rec.ID, nil
}
