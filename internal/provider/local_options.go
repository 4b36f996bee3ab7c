package provider

import (
	"github.com/hashicorp/terraform-plugin-framework-validators/int64validator"
	"github.com/hashicorp/terraform-plugin-framework/attr"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types"
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
