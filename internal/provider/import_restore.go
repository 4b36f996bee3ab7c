package provider

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/hashicorp/terraform-plugin-framework-timeouts/resource/timeouts"
	"github.com/hashicorp/terraform-plugin-framework/attr"
	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/mapplanmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/planmodifier"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/ekairos/terraform-provider-sandbox/internal/backend"
)

// Import bookkeeping: what a configuration said that a record's own fields do not say exactly, kept under
// params.terraform (metadata.terraform for runs) so that an import rebuilds the configuration. Never secrets.
const (
	bkTimeout  = "timeout"  // a duration as the configuration spelled it ("90s", not 90000 ms)
	bkTimeouts = "timeouts" // the timeouts block: {"create": "20m", ...}
	bkOptions  = "options"  // the names of the engine block's attributes that were set; absent = no block
	bkCredsV   = "credentialsWoVersion"
)

// privateImported marks a resource imported and not yet applied: its sensitive values (env) could not come
// back from the record, so the first plan takes the configuration's values in place instead of replacing.
const privateImported = "imported"

// durationSpelling is the configuration's spelling of a duration, for the bookkeeping; nil when unset.
func durationSpelling(v types.String) any {
	if v.IsNull() || v.IsUnknown() {
		return nil
	}
	return v.ValueString()
}

// restoreDuration returns the duration for state: the prior value when it means ms, else the configuration's
// recorded spelling when it means ms (or when ms is unknown: < 0), else the shortest Go form of ms, else def.
func restoreDuration(prior types.String, bk map[string]any, ms int64, def string) types.String {
	means := func(s string) bool {
		d, err := time.ParseDuration(s)
		return err == nil && (ms < 0 || d.Milliseconds() == ms)
	}
	if !prior.IsNull() && !prior.IsUnknown() && means(prior.ValueString()) {
		return prior
	}
	if s, ok := bk[bkTimeout].(string); ok && means(s) {
		return types.StringValue(s)
	}
	if ms > 0 {
		return types.StringValue(formatMillis(ms))
	}
	return types.StringValue(def)
}

// timeoutsBookkeeping keeps the timeouts block's set values; nil without a block.
func timeoutsBookkeeping(t timeouts.Value) any {
	if t.IsNull() || t.IsUnknown() {
		return nil
	}
	out := map[string]any{}
	for k, v := range t.Attributes() {
		if s, ok := v.(types.String); ok && !s.IsNull() && !s.IsUnknown() {
			out[k] = s.ValueString()
		}
	}
	return out
}

// restoreTimeouts rebuilds the timeouts block from the bookkeeping when the state has none (an import).
func restoreTimeouts(ctx context.Context, prior timeouts.Value, bk map[string]any) timeouts.Value {
	if !prior.IsNull() && !prior.IsUnknown() {
		return prior
	}
	types_ := prior.AttributeTypes(ctx)
	raw, ok := bk[bkTimeouts].(map[string]any)
	if !ok {
		return timeouts.Value{Object: types.ObjectNull(types_)}
	}
	vals := map[string]attr.Value{}
	for name := range types_ {
		if s, ok := raw[name].(string); ok {
			vals[name] = types.StringValue(s)
		} else {
			vals[name] = types.StringNull()
		}
	}
	return timeouts.Value{Object: types.ObjectValueMust(types_, vals)}
}

// blockKeys names the attributes set in an engine block, for the bookkeeping; nil without a block.
func blockKeys(obj types.Object) any {
	if obj.IsNull() || obj.IsUnknown() {
		return nil
	}
	keys := []any{}
	names := make([]string, 0, len(obj.Attributes()))
	for name, v := range obj.Attributes() {
		if !v.IsNull() && !v.IsUnknown() {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	for _, n := range names {
		keys = append(keys, n)
	}
	return keys
}

// restoreBlock reads an engine block back from its recorded options. With a prior block it refreshes what the
// prior set (optionsToObject); without one (an import) it rebuilds the block from the bookkeeping's names, so
// that engine metadata sharing params.<engine> never appears as configuration.
func restoreBlock(raw any, bk map[string]any, attrTypes map[string]attr.Type, prior types.Object) types.Object {
	if !prior.IsNull() && !prior.IsUnknown() {
		return optionsToObject(raw, attrTypes, prior)
	}
	keys, ok := bk[bkOptions].([]any)
	if !ok {
		return types.ObjectNull(attrTypes)
	}
	m, _ := raw.(map[string]any)
	set := map[string]bool{}
	for _, k := range keys {
		if s, ok := k.(string); ok {
			set[s] = true
		}
	}
	vals := map[string]attr.Value{}
	for name, t := range attrTypes {
		v, present := m[name]
		vals[name] = attrValue(t, v, present && set[name])
	}
	return types.ObjectValueMust(attrTypes, vals)
}

// restorePolicyVersion puts the recorded credentials_wo_version back into a policy block read from a record.
func restorePolicyVersion(pol types.Object, bk map[string]any) types.Object {
	if pol.IsNull() || pol.IsUnknown() {
		return pol
	}
	v, ok := backend.AsInt(bk[bkCredsV])
	if !ok {
		return pol
	}
	attrs := map[string]attr.Value{}
	for k, a := range pol.Attributes() {
		attrs[k] = a
	}
	if cur, ok := attrs["credentials_wo_version"].(types.Int64); ok && !cur.IsNull() {
		return pol
	}
	attrs["credentials_wo_version"] = types.Int64Value(v)
	return types.ObjectValueMust(pol.AttributeTypes(context.Background()), attrs)
}

// policyVersionBookkeeping is the policy block's credentials_wo_version; nil when unset.
func policyVersionBookkeeping(pol types.Object) any {
	if pol.IsNull() || pol.IsUnknown() {
		return nil
	}
	if v, ok := pol.Attributes()["credentials_wo_version"].(types.Int64); ok && !v.IsNull() && !v.IsUnknown() {
		return v.ValueInt64()
	}
	return nil
}

// bookkeepingOf returns a record's params.terraform (the provider's bookkeeping).
func bookkeepingOf(rec *backend.Record) map[string]any {
	m, _ := rec.JSONMap("params")[backend.ParamsTerraform].(map[string]any)
	return m
}

// markImported records in private state that the resource was imported (see privateImported).
func markImported(ctx context.Context, resp *resource.ImportStateResponse) {
	if resp.Private != nil {
		resp.Diagnostics.Append(resp.Private.SetKey(ctx, privateImported, []byte(`true`))...)
	}
}

// clearImported removes the import mark once an apply has put the configuration's values into state.
func clearImported(ctx context.Context, p privateSetter, diags *diag.Diagnostics) {
	if p != nil {
		diags.Append(p.SetKey(ctx, privateImported, nil)...)
	}
}

// envRequiresReplace replaces on a change of a sensitive env map, except right after an import: the record
// never holds env values, so the imported state has none, and the configuration's values are taken in place.
func envRequiresReplace() planmodifier.Map {
	return mapplanmodifier.RequiresReplaceIf(func(ctx context.Context, req planmodifier.MapRequest, resp *mapplanmodifier.RequiresReplaceIfFuncResponse) {
		if req.StateValue.IsNull() && req.Private != nil {
			if b, _ := req.Private.GetKey(ctx, privateImported); len(b) > 0 {
				return
			}
		}
		resp.RequiresReplace = true
	}, "Changing it replaces the resource (after an import, whose state has no env values, the configuration's values are taken in place).",
		"Changing it replaces the resource (after an import, whose state has no env values, the configuration's values are taken in place).")
}

// entityHolding finds which entity holds a record id, for an import of an id of another kind.
func entityHolding(ctx context.Context, store backend.Store, id, except string) string {
	for _, e := range []string{backend.EntitySandboxes, backend.EntitySetups, backend.EntityWorkspaces, backend.EntityVolumes, backend.EntityProcesses} {
		if e == except {
			continue
		}
		if _, err := store.Get(ctx, e, id); err == nil {
			return e
		}
	}
	return ""
}

// resourceOfEntity names the resource type that imports records of an entity.
var resourceOfEntity = map[string]string{
	backend.EntitySandboxes:  "sandbox_sandbox",
	backend.EntitySetups:     "sandbox_setup",
	backend.EntityWorkspaces: "sandbox_workspace",
	backend.EntityVolumes:    "sandbox_volume",
	backend.EntityProcesses:  "sandbox_command",
}

// notFoundForImport says that no record has the id in the entity, and which entity holds it instead.
func notFoundForImport(ctx context.Context, store backend.Store, id, entity string, diags *diag.Diagnostics) {
	msg := fmt.Sprintf("No record %s in %s of the %s store.", id, entity, store.Kind())
	if other := entityHolding(ctx, store, id, entity); other != "" {
		msg += fmt.Sprintf(" The id is a record of %s: import it as a %s, not a %s.", other, resourceOfEntity[other], resourceOfEntity[entity])
	}
	diags.AddAttributeError(path.Root("id"), "No such record", msg)
}

// getForImport reads the record to import, with errors that say what is wrong.
func getForImport(ctx context.Context, store backend.Store, entity, id string, diags *diag.Diagnostics) *backend.Record {
	rec, err := store.Get(ctx, entity, id)
	if errors.Is(err, backend.ErrNotFound) {
		notFoundForImport(ctx, store, id, entity, diags)
		return nil
	}
	if err != nil {
		diags.AddError("Cannot read the record store", err.Error())
		return nil
	}
	return rec
}
