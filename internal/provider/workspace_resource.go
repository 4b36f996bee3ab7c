package provider

import (
	"context"
	"time"

	"github.com/hashicorp/terraform-plugin-framework-timeouts/resource/timeouts"
	"github.com/hashicorp/terraform-plugin-framework-validators/int64validator"
	"github.com/hashicorp/terraform-plugin-framework-validators/listvalidator"
	"github.com/hashicorp/terraform-plugin-framework-validators/mapvalidator"
	"github.com/hashicorp/terraform-plugin-framework-validators/stringvalidator"
	"github.com/hashicorp/terraform-plugin-framework/attr"
	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/planmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/stringdefault"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/stringplanmodifier"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/tfsdk"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/ekairos/terraform-provider-sandbox/internal/backend"
)

var (
	_ resource.ResourceWithImportState    = (*workspaceResource)(nil)
	_ resource.ResourceWithModifyPlan     = (*workspaceResource)(nil)
	_ resource.ResourceWithValidateConfig = (*workspaceResource)(nil)
)

// NewWorkspaceResource makes the sandbox_workspace resource.
func NewWorkspaceResource() resource.Resource { return &workspaceResource{} }

type workspaceResource struct{ data *providerData }

type workspaceModel struct {
	ID           types.String   `tfsdk:"id"`
	Name         types.String   `tfsdk:"name"`
	Backend      types.String   `tfsdk:"backend"`
	SetupID      types.String   `tfsdk:"setup_id"`
	ExposedPorts types.List     `tfsdk:"exposed_ports"`
	Timeout      types.String   `tfsdk:"timeout"`
	Env          types.Map      `tfsdk:"env"`
	Policy       types.Object   `tfsdk:"policy"`
	ExternalID   types.String   `tfsdk:"external_id"`
	Status       types.String   `tfsdk:"status"`
	CreatedAt    types.String   `tfsdk:"created_at"`
	Timeouts     timeouts.Value `tfsdk:"timeouts"`

	CheckpointTrigger   types.String `tfsdk:"checkpoint_trigger"`
	RestoreCheckpointID types.String `tfsdk:"restore_checkpoint_id"`
	Checkpoints         types.List   `tfsdk:"checkpoints"`
	LastCheckpointID    types.String `tfsdk:"last_checkpoint_id"`

	Labels    types.Map `tfsdk:"labels"`
	LabelsAll types.Map `tfsdk:"labels_all"`

	Local types.Object `tfsdk:"local"`
}

func (r *workspaceResource) Metadata(_ context.Context, req resource.MetadataRequest, resp *resource.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + "_workspace"
}

func (r *workspaceResource) Schema(ctx context.Context, _ resource.SchemaRequest, resp *resource.SchemaResponse) {
	keep := []planmodifier.String{stringplanmodifier.UseStateForUnknown()}
	resp.Schema = schema.Schema{
		MarkdownDescription: "A durable workspace, as sandkit's: files that outlive any single sandbox, first filled from a setup " +
			"(`setup_id`), with a default network policy, exposed ports and command timeout. Recorded in `sandbox_workspaces` " +
			"(status `active`; `archived` once destroyed). Run commands in it with `sandbox_command`'s `workspace_id`: what they write " +
			"stays. On `local` the workspace is its own persistent directory under the local root, used as the home of its commands." +
			daytonaWorkspaceDoc,
		Attributes: map[string]schema.Attribute{
			"id": schema.StringAttribute{Computed: true, PlanModifiers: keep, MarkdownDescription: "The record id (a UUID) in `sandbox_workspaces`."},
			"name": schema.StringAttribute{
				MarkdownDescription: "The workspace's name (sandkit's default is `default`). Changing it replaces the workspace and its files.",
				Required:            true,
				Validators:          []validator.String{stringvalidator.LengthBetween(1, 128)},
				PlanModifiers:       []planmodifier.String{stringplanmodifier.RequiresReplace()},
			},
			"backend": backendAttribute("workspace"),
			"setup_id": schema.StringAttribute{
				MarkdownDescription: "The record id of a `sandbox_setup` on the same engine whose artifact fills the workspace at creation (the setup does not run again). Changing it replaces the workspace.",
				Optional:            true,
				Validators:          []validator.String{uuidValidator{}},
				PlanModifiers:       []planmodifier.String{stringplanmodifier.RequiresReplace()},
			},
			"exposed_ports": schema.ListAttribute{
				MarkdownDescription: "Ports the workspace's sandboxes expose (1-65535, no duplicates). Changed in place.",
				Optional:            true, ElementType: types.Int64Type,
				Validators: []validator.List{listvalidator.UniqueValues(), listvalidator.ValueInt64sAre(int64validator.Between(1, 65535))},
			},
			"timeout": schema.StringAttribute{
				MarkdownDescription: "Default limit of each command in the workspace. Default `" + defaultSandboxTimeout + "`. Changed in place.",
				Optional:            true, Computed: true, Default: stringdefault.StaticString(defaultSandboxTimeout),
				Validators: []validator.String{durationValidator{min: time.Second, max: 24 * time.Hour}},
			},
			"env": schema.MapAttribute{
				MarkdownDescription: "Environment variables given to every command in the workspace. Sensitive: never recorded. Changed in place.",
				Optional:            true, Sensitive: true, ElementType: types.StringType,
				Validators: []validator.Map{mapvalidator.KeysAre(stringvalidator.RegexMatches(envNameRegexp, "must be an environment variable name")),
					mapvalidator.ValueStringsAre(noNULValidator{what: "environment variable's value"})},
			},
			"external_id": schema.StringAttribute{Computed: true, PlanModifiers: keep, MarkdownDescription: "The engine's id of the workspace (the record's `sandboxId`)."},
			"status": schema.StringAttribute{Computed: true, PlanModifiers: keep,
				MarkdownDescription: "The record status, sandkit's values: `active`, `inactive` (being created, or a failed create: replaced on the next apply), `archived`."},
			"created_at": schema.StringAttribute{Computed: true, PlanModifiers: keep, MarkdownDescription: "When the record was created (RFC 3339, UTC)."},
			"labels":     labelsAttribute("workspace"),
			"labels_all": labelsAllAttribute(),
		},
		Blocks: map[string]schema.Block{
			"policy":   policyBlock("workspace"),
			"timeouts": timeouts.Block(ctx, timeouts.Opts{Create: true, Update: true, Delete: true}),
			"local":    localDiskBlock("workspace"),
		},
	}
	for name, a := range workspaceCheckpointAttributes() {
		resp.Schema.Attributes[name] = a
	}
}

func (r *workspaceResource) Configure(_ context.Context, req resource.ConfigureRequest, resp *resource.ConfigureResponse) {
	d, err := providerDataFrom(req.ProviderData)
	if err != nil {
		resp.Diagnostics.AddError("Provider configuration", err.Error())
	}
	r.data = d
}

func (r *workspaceResource) ValidateConfig(ctx context.Context, req resource.ValidateConfigRequest, resp *resource.ValidateConfigResponse) {
	var p types.Object
	resp.Diagnostics.Append(req.Config.GetAttribute(ctx, path.Root("policy"), &p)...)
	policyValidate(ctx, p, &resp.Diagnostics)
}

func (r *workspaceResource) ModifyPlan(ctx context.Context, req resource.ModifyPlanRequest, resp *resource.ModifyPlanResponse) {
	eng := resolveBackendPlan(ctx, r.data, kindWorkspace, req, resp)
	planLocalBlock(ctx, kindWorkspace, eng, req, resp)
	planLabels(ctx, r.data, req, resp)
	modifyCheckpointPlan(ctx, eng, req, resp)
	if req.State.Raw.IsNull() || req.Plan.Raw.IsNull() {
		return
	}
	var status types.String
	resp.Diagnostics.Append(req.State.GetAttribute(ctx, path.Root("status"), &status)...)
	if status.ValueString() == backend.WorkspaceInactive {
		resp.RequiresReplace = append(resp.RequiresReplace, path.Root("status"))
		resp.Diagnostics.Append(resp.Plan.SetAttribute(ctx, path.Root("status"), types.StringUnknown())...)
	}
}

func (m *workspaceModel) request(ctx context.Context, config *tfsdk.Config, diags *diag.Diagnostics) backend.WorkspaceRequest {
	timeout, _ := time.ParseDuration(m.Timeout.ValueString())
	req := backend.WorkspaceRequest{
		Backend: m.Backend.ValueString(), Name: m.Name.ValueString(), SetupID: m.SetupID.ValueString(),
		Policy: policyFrom(ctx, m.Policy, config, diags), Timeout: timeout, Env: mapStrings(ctx, m.Env, diags),
		Bookkeeping: map[string]any{
			bkTimeout: durationSpelling(m.Timeout), bkTimeouts: timeoutsBookkeeping(m.Timeouts), bkCredsV: policyVersionBookkeeping(m.Policy),
			bkLabels: labelKeysBookkeeping(m.Labels), bkOptions: blockKeys(m.Local),
		},
		Labels:  labelsAllOf(m.LabelsAll),
		Options: optionsFromObject(m.Local),
	}
	if !m.ExposedPorts.IsNull() {
		var ports []int64
		diags.Append(m.ExposedPorts.ElementsAs(ctx, &ports, false)...)
		for _, p := range ports {
			req.Ports = append(req.Ports, int(p))
		}
	}
	return req
}

func (m *workspaceModel) fromRecord(rec *backend.Record) {
	m.ID = types.StringValue(rec.ID)
	m.Name = types.StringValue(rec.String("name"))
	m.Backend = types.StringValue(rec.String("provider"))
	m.SetupID = stringOrNull(rec.String("setupId"))
	m.ExternalID = stringOrNull(rec.String("sandboxId"))
	m.Status = types.StringValue(rec.String("status"))
	m.CreatedAt = timeOrNull(rec, "createdAt")
	md := rec.JSONMap("metadata")
	bk := bookkeepingOf(rec)
	if ms, ok := backend.AsInt(md["timeoutMs"]); ok && ms > 0 {
		m.Timeout = restoreDuration(m.Timeout, bk, ms, defaultSandboxTimeout)
	} else if m.Timeout.IsNull() || m.Timeout.IsUnknown() {
		m.Timeout = restoreDuration(m.Timeout, bk, -1, defaultSandboxTimeout)
	}
	cfg, _ := md["sandkit:sandbox-config"].(map[string]any)
	raw, _ := cfg["exposedPorts"].([]any)
	if len(raw) > 0 {
		vals := make([]attr.Value, 0, len(raw))
		for _, p := range raw {
			n, _ := backend.AsInt(p)
			vals = append(vals, types.Int64Value(n))
		}
		m.ExposedPorts = types.ListValueMust(types.Int64Type, vals)
	} else if m.ExposedPorts.IsUnknown() || (!m.ExposedPorts.IsNull() && len(m.ExposedPorts.Elements()) > 0) {
		m.ExposedPorts = types.ListNull(types.Int64Type)
	}
	pol, _ := md["sandkit:policy"].(map[string]any)
	if m.Policy.IsUnknown() || m.Policy.IsNull() {
		m.Policy = restorePolicyVersion(policyFromRecord(pol), bk)
	}
	m.Policy = policyForState(m.Policy)
	if m.Env.IsUnknown() {
		m.Env = types.MapNull(types.StringType)
	}
	m.Labels, m.LabelsAll = restoreLabels(m.Labels, rec)
	m.Local = restoreLocalBlock(rec, bk, m.Local)
}

func (r *workspaceResource) Create(ctx context.Context, req resource.CreateRequest, resp *resource.CreateResponse) {
	var plan workspaceModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &plan)...)
	lc := lifecycleOf(r.data, &resp.Diagnostics)
	if resp.Diagnostics.HasError() || lc == nil {
		return
	}
	keepStore(ctx, r.data, lc, resp.Private, true, &resp.Diagnostics)
	ctx, cancel := withTimeout(ctx, plan.Timeouts.Create, defaultCreateTimeout, &resp.Diagnostics)
	defer cancel()
	wreq := plan.request(ctx, &req.Config, &resp.Diagnostics)
	if resp.Diagnostics.HasError() {
		return
	}
	rec, ws, err := lc.CreateWorkspace(ctx, wreq)
	if err == nil {
		var crec *backend.Record
		crec, ws, err = applyCheckpointRequests(ctx, lc, rec.ID, &plan, nil, rec, ws)
		if crec != nil {
			rec = crec
		}
	}
	if rec != nil {
		plan.fromRecord(rec)
		plan.checkpointsFromEngine(rec, ws)
		resp.Diagnostics.Append(resp.State.Set(ctx, &plan)...)
	}
	if err != nil {
		resp.Diagnostics.AddError("Workspace not created", err.Error())
	}
}

func (r *workspaceResource) Read(ctx context.Context, req resource.ReadRequest, resp *resource.ReadResponse) {
	var state workspaceModel
	resp.Diagnostics.Append(req.State.Get(ctx, &state)...)
	if resp.Diagnostics.HasError() {
		return
	}
	lc := readLifecycle(ctx, r.data, req.Private, "sandbox_workspace", state.ID.ValueString(), &resp.Diagnostics)
	if resp.Diagnostics.HasError() || lc == nil {
		return
	}
	rec, ws, err := lc.ReadWorkspace(ctx, state.ID.ValueString())
	if err != nil {
		resp.Diagnostics.AddError("Cannot read workspace", err.Error())
		return
	}
	if rec == nil {
		if recordGoneIsDrift(ctx, r.data, lc, req.Private, backend.EntityWorkspaces, "sandbox_workspace", state.ID.ValueString(), &resp.Diagnostics) {
			resp.State.RemoveResource(ctx)
		}
		return
	}
	keepStore(ctx, r.data, lc, resp.Private, false, &resp.Diagnostics)
	state.fromRecord(rec)
	state.checkpointsFromEngine(rec, ws)
	state.Timeouts = restoreTimeouts(ctx, state.Timeouts, bookkeepingOf(rec))
	resp.Diagnostics.Append(resp.State.Set(ctx, &state)...)
}

func (r *workspaceResource) Update(ctx context.Context, req resource.UpdateRequest, resp *resource.UpdateResponse) {
	var plan workspaceModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &plan)...)
	lc := lifecycleOf(r.data, &resp.Diagnostics)
	if resp.Diagnostics.HasError() || lc == nil {
		return
	}
	ctx, cancel := withTimeout(ctx, plan.Timeouts.Update, defaultUpdateTimeout, &resp.Diagnostics)
	defer cancel()
	wreq := plan.request(ctx, &req.Config, &resp.Diagnostics)
	if resp.Diagnostics.HasError() {
		return
	}
	var prior workspaceModel
	resp.Diagnostics.Append(req.State.Get(ctx, &prior)...)
	if resp.Diagnostics.HasError() {
		return
	}
	rec, ws, err := lc.UpdateWorkspace(ctx, plan.ID.ValueString(), wreq)
	if err == nil {
		rec, ws, err = applyCheckpointRequests(ctx, lc, plan.ID.ValueString(), &plan, &prior, rec, ws)
	}
	if err != nil {
		resp.Diagnostics.AddError("Workspace not updated", err.Error())
		return
	}
	plan.fromRecord(rec)
	plan.checkpointsFromEngine(rec, ws)
	resp.Diagnostics.Append(resp.State.Set(ctx, &plan)...)
}

func (r *workspaceResource) Delete(ctx context.Context, req resource.DeleteRequest, resp *resource.DeleteResponse) {
	var state workspaceModel
	resp.Diagnostics.Append(req.State.Get(ctx, &state)...)
	lc := lifecycleOf(r.data, &resp.Diagnostics)
	if resp.Diagnostics.HasError() || lc == nil {
		return
	}
	ctx, cancel := withTimeout(ctx, state.Timeouts.Delete, defaultDeleteTimeout, &resp.Diagnostics)
	defer cancel()
	if err := lc.DeleteWorkspace(ctx, state.ID.ValueString()); err != nil {
		resp.Diagnostics.AddError("Workspace not destroyed", err.Error())
	}
}

func (r *workspaceResource) ImportState(ctx context.Context, req resource.ImportStateRequest, resp *resource.ImportStateResponse) {
	importByRecordID(ctx, r.data, backend.EntityWorkspaces, req, resp)
}
