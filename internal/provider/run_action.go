package provider

import (
	"bytes"
	"context"
	"fmt"
	"time"

	"github.com/hashicorp/terraform-plugin-framework-validators/listvalidator"
	"github.com/hashicorp/terraform-plugin-framework-validators/mapvalidator"
	"github.com/hashicorp/terraform-plugin-framework-validators/stringvalidator"
	"github.com/hashicorp/terraform-plugin-framework/action"
	"github.com/hashicorp/terraform-plugin-framework/action/schema"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types"
	"github.com/hashicorp/terraform-plugin-log/tflog"

	"github.com/ekairos/terraform-provider-sandbox/internal/backend"
)

var (
	_ action.ActionWithConfigure  = (*runAction)(nil)
	_ action.ActionWithModifyPlan = (*runAction)(nil)
)

// runActionName is the action's name without the provider prefix, recorded in metadata.terraform.action.
const runActionName = "sandbox_run"

// maxProgressLines is how many lines of output an invocation shows as progress messages; the rest is counted.
const maxProgressLines = 1000

// NewRunAction makes the sandbox_run action.
func NewRunAction() action.Action { return &runAction{} }

type runAction struct{ data *providerData }

type runActionModel struct {
	SandboxID   types.String `tfsdk:"sandbox_id"`
	WorkspaceID types.String `tfsdk:"workspace_id"`
	Command     types.List   `tfsdk:"command"`
	Env         types.Map    `tfsdk:"env"`
	Cwd         types.String `tfsdk:"cwd"`
	Timeout     types.String `tfsdk:"timeout"`
	Labels      types.Map    `tfsdk:"labels"`
}

func (a *runAction) Metadata(_ context.Context, req action.MetadataRequest, resp *action.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + "_run"
}

func (a *runAction) Schema(_ context.Context, _ action.SchemaRequest, resp *action.SchemaResponse) {
	envValidators := []validator.Map{
		mapvalidator.KeysAre(stringvalidator.RegexMatches(envNameRegexp, "must be an environment variable name: a letter or _, then letters, digits or _")),
		mapvalidator.ValueStringsAre(noNULValidator{what: "environment variable's value"}),
	}
	resp.Schema = schema.Schema{
		MarkdownDescription: "Runs one command in a sandbox or a workspace when the action is invoked (Terraform 1.14+): by " +
			"`terraform apply -invoke=action.sandbox_run.<name>`, or by an `action_trigger` in a resource's `lifecycle` block " +
			"(e.g. after the sandbox is created or updated). Each invocation is recorded in `sandbox_processes` as a " +
			"`sandbox_command` run is (`kind = \"command\"`, status `running`, then `exited`, `failed` or `killed`, with " +
			"`metadata.terraform.action = \"sandbox_run\"`), and nothing is kept in the Terraform state. The command's output is " +
			"shown as progress messages while it runs (stderr lines prefixed `stderr: `; the `local` engine streams them, " +
			"hosted engines show them when the command ended), and a non-zero exit fails the apply with the exit code and " +
			"the last lines of stderr. The output is never written to records or to the state.",
		Attributes: map[string]schema.Attribute{
			"sandbox_id": schema.StringAttribute{
				MarkdownDescription: "The record id of the sandbox to run in (a `sandbox_sandbox`'s `id`). Its record must be `active`; a " +
					"stopped sandbox is started for the run and stopped again after. Exactly one of `sandbox_id` and `workspace_id`. An id " +
					"known at plan time that names no record of the store, or a sandbox that is gone, fails the plan.",
				Optional:   true,
				Validators: []validator.String{uuidValidator{}, stringvalidator.ExactlyOneOf(path.MatchRoot("sandbox_id"), path.MatchRoot("workspace_id"))},
			},
			"workspace_id": schema.StringAttribute{
				MarkdownDescription: "The record id of a `sandbox_workspace` to run in: what the command writes to the workspace's files stays. " +
					"Exactly one of `sandbox_id` and `workspace_id`.",
				Optional:   true,
				Validators: []validator.String{uuidValidator{}},
			},
			"command": schema.ListAttribute{
				MarkdownDescription: "The argv to run, never interpreted by a shell: write `[\"sh\", \"-c\", \"...\"]` when you want one. " +
					"It starts in the sandbox's home unless `cwd` says otherwise.",
				Required:    true,
				ElementType: types.StringType,
				Validators:  []validator.List{listvalidator.SizeAtLeast(1), argvValidator{}},
			},
			"env": schema.MapAttribute{
				MarkdownDescription: "Environment variables for this command, added to the sandbox's `env`. Never written to " +
					"records, state or logs by the provider. **Note:** action arguments can be neither sensitive nor write-only " +
					"(terraform-plugin-framework refuses a value for a write-only action argument, and Terraform refuses " +
					"ephemeral values for an argument that is not write-only), so give secrets through a `sensitive = true` " +
					"variable: Terraform then hides them in the plan's output.",
				Optional:    true,
				ElementType: types.StringType,
				Validators:  envValidators,
			},
			"cwd": schema.StringAttribute{
				MarkdownDescription: "Working directory: relative to the sandbox's home, or absolute inside the sandbox. Default: the home.",
				Optional:            true,
				Validators:          []validator.String{stringvalidator.LengthAtLeast(1), noNULValidator{what: "working directory"}},
			},
			"timeout": schema.StringAttribute{
				MarkdownDescription: "How long the command may run before it is killed (recorded as `killed`, and an error). A duration " +
					"such as `30s` or `10m`. Default `" + defaultCommandTimeout + "`.",
				Optional:   true,
				Validators: []validator.String{durationValidator{min: time.Second, max: 24 * time.Hour}},
			},
			"labels": schema.MapAttribute{
				MarkdownDescription: "Labels of the run, merged over the provider's `default_labels` (these win on the same key) and " +
					"recorded as the run's `metadata.labels`, so that `sandbox_records` (`kind = \"process\"`) finds the runs of a " +
					"pipeline." + labelsDoc,
				Optional:    true,
				ElementType: types.StringType,
				Validators:  labelValidators(),
			},
		},
	}
}

func (a *runAction) Configure(_ context.Context, req action.ConfigureRequest, resp *action.ConfigureResponse) {
	d, err := providerDataFrom(req.ProviderData)
	if err != nil {
		resp.Diagnostics.AddError("Provider configuration", err.Error())
	}
	a.data = d
}

// ModifyPlan refuses, at plan time, a sandbox_id or workspace_id that names no record of the store (or one that
// is gone), as sandbox_command does; an id unknown at plan (made in the same apply) is checked when the action runs.
// It only reads the store, and never creates it.
func (a *runAction) ModifyPlan(ctx context.Context, req action.ModifyPlanRequest, resp *action.ModifyPlanResponse) {
	if a.data == nil {
		return
	}
	for _, target := range []struct{ attr, entity, what string }{
		{"sandbox_id", backend.EntitySandboxes, "sandbox"},
		{"workspace_id", backend.EntityWorkspaces, "workspace"},
	} {
		var id types.String
		resp.Diagnostics.Append(req.Config.GetAttribute(ctx, path.Root(target.attr), &id)...)
		if id.IsNull() || id.IsUnknown() || !backend.ValidID(id.ValueString()) {
			continue
		}
		if missing, _, err := a.data.storeMissing(ctx); err != nil || missing {
			if err == nil {
				resp.Diagnostics.AddAttributeError(path.Root(target.attr), "No such "+target.what,
					fmt.Sprintf("%s = %q names no record: the configured record store (%s) does not exist yet, so there is no %s to run the command in.",
						target.attr, id.ValueString(), a.data.storeWhere(), target.what))
			} else {
				resp.Diagnostics.AddAttributeError(path.Root(target.attr), "Cannot read the record store", err.Error())
			}
			return
		}
		lc := lifecycleOf(a.data, &resp.Diagnostics)
		if lc == nil {
			return
		}
		checkTargetRecord(ctx, lc.Store, target.attr, target.entity, target.what, id.ValueString(), &resp.Diagnostics)
	}
}

func (a *runAction) Invoke(ctx context.Context, req action.InvokeRequest, resp *action.InvokeResponse) {
	var m runActionModel
	resp.Diagnostics.Append(req.Config.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() {
		return
	}
	lc := lifecycleOf(a.data, &resp.Diagnostics)
	if lc == nil {
		return
	}
	timeout := defaultCommandTimeout
	if !m.Timeout.IsNull() {
		timeout = m.Timeout.ValueString()
	}
	runTimeout, err := time.ParseDuration(timeout)
	if err != nil {
		resp.Diagnostics.AddAttributeError(path.Root("timeout"), "Invalid timeout", err.Error())
		return
	}
	ctx, cancel := context.WithTimeout(ctx, runTimeout+5*time.Minute)
	defer cancel()
	own, _ := knownStringMap(m.Labels)
	var defaults map[string]string
	if a.data != nil {
		defaults = a.data.defaultLabels
	}
	progress := newProgressLines(func(msg string) {
		if resp.SendProgress != nil {
			resp.SendProgress(action.InvokeProgressEvent{Message: msg})
		}
	})
	creq := backend.CommandRequest{
		SandboxID:   m.SandboxID.ValueString(),
		WorkspaceID: m.WorkspaceID.ValueString(),
		Argv:        listStrings(ctx, m.Command, &resp.Diagnostics),
		Env:         mapStrings(ctx, m.Env, &resp.Diagnostics),
		Cwd:         m.Cwd.ValueString(),
		Timeout:     runTimeout,
		Labels:      mergedLabels(defaults, own),
		Action:      runActionName,
		Output:      progress.write,
	}
	if resp.Diagnostics.HasError() {
		return
	}
	res, err := lc.RunCommand(ctx, creq)
	progress.flush()
	where := "sandbox " + creq.SandboxID
	if creq.WorkspaceID != "" {
		where = "workspace " + creq.WorkspaceID
	}
	switch {
	case err != nil:
		resp.Diagnostics.AddError(commandErrorSummary(res), err.Error())
	case res.Status == backend.ProcessKilled:
		resp.Diagnostics.AddError("Command killed at its timeout",
			fmt.Sprintf("%q ran longer than %s in %s and was killed (run record %s, status killed).\n\nLast lines of stderr:\n%s",
				creq.Argv[0], timeout, where, res.Record.ID, backend.LastLines(res.Stderr, 20)))
	case res.ExitCode != 0:
		resp.Diagnostics.AddError("Command failed",
			fmt.Sprintf("%q exited with code %d in %s (run record %s, status failed).\n\nLast lines of stderr:\n%s",
				creq.Argv[0], res.ExitCode, where, res.Record.ID, backend.LastLines(res.Stderr, 20)))
	default:
		if resp.SendProgress != nil {
			resp.SendProgress(action.InvokeProgressEvent{Message: fmt.Sprintf("%q exited with code 0 in %s (run record %s)", creq.Argv[0], where, res.Record.ID)})
		}
	}
	if res != nil && res.Record != nil {
		tflog.Info(ctx, "sandbox_run ran", map[string]any{"id": res.Record.ID, "status": res.Status, "exit_code": res.ExitCode})
	}
}

// progressLines turns a command's output into one progress message per line (stderr lines prefixed), at most
// maxProgressLines of them, then a count of the lines not shown.
type progressLines struct {
	send    func(string)
	partial map[string]*bytes.Buffer
	shown   int
	skipped int
}

func newProgressLines(send func(string)) *progressLines {
	return &progressLines{send: send, partial: map[string]*bytes.Buffer{"stdout": {}, "stderr": {}}}
}

// write is a backend.CommandRequest.Output: never called concurrently.
func (p *progressLines) write(stream string, b []byte) {
	buf := p.partial[stream]
	if buf == nil {
		return
	}
	buf.Write(b)
	for {
		i := bytes.IndexByte(buf.Bytes(), '\n')
		if i < 0 {
			return
		}
		line := string(buf.Next(i + 1))
		p.line(stream, line[:len(line)-1])
	}
}

func (p *progressLines) line(stream, s string) {
	if p.shown >= maxProgressLines {
		p.skipped++
		return
	}
	p.shown++
	if stream == "stderr" {
		s = "stderr: " + s
	}
	p.send(s)
}

// flush sends what is left of unterminated lines, and the count of lines not shown.
func (p *progressLines) flush() {
	for _, stream := range []string{"stdout", "stderr"} {
		if buf := p.partial[stream]; buf.Len() > 0 {
			p.line(stream, buf.String())
			buf.Reset()
		}
	}
	if p.skipped > 0 {
		p.send(fmt.Sprintf("(%d more lines of output not shown)", p.skipped))
		p.skipped = 0
	}
}
