package daytona

import "github.com/ekairos/terraform-provider-sandbox/internal/backend"

// The daytona engine's option blocks and documentation, as its descriptor declares them (Descriptor.Options,
// Descriptor.ResourceDocs): the provider makes the `daytona {}` blocks and the resources' descriptions from
// them.

// networkDoc says how a Daytona sandbox's network is set, for every kind of resource.
const networkDoc = "Network on Daytona: when a create says nothing, Daytona's own default is open egress; this provider never " +
	"relies on it. With no `policy` block and neither `network_block_all` nor `network_allow_list`, the sandbox is created " +
	"with `networkBlockAll = true` (no network, as on every engine). `policy { mode = \"allow_all\" }` or " +
	"`network_block_all = false` gives Daytona's open default; `allow_list` becomes Daytona's domain allow-list (hosts and " +
	"presets' hosts) and `network_allow_list` its CIDR allow-list. Daytona cannot inject credentials into requests, so a " +
	"policy with `credentials` fails at plan time. Setups and workspaces follow the same rule."

var sandboxBlockDoc = "Options of the `daytona` engine; only allowed with `backend = \"daytona\"`. Recorded under " +
	"`params.daytona` as the library writes it. The record id goes into the sandbox's labels, so a half-made sandbox is " +
	"found and removed, never duplicated. Changing them replaces the sandbox. `desired_state = \"stopped\"` stops the " +
	"sandbox in place; an archived sandbox (Daytona archives stopped ones after `auto_archive_interval`) is not gone and " +
	"starts again on `running`. " + networkDoc

var resourceDocs = map[backend.ResourceKind]string{
	backend.KindWorkspace: " On `daytona` the workspace is a Daytona volume of its own, mounted at `/home/daytona/workspace` (where " +
		"its commands run), plus one sandbox started from the setup's snapshot with that volume mounted. What survives what: files " +
		"under `/home/daytona/workspace` survive everything but destroying the workspace (the sandbox's stop, archive, deletion " +
		"and re-creation included); the sandbox's other files (the setup's results included) survive stop and start, archive " +
		"and restore, but not the sandbox's deletion (a new one starts again from the setup's snapshot); running processes " +
		"survive nothing (a stop ends them). Daytona stops the idle sandbox after its auto-stop interval and the next command " +
		"starts it again. Destroying the workspace deletes the sandbox and then the volume. " + networkDoc,
	backend.KindSetup: " On `daytona` the command runs in a builder sandbox, which is snapshotted as `ekairos-setup-<fingerprint>` " +
		"(waited until `active`) and then deleted; sandboxes and workspaces with `setup_id` start from that snapshot. A snapshot " +
		"deleted behind Terraform's back is noticed on refresh and built again.",
	backend.KindVolume: " On `daytona` it is a Daytona volume (an S3-backed FUSE mount), waited until `ready`; one in state " +
		"`deleted` reads as gone (the next plan creates it again); destroying one that any Daytona sandbox still mounts (one " +
		"made outside Terraform included) fails with Daytona's 409 message.",
}

var attributeDocs = map[backend.ResourceKind]map[string]string{
	backend.KindSandbox: {
		"urls": " On `daytona` they are preview URLs (`https://<port>-<sandbox id>.<proxy domain>`); " +
			"unless `daytona { public = true }`, a request needs the port's token from `url_tokens`.",
		"url_tokens": " On `daytona` it is the preview token, sent as the header " +
			"`x-daytona-preview-token`; Daytona changes it whenever the sandbox restarts, so it is read again on every " +
			"refresh and is unknown in plans that change the sandbox.",
	},
}

func minutes(name, doc string) backend.Option {
	return backend.Option{Name: name, Kind: backend.OptionInt, Doc: doc, Min: backend.Bound(-1)}
}

var sandboxOptions = []backend.Option{
	{Name: OptionImage, Kind: backend.OptionString, Doc: "A container image to start from (a tag, not `latest`). Exactly one of `image` and `snapshot`, or neither for Daytona's default snapshot."},
	{Name: OptionSnapshot, Kind: backend.OptionString, Doc: "A Daytona snapshot to start from. Not with `image`, `cpu`, `memory` or `disk` (the API's rule)."},
	{Name: OptionCPU, Kind: backend.OptionInt, Doc: "vCPUs; only with `image`.", Min: backend.Bound(1)},
	{Name: OptionMemory, Kind: backend.OptionInt, Doc: "Memory in GiB; only with `image`.", Min: backend.Bound(1)},
	{Name: OptionDisk, Kind: backend.OptionInt, Doc: "Disk in GiB; only with `image`.", Min: backend.Bound(1)},
	{Name: OptionPublic, Kind: backend.OptionBool, Doc: "Whether preview URLs are reachable without the preview token."},
	minutes(OptionAutoStopInterval, "Minutes of inactivity before Daytona stops the sandbox (0 = never)."),
	minutes(OptionAutoArchiveInterval, "Minutes stopped before Daytona archives it (0 = the maximum)."),
	minutes(OptionAutoDeleteInterval, "Minutes stopped before Daytona deletes it (-1 = never). Not with `ephemeral`."),
	{Name: OptionEphemeral, Kind: backend.OptionBool, Doc: "Delete the sandbox when it stops. Default `false` " +
		"(`@ekairos/sandbox` defaults to `true`; a Terraform-managed sandbox that vanishes on stop would be re-created on every plan)."},
	{Name: OptionLabels, Kind: backend.OptionStringMap, Doc: "Labels; keys starting with `ekairos` are reserved (the record id travels in `ekairos_sandbox_id`)."},
	{Name: OptionNetworkBlockAll, Kind: backend.OptionBool, Doc: "Block all network access (what `policy { mode = \"deny_all\" }` also does). " +
		"Unset with no `policy` and no `network_allow_list`: `true` is sent (no network), not Daytona's open default; `false` asks for that default (open egress)."},
	{Name: OptionNetworkAllowList, Kind: backend.OptionStringList, Doc: "CIDRs the sandbox may reach " +
		"(Daytona's `networkAllowList`, e.g. `10.0.0.0/24`); not with `network_block_all = true`. With an `allow_list` policy both lists apply."},
	{Name: OptionTarget, Kind: backend.OptionString, Doc: "The target (region); defaults to the provider's `daytona.target`."},
}

// checkOptions applies the rules across a block's options (image or snapshot, resources only with an image,
// ephemeral without auto-delete, block-all without an allow-list) before any credential is needed.
func checkOptions(req backend.OptionRequest) []backend.AttrError {
	if req.Kind != backend.KindSandbox {
		return nil
	}
	_, err := parseOptions(req.Options, sandboxOptionKeys, "sandbox")
	return backend.OptionErrors(Name, err)
}
