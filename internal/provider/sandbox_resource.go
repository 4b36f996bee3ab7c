package provider

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/hashicorp/terraform-plugin-framework-jsontypes/jsontypes"
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
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/int64planmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/listplanmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/mapplanmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/planmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/stringdefault"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/stringplanmodifier"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/tfsdk"
	"github.com/hashicorp/terraform-plugin-framework/types"
	"github.com/hashicorp/terraform-plugin-log/tflog"

	"github.com/ekairos/terraform-provider-sandbox/internal/backend"
	"github.com/ekairos/terraform-provider-sandbox/internal/backend/engines"
)

var (
	_ resource.Resource                   = (*sandboxResource)(nil)
	_ resource.ResourceWithConfigure      = (*sandboxResource)(nil)
	_ resource.ResourceWithImportState    = (*sandboxResource)(nil)
	_ resource.ResourceWithModifyPlan     = (*sandboxResource)(nil)
	_ resource.ResourceWithValidateConfig = (*sandboxResource)(nil)
)

const (
	defaultSandboxTimeout = "5m"
	defaultCreateTimeout  = 10 * time.Minute
	defaultReadTimeout    = 2 * time.Minute
	defaultUpdateTimeout  = 10 * time.Minute
	defaultDeleteTimeout  = 5 * time.Minute
)

// NewSandboxResource makes the sandbox_sandbox resource.
func NewSandboxResource() resource.Resource { return &sandboxResource{} }

type sandboxResource struct {
	data *providerData
}

type sandboxModel struct {
	ID                types.String         `tfsdk:"id"`
	Backend           types.String         `tfsdk:"backend"`
	Runtime           types.String         `tfsdk:"runtime"`
	Timeout           types.String         `tfsdk:"timeout"`
	VCPUs             types.Int64          `tfsdk:"vcpus"`
	Ports             types.List           `tfsdk:"ports"`
	Purpose           types.String         `tfsdk:"purpose"`
	Params            jsontypes.Normalized `tfsdk:"params"`
	Env               types.Map            `tfsdk:"env"`
	DesiredState      types.String         `tfsdk:"desired_state"`
	ExternalSandboxID types.String         `tfsdk:"external_sandbox_id"`
	Status            types.String         `tfsdk:"status"`
	State             types.String         `tfsdk:"state"`
	SandboxURL        types.String         `tfsdk:"sandbox_url"`
	URLs              types.Map            `tfsdk:"urls"`
	URLTokens         types.Map            `tfsdk:"url_tokens"`
	CreatedAt         types.String         `tfsdk:"created_at"`
	UpdatedAt         types.String         `tfsdk:"updated_at"`
	Engines           engineBlocks         `tfsdk:"-"`
	SetupID           types.String         `tfsdk:"setup_id"`
	SetupCopy         types.String         `tfsdk:"setup_copy"`
	Volumes           types.List           `tfsdk:"volume"`
	Policy            types.Object         `tfsdk:"policy"`
	Timeouts          timeouts.Value       `tfsdk:"timeouts"`
	Labels            types.Map            `tfsdk:"labels"`
	LabelsAll         types.Map            `tfsdk:"labels_all"`
}

var volumeMountAttrTypes = map[string]attr.Type{"volume_id": types.StringType, "mount_path": types.StringType}

func (r *sandboxResource) Metadata(_ context.Context, req resource.MetadataRequest, resp *resource.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + "_sandbox"
}

func (r *sandboxResource) Schema(ctx context.Context, _ resource.SchemaRequest, resp *resource.SchemaResponse) {
	resp.Schema = schema.Schema{
		MarkdownDescription: "One sandbox: an isolated machine where untrusted commands run. The sandbox is recorded in the " +
			"`sandbox_sandboxes` entity of the record store **before** the engine is asked for anything, and the record id is " +
			"the resource `id`, so an application using `@ekairos/sandbox` reconnects to it with `getSandbox(id)`.",
		Attributes: map[string]schema.Attribute{
			"id": schema.StringAttribute{
				MarkdownDescription: "The record id (a UUID) in `sandbox_sandboxes`. Durable handle of the sandbox; never the engine's own id.",
				Computed:            true,
				PlanModifiers:       []planmodifier.String{stringplanmodifier.UseStateForUnknown()},
			},
			"backend": schema.StringAttribute{
				MarkdownDescription: "The engine that runs the sandbox: " + quoteList(availableEngines) + ". Defaults to the provider's " +
					"`backend` (then `" + EnvBackend + "`, then `" + engines.Default() + "`). Recorded as the record's `provider` field. Changing it replaces the sandbox.",
				Optional:      true,
				Computed:      true,
				Validators:    []validator.String{stringvalidator.OneOf(availableEngines...)},
				PlanModifiers: []planmodifier.String{stringplanmodifier.UseStateForUnknown(), stringplanmodifier.RequiresReplace()},
			},
			"runtime": schema.StringAttribute{
				MarkdownDescription: attributeDoc(kindSandbox, "runtime", "The runtime the sandbox is for, passed to the engine verbatim "+
					"(e.g. `node24`, `python3.13`). Changing it replaces the sandbox."),
				Optional:      true,
				Validators:    []validator.String{stringvalidator.LengthBetween(1, 128)},
				PlanModifiers: []planmodifier.String{stringplanmodifier.RequiresReplace()},
			},
			"timeout": schema.StringAttribute{
				MarkdownDescription: attributeDoc(kindSandbox, "timeout", "A duration (`90s`, `5m`, `1h30m`). Recorded in milliseconds as "+
					"the record's `timeout`. Default `"+defaultSandboxTimeout+"`. Changed in place."),
				Optional:   true,
				Computed:   true,
				Default:    stringdefault.StaticString(defaultSandboxTimeout),
				Validators: []validator.String{durationValidator{min: time.Second, max: 24 * time.Hour}},
			},
			"vcpus": schema.Int64Attribute{
				MarkdownDescription: attributeDoc(kindSandbox, "vcpus", "Virtual CPUs to ask the engine for (at least 1). Changing it replaces the sandbox."),
				Optional:            true,
				Validators:          []validator.Int64{int64validator.AtLeast(1), int64validator.AtMost(64)},
				PlanModifiers:       []planmodifier.Int64{int64planmodifier.RequiresReplace()},
			},
			"ports": schema.ListAttribute{
				MarkdownDescription: "Ports the sandbox exposes (1-65535, no duplicates); `urls` has one URL for each. Recorded as the " +
					"record's `ports`. Changing them replaces the sandbox.",
				Optional:    true,
				ElementType: types.Int64Type,
				Validators: []validator.List{
					listvalidator.UniqueValues(),
					listvalidator.ValueInt64sAre(int64validator.Between(1, 65535)),
				},
				PlanModifiers: []planmodifier.List{listplanmodifier.RequiresReplace()},
			},
			"purpose": schema.StringAttribute{
				MarkdownDescription: "What the sandbox is for (e.g. `ci`, `agent`); recorded as the indexed `purpose` field that " +
					"`sandbox_records` filters on. Changed in place.",
				Optional:   true,
				Validators: []validator.String{stringvalidator.LengthBetween(1, 256)},
			},
			"params": schema.StringAttribute{
				MarkdownDescription: "Your own parameters, a JSON object as a string (use `jsonencode({...})`), stored at the top " +
					"level of the record's `params` as `@ekairos/sandbox` stores its caller's params. The keys " +
					quoteList(backend.ReservedParamKeys(availableEngines)) + " are reserved. Never put secrets here: records are readable by apps. Changed in place.",
				Optional:   true,
				CustomType: jsontypes.NormalizedType{},
				Validators: []validator.String{jsonObjectValidator{reserved: backend.ReservedParamKeys(availableEngines)}},
			},
			"env": schema.MapAttribute{
				MarkdownDescription: "Environment variables given to every command run in the sandbox. Sensitive: never written " +
					"to records or logs (the `local` engine keeps them in a mode-0600 file beside the sandbox's home). Changed in place.",
				Optional:    true,
				Sensitive:   true,
				ElementType: types.StringType,
				Validators: []validator.Map{
					mapvalidator.KeysAre(stringvalidator.RegexMatches(envNameRegexp, "must be an environment variable name: a letter or _, then letters, digits or _")),
					mapvalidator.ValueStringsAre(noNULValidator{what: "environment variable's value"}),
				},
			},
			"desired_state": schema.StringAttribute{
				MarkdownDescription: "`running` (default) or `stopped`. Stopping ends the sandbox's processes and keeps its files; " +
					"changed in place. When the sandbox was stopped or started outside Terraform, the plan shows the change back.",
				Optional:   true,
				Computed:   true,
				Default:    stringdefault.StaticString(backend.DesiredRunning),
				Validators: []validator.String{stringvalidator.OneOf(backend.DesiredRunning, backend.DesiredStopped)},
			},
			"external_sandbox_id": schema.StringAttribute{
				MarkdownDescription: "The engine's own id of the sandbox (`externalSandboxId` in the record).",
				Computed:            true,
				PlanModifiers:       []planmodifier.String{stringplanmodifier.UseStateForUnknown()},
			},
			"status": schema.StringAttribute{
				MarkdownDescription: "The record status: `creating`, `active`, `shutdown` or `error` (the values of `@ekairos/sandbox`). " +
					"A sandbox whose record is `creating` or `error` (an interrupted or failed create) is replaced on the next apply.",
				Computed:      true,
				PlanModifiers: []planmodifier.String{stringplanmodifier.UseStateForUnknown()},
			},
			"state": schema.StringAttribute{
				MarkdownDescription: "What the engine says of the sandbox now: `running`, `stopped`, or an engine's transitional state.",
				Computed:            true,
			},
			"sandbox_url": schema.StringAttribute{
				MarkdownDescription: "The sandbox's main URL, when the engine gives one (`sandboxUrl` in the record).",
				Computed:            true,
				PlanModifiers:       []planmodifier.String{stringplanmodifier.UseStateForUnknown()},
			},
			"urls": schema.MapAttribute{
				MarkdownDescription: attributeDoc(kindSandbox, "urls", "One URL per exposed port, keyed by the port number."),
				Computed:            true,
				ElementType:         types.StringType,
				PlanModifiers:       []planmodifier.Map{mapplanmodifier.UseStateForUnknown()},
			},
			"url_tokens": schema.MapAttribute{
				MarkdownDescription: attributeDoc(kindSandbox, "url_tokens", "Sensitive. The secret a request to each port's URL needs, "+
					"keyed like `urls`, for engines whose URLs take one; empty on the others. Never written to records."),
				Computed:    true,
				Sensitive:   true,
				ElementType: types.StringType,
			},
			"created_at": schema.StringAttribute{
				MarkdownDescription: "When the record was created (RFC 3339, UTC).",
				Computed:            true,
				PlanModifiers:       []planmodifier.String{stringplanmodifier.UseStateForUnknown()},
			},
			"updated_at": schema.StringAttribute{
				MarkdownDescription: "When the record was last updated (RFC 3339, UTC).",
				Computed:            true,
			},
			"setup_id": schema.StringAttribute{
				MarkdownDescription: "The record id of a `sandbox_setup` on the same engine to start from: the sandbox starts with the " +
					"setup's result without running it again. Changing it replaces the sandbox.",
				Optional:      true,
				Validators:    []validator.String{uuidValidator{}},
				PlanModifiers: []planmodifier.String{stringplanmodifier.RequiresReplace()},
			},
			"labels":     labelsAttribute("sandbox"),
			"labels_all": labelsAllAttribute(),
			"setup_copy": schema.StringAttribute{
				MarkdownDescription: "How the setup's artifact was given to the sandbox on `local`: `overlayfs` (copy-on-write, no copy), " +
					"`reflink` (copy-on-write clone) or `copy` (a plain copy, the last resort); null without a setup.",
				Computed:      true,
				PlanModifiers: []planmodifier.String{stringplanmodifier.UseStateForUnknown()},
			},
		},
		Blocks: withOptionBlocks(kindSandbox, map[string]schema.Block{
			"volume": schema.ListNestedBlock{
				MarkdownDescription: "A `sandbox_volume` to mount. What the sandbox writes there outlives it. Changing the mounts replaces the sandbox.",
				PlanModifiers:       []planmodifier.List{listplanmodifier.RequiresReplace()},
				NestedObject: schema.NestedBlockObject{Attributes: map[string]schema.Attribute{
					"volume_id": schema.StringAttribute{
						MarkdownDescription: "The volume's record id (`sandbox_volume.<name>.id`), on the same engine.",
						Required:            true,
						Validators:          []validator.String{uuidValidator{}},
					},
					"mount_path": schema.StringAttribute{
						MarkdownDescription: "Where it appears in the sandbox: an absolute path, at most one volume per path.",
						Required:            true,
						Validators:          []validator.String{stringvalidator.RegexMatches(absPathRegexp, "must be an absolute path such as /data, without '..'")},
					},
				}},
			},
			"policy":   policyBlock("sandbox"),
			"timeouts": timeouts.Block(ctx, timeouts.Opts{Create: true, Read: true, Update: true, Delete: true}),
		}),
	}
}

func (r *sandboxResource) Configure(_ context.Context, req resource.ConfigureRequest, resp *resource.ConfigureResponse) {
	d, err := providerDataFrom(req.ProviderData)
	if err != nil {
		resp.Diagnostics.AddError("Provider configuration", err.Error())
		return
	}
	r.data = d
}

// ValidateConfig checks what the attribute validators cannot: engine blocks against the chosen backend.
func (r *sandboxResource) ValidateConfig(ctx context.Context, req resource.ValidateConfigRequest, resp *resource.ValidateConfigResponse) {
	var m sandboxModel
	resp.Diagnostics.Append(getConfig(ctx, req.Config, &m)...)
	if resp.Diagnostics.HasError() {
		return
	}
	policyValidate(ctx, m.Policy, &resp.Diagnostics)
	if !m.Volumes.IsNull() && !m.Volumes.IsUnknown() {
		seen := map[string]bool{}
		for i, v := range m.Volumes.Elements() {
			obj, ok := v.(types.Object)
			if !ok || obj.IsUnknown() {
				continue
			}
			mp, ok := obj.Attributes()["mount_path"].(types.String)
			if !ok || mp.IsUnknown() || mp.IsNull() {
				continue
			}
			if seen[mp.ValueString()] {
				resp.Diagnostics.AddAttributeError(path.Root("volume").AtListIndex(i).AtName("mount_path"), "Two volumes at one path",
					fmt.Sprintf("%s is already the mount path of another volume block; give each volume its own path.", mp.ValueString()))
			}
			seen[mp.ValueString()] = true
		}
	}
	if !m.Backend.IsNull() && !m.Backend.IsUnknown() {
		m.Engines.check(kindSandbox, m.Backend.ValueString(), m.SetupID, &resp.Diagnostics)
	}
}

// ModifyPlan resolves the default backend, checks the engine's capabilities and options at plan time, plans
// the replacement of a half-made sandbox and keeps the engine state unless desired_state changes.
func (r *sandboxResource) ModifyPlan(ctx context.Context, req resource.ModifyPlanRequest, resp *resource.ModifyPlanResponse) {
	planLabels(ctx, r.data, req, resp)
	if req.Plan.Raw.IsNull() || r.data == nil {
		return
	}
	var plan sandboxModel
	resp.Diagnostics.Append(getPlan(ctx, req.Plan, &plan)...)
	if resp.Diagnostics.HasError() {
		return
	}
	var state *sandboxModel
	if !req.State.Raw.IsNull() {
		state = &sandboxModel{}
		resp.Diagnostics.Append(getState(ctx, req.State, state)...)
		if resp.Diagnostics.HasError() {
			return
		}
	}
	if plan.Backend.IsUnknown() && state == nil {
		plan.Backend = types.StringValue(r.data.defaultBackend)
		resp.Diagnostics.Append(resp.Plan.SetAttribute(ctx, path.Root("backend"), plan.Backend)...)
	}
	if state != nil {
		switch state.Status.ValueString() {
		case backend.StatusCreating, backend.StatusError:
			resp.RequiresReplace = append(resp.RequiresReplace, path.Root("status"))
			resp.Diagnostics.Append(resp.Plan.SetAttribute(ctx, path.Root("status"), types.StringUnknown())...)
		}
		// An update leaves state as it was only when the sandbox already is what desired_state asks; otherwise
		// (a sleeping sprite is woken by an update) it stays unknown until the apply.
		if plan.DesiredState.Equal(state.DesiredState) && state.State.ValueString() == plan.DesiredState.ValueString() {
			resp.Diagnostics.Append(resp.Plan.SetAttribute(ctx, path.Root("state"), state.State)...)
		}
	}
	if plan.Backend.IsUnknown() {
		return
	}
	if w := ephemeralRecordsWarning(r.data.records, plan.Backend.ValueString(), os.Getenv("CI")); w != "" {
		resp.Diagnostics.AddWarning("Records on this CI runner will disappear with it", w)
	}
	eng, err := r.data.Engine(plan.Backend.ValueString())
	if caps, ok := planCapabilities(plan.Backend.ValueString(), eng); ok {
		checkCapabilities(ctx, kindSandbox, plan.Backend.ValueString(), caps, req, &resp.Diagnostics)
	}
	plan.Engines.check(kindSandbox, plan.Backend.ValueString(), plan.SetupID, &resp.Diagnostics)
	if err != nil {
		resp.Diagnostics.AddAttributeError(path.Root("backend"), "Backend not available", err.Error())
		return
	}
	for _, bad := range checkMountPaths(eng, plan.Volumes) {
		resp.Diagnostics.AddAttributeError(bad.Path, "Invalid mount path", bad.Err.Error())
	}
	if resp.Diagnostics.HasError() {
		return
	}
	if spec, known, diags := plan.spec(ctx); !diags.HasError() && known {
		spec.Volumes = nil // their engine ids are resolved at apply time; mount paths are validated by the schema
		planSpec(ctx, &spec, plan.SetupID, plan.Policy, req.Config)
		if err := backend.ValidateSandboxSpec(eng, spec); err != nil {
			// An engine error about one attribute (vcpus, <engine>.<option>, ...) points at it; others at the
			// engine block.
			resp.Diagnostics.AddAttributeError(specErrorPath(eng.Name(), err), "Invalid engine options", err.Error())
		}
	}
}

// ephemeralRecordsWarning returns a warning when records are kept in a SQLite file on what looks like a CI
// runner (CI set) while the sandbox lives on a hosted engine: the next run's fresh runner has no records, so
// every Read would find its record missing and plan to re-create the whole fleet. A local sandbox lives on the
// runner too, so it gets no warning.
func ephemeralRecordsWarning(records, engine, ci string) string {
	if d, ok := engines.Lookup(engine); records != RecordsSQLite || (ok && d.Capabilities.OnThisMachine) || ci == "" || ci == "false" || ci == "0" {
		return ""
	}
	return fmt.Sprintf("Records are kept in a SQLite file on this machine, CI is set, and this sandbox runs on %s. "+
		"A CI runner's files vanish with it: on the next run every sandbox's record is missing and Terraform plans to "+
		"create them all again, while the old ones keep running on %s. Keep the records in a shared store: "+
		"records = \"instantdb\" (INSTANT_APP_ID, INSTANT_APP_ADMIN_TOKEN) or records = \"postgres\" (SANDBOX_POSTGRES_URL).",
		engine, engine)
}

// spec builds the engine spec from the model; known is false when a value is unknown at plan time.
func (m *sandboxModel) spec(ctx context.Context) (spec backend.SandboxSpec, known bool, diags diag.Diagnostics) {
	known = true
	for _, v := range []attr.Value{m.Runtime, m.Timeout, m.VCPUs, m.Ports, m.Purpose, m.Env, m.Volumes, m.SetupID, m.Backend} {
		if v.IsUnknown() {
			known = false
		}
	}
	known = known && m.Engines.known()
	if !known {
		return spec, false, diags
	}
	spec.Runtime = m.Runtime.ValueString()
	if d, err := time.ParseDuration(m.Timeout.ValueString()); err == nil {
		spec.Timeout = d
	}
	spec.VCPUs = int(m.VCPUs.ValueInt64())
	spec.Purpose = m.Purpose.ValueString()
	if !m.Ports.IsNull() {
		var ports []int64
		diags.Append(m.Ports.ElementsAs(ctx, &ports, false)...)
		for _, p := range ports {
			spec.Ports = append(spec.Ports, int(p))
		}
	}
	if !m.Env.IsNull() {
		env := map[string]string{}
		diags.Append(m.Env.ElementsAs(ctx, &env, false)...)
		spec.Env = env
	}
	spec.Options = m.Engines.options(m.Backend.ValueString())
	spec.Labels = labelsAllOf(m.LabelsAll)
	for _, v := range m.Volumes.Elements() {
		obj, ok := v.(types.Object)
		if !ok {
			continue
		}
		var vm struct {
			VolumeID  types.String `tfsdk:"volume_id"`
			MountPath types.String `tfsdk:"mount_path"`
		}
		diags.Append(obj.As(ctx, &vm, objectAsOptions)...)
		spec.Volumes = append(spec.Volumes, backend.VolumeMount{VolumeID: vm.VolumeID.ValueString(), MountPath: vm.MountPath.ValueString()})
	}
	return spec, true, diags
}

func (m *sandboxModel) request(ctx context.Context, config *tfsdk.Config) (backend.SandboxRequest, diag.Diagnostics) {
	spec, _, diags := m.spec(ctx)
	spec.Policy = policyFrom(ctx, m.Policy, config, &diags)
	req := backend.SandboxRequest{Backend: m.Backend.ValueString(), Spec: spec, DesiredState: m.DesiredState.ValueString(), SetupID: m.SetupID.ValueString(),
		Bookkeeping: m.bookkeeping()}
	if !m.Params.IsNull() && !m.Params.IsUnknown() {
		var p map[string]any
		if err := json.Unmarshal([]byte(m.Params.ValueString()), &p); err != nil {
			diags.AddAttributeError(path.Root("params"), "Invalid params", err.Error())
		}
		req.Params = p
	}
	return req, diags
}

func (r *sandboxResource) lifecycle(diags *diag.Diagnostics) *backend.Lifecycle {
	if r.data == nil {
		diags.AddError("Provider not configured", "The provider was not configured before the resource was used; this is a bug in the provider.")
		return nil
	}
	lc, err := r.data.Lifecycle()
	if err != nil {
		diags.AddError("Record store unavailable", err.Error())
		return nil
	}
	return lc
}

func (r *sandboxResource) Create(ctx context.Context, req resource.CreateRequest, resp *resource.CreateResponse) {
	var plan sandboxModel
	resp.Diagnostics.Append(getPlan(ctx, req.Plan, &plan)...)
	if resp.Diagnostics.HasError() {
		return
	}
	timeout, d := plan.Timeouts.Create(ctx, defaultCreateTimeout)
	resp.Diagnostics.Append(d...)
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	lc := r.lifecycle(&resp.Diagnostics)
	if lc == nil {
		return
	}
	keepStore(ctx, r.data, lc, resp.Private, true, &resp.Diagnostics)
	sreq, d := plan.request(ctx, &req.Config)
	resp.Diagnostics.Append(d...)
	if resp.Diagnostics.HasError() {
		return
	}
	res, err := lc.CreateSandbox(ctx, sreq)
	if res != nil && res.ID() != "" {
		plan.fromResult(ctx, res, &resp.Diagnostics)
		tflog.Info(ctx, "sandbox record written", map[string]any{"id": res.ID(), "status": res.Record.String("status")})
		resp.Diagnostics.Append(setState(ctx, &resp.State, &plan)...)
	}
	if err != nil {
		resp.Diagnostics.AddError("Sandbox not created", err.Error()+createFailureNote(res))
	}
}

// createFailureNote says what a failed create leaves: with a record written, an error record and a tainted
// resource; without one (the store refused the first write), nothing at all.
func createFailureNote(res *backend.SandboxResult) string {
	if res != nil && res.ID() != "" {
		return "\n\nThe record stays with status \"error\" and the resource is tainted: the next apply destroys what was made and creates the sandbox again."
	}
	return "\n\nNo record was written, so nothing was made and nothing is tainted: fix the cause and apply again."
}

func (r *sandboxResource) Read(ctx context.Context, req resource.ReadRequest, resp *resource.ReadResponse) {
	var state sandboxModel
	resp.Diagnostics.Append(getState(ctx, req.State, &state)...)
	if resp.Diagnostics.HasError() {
		return
	}
	timeout, d := state.Timeouts.Read(ctx, defaultReadTimeout)
	resp.Diagnostics.Append(d...)
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	lc := readLifecycle(ctx, r.data, req.Private, "sandbox_sandbox", state.ID.ValueString(), &resp.Diagnostics)
	if lc == nil {
		return
	}
	res, err := lc.ReadSandbox(ctx, state.ID.ValueString())
	if err != nil {
		resp.Diagnostics.AddError("Cannot read sandbox", err.Error())
		return
	}
	if res == nil {
		if recordGoneIsDrift(ctx, r.data, lc, req.Private, backend.EntitySandboxes, "sandbox_sandbox", state.ID.ValueString(), &resp.Diagnostics) {
			tflog.Info(ctx, "sandbox gone: removing it from state", map[string]any{"id": state.ID.ValueString()})
			resp.State.RemoveResource(ctx)
		}
		return
	}
	keepStore(ctx, r.data, lc, resp.Private, false, &resp.Diagnostics)
	state.fromResult(ctx, res, &resp.Diagnostics)
	resp.Diagnostics.Append(setState(ctx, &resp.State, &state)...)
}

func (r *sandboxResource) Update(ctx context.Context, req resource.UpdateRequest, resp *resource.UpdateResponse) {
	var plan sandboxModel
	resp.Diagnostics.Append(getPlan(ctx, req.Plan, &plan)...)
	if resp.Diagnostics.HasError() {
		return
	}
	timeout, d := plan.Timeouts.Update(ctx, defaultUpdateTimeout)
	resp.Diagnostics.Append(d...)
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	lc := r.lifecycle(&resp.Diagnostics)
	if lc == nil {
		return
	}
	sreq, d := plan.request(ctx, &req.Config)
	resp.Diagnostics.Append(d...)
	if resp.Diagnostics.HasError() {
		return
	}
	res, err := lc.UpdateSandbox(ctx, plan.ID.ValueString(), sreq)
	if err != nil {
		resp.Diagnostics.AddError("Sandbox not updated", err.Error())
		return
	}
	plan.fromResult(ctx, res, &resp.Diagnostics)
	resp.Diagnostics.Append(setState(ctx, &resp.State, &plan)...)
}

func (r *sandboxResource) Delete(ctx context.Context, req resource.DeleteRequest, resp *resource.DeleteResponse) {
	var state sandboxModel
	resp.Diagnostics.Append(getState(ctx, req.State, &state)...)
	if resp.Diagnostics.HasError() {
		return
	}
	timeout, d := state.Timeouts.Delete(ctx, defaultDeleteTimeout)
	resp.Diagnostics.Append(d...)
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	lc := r.lifecycle(&resp.Diagnostics)
	if lc == nil {
		return
	}
	if err := lc.DeleteSandbox(ctx, state.ID.ValueString()); err != nil {
		resp.Diagnostics.AddError("Sandbox not destroyed", err.Error())
	}
}

func (r *sandboxResource) ImportState(ctx context.Context, req resource.ImportStateRequest, resp *resource.ImportStateResponse) {
	id := req.ID
	if !backend.ValidID(id) {
		resp.Diagnostics.AddAttributeError(path.Root("id"), "Invalid import id",
			fmt.Sprintf("%q is not a record id: import a sandbox by the UUID of its record in sandbox_sandboxes, e.g. 6f1c2d3e-8a9b-4c5d-9e0f-1a2b3c4d5e6f.", id))
		return
	}
	lc := r.lifecycle(&resp.Diagnostics)
	if lc == nil {
		return
	}
	rec := getForImport(ctx, lc.Store, backend.EntitySandboxes, id, &resp.Diagnostics)
	if rec == nil {
		return
	}
	if rec.String("status") == backend.StatusShutdown {
		resp.Diagnostics.AddAttributeError(path.Root("id"), "Sandbox is shut down",
			fmt.Sprintf("Record %s is shutdown: its sandbox no longer exists, so there is nothing to import.", id))
		return
	}
	resp.Diagnostics.Append(resp.State.SetAttribute(ctx, path.Root("id"), id)...)
}

// fromResult copies the record and engine view into the model, keeping configured values that mean the same.
func (m *sandboxModel) fromResult(ctx context.Context, res *backend.SandboxResult, diags *diag.Diagnostics) {
	rec := res.Record
	m.ID = types.StringValue(rec.ID)
	m.Backend = types.StringValue(rec.String("provider"))
	m.Runtime = stringOrNull(rec.String("runtime"))
	bk := bookkeepingOf(rec)
	ms, ok := rec.Int("timeout")
	if !ok {
		ms = -1
	}
	m.Timeout = restoreDuration(m.Timeout, bk, ms, defaultSandboxTimeout)
	if v, ok := rec.Int("vcpus"); ok {
		m.VCPUs = types.Int64Value(v)
	} else {
		m.VCPUs = types.Int64Null()
	}
	m.Ports = portsFromRecord(rec, m.Ports)
	m.Purpose = stringOrNull(rec.String("purpose"))
	m.Params = userParams(rec, m.Params, diags)
	if m.Env.IsUnknown() {
		m.Env = types.MapNull(types.StringType)
	}
	params := rec.JSONMap("params")
	m.Engines = m.Engines.restore(kindSandbox, rec.String("provider"), params, bk)
	setupID, _ := toMapAny(params[backend.ParamsTerraform])["setupId"].(string)
	m.SetupID = stringOrNull(setupID)
	copyMethod, _ := toMapAny(params[rec.String("provider")])["setup_copy"].(string)
	m.SetupCopy = stringOrNull(copyMethod)
	m.Volumes = volumesFromRecord(params, m.Volumes)
	if m.Policy.IsUnknown() || m.Policy.IsNull() {
		pol, _ := params[backend.ParamsPolicy].(map[string]any)
		m.Policy = restorePolicyVersion(policyFromRecord(pol), bk)
	}
	m.Policy = policyForState(m.Policy)
	m.Status = types.StringValue(rec.String("status"))
	m.ExternalSandboxID = stringOrNull(rec.String("externalSandboxId"))
	m.SandboxURL = stringOrNull(rec.String("sandboxUrl"))
	if ms, ok := rec.Int("createdAt"); ok {
		m.CreatedAt = types.StringValue(formatTime(ms))
	} else {
		m.CreatedAt = types.StringNull()
	}
	if ms, ok := rec.Int("updatedAt"); ok {
		m.UpdatedAt = types.StringValue(formatTime(ms))
	} else {
		m.UpdatedAt = types.StringNull()
	}
	urls := map[string]attr.Value{}
	if sb := res.Sandbox; sb != nil {
		m.State = types.StringValue(sb.State)
		if sb.State == backend.StateStopped || sb.State == backend.StateStopping || sb.State == backend.StateArchived {
			m.DesiredState = types.StringValue(backend.DesiredStopped)
		} else {
			m.DesiredState = types.StringValue(backend.DesiredRunning)
		}
		for port, u := range sb.URLs {
			urls[strconv.Itoa(port)] = types.StringValue(u)
		}
	} else {
		m.State = types.StringValue(backend.StateUnknown)
		if m.DesiredState.IsNull() || m.DesiredState.IsUnknown() {
			m.DesiredState = types.StringValue(backend.DesiredRunning)
		}
	}
	m.URLs = types.MapValueMust(types.StringType, urls)
	tokens := map[string]attr.Value{}
	if sb := res.Sandbox; sb != nil {
		for port, tok := range sb.URLTokens {
			tokens[strconv.Itoa(port)] = types.StringValue(tok)
		}
	}
	m.URLTokens = types.MapValueMust(types.StringType, tokens)
	m.Timeouts = restoreTimeouts(ctx, m.Timeouts, bk)
	m.Labels, m.LabelsAll = restoreLabels(m.Labels, rec)
}

// bookkeeping is what the record needs besides its own fields to rebuild this configuration on import.
func (m *sandboxModel) bookkeeping() map[string]any {
	return map[string]any{
		bkTimeout:  durationSpelling(m.Timeout),
		bkTimeouts: timeoutsBookkeeping(m.Timeouts),
		bkOptions:  blockKeys(m.Engines[m.Backend.ValueString()]),
		bkCredsV:   policyVersionBookkeeping(m.Policy),
		bkLabels:   labelKeysBookkeeping(m.Labels),
	}
}

func toMapAny(v any) map[string]any {
	m, _ := v.(map[string]any)
	return m
}

// volumesFromRecord reads params.volumes back into volume blocks.
func volumesFromRecord(params map[string]any, prior types.List) types.List {
	raw, _ := params[backend.ParamsVolumes].([]any)
	objType := types.ObjectType{AttrTypes: volumeMountAttrTypes}
	if len(raw) == 0 {
		if !prior.IsNull() && !prior.IsUnknown() && len(prior.Elements()) == 0 {
			return prior
		}
		return types.ListNull(objType)
	}
	vals := make([]attr.Value, 0, len(raw))
	for _, v := range raw {
		m := toMapAny(v)
		id, _ := m["volumeId"].(string)
		mp, _ := m["mountPath"].(string)
		vals = append(vals, types.ObjectValueMust(volumeMountAttrTypes, map[string]attr.Value{
			"volume_id": types.StringValue(id), "mount_path": types.StringValue(mp),
		}))
	}
	return types.ListValueMust(objType, vals)
}

func portsFromRecord(rec *backend.Record, prior types.List) types.List {
	raw, _ := rec.Attrs["ports"].([]any)
	if len(raw) == 0 {
		if !prior.IsNull() && !prior.IsUnknown() && len(prior.Elements()) == 0 {
			return prior
		}
		return types.ListNull(types.Int64Type)
	}
	vals := make([]attr.Value, 0, len(raw))
	for _, p := range raw {
		n, _ := backend.AsInt(p)
		vals = append(vals, types.Int64Value(n))
	}
	return types.ListValueMust(types.Int64Type, vals)
}

// userParams returns the caller's params from the record (reserved keys removed), keeping the prior value
// when it means the same.
func userParams(rec *backend.Record, prior jsontypes.Normalized, diags *diag.Diagnostics) jsontypes.Normalized {
	user := map[string]any{}
	for k, v := range rec.JSONMap("params") {
		if !contains(backend.ReservedParamKeys(availableEngines), k) {
			user[k] = v
		}
	}
	if !prior.IsNull() && !prior.IsUnknown() {
		var p any
		if json.Unmarshal([]byte(prior.ValueString()), &p) == nil {
			pn, _ := backend.NormalizeJSON(p)
			un, _ := backend.NormalizeJSON(user)
			a, _ := json.Marshal(pn)
			b, _ := json.Marshal(un)
			if string(a) == string(b) {
				return prior
			}
		}
	}
	if len(user) == 0 {
		return jsontypes.NewNormalizedNull()
	}
	b, err := json.Marshal(user)
	if err != nil {
		diags.AddError("Cannot encode params", err.Error())
		return prior
	}
	return jsontypes.NewNormalizedValue(string(b))
}

func stringOrNull(s string) types.String {
	if s == "" {
		return types.StringNull()
	}
	return types.StringValue(s)
}

func formatTime(ms int64) string {
	return time.UnixMilli(ms).UTC().Format(time.RFC3339)
}

// formatMillis writes a duration in milliseconds in its shortest Go form: 5m, 1h30m, 90s -> 1m30s, 500ms.
func formatMillis(ms int64) string {
	s := (time.Duration(ms) * time.Millisecond).String()
	if len(s) > 2 && s[len(s)-2:] == "0s" && s != "0s" && s[len(s)-3] == 'm' {
		s = s[:len(s)-2]
	}
	if len(s) > 2 && s[len(s)-2:] == "0m" && s[len(s)-3] == 'h' {
		s = s[:len(s)-2]
	}
	return s
}
