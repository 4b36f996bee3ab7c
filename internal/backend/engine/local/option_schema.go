package local

import "github.com/ekairos/terraform-provider-sandbox/internal/backend"

// The local engine's option blocks, as its descriptor declares them (Descriptor.Options): the provider makes
// the `local {}` blocks from them. An option for workspaces or volumes is one more entry in localOptions under
// backend.KindWorkspace or backend.KindVolume; the engine reads it from WorkspaceSpec.Options or
// VolumeSpec.Options.

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
	backend.KindSandbox: {Doc: sandboxBlockDoc, Options: sandboxOptionSchema},
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
