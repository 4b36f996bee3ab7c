package backend

import "context"

// Optional abilities of an engine: interfaces an engine may implement beyond Engine, which the provider and
// sweep look for. What an engine can do without being made (with no credentials) is data in its Capabilities
// instead (Capabilities.NoStop says what an engine without stop does instead).

// PolicyValidator is an engine that checks a network policy as each of its creates (sandbox, setup builder,
// workspace) would, without calling out. The provider calls it at plan time for setups and workspaces (a
// sandbox's policy is checked by ValidateSpec). A refusal about one attribute is an *AttrError.
type PolicyValidator interface {
	ValidatePolicy(p *NetworkPolicy) error
}

// VolumeValidator is an engine that checks a volume spec (its options) without calling out; the provider calls
// it at plan time. A refusal about one attribute is an *AttrError.
type VolumeValidator interface {
	ValidateVolumeSpec(spec VolumeSpec) error
}

// VolumeUpdater is an engine that changes a volume's options in place (the local engine grows a sized
// volume); the lifecycle's UpdateVolume calls it.
type VolumeUpdater interface {
	UpdateVolume(ctx context.Context, externalID string, spec VolumeSpec) (*Volume, error)
}

// WorkspaceValidator is an engine that checks a workspace spec (its options) without calling out; the provider
// calls it at plan time. A refusal about one attribute is an *AttrError.
type WorkspaceValidator interface {
	ValidateWorkspaceSpec(spec WorkspaceSpec) error
}

// Rooted is an engine whose objects are directories under one root on this machine (the local engine); sweep
// checks that what it removes lies under it.
type Rooted interface {
	Root() string
}

// MountPathChecker is an engine that judges volume mount paths itself (the local engine: its read-only
// system, kernel file systems and the sandbox home are no places for a volume); the provider asks it at plan
// time for each volume block.
type MountPathChecker interface {
	CheckMountPath(mountPath string) error
}

// AttrError is an engine's refusal that is about one attribute of the resource, as path steps from the
// resource's root ("vcpus"; "<engine>", "<option>"; "policy", "credentials_wo"), so that the provider reports it at
// plan time on that attribute instead of on the engine's block.
type AttrError struct {
	Path []string
	Err  error
}

func (e *AttrError) Error() string { return e.Err.Error() }
func (e *AttrError) Unwrap() error { return e.Err }

// NewAttrError wraps err as a refusal about the attribute at path; nil stays nil.
func NewAttrError(err error, path ...string) error {
	if err == nil {
		return nil
	}
	return &AttrError{Path: path, Err: err}
}
