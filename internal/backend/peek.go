package backend

import (
	"context"
	"fmt"
)

// PeekSandbox is the engine's view of a sandbox record for a listing (`terraform query`): ReadSandbox without
// its writes. A listing is no Terraform state handing the record back, so it neither confirms the record (which
// would stop a killed apply's next create from adopting it) nor marks it shutdown when its object is gone; it
// returns (nil, nil) then, as for a shutdown record. Records still creating or in error come back without an
// engine view. The read goes through the engine's shared list where it has one (RefreshLister), so listing many
// sandboxes costs the list's pages, not one request each.
func (l *Lifecycle) PeekSandbox(ctx context.Context, rec *Record) (*SandboxResult, error) {
	res, _, err := l.viewSandbox(ctx, rec)
	return res, err
}

// ClaimImported makes a record that was imported into a Terraform state this configuration's: its bookkeeping
// scope becomes l.Scope and it is confirmed (held by a state). Called by the first read of the record from a
// saved state after the import (never by the import's own plan, which may not be applied). Without it, an
// application's record stayed without a scope (sweep could never attribute it), and another configuration's
// record stayed that configuration's: its sweep, not finding it in its own states, removed the object that this
// configuration now manages. Records already of this scope are left as they are.
func (l *Lifecycle) ClaimImported(ctx context.Context, entity, id string) error {
	field, key := "params", ParamsTerraform
	if entity == EntityProcesses {
		field, key = "metadata", MetadataTerraform
	}
	rec, err := l.Store.Get(ctx, entity, id)
	if err != nil {
		return fmt.Errorf("reading %s %s to record its import: %w", entity, id, err)
	}
	m := rec.JSONMap(field)
	book := toMap(m[key])
	if scope, _ := book[BookScope].(string); scope == l.Scope && book[BookConfirmed] == true {
		return nil
	}
	nm := copyMap(m)
	nb := copyMap(book)
	nb[BookScope] = l.Scope
	nb[BookConfirmed] = true
	nm[key] = nb
	if _, err := l.Store.Update(ctx, entity, id, Attrs{field: nm}); err != nil {
		return fmt.Errorf("recording that %s %s was imported into scope %s: %w", entity, id, l.Scope, err)
	}
	return nil
}
