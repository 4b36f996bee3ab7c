package vercel

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/ekairos/terraform-provider-sandbox/internal/backend"
)

// Workspaces (backend.WorkspaceEngine), the sandkit model on Vercel's persistent named sandboxes.
//
// A workspace is a persistent named sandbox "wks-<record id>" (tagged ekairos=1, kind=workspace,
// workspaceId=<record id>, name=<workspace name>), started from the setup snapshot when it has one. Its files
// are its snapshots: every stop snapshots them and the next session resumes from the newest. It does not run
// between commands: CreateWorkspace stops it once made (its first snapshot), and ExecWorkspace resumes it, runs
// the command and stops it again (sandkit's "resume, run, snapshot" unit of work), so that what the command
// wrote is saved before it returns. A workspace that was already running (someone resumed it) is left running.
// Its snapshots never expire by default (OptionSnapshotExpiration) and only the newest OptionKeepLastSnapshots
// (default 2) are kept. WorkspaceSpec.Timeout bounds a session (at least 10 minutes, 30 by default).

const (
	defaultWorkspaceSessionTimeout = 30 * time.Minute
	minWorkspaceSessionTimeout     = 10 * time.Minute
	defaultWorkspaceVCPUs          = 2
)

// Workspace states (sandkit's values).
const (
	WorkspaceActive = "active"
)

func workspaceSessionTimeout(d time.Duration) time.Duration {
	if d <= 0 {
		return defaultWorkspaceSessionTimeout
	}
	return min(max(d, minWorkspaceSessionTimeout), MaxTimeout)
}

func checkWorkspace(spec backend.WorkspaceSpec) (workspaceOptions, error) {
	if spec.RecordID != "" {
		if err := checkRecordID(spec.RecordID); err != nil {
			return workspaceOptions{}, err
		}
	}
	if err := checkPorts(spec.Ports); err != nil {
		return workspaceOptions{}, err
	}
	if err := checkTimeout(spec.Timeout); err != nil {
		return workspaceOptions{}, err
	}
	if err := backend.CheckEnv(spec.Env); err != nil {
		return workspaceOptions{}, err
	}
	if err := spec.Policy.Validate(); err != nil {
		return workspaceOptions{}, fmt.Errorf("network policy: %w", err)
	}
	opts, err := parseWorkspaceOptions(spec.Options)
	if err != nil {
		return opts, err
	}
	if opts.runtime != "" && spec.Setup != "" {
		return opts, errors.New("a workspace that starts from a setup takes the setup's runtime: leave the runtime option empty")
	}
	return opts, nil
}

func workspaceTags(spec backend.WorkspaceSpec) map[string]string {
	t := map[string]string{"ekairos": "1", "kind": "workspace", "workspaceId": spec.RecordID}
	if spec.Name != "" {
		t["name"] = clip(spec.Name, 256)
	}
	return t
}

// CreateWorkspace implements backend.WorkspaceEngine.
func (e *Engine) CreateWorkspace(ctx context.Context, spec backend.WorkspaceSpec) (*backend.Workspace, error) {
	if spec.RecordID == "" {
		return nil, errors.New("vercel: a workspace needs its record id (it names the sandbox)")
	}
	opts, err := checkWorkspace(spec)
	if err != nil {
		return nil, err
	}
	policy, err := CompilePolicy(spec.Policy)
	if err != nil {
		return nil, err
	}
	vcpus := opts.vcpus
	if vcpus == 0 {
		vcpus = defaultWorkspaceVCPUs
	}
	persistent := true
	exp := opts.snapshotExpiration.Milliseconds()
	req := CreateSandboxRequest{
		Name:               WorkspaceName(spec.RecordID),
		Runtime:            opts.runtime,
		Ports:              spec.Ports,
		Timeout:            workspaceSessionTimeout(spec.Timeout).Milliseconds(),
		Resources:          &Resources{VCPUs: vcpus},
		Persistent:         &persistent,
		Env:                spec.Env,
		Tags:               workspaceTags(spec),
		NetworkPolicy:      policy,
		SnapshotExpiration: &exp,
	}
	if opts.keepLast > 0 {
		evict := true
		req.KeepLastSnapshots = &KeepLastSnapshots{Count: opts.keepLast, DeleteEvicted: &evict}
	}
	if spec.Setup != "" {
		req.Source = &Source{Type: "snapshot", SnapshotID: spec.Setup}
	}
	first, err := e.create(ctx, req, spec.RecordID, "workspaceId")
	if err != nil {
		return nil, err
	}
	if _, err := e.waitRunningFrom(ctx, req.Name, first); err != nil {
		return nil, err
	}
	// Its first snapshot holds the setup's files; it does not run (nor bill) until a command needs it.
	if err := e.StopSandbox(ctx, req.Name); err != nil {
		return nil, fmt.Errorf("stopping the new workspace %s: %w", req.Name, err)
	}
	return e.GetWorkspace(ctx, req.Name)
}

// GetWorkspace implements backend.WorkspaceEngine. A workspace whose snapshot is gone has lost its files and
// is backend.ErrNotFound.
func (e *Engine) GetWorkspace(ctx context.Context, externalID string) (*backend.Workspace, error) {
	r, err := e.getSandbox(ctx, externalID)
	if err != nil {
		return nil, err
	}
	return workspaceView(r), nil
}

func workspaceView(r *SandboxResponse) *backend.Workspace {
	sb := r.Sandbox
	w := &backend.Workspace{
		ExternalID: sb.Name,
		RecordID:   sb.Tags["workspaceId"],
		Name:       sb.Tags["name"],
		State:      WorkspaceActive,
		Metadata:   workspaceMetadata(r),
	}
	if w.RecordID == "" {
		w.RecordID = strings.TrimPrefix(sb.Name, WorkspacePrefix)
	}
	return w
}

func workspaceMetadata(r *SandboxResponse) map[string]any {
	sb := r.Sandbox
	md := map[string]any{"name": sb.Name, "timeoutMs": sb.Timeout, "vcpus": sb.VCPUs, "persistent": sb.Persistent}
	if r.Routes != nil || r.Session != nil {
		ports := []int{}
		for _, rt := range r.Routes {
			ports = append(ports, rt.Port)
		}
		md["ports"] = ports
	}
	switch {
	case sb.Runtime != "":
		md["runtime"] = sb.Runtime
	case sb.Image != "":
		md["image"] = sb.Image
	}
	if sb.SnapshotExpiration != nil {
		md["snapshotExpirationMs"] = *sb.SnapshotExpiration
	}
	if sb.KeepLastSnapshots != nil {
		md["keepLastSnapshots"] = sb.KeepLastSnapshots.Count
	}
	return md
}

// FindWorkspace implements backend.WorkspaceEngine: the workspace is found by its name.
func (e *Engine) FindWorkspace(ctx context.Context, recordID string) (*backend.Workspace, error) {
	if checkRecordID(recordID) != nil {
		return nil, fmt.Errorf("no vercel workspace can be named after record %q: %w", recordID, backend.ErrNotFound)
	}
	return e.GetWorkspace(ctx, WorkspaceName(recordID))
}

// ListWorkspaces implements backend.WorkspaceEngine: every sandbox named "wks-<record id>".
func (e *Engine) ListWorkspaces(ctx context.Context) ([]*backend.Workspace, error) {
	list, err := e.c.ListSandboxes(ctx, ListOptions{NamePrefix: WorkspacePrefix})
	if err != nil {
		return nil, err
	}
	var out []*backend.Workspace
	for i := range list {
		id := strings.TrimPrefix(list[i].Name, WorkspacePrefix)
		if !strings.HasPrefix(list[i].Name, WorkspacePrefix) || checkRecordID(id) != nil {
			continue
		}
		out = append(out, workspaceView(&SandboxResponse{Sandbox: list[i]}))
	}
	return out, nil
}

// UpdateWorkspace implements backend.WorkspaceEngine: policy, ports, timeout, env and the snapshot options.
func (e *Engine) UpdateWorkspace(ctx context.Context, externalID string, spec backend.WorkspaceSpec) (*backend.Workspace, error) {
	opts, err := checkWorkspace(spec)
	if err != nil {
		return nil, err
	}
	policy, err := CompilePolicy(spec.Policy)
	if err != nil {
		return nil, err
	}
	timeout := workspaceSessionTimeout(spec.Timeout)
	ms := timeout.Milliseconds()
	ports := append([]int{}, spec.Ports...)
	env := map[string]string{}
	for k, v := range spec.Env {
		env[k] = v
	}
	exp := opts.snapshotExpiration.Milliseconds()
	patch := UpdateSandboxRequest{Timeout: &ms, NetworkPolicy: policy, Ports: &ports, Env: &env, SnapshotExpiration: &exp}
	if opts.vcpus > 0 {
		patch.Resources = &Resources{VCPUs: opts.vcpus}
	}
	if opts.keepLast > 0 {
		evict := true
		patch.KeepLastSnapshots = &KeepLastSnapshots{Count: opts.keepLast, DeleteEvicted: &evict}
	}
	if spec.RecordID != "" {
		patch.Tags = workspaceTags(spec)
	}
	if _, err := e.c.UpdateSandbox(ctx, externalID, patch); err != nil {
		return nil, err
	}
	r, err := e.getSandbox(ctx, externalID)
	if err != nil {
		return nil, err
	}
	if r.Session != nil && r.Session.Status == StatusRunning {
		if err := e.applyToSession(ctx, r.Session, timeout, policy); err != nil {
			return nil, err
		}
	}
	return e.GetWorkspace(ctx, externalID)
}

// DeleteWorkspace implements backend.WorkspaceEngine: the sandbox and its snapshots. A missing one is not an
// error.
func (e *Engine) DeleteWorkspace(ctx context.Context, externalID string) error {
	return e.deleteNamed(ctx, externalID)
}

func (e *Engine) lockFor(name string) *sync.Mutex {
	e.mu.Lock()
	defer e.mu.Unlock()
	l := e.locks[name]
	if l == nil {
		l = &sync.Mutex{}
		e.locks[name] = l
	}
	return l
}

// ExecWorkspace implements backend.WorkspaceEngine: it resumes the workspace if it is stopped, runs the
// command, and stops it again when it resumed it (which snapshots what the command wrote). The command's
// result is returned with a nil error whatever its exit code.
func (e *Engine) ExecWorkspace(ctx context.Context, externalID string, req backend.ExecRequest) (*backend.ExecResult, error) {
	if err := checkExec(req); err != nil {
		return nil, err
	}
	l := e.lockFor(externalID)
	l.Lock()
	defer l.Unlock()

	r, err := e.getSandbox(ctx, externalID)
	if err != nil {
		return nil, err
	}
	resumed := false
	if st := status(r); st != StatusRunning {
		if st != StatusPending {
			if err := e.start(ctx, externalID); err != nil {
				return nil, err
			}
			resumed = true
		}
		if r, err = e.waitRunning(ctx, externalID); err != nil {
			return nil, err
		}
	}
	res, err := e.exec(ctx, r, req)
	if !resumed {
		return res, err
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Minute)
	defer cancel()
	if serr := e.StopSandbox(sctx, externalID); serr != nil {
		serr = fmt.Errorf("stopping workspace %s after the command (its files are saved by its next stop or when its session times out): %w", externalID, serr)
		return res, errors.Join(err, serr)
	}
	return res, err
}
