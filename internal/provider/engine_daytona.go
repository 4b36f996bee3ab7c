package provider

import (
	"github.com/hashicorp/terraform-plugin-framework-validators/int64validator"
	"github.com/hashicorp/terraform-plugin-framework/attr"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types"
)

// Documentation of the daytona engine, appended to the resources' descriptions (kept here, beside the engine's
// options, so that the shared resource files only reference it).
const (
	daytonaBlockDoc = "Options of the `daytona` engine; only allowed with `backend = \"daytona\"`. Recorded under " +
		"`params.daytona` as the library writes it. The record id goes into the sandbox's labels, so a half-made sandbox is " +
		"found and removed, never duplicated. Changing them replaces the sandbox. `desired_state = \"stopped\"` stops the " +
		"sandbox in place; an archived sandbox (Daytona archives stopped ones after `auto_archive_interval`) is not gone and " +
		"starts again on `running`. " + daytonaNetworkDoc
	daytonaNetworkDoc = "Network on Daytona: when a create says nothing, Daytona's own default is open egress; this provider never " +
		"relies on it. With no `policy` block and neither `network_block_all` nor `network_allow_list`, the sandbox is created " +
		"with `networkBlockAll = true` (no network, as on every engine). `policy { mode = \"allow_all\" }` or " +
		"`network_block_all = false` gives Daytona's open default; `allow_list` becomes Daytona's domain allow-list (hosts and " +
		"presets' hosts) and `network_allow_list` its CIDR allow-list. Daytona cannot inject credentials into requests, so a " +
		"policy with `credentials` fails at plan time. Setups and workspaces follow the same rule."
	daytonaWorkspaceDoc = " On `daytona` the workspace is a Daytona volume of its own, mounted at `/home/daytona/workspace` (where " +
		"its commands run), plus one sandbox started from the setup's snapshot with that volume mounted. What survives what: files " +
		"under `/home/daytona/workspace` survive everything but destroying the workspace (the sandbox's stop, archive, deletion " +
		"and re-creation included); the sandbox's other files (the setup's results included) survive stop and start, archive " +
		"and restore, but not the sandbox's deletion (a new one starts again from the setup's snapshot); running processes " +
		"survive nothing (a stop ends them). Daytona stops the idle sandbox after its auto-stop interval and the next command " +
		"starts it again. Destroying the workspace deletes the sandbox and then the volume. " + daytonaNetworkDoc
	daytonaSetupDoc = " On `daytona` the command runs in a builder sandbox, which is snapshotted as `ekairos-setup-<fingerprint>` " +
		"(waited until `active`) and then deleted; sandboxes and workspaces with `setup_id` start from that snapshot. A snapshot " +
		"deleted behind Terraform's back is noticed on refresh and built again."
	daytonaVolumeDoc = " On `daytona` it is a Daytona volume (an S3-backed FUSE mount), waited until `ready`; one in state " +
		"`deleted` reads as gone (the next plan creates it again); destroying one that any Daytona sandbox still mounts (one " +
		"made outside Terraform included) fails with Daytona's 409 message."
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
		"labels": schema.MapAttribute{Optional: true, ElementType: types.StringType, MarkdownDescription: "Labels; keys starting with `ekairos` are reserved (the record id travels in `ekairos_sandbox_id`)."},
		"network_block_all": schema.BoolAttribute{Optional: true, MarkdownDescription: "Block all network access (what `policy { mode = \"deny_all\" }` also does). " +
			"Unset with no `policy` and no `network_allow_list`: `true` is sent (no network), not Daytona's open default; `false` asks for that default (open egress)."},
		"network_allow_list": schema.ListAttribute{Optional: true, ElementType: types.StringType, MarkdownDescription: "CIDRs the sandbox may reach " +
			"(Daytona's `networkAllowList`, e.g. `10.0.0.0/24`); not with `network_block_all = true`. With an `allow_list` policy both lists apply."},
		"target": schema.StringAttribute{Optional: true, MarkdownDescription: "The target (region); defaults to the provider's `daytona.target`."},
	}
}
