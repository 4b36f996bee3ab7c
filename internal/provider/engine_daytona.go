package provider

import (
	"github.com/hashicorp/terraform-plugin-framework-validators/int64validator"
	"github.com/hashicorp/terraform-plugin-framework/attr"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/ekairos/terraform-provider-sandbox/internal/backend"
	"github.com/ekairos/terraform-provider-sandbox/internal/backend/engine/daytona"
)

var daytonaOptionTypes = map[string]attr.Type{
	"image":                 types.StringType,
	"snapshot":              types.StringType,
	"cpu":                   types.Int64Type,
	"memory":                types.Int64Type,
	"disk":                  types.Int64Type,
	"public":                types.BoolType,
	"auto_stop_interval":    types.Int64Type,
	"auto_archive_interval": types.Int64Type,
	"auto_delete_interval":  types.Int64Type,
	"ephemeral":             types.BoolType,
	"labels":                types.MapType{ElemType: types.StringType},
	"network_block_all":     types.BoolType,
	"network_allow_list":    types.ListType{ElemType: types.StringType},
	"target":                types.StringType,
}

func daytonaOptionAttributes() map[string]schema.Attribute {
	minutes := func(desc string) schema.Int64Attribute {
		return schema.Int64Attribute{MarkdownDescription: desc, Optional: true, Validators: []validator.Int64{int64validator.AtLeast(-1)}}
	}
	return map[string]schema.Attribute{
		"image":                 schema.StringAttribute{Optional: true, MarkdownDescription: "A container image to start from (a tag, not `latest`). Exactly one of `image` and `snapshot`, or neither for Daytona's default snapshot."},
		"snapshot":              schema.StringAttribute{Optional: true, MarkdownDescription: "A Daytona snapshot to start from. Not with `image`, `cpu`, `memory` or `disk` (the API's rule)."},
		"cpu":                   schema.Int64Attribute{Optional: true, MarkdownDescription: "vCPUs; only with `image`.", Validators: []validator.Int64{int64validator.AtLeast(1)}},
		"memory":                schema.Int64Attribute{Optional: true, MarkdownDescription: "Memory in GiB; only with `image`.", Validators: []validator.Int64{int64validator.AtLeast(1)}},
		"disk":                  schema.Int64Attribute{Optional: true, MarkdownDescription: "Disk in GiB; only with `image`.", Validators: []validator.Int64{int64validator.AtLeast(1)}},
		"public":                schema.BoolAttribute{Optional: true, MarkdownDescription: "Whether preview URLs are reachable without the preview token."},
		"auto_stop_interval":    minutes("Minutes of inactivity before Daytona stops the sandbox (0 = never)."),
		"auto_archive_interval": minutes("Minutes stopped before Daytona archives it (0 = the maximum)."),
		"auto_delete_interval":  minutes("Minutes stopped before Daytona deletes it (-1 = never). Not with `ephemeral`."),
		"ephemeral": schema.BoolAttribute{Optional: true, MarkdownDescription: "Delete the sandbox when it stops. Default `false` " +
			"(`@ekairos/sandbox` defaults to `true`; a Terraform-managed sandbox that vanishes on stop would be re-created on every plan)."},
		"labels":             schema.MapAttribute{Optional: true, ElementType: types.StringType, MarkdownDescription: "Labels; keys starting with `ekairos` are reserved (the record id travels in `ekairos_sandbox_id`)."},
		"network_block_all":  schema.BoolAttribute{Optional: true, MarkdownDescription: "Block all network access (what `policy { mode = \"deny_all\" }` also does)."},
		"network_allow_list": schema.ListAttribute{Optional: true, ElementType: types.StringType, MarkdownDescription: "CIDRs the sandbox may reach."},
		"target":             schema.StringAttribute{Optional: true, MarkdownDescription: "The target (region); defaults to the provider's `daytona.target`."},
	}
}

func newDaytonaEngine(settings map[string]string) (backend.Engine, error) {
	return daytona.New(daytona.Config{
		APIKey: settings["api_key"], JWTToken: settings["jwt_token"], OrganizationID: settings["organization_id"],
		APIURL: settings["api_url"], Target: settings["target"],
	})
}
