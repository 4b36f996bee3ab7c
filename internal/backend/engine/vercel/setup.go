package vercel

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/ekairos/terraform-provider-sandbox/internal/backend"
)

// Setups (backend.SetupEngine).
//
// A setup is built in a builder sandbox named SetupName(fingerprint) (not persistent, so that its stops take no
// automatic snapshots), tagged ekairos=1, kind=setup, setupId=<record id>, fingerprint=<fingerprint>. The
// setup command runs in it under the setup's network policy and env; on success the builder's session is
// snapshotted, which stops it. The artifact's external id is the snapshot id, what sandboxes and workspaces
// start from (source {type: "snapshot"}). The builder stays, stopped, as the snapshot's anchor: FindSetup
// lists the snapshots taken of it (GET /v2/sandboxes/snapshots?name=<builder>, the one filter the API offers
// besides the project) and takes the newest usable one, and DeleteSetup deletes both. Deleting the builder
// alone could take its snapshot with it (the REST reference says a delete removes "all associated snapshots").
//
// Expiration: SetupSpec.Options["expiration"] (OptionExpiration), default never (the API's 0); the API counts
// it from the snapshot's last use. An expired or deleted snapshot is backend.ErrNotFound for GetSetup and is
// skipped by FindSetup, so the next apply builds the setup again (and removes the stale builder first).

const defaultSetupSessionTimeout = 30 * time.Minute

// FindSetup implements backend.SetupEngine.
func (e *Engine) FindSetup(ctx context.Context, fingerprint string) (*backend.SetupArtifact, error) {
	if fingerprint == "" {
		return nil, errors.New("vercel: a setup needs a fingerprint")
	}
	name := SetupName(fingerprint)
	snaps, err := e.c.ListSnapshots(ctx, name)
	if err != nil {
		return nil, fmt.Errorf("looking for the snapshots of vercel setup builder %s: %w", name, err)
	}
	now := e.now()
	for i := range snaps {
		if snaps[i].Usable(now) {
			return setupArtifact(&snaps[i], fingerprint, name), nil
		}
	}
	return nil, fmt.Errorf("vercel setup builder %s has no usable snapshot: %w", name, backend.ErrNotFound)
}

func setupArtifact(s *Snapshot, fingerprint, builder string) *backend.SetupArtifact {
	md := map[string]any{"snapshotId": s.ID}
	if builder != "" {
		md["builder"] = builder
	}
	if s.Region != "" {
		md["region"] = s.Region
	}
	return &backend.SetupArtifact{ExternalID: s.ID, Fingerprint: fingerprint, State: "ready", Metadata: md}
}

// BuildSetup implements backend.SetupEngine. When a usable snapshot of the same fingerprint already exists
// (another apply built it), it is returned with a nil ExecResult and nothing runs.
func (e *Engine) BuildSetup(ctx context.Context, spec backend.SetupSpec) (*backend.SetupArtifact, *backend.ExecResult, error) {
	opts, err := checkSetup(spec)
	if err != nil {
		return nil, nil, err
	}
	if art, err := e.FindSetup(ctx, spec.Fingerprint); err == nil {
		return art, nil, nil
	} else if !errors.Is(err, backend.ErrNotFound) {
		return nil, nil, err
	}
	name := SetupName(spec.Fingerprint)
	if art, err := e.clearBuilder(ctx, name, spec); art != nil || err != nil {
		return art, nil, err
	}
	policy, err := CompilePolicy(spec.Policy)
	if err != nil {
		return nil, nil, err
	}
	timeout := defaultSetupSessionTimeout
	if spec.Timeout > 0 {
		timeout = min(spec.Timeout+5*time.Minute, MaxTimeout)
	}
	vcpus := opts.vcpus
	if vcpus == 0 {
		vcpus = 2
	}
	persistent := false
	tags := map[string]string{"ekairos": "1", "kind": "setup", "fingerprint": clip(spec.Fingerprint, 256)}
	if spec.RecordID != "" {
		tags["setupId"] = clip(spec.RecordID, 256)
	}
	req := CreateSandboxRequest{
		Name: name, Runtime: spec.Runtime, Timeout: timeout.Milliseconds(), Resources: &Resources{VCPUs: vcpus},
		Persistent: &persistent, Env: spec.Env, Tags: tags, NetworkPolicy: policy,
	}
	if _, err := e.c.CreateSandbox(ctx, req); err != nil {
		if StatusOf(err) != http.StatusConflict || spec.RecordID == "" {
			return nil, nil, fmt.Errorf("creating the setup builder %s: %w", name, err)
		}
		// 409 after a retried create: adopt the builder when this record made it, else another build runs.
		got, gerr := e.c.GetSandbox(ctx, name)
		if gerr != nil || got.Sandbox.Tags["setupId"] != spec.RecordID {
			return nil, nil, fmt.Errorf("creating the setup builder %s: another build of this setup is running: %w", name, err)
		}
	}
	fail := func(cause error) error {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		if derr := e.deleteNamed(cctx, name); derr != nil {
			return fmt.Errorf("%w (and removing the builder failed: %w)", cause, derr)
		}
		return cause
	}
	r, err := e.waitRunning(ctx, name)
	if err != nil {
		return nil, nil, fail(fmt.Errorf("starting the setup builder: %w", err))
	}
	res, err := e.exec(ctx, r, backend.ExecRequest{Argv: spec.Argv, Timeout: spec.Timeout})
	if err != nil {
		return nil, nil, fail(fmt.Errorf("running the setup command: %w", err))
	}
	if res.ExitCode != 0 || res.TimedOut {
		why := fmt.Sprintf("exited with code %d", res.ExitCode)
		if res.TimedOut {
			why = fmt.Sprintf("timed out after %s", spec.Timeout)
		}
		return nil, res, fail(fmt.Errorf("setup command %q %s: %w", spec.Argv[0], why, backend.ErrSetupFailed))
	}
	exp := opts.expiration
	snap, _, err := e.c.CreateSnapshot(ctx, r.Session.ID, &exp)
	if err != nil {
		return nil, res, fail(fmt.Errorf("snapshotting the setup builder %s: %w", name, err))
	}
	if err := e.waitStopped(ctx, name); err != nil {
		return nil, res, fmt.Errorf("snapshot %s of the setup was taken, but its builder did not stop: %w", snap.ID, err)
	}
	return setupArtifact(snap, spec.Fingerprint, name), res, nil
}

// clearBuilder deals with a builder that FindSetup found no snapshot of. Its current snapshot, when usable, is
// the setup (a listing that lagged): it is returned. A builder that runs for another record is another apply's
// build: an error. Anything else (stopped, failed, or this record's own interrupted build) is removed.
func (e *Engine) clearBuilder(ctx context.Context, name string, spec backend.SetupSpec) (*backend.SetupArtifact, error) {
	r, err := e.c.GetSandbox(ctx, name)
	switch {
	case errors.Is(err, backend.ErrNotFound):
		return nil, nil
	case StatusOf(err) == http.StatusGone: // its snapshot is gone: a stale builder
	case err != nil:
		return nil, fmt.Errorf("reading the setup builder %s: %w", name, err)
	default:
		if id := r.Sandbox.CurrentSnapshotID; id != "" {
			snap, serr := e.c.GetSnapshot(ctx, id)
			if serr == nil && snap.Usable(e.now()) {
				return setupArtifact(snap, spec.Fingerprint, name), nil
			}
			if serr != nil && !errors.Is(serr, backend.ErrNotFound) {
				return nil, fmt.Errorf("reading the snapshot of setup builder %s: %w", name, serr)
			}
		}
		if st := status(r); (st == StatusRunning || st == StatusPending) && r.Sandbox.Tags["setupId"] != spec.RecordID {
			return nil, fmt.Errorf("a build of this setup is in progress in %s (for setup record %s); retry once it is done or its session times out", name, r.Sandbox.Tags["setupId"])
		}
	}
	if err := e.deleteNamed(ctx, name); err != nil {
		return nil, fmt.Errorf("removing the stale setup builder: %w", err)
	}
	return nil, nil
}

func checkSetup(spec backend.SetupSpec) (setupOptions, error) {
	if spec.Fingerprint == "" {
		return setupOptions{}, errors.New("vercel: a setup needs a fingerprint")
	}
	if len(spec.Argv) == 0 || spec.Argv[0] == "" {
		return setupOptions{}, errors.New("vercel: the setup command is empty")
	}
	if err := checkRuntime(spec.Runtime); err != nil {
		return setupOptions{}, err
	}
	if err := checkTimeout(spec.Timeout); err != nil {
		return setupOptions{}, err
	}
	if err := backend.CheckEnv(spec.Env); err != nil {
		return setupOptions{}, err
	}
	if err := spec.Policy.Validate(); err != nil {
		return setupOptions{}, fmt.Errorf("network policy: %w", err)
	}
	return parseSetupOptions(spec.Options)
}

// GetSetup implements backend.SetupEngine. An expired, deleted or failed snapshot is backend.ErrNotFound.
func (e *Engine) GetSetup(ctx context.Context, externalID string) (*backend.SetupArtifact, error) {
	snap, err := e.c.GetSnapshot(ctx, externalID)
	if err != nil {
		return nil, err
	}
	if !snap.Usable(e.now()) {
		return nil, fmt.Errorf("vercel setup snapshot %s is %s or expired: %w", externalID, snap.Status, backend.ErrNotFound)
	}
	builder, err := e.builderOf(ctx, snap)
	if err != nil {
		return nil, err
	}
	fp := ""
	if builder != "" {
		if r, err := e.c.GetSandbox(ctx, builder); err == nil {
			fp = r.Sandbox.Tags["fingerprint"]
		} else if !errors.Is(err, backend.ErrNotFound) && StatusOf(err) != http.StatusGone {
			return nil, err
		}
	}
	return setupArtifact(snap, fp, builder), nil
}

// builderOf finds the setup builder a snapshot was taken of: the session's sourceSandboxName (REST reference),
// else the setup builder whose current snapshot it is. "" when there is none.
func (e *Engine) builderOf(ctx context.Context, snap *Snapshot) (string, error) {
	s, _, err := e.c.GetSession(ctx, snap.SourceSessionID)
	switch {
	case err == nil && s.SourceSandboxName != "":
		if strings.HasPrefix(s.SourceSandboxName, SetupPrefix) {
			return s.SourceSandboxName, nil
		}
		return "", nil
	case err != nil && !errors.Is(err, backend.ErrNotFound):
		return "", err
	}
	list, err := e.c.ListSandboxes(ctx, ListOptions{NamePrefix: SetupPrefix})
	if err != nil {
		return "", err
	}
	for _, sb := range list {
		if sb.CurrentSnapshotID == snap.ID {
			return sb.Name, nil
		}
	}
	return "", nil
}

// DeleteSetup implements backend.SetupEngine: the snapshot and its builder. A missing one is not an error.
func (e *Engine) DeleteSetup(ctx context.Context, externalID string) error {
	snap, err := e.c.GetSnapshot(ctx, externalID)
	switch {
	case errors.Is(err, backend.ErrNotFound):
		return nil // gone, with whatever builder it had (sweep removes a stopped leftover)
	case err != nil:
		return err
	}
	builder, err := e.builderOf(ctx, snap)
	if err != nil {
		return err
	}
	if snap.Status == "created" {
		if err := e.c.DeleteSnapshot(ctx, externalID); err != nil {
			if !errors.Is(err, backend.ErrNotFound) && StatusOf(err) != http.StatusBadRequest {
				return fmt.Errorf("deleting setup snapshot %s: %w", externalID, err)
			}
			// 400: already deleted (as a third party saw the API answer); 404: gone.
			if again, gerr := e.c.GetSnapshot(ctx, externalID); gerr == nil && again.Status == "created" {
				return fmt.Errorf("deleting setup snapshot %s: %w", externalID, err)
			}
		}
	}
	if builder != "" {
		return e.deleteNamed(ctx, builder)
	}
	return nil
}
