package provider

import (
	"context"
	"fmt"
	"strings"

	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/ekairos/terraform-provider-sandbox/internal/backend"
	"github.com/ekairos/terraform-provider-sandbox/internal/backend/engines"
)

// planCapabilities is what a plan is checked against: the configured engine's capabilities (which may narrow
// the declared ones, as the local engine without isolation does), else the ones its descriptor declares in the
// registry, so that the checks are the same for every engine and run even when the engine cannot be configured
// yet (a missing token does not hide "no volumes on vercel").
func planCapabilities(name string, eng backend.Engine) (backend.Capabilities, bool) {
	if eng != nil {
		return eng.Capabilities(), true
	}
	d, ok := engines.Lookup(name)
	return d.Capabilities, ok
}

// Resource kinds whose plans checkCapabilities checks.
const (
	kindSandbox   = backend.KindSandbox
	kindWorkspace = backend.KindWorkspace
	kindSetup     = backend.KindSetup
	kindVolume    = backend.KindVolume
)

// checkCapabilities refuses at plan time what the engine cannot do, each error on the attribute that asks
// for it: the kind of resource itself (volumes, setups, workspaces), desired_state = "stopped", volume
// blocks, setup_id, too many ports or vCPUs, a policy mode and policy credentials.
func checkCapabilities(ctx context.Context, kind backend.ResourceKind, name string, caps backend.Capabilities, req resource.ModifyPlanRequest, diags *diag.Diagnostics) {
	if req.Plan.Raw.IsNull() {
		return
	}
	switch kind {
	case kindVolume:
		if !caps.Volumes {
			diags.AddAttributeError(path.Root("backend"), "Engine has no volumes",
				fmt.Sprintf("No volumes on %s: the %s engine has no persistent volumes; use an engine that has them (%s).", name, name, quoteList(enginesWith(func(c backend.Capabilities) bool { return c.Volumes }))))
		}
		return
	case kindSetup:
		if !caps.Setups {
			diags.AddAttributeError(path.Root("backend"), "Engine has no setups", fmt.Sprintf("The %s engine has no setup bootstraps.", name))
		}
	case kindWorkspace:
		if !caps.Workspaces {
			diags.AddAttributeError(path.Root("backend"), "Engine has no workspaces", fmt.Sprintf("The %s engine has no workspaces.", name))
		}
	case kindSandbox:
		checkSandboxCapabilities(ctx, name, caps, req, diags)
	}
	checkPolicyCapabilities(ctx, name, caps, req, diags)
}

func checkSandboxCapabilities(ctx context.Context, name string, caps backend.Capabilities, req resource.ModifyPlanRequest, diags *diag.Diagnostics) {
	var desired, setupID types.String
	var vcpus types.Int64
	var ports, volumes types.List
	for p, target := range map[string]any{"desired_state": &desired, "setup_id": &setupID, "vcpus": &vcpus, "ports": &ports, "volume": &volumes} {
		if d := req.Plan.GetAttribute(ctx, path.Root(p), target); d.HasError() {
			return
		}
	}
	if desired.ValueString() == backend.DesiredStopped && !caps.StopStart {
		detail := fmt.Sprintf("The %s engine cannot stop a sandbox and start it again; remove desired_state or set it to \"running\".", name)
		if caps.NoStop != "" {
			detail += " " + caps.NoStop
		}
		diags.AddAttributeError(path.Root("desired_state"), "Engine cannot stop sandboxes", detail)
	}
	if caps.MaxPorts > 0 && !ports.IsUnknown() && len(ports.Elements()) > caps.MaxPorts {
		diags.AddAttributeError(path.Root("ports"), "Too many ports",
			fmt.Sprintf("The %s engine exposes at most %d ports; %d are listed.", name, caps.MaxPorts, len(ports.Elements())))
	}
	if !caps.Volumes && !volumes.IsNull() && len(volumes.Elements()) > 0 {
		// A path into the first volume block, so that Terraform points at that block, not at the resource.
		diags.AddAttributeError(path.Root("volume").AtListIndex(0).AtName("volume_id"), "Engine has no volumes",
			fmt.Sprintf("No volumes on %s: the %s engine cannot mount volumes; remove the volume blocks or use an engine with volumes (%s).",
				name, name, quoteList(enginesWith(func(c backend.Capabilities) bool { return c.Volumes }))))
	}
	if !caps.Setups && !setupID.IsNull() {
		diags.AddAttributeError(path.Root("setup_id"), "Engine has no setups", fmt.Sprintf("The %s engine cannot start from a setup.", name))
	}
	if caps.MaxVCPUs > 0 && vcpus.ValueInt64() > int64(caps.MaxVCPUs) {
		diags.AddAttributeError(path.Root("vcpus"), "Too many vCPUs", fmt.Sprintf("The %s engine gives at most %d vCPUs.", name, caps.MaxVCPUs))
	}
}

// checkPolicyCapabilities checks a policy's mode, host entries with a port and credentials against the engine.
func checkPolicyCapabilities(ctx context.Context, name string, caps backend.Capabilities, req resource.ModifyPlanRequest, diags *diag.Diagnostics) {
	var policy types.Object
	if d := req.Plan.GetAttribute(ctx, path.Root("policy"), &policy); d.HasError() || policy.IsNull() || policy.IsUnknown() {
		return
	}
	if mode, ok := policy.Attributes()["mode"].(types.String); ok && !mode.IsUnknown() && !mode.IsNull() && !contains(caps.NetworkPolicies, mode.ValueString()) {
		diags.AddAttributeError(path.Root("policy").AtName("mode"), "Policy not supported by the engine",
			fmt.Sprintf("The %s engine enforces %s, not %q.", name, quoteList(caps.NetworkPolicies), mode.ValueString()))
	}
	if !caps.PolicyHostPorts {
		var hosts types.List
		if d := req.Plan.GetAttribute(ctx, path.Root("policy").AtName("hosts"), &hosts); !d.HasError() && !hosts.IsNull() && !hosts.IsUnknown() {
			for i, h := range hosts.Elements() {
				s, ok := h.(types.String)
				if !ok || s.IsNull() || s.IsUnknown() || !strings.Contains(s.ValueString(), ":") {
					continue
				}
				host, _, _ := strings.Cut(s.ValueString(), ":")
				diags.AddAttributeError(path.Root("policy").AtName("hosts").AtListIndex(i), "Host entry with a port",
					fmt.Sprintf("The %s engine's allow list takes host names only, without a port: write %q instead of %q, or use an engine whose allow list limits ports (%s).",
						name, host, s.ValueString(), quoteList(enginesWith(func(c backend.Capabilities) bool { return c.PolicyHostPorts }))))
			}
		}
	}
	if caps.PolicyCredentials {
		return
	}
	// Write-only: the credentials are in the configuration, never in the plan.
	var creds types.Map
	if d := req.Config.GetAttribute(ctx, path.Root("policy").AtName("credentials_wo"), &creds); d.HasError() || creds.IsNull() {
		return
	}
	if creds.IsUnknown() || len(creds.Elements()) > 0 {
		diags.AddAttributeError(path.Root("policy").AtName("credentials_wo"), "Policy not supported by the engine",
			fmt.Sprintf("The %s engine cannot inject credentials into requests (its network policy only allows or denies hosts): remove credentials_wo, or use an engine that injects them (%s).",
				name, quoteList(enginesWith(func(c backend.Capabilities) bool { return c.PolicyCredentials }))))
	}
}

// enginesWith lists the engines of this build whose declared capabilities satisfy ok.
func enginesWith(ok func(backend.Capabilities) bool) []string {
	var out []string
	for _, d := range engines.All {
		if ok(d.Capabilities) {
			out = append(out, d.Name)
		}
	}
	return out
}
