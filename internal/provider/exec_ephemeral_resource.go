package provider

import (
	"context"
	"fmt"
	"time"

	"github.com/hashicorp/terraform-plugin-framework-validators/listvalidator"
	"github.com/hashicorp/terraform-plugin-framework-validators/mapvalidator"
	"github.com/hashicorp/terraform-plugin-framework-validators/stringvalidator"
	"github.com/hashicorp/terraform-plugin-framework/ephemeral"
	"github.com/hashicorp/terraform-plugin-framework/ephemeral/schema"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/ekairos/terraform-provider-sandbox/internal/backend"
)

var _ ephemeral.EphemeralResourceWithConfigure = (*execEphemeralResource)(nil)

// NewExecEphemeralResource makes the sandbox_exec ephemeral resource.
func NewExecEphemeralResource() ephemeral.EphemeralResource { return &execEphemeralResource{} }

type execEphemeralResource struct{ data *providerData }

type execModel struct {
	SandboxID    types.String `tfsdk:"sandbox_id"`
	WorkspaceID  types.String `tfsdk:"workspace_id"`
	Command      types.List   `tfsdk:"command"`
	Env          types.Map    `tfsdk:"env"`
	Cwd          types.String `tfsdk:"cwd"`
	Timeout      types.String `tfsdk:"timeout"`
	AllowFailure types.Bool   `tfsdk:"allow_failure"`
	After        types.List   `tfsdk:"after"`
	ExitCode     types.Int64  `tfsdk:"exit_code"`
	Stdout       types.String `tfsdk:"stdout"`
	Stderr       types.String `tfsdk:"stderr"`
}

func (r *execEphemeralResource) Metadata(_ context.Context, req ephemeral.MetadataRequest, resp *ephemeral.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + "_exec"
}

func (r *execEphemeralResource) Schema(_ context.Context, _ ephemeral.SchemaRequest, resp *ephemeral.SchemaResponse) {
	resp.Schema = schema.Schema{
		MarkdownDescription: "Runs a command in a sandbox or workspace each time Terraform opens it (during plan and apply, once " +
			"the target exists) and gives its output to ephemeral contexts only: provider blocks, write-only arguments such as " +
			"`sandbox_command.env_wo`, other ephemeral resources. Its output is never stored in state or records (Terraform 1.10+). " +
			"Use it to read a token generated inside a sandbox. The run itself is recorded in `sandbox_processes` without its output.",
		Attributes: map[string]schema.Attribute{
			"sandbox_id": schema.StringAttribute{
				MarkdownDescription: "The record id of the sandbox to run in. Exactly one of `sandbox_id` and `workspace_id`.",
				Optional:            true,
				Validators:          []validator.String{uuidValidator{}, stringvalidator.ExactlyOneOf(path.MatchRoot("sandbox_id"), path.MatchRoot("workspace_id"))},
			},
			"workspace_id": schema.StringAttribute{
				MarkdownDescription: "The record id of the workspace to run in.",
				Optional:            true,
				Validators:          []validator.String{uuidValidator{}},
			},
			"command": schema.ListAttribute{
				MarkdownDescription: "The argv to run (no shell).",
				Required:            true, ElementType: types.StringType,
				Validators: []validator.List{listvalidator.SizeAtLeast(1), argvValidator{}},
			},
			"env": schema.MapAttribute{
				MarkdownDescription: "Environment variables for the command. Sensitive.",
				Optional:            true, Sensitive: true, ElementType: types.StringType,
				Validators: []validator.Map{mapvalidator.KeysAre(stringvalidator.RegexMatches(envNameRegexp, "must be an environment variable name")),
					mapvalidator.ValueStringsAre(noNULValidator{what: "environment variable's value"})},
			},
			"cwd": schema.StringAttribute{Optional: true, MarkdownDescription: "Working directory (default: the home).",
				Validators: []validator.String{noNULValidator{what: "working directory"}}},
			"timeout": schema.StringAttribute{
				Optional: true, MarkdownDescription: "How long the command may run. Default `" + defaultCommandTimeout + "`.",
				Validators: []validator.String{durationValidator{min: time.Second, max: 24 * time.Hour}},
			},
			"after": schema.ListAttribute{
				Optional: true, ElementType: types.StringType,
				MarkdownDescription: "Ids of what must have happened before the command can run, typically `[sandbox_command.mint.id]` " +
					"for the command that writes what this one reads. Terraform opens an ephemeral resource during every plan, and " +
					"`depends_on` does not stop that (Terraform 1.11): with the sandbox already there and the writing command not run " +
					"yet, the exec would run too early and fail the plan. An id in `after` is unknown until its resource is created, " +
					"and Terraform does not open an ephemeral resource whose arguments are unknown, so the exec waits for the apply " +
					"that runs the writer (values taken from it are unknown in that plan). The ids are not passed to the command.",
			},
			"allow_failure": schema.BoolAttribute{Optional: true, MarkdownDescription: "When `true`, a non-zero exit is returned in `exit_code` instead of failing. Default `false`."},
			"exit_code":     schema.Int64Attribute{Computed: true, MarkdownDescription: "The exit code."},
			"stdout":        schema.StringAttribute{Computed: true, Sensitive: true, MarkdownDescription: "Standard output (the last 64 KiB). Sensitive."},
			"stderr":        schema.StringAttribute{Computed: true, Sensitive: true, MarkdownDescription: "Standard error (the last 64 KiB). Sensitive."},
		},
	}
}

func (r *execEphemeralResource) Configure(_ context.Context, req ephemeral.ConfigureRequest, resp *ephemeral.ConfigureResponse) {
	d, err := providerDataFrom(req.ProviderData)
	if err != nil {
		resp.Diagnostics.AddError("Provider configuration", err.Error())
	}
	r.data = d
}

func (r *execEphemeralResource) Open(ctx context.Context, req ephemeral.OpenRequest, resp *ephemeral.OpenResponse) {
	var m execModel
	resp.Diagnostics.Append(req.Config.Get(ctx, &m)...)
	lc := lifecycleOf(r.data, &resp.Diagnostics)
	if resp.Diagnostics.HasError() || lc == nil {
		return
	}
	timeout := 5 * time.Minute
	if !m.Timeout.IsNull() {
		timeout, _ = time.ParseDuration(m.Timeout.ValueString())
	}
	ctx, cancel := context.WithTimeout(ctx, timeout+time.Minute)
	defer cancel()
	res, err := lc.RunCommand(ctx, backend.CommandRequest{
		SandboxID: m.SandboxID.ValueString(), WorkspaceID: m.WorkspaceID.ValueString(),
		Argv: listStrings(ctx, m.Command, &resp.Diagnostics), Env: mapStrings(ctx, m.Env, &resp.Diagnostics),
		Cwd: m.Cwd.ValueString(), Timeout: timeout,
	})
	if err != nil {
		resp.Diagnostics.AddError(commandErrorSummary(res), err.Error())
		return
	}
	if res.ExitCode != 0 && !m.AllowFailure.ValueBool() {
		// The output may be secret: only stderr's last lines, which the command chose to print as errors.
		resp.Diagnostics.AddError("Command failed", fmt.Sprintf("It exited with code %d (status %s).\n\nLast lines of stderr:\n%s",
			res.ExitCode, res.Status, backend.LastLines(res.Stderr, 10)))
		return
	}
	m.ExitCode = types.Int64Value(int64(res.ExitCode))
	m.Stdout = types.StringValue(res.Stdout)
	m.Stderr = types.StringValue(res.Stderr)
	resp.Diagnostics.Append(resp.Result.Set(ctx, &m)...)
}
