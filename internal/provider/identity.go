package provider

import (
	"context"
	"fmt"

	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/resource/identityschema"
	"github.com/hashicorp/terraform-plugin-framework/tfsdk"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/ekairos/terraform-provider-sandbox/internal/backend"
)

// Resource identity (Terraform 1.12+): every resource is identified by its record id and nothing else, so that
// `import { to = ..., identity = { id = "..." } }` works, Terraform keeps the identity in state, and list
// resources (`terraform query`) return it.
//
// Identity is set in one place, as terraform-provider-aws does with its identity interceptor: each resource is
// wrapped (withIdentity) so that after Create, Read, Update and ImportState the identity is the state's id. The
// wrappers embed the resource, so every optional interface it implements (ModifyPlan, ValidateConfig, ...)
// stays. Terraform below 1.12 sends no identity (the framework's Identity is nil) and nothing changes for it.
//
// The wrappers also follow an import (by id or identity, any Terraform version) until the record is this
// configuration's: see privateAdopt.

// identityModel is the identity of every resource: the record id.
type identityModel struct {
	ID types.String `tfsdk:"id"`
}

// recordIdentitySchema is the identity schema of every resource.
func recordIdentitySchema(kind, entity string) identityschema.Schema {
	return identityschema.Schema{
		Attributes: map[string]identityschema.Attribute{
			"id": identityschema.StringAttribute{
				RequiredForImport: true,
				Description: fmt.Sprintf("The record id of the %s: the UUID of its record in %s, the same as the resource's id.",
					kind, entity),
			},
		},
	}
}

// identityFromState sets the identity to the state's id. A state without an id (a removed resource, a create
// that wrote no record) sets nothing.
func identityFromState(ctx context.Context, st *tfsdk.State, id *tfsdk.ResourceIdentity, diags *diag.Diagnostics) {
	if id == nil || st == nil || st.Raw.IsNull() {
		return
	}
	var v types.String
	if d := st.GetAttribute(ctx, path.Root("id"), &v); d.HasError() || v.IsNull() || v.IsUnknown() || v.ValueString() == "" {
		return
	}
	diags.Append(id.Set(ctx, identityModel{ID: v})...)
}

// readIdentity sets the identity after a Read. A Read that removed the resource (its object is gone) still
// answers with an identity, the prior state's: the framework refuses a Read without one ("Missing Resource
// Identity After Read"), even for a removed resource whose state came from a version without identities or from a
// failed create.
func readIdentity(ctx context.Context, req resource.ReadRequest, resp *resource.ReadResponse) {
	if resp.State.Raw.IsNull() {
		identityFromState(ctx, &req.State, resp.Identity, &resp.Diagnostics)
		return
	}
	identityFromState(ctx, &resp.State, resp.Identity, &resp.Diagnostics)
}

// importIDFromIdentity turns an import by identity into an import by id: the resources' ImportState read req.ID.
func importIDFromIdentity(ctx context.Context, req *resource.ImportStateRequest, diags *diag.Diagnostics) {
	if req.ID != "" || req.Identity == nil || req.Identity.Raw.IsNull() {
		return
	}
	var m identityModel
	diags.Append(req.Identity.Get(ctx, &m)...)
	req.ID = m.ID.ValueString()
}

// privateAdopt follows an import until the record is this configuration's: "imported" (set by ImportState),
// "planned" (the import's own read, in a plan that may never be applied), then cleared by the first read from a
// saved state, which claims the record (backend.Lifecycle.ClaimImported: its scope becomes this provider's).
const privateAdopt = "adopt"

// markAdopting records in private state that the resource is being imported.
func markAdopting(ctx context.Context, resp *resource.ImportStateResponse) {
	if resp.Private == nil || resp.Diagnostics.HasError() {
		return
	}
	resp.Diagnostics.Append(resp.Private.SetKey(ctx, privateAdopt, []byte(`"imported"`))...)
}

// adoptAfterImport moves the import mark on, and claims the record on the first read from a saved state. A claim
// that fails is a warning and is tried again by the next read.
func adoptAfterImport(ctx context.Context, data *providerData, entity string, req resource.ReadRequest, resp *resource.ReadResponse) {
	if data == nil || req.Private == nil || resp.Private == nil || resp.State.Raw.IsNull() || resp.Diagnostics.HasError() {
		return
	}
	b, _ := req.Private.GetKey(ctx, privateAdopt)
	switch string(b) {
	case `"imported"`:
		resp.Diagnostics.Append(resp.Private.SetKey(ctx, privateAdopt, []byte(`"planned"`))...)
	case `"planned"`:
		var id types.String
		resp.Diagnostics.Append(resp.State.GetAttribute(ctx, path.Root("id"), &id)...)
		lc := lifecycleOf(data, &resp.Diagnostics)
		if lc == nil || resp.Diagnostics.HasError() {
			return
		}
		if err := lc.ClaimImported(ctx, entity, id.ValueString()); err != nil {
			resp.Diagnostics.AddWarning("Imported record not yet claimed", err.Error()+
				"\n\nThe record keeps the scope of whatever made it until a later refresh records the import.")
			return
		}
		resp.Diagnostics.Append(resp.Private.SetKey(ctx, privateAdopt, nil)...)
	}
}

// identified wraps every resource of the provider with its identity.
func identified(factories ...func() resource.Resource) []func() resource.Resource {
	out := make([]func() resource.Resource, len(factories))
	for i, f := range factories {
		out[i] = func() resource.Resource { return withIdentity(f()) }
	}
	return out
}

// withIdentity returns the resource with identity, or panics on a resource type it does not know (a new
// resource must be added here: TestEveryResourceHasIdentity fails otherwise).
func withIdentity(r resource.Resource) resource.Resource {
	switch r := r.(type) {
	case *sandboxResource:
		return &sandboxIdentified{r}
	case *workspaceResource:
		return &workspaceIdentified{r}
	case *volumeResource:
		return &volumeIdentified{r}
	case *setupResource:
		return &setupIdentified{r}
	case *commandResource:
		return &commandIdentified{r}
	}
	panic(fmt.Sprintf("withIdentity: resource type %T has no identity wrapper", r))
}

type sandboxIdentified struct{ *sandboxResource }

func (r *sandboxIdentified) IdentitySchema(_ context.Context, _ resource.IdentitySchemaRequest, resp *resource.IdentitySchemaResponse) {
	resp.IdentitySchema = recordIdentitySchema("sandbox", "sandbox_sandboxes")
}

func (r *sandboxIdentified) Create(ctx context.Context, req resource.CreateRequest, resp *resource.CreateResponse) {
	r.sandboxResource.Create(ctx, req, resp)
	identityFromState(ctx, &resp.State, resp.Identity, &resp.Diagnostics)
}

func (r *sandboxIdentified) Read(ctx context.Context, req resource.ReadRequest, resp *resource.ReadResponse) {
	r.sandboxResource.Read(ctx, req, resp)
	readIdentity(ctx, req, resp)
	adoptAfterImport(ctx, r.data, backend.EntitySandboxes, req, resp)
}

func (r *sandboxIdentified) Update(ctx context.Context, req resource.UpdateRequest, resp *resource.UpdateResponse) {
	r.sandboxResource.Update(ctx, req, resp)
	identityFromState(ctx, &resp.State, resp.Identity, &resp.Diagnostics)
}

func (r *sandboxIdentified) ImportState(ctx context.Context, req resource.ImportStateRequest, resp *resource.ImportStateResponse) {
	importIDFromIdentity(ctx, &req, &resp.Diagnostics)
	r.sandboxResource.ImportState(ctx, req, resp)
	identityFromState(ctx, &resp.State, resp.Identity, &resp.Diagnostics)
	markAdopting(ctx, resp)
}

type workspaceIdentified struct{ *workspaceResource }

func (r *workspaceIdentified) IdentitySchema(_ context.Context, _ resource.IdentitySchemaRequest, resp *resource.IdentitySchemaResponse) {
	resp.IdentitySchema = recordIdentitySchema("workspace", "sandbox_workspaces")
}

func (r *workspaceIdentified) Create(ctx context.Context, req resource.CreateRequest, resp *resource.CreateResponse) {
	r.workspaceResource.Create(ctx, req, resp)
	identityFromState(ctx, &resp.State, resp.Identity, &resp.Diagnostics)
}

func (r *workspaceIdentified) Read(ctx context.Context, req resource.ReadRequest, resp *resource.ReadResponse) {
	r.workspaceResource.Read(ctx, req, resp)
	readIdentity(ctx, req, resp)
	adoptAfterImport(ctx, r.data, backend.EntityWorkspaces, req, resp)
}

func (r *workspaceIdentified) Update(ctx context.Context, req resource.UpdateRequest, resp *resource.UpdateResponse) {
	r.workspaceResource.Update(ctx, req, resp)
	identityFromState(ctx, &resp.State, resp.Identity, &resp.Diagnostics)
}

func (r *workspaceIdentified) ImportState(ctx context.Context, req resource.ImportStateRequest, resp *resource.ImportStateResponse) {
	importIDFromIdentity(ctx, &req, &resp.Diagnostics)
	r.workspaceResource.ImportState(ctx, req, resp)
	identityFromState(ctx, &resp.State, resp.Identity, &resp.Diagnostics)
	markAdopting(ctx, resp)
}

type volumeIdentified struct{ *volumeResource }

func (r *volumeIdentified) IdentitySchema(_ context.Context, _ resource.IdentitySchemaRequest, resp *resource.IdentitySchemaResponse) {
	resp.IdentitySchema = recordIdentitySchema("volume", "sandbox_volumes")
}

func (r *volumeIdentified) Create(ctx context.Context, req resource.CreateRequest, resp *resource.CreateResponse) {
	r.volumeResource.Create(ctx, req, resp)
	identityFromState(ctx, &resp.State, resp.Identity, &resp.Diagnostics)
}

func (r *volumeIdentified) Read(ctx context.Context, req resource.ReadRequest, resp *resource.ReadResponse) {
	r.volumeResource.Read(ctx, req, resp)
	readIdentity(ctx, req, resp)
	adoptAfterImport(ctx, r.data, backend.EntityVolumes, req, resp)
}

func (r *volumeIdentified) Update(ctx context.Context, req resource.UpdateRequest, resp *resource.UpdateResponse) {
	r.volumeResource.Update(ctx, req, resp)
	identityFromState(ctx, &resp.State, resp.Identity, &resp.Diagnostics)
}

func (r *volumeIdentified) ImportState(ctx context.Context, req resource.ImportStateRequest, resp *resource.ImportStateResponse) {
	importIDFromIdentity(ctx, &req, &resp.Diagnostics)
	r.volumeResource.ImportState(ctx, req, resp)
	identityFromState(ctx, &resp.State, resp.Identity, &resp.Diagnostics)
	markAdopting(ctx, resp)
}

type setupIdentified struct{ *setupResource }

func (r *setupIdentified) IdentitySchema(_ context.Context, _ resource.IdentitySchemaRequest, resp *resource.IdentitySchemaResponse) {
	resp.IdentitySchema = recordIdentitySchema("setup", "sandbox_setups")
}

func (r *setupIdentified) Create(ctx context.Context, req resource.CreateRequest, resp *resource.CreateResponse) {
	r.setupResource.Create(ctx, req, resp)
	identityFromState(ctx, &resp.State, resp.Identity, &resp.Diagnostics)
}

func (r *setupIdentified) Read(ctx context.Context, req resource.ReadRequest, resp *resource.ReadResponse) {
	r.setupResource.Read(ctx, req, resp)
	readIdentity(ctx, req, resp)
	adoptAfterImport(ctx, r.data, backend.EntitySetups, req, resp)
}

func (r *setupIdentified) Update(ctx context.Context, req resource.UpdateRequest, resp *resource.UpdateResponse) {
	r.setupResource.Update(ctx, req, resp)
	identityFromState(ctx, &resp.State, resp.Identity, &resp.Diagnostics)
}

func (r *setupIdentified) ImportState(ctx context.Context, req resource.ImportStateRequest, resp *resource.ImportStateResponse) {
	importIDFromIdentity(ctx, &req, &resp.Diagnostics)
	r.setupResource.ImportState(ctx, req, resp)
	identityFromState(ctx, &resp.State, resp.Identity, &resp.Diagnostics)
	markAdopting(ctx, resp)
}

type commandIdentified struct{ *commandResource }

func (r *commandIdentified) IdentitySchema(_ context.Context, _ resource.IdentitySchemaRequest, resp *resource.IdentitySchemaResponse) {
	resp.IdentitySchema = recordIdentitySchema("command's run", "sandbox_processes")
}

func (r *commandIdentified) Create(ctx context.Context, req resource.CreateRequest, resp *resource.CreateResponse) {
	r.commandResource.Create(ctx, req, resp)
	identityFromState(ctx, &resp.State, resp.Identity, &resp.Diagnostics)
}

func (r *commandIdentified) Read(ctx context.Context, req resource.ReadRequest, resp *resource.ReadResponse) {
	r.commandResource.Read(ctx, req, resp)
	readIdentity(ctx, req, resp)
	adoptAfterImport(ctx, r.data, backend.EntityProcesses, req, resp)
}

func (r *commandIdentified) Update(ctx context.Context, req resource.UpdateRequest, resp *resource.UpdateResponse) {
	r.commandResource.Update(ctx, req, resp)
	identityFromState(ctx, &resp.State, resp.Identity, &resp.Diagnostics)
}

func (r *commandIdentified) ImportState(ctx context.Context, req resource.ImportStateRequest, resp *resource.ImportStateResponse) {
	importIDFromIdentity(ctx, &req, &resp.Diagnostics)
	r.commandResource.ImportState(ctx, req, resp)
	identityFromState(ctx, &resp.State, resp.Identity, &resp.Diagnostics)
	markAdopting(ctx, resp)
}

var (
	_ resource.ResourceWithIdentity    = (*sandboxIdentified)(nil)
	_ resource.ResourceWithIdentity    = (*workspaceIdentified)(nil)
	_ resource.ResourceWithIdentity    = (*volumeIdentified)(nil)
	_ resource.ResourceWithIdentity    = (*setupIdentified)(nil)
	_ resource.ResourceWithIdentity    = (*commandIdentified)(nil)
	_ resource.ResourceWithImportState = (*sandboxIdentified)(nil)
)
