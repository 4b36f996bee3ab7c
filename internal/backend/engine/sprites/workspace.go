package sprites

import (
	"context"
	"errors"
	"fmt"

	"github.com/ekairos/terraform-provider-sandbox/internal/backend"
)

// Workspace states (sandkit's values).
const (
	WorkspaceActive = "active"
)

// A workspace is one long-lived sprite, kept across the lifetimes of the sandboxes that work on it: its disk
// is the workspace's durable files. It starts from a setup the same way a sandbox does (the setup runs in it,
// then it is checkpointed), and is checkpointed on request (Checkpoint) and restored on request (Restore).

func (e *Engine) validateWorkspace(spec backend.WorkspaceSpec) (spriteOptions, error) {
	if err := backend.CheckTimeout("timeout", spec.Timeout); err != nil {
		return spriteOptions{}, err
	}
	for _, p := range spec.Ports {
		if p < 1 || p > 65535 {
			return spriteOptions{}, fmt.Errorf("port %d is outside 1..65535", p)
		}
	}
	if err := backend.CheckEnv(spec.Env); err != nil {
		return spriteOptions{}, err
	}
	if _, err := CompilePolicy(spec.Policy); err != nil {
		return spriteOptions{}, err
	}
	return parseOptions(spec.Options, true)
}

// CreateWorkspace implements backend.WorkspaceEngine: the sprite named by the name option or
// "ekairos-ws-<record id>", labelled with the record id, set up from spec.Setup (run, then checkpointed) when
// given, with the workspace's env, timeout and network policy.
func (e *Engine) CreateWorkspace(ctx context.Context, spec backend.WorkspaceSpec) (*backend.Workspace, error) {
	if spec.RecordID == "" {
		return nil, errors.New("sprites: CreateWorkspace needs the record id")
	}
	if err := checkRecordID(spec.RecordID); err != nil {
		return nil, err
	}
	o, err := e.validateWorkspace(spec)
	if err != nil {
		return nil, err
	}
	name := o.name
	if name == "" {
		name = DefaultWorkspaceName(spec.RecordID)
		if err := ValidateName(name); err != nil {
			return nil, fmt.Errorf("the default sprite name: %w", err)
		}
	}
	var recipe *setupRecipe
	if spec.Setup != "" {
		if recipe, err = e.loadRecipe(ctx, spec.Setup); err != nil {
			return nil, err
		}
	}
	s, adopted, err := e.ensureSprite(ctx, name, kindWorkspace, spec.RecordID, o)
	if err != nil {
		return nil, err
	}
	st := &spriteState{}
	if adopted {
		if st, err = e.readState(ctx, name); err != nil {
			return nil, err
		}
	}
	s, err = e.configure(ctx, s, !adopted, kindWorkspace, spec.RecordID, o, st, spec.Env, spec.Timeout, spec.Policy, spec.Setup, recipe)
	if err != nil {
		return nil, err
	}
	return e.toWorkspace(ctx, s, spec.Name, true)
}

// toWorkspace builds the view; with checkpoints it lists them (which wakes the sprite: the checkpoint list is
// served from inside it).
func (e *Engine) toWorkspace(ctx context.Context, s *Sprite, name string, checkpoints bool) (*backend.Workspace, error) {
	own := readLabels(s.Labels)
	md := metadata(s, own)
	delete(md, "deleteOnStop")
	var list []string
	if checkpoints {
		cps, err := e.c.ListCheckpoints(ctx, s.Name)
		if err != nil {
			return nil, fmt.Errorf("listing the checkpoints of workspace sprite %s: %w", s.Name, err)
		}
		ids := make([]any, 0, len(cps))
		list = make([]string, 0, len(cps))
		for _, cp := range cps {
			if !cp.IsAuto {
				ids = append(ids, cp.ID)
				list = append(list, cp.ID)
			}
		}
		md["checkpoints"] = ids
	}
	if name == "" {
		name = s.Name
	}
	return &backend.Workspace{
		ExternalID:  s.Name,
		RecordID:    own.recordID,
		Name:        name,
		State:       WorkspaceActive,
		Metadata:    md,
		Checkpoints: list,
	}, nil
}

func (e *Engine) getWorkspaceSprite(ctx context.Context, externalID string) (*Sprite, error) {
	s, err := e.c.GetSprite(ctx, externalID)
	if err != nil {
		return nil, fmt.Errorf("reading workspace sprite %s: %w", externalID, err)
	}
	if own := readLabels(s.Labels); !own.managed || own.kind != kindWorkspace {
		return nil, fmt.Errorf("sprite %s is not a workspace of this provider: %w", externalID, backend.ErrNotFound)
	}
	return s, nil
}

// GetWorkspace implements backend.WorkspaceEngine. Metadata["checkpoints"] lists the workspace's checkpoint
// ids, oldest first as the API lists them.
func (e *Engine) GetWorkspace(ctx context.Context, externalID string) (*backend.Workspace, error) {
	s, err := e.getWorkspaceSprite(ctx, externalID)
	if err != nil {
		return nil, err
	}
	return e.toWorkspace(ctx, s, "", true)
}

// FindWorkspace implements backend.WorkspaceEngine.
func (e *Engine) FindWorkspace(ctx context.Context, recordID string) (*backend.Workspace, error) {
	s, err := e.find(ctx, kindWorkspace, recordID, DefaultWorkspaceName(recordID))
	if err != nil {
		return nil, err
	}
	return e.toWorkspace(ctx, s, "", false)
}

// ListWorkspaces implements backend.WorkspaceEngine. It does not list checkpoints (that would wake every
// workspace).
func (e *Engine) ListWorkspaces(ctx context.Context) ([]*backend.Workspace, error) {
	all, err := e.listKind(ctx, kindWorkspace)
	if err != nil {
		return nil, err
	}
	out := make([]*backend.Workspace, 0, len(all))
	for _, s := range all {
		w, err := e.toWorkspace(ctx, s, "", false)
		if err != nil {
			return nil, err
		}
		out = append(out, w)
	}
	return out, nil
}

// UpdateWorkspace implements backend.WorkspaceEngine: env, timeout, policy, labels and URL auth. An empty
// spec.Setup keeps the setup the workspace was made from (see UpdateSandbox).
func (e *Engine) UpdateWorkspace(ctx context.Context, externalID string, spec backend.WorkspaceSpec) (*backend.Workspace, error) {
	o, err := e.validateWorkspace(spec)
	if err != nil {
		return nil, err
	}
	if o.name != "" && o.name != externalID {
		return nil, fmt.Errorf("workspace sprite %s cannot be renamed to %s in place", externalID, o.name)
	}
	s, err := e.getWorkspaceSprite(ctx, externalID)
	if err != nil {
		return nil, err
	}
	recordID := spec.RecordID
	if recordID == "" {
		recordID = readLabels(s.Labels).recordID
	}
	st, err := e.readState(ctx, externalID)
	if err != nil {
		return nil, err
	}
	s, err = e.configure(ctx, s, false, kindWorkspace, recordID, o, st, spec.Env, spec.Timeout, spec.Policy, keptSetup(spec.Setup, st), nil)
	if err != nil {
		return nil, err
	}
	return e.toWorkspace(ctx, s, spec.Name, true)
}

// DeleteWorkspace implements backend.WorkspaceEngine: it deletes the sprite with its checkpoints. A missing
// workspace is not an error.
func (e *Engine) DeleteWorkspace(ctx context.Context, externalID string) error {
	return e.deleteSprite(ctx, externalID)
}

// ExecWorkspace implements backend.WorkspaceEngine: the command runs in the workspace's sprite (waking it),
// so what it writes persists.
func (e *Engine) ExecWorkspace(ctx context.Context, externalID string, req backend.ExecRequest) (*backend.ExecResult, error) {
	if _, err := e.getWorkspaceSprite(ctx, externalID); err != nil {
		return nil, err
	}
	return e.Exec(ctx, externalID, req)
}

// CheckpointWorkspace implements backend.WorkspaceCheckpointer: a checkpoint of the workspace's sprite (its
// disk: copy-on-write, the sprite keeps running). A missing workspace is an error wrapping
// backend.ErrNotFound.
func (e *Engine) CheckpointWorkspace(ctx context.Context, externalID, comment string) (string, error) {
	if _, err := e.getWorkspaceSprite(ctx, externalID); err != nil {
		return "", err
	}
	return e.Checkpoint(ctx, externalID, comment)
}

// RestoreWorkspace implements backend.WorkspaceCheckpointer: the workspace's files go back to the checkpoint
// (running commands end); its env, timeout and network policy stay as they are now (see Restore). An
// unknown checkpoint is an error wrapping backend.ErrNotFound.
func (e *Engine) RestoreWorkspace(ctx context.Context, externalID, checkpointID string) error {
	if _, err := e.getWorkspaceSprite(ctx, externalID); err != nil {
		return err
	}
	return e.Restore(ctx, externalID, checkpointID)
}
