//go:build !linux

package local

import (
	"context"
	"errors"
	"runtime"

	"github.com/ekairos/terraform-provider-sandbox/internal/backend"
)

// errUnsupported is returned on systems other than Linux, where neither bubblewrap nor the process control the
// engine relies on exist.
var errUnsupported = errors.New("the local engine runs on Linux only (" + runtime.GOOS + " is not supported)")

// Engine is the local engine; on this system every method fails.
type Engine struct{}

var (
	_ backend.Engine          = (*Engine)(nil)
	_ backend.VolumeEngine    = (*Engine)(nil)
	_ backend.SetupEngine     = (*Engine)(nil)
	_ backend.WorkspaceEngine = (*Engine)(nil)
)

// New fails: the local engine runs on Linux only.
func New(Config) (*Engine, error) { return nil, errUnsupported }

// Root returns "".
func (e *Engine) Root() string { return "" }

// Isolation returns "".
func (e *Engine) Isolation() string { return "" }

// Name implements backend.Engine.
func (e *Engine) Name() string { return Name }

// Capabilities implements backend.Engine.
func (e *Engine) Capabilities() backend.Capabilities { return backend.Capabilities{} }

// ValidateSpec implements backend.Engine.
func (e *Engine) ValidateSpec(backend.SandboxSpec) error { return errUnsupported }

// CreateSandbox implements backend.Engine.
func (e *Engine) CreateSandbox(context.Context, backend.SandboxSpec) (*backend.Sandbox, error) {
	return nil, errUnsupported
}

// GetSandbox implements backend.Engine.
func (e *Engine) GetSandbox(context.Context, string) (*backend.Sandbox, error) {
	return nil, errUnsupported
}

// FindSandbox implements backend.Engine.
func (e *Engine) FindSandbox(context.Context, string) (*backend.Sandbox, error) {
	return nil, errUnsupported
}

// ListSandboxes implements backend.Engine.
func (e *Engine) ListSandboxes(context.Context) ([]*backend.Sandbox, error) {
	return nil, errUnsupported
}

// UpdateSandbox implements backend.Engine.
func (e *Engine) UpdateSandbox(context.Context, string, backend.SandboxSpec) (*backend.Sandbox, error) {
	return nil, errUnsupported
}

// StartSandbox implements backend.Engine.
func (e *Engine) StartSandbox(context.Context, string) error { return errUnsupported }

// StopSandbox implements backend.Engine.
func (e *Engine) StopSandbox(context.Context, string) error { return errUnsupported }

// DeleteSandbox implements backend.Engine.
func (e *Engine) DeleteSandbox(context.Context, string) error { return errUnsupported }

// Exec implements backend.Engine.
func (e *Engine) Exec(context.Context, string, backend.ExecRequest) (*backend.ExecResult, error) {
	return nil, errUnsupported
}

// WriteFile implements backend.Engine.
func (e *Engine) WriteFile(context.Context, string, string, []byte) error { return errUnsupported }

// ReadFile implements backend.Engine.
func (e *Engine) ReadFile(context.Context, string, string) ([]byte, error) {
	return nil, errUnsupported
}

// Identity implements backend.Identifier.
func (e *Engine) Identity() string { return "" }

// CreateVolume implements backend.VolumeEngine.
func (e *Engine) CreateVolume(context.Context, backend.VolumeSpec) (*backend.Volume, error) {
	return nil, errUnsupported
}

// GetVolume implements backend.VolumeEngine.
func (e *Engine) GetVolume(context.Context, string) (*backend.Volume, error) {
	return nil, errUnsupported
}

// FindVolume implements backend.VolumeEngine.
func (e *Engine) FindVolume(context.Context, string) (*backend.Volume, error) {
	return nil, errUnsupported
}

// ListVolumes implements backend.VolumeEngine.
func (e *Engine) ListVolumes(context.Context) ([]*backend.Volume, error) { return nil, errUnsupported }

// DeleteVolume implements backend.VolumeEngine.
func (e *Engine) DeleteVolume(context.Context, string) error { return errUnsupported }

// FindSetup implements backend.SetupEngine.
func (e *Engine) FindSetup(context.Context, string) (*backend.SetupArtifact, error) {
	return nil, errUnsupported
}

// BuildSetup implements backend.SetupEngine.
func (e *Engine) BuildSetup(context.Context, backend.SetupSpec) (*backend.SetupArtifact, *backend.ExecResult, error) {
	return nil, nil, errUnsupported
}

// GetSetup implements backend.SetupEngine.
func (e *Engine) GetSetup(context.Context, string) (*backend.SetupArtifact, error) {
	return nil, errUnsupported
}

// DeleteSetup implements backend.SetupEngine.
func (e *Engine) DeleteSetup(context.Context, string) error { return errUnsupported }

// CreateWorkspace implements backend.WorkspaceEngine.
func (e *Engine) CreateWorkspace(context.Context, backend.WorkspaceSpec) (*backend.Workspace, error) {
	return nil, errUnsupported
}

// GetWorkspace implements backend.WorkspaceEngine.
func (e *Engine) GetWorkspace(context.Context, string) (*backend.Workspace, error) {
	return nil, errUnsupported
}

// FindWorkspace implements backend.WorkspaceEngine.
func (e *Engine) FindWorkspace(context.Context, string) (*backend.Workspace, error) {
	return nil, errUnsupported
}

// ListWorkspaces implements backend.WorkspaceEngine.
func (e *Engine) ListWorkspaces(context.Context) ([]*backend.Workspace, error) {
	return nil, errUnsupported
}

// UpdateWorkspace implements backend.WorkspaceEngine.
func (e *Engine) UpdateWorkspace(context.Context, string, backend.WorkspaceSpec) (*backend.Workspace, error) {
	return nil, errUnsupported
}

// DeleteWorkspace implements backend.WorkspaceEngine.
func (e *Engine) DeleteWorkspace(context.Context, string) error { return errUnsupported }

// ExecWorkspace implements backend.WorkspaceEngine.
func (e *Engine) ExecWorkspace(context.Context, string, backend.ExecRequest) (*backend.ExecResult, error) {
	return nil, errUnsupported
}

func checkEnforceable(limits, string) error { return errUnsupported }

// ValidateVolumeSpec fails: the local engine runs on Linux only.
func (e *Engine) ValidateVolumeSpec(backend.VolumeSpec) error { return errUnsupported }

// ValidateWorkspaceSpec fails: the local engine runs on Linux only.
func (e *Engine) ValidateWorkspaceSpec(backend.WorkspaceSpec) error { return errUnsupported }

// UpdateVolume fails: the local engine runs on Linux only.
func (e *Engine) UpdateVolume(context.Context, string, backend.VolumeSpec) (*backend.Volume, error) {
	return nil, errUnsupported
}
