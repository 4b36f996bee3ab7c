package backend

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"
)

// Engine states: what the engine says about an existing sandbox. They are not record statuses.
const (
	StateRunning  = "running"
	StateStopped  = "stopped"
	StateStarting = "starting"
	StateStopping = "stopping"
	StateArchived = "archived"
	StateSleeping = "sleeping"
	StateUnknown  = "unknown"
)

// Capabilities says what an engine can do, so that the provider rejects at plan time what it cannot.
type Capabilities struct {
	StopStart       bool     // a sandbox can be stopped and started again in place
	Exec            bool     // commands can run in a sandbox
	Files           bool     // files can be written and read
	Volumes         bool     // named persistent volumes
	Setups          bool     // shared setup bootstraps
	Workspaces      bool     // durable workspaces
	PublicURLs      bool     // a URL per exposed port
	NetworkPolicies []string // policy modes it enforces: "deny_all", "allow_all", "allow_list"
	MaxPorts        int      // 0 = no limit
	MaxVCPUs        int      // 0 = no limit

	// WorkspaceCheckpoints: a workspace's files can be checkpointed on request and restored to one of its
	// checkpoints (the engine implements WorkspaceCheckpointer).
	WorkspaceCheckpoints bool

	// PolicyCredentials: the engine injects a network policy's credentials into requests (an egress proxy
	// with header transforms); without it a policy with credentials is refused.
	PolicyCredentials bool
	// PolicyHostPorts: an allow list's host entry may name a port (host:port, that port alone); without it the
	// engine's allow list takes host names only, and an entry with a port is refused.
	PolicyHostPorts bool
	// NoStop, when StopStart is false, says what the engine does instead of stopping (shown with the
	// refusal of desired_state = "stopped").
	NoStop string
	// OnThisMachine: sandboxes live on the machine that runs Terraform (so a CI runner's records and its
	// sandboxes vanish together: no warning about records in a runner's SQLite file).
	OnThisMachine bool
}

// VolumeMount mounts a volume into a sandbox.
type VolumeMount struct {
	VolumeID   string // the volume's record id
	ExternalID string // the engine's volume id
	MountPath  string // absolute path inside the sandbox
}

// SandboxSpec is everything an engine needs to create a sandbox.
type SandboxSpec struct {
	RecordID string // the record id; engines label or name their object with it
	Runtime  string
	Timeout  time.Duration // 0 = engine default
	VCPUs    int           // 0 = engine default
	Ports    []int
	Purpose  string
	// Env is given to every command run in the sandbox. It may hold secrets: engines never write it to disk
	// outside the sandbox, to labels or to logs, and the lifecycle never writes it to a record.
	Env map[string]string
	// Options is the engine-specific block (e.g. local {...}) as a JSON-like map. The lifecycle records it under
	// params.<engine>; it must not hold secrets.
	Options map[string]any
	Volumes []VolumeMount
	// Setup is the external id of a setup artifact to start from ("" = a fresh sandbox).
	Setup string
	// Policy is the sandbox's network policy; nil means deny_all.
	Policy *NetworkPolicy
	// Workspace is the external id of a workspace whose durable files the sandbox works on ("" = none).
	Workspace string
	// Labels are the user's labels (the provider's default labels merged with the resource's), recorded as
	// params.labels. Engines with labels or tags put them beside their own (Daytona); the others ignore them.
	// Never secrets.
	Labels map[string]string
}

// PlannedSetup is the SandboxSpec.Setup that ValidateSpec gets at plan time when the sandbox starts from a
// setup whose artifact is only known at apply: every engine accepts it as a well-formed artifact id (it is
// one for the local engine) and judges what a setup implies (Daytona: no image with a setup).
const PlannedSetup = "setup-0000000000000000"

// Sandbox is an engine's view of one sandbox.
type Sandbox struct {
	ExternalID string         // the engine's own id (Daytona id, Vercel name, sprite name, local directory name)
	RecordID   string         // the record id the engine object is labelled with ("" if none)
	State      string         // one of the State* values
	URL        string         // the sandbox's main URL, if any
	URLs       map[int]string // one URL per exposed port
	Metadata   map[string]any // merged into params.<engine> of the record; never secrets
	CreatedAt  time.Time
	// URLTokens are secrets a request to a port's URL needs (Daytona's preview token), by port; nil when the
	// engine's URLs need none. Never recorded, logged or encoded (json:"-"); the provider exposes them as the
	// sensitive url_tokens attribute.
	URLTokens map[int]string `json:"-"`
}

// ExecRequest is one command run in a sandbox. Argv is never interpreted by a shell.
type ExecRequest struct {
	Argv    []string
	Env     map[string]string // added to the sandbox's env
	Cwd     string            // relative to the sandbox home, or absolute inside the sandbox; "" = home
	Timeout time.Duration     // 0 = the sandbox's timeout
	Stdin   []byte
	// Output, when set, may receive the output as it comes ("stdout" or "stderr"), never concurrently, from
	// engines that stream; ExecResult still holds all of it. Engines that do not stream ignore it.
	Output func(stream string, p []byte)
}

// ExecResult is the outcome of a command.
type ExecResult struct {
	ExitCode int
	Stdout   []byte
	Stderr   []byte
	TimedOut bool // killed at its timeout; ExitCode is then -1 or the signal's code
	Duration time.Duration
}

// Engine provisions sandboxes on one backend. Implementations live under backend/engine/<name> and pass the
// suite in backend/enginetest. Methods that take an external id return an error wrapping ErrNotFound when
// the object is gone.
type Engine interface {
	Name() string
	Capabilities() Capabilities
	// ValidateSpec checks what the engine can check without calling out (option names and values). It is
	// called at plan time where the values are known.
	ValidateSpec(spec SandboxSpec) error
	// CreateSandbox makes a sandbox labelled with spec.RecordID and waits until it can run commands.
	CreateSandbox(ctx context.Context, spec SandboxSpec) (*Sandbox, error)
	// GetSandbox returns the sandbox's current view.
	GetSandbox(ctx context.Context, externalID string) (*Sandbox, error)
	// FindSandbox finds the sandbox labelled with a record id (a half-made one included).
	FindSandbox(ctx context.Context, recordID string) (*Sandbox, error)
	// ListSandboxes lists every sandbox this provider made on the engine (for sweep).
	ListSandboxes(ctx context.Context) ([]*Sandbox, error)
	// UpdateSandbox applies the in-place changes of spec (timeout, env, options the engine can change).
	UpdateSandbox(ctx context.Context, externalID string, spec SandboxSpec) (*Sandbox, error)
	// StartSandbox starts a stopped sandbox and waits until it runs.
	StartSandbox(ctx context.Context, externalID string) error
	// StopSandbox stops a sandbox (its processes end, its files stay) and waits until it has stopped.
	StopSandbox(ctx context.Context, externalID string) error
	// DeleteSandbox removes a sandbox and waits until it is gone. A missing sandbox is not an error.
	DeleteSandbox(ctx context.Context, externalID string) error
	// Exec runs a command in a running sandbox.
	Exec(ctx context.Context, externalID string, req ExecRequest) (*ExecResult, error)
	// WriteFile writes a file inside the sandbox; path is relative to its home or absolute inside it.
	WriteFile(ctx context.Context, externalID, path string, data []byte) error
	// ReadFile reads a file inside the sandbox.
	ReadFile(ctx context.Context, externalID, path string) ([]byte, error)
}

// EngineSource gives the engine for a backend name, creating it on first use from the provider's settings.
type EngineSource interface {
	Engine(name string) (Engine, error)
}

// EngineLister is an EngineSource that names every engine it can make (the provider: the registry's).
type EngineLister interface {
	EngineNames() []string
}

// EngineMap is an EngineSource over fixed engines (tests, sweep).
type EngineMap map[string]Engine

// EngineNames implements EngineLister, sorted.
func (m EngineMap) EngineNames() []string {
	out := make([]string, 0, len(m))
	for n := range m {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// Engine implements EngineSource.
func (m EngineMap) Engine(name string) (Engine, error) {
	if e, ok := m[name]; ok {
		return e, nil
	}
	return nil, fmt.Errorf("backend %q is not configured", name)
}

// ErrInUse is returned (wrapped) when an object cannot be removed because another still uses it (a volume
// mounted by a sandbox).
var ErrInUse = errors.New("in use")

// ErrSetupFailed is returned (wrapped) by BuildSetup when the setup command exits non-zero.
var ErrSetupFailed = errors.New("setup command failed")

// VolumeSpec is a named persistent volume.
type VolumeSpec struct {
	RecordID string
	Name     string
	Options  map[string]any
}

// Volume is an engine's view of a volume.
type Volume struct {
	ExternalID string
	RecordID   string
	Name       string
	State      string // "ready", or an engine's transitional state
	Metadata   map[string]any
}

// VolumeEngine is implemented by engines whose Capabilities say Volumes.
type VolumeEngine interface {
	// CreateVolume makes a volume labelled with spec.RecordID and waits until it is ready.
	CreateVolume(ctx context.Context, spec VolumeSpec) (*Volume, error)
	GetVolume(ctx context.Context, externalID string) (*Volume, error)
	FindVolume(ctx context.Context, recordID string) (*Volume, error)
	ListVolumes(ctx context.Context) ([]*Volume, error)
	// DeleteVolume removes a volume; ErrInUse when a sandbox still mounts it, nil when it is already gone.
	DeleteVolume(ctx context.Context, externalID string) error
}

// SetupSpec is a shared setup bootstrap: a command run once in a fresh sandbox whose result is kept as an
// artifact that sandboxes and workspaces start from.
type SetupSpec struct {
	RecordID    string
	Fingerprint string // stable hash of the definition and the engine identity; artifacts are found by it
	Argv        []string
	Env         map[string]string // secret: never recorded
	Runtime     string
	Policy      *NetworkPolicy
	Timeout     time.Duration
	Options     map[string]any
}

// SetupArtifact is the kept result of a setup (a snapshot, a checkpoint, a read-only directory).
type SetupArtifact struct {
	ExternalID  string
	Fingerprint string
	State       string // "ready" or transitional
	Metadata    map[string]any
}

// SetupEngine is implemented by engines whose Capabilities say Setups.
type SetupEngine interface {
	// FindSetup returns the artifact built for a fingerprint, ErrNotFound when there is none.
	FindSetup(ctx context.Context, fingerprint string) (*SetupArtifact, error)
	// BuildSetup runs the setup in a fresh builder sandbox and keeps the result. On a non-zero exit it keeps
	// nothing and returns the command's result with an error wrapping ErrSetupFailed.
	BuildSetup(ctx context.Context, spec SetupSpec) (*SetupArtifact, *ExecResult, error)
	GetSetup(ctx context.Context, externalID string) (*SetupArtifact, error)
	DeleteSetup(ctx context.Context, externalID string) error
}

// WorkspaceSpec is a durable workspace (sandkit): files that outlive any single sandbox, first filled from a
// setup artifact, with a default network policy, exposed ports and command timeout.
type WorkspaceSpec struct {
	RecordID string
	Name     string
	Setup    string // external id of the setup artifact to start from ("" = empty)
	Policy   *NetworkPolicy
	Ports    []int
	Timeout  time.Duration
	Env      map[string]string // secret: never recorded
	Options  map[string]any
	// Labels are the user's labels, recorded as params.labels; engines with labels put them on the workspace's
	// objects beside their own (Daytona: its sandbox).
	Labels map[string]string
}

// Workspace is an engine's view of a workspace.
type Workspace struct {
	ExternalID string
	RecordID   string
	Name       string
	State      string // "active", "inactive" or "archived" (sandkit's values)
	Metadata   map[string]any
	// Checkpoints lists the workspace's checkpoint ids, oldest first, on engines with WorkspaceCheckpoints
	// (nil on the others, and in views that do not list them).
	Checkpoints []string
}

// WorkspaceEngine is implemented by engines whose Capabilities say Workspaces.
type WorkspaceEngine interface {
	CreateWorkspace(ctx context.Context, spec WorkspaceSpec) (*Workspace, error)
	GetWorkspace(ctx context.Context, externalID string) (*Workspace, error)
	FindWorkspace(ctx context.Context, recordID string) (*Workspace, error)
	ListWorkspaces(ctx context.Context) ([]*Workspace, error)
	// UpdateWorkspace applies in-place changes (policy, ports, timeout, env).
	UpdateWorkspace(ctx context.Context, externalID string, spec WorkspaceSpec) (*Workspace, error)
	DeleteWorkspace(ctx context.Context, externalID string) error
	// ExecWorkspace runs a command in a sandbox of the workspace (starting one if needed); what it writes to
	// the workspace's files persists.
	ExecWorkspace(ctx context.Context, externalID string, req ExecRequest) (*ExecResult, error)
}

// WorkspaceCheckpointer is implemented by engines whose Capabilities say WorkspaceCheckpoints.
type WorkspaceCheckpointer interface {
	// CheckpointWorkspace checkpoints the workspace's files and returns the new checkpoint's id.
	CheckpointWorkspace(ctx context.Context, externalID, comment string) (string, error)
	// RestoreWorkspace returns the workspace's files to one of its checkpoints; its configuration (env,
	// timeout, policy) stays as it is. An unknown checkpoint is an error wrapping ErrNotFound.
	RestoreWorkspace(ctx context.Context, externalID, checkpointID string) error
}
