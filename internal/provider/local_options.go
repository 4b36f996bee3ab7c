package provider

import (
	"context"
	"fmt"

	"github.com/hashicorp/terraform-plugin-framework-validators/int64validator"
	"github.com/hashicorp/terraform-plugin-framework/attr"
	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/objectplanmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/planmodifier"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/ekairos/terraform-provider-sandbox/internal/backend"
)

// The local {} block's attributes, by the option names the local engine takes in SandboxSpec.Options.
var localOptionTypes = map[string]attr.Type{
	"disk_mb":       types.Int64Type,
	"max_processes": types.Int64Type,
	"memory_mb":     types.Int64Type,
	"tmp_mb":        types.Int64Type,
}

func localOptionAttributes() map[string]schema.Attribute {
	return map[string]schema.Attribute{
		"disk_mb": schema.Int64Attribute{
			MarkdownDescription: "The size in MiB of the sandbox's home, a file system of its own (a sparse ext4 image on a loop " +
				"device: the host's disk holds only what is written; ext4 keeps a few MiB of it for itself): writing past it " +
				"fails inside the sandbox with `No space left on device`, never on the host. Default: none (the home shares the " +
				"file system of the local root). Needs the provider to run as root (it mounts the image), `mkfs.ext4` and loop " +
				"devices. With `setup_id` the setup's files are copied into that file system (no copy-on-write: they count against " +
				"`disk_mb`, and a setup larger than it fails the create). The plan fails where it cannot be enforced.",
			Optional:   true,
			Validators: []validator.Int64{int64validator.Between(16, 1<<30)},
		},
		"max_processes": schema.Int64Attribute{
			MarkdownDescription: "The most processes and threads that the sandbox's commands may have **together** (per sandbox, " +
				"not per command or process): a fork bomb stops there, with `fork` failing inside the sandbox. Enforced by the " +
				"sandbox's pids cgroup (cgroup v2, or the v1 `pids` hierarchy, when the provider can write it: as root), else by " +
				"`RLIMIT_NPROC` in the sandbox's own user namespace (an unprivileged provider). Default: 1024. The plan fails " +
				"when it cannot be enforced (root without cgroups, or `isolation = \"none\"`).",
			Optional:   true,
			Validators: []validator.Int64{int64validator.Between(1, 1<<20)},
		},
		"memory_mb": schema.Int64Attribute{
			MarkdownDescription: "The memory of the **whole sandbox** in MiB: all its processes together, its `/tmp` (a tmpfs) " +
				"included, and swap where the host accounts it. Past it the kernel's OOM killer ends a process of the " +
				"sandbox (exit code 137), never one of the host. Enforced by the sandbox's memory cgroup; the plan fails on " +
				"hosts where the provider cannot write one (an unprivileged provider without a delegated cgroup v2 subtree) " +
				"and with `isolation = \"none\"`. Default: half of the host's RAM where cgroups are available, else no limit.",
			Optional:   true,
			Validators: []validator.Int64{int64validator.Between(16, 1<<22)},
		},
		"tmp_mb": schema.Int64Attribute{
			MarkdownDescription: "The size of the sandbox's `/tmp` in MiB, a tmpfs of its own (its files count against `memory_mb` " +
				"too): writing past it fails inside the sandbox with `No space left on device`. Default: 1024. The plan fails with " +
				"`isolation = \"none\"`.",
			Optional:   true,
			Validators: []validator.Int64{int64validator.Between(1, 1<<22)},
		},
	}
}

// The local {} block of sandbox_workspace and sandbox_volume: their disk limit. Its options go to the engine as
// WorkspaceSpec.Options / VolumeSpec.Options and are recorded under params.local; the names set are kept in the
// bookkeeping (bkOptions) so that an import rebuilds the block.
var localDiskOptionTypes = map[string]attr.Type{
	"disk_mb": types.Int64Type,
}

// localDiskBlock is the local {} block of a workspace or a volume (what names it).
func localDiskBlock(what string) schema.SingleNestedBlock {
	var size, shared string
	switch what {
	case "workspace":
		size = "the workspace's files (its home: what its commands and the sandboxes working on it write there)"
		shared = "The limit is per workspace: its commands and every sandbox on it share it."
	default:
		size = "the volume's data"
		shared = "The limit is per volume: every sandbox that mounts it shares it (one image, mounted once on the host and " +
			"bound into each sandbox); the data survives the sandboxes."
	}
	return schema.SingleNestedBlock{
		MarkdownDescription: "Options of the `local` engine; only allowed with `backend = \"local\"`. Recorded under `params.local`. " +
			"A larger `disk_mb` is changed in place; any other change replaces the " + what + " (and its files).",
		Attributes: map[string]schema.Attribute{
			"disk_mb": schema.Int64Attribute{
				MarkdownDescription: "The size in MiB of " + size + ", a file system of its own (a sparse ext4 image on a loop device: " +
					"the host's disk holds only what is written; ext4 keeps a few MiB of it for itself): writing past it fails inside " +
					"the sandbox with `No space left on device`, never on the host. " + shared + " Default: none (the files share the " +
					"file system of the local root). Needs the provider to run as root (it mounts the image), `mkfs.ext4` and loop " +
					"devices: the plan fails on this attribute where it cannot be enforced. A larger value grows the disk in place " +
					"(the image and its file system, online: the files stay, sandboxes using it keep running); a smaller one, or adding " +
					"or removing the block, replaces the " + what + " and its files.",
				Optional:   true,
				Validators: []validator.Int64{int64validator.Between(16, 1<<30)},
			},
		},
		PlanModifiers: []planmodifier.Object{diskGrowsInPlace()},
	}
}

// diskGrowsInPlace replaces a workspace or volume on any change of its local block but a larger disk_mb, which
// the engine applies in place (it grows the image and its file system; the files stay).
func diskGrowsInPlace() planmodifier.Object {
	const desc = "A larger disk_mb grows the disk in place; any other change of the block replaces the resource."
	return objectplanmodifier.RequiresReplaceIf(func(_ context.Context, req planmodifier.ObjectRequest, resp *objectplanmodifier.RequiresReplaceIfFuncResponse) {
		resp.RequiresReplace = !diskGrows(req.StateValue, req.PlanValue)
	}, desc, desc)
}

// diskGrows reports whether the local block goes from a known disk_mb to a larger one, nothing else changing.
func diskGrows(state, plan types.Object) bool {
	if state.IsNull() || state.IsUnknown() || plan.IsNull() || plan.IsUnknown() {
		return false
	}
	a, ok1 := state.Attributes()["disk_mb"].(types.Int64)
	b, ok2 := plan.Attributes()["disk_mb"].(types.Int64)
	if !ok1 || !ok2 || a.IsNull() || a.IsUnknown() || b.IsNull() || b.IsUnknown() {
		return false
	}
	return b.ValueInt64() > a.ValueInt64()
}

// planLocalBlock checks the local {} block of a workspace or volume at plan time: only with backend = "local",
// and the engine refuses what this host cannot enforce (backend.VolumeValidator, backend.WorkspaceValidator), on
// the attribute.
func planLocalBlock(ctx context.Context, kind string, eng backend.Engine, req resource.ModifyPlanRequest, resp *resource.ModifyPlanResponse) {
	if req.Plan.Raw.IsNull() {
		return
	}
	var blk types.Object
	var b types.String
	var diags diag.Diagnostics
	diags.Append(req.Plan.GetAttribute(ctx, path.Root(backend.EngineLocal), &blk)...)
	diags.Append(resp.Plan.GetAttribute(ctx, path.Root("backend"), &b)...)
	if diags.HasError() || blk.IsNull() || blk.IsUnknown() || b.IsUnknown() {
		resp.Diagnostics.Append(diags...)
		return
	}
	if b.ValueString() != backend.EngineLocal {
		resp.Diagnostics.AddAttributeError(path.Root(backend.EngineLocal), "Block for another engine",
			fmt.Sprintf("The local block only applies with backend = %q; this %s runs on %s.", backend.EngineLocal, kind, b.ValueString()))
		return
	}
	if resp.Diagnostics.HasError() {
		return
	}
	for _, v := range blk.Attributes() {
		if v.IsUnknown() {
			return
		}
	}
	if eng == nil {
		return
	}
	opts := optionsFromObject(blk)
	var err error
	switch kind {
	case kindVolume:
		if v, ok := eng.(backend.VolumeValidator); ok {
			err = v.ValidateVolumeSpec(backend.VolumeSpec{Options: opts})
		}
	case kindWorkspace:
		if v, ok := eng.(backend.WorkspaceValidator); ok {
			err = v.ValidateWorkspaceSpec(backend.WorkspaceSpec{Options: opts})
		}
	}
	if err != nil {
		resp.Diagnostics.AddAttributeError(specErrorPath(backend.EngineLocal, err), "Invalid engine options", err.Error())
	}
}

// restoreLocalBlock reads the local {} block of a workspace or volume back from its record: null on another
// engine (whose bookkeeping names its own block's options).
func restoreLocalBlock(rec *backend.Record, bk map[string]any, prior types.Object) types.Object {
	if rec.String("provider") != backend.EngineLocal {
		return types.ObjectNull(localDiskOptionTypes)
	}
	return restoreBlock(rec.JSONMap("params")[backend.EngineLocal], bk, localDiskOptionTypes, prior)
}
