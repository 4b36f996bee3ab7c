package daytona

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/ekairos/terraform-provider-sandbox/internal/backend"
)

// DefaultSetupTimeout is the timeout of a setup command whose spec sets none.
const DefaultSetupTimeout = 30 * time.Minute

// setupPrefix starts the name of every setup snapshot; the rest is the fingerprint, so that FindSetup finds
// the snapshot any earlier apply built for the same definition.
const setupPrefix = "ekairos-setup-"

var fingerprintRE = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,64}$`)

// SnapshotName is the Daytona snapshot name of a setup fingerprint: "ekairos-setup-<fingerprint>" (a
// fingerprint that is not 1-64 characters of [A-Za-z0-9_.-] is hashed first).
func SnapshotName(fingerprint string) string {
	if fingerprintRE.MatchString(fingerprint) {
		return setupPrefix + fingerprint
	}
	sum := sha256.Sum256([]byte(fingerprint))
	return setupPrefix + hex.EncodeToString(sum[:])
}

// getSnapshot reads a snapshot by id or name; a 404 or a snapshot being removed is an error wrapping
// backend.ErrNotFound.
func (e *Engine) getSnapshot(ctx context.Context, idOrName string) (*snapshotDTO, error) {
	var s snapshotDTO
	err := e.c.do(ctx, request{method: http.MethodGet, path: "/snapshots/" + url.PathEscape(idOrName), idempotent: true, out: &s})
	if err != nil {
		return nil, err
	}
	if s.State == snapRemoving {
		return nil, fmt.Errorf("daytona snapshot %s is being removed: %w", idOrName, backend.ErrNotFound)
	}
	return &s, nil
}

// waitSnapshotActive waits until a snapshot is active, activating an inactive one.
func (e *Engine) waitSnapshotActive(ctx context.Context, idOrName string) (*snapshotDTO, error) {
	var last *snapshotDTO
	activated := false
	err := e.c.poll(ctx, "snapshot "+idOrName+" to be active", func() (bool, error) {
		s, err := e.getSnapshot(ctx, idOrName)
		if err != nil {
			return false, err
		}
		last = s
		switch s.State {
		case snapActive:
			return true, nil
		case snapError, snapBuildFailed:
			return false, fmt.Errorf("daytona snapshot %s is in state %s: %s", s.Name, s.State, s.ErrorReason)
		case snapInactive:
			if !activated {
				activated = true
				err := e.c.do(ctx, request{method: http.MethodPost, path: "/snapshots/" + url.PathEscape(s.ID) + "/activate", idempotent: true})
				if err != nil && statusOf(err) != http.StatusBadRequest {
					return false, err
				}
			}
		}
		return false, nil
	}, func() string {
		if last == nil {
			return "not read yet"
		}
		return last.State
	})
	return last, err
}

func setupView(s *snapshotDTO) *backend.SetupArtifact {
	state := s.State
	if state == snapActive {
		state = "ready"
	}
	return &backend.SetupArtifact{
		ExternalID:  s.ID,
		Fingerprint: strings.TrimPrefix(s.Name, setupPrefix),
		State:       state,
		Metadata:    map[string]any{"snapshotName": s.Name},
	}
}

// FindSetup implements backend.SetupEngine: the snapshot named after the fingerprint, waited to be active
// (another apply may still be building it). A failed snapshot counts as missing.
func (e *Engine) FindSetup(ctx context.Context, fingerprint string) (*backend.SetupArtifact, error) {
	name := SnapshotName(fingerprint)
	s, err := e.getSnapshot(ctx, name)
	if err != nil {
		return nil, err
	}
	if s.State == snapError || s.State == snapBuildFailed {
		return nil, fmt.Errorf("daytona snapshot %s failed (%s): %w", name, s.ErrorReason, backend.ErrNotFound)
	}
	if s, err = e.waitSnapshotActive(ctx, s.ID); err != nil {
		return nil, err
	}
	a := setupView(s)
	a.Fingerprint = fingerprint
	return a, nil
}

// BuildSetup implements backend.SetupEngine: a builder sandbox (labelled with the setup record) runs the
// command with the setup's env given to that command only (so the values are not in the snapshot's
// environment, only in what the command itself writes); on exit 0 the builder is snapshotted as
// SnapshotName(fingerprint) and deleted once the snapshot is active. On a non-zero exit or a timeout the
// builder is deleted, no snapshot is made, and the result comes back with an error wrapping
// backend.ErrSetupFailed.
func (e *Engine) BuildSetup(ctx context.Context, spec backend.SetupSpec) (art *backend.SetupArtifact, res *backend.ExecResult, err error) {
	if spec.RecordID == "" || spec.Fingerprint == "" {
		return nil, nil, errors.New("daytona: BuildSetup needs the record id and the fingerprint")
	}
	if len(spec.Argv) == 0 {
		return nil, nil, errors.New("daytona: the setup command is empty")
	}
	if err := backend.CheckEnv(spec.Env); err != nil {
		return nil, nil, fmt.Errorf("setup %w", err)
	}
	o, err := parseOptions(spec.Options, setupOptionKeys, "setup")
	if err != nil {
		return nil, nil, err
	}
	nw, err := networkFor(spec.Policy, o)
	if err != nil {
		return nil, nil, err
	}
	name := SnapshotName(spec.Fingerprint)
	// Built meanwhile by another apply: reuse it. A failed snapshot of that name is removed first.
	existing, err := e.getSnapshot(ctx, name)
	switch {
	case err == nil && (existing.State == snapError || existing.State == snapBuildFailed):
		if err := e.DeleteSetup(ctx, existing.ID); err != nil {
			return nil, nil, fmt.Errorf("removing the failed snapshot %s: %w", name, err)
		}
	case err == nil:
		if existing, err = e.waitSnapshotActive(ctx, existing.ID); err != nil {
			return nil, nil, err
		}
		return setupView(existing), nil, nil
	case !errors.Is(err, backend.ErrNotFound):
		return nil, nil, err
	}

	labels, err := baseLabels(KindSetupBuilder, spec.Runtime, o, false, nil, 0)
	if err != nil {
		return nil, nil, err
	}
	labels[LabelSetupID] = spec.RecordID
	off := 0
	target := o.target
	if target == "" {
		target = e.cfg.Target
	}
	p := &sandboxPlan{
		name: "ekairos-setup-" + spec.RecordID, labels: labels, snapshot: o.snapshot, image: o.image,
		cpu: o.cpu, memory: o.memory, disk: o.disk, target: target, autoStop: &off, net: nw,
	}
	builder, err := e.createFromPlan(ctx, p, LabelSetupID, spec.RecordID)
	if err != nil {
		return nil, nil, fmt.Errorf("creating the setup builder sandbox: %w", err)
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Minute)
		defer cancel()
		if derr := e.DeleteSandbox(cctx, builder.ID); derr != nil {
			err = errors.Join(err, fmt.Errorf("deleting the setup builder sandbox %s: %w", builder.ID, derr))
		}
	}()
	d, err := e.ensureStarted(ctx, builder.ID)
	if err != nil {
		return nil, nil, fmt.Errorf("starting the setup builder sandbox %s: %w", builder.ID, err)
	}
	timeout := spec.Timeout
	if timeout <= 0 {
		timeout = DefaultSetupTimeout
	}
	res, err = e.execIn(ctx, d, backend.ExecRequest{Argv: spec.Argv, Env: spec.Env, Timeout: timeout}, "")
	if err != nil {
		return nil, nil, fmt.Errorf("running the setup command: %w", err)
	}
	if res.ExitCode != 0 || res.TimedOut {
		how := fmt.Sprintf("exited with code %d", res.ExitCode)
		if res.TimedOut {
			how = "timed out after " + timeout.String()
		}
		return nil, res, fmt.Errorf("daytona setup %s: %q %s: %w", spec.RecordID, spec.Argv[0], how, backend.ErrSetupFailed)
	}
	err = e.c.do(ctx, request{method: http.MethodPost, path: "/sandbox/" + url.PathEscape(d.ID) + "/snapshot",
		body: sandboxSnapshotDTO{Name: name}, idempotent: true})
	if statusOf(err) == http.StatusConflict {
		// Retried after a lost answer (the snapshot exists, or the sandbox is still snapshotting): the waits
		// below tell whether it is ours.
		err = nil
	}
	if err != nil {
		return nil, res, fmt.Errorf("snapshotting the setup builder: %w", err)
	}
	if _, err := e.drive(ctx, d.ID, "builder "+d.ID+" to finish snapshotting", nil,
		func(sd *sandboxDTO) (bool, error) {
			if sd == nil {
				return false, fmt.Errorf("the setup builder %s vanished while snapshotting: %w", d.ID, backend.ErrNotFound)
			}
			return sd.State != stSnapshotting, nil
		}, nil); err != nil {
		return nil, res, err
	}
	s, err := e.waitSnapshotActive(ctx, name)
	if err != nil {
		return nil, res, err
	}
	if s.SourceSandboxID != "" && s.SourceSandboxID != d.ID {
		return nil, res, fmt.Errorf("daytona snapshot %s was made from sandbox %s, not this setup's builder %s", name, s.SourceSandboxID, d.ID)
	}
	art = setupView(s)
	art.Fingerprint = spec.Fingerprint
	return art, res, nil
}

// GetSetup implements backend.SetupEngine: a deleted (or removing) snapshot is backend.ErrNotFound.
func (e *Engine) GetSetup(ctx context.Context, externalID string) (*backend.SetupArtifact, error) {
	s, err := e.getSnapshot(ctx, externalID)
	if err != nil {
		return nil, err
	}
	return setupView(s), nil
}

// DeleteSetup implements backend.SetupEngine (the API deletes by id only) and waits until it is gone (404; a
// snapshot in state removing is still there).
func (e *Engine) DeleteSetup(ctx context.Context, externalID string) error {
	s, err := e.getSnapshot(ctx, externalID)
	if errors.Is(err, backend.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	err = e.c.do(ctx, request{method: http.MethodDelete, path: "/snapshots/" + url.PathEscape(s.ID), idempotent: true})
	if err != nil && !errors.Is(err, backend.ErrNotFound) {
		return err
	}
	// Wait for the 404, not just for "removing": a snapshot being removed is still listed by the service, and
	// its name is not free for a rebuild until it is gone.
	last := s.State
	return e.c.poll(ctx, "snapshot "+s.Name+" to be removed", func() (bool, error) {
		var cur snapshotDTO
		err := e.c.do(ctx, request{method: http.MethodGet, path: "/snapshots/" + url.PathEscape(s.ID), idempotent: true, out: &cur})
		if errors.Is(err, backend.ErrNotFound) {
			return true, nil
		}
		if err != nil {
			return false, err
		}
		last = cur.State
		return false, nil
	}, func() string { return last })
}
