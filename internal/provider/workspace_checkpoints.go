package provider

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/hashicorp/terraform-plugin-framework-validators/stringvalidator"
	"github.com/hashicorp/terraform-plugin-framework/attr"
	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/listplanmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/planmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/stringplanmodifier"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/ekairos/terraform-provider-sandbox/internal/backend"
)

// Workspace checkpoints, on engines whose Capabilities say WorkspaceCheckpoints (sprites): a checkpoint taken
// on request (checkpoint_trigger), a restore on request (restore_checkpoint_id), and the checkpoint ids the
// engine lists (checkpoints). Other engines refuse both requests at plan time.

// workspaceCheckpointAttributes are the sandbox_workspace attributes for checkpoints.
func workspaceCheckpointAttributes() map[string]schema.Attribute {
	return map[string]schema.Attribute{
		"checkpoint_trigger": schema.StringAttribute{
			MarkdownDescription: "Any value: setting it (at creation too) or changing it checkpoints the workspace's files at the end of " +
				"that apply, in place; removing it takes no checkpoint. The new id is `last_checkpoint_id` and the last entry of " +
				"`checkpoints`. Engines: `sprites` (a checkpoint of the workspace's sprite: its disk, copy-on-write, taken while it " +
				"runs). Other engines refuse it at plan time.",
			Optional:   true,
			Validators: []validator.String{stringvalidator.LengthBetween(1, 200)},
		},
		"restore_checkpoint_id": schema.StringAttribute{
			MarkdownDescription: "A checkpoint of this workspace (one of `checkpoints`). Changing it to an id restores the workspace's files " +
				"to that checkpoint, in place: what was written since is lost and running commands end, while `env`, `timeout` and " +
				"`policy` stay as configured. It runs before a checkpoint that `checkpoint_trigger` asks for in the same apply. On a " +
				"new workspace it restores nothing (a new workspace is already in its set-up state); removing it does nothing. An id " +
				"that is not in `checkpoints` is refused at plan time. Engines: `sprites`; other engines refuse it at plan time.",
			Optional:   true,
			Validators: []validator.String{stringvalidator.LengthBetween(1, 128)},
		},
		"checkpoints": schema.ListAttribute{
			MarkdownDescription: "The workspace's checkpoint ids, oldest first, as the engine lists them (automatic checkpoints left out). " +
				"On `sprites` a workspace made from a setup starts with one: the checkpoint taken right after the setup ran in it " +
				"(restore it to go back to the set-up state). Null on engines without workspace checkpoints.",
			Computed:      true,
			ElementType:   types.StringType,
			PlanModifiers: []planmodifier.List{listplanmodifier.UseStateForUnknown()},
		},
		"last_checkpoint_id": schema.StringAttribute{
			MarkdownDescription: "The id of the checkpoint `checkpoint_trigger` took last (recorded as `params.<engine>.lastCheckpointId`, " +
				"as `@ekairos/sandbox` names it); null until one is taken.",
			Computed:      true,
			PlanModifiers: []planmodifier.String{stringplanmodifier.UseStateForUnknown()},
		},
	}
}

// checkpointRequests are the checkpoint attributes of a plan, a state or a model.
type checkpointRequests struct {
	Trigger     types.String
	Restore     types.String
	Checkpoints types.List
}

func checkpointRequestsOf(ctx context.Context, get func(context.Context, path.Path, any) diag.Diagnostics, diags *diag.Diagnostics) checkpointRequests {
	var c checkpointRequests
	diags.Append(get(ctx, path.Root("checkpoint_trigger"), &c.Trigger)...)
	diags.Append(get(ctx, path.Root("restore_checkpoint_id"), &c.Restore)...)
	diags.Append(get(ctx, path.Root("checkpoints"), &c.Checkpoints)...)
	return c
}

// wantsCheckpoint: a checkpoint is due when the trigger is set and differs from the prior one (prior nil at
// creation).
func wantsCheckpoint(plan types.String, prior *types.String) bool {
	if plan.IsNull() || plan.IsUnknown() {
		return !plan.IsNull() // unknown now: decided at apply
	}
	return prior == nil || !plan.Equal(*prior)
}

// wantsRestore: a restore is due when an existing workspace's restore_checkpoint_id changes to an id.
func wantsRestore(plan, prior types.String) bool {
	return !plan.IsNull() && !plan.Equal(prior)
}

// modifyCheckpointPlan refuses the requests on engines without workspace checkpoints, refuses a restore to an
// id the workspace does not have, and marks the computed attributes unknown when the apply changes them.
func modifyCheckpointPlan(ctx context.Context, eng backend.Engine, req resource.ModifyPlanRequest, resp *resource.ModifyPlanResponse) {
	if req.Plan.Raw.IsNull() {
		return
	}
	plan := checkpointRequestsOf(ctx, req.Plan.GetAttribute, &resp.Diagnostics)
	if resp.Diagnostics.HasError() {
		return
	}
	if eng != nil && !eng.Capabilities().WorkspaceCheckpoints {
		for name, v := range map[string]types.String{"checkpoint_trigger": plan.Trigger, "restore_checkpoint_id": plan.Restore} {
			if !v.IsNull() {
				resp.Diagnostics.AddAttributeError(path.Root(name), "Engine cannot checkpoint workspaces",
					fmt.Sprintf("The %s engine cannot checkpoint or restore a workspace; remove %s (engines with workspace checkpoints: %s).", eng.Name(), name,
						strings.Join(enginesWith(func(c backend.Capabilities) bool { return c.WorkspaceCheckpoints }), ", ")))
			}
		}
		return
	}
	if req.State.Raw.IsNull() {
		return // creation: the computed attributes are unknown already
	}
	state := checkpointRequestsOf(ctx, req.State.GetAttribute, &resp.Diagnostics)
	if resp.Diagnostics.HasError() {
		return
	}
	restore := wantsRestore(plan.Restore, state.Restore)
	if restore && !plan.Restore.IsUnknown() && !state.Checkpoints.IsNull() && !state.Checkpoints.IsUnknown() {
		var ids []string
		resp.Diagnostics.Append(state.Checkpoints.ElementsAs(ctx, &ids, false)...)
		if id := plan.Restore.ValueString(); !slices.Contains(ids, id) {
			resp.Diagnostics.AddAttributeError(path.Root("restore_checkpoint_id"), "No such checkpoint",
				fmt.Sprintf("The workspace has no checkpoint %q; its checkpoints are: %s.", id, orNone(ids)))
		}
	}
	if restore || wantsCheckpoint(plan.Trigger, &state.Trigger) {
		resp.Diagnostics.Append(resp.Plan.SetAttribute(ctx, path.Root("checkpoints"), types.ListUnknown(types.StringType))...)
	}
	if wantsCheckpoint(plan.Trigger, &state.Trigger) {
		resp.Diagnostics.Append(resp.Plan.SetAttribute(ctx, path.Root("last_checkpoint_id"), types.StringUnknown())...)
	}
}

func orNone(ids []string) string {
	if len(ids) == 0 {
		return "none"
	}
	return strings.Join(ids, ", ")
}

// applyCheckpointRequests restores then checkpoints the workspace as the plan asks (prior is nil at
// creation, when only a checkpoint can be due), and returns the record and engine view to put in state.
func applyCheckpointRequests(ctx context.Context, lc *backend.Lifecycle, id string, plan, prior *workspaceModel, rec *backend.Record, ws *backend.Workspace) (*backend.Record, *backend.Workspace, error) {
	changed := false
	if prior != nil && wantsRestore(plan.RestoreCheckpointID, prior.RestoreCheckpointID) {
		r, err := lc.RestoreWorkspace(ctx, id, plan.RestoreCheckpointID.ValueString())
		if err != nil {
			return nil, nil, err
		}
		rec, changed = r, true
	}
	var priorTrigger *types.String
	if prior != nil {
		priorTrigger = &prior.CheckpointTrigger
	}
	if wantsCheckpoint(plan.CheckpointTrigger, priorTrigger) {
		r, _, err := lc.CheckpointWorkspace(ctx, id, "terraform-provider-sandbox checkpoint_trigger "+plan.CheckpointTrigger.ValueString())
		if err != nil {
			return nil, nil, err
		}
		rec, changed = r, true
	}
	if !changed {
		return rec, ws, nil
	}
	r, w, err := lc.ReadWorkspace(ctx, id)
	if err != nil {
		return nil, nil, err
	}
	if r == nil || w == nil {
		return nil, nil, fmt.Errorf("workspace %s vanished right after its checkpoint or restore", id)
	}
	return r, w, nil
}

// checkpointsFromEngine sets the computed checkpoint attributes from the record and the engine's view (nil
// when the engine was not asked).
func (m *workspaceModel) checkpointsFromEngine(rec *backend.Record, ws *backend.Workspace) {
	sub, _ := rec.JSONMap("params")[rec.String("provider")].(map[string]any)
	last, _ := sub["lastCheckpointId"].(string)
	m.LastCheckpointID = stringOrNull(last)
	switch {
	case ws != nil && ws.Checkpoints != nil:
		vals := make([]attr.Value, 0, len(ws.Checkpoints))
		for _, id := range ws.Checkpoints {
			vals = append(vals, types.StringValue(id))
		}
		m.Checkpoints = types.ListValueMust(types.StringType, vals)
	case ws != nil || m.Checkpoints.IsUnknown():
		m.Checkpoints = types.ListNull(types.StringType)
	}
}
