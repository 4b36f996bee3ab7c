package provider

import (
	"context"
	"fmt"

	"github.com/hashicorp/terraform-plugin-framework-validators/int64validator"
	"github.com/hashicorp/terraform-plugin-framework-validators/stringvalidator"
	"github.com/hashicorp/terraform-plugin-framework/attr"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/ekairos/terraform-provider-sandbox/internal/backend/engine/vercel"
)

var vercelSourceTypes = map[string]attr.Type{
	"type":        types.StringType,
	"url":         types.StringType,
	"revision":    types.StringType,
	"depth":       types.Int64Type,
	"username":    types.StringType,
	"snapshot_id": types.StringType,
}

var vercelOptionTypes = map[string]attr.Type{
	"source":              types.ObjectType{AttrTypes: vercelSourceTypes},
	"persistent":          types.BoolType,
	"snapshot_expiration": types.StringType,
}

func vercelOptionAttributes() map[string]schema.Attribute {
	return map[string]schema.Attribute{
		"source": schema.SingleNestedAttribute{
			MarkdownDescription: "What the sandbox starts with: a git repository (`type = \"git\"`, `url`, optional `revision`, `depth`, " +
				"`username`), a tarball (`type = \"tarball\"`, `url`) or a snapshot (`type = \"snapshot\"`, `snapshot_id`). No passwords: " +
				"options are recorded; for a private repository give the token to the `github` policy preset's `credentials_wo`.",
			Optional: true,
			Attributes: map[string]schema.Attribute{
				"type": schema.StringAttribute{Required: true, MarkdownDescription: "`git`, `tarball` or `snapshot`.",
					Validators: []validator.String{stringvalidator.OneOf("git", "tarball", "snapshot")}},
				"url":         schema.StringAttribute{Optional: true, MarkdownDescription: "The repository or tarball URL."},
				"revision":    schema.StringAttribute{Optional: true, MarkdownDescription: "Git revision (branch, tag or commit)."},
				"depth":       schema.Int64Attribute{Optional: true, MarkdownDescription: "Git clone depth (at least 1).", Validators: []validator.Int64{int64validator.AtLeast(1)}},
				"username":    schema.StringAttribute{Optional: true, MarkdownDescription: "Git username (e.g. `x-access-token`)."},
				"snapshot_id": schema.StringAttribute{Optional: true, MarkdownDescription: "The snapshot to start from."},
			},
		},
		"persistent": schema.BoolAttribute{
			MarkdownDescription: "Whether the sandbox keeps its files across sessions (snapshot on stop, resume on start). Default `true`.",
			Optional:            true,
		},
		"snapshot_expiration": schema.StringAttribute{
			MarkdownDescription: "How long automatic snapshots live: a duration such as `720h` or `30d`, at least a day, or `never`.",
			Optional:            true,
		},
	}
}

// The setup's vercel {} block's attributes.
var vercelSetupOptionTypes = map[string]attr.Type{"expiration": types.StringType, "vcpus": types.Int64Type}

func vercelSetupOptionAttributes() map[string]schema.Attribute {
	return map[string]schema.Attribute{
		"expiration": schema.StringAttribute{
			MarkdownDescription: "How long the setup's snapshot lives after its last use: a duration such as `720h` or `30d` (at least " +
				"a day), or `never`. Default: never expires (the API's own default for snapshots is 30 days, which would make the " +
				"setup vanish and be rebuilt). An expired or deleted snapshot is found on refresh and the setup is built again.",
			Optional:   true,
			Validators: []validator.String{vercelExpirationValidator{}},
		},
		"vcpus": schema.Int64Attribute{
			MarkdownDescription: "vCPUs of the builder sandbox the setup runs in: 1 or an even number up to 8. Default 2.",
			Optional:            true,
			Validators:          []validator.Int64{int64validator.Between(1, vercel.MaxVCPUs), vercelVCPUsValidator{}},
		},
	}
}

// vercelExpirationValidator checks a snapshot lifetime at plan time.
type vercelExpirationValidator struct{}

func (vercelExpirationValidator) Description(context.Context) string {
	return "a duration of at least a day (`720h`, `30d`) or `never`"
}

func (v vercelExpirationValidator) MarkdownDescription(ctx context.Context) string {
	return v.Description(ctx)
}

func (vercelExpirationValidator) ValidateString(_ context.Context, req validator.StringRequest, resp *validator.StringResponse) {
	if req.ConfigValue.IsNull() || req.ConfigValue.IsUnknown() {
		return
	}
	if err := vercel.ValidateExpiration(req.Path.String(), req.ConfigValue.ValueString()); err != nil {
		resp.Diagnostics.AddAttributeError(req.Path, "Invalid snapshot expiration", err.Error())
	}
}

// vercelVCPUsValidator accepts what Vercel gives: 1 or an even number.
type vercelVCPUsValidator struct{}

func (vercelVCPUsValidator) Description(context.Context) string { return "1 or an even number" }

func (v vercelVCPUsValidator) MarkdownDescription(ctx context.Context) string {
	return v.Description(ctx)
}

func (vercelVCPUsValidator) ValidateInt64(_ context.Context, req validator.Int64Request, resp *validator.Int64Response) {
	if req.ConfigValue.IsNull() || req.ConfigValue.IsUnknown() {
		return
	}
	if n := req.ConfigValue.ValueInt64(); n > 1 && n%2 != 0 {
		resp.Diagnostics.AddAttributeError(req.Path, "Invalid vCPUs", fmt.Sprintf("Vercel gives 1 or an even number of vCPUs, not %d.", n))
	}
}
