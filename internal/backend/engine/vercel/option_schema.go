package vercel

import (
	"errors"

	"github.com/ekairos/terraform-provider-sandbox/internal/backend"
)

// The vercel engine's option blocks, as its descriptor declares them (Descriptor.Options): the provider makes
// the `vercel {}` blocks of sandboxes and setups from them.

const sandboxBlockDoc = "Options of the `vercel` engine; only allowed with `backend = \"vercel\"`. Recorded under `params.vercel` " +
	"with the library's safe Vercel config (never the token). Changing them replaces the sandbox. On Vercel the sandbox " +
	"name carries the record id, `desired_state = \"stopped\"` ends the session (a persistent sandbox snapshots its files " +
	"and resumes from them on start), and volumes are refused at plan time."

const setupBlockDoc = "Options of the `vercel` engine; only allowed with `backend = \"vercel\"`. They enter the fingerprint, " +
	"are recorded under `params.vercel` and replace the setup when changed. Without the block the snapshot never expires."

var sandboxOptionSchema = []backend.Option{
	{
		Name: OptionSource, Kind: backend.OptionObject,
		Doc: "What the sandbox starts with: a git repository (`type = \"git\"`, `url`, optional `revision`, `depth`, " +
			"`username`), a tarball (`type = \"tarball\"`, `url`) or a snapshot (`type = \"snapshot\"`, `snapshot_id`). No passwords: " +
			"options are recorded; for a private repository give the token to the `github` policy preset's `credentials_wo`.",
		Attributes: []backend.Option{
			{Name: "type", Kind: backend.OptionString, Required: true, Doc: "`git`, `tarball` or `snapshot`.", OneOf: []string{"git", "tarball", "snapshot"}},
			{Name: "url", Kind: backend.OptionString, Doc: "The repository or tarball URL."},
			{Name: "revision", Kind: backend.OptionString, Doc: "Git revision (branch, tag or commit)."},
			{Name: "depth", Kind: backend.OptionInt, Doc: "Git clone depth (at least 1).", Min: backend.Bound(1)},
			{Name: "username", Kind: backend.OptionString, Doc: "Git username (e.g. `x-access-token`)."},
			{Name: "snapshot_id", Kind: backend.OptionString, Doc: "The snapshot to start from."},
		},
	},
	{Name: OptionPersistent, Kind: backend.OptionBool,
		Doc: "Whether the sandbox keeps its files across sessions (snapshot on stop, resume on start). Default `true`."},
	{Name: OptionSnapshotExpiration, Kind: backend.OptionString,
		Doc: "How long automatic snapshots live: a duration such as `720h` or `30d`, at least a day, or `never`."},
}

var setupOptionSchema = []backend.Option{
	{
		Name: OptionExpiration, Kind: backend.OptionString,
		Doc: "How long the setup's snapshot lives after its last use: a duration such as `720h` or `30d` (at least " +
			"a day), or `never`. Default: never expires (the API's own default for snapshots is 30 days, which would make the " +
			"setup vanish and be rebuilt). An expired or deleted snapshot is found on refresh and the setup is built again.",
		Check: func(v any) error {
			s, _ := v.(string)
			return ValidateExpiration(Name+"."+OptionExpiration, s)
		},
		CheckDoc: "a duration of at least a day (`720h`, `30d`) or `never`",
	},
	{
		Name: OptionVCPUs, Kind: backend.OptionInt,
		Doc: "vCPUs of the builder sandbox the setup runs in: 1 or an even number up to 8. Default 2.",
		Min: backend.Bound(1), Max: backend.Bound(MaxVCPUs),
		Check: func(v any) error {
			n, _ := v.(int64)
			return checkVCPUs(int(n))
		},
		CheckDoc: "1 or an even number",
	},
}

// checkOptions checks a block as the engine's creates would (a source's type and the keys it takes, the
// snapshot lifetimes, a source without a setup), before any credential is needed.
func checkOptions(req backend.OptionRequest) []backend.AttrError {
	var err error
	switch req.Kind {
	case backend.KindSandbox:
		var o sandboxOptions
		if o, err = parseSandboxOptions(req.Options); err == nil && o.source != nil && req.Setup {
			return []backend.AttrError{{Path: []string{Name, OptionSource}, Err: errSourceAndSetup}}
		}
	case backend.KindSetup:
		_, err = parseSetupOptions(req.Options)
	}
	return backend.OptionErrors(Name, err)
}

var errSourceAndSetup = errors.New("on vercel a source and a setup both give the sandbox's first files: use one of them " +
	"(to start from a repository and run a setup command, put the clone in the setup's command, or drop setup_id and keep the source)")
