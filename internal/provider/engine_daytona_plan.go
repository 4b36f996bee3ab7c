package provider

import (
	"context"
	"errors"
	"strings"

	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/tfsdk"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/ekairos/terraform-provider-sandbox/internal/backend"
)

// attributePather is implemented by engine errors that name the attribute they are about (the daytona engine's
// *daytona.AttrError), as path steps from the resource's root ("vcpus"; "daytona", "cpu").
type attributePather interface{ AttributePath() []string }

// specErrorPath is the attribute a plan-time engine error is reported on: the one the error names, or else the
// engine's block.
func specErrorPath(engine string, err error) path.Path {
	var ap attributePather
	if errors.As(err, &ap) {
		if steps := ap.AttributePath(); len(steps) > 0 {
			p := path.Root(steps[0])
			for _, s := range steps[1:] {
				p = p.AtName(s)
			}
			return p
		}
	}
	var fe interface{ Attribute() string } // vercel.FieldError: a dotted path
	if errors.As(err, &fe) && fe.Attribute() != "" {
		steps := strings.Split(fe.Attribute(), ".")
		p := path.Root(steps[0])
		for _, s := range steps[1:] {
			p = p.AtName(s)
		}
		return p
	}
	return path.Root(engine)
}

// planSpecForEngine completes a plan-time sandbox spec, for the daytona engine, with what the apply only
// resolves later but the engine can already judge: that a setup is used (its snapshot id is a placeholder) and
// the network policy with the names, not the values, of its write-only credentials.
func planSpecForEngine(ctx context.Context, eng backend.Engine, spec *backend.SandboxSpec, setupID types.String, policy types.Object, config tfsdk.Config) {
	if eng.Name() != backend.EngineDaytona {
		return
	}
	if !setupID.IsNull() && !setupID.IsUnknown() {
		spec.Setup = "planned-setup-snapshot"
	}
	spec.Policy = planPolicy(ctx, policy, config)
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
