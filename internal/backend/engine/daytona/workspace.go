package daytona

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/ekairos/terraform-provider-sandbox/internal/backend"
)

// A workspace is a Daytona volume named "ekairos-ws-<record id>" (its external id is the volume's id) and one
// durable sandbox (labelled ekairos_workspace_id and ekairos_workspace_volume) created from the workspace's
// setup snapshot with the volume mounted at WorkspaceMountPath. See the package documentation for what
// survives what.

func workspaceVolumeName(recordID string) string { return workspacePrefix + recordID }

// planWorkspace validates a workspace spec and turns it into the plan of its sandbox.
func (e *Engine) planWorkspace(spec backend.WorkspaceSpec, volumeID string) (*sandboxPlan, error) {
	if err := backend.CheckTimeout("timeout", spec.Timeout); err != nil {
		return nil, err
	}
	if err := checkPorts(spec.Ports); err != nil {
		return nil, err
	}
	if err := backend.CheckEnv(spec.Env); err != nil {
		return nil, fmt.Errorf("workspace %w", err)
	}
	o, err := parseOptions(spec.Options, workspaceOptionKeys, "workspace")
	if err != nil {
		return nil, err
	}
	if spec.Setup != "" && (o.image != "" || o.snapshot != "" || o.cpu > 0 || o.memory > 0 || o.disk > 0) {
		return nil, fmt.Errorf("a workspace with a setup starts from the setup's snapshot: drop the daytona options %s, %s, %s, %s and %s",
			OptionImage, OptionSnapshot, OptionCPU, OptionMemory, OptionDisk)
	}
	nw, err := networkFor(spec.Policy, o)
	if err != nil {
		return nil, err
	}
	labels, err := baseLabels(KindWorkspace, "", o, false, spec.Ports, spec.Timeout)
	if err != nil {
		return nil, err
	}
	if err := mergeUserLabels(labels, spec.Labels); err != nil {
		return nil, attrErr(err, "labels")
	}
	labels[LabelWorkspaceID] = spec.RecordID
	labels[LabelWorkspaceVolume] = volumeID
	if spec.Name != "" {
		labels[LabelWorkspaceName] = spec.Name
	}
	snapshot := o.snapshot
	if spec.Setup != "" {
		snapshot = spec.Setup
	}
	target := o.target
	if target == "" {
		target = e.cfg.Target
	}
	never := -1
	return &sandboxPlan{
		name: workspaceVolumeName(spec.RecordID), labels: labels, env: spec.Env, snapshot: snapshot, image: o.image,
		cpu: o.cpu, memory: o.memory, disk: o.disk, public: o.public, target: target,
		autoStop: o.autoStop, autoArchive: o.autoArchive, autoDelete: &never,
		volumes: []volumeMountDTO{{VolumeID: volumeID, MountPath: WorkspaceMountPath}}, net: nw, ports: spec.Ports, timeout: spec.Timeout,
	}, nil
}

// workspaceSandbox finds the workspace's sandbox; nil when there is none.
func (e *Engine) workspaceSandbox(ctx context.Context, volumeID string) (*sandboxDTO, error) {
	list, err := e.listSandboxes(ctx, map[string]string{LabelWorkspaceVolume: volumeID})
	if err != nil {
		return nil, err
	}
	for i := range list {
		if list[i].State != stDestroying {
			d, err := e.getSandbox(ctx, list[i].ID)
			if errors.Is(err, backend.ErrNotFound) {
				continue
			}
			return d, err
		}
	}
	return nil, nil
}

func workspaceView(v *volumeDTO, d *sandboxDTO, name string) *backend.Workspace {
	ws := &backend.Workspace{
		ExternalID: v.ID,
		RecordID:   strings.TrimPrefix(v.Name, workspacePrefix),
		Name:       name,
		State:      backend.WorkspaceInactive,
		Metadata:   map[string]any{"volumeName": v.Name, "mountPath": WorkspaceMountPath, "sandboxId": ""},
	}
	if d != nil {
		ws.Metadata["sandboxId"] = d.ID
		if d.State == stStarted {
			ws.State = backend.WorkspaceActive
		}
		if ws.Name == "" {
			ws.Name = d.Labels[LabelWorkspaceName]
		}
	}
	return ws
}

// CreateWorkspace implements backend.WorkspaceEngine: the volume (waited ready), then the workspace's sandbox
// from the setup snapshot with the volume mounted (waited started). Both are named after the record, so a
// retried create adopts what an interrupted one made.
func (e *Engine) CreateWorkspace(ctx context.Context, spec backend.WorkspaceSpec) (*backend.Workspace, error) {
	if spec.RecordID == "" {
		return nil, errors.New("daytona: CreateWorkspace needs the record id")
	}
	if _, err := e.planWorkspace(spec, "validate"); err != nil {
		return nil, err
	}
	v, err := e.createVolume(ctx, workspaceVolumeName(spec.RecordID))
	if err != nil {
		return nil, fmt.Errorf("creating the workspace volume: %w", err)
	}
	p, err := e.planWorkspace(spec, v.ID)
	if err != nil {
		return nil, err
	}
	created, err := e.createFromPlan(ctx, p, LabelWorkspaceID, spec.RecordID)
	if err != nil {
		return nil, fmt.Errorf("creating the workspace sandbox: %w", err)
	}
	d, err := e.ensureStarted(ctx, created.ID)
	if err != nil {
		return nil, fmt.Errorf("workspace sandbox %s was created but did not start: %w", created.ID, err)
	}
	if spec.Setup != "" {
		if err := e.seedWorkspace(ctx, d); err != nil {
			return nil, err
		}
	}
	return workspaceView(v, d, spec.Name), nil
}

// seedScript copies, once, what the setup left in the home directory (its snapshot's files) onto the
// workspace's volume, where the workspace's commands run: so that they see the setup's files where the
// setup made them, as on Vercel and Sprites (whose workspaces run in the home the setup wrote). Files already
// on the volume are kept (no overwrite); a marker on the volume makes a re-run (an adopted create) a no-op.
// Paths are relative to $HOME, whose workspace subdirectory is the mount point.
const seedScript = `set -e
cd "$HOME"
[ -e workspace/.ekairos-setup-seeded ] && exit 0
for f in * .[!.]* ..?*; do
  [ -e "$f" ] || continue
  case "$f" in workspace|.ekairos) continue ;; esac
  [ -e "workspace/$f" ] || cp -a "$f" workspace/
done
: > workspace/.ekairos-setup-seeded`

func (e *Engine) seedWorkspace(ctx context.Context, d *sandboxDTO) error {
	res, err := e.execIn(ctx, d, backend.ExecRequest{Argv: []string{"sh", "-c", seedScript}}, "")
	if err != nil {
		return fmt.Errorf("copying the setup's files onto the workspace volume: %w", err)
	}
	if res.ExitCode != 0 {
		return fmt.Errorf("copying the setup's files onto the workspace volume: exit code %d: %s", res.ExitCode, strings.TrimSpace(string(res.Stderr)+string(res.Stdout)))
	}
	return nil
}

// GetWorkspace implements backend.WorkspaceEngine: gone when the volume is gone (or deleted). A workspace is
// active while its sandbox runs and inactive otherwise (stopped, archived or missing).
func (e *Engine) GetWorkspace(ctx context.Context, externalID string) (*backend.Workspace, error) {
	v, err := e.getVolume(ctx, url.PathEscape(externalID))
	if err != nil {
		return nil, err
	}
	d, err := e.workspaceSandbox(ctx, v.ID)
	if err != nil {
		return nil, err
	}
	return workspaceView(v, d, ""), nil
}

// FindWorkspace implements backend.WorkspaceEngine by the volume's name.
func (e *Engine) FindWorkspace(ctx context.Context, recordID string) (*backend.Workspace, error) {
	if recordID == "" {
		return nil, fmt.Errorf("daytona: no record id to look for: %w", backend.ErrNotFound)
	}
	v, err := e.getVolume(ctx, "by-name/"+url.PathEscape(workspaceVolumeName(recordID)))
	if err != nil {
		return nil, err
	}
	d, err := e.workspaceSandbox(ctx, v.ID)
	if err != nil {
		return nil, err
	}
	return workspaceView(v, d, ""), nil
}

// ListWorkspaces implements backend.WorkspaceEngine.
func (e *Engine) ListWorkspaces(ctx context.Context) ([]*backend.Workspace, error) {
	list, err := e.listVolumes(ctx)
	if err != nil {
		return nil, err
	}
	var out []*backend.Workspace
	for i := range list {
		if strings.HasPrefix(list[i].Name, workspacePrefix) {
			out = append(out, workspaceView(&list[i], nil, ""))
		}
	}
	return out, nil
}

// UpdateWorkspace implements backend.WorkspaceEngine: env, policy, ports, timeout and the in-place options go
// to the workspace's sandbox as UpdateSandbox does. A sandbox that was deleted behind the provider's back is
// created again when the spec says what to start it from (its Setup or the image/snapshot option); otherwise
// the error says so.
func (e *Engine) UpdateWorkspace(ctx context.Context, externalID string, spec backend.WorkspaceSpec) (*backend.Workspace, error) {
	v, err := e.getVolume(ctx, url.PathEscape(externalID))
	if err != nil {
		return nil, err
	}
	if spec.RecordID == "" {
		spec.RecordID = strings.TrimPrefix(v.Name, workspacePrefix)
	}
	p, err := e.planWorkspace(spec, v.ID)
	if err != nil {
		return nil, err
	}
	d, err := e.workspaceSandbox(ctx, v.ID)
	if err != nil {
		return nil, err
	}
	if d == nil {
		if p.snapshot == "" && p.image == "" {
			return nil, fmt.Errorf("daytona workspace %s: its sandbox is gone and the update does not say what to start a new one from (the setup): %w",
				externalID, errNoWorkspaceSandbox)
		}
		created, err := e.createFromPlan(ctx, p, LabelWorkspaceID, spec.RecordID)
		if err != nil {
			return nil, fmt.Errorf("creating the workspace sandbox again: %w", err)
		}
		if d, err = e.ensureStarted(ctx, created.ID); err != nil {
			return nil, err
		}
		return workspaceView(v, d, spec.Name), nil
	}
	if d, err = e.applyPlan(ctx, d, p); err != nil {
		return nil, err
	}
	return workspaceView(v, d, spec.Name), nil
}

// errNoWorkspaceSandbox is wrapped when a workspace's sandbox was deleted outside the provider.
var errNoWorkspaceSandbox = errors.New("the workspace's sandbox was deleted outside Terraform; its files are kept on the volume; apply the workspace with its setup to start a new sandbox")

// DeleteWorkspace implements backend.WorkspaceEngine: the sandbox (waited destroyed), then the volume (waited
// deleted). A missing workspace is not an error.
func (e *Engine) DeleteWorkspace(ctx context.Context, externalID string) error {
	v, err := e.getVolume(ctx, url.PathEscape(externalID))
	if errors.Is(err, backend.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	for {
		d, err := e.workspaceSandbox(ctx, v.ID)
		if err != nil {
			return err
		}
		if d == nil {
			break
		}
		if err := e.DeleteSandbox(ctx, d.ID); err != nil {
			return fmt.Errorf("deleting the workspace sandbox %s: %w", d.ID, err)
		}
	}
	return e.DeleteVolume(ctx, v.ID)
}

// ExecWorkspace implements backend.WorkspaceEngine: it starts the workspace's sandbox when it is stopped or
// archived and runs the command there, in WorkspaceMountPath unless req.Cwd is absolute (a relative Cwd is
// below it). What the command writes under WorkspaceMountPath is on the volume and outlives the sandbox.
func (e *Engine) ExecWorkspace(ctx context.Context, externalID string, req backend.ExecRequest) (*backend.ExecResult, error) {
	v, err := e.getVolume(ctx, url.PathEscape(externalID))
	if err != nil {
		return nil, err
	}
	d, err := e.workspaceSandbox(ctx, v.ID)
	if err != nil {
		return nil, err
	}
	if d == nil {
		return nil, fmt.Errorf("daytona workspace %s: %w", externalID, errNoWorkspaceSandbox)
	}
	if d.State != stStarted {
		if d, err = e.ensureStarted(ctx, d.ID); err != nil {
			return nil, fmt.Errorf("starting the sandbox of workspace %s: %w", externalID, err)
		}
	}
	return e.execIn(ctx, d, req, WorkspaceMountPath)
}
