package provider

import (
	"github.com/hashicorp/terraform-plugin-framework-validators/int64validator"
	"github.com/hashicorp/terraform-plugin-framework-validators/stringvalidator"
	"github.com/hashicorp/terraform-plugin-framework/attr"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/ekairos/terraform-provider-sandbox/internal/backend"
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

func newVercelEngine(settings map[string]string) (backend.Engine, error) {
	return vercel.New(vercel.Config{Token: settings["token"], TeamID: settings["team_id"], ProjectID: settings["project_id"], APIURL: settings["api_url"]})
}
