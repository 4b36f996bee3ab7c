package provider

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hashicorp/terraform-plugin-framework-timeouts/resource/timeouts"
	"github.com/hashicorp/terraform-plugin-framework-validators/listvalidator"
	"github.com/hashicorp/terraform-plugin-framework-validators/mapvalidator"
	"github.com/hashicorp/terraform-plugin-framework-validators/stringvalidator"
	"github.com/hashicorp/terraform-plugin-framework/attr"
	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/listplanmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/objectplanmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/planmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/stringdefault"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/stringplanmodifier"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/tfsdk"
	"github.com/hashicorp/terraform-plugin-framework/types"
	"github.com/hashicorp/terraform-plugin-log/tflog"

	"github.com/ekairos/terraform-provider-sandbox/internal/backend"
)

var (
	_ resource.ResourceWithImportState    = (*setupResource)(nil)
	_ resource.ResourceWithModifyPlan     = (*setupResource)(nil)
	_ resource.ResourceWithValidateConfig = (*setupResource)(nil)
)

const defaultSetupTimeout = "10m"

// NewSetupResource makes the sandbox_setup resource.
func NewSetupResource() resource.Resource { return &setupResource{} }

type setupResource struct{ data *providerData }

type setupModel struct {
	ID          types.String   `tfsdk:"id"`
	Backend     types.String   `tfsdk:"backend"`
	Command     types.List     `tfsdk:"command"`
	Env         types.Map      `tfsdk:"env"`
	Runtime     types.String   `tfsdk:"runtime"`
	Timeout     types.String   `tfsdk:"timeout"`
	Policy      types.Object   `tfsdk:"policy"`
	Fingerprint types.String   `tfsdk:"fingerprint"`
	SnapshotID  types.String   `tfsdk:"snapshot_id"`
	Status      types.String   `tfsdk:"status"`
	Reused      types.Bool     `tfsdk:"reused"`
	CreatedAt   types.String   `tfsdk:"created_at"`
	Timeouts    timeouts.Value `tfsdk:"timeouts"`
	Labels      types.Map      `tfsdk:"labels"`
	LabelsAll   types.Map      `tfsdk:"labels_all"`
	Engines     engineBlocks   `tfsdk:"-"`
}

func (r *setupResource) Metadata(_ context.Context, req resource.MetadataRequest, resp *resource.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + "_setup"
}

func (r *setupResource) Schema(ctx context.Context, _ resource.SchemaRequest, resp *resource.SchemaResponse) {
	keep := []planmodifier.String{stringplanmodifier.UseStateForUnknown()}
	replace := []planmodifier.String{stringplanmodifier.RequiresReplace()}
	resp.Schema = schema.Schema{
		MarkdownDescription: resourceDoc(kindSetup, "A shared setup bootstrap, as sandkit's: the `command` runs once in a fresh sandbox and its result is "+
			"kept as an artifact (on `local`, the sandbox's home as a read-only directory) that sandboxes and workspaces start from "+
			"with `setup_id`, without running it again. The artifact is keyed by `fingerprint`: a second `sandbox_setup` with the "+
			"same definition on the same engine reuses it (one run, not two), and destroying one of them leaves the artifact to the "+
			"other. A failing command leaves no artifact and an `error` record. When the artifact vanishes (deleted or expired on the "+
			"engine), the next plan shows an in-place update that builds it again under the **same record id**, so the sandboxes "+
			"and workspaces made from it (by `setup_id`) are kept. Every argument and block replaces the setup except `timeouts`, "+
			"which changes in place."),
		Attributes: map[string]schema.Attribute{
			"id":      schema.StringAttribute{Computed: true, PlanModifiers: keep, MarkdownDescription: "The record id (a UUID) in `sandbox_setups`."},
			"backend": backendAttribute("setup"),
			"command": schema.ListAttribute{
				MarkdownDescription: "The setup's argv (no shell: use `[\"sh\", \"-c\", \"...\"]` for one). It runs in the builder sandbox's home.",
				Required:            true, ElementType: types.StringType,
				Validators:    []validator.List{listvalidator.SizeAtLeast(1), argvValidator{}},
				PlanModifiers: []planmodifier.List{listplanmodifier.RequiresReplace()},
			},
			"env": schema.MapAttribute{
				MarkdownDescription: "Environment variables for the setup command. Sensitive: never recorded; only their names enter the fingerprint. Changing them replaces the setup (except the first plan after an import, which takes them in place: the record cannot hold them).",
				Optional:            true, Sensitive: true, ElementType: types.StringType,
				Validators: []validator.Map{mapvalidator.KeysAre(stringvalidator.RegexMatches(envNameRegexp, "must be an environment variable name")),
					mapvalidator.ValueStringsAre(noNULValidator{what: "environment variable's value"})},
				PlanModifiers: []planmodifier.Map{envRequiresReplace()},
			},
			"runtime": schema.StringAttribute{Optional: true, PlanModifiers: replace,
				Validators:          []validator.String{stringvalidator.LengthBetween(1, 128)},
				MarkdownDescription: "The runtime the setup is for (engine-specific; recorded only on `local`)."},
			"timeout": schema.StringAttribute{
				MarkdownDescription: "How long the setup command may run. Default `" + defaultSetupTimeout + "`. Kept in the record as you spell it, so an import brings it back. Changing it replaces the setup.",
				Optional:            true, Computed: true, Default: stringdefault.StaticString(defaultSetupTimeout),
				Validators:    []validator.String{durationValidator{min: time.Second, max: 24 * time.Hour}},
				PlanModifiers: replace,
			},
			"fingerprint": schema.StringAttribute{Computed: true, PlanModifiers: keep,
				MarkdownDescription: "SHA-256 of the canonical JSON of the engine's identity (its name, and on `local` its root), the argv, " +
					"the runtime, the redacted policy and the env names: the key under which the artifact is shared."},
			"snapshot_id": schema.StringAttribute{Computed: true, PlanModifiers: keep,
				MarkdownDescription: "The engine's id of the artifact (a snapshot, on `local` the artifact directory's name, on `sprites` the builder sprite's name)."},
			"status": schema.StringAttribute{Computed: true, PlanModifiers: keep,
				MarkdownDescription: "The record status: `active`, or `error` after a failed run (the resource is then tainted)."},
			"reused": schema.BoolAttribute{Computed: true,
				MarkdownDescription: "Whether an artifact with the same fingerprint existed, so the command did not run."},
			"created_at": schema.StringAttribute{Computed: true, PlanModifiers: keep, MarkdownDescription: "When the record was created (RFC 3339, UTC)."},
			"labels":     labelsAttribute("setup"),
			"labels_all": labelsAllAttribute(),
		},
		Blocks: withOptionBlocks(kindSetup, map[string]schema.Block{
			"policy":   policyBlock("setup", objectplanmodifier.RequiresReplace()),
			"timeouts": timeouts.Block(ctx, timeouts.Opts{Create: true, Delete: true}),
		}),
	}
}

func (r *setupResource) Configure(_ context.Context, req resource.ConfigureRequest, resp *resource.ConfigureResponse) {
	d, err := providerDataFrom(req.ProviderData)
	if err != nil {
		resp.Diagnostics.AddError("Provider configuration", err.Error())
	}
	r.data = d
}

func (r *setupResource) ValidateConfig(ctx context.Context, req resource.ValidateConfigRequest, resp *resource.ValidateConfigResponse) {
	var p types.Object
	resp.Diagnostics.Append(req.Config.GetAttribute(ctx, path.Root("policy"), &p)...)
	policyValidate(ctx, p, &resp.Diagnostics)
}

func (r *setupResource) ModifyPlan(ctx context.Context, req resource.ModifyPlanRequest, resp *resource.ModifyPlanResponse) {
	resolveBackendPlan(ctx, r.data, kindSetup, req, resp)
	planRebuild(ctx, req, resp)
	planLabels(ctx, r.data, req, resp)
}

// planRebuild plans an in-place rebuild of a setup whose artifact vanished (Read left its snapshot_id null):
// the record id stays, so nothing made from the setup is replaced.
func planRebuild(ctx context.Context, req resource.ModifyPlanRequest, resp *resource.ModifyPlanResponse) {
	if req.State.Raw.IsNull() || req.Plan.Raw.IsNull() {
		return
	}
	var snap, status types.String
	resp.Diagnostics.Append(req.State.GetAttribute(ctx, path.Root("snapshot_id"), &snap)...)
	resp.Diagnostics.Append(req.State.GetAttribute(ctx, path.Root("status"), &status)...)
	if !snap.IsNull() || status.ValueString() != backend.StatusActive {
		return
	}
	resp.Diagnostics.Append(resp.Plan.SetAttribute(ctx, path.Root("snapshot_id"), types.StringUnknown())...)
	resp.Diagnostics.Append(resp.Plan.SetAttribute(ctx, path.Root("reused"), types.BoolUnknown())...)
}

func (m *setupModel) fromRecord(rec *backend.Record) {
	m.ID = types.StringValue(rec.ID)
	m.Backend = types.StringValue(rec.String("provider"))
	m.Fingerprint = types.StringValue(rec.String("fingerprint"))
	m.SnapshotID = stringOrNull(rec.String("snapshotId"))
	m.Status = types.StringValue(rec.String("status"))
	reused, _ := rec.JSONMap("params")["reused"].(bool)
	if m.Reused.IsNull() || m.Reused.IsUnknown() {
		m.Reused = types.BoolValue(reused)
	}
	m.CreatedAt = timeOrNull(rec, "createdAt")
	if m.Runtime.IsUnknown() {
		m.Runtime = stringOrNull(rec.String("runtime"))
	}
	if m.Command.IsNull() || m.Command.IsUnknown() {
		argv := []attr.Value{types.StringValue(rec.String("command"))}
		args, _ := rec.Attrs["args"].([]any)
		for _, a := range args {
			s, _ := a.(string)
			argv = append(argv, types.StringValue(s))
		}
		m.Command = types.ListValueMust(types.StringType, argv)
		m.Runtime = stringOrNull(rec.String("runtime"))
		bk := bookkeepingOf(rec)
		m.Timeout = restoreDuration(types.StringNull(), bk, -1, defaultSetupTimeout)
		m.Env = types.MapNull(types.StringType)
		m.Policy = restorePolicyVersion(policyFromRecord(rec.JSONMap("policy")), bk)
		m.Engines = m.Engines.restore(kindSetup, rec.String("provider"), rec.JSONMap("params"), bk)
	}
	m.Policy = policyForState(m.Policy)
	m.Labels, m.LabelsAll = restoreLabels(m.Labels, rec)
}

// policyFromRecord rebuilds a policy block from a record's redacted policy (on import).
func policyFromRecord(red map[string]any) types.Object {
	if mode, hosts, presets, ok := backend.PolicyFromSandkit(red); ok { // a workspace's policy, in sandkit's shape
		red = map[string]any{"mode": mode}
		if len(hosts) > 0 {
			red["hosts"] = anySlice(hosts)
		}
		if len(presets) > 0 {
			red["presets"] = anySlice(presets)
		}
	}
	mode, _ := red["mode"].(string)
	if mode == "" || (mode == backend.PolicyDenyAll && len(red) == 1) {
		return types.ObjectNull(policyAttrTypes)
	}
	strs := func(v any) types.List {
		raw, _ := v.([]any)
		if len(raw) == 0 {
			return types.ListNull(types.StringType)
		}
		out := make([]attr.Value, 0, len(raw))
		for _, e := range raw {
			s, _ := e.(string)
			out = append(out, types.StringValue(s))
		}
		return types.ListValueMust(types.StringType, out)
	}
	return types.ObjectValueMust(policyAttrTypes, map[string]attr.Value{
		"mode": types.StringValue(mode), "hosts": strs(red["hosts"]), "presets": strs(red["presets"]),
		"credentials_wo": types.MapNull(types.StringType), "credentials_wo_version": types.Int64Null(),
	})
}

func (r *setupResource) Create(ctx context.Context, req resource.CreateRequest, resp *resource.CreateResponse) {
	var plan setupModel
	resp.Diagnostics.Append(getPlan(ctx, req.Plan, &plan)...)
	lc := lifecycleOf(r.data, &resp.Diagnostics)
	if resp.Diagnostics.HasError() || lc == nil {
		return
	}
	keepStore(ctx, r.data, lc, resp.Private, true, &resp.Diagnostics)
	ctx, cancel := withTimeout(ctx, plan.Timeouts.Create, 30*time.Minute, &resp.Diagnostics)
	defer cancel()
	sreq := plan.request(ctx, &req.Config, &resp.Diagnostics)
	if resp.Diagnostics.HasError() {
		return
	}
	rec, _, reused, failed, err := lc.CreateSetup(ctx, sreq)
	plan.Reused = types.BoolValue(reused)
	if rec != nil {
		plan.fromRecord(rec)
		resp.Diagnostics.Append(setState(ctx, &resp.State, &plan)...)
	}
	setupRunDiagnostics(sreq, &plan, failed, err, &resp.Diagnostics)
}

func (m *setupModel) request(ctx context.Context, config *tfsdk.Config, diags *diag.Diagnostics) backend.SetupRequest {
	runTimeout, _ := time.ParseDuration(m.Timeout.ValueString())
	return backend.SetupRequest{
		Backend:     m.Backend.ValueString(),
		Argv:        listStrings(ctx, m.Command, diags),
		Env:         mapStrings(ctx, m.Env, diags),
		Runtime:     m.Runtime.ValueString(),
		Policy:      policyFrom(ctx, m.Policy, config, diags),
		Timeout:     runTimeout,
		Options:     m.Engines.options(m.Backend.ValueString()),
		Labels:      labelsAllOf(m.LabelsAll),
		Bookkeeping: m.bookkeeping(),
	}
}

func setupRunDiagnostics(sreq backend.SetupRequest, plan *setupModel, failed *backend.ExecResult, err error, diags *diag.Diagnostics) {
	switch {
	case err != nil && errors.Is(err, backend.ErrSetupFailed) && failed != nil:
		diags.AddError("Setup command failed", fmt.Sprintf(
			"%q exited with code %d; no artifact was kept (record %s is error). The resource is tainted: fix the command and apply again.\n\nLast lines of output:\n%s%s",
			sreq.Argv[0], failed.ExitCode, plan.ID.ValueString(), backend.LastLines(string(failed.Stdout), 10), backend.LastLines(string(failed.Stderr), 20)))
	case err != nil:
		diags.AddError("Setup not created", err.Error())
	}
}

func (r *setupResource) Read(ctx context.Context, req resource.ReadRequest, resp *resource.ReadResponse) {
	var state setupModel
	resp.Diagnostics.Append(getState(ctx, req.State, &state)...)
	if resp.Diagnostics.HasError() {
		return
	}
	lc := readLifecycle(ctx, r.data, req.Private, "sandbox_setup", state.ID.ValueString(), &resp.Diagnostics)
	if resp.Diagnostics.HasError() || lc == nil {
		return
	}
	rec, art, err := lc.ReadSetup(ctx, state.ID.ValueString())
	if err != nil {
		resp.Diagnostics.AddError("Cannot read setup", err.Error())
		return
	}
	if rec == nil {
		if recordGoneIsDrift(ctx, r.data, lc, req.Private, backend.EntitySetups, "sandbox_setup", state.ID.ValueString(), &resp.Diagnostics) {
			resp.State.RemoveResource(ctx)
		}
		return
	}
	keepStore(ctx, r.data, lc, resp.Private, false, &resp.Diagnostics)
	state.fromRecord(rec)
	if art == nil && rec.String("status") == backend.StatusActive {
		// The artifact vanished on the engine: the plan rebuilds it in place, under this record id.
		tflog.Info(ctx, "setup artifact gone: the next apply rebuilds it in place", map[string]any{"id": rec.ID})
		state.SnapshotID = types.StringNull()
	}
	state.Timeouts = restoreTimeouts(ctx, state.Timeouts, bookkeepingOf(rec))
	resp.Diagnostics.Append(setState(ctx, &resp.State, &state)...)
}

// Update stores the changes that need no rebuild: the timeouts block, a policy's credentials_wo_version, and
// after an import the env values the record cannot hold. They are written to the record's bookkeeping so
// that a later import still rebuilds the configuration.
func (r *setupResource) Update(ctx context.Context, req resource.UpdateRequest, resp *resource.UpdateResponse) {
	var plan, prior setupModel
	resp.Diagnostics.Append(getPlan(ctx, req.Plan, &plan)...)
	resp.Diagnostics.Append(getState(ctx, req.State, &prior)...)
	lc := lifecycleOf(r.data, &resp.Diagnostics)
	if resp.Diagnostics.HasError() || lc == nil {
		return
	}
	if prior.SnapshotID.IsNull() {
		r.rebuild(ctx, lc, &plan, req, resp)
		return
	}
	if _, err := lc.SetLabels(ctx, backend.EntitySetups, plan.ID.ValueString(), labelsAllOf(plan.LabelsAll), plan.bookkeeping()); err != nil {
		resp.Diagnostics.AddError("Setup not updated", err.Error())
		return
	}
	if plan.Reused.IsUnknown() {
		plan.Reused = prior.Reused
	}
	plan.Policy = policyForState(plan.Policy)
	resp.Diagnostics.Append(setState(ctx, &resp.State, &plan)...)
	clearImported(ctx, resp.Private, &resp.Diagnostics)
}

// rebuild makes the vanished artifact again under the same record id (see Lifecycle.RebuildSetup).
func (r *setupResource) rebuild(ctx context.Context, lc *backend.Lifecycle, plan *setupModel, req resource.UpdateRequest, resp *resource.UpdateResponse) {
	ctx, cancel := withTimeout(ctx, plan.Timeouts.Create, 30*time.Minute, &resp.Diagnostics)
	defer cancel()
	sreq := plan.request(ctx, &req.Config, &resp.Diagnostics)
	if resp.Diagnostics.HasError() {
		return
	}
	rec, _, reused, failed, err := lc.RebuildSetup(ctx, plan.ID.ValueString(), sreq)
	plan.Reused = types.BoolValue(reused)
	if rec != nil {
		plan.fromRecord(rec)
		resp.Diagnostics.Append(setState(ctx, &resp.State, plan)...)
	}
	setupRunDiagnostics(sreq, plan, failed, err, &resp.Diagnostics)
	if !resp.Diagnostics.HasError() {
		clearImported(ctx, resp.Private, &resp.Diagnostics)
	}
}

// bookkeeping is what the record needs besides its own fields to rebuild this configuration on import.
func (m *setupModel) bookkeeping() map[string]any {
	return map[string]any{
		bkTimeout:  durationSpelling(m.Timeout),
		bkTimeouts: timeoutsBookkeeping(m.Timeouts),
		bkOptions:  blockKeys(m.Engines[m.Backend.ValueString()]),
		bkCredsV:   policyVersionBookkeeping(m.Policy),
		bkLabels:   labelKeysBookkeeping(m.Labels),
	}
}

func (r *setupResource) Delete(ctx context.Context, req resource.DeleteRequest, resp *resource.DeleteResponse) {
	var state setupModel
	resp.Diagnostics.Append(getState(ctx, req.State, &state)...)
	lc := lifecycleOf(r.data, &resp.Diagnostics)
	if resp.Diagnostics.HasError() || lc == nil {
		return
	}
	ctx, cancel := withTimeout(ctx, state.Timeouts.Delete, defaultDeleteTimeout, &resp.Diagnostics)
	defer cancel()
	if err := lc.DeleteSetup(ctx, state.ID.ValueString()); err != nil {
		resp.Diagnostics.AddError("Setup not destroyed", err.Error())
	}
}

func (r *setupResource) ImportState(ctx context.Context, req resource.ImportStateRequest, resp *resource.ImportStateResponse) {
	importByRecordID(ctx, r.data, backend.EntitySetups, req, resp)
	markImported(ctx, resp)
	resp.Diagnostics.Append(resp.State.SetAttribute(ctx, path.Root("command"), types.ListNull(types.StringType))...)
}

func anySlice(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}
