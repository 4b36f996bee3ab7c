package backend

import (
	"context"
	"errors"
	"fmt"
)

// PeekSandbox is the engine's view of a sandbox record for a listing (`terraform query`): ReadSandbox without
// its writes. A listing is no Terraform state handing the record back, so it neither confirms the record (which
// would stop a killed apply's next create from adopting it) nor marks it shutdown when its object is gone; it
// returns (nil, nil) then, as for a shutdown record. Records still creating or in error come back without an
// engine view. The read goes through the engine's shared list where it has one (RefreshLister), so listing many
// sandboxes costs the list's pages, not one request each.
func (l *Lifecycle) PeekSandbox(ctx context.Context, rec *Record) (*SandboxResult, error) {
	res := &SandboxResult{Record: rec}
	switch rec.String("status") {
	case StatusShutdown:
		return nil, nil
	case StatusCreating, StatusError:
		return res, nil
	}
	eng, err := l.Engines.Engine(rec.String("provider"))
	if err != nil {
		return nil, err
	}
	ext := rec.String("externalSandboxId")
	sb, err := l.readEngine(ctx, eng, rec, ext)
	if errors.Is(err, ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading sandbox %s (%s on %s): %w", rec.ID, ext, eng.Name(), err)
	}
	res.Sandbox = sb
	return res, nil
}
