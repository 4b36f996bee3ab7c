package provider

import (
	"context"
	"errors"
	"fmt"
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
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/booldefault"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/int64default"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/int64planmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/listplanmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/mapplanmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/planmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/stringdefault"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/stringplanmodifier"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types"
	"github.com/hashicorp/terraform-plugin-log/tflog"

	"github.com/ekairos/terraform-provider-sandbox/internal/backend"
)

var (
	_ resource.ResourceWithConfigure   = (*commandResource)(nil)
	_ resource.ResourceWithImportState = (*commandResource)(nil)
)

const defaultCommandTimeout = "5m"

// NewCommandResource makes the sandbox_command resource.
func NewCommandResource() resource.Resource { return &commandResource{} }

type commandResource struct {
	data *providerData
}

type commandModel struct {
	ID             types.String   `tfsdk:"id"`
	SandboxID      types.String   `tfsdk:"sandbox_id"`
	WorkspaceID    types.String   `tfsdk:"workspace_id"`
	Command        types.List     `tfsdk:"command"`
	Env            types.Map      `tfsdk:"env"`
	EnvWO          types.Map      `tfsdk:"env_wo"`
	EnvWOVersion   types.Int64    `tfsdk:"env_wo_version"`
	Cwd            types.String   `tfsdk:"cwd"`
	Timeout        types.String   `tfsdk:"timeout"`
	Triggers       types.Map      `tfsdk:"triggers"`
	AllowFailure   types.Bool     `tfsdk:"allow_failure"`
	OutputLimitKiB types.Int64    `tfsdk:"output_limit_kib"`
	DestroyCommand types.List     `tfsdk:"destroy_command"`
	ExitCode       types.Int64    `tfsdk:"exit_code"`
	Stdout         types.String   `tfsdk:"stdout"`
	Stderr         types.String   `tfsdk:"stderr"`
	Truncated      types.Bool     `tfsdk:"truncated"`
	Status         types.String   `tfsdk:"status"`
	StartedAt      types.String   `tfsdk:"started_at"`
	ExitedAt       types.String   `tfsdk:"exited_at"`
	Timeouts       timeouts.Value `tfsdk:"timeouts"`
	Labels         types.Map      `tfsdk:"labels"`
	LabelsAll      types.Map      `tfsdk:"labels_all"`
}

func (r *commandResource) Metadata(_ context.Context, req resource.MetadataRequest, resp *resource.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + "_command"
}

func (r *commandResource) Schema(ctx context.Context, _ resource.SchemaRequest, resp *resource.SchemaResponse) {
	replace := []planmodifier.List{listplanmodifier.RequiresReplace()}
	resp.Schema = schema.Schema{
		MarkdownDescription: "Runs one command in a sandbox at apply time and records the run in `sandbox_processes` " +
			"(`kind = \"command\"`, `mode = \"foreground\"`, status `running`, then `exited`, `failed` or `killed`), as " +
			"`@ekairos/sandbox` records its processes. The command runs once per resource. Changing any of `command`, `env`, " +
			"`cwd`, `timeout`, `triggers`, `env_wo_version`, `sandbox_id` or `workspace_id` runs it again (by replacement); " +
			"`allow_failure`, `output_limit_kib`, `destroy_command` and `timeouts` change in place without a run. A non-zero exit fails the apply (unless `allow_failure`) and " +
			"leaves the resource tainted, so the next apply runs it again. Destroying the resource runs nothing unless " +
			"`destroy_command` is set; the run's record stays as history. A run whose outcome nobody can know (the provider " +
			"was killed during the run, or the record store was unreachable when it ended) is left `running` in its record; " +
			"the next read of the resource (a plan or refresh) marks it `lost`, the library's status, with the reason in " +
			"`metadata.lost`. A run that an apply killed before Terraform saved it in the state is run again under the same " +
			"record by the next apply, not recorded twice.",
		Attributes: map[string]schema.Attribute{
			"id": schema.StringAttribute{
				MarkdownDescription: "The run's record id (a UUID) in `sandbox_processes`.",
				Computed:            true,
				PlanModifiers:       []planmodifier.String{stringplanmodifier.UseStateForUnknown()},
			},
			"sandbox_id": schema.StringAttribute{
				MarkdownDescription: "The record id of the sandbox to run in (a `sandbox_sandbox`'s `id`). Its record must be " +
					"`active`; a stopped sandbox is started for the run and stopped again after. Exactly one of `sandbox_id` and " +
					"`workspace_id`. Changing it runs the command again.",
				Optional:      true,
				Validators:    []validator.String{uuidValidator{}, stringvalidator.ExactlyOneOf(path.MatchRoot("sandbox_id"), path.MatchRoot("workspace_id"))},
				PlanModifiers: []planmodifier.String{stringplanmodifier.RequiresReplace()},
			},
			"workspace_id": schema.StringAttribute{
				MarkdownDescription: "The record id of a `sandbox_workspace` to run in: the command runs in a sandbox of the workspace " +
					"and what it writes to the workspace's files stays. Exactly one of `sandbox_id` and `workspace_id`. Changing it runs the command again.",
				Optional:      true,
				Validators:    []validator.String{uuidValidator{}},
				PlanModifiers: []planmodifier.String{stringplanmodifier.RequiresReplace()},
			},
			"command": schema.ListAttribute{
				MarkdownDescription: "The argv to run, never interpreted by a shell: write `[\"sh\", \"-c\", \"...\"]` when you want one. " +
					"It starts in the sandbox's home unless `cwd` says otherwise. Changing it runs the command again.",
				Required:      true,
				ElementType:   types.StringType,
				Validators:    []validator.List{listvalidator.SizeAtLeast(1), argvValidator{}},
				PlanModifiers: replace,
			},
			"env": schema.MapAttribute{
				MarkdownDescription: "Environment variables for this command, added to the sandbox's `env`. Sensitive: never written to records or logs. Changing them runs the command again (except the first plan after an import, which takes them in place: the record cannot hold them).",
				Optional:            true,
				Sensitive:           true,
				ElementType:         types.StringType,
				Validators: []validator.Map{
					mapvalidator.KeysAre(stringvalidator.RegexMatches(envNameRegexp, "must be an environment variable name: a letter or _, then letters, digits or _")),
					mapvalidator.ValueStringsAre(noNULValidator{what: "environment variable's value"}),
				},
				PlanModifiers: []planmodifier.Map{envRequiresReplace()},
			},
			"env_wo": schema.MapAttribute{
				MarkdownDescription: "Environment variables for this command that never reach state (write-only, Terraform 1.11+): " +
					"secrets, or values from an ephemeral resource such as `sandbox_exec`. Added after `env`. Bump `env_wo_version` to run " +
					"the command again with new values.",
				Optional:    true,
				WriteOnly:   true,
				Sensitive:   true,
				ElementType: types.StringType,
				Validators: []validator.Map{
					mapvalidator.KeysAre(stringvalidator.RegexMatches(envNameRegexp, "must be an environment variable name: a letter or _, then letters, digits or _")),
					mapvalidator.ValueStringsAre(noNULValidator{what: "environment variable's value"}),
				},
			},
			"env_wo_version": schema.Int64Attribute{
				MarkdownDescription: "Change it to run the command again with changed `env_wo` values (Terraform cannot see them change). Recorded (the number only), so an import keeps it.",
				Optional:            true,
				PlanModifiers:       []planmodifier.Int64{int64planmodifier.RequiresReplace()},
			},
			"cwd": schema.StringAttribute{
				MarkdownDescription: "Working directory: relative to the sandbox's home, or absolute inside the sandbox. Default: the home. Changing it runs the command again.",
				Optional:            true,
				Validators:          []validator.String{stringvalidator.LengthAtLeast(1), noNULValidator{what: "working directory"}},
				PlanModifiers:       []planmodifier.String{stringplanmodifier.RequiresReplace()},
			},
			"timeout": schema.StringAttribute{
				MarkdownDescription: "How long the command may run before it is killed (recorded as `killed`, and an error). A duration such as `30s` or `10m`. Default `" + defaultCommandTimeout + "`. Changing it runs the command again.",
				Optional:            true,
				Computed:            true,
				Default:             stringdefault.StaticString(defaultCommandTimeout),
				Validators:          []validator.String{durationValidator{min: time.Second, max: 24 * time.Hour}},
				PlanModifiers:       []planmodifier.String{stringplanmodifier.RequiresReplace()},
			},
			"triggers": schema.MapAttribute{
				MarkdownDescription: "Arbitrary strings; when any changes, the command runs again (by replacement). Tie it to a file with `filesha256(...)`.",
				Optional:            true,
				ElementType:         types.StringType,
				PlanModifiers:       []planmodifier.Map{mapplanmodifier.RequiresReplace()},
			},
			"allow_failure": schema.BoolAttribute{
				MarkdownDescription: "When `true`, a non-zero exit code is recorded (`exit_code`, record status `failed`) but does not fail the apply. Default `false`.",
				Optional:            true,
				Computed:            true,
				Default:             booldefault.StaticBool(false),
			},
			"output_limit_kib": schema.Int64Attribute{
				MarkdownDescription: "How much of the end of stdout and of stderr is kept in `stdout` and `stderr`, in KiB each (1 to 1024). Default 64.",
				Optional:            true,
				Computed:            true,
				Default:             int64default.StaticInt64(backend.DefaultOutputLimit / 1024),
				Validators:          []validator.Int64{int64validator.Between(1, 1024)},
			},
			"destroy_command": schema.ListAttribute{
				MarkdownDescription: "An argv to run in the sandbox when this resource is destroyed (skipped when the sandbox is already gone). Its failure fails the destroy.",
				Optional:            true,
				ElementType:         types.StringType,
				Validators:          []validator.List{listvalidator.SizeAtLeast(1), argvValidator{}},
			},
			"exit_code": schema.Int64Attribute{
				MarkdownDescription: "The command's exit code (`-1` when it could not run or was killed).",
				Computed:            true,
			},
			"stdout": schema.StringAttribute{
				MarkdownDescription: "The end of the command's standard output (see `output_limit_kib`). Kept in state, not in the record.",
				Computed:            true,
			},
			"stderr": schema.StringAttribute{
				MarkdownDescription: "The end of the command's standard error (see `output_limit_kib`). Kept in state, not in the record.",
				Computed:            true,
			},
			"truncated": schema.BoolAttribute{
				MarkdownDescription: "Whether `stdout` or `stderr` was cut to `output_limit_kib`.",
				Computed:            true,
			},
			"status": schema.StringAttribute{
				MarkdownDescription: "The run's record status: `exited` (exit code 0), `failed` (non-zero exit) or `killed` (timeout).",
				Computed:            true,
			},
			"started_at": schema.StringAttribute{
				MarkdownDescription: "When the command started (RFC 3339, UTC).",
				Computed:            true,
			},
			"labels":     labelsAttribute("command"),
			"labels_all": labelsAllAttribute(),
			"exited_at": schema.StringAttribute{
				MarkdownDescription: "When the command ended (RFC 3339, UTC).",
				Computed:            true,
			},
		},
		Blocks: map[string]schema.Block{
			"timeouts": timeouts.Block(ctx, timeouts.Opts{Create: true, Delete: true}),
		},
	}
}

func (r *commandResource) Configure(_ context.Context, req resource.ConfigureRequest, resp *resource.ConfigureResponse) {
	d, err := providerDataFrom(req.ProviderData)
	if err != nil {
		resp.Diagnostics.AddError("Provider configuration", err.Error())
		return
	}
	r.data = d
}

func (r *commandResource) lifecycle(diags *diag.Diagnostics) *backend.Lifecycle {
	return (&sandboxResource{data: r.data}).lifecycle(diags)
}

func listStrings(ctx context.Context, l types.List, diags *diag.Diagnostics) []string {
	if l.IsNull() || l.IsUnknown() {
		return nil
	}
	var out []string
	diags.Append(l.ElementsAs(ctx, &out, false)...)
	return out
}

// mapStrings returns a map of strings' known values. At plan time an element can be unknown (a value from a
// resource not made yet, or an ephemeral variable during validate): it is left out, never an error.
func mapStrings(_ context.Context, m types.Map, diags *diag.Diagnostics) map[string]string {
	if m.IsNull() || m.IsUnknown() {
		return nil
	}
	out := make(map[string]string, len(m.Elements()))
	for k, v := range m.Elements() {
		s, ok := v.(types.String)
		if !ok {
			diags.AddError("Unexpected map element", fmt.Sprintf("element %q is a %T, not a string", k, v))
			continue
		}
		if s.IsUnknown() || s.IsNull() {
			continue
		}
		out[k] = s.ValueString()
	}
	return out
}

func (r *commandResource) Create(ctx context.Context, req resource.CreateRequest, resp *resource.CreateResponse) {
	var plan commandModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &plan)...)
	if resp.Diagnostics.HasError() {
		return
	}
	lc := r.lifecycle(&resp.Diagnostics)
	if lc == nil {
		return
	}
	keepStore(ctx, r.data, lc, resp.Private, true, &resp.Diagnostics)
	runTimeout, _ := time.ParseDuration(plan.Timeout.ValueString())
	createTimeout, d := plan.Timeouts.Create(ctx, runTimeout+5*time.Minute)
	resp.Diagnostics.Append(d...)
	ctx, cancel := context.WithTimeout(ctx, createTimeout)
	defer cancel()
	creq := backend.CommandRequest{
		SandboxID:   plan.SandboxID.ValueString(),
		WorkspaceID: plan.WorkspaceID.ValueString(),
		Argv:        listStrings(ctx, plan.Command, &resp.Diagnostics),
		Env:         mapStrings(ctx, plan.Env, &resp.Diagnostics),
		Cwd:         plan.Cwd.ValueString(),
		Timeout:     runTimeout,
		OutputLimit: int(plan.OutputLimitKiB.ValueInt64()) * 1024,
		Bookkeeping: plan.bookkeeping(),
		Labels:      labelsAllOf(plan.LabelsAll),
	}
	var wo types.Map
	resp.Diagnostics.Append(req.Config.GetAttribute(ctx, path.Root("env_wo"), &wo)...)
	if extra := mapStrings(ctx, wo, &resp.Diagnostics); len(extra) > 0 {
		if creq.Env == nil {
			creq.Env = map[string]string{}
		}
		for k, v := range extra {
			creq.Env[k] = v
		}
	}
	if resp.Diagnostics.HasError() {
		return
	}
	res, err := lc.RunCommand(ctx, creq)
	if res != nil && res.Record != nil {
		plan.fromResult(res)
		resp.Diagnostics.Append(resp.State.Set(ctx, &plan)...)
		tflog.Info(ctx, "command ran", map[string]any{"id": res.Record.ID, "status": res.Status, "exit_code": res.ExitCode})
	}
	switch {
	case err != nil:
		resp.Diagnostics.AddError(commandErrorSummary(res), err.Error())
	case res.Status == backend.ProcessKilled:
		resp.Diagnostics.AddError("Command killed at its timeout",
			fmt.Sprintf("%q ran longer than %s and was killed (record %s, status killed).\n\nLast lines of stderr:\n%s",
				creq.Argv[0], plan.Timeout.ValueString(), res.Record.ID, backend.LastLines(res.Stderr, 20)))
	case res.ExitCode != 0 && !plan.AllowFailure.ValueBool():
		resp.Diagnostics.AddError("Command failed",
			fmt.Sprintf("%q exited with code %d (record %s, status failed). The resource is tainted: the next apply runs it again. "+
				"Set allow_failure = true to accept a non-zero exit.\n\nLast lines of stderr:\n%s",
				creq.Argv[0], res.ExitCode, res.Record.ID, backend.LastLines(res.Stderr, 20)))
	}
}

func (m *commandModel) fromResult(res *backend.CommandResult) {
	m.ID = types.StringValue(res.Record.ID)
	m.ExitCode = types.Int64Value(int64(res.ExitCode))
	m.Stdout = types.StringValue(res.Stdout)
	m.Stderr = types.StringValue(res.Stderr)
	m.Truncated = types.BoolValue(res.StdoutTruncated || res.StderrTruncated)
	m.fromRecord(res.Record)
}

func (m *commandModel) fromRecord(rec *backend.Record) {
	m.ID = types.StringValue(rec.ID)
	m.Status = types.StringValue(rec.String("status"))
	if ms, ok := rec.Int("startedAt"); ok {
		m.StartedAt = types.StringValue(formatTime(ms))
	} else {
		m.StartedAt = types.StringNull()
	}
	if ms, ok := rec.Int("exitedAt"); ok {
		m.ExitedAt = types.StringValue(formatTime(ms))
	} else {
		m.ExitedAt = types.StringNull()
	}
	if code, ok := rec.Int("exitCode"); ok {
		m.ExitCode = types.Int64Value(code)
	} else if m.ExitCode.IsNull() || m.ExitCode.IsUnknown() {
		m.ExitCode = types.Int64Value(-1)
	}
	m.Labels, m.LabelsAll = restoreLabels(m.Labels, rec)
}

// Read keeps the run in state while its record and its sandbox exist; otherwise the next plan runs it again.
func (r *commandResource) Read(ctx context.Context, req resource.ReadRequest, resp *resource.ReadResponse) {
	var state commandModel
	resp.Diagnostics.Append(req.State.Get(ctx, &state)...)
	if resp.Diagnostics.HasError() {
		return
	}
	lc := readLifecycle(ctx, r.data, req.Private, "sandbox_command", state.ID.ValueString(), &resp.Diagnostics)
	if lc == nil {
		return
	}
	rec, err := lc.ReadProcess(ctx, state.ID.ValueString())
	if errors.Is(err, backend.ErrNotFound) {
		if recordGoneIsDrift(ctx, r.data, lc, req.Private, backend.EntityProcesses, "sandbox_command", state.ID.ValueString(), &resp.Diagnostics) {
			resp.State.RemoveResource(ctx)
		}
		return
	}
	if err != nil {
		resp.Diagnostics.AddError("Cannot read the run's record", err.Error())
		return
	}
	var gone bool
	if wsID := rec.String("workspaceId"); wsID != "" {
		wrec, _, werr := lc.ReadWorkspace(ctx, wsID)
		err, gone = werr, wrec == nil
	} else {
		sb, serr := lc.ReadSandbox(ctx, rec.String("sandboxId"))
		err, gone = serr, sb == nil
	}
	if err != nil {
		resp.Diagnostics.AddError("Cannot read the command's sandbox or workspace", err.Error())
		return
	}
	if gone {
		tflog.Info(ctx, "the command's sandbox is gone: the command will run again", map[string]any{"id": rec.ID})
		resp.State.RemoveResource(ctx)
		return
	}
	state.SandboxID = stringOrNull(rec.String("sandboxId"))
	state.WorkspaceID = stringOrNull(rec.String("workspaceId"))
	if state.Command.IsNull() || state.Command.IsUnknown() {
		// Import: rebuild the argv from the record.
		argv := []attr.Value{types.StringValue(rec.String("command"))}
		if args, ok := rec.Attrs["args"].([]any); ok {
			for _, a := range args {
				s, _ := a.(string)
				argv = append(argv, types.StringValue(s))
			}
		}
		state.Command = types.ListValueMust(types.StringType, argv)
		state.restoreFromRecord(ctx, rec)
	}
	state.fromRecord(rec)
	resp.Diagnostics.Append(resp.State.Set(ctx, &state)...)
}

// bookkeeping is what the run's record needs besides its own fields to rebuild this configuration on import
// (metadata.terraform). Never env values; triggers are not sensitive in the schema.
func (m *commandModel) bookkeeping() map[string]any {
	// Every key is written, nil when unset, so that an in-place change that removes a value removes it here too.
	bk := map[string]any{bkTimeout: durationSpelling(m.Timeout), bkTimeouts: timeoutsBookkeeping(m.Timeouts),
		"envWoVersion": nil, "outputLimitKiB": nil, "destroyCommand": nil, "triggers": nil, "allowFailure": m.AllowFailure.ValueBool(),
		bkLabels: labelKeysBookkeeping(m.Labels)}
	if !m.EnvWOVersion.IsNull() && !m.EnvWOVersion.IsUnknown() {
		bk["envWoVersion"] = m.EnvWOVersion.ValueInt64()
	}
	if !m.OutputLimitKiB.IsNull() && !m.OutputLimitKiB.IsUnknown() {
		bk["outputLimitKiB"] = m.OutputLimitKiB.ValueInt64()
	}
	if dc := listStrings(context.Background(), m.DestroyCommand, &diag.Diagnostics{}); dc != nil {
		bk["destroyCommand"] = dc
	}
	if !m.Triggers.IsNull() && !m.Triggers.IsUnknown() {
		bk["triggers"] = mapStrings(context.Background(), m.Triggers, &diag.Diagnostics{})
	}
	return bk
}

// restoreFromRecord rebuilds, on import, the arguments the run's record holds (its own fields and the
// bookkeeping). What never comes back: env (sensitive), env_wo (write-only), and stdout/stderr/truncated (kept in
// state only: output may hold secrets and records are readable by apps).
func (m *commandModel) restoreFromRecord(ctx context.Context, rec *backend.Record) {
	md := rec.JSONMap("metadata")
	bk, _ := md[backend.ParamsTerraform].(map[string]any)
	m.Cwd = stringOrNull(rec.String("cwd"))
	ms, _ := backend.AsInt(md["timeoutMs"])
	if ms <= 0 {
		ms = -1
	}
	m.Timeout = restoreDuration(types.StringNull(), bk, ms, defaultCommandTimeout)
	if af, ok := bk["allowFailure"].(bool); ok {
		m.AllowFailure = types.BoolValue(af)
	} else {
		m.AllowFailure = types.BoolValue(rec.String("status") == backend.ProcessFailed)
	}
	m.OutputLimitKiB = types.Int64Value(backend.DefaultOutputLimit / 1024)
	if n, ok := backend.AsInt(bk["outputLimitKiB"]); ok {
		m.OutputLimitKiB = types.Int64Value(n)
	}
	m.EnvWOVersion = types.Int64Null()
	if n, ok := backend.AsInt(bk["envWoVersion"]); ok {
		m.EnvWOVersion = types.Int64Value(n)
	}
	m.DestroyCommand = types.ListNull(types.StringType)
	if raw, ok := bk["destroyCommand"].([]any); ok {
		vals := make([]attr.Value, 0, len(raw))
		for _, a := range raw {
			s, _ := a.(string)
			vals = append(vals, types.StringValue(s))
		}
		m.DestroyCommand = types.ListValueMust(types.StringType, vals)
	}
	m.Triggers = types.MapNull(types.StringType)
	if raw, ok := bk["triggers"].(map[string]any); ok {
		vals := map[string]attr.Value{}
		for k, v := range raw {
			s, _ := v.(string)
			vals[k] = types.StringValue(s)
		}
		m.Triggers = types.MapValueMust(types.StringType, vals)
	}
	m.Stdout = types.StringValue("")
	m.Stderr = types.StringValue("")
	m.Truncated = types.BoolValue(false)
	m.Env = types.MapNull(types.StringType)
	m.EnvWO = types.MapNull(types.StringType)
	m.Timeouts = restoreTimeouts(ctx, timeouts.Value{Object: types.ObjectNull(m.Timeouts.AttributeTypes(ctx))}, bk)
}

// Update changes only what needs no new run (allow_failure, output_limit_kib, destroy_command).
func (r *commandResource) Update(ctx context.Context, req resource.UpdateRequest, resp *resource.UpdateResponse) {
	var plan, state commandModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &plan)...)
	resp.Diagnostics.Append(req.State.Get(ctx, &state)...)
	if resp.Diagnostics.HasError() {
		return
	}
	plan.ExitCode, plan.Stdout, plan.Stderr, plan.Truncated = state.ExitCode, state.Stdout, state.Stderr, state.Truncated
	plan.Status, plan.StartedAt, plan.ExitedAt = state.Status, state.StartedAt, state.ExitedAt
	if state.ExitCode.ValueInt64() != 0 && !plan.AllowFailure.ValueBool() {
		resp.Diagnostics.AddAttributeError(path.Root("allow_failure"), "The recorded run failed",
			fmt.Sprintf("The run %s exited with code %d; with allow_failure = false it must run again: taint it (terraform apply -replace=...).",
				state.ID.ValueString(), state.ExitCode.ValueInt64()))
		return
	}
	if lc := r.lifecycle(&resp.Diagnostics); lc != nil {
		if _, err := lc.SetLabels(ctx, backend.EntityProcesses, plan.ID.ValueString(), labelsAllOf(plan.LabelsAll), plan.bookkeeping()); err != nil {
			resp.Diagnostics.AddError("Command not updated", err.Error())
			return
		}
	}
	resp.Diagnostics.Append(resp.State.Set(ctx, &plan)...)
	clearImported(ctx, resp.Private, &resp.Diagnostics)
}

func (r *commandResource) Delete(ctx context.Context, req resource.DeleteRequest, resp *resource.DeleteResponse) {
	var state commandModel
	resp.Diagnostics.Append(req.State.Get(ctx, &state)...)
	if resp.Diagnostics.HasError() || state.DestroyCommand.IsNull() {
		return
	}
	lc := r.lifecycle(&resp.Diagnostics)
	if lc == nil {
		return
	}
	timeout, d := state.Timeouts.Delete(ctx, 10*time.Minute)
	resp.Diagnostics.Append(d...)
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	runTimeout, _ := time.ParseDuration(state.Timeout.ValueString())
	res, err := lc.RunCommand(ctx, backend.CommandRequest{
		SandboxID:   state.SandboxID.ValueString(),
		WorkspaceID: state.WorkspaceID.ValueString(),
		Argv:        listStrings(ctx, state.DestroyCommand, &resp.Diagnostics),
		Env:         mapStrings(ctx, state.Env, &resp.Diagnostics),
		Cwd:         state.Cwd.ValueString(),
		Timeout:     runTimeout,
	})
	switch {
	case errors.Is(err, backend.ErrNotFound) || errors.Is(err, backend.ErrSandboxNotActive):
		tflog.Info(ctx, "sandbox gone: destroy_command skipped", map[string]any{"id": state.ID.ValueString()})
	case err != nil:
		resp.Diagnostics.AddError("destroy_command did not run", err.Error())
	case res.ExitCode != 0:
		resp.Diagnostics.AddError("destroy_command failed",
			fmt.Sprintf("It exited with code %d (record %s).\n\nLast lines of stderr:\n%s", res.ExitCode, res.Record.ID, backend.LastLines(res.Stderr, 20)))
	}
}

func (r *commandResource) ImportState(ctx context.Context, req resource.ImportStateRequest, resp *resource.ImportStateResponse) {
	if !backend.ValidID(req.ID) {
		resp.Diagnostics.AddAttributeError(path.Root("id"), "Invalid import id",
			fmt.Sprintf("%q is not a record id: import a command by the UUID of its run's record in sandbox_processes.", req.ID))
		return
	}
	lc := r.lifecycle(&resp.Diagnostics)
	if lc == nil {
		return
	}
	if getForImport(ctx, lc.Store, backend.EntityProcesses, req.ID, &resp.Diagnostics) == nil {
		return
	}
	markImported(ctx, resp)
	resp.Diagnostics.Append(resp.State.SetAttribute(ctx, path.Root("id"), req.ID)...)
	resp.Diagnostics.Append(resp.State.SetAttribute(ctx, path.Root("command"), types.ListNull(types.StringType))...)
}

// commandErrorSummary titles a RunCommand error: "Command did not run" only when it did not; a command that
// ran but whose record could not be updated says so.
func commandErrorSummary(res *backend.CommandResult) string {
	if res != nil && res.Ran {
		return "Command ran, but its run was not recorded"
	}
	return "Command did not run"
}
