package provider

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"time"

	"github.com/hashicorp/terraform-plugin-framework-timeouts/resource/timeouts"
	"github.com/hashicorp/terraform-plugin-framework-validators/stringvalidator"
	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/planmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/stringplanmodifier"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/ekairos/terraform-provider-sandbox/internal/backend"
	"github.com/ekairos/terraform-provider-sandbox/internal/backend/engines"
)

var (
	_ resource.ResourceWithImportState = (*volumeResource)(nil)
	_ resource.ResourceWithModifyPlan  = (*volumeResource)(nil)
)

var volumeNameRegexp = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,62}$`)

// NewVolumeResource makes the sandbox_volume resource.
func NewVolumeResource() resource.Resource { return &volumeResource{} }

type volumeResource struct{ data *providerData }

type volumeModel struct {
	ID               types.String   `tfsdk:"id"`
	Name             types.String   `tfsdk:"name"`
	Backend          types.String   `tfsdk:"backend"`
	ExternalVolumeID types.String   `tfsdk:"external_volume_id"`
	Status           types.String   `tfsdk:"status"`
	State            types.String   `tfsdk:"state"`
	CreatedAt        types.String   `tfsdk:"created_at"`
	Timeouts         timeouts.Value `tfsdk:"timeouts"`
	Labels           types.Map      `tfsdk:"labels"`
	LabelsAll        types.Map      `tfsdk:"labels_all"`
	Engines          engineBlocks   `tfsdk:"-"`
}

func (r *volumeResource) Metadata(_ context.Context, req resource.MetadataRequest, resp *resource.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + "_volume"
}

func (r *volumeResource) Schema(ctx context.Context, _ resource.SchemaRequest, resp *resource.SchemaResponse) {
	keep := []planmodifier.String{stringplanmodifier.UseStateForUnknown()}
	resp.Schema = schema.Schema{
		MarkdownDescription: resourceDoc(kindVolume, "A named persistent volume, recorded in `sandbox_volumes`. Sandboxes mount it with `volume { volume_id, mount_path }` "+
			"blocks; what they write there outlives them and is seen by the next sandbox that mounts it. Destroying a volume that an "+
			"active sandbox still mounts fails with an error instead of losing data. "+volumeEnginesDoc()),
		Attributes: map[string]schema.Attribute{
			"id": schema.StringAttribute{Computed: true, PlanModifiers: keep,
				MarkdownDescription: "The record id (a UUID) in `sandbox_volumes`."},
			"name": schema.StringAttribute{
				MarkdownDescription: "The volume's name: 1 to 63 characters, lower-case letters, digits, `.`, `_` and `-`, starting with a letter or digit. Changing it replaces the volume (and its data).",
				Required:            true,
				Validators:          []validator.String{stringvalidator.RegexMatches(volumeNameRegexp, "must be 1-63 characters of a-z, 0-9, '.', '_' or '-', starting with a letter or digit")},
				PlanModifiers:       []planmodifier.String{stringplanmodifier.RequiresReplace()},
			},
			"backend": backendAttribute("volume"),
			"external_volume_id": schema.StringAttribute{Computed: true, PlanModifiers: keep,
				MarkdownDescription: "The engine's own id of the volume (`externalVolumeId` in the record)."},
			"status": schema.StringAttribute{Computed: true, PlanModifiers: keep,
				MarkdownDescription: "The record status: `creating`, `active`, `shutdown` or `error`."},
			"state": schema.StringAttribute{Computed: true, PlanModifiers: keep,
				MarkdownDescription: "What the engine says of the volume, e.g. `ready`."},
			"created_at": schema.StringAttribute{Computed: true, PlanModifiers: keep,
				MarkdownDescription: "When the record was created (RFC 3339, UTC)."},
			"labels":     labelsAttribute("volume"),
			"labels_all": labelsAllAttribute(),
		},
		Blocks: withOptionBlocks(kindVolume, map[string]schema.Block{
			"timeouts": timeouts.Block(ctx, timeouts.Opts{Create: true, Delete: true}),
		}),
	}
}

func (r *volumeResource) Configure(_ context.Context, req resource.ConfigureRequest, resp *resource.ConfigureResponse) {
	d, err := providerDataFrom(req.ProviderData)
	if err != nil {
		resp.Diagnostics.AddError("Provider configuration", err.Error())
	}
	r.data = d
}

func (r *volumeResource) ModifyPlan(ctx context.Context, req resource.ModifyPlanRequest, resp *resource.ModifyPlanResponse) {
	resolveBackendPlan(ctx, r.data, kindVolume, req, resp)
	planLabels(ctx, r.data, req, resp)
}

func (m *volumeModel) fromRecord(rec *backend.Record, vol *backend.Volume) {
	m.ID = types.StringValue(rec.ID)
	m.Name = types.StringValue(rec.String("name"))
	m.Backend = types.StringValue(rec.String("provider"))
	m.ExternalVolumeID = stringOrNull(rec.String("externalVolumeId"))
	m.Status = types.StringValue(rec.String("status"))
	m.CreatedAt = timeOrNull(rec, "createdAt")
	m.State = types.StringValue(backend.StateUnknown)
	if vol != nil {
		m.State = types.StringValue(vol.State)
	}
	m.Engines = m.Engines.restore(kindVolume, rec.String("provider"), rec.JSONMap("params"), bookkeepingOf(rec))
	m.Labels, m.LabelsAll = restoreLabels(m.Labels, rec)
}

func (r *volumeResource) Create(ctx context.Context, req resource.CreateRequest, resp *resource.CreateResponse) {
	var plan volumeModel
	resp.Diagnostics.Append(getPlan(ctx, req.Plan, &plan)...)
	lc := lifecycleOf(r.data, &resp.Diagnostics)
	if resp.Diagnostics.HasError() || lc == nil {
		return
	}
	keepStore(ctx, r.data, lc, resp.Private, true, &resp.Diagnostics)
	ctx, cancel := withTimeout(ctx, plan.Timeouts.Create, defaultCreateTimeout, &resp.Diagnostics)
	defer cancel()
	rec, vol, err := lc.CreateVolume(ctx, backend.VolumeRequest{Backend: plan.Backend.ValueString(), Name: plan.Name.ValueString(),
		Labels: labelsAllOf(plan.LabelsAll), Options: plan.Engines.options(plan.Backend.ValueString()), Bookkeeping: plan.bookkeeping()})
	if rec != nil {
		plan.fromRecord(rec, vol)
		resp.Diagnostics.Append(setState(ctx, &resp.State, &plan)...)
	}
	if err != nil {
		resp.Diagnostics.AddError("Volume not created", err.Error())
	}
}

func (r *volumeResource) Read(ctx context.Context, req resource.ReadRequest, resp *resource.ReadResponse) {
	var state volumeModel
	resp.Diagnostics.Append(getState(ctx, req.State, &state)...)
	if resp.Diagnostics.HasError() {
		return
	}
	lc := readLifecycle(ctx, r.data, req.Private, "sandbox_volume", state.ID.ValueString(), &resp.Diagnostics)
	if resp.Diagnostics.HasError() || lc == nil {
		return
	}
	rec, vol, err := lc.ReadVolume(ctx, state.ID.ValueString())
	if err != nil {
		resp.Diagnostics.AddError("Cannot read volume", err.Error())
		return
	}
	if rec == nil {
		if recordGoneIsDrift(ctx, r.data, lc, req.Private, backend.EntityVolumes, "sandbox_volume", state.ID.ValueString(), &resp.Diagnostics) {
			resp.State.RemoveResource(ctx)
		}
		return
	}
	keepStore(ctx, r.data, lc, resp.Private, false, &resp.Diagnostics)
	state.fromRecord(rec, vol)
	state.Timeouts = restoreTimeouts(ctx, state.Timeouts, bookkeepingOf(rec))
	resp.Diagnostics.Append(setState(ctx, &resp.State, &state)...)
}

// bookkeeping is what the record needs besides its own fields to rebuild this configuration on import.
func (m *volumeModel) bookkeeping() map[string]any {
	return map[string]any{bkTimeouts: timeoutsBookkeeping(m.Timeouts), bkLabels: labelKeysBookkeeping(m.Labels),
		bkOptions: blockKeys(m.Engines[m.Backend.ValueString()])}
}

// Update is called only for labels, the timeouts block and engine options changed in place (an option's
// InPlace or InPlaceIf; every other argument replaces the volume): the record keeps labels and timeouts (no
// engine keeps a volume's labels); the engine applies the options (Lifecycle.UpdateVolume, VolumeUpdater).
func (r *volumeResource) Update(ctx context.Context, req resource.UpdateRequest, resp *resource.UpdateResponse) {
	var plan, prior volumeModel
	resp.Diagnostics.Append(getPlan(ctx, req.Plan, &plan)...)
	resp.Diagnostics.Append(getState(ctx, req.State, &prior)...)
	lc := lifecycleOf(r.data, &resp.Diagnostics)
	if resp.Diagnostics.HasError() || lc == nil {
		return
	}
	if _, _, err := lc.UpdateVolume(ctx, plan.ID.ValueString(), backend.VolumeRequest{Options: plan.Engines.options(plan.Backend.ValueString()),
		Labels: labelsAllOf(plan.LabelsAll), Bookkeeping: plan.bookkeeping()}); err != nil {
		resp.Diagnostics.AddError("Volume not updated", err.Error())
		return
	}
	if plan.State.IsUnknown() {
		plan.State = prior.State
	}
	resp.Diagnostics.Append(setState(ctx, &resp.State, &plan)...)
}

func (r *volumeResource) Delete(ctx context.Context, req resource.DeleteRequest, resp *resource.DeleteResponse) {
	var state volumeModel
	resp.Diagnostics.Append(getState(ctx, req.State, &state)...)
	lc := lifecycleOf(r.data, &resp.Diagnostics)
	if resp.Diagnostics.HasError() || lc == nil {
		return
	}
	ctx, cancel := withTimeout(ctx, state.Timeouts.Delete, defaultDeleteTimeout, &resp.Diagnostics)
	defer cancel()
	if err := lc.DeleteVolume(ctx, state.ID.ValueString()); err != nil {
		summary := "Volume not destroyed"
		if errors.Is(err, backend.ErrInUse) {
			summary = "Volume still mounted"
		}
		resp.Diagnostics.AddError(summary, err.Error())
	}
}

func (r *volumeResource) ImportState(ctx context.Context, req resource.ImportStateRequest, resp *resource.ImportStateResponse) {
	importByRecordID(ctx, r.data, backend.EntityVolumes, req, resp)
}

// volumeEnginesDoc says which engines have volumes, from their declared capabilities.
func volumeEnginesDoc() string {
	with, without := []string{}, []string{}
	for _, d := range engines.All {
		if d.Capabilities.Volumes {
			with = append(with, d.Name)
		} else {
			without = append(without, d.Name)
		}
	}
	doc := "Engines: " + andList(with)
	if len(without) > 0 {
		doc += " (" + andList(without) + " have no volumes and fail at plan time)"
	}
	return doc + "."
}

// andList quotes names as code and joins them with commas and a last "and".
func andList(names []string) string {
	if len(names) < 2 {
		return quoteList(names)
	}
	return quoteList(names[:len(names)-1]) + " and " + quoteList(names[len(names)-1:])
}

// ---- helpers shared by the catalogue resources ----

// backendAttribute is the backend argument of a resource: Optional+Computed, defaulting to the provider's.
func backendAttribute(what string) schema.StringAttribute {
	return schema.StringAttribute{
		MarkdownDescription: "The engine of the " + what + ": " + quoteList(availableEngines) + ". Defaults to the provider's `backend` " +
			"(then `" + EnvBackend + "`, then `" + engines.Default() + "`). Changing it replaces the " + what + ".",
		Optional:      true,
		Computed:      true,
		Validators:    []validator.String{stringvalidator.OneOf(availableEngines...)},
		PlanModifiers: []planmodifier.String{stringplanmodifier.UseStateForUnknown(), stringplanmodifier.RequiresReplace()},
	}
}

// resolveBackendPlan sets an unknown backend to the provider default on create, checks the plan against the
// engine's capabilities (checkCapabilities, for a resource of the given kind: even when the engine cannot be
// configured, from the declared table) and its engine option blocks (checkPlanBlocks, then the made engine's
// host checks: validateHostOptions), and returns the engine, nil when it is unknown or not available.
func resolveBackendPlan(ctx context.Context, data *providerData, kind backend.ResourceKind, req resource.ModifyPlanRequest, resp *resource.ModifyPlanResponse) backend.Engine {
	if req.Plan.Raw.IsNull() || data == nil {
		return nil
	}
	var b types.String
	resp.Diagnostics.Append(req.Plan.GetAttribute(ctx, path.Root("backend"), &b)...)
	if b.IsUnknown() && req.State.Raw.IsNull() {
		b = types.StringValue(data.defaultBackend)
		resp.Diagnostics.Append(resp.Plan.SetAttribute(ctx, path.Root("backend"), b)...)
	}
	if b.IsUnknown() || resp.Diagnostics.HasError() {
		return nil
	}
	eng, err := data.Engine(b.ValueString())
	if caps, ok := planCapabilities(b.ValueString(), eng); ok {
		checkCapabilities(ctx, kind, b.ValueString(), caps, req, &resp.Diagnostics)
	}
	blocks := checkPlanBlocks(ctx, req.Plan, kind, b.ValueString(), &resp.Diagnostics)
	if err != nil {
		resp.Diagnostics.AddAttributeError(path.Root("backend"), "Backend not available", err.Error())
		return nil
	}
	validateHostOptions(kind, b.ValueString(), eng, blocks[b.ValueString()], &resp.Diagnostics)
	if pv, ok := eng.(backend.PolicyValidator); ok && kind != kindVolume && !resp.Diagnostics.HasError() {
		var policy types.Object
		resp.Diagnostics.Append(req.Plan.GetAttribute(ctx, path.Root("policy"), &policy)...)
		if p := planPolicy(ctx, policy, req.Config); p != nil {
			if err := pv.ValidatePolicy(p); err != nil {
				resp.Diagnostics.AddAttributeError(specErrorPath("policy", err), "Policy not supported by the engine", err.Error())
			}
		}
	}
	return eng
}

func lifecycleOf(data *providerData, diags *diag.Diagnostics) *backend.Lifecycle {
	return (&sandboxResource{data: data}).lifecycle(diags)
}

func withTimeout(ctx context.Context, get func(context.Context, time.Duration) (time.Duration, diag.Diagnostics), def time.Duration, diags *diag.Diagnostics) (context.Context, context.CancelFunc) {
	d, dd := get(ctx, def)
	diags.Append(dd...)
	return context.WithTimeout(ctx, d)
}

func timeOrNull(rec *backend.Record, field string) types.String {
	if ms, ok := rec.Int(field); ok {
		return types.StringValue(formatTime(ms))
	}
	return types.StringNull()
}

// importByRecordID checks that the id is a UUID naming a live record of the entity and sets it.
func importByRecordID(ctx context.Context, data *providerData, entity string, req resource.ImportStateRequest, resp *resource.ImportStateResponse) {
	if !backend.ValidID(req.ID) {
		resp.Diagnostics.AddAttributeError(path.Root("id"), "Invalid import id",
			fmt.Sprintf("%q is not a record id: import by the UUID of the record in %s.", req.ID, entity))
		return
	}
	lc := lifecycleOf(data, &resp.Diagnostics)
	if lc == nil {
		return
	}
	rec := getForImport(ctx, lc.Store, entity, req.ID, &resp.Diagnostics)
	if rec == nil {
		return
	}
	if st := rec.String("status"); st == backend.StatusShutdown || st == backend.WorkspaceArchived {
		resp.Diagnostics.AddAttributeError(path.Root("id"), "Nothing to import", fmt.Sprintf("Record %s is %s: its object no longer exists.", req.ID, st))
		return
	}
	resp.Diagnostics.Append(resp.State.SetAttribute(ctx, path.Root("id"), req.ID)...)
}
