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

var _ backend.Engine = (*Engine)(nil)

// New fails: the local engine runs on Linux only.
func New(Config) (*Engine, error) { return nil, errUnsupported }

// Root returns "".
func (e *Engine) Root() string { return "" }

// Isolation returns "".
func (e *Engine) Isolation() string { return "" }

// Name implements backend.Engine.
func (e *Engine) Name() string { return backend.EngineLocal }

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
