package provider

import (
	"context"
	"errors"
	"fmt"

	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/ekairos/terraform-provider-sandbox/internal/backend"
)

var _ resource.ResourceWithModifyPlan = (*commandResource)(nil)

// ModifyPlan refuses, at plan time, a sandbox_id or workspace_id that names no record of the store (a typo, an
// id from another store, or the id of another kind of record), instead of failing at apply with the store's
// raw "not found". An id still unknown at plan (its sandbox is made in the same apply) is checked at apply.
// It only reads the store.
func (r *commandResource) ModifyPlan(ctx context.Context, req resource.ModifyPlanRequest, resp *resource.ModifyPlanResponse) {
	planLabels(ctx, r.data, req, resp)
	if req.Plan.Raw.IsNull() || r.data == nil {
		return
	}
	for _, target := range []struct{ attr, entity, what string }{
		{"sandbox_id", backend.EntitySandboxes, "sandbox"},
		{"workspace_id", backend.EntityWorkspaces, "workspace"},
	} {
		var id, prior types.String
		resp.Diagnostics.Append(req.Plan.GetAttribute(ctx, path.Root(target.attr), &id)...)
		if id.IsNull() || id.IsUnknown() || !backend.ValidID(id.ValueString()) {
			continue
		}
		if !req.State.Raw.IsNull() {
			resp.Diagnostics.Append(req.State.GetAttribute(ctx, path.Root(target.attr), &prior)...)
			if prior.Equal(id) {
				continue // unchanged: Read already dropped the run if its sandbox is gone
			}
		}
		// A plan never creates the store: when it does not exist, no id names a record in it.
		if missing, _, err := r.data.storeMissing(ctx); err != nil || missing {
			if err == nil {
				resp.Diagnostics.AddAttributeError(path.Root(target.attr), "No such "+target.what,
					fmt.Sprintf("%s = %q names no record: the configured record store (%s) does not exist yet, so there is no %s to run the command in.",
						target.attr, id.ValueString(), r.data.storeWhere(), target.what))
			} else {
				resp.Diagnostics.AddAttributeError(path.Root(target.attr), "Cannot read the record store", err.Error())
			}
			return
		}
		lc := lifecycleOf(r.data, &resp.Diagnostics)
		if lc == nil {
			return
		}
		checkTargetRecord(ctx, lc.Store, target.attr, target.entity, target.what, id.ValueString(), &resp.Diagnostics)
	}
}

func checkTargetRecord(ctx context.Context, store backend.Store, attr, entity, what, id string, diags *diag.Diagnostics) {
	rec, err := store.Get(ctx, entity, id)
	switch {
	case errors.Is(err, backend.ErrNotFound):
		msg := fmt.Sprintf("%s = %q names no record in %s of the %s store, so there is no %s to run the command in.",
			attr, id, entity, store.Kind(), what)
		if other := entityHolding(ctx, store, id, entity); other != "" {
			msg += fmt.Sprintf(" The id is a record of %s (a %s).", other, resourceOfEntity[other])
		}
		msg += fmt.Sprintf(" Use the id of a %s of this store, e.g. %s.%s.id.", resourceOfEntity[entity], resourceOfEntity[entity], "<name>")
		diags.AddAttributeError(path.Root(attr), "No such "+what, msg)
	case err != nil:
		diags.AddAttributeError(path.Root(attr), "Cannot read the record store", err.Error())
	default:
		st := rec.String("status")
		if st == backend.StatusShutdown || st == backend.WorkspaceArchived {
			diags.AddAttributeError(path.Root(attr), fmt.Sprintf("The %s is gone", what),
				fmt.Sprintf("%s = %q names a %s whose record is %s: it no longer exists, so the command cannot run in it.", attr, id, what, st))
		}
	}
}
