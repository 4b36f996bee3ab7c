package provider

import (
	"context"
	"errors"

	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/tfsdk"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/ekairos/terraform-provider-sandbox/internal/backend"
	"github.com/ekairos/terraform-provider-sandbox/internal/backend/engines"
)

// specErrorPath is the attribute a plan-time engine error is reported on: the one its *backend.AttrError
// names, or else the engine's block.
func specErrorPath(engine string, err error) path.Path {
	var ae *backend.AttrError
	if errors.As(err, &ae) && len(ae.Path) > 0 {
		p := path.Root(ae.Path[0])
		for _, s := range ae.Path[1:] {
			p = p.AtName(s)
		}
		return p
	}
	return path.Root(engine)
}

// planSpec completes a plan-time sandbox spec, for every engine, with what the apply only resolves later but
// the engine can already judge: that a setup is used (its artifact id is backend.PlannedSetup) and the network
// policy with the names, not the values, of its write-only credentials.
func planSpec(ctx context.Context, spec *backend.SandboxSpec, setupID types.String, policy types.Object, config tfsdk.Config) {
	if !setupID.IsNull() && !setupID.IsUnknown() {
		spec.Setup = backend.PlannedSetup
	}
	spec.Policy = planPolicy(ctx, policy, config)
}

// checkPlanBlocks checks a plan's engine option blocks (engineBlocks.check) for a resource of kind on engine,
// and returns them.
func checkPlanBlocks(ctx context.Context, plan tfsdk.Plan, kind backend.ResourceKind, engine string, diags *diag.Diagnostics) engineBlocks {
	blocks := engineBlocks{}
	for _, d := range engines.All {
		if _, ok := d.Options[kind]; !ok {
			continue
		}
		var v types.Object
		diags.Append(plan.GetAttribute(ctx, path.Root(d.Name), &v)...)
		blocks[d.Name] = v
	}
	setupID := types.StringNull()
	if _, ok := plan.Schema.GetAttributes()["setup_id"]; ok {
		diags.Append(plan.GetAttribute(ctx, path.Root("setup_id"), &setupID)...)
	}
	if !diags.HasError() {
		blocks.check(kind, engine, setupID, diags)
	}
	return blocks
}

// validateHostOptions has the made engine judge a workspace's or volume's options on this host
// (backend.WorkspaceValidator, backend.VolumeValidator: "disk_mb needs root"), once its block is known and
// nothing else refused the plan, each refusal on its attribute. A sandbox's options are judged by the engine's
// ValidateSpec with the rest of its spec.
func validateHostOptions(kind backend.ResourceKind, engine string, eng backend.Engine, block types.Object, diags *diag.Diagnostics) {
	if eng == nil || diags.HasError() || block.IsNull() || !fullyKnown(block) {
		return
	}
	opts := optionsFromObject(block)
	var err error
	switch kind {
	case backend.KindVolume:
		if v, ok := eng.(backend.VolumeValidator); ok {
			err = v.ValidateVolumeSpec(backend.VolumeSpec{Options: opts})
		}
	case backend.KindWorkspace:
		if v, ok := eng.(backend.WorkspaceValidator); ok {
			err = v.ValidateWorkspaceSpec(backend.WorkspaceSpec{Options: opts})
		}
	case backend.KindSandbox, backend.KindSetup:
	}
	if err != nil {
		diags.AddAttributeError(specErrorPath(engine, err), "Invalid engine options", err.Error())
	}
}

// planPolicy is the configured policy at plan time, credentials as names only; nil when absent, unknown or
// invalid (policyValidate reports that).
func planPolicy(ctx context.Context, planned types.Object, config tfsdk.Config) *backend.NetworkPolicy {
	if planned.IsNull() || planned.IsUnknown() {
		return nil
	}
	var m policyModel
	var diags diag.Diagnostics
	diags.Append(planned.As(ctx, &m, objectAsOptions)...)
	if diags.HasError() || m.Mode.IsUnknown() || m.Hosts.IsUnknown() || m.Presets.IsUnknown() {
		return nil
	}
	p := &backend.NetworkPolicy{Mode: m.Mode.ValueString(), Hosts: listStrings(ctx, m.Hosts, &diags), Presets: listStrings(ctx, m.Presets, &diags)}
	var creds types.Map
	diags.Append(config.GetAttribute(ctx, path.Root("policy").AtName("credentials_wo"), &creds)...)
	if !creds.IsUnknown() {
		for k := range creds.Elements() {
			if p.Credentials == nil {
				p.Credentials = map[string]string{}
			}
			p.Credentials[k] = "planned"
		}
	}
	if diags.HasError() || p.Validate() != nil {
		return nil
	}
	return p
}
