//go:build linux

package local

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/ekairos/terraform-provider-sandbox/internal/backend"
)

// workspaceFile is the metadata file of a workspace (a meta of kind workspace).
const workspaceFile = "workspace.json"

func (e *Engine) workspacesDir() string { return filepath.Join(e.root, "workspaces") }

// workspaceDir is the directory of a workspace id (checked by the caller).
func (e *Engine) workspaceDir(externalID string) string {
	return filepath.Join(e.workspacesDir(), externalID)
}

// wsDirOf returns the directory of an external id; an id that cannot be a local workspace is not found.
func (e *Engine) wsDirOf(externalID string) (string, error) {
	if !isWorkspaceID(externalID) {
		return "", fmt.Errorf("no local workspace %q: %w", externalID, backend.ErrNotFound)
	}
	return e.workspaceDir(externalID), nil
}

func (e *Engine) workspaceView(dir string, m *meta) *backend.Workspace {
	md := e.metadata(dir, m)
	md["timeout_ms"] = m.TimeoutMS
	ports := make([]any, 0, len(m.Ports))
	for _, p := range m.Ports {
		ports = append(ports, p)
	}
	md["ports"] = ports
	return &backend.Workspace{ExternalID: m.ExternalID, RecordID: m.RecordID, Name: m.Name, State: m.State, Metadata: md}
}

// CreateWorkspace implements backend.WorkspaceEngine: a workspace is a directory workspaces/ws-<record id>
// whose home holds its durable files, first filled from spec.Setup by copy-on-write (an overlay whose upper
// directory is the workspace's own and persistent, else a reflink or plain copy). Its policy, ports, timeout,
// options and env are kept as a sandbox's are (env and credentials in 0600 files, never in metadata).
func (e *Engine) CreateWorkspace(ctx context.Context, spec backend.WorkspaceSpec) (*backend.Workspace, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := validateWorkspaceSpec(spec, e.isolation); err != nil {
		return nil, err
	}
	if !validName(spec.RecordID) {
		return nil, fmt.Errorf("local engine: record id %q cannot name a workspace directory", spec.RecordID)
	}
	if e.isolation == IsolationBwrap {
		if err := e.probe(ctx); err != nil {
			return nil, err
		}
	}
	ext := workspacePrefix + spec.RecordID
	now := time.Now().UTC()
	m := &meta{Version: 1, Kind: kindWorkspace, RecordID: spec.RecordID, ExternalID: ext, Name: spec.Name,
		State: backend.WorkspaceInactive, Setup: spec.Setup, CreatedAt: now, UpdatedAt: now}
	m.applyWorkspace(spec, e.isolation)
	dir, err := e.createBox(ctx, e.workspacesDir(), ext, m, spec.Env, spec.Policy)
	if err != nil {
		return nil, err
	}
	return e.workspaceView(dir, m), nil
}

// applyWorkspace copies the in-place settings of a workspace spec (not its env, policy or setup) into m.
func (m *meta) applyWorkspace(spec backend.WorkspaceSpec, isolation string) {
	m.TimeoutMS = spec.Timeout.Milliseconds()
	m.Ports = append([]int{}, spec.Ports...)
	m.Options = spec.Options
	m.Policy = policyMode(spec.Policy, isolation)
}

// GetWorkspace implements backend.WorkspaceEngine.
func (e *Engine) GetWorkspace(ctx context.Context, externalID string) (*backend.Workspace, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	dir, err := e.wsDirOf(externalID)
	if err != nil {
		return nil, err
	}
	m, err := readMetaFile(dir, workspaceFile, "workspace")
	if err != nil {
		return nil, err
	}
	return e.workspaceView(dir, m), nil
}

// FindWorkspace implements backend.WorkspaceEngine; it finds a half-made workspace too (state inactive).
func (e *Engine) FindWorkspace(ctx context.Context, recordID string) (*backend.Workspace, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if !validName(recordID) {
		return nil, fmt.Errorf("no local workspace for record %q: %w", recordID, backend.ErrNotFound)
	}
	ws, err := e.GetWorkspace(ctx, workspacePrefix+recordID)
	if err != nil {
		return nil, err
	}
	if ws.RecordID != recordID {
		return nil, fmt.Errorf("no local workspace for record %q: %w", recordID, backend.ErrNotFound)
	}
	return ws, nil
}

// ListWorkspaces implements backend.WorkspaceEngine. Leftovers of interrupted creates and deletes are removed.
func (e *Engine) ListWorkspaces(ctx context.Context) ([]*backend.Workspace, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	names, err := listBoxes(e.workspacesDir(), "workspaces", removeBox, isWorkspaceID)
	if err != nil {
		return nil, err
	}
	var out []*backend.Workspace
	for _, name := range names {
		dir := e.workspaceDir(name)
		m, err := readMetaFile(dir, workspaceFile, "workspace")
		switch {
		case errors.Is(err, backend.ErrNotFound):
			continue
		case err != nil:
			out = append(out, &backend.Workspace{ExternalID: name, RecordID: strings.TrimPrefix(name, workspacePrefix), State: backend.StateUnknown})
		default:
			out = append(out, e.workspaceView(dir, m))
		}
	}
	return out, nil
}

// UpdateWorkspace implements backend.WorkspaceEngine: name, policy, ports, timeout, options and env change in
// place and apply to the next command. The setup only matters when the workspace is made.
func (e *Engine) UpdateWorkspace(ctx context.Context, externalID string, spec backend.WorkspaceSpec) (*backend.Workspace, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	spec.Setup = ""
	if err := validateWorkspaceSpec(spec, e.isolation); err != nil {
		return nil, err
	}
	dir, err := e.wsDirOf(externalID)
	if err != nil {
		return nil, err
	}
	lk, err := lockFileAt(filepath.Join(dir, lockFile), "workspace", true)
	if err != nil {
		return nil, err
	}
	defer lk.unlock()
	m, err := readMetaFile(dir, workspaceFile, "workspace")
	if err != nil {
		return nil, err
	}
	if spec.RecordID != "" && spec.RecordID != m.RecordID {
		return nil, fmt.Errorf("local workspace %s belongs to record %s, not %s", externalID, m.RecordID, spec.RecordID)
	}
	if err := changeDisk(m.Options, spec.Options, "workspace", func(sizeMB int64) error {
		mk, err := lockFileAt(filepath.Join(dir, mountLockFile), "workspace", true)
		if err != nil {
			return err
		}
		defer mk.unlock()
		img, mnt := filepath.Join(dir, diskImageFile), filepath.Join(dir, homeDir)
		return growDiskImage(img, mnt, sizeMB, func() error {
			users := []string{dir}
			for _, b := range e.boxes(e.sandboxesDir(), metaFile) {
				if b.meta.Workspace == externalID {
					users = append(users, b.dir)
				}
			}
			return growOffline(img, mnt, users)
		})
	}); err != nil {
		return nil, onAttribute(err)
	}
	if spec.Name != "" {
		m.Name = spec.Name
	}
	m.applyWorkspace(spec, e.isolation)
	m.UpdatedAt = time.Now().UTC()
	if err := writeBox(dir, spec.Env, spec.Policy, m); err != nil {
		return nil, err
	}
	return e.workspaceView(dir, m), nil
}

// DeleteWorkspace implements backend.WorkspaceEngine: it kills the workspace's running commands and removes
// its files. A workspace that a sandbox still works on is not removed: the error wraps backend.ErrInUse and
// names the sandboxes. A missing workspace is not an error.
func (e *Engine) DeleteWorkspace(ctx context.Context, externalID string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	dir, err := e.wsDirOf(externalID)
	if err != nil {
		return nil
	}
	refs, err := e.lockRefs(true)
	if err != nil {
		return err
	}
	defer refs.unlock()
	var users []string
	for _, b := range e.boxes(e.sandboxesDir(), metaFile) {
		if b.meta.Workspace == externalID {
			users = append(users, fmt.Sprintf("%s (record %s)", b.meta.ExternalID, b.meta.RecordID))
		}
	}
	if len(users) > 0 {
		sort.Strings(users)
		return fmt.Errorf("local workspace %s is used by sandbox %s: delete those sandboxes first: %w", externalID, strings.Join(users, ", "), backend.ErrInUse)
	}
	lk, err := lockFileAt(filepath.Join(dir, lockFile), "workspace", true)
	if errors.Is(err, backend.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	m, err := deleteBox(ctx, dir, e.workspacesDir(), externalID, "workspace", workspaceFile, lk)
	if err != nil {
		return fmt.Errorf("deleting workspace %s: %w", externalID, err)
	}
	if m != nil && m.SetupBuild != "" {
		return e.collectBuildsLocked()
	}
	return nil
}

// ExecWorkspace implements backend.WorkspaceEngine: the command runs as in a sandbox (see Exec) with the
// workspace's home as its home, env, policy, options and timeout; what it writes to the home persists.
func (e *Engine) ExecWorkspace(ctx context.Context, externalID string, req backend.ExecRequest) (*backend.ExecResult, error) {
	if err := checkExecRequest(ctx, req); err != nil {
		return nil, err
	}
	dir, err := e.wsDirOf(externalID)
	if err != nil {
		return nil, err
	}
	return e.execIn(ctx, dir, workspaceFile, "workspace", req)
}

// ValidateWorkspaceSpec implements backend.WorkspaceValidator: the options (disk_mb and the limits of the
// workspace's commands), ports, env, timeout and policy, as CreateWorkspace checks them.
func (e *Engine) ValidateWorkspaceSpec(spec backend.WorkspaceSpec) error {
	return onAttribute(validateWorkspaceSpec(spec, e.isolation))
}
