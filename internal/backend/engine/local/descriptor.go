package local

import "github.com/ekairos/terraform-provider-sandbox/internal/backend"

// The local engine's environment variables, the fallbacks of its provider block.
const (
	EnvRoot      = "SANDBOX_LOCAL_ROOT"
	EnvIsolation = "SANDBOX_LOCAL_ISOLATION"
)

// Name is the engine's name: the value of `backend`, of records' provider field, and of its blocks.
const Name = "local"

// Descriptor is the local engine as the provider, sweep and the docs see it (internal/backend/engines).
var Descriptor = backend.EngineDescriptor{
	Name: Name,
	Doc:  "Settings of the `local` engine, which runs each sandbox as a directory on this machine with commands isolated by bubblewrap.",
	Settings: []backend.Setting{
		{Name: "root", Envs: []string{EnvRoot}, Default: DefaultRoot, DefaultDoc: "`$XDG_DATA_HOME/terraform-provider-sandbox/local`",
			NonEmpty: true, Label: "root", Doc: "Directory that holds the local sandboxes."},
		{Name: "isolation", Envs: []string{EnvIsolation}, Default: func() (string, error) { return IsolationBwrap, nil },
			OneOf: []string{IsolationBwrap, IsolationNone}, Label: "isolation",
			Doc: "How commands are isolated: `bwrap` (default: bubblewrap, with a read-only host system, a private home, its own " +
				"pid/ipc/uts/net namespaces and no network) or `none`.",
			Note: "**Note:** `none` runs commands as the provider's own user on the host, with the host's network and files: use " +
				"it only for trusted commands on machines without bubblewrap."},
	},
	New: func(s map[string]string) (backend.Engine, error) {
		return backend.Made(New(Config{Root: s["root"], Isolation: s["isolation"]}))
	},
	Capabilities:  Capabilities,
	Options:       localOptions,
	CheckOptions:  checkOptions,
	ResourceDocs:  resourceDocs,
	AttributeDocs: attributeDocs,
}
