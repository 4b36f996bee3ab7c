package local

import "github.com/ekairos/terraform-provider-sandbox/internal/backend"

// The local engine's option blocks, as its descriptor declares them (Descriptor.Options): the provider makes
// the `local {}` blocks from them. The workspace and volume blocks (diskBlock) hold their disk_mb; the engine
// reads them from WorkspaceSpec.Options or VolumeSpec.Options.

const sandboxBlockDoc = "Options of the `local` engine; only allowed with `backend = \"local\"`. Recorded under " +
	"`params.local`. Changing them replaces the sandbox."

var sandboxOptionSchema = []backend.Option{
	{Name: OptionDiskMB, Kind: backend.OptionInt, Min: backend.Bound(16), Max: backend.Bound(1 << 30),
		Doc: "The size in MiB of the sandbox's home, a file system of its own (a sparse ext4 image on a loop " +
			"device: the host's disk holds only what is written; ext4 keeps a few MiB of it for itself): writing past it " +
			"fails inside the sandbox with `No space left on device`, never on the host. Default: none (the home shares the " +
			"file system of the local root). Needs the provider to run as root (it mounts the image), `mkfs.ext4` and loop " +
			"devices. With `setup_id` the setup's files are copied into that file system (no copy-on-write: they count against " +
			"`disk_mb`, and a setup larger than it fails the create). The plan fails where it cannot be enforced."},
	{Name: OptionMaxProcesses, Kind: backend.OptionInt, Min: backend.Bound(1), Max: backend.Bound(1 << 20),
		Doc: "The most processes and threads that the sandbox's commands may have **together** (per sandbox, " +
			"not per command or process): a fork bomb stops there, with `fork` failing inside the sandbox. Enforced by the " +
			"sandbox's pids cgroup (cgroup v2, or the v1 `pids` hierarchy, when the provider can write it: as root), else by " +
			"`RLIMIT_NPROC` in the sandbox's own user namespace (an unprivileged provider). Default: 1024. The plan fails " +
			"when it cannot be enforced (root without cgroups, or `isolation = \"none\"`)."},
	{Name: OptionMemoryMB, Kind: backend.OptionInt, Min: backend.Bound(16), Max: backend.Bound(1 << 22),
		Doc: "The memory of the **whole sandbox** in MiB: all its processes together, its `/tmp` (a tmpfs) " +
			"included, and swap where the host accounts it. Past it the kernel's OOM killer ends a process of the " +
			"sandbox (exit code 137), never one of the host. Enforced by the sandbox's memory cgroup; the plan fails on " +
			"hosts where the provider cannot write one (an unprivileged provider without a delegated cgroup v2 subtree) " +
			"and with `isolation = \"none\"`. Default: half of the host's RAM where cgroups are available, else no limit."},
	{Name: OptionTmpMB, Kind: backend.OptionInt, Min: backend.Bound(1), Max: backend.Bound(1 << 22),
		Doc: "The size of the sandbox's `/tmp` in MiB, a tmpfs of its own (its files count against `memory_mb` " +
			"too): writing past it fails inside the sandbox with `No space left on device`. Default: 1024. The plan fails with " +
			"`isolation = \"none\"`."},
}

// resourceDocs say what the resources are on this engine.
var resourceDocs = map[backend.ResourceKind]string{
	backend.KindVolume:    " On `local` it is a directory under the local root.",
	backend.KindWorkspace: " On `local` the workspace is its own persistent directory under the local root, used as the home of its commands.",
}

// attributeDocs say what resources' own attributes mean on this engine.
var attributeDocs = map[backend.ResourceKind]map[string]string{
	backend.KindSandbox: {
		"runtime": " On `local` it is recorded only: commands use the host's read-only system.",
		"timeout": " On `local` it is the longest any one command may run before it is killed.",
		"vcpus":   " On `local` it is recorded only.",
		"urls":    " On `local` these are loopback URLs inside the sandbox's own network namespace.",
	},
}

var localOptions = map[backend.ResourceKind]backend.OptionBlock{
	backend.KindSandbox:   {Doc: sandboxBlockDoc, Options: sandboxOptionSchema},
	backend.KindWorkspace: diskBlock("workspace"),
	backend.KindVolume:    diskBlock("volume"),
}

// diskBlock is the local {} block of a workspace or a volume (what names it): its disk limit. Its options go to
// the engine as WorkspaceSpec.Options / VolumeSpec.Options (checked on this host at plan time by
// ValidateWorkspaceSpec / ValidateVolumeSpec); a larger disk_mb grows the disk in place (UpdateVolume,
// UpdateWorkspace), any other change replaces the object.
func diskBlock(what string) backend.OptionBlock {
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
	return backend.OptionBlock{
		Doc: "Options of the `local` engine; only allowed with `backend = \"local\"`. Recorded under `params.local`. " +
			"A larger `disk_mb` is changed in place; any other change replaces the " + what + " (and its files).",
		Options: []backend.Option{{Name: OptionDiskMB, Kind: backend.OptionInt, Min: backend.Bound(16), Max: backend.Bound(1 << 30),
			InPlaceIf: backend.Grows,
			Doc: "The size in MiB of " + size + ", a file system of its own (a sparse ext4 image on a loop device: " +
				"the host's disk holds only what is written; ext4 keeps a few MiB of it for itself): writing past it fails inside " +
				"the sandbox with `No space left on device`, never on the host. " + shared + " Default: none (the files share the " +
				"file system of the local root). Needs the provider to run as root (it mounts the image), `mkfs.ext4` and loop " +
				"devices: the plan fails on this attribute where it cannot be enforced. A larger value grows the disk in place " +
				"(the image and its file system, online: the files stay, sandboxes using it keep running); a smaller one, or adding " +
				"or removing the block, replaces the " + what + " and its files."}},
	}
}

// checkOptions checks a sandbox's block as its create would, each refusal on its option, before the engine is
// made.
func checkOptions(req backend.OptionRequest) []backend.AttrError {
	if req.Kind != backend.KindSandbox {
		return nil
	}
	_, err := parseLimits(req.Options)
	return backend.OptionErrors(Name, onAttribute(err))
}
