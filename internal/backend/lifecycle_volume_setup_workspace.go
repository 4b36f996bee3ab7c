package backend

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"
)

// Workspace record statuses: sandkit's values. A workspace being created is inactive until its engine object
// exists; a destroyed one is archived.
const (
	WorkspaceActive   = "active"
	WorkspaceInactive = "inactive"
	WorkspaceArchived = "archived"
)

// ParamsVolumes is the params key of a sandbox record listing its volume mounts ({volumeId, mountPath}).
const ParamsVolumes = "volumes"

// Identifier is implemented by engines whose identity is more than their name (an account, a root
// directory), so that setups are only shared within one identity.
type Identifier interface {
	Identity() string
}

// EngineIdentity is the engine's name plus its Identity when it has one.
func EngineIdentity(e Engine) string {
	if id, ok := e.(Identifier); ok {
		return e.Name() + ":" + id.Identity()
	}
	return e.Name()
}

func (l *Lifecycle) engine(name string) (Engine, error) { return l.Engines.Engine(name) }

// scopeBook is the bookkeeping of a volume or workspace record: the scope that made it, so that a scoped sweep
// can attribute its engine object.
func (l *Lifecycle) scopeBook() map[string]any { return map[string]any{BookScope: l.Scope} }

// ---- volumes ----

// VolumeRequest is a volume as declared.
type VolumeRequest struct {
	// Labels are recorded as params.labels (the engine keeps none of them).
	Labels  map[string]string
	Backend string
	Name    string
	Options map[string]any
	// Bookkeeping is kept under params.terraform for import (see ImportBookkeeping).
	Bookkeeping map[string]any
}

func volumeEngine(e Engine) (VolumeEngine, error) {
	ve, ok := e.(VolumeEngine)
	if !ok || !e.Capabilities().Volumes {
		return nil, fmt.Errorf("the %s engine has no volumes", e.Name())
	}
	return ve, nil
}

// CreateVolume writes the volume record, then makes the volume. The record id is returned with any error.
func (l *Lifecycle) CreateVolume(ctx context.Context, req VolumeRequest) (*Record, *Volume, error) {
	eng, err := l.engine(req.Backend)
	if err != nil {
		return nil, nil, err
	}
	ve, err := volumeEngine(eng)
	if err != nil {
		return nil, nil, err
	}
	now := NowMillis(l.now())
	rec, err := l.Store.Create(ctx, EntityVolumes, NewID(), Attrs{
		"name": req.Name, "provider": req.Backend, "status": StatusCreating,
		"params":    withLabels(withBookkeeping(map[string]any{req.Backend: orEmpty(req.Options), ParamsTerraform: l.scopeBook()}, req.Bookkeeping), req.Labels),
		"createdAt": now, "updatedAt": now,
	})
	if err != nil {
		return nil, nil, fmt.Errorf("writing the volume record: %w", err)
	}
	vol, err := ve.CreateVolume(ctx, VolumeSpec{RecordID: rec.ID, Name: req.Name, Options: req.Options})
	if err != nil {
		rec = l.failRecord(ctx, EntityVolumes, rec, StatusError, err)
		return rec, nil, fmt.Errorf("creating volume %s on %s: %w", rec.ID, req.Backend, err)
	}
	rec, err = l.Store.Update(ctx, EntityVolumes, rec.ID, Attrs{
		"status": StatusActive, "externalVolumeId": vol.ExternalID, "updatedAt": NowMillis(l.now()),
		"params": withLabels(withBookkeeping(map[string]any{req.Backend: mergeMaps(orEmpty(req.Options), vol.Metadata), ParamsTerraform: l.scopeBook()}, req.Bookkeeping), req.Labels),
	})
	if err != nil {
		return nil, vol, fmt.Errorf("volume %s was made as %s but its record could not be updated: %w", req.Name, vol.ExternalID, err)
	}
	return rec, vol, nil
}

// ReadVolume returns (nil, nil, nil) when the volume is gone (record missing or shutdown, or the engine object
// gone, which marks the record shutdown).
func (l *Lifecycle) ReadVolume(ctx context.Context, id string) (*Record, *Volume, error) {
	rec, eng, err := l.loadLive(ctx, EntityVolumes, id)
	if rec == nil || err != nil {
		return nil, nil, err
	}
	if rec.String("status") != StatusActive {
		return rec, nil, nil
	}
	ve, err := volumeEngine(eng)
	if err != nil {
		return nil, nil, err
	}
	vol, err := ve.GetVolume(ctx, rec.String("externalVolumeId"))
	if errors.Is(err, ErrNotFound) {
		return nil, nil, l.close(ctx, EntityVolumes, id, StatusShutdown)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("reading volume %s: %w", id, err)
	}
	return rec, vol, nil
}

// DeleteVolume refuses while an active sandbox record mounts the volume, then removes it.
func (l *Lifecycle) DeleteVolume(ctx context.Context, id string) error {
	rec, eng, err := l.loadLive(ctx, EntityVolumes, id)
	if rec == nil || err != nil {
		return err
	}
	users, err := l.sandboxesUsing(ctx, rec.String("provider"), func(params map[string]any) bool {
		mounts, _ := params[ParamsVolumes].([]any)
		for _, m := range mounts {
			if toMap(m)["volumeId"] == id {
				return true
			}
		}
		return false
	})
	if err != nil {
		return err
	}
	if len(users) > 0 {
		return fmt.Errorf("volume %s (%s) is mounted by sandbox %v: destroy or change those sandboxes first: %w", id, rec.String("name"), users, ErrInUse)
	}
	ve, err := volumeEngine(eng)
	if err != nil {
		return err
	}
	exts := []string{rec.String("externalVolumeId")}
	if v, ferr := ve.FindVolume(ctx, id); ferr == nil && v.ExternalID != exts[0] {
		exts = append(exts, v.ExternalID)
	}
	for _, ext := range exts {
		if ext == "" {
			continue
		}
		if err := ve.DeleteVolume(ctx, ext); err != nil && !errors.Is(err, ErrNotFound) {
			return fmt.Errorf("deleting volume %s (%s): %w", id, ext, err)
		}
	}
	return l.close(ctx, EntityVolumes, id, StatusShutdown)
}

// UpdateVolume changes an active volume's options in place on an engine that can (VolumeUpdater: the local
// engine grows a sized volume), recording them under params.<engine> with the labels and bookkeeping. Options
// that did not change make no engine call.
func (l *Lifecycle) UpdateVolume(ctx context.Context, id string, req VolumeRequest) (*Record, *Volume, error) {
	rec, eng, err := l.loadLive(ctx, EntityVolumes, id)
	if err != nil {
		return nil, nil, err
	}
	if rec == nil {
		return nil, nil, fmt.Errorf("volume %s: %w", id, ErrNotFound)
	}
	backend := rec.String("provider")
	params := copyMap(rec.JSONMap("params"))
	recorded := toMap(params[backend])
	var vol *Volume
	if optionsChanged(recorded, req.Options) {
		vu, ok := eng.(VolumeUpdater)
		if !ok {
			return nil, nil, fmt.Errorf("the %s engine cannot change a volume's options in place", backend)
		}
		if vol, err = vu.UpdateVolume(ctx, rec.String("externalVolumeId"), VolumeSpec{RecordID: id, Name: rec.String("name"), Options: req.Options}); err != nil {
			return nil, nil, fmt.Errorf("updating volume %s: %w", id, err)
		}
		params[backend] = mergeMaps(mergeMaps(recorded, req.Options), vol.Metadata)
	}
	params = withLabels(withBookkeeping(params, req.Bookkeeping), req.Labels)
	rec, err = l.Store.Update(ctx, EntityVolumes, id, Attrs{"params": params, "updatedAt": NowMillis(l.now())})
	if err != nil {
		return nil, vol, fmt.Errorf("updating volume record %s: %w", id, err)
	}
	return rec, vol, nil
}

// optionsChanged reports whether an engine's options differ from those recorded beside its metadata.
func optionsChanged(recorded, options map[string]any) bool {
	for k, v := range options {
		if r, ok := recorded[k]; !ok || !sameOption(r, v) {
			return true
		}
	}
	return false
}

func sameOption(a, b any) bool {
	if x, ok := AsInt(a); ok {
		y, ok := AsInt(b)
		return ok && x == y
	}
	return fmt.Sprint(a) == fmt.Sprint(b)
}

// ResolveVolumes turns volume record ids into mounts with the engine's volume ids. Every volume must be active
// and on the sandbox's engine.
func (l *Lifecycle) ResolveVolumes(ctx context.Context, backend string, mounts []VolumeMount) ([]VolumeMount, error) {
	out := make([]VolumeMount, 0, len(mounts))
	for _, m := range mounts {
		rec, err := l.Store.Get(ctx, EntityVolumes, m.VolumeID)
		if err != nil {
			return nil, fmt.Errorf("volume %s: %w", m.VolumeID, err)
		}
		if rec.String("status") != StatusActive {
			return nil, fmt.Errorf("volume %s is %s, not active", m.VolumeID, rec.String("status"))
		}
		if rec.String("provider") != backend {
			return nil, fmt.Errorf("volume %s is on %s, the sandbox on %s", m.VolumeID, rec.String("provider"), backend)
		}
		m.ExternalID = rec.String("externalVolumeId")
		out = append(out, m)
	}
	return out, nil
}

// ---- setups ----

// SetupRequest is a setup bootstrap as declared.
type SetupRequest struct {
	// Labels are recorded as params.labels (the engine keeps none of them).
	Labels  map[string]string
	Backend string
	Argv    []string
	Env     map[string]string // secret: only its names enter the fingerprint
	Runtime string
	Policy  *NetworkPolicy
	Timeout time.Duration
	Options map[string]any
	// Bookkeeping is kept under params.terraform for import (see ImportBookkeeping); not in the fingerprint.
	Bookkeeping map[string]any
}

// SetupFingerprint is the stable key of a setup, as sandkit keys its shared bootstrap: a SHA-256 of the
// canonical JSON of the engine identity, the argv, the runtime, the redacted policy, the engine options and the
// names (not the values) of the env variables.
func SetupFingerprint(identity string, req SetupRequest) string {
	envNames := make([]string, 0, len(req.Env))
	for k := range req.Env {
		envNames = append(envNames, k)
	}
	sort.Strings(envNames)
	b, _ := json.Marshal(map[string]any{
		"engine": identity, "argv": req.Argv, "runtime": req.Runtime, "policy": req.Policy.Redacted(),
		"options": req.Options, "env": envNames,
	})
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

func setupEngine(e Engine) (SetupEngine, error) {
	se, ok := e.(SetupEngine)
	if !ok || !e.Capabilities().Setups {
		return nil, fmt.Errorf("the %s engine has no setups", e.Name())
	}
	return se, nil
}

// SetupFailure carries the failed setup command's result.
type SetupFailure struct {
	Result *ExecResult
}

// CreateSetup writes the setup record, then reuses the artifact built for the same fingerprint or builds it
// (one run, not two, for the same definition on the same engine). It returns the record, whether the artifact
// was reused, and the failed command's result when the setup command failed.
func (l *Lifecycle) CreateSetup(ctx context.Context, req SetupRequest) (rec *Record, art *SetupArtifact, reused bool, failed *ExecResult, err error) {
	if len(req.Argv) == 0 {
		return nil, nil, false, nil, errors.New("setup command is empty")
	}
	if err := req.Policy.Validate(); err != nil {
		return nil, nil, false, nil, err
	}
	eng, err := l.engine(req.Backend)
	if err != nil {
		return nil, nil, false, nil, err
	}
	se, err := setupEngine(eng)
	if err != nil {
		return nil, nil, false, nil, err
	}
	fp := SetupFingerprint(EngineIdentity(eng), req)
	args := make([]any, 0, len(req.Argv))
	for _, a := range req.Argv[1:] {
		args = append(args, a)
	}
	now := NowMillis(l.now())
	attrs := Attrs{
		"key": req.Backend + ":shared-bootstrap:" + fp, "fingerprint": fp, "provider": req.Backend,
		"status": StatusCreating, "command": req.Argv[0], "args": args, "policy": req.Policy.Redacted(),
		"params": withLabels(withBookkeeping(map[string]any{req.Backend: orEmpty(req.Options)}, req.Bookkeeping), req.Labels), "createdAt": now, "updatedAt": now,
	}
	if req.Runtime != "" {
		attrs["runtime"] = req.Runtime
	}
	rec, err = l.Store.Create(ctx, EntitySetups, NewID(), attrs)
	if err != nil {
		return nil, nil, false, nil, fmt.Errorf("writing the setup record: %w", err)
	}
	return l.buildSetup(ctx, se, rec, req, fp)
}

// buildSetup reuses the artifact built for the fingerprint or builds it under the setup record, and
// activates the record with the artifact's id.
func (l *Lifecycle) buildSetup(ctx context.Context, se SetupEngine, rec *Record, req SetupRequest, fp string) (_ *Record, art *SetupArtifact, reused bool, failed *ExecResult, err error) {
	// Two setups with one definition in one apply run in parallel: the second waits for the first's artifact.
	unlock := lockKey(req.Backend + ":" + fp)
	defer unlock()
	art, err = se.FindSetup(ctx, fp)
	switch {
	case err == nil:
		reused = true
	case errors.Is(err, ErrNotFound):
		var res *ExecResult
		art, res, err = se.BuildSetup(ctx, SetupSpec{RecordID: rec.ID, Fingerprint: fp, Argv: req.Argv, Env: req.Env,
			Runtime: req.Runtime, Policy: req.Policy, Timeout: req.Timeout, Options: req.Options})
		if err != nil {
			rec = l.failRecord(ctx, EntitySetups, rec, StatusError, err)
			if errors.Is(err, ErrSetupFailed) {
				return rec, nil, false, res, err
			}
			return rec, nil, false, nil, fmt.Errorf("building setup %s on %s: %w", rec.ID, req.Backend, err)
		}
	default:
		rec = l.failRecord(ctx, EntitySetups, rec, StatusError, err)
		return rec, nil, false, nil, fmt.Errorf("looking for setup artifact %s: %w", fp, err)
	}
	rec, err = l.Store.Update(ctx, EntitySetups, rec.ID, Attrs{
		"status": StatusActive, "snapshotId": art.ExternalID, "updatedAt": NowMillis(l.now()),
		"params": withLabels(withBookkeeping(map[string]any{req.Backend: mergeMaps(orEmpty(req.Options), art.Metadata), "reused": reused}, req.Bookkeeping), req.Labels),
	})
	if err != nil {
		return nil, art, reused, nil, fmt.Errorf("setup artifact %s was made but its record could not be updated: %w", art.ExternalID, err)
	}
	return rec, art, reused, nil, nil
}

// ReadSetup returns nil when the setup's record is gone. An active record whose artifact vanished on the engine
// is returned with a nil artifact and left as it is (a read writes nothing): RebuildSetup builds the artifact
// again under the same record id, so that sandboxes and workspaces made from it keep their setup_id.
func (l *Lifecycle) ReadSetup(ctx context.Context, id string) (*Record, *SetupArtifact, error) {
	rec, eng, err := l.loadLive(ctx, EntitySetups, id)
	if rec == nil || err != nil {
		return nil, nil, err
	}
	if rec.String("status") != StatusActive {
		return rec, nil, nil
	}
	se, err := setupEngine(eng)
	if err != nil {
		return nil, nil, err
	}
	art, err := se.GetSetup(ctx, rec.String("snapshotId"))
	if errors.Is(err, ErrNotFound) {
		return rec, nil, nil
	}
	if err != nil {
		return nil, nil, fmt.Errorf("reading setup %s: %w", id, err)
	}
	return rec, art, nil
}

// RebuildSetup makes a vanished artifact again under the same setup record (in place): it reuses an artifact
// another setup with the same fingerprint rebuilt meanwhile, or runs the command again. The request must be the
// record's definition (same fingerprint); a failed run leaves the record error, as a failed create does.
func (l *Lifecycle) RebuildSetup(ctx context.Context, id string, req SetupRequest) (*Record, *SetupArtifact, bool, *ExecResult, error) {
	rec, eng, err := l.loadLive(ctx, EntitySetups, id)
	if err != nil {
		return nil, nil, false, nil, err
	}
	if rec == nil {
		return nil, nil, false, nil, fmt.Errorf("setup %s: %w", id, ErrNotFound)
	}
	se, err := setupEngine(eng)
	if err != nil {
		return nil, nil, false, nil, err
	}
	fp := SetupFingerprint(EngineIdentity(eng), req)
	if fp != rec.String("fingerprint") {
		return nil, nil, false, nil, fmt.Errorf("setup %s: its definition changed (fingerprint %s, record %s); it must be replaced, not rebuilt", id, fp, rec.String("fingerprint"))
	}
	return l.buildSetup(ctx, se, rec, req, fp)
}

// DeleteSetup closes the record and removes the artifact unless another active setup record shares it (same
// fingerprint on the same engine) or an active sandbox or workspace still starts from it.
func (l *Lifecycle) DeleteSetup(ctx context.Context, id string) error {
	rec, eng, err := l.loadLive(ctx, EntitySetups, id)
	if rec == nil || err != nil {
		return err
	}
	if err := l.close(ctx, EntitySetups, id, StatusShutdown); err != nil {
		return err
	}
	art := rec.String("snapshotId")
	if art == "" {
		return nil
	}
	others, err := l.Store.Query(ctx, Query{Entity: EntitySetups, Where: []Cond{
		{Field: "fingerprint", Op: OpEq, Value: rec.String("fingerprint")},
		{Field: "status", Op: OpEq, Value: StatusActive},
	}, Limit: 1})
	if err != nil {
		return err
	}
	if len(others) > 0 {
		return nil // shared: the other setup keeps the artifact
	}
	users, err := l.sandboxesUsing(ctx, rec.String("provider"), func(params map[string]any) bool {
		return toMap(params[ParamsTerraform])["setupId"] == id
	})
	if err != nil || len(users) > 0 {
		return err // in use: kept for its sandboxes; sweep removes it once they are gone
	}
	se, err := setupEngine(eng)
	if err != nil {
		return err
	}
	if err := se.DeleteSetup(ctx, art); err != nil && !errors.Is(err, ErrNotFound) {
		return fmt.Errorf("deleting setup artifact %s: %w", art, err)
	}
	return nil
}

// ResolveSetup returns the artifact external id of an active setup record on the given engine.
func (l *Lifecycle) ResolveSetup(ctx context.Context, backend, setupID string) (string, error) {
	rec, err := l.Store.Get(ctx, EntitySetups, setupID)
	if err != nil {
		return "", fmt.Errorf("setup %s: %w", setupID, err)
	}
	if rec.String("status") != StatusActive {
		return "", fmt.Errorf("setup %s is %s, not active", setupID, rec.String("status"))
	}
	if rec.String("provider") != backend {
		return "", fmt.Errorf("setup %s is on %s, not %s", setupID, rec.String("provider"), backend)
	}
	return rec.String("snapshotId"), nil
}

// ---- workspaces ----

// WorkspaceRequest is a workspace as declared.
type WorkspaceRequest struct {
	// Labels are recorded as params.labels and given to the engine (WorkspaceSpec.Labels).
	Labels  map[string]string
	Backend string
	Name    string
	SetupID string // setup record id, "" for none
	Policy  *NetworkPolicy
	Ports   []int
	Timeout time.Duration
	Env     map[string]string
	Options map[string]any
	// Bookkeeping is kept under params.terraform for import (see ImportBookkeeping).
	Bookkeeping map[string]any
}

func workspaceEngine(e Engine) (WorkspaceEngine, error) {
	we, ok := e.(WorkspaceEngine)
	if !ok || !e.Capabilities().Workspaces {
		return nil, fmt.Errorf("the %s engine has no workspaces", e.Name())
	}
	return we, nil
}

// workspaceMetadata is a workspace record's metadata with sandkit's keys: the durable policy in sandkit's
// shape (credentials redacted), the sandbox configuration, and the lifecycle state "sandkit:sandbox": cold
// while no sandbox is known (sessionID ""), else a session on the workspace's sandbox with its lease (observed
// now, expiring after the workspace's timeout), as sandkit writes them.
func workspaceMetadata(req WorkspaceRequest, sessionID string, now time.Time) map[string]any {
	ports := make([]any, 0, len(req.Ports))
	for _, p := range req.Ports {
		ports = append(ports, p)
	}
	lifecycle := map[string]any{"kind": "cold"}
	if sessionID != "" {
		lifecycle = map[string]any{"kind": "session", "sessionId": sessionID, "lease": map[string]any{
			"observedAt": now.UTC().Format(time.RFC3339Nano), "expiresAt": now.Add(req.Timeout).UTC().Format(time.RFC3339Nano)}}
	}
	return map[string]any{
		"sandkit:policy":         req.Policy.SandkitPolicy(),
		"sandkit:sandbox-config": map[string]any{"exposedPorts": ports},
		"sandkit:sandbox":        lifecycle,
		"timeoutMs":              req.Timeout.Milliseconds(),
	}
}

// CreateWorkspace writes the workspace record (inactive), makes the workspace from its setup, and activates it.
func (l *Lifecycle) CreateWorkspace(ctx context.Context, req WorkspaceRequest) (*Record, *Workspace, error) {
	if err := req.Policy.Validate(); err != nil {
		return nil, nil, err
	}
	eng, err := l.engine(req.Backend)
	if err != nil {
		return nil, nil, err
	}
	we, err := workspaceEngine(eng)
	if err != nil {
		return nil, nil, err
	}
	var art string
	if req.SetupID != "" {
		if art, err = l.ResolveSetup(ctx, req.Backend, req.SetupID); err != nil {
			return nil, nil, err
		}
	}
	now := NowMillis(l.now())
	attrs := Attrs{
		"name": req.Name, "provider": req.Backend, "status": WorkspaceInactive, "metadata": workspaceMetadata(req, "", l.now()),
		"params":    withLabels(map[string]any{req.Backend: orEmpty(req.Options), ParamsTerraform: mergeMaps(mergeMaps(l.scopeBook(), req.Bookkeeping), map[string]any{"phase": "creating"})}, req.Labels),
		"createdAt": now, "updatedAt": now,
	}
	if req.SetupID != "" {
		attrs["setupId"] = req.SetupID
	}
	rec, err := l.Store.Create(ctx, EntityWorkspaces, NewID(), attrs)
	if err != nil {
		return nil, nil, fmt.Errorf("writing the workspace record: %w", err)
	}
	ws, err := we.CreateWorkspace(ctx, WorkspaceSpec{RecordID: rec.ID, Name: req.Name, Setup: art, Policy: req.Policy,
		Ports: req.Ports, Timeout: req.Timeout, Env: req.Env, Options: req.Options, Labels: req.Labels})
	if err != nil {
		rec = l.failRecord(ctx, EntityWorkspaces, rec, WorkspaceInactive, err)
		return rec, nil, fmt.Errorf("creating workspace %s on %s: %w", rec.ID, req.Backend, err)
	}
	rec, err = l.Store.Update(ctx, EntityWorkspaces, rec.ID, Attrs{
		"status": WorkspaceActive, "sandboxId": ws.ExternalID, "updatedAt": now, "lastResumedAt": NowMillis(l.now()),
		"metadata": workspaceMetadata(req, ws.ExternalID, l.now()),
		"params":   withLabels(withBookkeeping(map[string]any{req.Backend: mergeMaps(orEmpty(req.Options), ws.Metadata), ParamsTerraform: l.scopeBook()}, req.Bookkeeping), req.Labels),
	})
	if err != nil {
		return nil, ws, fmt.Errorf("workspace %s was made but its record could not be updated: %w", ws.ExternalID, err)
	}
	return rec, ws, nil
}

// ReadWorkspace returns nil when the workspace is gone.
func (l *Lifecycle) ReadWorkspace(ctx context.Context, id string) (*Record, *Workspace, error) {
	rec, err := l.Store.Get(ctx, EntityWorkspaces, id)
	if errors.Is(err, ErrNotFound) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, err
	}
	switch rec.String("status") {
	case WorkspaceArchived:
		return nil, nil, nil
	case WorkspaceInactive:
		return rec, nil, nil
	}
	eng, err := l.engine(rec.String("provider"))
	if err != nil {
		return nil, nil, err
	}
	we, err := workspaceEngine(eng)
	if err != nil {
		return nil, nil, err
	}
	ws, err := we.GetWorkspace(ctx, rec.String("sandboxId"))
	if errors.Is(err, ErrNotFound) {
		return nil, nil, l.close(ctx, EntityWorkspaces, id, WorkspaceArchived)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("reading workspace %s: %w", id, err)
	}
	return rec, ws, nil
}

// UpdateWorkspace applies in-place changes to an active workspace.
func (l *Lifecycle) UpdateWorkspace(ctx context.Context, id string, req WorkspaceRequest) (*Record, *Workspace, error) {
	if err := req.Policy.Validate(); err != nil {
		return nil, nil, err
	}
	rec, err := l.Store.Get(ctx, EntityWorkspaces, id)
	if err != nil {
		return nil, nil, err
	}
	eng, err := l.engine(rec.String("provider"))
	if err != nil {
		return nil, nil, err
	}
	we, err := workspaceEngine(eng)
	if err != nil {
		return nil, nil, err
	}
	ws, err := we.UpdateWorkspace(ctx, rec.String("sandboxId"), WorkspaceSpec{RecordID: id, Name: req.Name, Policy: req.Policy,
		Ports: req.Ports, Timeout: req.Timeout, Env: req.Env, Options: req.Options, Labels: req.Labels})
	if err != nil {
		return nil, nil, fmt.Errorf("updating workspace %s: %w", id, err)
	}
	params := withLabels(copyMap(rec.JSONMap("params")), req.Labels)
	if len(req.Bookkeeping) > 0 {
		params[ParamsTerraform] = mergeMaps(toMap(params[ParamsTerraform]), req.Bookkeeping)
	}
	if len(req.Options) > 0 {
		// Options changed in place (a grown local disk) are recorded beside the engine's metadata.
		eng := rec.String("provider")
		params[eng] = mergeMaps(toMap(params[eng]), req.Options)
	}
	rec, err = l.Store.Update(ctx, EntityWorkspaces, id, Attrs{"metadata": workspaceMetadata(req, rec.String("sandboxId"), l.now()), "params": params, "updatedAt": NowMillis(l.now())})
	return rec, ws, err
}

// DeleteWorkspace removes the workspace's engine object and archives its record.
func (l *Lifecycle) DeleteWorkspace(ctx context.Context, id string) error {
	rec, err := l.Store.Get(ctx, EntityWorkspaces, id)
	if errors.Is(err, ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	eng, err := l.engine(rec.String("provider"))
	if err != nil {
		return err
	}
	we, err := workspaceEngine(eng)
	if err != nil {
		return err
	}
	exts := []string{}
	if ext := rec.String("sandboxId"); ext != "" {
		exts = append(exts, ext)
	}
	if ws, ferr := we.FindWorkspace(ctx, id); ferr == nil && (len(exts) == 0 || exts[0] != ws.ExternalID) {
		exts = append(exts, ws.ExternalID)
	}
	for _, ext := range exts {
		if err := we.DeleteWorkspace(ctx, ext); err != nil && !errors.Is(err, ErrNotFound) {
			return fmt.Errorf("deleting workspace %s (%s): %w", id, ext, err)
		}
	}
	if l.DeleteRecords {
		return l.Store.Delete(ctx, EntityWorkspaces, id)
	}
	return l.close(ctx, EntityWorkspaces, id, WorkspaceArchived)
}

// workspaceCheckpointer loads an active workspace record and its engine's checkpoint interface.
func (l *Lifecycle) workspaceCheckpointer(ctx context.Context, id string) (*Record, WorkspaceCheckpointer, error) {
	rec, err := l.Store.Get(ctx, EntityWorkspaces, id)
	if err != nil {
		return nil, nil, fmt.Errorf("reading workspace record %s: %w", id, err)
	}
	if st := rec.String("status"); st != WorkspaceActive {
		return nil, nil, fmt.Errorf("workspace %s is %s, not active", id, st)
	}
	eng, err := l.engine(rec.String("provider"))
	if err != nil {
		return nil, nil, err
	}
	wc, ok := eng.(WorkspaceCheckpointer)
	if !ok || !eng.Capabilities().WorkspaceCheckpoints {
		return nil, nil, fmt.Errorf("the %s engine cannot checkpoint or restore workspaces", eng.Name())
	}
	return rec, wc, nil
}

// noteWorkspace merges keys into the workspace record's params.<engine> (engine metadata, as
// @ekairos/sandbox keeps lastCheckpointId and lastRestoredCheckpointId).
func (l *Lifecycle) noteWorkspace(ctx context.Context, rec *Record, note map[string]any) (*Record, error) {
	params := copyMap(rec.JSONMap("params"))
	eng := rec.String("provider")
	sub, _ := params[eng].(map[string]any)
	params[eng] = mergeMaps(sub, note)
	return l.Store.Update(ctx, EntityWorkspaces, rec.ID, Attrs{"params": params, "updatedAt": NowMillis(l.now())})
}

// CheckpointWorkspace checkpoints an active workspace on request and records the id under
// params.<engine>.lastCheckpointId.
func (l *Lifecycle) CheckpointWorkspace(ctx context.Context, id, comment string) (*Record, string, error) {
	rec, wc, err := l.workspaceCheckpointer(ctx, id)
	if err != nil {
		return nil, "", err
	}
	cp, err := wc.CheckpointWorkspace(ctx, rec.String("sandboxId"), comment)
	if err != nil {
		return nil, "", fmt.Errorf("checkpointing workspace %s: %w", id, err)
	}
	rec, err = l.noteWorkspace(ctx, rec, map[string]any{"lastCheckpointId": cp})
	if err != nil {
		return nil, cp, fmt.Errorf("workspace %s was checkpointed (%s) but its record could not be updated: %w", id, cp, err)
	}
	return rec, cp, nil
}

// RestoreWorkspace restores an active workspace's files to one of its checkpoints and records the id under
// params.<engine>.lastRestoredCheckpointId.
func (l *Lifecycle) RestoreWorkspace(ctx context.Context, id, checkpointID string) (*Record, error) {
	rec, wc, err := l.workspaceCheckpointer(ctx, id)
	if err != nil {
		return nil, err
	}
	if err := wc.RestoreWorkspace(ctx, rec.String("sandboxId"), checkpointID); err != nil {
		return nil, fmt.Errorf("restoring workspace %s to checkpoint %s: %w", id, checkpointID, err)
	}
	rec, err = l.noteWorkspace(ctx, rec, map[string]any{"lastRestoredCheckpointId": checkpointID})
	if err != nil {
		return nil, fmt.Errorf("workspace %s was restored to %s but its record could not be updated: %w", id, checkpointID, err)
	}
	return rec, nil
}

// ---- shared helpers ----

// loadLive loads a volume or setup record and its engine; (nil, nil, nil) when missing or shutdown.
func (l *Lifecycle) loadLive(ctx context.Context, entity, id string) (*Record, Engine, error) {
	rec, err := l.Store.Get(ctx, entity, id)
	if errors.Is(err, ErrNotFound) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, fmt.Errorf("reading %s record %s: %w", entity, id, err)
	}
	if rec.String("status") == StatusShutdown {
		return nil, nil, nil
	}
	eng, err := l.engine(rec.String("provider"))
	if err != nil {
		return nil, nil, err
	}
	return rec, eng, nil
}

// close sets a record's terminal status with shutdownAt (or deletes it with DeleteRecords).
func (l *Lifecycle) close(ctx context.Context, entity, id, status string) error {
	if l.DeleteRecords {
		return l.Store.Delete(ctx, entity, id)
	}
	now := NowMillis(l.now())
	_, err := l.Store.Update(ctx, entity, id, Attrs{"status": status, "shutdownAt": now, "updatedAt": now})
	if err != nil && !errors.Is(err, ErrNotFound) {
		return fmt.Errorf("closing %s record %s: %w", entity, id, err)
	}
	return nil
}

// failRecord sets a record's status and params.error after a failed engine call; it returns the updated record
// (or the given one when the update fails too).
func (l *Lifecycle) failRecord(ctx context.Context, entity string, rec *Record, status string, cause error) *Record {
	params := copyMap(rec.JSONMap("params"))
	params[ParamsError] = cause.Error()
	out, err := l.Store.Update(context.WithoutCancel(ctx), entity, rec.ID, Attrs{"status": status, "params": params, "updatedAt": NowMillis(l.now())})
	if err != nil {
		return rec
	}
	return out
}

// sandboxesUsing returns the ids of active sandbox records on an engine whose params match.
func (l *Lifecycle) sandboxesUsing(ctx context.Context, backend string, match func(map[string]any) bool) ([]string, error) {
	recs, err := l.Store.Query(ctx, Query{Entity: EntitySandboxes, Where: []Cond{
		{Field: "status", Op: OpEq, Value: StatusActive},
		{Field: "provider", Op: OpEq, Value: backend},
	}})
	if err != nil {
		return nil, fmt.Errorf("looking for sandboxes that use it: %w", err)
	}
	var ids []string
	for _, r := range recs {
		if match(r.JSONMap("params")) {
			ids = append(ids, r.ID)
		}
	}
	return ids, nil
}

var keyLocks sync.Map // key -> *sync.Mutex

// lockKey serializes work on one key within this process.
func lockKey(key string) (unlock func()) {
	v, _ := keyLocks.LoadOrStore(key, &sync.Mutex{})
	mu, _ := v.(*sync.Mutex)
	mu.Lock()
	return mu.Unlock
}

// withBookkeeping puts the provider's import bookkeeping under params.terraform (nothing when there is none).
func withBookkeeping(params, bookkeeping map[string]any) map[string]any {
	if len(bookkeeping) > 0 {
		params[ParamsTerraform] = mergeMaps(toMap(params[ParamsTerraform]), bookkeeping)
	}
	return params
}

func orEmpty(m map[string]any) map[string]any {
	if m == nil {
		return map[string]any{}
	}
	return m
}

// SetBookkeeping merges the provider's import bookkeeping into a record (params.terraform; metadata.terraform
// for runs) after an in-place change that touches no engine object, so that an import still rebuilds the
// configuration as it now is.
func (l *Lifecycle) SetBookkeeping(ctx context.Context, entity, id string, bookkeeping map[string]any) error {
	rec, err := l.Store.Get(ctx, entity, id)
	if err != nil {
		return fmt.Errorf("reading %s record %s: %w", entity, id, err)
	}
	field := "params"
	if entity == EntityProcesses {
		field = "metadata"
	}
	m := copyMap(rec.JSONMap(field))
	m[ParamsTerraform] = mergeMaps(toMap(m[ParamsTerraform]), bookkeeping)
	if _, err := l.Store.Update(ctx, entity, id, Attrs{field: m, "updatedAt": NowMillis(l.now())}); err != nil {
		return fmt.Errorf("updating %s record %s: %w", entity, id, err)
	}
	return nil
}
