package provider

import (
	"context"

	"github.com/hashicorp/terraform-plugin-framework-validators/listvalidator"
	"github.com/hashicorp/terraform-plugin-framework-validators/mapvalidator"
	"github.com/hashicorp/terraform-plugin-framework-validators/stringvalidator"
	"github.com/hashicorp/terraform-plugin-framework/attr"
	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/planmodifier"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/tfsdk"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/ekairos/terraform-provider-sandbox/internal/backend"
)

var policyAttrTypes = map[string]attr.Type{
	"mode":                   types.StringType,
	"hosts":                  types.ListType{ElemType: types.StringType},
	"presets":                types.ListType{ElemType: types.StringType},
	"credentials_wo":         types.MapType{ElemType: types.StringType},
	"credentials_wo_version": types.Int64Type,
}

// policyBlock is the network policy block shared by sandboxes, setups and workspaces.
func policyBlock(what string, modifiers ...planmodifier.Object) schema.SingleNestedBlock {
	change := " Changed in place: the " + what + " is kept and its network policy switched."
	if len(modifiers) > 0 {
		change = " Changing it (`credentials_wo_version` included) replaces the " + what + "."
	}
	return schema.SingleNestedBlock{
		MarkdownDescription: "The " + what + "'s network policy, as sandkit's policies: `deny_all` (the default, also when the " +
			"block is absent: no network), `allow_all`, or `allow_list` of hosts and presets (" + quoteList(backend.PresetNames()) +
			", with sandkit's hosts for each). On `local`, an allow-list is enforced by a filtering HTTP(S) proxy of the " +
			"provider's that is the sandbox's only way out, and it injects preset credentials as headers." + change,
		PlanModifiers: modifiers,
		Attributes: map[string]schema.Attribute{
			"mode": schema.StringAttribute{
				MarkdownDescription: "`deny_all`, `allow_all` or `allow_list`. Required when the block is present.",
				Optional:            true,
				Validators:          []validator.String{stringvalidator.OneOf(backend.PolicyDenyAll, backend.PolicyAllowAll, backend.PolicyAllowList)},
			},
			"hosts": schema.ListAttribute{
				MarkdownDescription: "With `allow_list`: host names to allow; `*.example.com` allows every subdomain. On `local` an entry allows ports 80 and 443 only, unless it names a port (`db.example.com:5432` allows that port alone); the hosted engines (`daytona`, `vercel`, `sprites`) take host names only, and the plan fails on an entry with a port.",
				Optional:            true,
				ElementType:         types.StringType,
				Validators: []validator.List{
					listvalidator.UniqueValues(),
					listvalidator.ValueStringsAre(stringvalidator.RegexMatches(hostPatternRegexp, "must be a host name such as api.example.com or a *.example.com wildcard, optionally with a :port")),
				},
			},
			"presets": schema.ListAttribute{
				MarkdownDescription: "With `allow_list`: sandkit presets to allow: " + quoteList(backend.PresetNames()) + ".",
				Optional:            true,
				ElementType:         types.StringType,
				Validators:          []validator.List{listvalidator.UniqueValues(), listvalidator.ValueStringsAre(stringvalidator.OneOf(backend.PresetNames()...))},
			},
			"credentials_wo": schema.MapAttribute{
				MarkdownDescription: "Credentials for presets, by preset name (`github` token, `codex` or `gemini` API key), injected as " +
					"headers for the preset's hosts as sandkit does. Write-only (Terraform 1.11+): never stored in state or records. " +
					"Change `credentials_wo_version` to apply new values.",
				Optional:    true,
				Sensitive:   true,
				WriteOnly:   true,
				ElementType: types.StringType,
				Validators:  []validator.Map{mapvalidator.KeysAre(stringvalidator.OneOf("github", "codex", "gemini"))},
			},
			"credentials_wo_version": schema.Int64Attribute{
				MarkdownDescription: "Bump to apply changed `credentials_wo` values (they are not in state, so Terraform cannot see a change).",
				Optional:            true,
			},
		},
	}
}

type policyModel struct {
	Mode         types.String `tfsdk:"mode"`
	Hosts        types.List   `tfsdk:"hosts"`
	Presets      types.List   `tfsdk:"presets"`
	Credentials  types.Map    `tfsdk:"credentials_wo"`
	CredentialsV types.Int64  `tfsdk:"credentials_wo_version"`
}

// policyFrom builds the backend policy from the planned block and the write-only credentials of the config.
// A null block is nil (deny_all).
func policyFrom(ctx context.Context, planned types.Object, config *tfsdk.Config, diags *diag.Diagnostics) *backend.NetworkPolicy {
	if planned.IsNull() || planned.IsUnknown() {
		return nil
	}
	var m policyModel
	diags.Append(planned.As(ctx, &m, objectAsOptions)...)
	p := &backend.NetworkPolicy{Mode: m.Mode.ValueString()}
	p.Hosts = listStrings(ctx, m.Hosts, diags)
	p.Presets = listStrings(ctx, m.Presets, diags)
	if config != nil {
		var creds types.Map
		diags.Append(config.GetAttribute(ctx, path.Root("policy").AtName("credentials_wo"), &creds)...)
		if c := mapStrings(ctx, creds, diags); len(c) > 0 {
			p.Credentials = c
		}
	}
	if err := p.Validate(); err != nil {
		diags.AddAttributeError(path.Root("policy"), "Invalid network policy", err.Error())
	}
	return p
}

// policyValidate checks a configured policy at plan time.
func policyValidate(ctx context.Context, obj types.Object, diags *diag.Diagnostics) {
	if obj.IsNull() || obj.IsUnknown() {
		return
	}
	var m policyModel
	diags.Append(obj.As(ctx, &m, objectAsOptions)...)
	if m.Mode.IsUnknown() || m.Hosts.IsUnknown() || m.Presets.IsUnknown() || m.Credentials.IsUnknown() {
		return
	}
	if m.Mode.IsNull() {
		diags.AddAttributeError(path.Root("policy").AtName("mode"), "Missing policy mode",
			"A policy block needs mode: \"deny_all\", \"allow_all\" or \"allow_list\".")
		return
	}
	p := &backend.NetworkPolicy{Mode: m.Mode.ValueString(), Hosts: listStrings(ctx, m.Hosts, diags), Presets: listStrings(ctx, m.Presets, diags)}
	for k := range m.Credentials.Elements() { // the names only: values may be unknown at plan time
		if p.Credentials == nil {
			p.Credentials = map[string]string{}
		}
		p.Credentials[k] = "x"
		if !contains(p.Presets, k) {
			diags.AddAttributeError(path.Root("policy").AtName("credentials_wo"), "Credential for a preset not allowed",
				"credentials_wo has a credential for \""+k+"\", which is not in presets: add it to presets or remove the credential.")
		}
	}
	if err := p.Validate(); err != nil {
		diags.AddAttributeError(path.Root("policy"), "Invalid network policy", err.Error())
	}
}

// policyForState is the block as kept in state: write-only credentials are always null there.
func policyForState(obj types.Object) types.Object {
	if obj.IsNull() || obj.IsUnknown() {
		return obj
	}
	attrs := obj.Attributes()
	out := map[string]attr.Value{}
	for k, v := range attrs {
		out[k] = v
	}
	out["credentials_wo"] = types.MapNull(types.StringType)
	return types.ObjectValueMust(policyAttrTypes, out)
}
